// `cylo watch DIR`: runs a source file in the sandbox whenever it is created or changed.
//  - the directory is a project (./project.ts): each run's workspace has every file of it, under
//    its own name, the changed file being the entry point; `NAME.in` is NAME's stdin, and a
//    change to it runs NAME again;
//  - the language comes from the extension (or --lang);
//  - --initial: every source file runs once at start, one after another;
//  - bursts of writes are debounced; one run per file at a time; a newer change cancels the
//    older run of the same file;
//  - each run prints a header, its output live (the compiler's diagnostics once), and a
//    one-line summary (or NDJSON events).
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Cylo } from '../cylo.js';
import { OutputDecoder } from '../api/output-decoder.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { CyloError } from '../errors.js';
import type { CommandIO } from '../util/io.js';
import { isIgnoredPath } from './ignore.js';
import { INPUT_EXTENSION, projectFiles, projectRequest } from './project.js';

export interface WatchOptions {
  dir: string;
  lang?: string;
  json?: boolean;
  debounceMs?: number;
  /** Run every source file once at start (in path order, one at a time). */
  initial?: boolean;
  cylo: Cylo;
  io: CommandIO;
  signal?: AbortSignal;
  /** Called once the initial scan is done and changes are being watched. */
  onReady?: () => void;
}

interface FileState {
  timer?: NodeJS.Timeout;
  controller?: AbortController;
  running?: Promise<void> | undefined;
  /** Bumped by every run request: only the newest request of a file may start a run. */
  generation?: number;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

export class Watcher {
  private readonly root: string;
  private readonly files = new Map<string, FileState>();
  private watcher: FSWatcher | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: WatchOptions) {
    this.root = resolve(options.dir);
  }

  private emit(event: Record<string, unknown>): void {
    if (this.options.json === true) this.options.io.stdout.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
  }

  private say(line: string): void {
    if (this.options.json !== true) this.options.io.stderr.write(`${line}\n`);
  }

  /** The language a file runs as; undefined for files that are not run (inputs, others). */
  private languageOf(path: string): string | undefined {
    const ext = extname(path);
    if (ext === INPUT_EXTENSION) return undefined;
    if (this.options.lang !== undefined) return this.options.lang;
    const registry = this.options.cylo.registry;
    return registry.ids().map((id) => registry.get(id)).find((d) => d.extension === ext)?.id;
  }

  async start(): Promise<void> {
    const st = await stat(this.root).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) {
      throw new CyloError('CYLO_E_USAGE', `watch: ${this.options.dir} is not a directory`, { field: 'DIR' });
    }
    if (this.options.lang !== undefined) this.options.cylo.registry.get(this.options.lang);
    this.watcher = watch(this.root, {
      ignoreInitial: true,
      ignored: (path: string) => isIgnoredPath(relative(this.root, path)),
      persistent: true,
    });
    const onChange = (path: string): void => this.schedule(path);
    this.watcher.on('add', onChange).on('change', onChange);
    this.watcher.on('error', (error) => this.say(`cylo watch: ${(error as Error).message}`));
    await new Promise<void>((ready) => this.watcher?.once('ready', () => ready()));
    this.say(`cylo watch: watching ${this.root} (Ctrl-C to stop)`);
    this.emit({ event: 'ready', dir: this.root });
    this.options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    if (this.options.initial === true) await this.runInitial();
    this.options.onReady?.();
  }

  /** --initial: every source file of the project once, in path order, one after another. */
  private async runInitial(): Promise<void> {
    let names: string[];
    try {
      names = await projectFiles(this.root, this.options.cylo.policy.bounds);
    } catch (error) {
      return this.reportFailure(relative(process.cwd(), this.root) || '.', error as CyloError);
    }
    for (const name of names) {
      const path = join(this.root, name);
      const language = this.languageOf(path);
      if (this.stopped) return;
      if (language === undefined) continue;
      const state = this.files.get(path) ?? {};
      this.files.set(path, state);
      await this.run(path, language, state);
    }
  }

  /** A change to `NAME.in` runs the sources `NAME.*` next to it (their stdin changed). */
  private async scheduleInputOwners(path: string): Promise<void> {
    const stem = basename(path, INPUT_EXTENSION);
    const siblings = await readdir(dirname(path)).catch(() => [] as string[]);
    for (const name of siblings) {
      const source = join(dirname(path), name);
      if (name !== basename(path) && basename(name, extname(name)) === stem && !isIgnoredPath(relative(this.root, source)) && this.languageOf(source) !== undefined) this.schedule(source);
    }
  }

  private schedule(path: string): void {
    if (this.stopped) return;
    if (extname(path) === INPUT_EXTENSION) {
      void this.scheduleInputOwners(path);
      return;
    }
    const language = this.languageOf(path);
    if (language === undefined) return;
    const state = this.files.get(path) ?? {};
    this.files.set(path, state);
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      void this.run(path, language, state);
    }, this.options.debounceMs ?? 100);
  }

  private async run(path: string, language: string, state: FileState): Promise<void> {
    const generation = (state.generation ?? 0) + 1;
    state.generation = generation;
    // A newer change supersedes the running one: cancel it and wait until it is gone.
    const previous = state.running;
    if (previous !== undefined) {
      state.controller?.abort();
      await previous;
    }
    // Another change came while waiting: its (newer) request runs instead of this one, so a
    // file never has two runs at once.
    if (this.stopped || state.generation !== generation) return;
    const controller = new AbortController();
    state.controller = controller;
    let ranMtime: number | undefined;
    const task = this.runFile(path, language, controller.signal).then((mtime) => {
      ranMtime = mtime;
    });
    state.running = task;
    try {
      await task;
    } finally {
      if (state.running === task) state.running = undefined;
      if (state.controller === controller) state.controller = undefined;
    }
    await this.rerunIfChanged(path, state, generation, ranMtime);
  }

  /** Runs the project once with `path` as its entry point; resolves with the entry's
   *  modification time seen before reading (undefined when it was already gone). */
  private async runFile(path: string, language: string, signal: AbortSignal): Promise<number | undefined> {
    const file = relative(this.root, path);
    let ranMtime: number | undefined;
    let project: Awaited<ReturnType<typeof projectRequest>>;
    try {
      ranMtime = (await stat(path)).mtimeMs;
      project = await projectRequest(this.root, file, this.options.cylo.policy.bounds);
    } catch (error) {
      if (error instanceof CyloError) this.reportFailure(file, error);
      return ranMtime; // deleted or renamed meanwhile (or the project is too large: said above)
    }
    const started = new Date();
    this.say(`\n── ${file} (${language}) ${started.toLocaleTimeString()} ──`);
    this.emit({ event: 'start', file, language });
    // NDJSON carries text: decode each stream without splitting a multi-byte character.
    const decoder = new OutputDecoder();
    const seen = { compileOutput: false };
    try {
      const result: ExecutionResult = await this.options.cylo.execute({ language, ...project }, { signal, onEvent: (e) => this.output(file, decoder, e, seen) });
      for (const rest of decoder.flush()) this.emit({ event: rest.stream, file, stage: rest.stage, data: rest.text });
      this.reportEnd(file, result, seen.compileOutput);
    } catch (error) {
      this.reportFailure(file, error as CyloError);
    }
    return ranMtime;
  }

  /** A run's output: written through as it comes, or as NDJSON events of decoded text. */
  private output(file: string, decoder: OutputDecoder, e: ExecutionEvent, seen: { compileOutput: boolean }): void {
    if (e.type === 'state') return;
    if (e.stage === 'compile') seen.compileOutput = true;
    if (this.options.json === true) {
      const data = decoder.decode(e.stage, e.type, e.data);
      if (data !== '') this.emit({ event: e.type, file, stage: e.stage, data });
    } else (e.type === 'stdout' && e.stage === 'run' ? this.options.io.stdout : this.options.io.stderr).write(e.data);
  }

  /** A finished run: the compiler's diagnostics when none were streamed (a cached compile
   *  replays none), then the summary line or the `end` event. */
  private reportEnd(file: string, result: ExecutionResult, compileOutputSeen: boolean): void {
    const stage = result.run ?? result.compile;
    if (result.compile !== null && !compileOutputSeen && this.options.json !== true) this.options.io.stderr.write(result.compile.stdout + result.compile.stderr);
    this.emit({ event: 'end', file, status: result.status, exitCode: stage?.exitCode ?? null, signal: stage?.signal ?? null, wallMs: stage?.wallMs ?? 0, memoryBytes: stage?.memoryBytes ?? 0 });
    this.say(`── ${result.status} · exit ${stage?.exitCode ?? stage?.signal ?? '-'} · ${(stage?.wallMs ?? 0).toFixed(1)} ms · ${formatBytes(stage?.memoryBytes ?? 0)}${stage?.message ? ` · ${stage.message}` : ''} ──`);
  }

  /** A run that did not finish: cancelled (superseded, or cylo watch stopping) or failed. */
  private reportFailure(file: string, e: CyloError): void {
    if (e.code === 'CYLO_E_CANCELLED' || e.code === 'CYLO_E_SHUTTING_DOWN') {
      this.emit({ event: 'cancelled', file });
      this.say(`── ${file}: cancelled (${this.stopped ? 'cylo watch is stopping' : 'superseded by a newer change'}) ──`);
    } else {
      this.emit({ event: 'error', file, code: e.code ?? 'CYLO_E_INTERNAL', message: e.message });
      this.say(`── ${file}: ${e.message} ──`);
    }
  }

  private async rerunIfChanged(path: string, state: FileState, generation: number, ranMtime: number | undefined): Promise<void> {
    // chokidar drops a file's change events that follow another within 50 ms: if the file
    // changed after it was read and no newer run was requested, run the newest version too.
    if (ranMtime === undefined || this.stopped || state.generation !== generation) return;
    const mtime = await stat(path).then((st) => st.mtimeMs, () => undefined);
    if (mtime !== undefined && mtime !== ranMtime && !this.stopped && state.generation === generation && state.timer === undefined) this.schedule(path);
  }

  /** Stops watching, cancels every run and waits until nothing is left running. */
  stop(): Promise<void> {
    // Every caller (the AbortSignal listener, watchCommand) waits for the same, complete stop.
    this.stopping ??= (async () => {
      this.stopped = true;
      for (const state of this.files.values()) {
        if (state.timer !== undefined) clearTimeout(state.timer);
        state.controller?.abort();
      }
      await this.watcher?.close();
      await Promise.all([...this.files.values()].map((s) => s.running));
      this.emit({ event: 'stopped' });
    })();
    return this.stopping;
  }
}
