// Expansion of the argv templates of runtime definitions (the token list is documented in
// definition.ts and docs/runtimes.md). Pure functions: the engine calls them with the values of
// one stage, and they never touch a shell.
import { basename, dirname, extname } from 'node:path';

/** Where `nodePackages` are mounted inside the sandbox. */
export const NODE_MODULES_IN_SANDBOX = '/.cylo/node_modules';

export interface TokenValues {
  bin: string;
  entry: string;
  files: readonly string[];
  args: readonly string[];
  /** The request's checked compiler options, for {compilerOptions} (compile stage). */
  compilerOptions?: readonly string[] | undefined;
  /** The stage's memory limit, for {memoryMiB...}. */
  memoryBytes: number;
  /** The class the run stage starts, for {mainClass} (src/runtimes/entry-point.ts); undefined:
   *  {entryName}. */
  mainClass?: string | undefined;
  /** The first compile artifact, for {out}. */
  out?: string | undefined;
  workspace: string;
}

const MEMORY_TOKEN = /\{memoryMiB(?:\*(\d{1,3})%)?(?:-(\d+))?\}/g;

/** The smallest value a {memoryMiB...} token expands to (a heap below this is useless). */
export const MIN_MEMORY_TOKEN_MIB = 16;

function stripExtension(path: string): string {
  const ext = extname(path);
  return ext === '' ? path : path.slice(0, -ext.length);
}

function expandOne(token: string, v: TokenValues): string {
  // Every token starts with '{': a string without one is returned as it is (most of them).
  if (!token.includes('{')) return token;
  const memoryMiB = Math.floor(v.memoryBytes / (1024 * 1024));
  return token
    .replace(MEMORY_TOKEN, (_, pct: string | undefined, minus: string | undefined) => {
      const scaled = Math.floor((memoryMiB * (pct === undefined ? 100 : Number(pct))) / 100) - (minus === undefined ? 0 : Number(minus));
      return String(Math.max(MIN_MEMORY_TOKEN_MIB, scaled));
    })
    .replaceAll('{binDir}', dirname(v.bin))
    .replaceAll('{bin}', v.bin)
    .replaceAll('{entryStem}', stripExtension(v.entry))
    .replaceAll('{entryName}', basename(stripExtension(v.entry)))
    .replaceAll('{mainClass}', v.mainClass ?? basename(stripExtension(v.entry)))
    .replaceAll('{entry}', v.entry)
    .replaceAll('{out}', v.out ?? '')
    .replaceAll('{workspace}', v.workspace)
    .replaceAll('{nodeModules}', NODE_MODULES_IN_SANDBOX);
}

/** Expands an argv template: {args} and {files} become one element per value. */
export function expandArgv(template: readonly string[], values: TokenValues): string[] {
  const out: string[] = [];
  for (const token of template) {
    if (token === '{args}') out.push(...values.args);
    else if (token === '{files}') out.push(...values.files);
    else if (token === '{compilerOptions}') out.push(...(values.compilerOptions ?? []));
    else out.push(expandOne(token, values));
  }
  return out;
}

/** Expands the tokens of environment values (same tokens; {args}, {files} and {compilerOptions} are not allowed). */
export function expandEnv(env: Readonly<Record<string, string>>, values: TokenValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = expandOne(v, values);
  return out;
}
