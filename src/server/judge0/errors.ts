// Errors of the Judge0 API in Judge0's shapes (the error handler of its plugin): 401 with an
// empty body (a missing or wrong token), 422 `{ field: [message] }` for a submission that does
// not validate (cylo's field names mapped back to Judge0's), 400 `{ error }` for bad query
// parameters and features not offered, 503 `{ error: "queue is full" }`, 404 and 413 and 500
// as `{ error }`. Internal errors are logged in full and answered with a generic message.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CyloError } from '../../errors.js';
import type { ServerContext } from '../context.js';
import { logHttpError, retryAfterFor, toHttpError } from '../http-errors.js';
import { judge0Field } from './request.js';

/** Query parameters: their errors are 400 `{ error }`, not 422. */
const QUERY_FIELDS = new Set(['fields', 'wait', 'base64_encoded', 'tokens']);

/** Codes answered as 422 validation errors naming the submission's field. */
const VALIDATION_CODES = new Set(['CYLO_E_VALIDATION', 'CYLO_E_LIMIT_EXCEEDED', 'CYLO_E_COMPILER_OPTION', 'CYLO_E_UNKNOWN_LANGUAGE', 'CYLO_E_RUNTIME_UNAVAILABLE']);

/** Fields of the request as a whole (not of the submission): 400 `{ error }`. */
const REQUEST_FIELDS = new Set(['body', 'request', 'content-type', 'content-length', 'submissions']);

/** The message without the `field: ` prefix cylo's messages start with. */
function bare(message: string, field: string | undefined): string {
  return field !== undefined && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

/** The status and body Judge0 would answer for this error. */
export function judge0ErrorAnswer(error: CyloError): { status: number; body: unknown } {
  if (error.code === 'CYLO_E_UNAUTHORIZED') return { status: 401, body: undefined };
  if (error.code === 'CYLO_E_QUEUE_FULL') return { status: 503, body: { error: 'queue is full' } };
  const field = error.field;
  if (VALIDATION_CODES.has(error.code) && field !== undefined && !QUERY_FIELDS.has(field) && !REQUEST_FIELDS.has(field)) {
    const name = judge0Field(field) ?? field;
    return { status: 422, body: { [name]: [bare(bare(error.message, field), name)] } };
  }
  if (error.code === 'CYLO_E_VALIDATION' && field !== undefined && QUERY_FIELDS.has(field)) return { status: 400, body: { error: bare(error.message, field) } };
  return { status: error.status === 499 ? 400 : error.status, body: { error: error.message } };
}

/** The error handler of the Judge0 plugin. */
export function judge0ErrorHandler(ctx: ServerContext, bodyLimit: number) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const err = toHttpError(error, request, bodyLimit);
    logHttpError(error, err, request);
    const retryAfter = retryAfterFor(err, ctx);
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter);
    if (err.code === 'CYLO_E_SHUTTING_DOWN') reply.header('retry-after', '5').header('connection', 'close');
    const answer = judge0ErrorAnswer(err);
    reply.status(answer.status);
    if (answer.body === undefined) return reply.send();
    return reply.type('application/json; charset=utf-8').send(answer.body);
  };
}
