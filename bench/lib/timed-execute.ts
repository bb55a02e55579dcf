// cylo's library `execute`, timed end to end, with the phases of the execution taken from the
// engine's own state events (each delivered synchronously when the engine changes state):
//   admit     call -> MountRamdisk: validation, runtime lookup, host check (cached), pool slot
//   setup     MountRamdisk -> PrepareExecution: uid + cgroup created and configured
//   plan      PrepareExecution -> Processing/Compiling: argv, mounts, environment
//   compile   Compiling -> Processing (compiled languages; a cache hit is short)
//   sandbox   Processing -> Done minus the program's own time: helper + bubblewrap start until
//             the program runs ("R"), then exit report, cgroup sweep and stats after it ends
//   program   the program's wall time as the helper reports it ("R" to "X")
//   teardown  Done -> promise resolved: cgroup kill + rmdir, uid release
import type { Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';

export const PHASES = ['admit', 'setup', 'plan', 'compile', 'sandbox', 'program', 'teardown'] as const;
export type Phase = (typeof PHASES)[number];

export interface TimedExecution {
  ms: number;
  result: ExecutionResult;
  phases: Record<Phase, number>;
}

export async function timedExecute(cylo: Cylo, request: ExecuteRequest, signal?: AbortSignal): Promise<TimedExecution> {
  const at: Partial<Record<string, number>> = {};
  const t0 = performance.now();
  const result = await cylo.execute(request, {
    ...(signal === undefined ? {} : { signal }),
    onEvent: (e) => {
      if (e.type === 'state') at[e.to] ??= performance.now();
    },
  });
  const end = performance.now();
  const mount = at.MountRamdisk ?? t0;
  const prep = at.PrepareExecution ?? mount;
  const compiling = at.Compiling;
  const processing = at.Processing ?? prep;
  const done = at.Done ?? end;
  const programMs = result.run?.wallMs ?? 0;
  const phases: Record<Phase, number> = {
    admit: mount - t0,
    setup: prep - mount,
    plan: (compiling ?? processing) - prep,
    compile: compiling === undefined ? 0 : processing - compiling,
    sandbox: Math.max(0, done - processing - programMs),
    program: programMs,
    teardown: end - done,
  };
  return { ms: end - t0, result, phases };
}

/** Throws when an execution did not do what the benchmark asked (a failed run is no sample). */
export function expectResult(result: ExecutionResult | Record<string, unknown>, what: string, stdout?: string): void {
  const r = result as ExecutionResult;
  if (r.status !== 'ok') {
    const stage = r.compile !== null && r.compile !== undefined && r.compile.status !== 'ok' ? r.compile : r.run;
    throw new Error(`${what}: status ${r.status}: ${stage?.message ?? ''} ${(stage?.stderr ?? '').slice(0, 400)}`);
  }
  if (stdout !== undefined && r.run?.stdout.trim() !== stdout.trim()) {
    throw new Error(`${what}: unexpected output ${JSON.stringify(r.run?.stdout.slice(0, 200))}`);
  }
}
