// How an operator declares an environment's pre-imports (src/environments/preimport.ts): the
// option's object, the text form of CYLO_PREIMPORT and config strings, the default (datasci:
// numpy, pandas) and how an operator's entries go over it. A module name that is not one could
// reach the stub's __import__ as something else, so malformed names are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PREIMPORTS, parsePreimports, preimportField, resolvePreimports } from '../../src/environments/preimport.js';
import { normalizeOptions } from '../../src/options.js';
import { CyloError } from '../../src/errors.js';

test('text form: NAME=mod,mod;NAME2=mod; an empty list turns one off', () => {
  assert.deepEqual(parsePreimports(' datasci = numpy , pandas ; ml=torch;off='), { datasci: ['numpy', 'pandas'], ml: ['torch'], off: [] });
  assert.throws(() => parsePreimports('numpy,pandas'), /NAME=module/);
});

test('config field: object or text; malformed module and environment names refused', () => {
  assert.deepEqual(preimportField.parse('datasci=numpy,matplotlib.pyplot'), { datasci: ['numpy', 'matplotlib.pyplot'] });
  assert.deepEqual(preimportField.parse({ mine: ['requests'] }), { mine: ['requests'] });
  for (const bad of ['datasci=os;import', 'datasci=../x', 'Bad Name=numpy', { datasci: ['numpy pandas'] }, { datasci: ['__import__("os")'] }]) {
    assert.equal(preimportField.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('defaults: datasci pre-imports numpy and pandas; the operator\'s entries go over them', () => {
  assert.deepEqual(resolvePreimports(undefined), DEFAULT_PREIMPORTS);
  assert.deepEqual(resolvePreimports({ datasci: [] }), { datasci: [] });
  assert.deepEqual(normalizeOptions({}).preimport, { datasci: ['numpy', 'pandas'] });
  assert.deepEqual(normalizeOptions({ preimport: { mine: ['requests'] } }).preimport, { datasci: ['numpy', 'pandas'], mine: ['requests'] });
  assert.throws(() => normalizeOptions({ preimport: { datasci: ['1numpy'] } }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG');
});
