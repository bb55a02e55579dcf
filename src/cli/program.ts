// The `cylo` command line: a thin argv layer over the command modules in ./commands, each of
// which is a typed async function that can also be called as a library, and declares its own
// command (arguments, options, help, action) in its `register`; this file only assembles them.
// Fast start: only the module of the command asked for is loaded (`cylo exec` never loads the
// HTTP server or the MCP SDK); `cylo --help`, a bare `cylo` or an unknown command load all.
import { Command, CommanderError, Option, type OutputConfiguration } from 'commander';
import { CyloError } from '../errors.js';
import { EXIT_CYLO_FAILURE } from './exit-codes.js';
import { cyloVersion } from '../version.js';
import { processContext, type CliContext } from './cli-context.js';

/** A command module: `register` declares the command; those that can run in the resident (exec)
 *  take the context their action runs in (streams, signals, exit code). */
type CommandModule = { register: (program: Command, context?: CliContext) => Command };

/** The commands in the order `cylo --help` lists them, each loaded only when needed. */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<CommandModule>]> = [
  ['exec', () => import('./commands/exec.js')],
  ['doctor', () => import('./commands/doctor.js')],
  ['runtimes', () => import('./commands/runtimes.js')],
  ['env', () => import('./commands/env.js')],
  ['watch', () => import('./commands/watch.js')],
  ['mcp', () => import('./commands/mcp.js')],
  ['serve', () => import('./commands/serve.js')],
  ['worker', () => import('./commands/worker.js')],
  ['daemon', () => import('./commands/daemon.js')],
];

/** The command the arguments name: the first one that is not an option (the program's own
 *  options take no value), when it is a known command; undefined otherwise. */
export function commandNamed(argv: readonly string[]): string | undefined {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return COMMANDS.some(([name]) => name === first) ? first : undefined;
}

/** Commands that validate a few requests and exit: zod's JIT costs more than it saves there
 *  (./zod-jitless.ts). */
const ONE_SHOT = new Set(['exec', 'doctor', 'runtimes', 'env']);

/** The modules to register: the named command's alone, or every one (help, usage errors). */
async function commandModules(argv: readonly string[]): Promise<CommandModule[]> {
  const name = commandNamed(argv);
  if (name !== undefined && ONE_SHOT.has(name)) await import('./zod-jitless.js');
  return Promise.all(COMMANDS.filter(([n]) => name === undefined || n === name).map(([, load]) => load()));
}

/** commander writes help, version and usage errors to the context's streams. */
function outputTo(context: CliContext): OutputConfiguration {
  const write = (stream: NodeJS.WritableStream) => (text: string) => void stream.write(text);
  const shape = context.output;
  return {
    writeOut: write(context.io.stdout),
    writeErr: write(context.io.stderr),
    ...(shape === undefined ? {} : { getOutHelpWidth: () => shape.helpWidth, getErrHelpWidth: () => shape.helpWidth, getOutHasColors: () => shape.colors, getErrHasColors: () => shape.colors }),
  };
}

export async function buildProgram(argv: readonly string[] = [], context: CliContext = processContext(argv)): Promise<Command> {
  const modules = await commandModules(argv);
  const program = new Command('cylo')
    .description('Run untrusted code in a secure Linux sandbox (bubblewrap, cgroups, seccomp, Landlock).')
    .version(cyloVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput(outputTo(context))
    .exitOverride();
  // program.command() (inside each register) gives each command the program's settings
  // (exitOverride, showHelpAfterError, output), which addCommand() would not copy.
  for (const command of modules) command.register(program, context);
  program.addOption(new Option('--debug', 'print stack traces of internal errors').hideHelp());
  return program;
}

/** Runs the command line `argv` (`process.argv` shape) in `context` (this process by default;
 *  the resident runs a client's `cylo exec` with its own). The exit code goes to
 *  context.setExitCode: the command's, 0 for help and version, 125 for usage and cylo errors. */
export async function main(argv: readonly string[] = process.argv, context: CliContext = processContext(argv)): Promise<void> {
  const stderr = context.io.stderr;
  try {
    const program = await buildProgram(argv, context);
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit 0; usage mistakes exit 125 (commander already printed the message),
      // a bare `cylo` too: the usage (the command list) is on stderr, then one line saying what
      // is missing. 125, not git's 1: `cylo exec` passes the program's own status through, so
      // cylo's usage errors keep the one status no program's exit is mistaken for (README).
      if (error.code === 'commander.help' && error.exitCode !== 0 && argv.slice(2).every((a) => a.startsWith('-'))) {
        stderr.write('cylo: no command given; run one of the commands above (e.g. cylo exec hello.py, or cylo doctor to check this host)\n');
      }
      // `cylo help NAME` with a NAME that is no command: commander says nothing of it.
      const asked = argv[2] === 'help' ? argv[3] : undefined;
      if (error.exitCode !== 0 && asked !== undefined && !COMMANDS.some(([n]) => n === asked)) {
        stderr.write(`cylo: unknown command '${asked}'; the commands are ${COMMANDS.map(([n]) => n).join(', ')} (cylo --help describes them)\n`);
      }
      context.setExitCode(error.exitCode === 0 ? 0 : EXIT_CYLO_FAILURE);
      return;
    }
    if (error instanceof CyloError) {
      stderr.write(`cylo: ${error.message}\n`);
    } else {
      const debug = process.env.CYLO_DEBUG === '1' || argv.includes('--debug');
      stderr.write(`cylo: internal error: ${error instanceof Error ? error.message : String(error)}${debug ? '' : ' (set CYLO_DEBUG=1 for details)'}\n`);
      if (debug && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
    }
    context.setExitCode(EXIT_CYLO_FAILURE);
  }
}
