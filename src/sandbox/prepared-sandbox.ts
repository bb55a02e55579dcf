// A sandbox started ahead of its job: the helper chain (outer helper as root -> bubblewrap as
// the slot's uid -> inner helper as PID 1) is spawned with argv arrays, bubblewrap sets up the
// namespaces, mounts and seccomp, and PID 1 waits on the bundle pipe for the job (argv, env,
// rlimits, flags such as stderr-into-stdout) and the files. Starting it takes bubblewrap's few milliseconds, which a slot spends
// before the request arrives. It runs exactly one job (sandbox-run.ts); until then, whatever it
// reports is kept and replayed to the run.
// With a pre-start job (prestart.ts), PID 1 also starts the language runtime at once, waiting
// for its handover; a request whose job it fits hands over only its extra argv and rlimits.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { StageReport, StageSpec } from '../backend/backend.js';
import { buildOuterArgv, emitsBack, sandboxKey, type SandboxPlan } from './bwrap-argv.js';
import type { ExecutionCgroup } from './cgroups.js';
import { encodeBundle, encodeJob } from '../backend/file-bundle.js';
import { LineSplitter } from './helper-status.js';
import { killInsideOut } from './kill-inside-out.js';
import { SandboxRun, type SandboxSink } from './sandbox-run.js';
import { pipeInteractive, writeAll } from './stdin-feed.js';
import type { SandboxProcess, Spawner } from './spawner.js';
import { handoverArgs, type PrestartJob } from './prestart.js';
import type { Zygote } from './zygote.js';

/** The pipes of the helper chain, by fd (see bwrap-argv.ts: FD_SECCOMP, FD_STATUS, FD_BUNDLE,
 *  FD_EMIT): stdin, stdout, stderr, the seccomp program, the status lines, the job and files,
 *  and for compile stages the artifact (run stages: the output files) coming back out. */
type Stdio = Array<Readable & Writable>;

export class PreparedSandbox {
  /** Which plans this sandbox can run (the parts of a plan bubblewrap has already applied). */
  readonly key: string;
  /** The helper chain once started (spawns through the spawner resolve a little later). */
  private child: SandboxProcess | undefined;
  private readonly started: Promise<SandboxProcess>;
  private discarded = false;
  /** discardNow() ran before the helper chain had started: begin() kills it at once. */
  private discardedNow = false;
  private readonly backlog: Array<(sink: SandboxSink) => void> = [];
  private sink: SandboxSink | undefined;
  private used = false;
  private closed = false;
  private failed = false;
  private spawnError: Error | undefined;
  /** True once run() handed its job to the pre-started runtime (not a cold start). */
  handedOver = false;
  /** True when that runtime was forked from a zygote (zygote.ts), not started by PID 1. */
  get fromZygote(): boolean {
    return this.zygote !== undefined;
  }
  /** Resolves true once the sandbox's runtime exists (at once without a zygote), false when the
   *  zygote could not inject it (the sandbox is then failed and killed): the backend waits for it
   *  before handing a request to the sandbox, so that a zygote's failure never costs a request
   *  (the request then gets a sandbox of its own). */
  readonly injected: Promise<boolean>;
  private markInjected: (ok: boolean) => void = () => {};
  /** Resolves (never rejects) once the sandbox's start is over: its helper chain has started
   *  and taken its seccomp program (bubblewrap read and closed that pipe), or the start failed,
   *  or the chain ended. From then on, only its own job changes its pipes. */
  readonly setUp: Promise<void>;
  private markSetUp: () => void = () => {};
  /** handoverFor's last answer, for the same plan and spec objects. */
  private lastHandover: { plan: SandboxPlan; spec: StageSpec; args: string[] | undefined } | undefined;

  /** `prestart`: the runtime PID 1 starts at once, waiting for its request (none: the
   *  sandbox waits for its job with no runtime started). */
  constructor(
    readonly plan: SandboxPlan,
    seccompProgram: Buffer | undefined,
    readonly cgroup: ExecutionCgroup,
    readonly prestart?: PrestartJob,
    spawner?: Spawner,
    /** The zygote that injects the pre-started runtime (zygote.ts) instead of PID 1 starting it. */
    private readonly zygote?: Zygote,
  ) {
    const argv = buildOuterArgv(plan);
    // The key is this argv (bwrap-argv.ts sandboxKey), built once rather than twice.
    this.key = argv.join('\0');
    const emitting = emitsBack(plan);
    const nfds = emitting ? 7 : 6;
    // Through the spawner (no fork on the event loop) when the instance has one, else Node's
    // spawn (option `spawner: false`): one or the other for the whole instance.
    this.setUp = new Promise<void>((resolve) => (this.markSetUp = resolve));
    this.injected = zygote === undefined ? Promise.resolve(true) : new Promise<boolean>((resolve) => (this.markInjected = resolve));
    this.started = spawner === undefined ? Promise.resolve(this.nodeSpawn(argv, nfds)) : spawner.spawn(argv.slice(2), nfds);
    this.started.then(
      (child) => this.begin(child, emitting, seccompProgram),
      (error: Error) => {
        this.spawnError = error;
        this.failed = true;
        this.closed = true;
        this.markSetUp();
        this.dispatch((s) => s.close(null, null));
      },
    );
  }

  /** Node's spawn of the outer helper. Its 'error' (a failed fork or exec) is emitted on the
   *  next tick, before begin() runs (a promise callback): without a listener from the start it
   *  would be an unhandled 'error' event that ends the service. */
  private nodeSpawn(argv: string[], nfds: number): SandboxProcess {
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: new Array(nfds).fill('pipe'), env: {}, windowsHide: true });
    child.on('error', (error) => {
      this.spawnError = error;
      this.failed = true;
    });
    return child as SandboxProcess;
  }

  /** The helper chain has started: routes its streams, sends the seccomp program (and the
   *  pre-start job), and applies a discard or reference change made meanwhile. */
  private begin(child: SandboxProcess, emitting: boolean, seccompProgram: Buffer | undefined): void {
    this.child = child;
    this.route(child.stdio as unknown as Stdio, emitting);
    const seccompPipe = (child.stdio as unknown as Stdio)[3] as Writable;
    // Set up once bubblewrap has read that pipe and closed it, or at once without a program to
    // take (seccomp relaxed: the pipe then stays open until the job starts), or once the chain
    // ended.
    if (seccompProgram === undefined || seccompPipe === undefined || seccompPipe.destroyed) this.markSetUp();
    else seccompPipe.once('close', this.markSetUp);
    child.once('close', this.markSetUp);
    writeAll(seccompPipe, seccompProgram === undefined ? [] : [seccompProgram]);
    // The bundle pipe stays open after the pre-start job: the request's job follows on it.
    if (this.prestart !== undefined) {
      const bundle = (child.stdio as unknown as Stdio)[5] as Writable;
      bundle.on('error', () => {});
      bundle.write(encodeJob({ ...this.prestart, prestart: true, zygote: this.zygote !== undefined }));
    }
    // A sandbox waiting for its job must not keep the process alive (a library user's script
    // ends when its work is done); run() takes the references back.
    this.setReferenced((this.used || this.held) && !this.discarded);
    // Only a synchronous discard (at process exit) kills here. discard() awaits this same start
    // and then kills from the inside out: killing bubblewrap here first orphaned its PID 1 to the
    // host's init as a sandbox-uid zombie (with the spawner, whose spawns resolve a message
    // round trip later, every discard of a sandbox still starting did: test/security/leaks.test.ts
    // found them in cylo doctor's orphan processes).
    if (this.discardedNow) child.kill('SIGKILL');
  }

  /** Sends what the sandbox reports to its run, or keeps it until there is one. */
  private dispatch(event: (sink: SandboxSink) => void): void {
    if (this.sink !== undefined) event(this.sink);
    else this.backlog.push(event);
  }

  private route(stdio: Stdio, emitting: boolean): void {
    (stdio[1] as Readable).on('data', (c: Buffer) => this.dispatch((s) => s.stdout(c)));
    (stdio[2] as Readable).on('data', (c: Buffer) => this.dispatch((s) => s.stderr(c)));
    if (emitting) {
      const emitStream = stdio[6] as Readable;
      emitStream.on('data', (c: Buffer) => this.dispatch((s) => s.artifact(c)));
      emitStream.on('error', () => {});
    }
    const lines = new LineSplitter();
    const statusStream = stdio[4] as Readable;
    statusStream.setEncoding('utf8');
    statusStream.on('data', (text: string) => {
      for (const line of lines.push(text)) {
        if (line === 'Z' && this.zygote !== undefined) {
          this.injectRuntime();
          continue;
        }
        // PID 1 adopted the zygote's runtime, set up under every layer (native/supervisor.c).
        if (line === 'P' && this.zygote !== undefined) {
          this.markInjected(true);
          continue;
        }
        if (line.startsWith('E')) this.failed = true;
        this.dispatch((s) => s.status(line));
      }
    });
    statusStream.on('error', () => {});
    const child = this.child as SandboxProcess;
    child.on('error', (error: Error) => {
      this.spawnError = error;
      this.failed = true;
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      this.closed = true;
      this.markInjected(false); // no effect once resolved
      this.dispatch((s) => s.close(code, signal));
    });
  }

  /** PID 1 holds the pipes for a zygote's runtime ("Z"): the zygote injects it. When it cannot,
   *  the sandbox has no runtime and never will: it is failed and killed (a run already using it
   *  ends as a setup failure; an idle one is replaced by the slot). */
  private injectRuntime(): void {
    const child = this.child;
    if (this.zygote === undefined || this.prestart === undefined || child?.pid === undefined) {
      this.failed = true;
      this.markInjected(false);
      return;
    }
    this.zygote.inject(this.plan, this.prestart, child.pid).then(
      () => {}, // the runtime exists; PID 1's "P" says it is set up
      (error: Error) => {
        this.failed = true;
        this.markInjected(false);
        this.dispatch((s) => s.status(`Ezygote: ${error.message}`));
        void killInsideOut(child, this.cgroup, new AbortController().signal);
      },
    );
  }

  /** Keeps the process alive for this sandbox (while the backend waits for its runtime). */
  reference(): void {
    this.held = true;
    this.setReferenced(true);
  }
  private held = false;

  private setReferenced(on: boolean): void {
    if (this.child === undefined) return;
    if (on) this.child.ref();
    else this.child.unref();
    for (const stream of this.child.stdio) {
      const handle = stream as unknown as { ref?: () => void; unref?: () => void } | null;
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  /** True while it waits for its job, healthy. */
  get ready(): boolean {
    return !this.used && !this.closed && !this.failed;
  }

  /** Kills a sandbox that will not be used (its plan does not fit, or its slot is reset or
   *  destroyed): its processes first, so that bubblewrap reaps its PID 1 and exits at once. */
  async discard(): Promise<void> {
    this.used = true;
    this.discarded = true;
    const child = await this.started.catch(() => undefined);
    if (child !== undefined) await killInsideOut(child, this.cgroup, new AbortController().signal);
  }

  /** The same, synchronously and without waiting (at process exit). */
  discardNow(): void {
    this.used = true;
    this.discarded = true;
    this.discardedNow = true;
    this.child?.kill('SIGKILL');
  }

  /** Runs the job of `plan` (which must have this sandbox's key) with the stage's files, input
   *  and limits, to completion. `beforeJob` (a build's network) runs once the sandbox exists,
   *  given bubblewrap's pid, while PID 1 waits for its job; the job is sent only after it
   *  resolved, and the stage fails as a setup failure when it rejects. */
  run(plan: SandboxPlan, spec: StageSpec, beforeJob?: (bwrapPid: number) => Promise<void>): Promise<StageReport> {
    if (this.used) throw new Error('a prepared sandbox runs one job only');
    if (sandboxKey(plan) !== this.key) throw new Error('the plan does not match this prepared sandbox');
    this.used = true;
    this.setReferenced(true);
    return new Promise<StageReport>((resolve) => {
      void this.started.catch(() => undefined).then((started) => {
        // A helper that could not start: a child that never ran (its close is in the backlog).
        const child = started ?? notStarted();
        const sink = new SandboxRun(child, this.cgroup, spec, () => this.spawnError, resolve);
        this.sink = sink;
        for (const event of this.backlog.splice(0)) event(sink);
        if (started === undefined) return;
        const send = (): void => {
          const stdio = child.stdio as unknown as Stdio;
          writeAll(stdio[5] as Writable, [this.jobFor(plan, spec), ...encodeBundle(spec.files)]);
          if (spec.stdinStream === undefined) writeAll(stdio[0] as Writable, [spec.stdin]);
          else void pipeInteractive(stdio[0] as Writable, spec.stdin, spec.stdinStream);
        };
        const pid = child.pid;
        if (beforeJob === undefined) send();
        else if (pid === undefined) sink.setupFailed('the sandbox did not start');
        else beforeJob(pid).then(send, (error: Error) => sink.setupFailed(error.message));
      });
    });
  }

  /** The argv to hand to the pre-started runtime for this stage, or undefined when there is
   *  none or it was not started for exactly this job (prestart.ts). */
  handoverFor(plan: SandboxPlan, spec: StageSpec): string[] | undefined {
    if (this.prestart === undefined) return undefined;
    // The backend asks before run() and run() asks again for the same stage: answered once.
    const last = this.lastHandover;
    if (last?.plan === plan && last.spec === spec) return last.args;
    const args = handoverArgs(this.prestart, spec.prestart, { ...plan, cgroup: { memoryBytes: spec.limits.memoryBytes, pids: spec.limits.pids } }, spec.preimport);
    this.lastHandover = { plan, spec, args };
    return args;
  }

  /** The request's job: a handover to the pre-started runtime when it was started for exactly
   *  this job, else the whole job (PID 1 then discards the runtime and starts the program cold;
   *  the backend does not send such a job to a sandbox with a runtime: namespace-backend.ts). */
  private jobFor(plan: SandboxPlan, spec: StageSpec): Buffer {
    const args = this.handoverFor(plan, spec);
    if (args === undefined) return encodeJob(plan);
    this.handedOver = true;
    // The whole argv: PID 1 writes it into the runtime's command line and hands over the rest.
    return encodeJob({ argv: plan.argv, env: {}, rlimits: plan.rlimits, handover: true });
  }
}

/** Stands for a helper that never started (its spawn failed): no pid, nothing to kill. */
function notStarted(): SandboxProcess {
  return Object.assign(new EventEmitter(), { pid: undefined, exitCode: null, signalCode: null, stdio: [], kill: () => false, ref: () => {}, unref: () => {} });
}
