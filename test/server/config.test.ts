// Configuration of `cylo serve`: precedence (flags > environment > file > defaults), messages that
// name the flag, variable or file field, token sources, and the refusal to expose code execution
// on a non-loopback address without a token (in-process and through bin/cylo: exit 125).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CyloError } from '../../src/errors.js';
import { checkExposure, isLoopbackHost, loadServerConfig } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'cylo-serve-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CyloError, `a CyloError, got ${String(e)}`);
    assert.equal(e.code, 'CYLO_E_CONFIG');
    assert.match(e.message, pattern);
    return true;
  });
}

test('defaults: loopback, port 2000, concurrency from the cores, queue 16 x concurrency, 10 s grace', () => {
  const c = loadServerConfig({ env: {} });
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 2000);
  assert.ok(c.concurrency >= 1);
  assert.equal(c.queueLimit, c.concurrency * 16);
  assert.equal(c.graceMs, 10_000);
  assert.equal(c.token, undefined);
  assert.equal(c.logFormat, 'auto');
});

test('precedence: flags > environment > config file > defaults', () => {
  const cfg = file('prec.json', JSON.stringify({ host: '127.0.0.2', port: 3000, concurrency: 3, queueLimit: 7, grace: '3s', bodyLimit: '1M', maxLimits: { timeoutMs: 20000 } }));
  const c = loadServerConfig({ configPath: cfg, env: { CYLO_PORT: '4000', CYLO_CONCURRENCY: '5' }, flags: { concurrency: '6' } });
  assert.equal(c.host, '127.0.0.2'); // file
  assert.equal(c.port, 4000); // env over file
  assert.equal(c.concurrency, 6); // flag over env
  assert.equal(c.queueLimit, 7);
  assert.equal(c.graceMs, 3000);
  assert.equal(c.bodyLimit, 1024 * 1024);
  assert.deepEqual(c.maxLimits, { timeoutMs: 20000 });
  // CYLO_CONFIG names the file when --config is not given
  assert.equal(loadServerConfig({ env: { CYLO_CONFIG: cfg } }).port, 3000);
});

test('messages name the flag, the variable or the file field', () => {
  configError(() => loadServerConfig({ env: {}, flags: { port: 'eighty' } }), /^--port: expected a whole number \(got string "eighty"\)/);
  configError(() => loadServerConfig({ env: { CYLO_PORT: '70000' } }), /^CYLO_PORT: expected at most 65535/);
  configError(() => loadServerConfig({ env: { CYLO_GRACE: 'soon' } }), /^CYLO_GRACE: expected a duration/);
  configError(() => loadServerConfig({ env: { CYLO_LOG_FORMAT: 'xml' } }), /^CYLO_LOG_FORMAT: expected one of auto, json, pretty/);
  configError(() => loadServerConfig({ env: { CYLO_RELAX: 'cgroups' } }), /^CYLO_RELAX: expected one of landlock, seccomp/);
  const bad = file('bad.json', JSON.stringify({ port: 80, concurency: 2 }));
  configError(() => loadServerConfig({ env: {}, configPath: bad }), /config file .*bad\.json: concurency: unknown setting/);
  const badLimit = file('badlimit.json', JSON.stringify({ maxLimits: { memoryBytes: -1 } }));
  configError(() => loadServerConfig({ env: {}, configPath: badLimit }), /config file .*: maxLimits\.memoryBytes: .*\(got number -1\)/);
  const notJson = file('notjson.json', '{ port: 1');
  configError(() => loadServerConfig({ env: {}, configPath: notJson }), /not valid JSON/);
  configError(() => loadServerConfig({ env: {}, configPath: join(dir, 'missing.json') }), /cannot read it \(ENOENT\)/);
});

test('tokens: CYLO_TOKEN, --token-file, tokenFile relative to the config file; never both in one source', () => {
  assert.equal(loadServerConfig({ env: { CYLO_TOKEN: 'env-secret' } }).token, 'env-secret');
  const tf = file('token.txt', 'file-secret\n');
  const c = loadServerConfig({ env: { CYLO_TOKEN: 'env-secret' }, flags: { tokenFile: tf } });
  assert.equal(c.token, 'file-secret');
  assert.match(c.tokenSource ?? '', /--token-file/);
  const cfg = file('withtoken.json', JSON.stringify({ tokenFile: 'token.txt' }));
  assert.equal(loadServerConfig({ env: {}, configPath: cfg }).token, 'file-secret');
  configError(() => loadServerConfig({ env: {}, flags: { tokenFile: file('empty.txt', '\n') } }), /--token-file: the token file .* is empty/);
  configError(() => loadServerConfig({ env: { CYLO_TOKEN: 'a', CYLO_TOKEN_FILE: tf } }), /either a token or a token file/);
  configError(() => loadServerConfig({ env: { CYLO_TOKEN: 'two words' } }), /CYLO_TOKEN: must be one word/);
});

test('loopback detection and the refusal to expose code execution without a token', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'example.com', '::ffff:10.0.0.1']) assert.ok(!isLoopbackHost(h), h);
  configError(() => checkExposure({ host: '0.0.0.0', token: undefined, insecureNoAuth: false }), /refusing to listen on 0\.0\.0\.0 without a token.*--insecure-no-auth/);
  checkExposure({ host: '0.0.0.0', token: 'x', insecureNoAuth: false });
  checkExposure({ host: '0.0.0.0', token: undefined, insecureNoAuth: true });
  checkExposure({ host: '127.0.0.1', token: undefined, insecureNoAuth: false });
});

test('bin/cylo serve refuses a non-loopback host without a token: exit 125 and a clear message', { timeout: 20_000 }, () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CYLO_')) env[k] = v;
  const r = spawnSync(process.execPath, ['bin/cylo', 'serve', '--host', '0.0.0.0', '--port', '0'], { env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 125, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, /^cylo: refusing to listen on 0\.0\.0\.0 without a token/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

  const bad = spawnSync(process.execPath, ['bin/cylo', 'serve', '--port', 'x'], { env, encoding: 'utf8', timeout: 15_000 });
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /--port: expected a whole number/);
});

test('units in flags and variables follow the command line: a bare duration is seconds, a bare size is refused with a hint; JSON numbers keep ms and bytes', () => {
  // Proves the server reads `--grace 30` as timeout(1) would (30 s, not 30 ms) and refuses a
  // unit-less size instead of guessing bytes; a JSON number in the config file is still ms/bytes.
  assert.equal(loadServerConfig({ env: { CYLO_GRACE: '30' } }).graceMs, 30_000);
  assert.equal(loadServerConfig({ env: {}, flags: { grace: '2' } }).graceMs, 2_000);
  assert.equal(loadServerConfig({ env: { CYLO_GRACE: '0' } }).graceMs, 0);
  assert.equal(loadServerConfig({ env: { CYLO_BODY_LIMIT: '4096B' } }).bodyLimit, 4096);
  configError(() => loadServerConfig({ env: { CYLO_BODY_LIMIT: '16' } }), /^CYLO_BODY_LIMIT: 16 has no unit; did you mean 16M\?/);
  const cfg = file('numbers.json', JSON.stringify({ grace: 1500, bodyLimit: 2048 }));
  const c = loadServerConfig({ env: {}, configPath: cfg });
  assert.equal(c.graceMs, 1500);
  assert.equal(c.bodyLimit, 2048);
});

// The Judge0 API's mount and the compiler-option allowlist: defaults, each source, and a bad prefix named by its flag.
test('judge0 mount and allowedCompilerOptions settings', () => {
  const load = (o: Parameters<typeof loadServerConfig>[0]) => loadServerConfig({ defaultPath: false, ...o });
  const d = load({ env: {} });
  assert.deepEqual(d.judge0, { enabled: true, prefix: '/judge0', root: false });
  assert.equal(d.cyloOptions.allowedCompilerOptions, undefined);
  const e = load({ env: { CYLO_JUDGE0_PREFIX: '/api/judge0', CYLO_JUDGE0_ROOT: 'true', CYLO_ALLOWED_COMPILER_OPTIONS: '-O2  -std=c11' } });
  assert.deepEqual(e.judge0, { enabled: true, prefix: '/api/judge0', root: true });
  assert.deepEqual(e.cyloOptions.allowedCompilerOptions, ['-O2', '-std=c11']);
  assert.equal(load({ env: { CYLO_JUDGE0: 'off' } }).judge0.enabled, false);
  assert.equal(load({ env: { CYLO_JUDGE0_PREFIX: '/x' }, flags: { judge0Prefix: '/y' } }).judge0.prefix, '/y');
  const cfg = file('judge0.json', JSON.stringify({ allowedCompilerOptions: ['-O[0-3]'], judge0Root: true }));
  assert.deepEqual(load({ configPath: cfg, env: {} }).cyloOptions.allowedCompilerOptions, ['-O[0-3]']);
  configError(() => load({ env: {}, flags: { judge0Prefix: '/bad path' } }), /^--judge0-prefix: expected a URL path/);
});
