// Piston's interactive WebSocket protocol at /api/v2/connect, on a real loopback server:
// runtime/stage/data/exit messages, stdin through data messages, cylo's `stdin_end`, signals
// that really reach the program, Piston's close codes (4000-4005, 4999), output caps, and a
// client that disconnects cancelling its execution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { CLOSE } from '../../src/server/piston-connect.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { listenLoopback } from '../support/http.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };
const OUTPUT_CAP = 16 * 1024;
const cylo = testCylo({ concurrency: 2, queueLimit: 4, defaultLimits: { timeoutMs: 10_000, cpuTimeMs: 10_000, memoryBytes: 128 * MiB, pids: 32, outputBytes: OUTPUT_CAP, workspaceBytes: 16 * MiB } }, 384);
let app: FastifyInstance;
let wsBase = '';

test.before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  wsBase = (await listenLoopback(app)).replace(/^http/, 'ws');
});

test.after(async () => {
  await app.close();
  await cylo.close({ graceMs: 0 });
});

type Message = Record<string, unknown> & { type: string };

/** A test client: every message received, the close code and reason, and waits on both. */
class Client {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private listeners: Array<() => void> = [];

  constructor() {
    this.ws = new WebSocket(`${wsBase}/api/v2/connect`);
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    this.ws.on('message', (raw: Buffer) => {
      this.messages.push(JSON.parse(raw.toString('utf8')) as Message);
      for (const l of this.listeners) l();
    });
  }

  static async open(): Promise<Client> {
    const c = new Client();
    await c.opened;
    return c;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  init(language: string, code: string, extra: Record<string, unknown> = {}): void {
    this.send({ type: 'init', language, version: '*', files: [{ content: code }], ...extra });
  }

  stdout(): string {
    return this.messages.filter((m) => m.type === 'data' && m.stream === 'stdout').map((m) => String(m.data)).join('');
  }

  /** Resolves once a received message satisfies `predicate` (rejects if the socket closes first). */
  waitFor(what: string, predicate: () => boolean): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve();
      };
      this.listeners.push(check);
      void this.closed.then(({ code, reason }) => {
        if (!predicate()) reject(new Error(`closed (${code} ${reason}) before ${what}; messages: ${JSON.stringify(this.messages)}`));
      });
    });
  }

  untilStdout(text: string): Promise<void> {
    return this.waitFor(`stdout ${JSON.stringify(text)}`, () => this.stdout().includes(text));
  }
}

const exitOf = (c: Client, stage = 'run'): Message | undefined => c.messages.find((m) => m.type === 'exit' && m.stage === stage);

test('connect: runtime, stage, data and exit messages, then close 4999', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('python', 'import sys\nprint("hello")\nprint("oops", file=sys.stderr)\nsys.exit(3)');
  const closed = await c.closed;
  assert.deepEqual(closed, { code: CLOSE.completed, reason: 'Job Completed' });
  const types = c.messages.map((m) => m.type);
  assert.equal(types[0], 'runtime');
  assert.equal(c.messages[0]?.language, 'python');
  assert.match(String(c.messages[0]?.version), /^\d+\.\d+/);
  assert.deepEqual(c.messages[1], { type: 'stage', stage: 'run' });
  assert.equal(types.at(-1), 'exit');
  // stdout and stderr are separate pipes: their relative order is not defined
  const data = c.messages.filter((m) => m.type === 'data').sort((a, b) => String(a.stream).localeCompare(String(b.stream)));
  assert.deepEqual(data, [
    { type: 'data', stream: 'stderr', data: 'oops\n' },
    { type: 'data', stream: 'stdout', data: 'hello\n' },
  ]);
  assert.equal(c.stdout(), 'hello\n');
  const exit = exitOf(c);
  assert.equal(exit?.code, 3);
  assert.equal(exit?.signal, null);
  assert.equal(exit?.status, 'runtime_error');
});

test('connect: a compiled language (C): compile stage and exit, then the run stage; the same with a cached compile', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = (await cylo.runtimes()).find((r) => r.language === 'c');
  if (c === undefined || !c.available) {
    t.skip(`C is not available here: ${c?.problem ?? 'no c runtime'}`);
    return;
  }
  // A unique comment: the first compile is a cache miss, the second a hit.
  const code = `/* ${uniqueMarker()} */\n#include <stdio.h>\nint main(void) { char line[64]; if (fgets(line, sizeof line, stdin)) printf("C got %s", line); return 2; }\n`;
  for (const round of ['fresh', 'cached']) {
    const client = await Client.open();
    client.init('c', code);
    client.send({ type: 'data', stream: 'stdin', data: 'input\n' });
    assert.equal((await client.closed).code, CLOSE.completed, `${round}: ${JSON.stringify(client.messages)}`);
    const seq = client.messages.map((m) => (m.type === 'stage' || m.type === 'exit' ? `${m.type}:${String(m.stage)}` : m.type));
    assert.deepEqual(seq, ['runtime', 'stage:compile', 'exit:compile', 'stage:run', 'data', 'exit:run'], round);
    assert.equal(exitOf(client, 'compile')?.code, 0, round);
    assert.equal(client.stdout(), 'C got input\n', round);
    assert.equal(exitOf(client)?.code, 2, round);
  }
  // a compile error: its exit (non-zero, the compiler's stderr as data), and no run stage
  const bad = await Client.open();
  bad.init('c', 'int main(void) { this is not C }\n');
  assert.equal((await bad.closed).code, CLOSE.completed);
  const seq = bad.messages.map((m) => (m.type === 'stage' || m.type === 'exit' ? `${m.type}:${String(m.stage)}` : m.type === 'data' ? `data:${String(m.stream)}` : m.type));
  assert.equal(seq[0], 'runtime');
  assert.equal(seq[1], 'stage:compile');
  assert.equal(seq.at(-1), 'exit:compile');
  assert.ok(!seq.includes('stage:run'), seq.join(' '));
  assert.ok(seq.includes('data:stderr'), 'the compiler\'s diagnostics are streamed');
  assert.notEqual(exitOf(bad, 'compile')?.code, 0);
  assert.equal(exitOf(bad, 'compile')?.status, 'compile_error');
});

test('connect: stdin sent in data messages reaches the running program', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('python', 'import sys\nprint("ready", flush=True)\nfor line in sys.stdin:\n    print("echo:" + line.strip(), flush=True)\n    if line.strip() == "quit": break');
  await c.untilStdout('ready');
  c.send({ type: 'data', stream: 'stdin', data: 'hello\n' });
  await c.untilStdout('echo:hello');
  c.send({ type: 'data', stream: 'stdin', data: 'quit\n' });
  assert.equal((await c.closed).code, CLOSE.completed);
  assert.equal(c.stdout(), 'ready\necho:hello\necho:quit\n');
  assert.equal(exitOf(c)?.code, 0);
});

test('connect: stdin sent right behind init (same burst) is not lost', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'read line; echo "got:$line"');
  c.send({ type: 'data', stream: 'stdin', data: 'early\n' });
  const closed = await c.closed;
  assert.equal(closed.code, CLOSE.completed, JSON.stringify(c.messages));
  assert.equal(c.stdout(), 'got:early\n');
});

test('connect: stdin_end closes stdin, so a cat-like program finishes', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'cat; echo "<eof>"');
  await c.waitFor('the run stage', () => c.messages.some((m) => m.type === 'stage'));
  c.send({ type: 'data', stream: 'stdin', data: 'one\n' });
  await c.untilStdout('one\n');
  c.send({ type: 'data', stream: 'stdin', data: 'two\n' });
  c.send({ type: 'stdin_end' });
  assert.equal((await c.closed).code, CLOSE.completed);
  assert.equal(c.stdout(), 'one\ntwo\n<eof>\n');
  assert.equal(exitOf(c)?.code, 0);
});

test('connect: init stdin is given without an added newline', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'cat; echo "|"', { stdin: 'abc' });
  c.send({ type: 'stdin_end' });
  await c.closed;
  assert.equal(c.stdout(), 'abc|\n');
});

test('connect: the output extensions: redirectStderrToStdout and base64 init stdin apply, base64 output is refused', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the WebSocket's init takes the same extension fields as /api/v2/execute; stderr
  // then arrives as stdout data in write order; outputEncoding base64 cannot apply to text
  // data messages, so it is refused by name (close 4002) instead of being ignored.
  const merged = await Client.open();
  merged.init('bash', 'cat; echo err >&2; echo out', { redirectStderrToStdout: true, stdin: Buffer.from('in\n').toString('base64'), stdinEncoding: 'base64' });
  merged.send({ type: 'stdin_end' });
  await merged.closed;
  assert.equal(merged.stdout(), 'in\nerr\nout\n');
  assert.equal(merged.messages.some((m) => m.type === 'data' && m.stream === 'stderr'), false);
  const b64 = await Client.open();
  b64.init('bash', 'echo hi', { outputEncoding: 'base64' });
  assert.equal((await b64.closed).code, CLOSE.error);
  assert.match(String(b64.messages[0]?.message), /^outputEncoding: base64 is not available on \/api\/v2\/connect/);
});

test('connect: a signal message reaches the program (its SIGTERM trap runs)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'trap \'echo "trapped TERM"; exit 7\' TERM\necho ready\nwhile :; do sleep 0.05; done');
  await c.untilStdout('ready');
  c.send({ type: 'signal', signal: 'SIGTERM' });
  assert.equal((await c.closed).code, CLOSE.completed);
  assert.equal(c.stdout(), 'ready\ntrapped TERM\n');
  assert.equal(exitOf(c)?.code, 7);
});

test('connect: SIGKILL is reported in the exit message with its number', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'echo ready; exec sleep 20');
  await c.untilStdout('ready');
  c.send({ type: 'signal', signal: 'SIGKILL' });
  await c.closed;
  const exit = exitOf(c);
  assert.equal(exit?.signal, 'SIGKILL');
  assert.equal(exit?.signal_number, 9);
  assert.equal(exit?.code, null);
});

test('connect: an invalid signal closes with 4005', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
  const c = await Client.open();
  c.init('bash', `echo ready; sleep 20.${marker}`);
  await c.untilStdout('ready');
  c.send({ type: 'signal', signal: 'SIGNOPE' });
  assert.deepEqual(await c.closed, { code: CLOSE.invalidSignal, reason: 'Invalid signal' });
  await waitFor('the program to be killed (the socket closed)', () => processesWith(marker).length === 0);
});

test('connect: data before init closes with 4003', T, async () => {
  const c = await Client.open();
  c.send({ type: 'data', stream: 'stdin', data: 'x' });
  assert.deepEqual(await c.closed, { code: CLOSE.notInitialised, reason: 'Not yet Initialized' });
  for (const message of [{ type: 'signal', signal: 'SIGTERM' }, { type: 'stdin_end' }]) {
    const d = await Client.open();
    d.send(message);
    assert.equal((await d.closed).code, CLOSE.notInitialised, JSON.stringify(message));
  }
});

test('connect: a second init closes with 4000', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
  const c = await Client.open();
  c.init('bash', `echo ready; sleep 20.${marker}`);
  await c.untilStdout('ready');
  c.init('bash', 'echo again');
  assert.deepEqual(await c.closed, { code: CLOSE.alreadyInitialised, reason: 'Already Initialized' });
  await waitFor('the first program to be killed', () => processesWith(marker).length === 0);
});

test('connect: no init within ~1 s closes with 4001', T, async () => {
  const c = await Client.open();
  const t0 = performance.now();
  assert.deepEqual(await c.closed, { code: CLOSE.initTimeout, reason: 'Initialization Timeout' });
  const waited = performance.now() - t0;
  assert.ok(waited >= 900, `closed after ${waited} ms, not before the 1 s init window`);
});

test('connect: writing to a stream other than stdin closes with 4004', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'cat');
  await c.waitFor('the runtime message', () => c.messages.some((m) => m.type === 'runtime'));
  c.send({ type: 'data', stream: 'stdout', data: 'x' });
  assert.deepEqual(await c.closed, { code: CLOSE.onlyStdin, reason: 'Can only write to stdin' });
});

test('connect: an invalid init or an unknown message is an error message and close 4002', T, async (t) => {
  const bad = await Client.open();
  bad.send({ type: 'init', language: 'bash' }); // no files
  assert.equal((await bad.closed).code, CLOSE.error);
  assert.equal(bad.messages[0]?.type, 'error');
  assert.match(String(bad.messages[0]?.message), /files/);
  const junk = await Client.open();
  junk.send('not json');
  assert.equal((await junk.closed).code, CLOSE.error);
  const unknownType = await Client.open();
  unknownType.send({ type: 'resize' });
  assert.equal((await unknownType.closed).code, CLOSE.error);
  assert.match(String(unknownType.messages[0]?.message), /unknown type/);
  if (skipWithoutSandbox(t)) return;
  const lang = await Client.open();
  lang.init('no-such-language', 'x');
  assert.equal((await lang.closed).code, CLOSE.error);
  assert.match(String(lang.messages[0]?.message), /runtime is unknown/);
});

test('connect: the output cap holds (an endless printer ends output_limit)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const c = await Client.open();
  c.init('bash', 'yes 0123456789abcdef');
  assert.equal((await c.closed).code, CLOSE.completed);
  const streamed = Buffer.byteLength(c.stdout());
  assert.ok(streamed <= OUTPUT_CAP, `${streamed} bytes sent under a cap of ${OUTPUT_CAP}`);
  assert.ok(streamed > OUTPUT_CAP / 2);
  assert.equal(exitOf(c)?.status, 'output_limit');
  assert.equal(exitOf(c)?.signal, 'SIGKILL');
});

test('connect: a client that disconnects cancels its execution; no process is left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
  const c = await Client.open();
  c.init('bash', `echo ready; cat; sleep 20.${marker}`);
  await c.untilStdout('ready');
  assert.ok(processesWith(marker).length === 0, 'cat is still reading (the sleep has not started)');
  await waitFor('one execution running', () => cylo.stats().running === 1);
  c.ws.terminate(); // no close handshake: the TCP connection just goes away
  await waitFor('the worker to be free', () => cylo.stats().running === 0, 10_000);
  // and the same for a program that is past reading stdin
  const d = await Client.open();
  d.init('bash', `echo ready; sleep 20.${marker}`);
  await d.untilStdout('ready');
  await waitFor('the sleep to start', () => processesWith(marker).length > 0);
  d.ws.close();
  await waitFor('the program to be killed', () => processesWith(marker).length === 0, 10_000);
  await waitFor('the worker to be free', () => cylo.stats().running === 0, 10_000);
});

test('connect: a client that disconnects right after init (before the program starts) leaves nothing running', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
  const c = await Client.open();
  c.init('bash', `sleep 20.${marker}`);
  c.ws.terminate();
  await c.closed;
  // Give a wrongly started execution time to show up, then make sure none is there.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(processesWith(marker), []);
  assert.equal(cylo.stats().running, 0);
});

test('connect: with a token, the upgrade needs Authorization: Bearer', T, async () => {
  const secured = await buildServer({ cylo, logger: false, processMetrics: false, token: 'sekret-token-123' });
  try {
    const url = `${(await listenLoopback(secured)).replace(/^http/, 'ws')}/api/v2/connect`;
    const refused = new WebSocket(url);
    const status = await new Promise<number | undefined>((resolve) => {
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      refused.on('open', () => resolve(undefined));
      refused.on('error', () => {});
    });
    refused.terminate();
    assert.equal(status, 401);
    const allowed = new WebSocket(url, { headers: { authorization: 'Bearer sekret-token-123' } });
    allowed.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      allowed.once('open', () => resolve());
      allowed.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    const closed = new Promise<number>((resolve) => allowed.once('close', (code) => resolve(code)));
    allowed.send('not json');
    assert.equal(await closed, CLOSE.error);
  } finally {
    await secured.close();
  }
});
