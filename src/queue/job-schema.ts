// What travels through Redis, and its checks on both sides: Redis is not trusted more than an
// HTTP client. A worker checks a job's envelope here, then its request with the same validation
// as the HTTP routes (normalizeRequest with the worker's policy, in worker.ts); an API node
// checks a job's outcome and a live event here before relaying it to its client. Nothing read
// from Redis is ever executed without that validation; compiled artifacts never travel through
// Redis (a test run is one job: it compiles once on the worker that runs its cases).
import { z } from 'zod';
import { CyloError, ERROR_CODES, type CyloErrorCode } from '../errors.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { TRANSITIONS, type ExecutionState } from '../engine/state-machine.js';

const STATES = Object.keys(TRANSITIONS) as [ExecutionState, ...ExecutionState[]];

export const JOB_VERSION = 1;

/** One job: the request as the client sent it, the owner (SHA-256 of the API key, or null
 *  without keys), the API it came from, whether live events are wanted, and the id of the API
 *  node waiting for it (`reply`: its outcome is also published there, result-channel.ts). */
export const jobDataSchema = z.strictObject({
  v: z.literal(JOB_VERSION),
  request: z.record(z.string(), z.unknown()),
  owner: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  api: z.enum(['native', 'piston', 'mcp', 'judge0', 'submissions']),
  stream: z.boolean(),
  reply: z.string().regex(/^[0-9a-f]{32}$/).optional(),
});
export type JobData = z.output<typeof jobDataSchema>;

/** A job's data, checked; throws CYLO_E_VALIDATION naming the field. */
export function parseJobData(data: unknown): JobData {
  const parsed = jobDataSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CyloError('CYLO_E_VALIDATION', `job.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'} (a job that did not come from a cylo API node)`, { field: 'job' });
  }
  return parsed.data;
}

const errorSchema = z.strictObject({
  code: z.string().refine((c) => c in ERROR_CODES, 'unknown error code'),
  message: z.string().max(4096),
  field: z.string().max(256).optional(),
  layer: z.string().max(64).optional(),
});

/** The time in ms since the epoch with a microsecond fraction (a job's timestamps: the API node
 *  and the worker split a hop into its legs with them; on one machine both read the same clock,
 *  across machines they are as close as the machines' clocks). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** What a worker returns for a job: the result, or the CyloError the execution ended with; who
 *  ran it and when (epochMs: `startedAt` once the job passed its checks and the execution
 *  starts, `finishedAt` when it ended), for the metrics and the hop's legs. */
export const jobOutcomeSchema = z.strictObject({
  v: z.literal(JOB_VERSION),
  worker: z.string().max(128),
  startedAt: z.number(),
  finishedAt: z.number(),
  result: z.looseObject({ id: z.string(), status: z.string() }).optional(),
  error: errorSchema.optional(),
});
export type JobOutcome = z.output<typeof jobOutcomeSchema>;

/** The outcome a worker returned, checked; an unreadable one is an internal error. */
export function parseJobOutcome(value: unknown): JobOutcome {
  const parsed = jobOutcomeSchema.safeParse(typeof value === 'string' ? safeJson(value) : value);
  if (!parsed.success || (parsed.data.result === undefined) === (parsed.data.error === undefined)) {
    throw new CyloError('CYLO_E_INTERNAL', 'internal error: a worker returned an unreadable job outcome (a worker of another cylo version?)');
  }
  return parsed.data;
}

/** The result of an outcome, or its error thrown as the CyloError it was on the worker. */
export function outcomeResult(outcome: JobOutcome): ExecutionResult {
  if (outcome.error !== undefined) {
    const { code, message, field, layer } = outcome.error;
    throw new CyloError(code as CyloErrorCode, message, { ...(field === undefined ? {} : { field }), ...(layer === undefined ? {} : { layer }) });
  }
  return outcome.result as unknown as ExecutionResult;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A live event as published (output bytes in base64). */
const wireEventSchema = z.union([
  z.strictObject({ type: z.literal('state'), executionId: z.string(), from: z.enum(STATES), to: z.enum(STATES), atMs: z.number(), reason: z.string().max(4096).optional() }),
  z.strictObject({ type: z.enum(['stdout', 'stderr']), executionId: z.string(), stage: z.enum(['compile', 'run']), data: z.string().max(16 * 1024 * 1024), test: z.number().int().nonnegative().optional() }),
]);

/** An event as text for the wire. */
export function encodeEvent(event: ExecutionEvent): string {
  if (event.type === 'state') return JSON.stringify(event);
  return JSON.stringify({ ...event, data: event.data.toString('base64') });
}

/** An event from the wire, checked; undefined when it is not one (dropped, never relayed). */
export function decodeEvent(text: string): ExecutionEvent | undefined {
  const parsed = wireEventSchema.safeParse(safeJson(text));
  if (!parsed.success) return undefined;
  const e = parsed.data;
  if (e.type === 'state') return e;
  return { type: e.type, executionId: e.executionId, stage: e.stage, data: Buffer.from(e.data, 'base64'), ...(e.test === undefined ? {} : { test: e.test }) };
}
