// The library options every CLI command runs with: the shared configuration (the config file
// given by --config, else $CYLO_CONFIG, else /etc/cylo/config.json when present; the CYLO_*
// variables over it), see docs/configuration.md and src/config/load.ts. Light: cylo exec loads it.
import type { CyloOptions } from '../cylo.js';
import { cyloOptionsFromConfig, loadConfig, type LoadedConfig } from '../config/load.js';
import type { LimitName } from '../api/limits.js';

/** The help text of every command's --config. */
export const CONFIG_OPTION_HELP = 'JSON config file: limits, maxima, languages, relax... (default: $CYLO_CONFIG, else /etc/cylo/config.json if present; docs/configuration.md)';

export interface CliConfig {
  /** Options for createCylo (limits, maxima, bounds, languages, relax, uid range...). */
  cyloOptions: CyloOptions;
  /** Where the maxima come from, as the user spells it (`config file /x.json: maxLimits`); the
   *  default maxima when undefined. For messages that say where to raise a maximum. */
  maxLimitsOrigin: string | undefined;
  config: LoadedConfig;
}

/** Reads the configuration for a CLI command; throws CYLO_E_CONFIG naming the file and key. */
export function cliConfig(configPath?: string, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const config = loadConfig({ ...(configPath === undefined ? {} : { configPath }), env });
  return { cyloOptions: cyloOptionsFromConfig(config), maxLimitsOrigin: config.origin('maxLimits'), config };
}

/** Where a refused limit's maximum can be raised, for a message: `set by config file /x.json:
 *  maxLimits.timeoutMs`, or, for a built-in maximum, the key to set in a config file. */
export function maximumHint(limit: LimitName, cli: Pick<CliConfig, 'cyloOptions' | 'maxLimitsOrigin'>): string {
  if (cli.maxLimitsOrigin === undefined || cli.cyloOptions.maxLimits?.[limit] === undefined) {
    return `the default; raise it with maxLimits.${limit} in a config file, see docs/configuration.md`;
  }
  return `set by ${cli.maxLimitsOrigin}.${limit}`;
}
