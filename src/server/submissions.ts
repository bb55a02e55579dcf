// The native submission routes (/v1/submissions): a thin adapter over the SubmissionService
// (src/submissions/service.ts). The owner of a request is the hash of its API key (bearer
// token) when the server has keys; another key's submission is answered 404 like an unknown one.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeRequest, type ExecuteRequest } from '../api/request.js';
import { CyloError, toCyloError } from '../errors.js';
import type { SubmissionService, SubmissionInput } from '../submissions/service.js';
import { isSubmissionId, ownerOfKey, type SubmissionView } from '../submissions/view.js';
import { requestKey } from './auth.js';
import type { ServerContext } from './context.js';
import { anyErrorResponses, errorBodySchema } from './schemas.js';
import { acceptedSchema, batchBodySchema, batchCreatedSchema, batchGetSchema, batchQuerySchema, idParamsSchema, MAX_BATCH, submissionBodySchema, submissionSchema, waitQuerySchema } from './submission-schemas.js';
import { zodIssueToHttpError } from './validation.js';

const errors = { ...anyErrorResponses, 404: errorBodySchema };

function notFound(id: string): CyloError {
  return new CyloError('CYLO_E_SUBMISSION_NOT_FOUND', `id: no submission ${JSON.stringify(id.slice(0, 80))} is visible to this key (unknown, expired, or made with another key)`, { field: 'id' });
}

function toInput(body: Record<string, unknown>): SubmissionInput {
  const { callbackUrl, ...request } = body;
  return { request: request as ExecuteRequest, callbackUrl: callbackUrl as string | undefined };
}

/** How long `?wait=true` waits: the request's own wall-clock limits (compile and every run),
 *  plus 30 s of queueing, at most 10 minutes. */
function waitBudgetMs(ctx: ServerContext, request: ExecuteRequest): number {
  const n = normalizeRequest(request, ctx.cylo.policy);
  const runs = 1 + (n.tests?.cases.length ?? 0);
  return Math.min(600_000, n.limits.compileTimeoutMs + runs * n.limits.timeoutMs + 30_000);
}

/** Waits for the submission while the client is connected; a client that goes away stops only
 *  the waiting (the submission keeps running). */
async function waitForIt(service: SubmissionService, owner: string | null, view: SubmissionView, reply: FastifyReply, budgetMs: number): Promise<SubmissionView> {
  const gone = new AbortController();
  const onClose = (): void => gone.abort();
  reply.raw.once('close', onClose);
  try {
    return (await service.wait(owner, view.id, gone.signal, budgetMs)) ?? view;
  } finally {
    reply.raw.off('close', onClose);
  }
}

export function registerSubmissionRoutes(app: FastifyInstance, ctx: ServerContext, service: SubmissionService, hasKeys: boolean): void {
  const ownerOf = (request: FastifyRequest): string | null => (hasKeys ? ownerOfKey(requestKey(request)) : null);
  registerCreateRoutes(app, ctx, service, ownerOf);
  registerReadRoutes(app, service, ownerOf);
}

type OwnerOf = (request: FastifyRequest) => string | null;

/** POST /v1/submissions (with ?wait) and POST /v1/submissions/batch. */
function registerCreateRoutes(app: FastifyInstance, ctx: ServerContext, service: SubmissionService, ownerOf: OwnerOf): void {
  const accepted = (reply: FastifyReply, view: SubmissionView): FastifyReply => reply.status(202).header('location', `/v1/submissions/${view.id}`).send({ id: view.id, status: view.status });

  app.post(
    '/v1/submissions',
    {
      schema: {
        tags: ['native'],
        summary: 'Submit code to run asynchronously',
        description: 'Stores the submission (durably) and answers 202 { id, status } with a Location header; poll GET /v1/submissions/{id}. With ?wait=true: 200 with the finished submission (or 202 if it is not final within its own time limits plus 30 s). A client that goes away while waiting does not cancel the submission. An invalid request or callbackUrl is refused with 400 and nothing is stored.',
        body: submissionBodySchema,
        querystring: waitQuerySchema,
        response: { 200: submissionSchema, 202: acceptedSchema, ...errors },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const input = toInput(request.body as Record<string, unknown>);
      const view = await service.submit(owner, input);
      const { wait } = request.query as { wait?: string };
      if (wait !== 'true' && wait !== '1') return accepted(reply, view);
      const finished = await waitForIt(service, owner, view, reply, waitBudgetMs(ctx, input.request));
      if (finished.status === 'done' || finished.status === 'cancelled') return reply.status(200).send(finished);
      return accepted(reply, finished);
    },
  );

  app.post(
    '/v1/submissions/batch',
    {
      schema: {
        tags: ['native'],
        summary: `Submit up to ${MAX_BATCH} submissions at once`,
        description: 'Answers 202 { submissions: [...] }, per entry in order: { id, status } when accepted, { error } when that entry is invalid (the valid ones are stored and run, as Judge0 does). More than 20 entries, or none: 400 for the whole batch.',
        body: batchBodySchema,
        response: { 202: batchCreatedSchema, ...errors },
      },
    },
    async (request, reply) => {
      const owner = ownerOf(request);
      const entries = (request.body as { submissions: unknown[] }).submissions;
      const parsed = entries.map((entry, i) => {
        const r = submissionBodySchema.safeParse(entry);
        if (r.success) return toInput(r.data as Record<string, unknown>);
        return prefixed(zodIssueToHttpError(r.error, entry), i);
      });
      const valid = parsed.filter((p): p is SubmissionInput => !(p instanceof CyloError));
      const results = await service.submitBatch(owner, valid);
      let next = 0;
      const out = parsed.map((p, i) => {
        const r = p instanceof CyloError ? { error: p } : results[next++];
        if (r === undefined) throw new CyloError('CYLO_E_INTERNAL', 'internal error: batch entries out of step');
        return 'error' in r ? prefixed(r.error, i).toJSON() : { id: r.submission.id, status: r.submission.status };
      });
      return reply.status(202).send({ submissions: out });
    },
  );
}

/** GET /v1/submissions/batch, GET and DELETE /v1/submissions/{id}. */
function registerReadRoutes(app: FastifyInstance, service: SubmissionService, ownerOf: OwnerOf): void {
  app.get(
    '/v1/submissions/batch',
    { schema: { tags: ['native'], summary: `Get up to ${MAX_BATCH} submissions by id`, querystring: batchQuerySchema, response: { 200: batchGetSchema, ...errors } } },
    async (request) => {
      const ids = (request.query as { ids: string }).ids.split(',').map((s) => s.trim()).filter(Boolean);
      if (ids.length === 0 || ids.length > MAX_BATCH) throw new CyloError('CYLO_E_VALIDATION', `ids: expected 1 to ${MAX_BATCH} comma-separated ids (got ${ids.length})`, { field: 'ids' });
      const views = await service.getMany(ownerOf(request), ids.map((id) => (isSubmissionId(id) ? id : '')));
      return { submissions: views.map((v, i) => v ?? { id: ids[i] ?? '', ...notFound(ids[i] ?? '').toJSON() }) };
    },
  );

  app.get(
    '/v1/submissions/:id',
    { schema: { tags: ['native'], summary: 'A submission: status, result, webhook deliveries', params: idParamsSchema, response: { 200: submissionSchema, ...errors } } },
    async (request) => {
      const { id } = request.params as { id: string };
      const view = isSubmissionId(id) ? await service.get(ownerOf(request), id) : undefined;
      if (view === undefined) throw notFound(id);
      return view;
    },
  );

  app.delete(
    '/v1/submissions/:id',
    {
      schema: {
        tags: ['native'],
        summary: 'Cancel a submission',
        description: 'A queued one is marked cancelled; a running one has its execution stopped (every process killed) and is marked cancelled. Answers 200 with the submission; a final one is answered as it is, unchanged.',
        params: idParamsSchema,
        response: { 200: submissionSchema, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const view = isSubmissionId(id) ? await service.cancel(ownerOf(request), id) : undefined;
      if (view === undefined) throw notFound(id);
      return view;
    },
  );
}

/** An entry's error, its field and message prefixed with `submissions[i].`. */
function prefixed(error: unknown, i: number): CyloError {
  const err = toCyloError(error);
  const field = `submissions[${i}]${err.field === undefined ? '' : `.${err.field}`}`;
  return new CyloError(err.code, `submissions[${i}].${err.message}`, { field });
}
