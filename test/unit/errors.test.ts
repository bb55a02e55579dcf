import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CyloError, ERROR_CODES } from '../../src/errors.js';

test('docs/errors.md lists every error code with its HTTP status', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} missing from docs/errors.md`);
  }
});

test('CyloError serialises to { error: { code, message, field } } without a stack', () => {
  const e = new CyloError('CYLO_E_VALIDATION', 'limits.pids: expected number', { field: 'limits.pids' });
  const json = JSON.stringify(e.toJSON());
  assert.deepEqual(JSON.parse(json), { error: { code: 'CYLO_E_VALIDATION', message: 'limits.pids: expected number', field: 'limits.pids' } });
  assert.doesNotMatch(json, /at .*\.js/);
  assert.equal(e.status, 400);
});
