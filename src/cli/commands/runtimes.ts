// `cylo runtimes`: every language with its version, aliases and whether its toolchain is here.
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { cliConfig, CONFIG_OPTION_HELP } from '../cylo-options.js';

export interface RuntimesOptions {
  json?: boolean;
  /** An operator's runtimes file to list with the built-ins (default: CYLO_RUNTIMES_FILE, then
   *  /etc/cylo/runtimes.json; see docs/runtimes.md). */
  runtimesFile?: string;
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
}

export async function runtimesCommand(options: RuntimesOptions, io: CommandIO): Promise<number> {
  const cylo = options.cylo ?? createCylo(options.runtimesFile === undefined ? options.cyloOptions : { ...options.cyloOptions, runtimesFile: options.runtimesFile });
  try {
    const list = await cylo.runtimes();
    if (options.json === true) {
      io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    const rows = list.map((r) => [r.language, r.version ?? '-', r.aliases.join(', ') || '-', r.available ? 'available' : `missing: ${r.problem ?? ''}`]);
    const header = ['LANGUAGE', 'VERSION', 'ALIASES', 'STATUS'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const row of [header, ...rows]) {
      io.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}\n`);
    }
    const envs = list.flatMap((r) => r.environments.map((e) => `  ${r.language} ${e.name}${e.builtin ? ' (built-in)' : ''}: ${e.packages.map((p) => `${p.name} ${p.version}`).join(', ') || 'no packages'}`));
    if (envs.length > 0) io.stdout.write(`\nENVIRONMENTS (request field environment, cylo exec --env)\n${envs.join('\n')}\n`);
    return 0;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}

/** Declares `cylo runtimes` on the program: its options, help and action. */
export function register(program: Command): Command {
  return program
    .command('runtimes')
    .description('list the languages, their versions and aliases, and whether their toolchain is installed')
    .option('--json', 'print the list as JSON')
    .option('--config <path>', CONFIG_OPTION_HELP)
    .action(async (o: { json?: boolean; config?: string }) => {
      process.exitCode = await runtimesCommand({ json: o.json === true, cyloOptions: cliConfig(o.config).cyloOptions }, processIO);
    });
}
