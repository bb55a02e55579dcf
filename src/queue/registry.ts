// The live worker registry: each worker refreshes a heartbeat key (its id, host, runtimes,
// concurrency, load) that expires after HEARTBEAT_TTL_MS, so a worker that dies disappears by
// itself, and adds its id to one set (WORKERS_SET). A read takes the set's members and their
// keys in one script, dropping the members whose key expired: O(workers), where a SCAN for the
// keys walked the whole database (every finished job kept for 5 minutes). API nodes read it to route (a language no live worker offers is refused at once, see
// producer.ts) and for GET /v1/workers; the entries are checked (Redis is not trusted more than
// an HTTP client) and an unreadable one is skipped.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RuntimeInfo } from '../cylo.js';
import { WORKERS_SET, workerKey } from './keys.js';

/** A heartbeat is refreshed every HEARTBEAT_MS; it expires after HEARTBEAT_TTL_MS. */
export const HEARTBEAT_MS = 2000;
export const HEARTBEAT_TTL_MS = 6000;

export const workerInfoSchema = z.object({
  id: z.string().max(128),
  host: z.string().max(256),
  pid: z.number().int(),
  /** The languages it runs: ids and aliases, each with its version. */
  runtimes: z
    .array(
      z.object({
        language: z.string().max(64),
        aliases: z.array(z.string().max(64)).max(64),
        version: z.string().max(64).nullable(),
        // For /v1/runtimes in queue mode (absent from workers of an earlier version).
        extension: z.string().max(32).optional(),
        compiled: z.boolean().optional(),
      }),
    )
    .max(1000),
  concurrency: z.number().int(),
  running: z.number().int(),
  /** Jobs finished since it started (results and errors), for throughput. */
  completed: z.number().int(),
  startedAt: z.string().max(64),
  /** True once it drains (SIGTERM): it takes no new jobs. */
  draining: z.boolean(),
});
export type WorkerInfo = z.output<typeof workerInfoSchema>;

/** Writes a worker's heartbeat (with its TTL) and its id in the set, atomically. */
export async function writeHeartbeat(redis: Redis, info: WorkerInfo): Promise<void> {
  await redis.multi().set(workerKey(info.id), JSON.stringify(info), 'PX', HEARTBEAT_TTL_MS).sadd(WORKERS_SET, info.id).exec();
}

/** Removes a worker's heartbeat and its id (it stopped). */
export async function removeHeartbeat(redis: Redis, id: string): Promise<void> {
  await redis.multi().del(workerKey(id)).srem(WORKERS_SET, id).exec();
}

// KEYS[1]: the set; ARGV[1]: the heartbeat keys' prefix. Returns the live heartbeats' values;
// removes the ids whose key expired in the same step (atomic: a worker's beat, SET and SADD in
// one MULTI, is never undone by a read that saw its old key gone).
const READ_REGISTRY = `local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then out[#out + 1] = v else redis.call('SREM', KEYS[1], id) end
end
return out`;

/** Every live worker, sorted by id. Throws when Redis cannot be reached. */
export async function liveWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const values = (await redis.eval(READ_REGISTRY, 1, WORKERS_SET, workerKey(''))) as unknown;
  if (!Array.isArray(values)) return [];
  const workers: WorkerInfo[] = [];
  for (const value of values) {
    if (typeof value !== 'string') continue;
    try {
      const parsed = workerInfoSchema.safeParse(JSON.parse(value));
      if (parsed.success) workers.push(parsed.data);
    } catch {
      // not JSON: skipped
    }
  }
  return workers.sort((a, b) => a.id.localeCompare(b.id));
}

/** True when a live, not draining, worker offers `language` (an id or an alias; the version
 *  is the worker's to resolve). */
export function offers(workers: readonly WorkerInfo[], language: string): boolean {
  const name = language.trim().toLowerCase();
  return workers.some((w) => !w.draining && w.runtimes.some((r) => r.language === name || r.aliases.includes(name)));
}

/** What the API node lists as its runtimes in queue mode (/v1/runtimes, Piston's runtimes,
 *  Judge0's languages): the union of what the live, not draining, workers offer (aliases merged;
 *  the first worker by id gives the version), not the node's own toolchains. The node's own
 *  entry of a language (`local`) gives the fields workers do not advertise (package,
 *  environments); a language the node knows but no live worker offers stays listed as
 *  unavailable, its `problem` saying so. Sorted by language. */
export function unionRuntimes(workers: readonly WorkerInfo[], local: readonly RuntimeInfo[]): RuntimeInfo[] {
  const offered = new Map<string, RuntimeInfo>();
  for (const w of workers) {
    if (w.draining) continue;
    for (const r of w.runtimes) {
      const known = offered.get(r.language);
      if (known !== undefined) {
        known.aliases = [...new Set([...known.aliases, ...r.aliases])];
        continue;
      }
      const mine = local.find((l) => l.language === r.language);
      offered.set(r.language, {
        language: r.language,
        aliases: [...r.aliases],
        version: r.version,
        extension: r.extension ?? mine?.extension ?? '',
        compiled: r.compiled ?? mine?.compiled ?? false,
        package: mine?.package ?? '',
        environments: mine?.environments ?? [],
        available: true,
        problem: null,
      });
    }
  }
  const missing = local.filter((l) => !offered.has(l.language)).map((l) => ({ ...l, available: false, problem: 'no live worker of the queue offers it' }));
  return [...offered.values(), ...missing].sort((a, b) => a.language.localeCompare(b.language));
}
