// Hostile programs in sessions (after the pre-flight, with small limits): a memory bomb in run 2
// ends that run with memory_limit, the session reports that it ended (Jupyter's "kernel
// died"), and nothing of it is left on the host: no process of its uid, no cgroup, its uid
// free again. A run that ignores the interrupt ends the whole session (timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { TEST_UID_BASE } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { cgroupsNamed, strayProcesses } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { settled } from '../support/wait.js';

const T = { timeout: 60_000 };
// A range of its own (this file runs in its own process; +192 is free in this process).
const UIDS = { base: TEST_UID_BASE + 192, count: 16 };
let instance: Cylo | undefined;
const cylo = (): Cylo => (instance ??= createCylo({ defaultLimits: { timeoutMs: 5000, cpuTimeMs: 5000, memoryBytes: 96 * MiB, pids: 16, outputBytes: 64 * 1024, workspaceBytes: 8 * MiB }, uidBase: UIDS.base, uidCount: UIDS.count, concurrency: 1, maxSessions: 2, prepare: false }));
test.after(() => instance?.close({ graceMs: 0 }));
const cgroupsOfThisProcess = (): string[] => cgroupsNamed(`x-${process.pid}-`);

for (const [language, bomb] of [
  ['python', 'chunks = []\nwhile True:\n    chunks.append(bytearray(8 * 1024 * 1024))'],
  ['javascript', 'const chunks = []; while (true) chunks.push(Buffer.alloc(8 * 1024 * 1024, 1))'],
] as const) {
  test(`${language}: a memory bomb in run 2 ends the run with memory_limit and the session with it; nothing is left`, T, async (t) => {
    if (await skipWithoutPreflight(t)) return;
    const before = cgroupsOfThisProcess();
    const s = await cylo().sessions.create({ language });
    const r1 = await s.run(language === 'python' ? 'x = 1' : 'var x = 1');
    assert.equal(r1.status, 'ok');
    const r2 = await s.run(bomb);
    assert.equal(r2.status, 'memory_limit', JSON.stringify(r2));
    assert.equal(r2.limit, 'memory');
    assert.equal(r2.sessionEnded?.reason, 'memory_limit');
    assert.match(r2.sessionEnded?.message ?? '', /memory limit of \d+ bytes/);
    // The session is gone: its id answers "ended (memory_limit)", every call is refused.
    assert.throws(() => cylo().sessions.get(s.id), /session ended \(memory_limit\)/);
    await assert.rejects(s.run('x'), { code: 'CYLO_E_SESSION_ENDED' });
    // Nothing leaks: no process of the range, the session's cgroup removed.
    assert.deepEqual(strayProcesses(UIDS.base, UIDS.count), []);
    assert.deepEqual(await settled(cgroupsOfThisProcess, (now) => now.length === before.length), before);
    // Its uid is free again: maxSessions (2) sessions can be opened at once.
    const again = await Promise.all([cylo().sessions.create({ language }), cylo().sessions.create({ language })]);
    await Promise.all(again.map((x) => x.close()));
  });
}

test('python: a run that ignores the interrupt (SIGINT) and keeps looping ends the whole session (timeout); nothing is left', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const s = await cylo().sessions.create({ language: 'python', limits: { timeoutMs: 500 } });
  const r = await s.run('import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass');
  assert.equal(r.status, 'timeout', JSON.stringify(r));
  assert.equal(r.sessionEnded?.reason, 'timeout');
  assert.throws(() => cylo().sessions.get(s.id), { code: 'CYLO_E_SESSION_ENDED' });
  assert.deepEqual(strayProcesses(UIDS.base, UIDS.count), []);
});
