// Compile-stage truth on real sandboxes (issue 12, item 5): a compile-cache hit reports the
// diagnostics of the compile that filled it (not empty output), and identical compiles that
// arrive at the same time run once (single-flight), without a waiter inheriting a cancellation
// that was not its own.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecutionEvent } from '../../src/engine/lifecycle.js';
import { CyloError } from '../../src/errors.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { scriptCompiler } from '../support/runtimes.js';
import { MiB } from '../support/units.js';

const T = { timeout: 90_000 };
// Instances this file creates itself: 16 uids in the second half of the test range.
const UIDS = { uidBase: TEST_UID_BASE + TEST_UID_COUNT, uidCount: 16 };

let cacheDir: string;
let cylo: Cylo;

before(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'cylo-diag-cache-'));
  // concurrency 4: several identical compiles really are in progress at once.
  cylo = createCylo({ cacheDir, runtimesFile: false, concurrency: 4, defaultLimits: { timeoutMs: 10_000, cpuTimeMs: 10_000, memoryBytes: 256 * MiB, pids: 64, workspaceBytes: 64 * MiB }, ...UIDS });
});

after(async () => {
  await cylo?.close();
  if (cacheDir !== undefined) rmSync(cacheDir, { recursive: true, force: true });
});

async function skipUnless(t: TestContext, language: string): Promise<boolean> {
  if (skipWithoutSandbox(t)) return true;
  const r = await cylo.registry.resolve(language);
  if (r.available) return false;
  t.skip(`${language} not installed: apt-get install ${r.definition.package}`);
  return true;
}

/** The compile stage's stderr as the live events delivered it. */
function compileStderr(events: ExecutionEvent[]): string {
  return Buffer.concat(events.flatMap((e) => (e.type === 'stderr' && e.stage === 'compile' ? [e.data] : []))).toString('utf8');
}

describe('a compile-cache hit', () => {
  test('reports them in the request\'s output encoding (base64 on a hit, too)', T, async (t) => {
    // Fails when a hit returns the stored diagnostics as UTF-8 text under outputEncoding: base64.
    if (await skipUnless(t, 'c')) return;
    const code = `#warning "cylo b64 ${process.pid}-${Date.now()}"\nint main(void) { return 0; }\n`;
    const first = await cylo.execute({ language: 'c', code, outputEncoding: 'base64' });
    const second = await cylo.execute({ language: 'c', code, outputEncoding: 'base64' });
    assert.equal(second.compile?.cached, true);
    assert.equal(second.outputEncoding, 'base64');
    const text = Buffer.from(second.compile?.stderr ?? '', 'base64').toString('utf8');
    assert.match(text, /warning: #warning "cylo b64/);
    assert.equal(second.compile?.stderr, first.compile?.stderr, 'the same bytes, in the same encoding');
  });

  test('reports the same compiler diagnostics as the compile that filled the cache', T, async (t) => {
    // Fails when the cache stores the artifact alone: the second answer had empty stderr.
    if (await skipUnless(t, 'c')) return;
    const code = `#warning "cylo diagnostics ${process.pid}-${Date.now()}"\n#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n`;
    const firstEvents: ExecutionEvent[] = [];
    const first = await cylo.execute({ language: 'c', code }, { onEvent: (e) => firstEvents.push(e) });
    assert.equal(first.status, 'ok', JSON.stringify(first));
    assert.equal(first.compile?.cached, false);
    assert.match(first.compile?.stderr ?? '', /warning: #warning "cylo diagnostics/);
    const secondEvents: ExecutionEvent[] = [];
    const second = await cylo.execute({ language: 'c', code }, { onEvent: (e) => secondEvents.push(e) });
    assert.equal(second.status, 'ok', JSON.stringify(second));
    assert.equal(second.compile?.cached, true);
    assert.equal(second.compile?.stderr, first.compile?.stderr, 'the same diagnostic text');
    assert.equal(second.compile?.stdout, first.compile?.stdout);
    assert.equal(second.compile?.exitCode, 0);
    assert.equal(second.compile?.stderrTruncated, false);
    // A hit spent no compile time: it says so.
    assert.deepEqual([second.compile?.wallMs, second.compile?.cpuMs, second.compile?.memoryBytes], [0, 0, 0]);
    // Streaming clients see the diagnostic too (as a compile-stage stderr event).
    assert.equal(compileStderr(secondEvents), compileStderr(firstEvents));
    assert.equal(second.run?.stdout, 'ran\n');
  });
});

describe('identical compiles at the same time', () => {
  test('ten concurrent runs of one C++ source compile once; all get the same diagnostics', T, async (t) => {
    // Fails without single-flight: the four runs that get a slot at once all compile (several
    // `cached: false`).
    if (await skipUnless(t, 'cpp')) return;
    const code = `#warning "flight ${process.pid}-${Date.now()}"\n#include <iostream>\nint main() { std::cout << "ten" << std::endl; }\n`;
    const results = await Promise.all(Array.from({ length: 10 }, () => cylo.execute({ language: 'cpp', code })));
    for (const r of results) {
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.run?.stdout, 'ten\n');
      assert.match(r.compile?.stderr ?? '', /warning: #warning "flight/);
    }
    assert.equal(results.filter((r) => r.compile?.cached === false).length, 1, 'exactly one compile ran');
    assert.equal(new Set(results.map((r) => r.compile?.stderr)).size, 1);
  });

  // A "compiler" that is a shell script from the request (a runtimes entry): its run time is the
  // test's to choose, so "in progress at the same time" does not depend on the machine's speed.
  const scriptBuild = scriptCompiler();
  let scripted: Cylo | undefined;
  const scriptedCylo = (): Cylo => {
    scripted ??= createCylo({ cacheDir: false, runtimesFile: false, runtimes: [scriptBuild], concurrency: 3, defaultLimits: { timeoutMs: 5000, workspaceBytes: 8 * MiB }, uidBase: UIDS.uidBase + UIDS.uidCount, uidCount: 8 });
    return scripted;
  };
  after(async () => scripted?.close());

  test('a compile error is shared too: one compile, the same stderr for all', T, async (t) => {
    // The compile sleeps 2 s, so all three are in progress together (they start in the same tick).
    if (skipWithoutSandbox(t)) return;
    const code = `echo "build failed ${Date.now()}" >&2; sleep 2; exit 3`;
    const results = await Promise.all([1, 2, 3].map(() => scriptedCylo().execute({ language: 'script-build', code })));
    for (const r of results) {
      assert.equal(r.status, 'compile_error', JSON.stringify(r));
      assert.equal(r.compile?.exitCode, 3);
      assert.equal(r.compile?.stderr, results[0]?.compile?.stderr);
    }
    assert.match(results[0]?.compile?.stderr ?? '', /^build failed \d+\n$/);
    assert.equal(results.filter((r) => r.compile?.cached === false).length, 1);
  });

  test('the first one is cancelled: the one waiting compiles itself, and is not cancelled', T, async (t) => {
    // Fails when a waiter inherits the leader's fate: B would reject with CYLO_E_CANCELLED (or
    // report A's outcome) instead of running the compile itself.
    if (skipWithoutSandbox(t)) return;
    const code = `sleep 30 # ${Date.now()}`;
    const limits = { compileTimeoutMs: 3000 };
    const cancelA = new AbortController();
    let bWaiting!: () => void;
    const bCompiling = new Promise<void>((resolve) => (bWaiting = resolve));
    const compiling = (e: ExecutionEvent): boolean => e.type === 'state' && e.to === 'Compiling';
    let startB!: () => void;
    const aCompiling = new Promise<void>((resolve) => (startB = resolve));
    const a = scriptedCylo().execute({ language: 'script-build', code, limits }, { signal: cancelA.signal, onEvent: (e) => compiling(e) && startB() });
    await aCompiling;
    // A's compile is registered in the same tick as its Compiling state: B finds it and waits.
    const b = scriptedCylo().execute({ language: 'script-build', code, limits }, { onEvent: (e) => compiling(e) && bWaiting() });
    await bCompiling;
    cancelA.abort();
    await assert.rejects(a, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED');
    const rb = await b;
    assert.equal(rb.compile?.cached, false, 'B ran the compile itself');
    assert.equal(rb.compile?.status, 'timeout', JSON.stringify(rb.compile));
    assert.match(rb.compile?.message ?? '', /3000 ms/);
  });
});
