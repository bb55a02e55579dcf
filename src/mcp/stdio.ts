// `cylo mcp`: the MCP server over stdio. stdout carries only JSON-RPC messages (the SDK's
// transport writes them); every diagnostic goes to stderr through `log`.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Cylo } from '../cylo.js';
import { createCyloMcpServer, createToolContext, type CyloMcpServerOptions } from './server.js';
import { availableRuntimes } from './schemas.js';

export interface ServeStdioOptions extends Omit<CyloMcpServerOptions, 'context' | 'cylo'> {
  cylo: Cylo;
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  /** Diagnostics (one line each); never stdout. */
  log?: (line: string) => void;
}

/** Serves MCP on stdin/stdout until the client closes stdin (or the transport closes). */
export async function serveStdio(options: ServeStdioOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const context = await createToolContext(options.cylo, options.environments);
  const server = createCyloMcpServer({ ...options, context });
  const stdin = (options.stdin ?? process.stdin) as import('node:stream').Readable;
  const stdout = (options.stdout ?? process.stdout) as import('node:stream').Writable;
  const transport = new StdioServerTransport(stdin, stdout);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // The SDK's stdio transport does not notice the end of stdin by itself.
    stdin.once('end', () => resolve());
    stdin.once('close', () => resolve());
  });
  transport.onerror = (error) => log(`cylo mcp: transport error: ${error.message}`);
  await server.connect(transport);
  const langs = availableRuntimes(context).map((r) => `${r.language} ${r.version ?? ''}`.trim());
  log(`cylo mcp: serving MCP on stdio (languages: ${langs.join(', ') || 'none'})`);
  await closed;
  await server.close().catch(() => {});
}
