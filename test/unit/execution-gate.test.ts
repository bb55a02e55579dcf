// The execution gate (src/gate/execution-gate.ts) on its own: admission, listener guards,
// cancellation and close + grace. The pool and the lifecycle are the real ones; the backend is a
// small in-memory one (the backend is not what is under test here), so no sandbox is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY } from '../../src/api/request.js';
import type { SandboxBackend, StageReport, StageSpec } from '../../src/backend/backend.js';
import { Lifecycle } from '../../src/engine/lifecycle.js';
import { ExecutionPool, type PoolSlot } from '../../src/engine/pool.js';
import { CyloError } from '../../src/errors.js';
import { ExecutionGate } from '../../src/gate/execution-gate.js';
import { RuntimeRegistry } from '../../src/runtimes/registry.js';

const slot = (): PoolSlot => ({ reset: async () => {}, destroy: async () => {} });

/** Runs "programs" by their source text: `hang` waits until cancelled, anything else prints
 *  "ran" and exits 0. */
class MemoryBackend implements SandboxBackend {
  readonly name = 'namespace' as const;
  readonly layers = [] as const;
  createSlot = slot;
  stats = (): { prepared: number; startedOnDemand: number } => ({ prepared: 0, startedOnDemand: 0 });
  async runStage(_slot: PoolSlot, spec: StageSpec): Promise<StageReport> {
    const source = spec.files[0]?.content.toString() ?? '';
    const base: StageReport = { stopReason: null, setupError: null, exit: { code: 0, signalNumber: null }, oomKilled: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 1, cpuMs: 1, memoryBytes: 1 };
    if (source.trim() === 'hang') {
      await new Promise<void>((resolve) => (spec.signal?.aborted === true ? resolve() : spec.signal?.addEventListener('abort', () => resolve(), { once: true })));
      return { ...base, stopReason: 'cancelled', exit: null };
    }
    spec.onStdout?.(Buffer.from('ran\n'));
    return { ...base, stdout: Buffer.from('ran\n') };
  }
}

function gate(): ExecutionGate {
  const registry = new RuntimeRegistry();
  const pool = new ExecutionPool<PoolSlot>({ concurrency: 2, queueLimit: 4, createSlot: async () => slot() });
  const lifecycle = new Lifecycle(new MemoryBackend());
  return new ExecutionGate({ registry, policy: DEFAULT_POLICY, pool, lifecycle: async () => lifecycle });
}

const code = (c: string) => (e: unknown): boolean => e instanceof CyloError && e.code === c;

test('the gate runs an admitted request through the pool, the lifecycle and the backend', async (t) => {
  const g = gate();
  const bash = await new RuntimeRegistry().resolve('bash');
  if (!bash.available) return t.skip('bash is not installed (the gate resolves the runtime)');
  const r = await g.execute({ language: 'bash', code: 'echo' });
  assert.deepEqual([r.status, r.run?.stdout, r.backend], ['ok', 'ran\n', 'namespace']);
  await g.close();
});

test('admission refuses an invalid request, an unknown language and a closed gate', async () => {
  const g = gate();
  await assert.rejects(g.execute({ language: 'bash', code: 'x', limits: { memory: 1 } } as never), code('CYLO_E_VALIDATION'));
  await assert.rejects(g.execute({ language: 'cobol', code: 'x' }), code('CYLO_E_UNKNOWN_LANGUAGE'));
  await g.close();
  await assert.rejects(g.execute({ language: 'bash', code: 'x' }), code('CYLO_E_CLOSED'));
});

test('a listener that throws neither fails the execution nor escapes', async (t) => {
  const bash = await new RuntimeRegistry().resolve('bash');
  if (!bash.available) return t.skip('bash is not installed');
  const g = gate();
  let calls = 0;
  const r = await g.execute({ language: 'bash', code: 'echo' }, { onEvent: () => {
    calls += 1;
    throw new Error('listener bug');
  } });
  assert.equal(r.status, 'ok');
  assert.ok(calls > 0, 'the listener was called');
  await g.close();
});

test("the caller's abort is CYLO_E_CANCELLED; the end of close()'s grace period is CYLO_E_SHUTTING_DOWN", async (t) => {
  const bash = await new RuntimeRegistry().resolve('bash');
  if (!bash.available) return t.skip('bash is not installed');
  const g = gate();
  const caller = new AbortController();
  const mine = g.execute({ language: 'bash', code: 'hang' }, { signal: caller.signal });
  caller.abort();
  await assert.rejects(mine, code('CYLO_E_CANCELLED'));
  const running = assert.rejects(g.execute({ language: 'bash', code: 'hang' }), code('CYLO_E_SHUTTING_DOWN'));
  // Let it reach the backend before closing.
  await new Promise((r) => setTimeout(r, 50));
  await g.close(10);
  await running;
});
