// cylo's own version, read once from its package.json, the first one named "cylo" two or three
// levels above the running file: dist/src/version.js -> package.json, and the CLI bundle
// (dist/src/cli-bundle/*.mjs, scripts/build-cli.js) whose chunks sit one level deeper. Used by
// `cylo --version`, the OpenAPI document and the MCP server's implementation info.
import { createRequire } from 'node:module';

let cached: string | undefined;

/** The `version` field of cylo's package.json; "0.0.0" if the file cannot be read (a bundled
 *  copy without it): a version string must never make a command fail. */
export function cyloVersion(): string {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = require(candidate) as { name?: string; version?: string };
      if (manifest.name === 'cylo' && typeof manifest.version === 'string') return (cached = manifest.version);
    } catch {
      // not there: try the next level
    }
  }
  return (cached = '0.0.0');
}
