#!/usr/bin/env node
// The `cylo` command line: a thin argv layer over the command modules in ./commands, each of
// which is a typed async function that can also be called as a library.
import { Command, CommanderError, Option } from 'commander';
import { CyloError } from '../errors.js';
import { EXIT_CYLO_FAILURE } from './exit-codes.js';
import { processIO } from '../util/io.js';
import { cyloVersion } from '../version.js';
import { parseCount, parseDuration, parseSize } from '../util/units.js';
import { execCommand } from './commands/exec.js';
import { doctorCommand } from './commands/doctor.js';
import { runtimesCommand } from './commands/runtimes.js';
import { mcpCommand } from './commands/mcp.js';
import { serveCommand } from './commands/serve.js';
import { watchCommand } from './commands/watch.js';
import { cyloOptionsFromEnvironment } from './cylo-options.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('cylo')
    .description('Run untrusted code in a secure Linux sandbox (bubblewrap, cgroups, seccomp, Landlock).')
    .version(cyloVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('exec')
    .description('run code in the sandbox; the exit code is the program\'s (124 timeout, 137 memory/output limit, 125 cylo error)')
    .argument('[code]', 'the program text (default: read from stdin, or use --file)')
    .option('-l, --lang <language>', 'language id or alias (python, js, bash, ...); inferred from --file when omitted')
    .option('-f, --file <path>', 'a source file (repeatable; the first is the entry point)', collect)
    .option('--stdin <text>', 'text for the program\'s standard input')
    .option('--stdin-file <path>', 'a file for the program\'s standard input')
    .option('-a, --arg <value>', 'an argument for the program (repeatable)', collect)
    .option('-t, --timeout <duration>', 'wall-clock limit, e.g. 500ms, 5s (default 10s)')
    .option('--cpu-time <duration>', 'CPU-time limit (default 10s)')
    .option('-m, --memory <size>', 'memory limit, e.g. 256M, 1G (default 256M)')
    .option('--pids <n>', 'process/thread limit (default 64)')
    .option('--output-limit <size>', 'bytes kept per output stream (default 1M)')
    .option('--json', 'print the whole result object as JSON instead of the program\'s output')
    .action(async (code: string | undefined, o: Record<string, string | string[] | boolean | undefined>) => {
      process.exitCode = await execCommand(
        {
          lang: o.lang as string | undefined,
          code,
          files: o.file as string[] | undefined,
          stdin: o.stdin as string | undefined,
          stdinFile: o.stdinFile as string | undefined,
          args: o.arg as string[] | undefined,
          timeoutMs: o.timeout === undefined ? undefined : parseDuration(o.timeout as string, '--timeout'),
          cpuTimeMs: o.cpuTime === undefined ? undefined : parseDuration(o.cpuTime as string, '--cpu-time'),
          memoryBytes: o.memory === undefined ? undefined : parseSize(o.memory as string, '--memory'),
          pids: o.pids === undefined ? undefined : parseCount(o.pids as string, '--pids'),
          outputBytes: o.outputLimit === undefined ? undefined : parseSize(o.outputLimit as string, '--output-limit'),
          json: o.json === true,
          cyloOptions: cyloOptionsFromEnvironment(),
        },
        processIO,
      );
    });

  program
    .command('doctor')
    .description('check every isolation layer on this host and say how to fix what is missing')
    .option('--json', 'print the report as JSON')
    .option('--clean', 'kill and remove what crashed cylo processes left behind (cgroups, sandbox processes)')
    .action(async (o: { json?: boolean; clean?: boolean }) => {
      process.exitCode = await doctorCommand({ json: o.json === true, clean: o.clean === true, cyloOptions: cyloOptionsFromEnvironment() }, processIO);
    });

  program
    .command('runtimes')
    .description('list the languages, their versions and aliases, and whether their toolchain is installed')
    .option('--json', 'print the list as JSON')
    .action(async (o: { json?: boolean }) => {
      process.exitCode = await runtimesCommand({ json: o.json === true, cyloOptions: cyloOptionsFromEnvironment() }, processIO);
    });

  program
    .command('watch')
    .description('run source files in the sandbox whenever they are created or changed (Ctrl-C to stop)')
    .argument('<dir>', 'the directory tree to watch')
    .option('-l, --lang <language>', 'run every file as this language (default: by extension)')
    .option('--debounce <duration>', 'wait this long after the last write before running (default 100ms)')
    .option('--json', 'print NDJSON events instead of headers, output and summaries')
    .action(async (dir: string, o: { lang?: string; json?: boolean; debounce?: string }) => {
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      process.exitCode = await watchCommand(
        {
          dir,
          lang: o.lang,
          json: o.json === true,
          debounceMs: o.debounce === undefined ? undefined : parseDuration(o.debounce, '--debounce'),
          signal: stop.signal,
          cyloOptions: cyloOptionsFromEnvironment(),
        },
        processIO,
      );
    });

  program
    .command('mcp')
    .description('serve the Model Context Protocol on stdin/stdout for AI agents (tools run_code, list_runtimes); logs go to stderr')
    .action(async () => {
      process.exitCode = await mcpCommand({ cyloOptions: cyloOptionsFromEnvironment() }, processIO);
    });

  program
    .command('serve')
    .description('run cylo as an HTTP service: native API (/v1), Piston v2 API (/api/v2), /healthz, /metrics, /openapi.json (see docs/http.md)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; CYLO_HOST); a non-loopback address needs a token')
    .option('--port <port>', 'port (default 2000, 0 picks a free one; CYLO_PORT)')
    .option('--config <path>', 'JSON config file (CYLO_CONFIG); flags > environment > file')
    .option('--token-file <path>', 'file holding the bearer token clients must send (or CYLO_TOKEN)')
    .option('--insecure-no-auth', 'allow a non-loopback --host without a token (something in front must authenticate)')
    .option('--concurrency <n>', 'executions at once (default: the number of cores; CYLO_CONCURRENCY)')
    .option('--queue-limit <n>', 'executions waiting before 503 (default 16 x concurrency; CYLO_QUEUE_LIMIT)')
    .option('--grace <duration>', 'on SIGTERM/SIGINT, time running executions get to finish (default 10s; CYLO_GRACE)')
    .option('--body-limit <size>', 'largest request body (default 16M; CYLO_BODY_LIMIT)')
    .option('--max-connections <n>', 'connections open at once (default 256; CYLO_MAX_CONNECTIONS)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info; CYLO_LOG_LEVEL)')
    .option('--log-format <format>', 'auto (pretty on a terminal, else JSON), json or pretty (CYLO_LOG_FORMAT)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { config, ...flags } = o;
      process.exitCode = await serveCommand({ flags, configPath: config as string | undefined }, processIO);
    });

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
