// Queue mode's observability route: GET /v1/workers lists the live workers (heartbeat not
// expired) with their runtimes and load, and the queue's depth. Registered only in queue mode.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { QueueClient } from '../queue/producer.js';
import { workerInfoSchema } from '../queue/registry.js';
import { anyErrorResponses } from './schemas.js';

const workersResponseSchema = z.object({
  workers: z.array(workerInfoSchema).describe('Live workers: id, host, pid, runtimes, concurrency, running, completed (since start), startedAt, draining.'),
  queue: z.object({ waiting: z.number(), active: z.number() }).describe('Jobs waiting for a worker, and running.'),
});

export function registerWorkerRoutes(app: FastifyInstance, queue: QueueClient): void {
  app.get(
    '/v1/workers',
    { schema: { tags: ['native'], summary: 'Queue mode: live workers, their runtimes and load, and the queue depth', response: { 200: workersResponseSchema, ...anyErrorResponses } } },
    async () => ({ workers: await queue.workers(), queue: await queue.depth() }),
  );
}
