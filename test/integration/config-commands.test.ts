// One configuration story (issue 13): `cylo exec`, `watch`, `mcp` and `serve` read the SAME config
// file, through the real bin/cylo (and, for mcp, the MCP SDK's own stdio client). The file lowers
// the default output limit to 1K and a program prints 5000 bytes: with the file, each command
// reports output_limit; a control run without it shows the program is fine by default. Also:
// --config wins over CYLO_CONFIG; a maximum lowered in the file is refused naming the file and the
// key; a maximum raised in the file lets `--timeout 2m` through where the default maximum (1m)
// refuses it; an unknown key and a malformed file each stop every command with one line naming
// the file (and the key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { startServe, stopServe } from '../support/serve.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 90_000 };
const BIN = resolve('bin/cylo');
const dir = mkdtempSync(join(tmpdir(), 'cylo-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Each bin/cylo of this file gets this uid range (one at a time), beside the other test files'. */
const UIDS = { CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 96), CYLO_UID_COUNT: '16' };
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...UIDS };

function write(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The shared file: the default output limit lowered to 1K (a text size, as a flag would say it),
 *  and an HTTP-only key (an origin allowed at /mcp) that only serve reads and the others accept. */
const SMALL_OUTPUT = write('small-output.json', JSON.stringify({ defaultLimits: { outputBytes: '1K' }, mcpAllowedOrigins: ['https://allowed.example'] }));
const LOUD = 'print("x" * 5000)\n';
write('loud.py', LOUD);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/cylo ARGS` in the test's folder with `env` over ENV; stdin closed. */
function cylo(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

test('exec: the config file\'s default output limit applies (--config, and CYLO_CONFIG); --config wins over CYLO_CONFIG', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const control = await cylo(['exec', 'loud.py']);
  assert.equal(control.code, 0, `without the file the program is fine: ${control.stderr}`);
  const flagged = await cylo(['exec', '--config', SMALL_OUTPUT, 'loud.py']);
  assert.equal(flagged.code, 137, flagged.stderr);
  assert.match(flagged.stderr, /cylo: output_limit: .*\(limit: output; --output-limit sets it\)/);
  const fromEnv = await cylo(['exec', 'loud.py'], { CYLO_CONFIG: SMALL_OUTPUT });
  assert.equal(fromEnv.code, 137, fromEnv.stderr);
  // flags > environment: --config names another file, CYLO_CONFIG's is not read
  const plain = write('plain.json', '{}');
  const both = await cylo(['exec', '--config', plain, 'loud.py'], { CYLO_CONFIG: SMALL_OUTPUT });
  assert.equal(both.code, 0, both.stderr);
});

test('exec: a maximum from the config file: lowered, the refusal names the file and key; raised, --timeout 2m runs (the default maximum 1m refuses it)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const low = write('low-max.json', JSON.stringify({ maxLimits: { timeoutMs: '2s' } }));
  const refused = await cylo(['exec', '--config', low, '--timeout', '5', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(refused.code, 125);
  assert.equal(refused.stderr, `cylo: --timeout: 5 is above the maximum of 2s (set by config file ${low}: maxLimits.timeoutMs)\n`);
  const byDefault = await cylo(['exec', '--timeout', '2m', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(byDefault.code, 125);
  assert.match(byDefault.stderr, /--timeout: 2m is above the maximum of 1m \(the default; raise it with maxLimits\.timeoutMs in a config file/);
  const high = write('high-max.json', JSON.stringify({ maxLimits: { timeoutMs: 180_000 } }));
  const raised = await cylo(['exec', '--config', high, '--timeout', '2m', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(raised.code, 0, raised.stderr);
  assert.equal(raised.stdout, '1\n');
});

test('an unknown key and a malformed file: every command stops with one line naming the file (and the key), exit 125', T, async () => {
  // No sandbox needed: refused before anything starts.
  const typo = write('typo.json', JSON.stringify({ maxLimits: { timeoutMs: 5000 }, defaultLimit: { timeoutMs: 1000 } }));
  const broken = write('broken.json', '{ "maxLimits": ');
  for (const command of [['exec', '--lang', 'python', '-c', 'print(1)'], ['watch', dir], ['mcp'], ['serve', '--port', '0']]) {
    const unknown = await cylo([...command, '--config', typo]);
    assert.equal(unknown.code, 125, `${command[0]}: ${unknown.stderr}`);
    assert.equal(unknown.stderr, `cylo: config file ${typo}: defaultLimit: unknown setting; remove it (see docs/configuration.md)\n`, command[0]);
    const malformed = await cylo([...command, '--config', broken]);
    assert.equal(malformed.code, 125, `${command[0]}: ${malformed.stderr}`);
    assert.match(malformed.stderr, new RegExp(`^cylo: config file ${broken}: not valid JSON \\(.*\\); fix its syntax \\(see docs/configuration\\.md\\)\\n$`), command[0]);
  }
  // A missing explicit file is an error (the default file may be missing)
  const missing = await cylo(['exec', '--lang', 'python', '-c', 'print(1)'], { CYLO_CONFIG: join(dir, 'nope.json') });
  assert.equal(missing.code, 125);
  assert.equal(missing.stderr, `cylo: config file ${join(dir, 'nope.json')}: cannot read it (ENOENT); fix the path given by CYLO_CONFIG\n`);
});

test('watch: the config file\'s default output limit applies (and --initial runs the file at start)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const project = mkdtempSync(join(dir, 'watch-'));
  writeFileSync(join(project, 'loud.py'), LOUD);
  const child = spawn(process.execPath, [BIN, 'watch', '--json', '--initial', '--config', SMALL_OUTPUT, project], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const closed = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  try {
    const end = await waitFor(`the initial run's end event (stderr: ${err})`, () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'end'), 30_000);
    assert.equal(end.file, 'loud.py');
    assert.equal(end.status, 'output_limit');
  } finally {
    child.kill('SIGINT');
    assert.equal(await closed, 0, err);
  }
});

test('mcp (stdio, the SDK client): the config file\'s default output limit applies', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp', '--config', SMALL_OUTPUT], stderr: 'pipe', cwd: dir, env: ENV });
  const client = new Client({ name: 'cylo-config-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: 'run_code', arguments: { language: 'python', code: LOUD } });
    assert.equal((result.structuredContent as { status?: string } | undefined)?.status, 'output_limit', JSON.stringify(result.structuredContent));
  } finally {
    await client.close();
  }
});

test('serve: the config file\'s default output limit applies to /v1/execute, and its mcpAllowedOrigins to /mcp', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const served = await startServe({ ...ENV }, { args: ['--config', SMALL_OUTPUT, '--concurrency', '1'] });
  try {
    const res = await fetch(`${served.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python', code: LOUD }) });
    const body = (await res.json()) as { status?: string };
    assert.equal(body.status, 'output_limit', JSON.stringify(body));
    const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const mcpFrom = (origin: string): Promise<Response> =>
      fetch(`${served.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin }, body: initialize });
    assert.equal((await mcpFrom('https://allowed.example')).status, 200, 'the origin the file allows');
    assert.equal((await mcpFrom('https://other.example')).status, 403, 'any other foreign origin');
  } finally {
    await stopServe(served);
  }
});
