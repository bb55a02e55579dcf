// The session routes of the native API (docs/http.md, "Sessions"): create, execute, files
// (upload as raw bytes, download, list, delete), close. A thin adapter over cylo.sessions: with
// a token configured, a session belongs to the key that created it (its SHA-256 is the owner;
// the key itself is never stored) and any other key gets 404. Sessions are not persisted: the
// server's shutdown ends them (cylo.close()).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CyloError } from '../errors.js';
import { requestKey } from './auth.js';
import { INTERACTIVE_IN_QUEUE_MODE, type ServerContext } from './context.js';
import { errorBodySchema } from './schemas.js';

const limitsSchema = z
  .strictObject({
    timeoutMs: z.number().int().positive().optional().describe('Wall time of each run (ms).'),
    outputBytes: z.number().int().positive().optional().describe('Bytes kept of each run\'s stdout, stderr and result.'),
    memoryBytes: z.number().int().positive().optional().describe('Memory of the whole session (its one sandbox).'),
    pids: z.number().int().positive().optional(),
    workspaceBytes: z.number().int().positive().optional(),
  })
  .optional();

export const sessionCreateSchema = z.strictObject({
  language: z.string().min(1).max(64).describe('python or javascript (or an alias).'),
  limits: limitsSchema,
  idleTimeoutMs: z.number().int().positive().optional(),
  lifetimeMs: z.number().int().positive().optional(),
  environment: z.string().min(1).max(64).optional().describe('A named environment of the language (e.g. "datasci"); GET /v1/runtimes lists them.'),
});

export const sessionExecuteSchema = z.strictObject({ code: z.string().max(16 * 1024 * 1024) });

const sessionInfoSchema = z.object({ id: z.string(), language: z.string(), createdAt: z.string(), expiresAt: z.string(), idleTimeoutMs: z.number(), limits: z.record(z.string(), z.number()) });
const runResultSchema = z
  .object({
    status: z.string(),
    stdout: z.string(),
    stderr: z.string(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    result: z.string().nullable().describe('repr()/util.inspect of the last expression, or null.'),
    images: z.array(z.object({ mimeType: z.string(), data: z.string() })).describe('Figures the run drew (matplotlib), base64 PNG.'),
    error: z.object({ type: z.string(), message: z.string(), traceback: z.string().optional() }).nullable(),
    wallMs: z.number(),
    message: z.string().nullable(),
    limit: z.string().nullable(),
    sessionEnded: z.object({ reason: z.string(), message: z.string() }).nullable().describe('Set when the session ended with this run (memory_limit, timeout, crashed): it is gone.'),
  })
  .describe('One run of a session.');
const filesSchema = z.object({ files: z.array(z.object({ path: z.string(), size: z.number(), type: z.string() })) });
const noContent = z.null().describe('No content.');

const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 410: errorBodySchema, 413: errorBodySchema, 429: errorBodySchema, 500: errorBodySchema, 503: errorBodySchema };

/** The owner of a request's sessions: the SHA-256 of the API key it carries, or undefined (no token). */
export function ownerOf(request: FastifyRequest): string | undefined {
  const token = requestKey(request);
  return token === undefined ? undefined : createHash('sha256').update(token, 'utf8').digest('hex');
}

export function registerSessionRoutes(app: FastifyInstance, ctx: ServerContext, bodyLimit: number): void {
  const sessions = ctx.cylo.sessions;
  const find = (request: FastifyRequest) => sessions.get((request.params as { id: string }).id, ownerOf(request));
  const filePath = (request: FastifyRequest): string => (request.params as { '*': string })['*'];
  const refuseWhenShuttingDown = (): void => {
    // Queue mode: a session would need one worker for its lifetime; refused (docs/scaling.md).
    if (ctx.queue !== undefined) throw new CyloError('CYLO_E_UNSUPPORTED', INTERACTIVE_IN_QUEUE_MODE);
    if (ctx.shuttingDown) throw new CyloError('CYLO_E_SHUTTING_DOWN', 'the server is shutting down; sessions end with it');
  };
  // Uploads are raw bytes (the file as is).
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  const tags = ['sessions'];

  app.post('/v1/sessions', { schema: { tags, summary: 'Create a session (one sandbox kept alive between runs)', body: sessionCreateSchema, response: { 201: sessionInfoSchema, ...errors } } }, async (request, reply) => {
    refuseWhenShuttingDown();
    const s = await sessions.create({ ...(request.body as z.infer<typeof sessionCreateSchema>), owner: ownerOf(request) });
    return reply.status(201).send(s.info());
  });
  app.get('/v1/sessions/:id', { schema: { tags, summary: 'A session\'s id, language, limits and expiry', response: { 200: sessionInfoSchema, ...errors } } }, async (request) => find(request).info());
  app.post('/v1/sessions/:id/execute', { schema: { tags, summary: 'Run code in the session (variables and files persist)', body: sessionExecuteSchema, response: { 200: runResultSchema, ...errors } } }, async (request) => {
    refuseWhenShuttingDown();
    return find(request).run((request.body as { code: string }).code);
  });
  app.get('/v1/sessions/:id/files', { schema: { tags, summary: 'List the session\'s workspace', response: { 200: filesSchema, ...errors } } }, async (request) => ({ files: await find(request).listFiles() }));
  app.put('/v1/sessions/:id/files/*', { schema: { tags, summary: 'Upload a file (body: the raw bytes, Content-Type: application/octet-stream)', response: { 200: z.object({ size: z.number() }), ...errors } } }, async (request) => {
    const body = request.body;
    if (!Buffer.isBuffer(body)) throw new CyloError('CYLO_E_VALIDATION', 'body: send the file\'s bytes with Content-Type: application/octet-stream', { field: 'body' });
    return find(request).writeFile(filePath(request), body);
  });
  app.get('/v1/sessions/:id/files/*', { schema: { tags, summary: 'Download a file (raw bytes); symbolic links are refused', response: errors } }, async (request, reply) => {
    const data = await find(request).readFile(filePath(request));
    return reply.type('application/octet-stream').send(data);
  });
  app.delete('/v1/sessions/:id/files/*', { schema: { tags, summary: 'Delete a file or directory', response: { 204: noContent, ...errors } } }, async (request, reply) => {
    await find(request).deleteFile(filePath(request));
    return reply.status(204).send();
  });
  app.delete('/v1/sessions/:id', { schema: { tags, summary: 'Close the session: every process killed, its workspace gone', response: { 204: noContent, ...errors } } }, async (request, reply) => {
    await find(request).close();
    return reply.status(204).send();
  });
}
