// The zod shapes of the MCP tools: run_code's input (its `language` enum is built from the
// runtimes available when the server starts), the cylo result as an output schema, and
// list_runtimes' output. The SDK turns them into the JSON Schemas clients see in tools/list.
// zod v4 (the project's) is accepted by @modelcontextprotocol/sdk >= 1.23 as is.
import { z } from 'zod';
import { CyloError } from '../errors.js';
import { executionResultSchema } from '../api/result-schema.js';
import { MAX_OUTPUT_PATTERNS } from '../api/outputs.js';
import type { RuntimeInfo } from '../cylo.js';

/** What the server knows at start: the runnable languages and the limits it may grant. */
export interface ToolContext {
  /** Every language cylo knows, available or not (for clear error messages). */
  runtimes: RuntimeInfo[];
  /** Default and maximum wall-clock limit of the run stage, in milliseconds. */
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /** The environments MCP clients may use (the operator's mcpEnvironments); undefined: every
   *  one cylo accepts. `runtimes` lists only these. */
  environments?: readonly string[] | undefined;
}

/** Refuses an environment the operator did not give MCP clients (CYLO_E_UNKNOWN_ENVIRONMENT,
 *  naming those they may use); cylo itself checks the rest (exists, right language). */
export function checkMcpEnvironment(context: ToolContext, environment: string | undefined): void {
  const allowed = context.environments;
  if (environment === undefined || allowed === undefined || allowed.includes(environment)) return;
  const list = allowed.length === 0 ? 'none are offered to MCP clients on this server' : `those offered here: ${allowed.join(', ')}`;
  throw new CyloError('CYLO_E_UNKNOWN_ENVIRONMENT', `environment: ${JSON.stringify(environment)} is not available here; ${list}`, { field: 'environment' });
}

export function availableRuntimes(context: ToolContext): RuntimeInfo[] {
  return context.runtimes.filter((r) => r.available);
}

/** The available runtime a run_code `language` names (its id or an alias), if any. */
export function findAvailable(context: ToolContext, language: string): RuntimeInfo | undefined {
  const lower = language.toLowerCase();
  return availableRuntimes(context).find((r) => r.language === lower || r.aliases.includes(lower));
}

/** The message a model sees when it names a language this server cannot run. */
export function unknownLanguageMessage(context: ToolContext, language: string): string {
  const available = availableRuntimes(context);
  if (available.length === 0) return `language: no language is available on this cylo server (run "cylo doctor" and "cylo runtimes" on the host)`;
  const list = available.map((r) => r.language).join(', ');
  const lower = language.toLowerCase();
  const known = context.runtimes.find((r) => r.language === lower || r.aliases.includes(lower));
  if (known !== undefined && !known.available) {
    return `language: ${known.language} is known to cylo but not installed on this server (${known.problem ?? 'toolchain missing'}); available languages: ${list}`;
  }
  return `language: unknown language ${JSON.stringify(language)}; available languages: ${list}`;
}

/** `language`: the JSON Schema clients see is an enum of the languages available at start.
 *  The zod check itself accepts any string, so that run_code can answer a wrong language with
 *  its own clear message (and accept an alias such as "py"), rather than the SDK's generic
 *  "Input validation error" text. */
function languageSchema(context: ToolContext): z.ZodType<string> {
  const available = availableRuntimes(context);
  const description = `The language to run. Available here: ${available.map((r) => `${r.language} (${r.version ?? 'unknown version'})`).join(', ') || 'none'}. Aliases such as "py" or "js" are accepted too.`;
  return z
    .string()
    .meta({ enum: available.map((r) => r.language) })
    .describe(description);
}

const extraFileSchema = z.object({
  name: z.string().min(1).describe('Path relative to the workspace, e.g. "util.py" or "data/input.csv".'),
  content: z.string().describe('The file content (UTF-8 text, or base64 with encoding "base64").'),
  encoding: z.enum(['utf8', 'base64']).optional().describe('How content is encoded (default utf8).'),
});

/** The environments a model can pass as `environment`, with their packages, as one line:
 *  "python: datasci (numpy 1.24.2, pandas 1.5.3, ...)"; "" when there are none. */
export function environmentsSummary(context: ToolContext): string {
  return availableRuntimes(context)
    .flatMap((r) => r.environments.map((e) => `${r.language}: ${e.name} (${e.packages.map((p) => `${p.name} ${p.version}`.trim()).join(', ') || 'no packages'})`))
    .join('; ');
}

/** `environment`: the JSON Schema's description names each environment and its packages, so
 *  that a model knows what it can import and where. */
export function environmentSchema(context: ToolContext): z.ZodOptional<z.ZodString> {
  const summary = environmentsSummary(context);
  const text = summary === '' ? 'None are installed on this server.' : `Available here: ${summary}.`;
  return z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe(`A named environment of the language: read-only packages the program can import. ${text} Without one, only the language's standard library is there.`);
}

/** run_code's input as a zod raw shape (what McpServer.registerTool takes). */
export function runCodeInputShape(context: ToolContext) {
  return {
    language: languageSchema(context),
    environment: environmentSchema(context),
    code: z.string().describe('The program. It is saved as the entry file (e.g. main.py) and run.'),
    files: z.array(extraFileSchema).optional().describe('Extra files placed in the workspace next to the program (modules, data).'),
    stdin: z.string().optional().describe('Text given to the program on standard input.'),
    args: z.array(z.string()).optional().describe('Command-line arguments for the program.'),
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(context.maxTimeoutMs)
      .optional()
      .describe(`Wall-clock limit of the run in milliseconds (default ${context.defaultTimeoutMs}, at most ${context.maxTimeoutMs}).`),
    outputs: z
      .array(z.string())
      .max(MAX_OUTPUT_PATTERNS)
      .optional()
      .describe('Files the program writes to return, as workspace-relative patterns: ["plot.png"], ["*.png", "out/**"] ("**" spans directories). Images (PNG, JPEG, GIF, WebP) come back as image content, other files as embedded resources; sizes are capped.'),
  };
}

/** The cylo execution result (src/api/result-schema.ts) as run_code's output schema. */
export const runCodeOutputShape = executionResultSchema.shape;

export const listRuntimesOutputShape = {
  runtimes: z
    .array(
      z.looseObject({
        language: z.string().describe('The id to pass as run_code.language.'),
        version: z.string().nullable(),
        aliases: z.array(z.string()),
        compiled: z.boolean(),
        environments: z.array(z.object({ name: z.string(), packages: z.array(z.object({ name: z.string(), version: z.string() })) })).describe('Named environments to pass as run_code.environment, with their packages.'),
      }),
    )
    .describe('The languages run_code accepts on this server.'),
};
