// Fast start: `bin/cylo exec` loads only what it needs, never the HTTP server (Fastify, its
// swagger plugins, prom-client) nor the MCP SDK. Seen from inside a real `bin/cylo` process by a
// module-loader hook that prints every module it loads; the control runs (`cylo serve --help`, `cylo mcp --help`)
// proves the hook does see those packages when they are loaded. And `bin/cylo` runs the CLI
// bundle (scripts/build-cli.js): only the bundle's own files and Node's built-ins are loaded for
// `cylo exec`, none of tsc's separate modules and no package from node_modules (zod and
// commander are inlined). The speed itself is measured by `npm run bench -- --only cli-start`,
// never asserted here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const T = { timeout: 60_000 };
const HEAVY = /node_modules\/(fastify|@fastify\/[^/]+|prom-client|@modelcontextprotocol\/sdk)\//;

/** A loader hook (registered before the CLI starts) that writes "LOADED <url>" per module. */
const HOOK = `export async function load(url, context, next) { process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

/** Runs bin/cylo with the hook; resolves with its exit code, the loaded heavy packages and the
 *  rest of its stderr. */
function cyloLoads(args: string[]): Promise<{ code: number | null; heavy: string[]; loaded: string[]; stderr: string }> {
  const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, 'bin/cylo', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 120), CYLO_UID_COUNT: '8' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      const lines = err.split('\n');
      const loaded = lines.filter((l) => l.startsWith('LOADED '));
      const heavy = [...new Set(loaded.map((l) => HEAVY.exec(l)?.[1]).filter((p): p is string => p !== undefined))];
      resolve({ code, heavy, loaded: loaded.map((l) => l.slice('LOADED '.length)), stderr: lines.filter((l) => !l.startsWith('LOADED ')).join('\n') });
    });
  });
}

test('cylo exec loads neither the HTTP server nor the MCP SDK (serve and mcp do, as the hook sees)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const serve = await cyloLoads(['serve', '--help']);
  assert.equal(serve.code, 0, serve.stderr);
  assert.ok(serve.heavy.includes('fastify') && serve.heavy.includes('prom-client'), `the hook sees the server's packages being loaded (saw: ${serve.heavy.join(', ')})`);
  const mcp = await cyloLoads(['mcp', '--help']);
  assert.equal(mcp.code, 0, mcp.stderr);
  assert.ok(mcp.heavy.includes('@modelcontextprotocol/sdk'), `the hook sees the MCP SDK being loaded (saw: ${mcp.heavy.join(', ')})`);
  const exec = await cyloLoads(['exec', '--lang', 'bash', 'echo ok']);
  assert.equal(exec.code, 0, exec.stderr);
  assert.deepEqual(exec.heavy, [], 'cylo exec loaded none of the server\'s or MCP\'s packages');
});

test('bin/cylo exec runs the CLI bundle: nothing but its files, the resident client and Node built-ins is loaded', T, async (t) => {
  // Fails when bin/cylo falls back to tsc's modules (the bundle missing or older than dist/src),
  // or when the bundle leaves a package of the exec path external (each one a module load).
  if (skipWithoutSandbox(t)) return;
  const exec = await cyloLoads(['exec', '--lang', 'bash', 'echo ok']);
  assert.equal(exec.code, 0, exec.stderr);
  const files = exec.loaded.filter((url) => !url.startsWith('node:'));
  assert.ok(files.some((url) => url.endsWith('/dist/src/cli-bundle/cylo.mjs')), `the bundle's entry was loaded (saw: ${files.join(', ')})`);
  // The resident client (docs/resident.md), loaded before the bundle to look for a resident:
  // its three small modules on Node's built-ins, nothing more.
  const client = ['client', 'frames', 'where'].map((m) => `/dist/src/cli/resident/${m}.js`);
  const outside = files.filter((url) => !url.includes('/dist/src/cli-bundle/') && !url.endsWith('/bin/cylo') && !client.some((c) => url.endsWith(c)));
  assert.deepEqual(outside, [], 'no module outside the bundle (and the resident client)');
});
