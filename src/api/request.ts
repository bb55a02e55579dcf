// The execution request: its schema (zod, which also gives the TypeScript type and the JSON
// Schema for HTTP/OpenAPI/MCP), and the one normalise-then-validate step every entry point uses.
// Every failure becomes a CyloError whose message names the field.
import { z } from 'zod';
import { ISOLATIONS } from './isolation.js';
import { workspacePathProblem } from '../util/workspace-path.js';
import { CyloError } from '../errors.js';
import { typeName, zodIssueToCyloError } from './zod-errors.js';
import { OUTPUT_ENCODINGS, type OutputEncoding } from './output-encoding.js';
import { checkCompilerOptions } from './compiler-options.js';
import { normalizeTestRun, testRunFields, type NormalizedTestRun, type TestLimitName } from './test-cases.js';
import { checkOutputPatterns } from './outputs.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_MAX_LIMITS,
  DEFAULT_REQUEST_BOUNDS,
  LIMIT_NAMES,
  MIN_LIMITS,
  type Limits,
  type RequestBounds,
} from './limits.js';

const fileSchema = z.strictObject({
  name: z.string().describe('Relative path inside the workspace, e.g. "main.py" or "src/util.go".'),
  content: z.string().describe('The file content, in the given encoding.'),
  encoding: z.enum(['utf8', 'base64', 'hex']).optional().describe('How `content` is encoded (default utf8).'),
});

const limitInt = z.number().int().positive();

export const limitsSchema = z.strictObject({
  timeoutMs: limitInt.optional(),
  cpuTimeMs: limitInt.optional(),
  memoryBytes: limitInt.optional(),
  pids: limitInt.optional(),
  outputBytes: limitInt.optional(),
  workspaceBytes: limitInt.optional(),
  compileTimeoutMs: limitInt.optional(),
  compileMemoryBytes: limitInt.optional(),
  outputFileBytes: limitInt.optional(),
  outputFilesBytes: limitInt.optional(),
});

export const executeRequestSchema = z.strictObject({
  language: z.string().min(1).max(64).describe('Language id or alias, e.g. "python", "js", "bash".'),
  version: z.string().max(64).optional().describe('Version selector ("3", "3.11", "*"); default: the installed one.'),
  environment: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('A named environment of the language (read-only packages, e.g. "datasci" for numpy, pandas, matplotlib); GET /v1/runtimes lists them. Default: none (the interpreter\'s standard library only).'),
  code: z.string().optional().describe('The program, as one file. Use either code or files.'),
  files: z.array(fileSchema).optional().describe('The program as files; the first one is the entry point.'),
  stdin: z.string().optional().describe('Given to the program on its standard input, in stdinEncoding.'),
  stdinEncoding: z.enum(['utf8', 'base64']).optional().describe('How `stdin` is encoded: utf8 (default) or base64 (for binary input).'),
  outputEncoding: z
    .enum(OUTPUT_ENCODINGS)
    .optional()
    .describe("How the result's stdout and stderr are encoded: utf8 (default; invalid UTF-8 becomes U+FFFD) or base64 (the exact bytes)."),
  redirectStderrToStdout: z
    .boolean()
    .optional()
    .describe("The run stage's stderr goes into its stdout, in the order of the writes (stderr is then empty). Default false."),
  args: z.array(z.string()).optional().describe('Command-line arguments for the program.'),
  env: z.record(z.string(), z.string()).optional().describe('Extra environment variables for the program.'),
  limits: limitsSchema.optional(),
  outputs: z
    .array(z.string())
    .optional()
    .describe('Files the run stage\'s program writes that come back in the result (run.files), as workspace-relative patterns: "*.png", "out/**", "result.csv" ("**" spans directories, "*" and "?" stay within one; wildcards skip names starting with "."). Read inside the sandbox, never following links; capped by limits.outputFileBytes and limits.outputFilesBytes.'),
  compilerOptions: z
    .array(z.string())
    .optional()
    .describe("Extra compiler flags for the compile stage (C, C++), each on the server's allowlist: -O0..-O3, -Os, -std=..., -DNAME[=VALUE], -UNAME, warnings, -g, -lm... (docs/api.md, \"Compiler options\"). Anything else is refused with CYLO_E_COMPILER_OPTION."),
  isolation: z
    .enum(ISOLATIONS)
    .optional()
    .describe('What isolates the execution: "namespaces" (the namespace sandbox on the host kernel) or "microvm" (its own guest kernel in a VM); default: the server\'s configuration. Refused, never replaced, where it cannot run.'),
  network: z.literal(false).optional().describe('Network access; only `false` is supported (the sandbox has no network).'),
  ...testRunFields,
});

export type ExecuteRequest = z.input<typeof executeRequestSchema>;

export interface SourceFile {
  /** Normalised relative path. */
  name: string;
  content: Buffer;
}

/** A request after validation: decoded files, resolved limits, nothing optional left. */
export interface NormalizedRequest {
  language: string;
  version: string | undefined;
  /** The named environment the program runs with (src/environments/), or undefined. */
  environment?: string | undefined;
  files: SourceFile[];
  stdin: Buffer;
  args: string[];
  env: Record<string, string>;
  limits: Limits;
  /** How the result carries the stages' stdout and stderr. */
  outputEncoding: OutputEncoding;
  /** The run stage's fd 2 is its fd 1 (one stream, in write order). */
  redirectStderrToStdout: boolean;
  /** Extra compiler flags (checked against the allowlist; `-D X` joined to `-DX`); empty
   *  when the request gives none. Part of the compile cache key. */
  compilerOptions: string[];
  /** Test cases (src/api/test-cases.ts): the program is compiled once and run per case;
   *  undefined for a plain execution. */
  tests: NormalizedTestRun | undefined;
  /** Output file patterns (src/api/outputs.ts), checked and without duplicates; [] for none.
   *  Optional for callers that build a request by hand: absent means none. */
  outputs?: string[];
}

export interface ValidationPolicy {
  maxLimits: Limits;
  defaultLimits: Limits;
  bounds: RequestBounds;
  /** The entry file name used when the request gives `code` (runtime-specific, e.g. main.py). */
  defaultEntry: (language: string) => string;
  /** A language's own default limits (e.g. more memory for Java), applied before the request's. */
  languageLimits?: (language: string) => Partial<Limits> | undefined;
  /** Compiler options: the allowlist (anchored regular expressions) and whether a language's
   *  compile stage takes them (its compile argv has {compilerOptions}). Without it, requests
   *  with compilerOptions are refused. */
  compilerOptions?: { allow: readonly RegExp[]; accepts: (language: string) => boolean };
}

export const DEFAULT_POLICY: ValidationPolicy = {
  maxLimits: { ...DEFAULT_MAX_LIMITS },
  defaultLimits: { ...DEFAULT_LIMITS },
  bounds: { ...DEFAULT_REQUEST_BOUNDS },
  defaultEntry: () => 'main',
};

// File names: the workspace path rule (src/util/workspace-path.ts), and a length bound. They are
// checked here AND again by the helper that writes the files.

export function checkFileName(name: string, field: string, maxBytes: number): string {
  const bad = (why: string): never => {
    throw new CyloError('CYLO_E_VALIDATION', `${field}: ${why} (got ${JSON.stringify(name.slice(0, 80))})`, { field });
  };
  if (name.length === 0) bad('must not be empty');
  if (Buffer.byteLength(name) > maxBytes) bad(`must be at most ${maxBytes} bytes`);
  const problem = workspacePathProblem(name);
  if (problem !== undefined) bad(problem);
  return name;
}

function decode(content: string, encoding: 'utf8' | 'base64' | 'hex', field: string): Buffer {
  if (encoding === 'utf8') return Buffer.from(content, 'utf8');
  if (encoding === 'base64') {
    const compact = content.replace(/\s+/g, '');
    const body = compact.replace(/=+$/, '');
    // 4n+1 characters, or padding that does not complete a 4-character group, is not base64
    // any encoder produces: Buffer.from would silently drop the stray data.
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || body.length % 4 === 1 || (compact !== body && compact.length % 4 !== 0)) {
      throw new CyloError('CYLO_E_VALIDATION', `${field}: is not valid base64`, { field });
    }
    return Buffer.from(content, 'base64');
  }
  if (!/^([0-9a-fA-F]{2})*$/.test(content)) {
    throw new CyloError('CYLO_E_VALIDATION', `${field}: is not valid hex (pairs of 0-9a-f)`, { field });
  }
  return Buffer.from(content, 'hex');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type ParsedRequest = z.output<typeof executeRequestSchema>;

/** The request as the schema accepts it: a JSON object with known fields of the right types. */
function parseRequest(input: unknown): ParsedRequest {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new CyloError('CYLO_E_VALIDATION', `request: expected a JSON object (got ${typeName(input)})`, { field: 'request' });
  }
  const parsed = executeRequestSchema.safeParse(input);
  if (!parsed.success) throw zodIssueToCyloError(parsed.error, input, { schemaHint: 'docs/api.md', explain: { network: 'only false is supported: cylo sandboxes have no network' } });
  return parsed.data;
}

/** The program comes either as code or as files, and is there. */
function checkProgramGiven(req: ParsedRequest): void {
  if (req.code !== undefined && req.files !== undefined) {
    throw new CyloError('CYLO_E_VALIDATION', 'code: give either code or files, not both', { field: 'code' });
  }
  if (req.code === undefined && (req.files === undefined || req.files.length === 0)) {
    throw new CyloError('CYLO_E_VALIDATION', 'code: the program is missing; give code or at least one entry in files', { field: 'code' });
  }
}

/** The request's files decoded, their names checked and unique, at most `maxFiles` of them. */
function decodeFiles(list: NonNullable<ParsedRequest['files']>, bounds: RequestBounds): SourceFile[] {
  if (list.length > bounds.maxFiles) {
    throw new CyloError('CYLO_E_VALIDATION', `files: at most ${bounds.maxFiles} files are accepted (got ${list.length})`, { field: 'files' });
  }
  const seen = new Set<string>();
  const files = list.map((f, i) => {
    const name = checkFileName(f.name, `files[${i}].name`, bounds.maxFileNameBytes);
    if (seen.has(name)) {
      throw new CyloError('CYLO_E_VALIDATION', `files[${i}].name: duplicate file name ${JSON.stringify(name)}`, { field: `files[${i}].name` });
    }
    seen.add(name);
    return { name, content: decode(f.content, f.encoding ?? 'utf8', `files[${i}].content`) };
  });
  // A file and a directory of the same name cannot both exist.
  for (const name of seen) {
    const parts = name.split('/');
    for (let k = 1; k < parts.length; k++) {
      const dir = parts.slice(0, k).join('/');
      if (seen.has(dir)) {
        throw new CyloError('CYLO_E_VALIDATION', `files: ${JSON.stringify(dir)} is both a file and a directory`, { field: 'files' });
      }
    }
  }
  return files;
}

/** The program as files (`code` becomes the language's entry file), within `maxFilesBytes` in all. */
function sourceFiles(req: ParsedRequest, language: string, policy: ValidationPolicy): SourceFile[] {
  const { bounds } = policy;
  const files = req.code !== undefined ? [{ name: policy.defaultEntry(language), content: Buffer.from(req.code, 'utf8') }] : decodeFiles(req.files ?? [], bounds);
  const totalBytes = files.reduce((n, f) => n + f.content.length, 0);
  if (totalBytes > bounds.maxFilesBytes) {
    throw new CyloError('CYLO_E_VALIDATION', `files: ${totalBytes} bytes in all, above the maximum of ${bounds.maxFilesBytes}`, { field: 'files' });
  }
  return files;
}

/** stdin decoded from its stdinEncoding, within `maxStdinBytes` (`field`: stdin, or a test
 *  case's tests[i].stdin). */
function checkedStdin(value: string, encoding: 'utf8' | 'base64', bounds: RequestBounds, field = 'stdin'): Buffer {
  const stdin = decode(value, encoding, field);
  if (stdin.length > bounds.maxStdinBytes) {
    throw new CyloError('CYLO_E_VALIDATION', `${field}: ${stdin.length} bytes, above the maximum of ${bounds.maxStdinBytes}`, { field });
  }
  return stdin;
}

function checkedArgs(args: string[], bounds: RequestBounds, field = 'args'): string[] {
  if (args.length > bounds.maxArgs) {
    throw new CyloError('CYLO_E_VALIDATION', `${field}: at most ${bounds.maxArgs} arguments (got ${args.length})`, { field });
  }
  args.forEach((a, i) => {
    if (a.includes('\0')) throw new CyloError('CYLO_E_VALIDATION', `${field}[${i}]: must not contain NUL`, { field: `${field}[${i}]` });
    if (Buffer.byteLength(a) > bounds.maxArgBytes) {
      throw new CyloError('CYLO_E_VALIDATION', `${field}[${i}]: longer than ${bounds.maxArgBytes} bytes`, { field: `${field}[${i}]` });
    }
  });
  return args;
}

function checkedEnv(entries: Array<[string, string]>, bounds: RequestBounds): Record<string, string> {
  const env: Record<string, string> = {};
  if (entries.length > bounds.maxEnv) {
    throw new CyloError('CYLO_E_VALIDATION', `env: at most ${bounds.maxEnv} variables (got ${entries.length})`, { field: 'env' });
  }
  for (const [k, v] of entries) {
    if (!ENV_NAME.test(k)) throw new CyloError('CYLO_E_VALIDATION', `env.${k}: names are letters, digits and _ and do not start with a digit`, { field: `env.${k}` });
    if (v.includes('\0') || Buffer.byteLength(v) > bounds.maxArgBytes) {
      throw new CyloError('CYLO_E_VALIDATION', `env.${k}: must not contain NUL and must be at most ${bounds.maxArgBytes} bytes`, { field: `env.${k}` });
    }
    env[k] = v;
  }
  return env;
}

function checkArgvTotal(args: string[], entries: Array<[string, string]>, bounds: RequestBounds): void {
  // args and env cross exec() as one argv: beyond the kernel's total the sandbox cannot start
  // (E2BIG), so refuse here, naming the bound, instead of failing as an internal error.
  const argvBytes = args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0) + entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 2, 0);
  if (argvBytes > bounds.maxArgsTotalBytes) {
    const field = args.length > 0 ? 'args' : 'env';
    throw new CyloError('CYLO_E_VALIDATION', `${field}: args and env take ${argvBytes} bytes in all, above the maximum of ${bounds.maxArgsTotalBytes}`, { field });
  }
}

/** The limits: the policy's defaults, then the language's, then the request's (each checked
 *  against this server's maximum and the minimum), every one capped at the maximum. */
function resolveLimits(req: ParsedRequest, language: string, policy: ValidationPolicy): Limits {
  const limits = overLimits({ ...policy.defaultLimits, ...policy.languageLimits?.(language) }, req.limits, 'limits', policy);
  return fitWorkspace(limits, req.limits?.workspaceBytes !== undefined);
}

/** `base` with the values of `asked` over it, each checked against this server's maximum and
 *  the minimum (`prefix`: the field the values came from), every one capped at the maximum. */
function overLimits(base: Limits, asked: Partial<Record<keyof Limits, number>> | undefined, prefix: string, policy: ValidationPolicy): Limits {
  const limits: Limits = { ...base };
  for (const name of LIMIT_NAMES) {
    const value = asked?.[name];
    if (value === undefined) continue;
    const field = `${prefix}.${name}`;
    if (value > policy.maxLimits[name]) {
      throw new CyloError('CYLO_E_LIMIT_EXCEEDED', `${field}: ${value} is above this server's maximum of ${policy.maxLimits[name]}`, { field });
    }
    if (value < MIN_LIMITS[name]) {
      throw new CyloError('CYLO_E_VALIDATION', `${field}: ${value} is below the minimum of ${MIN_LIMITS[name]}`, { field });
    }
    limits[name] = value;
  }
  for (const name of LIMIT_NAMES) limits[name] = Math.min(limits[name], policy.maxLimits[name]);
  return limits;
}

/** Workspace files are tmpfs pages charged to the stage's memory cgroup: a workspace larger than
 *  a stage's memory limit could never be filled (the OOM killer would end the program first),
 *  so a request that asks for one is refused, naming both fields and the fix. A workspace the
 *  request did not set (a default) is made to fit the smaller of the two memory limits. */
function fitWorkspace(limits: Limits, explicit: boolean): Limits {
  const [memoryField, memory] = limits.compileMemoryBytes < limits.memoryBytes ? ['compileMemoryBytes', limits.compileMemoryBytes] : ['memoryBytes', limits.memoryBytes];
  if (limits.workspaceBytes <= memory) return limits;
  if (!explicit) return { ...limits, workspaceBytes: Math.max(MIN_LIMITS.workspaceBytes, memory) };
  throw new CyloError(
    'CYLO_E_VALIDATION',
    `limits.workspaceBytes: ${limits.workspaceBytes} is larger than limits.${memoryField} (${memory}); workspace files count against the memory limit, so the program would be killed before the workspace is full: set workspaceBytes at most ${memory}, or raise ${memoryField}`,
    { field: 'limits.workspaceBytes' },
  );
}

/** The request's compiler options, checked against the policy (CYLO_E_COMPILER_OPTION). */
function checkedCompilerOptions(req: ParsedRequest, language: string, policy: ValidationPolicy): string[] {
  const asked = req.compilerOptions ?? [];
  if (asked.length === 0) return [];
  const accepted = policy.compilerOptions;
  if (accepted === undefined || !accepted.accepts(language)) {
    throw new CyloError('CYLO_E_COMPILER_OPTION', `compilerOptions: the language "${language}" takes no compiler options on this server (C and C++ do); leave compilerOptions out`, { field: 'compilerOptions' });
  }
  return checkCompilerOptions(asked, accepted.allow);
}

/** Validates a request and resolves defaults. Throws CyloError naming the offending field. */
export function normalizeRequest(input: unknown, policy: ValidationPolicy = DEFAULT_POLICY): NormalizedRequest {
  const req = parseRequest(input);
  const { bounds } = policy;
  checkProgramGiven(req);
  const language = req.language.toLowerCase();
  const files = sourceFiles(req, language, policy);
  const stdinEncoding = req.stdinEncoding ?? 'utf8';
  const stdin = checkedStdin(req.stdin ?? '', stdinEncoding, bounds);
  const args = checkedArgs(req.args ?? [], bounds);
  const envEntries = Object.entries(req.env ?? {});
  const env = checkedEnv(envEntries, bounds);
  checkArgvTotal(args, envEntries, bounds);
  const limits = resolveLimits(req, language, policy);
  const compilerOptions = checkedCompilerOptions(req, language, policy);
  const output = { outputEncoding: req.outputEncoding ?? 'utf8', redirectStderrToStdout: req.redirectStderrToStdout === true, outputs: checkOutputPatterns(req.outputs) };
  // Output files are a plain execution's: a test run's cases each have a sandbox of their own.
  if (req.tests !== undefined && output.outputs.length > 0) throw new CyloError('CYLO_E_VALIDATION', 'outputs: not with tests (output files come back from a plain execution; run it without tests)', { field: 'outputs' });
  const tests = normalizeTestRun(req, { stdin, args }, {
    stdin: (value, field) => (value === undefined ? undefined : checkedStdin(value, stdinEncoding, bounds, field)),
    args: (value, field) => (value === undefined ? undefined : checkedArgs(value, bounds, field)),
    limits: (value: Partial<Record<TestLimitName, number>> | undefined, field) => {
      const caseLimits = overLimits(limits, value, field, policy);
      return value?.workspaceBytes === undefined ? { ...caseLimits, workspaceBytes: Math.min(caseLimits.workspaceBytes, caseLimits.memoryBytes) } : fitWorkspace(caseLimits, true);
    },
    maxTests: bounds.maxTests,
    maxExpectedBytes: bounds.maxStdinBytes,
  });
  return { language, version: req.version, environment: req.environment, files, stdin, args, env, limits, compilerOptions, ...output, tests };
}
