// Integration tests, with real compilers in real sandboxes, for results that must tell the truth
// when a compile gives nothing runnable or a program cannot be started (issue 12, item 2), and
// for the name of the signal of abort() (item 1) through the library, the native HTTP API and
// the Piston API:
// - Go `package app`: go build exits 0 and writes an archive; the result is a compile_error
//   naming `package main` / `func main`, and it is never cached (a second identical request
//   compiles again), while a good Go program is cached (so the cache is on in this instance);
// - Java: `public class Solution` sent as `code` runs; an entry file without `.java` runs; main
//   in another file's class runs; no main at all is a compile_error naming the fix;
// - C / C++ without main: a compile_error with the linker's diagnostic;
// - a program that cannot be started (not executable; a #! line naming a missing interpreter)
//   is a runtime_error whose message names the cause, never an internal_error; a compiler that
//   cannot be started (the runtime definition's fault) is the internal_error, naming it;
// - abort() reports SIGABRT (not SIGIOT) in every API.
// A missing toolchain skips that language's tests visibly, naming the package to install.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';
import { buildServer } from '../../src/server/app.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { MiB } from '../support/units.js';

const T = { timeout: 120_000 };

let dir: string;
let cylo: Cylo;

/** Languages defined by a runtimes file only, whose programs cannot be started. */
const RUNTIMES = {
  runtimes: [
    // Runs the entry file itself: request files arrive with mode 0644, so execve fails (EACCES).
    {
      id: 'noexec',
      extension: '.txt',
      entry: 'main.txt',
      package: 'coreutils',
      binary: { candidates: ['/bin/sh'] },
      version: { argv: ['{bin}', '-c', 'echo 1.0'], pattern: '(\\S+)' },
      run: { argv: ['{workspace}/{entry}'] },
    },
    // Compiles to an executable script whose #! line names an interpreter the sandbox lacks:
    // the artifact looks runnable, and execve fails in the run stage (ENOENT).
    {
      id: 'badshebang',
      extension: '.bs',
      entry: 'main.bs',
      package: 'coreutils',
      binary: { candidates: ['/bin/sh'] },
      version: { argv: ['{bin}', '-c', 'echo 1.0'], pattern: '(\\S+)' },
      compile: { argv: ['{bin}', '-c', 'printf "#!/nonexistent/interpreter\\n" > .build/run && chmod 755 .build/run'], artifact: '.build/run' },
      run: { argv: ['{workspace}/.build/run'] },
    },
    // A compile command that cannot be started (a directory: EACCES): the definition's fault.
    {
      id: 'badcompiler',
      extension: '.bc',
      entry: 'main.bc',
      package: 'coreutils',
      binary: { candidates: ['/bin/sh'] },
      version: { argv: ['{bin}', '-c', 'echo 1.0'], pattern: '(\\S+)' },
      compile: { argv: ['/usr'], artifact: '.build/main' },
      run: { argv: ['{workspace}/.build/main'] },
    },
  ],
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cylo-compile-outcomes-'));
  const runtimesFile = join(dir, 'runtimes.json');
  writeFileSync(runtimesFile, JSON.stringify(RUNTIMES));
  cylo = createCylo({
    cacheDir: join(dir, 'cache'),
    runtimesFile,
    defaultLimits: { timeoutMs: 10_000, cpuTimeMs: 10_000, memoryBytes: 256 * MiB, pids: 64, workspaceBytes: 64 * MiB },
    uidBase: TEST_UID_BASE,
    uidCount: TEST_UID_COUNT,
    concurrency: 2,
  });
});

after(async () => {
  await cylo?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Skips visibly when the host cannot sandbox or the language's toolchain is missing. */
async function skipUnless(t: TestContext, language: string): Promise<boolean> {
  if (skipWithoutSandbox(t)) return true;
  const r = await cylo.registry.resolve(language);
  if (r.available) return false;
  t.skip(`${language} not installed: apt-get install ${r.definition.package} (${r.problem ?? ''})`);
  return true;
}

const show = (r: ExecutionResult): string => JSON.stringify(r);
/** The compile cache's entries (one file each). */
const cacheEntries = (): string[] => (existsSync(join(dir, 'cache')) ? readdirSync(join(dir, 'cache')).filter((n) => n.endsWith('.artifact')) : []);
const exec = (request: ExecuteRequest): Promise<ExecutionResult> => cylo.execute(request);

describe('a compile that produces nothing runnable', () => {
  test('Go package app: compile_error naming package main / func main, never cached', T, async (t) => {
    if (await skipUnless(t, 'go')) return;
    const request = { language: 'go', code: 'package app\n\nfunc Add(a, b int) int { return a + b }\n\nfunc main() {}\n' };
    // Twice: the second would be a cache hit (and, before the fix, ran and failed as an
    // internal_error "sandbox setup failed ... Permission denied") if the archive were cached;
    // and the cache directory gains no entry.
    const before = cacheEntries();
    for (const round of [1, 2]) {
      const r = await exec(request);
      assert.equal(r.status, 'compile_error', `round ${round}: ${show(r)}`);
      assert.equal(r.run, null, show(r));
      assert.equal(r.compile?.status, 'compile_error', show(r));
      assert.equal(r.compile?.cached, false, `round ${round}: never a cache hit: ${show(r)}`);
      assert.match(r.compile?.message ?? '', /not executable: an archive/, show(r));
      assert.match(r.compile?.message ?? '', /`package main` and `func main\(\)`/, show(r));
    }
    assert.deepEqual(cacheEntries(), before, 'no cache entry for an archive');
  });

  test('Go package main: the control, cached on the second request (the cache is on here)', T, async (t) => {
    if (await skipUnless(t, 'go')) return;
    const request = { language: 'go', code: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("go ok") }\n' };
    const before = cacheEntries().length;
    const first = await exec(request);
    assert.equal(first.status, 'ok', show(first));
    assert.equal(first.compile?.cached, false, show(first));
    assert.equal(cacheEntries().length, before + 1, 'a runnable program is cached (the entry count is a real witness)');
    const second = await exec(request);
    assert.equal(second.status, 'ok', show(second));
    assert.equal(second.compile?.cached, true, show(second));
    assert.equal(second.run?.stdout, 'go ok\n');
  });

  test('C and C++ without main: compile_error with the linker naming main', T, async (t) => {
    for (const language of ['c', 'cpp']) {
      if (await skipUnless(t, language)) return;
      const r = await exec({ language, code: 'int helper(void) { return 1; }\n' });
      assert.equal(r.status, 'compile_error', show(r));
      assert.equal(r.run, null, show(r));
      assert.match(r.compile?.stderr ?? '', /undefined reference to `main'/, show(r));
    }
  });
});

describe('Java entry points', () => {
  const HELLO = (cls: string, extra = ''): string => `${extra}public class ${cls} {\n  public static void main(String[] args) {\n    System.out.println("hello from ${cls}");\n  }\n}\n`;

  test('public class Solution sent as code (Main.java) compiles and runs Solution', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const r = await exec({ language: 'java', code: HELLO('Solution', '// public class NotThis in a comment\nimport java.util.*;\n') });
    assert.equal(r.status, 'ok', show(r));
    assert.equal(r.run?.stdout, 'hello from Solution\n');
  });

  test('an entry file without .java, in a package, with main in a non-public class', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const content = 'package app.demo;\n\nclass Helper { static int two() { return 2; } }\n\nclass Runner {\n  static public void main(String... args) { System.out.println("runner " + Helper.two()); }\n}\n';
    const r = await exec({ language: 'java', files: [{ name: 'Program', content }] });
    assert.equal(r.status, 'ok', show(r));
    assert.equal(r.run?.stdout, 'runner 2\n');
  });

  test('main in another file than the entry: that class runs', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const r = await exec({
      language: 'java',
      files: [
        { name: 'Util.java', content: 'public class Util { static String hi() { return "util"; } }\n' },
        { name: 'App.java', content: 'public class App { public static void main(String[] a) { System.out.println("app " + Util.hi()); } }\n' },
      ],
    });
    assert.equal(r.status, 'ok', show(r));
    assert.equal(r.run?.stdout, 'app util\n');
  });

  test('no class declares main: compile_error naming what to add, not cached', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const request = { language: 'java', code: 'public class Solution {\n  public int twoSum(int a, int b) { return a + b; }\n}\n' };
    const before = cacheEntries();
    for (const round of [1, 2]) {
      const r = await exec(request);
      assert.equal(r.status, 'compile_error', show(r));
      assert.equal(r.run, null, show(r));
      assert.equal(r.compile?.cached, false, `round ${round}: ${show(r)}`);
      assert.match(r.compile?.message ?? '', /no class declares `public static void main\(String\[\] args\)`; add it to the class to run/, show(r));
    }
    assert.deepEqual(cacheEntries(), before, 'no cache entry for sources without an entry point');
  });

  test('javac errors still come first (a missing main is not reported over a syntax error)', T, async (t) => {
    if (await skipUnless(t, 'java')) return;
    const r = await exec({ language: 'java', code: 'public class Solution { int x = ; }\n' });
    assert.equal(r.status, 'compile_error', show(r));
    assert.equal(r.compile?.message, null, show(r));
    assert.match(r.compile?.stderr ?? '', /Solution\.java:1: error/, show(r));
  });
});

describe('a program that cannot be started', () => {
  test('not executable (EACCES): runtime_error naming the file and the cause', T, async (t) => {
    if (await skipUnless(t, 'noexec')) return;
    const r = await exec({ language: 'noexec', code: 'just text\n' });
    assert.equal(r.status, 'runtime_error', show(r));
    assert.equal(r.run?.exitCode, 127, show(r));
    assert.match(r.run?.message ?? '', /^the program could not be started: cannot execute \/work\/main\.txt: Permission denied; the file is not executable/, show(r));
  });

  test('#! names a missing interpreter (ENOENT): runtime_error naming it', T, async (t) => {
    if (await skipUnless(t, 'badshebang')) return;
    const r = await exec({ language: 'badshebang', code: 'anything\n' });
    assert.equal(r.compile?.status, 'ok', show(r));
    assert.equal(r.status, 'runtime_error', show(r));
    assert.match(r.run?.message ?? '', /cannot execute \/work\/\.build\/run: No such file or directory; the file, or the interpreter its #! line names, does not exist/, show(r));
  });
});

test('a compiler that cannot be started is internal_error (the definition\'s fault), naming it', T, async (t) => {
  if (await skipUnless(t, 'badcompiler')) return;
  const r = await exec({ language: 'badcompiler', code: 'x\n' });
  assert.equal(r.status, 'internal_error', show(r));
  assert.equal(r.run, null, show(r));
  assert.match(r.compile?.message ?? '', /^the compiler could not be started: cannot execute \/usr: Permission denied; .*check the runtime definition$/, show(r));
});

describe('abort() is SIGABRT', () => {
  const ABORT = '#include <stdlib.h>\nint main(void) { abort(); }\n';
  let app: FastifyInstance | undefined;
  after(async () => app?.close());

  test('library, native HTTP API and Piston API all say SIGABRT', T, async (t) => {
    if (await skipUnless(t, 'c')) return;
    const r = await exec({ language: 'c', code: ABORT });
    assert.equal(r.status, 'runtime_error', show(r));
    assert.equal(r.run?.signal, 'SIGABRT', show(r));
    assert.equal(r.run?.exitCode, null, show(r));

    app = await buildServer({ cylo, logger: false, processMetrics: false });
    await app.ready();
    const native = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'c', code: ABORT } });
    assert.equal(native.statusCode, 200, native.body);
    assert.equal((native.json() as ExecutionResult).run?.signal, 'SIGABRT', native.body);

    const piston = await app.inject({ method: 'POST', url: '/api/v2/execute', payload: { language: 'c', version: '*', files: [{ content: ABORT }] } });
    assert.equal(piston.statusCode, 200, piston.body);
    const run = (piston.json() as { run: { signal: string | null; status: string | null } }).run;
    assert.equal(run.signal, 'SIGABRT', piston.body);
    assert.equal(run.status, 'SG', piston.body);
  });
});
