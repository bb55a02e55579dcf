import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CyloError, ERROR_CODES } from '../../src/errors.js';

test('docs/errors.md lists every error code with its HTTP status', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `${code} missing from docs/errors.md`);
  }
  // and the other way round: the table has no code src/errors.ts does not know (a renamed or
  // removed code would otherwise stay documented).
  const documented = [...doc.matchAll(/^\| `(CYLO_E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ERROR_CODES).sort());
});

test('CyloError serialises to { error: { code, message, field } } without a stack', () => {
  const e = new CyloError('CYLO_E_VALIDATION', 'limits.pids: expected number', { field: 'limits.pids' });
  const json = JSON.stringify(e.toJSON());
  assert.deepEqual(JSON.parse(json), { error: { code: 'CYLO_E_VALIDATION', message: 'limits.pids: expected number', field: 'limits.pids' } });
  assert.doesNotMatch(json, /at .*\.js/);
  assert.equal(e.status, 400);
});
