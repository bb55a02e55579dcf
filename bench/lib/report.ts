// The result model every measurement returns, and its two renderings: Markdown tables for
// stdout (and BENCHMARKS.md) and JSON with the same figures as numbers.
import { availableParallelism } from 'node:os';

const cpusCount = (): number => availableParallelism();

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
}

export interface TargetResult {
  /** Stable id, e.g. "hello.python.ratio". */
  id: string;
  description: string;
  /** The target as text, e.g. "<= 1.25x". */
  target: string;
  /** The measured figure (null when it could not be measured). */
  value: number | null;
  unit: string;
  /** null: not measured here (skipped, with the reason in note). */
  met: boolean | null;
  note?: string;
}

export interface SectionResult {
  name: string;
  title: string;
  /** How the figures were obtained (method), in one or two sentences each. */
  notes: string[];
  tables: Table[];
  targets: TargetResult[];
  /** Machine-readable figures (numbers), for the JSON output and the smoke test. */
  data: Record<string, unknown>;
  elapsedMs: number;
  /** 1-minute load average when the measurement started and ended (set by run.ts). */
  load?: { start: number; end: number };
}

export function target(id: string, description: string, targetText: string, value: number | null, unit: string, met: boolean | null, note?: string): TargetResult {
  return note === undefined ? { id, description, target: targetText, value, unit, met } : { id, description, target: targetText, value, unit, met, note };
}

/** Compares a value with "at most" / "at least" a bound; null when the value is missing. */
export function atMost(value: number | null | undefined, bound: number): boolean | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value <= bound;
}

export function atLeast(value: number | null | undefined, bound: number): boolean | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value >= bound;
}

export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtRatio(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  if (abs >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(abs >= 100 * 1024 * 1024 ? 0 : 1)} MiB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(abs >= 100 * 1024 ? 0 : 1)} KiB`;
  return `${n} B`;
}

export function fmtMedP95(s: { median: number; p95: number } | null | undefined): string {
  return s === null || s === undefined ? '-' : `${fmtMs(s.median)} / ${fmtMs(s.p95)}`;
}

function cellText(c: Cell): string {
  if (c === null) return '-';
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : c.toFixed(2);
  return c.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

export function markdownTable(t: Table): string {
  const lines = [`| ${t.columns.map(cellText).join(' | ')} |`, `|${t.columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const row of t.rows) lines.push(`| ${row.map(cellText).join(' | ')} |`);
  return lines.join('\n');
}

export function metText(met: boolean | null): string {
  return met === null ? 'not measured' : met ? 'met' : 'MISSED';
}

export function targetsTable(targets: readonly TargetResult[]): Table {
  return {
    title: 'Targets',
    columns: ['target', 'goal', 'measured', 'result', 'note'],
    rows: targets.map((t) => [t.description, t.target, t.value === null ? '-' : `${formatValue(t.value, t.unit)}`, metText(t.met), t.note ?? '']),
  };
}

function formatValue(v: number, unit: string): string {
  if (unit === 'x') return fmtRatio(v);
  if (unit === 'ms') return `${fmtMs(v)} ms`;
  if (unit === 'bytes') return fmtBytes(v);
  return `${v.toFixed(2)} ${unit}`;
}

export function sectionMarkdown(s: SectionResult): string {
  const out: string[] = [`## ${s.title}`, ''];
  for (const n of s.notes) out.push(`- ${n}`);
  if (s.notes.length > 0) out.push('');
  for (const t of s.tables) {
    if (t.title !== '') out.push(`**${t.title}**`, '');
    out.push(markdownTable(t), '');
  }
  if (s.targets.length > 0) out.push(`**Targets**`, '', markdownTable(targetsTable(s.targets)), '');
  const load = s.load === undefined ? '' : `; 1-minute load average ${s.load.start.toFixed(2)} at start, ${s.load.end.toFixed(2)} at end, on ${cpusCount()} cores`;
  out.push(`_(${(s.elapsedMs / 1000).toFixed(1)} s${load})_`, '');
  return out.join('\n');
}
