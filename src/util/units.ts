// Human-friendly units (command-line flags, the server configuration): durations ("500ms", "5s", "2m") and sizes
// ("256M", "1G", "64k"; binary units). Plain numbers are milliseconds and bytes.
import { CyloError } from '../errors.js';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i;
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i;

export function parseDuration(text: string, flag: string): number {
  const m = DURATION.exec(text.trim());
  if (m === null) throw new CyloError('CYLO_E_USAGE', `${flag}: expected a duration such as 500ms, 5s or 2m (got ${JSON.stringify(text)})`, { field: flag });
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const ms = unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : n;
  if (!Number.isFinite(ms) || ms <= 0) throw new CyloError('CYLO_E_USAGE', `${flag}: must be more than zero (got ${JSON.stringify(text)})`, { field: flag });
  return Math.round(ms);
}

export function parseSize(text: string, flag: string): number {
  const m = SIZE.exec(text.trim());
  if (m === null) throw new CyloError('CYLO_E_USAGE', `${flag}: expected a size such as 256M, 1G or 65536 (got ${JSON.stringify(text)})`, { field: flag });
  const n = Number(m[1]);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : unit === 't' ? 1024 ** 4 : 1;
  const bytes = Math.round(n * factor);
  if (bytes <= 0) throw new CyloError('CYLO_E_USAGE', `${flag}: must be more than zero (got ${JSON.stringify(text)})`, { field: flag });
  return bytes;
}

export function parseCount(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new CyloError('CYLO_E_USAGE', `${flag}: expected a positive whole number (got ${JSON.stringify(text)})`, { field: flag });
  return n;
}
