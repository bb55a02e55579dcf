// The Judge0-compatible API: a Fastify plugin mounted at a prefix (default /judge0) and, when
// the operator asks, also at the root. Routes: POST /submissions (wait=true runs now through
// the server's one execution path and answers 201 with the submission; without wait, the
// asynchronous adapter: until the submissions service is wired, a clear 400), GET /languages,
// /languages/all, /languages/{id}, /statuses, /about, /config_info, /system_info, and POST
// /authenticate. Translation is ./request.ts and ./submission.ts (pure); errors ./errors.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CyloError, toCyloError } from '../../errors.js';
import { createBatch, registerJudge0Async, submitJudge0, type Judge0AsyncOptions } from './async.js';
import type { ServerContext } from '../context.js';
import { judge0ErrorAnswer, judge0ErrorHandler } from './errors.js';
import { about, configInfo, languageDetail, systemInfo } from './info.js';
import { judge0Language, judge0Languages } from './languages.js';
import { judge0ToCyloRequest, type Judge0Translation } from './request.js';
import { judge0ErrorSchema, judge0LanguageDetailSchema, judge0LanguageSchema, judge0QuerySchema, judge0StatusSchema, judge0SubmissionResultSchema, judge0SubmissionSchema, type Judge0SubmissionInput } from './schemas.js';
import { JUDGE0_STATUSES } from './statuses.js';
import { renderSubmission, requestedFields, type SubmissionRecord } from './submission.js';

export const DEFAULT_JUDGE0_PREFIX = '/judge0';

/** What the routes need to hand a submission to the asynchronous service (wait absent or
 *  false, or a callback_url): answers Judge0's 201 `{ token }`. */
export type Judge0AsyncSubmit = (translation: Judge0Translation, input: Judge0SubmissionInput, request: FastifyRequest) => Promise<{ token: string }>;

/** The refusal of asynchronous submissions while the submissions service is not wired. */
function asyncUnavailableError(): CyloError {
  return new CyloError('CYLO_E_UNSUPPORTED', 'asynchronous submissions (without wait=true), callback_url, tokens and batches need the submissions service, which this server does not run yet; send wait=true to get the result in the answer');
}

/** Until the submissions service is wired: asynchronous submissions are refused, saying so. */
export const asyncUnavailable: Judge0AsyncSubmit = async () => {
  throw asyncUnavailableError();
};

export interface Judge0PluginOptions {
  ctx: ServerContext;
  /** The durable submission service: asynchronous submissions, tokens, batches, callbacks. */
  async?: Judge0AsyncOptions | undefined;
  bodyLimit: number;
  /** Whether this mount answers unknown routes under it (not for the root mount). */
  notFound: boolean;
  submitAsync?: Judge0AsyncSubmit;
}

type Query = { base64_encoded?: string; wait?: string; fields?: string };

const errors = { 400: judge0ErrorSchema, 401: judge0ErrorSchema, 422: judge0ErrorSchema, 503: judge0ErrorSchema };

async function createSubmission(options: Judge0PluginOptions, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { ctx } = options;
  const query = request.query as Query;
  const fields = requestedFields(query.fields);
  const base64 = query.base64_encoded === 'true';
  const body = request.body as Judge0SubmissionInput;
  const languages = judge0Languages(await ctx.runtimes());
  const translation = judge0ToCyloRequest(body, { base64, languages, policy: ctx.cylo.policy });
  if (query.wait !== 'true' || translation.callbackUrl !== null) {
    const { token } = options.async !== undefined ? await submitJudge0(options.async, translation, body, request, base64) : await (options.submitAsync ?? asyncUnavailable)(translation, body, request);
    return reply.code(201).send({ token });
  }
  const createdAt = new Date();
  const result = await ctx.execute('judge0', request, reply, translation.request);
  const record: SubmissionRecord = { token: result.id, createdAt, finishedAt: new Date(), translation, input: body, result };
  const rendered = renderSubmission(record, { base64, fields });
  // Judge0 answers 201 with the error and the token when the output is not UTF-8.
  return reply.code(201).send(rendered.ok ? rendered.body : { error: rendered.error, token: record.token });
}

/** Registers the Judge0 routes on `app` (an encapsulated plugin: its error handler is Judge0's). */
export async function judge0Plugin(app: FastifyInstance, options: Judge0PluginOptions): Promise<void> {
  const { ctx } = options;
  app.setErrorHandler(judge0ErrorHandler(ctx, options.bodyLimit));
  if (options.notFound) {
    app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `${request.method} ${request.url.split('?')[0]?.slice(0, 200) ?? ''} does not exist (see docs/judge0.md)` }));
  }
  const tags = ['judge0'];
  app.post('/submissions', { config: { execution: 'judge0' }, schema: { tags, summary: 'Create a submission (Judge0)', querystring: judge0QuerySchema, body: judge0SubmissionSchema, response: { 201: judge0SubmissionResultSchema, ...errors } } }, (request, reply) => createSubmission(options, request, reply));
  // Asynchronous submissions: on the submissions service (./async.ts); a server without it
  // answers the same clear 400 as POST without wait.
  const asyncOptions = options.async;
  if (asyncOptions !== undefined) {
    registerJudge0Async(app, asyncOptions, tags);
    app.post('/submissions/batch', { config: { execution: 'judge0' }, schema: { tags, summary: 'Create submissions (Judge0)' } }, (request, reply) => createBatch(asyncOptions, request, reply, (e) => judge0ErrorAnswer(toCyloError(e)).body as Record<string, unknown>));
  } else {
    const later = async (): Promise<never> => {
      throw asyncUnavailableError();
    };
    app.get('/submissions/batch', { schema: { tags, summary: 'Submissions by token (Judge0; needs the submissions service)' } }, later);
    app.post('/submissions/batch', { schema: { tags, summary: 'Create submissions (Judge0; needs the submissions service)' } }, later);
    app.get('/submissions/:token', { schema: { tags, summary: 'A submission by token (Judge0; needs the submissions service)' } }, later);
  }
  app.get('/languages', { schema: { tags, summary: 'Installed languages, one per runtime (Judge0)', response: { 200: judge0LanguageSchema.array() } } }, async () =>
    judge0Languages(await ctx.runtimes())
      .filter((l) => !l.is_archived)
      .map((l) => ({ id: l.id, name: l.name }))
      // By name, as Judge0 lists them.
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
  app.get('/languages/all', { schema: { tags, summary: 'Every Judge0 id served here (Judge0)' } }, async () => judge0Languages(await ctx.runtimes()).map((l) => ({ id: l.id, name: l.name, is_archived: l.is_archived })));
  app.get('/languages/:id', { schema: { tags, summary: 'A language (Judge0)', response: { 200: judge0LanguageDetailSchema, 404: judge0ErrorSchema } } }, async (request, reply) => {
    const raw = (request.params as { id: string }).id;
    const runtimes = await ctx.runtimes();
    const language = /^\d+$/.test(raw) ? judge0Language(runtimes, Number(raw)) : undefined;
    if (language === undefined) return reply.code(404).send({ error: `language with id ${raw.slice(0, 40)} doesn't exist` });
    return languageDetail(language, ctx.cylo.registry.find(language.runtime), runtimes.find((r) => r.language === language.runtime));
  });
  app.get('/statuses', { schema: { tags, summary: 'Status ids and descriptions (Judge0)', response: { 200: judge0StatusSchema.array() } } }, async () => JUDGE0_STATUSES);
  app.get('/about', { schema: { tags, summary: 'About this server (Judge0)' } }, async () => about());
  app.get('/config_info', { schema: { tags, summary: "This server's defaults and maxima in Judge0's fields" } }, async () => configInfo(ctx.cylo, judge0Languages(await ctx.runtimes()), options.submitAsync !== undefined || options.async !== undefined));
  app.get('/system_info', { schema: { tags, summary: 'The machine (Judge0)' } }, async () => systemInfo());
  // Judge0's token check: the token hook has already run (401 without it).
  app.post('/authenticate', { schema: { tags, summary: 'Checks the X-Auth-Token (Judge0)' } }, async (_request, reply) => reply.code(200).send());
}

/** Normalises a mount prefix: "/judge0", "judge0/" -> "/judge0"; refuses "/" and odd ones. */
export function judge0Prefix(prefix: string): string {
  const trimmed = `/${prefix.replace(/^\/+|\/+$/g, '')}`;
  if (!/^(\/[A-Za-z0-9._-]+)+$/.test(trimmed)) {
    throw new CyloError('CYLO_E_CONFIG', `judge0Prefix: ${JSON.stringify(prefix)} is not a URL path such as "/judge0" (use judge0Root to mount at the root as well)`, { field: 'judge0Prefix' });
  }
  return trimmed;
}
