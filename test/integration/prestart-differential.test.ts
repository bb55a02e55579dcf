// Pre-started runtimes (issue 19) against cold starts: the same program, run by a cylo whose
// prepared sandboxes pre-start the runtime (`prestart: true`, the default) and by one that starts
// every runtime cold (`prestart: false`), gives the same stdout, stderr, exit code, signal and
// status. Each pre-started run is checked to have really been handed to a pre-started runtime
// (stats().runtimesPrestarted), so the suite cannot pass by silently running cold. The Python
// corpus also runs on a third cylo whose pre-started runtimes are forked from a zygote
// (`zygote: true`), each run checked to have been handed to a zygote's runtime
// (stats().runtimesFromZygote), except a request with variables of its own, which must get PID
// 1's runtime there (a zygote never takes a request's variables). The corpus is
// test/support/prestart-corpus.ts (argv, __main__, paths, environment, descriptors, rlimits,
// tracebacks, SystemExit, stdin, buffering order, encodings, signals, recursion, warnings; for
// Node: argv, the main module, ESM, uncaught errors, exit codes, stdin, signals).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason, skipWithoutSandbox } from '../support/host.js';
import { datasciSkipReason } from '../support/datasci.js';
import { JAVA_CASES } from '../support/prestart-corpus-java.js';
import { DATASCI_CASES, DATASCI_DIFFERENCE, DATASCI_MEMORY_BYTES, JAVASCRIPT_CASES, PYTHON_CASES, TYPESCRIPT_CASES, type DifferentialCase } from '../support/prestart-corpus.js';

const T = { timeout: 60_000 };
const LIMITS = { ...TIGHT_LIMITS, timeoutMs: 10_000, cpuTimeMs: 10_000 };
// One slot each: every execution of `warm` finds the sandbox its slot prepared (and learned the
// runtime of) after the previous one.
const make = (prestart: boolean, offset: number, zygote = false): Cylo | undefined =>
  sandboxSkipReason() === undefined ? createCylo({ defaultLimits: LIMITS, uidBase: TEST_UID_BASE + TEST_UID_COUNT + offset, uidCount: 8, concurrency: 1, prestart, zygote }) : undefined;
const warm = make(true, 0);
const cold = make(false, 8);
// (+16 and +24: the odd pre-import instances at the end of this file.)
const forked = make(true, 32, true);

after(async () => {
  await warm?.close({ graceMs: 0 });
  await cold?.close({ graceMs: 0 });
  await forked?.close({ graceMs: 0 });
});

/** What a program's caller observes. */
function observed(r: ExecutionResult): Record<string, unknown> {
  return { status: r.status, exitCode: r.run?.exitCode, signal: r.run?.signal, stdout: r.run?.stdout, stderr: r.run?.stderr };
}

/** Runs `request` on the pre-starting cylo until a run is handed to a pre-started runtime: the
 *  first run of a slot teaches it the runtime (and is cold); the second must be handed over. */
async function runPrestarted(cylo: Cylo, request: ExecuteRequest, notFromZygote = false): Promise<ExecutionResult> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const before = cylo.stats().runtimesPrestarted;
    const zygoteBefore = cylo.stats().runtimesFromZygote;
    const r = await cylo.execute(request);
    // notFromZygote: on the zygote cylo, the runtime must be PID 1's.
    if (notFromZygote) assert.equal(cylo.stats().runtimesFromZygote, zygoteBefore, 'a zygote served a request with variables of its own');
    if (cylo.stats().runtimesPrestarted === before + 1) return r;
  }
  throw new Error('the request was never handed to a pre-started runtime');
}

/** Runs `request` on the zygote cylo until a run is handed to a runtime forked from a zygote: the
 *  first run of a slot teaches it the runtime (cold), the zygote starts on the first pre-start
 *  job it is asked for (that sandbox's runtime is PID 1's), and it starts asynchronously, so a
 *  few attempts, a short pause between them (a wait, not a bound). Throws if none was. */
async function runFromZygote(cylo: Cylo, request: ExecuteRequest): Promise<ExecutionResult> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const before = cylo.stats().runtimesFromZygote;
    const r = await cylo.execute(request);
    if (cylo.stats().runtimesFromZygote === before + 1) return r;
    await sleep(300);
  }
  throw new Error('the request was never handed to a runtime forked from a zygote');
}

/** `skip`: why these cases cannot run here (shown), or undefined. `zygote`: compare the zygote
 *  cylo's runs with cold ones instead of the pre-starting cylo's. */
function differential(cases: DifferentialCase[], skip?: () => string | undefined, zygote = false): void {
  for (const c of cases) {
    test(c.name, T, async (t) => {
      if (skipWithoutSandbox(t) || warm === undefined || cold === undefined || forked === undefined) return;
      const why = skip?.();
      if (why !== undefined) return void t.skip(why);
      // A request with variables of its own never gets a zygote's runtime (docs/security.md, the
      // zygote's review finding Z1): on the zygote cylo it must get PID 1's, with the same result.
      const ownVariables = Object.keys(c.request.env ?? {}).length > 0;
      const pre = !zygote ? await runPrestarted(warm, c.request) : ownVariables ? await runPrestarted(forked, c.request, true) : await runFromZygote(forked, c.request);
      const base = await cold.execute(c.request);
      // Identical to the byte: a difference is what a program could tell apart.
      assert.deepEqual(observed(pre), observed(base));
    });
  }
}

describe('python: pre-started and cold give the same results', () => differential(PYTHON_CASES));
describe('javascript: pre-started and cold give the same results', () => differential(JAVASCRIPT_CASES));
// TypeScript's run stage is Node on the compiled file: the second run of a program is a
// compile-cache hit, and its run stage is handed to a Node pre-started with TypeScript's trees.
describe('typescript: pre-started and cold give the same results', () => differential(TYPESCRIPT_CASES));

// Java: the run stage of a compile-cache hit is handed to a JVM pre-started with the same flags.
describe('java: pre-started and cold give the same results', () => differential(JAVA_CASES));

// A JVM that waited before its request (here 1.5 s: a wait, not a bound) was initialised before
// the request's class files existed: it must still load them from the class path (the agent
// makes the class path's directory before the JVM reads it; the system class loader takes a
// missing directory for a jar file and never finds the classes), and the wait is not the
// program's wall time. Fails without the agent's mkdir (the corpus above can pass without it when
// the request arrives while the JVM is still starting).
test('java: a JVM that waited before its request loads the program\'s classes', T, async (t) => {
  if (skipWithoutSandbox(t) || warm === undefined) return;
  const request = JAVA_CASES[0]?.request as ExecuteRequest;
  await runPrestarted(warm, request);
  await sleep(1500);
  const r = await runPrestarted(warm, request);
  assert.equal(r.status, 'ok', r.run?.stderr);
  assert.ok((r.run?.wallMs ?? Infinity) < 1500, `wall ${r.run?.wallMs} ms includes the wait`);
});

// The one difference a Java program can see, required exactly (docs/security.md): the JVM's
// input arguments (RuntimeMXBean, from the JVM's own option list) name the agent. Fails when the
// JVM was not pre-started with it, or when a cold start had it.
test('java: the agent is in the JVM\'s input arguments (the documented difference)', T, async (t) => {
  if (skipWithoutSandbox(t) || warm === undefined || cold === undefined) return;
  const code = 'public class Main { public static void main(String[] a) { System.out.println(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()); } }';
  const request: ExecuteRequest = { language: 'java', code, limits: { memoryBytes: 512 * 1024 * 1024, pids: 128 } };
  const base = (await cold.execute(request)).run?.stdout ?? '';
  const pre = (await runPrestarted(warm, request)).run?.stdout ?? '';
  assert.doesNotMatch(base, /agentpath/);
  assert.equal(pre, base.replace('-XX:-UsePerfData', '-XX:-UsePerfData, -agentpath:/.cylo/prestart/java/libcylo-prestart.so'));
});

// The datasci environment with numpy and pandas pre-imported (the default), under a memory limit
// with room for them, against a cold start of the same environment.
const withDatasciMemory = (c: DifferentialCase): DifferentialCase => ({ ...c, request: { ...c.request, limits: { ...c.request.limits, memoryBytes: DATASCI_MEMORY_BYTES } } });
describe('datasci: pre-started with numpy and pandas pre-imported and cold give the same results', () => differential(DATASCI_CASES.map(withDatasciMemory), datasciSkipReason));

// The same corpora with the runtime forked from a zygote (option `zygote`): byte for byte a cold
// start's, like a runtime PID 1 pre-started.
describe('python, forked from a zygote: pre-started and cold give the same results', () => differential(PYTHON_CASES, undefined, true));
describe('datasci, forked from a zygote: pre-started with numpy and pandas pre-imported and cold give the same results', () => differential(DATASCI_CASES.map(withDatasciMemory), datasciSkipReason, true));

// The one difference a program can see before it imports anything, required exactly: numpy and
// pandas are in sys.modules of the pre-imported runtime and not of the cold one. Fails when the
// runtime was not pre-imported (the datasci cases above would then prove nothing about
// pre-imports) or when a cold start had them.
test('datasci: the pre-imported modules are in sys.modules before the program imports them (the documented difference)', T, async (t) => {
  if (skipWithoutSandbox(t) || warm === undefined || cold === undefined) return;
  const why = datasciSkipReason();
  if (why !== undefined) return void t.skip(why);
  const { request } = withDatasciMemory(DATASCI_DIFFERENCE);
  const pre = await runPrestarted(warm, request);
  const base = await cold.execute(request);
  assert.equal(pre.run?.stdout, "['numpy', 'pandas']\n");
  assert.equal(base.run?.stdout, '[]\n');
  // Below the memory floor the same environment is pre-started without them.
  const small = await runPrestarted(warm, { ...request, limits: { memoryBytes: 128 * 1024 * 1024 } });
  assert.equal(small.run?.stdout, '[]\n');
});

// A runtime that waited before its request (1.5 s: a wait, not a bound) finished starting before
// the request's files existed: what a cold interpreter reads from the workspace at start (a
// PYTHONPATH directory, the user site directory, a sitecustomize on the program's PYTHONPATH)
// must still be found, as in a cold start (the corpus above can pass without that when the
// request arrives while the runtime is still starting). The same for a runtime forked from a
// zygote, which always started long before.
const PROGRAM_SITECUSTOMIZE: DifferentialCase = {
  name: 'python: a sitecustomize of the program\'s on its PYTHONPATH runs, as in a cold start',
  request: {
    language: 'python',
    env: { PYTHONPATH: '/work/lib' },
    files: [
      { name: 'main.py', content: "import sys\nprint(getattr(sys.modules.get('sitecustomize'), '__file__', None))\n" },
      { name: 'lib/sitecustomize.py', content: "print('the program\\'s sitecustomize ran')\n" },
    ],
  },
};
const READ_AT_START = [...PYTHON_CASES.filter((c) => /PYTHONPATH of the program's own|user site directory/.test(c.name)), PROGRAM_SITECUSTOMIZE];
for (const c of READ_AT_START) {
  test(`${c.name}: also after the pre-started runtime waited for its request`, T, async (t) => {
    if (skipWithoutSandbox(t) || warm === undefined || cold === undefined) return;
    await runPrestarted(warm, c.request);
    await sleep(1500);
    const pre = await runPrestarted(warm, c.request);
    assert.deepEqual(observed(pre), observed(await cold.execute(c.request)));
  });
}
test(`${PROGRAM_SITECUSTOMIZE.name}: on the zygote cylo (PID 1's runtime: the request has variables of its own)`, T, async (t) => {
  if (skipWithoutSandbox(t) || forked === undefined || cold === undefined) return;
  // Its PYTHONPATH is the request's own: PID 1's runtime on the zygote cylo (Z1), never a zygote's.
  const pre = await runPrestarted(forked, PROGRAM_SITECUSTOMIZE.request, true);
  assert.deepEqual(observed(pre), observed(await cold.execute(PROGRAM_SITECUSTOMIZE.request)));
});

// The wait before the request is not the program's: its wall clock starts at the handover. A
// pre-started runtime that waited 1.5 s before its request reports a wall time below that (a
// one-sided bound, generous: the program itself takes milliseconds). Fails if "R" were reported
// when the runtime was started rather than when it was handed the program.
test('the wait before the request is not charged to the program (wall time)', T, async (t) => {
  if (skipWithoutSandbox(t) || warm === undefined) return;
  const request: ExecuteRequest = { language: 'python', code: 'pass' };
  await runPrestarted(warm, request);
  await sleep(1500);
  const r = await runPrestarted(warm, request);
  assert.equal(r.status, 'ok');
  assert.ok((r.run?.wallMs ?? Infinity) < 1500, `wall ${r.run?.wallMs} ms includes the wait`);
});

// A request the pre-started runtime was not started for (another language) runs cold in a
// sandbox started for it, after the one with the waiting runtime is gone and the cgroup reset,
// with the same result as on a cold cylo (the process count while ls runs, PID 1, bash and ls,
// shows no interpreter left over),
// and a memory peak that is not the interpreter's: below what the waiting Python alone takes.
test('another language than the pre-started one runs cold, correctly', T, async (t) => {
  if (skipWithoutSandbox(t) || warm === undefined || cold === undefined) return;
  const python = await runPrestarted(warm, { language: 'python', code: 'pass' });
  // The slot's next sandbox pre-starts Python again: give it time to finish starting, so that
  // its memory is all in the cgroup when the bash request arrives (a wait, not a bound).
  await sleep(1000);
  const before = warm.stats();
  const request: ExecuteRequest = { language: 'bash', code: 'echo "$@"; ls /proc > procs; grep -c "^[0-9]" procs', args: ['a b', 'c'] };
  const r = await warm.execute(request);
  const after = warm.stats();
  assert.equal(after.runtimesPrestarted, before.runtimesPrestarted, 'not handed over');
  assert.equal(after.sandboxesStartedOnDemand, before.sandboxesStartedOnDemand + 1, 'started for it');
  assert.deepEqual(observed(r), observed(await cold.execute(request)));
  // One-sided: a peak that still held the discarded interpreter would be at least Python's.
  assert.ok((r.run?.memoryBytes ?? Infinity) < (python.run?.memoryBytes ?? 0), `bash peak ${r.run?.memoryBytes} vs python ${python.run?.memoryBytes}`);
});

// A pre-import that prints (the standard library's `this` prints the Zen of Python when
// imported) or fails (no such module) must not show: the program starts cold in the same process
// (the stub execs the interpreter again), with a cold start's output, and without the module.
// Fails if the stub let the import's output through or kept a failed pre-import's runtime.
for (const [what, modules] of [['prints', ['this']], ['fails', ['numpy', 'cylo_no_such_module']]] as const) {
  test(`datasci: a pre-import that ${what} gives a cold start's result`, T, async (t) => {
    if (skipWithoutSandbox(t) || cold === undefined) return;
    const why = datasciSkipReason();
    if (why !== undefined) return void t.skip(why);
    const odd = createCylo({ defaultLimits: { ...LIMITS, memoryBytes: DATASCI_MEMORY_BYTES }, uidBase: TEST_UID_BASE + TEST_UID_COUNT + (what === 'prints' ? 16 : 24), uidCount: 8, concurrency: 1, preimport: { datasci: [...modules] } });
    try {
      const request: ExecuteRequest = { language: 'python', environment: 'datasci', code: 'import sys\nprint(sorted(m for m in ("this", "numpy") if m in sys.modules))\nsys.stderr.write("err\\n")', limits: { memoryBytes: DATASCI_MEMORY_BYTES } };
      const pre = await runPrestarted(odd, request);
      assert.deepEqual(observed(pre), observed(await cold.execute(request)));
      assert.equal(pre.run?.stdout, '[]\n');
    } finally {
      await odd.close({ graceMs: 0 });
    }
  });
}
