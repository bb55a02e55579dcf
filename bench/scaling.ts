// (5) How cost grows with the work: output size (1 KiB to the output cap), number of files
// (1 to 1,000) and stdin size (1 KiB to 64 MiB), Python, bare vs cylo, interleaved per point.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MAX_LIMITS, DEFAULT_REQUEST_BOUNDS } from '../src/api/limits.js';
import type { BenchContext } from './lib/context.js';
import { prepareHostProgram } from './lib/host-program.js';
import { interleave } from './lib/interleave.js';
import { expectOk, timedSpawn } from './lib/proc.js';
import { fmtBytes, fmtMs, fmtRatio, type SectionResult, type Table } from './lib/report.js';
import { round, roundSummary, summarize, type Summary } from './lib/stats.js';
import { expectResult, timedExecute } from './lib/timed-execute.js';

const KiB = 1024;
const MiB = 1024 * 1024;

const OUTPUT_PROGRAM = 'import sys\nn = int(sys.argv[1])\nsys.stdout.buffer.write(b"x" * n)\n';
const FILES_PROGRAM = 'import os\nprint(len(os.listdir("data")) if os.path.isdir("data") else 0)\n';
const STDIN_PROGRAM = 'import sys\nn = 0\nwhile True:\n    b = sys.stdin.buffer.read(1 << 20)\n    if not b:\n        break\n    n += len(b)\nprint(n)\n';

interface Point {
  label: string;
  value: number;
  bare: Summary;
  cylo: Summary;
  ratio: number;
  deltaMs: number;
}

function pointRow(p: Point): Table['rows'][number] {
  return [p.label, `${fmtMs(p.bare.median)} / ${fmtMs(p.bare.p95)}`, `${fmtMs(p.cylo.median)} / ${fmtMs(p.cylo.p95)}`, fmtRatio(p.ratio), fmtMs(p.deltaMs)];
}

function point(label: string, value: number, samples: Record<string, number[]>): Point {
  const bare = roundSummary(summarize(samples.bare ?? []));
  const cylo = roundSummary(summarize(samples.cylo ?? []));
  return { label, value, bare, cylo, ratio: round(cylo.median / bare.median), deltaMs: round(cylo.median - bare.median) };
}

export async function runScaling(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const runtime = await ctx.resolved('python');
  if (!runtime.available) throw new Error(`python is not available: ${runtime.problem ?? ''}`);
  const entry = runtime.definition.entry;
  const opts = { warmup: 1, reps: ctx.quick ? 2 : 7 };
  const cap = DEFAULT_MAX_LIMITS.outputBytes;
  const outputSizes = ctx.quick ? [KiB, 64 * KiB, MiB] : [KiB, 16 * KiB, 256 * KiB, MiB, 4 * MiB, cap];
  const fileCounts = ctx.quick ? [1, 100] : [1, 10, 100, 1000].filter((n) => n <= DEFAULT_REQUEST_BOUNDS.maxFiles);
  const stdinSizes = ctx.quick ? [KiB, MiB] : [KiB, 64 * KiB, MiB, 16 * MiB, DEFAULT_REQUEST_BOUNDS.maxStdinBytes];

  // Output size.
  const output: Point[] = [];
  const outHost = await prepareHostProgram(runtime, [{ name: entry, content: OUTPUT_PROGRAM }], 'output program');
  try {
    for (const size of outputSizes) {
      ctx.log(`scaling: output ${fmtBytes(size)}`);
      const request = { language: 'python', code: OUTPUT_PROGRAM, args: [String(size)], limits: { outputBytes: cap } };
      const samples = await interleave(
        [
          {
            name: 'bare',
            run: async () => {
              const o = expectOk(await outHost.runBare([String(size)], { keepBytes: 0 }), 'output bare');
              if (o.stdoutBytes !== size) throw new Error(`output bare: ${o.stdoutBytes} bytes, expected ${size}`);
              return o.ms;
            },
          },
          {
            name: 'cylo',
            run: async () => {
              const x = await timedExecute(ctx.cylo, request);
              expectResult(x.result, 'output cylo');
              if (x.result.run?.stdout.length !== size) throw new Error(`output cylo: ${x.result.run?.stdout.length} bytes, expected ${size}`);
              return x.ms;
            },
          },
        ],
        opts,
      );
      output.push(point(fmtBytes(size), size, samples));
    }
  } finally {
    outHost.cleanup();
  }

  // Number of files: one entry file plus (n - 1) 1 KiB data files. Bare writes them into a fresh
  // directory, runs, and removes it (the work cylo does to give a program its files).
  const files: Point[] = [];
  const fileContent = 'x'.repeat(KiB);
  for (const count of fileCounts) {
    ctx.log(`scaling: ${count} files`);
    const list = [{ name: entry, content: FILES_PROGRAM }, ...Array.from({ length: count - 1 }, (_, i) => ({ name: `data/f${String(i).padStart(4, '0')}.txt`, content: fileContent }))];
    const expected = String(count - 1);
    const host = await prepareHostProgram(runtime, [{ name: entry, content: FILES_PROGRAM }], 'files program');
    try {
      const samples = await interleave(
        [
          {
            name: 'bare',
            run: async () => {
              const t0 = performance.now();
              const dir = mkdtempSync(join(tmpdir(), 'cylo-bench-files-'));
              try {
                if (count > 1) mkdirSync(join(dir, 'data'));
                for (const f of list) writeFileSync(join(dir, f.name), f.content);
                const argv = host.bareArgv.map((a) => a.replaceAll(host.dir, dir));
                const o = expectOk(await timedSpawn(argv, { cwd: dir, env: host.bareEnv }), 'files bare');
                if (o.stdout.toString().trim() !== expected) throw new Error(`files bare: got ${o.stdout.toString().trim()}`);
              } finally {
                rmSync(dir, { recursive: true, force: true });
              }
              return performance.now() - t0;
            },
          },
          {
            name: 'cylo',
            run: async () => {
              const x = await timedExecute(ctx.cylo, { language: 'python', files: list });
              expectResult(x.result, 'files cylo', expected);
              return x.ms;
            },
          },
        ],
        opts,
      );
      files.push(point(String(count), count, samples));
    } finally {
      host.cleanup();
    }
  }

  // Stdin size.
  const stdin: Point[] = [];
  const inHost = await prepareHostProgram(runtime, [{ name: entry, content: STDIN_PROGRAM }], 'stdin program');
  try {
    for (const size of stdinSizes) {
      ctx.log(`scaling: stdin ${fmtBytes(size)}`);
      const text = 'x'.repeat(size);
      const buffer = Buffer.from(text);
      const samples = await interleave(
        [
          {
            name: 'bare',
            run: async () => {
              const o = expectOk(await inHost.runBare([], { stdin: buffer }), 'stdin bare');
              if (o.stdout.toString().trim() !== String(size)) throw new Error(`stdin bare: got ${o.stdout.toString().trim()}`);
              return o.ms;
            },
          },
          {
            name: 'cylo',
            run: async () => {
              const x = await timedExecute(ctx.cylo, { language: 'python', code: STDIN_PROGRAM, stdin: text });
              expectResult(x.result, 'stdin cylo', String(size));
              return x.ms;
            },
          },
        ],
        opts,
      );
      stdin.push(point(fmtBytes(size), size, samples));
    }
  } finally {
    inHost.cleanup();
  }

  const columns = ['bare median / p95', 'cylo median / p95', 'cylo/bare', 'cylo-bare ms'];
  const slope = (pts: Point[]): number | null => {
    const a = pts[0];
    const b = pts[pts.length - 1];
    return a === undefined || b === undefined || b.value === a.value ? null : round((b.deltaMs - a.deltaMs) / (b.value - a.value), 6);
  };
  return {
    name: 'scaling',
    title: '5. How cost grows with the work (Python)',
    notes: [
      `Wall time (ms) per execution, ${opts.reps} kept samples per point after one warm-up, bare and cylo interleaved. Output: the program writes n bytes to stdout (cylo with limits.outputBytes = ${fmtBytes(cap)}, the maximum a request may ask for). Files: one entry file plus n-1 files of 1 KiB in data/ (bare writes them to a fresh directory, runs, removes it). Stdin: n bytes on standard input, read in 1 MiB chunks (the request's stdin string for cylo).`,
      '"cylo-bare ms" is what cylo adds at that size; its growth from the smallest to the largest point is the per-byte / per-file cost of cylo\'s transport (pipes, bundle, JSON-free Buffers in the library).',
    ],
    tables: [
      { title: 'Output size', columns: ['stdout', ...columns], rows: output.map(pointRow) },
      { title: 'Number of files', columns: ['files', ...columns], rows: files.map(pointRow) },
      { title: 'Stdin size', columns: ['stdin', ...columns], rows: stdin.map(pointRow) },
    ],
    targets: [],
    data: {
      output,
      files,
      stdin,
      addedMsPerMiB: { output: slope(output) === null ? null : round((slope(output) as number) * MiB, 3), stdin: slope(stdin) === null ? null : round((slope(stdin) as number) * MiB, 3) },
      addedMsPerFile: slope(files),
    },
    elapsedMs: performance.now() - started,
  };
}
