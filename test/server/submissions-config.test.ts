// The submission settings of `cylo serve` (data directory, retention, webhook allowlist, secret,
// attempts, backoff, timeout) from flags, environment and the config file, with messages naming
// the flag, variable or field; and a token file with several API keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CyloError } from '../../src/errors.js';
import { loadServerConfig } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'cylo-submissions-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && pattern.test(e.message), String(pattern));
}

test('submission defaults: /var/lib/cylo, 24 h retention, loopback webhooks, 5 attempts from 2 s, 5 s timeout', () => {
  const c = loadServerConfig({ env: {} });
  assert.equal(c.dataDir, '/var/lib/cylo');
  assert.equal(c.retentionMs, 24 * 3600_000);
  assert.deepEqual(c.webhookAllow, ['127.0.0.0/8', '::1/128']);
  assert.equal(c.webhookSecret, undefined);
  assert.equal(c.webhookAttempts, 5);
  assert.equal(c.webhookBackoffMs, 2000);
  assert.equal(c.webhookTimeoutMs, 5000);
});

test('submission settings from flags, environment and file, flags first; bad values named', () => {
  const cfg = join(dir, 'c.json');
  writeFileSync(cfg, JSON.stringify({ dataDir: '/srv/cylo', retention: '2h', webhookAllow: ['hooks.example.com', '10.0.0.0/8'], webhookAttempts: 3 }));
  const c = loadServerConfig({ configPath: cfg, env: { CYLO_RETENTION: '30m', CYLO_WEBHOOK_SECRET: 'x'.repeat(40), CYLO_WEBHOOK_BACKOFF: '50ms' }, flags: { dataDir: '/tmp/d', webhookTimeout: '1s' } });
  assert.equal(c.dataDir, '/tmp/d');
  assert.equal(c.retentionMs, 30 * 60_000);
  assert.deepEqual(c.webhookAllow, ['hooks.example.com', '10.0.0.0/8']);
  assert.equal(c.webhookSecret, 'x'.repeat(40));
  assert.equal(c.webhookAttempts, 3);
  assert.equal(c.webhookBackoffMs, 50);
  assert.equal(c.webhookTimeoutMs, 1000);
  assert.deepEqual(loadServerConfig({ env: { CYLO_WEBHOOK_ALLOW: '127.0.0.1, *.corp.example' } }).webhookAllow, ['127.0.0.1', '*.corp.example']);
  configError(() => loadServerConfig({ env: { CYLO_WEBHOOK_SECRET: 'short' } }), /^CYLO_WEBHOOK_SECRET: expected at least 32 characters/);
  configError(() => loadServerConfig({ env: {}, flags: { webhookAttempts: '50' } }), /^--webhook-attempts: expected at most 20/);
  configError(() => loadServerConfig({ env: { CYLO_RETENTION: 'forever' } }), /^CYLO_RETENTION: expected a duration/);
});

test('a token file may list several API keys, one per line (blank lines and # comments ignored)', () => {
  const keys = join(dir, 'keys');
  writeFileSync(keys, '# team a\nkey-aaaaaaaa\n\nkey-bbbbbbbb\n');
  const c = loadServerConfig({ env: {}, flags: { tokenFile: keys } });
  assert.deepEqual(c.tokens, ['key-aaaaaaaa', 'key-bbbbbbbb']);
  assert.equal(c.token, 'key-aaaaaaaa');
  const bad = join(dir, 'bad-keys');
  writeFileSync(bad, 'one key\n');
  configError(() => loadServerConfig({ env: {}, flags: { tokenFile: bad } }), /a token in .* contains whitespace/);
  assert.deepEqual(loadServerConfig({ env: { CYLO_TOKEN: 'single' } }).tokens, ['single']);
});
