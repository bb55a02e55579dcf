// The Python zygote (issue 19; option `zygote`; docs/security.md "The Python zygote"): one
// trusted, initialised, never-used python3 per pre-start job and filesystem view, from which each
// prepared sandbox's pre-started runtime is forked into that sandbox (native/zygote/zygote.c)
// instead of PID 1 starting a fresh interpreter (native/prestart.c). The interpreter's start
// (most of a Python hello world's CPU) is paid once per zygote, not once per execution.
//
// A zygote is asked only by the host, over its own pipes: "inject a runtime into the prepared
// sandbox whose bubblewrap has pid N, with these ids, cgroups, rlimits and Landlock policy". The
// sandbox's PID 1 has said it holds the pipes for it ("Z" on its status fd); the zygote verifies
// that PID 1 from the pid up (uid, PID namespace, parent) before it takes anything from it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { buildZygoteArgv, landlockOptions, ZYGOTE_FDS, type SandboxPlan } from './bwrap-argv.js';
import { LineSplitter } from './helper-status.js';
import { PREIMPORT_VARIABLE, PRESTART_IN_SANDBOX, ZYGOTE_FDS_VARIABLE as ZYGOTE_VARIABLE, type PrestartJob } from './prestart.js';
import { WORKSPACE, WORKSPACE_TMP } from '../backend/backend.js';

/** The stub's directory in the view: the pre-start job's PYTHONPATH (prestart.ts). */
const PYTHON_STUB_DIR = `${PRESTART_IN_SANDBOX}/python`;
/** The ids the sandbox's ordinary user has inside its user namespace (bwrap --uid/--gid). */
const NS_ID = 1000;
/** The cgroup filesystem the slots' cgroup.procs files are below (passed to the zygote as a
 *  directory fd: its view has no /sys). */
const CGROUP_ROOT = '/sys/fs/cgroup';
/** Distinct zygotes an instance keeps at most (each one interpreter, about 10 MiB, more with
 *  pre-imports): a slot asks for the job of the last request it ran. */
const MAX_ZYGOTES = 8;
/** How long an injection may take before the zygote counts as stuck (ms; an injection takes a
 *  few, a loaded machine's scheduling delays included). */
const INJECT_TIMEOUT_MS = 10_000;


/** One zygote process. */
export class Zygote {
  private readonly child: ChildProcess;
  private readonly waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private isReady = false;
  /** Why this zygote cannot serve (it ended, or an injection failed); undefined while it can. */
  broken: Error | undefined;

  /** `argv`: buildZygoteArgv's (the job's variables in it, with ZYGOTE_VARIABLE). */
  constructor(argv: string[], seccompProgram: Buffer | undefined, onLog: (message: string) => void) {
    const cgroupRoot = openSync(CGROUP_ROOT, 'r');
    const proc = openSync('/proc', 'r');
    try {
      // bubblewrap runs with an empty environment; the interpreter gets the job's (--setenv).
      this.child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', cgroupRoot, 'pipe', proc], env: {}, windowsHide: true });
    } finally {
      closeSync(cgroupRoot);
      closeSync(proc);
    }
    const stdio = this.child.stdio as unknown as Array<Readable & Writable>;
    const seccomp = stdio[ZYGOTE_FDS.seccomp] as Writable;
    seccomp.on('error', () => {});
    seccomp.end(seccompProgram ?? Buffer.alloc(0));
    (stdio[ZYGOTE_FDS.request] as Writable).on('error', () => {});
    // What the interpreter writes itself (a warning at its start): the log, never a program's.
    let said = '';
    for (const s of [stdio[1], stdio[2]] as Readable[]) s.on('data', (c: Buffer) => (said = `${said}${c.toString('utf8')}`.slice(-2000)));
    const lines = new LineSplitter();
    const replies = stdio[ZYGOTE_FDS.reply] as Readable;
    replies.setEncoding('utf8');
    replies.on('data', (text: string) => {
      for (const line of lines.push(text)) this.reply(line);
    });
    replies.on('error', () => {});
    this.child.on('error', (error) => this.fail(new Error(`the zygote could not start: ${error.message}`)));
    this.child.on('close', (code, signal) => {
      const detail = said.trim() === '' ? '' : `: ${said.trim().split('\n').slice(-3).join(' / ')}`;
      this.fail(new Error(`the zygote ended (${signal ?? `exit ${code}`})${detail}`));
      if (!this.closing) onLog(this.broken?.message ?? 'the zygote ended');
    });
    // Never keeps a library user's process alive.
    this.child.unref();
    for (const s of stdio) (s as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private closing = false;

  /** True once the zygote waits for requests. */
  get ready(): boolean {
    return this.isReady && this.broken === undefined;
  }

  private reply(line: string): void {
    if (line === 'ready') {
      this.isReady = true;
      return;
    }
    const next = this.waiting.shift();
    if (this.waiting.length === 0) this.referenced(false);
    if (line === 'ok') next?.resolve();
    else next?.reject(new Error(line.startsWith('E') ? line.slice(1) : `the zygote said: ${line}`));
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const w of this.waiting.splice(0)) w.reject(this.broken);
    this.referenced(false);
  }

  /** An injection waiting for its answer keeps the process alive; an idle zygote never does. */
  private referenced(on: boolean): void {
    const reply = this.child.stdio[ZYGOTE_FDS.reply] as unknown as { ref?: () => void; unref?: () => void } | null;
    if (on) reply?.ref?.();
    else reply?.unref?.();
  }

  /** Injects a runtime into the prepared sandbox of `plan` (its bubblewrap: `bwrapPid`), whose
   *  PID 1 holds the pipes for it; resolves once the zygote has cloned the runtime into the
   *  sandbox (PID 1 then says "P" on its status fd once the runtime has set itself up and been
   *  adopted), or rejects with the zygote's reason. */
  inject(plan: SandboxPlan, job: PrestartJob, bwrapPid: number): Promise<void> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const items = injectionItems(plan, job, bwrapPid);
    if (items === undefined) return Promise.reject(new Error('a cgroup of the slot is outside /sys/fs/cgroup'));
    const body = Buffer.from(items.map((i) => `${i}\0`).join(''), 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    return new Promise<void>((resolve, reject) => {
      // An injection is a few ms of work; a zygote that does not answer in INJECT_TIMEOUT_MS is
      // stuck: it is ended (every waiting injection fails, and no sandbox is asked to it again).
      const timer = setTimeout(() => {
        this.fail(new Error(`the zygote did not answer within ${INJECT_TIMEOUT_MS} ms`));
        this.child.kill('SIGKILL');
      }, INJECT_TIMEOUT_MS);
      timer.unref();
      const done = { resolve: () => (clearTimeout(timer), resolve()), reject: (e: Error) => (clearTimeout(timer), reject(e)) };
      this.waiting.push(done);
      this.referenced(true);
      (this.child.stdio[ZYGOTE_FDS.request] as Writable).write(Buffer.concat([head, body]));
    });
  }

  /** Ends the zygote (the runtimes it injected live on in their sandboxes, which are not its). */
  close(): void {
    this.closing = true;
    this.fail(new Error('the zygote was closed'));
    this.child.kill('SIGKILL');
  }
}

/** The request items (native/zygote/zygote.c parse_request), or undefined when a cgroup of the
 *  slot is not below the cgroup root the zygote was given. */
export function injectionItems(plan: SandboxPlan, job: PrestartJob, bwrapPid: number): string[] | undefined {
  const items = ['--bwrap-pid', String(bwrapPid), '--uid', String(plan.uid), '--gid', String(plan.gid), '--ns-uid', String(NS_ID), '--ns-gid', String(NS_ID)];
  items.push('--stderr-to-stdout', job.stderrToStdout ? '1' : '0');
  for (const procs of plan.cgroupProcs) {
    if (!procs.startsWith(`${CGROUP_ROOT}/`)) return undefined;
    items.push('--cgroup-procs', procs.slice(CGROUP_ROOT.length + 1));
  }
  for (const [name, value] of Object.entries(job.rlimits)) items.push('--rlimit', `${name}:${value}:${value}`);
  items.push(...landlockOptions(plan.landlock));
  return items;
}

/** An instance's zygotes, one per pre-start job and view (started on first ask, off the
 *  request's path). */
export class ZygotePool {
  private readonly zygotes = new Map<string, Zygote>();
  private closed = false;

  /** `trusted`: host trees besides the system's (/usr, /etc) a zygote's view may bind: cylo's
   *  own stub directory. */
  constructor(
    private readonly zygoteDir: string,
    private readonly trusted: readonly string[],
    private readonly seccompProgram: Buffer | undefined,
    private readonly log: (message: string) => void,
    /** The pre-start job's PYTHONPATH when the request has none of its own (the stub's directory). */
    private readonly stubPythonPath: string = PYTHON_STUB_DIR,
  ) {}

  /** The ready zygote for a prepared sandbox of `plan` pre-starting `job`, or undefined (a
   *  runtime other than Python, a zygote still starting, one that failed: PID 1 then starts
   *  the runtime itself, as without this option). Starts the zygote when there is none. */
  for(plan: SandboxPlan, job: PrestartJob): Zygote | undefined {
    if (this.closed || job.kind !== 'python') return undefined;
    // The zygote's interpreter starts as root: only from trees no program (nor an environment
    // build's package code) can have written (a built environment's tree is not one of them),
    // and with no variable a request chose that the interpreter acts on while it starts
    // (review finding Z1: PYTHONWARNINGS can import a module, and that module can run BROWSER).
    if (!plan.binds.every((b) => systemTree(b.source) || this.trusted.includes(b.source))) return undefined;
    if (!zygoteSafeEnvironment(job.env, this.stubPythonPath)) return undefined;
    const fds = `${ZYGOTE_FDS.request},${ZYGOTE_FDS.reply},${ZYGOTE_FDS.cgroupRoot},${ZYGOTE_FDS.seccomp},${ZYGOTE_FDS.proc}`;
    const argv = buildZygoteArgv(plan, this.zygoteDir, job.argv, { ...job.env, [ZYGOTE_VARIABLE]: fds });
    const key = argv.join('\0');
    const known = this.zygotes.get(key);
    if (known !== undefined) return known.ready ? known : undefined;
    if (this.zygotes.size >= MAX_ZYGOTES) {
      const oldest = this.zygotes.keys().next().value as string;
      this.zygotes.get(oldest)?.close();
      this.zygotes.delete(oldest);
    }
    this.zygotes.set(key, new Zygote(argv, this.seccompProgram, this.log));
    return undefined;
  }

  close(): void {
    this.closed = true;
    for (const z of this.zygotes.values()) z.close();
    this.zygotes.clear();
  }
}

/** The variables a zygote's job may have, each with the values allowed: what cylo itself sets
 *  for a Python run stage (src/engine/stage-env.ts, the runtime definition, the pre-start job).
 *  Anything else, or another value, and the job's runtime is started by PID 1 instead, inside
 *  the sandbox, as without the option: a request's variables never reach a root interpreter. */
const BASE_PATH = '/usr/local/bin:/usr/bin:/bin';
const ZYGOTE_VARIABLES: Readonly<Record<string, (value: string, stub: string) => boolean>> = {
  // The base PATH, or with the interpreter's own directory first (src/engine/environment.ts).
  PATH: (v) => v === BASE_PATH || (v.endsWith(`:${BASE_PATH}`) && /^\/usr\/[^:]*$/.test(v.slice(0, -BASE_PATH.length - 1))),
  HOME: (v) => v === WORKSPACE,
  PWD: (v) => v === WORKSPACE,
  TMPDIR: (v) => v === WORKSPACE_TMP,
  LANG: (v) => v === 'C.UTF-8',
  LC_ALL: (v) => v === 'C.UTF-8',
  USER: (v) => v === 'sandbox',
  PYTHONDONTWRITEBYTECODE: (v) => v === '1',
  PYTHONIOENCODING: (v) => v === 'utf-8',
  PYTHONUNBUFFERED: (v) => v === '1',
  PYTHONPATH: (v, stub) => v === stub,
  // An environment's pre-imports: module names from the operator's configuration (preimport).
  [PREIMPORT_VARIABLE]: (v) => /^[A-Za-z_][A-Za-z0-9_.]*(,[A-Za-z_][A-Za-z0-9_.]*)*$/.test(v),
};

/** True when every variable of `env` is one cylo sets, with the value it sets (ZYGOTE_VARIABLES). */
export function zygoteSafeEnvironment(env: Readonly<Record<string, string>>, stub: string = PYTHON_STUB_DIR): boolean {
  return Object.entries(env).every(([k, v]) => Object.hasOwn(ZYGOTE_VARIABLES, k) && (ZYGOTE_VARIABLES[k] as (value: string, stub: string) => boolean)(v, stub));
}

/** True for the operating system's own trees (root's, written by its package manager). */
function systemTree(path: string): boolean {
  return path === '/usr' || path.startsWith('/usr/') || path.startsWith('/etc/');
}

/** The built extension's directory next to the helper (dist/native/zygote), or undefined when
 *  cylo was built without Python's headers. */
export function zygoteDir(helperPath: string): string | undefined {
  const dir = join(helperPath, '..', 'zygote');
  return existsSync(join(dir, '_cylo_zygote.so')) ? dir : undefined;
}
