// `cylo env build NAME --lang L (--packages P... | --requirements FILE) (--from DIR | --network)`: builds a
// named environment in a sandbox of its own (src/environments/build.ts) and stores it.
import { readFileSync } from 'node:fs';
import { createCylo, type CyloOptions } from '../../cylo.js';
import { CyloError } from '../../errors.js';
import type { CommandIO } from '../../util/io.js';

export interface EnvBuildOptions {
  name: string;
  language: string;
  packages?: string[] | undefined;
  /** A requirements.txt (python) or package.json (javascript) on the host. */
  requirementsFile?: string | undefined;
  from?: string | undefined;
  network?: boolean;
  json?: boolean;
  cyloOptions?: CyloOptions;
}

/** Builds and stores the environment; prints what it holds. 0 on success (errors throw). */
export async function envBuildCommand(options: EnvBuildOptions, io: CommandIO): Promise<number> {
  let requirements: string | undefined;
  if (options.requirementsFile !== undefined) {
    try {
      requirements = readFileSync(options.requirementsFile, 'utf8');
    } catch (error) {
      throw new CyloError('CYLO_E_USAGE', `--requirements: cannot read ${options.requirementsFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { field: '--requirements' });
    }
  }
  const cylo = createCylo(options.cyloOptions);
  try {
    const manifest = await cylo.buildEnvironment({ name: options.name, language: options.language, packages: options.packages, requirements, from: options.from, network: options.network });
    if (options.json === true) io.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    else {
      const list = manifest.packages.map((p) => `  ${p.name} ${p.version}`).join('\n');
      io.stdout.write(`built ${manifest.language} environment ${manifest.name} in ${cylo.environments.store.dir}:\n${list || '  (no packages)'}\nuse it with: cylo exec --lang ${manifest.language} --env ${manifest.name} ...\n`);
    }
    return 0;
  } finally {
    await cylo.close();
  }
}
