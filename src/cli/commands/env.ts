// `cylo env build|list|rm`: the command-line declaration of the environments commands
// (docs/environments.md); each subcommand's work is in its own module (env-build.ts,
// env-list.ts, env-rm.ts), loaded when it runs.
import type { Command } from 'commander';
import { processIO } from '../../util/io.js';
import { cliConfig, CONFIG_OPTION_HELP } from '../cylo-options.js';


/** Library options for a subcommand: the config's, with --environments-dir over them. */
function cyloOptionsOf(o: { config?: string; environmentsDir?: string }) {
  const options = cliConfig(o.config).cyloOptions;
  return o.environmentsDir === undefined ? options : { ...options, environmentsDir: o.environmentsDir };
}

/** Declares `cylo env` and its subcommands on the program. */
export function register(program: Command): Command {
  const env = program.command('env').description('named environments: read-only package layers requests select with environment (build, list, rm)');
  const shared = (c: Command): Command => c.option('--environments-dir <dir>', 'the environments directory (default: $CYLO_ENVIRONMENTS_DIR, else /var/lib/cylo/environments)').option('--config <path>', CONFIG_OPTION_HELP);
  shared(
    env
      .command('build <name>')
      .description('build an environment in a sandbox of its own: pip/npm install from a local directory of wheels/sdists or npm tarballs (no network), or with --network from PyPI / the npm registry')
      .requiredOption('--lang <language>', 'python or javascript')
      .option('--packages <spec...>', 'packages to install (pip: NAME or NAME==VERSION; npm: NAME or a tarball file name in --from)')
      .option('--requirements <file>', 'a requirements.txt (python) or package.json (javascript) instead of --packages')
      .option('--from <dir>', 'the directory of wheels/sdists (pip --find-links) or npm tarballs, bound read-only into the build (required without --network)')
      .option('--network', 'let the build download from PyPI / registry.npmjs.org (HTTP/HTTPS only, through slirp4netns in the build sandbox\'s own network namespace; never the host\'s loopback, link-local or private addresses; needs slirp4netns and nftables)')
      .option('--json', 'print the manifest as JSON'),
  ).action(async (name: string, o: { lang: string; packages?: string[]; requirements?: string; from?: string; network?: boolean; json?: boolean; config?: string; environmentsDir?: string }) => {
    const { envBuildCommand } = await import('./env-build.js');
    process.exitCode = await envBuildCommand({ name, language: o.lang, packages: o.packages, requirementsFile: o.requirements, from: o.from, network: o.network === true, json: o.json === true, cyloOptions: cyloOptionsOf(o) }, processIO);
  });
  shared(env.command('list').description('list the environments (built-in and built) with their packages and versions').option('--json', 'print them as JSON')).action(async (o: { json?: boolean; config?: string; environmentsDir?: string }) => {
    const { envListCommand } = await import('./env-list.js');
    process.exitCode = await envListCommand({ json: o.json === true, cyloOptions: cyloOptionsOf(o) }, processIO);
  });
  shared(env.command('rm <name>').description('remove a built environment')).action(async (name: string, o: { config?: string; environmentsDir?: string }) => {
    const { envRmCommand } = await import('./env-rm.js');
    process.exitCode = await envRmCommand({ name, cyloOptions: cyloOptionsOf(o) }, processIO);
  });
  return env;
}
