// `cylo watch DIR`: run source files in the sandbox as they are created or changed; DIR is a
// project (every file of it in each run's workspace, the changed file the entry point; see
// src/watch/project.ts).
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { parseDuration } from '../../util/units.js';
import { cliConfig, CONFIG_OPTION_HELP } from '../cylo-options.js';
import { Watcher } from '../../watch/watcher.js';

export interface WatchCommandOptions {
  dir: string;
  lang?: string;
  json?: boolean;
  debounceMs?: number;
  /** Run every source file once at start. */
  initial?: boolean;
  /** Stops the watcher (Ctrl-C in the CLI). */
  signal?: AbortSignal;
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
  onReady?: () => void;
}

/** Resolves when the watcher has stopped (signal aborted) with nothing left running. */
export async function watchCommand(options: WatchCommandOptions, io: CommandIO): Promise<number> {
  const cylo = options.cylo ?? createCylo(options.cyloOptions);
  const watcher = new Watcher({ ...options, cylo, io });
  try {
    await watcher.start();
    await new Promise<void>((resolve) => {
      if (options.signal === undefined) return; // runs until the process ends
      if (options.signal.aborted) resolve();
      else options.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await watcher.stop();
    return 0;
  } finally {
    if (options.cylo === undefined) await cylo.close({ graceMs: 0 });
  }
}

/** Declares `cylo watch` on the program: its argument, options, help and action (which stops
 *  the watcher on SIGINT or SIGTERM). */
export function register(program: Command): Command {
  return program
    .command('watch')
    .description('run source files in the sandbox whenever they are created or changed (Ctrl-C to stop); the directory is a project: every file of it is in the workspace, the changed file is the entry point, NAME.in is NAME\'s stdin')
    .argument('<dir>', 'the project directory to watch')
    .option('-l, --lang <language>', 'run every file as this language (default: by extension)')
    .option('--debounce <duration>', 'wait this long after the last write before running: 100ms, 1s; a bare number is seconds (default 100ms)')
    .option('--json', 'print NDJSON events instead of headers, output and summaries')
    .option('--initial', 'run every source file once at start, then watch')
    .option('--config <path>', CONFIG_OPTION_HELP)
    .action(async (dir: string, o: { lang?: string; json?: boolean; debounce?: string; initial?: boolean; config?: string }) => {
      const cyloOptions = cliConfig(o.config).cyloOptions; // a bad config: refused before anything starts
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      process.once('SIGHUP', onSignal); // the terminal went away: stop and clean up as for Ctrl-C
      process.exitCode = await watchCommand(
        {
          dir,
          lang: o.lang,
          json: o.json === true,
          initial: o.initial === true,
          debounceMs: o.debounce === undefined ? undefined : parseDuration(o.debounce, '--debounce'),
          signal: stop.signal,
          cyloOptions,
        },
        processIO,
      );
    });
}
