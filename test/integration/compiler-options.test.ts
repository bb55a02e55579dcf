// Per-request compiler options (issue 14, item 6), with the real C and C++ compilers in real
// sandboxes: an allowed flag changes the compile (-DVALUE=42 is printed by the program; -std=c11
// vs gnu11 changes what compiles; -D given as two elements works), the flags are part of the
// compile cache key (the same source with another -D prints another value, not the cached
// program's), and every dangerous flag is refused before anything runs, naming the flag. A
// language whose compile stage takes no options (Python) refuses them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CyloError } from '../../src/errors.js';
import { buildServer } from '../../src/server/app.js';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const T = { timeout: 120_000 };
const PRINT_VALUE = '#include <stdio.h>\nint main(void){ printf("%d\\n", VALUE); return 0; }\n';

after(closeSharedCylos);

describe('compiler options', () => {
  // Proves the flag reaches the compiler: without {compilerOptions} in the argv, VALUE is
  // undeclared and the compile fails.
  test('-DVALUE=42 is seen by the C program', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await getCylo().execute({ language: 'c', code: PRINT_VALUE, compilerOptions: ['-O0', '-DVALUE=42'] });
    assert.equal(r.status, 'ok', JSON.stringify(r.compile));
    assert.equal(r.run?.stdout, '42\n');
  });

  // Proves the options are part of the compile cache key: otherwise the second run would reuse
  // the first artifact (and print 42).
  test('another -D value compiles again (cache key), -D NAME=V as two elements works', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const r = await getCylo().execute({ language: 'cpp', code: PRINT_VALUE.replace('stdio.h', 'cstdio'), compilerOptions: ['-D', 'VALUE=7'] });
    assert.equal(r.status, 'ok', JSON.stringify(r.compile));
    assert.equal(r.run?.stdout, '7\n');
    const again = await getCylo().execute({ language: 'cpp', code: PRINT_VALUE.replace('stdio.h', 'cstdio'), compilerOptions: ['-DVALUE=8'] });
    assert.equal(again.run?.stdout, '8\n');
  });

  // Proves -std= comes after the runtime's default and wins: `typeof` is a GNU extension that
  // strict C11 refuses with -pedantic-errors.
  test('-std=c11 -pedantic-errors changes what compiles', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const code = 'int main(void){ int a = 1; typeof(a) b = a; return b - 1; }\n';
    const gnu = await getCylo().execute({ language: 'c', code, compilerOptions: ['-std=gnu11'] });
    assert.equal(gnu.status, 'ok', JSON.stringify(gnu.compile));
    const strict = await getCylo().execute({ language: 'c', code, compilerOptions: ['-std=c11', '-pedantic-errors'] });
    assert.equal(strict.status, 'compile_error');
  });

  const DANGEROUS = ['-fplugin=/tmp/x.so', '-B/tmp', '-wrapper', '/bin/sh', '@/etc/passwd', '-specs=/tmp/s', '--specs=/tmp/s', '-include/etc/passwd', '-include', '-I/etc', '-isystem/etc', '-o', '/tmp/out', '-L/tmp', '-Wl,-rpath,/tmp', '-DX=$(id)', '-DX="a b"', '-save-temps', '-x', '-E'];
  for (const flag of DANGEROUS) {
    // Proves the refusal happens in validation, before any sandbox or compiler runs.
    test(`refuses ${flag}`, async () => {
      await assert.rejects(getCylo().execute({ language: 'c', code: PRINT_VALUE, compilerOptions: ['-O2', flag] }), (e: unknown) => {
        assert.ok(e instanceof CyloError);
        assert.equal(e.code, 'CYLO_E_COMPILER_OPTION');
        assert.equal(e.field, 'compilerOptions[1]');
        assert.ok(e.message.includes(JSON.stringify(flag)), e.message);
        return true;
      });
    });
  }

  // The native HTTP API has the field too (the same request schema): 400 with the code and field.
  test('native HTTP: POST /v1/execute with compilerOptions', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const app = await buildServer({ cylo: getCylo(), logger: false, processMetrics: false });
    try {
      const ok = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'c', code: PRINT_VALUE, compilerOptions: ['-DVALUE=5'] } });
      assert.equal((JSON.parse(ok.body) as { run: { stdout: string } }).run.stdout, '5\n');
      const refused = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'c', code: PRINT_VALUE, compilerOptions: ['-B/tmp'] } });
      assert.equal(refused.statusCode, 400);
      assert.deepEqual((JSON.parse(refused.body) as { error: { code: string; field: string } }).error.code, 'CYLO_E_COMPILER_OPTION');
    } finally {
      await app.close();
    }
  });

  test('a language without {compilerOptions} refuses them', async () => {
    await assert.rejects(getCylo().execute({ language: 'python', code: 'print(1)', compilerOptions: ['-O2'] }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_COMPILER_OPTION' && e.field === 'compilerOptions');
  });
});
