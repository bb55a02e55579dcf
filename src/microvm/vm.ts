// One guest VM's life: its private directory and job socket, QEMU started in its jail
// (jail.ts) inside its own cgroup, the connection of the job port and the agent's hello, then
// destruction: every process of the VM's cgroup killed, the cgroup, the socket and the directory
// removed. A VM runs one execution and is destroyed; nothing of it is ever reused.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ExecutionCgroup } from '../sandbox/cgroups.js';
import { LineSplitter, parseHelperStatus } from '../sandbox/helper-status.js';
import { encodeFrame, FrameDecoder, type GuestChannel } from './channel.js';
import { buildJailArgv, type JailPlan } from './jail.js';

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

  private constructor(
    private readonly dir: string,
    private readonly server: Server,
    private readonly child: ChildProcess,
    readonly cgroup: ExecutionCgroup,
  ) {
    this.decoder = new FrameDecoder((channel, payload) => this.frameSink?.(channel, payload));
  }

  /** Boots a VM and resolves once its agent said hello. Rejects (after destroying what was
   *  made) with the reason when it could not boot in time. */
  static async boot(options: VmOptions): Promise<GuestVm> {
    const dir = mkdtempSync(join(options.parentDir, 'vm-'));
    chmodSync(dir, 0o711);
    const socketPath = join(dir, 'job.sock');
    const server = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
      // Our own fresh socket, before anything untrusted runs: only QEMU's uid may connect.
      chownSync(socketPath, options.jail.uid, options.jail.gid);
      chmodSync(socketPath, 0o600);
    } catch (error) {
      server.close();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const argv = buildJailArgv({ ...options.jail, vm: { ...options.jail.vm, socket: socketPath } });
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe'] });
    const vm = new GuestVm(dir, server, child, options.cgroup);
    vm.watch();
    try {
      await vm.hello(options.bootTimeoutMs);
      return vm;
    } catch (error) {
      await vm.destroy();
      throw error;
    }
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
        if (s?.type === 'setup-error') this.end(`QEMU's jail could not be set up: ${s.message}`);
      }
    });
    this.child.on('error', (error) => this.end(`QEMU could not be started: ${error.message}`));
    this.child.on('close', (code, signal) => this.end(`QEMU exited (${signal ?? `code ${code}`})${this.lastConsole()}`));
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
      socket.write(encodeFrame('P'));
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
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the guest did not boot within ${timeoutMs} ms${this.lastConsole()}`)), timeoutMs);
      this.onEnd((reason) => {
        clearTimeout(timer);
        reject(new Error(`the guest did not boot: ${reason}`));
      });
      this.frameSink = (channel, payload) => {
        clearTimeout(timer);
        if (channel === 'H') {
          this.kernelRelease = payload.toString('utf8').slice(0, 200);
          this.frameSink = undefined;
          resolve();
        } else reject(new Error(`the guest agent sent '${channel}' before its hello: ${payload.toString('utf8').slice(0, 300)}`));
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
      this.child.kill('SIGKILL');
      await this.cgroup.killAll();
      await this.cgroup.remove();
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.destroyed;
  }
}
