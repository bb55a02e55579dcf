// Where the resident cylo listens, and which of the client's variables travel with a request.
// Imports only Node's built-ins: the fast client loads it.

/** The default socket: in /run/cylo (root-only, a tmpfs: nothing survives a reboot). */
export const DEFAULT_RESIDENT_SOCKET = '/run/cylo/resident.sock';

/** The socket path: $CYLO_RESIDENT_SOCKET when set (an absolute path), else the default. */
export function residentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.CYLO_RESIDENT_SOCKET;
  return given !== undefined && given.startsWith('/') ? given : DEFAULT_RESIDENT_SOCKET;
}

/** The variables that make cylo's configuration for `cylo exec`: every CYLO_* (the config file's
 *  path and every setting, docs/configuration.md) and PATH (where toolchains are found). A
 *  request carries these; the resident answers only when they are its own (fingerprint.ts). */
export function configEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (k.startsWith('CYLO_') || k === 'PATH')) out[k] = v;
  return out;
}
