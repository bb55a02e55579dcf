// One guest VM's life: its private directory and job socket, QEMU started in its jail
// (jail.ts) inside its own cgroup, the connection of the job port and the agent's hello, then
// destruction: every process of the VM's cgroup killed, the cgroup, the socket and the directory
// removed. A VM runs one execution and is destroyed; nothing of it is ever reused.
// A VM either boots (the agent's hello) or is restored from a template's snapshot (snapshot.ts):
// then the host waits until QEMU runs the restored guest (its monitor) and reseeds the guest's
// randomness before the VM is handed to any request.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, chmodSync, closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ExecutionCgroup } from '../sandbox/cgroups.js';
import { LineSplitter, parseHelperStatus } from '../sandbox/helper-status.js';
import { encodeFrame, FrameDecoder, type GuestChannel } from './channel.js';
import { firecrackerBootArgs, firecrackerConfig, firecrackerLaunch } from './firecracker.js';
import { buildJailArgv, buildMonitorJail, type JailPlan } from './jail.js';
import { kernelCmdline } from './qemu-argv.js';
import { Qmp } from './qmp.js';

/** Console (serial) bytes kept for diagnostics of a VM that died. */
const CONSOLE_KEEP = 16 * 1024;

export interface VmOptions {
  /** Where the VM's private directory is made (0711: QEMU's uid opens its socket by path). */
  parentDir: string;
  cgroup: ExecutionCgroup;
  /** The jail plan without the socket (filled in here). */
  jail: Omit<JailPlan, 'vm'> & { vm: Omit<JailPlan['vm'], 'socket'> };
  /** How long the boot (QEMU's start to the agent's hello) may take, in ms. */
  bootTimeoutMs: number;
  /** A QMP monitor socket (the snapshot steps); implied by restoreFrom. */
  qmp?: boolean;
  /** A template: a migration socket the snapshot is saved through (snapshot.ts). */
  migration?: boolean;
  /** Restore this snapshot file instead of booting; the guest is reseeded before use. */
  restoreFrom?: string | undefined;
  /** Run the guest under Firecracker instead of QEMU (firecracker.ts): its binary and the
   *  uncompressed kernel. No monitor socket, migration or restore there. */
  firecracker?: { path: string; vmlinux: string } | undefined;
}

/** Random bytes sent to a restored guest's kernel (RNDADDENTROPY; the agent takes 32..512). */
export const RESEED_BYTES = 64;

/** Listens on a fresh Unix socket at `path` that only `uid` may connect to. */
async function listenPrivate(path: string, uid: number, gid: number): Promise<Server> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    // Our own fresh socket, before anything untrusted runs: only QEMU's uid may connect.
    chownSync(path, uid, gid);
    chmodSync(path, 0o600);
    return server;
  } catch (error) {
    server.close();
    throw error;
  }
}

/** Firecracker in the jail: its config file written (host-made, readable by the jail's uid only)
 *  into the VM's directory. Throws for what only QEMU does (snapshots). */
function firecrackerJail(options: VmOptions, dir: string, socket: string): string[] {
  const fc = options.firecracker as NonNullable<VmOptions['firecracker']>;
  if (options.qmp === true || options.migration === true || options.restoreFrom !== undefined) throw new Error('snapshots are not supported under Firecracker');
  const { vm, uid, gid } = options.jail;
  const configFile = join(dir, 'firecracker.json');
  const plan = {
    firecrackerPath: fc.path,
    memoryMiB: vm.memoryMiB,
    vmlinux: fc.vmlinux,
    initramfs: vm.initramfs,
    runtimes: vm.runtimes,
    nodePackages: vm.nodePackages,
    socket,
    configFile,
    bootArgs: firecrackerBootArgs(kernelCmdline({ ...vm, socket })),
  };
  // 'wx': a fresh file in our own fresh directory; then only the jail's uid may read it.
  writeFileSync(configFile, JSON.stringify(firecrackerConfig(plan)), { flag: 'wx', mode: 0o400 });
  chownSync(configFile, uid, gid);
  return buildMonitorJail(options.jail, firecrackerLaunch(plan));
}

export class GuestVm {
  /** The guest kernel's release, from the agent's hello. */
  kernelRelease = '';
  /** Set once the VM is gone (QEMU exited, the channel broke, or destroy()). */
  endReason: string | null = null;
  private socket: Socket | undefined;
  private readonly decoder: FrameDecoder;
  private frameSink: ((channel: GuestChannel, payload: Buffer) => void) | undefined;
  private endSinks: Array<(reason: string) => void> = [];
  private console = '';
  private destroyed: Promise<void> | undefined;
  /** QEMU's monitor once it connected (VMs made with a monitor only). */
  qmp: Promise<Qmp> | undefined;
  /** True for a VM restored from a snapshot and reseeded. */
  restored = false;
  /** The monitor's name in messages. */
  private monitorName = 'QEMU';

  private constructor(
    readonly dir: string,
    private readonly server: Server,
    private readonly child: ChildProcess,
    readonly cgroup: ExecutionCgroup,
    private readonly others: Server[],
    /** A template's migration socket server. */
    readonly migration: Server | undefined,
    private readonly restoring: boolean,
  ) {
    this.decoder = new FrameDecoder((channel, payload) => this.frameSink?.(channel, payload));
  }

  /** Boots a VM and resolves once its agent said hello. Rejects (after destroying what was
   *  made) with the reason when it could not boot in time. */
  static async boot(options: VmOptions): Promise<GuestVm> {
    const dir = mkdtempSync(join(options.parentDir, 'vm-'));
    chmodSync(dir, 0o711);
    const { uid, gid } = options.jail;
    const restoring = options.restoreFrom !== undefined;
    const paths = { job: join(dir, 'job.sock'), qmp: join(dir, 'qmp.sock'), migration: join(dir, 'migration.sock') };
    const servers: Server[] = [];
    let snapshotFd: number | undefined;
    let child: ChildProcess;
    try {
      servers.push(await listenPrivate(paths.job, uid, gid));
      const qmp = options.qmp === true || restoring ? await listenPrivate(paths.qmp, uid, gid) : undefined;
      if (qmp !== undefined) servers.push(qmp);
      const migration = options.migration === true ? await listenPrivate(paths.migration, uid, gid) : undefined;
      if (migration !== undefined) servers.push(migration);
      // Read-only and never followed: QEMU gets the fd, not the path, and cannot write the template.
      if (restoring) snapshotFd = openSync(options.restoreFrom as string, constants.O_RDONLY | constants.O_NOFOLLOW);
      const argv = options.firecracker !== undefined
        ? firecrackerJail(options, dir, paths.job)
        : buildJailArgv({
            ...options.jail,
            migrationSocket: migration === undefined ? undefined : paths.migration,
            vm: { ...options.jail.vm, socket: paths.job, qmpSocket: qmp === undefined ? undefined : paths.qmp, incoming: restoring },
          });
      // fd 5 (FD_SNAPSHOT): the snapshot, inherited through the outer helper and bubblewrap.
      child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe', snapshotFd ?? 'ignore'] });
      const vm = new GuestVm(dir, servers[0] as Server, child, options.cgroup, servers.slice(1), migration, restoring);
      if (options.firecracker !== undefined) vm.monitorName = 'Firecracker';
      if (qmp !== undefined) vm.qmp = vm.monitor(qmp);
      vm.watch();
      try {
        await (restoring ? vm.reseed(options.bootTimeoutMs) : vm.hello(options.bootTimeoutMs));
        return vm;
      } catch (error) {
        await vm.destroy();
        throw error;
      }
    } catch (error) {
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    } finally {
      if (snapshotFd !== undefined) closeSync(snapshotFd);
    }
  }

  /** The first connection to the monitor socket, as a QMP client. */
  private monitor(server: Server): Promise<Qmp> {
    const ready = new Promise<Qmp>((resolve, reject) => {
      server.once('connection', (socket: Socket) => {
        server.close();
        resolve(new Qmp(socket));
      });
      this.onEnd((reason) => reject(new Error(reason)));
    });
    ready.catch(() => undefined);
    return ready;
  }

  /** A restored VM: waits until QEMU runs the guest (the migration stream fully loaded), then
   *  sends the reseed ('R': the host's time and RESEED_BYTES random bytes) and waits for the
   *  agent's 'R' reply, which it sends only after RNDADDENTROPY and RNDRESEEDCRNG succeeded. */
  private async reseed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const qmp = await this.beforeEnd(this.qmp as Promise<Qmp>, timeoutMs);
    await this.beforeEnd(
      qmp.until<{ status?: string }>('query-status', (v) => (v.status === 'running' ? true : v.status === 'inmigrate' || v.status === 'prelaunch' ? false : new Error(`the restore ended in state ${v.status}`)), 20, timeoutMs),
      timeoutMs,
    );
    qmp.close(); // nothing more is asked of this monitor
    const now = Date.now();
    const header = Buffer.from(`time=${Math.floor(now / 1000)}.${(now % 1000) * 1_000_000}\n`, 'utf8');
    const reply = this.expectFrame('R', Math.max(1, deadline - Date.now()), 'reseed');
    this.send([encodeFrame('R', Buffer.concat([header, randomBytes(RESEED_BYTES)]))]);
    await reply;
    this.restored = true;
  }

  /** `p`, or a rejection when the VM ends or `ms` pass first. */
  private beforeEnd<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the restored guest did not run within ${ms} ms${this.lastConsole()}`)), ms);
      this.onEnd((reason) => reject(new Error(`the guest could not be restored: ${reason}`)));
      p.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  private watch(): void {
    const keep = (chunk: Buffer): void => {
      this.console = (this.console + chunk.toString('utf8')).slice(-CONSOLE_KEEP);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    const lines = new LineSplitter();
    // The outer helper's status pipe: "E<message>" when the jail could not be set up.
    (this.child.stdio[4] as NodeJS.ReadableStream | null)?.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk.toString('utf8'))) {
        const s = parseHelperStatus(line);
        if (s?.type === 'setup-error') this.end(`${this.monitorName}'s jail could not be set up: ${s.message}`);
      }
    });
    this.child.on('error', (error) => this.end(`${this.monitorName} could not be started: ${error.message}`));
    this.child.on('close', (code, signal) => this.end(`${this.monitorName} exited (${signal ?? `code ${code}`})${this.lastConsole()}`));
    this.server.on('connection', (socket) => {
      // One connection, from QEMU's chardev; any later one is refused.
      if (this.socket !== undefined) return socket.destroy();
      this.socket = socket;
      this.server.close();
      socket.on('data', (chunk: Buffer) => {
        this.decoder.push(chunk);
        if (this.decoder.error !== null) this.end(this.decoder.error);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => this.end(`the guest's channel closed${this.lastConsole()}`));
      // A booting agent waits for this ping; a restored one is past it (it waits for 'R').
      if (!this.restoring) socket.write(encodeFrame('P'));
    });
  }

  /** The last lines of the guest console (a panic's message), for a report. */
  lastConsole(): string {
    const text = this.console.replace(/\r/g, '').trim();
    if (text === '') return '';
    const panic = /Kernel panic[^\n]*/.exec(text);
    return `; guest console: ${panic !== null ? panic[0] : text.split('\n').slice(-3).join(' | ')}`.slice(0, 600);
  }

  private hello(timeoutMs: number): Promise<void> {
    return this.expectFrame('H', timeoutMs, 'boot');
  }

  /** Resolves when the agent's next frame is `want` (its payload: the kernel release). */
  private expectFrame(want: 'H' | 'R', timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the guest did not ${what} within ${timeoutMs} ms${this.lastConsole()}`)), timeoutMs);
      this.onEnd((reason) => {
        clearTimeout(timer);
        reject(new Error(`the guest did not ${what}: ${reason}`));
      });
      this.frameSink = (channel, payload) => {
        clearTimeout(timer);
        if (channel === want) {
          this.kernelRelease = payload.toString('utf8').slice(0, 200);
          this.frameSink = undefined;
          resolve();
        } else reject(new Error(`the guest agent sent '${channel}' before its ${want === 'H' ? 'hello' : 'reseed reply'}: ${payload.toString('utf8').slice(0, 300)}`));
      };
    });
  }

  /** Where the guest's frames go from now on (one stage at a time). */
  setSink(sink: ((channel: GuestChannel, payload: Buffer) => void) | undefined): void {
    this.frameSink = sink;
  }

  /** Calls `fn` once when the VM is gone (at once if it already is). */
  onEnd(fn: (reason: string) => void): void {
    if (this.endReason !== null) fn(this.endReason);
    else this.endSinks.push(fn);
  }

  private end(reason: string): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    for (const fn of this.endSinks.splice(0)) fn(reason);
  }

  /** Sends frames to the agent; false when the VM is gone. */
  send(frames: readonly Buffer[]): boolean {
    if (this.endReason !== null || this.socket === undefined) return false;
    for (const f of frames) this.socket.write(f);
    return true;
  }

  /** QEMU's pid (on the host), or undefined. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Kills every process of the VM (its cgroup), removes the cgroup, the socket and the
   *  directory. Idempotent; resolves when all is gone. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      this.end('the VM was destroyed');
      this.socket?.destroy();
      this.server.close();
      for (const s of this.others) s.close();
      void this.qmp?.then((q) => q.close(), () => undefined);
      this.child.kill('SIGKILL');
      try {
        await this.cgroup.killAll();
        await this.cgroup.remove();
      } finally {
        // The sockets and directory go even when the cgroup could not be removed (it is swept).
        rmSync(this.dir, { recursive: true, force: true });
      }
    })();
    return this.destroyed;
  }
}
