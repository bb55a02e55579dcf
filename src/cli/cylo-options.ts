// Library options the CLI takes from the environment (documented in docs/http.md, "Configuration").
import type { CyloOptions } from '../cylo.js';
import { RELAXABLE_LAYERS, type RelaxableLayer } from '../sandbox/host-check.js';
import { CyloError } from '../errors.js';

export function cyloOptionsFromEnvironment(env: NodeJS.ProcessEnv = process.env): CyloOptions {
  const options: CyloOptions = {};
  const relax = env.CYLO_RELAX?.split(',').map((s) => s.trim()).filter(Boolean);
  if (relax !== undefined && relax.length > 0) {
    for (const r of relax) {
      if (!RELAXABLE_LAYERS.includes(r as RelaxableLayer)) throw new CyloError('CYLO_E_CONFIG', `CYLO_RELAX: "${r}" cannot be relaxed; only ${RELAXABLE_LAYERS.join(', ')}`, { field: 'CYLO_RELAX' });
    }
    options.relax = relax as RelaxableLayer[];
  }
  // The sandbox uid range, as `cylo serve` takes it: give each cylo process on a host its own.
  for (const [name, key] of [['CYLO_UID_BASE', 'uidBase'], ['CYLO_UID_COUNT', 'uidCount']] as const) {
    const text = env[name]?.trim();
    if (text === undefined || text === '') continue;
    if (!/^\d+$/.test(text)) throw new CyloError('CYLO_E_CONFIG', `${name}: expected a whole number (got ${JSON.stringify(text)})`, { field: name });
    options[key] = Number(text);
  }
  return options;
}
