// The QMP client (src/microvm/qmp.ts) against a scripted peer on a real Unix socket: the client
// is the thing under test, and the peer plays a QEMU that answers out of order, interleaves
// events, or sends what no command asked for (finding M1: replies were matched by order). The
// real QEMU path is test/microvm/snapshot.test.ts. No sandbox; each case is a few socket lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Qmp } from '../../src/microvm/qmp.js';

const T = { timeout: 30_000 };
const GREETING = '{"QMP": {"version": {"qemu": {"major": 8}}, "capabilities": []}}\n';

/** A connected pair as in production (the client's side accepted by the host's listener, the
 *  peer connecting like QEMU does); the peer's lines arrive through `commands`. */
async function pair(t: { after: (fn: () => void) => void }): Promise<{ qmp: Qmp; peer: Socket; commands: AsyncGenerator<Record<string, unknown>> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-qmp-'));
  const path = join(dir, 'qmp.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const peer = connect(path);
  const host = await accepted;
  t.after(() => {
    peer.destroy();
    host.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { qmp: new Qmp(host), peer, commands: lines(peer) };
}

/** The JSON objects the client writes, one per line. */
async function* lines(peer: Socket): AsyncGenerator<Record<string, unknown>> {
  let buffered = '';
  peer.setEncoding('utf8');
  for await (const chunk of peer) {
    buffered += chunk as string;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      yield JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
    }
  }
}

/** Greets and answers qmp_capabilities as QEMU does. */
async function negotiate(peer: Socket, commands: AsyncGenerator<Record<string, unknown>>): Promise<void> {
  peer.write(GREETING);
  const caps = (await commands.next()).value as Record<string, unknown>;
  assert.equal(caps.execute, 'qmp_capabilities');
  assert.equal(typeof caps.id, 'number', 'every command carries an id');
  peer.write(`${JSON.stringify({ return: {}, id: caps.id })}\n`);
}

test('M1: replies are matched by id: out of order, with an event between, each reaches its own command', T, async (t) => {
  // Fails with the FIFO client: the first command would get the second one's answer.
  const { qmp, peer, commands } = await pair(t);
  const first = qmp.command('query-status');
  await negotiate(peer, commands);
  const a = (await commands.next()).value as Record<string, unknown>;
  const second = qmp.command('query-migrate');
  const b = (await commands.next()).value as Record<string, unknown>;
  assert.notEqual(a.id, b.id);
  peer.write(`${JSON.stringify({ return: { status: 'completed' }, id: b.id })}\n`);
  peer.write('{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}\n');
  peer.write(`${JSON.stringify({ return: { status: 'running' }, id: a.id })}\n`);
  assert.deepEqual(await first, { status: 'running' });
  assert.deepEqual(await second, { status: 'completed' });
});

test('M1: an error reply reaches only the command whose id it carries', T, async (t) => {
  const { qmp, peer, commands } = await pair(t);
  const first = qmp.command('migrate', { uri: 'unix:/x' });
  await negotiate(peer, commands);
  const a = (await commands.next()).value as Record<string, unknown>;
  assert.deepEqual(a.arguments, { uri: 'unix:/x' });
  peer.write(`${JSON.stringify({ error: { class: 'GenericError', desc: 'no' }, id: a.id })}\n`);
  await assert.rejects(first, /QEMU: .*GenericError/);
});

for (const [name, reply] of [
  ['an unsolicited return (an id no command has)', '{"return": {"status": "running"}, "id": 999}'],
  ['a reply without an id', '{"return": {"status": "running"}}'],
  ['a reply with both return and error', 'BOTH'],
  ['a line that is not a JSON object', '[1, 2]'],
  ['a line that is not JSON', 'not json'],
] as const) {
  test(`M1: ${name} fails the monitor closed: the pending command is rejected, never answered`, T, async (t) => {
    // Fails with the FIFO client, which took the first three as the pending command's answer.
    const { qmp, peer, commands } = await pair(t);
    const pending = qmp.command('query-status');
    await negotiate(peer, commands);
    const a = (await commands.next()).value as Record<string, unknown>;
    peer.write(`${reply === 'BOTH' ? JSON.stringify({ return: {}, error: {}, id: a.id }) : reply}\n`);
    await assert.rejects(pending, /QEMU's monitor sent/);
    await assert.rejects(qmp.command('query-status'), /QEMU's monitor sent/, 'and the monitor stays failed');
  });
}

test('M1: a repeated reply (the same id twice) fails the monitor closed', T, async (t) => {
  // The second answer to an id is one no pending command has: the next command must not get it.
  const { qmp, peer, commands } = await pair(t);
  const first = qmp.command('query-status');
  await negotiate(peer, commands);
  const a = (await commands.next()).value as Record<string, unknown>;
  peer.write(`${JSON.stringify({ return: { status: 'running' }, id: a.id })}\n`);
  assert.deepEqual(await first, { status: 'running' });
  const second = qmp.command('query-status');
  await commands.next();
  peer.write(`${JSON.stringify({ return: { status: 'forged' }, id: a.id })}\n`);
  await assert.rejects(second, /reply to no pending command/);
});

test('M1: a first line that is not a QMP greeting fails the monitor closed', T, async (t) => {
  const { qmp, peer } = await pair(t);
  const pending = qmp.command('query-status');
  peer.write('{"return": {}}\n');
  await assert.rejects(pending, /did not greet/);
});
