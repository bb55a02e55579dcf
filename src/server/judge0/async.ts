// Judge0's asynchronous submissions on cylo's durable submission service (src/submissions):
// POST /submissions without wait (or with a callback_url) stores the translated request and
// answers 201 `{ token }` (the submission's id); GET /submissions/{token} and the batch routes
// read the stored record back and render it as Judge0 does (./submission.ts), status 1 In Queue
// or 2 Processing until it is done. The Judge0 request itself is kept with the submission (the
// store's `adapter` data), so the answer, and the webhook, can echo its fields after a restart.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CyloError } from '../../errors.js';
import type { SubmissionService } from '../../submissions/service.js';
import type { StoredSubmission } from '../../submissions/store.js';
import { isSubmissionId, ownerOfKey } from '../../submissions/view.js';
import { requestKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { judge0Languages } from './languages.js';
import { judge0ToCyloRequest, type Judge0Translation } from './request.js';
import type { Judge0SubmissionInput } from './schemas.js';
import { judge0Status } from './statuses.js';
import { DEFAULT_FIELDS, renderSubmission, requestedFields } from './submission.js';

/** Judge0 answers at most 20 submissions per batch. */
export const MAX_BATCH = 20;

/** What the store keeps of a Judge0 submission (the adapter data). */
interface StoredJudge0 {
  input: Judge0SubmissionInput;
  base64: boolean;
}

export interface Judge0AsyncOptions {
  ctx: ServerContext;
  service: SubmissionService;
  /** The server has API keys: a submission belongs to the key that made it. */
  hasKeys: boolean;
}

type Query = { base64_encoded?: string; fields?: string; tokens?: string };

const owner = (o: Judge0AsyncOptions, request: FastifyRequest): string | null => (o.hasKeys ? ownerOfKey(requestKey(request)) : null);

/** Stores one translated submission; answers its token. */
export async function submitJudge0(o: Judge0AsyncOptions, translation: Judge0Translation, input: Judge0SubmissionInput, request: FastifyRequest, base64: boolean): Promise<{ token: string }> {
  const view = await o.service.submit(owner(o, request), judge0Input(translation, input, base64));
  return { token: view.id };
}

function judge0Input(translation: Judge0Translation, input: Judge0SubmissionInput, base64: boolean) {
  const data: StoredJudge0 = { input, base64 };
  return { request: translation.request, callbackUrl: translation.callbackUrl ?? undefined, adapter: { api: 'judge0' as const, data } };
}

/** A stored submission rendered as Judge0 does, or null when it was not a Judge0 one. Its
 *  request is translated again from the stored Judge0 input (for the echoed fields). */
export async function renderStored(ctx: ServerContext, s: StoredSubmission, options: { base64: boolean; fields: readonly string[] }): Promise<ReturnType<typeof renderSubmission> | null> {
  if (s.adapter?.api !== 'judge0') return null;
  const data = s.adapter.data as StoredJudge0;
  const translation = judge0ToCyloRequest(data.input, { base64: data.base64, languages: judge0Languages(await ctx.runtimes()), policy: ctx.cylo.policy });
  const rendered = renderSubmission(
    { token: s.id, createdAt: new Date(s.createdAt), finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt), translation, input: data.input, result: s.result, pendingStatus: s.status === 'running' ? 2 : 1 },
    options,
  );
  // Done without a result (the gate refused or failed, the server died twice) or cancelled:
  // Judge0's 13 Internal Error, with why.
  if (!rendered.ok || s.result !== null || (s.status !== 'done' && s.status !== 'cancelled')) return rendered;
  const message = s.status === 'cancelled' ? 'the submission was cancelled' : (s.error?.message ?? 'no result');
  const body = { ...rendered.body };
  if ('status' in body) body.status = judge0Status(13);
  if ('status_id' in body) body.status_id = 13;
  if ('message' in body) body.message = options.base64 ? Buffer.from(message).toString('base64') : message;
  return { ok: true, body };
}

/** The webhook body of a Judge0 submission: Judge0's default fields, base64 when it was asked
 *  (or when its output is not UTF-8). */
export async function judge0WebhookBody(ctx: ServerContext, s: StoredSubmission): Promise<string | undefined> {
  const base64 = (s.adapter?.data as StoredJudge0 | undefined)?.base64 === true;
  const rendered = (await renderStored(ctx, s, { base64, fields: DEFAULT_FIELDS })) ?? undefined;
  if (rendered === undefined) return undefined;
  if (rendered.ok) return JSON.stringify(rendered.body);
  const again = await renderStored(ctx, s, { base64: true, fields: DEFAULT_FIELDS });
  return again?.ok === true ? JSON.stringify(again.body) : undefined;
}

const notFound = (reply: FastifyReply): FastifyReply => reply.code(404).send({ error: 'submission not found' });

/** GET /submissions/{token}, POST and GET /submissions/batch on the service. */
export function registerJudge0Async(app: FastifyInstance, o: Judge0AsyncOptions, tags: string[]): void {
  app.get('/submissions/:token', { schema: { tags, summary: 'A submission by token (Judge0)' } }, async (request, reply) => {
    const query = request.query as Query;
    const fields = requestedFields(query.fields);
    const token = (request.params as { token: string }).token;
    const s = isSubmissionId(token) ? await o.service.record(owner(o, request), token) : undefined;
    const rendered = s === undefined ? null : await renderStored(o.ctx, s, { base64: query.base64_encoded === 'true', fields });
    if (rendered === null) return notFound(reply);
    return rendered.ok ? rendered.body : reply.code(400).send({ error: rendered.error });
  });
  app.get('/submissions/batch', { schema: { tags, summary: 'Submissions by token (Judge0)' } }, async (request) => {
    const query = request.query as Query;
    const fields = requestedFields(query.fields);
    const tokens = (query.tokens ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (tokens.length === 0) throw new CyloError('CYLO_E_VALIDATION', 'tokens: give at least one token (tokens=a,b,c)', { field: 'tokens' });
    if (tokens.length > MAX_BATCH) throw new CyloError('CYLO_E_VALIDATION', `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`, { field: 'tokens' });
    const submissions = await Promise.all(
      tokens.map(async (token) => {
        const s = isSubmissionId(token) ? await o.service.record(owner(o, request), token) : undefined;
        const rendered = s === undefined ? null : await renderStored(o.ctx, s, { base64: query.base64_encoded === 'true', fields });
        return rendered === null ? null : rendered.ok ? rendered.body : { error: rendered.error, token };
      }),
    );
    return { submissions };
  });
}

/** POST /submissions/batch: each entry translated and stored on its own; per entry `{ token }`
 *  or Judge0's error object for it (`{ field: [messages] }`). */
export async function createBatch(o: Judge0AsyncOptions, request: FastifyRequest, reply: FastifyReply, toError: (error: unknown) => Record<string, unknown>): Promise<FastifyReply> {
  const base64 = (request.query as Query).base64_encoded === 'true';
  const list = (request.body as { submissions?: unknown } | null)?.submissions;
  if (!Array.isArray(list) || list.length === 0) throw new CyloError('CYLO_E_VALIDATION', 'submissions: expected a non-empty array of submissions', { field: 'submissions' });
  if (list.length > MAX_BATCH) throw new CyloError('CYLO_E_VALIDATION', `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`, { field: 'submissions' });
  const languages = judge0Languages(await o.ctx.runtimes());
  const entries: Array<{ error: Record<string, unknown> } | { input: ReturnType<typeof judge0Input> }> = list.map((raw) => {
    try {
      const input = raw as Judge0SubmissionInput;
      return { input: judge0Input(judge0ToCyloRequest(input, { base64, languages, policy: o.ctx.cylo.policy }), input, base64) };
    } catch (error) {
      return { error: toError(error) };
    }
  });
  const valid = entries.flatMap((e) => ('input' in e ? [e.input] : []));
  const stored = valid.length === 0 ? [] : await o.service.submitBatch(owner(o, request), valid);
  let next = 0;
  const answers = entries.map((e) => {
    if ('error' in e) return e.error;
    const s = stored[next++];
    return s === undefined ? { error: 'not stored' } : 'error' in s ? toError(s.error) : { token: s.submission.id };
  });
  return reply.code(201).send(answers);
}
