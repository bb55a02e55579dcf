// A second cylo instance in a process of its own, for the instances tests: started with
// `node dist/test/support/instance-child.js '<CyloOptions JSON>'` (possibly inside
// `unshare --pid --fork --mount-proc`), it sets its host up and creates its slots (warm: each
// holds a prepared sandbox, i.e. live processes in its execution cgroups), then prints one JSON
// line { pid, uidRange, error? } and serves: each stdin line "run" runs `id -u` in a sandbox
// and prints { status, stdout }. It closes its instance when stdin ends.
import { createInterface } from 'node:readline';
import { createCylo } from '../../src/cylo.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const cylo = createCylo({ concurrency: 2, defaultLimits: { timeoutMs: 5000, cpuTimeMs: 5000, memoryBytes: 128 * 1024 * 1024, pids: 32 }, ...options });
const say = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);

try {
  await cylo.warm();
  say({ pid: process.pid, uidRange: cylo.stats().uidRange });
} catch (error) {
  say({ pid: process.pid, error: (error as Error).message, code: (error as { code?: string }).code });
  process.exit(1);
}
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'run') continue;
  const result = await cylo.execute({ language: 'bash', code: 'id -u' });
  say({ status: result.status, stdout: result.run?.stdout ?? '' });
}
await cylo.close({ graceMs: 0 });
