// `cylo doctor`: every isolation layer, its state, and the fix for each missing one, then a
// real sandboxed smoke run. Exit code 0 only when secure execution is possible.
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import type { CommandIO } from '../io.js';

export interface DoctorOptions {
  json?: boolean;
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
}

export async function doctorCommand(options: DoctorOptions, io: CommandIO): Promise<number> {
  const cylo = options.cylo ?? createCylo(options.cyloOptions);
  try {
    const report = await cylo.doctor();
    const ok = report.ok && report.smoke.ok;
    if (options.json === true) {
      const { cgroups: _cgroups, ...rest } = report;
      io.stdout.write(`${JSON.stringify({ ...rest, ok }, null, 2)}\n`);
      return ok ? 0 : 1;
    }
    for (const c of report.checks) {
      const mark = c.ok ? (c.relaxed === true ? 'RELAXED' : 'ok') : 'MISSING';
      io.stdout.write(`${mark.padEnd(8)} ${c.layer.padEnd(12)} ${c.detail}\n`);
      if (!c.ok || c.relaxed === true) io.stdout.write(`${''.padEnd(8)} ${''.padEnd(12)} fix: ${c.fix ?? 'see docs/security.md'}\n`);
    }
    io.stdout.write(`${(report.smoke.ok ? 'ok' : 'FAILED').padEnd(8)} ${'smoke run'.padEnd(12)} ${report.smoke.detail}\n`);
    io.stdout.write(ok ? '\ncylo can run untrusted code securely on this host.\n' : '\ncylo cannot run untrusted code securely on this host; fix the lines above.\n');
    return ok ? 0 : 1;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}
