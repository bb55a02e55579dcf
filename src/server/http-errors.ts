// Every error answer of the server goes through here: whatever was thrown becomes a CyloError
// with a catalogued code and HTTP status, sent as `{ "error": { code, message, field } }` (the
// Piston API adds Piston's top-level `message`). Unexpected errors are logged with their stack
// and answered with a generic message: a stack trace never reaches a client.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CyloError } from '../errors.js';
import type { ServerContext } from './context.js';
import { formatSize } from '../util/units.js';

/** The routes that answer in Piston's error shape. */
export function isPistonUrl(url: string): boolean {
  return url === '/api/v2' || url.startsWith('/api/v2/') || url.startsWith('/api/v2?');
}

/** Logs an error answer: internal errors in full (their cause, with the stack: for the
 *  operator, never the client), the others as one info line with code, field and their cause's
 *  message (`detail`). */
export function logHttpError(error: unknown, err: CyloError, request: FastifyRequest): void {
  if (err.code === 'CYLO_E_INTERNAL') {
    const original = error instanceof CyloError && error.cause !== undefined ? error.cause : error;
    request.log.error({ err: original }, 'internal error');
  } else {
    // A cause is for the operator (e.g. where the queue's Redis is and why it cannot be used);
    // the client's message never carries it.
    const detail = err.cause instanceof Error ? err.cause.message : undefined;
    request.log.info({ code: err.code, field: err.field, ...(detail === undefined ? {} : { detail }) }, err.message);
  }
}

/** Maps anything thrown in the request lifecycle to the CyloError the client sees. */
export function toHttpError(error: unknown, request: FastifyRequest, bodyLimit: number): CyloError {
  if (error instanceof CyloError) {
    if (error.code === 'CYLO_E_INTERNAL') return internal(request, error);
    return error;
  }
  const e = error as Partial<FastifyError> & { status?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CyloError('CYLO_E_BODY_TOO_LARGE', `body: the request body is larger than this server accepts (${formatSize(bodyLimit)}); send less, or the operator raises the limit with cylo serve --body-limit (CYLO_BODY_LIMIT, bodyLimit in the config file)`, { field: 'body' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new CyloError('CYLO_E_VALIDATION', 'content-type: the Content-Type header is malformed; send application/json', { field: 'content-type' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new CyloError('CYLO_E_VALIDATION', 'content-length: the Content-Length header does not match the body', { field: 'content-length' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new CyloError('CYLO_E_VALIDATION', 'request: the body must be a JSON object (got nothing)', { field: 'request' });
    default:
      break;
  }
  const status = e.statusCode ?? e.status;
  if (error instanceof SyntaxError && status === 400) {
    return new CyloError('CYLO_E_VALIDATION', `body: not valid JSON (${error.message})`, { field: 'body' });
  }
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof e.message === 'string' && e.code?.startsWith('FST_') === true) {
    // Fastify's own client errors (their messages carry no internals).
    return new CyloError('CYLO_E_VALIDATION', `request: ${e.message}`, { field: 'request' });
  }
  return internal(request, error);
}

function internal(request: FastifyRequest, error: unknown): CyloError {
  return new CyloError('CYLO_E_INTERNAL', `internal error: the server log has the details (request id ${request.id})`, { cause: error });
}

/** The JSON body of an error answer for this request. */
export function errorBody(request: FastifyRequest, error: CyloError): Record<string, unknown> {
  const json = error.toJSON();
  return isPistonUrl(request.url) ? { message: error.message, ...json } : json;
}

/** The Retry-After (seconds) of a 503 that a client should retry, or undefined. Queue mode:
 *  Redis unreachable (it comes back and the node reconnects by itself) or no live worker for
 *  the language (one may start) get short fixed delays. */
export function retryAfterFor(error: CyloError, ctx: ServerContext | undefined): string | undefined {
  if (error.code === 'CYLO_E_QUEUE_FULL' && ctx !== undefined) return String(ctx.retryAfterSeconds());
  if (error.code === 'CYLO_E_QUEUE_UNAVAILABLE') return '2';
  if (error.code === 'CYLO_E_NO_WORKER') return '5';
  return undefined;
}

/** Sends an error answer, with the headers its code calls for. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: CyloError, ctx: ServerContext | undefined): FastifyReply {
  const retryAfter = retryAfterFor(error, ctx);
  if (retryAfter !== undefined) reply.header('retry-after', retryAfter);
  if (error.code === 'CYLO_E_SHUTTING_DOWN' || error.code === 'CYLO_E_CLOSED') {
    reply.header('retry-after', '5');
    reply.header('connection', 'close');
  }
  if (error.code === 'CYLO_E_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="cylo"');
  return reply.status(error.status).type('application/json; charset=utf-8').send(errorBody(request, error));
}
