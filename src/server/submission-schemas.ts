// The zod schemas of the submission routes (/v1/submissions): what validates the requests is
// what /openapi.json documents (see ./schemas.ts).
import { z } from 'zod';
import { executeRequestSchema } from '../api/request.js';
import { executionResultSchema } from '../api/result-schema.js';
import { SUBMISSION_STATUSES } from '../submissions/store.js';
import { errorBodySchema } from './schemas.js';

/** Submissions per batch (create or get), as Judge0. */
export const MAX_BATCH = 20;

export const submissionBodySchema = executeRequestSchema
  .extend({
    callbackUrl: z.string().max(2048).optional().describe("When the submission is final, cylo POSTs its record here, signed (X-Cylo-Signature; see docs/submissions.md). http or https, to a destination in the operator's webhookAllow list (default: loopback only)."),
  })
  .describe('An execute request (as POST /v1/execute), plus an optional callbackUrl.');

export const batchBodySchema = z
  .strictObject({
    submissions: z.array(z.unknown()).min(1, 'expected at least one submission').max(MAX_BATCH, `expected at most ${MAX_BATCH} submissions per batch`).describe(`1 to ${MAX_BATCH} submission bodies; each is checked on its own (an invalid one is answered with its error, the others are accepted).`),
  })
  .describe('A batch of submissions.');

export const waitQuerySchema = z.strictObject({
  wait: z.enum(['true', 'false', '1', '0']).optional().describe('true: answer 200 with the finished submission (202 as without wait if it is not final in time).'),
});

export const idParamsSchema = z.strictObject({ id: z.string().describe('The submission id.') });

export const batchQuerySchema = z.strictObject({
  ids: z.string().min(1, 'expected ids=a,b,c').describe(`Comma-separated ids, at most ${MAX_BATCH}.`),
});

const errorObject = errorBodySchema.shape.error;

export const submissionSchema = z
  .looseObject({
    id: z.string(),
    status: z.enum(SUBMISSION_STATUSES).describe('queued, running, done (see result or error) or cancelled.'),
    result: executionResultSchema.nullable().describe('The execution result once done; null before, after cancellation, or when error is set.'),
    error: z.object({ code: z.string(), message: z.string() }).nullable().describe('Why a done submission has no result (the execution failed to run, e.g. the server died twice while running it: CYLO_E_INTERNAL).'),
    attempts: z.number().int().describe('Times it was started; 2 means it was re-run once after the server died while running it.'),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    expiresAt: z.string().nullable().describe('When it is deleted (finishedAt + the retention).'),
    callbackUrl: z.string().nullable(),
    webhook: z
      .object({
        state: z.enum(['pending', 'delivered', 'failed']),
        deliveries: z.array(z.object({ at: z.string(), statusCode: z.number().int().nullable(), error: z.string().nullable() })),
      })
      .nullable()
      .describe('The webhook: its state and every delivery attempt; null without callbackUrl.'),
  })
  .describe('A submission.');

export const acceptedSchema = z.object({ id: z.string(), status: z.enum(SUBMISSION_STATUSES) });

export const batchCreatedSchema = z.object({
  submissions: z.array(z.union([acceptedSchema, z.object({ error: errorObject })])).describe('Per entry, in order: { id, status } or { error }.'),
});

export const batchGetSchema = z.object({
  submissions: z.array(z.union([submissionSchema, z.object({ id: z.string(), error: errorObject })])).describe('Per id, in order: the submission, or { id, error } (CYLO_E_SUBMISSION_NOT_FOUND).'),
});
