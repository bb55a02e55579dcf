// Which configuration a `cylo exec` would run with, as one hash: the resident answers a client
// only when the client's is its own (docs/resident.md). It covers the variables the request
// carries (every CYLO_*, PATH: where.ts) and the config file they select (CYLO_CONFIG, relative
// to the working directory as the CLI reads it, else /etc/cylo/config.json), read now: a file
// edited after the resident started no longer matches, and such commands run in-process.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_FILE } from '../../config/load.js';

/** A sha256 hex of the configuration `env` (configEnv's shape) selects, seen from `cwd`. */
export function configFingerprint(env: Readonly<Record<string, string>>, cwd: string): string {
  const given = env.CYLO_CONFIG;
  const path = given !== undefined && given !== '' ? resolve(cwd, given) : DEFAULT_CONFIG_FILE;
  let content: string;
  try {
    content = createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch (error) {
    content = `unreadable: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
  const vars = Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([path, content, vars])).digest('hex');
}
