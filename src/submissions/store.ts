// The storage of submissions behind one small interface: SQLite today (sqlite-store.ts), Redis
// for many machines next. Every method is async so that a networked store fits; every state
// change that two parties could race on (claim, finish, cancel) is one atomic conditional
// update in the store, never a read-then-write in the service.
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { CyloErrorCode } from '../errors.js';

export const SUBMISSION_STATUSES = ['queued', 'running', 'done', 'cancelled'] as const;
export type SubmissionStatus = (typeof SUBMISSION_STATUSES)[number];

/** Final states: nothing changes a submission's status after these. */
export const FINAL_STATUSES: readonly SubmissionStatus[] = ['done', 'cancelled'];

/** Why a submission has no result: the gate threw (or the server died twice while running it). */
export interface SubmissionError {
  code: CyloErrorCode;
  message: string;
}

/** One POST of the record to the callback URL. */
export interface DeliveryAttempt {
  /** When the attempt started, epoch ms. */
  at: number;
  /** The receiver's HTTP status, or null when no answer came (refused, timeout, not allowed). */
  statusCode: number | null;
  /** What went wrong without an answer, or a non-2xx answer; null on success. */
  error: string | null;
}

/** pending: to be delivered (or retried); delivered: a 2xx came back; failed: every attempt
 *  failed, or the destination was refused at delivery. null: no callbackUrl. */
export type WebhookState = 'pending' | 'delivered' | 'failed';

export interface StoredSubmission {
  /** Unguessable id (base64url of 16+ random bytes). */
  id: string;
  /** sha256 of the API key that made it (never the key), or null on a server without a token. */
  owner: string | null;
  status: SubmissionStatus;
  /** The execute request exactly as accepted (validated at submit time). */
  request: ExecuteRequest;
  callbackUrl: string | null;
  /** Times it was started (claimed); a restart re-runs a `running` one once (attempts 1 -> 2). */
  attempts: number;
  result: ExecutionResult | null;
  error: SubmissionError | null;
  /** Epoch ms. */
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  webhook: WebhookState | null;
  deliveries: DeliveryAttempt[];
}

export type NewSubmission = Pick<StoredSubmission, 'id' | 'owner' | 'request' | 'callbackUrl' | 'createdAt'>;

/** How a submission ends: done with a result or an error, or cancelled. */
export type Finish = { status: 'done'; result: ExecutionResult | null; error: SubmissionError | null } | { status: 'cancelled' };

export interface SubmissionStore {
  /** Stores new submissions as `queued`, all or none (a batch is one transaction). */
  insert(submissions: NewSubmission[]): Promise<void>;
  get(id: string): Promise<StoredSubmission | undefined>;
  /** Atomically takes the oldest `queued` submission: `running`, attempts + 1, startedAt = now. */
  claimNext(now: number): Promise<StoredSubmission | undefined>;
  /** Ends a submission that is not final yet (`from`: the statuses it may be in); false when it
   *  already was final or in another state (e.g. cancelled meanwhile). The webhook becomes
   *  `pending` when it has a callbackUrl. */
  finish(id: string, outcome: Finish, now: number, from: readonly SubmissionStatus[]): Promise<StoredSubmission | undefined>;
  /** Puts a `running` submission back to `queued` (the server stopped it while shutting down);
   *  `attempts` is set to the given count. */
  requeue(id: string, attempts: number): Promise<boolean>;
  /** How many submissions wait (`queued`). */
  countQueued(): Promise<number>;
  /** Submissions in one status, oldest first (restart recovery). */
  listByStatus(status: SubmissionStatus): Promise<StoredSubmission[]>;
  /** Final submissions whose webhook is still `pending` (deliveries to resume after a restart). */
  pendingWebhooks(): Promise<StoredSubmission[]>;
  /** Appends one delivery attempt and sets the webhook state. */
  recordDelivery(id: string, attempt: DeliveryAttempt, state: WebhookState): Promise<void>;
  /** Deletes final submissions that finished before `finishedBefore` (epoch ms); returns how many. */
  sweep(finishedBefore: number): Promise<number>;
  close(): Promise<void>;
}
