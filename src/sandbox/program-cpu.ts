// The program's own CPU time, from the execution cgroup's counter. The counter covers every
// process of the sandbox from the moment the outer helper joined the cgroup: bubblewrap's setup
// (namespaces, mounts, seccomp), PID 1 unpacking the files, the program's process applying
// rlimits and Landlock. PID 1 reads the counter as the last step before the program's exec
// ("R <usec>") and again when it has reaped the program ("X ... <usec>"; see
// native/supervisor.c), so
//   program CPU = counter at exit - counter at exec
// i.e. the CPU of the program and every process and thread it started, from its exec to its exit
// (the kernel's execve of the program included). Cylo's work after that (emitting a compile
// stage's artifact, the kill sweep) is not the program's either.
// When the program is killed before it reports its exit (a limit, a cancellation), the end is
// the counter once the sandbox is gone (its processes' CPU up to their death).
// Units: the helper reports microseconds; everything here is milliseconds.

export class ProgramCpu {
  private atStartMs: number | undefined;
  private atExitMs: number | undefined;

  /** `counterMs`: the cgroup's counter now, in ms (ExecutionCgroup.cpuMs). */
  constructor(private readonly counterMs: () => number) {}

  /** The program is being exec'd; `counterUsec` is what PID 1 read just before, or null when it
   *  had no counter (then the counter is read now, which charges the program a little setup). */
  started(counterUsec: number | null): void {
    this.atStartMs = counterUsec === null ? this.counterMs() : counterUsec / 1000;
  }

  /** The program was reaped; `counterUsec` is what PID 1 read then, or null. */
  exited(counterUsec: number | null): void {
    if (counterUsec !== null) this.atExitMs = counterUsec / 1000;
  }

  /** CPU ms the program has used so far (what the CPU-time limit is held against); 0 before it
   *  started. */
  used(): number {
    return this.atStartMs === undefined ? 0 : Math.max(0, this.counterMs() - this.atStartMs);
  }

  /** The program's CPU ms in all, once the sandbox is gone: `finalCounterMs` is the counter
   *  then (used when the program did not report its exit). 0 when it never started. */
  total(finalCounterMs: number): number {
    if (this.atStartMs === undefined) return 0;
    return Math.max(0, (this.atExitMs ?? finalCounterMs) - this.atStartMs);
  }
}
