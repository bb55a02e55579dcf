// Sessions through the library (cylo.sessions), in real sandboxes: state kept between runs for
// Python and JavaScript, the last expression as `result`, files kept between runs and gone
// with the session (closed or idle), per-run timeouts that keep the session, isolation between
// sessions (files, processes, uids, owners), the session count bound, and a download of a
// symlink pointing out of the workspace refused. Hostile cases (memory bomb) are in
// hostile.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { TEST_UID_BASE, TIGHT_LIMITS } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { datasciSkipReason } from '../support/datasci.js';
import { cgroupsNamed, processesWith, strayProcesses, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 60_000 };
const UIDS = { base: TEST_UID_BASE + 128, count: 64 };
let instance: Cylo | undefined;
const cylo = (): Cylo => (instance ??= createCylo({ defaultLimits: { ...TIGHT_LIMITS, timeoutMs: 5000 }, uidBase: UIDS.base, uidCount: UIDS.count, concurrency: 1, maxSessions: 3, prepare: false }));
test.after(() => instance?.close({ graceMs: 0 }));

const cgroupsOfThisProcess = (): string[] => cgroupsNamed(`x-${process.pid}-`);

test('python: a variable, an import and a function of run 1 are there in run 3; the last expression is the result', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'python' });
  try {
    const r1 = await s.run('import math\nx = 20\ndef double(v):\n    return 2 * v\nprint("defined")');
    assert.equal(r1.status, 'ok', JSON.stringify(r1));
    assert.equal(r1.stdout, 'defined\n');
    assert.equal(r1.result, null);
    const r2 = await s.run('y = 1');
    assert.equal(r2.status, 'ok');
    // Proves the state persists: a fresh interpreter would raise NameError on every name here.
    const r3 = await s.run('double(x) + y + math.floor(math.pi)');
    assert.equal(r3.status, 'ok', JSON.stringify(r3));
    assert.equal(r3.result, '44');
    const r4 = await s.run('undefined_name');
    assert.equal(r4.status, 'runtime_error');
    assert.equal(r4.error?.type, 'NameError');
    assert.match(r4.error?.traceback ?? '', /<cell 4>/);
    // An error does not end the session.
    assert.equal((await s.run('x')).result, '20');
  } finally {
    await s.close();
  }
});

test('javascript: a variable, a require and a function of run 1 are there in run 3; a Promise result is awaited', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'javascript' });
  try {
    const r1 = await s.run('const path = require("node:path"); let x = 20; function double(v) { return 2 * v } console.log("defined")');
    assert.equal(r1.status, 'ok', JSON.stringify(r1));
    assert.equal(r1.stdout, 'defined\n');
    await s.run('var y = 1');
    const r3 = await s.run('double(x) + y + path.basename("/a/b").length');
    assert.equal(r3.result, '42');
    assert.equal((await s.run('Promise.resolve(x * 2)')).result, '40');
    const r5 = await s.run('throw new TypeError("boom")');
    assert.equal(r5.status, 'runtime_error');
    assert.deepEqual([r5.error?.type, r5.error?.message], ['TypeError', 'boom']);
  } finally {
    await s.close();
  }
});

test('files: uploaded and written files persist across runs, can be listed, read, deleted; gone after close', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'python' });
  const id = s.id;
  await s.writeFile('data/in.csv', 'a,b\n1,2\n3,4\n');
  const r = await s.run('import csv\nrows = list(csv.DictReader(open("data/in.csv")))\nopen("out.txt", "w").write(str(sum(int(r["b"]) for r in rows)))');
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.equal((await s.run('open("out.txt").read()')).result, "'6'");
  assert.equal((await s.readFile('out.txt')).toString(), '6');
  const listed = (await s.listFiles()).map((f) => `${f.path}:${f.size}`).sort();
  assert.deepEqual(listed, ['data/in.csv:12', 'out.txt:1']);
  await s.deleteFile('out.txt');
  assert.equal((await s.run('import os\nos.path.exists("out.txt")')).result, 'False');
  await assert.rejects(s.readFile('../etc/passwd'), { code: 'CYLO_E_BAD_PATH' });
  await assert.rejects(s.readFile('missing.txt'), { code: 'CYLO_E_BAD_PATH' });
  await s.close();
  // Closed: the id answers "ended", and a new session starts with an empty workspace.
  assert.throws(() => cylo().sessions.get(id), { code: 'CYLO_E_SESSION_ENDED' });
  await assert.rejects(s.readFile('data/in.csv'), { code: 'CYLO_E_SESSION_ENDED' });
  const fresh = await cylo().sessions.create({ language: 'python' });
  try {
    assert.deepEqual(await fresh.listFiles(), []);
  } finally {
    await fresh.close();
  }
});

test('an idle session is destroyed: its id answers ended (idle), no process or cgroup of it is left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const before = cgroupsOfThisProcess();
  const s = await cylo().sessions.create({ language: 'python', idleTimeoutMs: 1500 });
  await s.writeFile('keep.txt', 'x');
  assert.notDeepEqual(cgroupsOfThisProcess(), before);
  // Proves the idle timer ends it: without one, the session would stay and get() would return it.
  await waitFor('the idle session to end', () => {
    try {
      cylo().sessions.get(s.id);
      return false;
    } catch (error) {
      return (error as { code?: string }).code === 'CYLO_E_SESSION_ENDED';
    }
  }, 20_000);
  assert.throws(() => cylo().sessions.get(s.id), /session ended \(idle\)/);
  assert.deepEqual(strayProcesses(UIDS.base, UIDS.count), []);
  assert.deepEqual(cgroupsOfThisProcess(), before);
});

test('a run past its wall time is interrupted and the session keeps its state', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  for (const [language, set, loop] of [['python', 'x = 7', 'while True:\n    pass'], ['javascript', 'var x = 7', 'while (true) {}']] as const) {
    const s = await cylo().sessions.create({ language, limits: { timeoutMs: 1000 } });
    try {
      await s.run(set);
      const r = await s.run(loop);
      assert.equal(r.status, 'timeout', `${language}: ${JSON.stringify(r)}`);
      assert.equal(r.limit, 'wall');
      assert.equal(r.sessionEnded, null);
      // Proves the interrupt hit the run, not the session: x is still defined.
      assert.equal((await s.run('x')).result, '7', language);
    } finally {
      await s.close();
    }
  }
});

test('two sessions see neither each other\'s files nor processes, run as different uids, and another owner gets not found', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const a = await cylo().sessions.create({ language: 'python', owner: 'key-a' });
  const b = await cylo().sessions.create({ language: 'python', owner: 'key-b' });
  try {
    await a.writeFile('secret-a.txt', 'only a');
    const [ma, mb] = [uniqueMarker(), uniqueMarker()];
    // A background process in each session, found on the host by its marker.
    const start = (m: string): string => `import subprocess\np = subprocess.Popen(["/bin/sh", "-c", "sleep 60", "${m}"])`;
    assert.equal((await a.run(start(ma))).status, 'ok');
    assert.equal((await b.run(start(mb))).status, 'ok');
    const probe = 'import os\n(sorted(os.listdir(".")), sorted(c for c in (open(f"/proc/{p}/cmdline").read().replace("\\0", " ") for p in os.listdir("/proc") if p.isdigit()) if "cylomark" in c))';
    const ra = await a.run(probe);
    const rb = await b.run(probe);
    assert.match(ra.result ?? '', /'secret-a\.txt'/);
    assert.doesNotMatch(rb.result ?? '', /secret-a/);
    // Each sees its own processes only (its own PID namespace).
    assert.match(ra.result ?? '', new RegExp(ma));
    assert.doesNotMatch(ra.result ?? '', new RegExp(mb));
    assert.match(rb.result ?? '', new RegExp(mb));
    assert.doesNotMatch(rb.result ?? '', new RegExp(ma));
    // On the host, the two run as different uids.
    const [pa] = processesWith(ma);
    const [pb] = processesWith(mb);
    assert.ok(pa !== undefined && pb !== undefined);
    assert.notEqual(pa.uids[0], pb.uids[0]);
    assert.throws(() => cylo().sessions.get(a.id, 'key-b'), { code: 'CYLO_E_SESSION_NOT_FOUND' });
    assert.throws(() => cylo().sessions.get(a.id), { code: 'CYLO_E_SESSION_NOT_FOUND' });
    assert.equal(cylo().sessions.get(a.id, 'key-a').id, a.id);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('downloading a symlink to a host file is refused and its content never comes back', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'python' });
  try {
    // /etc/passwd (not in the sandbox at all) and /etc/ld.so.cache (bound read-only into it:
    // a driver following the link would read it).
    const r = await s.run('import os\nos.symlink("/etc/passwd", "x")\nos.symlink("/etc/ld.so.cache", "cache")\nos.makedirs("d")\nos.symlink("/etc", "d/up")\nlen(open("cache", "rb").read()) > 0');
    assert.equal(r.result, 'True', JSON.stringify(r));
    await assert.rejects(s.readFile('x'), (e: Error & { code?: string }) => e.code === 'CYLO_E_BAD_PATH' && !e.message.includes('root:'));
    await assert.rejects(s.readFile('cache'), { code: 'CYLO_E_BAD_PATH' });
    await assert.rejects(s.readFile('d/up/ld.so.cache'), { code: 'CYLO_E_BAD_PATH' });
    // Writing through the link is refused too (it would write outside the workspace).
    await assert.rejects(s.writeFile('d/up/hosts', 'x'), { code: 'CYLO_E_BAD_PATH' });
  } finally {
    await s.close();
  }
});

test('at most maxSessions sessions at once: the next is refused with CYLO_E_SESSION_LIMIT; closing one frees room', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const open = await Promise.all([1, 2, 3].map(() => cylo().sessions.create({ language: 'javascript' })));
  try {
    await assert.rejects(cylo().sessions.create({ language: 'javascript' }), { code: 'CYLO_E_SESSION_LIMIT' });
    await open.pop()?.close();
    const again = await cylo().sessions.create({ language: 'javascript' });
    open.push(again);
  } finally {
    await Promise.all(open.map((s) => s.close()));
  }
});

test('bad options are refused naming the field', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  await assert.rejects(cylo().sessions.create({ language: 'bash' }), { code: 'CYLO_E_VALIDATION', field: 'language' });
  await assert.rejects(cylo().sessions.create({ language: 'python', lifetimeMs: 10 * 3600_000 }), { code: 'CYLO_E_LIMIT_EXCEEDED', field: 'lifetimeMs' });
  await assert.rejects(cylo().sessions.create({ language: 'python', limits: { memoryBytes: 64 * 1024 ** 3 } }), { code: 'CYLO_E_LIMIT_EXCEEDED' });
});

test('python: a matplotlib figure (datasci environment) comes back as a PNG image, and savefig writes a file the files API returns', { ...T, skip: datasciSkipReason() ?? false }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'python', environment: 'datasci', limits: { memoryBytes: 256 * 1024 * 1024 } });
  try {
    const r = await s.run('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig("plot.png")\nplt.show()');
    assert.equal(r.status, 'ok', JSON.stringify(r).slice(0, 2000));
    assert.equal(r.images.length, 1);
    const png = Buffer.from(r.images[0]?.data ?? '', 'base64');
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const file = await s.readFile('plot.png');
    assert.deepEqual([...file.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  } finally {
    await s.close();
  }
});

test('user code that writes to the driver\'s answer channel ends its own session (crashed), nothing else', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await cylo().sessions.create({ language: 'javascript' });
  // fd 1 of the driver is its answer channel; a forged line is not JSON of the answer's shape.
  const r = await s.run('require("fs").writeSync(1, "{\\"id\\": 99, \\"forged\\": true}\\n")');
  assert.equal(r.sessionEnded?.reason, 'crashed', JSON.stringify(r));
  assert.match(r.sessionEnded?.message ?? '', /wrong shape/);
  assert.throws(() => cylo().sessions.get(s.id), { code: 'CYLO_E_SESSION_ENDED' });
  assert.deepEqual(strayProcesses(UIDS.base, UIDS.count), []);
});
