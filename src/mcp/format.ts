// The text block a model reads after run_code: status, exit code, time, memory, then stdout and
// stderr. Very long output is shortened in the text (head and tail kept, since a traceback is at
// the end) and the text says so; structuredContent always has the full result.
import type { ExecutionResult, Stage } from '../api/result.js';
import { filesText } from './output-content.js';

/** Characters of each stream kept in the text block before it is shortened. */
export const DEFAULT_MAX_STREAM_CHARS = 20_000;

export interface FormatOptions {
  maxStreamChars?: number;
  /** The wall-clock limit the run had, to say it when the run timed out. */
  timeoutMs?: number;
}

function mib(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** Shortens `text` to about `max` characters, keeping the head and the tail. */
export function shorten(text: string, max: number, what: string): string {
  if (text.length <= max) return text;
  const head = Math.floor(max * 0.4);
  const tail = max - head;
  const omitted = text.length - head - tail;
  return `${text.slice(0, head)}\n[... ${omitted} characters of ${what} omitted here; the full text is in structuredContent ...]\n${text.slice(text.length - tail)}`;
}

function streamBlock(label: string, text: string, truncatedByCylo: boolean, max: number): string {
  if (text.length === 0 && !truncatedByCylo) return `--- ${label}: (empty) ---`;
  let body = shorten(text, max, label);
  if (!body.endsWith('\n')) body += '\n';
  const note = truncatedByCylo ? `[${label} reached the output limit and was cut there; the program was stopped]\n` : '';
  return `--- ${label} ---\n${body}${note}--- end of ${label} ---`;
}

function exitText(stage: Stage): string {
  if (stage.signal !== null) return `none (killed by ${stage.signal})`;
  return `${stage.exitCode ?? 'none'}`;
}

function statusText(result: ExecutionResult, timeoutMs: number | undefined): string {
  const run = result.run;
  switch (result.status) {
    case 'ok':
      return 'the program ran and exited with code 0';
    case 'compile_error':
      return 'the program did not compile; fix the errors shown below';
    case 'runtime_error':
      if (run?.signal !== null && run?.signal !== undefined) return `the program was killed by ${run.signal}`;
      return `the program failed with exit code ${run?.exitCode ?? 'unknown'}`;
    case 'timeout':
      return `the program ran past its time limit${timeoutMs === undefined ? '' : ` (${ms(timeoutMs)}, timeout_ms)`} and was stopped`;
    case 'memory_limit':
      return 'the program used more memory than allowed and was killed';
    case 'output_limit':
      return 'the program printed more than the output limit and was stopped';
    case 'internal_error':
      return "cylo failed to run the program (not the program's fault)";
  }
}

/** The text summary of a cylo result. */
export function formatResult(result: ExecutionResult, options: FormatOptions = {}): string {
  const max = options.maxStreamChars ?? DEFAULT_MAX_STREAM_CHARS;
  const lines: string[] = [`status: ${result.status}: ${statusText(result, options.timeoutMs)}`];
  const stage = result.run ?? result.compile;
  if (stage !== null) {
    lines.push(`${result.run === null ? 'compiler exit code' : 'exit code'}: ${exitText(stage)}`);
    lines.push(`time: ${ms(stage.wallMs)} wall clock, ${ms(stage.cpuMs)} CPU`);
    lines.push(`memory: ${mib(stage.memoryBytes)} peak`);
    if (stage.message !== null && stage.message !== '') lines.push(`cylo: ${stage.message}`);
    if (stage.limit !== null) lines.push(`limit: ${stage.limit} (the limit that ended or broke the ${result.run === null ? 'compile' : 'run'})`);
  }
  lines.push(`runtime: ${result.language} ${result.version} (execution ${result.id})`);
  lines.push('');
  if (result.compile !== null && (result.run === null || result.status === 'compile_error' || result.compile.stderr !== '')) {
    const c = result.compile;
    if (c.stdout !== '' || c.stdoutTruncated) lines.push(streamBlock('compiler stdout', c.stdout, c.stdoutTruncated, max));
    lines.push(streamBlock('compiler stderr', c.stderr, c.stderrTruncated, max));
  }
  if (result.run !== null) {
    const r = result.run;
    lines.push(streamBlock('stdout', r.stdout, r.stdoutTruncated, max));
    lines.push(streamBlock('stderr', r.stderr, r.stderrTruncated, max));
    lines.push(...filesText(r));
  }
  return lines.join('\n');
}
