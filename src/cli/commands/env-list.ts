// `cylo env list`: the environments (built-in datasci, and those built into the environments
// directory) with their language, packages and versions.
import { createCylo, type CyloOptions } from '../../cylo.js';
import type { CommandIO } from '../../util/io.js';

export interface EnvListOptions {
  json?: boolean;
  cyloOptions?: CyloOptions;
}

export async function envListCommand(options: EnvListOptions, io: CommandIO): Promise<number> {
  const cylo = createCylo(options.cyloOptions);
  try {
    const list = cylo.environments.list();
    if (options.json === true) {
      io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) io.stdout.write(`no environments (build one with cylo env build; directory ${cylo.environments.store.dir})\n`);
    for (const e of list) {
      const how = e.builtin ? 'built-in, from Debian packages' : `built ${e.created ?? ''} with ${e.build.tool}`;
      io.stdout.write(`${e.name} (${e.language}; ${how})\n${e.packages.map((p) => `  ${p.name} ${p.version}`).join('\n') || '  (no packages)'}\n`);
    }
    return 0;
  } finally {
    await cylo.close();
  }
}
