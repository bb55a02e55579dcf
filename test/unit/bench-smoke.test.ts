// Smoke test of the benchmark harness (bench/run.ts): a --quick run of the hello-world
// measurement for Python and Bash, as a child process, must produce figures. It never asserts
// how fast anything is (timings on a shared machine are not test material). Needs a host that
// can run sandboxes (test/support/host.ts); skips visibly, with the reason, otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sandboxSkipReason } from '../support/host.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

/** The benchmarks run real sandboxes: the host must be able to, and the harness must be built. */
function skipReason(): string | false {
  return sandboxSkipReason() ?? (existsSync(RUN) ? false : `${RUN} is missing (build first)`);
}

interface Summary {
  n: number;
  median: number;
  p95: number;
}

test('bench --quick --only hello produces figures for python and bash', { skip: skipReason(), timeout: 90_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-bench-smoke-'));
  try {
    const json = join(dir, 'out.json');
    const r = spawnSync(process.execPath, [RUN, '--quick', '--only', 'hello', '--languages', 'python,bash', '--json', json], { encoding: 'utf8', timeout: 80_000 });
    assert.equal(r.status, 0, `bench exited with ${r.status ?? r.signal}:\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /\| python \|/, 'the Markdown table has a python row');
    const out = JSON.parse(readFileSync(json, 'utf8')) as {
      meta: { quick: boolean; machine: { cores: number } };
      targets: Array<{ id: string; met: boolean | null }>;
      sections: { hello: { data: { languages: Record<string, { bare: Summary | null; bwrap: Summary | null; cylo: Summary; http: Summary | null; ratioCylo: number | null }>; http: { skipped?: string } } } };
      failures: unknown[];
    };
    assert.equal(out.meta.quick, true);
    assert.ok(out.meta.machine.cores > 0);
    assert.deepEqual(out.failures, []);
    for (const language of ['python', 'bash']) {
      const d = out.sections.hello.data.languages[language];
      assert.ok(d !== undefined, `${language} was measured`);
      for (const variant of ['bare', 'bwrap', 'cylo'] as const) {
        const s = d[variant];
        assert.ok(s !== null && s.n > 0 && s.median > 0 && s.p95 >= s.median, `${language} ${variant}: ${JSON.stringify(s)}`);
      }
      // HTTP: figures when the service is there, otherwise a stated reason.
      if (d.http === null) assert.ok(typeof out.sections.hello.data.http.skipped === 'string', 'HTTP skipped without a reason');
      else assert.ok(d.http.median > 0);
      assert.ok(d.ratioCylo !== null && d.ratioCylo > 0);
    }
    // Every target is reported with a verdict field (met, missed or not measured), never dropped.
    assert.ok(out.targets.some((t) => t.id === 'hello.python.ratio'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
