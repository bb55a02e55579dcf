// One execution from the page: POST /v1/execute with Accept: text/event-stream, the events
// shown as they arrive (state -> status line, stdout/stderr -> output or, for the compile stage,
// diagnostics), then the result. Stop aborts the fetch: the server sees the client go away and
// cancels the execution (every process killed, the slot freed).
import { errorText, type Api } from './api.js';
import type { FilesView, FilesLike } from './files.js';
import type { OutputView, ResultLike } from './output.js';
import { readEvents } from './sse.js';
import type { TestsPanel } from './tests-panel.js';

const STATE_TEXT: Readonly<Record<string, string>> = {
  MountRamdisk: 'Preparing the sandbox…',
  PrepareExecution: 'Preparing the sandbox…',
  Compiling: 'Compiling…',
  Processing: 'Running…',
};

interface OutputFrame {
  stage: 'compile' | 'run';
  test?: number;
  data: string;
}

function onFrame(view: OutputView, event: string, data: string): ResultLike | undefined {
  if (event === 'state') {
    const to = (JSON.parse(data) as { to: string }).to;
    const text = STATE_TEXT[to];
    if (text !== undefined) view.setStatus(text);
    return undefined;
  }
  if (event === 'stdout' || event === 'stderr') {
    const frame = JSON.parse(data) as OutputFrame;
    if (frame.stage === 'compile') view.appendDiagnostics(frame.data);
    else if (frame.test === undefined) view.append(event, frame.data);
    return undefined;
  }
  if (event === 'result') return JSON.parse(data) as ResultLike;
  if (event === 'error') {
    const { error } = JSON.parse(data) as { error: { code: string; message: string } };
    view.setStatus(`Error: ${error.message} (${error.code})`, 'error');
  }
  return undefined;
}

/** Runs `body`, showing it in `view` (and the verdicts in `tests`); resolves when it has ended,
 *  been stopped (`signal`) or failed. */
export async function runExecution(api: Api, body: unknown, view: OutputView, tests: TestsPanel, files: FilesView, signal: AbortSignal): Promise<void> {
  view.reset();
  files.reset();
  tests.clearVerdicts();
  view.setStatus('Sending…');
  try {
    const response = await api.fetch('/v1/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok || response.body === null) {
      view.setStatus(`Not run: ${await errorText(response)}`, 'error');
      return;
    }
    let result: ResultLike | undefined;
    let failed = false;
    await readEvents(response.body, ({ event, data }) => {
      failed ||= event === 'error';
      result = onFrame(view, event, data) ?? result;
    });
    if (result === undefined && !failed) view.setStatus('The connection closed before the result arrived', 'error');
    if (result !== undefined) {
      view.showResult(result);
      if (result.run !== null) files.show(result.run as FilesLike);
      if (result.tests !== undefined) tests.showVerdicts(result.tests as Parameters<TestsPanel['showVerdicts']>[0]);
    }
  } catch (error) {
    if (signal.aborted) view.setStatus('Stopped: the execution was cancelled', 'error');
    else view.setStatus(`Failed: ${(error as Error).message}`, 'error');
  }
}
