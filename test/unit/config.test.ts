// The shared configuration loader (src/config/load.ts) every command uses: precedence flags >
// environment > config file for the shared keys; where a value came from; the default file
// (/etc/cylo/config.json; here a temporary stand-in) read when present and its absence fine, while
// a missing explicit file is an error; paths in the file relative to the file; limits with units;
// one-line errors naming the file and the key; and the loader stays light (no server, no MCP SDK).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CyloError } from '../../src/errors.js';
import { cyloOptionsFromConfig, loadConfig } from '../../src/config/load.js';
import { loadServerConfig } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'cylo-config-unit-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function configError(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CyloError, `a CyloError, got ${String(e)}`);
    assert.equal(e.code, 'CYLO_E_CONFIG');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return true;
  });
}

test('precedence for the shared keys: flags > environment > config file; origin names the source', () => {
  const cfg = file('prec.json', { concurrency: 3, queueLimit: 7, relax: ['landlock'], uidCount: 100, maxLimits: { timeoutMs: '5m' } });
  const c = loadConfig({ configPath: cfg, env: { CYLO_RELAX: 'seccomp', CYLO_CONCURRENCY: '5', CYLO_UID_COUNT: '50' }, flags: { concurrency: '6' }, flagNames: { concurrency: '--concurrency' }, defaultPath: false });
  assert.equal(c.values.concurrency, 6, 'flag over environment');
  assert.deepEqual(c.values.relax, ['seccomp'], 'environment over file');
  assert.equal(c.values.uidCount, 50, 'environment over file');
  assert.equal(c.values.queueLimit, 7, 'file');
  assert.deepEqual(c.values.maxLimits, { timeoutMs: 300_000 }, 'a duration with its unit');
  assert.equal(c.origin('concurrency'), '--concurrency');
  assert.equal(c.origin('relax'), 'CYLO_RELAX');
  assert.equal(c.origin('maxLimits'), `config file ${cfg}: maxLimits`);
  assert.equal(c.origin('defaultLimits'), undefined);
  assert.deepEqual(cyloOptionsFromConfig(c), { concurrency: 6, queueLimit: 7, relax: ['seccomp'], maxLimits: { timeoutMs: 300_000 }, uidCount: 50 });
});

test('the config file: --config over CYLO_CONFIG over the default file; a missing default is fine, a missing explicit file is not', () => {
  const def = file('default.json', { queueLimit: 1 });
  const env = file('env.json', { queueLimit: 2 });
  const flag = file('flag.json', { queueLimit: 3 });
  assert.equal(loadConfig({ env: {}, defaultPath: def }).values.queueLimit, 1);
  assert.equal(loadConfig({ env: { CYLO_CONFIG: env }, defaultPath: def }).values.queueLimit, 2);
  assert.equal(loadConfig({ configPath: flag, env: { CYLO_CONFIG: env }, defaultPath: def }).values.queueLimit, 3);
  const none = loadConfig({ env: {}, defaultPath: join(dir, 'absent.json') });
  assert.equal(none.configPath, undefined);
  assert.deepEqual(none.values, {});
  configError(() => loadConfig({ configPath: join(dir, 'absent.json'), env: {}, defaultPath: false }), `config file ${join(dir, 'absent.json')}: cannot read it (ENOENT); fix the path given by --config`);
  configError(() => loadConfig({ env: { CYLO_CONFIG: join(dir, 'absent.json') }, defaultPath: false }), /fix the path given by CYLO_CONFIG$/);
});

test('paths in the config file are relative to the file: runtimesFile (for every command), tokenFile (serve)', () => {
  file('token.txt', 'sesame\n');
  const cfg = file('paths.json', { runtimesFile: 'runtimes.json', tokenFile: 'token.txt' });
  assert.equal(loadConfig({ configPath: cfg, env: {}, defaultPath: false }).values.runtimesFile, join(dir, 'runtimes.json'));
  assert.equal(loadServerConfig({ configPath: cfg, env: {}, defaultPath: false }).token, 'sesame');
  // CYLO_RUNTIMES_FILE (as the library reads it) wins over the file's key
  assert.equal(loadConfig({ configPath: cfg, env: { CYLO_RUNTIMES_FILE: '/x/r.json' }, defaultPath: false }).values.runtimesFile, '/x/r.json');
});

test('errors: one line naming the file and the key (or the variable, or the flag), and the fix', () => {
  const unknown = file('unknown.json', { maxLimits: { timeoutMs: 1000 }, concurency: 2 });
  configError(() => loadConfig({ configPath: unknown, env: {}, defaultPath: false }), `config file ${unknown}: concurency: unknown setting; remove it (see docs/configuration.md)`);
  const nested = file('nested.json', { maxLimits: { timeout: 1000 } });
  configError(() => loadConfig({ configPath: nested, env: {}, defaultPath: false }), `config file ${nested}: maxLimits.timeout: unknown setting; remove it (see docs/configuration.md)`);
  const bareSize = file('bare.json', { defaultLimits: { memoryBytes: '128' } });
  configError(() => loadConfig({ configPath: bareSize, env: {}, defaultPath: false }), new RegExp(`^config file ${bareSize}: defaultLimits\\.memoryBytes: 128 has no unit; did you mean 128M\\?`));
  const malformed = file('malformed.json', '{\n  "maxLimits": {\n');
  configError(() => loadConfig({ configPath: malformed, env: {}, defaultPath: false }), new RegExp(`^config file ${malformed}: not valid JSON \\(.+\\); fix its syntax \\(see docs/configuration\\.md\\)$`));
  const array = file('array.json', '[]');
  configError(() => loadConfig({ configPath: array, env: {}, defaultPath: false }), /^config file .*array\.json: expected a JSON object/);
  configError(() => loadConfig({ env: { CYLO_QUEUE_LIMIT: 'lots' }, defaultPath: false }), /^CYLO_QUEUE_LIMIT: expected a whole number/);
  const origin = file('origin.json', { mcpAllowedOrigins: ['https://ok.example', 'ftp://files.example'] });
  configError(() => loadConfig({ configPath: origin, env: {}, defaultPath: false }), new RegExp(`^config file ${origin}: mcpAllowedOrigins: "ftp://files\\.example" is not an http\\(s\\) origin; write scheme://host\\[:port\\]`));
  assert.deepEqual(loadConfig({ env: { CYLO_MCP_ALLOWED_ORIGINS: 'https://a.example/, http://b.example:8080' }, defaultPath: false }).values.mcpAllowedOrigins, ['https://a.example', 'http://b.example:8080']);
});

test('the loader is light: importing it loads neither the HTTP server nor the MCP SDK', () => {
  // cylo exec loads it on every start (test/integration/cli-start.test.ts checks the whole CLI).
  const script = `await import(${JSON.stringify(new URL('../../src/config/load.js', import.meta.url).href)}); process.stdout.write('ok');`;
  const hook = `export async function load(url, context, next) { if (/node_modules\\/(fastify|@modelcontextprotocol|prom-client|pino)/.test(url)) process.stderr.write('HEAVY ' + url + '\\n'); return next(url, context); }`;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.stdout, 'ok', r.stderr);
  assert.doesNotMatch(r.stderr, /HEAVY/);
});

test('the microVM monitor and the template rotation: from the environment and the file; a monitor cylo does not know is refused', () => {
  // Proves: CYLO_MICROVM_MONITOR / CYLO_MICROVM_SNAPSHOT_RESTORES reach the options (the keys
  // are wired), and a misspelt monitor is a config error naming the variable, not a silent QEMU.
  const env = loadConfig({ env: { CYLO_MICROVM_MONITOR: 'firecracker', CYLO_MICROVM_SNAPSHOT_RESTORES: '8' }, defaultPath: false });
  assert.equal(env.values.microvmMonitor, 'firecracker');
  assert.equal(env.values.microvmSnapshotRestores, 8);
  const cfg = file('monitor.json', { microvmMonitor: 'qemu', microvmSnapshotRestores: 1 });
  assert.deepEqual([loadConfig({ configPath: cfg, env: {}, defaultPath: false }).values.microvmMonitor, loadConfig({ configPath: cfg, env: {}, defaultPath: false }).values.microvmSnapshotRestores], ['qemu', 1]);
  configError(() => loadConfig({ env: { CYLO_MICROVM_MONITOR: 'kvmtool' }, defaultPath: false }), /CYLO_MICROVM_MONITOR/);
  configError(() => loadConfig({ env: { CYLO_MICROVM_SNAPSHOT_RESTORES: '0' }, defaultPath: false }), /CYLO_MICROVM_SNAPSHOT_RESTORES/);
});
