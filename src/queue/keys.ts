// The names cylo uses in Redis, in one place: the BullMQ queue, the per-job event channels, the
// cancel channel and key, the worker registry. Every name starts with `cylo` so that one Redis
// database can be shared with other applications.

/** The one BullMQ queue of executions (routing: see producer.ts and docs/scaling.md). */
export const QUEUE_NAME = 'cylo-executions';
/** BullMQ's key prefix for it. */
export const QUEUE_PREFIX = 'cylo:bull';

/** The pub/sub channel a worker publishes a job's live events on (SSE through the queue). */
export const eventsChannel = (jobId: string): string => `cylo:events:${jobId}`;

/** An API node's pub/sub channel for its jobs' outcomes (the fast path: result-channel.ts). */
export const resultsChannel = (nodeId: string): string => `cylo:results:${nodeId}`;

/** The pub/sub channel every worker listens on for cancellations (the message: a job id). */
export const CANCEL_CHANNEL = 'cylo:cancel';
/** Set (with a TTL) when a job is cancelled, for a worker that picks the job up after the
 *  cancel message went out. */
export const cancelKey = (jobId: string): string => `cylo:cancelled:${jobId}`;

/** A worker's heartbeat key (expires unless refreshed: a dead worker disappears by itself). */
export const workerKey = (workerId: string): string => `cylo:worker:${workerId}`;
/** The set of the ids of workers that wrote a heartbeat (registry.ts: an id whose heartbeat key
 *  expired is dropped by the next read). */
export const WORKERS_SET = 'cylo:workers';
