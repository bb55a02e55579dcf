// Several cylo processes side by side for a while (issue 13), all through the real bin/cylo:
// `cylo serve` (idle slots holding prepared sandboxes, one long execution and a stream of short
// ones over HTTP), two streams of one-shot `cylo exec`s, and one `cylo exec` inside its own PID
// namespace (unshare --pid --fork --mount-proc) whose program runs for the whole soak. None uses
// an explicit uid range: each claims its own. Sampled from the host throughout:
//  - no host uid is held by processes of two instances at once, and every process of an
//    instance runs as a uid of its own range (read from the live sandbox processes' uids);
//  - no execution of one is killed or cleaned by another (every run ends ok with its full output,
//    the long ones included, though each new `cylo exec` runs the start-up orphan cleanup);
// and after all stop, nothing is left: no execution cgroup of theirs, no process as their uids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { ownerOf, processStartTime } from '../../src/sandbox/cgroup-name.js';
import { skipWithoutSandbox } from '../support/host.js';
import { processesWith, readProcess } from '../support/processes.js';
import { spawnServe } from '../support/serve.js';
import { settled } from '../support/wait.js';

const BIN = resolve('bin/cylo');
/** How long the streams keep starting new runs, in ms (bounded: the test's timeout is 3 min). */
const SOAK_MS = 25_000;
/** The PID-namespace instance's program: one `id -u` line every 0.25 s, for about the soak. */
const LONG_ROUNDS = 100;
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The host pids of the cylo processes this test started (serve, each exec, and unshare, whose
 *  forked child is the namespace's PID 1 and runs cylo). */
const started = new Set<number>();

function runToEnd(argv: string[]): Promise<Done> {
  const child = spawn(argv[0] as string, argv.slice(1), { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child.pid as number);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

/** An instance: the owner part of its cgroup names (pid and start time, as its own PID
 *  namespace sees the pid) and its uid range. */
type Owner = { key: string; base: number; count: number };

/** Owner keys (pid-start, as the cgroup names carry them) of the instances this test started:
 *  each started process by its own pid, and the children of `unshare` as PID 1 of their
 *  namespace. Owners not in here belong to other work on the host and are not judged. */
function ourOwnerKeys(): Set<string> {
  const keys = new Set<string>();
  for (const pid of started) {
    const start = processStartTime(pid);
    if (start !== undefined) keys.add(`${pid}-${start}`);
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      // gone
    }
    for (const c of children) {
      const cs = processStartTime(Number(c));
      if (cs !== undefined) keys.add(`1-${cs}`);
    }
  }
  return keys;
}

/** One host-side sample: every live execution cgroup's owner and the host uids of its processes. */
function sample(): Array<{ owner: Owner; uids: number[] }> {
  const driver = openCgroups();
  const out: Array<{ owner: Owner; uids: number[] }> = [];
  for (const name of driver.list()) {
    const o = ownerOf(name);
    if (o?.range === undefined) continue;
    const uids = driver
      .open(name)
      .pids()
      .map((pid) => readProcess(pid)?.uids[0])
      .filter((u): u is number => u !== undefined && u !== 0);
    out.push({ owner: { key: `${o.pid}-${o.start}`, ...o.range }, uids });
  }
  return out;
}

const execStream = async (tag: string, until: number, results: Done[]): Promise<void> => {
  // Two `id -u` in one run, 0.3 s apart: the same uid twice (one execution, not restarted).
  while (performance.now() < until) results.push({ ...(await runToEnd([process.execPath, BIN, 'exec', '--lang', 'bash', '-c', `id -u; sleep 0.3; id -u; echo ${tag}`])) });
};

const httpStream = async (base: string, until: number, results: Array<{ status: string; stdout: string }>): Promise<void> => {
  while (performance.now() < until) {
    const r = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: 'id -u; sleep 0.2; id -u' }) });
    const body = (await r.json()) as { status: string; run?: { stdout: string } };
    results.push({ status: body.status, stdout: body.run?.stdout ?? JSON.stringify(body) });
  }
};

/** After all stopped: no execution cgroup of these owners is left, and no process runs as one
 *  of their uids (other engineers' instances may run too: only ours are judged). */
async function assertNothingLeft(owners: Map<string, Owner>): Promise<void> {
  const ours = [...owners.values()];
  const leftCgroups = await settled(
    () => sample().filter((s) => owners.has(s.owner.key)).map((s) => s.owner.key),
    (left) => left.length === 0,
  );
  assert.deepEqual(leftCgroups, [], 'execution cgroups left behind');
  const inOurRanges = (u: number | undefined): boolean => u !== undefined && ours.some((o) => u >= o.base && u < o.base + o.count);
  // A process as one of our uids that is in no execution cgroup, or in one of ours, is a leftover
  // (a range released at the end may already be claimed by another instance on a shared host).
  const strays = processesWith('').filter((p) => {
    if (!inOurRanges(p.uids[0])) return false;
    let cgroup: string;
    try {
      cgroup = readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
    } catch {
      return false; // gone meanwhile
    }
    const m = /\/(x-(\d+)-(\d+)-\d+-r\d+\.\d+)/.exec(cgroup);
    return m === null || owners.has(`${m[2]}-${m[3]}`);
  });
  assert.deepEqual(strays.map((p) => `${p.pid} ${p.cmdline.join(' ')}`), [], 'processes left as our sandbox uids');
}

test('serve + streams of cylo exec + one cylo exec in its own PID namespace, together: no shared uid, nothing killed by another, nothing left', { timeout: 180_000 }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0) return t.skip('unshare --pid --fork --mount-proc does not work here');
  const served = await spawnServe([], {});
  started.add(served.pid);
  const violations: string[] = [];
  const owners = new Map<string, Owner>();
  let mostAtOnce = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const mine = ourOwnerKeys();
      const now = sample();
      const byUid = new Map<number, Set<string>>();
      for (const { owner, uids } of now) {
        const ours = mine.has(owner.key);
        if (ours) owners.set(owner.key, owner);
        for (const u of uids) {
          if (ours && (u < owner.base || u >= owner.base + owner.count)) violations.push(`${owner.key} ran uid ${u} outside its range ${owner.base}+${owner.count}`);
          byUid.set(u, (byUid.get(u) ?? new Set()).add(owner.key));
        }
      }
      // a uid shared by two instances, at least one of them ours
      for (const [u, keys] of byUid) if (keys.size > 1 && [...keys].some((k) => mine.has(k))) violations.push(`uid ${u} held by ${[...keys].join(' and ')} at once`);
      mostAtOnce = Math.max(mostAtOnce, new Set(now.filter((s) => s.uids.length > 0 && mine.has(s.owner.key)).map((s) => s.owner.key)).size);
      await sleep(50);
    }
  })();
  try {
    const until = performance.now() + SOAK_MS;
    const nsRun = runToEnd(['unshare', '--pid', '--fork', '--mount-proc', process.execPath, BIN, 'exec', '--lang', 'bash', '--timeout', '60s', '-c', `for i in $(seq 1 ${LONG_ROUNDS}); do id -u; sleep 0.25; done; echo end`]);
    const longHttp = fetch(`${served.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: 'sleep 20; id -u; echo end', limits: { timeoutMs: 60_000, cpuTimeMs: 10_000 } }) }).then(
      async (r) => (await r.json()) as { status: string; run?: { stdout: string } },
      (error: Error) => ({ status: `request failed: ${error.message}` }) as { status: string; run?: { stdout: string } },
    );
    const execs: Done[] = [];
    const https: Array<{ status: string; stdout: string }> = [];
    await Promise.all([execStream('a', until, execs), execStream('b', until, execs), httpStream(served.base, until, https)]);
    const ns = await nsRun;
    const long = await longHttp;

    // Nothing was killed or cleaned by another instance: every run ended ok with all its output.
    assert.equal(ns.code, 0, `the PID-namespace instance: ${ns.stderr}`);
    const nsLines = ns.stdout.trim().split('\n');
    assert.equal(nsLines.length, LONG_ROUNDS + 1, ns.stdout);
    assert.equal(new Set(nsLines.slice(0, -1)).size, 1, 'one uid throughout its run');
    assert.equal(long.status, 'ok', JSON.stringify(long));
    assert.match(long.run?.stdout ?? '', /^\d+\nend\n$/);
    assert.ok(execs.length >= 4, `exec runs: ${execs.length}`);
    for (const e of execs) {
      assert.equal(e.code, 0, e.stderr);
      const [u1, u2] = e.stdout.split('\n');
      assert.equal(u1, u2, `one uid per execution: ${e.stdout}`);
    }
    for (const h of https) assert.equal(h.status, 'ok', h.stdout);
  } catch (error) {
    // Say what the sampler saw too: a shared uid is the usual cause of a run killed by another.
    throw new Error(`${(error as Error).message}; sampler: ${violations.length} violations ${JSON.stringify(violations.slice(0, 5))}`, { cause: error });
  } finally {
    sampling = false;
    await sampler;
    served.child.kill('SIGTERM');
    await served.exited;
  }
  assert.deepEqual(violations.slice(0, 10), [], `${violations.length} violations`);
  // The sampler saw each kind: serve's sandboxes, the namespace's PID 1, and one-shot execs.
  const keys = [...owners.keys()];
  assert.ok(keys.some((k) => k.startsWith(`${served.pid}-`)), `serve's executions were sampled: ${keys.join(', ')}`);
  assert.ok(keys.some((k) => k.startsWith('1-')), `the PID-namespace instance's execution was sampled: ${keys.join(', ')}`);
  assert.ok(keys.length >= 4, `one-shot execs were sampled: ${keys.join(', ')}`);
  assert.ok(mostAtOnce >= 3, `at most ${mostAtOnce} instances were seen running sandboxes at once: the soak did not overlap them`);

  await assertNothingLeft(owners);
});
