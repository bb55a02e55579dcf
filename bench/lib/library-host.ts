// A process that embeds cylo's library and nothing else, for measuring the library's own
// resident memory when the HTTP service is not there (and beside it when it is).
// Protocol on stdin/stdout, one line each: it prints "ready" once it has run one execution;
// "load MS INFLIGHT" runs Python hello world with INFLIGHT executions in flight for MS
// milliseconds and prints "done COUNT FAILED FIRST-FAILURE"; "exit" closes cylo and exits.
import { createInterface } from 'node:readline';
import { createCylo } from '../../src/cylo.js';

const uidBase = Number(process.argv[2] ?? '2100100000');
const cylo = createCylo({ uidBase, uidCount: 512, queueLimit: 100_000 });

/** Runs the load; returns "COUNT FAILED first-failure" (a failed execution is reported, not
 *  fatal: the measurement is about memory). */
async function load(ms: number, inflight: number): Promise<string> {
  const until = performance.now() + ms;
  let count = 0;
  let failed = 0;
  let first = '';
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      try {
        const r = await cylo.execute({ language: 'python', code: 'print("hello, world")' });
        if (r.status !== 'ok') throw new Error(`status ${r.status}: ${r.run?.message ?? ''}`);
        count++;
      } catch (error) {
        failed++;
        first ||= (error as Error).message.replace(/\s+/g, ' ').slice(0, 300);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return `${count} ${failed} ${first}`;
}

async function main(): Promise<void> {
  const first = await cylo.execute({ language: 'python', code: 'print("hello, world")' });
  if (first.status !== 'ok') throw new Error(`first execution: ${first.status}`);
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, a, b] = line.trim().split(/\s+/);
    if (cmd === 'load') process.stdout.write(`done ${await load(Number(a), Number(b))}\n`);
    else if (cmd === 'exit') break;
  }
  await cylo.close({ graceMs: 2000 });
}

main().catch((error: unknown) => {
  process.stderr.write(`library-host: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
