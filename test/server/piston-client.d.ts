// Types for the published piston-client package (it ships none), as far as the tests use it.
declare module 'piston-client' {
  interface PistonClient {
    runtimes(): Promise<Array<{ language: string; version: string; aliases: string[] }> | { success: false; error: unknown }>;
    execute(language: string, code: string, config?: Record<string, unknown>): Promise<Record<string, unknown>>;
    execute(config: Record<string, unknown>): Promise<Record<string, unknown>>;
  }
  export function piston(options?: { server?: string }): PistonClient;
  export default piston;
}
