// The status protocol of the inner helper (PID 1 of the sandbox), one line per event on the
// status pipe (FD_STATUS), written by native/ (see its supervisor):
//   "R <usec>"      the program is being exec'd (its wall-clock time starts here); <usec>: the
//                   cgroup's CPU counter read just before the exec (all of it is setup), in
//                   microseconds; without it (no counter) the host reads the counter itself
//   "E <message>"   the sandbox could not be set up (nothing of the program ran)
//   "F <errno> <message>"  every setup step was done but the program could not be started:
//                   its execve failed with that errno (EACCES: not executable, ENOEXEC: not a
//                   program, ENOENT: it or its interpreter is missing); "X 127 0" follows
//   "A <message>"   the artifact of a compile stage was refused (too large, a link, ...), or
//                   a run stage's output files could not be read (native/outputs.c)
//   "W <free bytes> <free inodes>"  the workspace's free space right after the program ended
//                   (its statfs; inodes -1 when it has no inode cap), before "X" and before
//                   any artifact or output file is read (a run with outputs: the program's end)
//   "X <code> <signal> <usec>"  the program exited: its exit code, or the number of the signal
//                   that ended it (0 when none), reported exactly, no 128+n folding; <usec>: the
//                   CPU counter read when it was reaped (before any artifact is emitted)
// Anything else is ignored (a newer helper may say more).

export type HelperStatus =
  | { type: 'started'; cpuUsec: number | null }
  | { type: 'setup-error'; message: string }
  | { type: 'exec-error'; errno: number; message: string }
  | { type: 'artifact-error'; message: string }
  | { type: 'workspace'; freeBytes: number; freeInodes: number }
  | { type: 'exit'; code: number | null; signalNumber: number | null; cpuUsec: number | null };

/** A counter field: a non-negative integer, or null when absent or not one. */
function counter(field: string | undefined): number | null {
  return field !== undefined && /^\d{1,18}$/.test(field) ? Number(field) : null;
}

/** Parses one status line (without its newline); undefined for a line it does not know. */
export function parseHelperStatus(line: string): HelperStatus | undefined {
  if (line === 'R' || line.startsWith('R ')) return { type: 'started', cpuUsec: counter(line.split(' ')[1]) };
  if (line.startsWith('F ')) {
    const match = /^F (\d+) (.*)$/s.exec(line);
    return match === null ? undefined : { type: 'exec-error', errno: Number(match[1]), message: match[2] as string };
  }
  if (line.startsWith('E')) return { type: 'setup-error', message: line.slice(1).trim() };
  if (line.startsWith('A')) return { type: 'artifact-error', message: line.slice(1).trim() };
  if (line.startsWith('W ')) {
    const [, bytes, inodes] = line.split(' ');
    const freeBytes = Number(bytes);
    const freeInodes = Number(inodes);
    if (!Number.isSafeInteger(freeBytes) || !Number.isSafeInteger(freeInodes)) return undefined;
    return { type: 'workspace', freeBytes, freeInodes };
  }
  if (line.startsWith('X ')) {
    const [, code, sig, cpu] = line.split(' ');
    const signum = Number(sig);
    const cpuUsec = counter(cpu);
    return signum > 0 ? { type: 'exit', code: null, signalNumber: signum, cpuUsec } : { type: 'exit', code: Number(code), signalNumber: null, cpuUsec };
  }
  return undefined;
}

/** Below this many free bytes the workspace counts as full: no file can grow by another page
 *  (tmpfs allocates whole pages). */
export const WORKSPACE_FULL_BYTES = 4096;

/** True when a workspace with this much free space left refuses writes (ENOSPC). */
export function workspaceIsFull(freeBytes: number, freeInodes: number): boolean {
  // freeInodes -1: a workspace without an inode cap, which never runs out of inodes.
  return freeBytes < WORKSPACE_FULL_BYTES || freeInodes === 0;
}

/** Splits the status pipe's text into lines (a line may arrive in several chunks). */
export class LineSplitter {
  private buffered = '';

  /** The complete lines in `text` (and what was buffered before it). */
  push(text: string): string[] {
    this.buffered += text;
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop() ?? '';
    return lines;
  }
}
