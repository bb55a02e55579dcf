// Exit codes of `cylo exec`, following the conventions of timeout(1) and shells.
import type { ExecutionResult } from '../api/result.js';
import { signalNumber } from '../util/signals.js';

export const EXIT_TIMEOUT = 124; // as timeout(1)
export const EXIT_CYLO_FAILURE = 125; // cylo itself failed (usage, unknown language, sandbox unavailable)
export const EXIT_KILLED = 137; // 128 + SIGKILL: memory or output limit
export const EXIT_COMPILE_ERROR = 1;

export function exitCodeFor(result: ExecutionResult): number {
  switch (result.status) {
    case 'ok':
      return 0;
    case 'timeout':
      return EXIT_TIMEOUT;
    case 'memory_limit':
    case 'output_limit':
      return EXIT_KILLED;
    case 'compile_error':
      return EXIT_COMPILE_ERROR;
    case 'internal_error':
      return EXIT_CYLO_FAILURE;
    case 'runtime_error': {
      const run = result.run;
      if (run?.exitCode !== null && run?.exitCode !== undefined) return run.exitCode;
      const signum = run?.signal ? signalNumber(run.signal) : undefined;
      return 128 + (signum ?? 9);
    }
  }
}
