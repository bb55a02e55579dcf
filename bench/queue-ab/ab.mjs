/* global performance */
// The queue hop's legs, build A against build B in one run (used for BENCHMARKS.md, "Cutting
// the queue hop"): a Python hello world directly (a cylo instance in this process) and through
// the queue of each build (its own redis-server and a QueueWorker in a process of its own,
// worker.mjs, concurrency 1, prepared sandboxes), interleaved with an idle GAP ms before each
// execution; the legs from µs timestamps taken on both sides (patched in at run time: nothing of
// this is in the builds). Each ROOT is a checkout built with `npm run build` (its dist/ is used).
//   ROOTS=/tmp/before,/path/to/cylo N=80 GAP=40 [PREP=off] node bench/queue-ab/ab.mjs
// Runs as root like the bench (sandboxes); uids 2_100_400_000.. and 2_100_500_000.. are used.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
const ROOTS = (process.env.ROOTS ?? '').split(',').filter(Boolean);
if (ROOTS.length === 0) throw new Error('ROOTS=dir[,dir]: built checkouts to compare');
const N = Number(process.env.N ?? 60), GAP = Number(process.env.GAP ?? 40), prepare = process.env.PREP ?? 'on';
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HELLO = { language: 'python', code: 'print("hi")\n' };
const RUN = { owner: null, api: 'native' };
const { startRedis } = await import(`${ROOTS[ROOTS.length - 1]}/dist/test/support/redis.js`);
const { createCylo } = await import(`${ROOTS[ROOTS.length - 1]}/dist/src/cylo.js`);
const variants = [];
for (const [i, root] of ROOTS.entries()) {
  const redis = await startRedis();
  const worker = fork(new URL('./worker.mjs', import.meta.url).pathname, [root, redis.url, prepare, String(400_000 + i * 1000)]);
  await once(worker, 'message');
  const { parseQueueUrl } = await import(`${root}/dist/src/queue/connection.js`);
  const { QueueClient } = await import(`${root}/dist/src/queue/producer.js`);
  const client = new QueueClient({ connection: parseQueueUrl(redis.url), queueLimit: 1000, log: (level, message, fields) => { if (level !== "info") process.stderr.write(`${level}: ${message} ${JSON.stringify(fields ?? {})}\n`); } });
  await client.ready();
  const v = { name: root, redis, worker, client, m: {}, dl: {}, cur: {} };
  const q = client.queue; const origAdd = q.add.bind(q);
  q.add = async (n, d, o) => { v.cur.a0 = now(); v.cur.id = o.jobId; const r = await origAdd(n, d, o); v.cur.a1 = now(); return r; };
  const p = client.pending; const origDeliver = p.deliver.bind(p);
  p.deliver = (id, val) => { v.dl[id] = now(); return origDeliver(id, val); };
  for (let k = 0; k < 5; k++) await client.execute(HELLO, RUN);
  variants.push(v);
}
const direct = createCylo({ uidBase: 2_100_000_000 + 500_000, uidCount: 64, concurrency: 1, prepare: prepare !== 'off' });
for (let k = 0; k < 5; k++) await direct.execute(HELLO);
const la0 = loadavg()[0];
const rows = [];
for (let i = 0; i < N; i++) {
  const ways = ['d', ...variants.keys()];
  const order = ways.map((_, k) => ways[(k + i) % ways.length]);
  const r = {};
  for (const way of order) {
    await sleep(GAP);
    const t = now();
    if (way === 'd') { await direct.execute(HELLO); r.d = now() - t; continue; }
    const v = variants[way];
    v.cur = { t0: t };
    const res = await v.client.execute(HELLO, RUN);
    v.cur.t1 = now();
    if (res.status !== 'ok') throw new Error(res.status);
    v.m[v.cur.id] = v.cur; r[way] = { id: v.cur.id, ms: v.cur.t1 - t };
  }
  rows.push(r);
}
const la1 = loadavg()[0];
const med = (xs) => { const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return s[Math.floor(s.length * 0.9)]; };
console.log(`N=${N} GAP=${GAP} prepare=${prepare} load(1 min) ${la0.toFixed(2)} -> ${la1.toFixed(2)}; direct median ${med(rows.map((r) => r.d)).toFixed(3)} ms`);
const table = {};
for (const [k, v] of variants.entries()) {
  v.worker.send('marks');
  const [{ marks }] = await once(v.worker, 'message');
  const L = { 'API: call -> add sent (route, bound)': [], 'add (client round trip)': [], 'add sent -> worker took the job': [], 'took -> execution starts (checks)': [], ' took -> watch (parse, normalize)': [], ' watch call (sync part)': [], ' watch returned -> execute entered': [], 'execution (worker)': [], 'execution end -> publish': [], 'publish -> API has it': [], 'API has it -> returned': [], 'hop: client time - execution': [], 'paired: queued - direct': [] };
  for (const r of rows) {
    const a = v.m[r[k].id]; const w = marks[r[k].id]; const dl = v.dl[r[k].id] ?? NaN;
    L['API: call -> add sent (route, bound)'].push(a.a0 - a.t0); L['add (client round trip)'].push(a.a1 - a.a0);
    L['add sent -> worker took the job'].push(w.take - a.a0); L['took -> execution starts (checks)'].push(w.e0 - w.take); L[' took -> watch (parse, normalize)'].push(w.watch - w.take); L[' watch call (sync part)'].push(w.watched - w.watch); L[' watch returned -> execute entered'].push(w.e0 - w.watched);
    L['execution (worker)'].push(w.e1 - w.e0); L['execution end -> publish'].push(w.pub - w.e1); L['publish -> API has it'].push(dl - w.pub);
    L['API has it -> returned'].push(a.t1 - dl); L['hop: client time - execution'].push((a.t1 - a.t0) - (w.e1 - w.e0)); L['paired: queued - direct'].push(r[k].ms - r.d);
  }
  for (const [name, xs] of Object.entries(L)) (table[name] ??= []).push(`${med(xs).toFixed(3)} (p90 ${p90(xs).toFixed(2)})`);
}
console.log(`| leg (median ms, p90) | ${variants.map((v) => v.name).join(' | ')} |`);
for (const [name, cols] of Object.entries(table)) console.log(`| ${name} | ${cols.join(' | ')} |`);
const { spawnSync } = await import('node:child_process');
for (const v of variants) console.log(v.name, spawnSync('redis-cli', ['-p', String(v.redis.port), 'info', 'commandstats'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /calls=/.test(l)).map((l) => l.replace(/,rejected_calls=0,failed_calls=0/, '')).join('\n'));
for (const v of variants) { v.worker.send('stop'); await once(v.worker, 'exit'); await v.client.close(); await v.redis.remove(); }
await direct.close({ graceMs: 0 });
process.exit(0);
