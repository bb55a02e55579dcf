// Human-friendly units (command-line flags, the server's flags and environment variables):
// durations ("500ms", "5s", "2m", "1h") and sizes ("256M", "1G", "64k", "512B"; binary units).
// Unix conventions: a bare number is a duration in SECONDS, as timeout(1) and sleep(1) read it
// (`--timeout 5` is 5 s); a bare number is NOT accepted as a size (`--memory 128` is refused with
// "did you mean 128M?"), because bytes and megabytes are both plausible and a wrong guess gives a
// program either no memory or far too much. Bytes are written with B: `4096B`.
// (A JSON number in the server's config file is not text and keeps its documented meaning:
// milliseconds, bytes.)
import { CyloError } from '../errors.js';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i;
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i;
const DURATION_FACTOR: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS = ['B', 'K', 'M', 'G', 'T'] as const;

function usage(flag: string, message: string): CyloError {
  return new CyloError('CYLO_E_USAGE', flag === '' ? message : `${flag}: ${message}`, flag === '' ? {} : { field: flag });
}

/** `"500ms"` / `"5s"` / `"2m"` / `"1h"` / `"5"` (seconds) -> milliseconds (rounded, > 0).
 *  Throws CYLO_E_USAGE naming `flag` (no prefix when flag is ''). */
export function parseDuration(text: string, flag: string): number {
  const m = DURATION.exec(text.trim());
  if (m === null) throw usage(flag, `expected a duration such as 500ms, 5s or 2m; a bare number is seconds (got ${JSON.stringify(text)})`);
  const ms = Number(m[1]) * (DURATION_FACTOR[(m[2] ?? 's').toLowerCase()] ?? 1000);
  if (!Number.isFinite(ms) || Math.round(ms) <= 0) throw usage(flag, `must be more than zero (got ${JSON.stringify(text)})`);
  return Math.round(ms);
}

/** `"256M"` / `"1G"` / `"64k"` / `"512B"` -> bytes (binary units, rounded, > 0). A bare number
 *  is refused with a hint ("128 has no unit; did you mean 128M?"). Throws CYLO_E_USAGE naming `flag`. */
export function parseSize(text: string, flag: string): number {
  const m = SIZE.exec(text.trim());
  if (m === null) throw usage(flag, `expected a size such as 256M, 1G or 512B (got ${JSON.stringify(text)})`);
  if (m[2] === undefined) {
    throw usage(flag, `${m[1]} has no unit; did you mean ${m[1]}M? (sizes take a unit: 64K, 128M, 1G, or ${m[1]}B for bytes)`);
  }
  const power = SIZE_UNITS.indexOf(m[2].charAt(0).toUpperCase() as (typeof SIZE_UNITS)[number]);
  const bytes = Math.round(Number(m[1]) * 1024 ** power);
  if (!Number.isFinite(bytes) || bytes <= 0) throw usage(flag, `must be more than zero (got ${JSON.stringify(text)})`);
  return bytes;
}

export function parseCount(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw usage(flag, `expected a positive whole number (got ${JSON.stringify(text)})`);
  return n;
}

/** Milliseconds as the shortest exact text parseDuration reads back: 1500 -> "1500ms", 5000 -> "5s", 120000 -> "2m". */
export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Bytes as the largest exact binary unit: 4194304 -> "4M", 2048 -> "2K", 1536 -> "1536B". */
export function formatSize(bytes: number): string {
  for (let power = SIZE_UNITS.length - 1; power > 0; power--) {
    const unit = 1024 ** power;
    if (bytes > 0 && bytes % unit === 0) return `${bytes / unit}${SIZE_UNITS[power]}`;
  }
  return `${bytes}B`;
}
