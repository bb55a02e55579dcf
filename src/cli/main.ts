#!/usr/bin/env node
// The `cylo` command line: a thin argv layer over the command modules in ./commands, each of
// which is a typed async function that can also be called as a library, and declares its own
// command (arguments, options, help, action) in its `register`; this file only assembles them.
import { Command, CommanderError, Option } from 'commander';
import { CyloError } from '../errors.js';
import { EXIT_CYLO_FAILURE } from './exit-codes.js';
import { cyloVersion } from '../version.js';
import * as exec from './commands/exec.js';
import * as doctor from './commands/doctor.js';
import * as runtimes from './commands/runtimes.js';
import * as mcp from './commands/mcp.js';
import * as serve from './commands/serve.js';
import * as watch from './commands/watch.js';

/** The commands in the order `cylo --help` lists them. */
const COMMANDS: ReadonlyArray<{ register: (program: Command) => Command }> = [exec, doctor, runtimes, watch, mcp, serve];

export function buildProgram(): Command {
  const program = new Command('cylo')
    .description('Run untrusted code in a secure Linux sandbox (bubblewrap, cgroups, seccomp, Landlock).')
    .version(cyloVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // program.command() (inside each register) gives each command the program's settings
  // (exitOverride, showHelpAfterError), which addCommand() would not copy.
  for (const command of COMMANDS) command.register(program);
  program.addOption(new Option('--debug', 'print stack traces of internal errors').hideHelp());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit 0; usage mistakes exit 125 (commander already printed the message)
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_CYLO_FAILURE;
      return;
    }
    if (error instanceof CyloError) {
      process.stderr.write(`cylo: ${error.message}\n`);
    } else {
      const debug = process.env.CYLO_DEBUG === '1' || argv.includes('--debug');
      process.stderr.write(`cylo: internal error: ${error instanceof Error ? error.message : String(error)}${debug ? '' : ' (set CYLO_DEBUG=1 for details)'}\n`);
      if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    }
    process.exitCode = EXIT_CYLO_FAILURE;
  }
}

await main();
