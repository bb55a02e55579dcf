// One place that turns a zod validation failure into cylo's error shape: the field as a dotted
// path (`files[2].name`), what was expected, and what was given. Used by the library request
// validator, the library options, the HTTP routes, the server configuration, the runtimes file
// and the runtime registry. Every message has one shape: `<field>: <expected> (got <value>)`.
import type { z } from 'zod';
import { CyloError, type CyloErrorCode } from '../errors.js';

/** `['files', 2, 'name']` -> `files[2].name`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** What an issue expected, in words. For a union, the complaint of the branch that got
 *  furthest (the one whose complaint is not merely about the type). */
export function expectedText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors.filter((b) => b.length > 0);
    const best = branches.find((b) => b[0]?.code !== 'invalid_type') ?? branches[0];
    if (best?.[0] !== undefined) return expectedText(best[0]);
  }
  if (issue.code === 'invalid_type') return `expected ${issue.expected}`;
  if (issue.code === 'invalid_value' && 'values' in issue) return `expected one of ${issue.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
  if (issue.code === 'too_small' || issue.code === 'too_big') return issue.message.replace(/^Too (small|big): /, '');
  return issue.message;
}

/** A given value, briefly: `number 5`, `string "abc"`, `array`, `nothing`. */
export function gotText(got: unknown): string {
  if (got === undefined) return 'nothing';
  if (typeof got === 'number') return `number ${got}`;
  if (typeof got === 'string') return `string ${JSON.stringify(got.slice(0, 40))}`;
  return typeName(got);
}

export interface ZodErrorOptions {
  code?: CyloErrorCode;
  /** Where to look up the schema, for the "unknown field" message. */
  schemaHint?: string;
  /** Field names that deserve a better message than zod's. */
  explain?: Record<string, string>;
  /** How the user spells a field where the input came from (`--port`, `CYLO_PORT`, a config
   *  file's key); default: the dotted path. */
  fieldName?: (path: PropertyKey[]) => string;
  /** What an unknown key is called (default "unknown field"). */
  unknownKey?: string;
}

/** The first issue of a zod error as a CyloError naming the field. */
export function zodIssueToCyloError(error: z.ZodError, input: unknown, options: ZodErrorOptions = {}): CyloError {
  const code = options.code ?? 'CYLO_E_VALIDATION';
  const issue = error.issues[0];
  const name = options.fieldName ?? fieldPath;
  if (issue === undefined) return new CyloError(code, 'request: invalid');
  if (issue.code === 'unrecognized_keys') {
    const field = name([...issue.path, issue.keys[0] ?? '']);
    return new CyloError(code, `${field}: ${options.unknownKey ?? 'unknown field'}; remove it${options.schemaHint === undefined ? '' : ` (see ${options.schemaHint})`}`, { field });
  }
  const field = name(issue.path) || 'request';
  const expected = options.explain?.[field] ?? expectedText(issue);
  return new CyloError(code, `${field}: ${expected} (got ${gotText(valueAt(input, issue.path))})`, { field });
}
