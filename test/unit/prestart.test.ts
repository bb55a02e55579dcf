// The host's side of pre-started runtimes (src/sandbox/prestart.ts, pure): the job a runtime is
// pre-started with, and when a request's job may be handed to it. A request handed to a runtime
// started for another job would run with the wrong interpreter, entry, environment or limits,
// so every difference must make handoverArgs refuse (the request then runs cold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handoverArgs, PREIMPORT_MIN_MEMORY_BYTES, PREIMPORT_VARIABLE, PRESTART_ARGV_ROOM, PRESTART_RLIMITS, prestartJob, ZYGOTE_FDS_VARIABLE, type RequestJob } from '../../src/sandbox/prestart.js';

const RLIMITS = { core: 0, nofile: 1024, nproc: 40, cpu: 3 };
const PY: RequestJob = { argv: ['/usr/bin/python3', 'main.py', 'a', 'b c'], env: { LANG: 'C.UTF-8' }, rlimits: RLIMITS, cgroup: { memoryBytes: 128 << 20, pids: 32 } };

test('python: started as `python3 ENTRY ROOM` (ROOM: command-line room for the program argv) with the stub on PYTHONPATH and the request-dependent rlimits at their highest', () => {
  const job = prestartJob('python', PY);
  assert.deepEqual(job, {
    kind: 'python',
    argv: ['/usr/bin/python3', 'main.py', '.'.repeat(PRESTART_ARGV_ROOM)],
    env: { LANG: 'C.UTF-8', PYTHONPATH: '/.cylo/prestart/python' },
    rlimits: { core: 0, nofile: 1024, ...PRESTART_RLIMITS },
    stderrToStdout: false,
    given: 2,
    cgroup: { memoryBytes: 128 << 20, pids: 32 },
  });
});

test('node: started as `node --require STUB ENTRY`', () => {
  const job = prestartJob('node', { ...PY, argv: ['/usr/bin/node', 'main.js', 'x'] });
  assert.deepEqual(job?.argv, ['/usr/bin/node', '--require', '/.cylo/prestart/node/preload.cjs', 'main.js', '.'.repeat(PRESTART_ARGV_ROOM)]);
  assert.deepEqual(job?.env, PY.env);
});

test('the same job hands over only the extra argv (the request\'s rlimits go with it)', () => {
  const pre = prestartJob('python', PY);
  assert.ok(pre !== undefined);
  assert.deepEqual(handoverArgs(pre, 'python', PY), ['a', 'b c']);
  assert.deepEqual(handoverArgs(pre, 'python', { ...PY, argv: ['/usr/bin/python3', 'main.py'] }), []);
});

test('any other job is not handed over', () => {
  const pre = prestartJob('python', PY);
  assert.ok(pre !== undefined);
  const refused: Array<[string, RequestJob, 'python' | 'node' | undefined]> = [
    ['another kind', PY, 'node'],
    ['no kind (a runtime without prestart)', PY, undefined],
    ['another interpreter', { ...PY, argv: ['/usr/local/bin/python3', 'main.py'] }, 'python'],
    ['another entry', { ...PY, argv: ['/usr/bin/python3', 'other.py'] }, 'python'],
    ['another environment value', { ...PY, env: { LANG: 'C' } }, 'python'],
    ['one more variable', { ...PY, env: { ...PY.env, X: '1' } }, 'python'],
    ['its own PYTHONPATH', { ...PY, env: { ...PY.env, PYTHONPATH: '/work' } }, 'python'],
    ['stderr into stdout', { ...PY, stderrToStdout: true }, 'python'],
    ['another fixed rlimit', { ...PY, rlimits: { ...RLIMITS, nofile: 512 } }, 'python'],
    ['a CPU limit above the pre-start one', { ...PY, rlimits: { ...RLIMITS, cpu: PRESTART_RLIMITS.cpu + 1 } }, 'python'],
    ['a process limit above the pre-start one', { ...PY, rlimits: { ...RLIMITS, nproc: PRESTART_RLIMITS.nproc + 1 } }, 'python'],
    ['a lower memory limit than the runtime waited under', { ...PY, cgroup: { ...PY.cgroup, memoryBytes: 64 << 20 } }, 'python'],
    ['a lower pids limit than the runtime waited under (its threads count)', { ...PY, cgroup: { ...PY.cgroup, pids: 8 } }, 'python'],
    ['a command line longer than the room the runtime reserved', { ...PY, argv: [...PY.argv, 'x'.repeat(PRESTART_ARGV_ROOM)] }, 'python'],
    ['an option instead of an entry', { ...PY, argv: ['/usr/bin/python3', '-c', 'print(1)'] }, 'python'],
  ];
  for (const [what, job, kind] of refused) assert.equal(handoverArgs(pre, kind, job), undefined, what);
});

test('lower request-dependent rlimits and higher cgroup limits still hand over (the handover lowers rlimits; the host sets the cgroup)', () => {
  const pre = prestartJob('python', PY);
  assert.ok(pre !== undefined);
  assert.deepEqual(handoverArgs(pre, 'python', { ...PY, rlimits: { ...RLIMITS, cpu: 1, nproc: 9 }, cgroup: { memoryBytes: 1 << 30, pids: 64 } }), ['a', 'b c']);
});

// Environments pre-imported: the modules are part of the runtime's environment (so a runtime
// pre-imported for one environment is never handed a request of another, or of none), and only
// under a memory limit with room for them.
test('pre-imports: in the job above the memory floor, none below it; part of the fit check', () => {
  const big = { ...PY, cgroup: { memoryBytes: PREIMPORT_MIN_MEMORY_BYTES, pids: 32 } };
  const pre = prestartJob('python', big, ['numpy', 'pandas']);
  assert.equal(pre?.env[PREIMPORT_VARIABLE], 'numpy,pandas');
  assert.equal(prestartJob('python', PY, ['numpy'])?.env[PREIMPORT_VARIABLE], undefined, 'below the floor: pre-started without imports');
  assert.equal(prestartJob('node', big, ['numpy'])?.env[PREIMPORT_VARIABLE], undefined, 'only Python imports ahead');
  assert.ok(pre !== undefined);
  assert.deepEqual(handoverArgs(pre, 'python', big, ['numpy', 'pandas']), ['a', 'b c']);
  assert.equal(handoverArgs(pre, 'python', big), undefined, 'a request without the environment');
  assert.equal(handoverArgs(pre, 'python', big, ['numpy']), undefined, 'other pre-imports');
  const plain = prestartJob('python', big);
  assert.ok(plain !== undefined);
  assert.equal(handoverArgs(plain, 'python', big, ['numpy', 'pandas']), undefined, 'a plain runtime for a pre-importing environment');
});

test('pre-imports: a program environment naming the stub\'s variable is never pre-started (the stub would take it)', () => {
  assert.equal(prestartJob('python', { ...PY, env: { ...PY.env, [PREIMPORT_VARIABLE]: 'os' } }, ['numpy']), undefined);
  // Nor the zygote's (the stub would try to serve as one, and never be ready).
  assert.equal(prestartJob('python', { ...PY, env: { ...PY.env, [ZYGOTE_FDS_VARIABLE]: '3,4,5,6,7' } }), undefined);
});

// These are read once, at the runtime's start, before the request's files (a library or a
// Python home of the program's) exist: such a job runs cold, for every runtime.
test('a job with LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH or PYTHONHOME is never pre-started', () => {
  for (const variable of ['LD_PRELOAD', 'LD_AUDIT', 'LD_LIBRARY_PATH', 'PYTHONHOME']) {
    assert.equal(prestartJob('python', { ...PY, env: { ...PY.env, [variable]: '/work/x' } }), undefined, variable);
    assert.equal(prestartJob('node', { ...PY, argv: ['/usr/bin/node', 'main.js'], env: { [variable]: '/work/x' } }), undefined, variable);
  }
  assert.notEqual(prestartJob('python', { ...PY, env: { ...PY.env, PYTHONIOENCODING: 'utf-8' } }), undefined);
});

// A job with a PYTHONPATH of its own (a built environment's tree, a request's env): the stub's
// directory goes first and the stub restores the job's value; an empty one ("STUB:" would put the
// working directory on sys.path) is not pre-started.
test('python: a PYTHONPATH of the job\'s own comes after the stub\'s directory', () => {
  const own = { ...PY, env: { ...PY.env, PYTHONPATH: '/.cylo/environment:/work/lib' } };
  assert.equal(prestartJob('python', own)?.env.PYTHONPATH, '/.cylo/prestart/python:/.cylo/environment:/work/lib');
  assert.equal(prestartJob('python', { ...PY, env: { PYTHONPATH: '' } }), undefined);
});

// Java: `java FLAGS -cp CP MAIN ARGS` is pre-started with the agent before -cp and the room last;
// the handover is the arguments after MAIN, and any other flags, class path, main class or an
// option variable of the JVM (applied before the handover) makes it run cold.
const JAVA_FLAGS = ['-Xmx320m', '-Xss8m', '-XX:+UseSerialGC'];
const JV: RequestJob = { ...PY, argv: ['/usr/lib/jvm/j/bin/java', ...JAVA_FLAGS, '-cp', '.build', 'Main', 'a', 'b c'] };

test('java: started as `java FLAGS -agentpath:STUB -cp CP MAIN ROOM`, handing over the arguments after MAIN', () => {
  const pre = prestartJob('java', JV);
  assert.deepEqual(pre?.argv, ['/usr/lib/jvm/j/bin/java', ...JAVA_FLAGS, '-agentpath:/.cylo/prestart/java/libcylo-prestart.so', '-cp', '.build', 'Main', '.'.repeat(PRESTART_ARGV_ROOM)]);
  assert.deepEqual(pre?.env, JV.env);
  assert.ok(pre !== undefined);
  assert.deepEqual(handoverArgs(pre, 'java', JV), ['a', 'b c']);
  assert.deepEqual(handoverArgs(pre, 'java', { ...JV, argv: JV.argv.slice(0, -2) }), []);
  const refused: Array<[string, RequestJob]> = [
    ['another heap size', { ...JV, argv: JV.argv.map((a) => (a === '-Xmx320m' ? '-Xmx400m' : a)) }],
    ['another main class', { ...JV, argv: JV.argv.map((a) => (a === 'Main' ? 'Other' : a)) }],
    ['another class path', { ...JV, argv: JV.argv.map((a) => (a === '.build' ? 'out' : a)) }],
  ];
  for (const [what, job] of refused) assert.equal(handoverArgs(pre, 'java', job), undefined, what);
  for (const variable of ['JAVA_TOOL_OPTIONS', 'JDK_JAVA_OPTIONS', '_JAVA_OPTIONS']) assert.equal(prestartJob('java', { ...JV, env: { ...JV.env, [variable]: '-Dx=1' } }), undefined, variable);
  assert.equal(prestartJob('java', { ...JV, argv: ['/usr/bin/java', '-cp', '.build', 'Main'] }), undefined, 'no JVM option before -cp');
  assert.equal(prestartJob('java', { ...JV, argv: ['/usr/bin/java', '-Xss8m', 'Main'] }), undefined, 'no class path');
  assert.equal(prestartJob('java', { ...JV, argv: ['/usr/bin/java', '-Xss8m', 'stray', '-cp', '.build', 'Main'] }), undefined, 'a non-option before -cp');
});
