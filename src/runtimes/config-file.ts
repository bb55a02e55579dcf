// The operator's runtimes file: languages added or overridden without touching code.
//
//   { "runtimes": [ { "id": "perl", ... }, { "id": "c", "extends": "c", "compile": { ... } } ] }
//
// Each entry has the shape of a built-in definition (src/runtimes/definition.ts). An entry with
// `"extends": "<id>"` starts from that language (built-in or earlier in the file) and replaces
// the top-level fields it gives. An entry whose id is already known replaces that language.
// Every error names the file and the field, e.g.
//   runtimes file /etc/cylo/runtimes.json: runtimes[0].version.pattern: expected string
// See docs/runtimes.md for a worked example.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { CyloError } from '../errors.js';
import { BUILTIN_RUNTIMES } from './builtin.js';
import { expectedText, fieldPath } from '../api/zod-errors.js';
import { runtimeDefinitionSchema, type RuntimeDefinitionInput } from './definition.js';

/** Read when neither the `runtimesFile` option nor CYLO_RUNTIMES_FILE names a file. */
export const DEFAULT_RUNTIMES_FILE = '/etc/cylo/runtimes.json';

/** Parses and validates the content of a runtimes file; `source` names it in errors. */
export function parseRuntimesConfig(text: string, source: string): RuntimeDefinitionInput[] {
  const fail = (field: string, message: string): never => {
    throw new CyloError('CYLO_E_CONFIG', `runtimes file ${source}: ${field === '' ? '' : `${field}: `}${message}`, { field: field === '' ? 'runtimesFile' : `runtimesFile.${field}` });
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return fail('', `is not valid JSON (${(error as Error).message})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return fail('', 'expected a JSON object like {"runtimes": [...]}');
  const top = data as Record<string, unknown>;
  for (const key of Object.keys(top)) if (key !== 'runtimes' && key !== '$schema') fail(key, 'unknown field; the file has one field, "runtimes"');
  if (!Array.isArray(top.runtimes)) return fail('runtimes', 'expected an array of language definitions');

  const known = new Map<string, RuntimeDefinitionInput>(BUILTIN_RUNTIMES.map((d) => [d.id, d]));
  const out: RuntimeDefinitionInput[] = [];
  top.runtimes.forEach((entry: unknown, i: number) => {
    const at = `runtimes[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(at, 'expected an object');
    let raw = { ...(entry as Record<string, unknown>) };
    const label = typeof raw.id === 'string' ? ` (${raw.id})` : '';
    if ('extends' in raw) {
      const baseId = raw.extends;
      if (typeof baseId !== 'string') fail(`${at}.extends`, 'expected the id of a known language');
      const base = known.get(baseId as string);
      if (base === undefined) fail(`${at}.extends`, `unknown language ${JSON.stringify(baseId)}; known: ${[...known.keys()].join(', ')}`);
      delete raw.extends;
      raw = { ...(base as Record<string, unknown>), ...raw };
    }
    const parsed = runtimeDefinitionSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0] as z.core.$ZodIssue;
      const keys = issue.code === 'unrecognized_keys' ? `.${issue.keys.join(', ')}` : '';
      const why = issue.code === 'unrecognized_keys' ? 'unknown field (see docs/runtimes.md for the fields a language has)' : expectedText(issue);
      const path = fieldPath(issue.path);
      fail(`${at}${path === '' ? '' : `.${path}`}${keys}`, `${why}${label}`);
    }
    try {
      new RegExp((raw as { version: { pattern: string } }).version.pattern);
    } catch (error) {
      fail(`${at}.version.pattern`, `not a valid regular expression (${(error as Error).message})`);
    }
    const def = raw as unknown as RuntimeDefinitionInput;
    known.set(def.id, def);
    out.push(def);
  });
  return out;
}

/** Loads a runtimes file; CYLO_E_CONFIG naming the file when it cannot be read or is invalid. */
export function loadRuntimesFile(path: string): RuntimeDefinitionInput[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CyloError('CYLO_E_CONFIG', `runtimes file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { field: 'runtimesFile', cause: error });
  }
  return parseRuntimesConfig(text, path);
}

/**
 * Which runtimes file applies: the option when given (false: none), else CYLO_RUNTIMES_FILE,
 * else /etc/cylo/runtimes.json when it exists.
 */
export function configuredRuntimesFile(option: string | false | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return option;
  const fromEnv = env.CYLO_RUNTIMES_FILE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return existsSync(DEFAULT_RUNTIMES_FILE) ? DEFAULT_RUNTIMES_FILE : undefined;
}
