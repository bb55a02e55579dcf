// `cylo doctor`: every isolation layer, its state, and the fix for each missing one, then a
// real sandboxed smoke run. Exit code 0 only when secure execution is possible. Read-only unless
// --clean: leftovers of crashed instances are reported, other live instances' work told apart.
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import { nftPath, slirp4netnsPath } from '../../sandbox/build-network.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { cliConfig, CONFIG_OPTION_HELP } from '../cylo-options.js';
import { residentStatus } from '../resident/server.js';
import { residentSocketPath } from '../resident/where.js';

export interface DoctorOptions {
  json?: boolean;
  /** Kill and remove what crashed cylo processes left behind. */
  clean?: boolean;
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
}

export async function doctorCommand(options: DoctorOptions, io: CommandIO): Promise<number> {
  // One-shot: no spare sandbox prepared ahead for an execution that never comes.
  const cylo = options.cylo ?? createCylo({ prepare: false, ...options.cyloOptions });
  try {
    const report = await cylo.doctor({ clean: options.clean === true });
    const orphanCount = report.orphans.cgroups.length + report.orphans.processes.length;
    // Orphans are reported (and cleaned at the next start) but do not make execution insecure.
    const ok = report.ok && report.smoke.ok && report.microvm.ok;
    const buildNetwork = buildNetworkState(report);
    const resident = await residentState();
    if (options.json === true) {
      const { cgroups: _cgroups, ...rest } = report;
      io.stdout.write(`${JSON.stringify({ ...rest, buildNetwork, resident, ok }, null, 2)}\n`);
      return ok ? 0 : 1;
    }
    for (const c of report.checks) {
      const mark = c.ok ? (c.relaxed === true ? 'RELAXED' : 'ok') : 'MISSING';
      io.stdout.write(`${mark.padEnd(8)} ${c.layer.padEnd(12)} ${c.detail}\n`);
      if (!c.ok || c.relaxed === true) io.stdout.write(`${''.padEnd(8)} ${''.padEnd(12)} fix: ${c.fix ?? 'see docs/security.md'}\n`);
    }
    io.stdout.write(`${(report.smoke.ok ? 'ok' : 'FAILED').padEnd(8)} ${'smoke run'.padEnd(12)} ${report.smoke.detail}\n`);
    io.stdout.write(`${(report.spawner.on ? 'ok' : 'OFF').padEnd(8)} ${'spawner'.padEnd(12)} ${report.spawner.detail}\n`);
    io.stdout.write(`${(report.zygote.on ? 'on' : 'off').padEnd(8)} ${'zygote'.padEnd(12)} ${report.zygote.detail}\n`);
    if (orphanCount === 0) {
      io.stdout.write(`${'ok'.padEnd(8)} ${'orphans'.padEnd(12)} no leftover cgroups or sandbox processes\n`);
    } else {
      const what = `${report.orphans.cgroups.length} cgroup(s) [${report.orphans.cgroups.join(', ')}], ${report.orphans.processes.length} process(es) [${report.orphans.processes.map((p) => p.pid).join(', ')}]`;
      io.stdout.write(`${(report.orphans.cleaned ? 'CLEANED' : 'WARN').padEnd(8)} ${'orphans'.padEnd(12)} ${what}\n`);
      if (!report.orphans.cleaned) io.stdout.write(`${''.padEnd(8)} ${''.padEnd(12)} fix: cylo doctor --clean (or start cylo: it cleans them at start)\n`);
    }
    if (report.orphans.staleLocks > 0) io.stdout.write(`${'CLEANED'.padEnd(8)} ${'uid locks'.padEnd(12)} ${report.orphans.staleLocks} uid range lock file(s) of instances that died without releasing them, removed from /run/cylo/ranges\n`);
    // Another live instance's executions are its work, not leftovers: listed apart, never cleaned.
    const others = report.orphans.others;
    io.stdout.write(`${'ok'.padEnd(8)} ${'instances'.padEnd(12)} ${others.length === 0 ? 'no execution cgroups of other live cylo instances' : `${others.length} execution cgroup(s) of other live cylo instances (not leftovers, left alone): ${others.join(', ')}`}\n`);
    const vm = report.microvm;
    io.stdout.write(`${'ok'.padEnd(8)} ${'isolation'.padEnd(12)} default "${vm.isolation}"; offered: ${vm.isolations.join(', ')}\n`);
    if (vm.isolations.includes('microvm')) {
      for (const [name, c] of [['accelerator', vm.accelerator], ['qemu', vm.qemu], ['guest kernel', vm.kernel], ['runtimes', vm.runtimes]] as const) {
        io.stdout.write(`${(c.ok ? 'ok' : vm.isolation === 'microvm' ? 'MISSING' : 'OFF').padEnd(8)} ${name.padEnd(12)} ${c.detail}\n`);
      }
      io.stdout.write(`${'ok'.padEnd(8)} ${'vm pool'.padEnd(12)} ${vm.pool.vms} VM(s) booted ahead, ${vm.pool.memoryMiB} MiB each, one execution per VM (not booted by doctor)\n`);
      io.stdout.write(`${'ok'.padEnd(8)} ${'vm snapshot'.padEnd(12)} ${vm.snapshot}\n`);
    }
    // Optional (running code never needs it): whether `cylo env build --network` can run.
    io.stdout.write(`${(buildNetwork.ok ? 'ok' : 'OFF').padEnd(8)} ${'build net'.padEnd(12)} ${buildNetwork.detail}\n`);
    // Optional too: whether `cylo exec` is handed to a resident cylo (docs/resident.md).
    io.stdout.write(`${(resident.running ? 'ok' : 'OFF').padEnd(8)} ${'resident'.padEnd(12)} ${resident.detail}\n`);
    io.stdout.write(ok ? '\ncylo can run untrusted code securely on this host.\n' : '\ncylo cannot run untrusted code securely on this host; fix the lines above.\n');
    return ok ? 0 : 1;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}

/** Declares `cylo doctor` on the program: its options, help and action. */
/** Whether environment builds can have network (slirp4netns present): `{ ok, detail }`, the
 *  detail naming the fix when not. Not part of `ok`: programs never have network. */
function buildNetworkState(report: { landlockAbi: number }): { ok: boolean; detail: string } {
  // The build's TCP port rules are Landlock's (ABI 4): below it env build --network is refused
  // (network-stage.ts runNetworkStage), so doctor must not call it ready. (A relaxed landlock
  // layer is refused there too, but is not yet told apart here.)
  if (report.landlockAbi < 4) {
    return { ok: false, detail: `cylo env build --network is refused: this kernel has Landlock ABI ${report.landlockAbi}; the build's TCP port rules need ABI 4 (Linux 6.7). Fix: a newer kernel, or build from a local directory (--from DIR)` };
  }
  try {
    return { ok: true, detail: `cylo env build --network can run (${slirp4netnsPath()}, filtered by ${nftPath()}; programs never get network)` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message.replace(/^--network: /, 'cylo env build --network is refused: ') };
  }
}

/** Whether a resident cylo (cylo daemon) of this user answers on its socket: `{ running, socket,
 *  pid?, detail }`. Not part of `ok`: cylo exec runs in-process without one. */
async function residentState(): Promise<{ running: boolean; socket: string; pid?: number; detail: string }> {
  const socket = residentSocketPath();
  const status = await residentStatus(socket);
  if (status === undefined) return { running: false, socket, detail: `no resident cylo on ${socket}: cylo exec runs in-process (start one with cylo daemon for fast start)` };
  return { running: true, socket, pid: status.pid, detail: `a resident cylo (pid ${status.pid}, version ${status.version}${status.running > 0 ? `, running ${status.running} of at most ${status.capacity} commands` : ''}, ${status.served} command(s) served) on ${socket}: cylo exec with the same configuration is handed to it` };
}

export function register(program: Command): Command {
  return program
    .command('doctor')
    .description('check every isolation layer on this host and say how to fix what is missing')
    .option('--json', 'print the report as JSON')
    .option('--clean', 'remove the cgroups crashed cylo processes left behind, killing every process inside them (sandbox-uid processes outside any cgroup are only reported: they may belong to another cylo)')
    .option('--config <path>', CONFIG_OPTION_HELP)
    .action(async (o: { json?: boolean; clean?: boolean; config?: string }) => {
      process.exitCode = await doctorCommand({ json: o.json === true, clean: o.clean === true, cyloOptions: cliConfig(o.config).cyloOptions }, processIO);
    });
}
