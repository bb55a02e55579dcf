// `cylo env rm NAME`: removes a built environment from the environments directory (a built-in
// one cannot be removed: uninstall its Debian packages instead).
import { createCylo, type CyloOptions } from '../../cylo.js';
import { CyloError } from '../../errors.js';
import { BUILTIN_ENVIRONMENTS } from '../../environments/catalog.js';
import type { CommandIO } from '../../util/io.js';

export interface EnvRmOptions {
  name: string;
  cyloOptions?: CyloOptions;
}

export async function envRmCommand(options: EnvRmOptions, io: CommandIO): Promise<number> {
  if (BUILTIN_ENVIRONMENTS.includes(options.name)) throw new CyloError('CYLO_E_USAGE', `NAME: ${options.name} is built in (Debian's packages); it cannot be removed`, { field: 'name' });
  const cylo = createCylo(options.cyloOptions);
  try {
    cylo.environments.store.remove(options.name);
    io.stdout.write(`removed environment ${options.name}\n`);
    return 0;
  } finally {
    await cylo.close();
  }
}
