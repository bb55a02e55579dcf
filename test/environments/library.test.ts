// Named environments through the library, with real sandboxes: the datasci environment
// (Debian's numpy/pandas/matplotlib), the host's package directories hidden from everything
// else, environments built from local package directories (a wheel, an sdist, an npm tarball)
// in a sandbox of their own, read-only from inside, and refused when unknown.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { datasciSkipReason } from '../support/datasci.js';
import { makeNpmTarball, makeSdist, makeWheel } from '../support/packages.js';
import { PNG_SIGNATURE } from '../support/png.js';

const skip = sandboxSkipReason();
const T = { skip: skip ?? false, timeout: 180_000 };
let root: string;
let from: string;
let cylo: Cylo;
const LIMITS = { ...TIGHT_LIMITS, timeoutMs: 20_000, cpuTimeMs: 20_000, memoryBytes: 256 * 1024 * 1024 };

before(() => {
  root = mkdtempSync('/tmp/cylo-envs-test-');
  // The directory of packages the builds read (bound read-only into the build sandbox).
  from = join(root, 'from');
  mkdirSync(from);
  cylo = createCylo({ environmentsDir: join(root, 'environments'), defaultLimits: LIMITS, uidBase: TEST_UID_BASE + TEST_UID_COUNT, uidCount: 16, concurrency: 2 });
});

after(async () => {
  await cylo?.close({ graceMs: 0 });
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

async function runPython(code: string, extra: Partial<ExecuteRequest> = {}) {
  const r = await cylo.execute({ language: 'python', code, ...extra });
  assert.ok(r.run !== null);
  return r as typeof r & { run: NonNullable<typeof r.run> };
}

test('datasci: import numpy, pandas works, with the Debian versions cylo runtimes lists', { ...T, skip: skip ?? datasciSkipReason() ?? false }, async () => {
  // proves: the built-in environment exposes Debian's packages to a request that selects it
  const r = await runPython('import numpy, pandas\nprint(numpy.__version__, pandas.__version__)\nprint(pandas.DataFrame({"a": [1, 2, 3]})["a"].sum())', { environment: 'datasci' });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const [versions, sum] = r.run.stdout.trim().split('\n');
  assert.equal(sum, '6');
  const python = (await cylo.runtimes()).find((x) => x.language === 'python');
  const datasci = python?.environments.find((e) => e.name === 'datasci');
  const listed = (n: string): string | undefined => datasci?.packages.find((p) => p.name === n)?.version;
  assert.equal(versions, `${listed('numpy')} ${listed('pandas')}`);
});

test('the default python environment sees none of the host\'s packages: every site directory is empty', T, async () => {
  // proves: nothing from the host's dist-packages / site-packages is visible by accident (without
  // the masks, Debian's /usr/lib/python3/dist-packages lists apt, yaml, numpy... here)
  const code = 'import site, os, json\nprint(json.dumps({d: sorted(os.listdir(d)) for d in site.getsitepackages() if os.path.isdir(d)}))';
  const r = await runPython(code);
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const dirs = JSON.parse(r.run.stdout) as Record<string, string[]>;
  assert.ok(Object.keys(dirs).length > 0, 'the interpreter has site directories to check');
  for (const [dir, entries] of Object.entries(dirs)) assert.deepEqual(entries, [], `${dir} is visible in the sandbox`);
  const numpy = await runPython('import numpy');
  assert.equal(numpy.status, 'runtime_error');
  assert.match(numpy.run.stderr, /No module named 'numpy'/);
});

test('datasci shows its own packages and nothing else of dist-packages, read-only', { ...T, skip: skip ?? datasciSkipReason() ?? false }, async () => {
  // proves: the environment binds back exactly its packages' entries (apt, a host package
  // outside its closure, stays hidden), and the sandbox cannot write into the masked directory
  const code = ['import os', "d = '/usr/lib/python3/dist-packages'", 'names = os.listdir(d)', "print('numpy' in names, 'apt' in names, 'yaml' in names)", 'try:', "    open(d + '/planted.py', 'w')", "    print('written')", 'except OSError as e:', '    print(e.errno)'].join('\n');
  const r = await runPython(code, { environment: 'datasci' });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.deepEqual(r.run.stdout.trim().split('\n'), ['True False False', '30']); // 30: EROFS
});

test('datasci: a matplotlib plot comes back as an image through outputs', { ...T, skip: skip ?? datasciSkipReason() ?? false }, async () => {
  // proves: the agent's plot works in the environment that has matplotlib
  const code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('plot.png')";
  const r = await runPython(code, { environment: 'datasci', outputs: ['*.png'], env: { MPLCONFIGDIR: '/tmp' } });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const plot = r.run.files?.find((f) => f.name === 'plot.png');
  assert.equal(plot?.mimeType, 'image/png');
  assert.ok(Buffer.from(plot?.content ?? '', 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
});

test('an environment built from a local wheel directory: imported by a program, root-owned, read-only from inside', T, async () => {
  makeWheel(from, 'cylotiny', '1.2.3', 'def hello():\n    return "tiny says hi"\n');
  const manifest = await cylo.buildEnvironment({ name: 'tiny', language: 'python', packages: ['cylotiny'], from });
  // proves: the manifest records what was installed and how
  assert.deepEqual(manifest.packages, [{ name: 'cylotiny', version: '1.2.3' }]);
  assert.equal(manifest.build.tool, 'pip');
  assert.equal(manifest.build.network, false);
  // proves: the program imports it (and without the environment it cannot)
  const r = await runPython('import cylotiny\nprint(cylotiny.hello())', { environment: 'tiny' });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.equal(r.run.stdout, 'tiny says hi\n');
  assert.equal((await runPython('import cylotiny')).status, 'runtime_error');
  // proves: the tree is read-only inside (a write into it fails with EROFS)
  const w = await runPython("import cylotiny, os\ntry:\n    open(os.path.dirname(cylotiny.__file__) + '/x.py', 'w')\n    print('written')\nexcept OSError as e:\n    print(e.errno)", { environment: 'tiny' });
  assert.equal(w.run.stdout, '30\n');
  // proves: on the host every directory is root-owned 0755 and every file 0644 (no sandbox uid can write)
  const walk = (p: string): void => {
    const st = lstatSync(p);
    assert.equal(st.uid, 0, p);
    assert.ok(!st.isSymbolicLink(), p);
    assert.equal(st.mode & 0o777, st.isDirectory() ? 0o755 : 0o644, p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(join(root, 'environments', 'tiny'));
});

test('a javascript environment from a local npm tarball: require() and import both find it', T, async () => {
  makeNpmTarball(from, 'cylo-tiny', '0.1.0', "module.exports = () => 'tiny js';\n");
  const manifest = await cylo.buildEnvironment({ name: 'tinyjs', language: 'javascript', packages: ['cylo-tiny'], from });
  assert.deepEqual(manifest.packages, [{ name: 'cylo-tiny', version: '0.1.0' }]);
  // proves: CommonJS and ESM resolution (which ignores NODE_PATH) both reach the environment
  const cjs = await cylo.execute({ language: 'javascript', code: "console.log(require('cylo-tiny')())", environment: 'tinyjs' });
  assert.equal(cjs.run?.stdout, 'tiny js\n', JSON.stringify(cjs.run));
  const esm = await cylo.execute({ language: 'javascript', files: [{ name: 'main.mjs', content: "import tiny from 'cylo-tiny';\nconsole.log(tiny());" }], environment: 'tinyjs' });
  assert.equal(esm.run?.stdout, 'tiny js\n', JSON.stringify(esm.run));
  const without = await cylo.execute({ language: 'javascript', code: "require('cylo-tiny')" });
  assert.equal(without.status, 'runtime_error');
});

test('the build runs in a sandbox: a setup.py and a postinstall cannot write outside the build\'s output', T, async () => {
  const marker = join(root, 'pwned');
  const attempt = (lang: 'py' | 'js', path: string): string =>
    lang === 'py' ? `try:\n    open(${JSON.stringify(path)}, 'w').write('x')\nexcept OSError:\n    pass\n` : `try{require('fs').writeFileSync(${JSON.stringify(path)},'x')}catch(e){}`;
  // Each tries the host path, the (read-only) package directory, and the workspace outside out/.
  const targets = [marker, '/.cylo/from/pwned', '/work/escaped.txt'];
  makeSdist(from, 'evil', '0.1', `${targets.map((p) => attempt('py', p)).join('')}from setuptools import setup\nsetup(name='evil', version='0.1', packages=['evil'])\n`, 'VALUE = 42\n');
  const py = await cylo.buildEnvironment({ name: 'evilpy', language: 'python', packages: ['evil'], from });
  assert.deepEqual(py.packages, [{ name: 'evil', version: '0.1' }]);
  makeNpmTarball(from, 'evil-js', '0.1.0', 'module.exports = 42;\n', { postinstall: `node -e "${targets.map((p) => attempt('js', p)).join(';').replaceAll('"', '\\"')}"` });
  await cylo.buildEnvironment({ name: 'eviljs', language: 'javascript', packages: ['evil-js'], from });
  // proves: nothing reached the host or the package directory, and the workspace's other files
  // did not come back into the environment (only out/ does)
  assert.equal(existsSync(marker), false);
  assert.equal(existsSync(join(from, 'pwned')), false);
  for (const name of ['evilpy', 'eviljs']) assert.ok(!readdirSync(join(root, 'environments', name, 'tree')).includes('escaped.txt'));
  const r = await runPython('import evil\nprint(evil.VALUE)', { environment: 'evilpy' });
  assert.equal(r.run.stdout, '42\n');
});

test('a build whose tree holds a symbolic link is refused whole (the host never follows one)', T, async () => {
  makeNpmTarball(from, 'linky', '0.1.0', 'module.exports = 1;\n', { postinstall: "node -e \"require('fs').symlinkSync('/etc/passwd', 'passwd-link')\"" });
  await assert.rejects(cylo.buildEnvironment({ name: 'linky', language: 'javascript', packages: ['linky'], from }), (e: Error & { code?: string }) => {
    // proves: the emitted tree with a link is refused by PID 1's walk, not copied
    assert.equal(e.code, 'CYLO_E_ENVIRONMENT_BUILD');
    assert.match(e.message, /could not be brought out/);
    return true;
  });
  assert.equal(existsSync(join(root, 'environments', 'linky')), false);
});

test('unknown environments and environments of another language are refused with CYLO_E_UNKNOWN_ENVIRONMENT', T, async () => {
  // proves: the request is refused before anything runs, naming the field and what exists
  await assert.rejects(cylo.execute({ language: 'python', code: '1', environment: 'nope' }), { code: 'CYLO_E_UNKNOWN_ENVIRONMENT', field: 'environment' });
  await assert.rejects(cylo.execute({ language: 'bash', code: 'true', environment: 'datasci' }), { code: 'CYLO_E_UNKNOWN_ENVIRONMENT' });
  await assert.rejects(cylo.sessions.create({ language: 'javascript', environment: 'nope' }), { code: 'CYLO_E_UNKNOWN_ENVIRONMENT' });
  // a built-in name cannot be taken, and a build needs --from unless it has network
  await assert.rejects(cylo.buildEnvironment({ name: 'datasci', language: 'python', packages: ['x'], from }), { code: 'CYLO_E_VALIDATION' });
  await assert.rejects(cylo.buildEnvironment({ name: 'net', language: 'python', packages: ['x'] }), { code: 'CYLO_E_VALIDATION', field: 'from' });
});
