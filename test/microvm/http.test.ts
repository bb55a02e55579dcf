// The microVM backend over HTTP with a real Fastify server (inject): a request's `isolation`
// reaches the backend, the result and /metrics name it, and an isolation the server does not
// offer (or an unknown one) is refused with its code, never run on the other backend.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { hardwareKvm } from '../../src/microvm/accelerator.js';
import { testCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { MiB } from '../support/units.js';

const GUEST = process.env.CYLO_GUEST_DIR ?? '/usr/local/lib/cylo/guest';
const skip = sandboxSkipReason() ?? (existsSync(`${GUEST}/runtimes.ext4`) && existsSync(`${GUEST}/kernel/vmlinuz`) && existsSync('/usr/bin/qemu-system-x86_64') ? undefined : `no guest kernel, runtime image or QEMU (scripts/setup.sh)`);
const accel = hardwareKvm() === null ? 'software emulation (TCG)' : 'KVM';

describe(`microVM over HTTP, ${accel}`, { skip }, () => {
  const apps: FastifyInstance[] = [];
  after(async () => {
    for (const a of apps) await a.close();
  });

  test(`POST /v1/execute with isolation "microvm" runs in a VM; result and /metrics name the backend (${accel})`, async () => {
    // Proves: the HTTP entry point passes `isolation` through to the microVM backend, and the
    // backend label of cylo_executions_total says which backend ran.
    const cylo = testCylo({ microvmAllowTcg: true, microvmMemoryMiB: 320, concurrency: 1, defaultLimits: { timeoutMs: 60_000, cpuTimeMs: 60_000, memoryBytes: 128 * MiB, compileMemoryBytes: 128 * MiB } }, 0);
    const app = await buildServer({ cylo, logger: false, processMetrics: false });
    apps.push(app);
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(6 * 7)', isolation: 'microvm' } });
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json() as { status: string; backend: string; run: { stdout: string } };
      assert.equal(body.status, 'ok', r.body);
      assert.equal(body.backend, 'microvm');
      assert.equal(body.run.stdout, '42\n');
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /cylo_executions_total\{api="native",status="ok",backend="microvm"\} 1/);
    } finally {
      await cylo.close({ graceMs: 0 });
    }
  });

  test('an isolation the server does not offer is 400 CYLO_E_UNSUPPORTED; an unknown one CYLO_E_VALIDATION', async () => {
    // Proves: no silent fallback to the namespace backend over HTTP.
    const cylo = testCylo({ isolations: ['namespaces'], concurrency: 1 }, 128);
    const app = await buildServer({ cylo, logger: false, processMetrics: false });
    apps.push(app);
    try {
      const refused = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', isolation: 'microvm' } });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal((refused.json() as { error: { code: string; field?: string } }).error.code, 'CYLO_E_UNSUPPORTED');
      const unknown = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', isolation: 'container' } });
      assert.equal(unknown.statusCode, 400, unknown.body);
      assert.equal((unknown.json() as { error: { code: string } }).error.code, 'CYLO_E_VALIDATION');
    } finally {
      await cylo.close();
    }
  });
});
