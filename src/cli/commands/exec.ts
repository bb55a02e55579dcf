// `cylo exec`: run code in the sandbox and behave like the program itself: its stdout and
// stderr (live, as they are produced), its exit code; 124 on timeout, 137 when killed for
// memory or output, 125 when cylo itself fails. With --json, the whole result object instead.
import { readFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, normalize } from 'node:path';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import type { ExecuteRequest } from '../../api/request.js';
import { CyloError } from '../../errors.js';
import { EXIT_CYLO_FAILURE, exitCodeFor } from '../exit-codes.js';
import { readAll, type CommandIO } from '../../util/io.js';

export interface ExecOptions {
  lang?: string;
  code?: string;
  files?: string[];
  stdin?: string;
  stdinFile?: string;
  args?: string[];
  timeoutMs?: number;
  cpuTimeMs?: number;
  memoryBytes?: number;
  pids?: number;
  outputBytes?: number;
  json?: boolean;
  /** Use this instance instead of creating one (library use, tests). */
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
}

/** The request name of a --file: its relative path when it stays inside the current folder. */
function requestName(path: string): string {
  const n = normalize(path);
  return isAbsolute(n) || n.startsWith('..') ? basename(n) : n;
}

async function languageFor(options: ExecOptions, cylo: Cylo): Promise<string> {
  if (options.lang !== undefined) return options.lang;
  const first = options.files?.[0];
  if (first !== undefined) {
    const ext = extname(first);
    const found = cylo.registry.ids().map((id) => cylo.registry.get(id)).find((d) => d.extension === ext);
    if (found !== undefined) return found.id;
    throw new CyloError('CYLO_E_USAGE', `--lang: cannot tell the language of ${first} from its extension; pass --lang`, { field: '--lang' });
  }
  throw new CyloError('CYLO_E_USAGE', '--lang: which language? e.g. cylo exec --lang python "print(1)"', { field: '--lang' });
}

export async function execCommand(options: ExecOptions, io: CommandIO): Promise<number> {
  const cylo = options.cylo ?? createCylo(options.cyloOptions);
  try {
    const request: ExecuteRequest = { language: await languageFor(options, cylo) };
    if (options.files !== undefined && options.files.length > 0) {
      if (options.code !== undefined) throw new CyloError('CYLO_E_USAGE', 'give the code either inline or with --file, not both', { field: '--file' });
      request.files = await Promise.all(
        options.files.map(async (p) => {
          const content = await readFile(p).catch((e: NodeJS.ErrnoException) => {
            throw new CyloError('CYLO_E_USAGE', `--file: cannot read ${p} (${e.code ?? e.message})`, { field: '--file' });
          });
          return { name: requestName(p), content: content.toString('base64'), encoding: 'base64' as const };
        }),
      );
    } else {
      request.code = options.code ?? (await readAll(io.stdin)).toString('utf8');
    }
    if (options.stdin !== undefined && options.stdinFile !== undefined) throw new CyloError('CYLO_E_USAGE', 'use --stdin or --stdin-file, not both', { field: '--stdin' });
    if (options.stdin !== undefined) request.stdin = options.stdin;
    if (options.stdinFile !== undefined) {
      request.stdin = (
        await readFile(options.stdinFile).catch((e: NodeJS.ErrnoException) => {
          throw new CyloError('CYLO_E_USAGE', `--stdin-file: cannot read ${options.stdinFile} (${e.code ?? e.message})`, { field: '--stdin-file' });
        })
      ).toString('utf8');
    }
    if (options.args !== undefined) request.args = options.args;
    const limits: NonNullable<ExecuteRequest['limits']> = {};
    if (options.timeoutMs !== undefined) limits.timeoutMs = options.timeoutMs;
    if (options.cpuTimeMs !== undefined) limits.cpuTimeMs = options.cpuTimeMs;
    if (options.memoryBytes !== undefined) limits.memoryBytes = options.memoryBytes;
    if (options.pids !== undefined) limits.pids = options.pids;
    if (options.outputBytes !== undefined) limits.outputBytes = options.outputBytes;
    if (Object.keys(limits).length > 0) request.limits = limits;

    const live = options.json !== true;
    const result = await cylo.execute(request, {
      onEvent: (event) => {
        if (!live || event.type === 'state' || event.stage !== 'run') return;
        (event.type === 'stdout' ? io.stdout : io.stderr).write(event.data);
      },
    });
    if (!live) {
      io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return exitCodeFor(result);
    }
    if (result.status === 'compile_error' && result.compile !== null) {
      io.stdout.write(result.compile.stdout);
      io.stderr.write(result.compile.stderr);
    }
    const message = result.run?.message ?? result.compile?.message;
    if (result.status !== 'ok' && result.status !== 'runtime_error' && message) {
      io.stderr.write(`cylo: ${result.status}: ${message}\n`);
    }
    return exitCodeFor(result);
  } catch (error) {
    if (error instanceof CyloError) {
      io.stderr.write(`cylo: ${error.message}\n`);
      return EXIT_CYLO_FAILURE;
    }
    throw error;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}
