// `bin/cylo serve` as a process: configured from the environment, JSON logs when stdout is not a
// terminal, and the graceful shutdown: on SIGINT/SIGTERM running executions finish within the
// grace period or are killed after it, queued ones are refused, the process exits 0, and no
// sandbox process or cgroup remains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { cgroupsNamed, processesWith, uniqueMarker } from '../support/processes.js';
import { type Served, spawnServe } from '../support/serve.js';
import { waitFor } from '../support/wait.js';

// Generous bounds: the host may be busy with other work (2 cores).
const T = { timeout: 90_000 };
const TOKEN = 'lifecycle-token-42';

function startServe(args: string[], env: Record<string, string> = {}, uidOffset = 0): Promise<Served> {
  return spawnServe(args, { CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 384 + uidOffset), CYLO_UID_COUNT: '64', ...env }, { timeoutMs: 40_000, strictJson: true });
}

function assertNothingLeft(served: Served, marker: string): void {
  assert.deepEqual(processesWith(marker), [], 'no sandbox process remains');
  assert.deepEqual(cgroupsNamed(`x-${served.child.pid}-`), [], 'no cgroup of the service remains');
}

test('SIGINT: an execution that ends within the grace period completes; the process exits 0', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const served = await startServe(['--grace', '5s'], { CYLO_TOKEN: TOKEN, CYLO_CONCURRENCY: '2' });
  try {
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    assert.equal((await fetch(`${served.base}/v1/runtimes`)).status, 401, 'CYLO_TOKEN is required');
    const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
    const pending = fetch(`${served.base}/v1/execute`, { method: 'POST', headers: auth, body: JSON.stringify({ language: 'bash', code: `sleep 1.${marker}; echo finished` }) });
    await waitFor('the execution to start', () => processesWith(marker).length > 0, 20_000);
    served.child.kill('SIGINT');
    await sleep(100);
    const late = await fetch(`${served.base}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    assert.notEqual(late, 200, 'no longer accepting once stopping');
    const res = await pending;
    assert.equal(res.status, 200);
    const result = (await res.json()) as { status: string; run: { stdout: string } };
    assert.equal(result.status, 'ok');
    assert.equal(result.run.stdout, 'finished\n');
    const exit = await served.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, served.stderr());
    assert.ok(served.logs.some((l) => l.msg === 'stop requested' && l.signal === 'SIGINT'));
    assert.ok(served.logs.some((l) => typeof l.reqId === 'string'), 'request ids in the logs');
    assertNothingLeft(served, marker);
  } finally {
    served.child.kill('SIGKILL');
  }
});

test('SIGTERM: queued executions are refused, a running one is killed after the grace period; exit 0, nothing left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const served = await startServe(['--grace', '1s', '--concurrency', '1', '--queue-limit', '4'], {}, 64);
  try {
    const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
    const headers = { 'content-type': 'application/json' };
    const running = fetch(`${served.base}/v1/execute`, { method: 'POST', headers, body: JSON.stringify({ language: 'bash', code: `sleep 30.${marker}`, limits: { timeoutMs: 40_000, cpuTimeMs: 40_000 } }) });
    await waitFor('the long execution to start', () => processesWith(marker).length > 0, 20_000);
    const queued = fetch(`${served.base}/api/v2/execute`, { method: 'POST', body: JSON.stringify({ language: 'bash', version: '*', files: [{ content: 'echo queued' }] }) });
    for (let i = 0; ; i++) {
      const m = await (await fetch(`${served.base}/metrics`)).text();
      if (/^cylo_queue_depth 1$/m.test(m)) break;
      assert.ok(i < 800, 'the second execution queues');
      await sleep(25);
    }
    const t0 = Date.now();
    served.child.kill('SIGTERM');

    const q = await queued;
    assert.equal(q.status, 503);
    const qBody = (await q.json()) as { message: string; error: { code: string } };
    assert.equal(qBody.error.code, 'CYLO_E_SHUTTING_DOWN');
    assert.equal(typeof qBody.message, 'string', 'Piston shape');

    const r = await running;
    const waited = Date.now() - t0;
    assert.equal(r.status, 503);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'CYLO_E_SHUTTING_DOWN');
    assert.match(body.error.message, /grace period/);
    assert.ok(waited >= 900, `killed after the grace period, not before (${waited} ms)`);
    const exit = await served.exited;
    const total = Date.now() - t0;
    t.diagnostic(`running execution answered ${waited} ms after SIGTERM; process exited after ${total} ms`);
    assert.ok(total < 15_000, `the 1 s grace period ended it, well before the program's 30 s sleep would have (${total} ms)`);
    assert.deepEqual(exit, { code: 0, signal: null }, served.stderr());
    assertNothingLeft(served, marker);
  } finally {
    served.child.kill('SIGKILL');
  }
});
