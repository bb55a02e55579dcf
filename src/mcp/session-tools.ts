// The session tools of the cylo MCP server: session_create, session_run, session_write_file,
// session_read_file, session_list_files, session_close, next to the stateless run_code. Each
// McpServer (one per stdio process, one per Streamable HTTP MCP session) is one owner: its
// sessions are invisible to other MCP clients, bounded by `maxSessions` per client, limited to
// the operator's `languages`, and all closed when the MCP session closes. Figures a run draws
// come back as image content blocks; a downloaded image as an image block, other binary files
// as an embedded resource, text as text. Refusals are tool results with isError (see server.ts).
import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Cylo } from '../cylo.js';
import { CyloError } from '../errors.js';
import { SESSION_LANGUAGES } from '../sessions/drivers.js';
import type { SessionRunResult } from '../sessions/types.js';
import { checkMcpEnvironment, environmentSchema, type ToolContext } from './schemas.js';

/** What operators choose for MCP clients' sessions (one place; `cylo mcp` and `serve --mcp`). */
export interface McpSessionSettings {
  /** Sessions one MCP client may hold at once (0: no session tools). Default 2. */
  maxSessions?: number;
  /** Languages MCP clients may open sessions for. Default: python and javascript. */
  languages?: string[];
}

export const DEFAULT_MCP_SESSIONS = 2;

const sessionId = z.string().min(1).max(64).describe('The id session_create returned.');
const runOutput = {
  status: z.string(),
  stdout: z.string(),
  stderr: z.string(),
  result: z.string().nullable(),
  error: z.object({ type: z.string(), message: z.string(), traceback: z.string().optional() }).nullable(),
  wallMs: z.number(),
  message: z.string().nullable(),
  sessionEnded: z.object({ reason: z.string(), message: z.string() }).nullable(),
};

const IMAGE_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };

function refusal(error: CyloError): CallToolResult {
  return { content: [{ type: 'text', text: `cylo refused: ${error.message} [${error.code}]` }], isError: true };
}

/** Runs a tool body; a CyloError becomes a tool result with isError. */
async function guarded(body: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof CyloError) return refusal(error);
    throw error;
  }
}

function runText(r: SessionRunResult): string {
  const parts: string[] = [`status: ${r.status}`];
  if (r.stdout !== '') parts.push(`stdout:\n${r.stdout}`);
  if (r.stderr !== '') parts.push(`stderr:\n${r.stderr}`);
  if (r.result !== null) parts.push(`result: ${r.result}`);
  if (r.error !== null) parts.push(`error: ${r.error.type}: ${r.error.message}${r.error.traceback === undefined ? '' : `\n${r.error.traceback}`}`);
  if (r.message !== null) parts.push(r.message);
  if (r.sessionEnded !== null) parts.push(`THE SESSION ENDED (${r.sessionEnded.reason}): ${r.sessionEnded.message}. Its variables and files are gone; create a new session.`);
  return parts.join('\n');
}

/** Registers the session tools; returns what closes this client's sessions. */
export function registerSessionTools(server: McpServer, cylo: Cylo, settings: McpSessionSettings = {}, context?: ToolContext): () => Promise<void> {
  const owner = `mcp:${randomUUID()}`;
  const mine = new Set<string>();
  const max = settings.maxSessions ?? DEFAULT_MCP_SESSIONS;
  const languages = settings.languages ?? [...SESSION_LANGUAGES];
  const closeAll = async (): Promise<void> => {
    const ids = [...mine];
    mine.clear();
    await Promise.all(ids.map((id) => Promise.resolve().then(() => cylo.sessions.get(id, owner).close()).catch(() => {})));
  };
  if (max === 0 || languages.length === 0) return closeAll;
  const get = (id: string) => cylo.sessions.get(id, owner);
  const langEnum = z.enum(languages as [string, ...string[]]);

  server.registerTool('session_create', {
    title: 'Create a stateful code session',
    description: `Starts a session (${languages.join(', ')}): one sandbox kept alive between session_run calls, like a Jupyter kernel. Variables, imports, definitions and files in its workspace persist between runs; the last expression's value is returned as result. No network. At most ${max} sessions at once; close them with session_close.`,
    inputSchema: { language: langEnum, environment: context === undefined ? z.string().min(1).max(64).optional() : environmentSchema(context), timeout_ms: z.number().int().positive().optional().describe('Wall-clock limit of each run (ms).') },
    outputSchema: { session_id: z.string(), language: z.string(), expires_at: z.string() },
  }, (args) => guarded(async () => {
    for (const id of mine) if (!cylo.sessions.list(owner).some((s) => s.id === id)) mine.delete(id);
    if (mine.size >= max) throw new CyloError('CYLO_E_SESSION_LIMIT', `sessions: this client holds ${max} sessions, the most it may; close one with session_close`);
    if (context !== undefined) checkMcpEnvironment(context, args.environment);
    const s = await cylo.sessions.create({ language: args.language, owner, ...(args.environment === undefined ? {} : { environment: args.environment }), ...(args.timeout_ms === undefined ? {} : { limits: { timeoutMs: args.timeout_ms } }) });
    mine.add(s.id);
    const info = s.info();
    const out = { session_id: s.id, language: info.language, expires_at: info.expiresAt };
    return { content: [{ type: 'text', text: `session ${s.id} (${info.language}) is ready; it expires at ${info.expiresAt}` }], structuredContent: out };
  }));

  server.registerTool('session_run', {
    title: 'Run code in a session',
    description: 'Runs code in the session\'s persistent context. Returns stdout, stderr, the last expression\'s value (result), the error with its traceback, and figures (matplotlib) as images. If the run exceeds the memory limit the session ends (like a kernel dying) and says so.',
    inputSchema: { session_id: sessionId, code: z.string() },
    outputSchema: runOutput,
  }, (args) => guarded(async () => {
    const r = await get(args.session_id).run(args.code);
    const images = r.images.map((i) => ({ type: 'image' as const, data: i.data, mimeType: i.mimeType }));
    const structured = { status: r.status, stdout: r.stdout, stderr: r.stderr, result: r.result, error: r.error, wallMs: r.wallMs, message: r.message, sessionEnded: r.sessionEnded };
    return { content: [{ type: 'text', text: runText(r) }, ...images], structuredContent: structured, isError: r.status !== 'ok' };
  }));

  server.registerTool('session_write_file', {
    title: 'Write a file into a session\'s workspace',
    description: 'Creates or replaces a file (relative path, parent directories created) in the session\'s workspace.',
    inputSchema: { session_id: sessionId, path: z.string().min(1), content: z.string(), encoding: z.enum(['utf8', 'base64']).optional() },
    outputSchema: { path: z.string(), size: z.number() },
  }, (args) => guarded(async () => {
    const { size } = await get(args.session_id).writeFile(args.path, Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8'));
    return { content: [{ type: 'text', text: `wrote ${args.path} (${size} bytes)` }], structuredContent: { path: args.path, size } };
  }));

  server.registerTool('session_read_file', {
    title: 'Read a file from a session\'s workspace',
    description: 'Returns a file of the session\'s workspace: text as text, images as image content, other binary files as an embedded resource. Symbolic links are refused.',
    inputSchema: { session_id: sessionId, path: z.string().min(1) },
  }, (args) => guarded(async () => readFileResult(args.path, await get(args.session_id).readFile(args.path))));

  server.registerTool('session_list_files', {
    title: 'List a session\'s workspace',
    description: 'Every file of the session\'s workspace with its size.',
    inputSchema: { session_id: sessionId },
    outputSchema: { files: z.array(z.object({ path: z.string(), size: z.number(), type: z.string() })) },
  }, (args) => guarded(async () => {
    const files = await get(args.session_id).listFiles();
    return { content: [{ type: 'text', text: files.length === 0 ? '(empty workspace)' : files.map((f) => `${f.path}\t${f.size}${f.type === 'file' ? '' : `\t${f.type}`}`).join('\n') }], structuredContent: { files } };
  }));

  server.registerTool('session_close', {
    title: 'Close a session',
    description: 'Ends the session: its processes, variables and files are gone.',
    inputSchema: { session_id: sessionId },
  }, (args) => guarded(async () => {
    await get(args.session_id).close();
    mine.delete(args.session_id);
    return { content: [{ type: 'text', text: `session ${args.session_id} closed` }] };
  }));
  return closeAll;
}

/** A downloaded file as MCP content: an image block, text, or an embedded binary resource. */
function readFileResult(path: string, data: Buffer): CallToolResult {
  const ext = path.split('.').pop()?.toLowerCase() ?? '';
  const image = IMAGE_TYPES[ext];
  if (image !== undefined) return { content: [{ type: 'image', data: data.toString('base64'), mimeType: image }] };
  const text = data.toString('utf8');
  if (!text.includes('\uFFFD') && !data.includes(0)) return { content: [{ type: 'text', text }] };
  return { content: [{ type: 'resource', resource: { uri: `cylo-session:///${path}`, mimeType: 'application/octet-stream', blob: data.toString('base64') } }] };
}
