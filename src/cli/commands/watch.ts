// `cylo watch DIR`: run source files in the sandbox as they are created or changed.
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import type { CommandIO } from '../../util/io.js';
import { Watcher } from '../../watch/watcher.js';

export interface WatchCommandOptions {
  dir: string;
  lang?: string;
  json?: boolean;
  debounceMs?: number;
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
