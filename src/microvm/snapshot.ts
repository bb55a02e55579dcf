// The template snapshot of the warm pool: one VM is booted (in the same jail and cgroup as every
// VM) until its agent waits for a job, then QEMU migrates its whole state (RAM, CPU, devices)
// through a Unix socket the host listens on into a file of this instance's private directory;
// the template VM is then destroyed. Pool VMs start by restoring that file (vm.ts: `-incoming
// fd:5`, the file opened read-only by the host) instead of booting: the boot leaves the path of
// every VM after the first.
// Every restored VM starts from the same memory, so vm.ts reseeds each guest's kernel randomness
// before any request's program runs (docs/isolation.md "Randomness").
// A snapshot is a speed-up, not a security layer: when one cannot be made, VMs cold-boot and the
// reason is logged and shown by `cylo doctor`/stats.
import { createWriteStream, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { GuestVm } from './vm.js';

/** QEMU's state beyond guest RAM in a snapshot (devices, CPU), in bytes: the file's cap. */
const STATE_SLACK_BYTES = 64 * 1024 * 1024;

export interface Snapshot {
  /** The file (0600, the service's own, in the instance's work directory). */
  file: string;
  /** The template's kernel command-line seed: a restore repeats the template's exact argv. */
  seedHex: string;
}

/**
 * Saves `vm` (booted, its agent idle after its hello, started with a monitor and a migration
 * socket) into `file`, written by the host from QEMU's migration stream and capped at guest RAM
 * plus STATE_SLACK_BYTES. Resolves once QEMU reports the migration completed and the file is
 * flushed; the VM is then paused (destroy it). Rejects with the reason; removes a partial file.
 */
export async function saveSnapshot(vm: GuestVm, file: string, memoryMiB: number, timeoutMs: number): Promise<void> {
  const migration = vm.migration;
  if (vm.qmp === undefined || migration === undefined) throw new Error('the template VM has no monitor or migration socket');
  const cap = memoryMiB * 1024 * 1024 + STATE_SLACK_BYTES;
  const written = new Promise<void>((resolve, reject) => {
    migration.once('connection', (socket: Socket) => {
      migration.close();
      // 'wx': a fresh file, never an existing one (or a link) followed.
      const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > cap) {
          socket.destroy();
          out.destroy();
          reject(new Error(`the snapshot stream passed ${cap} bytes`));
        }
      });
      socket.pipe(out);
      out.on('finish', resolve);
      out.on('error', reject);
      socket.on('error', reject);
    });
  });
  written.catch(() => undefined);
  try {
    const qmp = await vm.qmp;
    // No bandwidth cap for a local file (QEMU's default is 128 MiB/s); no downtime limit needed:
    // the agent is idle, the guest dirties almost no memory while the RAM is copied.
    await qmp.command('migrate-set-parameters', { 'max-bandwidth': 4 * 1024 * 1024 * 1024 });
    await qmp.command('migrate', { uri: `unix:${vm.dir}/migration.sock` });
    await qmp.until<{ status?: string; 'error-desc'?: string }>(
      'query-migrate',
      (v) => (v.status === 'completed' ? true : v.status === 'failed' || v.status === 'cancelled' ? new Error(`the migration ${v.status}: ${v['error-desc'] ?? ''}`) : false),
      50,
      timeoutMs,
    );
    await withTimeout(written, timeoutMs, 'the snapshot file was not written');
  } catch (error) {
    rmSync(file, { force: true });
    throw error;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
