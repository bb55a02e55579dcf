// The spawner: a long-lived native helper process (native/spawner.c, `cylo-helper spawner`) that
// forks the outer helper of each sandbox (the outer mode runs in the forked child), so that the service's event loop never
// forks. Node's child_process.spawn forks the whole service: 0.5-1 ms of a blocked event loop per
// execution, growing with the service's memory (BENCHMARKS.md, issue 19). Here a spawn is one
// line written to the spawner and, back, a pid and the child's stdio sockets.
//
// The channel is Node's own IPC channel to the spawner (stdio 'ipc'), the only way Node can
// receive fds: the spawner creates each child's socketpairs (as libuv does for 'pipe') and passes
// the service's ends as NODE_HANDLE messages, which Node turns into net.Sockets. Protocol:
// native/spawner.c. One spawner per cylo instance (per NamespaceBackend), started on first use;
// if it dies, the spawns waiting on it fail (the stage is a setup failure naming the spawner)
// and the next spawn starts a new one. Running sandboxes are not affected by its death: their
// sockets close when they end, but their exit codes are then unknown (exit(null, null)).
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { constants } from 'node:os';

/** What a sandbox needs of its helper process: the part of ChildProcess the sandbox code uses.
 *  Both a ChildProcess (node spawn) and a SpawnedChild (the spawner) are one. Events: 'exit'
 *  (code, signal), 'close' (code, signal) once it exited and every stream but stdin closed,
 *  'error' (Error). */
export interface SandboxProcess extends EventEmitter {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  /** fd i of the child, the service's end (stdin, stdout, stderr, then the helper's pipes). */
  readonly stdio: ReadonlyArray<unknown>;
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;
}

/** A child of the spawner. Its pid stays the spawner's child until the spawner reaped it, so
 *  kill() (a message to the spawner) never reaches a reused pid. */
export class SpawnedChild extends EventEmitter implements SandboxProcess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdio: Socket[] = [];
  private exited = false;
  private closed = false;
  private closesNeeded = 0;
  private referenced = true;

  constructor(
    readonly pid: number,
    private readonly id: number,
    private readonly owner: Spawner,
  ) {
    super();
  }

  /** Sends SIGNAL (default SIGTERM) through the spawner; false once the child has exited. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exited) return false;
    const number = typeof signal === 'number' ? signal : constants.signals[signal];
    return this.owner.send(`K ${this.id} ${number}`);
  }

  ref(): void {
    if (!this.referenced && !this.exited) this.owner.holdChannel(1);
    this.referenced = true;
  }

  unref(): void {
    if (this.referenced && !this.exited) this.owner.holdChannel(-1);
    this.referenced = false;
  }

  /** @internal The spawner passed fd `index` (all arrive before the spawn resolves). */
  attach(index: number, socket: Socket): void {
    this.stdio[index] = socket;
    // As Node's ChildProcess: 'close' waits for every stream but stdin.
    if (index > 0) {
      this.closesNeeded += 1;
      socket.on('close', () => {
        this.closesNeeded -= 1;
        this.maybeClose();
      });
    }
  }

  /** @internal The spawner reaped it (code, signal number), or died (null, null). */
  ended(code: number | null, signalNumber: number | null): void {
    if (this.exited) return;
    if (this.referenced) this.owner.holdChannel(-1);
    this.exited = true;
    this.exitCode = code;
    this.signalCode = signalNumber === null ? null : signalName(signalNumber);
    this.emit('exit', this.exitCode, this.signalCode);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (!this.exited || this.closesNeeded !== 0 || this.closed) return;
    this.closed = true;
    this.emit('close', this.exitCode, this.signalCode);
  }
}

interface Pending {
  child?: SpawnedChild;
  nfds: number;
  resolve(child: SpawnedChild): void;
  reject(error: Error): void;
}

/** Starts outer helpers through one spawner process (started on first use). */
export class Spawner {
  private process: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Map<number, SpawnedChild>();
  private holds = 0;
  private stderrTail = '';

  /** `helperPath`: the helper the spawner execs (only it, in outer mode); `binary`: the helper
   *  binary run in spawner mode (the same one; tests give a stand-in `helperPath`). */
  constructor(
    readonly helperPath: string,
    private readonly binary = helperPath,
  ) {}

  /** The spawner process's pid while it runs (undefined before the first spawn or after it
   *  died): for tests and diagnostics. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Starts `helperPath outer ...args` with `nfds` socketpairs as its fds 0..nfds-1 and an empty
   *  environment. Resolves once it has exec'd, with every stream attached; rejects with the
   *  errno of the failed step (e.g. ENOENT) or when the spawner is gone. */
  spawn(args: readonly string[], nfds: number): Promise<SpawnedChild> {
    const id = this.nextId++;
    const line = ['S', id, nfds, ...args.map((a) => (a === '' ? '.' : Buffer.from(a).toString('base64')))].join(' ');
    return new Promise<SpawnedChild>((resolve, reject) => {
      this.pending.set(id, { nfds, resolve, reject });
      // The answer arrives on the channel: it holds the process until then (and, as the new
      // child is referenced, until its owner unrefs it or it exits).
      this.holdChannel(1);
      if (!this.send(line)) this.fail(id, new Error('the spawner (the process that starts sandboxes) is not running'));
    });
  }

  /** @internal Writes one message, starting the spawner if needed; false if it cannot. */
  send(line: string): boolean {
    const child = this.process ?? this.start();
    if (child.connected !== true) return false;
    child.send(line, (error) => {
      if (error !== null && error !== undefined) this.died(child, `cannot write to it: ${error.message}`);
    });
    return true;
  }

  /** @internal Keeps the channel referenced while a referenced child has not exited (its exit
   *  arrives on the channel: an unreferenced channel would let the process end before it). */
  holdChannel(delta: number): void {
    this.holds += delta;
    const channel = this.process?.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.holds > 0) channel?.ref?.();
    else channel?.unref?.();
  }

  /** Stops the spawner (its instance closed, every sandbox ended): the channel closes, and the
   *  spawner kills any child it has not reaped and exits. Spawns still waiting fail, children
   *  still running end with unknown exit codes (as on its death); a later spawn starts a new
   *  one. */
  close(): void {
    const child = this.process;
    if (child === undefined) return;
    this.died(child, 'it was closed');
    if (child.connected) child.disconnect();
    child.stderr?.destroy();
  }

  private start(): ChildProcess {
    const child = spawn(this.binary, ['spawner', '--channel-fd', '3', '--helper', this.helperPath], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: {}, windowsHide: true });
    this.process = child;
    this.stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => (this.stderrTail = (this.stderrTail + text).slice(-1000)));
    child.on('message', (message: unknown, handle: unknown) => this.receive(message, handle as Socket | undefined));
    child.on('error', (error) => this.died(child, error.message));
    child.on('exit', (code, signal) => this.died(child, `it exited (${signal ?? `code ${code}`})`));
    // The process handle is unreferenced (its exit may never be seen if nothing else runs):
    // the channel closing is the sign that counts.
    child.on('disconnect', () => this.died(child, 'its channel closed (it exited or was killed)'));
    // Never keeps the service alive by itself: library users' scripts end when their work does.
    child.unref();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    this.holdChannel(0);
    return child;
  }

  private receive(message: unknown, handle: Socket | undefined): void {
    if (typeof message !== 'string') return;
    const [kind, idText, a, b] = message.split(' ');
    const id = Number(idText);
    if (kind === 'p') {
      const p = this.pending.get(id);
      if (p !== undefined) p.child = new SpawnedChild(Number(a), id, this);
    } else if (kind === 'h' && handle !== undefined) {
      this.attach(id, Number(a), handle);
    } else if (kind === 'e') {
      const errno = Number(a);
      const name = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
      this.fail(id, Object.assign(new Error(`spawn ${this.helperPath} ${name}`), { code: name, errno: -errno }));
    } else if (kind === 'x') {
      const child = this.live.get(id);
      this.live.delete(id);
      child?.ended(Number(a) < 0 ? null : Number(a), Number(b) > 0 ? Number(b) : null);
    } else if (kind === '!') {
      // A refused message is a bug in this file: nothing was started. Fail every waiting spawn
      // (the refusal does not say which one) rather than leave one waiting for ever.
      for (const id of [...this.pending.keys()]) this.fail(id, new Error(`the spawner refused a request: ${message.slice(2)}`));
    }
  }

  private attach(id: number, index: number, socket: Socket): void {
    const p = this.pending.get(id);
    if (p?.child === undefined) {
      socket.destroy();
      return;
    }
    p.child.attach(index, socket);
    if (p.child.stdio.filter((s) => s !== undefined).length < p.nfds) return;
    this.pending.delete(id);
    this.live.set(id, p.child);
    p.resolve(p.child);
  }

  private fail(id: number, error: Error): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.holdChannel(-1);
    for (const socket of p?.child?.stdio ?? []) socket?.destroy();
    p?.reject(error);
  }

  /** The spawner is gone: waiting spawns fail, running children lose their exit codes, the
   *  next spawn starts a new spawner. */
  private died(which: ChildProcess, why: string): void {
    // Only the current spawner's end counts (an earlier one's late exit event changes nothing).
    if (this.process !== which) return;
    this.process = undefined;
    const detail = this.stderrTail.trim();
    const error = new Error(`the spawner (the process that starts sandboxes, ${this.helperPath} spawner) stopped: ${why}${detail === '' ? '' : `: ${detail}`}`);
    for (const id of [...this.pending.keys()]) this.fail(id, error);
    for (const child of this.live.values()) child.ended(null, null);
    this.live.clear();
  }
}

function signalName(n: number): NodeJS.Signals | null {
  return (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}
