// `cylo exec`'s program and its input, from the command line, the Unix way:
//   cylo exec FILE [ARGS...]         the file is the program (language from its extension, or --lang);
//                                    cylo's own stdin streams to the program (echo hi | cylo exec rev.py)
//   cylo exec -c CODE [ARGS...]      inline code, as python -c
//   cylo exec - [ARGS...]            the code is read from stdin (the program's stdin is empty, or --stdin)
//   cylo exec --lang L 'CODE' [ARGS] backward compatible: a first argument that is not an existing file
//                                    and does not look like a file name is inline code
//   --  ends cylo's options: everything after it is the program's arguments (cylo exec main.py -- --flag)
// No program argument, no -c and no --file: the code is read from stdin (as before).
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, normalize, resolve } from 'node:path';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import { CyloError } from '../errors.js';
import { readAll, type CommandIO } from '../util/io.js';

/** What the command line says about the program: shapes as given by commander. */
export interface ProgramOptions {
  lang?: string;
  /** -c/--code: inline code. */
  code?: string;
  /** The first positional argument: a FILE, `-`, or (backward compatible) inline code. */
  program?: string;
  /** The program's arguments: positionals after `program`, then every --arg. */
  args?: string[];
  /** --file paths (repeatable; the first is the entry point). */
  files?: string[];
  stdin?: string;
  stdinFile?: string;
  /** The directory relative paths are read from (the resident's client's); default: this
   *  process's. Messages keep the paths as typed. */
  cwd?: string | undefined;
}

/** `path` as read from `cwd` (a client's working directory in the resident; this process's
 *  when undefined): the resident runs several commands at once, so it never changes its own. */
export function inDir(cwd: string | undefined, path: string): string {
  return cwd === undefined ? path : resolve(cwd, path);
}

/** Where the program text comes from. */
export type ProgramSource = { kind: 'files'; paths: string[] } | { kind: 'code'; code: string } | { kind: 'stdin' };

/** The request name of a file: its relative path when it stays inside the current folder. */
function requestName(path: string): string {
  const n = normalize(path);
  return isAbsolute(n) || n.startsWith('..') ? basename(n) : n;
}

const usage = (message: string, field: string) => new CyloError('CYLO_E_USAGE', message, { field });

/** True for text that names a file rather than being code: one word with an extension or a slash. */
function looksLikeFileName(text: string): boolean {
  return /^[^\s'"();{}=]+$/.test(text) && (extname(text) !== '' || text.includes('/'));
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** Decides the program's source from -c, the first positional and --file. Throws CYLO_E_USAGE
 *  when they contradict each other or a file-like name does not exist. */
export async function programSource(o: ProgramOptions): Promise<ProgramSource> {
  const given = [o.code !== undefined, o.program !== undefined, (o.files?.length ?? 0) > 0].filter(Boolean).length;
  if (given > 1 && !(o.code !== undefined && o.program !== undefined)) {
    throw usage('give the program one way: a FILE, -c CODE, - (stdin) or --file', o.files?.length ? '--file' : '--code');
  }
  if (o.code !== undefined) return { kind: 'code', code: o.code };
  if (o.files !== undefined && o.files.length > 0) return { kind: 'files', paths: o.files };
  if (o.program === undefined || o.program === '-') return { kind: 'stdin' };
  if (await isFile(inDir(o.cwd, o.program))) return { kind: 'files', paths: [o.program] };
  if (looksLikeFileName(o.program)) throw usage(`${o.program}: no such file (for inline code use -c CODE)`, 'FILE');
  return { kind: 'code', code: o.program };
}

/** The program's arguments: with -c, the first positional is an argument too (as python -c CODE ARG). */
export function programArgs(o: ProgramOptions): string[] | undefined {
  const args = [...(o.code !== undefined && o.program !== undefined ? [o.program] : []), ...(o.args ?? [])];
  return args.length > 0 ? args : undefined;
}

/** The language: --lang, else the first file's extension. Throws CYLO_E_USAGE naming --lang. */
export function languageFor(lang: string | undefined, source: ProgramSource, cylo: Cylo): string {
  if (lang !== undefined) return lang;
  if (source.kind === 'files') {
    const first = source.paths[0] ?? '';
    const ext = extname(first);
    const found = cylo.registry.ids().map((id) => cylo.registry.get(id)).find((d) => d.extension === ext);
    if (found !== undefined) return found.id;
    throw usage(`--lang: cannot tell the language of ${first} from its extension; pass --lang`, '--lang');
  }
  throw usage('--lang: which language? e.g. cylo exec --lang python -c "print(1)", or cylo exec main.py', '--lang');
}

/** Sets request.files or request.code from the source (files read from `cwd` and
 *  base64-encoded). */
export async function addProgram(request: ExecuteRequest, source: ProgramSource, io: CommandIO, cwd?: string): Promise<void> {
  if (source.kind === 'code') request.code = source.code;
  else if (source.kind === 'stdin') request.code = (await readAll(io.stdin)).toString('utf8');
  else {
    request.files = await Promise.all(
      source.paths.map(async (p) => {
        const content = await readFile(inDir(cwd, p)).catch((e: NodeJS.ErrnoException) => {
          throw usage(`--file: cannot read ${p} (${e.code ?? e.message})`, '--file');
        });
        return { name: requestName(p), content: content.toString('base64'), encoding: 'base64' as const };
      }),
    );
  }
}

/** The program's standard input when given as text: --stdin, or --stdin-file's content (not
 *  both). Otherwise, when the code came from a file (or stdin is a terminal), cylo's own stdin is
 *  streamed to the program while it runs (exec-terminal.ts, stdin-pump.ts). */
export async function addStdin(request: ExecuteRequest, o: ProgramOptions): Promise<void> {
  if (o.stdin !== undefined && o.stdinFile !== undefined) throw usage('use --stdin or --stdin-file, not both', '--stdin');
  if (o.stdin !== undefined) request.stdin = o.stdin;
  else if (o.stdinFile !== undefined) {
    request.stdin = (
      await readFile(inDir(o.cwd, o.stdinFile)).catch((e: NodeJS.ErrnoException) => {
        throw usage(`--stdin-file: cannot read ${o.stdinFile} (${e.code ?? e.message})`, '--stdin-file');
      })
    ).toString('utf8');
  }
}
