// The playground page: wires the controls (web/index.html) to the editor, the API client, the
// runner and the share links. web/ never imports src/: it is a client of the HTTP API.
import './styles.css';
import { Api } from './api.js';
import { createEditor, type Editor } from './editor.js';
import { FilesView } from './files.js';
import { helloWorld } from './languages.js';
import { OutputView } from './output.js';
import { runExecution } from './run.js';
import { decodeShare, encodeShare, type Shared } from './share.js';
import { TestsPanel } from './tests-panel.js';
import { askToken } from './token-dialog.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
};

const language = $<HTMLSelectElement>('language');
const stdin = $<HTMLTextAreaElement>('stdin');
const args = $<HTMLInputElement>('args');
const timeout = $<HTMLInputElement>('timeout');
const memory = $<HTMLInputElement>('memory');
const outputs = $<HTMLInputElement>('outputs');
const runButton = $<HTMLButtonElement>('run');
const stopButton = $<HTMLButtonElement>('stop');
const view = new OutputView();
const tests = new TestsPanel();
const files = new FilesView();
const api = new Api(askToken);
let running: AbortController | undefined;
let editor: Editor;

/** Splits an arguments line as a shell would for words and "double" or 'single' quotes. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) out.push(m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? m[3] ?? '');
  return out;
}

function request(): Record<string, unknown> {
  const body: Record<string, unknown> = { language: language.value, code: editor.text(), stdin: stdin.value, args: splitArgs(args.value) };
  const limits: Record<string, number> = {};
  if (timeout.valueAsNumber > 0) limits.timeoutMs = Math.round(timeout.valueAsNumber);
  if (memory.valueAsNumber > 0) limits.memoryBytes = Math.round(memory.valueAsNumber * 1048576);
  body.limits = limits;
  const cases = tests.cases();
  if (cases.length > 0) body.tests = cases;
  const patterns = outputs.value.split(/[\s,]+/).filter((p) => p !== '');
  if (patterns.length > 0) body.outputs = patterns;
  return body;
}

async function run(): Promise<void> {
  if (running !== undefined || language.value === '') return;
  running = new AbortController();
  runButton.disabled = true;
  stopButton.disabled = false;
  try {
    await runExecution(api, request(), view, tests, files, running.signal);
  } finally {
    running = undefined;
    runButton.disabled = false;
    stopButton.disabled = true;
  }
}

function pickLanguage(id: string, text?: string): void {
  language.value = id;
  void editor.setLanguage(id);
  editor.setText(text ?? helloWorld(id));
}

async function share(): Promise<void> {
  const shared: Shared = { l: language.value, c: editor.text(), i: stdin.value, a: args.value, t: timeout.valueAsNumber, m: memory.valueAsNumber, o: outputs.value };
  const cases = tests.cases();
  if (cases.length > 0) shared.x = cases.map((c) => [c.stdin, c.expectedOutput]);
  const url = `${location.origin}${location.pathname}${await encodeShare(shared)}`;
  history.replaceState(null, '', url);
  const field = $<HTMLInputElement>('share-url');
  field.value = url;
  field.hidden = false;
  field.select();
  const copied = await navigator.clipboard?.writeText(url).then(() => true, () => false);
  $('share-status').textContent = copied === true ? 'Link copied to the clipboard.' : 'Link ready: copy it from the field.';
}

function restore(shared: Shared): void {
  pickLanguage(shared.l, shared.c);
  stdin.value = shared.i ?? '';
  args.value = shared.a ?? '';
  outputs.value = shared.o ?? '';
  if (shared.t !== undefined && Number.isFinite(shared.t)) timeout.valueAsNumber = shared.t;
  if (shared.m !== undefined && Number.isFinite(shared.m)) memory.valueAsNumber = shared.m;
  tests.set((shared.x ?? []).map(([s, e]) => ({ stdin: s, expectedOutput: e })));
}

async function loadLanguages(): Promise<void> {
  view.setStatus('Loading languages…');
  const runtimes = await api.runtimes();
  language.replaceChildren(
    ...runtimes.map((r) => {
      const option = document.createElement('option');
      option.value = r.language;
      option.textContent = `${r.language} ${r.version ?? ''}`.trim();
      return option;
    }),
  );
  const shared = await decodeShare(location.hash).catch((error: Error) => {
    view.setStatus(`The shared link is damaged: ${error.message}`, 'error');
    return undefined;
  });
  if (shared !== undefined && runtimes.some((r) => r.language === shared.l)) restore(shared);
  else pickLanguage(runtimes.some((r) => r.language === 'python') ? 'python' : (runtimes[0]?.language ?? ''));
  if (shared === undefined) view.setStatus('Ready', 'ok');
  else view.setStatus('Restored from the shared link', 'ok');
  runButton.disabled = runtimes.length === 0;
}

function main(): void {
  editor = createEditor($('editor'), 'Code', 'editor-help', () => void run());
  language.addEventListener('change', () => pickLanguage(language.value));
  runButton.addEventListener('click', () => void run());
  stopButton.addEventListener('click', () => running?.abort());
  $('share').addEventListener('click', () => void share());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.defaultPrevented) {
      e.preventDefault();
      void run();
    }
  });
  loadLanguages().catch((error: Error) => view.setStatus(`Could not load the languages: ${error.message}`, 'error'));
}

main();
