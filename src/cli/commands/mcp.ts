// `cylo mcp`: serve the Model Context Protocol on stdin/stdout for an AI agent's client (Claude
// Desktop, an IDE, ...). stdout carries only protocol messages; logs go to stderr. It runs until
// the client closes stdin, or SIGINT/SIGTERM, then waits (briefly) for running executions.
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import { serveStdio } from '../../mcp/stdio.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { cliConfig, CONFIG_OPTION_HELP } from '../cylo-options.js';

export interface McpOptions {
  /** Characters of each output stream kept in run_code's text block. */
  maxStreamChars?: number;
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
  /** The environments MCP clients may use (config mcpEnvironments); undefined: all. */
  environments?: string[];
}

/** Grace given to running executions when the client goes away. */
const CLOSE_GRACE_MS = 2000;

export async function mcpCommand(options: McpOptions, io: CommandIO): Promise<number> {
  const cylo = options.cylo ?? createCylo(options.cyloOptions);
  const log = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal); // the terminal went away: stop and clean up as for Ctrl-C
  try {
    // A host that cannot run sandboxes still gets a server (its tools then say why they cannot
    // run), but the operator sees the reason in the client's log of this stderr at once.
    const report = await cylo.doctor().catch((error: unknown) => ({ checks: [], smoke: { ok: false, detail: (error as Error).message } }));
    const failed = report.checks.find((c) => !c.ok);
    if (failed !== undefined) log(`cylo mcp: warning: the sandbox cannot run here: ${failed.layer}: ${failed.detail}${failed.fix === undefined ? '' : ` (fix: ${failed.fix})`}; run "cylo doctor"`);
    else if (!report.smoke.ok) log(`cylo mcp: warning: a test execution failed: ${report.smoke.detail}; run "cylo doctor"`);
    const serving = serveStdio({ cylo, stdin: io.stdin, stdout: io.stdout, log, ...(options.environments === undefined ? {} : { environments: options.environments }), ...(options.maxStreamChars === undefined ? {} : { maxStreamChars: options.maxStreamChars }) });
    const stopped = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([serving, stopped]);
    // Stop reading stdin so the process can exit (after a signal it is still open).
    (io.stdin as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    if (options.cylo === undefined) await cylo.close({ graceMs: CLOSE_GRACE_MS });
  }
}

/** Declares `cylo mcp` on the program: its options, help and action. */
export function register(program: Command): Command {
  return program
    .command('mcp')
    .description('serve the Model Context Protocol on stdin/stdout for AI agents (tools run_code, list_runtimes); logs go to stderr')
    .option('--config <path>', CONFIG_OPTION_HELP)
    .action(async (o: { config?: string }) => {
      const cli = cliConfig(o.config);
      const environments = cli.config.values.mcpEnvironments;
      process.exitCode = await mcpCommand({ cyloOptions: cli.cyloOptions, ...(environments === undefined ? {} : { environments }) }, processIO);
    });
}
