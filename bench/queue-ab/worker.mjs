/* global performance */
// ab.mjs's worker: a QueueWorker of the given build in a process of its own, its job's take,
// execution and publish timestamped (epoch ms with µs); sent to ab.mjs over IPC at the end.
const [root, url, prepare, uidOff] = process.argv.slice(2);
const { createCylo } = await import(`${root}/dist/src/cylo.js`);
const { parseQueueUrl } = await import(`${root}/dist/src/queue/connection.js`);
const { QueueWorker } = await import(`${root}/dist/src/queue/worker.js`);
const now = () => performance.timeOrigin + performance.now();
const cylo = createCylo({ uidBase: 2_100_000_000 + Number(uidOff), uidCount: 64, concurrency: 1, prepare: prepare !== 'off' });
const marks = {};
let cur;
const exec = cylo.execute.bind(cylo);
cylo.execute = async (...a) => { const id = cur; marks[id].e0 = now(); try { return await exec(...a); } finally { marks[id].e1 = now(); } };
const proto = QueueWorker.prototype;
const origProcess = proto.process;
proto.process = async function (job) { cur = job.id; marks[job.id] = { take: now() }; const r = await origProcess.call(this, job); marks[job.id].done = now(); return r; };
const w = new QueueWorker({ cylo, connection: parseQueueUrl(url), concurrency: 1, log: () => {} });
const pub = w.commands.publish.bind(w.commands);
w.commands.publish = (ch, msg) => { if (marks[cur]) marks[cur].pub = now(); return pub(ch, msg); };
const watch = w.cancels.watch.bind(w.cancels);
w.cancels.watch = (id, c) => { if (marks[cur]) marks[cur].watch = now(); const r = watch(id, c); if (marks[cur]) marks[cur].watched = now(); return r; };
await w.start();
process.send({ ready: true });
process.on('message', async (m) => {
  if (m === 'marks') process.send({ marks });
  if (m === 'stop') { await w.drain(); await cylo.close({ graceMs: 0 }); process.exit(0); }
});
