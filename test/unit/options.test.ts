// createCylo's options: one normalise-then-validate step (src/options.ts). Every invalid or
// unknown option is refused at once with CYLO_E_CONFIG, naming the field in one message shape;
// defaults are filled in. No sandbox is started: the host is only checked on first use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCylo, type CyloOptions } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { normalizeOptions } from '../../src/options.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS } from '../../src/api/limits.js';

function refused(options: unknown, field: string, pattern: RegExp): void {
  assert.throws(
    () => createCylo(options as CyloOptions),
    (e: unknown) => {
      assert.ok(e instanceof CyloError, `a CyloError, got ${String(e)}`);
      assert.equal(e.code, 'CYLO_E_CONFIG');
      assert.equal(e.field, field);
      assert.match(e.message, pattern);
      assert.ok(e.message.startsWith(`${field}: `), `the message starts with the field: ${e.message}`);
      return true;
    },
  );
}

test('an unknown option is refused, not ignored (a typo must not silently change nothing)', () => {
  refused({ concurency: 2 }, 'concurency', /unknown field; remove it/);
  refused({ defaultLimits: { timeout: 5 } }, 'defaultLimits.timeout', /unknown field/);
  refused({ requestBounds: { maxFile: 1 } }, 'requestBounds.maxFile', /unknown field/);
});

test('invalid values name the field, what was expected and what was given', () => {
  refused({ concurrency: 0 }, 'concurrency', /expected .*0.*\(got number 0\)/);
  refused({ concurrency: 1.5 }, 'concurrency', /\(got number 1\.5\)/);
  refused({ queueLimit: -1 }, 'queueLimit', /\(got number -1\)/);
  refused({ maxLimits: { memoryBytes: -1 } }, 'maxLimits.memoryBytes', /\(got number -1\)/);
  refused({ relax: ['cgroups'] }, 'relax[0]', /landlock, seccomp/);
  refused({ uidBase: 5 }, 'uidBase', /\(got number 5\)/);
  refused({ uidBase: 0xfffffff0, uidCount: 100 }, 'uidBase', /largest uid/);
  refused({ prewarm: 'yes' }, 'prewarm', /expected boolean \(got string "yes"\)/);
  refused({ log: 'console' }, 'log', /function/);
  refused({ cacheDir: true }, 'cacheDir', /\(got boolean\)/);
});

test('defaults are filled in; a default above the maximum is lowered to it', () => {
  const o = normalizeOptions({ maxLimits: { timeoutMs: 2000 } });
  assert.equal(o.maxLimits.timeoutMs, 2000);
  assert.equal(o.defaultLimits.timeoutMs, 2000, 'the default follows a lower maximum');
  assert.equal(o.defaultLimits.memoryBytes, DEFAULT_LIMITS.memoryBytes);
  assert.equal(o.maxLimits.memoryBytes, DEFAULT_MAX_LIMITS.memoryBytes);
  assert.ok(o.concurrency >= 1);
  assert.equal(o.queueLimit, o.concurrency * 16);
  assert.equal(o.prepare, true);
  assert.equal(normalizeOptions({ prewarm: false }).prepare, false, 'prewarm is the alias of prepare');
  assert.equal(normalizeOptions({ prepare: false }).prepare, false);
});

test('cpuShare: CPUs per execution, 0.01 to 1024 (unset: no cap); CYLO_CPU_SHARE reaches it', async () => {
  // Proves the option is checked (a zero or negative share would mean "never run") and that the
  // environment variable and config key reach the library option.
  assert.equal(normalizeOptions({}).cpuShare, undefined);
  assert.equal(normalizeOptions({ cpuShare: 0.5 }).cpuShare, 0.5);
  refused({ cpuShare: 0 }, 'cpuShare', /0\.01/);
  refused({ cpuShare: 2000 }, 'cpuShare', /1024/);
  const { cyloOptionsFromConfig, loadConfig } = await import('../../src/config/load.js');
  assert.equal(cyloOptionsFromConfig(loadConfig({ env: { CYLO_CPU_SHARE: '0.25' }, defaultPath: false })).cpuShare, 0.25);
  assert.throws(() => loadConfig({ env: { CYLO_CPU_SHARE: 'half' }, defaultPath: false }), /CYLO_CPU_SHARE.*number of CPUs/);
});
