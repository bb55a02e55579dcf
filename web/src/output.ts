// What the page shows of an execution: live output (stdout and stderr told apart by a visible
// "stderr" tag as well as by colour, so neither colour alone nor sight is needed), compile
// diagnostics apart from the program's output, then the status and the figures of the result.

type Stream = 'stdout' | 'stderr';

interface StageLike {
  status: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  cpuMs: number;
  memoryBytes: number;
  message: string | null;
  limit: string | null;
  cached?: boolean;
}

export interface ResultLike {
  status: string;
  compile: StageLike | null;
  run: StageLike | null;
  tests?: unknown[];
  summary?: { total: number; passed: number; verdict: string };
}

const STATUS_TEXT: Readonly<Record<string, string>> = {
  ok: 'Finished',
  runtime_error: 'Runtime error',
  compile_error: 'Compile error',
  timeout: 'Time limit exceeded',
  memory_limit: 'Memory limit exceeded',
  output_limit: 'Output limit exceeded',
  internal_error: 'Internal error',
};

const LIMIT_TEXT: Readonly<Record<string, string>> = {
  wall: 'time limit (wall clock)',
  cpu: 'CPU time limit',
  memory: 'memory limit',
  output: 'output limit',
  pids: 'process limit',
  workspace: 'workspace size',
  file_size: 'file size limit',
};

function el(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found;
}

export class OutputView {
  private readonly output = el('output');
  private readonly diagnostics = el('diagnostics');
  private readonly diagnosticsSection = el('diagnostics-section');
  private readonly status = el('status');
  private readonly facts = el('facts');
  private current: { stream: Stream; node: HTMLElement } | undefined;

  /** Empties everything for a new run. */
  reset(): void {
    this.output.replaceChildren();
    this.diagnostics.textContent = '';
    this.diagnosticsSection.hidden = true;
    this.facts.replaceChildren();
    this.current = undefined;
  }

  /** Sets the status line (announced: it is an aria-live region). */
  setStatus(text: string, kind: 'busy' | 'ok' | 'error' = 'busy'): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  /** Appends a chunk of the program's output; a new stream run starts with its tag. */
  append(stream: Stream, data: string): void {
    if (this.current?.stream !== stream) {
      const node = document.createElement('span');
      node.className = `chunk ${stream}`;
      node.dataset.stream = stream;
      if (stream === 'stderr') {
        const tag = document.createElement('span');
        tag.className = 'tag';
        tag.textContent = 'stderr';
        node.append(tag, ' ');
      }
      this.output.append(node);
      this.current = { stream, node };
    }
    this.current.node.append(data);
  }

  /** Appends compiler output to the diagnostics panel (shown once it has text). */
  appendDiagnostics(data: string): void {
    this.diagnosticsSection.hidden = false;
    this.diagnostics.append(data);
  }

  /** Shows the result: status, then the figures of the run stage (or the compile stage). */
  showResult(result: ResultLike): void {
    const stage = result.run ?? result.compile;
    if (result.compile !== null && result.compile.status !== 'ok' && this.diagnostics.textContent === '') {
      this.appendDiagnostics(result.compile.stderr + result.compile.stdout);
    }
    let text = STATUS_TEXT[result.status] ?? result.status;
    if (result.summary !== undefined) text = `Tests: ${result.summary.passed}/${result.summary.total} passed (${result.summary.verdict.replaceAll('_', ' ')})`;
    if (stage?.limit != null) text += `: ${LIMIT_TEXT[stage.limit] ?? stage.limit}`;
    this.setStatus(text, result.status === 'ok' && (result.summary === undefined || result.summary.verdict === 'accepted') ? 'ok' : 'error');
    if (stage === null) return;
    const rows: Array<[string, string]> = [];
    if (stage.signal !== null) rows.push(['Signal', stage.signal]);
    else rows.push(['Exit code', String(stage.exitCode)]);
    rows.push(['Wall time', `${stage.wallMs.toFixed(0)} ms`], ['CPU time', `${stage.cpuMs.toFixed(0)} ms`], ['Peak memory', `${(stage.memoryBytes / 1048576).toFixed(1)} MiB`]);
    rows.push(['Limit hit', stage.limit === null ? 'none' : (LIMIT_TEXT[stage.limit] ?? stage.limit)]);
    if (stage.message !== null) rows.push(['Message', stage.message]);
    if (result.run === null && result.compile !== null) rows.unshift(['Stage', 'compile']);
    this.facts.replaceChildren(
      ...rows.flatMap(([name, value]) => {
        const dt = document.createElement('dt');
        dt.textContent = name;
        const dd = document.createElement('dd');
        dd.textContent = value;
        dd.dataset.fact = name;
        return [dt, dd];
      }),
    );
  }
}
