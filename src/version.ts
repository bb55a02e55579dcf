// cylo's own version, read once from its package.json (two levels above the compiled file:
// dist/src/version.js -> package.json). Used by `cylo --version`, the OpenAPI document and the
// MCP server's implementation info.
import { createRequire } from 'node:module';

let cached: string | undefined;

/** The `version` field of cylo's package.json; "0.0.0" if the file cannot be read (a bundled
 *  copy without it): a version string must never make a command fail. */
export function cyloVersion(): string {
  if (cached !== undefined) return cached;
  try {
    cached = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
