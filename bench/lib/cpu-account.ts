// CPU time of a bare child process, read the same way cylo reads its sandboxes' CPU time: the
// child joins a fresh cgroup (only the CPU-accounting one) through `sh -c ... exec`, and the
// cgroup's counter is read when it has exited. Costs the bare run one extra exec (about a
// millisecond), nothing while the program runs. Node cannot give a child's rusage otherwise.
import { openCgroups, type CgroupDriver } from '../../src/sandbox/cgroups.js';
import { timedSpawn, type SpawnOptions, type SpawnOutcome } from './proc.js';

let driver: CgroupDriver | undefined;
let counter = 0;

const JOIN = 'f=$1; shift; echo $$ > "$f" && exec "$@"';

export async function spawnWithCpu(argv: readonly string[], options: SpawnOptions = {}): Promise<SpawnOutcome & { cpuMs: number }> {
  driver ??= openCgroups();
  const cgroup = driver.create(`x-${process.pid}-cpu${++counter}`, { memoryBytes: 8 * 1024 ** 3, pids: 4096 });
  try {
    const procs = cgroup.procsFiles.find((f) => f.includes('/cpuacct/')) ?? (cgroup.procsFiles[0] as string);
    const outcome = await timedSpawn(['/bin/sh', '-c', JOIN, 'sh', procs, ...argv], options);
    return { ...outcome, cpuMs: cgroup.cpuMs() };
  } finally {
    await cgroup.remove();
  }
}
