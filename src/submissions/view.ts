// What a client sees of a submission (GET, the webhook body): the stored record without its
// owner hash and request, times as ISO 8601 text. Ids: 16 random bytes, base64url (128 bits).
import { createHash, randomBytes } from 'node:crypto';
import type { ExecutionResult } from '../api/result.js';
import type { StoredSubmission, SubmissionError, SubmissionStatus, WebhookState } from './store.js';

export interface SubmissionView {
  id: string;
  status: SubmissionStatus;
  /** The execution result once `done` and the gate answered; else null. */
  result: ExecutionResult | null;
  /** Why a `done` submission has no result (the gate refused or failed); else null. */
  error: SubmissionError | null;
  /** How many times it was started (2: re-run once after the server died while running it). */
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** When it is deleted (finishedAt + retention); null until final. */
  expiresAt: string | null;
  callbackUrl: string | null;
  webhook: { state: WebhookState; deliveries: Array<{ at: string; statusCode: number | null; error: string | null }> } | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function toView(s: StoredSubmission, retentionMs: number): SubmissionView {
  return {
    id: s.id,
    status: s.status,
    result: s.result,
    error: s.error,
    attempts: s.attempts,
    createdAt: new Date(s.createdAt).toISOString(),
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
    expiresAt: iso(s.finishedAt === null ? null : s.finishedAt + retentionMs),
    callbackUrl: s.callbackUrl,
    webhook: s.webhook === null ? null : { state: s.webhook, deliveries: s.deliveries.map((d) => ({ at: new Date(d.at).toISOString(), statusCode: d.statusCode, error: d.error })) },
  };
}

/** A new unguessable submission id: 128 random bits, URL-safe (22 characters). */
export function newSubmissionId(): string {
  return randomBytes(16).toString('base64url');
}

/** True for text shaped like an id (checked before any lookup: bounded, URL-safe). */
export function isSubmissionId(text: string): boolean {
  return /^[A-Za-z0-9_-]{16,64}$/.test(text);
}

/** Who owns a submission: sha256 of the API key (the key itself is never stored), or null on a
 *  server without keys. */
export function ownerOfKey(key: string | undefined): string | null {
  return key === undefined ? null : createHash('sha256').update(`cylo-submission-owner:${key}`, 'utf8').digest('hex');
}
