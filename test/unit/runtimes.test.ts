// Unit tests for the runtime registry without sandboxes: the built-in definitions are valid, the
// argv tokens expand as documented, an operator's runtimes file is validated with errors naming
// the file and field, and a missing toolchain is a clear CYLO_E_RUNTIME_UNAVAILABLE naming the
// package (and shows as missing in `cylo runtimes`), never a crash.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BUILTIN_RUNTIMES } from '../../src/runtimes/builtin.js';
import { runtimeDefinitionSchema } from '../../src/runtimes/definition.js';
import { expandArgv, expandEnv, NODE_MODULES_IN_SANDBOX } from '../../src/runtimes/tokens.js';
import { configuredRuntimesFile, loadRuntimesFile, parseRuntimesConfig } from '../../src/runtimes/config-file.js';
import { RuntimeRegistry } from '../../src/runtimes/registry.js';
import { createCylo } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { runtimesCommand } from '../../src/cli/commands/runtimes.js';

const dir = mkdtempSync(join(tmpdir(), 'cylo-runtimes-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isConfigError = (pattern: RegExp) => (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && pattern.test(e.message);

test('every built-in definition is valid, with unique ids and aliases', () => {
  const seen = new Set<string>();
  for (const d of BUILTIN_RUNTIMES) {
    const parsed = runtimeDefinitionSchema.safeParse(d);
    assert.ok(parsed.success, `${d.id}: ${JSON.stringify(parsed.error?.issues)}`);
    for (const name of [d.id, ...(d.aliases ?? [])]) {
      assert.ok(!seen.has(name), `${name} used twice`);
      seen.add(name);
    }
  }
  for (const id of ['go', 'rust', 'c', 'cpp', 'java', 'typescript', 'python', 'javascript', 'bash']) assert.ok(seen.has(id), id);
  for (const alias of ['rs', 'c++', 'ts', 'golang']) assert.ok(seen.has(alias), alias);
});

test('compiled built-ins declare an artifact; the schema turns one path into a list', () => {
  const compiled = BUILTIN_RUNTIMES.filter((d) => d.compile !== undefined).map((d) => d.id);
  assert.deepEqual(compiled.sort(), ['c', 'cpp', 'go', 'java', 'rust', 'typescript']);
  const c = runtimeDefinitionSchema.parse(BUILTIN_RUNTIMES.find((d) => d.id === 'c'));
  assert.deepEqual(c.compile?.artifact, ['.build/main']);
  for (const bad of ['/abs', '../up', 'a/../b', '', 'a//b']) {
    const r = runtimeDefinitionSchema.safeParse({ ...BUILTIN_RUNTIMES.find((d) => d.id === 'c'), compile: { argv: ['x'], artifact: bad } });
    assert.ok(!r.success, `artifact ${JSON.stringify(bad)} must be refused`);
  }
});

test('argv tokens expand as documented', () => {
  const values = { bin: '/usr/lib/jvm/x/bin/javac', entry: 'src/pkg/Main.java', files: ['src/pkg/Main.java', 'Helper.java'], args: ['a b', ''], memoryBytes: 512 * 1024 * 1024, out: '.build', workspace: '/work' };
  assert.deepEqual(expandArgv(['{bin}', '{binDir}/java', '{entry}', '{entryStem}', '{entryName}', '{files}', '--', '{args}', '{out}', '{workspace}/x', '{nodeModules}/typescript'], values), [
    '/usr/lib/jvm/x/bin/javac',
    '/usr/lib/jvm/x/bin/java',
    'src/pkg/Main.java',
    'src/pkg/Main',
    'Main',
    'src/pkg/Main.java',
    'Helper.java',
    '--',
    'a b',
    '',
    '.build',
    '/work/x',
    `${NODE_MODULES_IN_SANDBOX}/typescript`,
  ]);
  // {args}/{files} only as whole elements: inside a string they stay literal (no splitting).
  assert.deepEqual(expandArgv(['x{args}'], values), ['x{args}']);
  assert.deepEqual(expandArgv(['-Xmx{memoryMiB}m', '-Xmx{memoryMiB*75%}m', '-Xmx{memoryMiB*75%-64}m', '{memoryMiB-1000}'], values), ['-Xmx512m', '-Xmx384m', '-Xmx320m', '16']);
  assert.deepEqual(expandEnv({ GOCACHE: '{workspace}/.tmp/go-build', PLAIN: 'x' }, values), { GOCACHE: '/work/.tmp/go-build', PLAIN: 'x' });
});

const perl = {
  id: 'perl',
  extension: '.pl',
  entry: 'main.pl',
  package: 'perl',
  binary: { candidates: ['/usr/bin/perl'] },
  version: { argv: ['{bin}', '-e', 'print $^V'], pattern: 'v(\\S+)' },
  run: { argv: ['{bin}', '{entry}', '{args}'] },
};

test('a runtimes file adds languages and overrides built-ins (extends merges top-level fields)', () => {
  const defs = parseRuntimesConfig(JSON.stringify({ runtimes: [perl, { id: 'c', extends: 'c', aliases: ['c99'] }, { id: 'c-strict', extends: 'c', aliases: [] }] }), 'test.json');
  assert.deepEqual(
    defs.map((d) => d.id),
    ['perl', 'c', 'c-strict'],
  );
  const registry = new RuntimeRegistry(defs);
  assert.equal(registry.get('c99').id, 'c');
  assert.deepEqual(registry.get('c').compile?.artifact, ['.build/main'], 'the rest of c is kept');
  assert.equal(registry.get('perl').entry, 'main.pl');
  assert.ok(registry.ids().includes('c-strict'));
});

test('runtimes file errors name the file and the field', () => {
  const parse = (value: unknown): unknown => parseRuntimesConfig(typeof value === 'string' ? value : JSON.stringify(value), '/etc/cylo/runtimes.json');
  assert.throws(() => parse('{ not json'), isConfigError(/^runtimes file \/etc\/cylo\/runtimes\.json: is not valid JSON/));
  assert.throws(() => parse([perl]), isConfigError(/expected a JSON object like \{"runtimes": \[\.\.\.\]\}/));
  assert.throws(() => parse({ languages: [] }), isConfigError(/: languages: unknown field/));
  assert.throws(() => parse({ runtimes: {} }), isConfigError(/: runtimes: expected an array/));
  assert.throws(() => parse({ runtimes: [{ ...perl, version: { argv: ['x'], pattern: 5 } }] }), isConfigError(/runtimes\.json: runtimes\[0\]\.version\.pattern: .*string.*\(perl\)/));
  assert.throws(() => parse({ runtimes: [perl, { ...perl, id: 'perl2', extension: 'pl' }] }), isConfigError(/runtimes\[1\]\.extension: an extension such as "\.py" \(perl2\)/));
  assert.throws(() => parse({ runtimes: [{ ...perl, colour: 'blue' }] }), isConfigError(/runtimes\[0\]\.colour: unknown field/));
  assert.throws(() => parse({ runtimes: [{ id: 'x', extends: 'cobol' }] }), isConfigError(/runtimes\[0\]\.extends: unknown language "cobol"/));
  assert.throws(() => parse({ runtimes: [{ ...perl, version: { argv: ['x'], pattern: '(' } }] }), isConfigError(/runtimes\[0\]\.version\.pattern: not a valid regular expression/));
  assert.throws(() => loadRuntimesFile(join(dir, 'absent.json')), isConfigError(/absent\.json: cannot read it \(ENOENT\)/));
});

test('which runtimes file applies: option, then CYLO_RUNTIMES_FILE, then /etc/cylo/runtimes.json if present', () => {
  assert.equal(configuredRuntimesFile('/x.json', { CYLO_RUNTIMES_FILE: '/y.json' }), '/x.json');
  assert.equal(configuredRuntimesFile(false, { CYLO_RUNTIMES_FILE: '/y.json' }), undefined);
  assert.equal(configuredRuntimesFile(undefined, { CYLO_RUNTIMES_FILE: '/y.json' }), '/y.json');
  const file = join(dir, 'env.json');
  writeFileSync(file, JSON.stringify({ runtimes: [perl] }));
  const cylo = createCylo({ runtimesFile: file, cacheDir: false });
  assert.equal(cylo.registry.get('perl').id, 'perl');
  void cylo.close();
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ runtimes: [{ id: 'x' }] }));
  assert.throws(() => createCylo({ runtimesFile: join(dir, 'bad.json'), cacheDir: false }), isConfigError(/bad\.json: runtimes\[0\]/));
});

const ghost = { ...perl, id: 'ghostlang', aliases: ['gl'], package: 'ghostlang-toolchain', binary: { candidates: ['/nonexistent/bin/ghostc', 'ghostc-not-on-path'] } };

test('a missing toolchain: CYLO_E_RUNTIME_UNAVAILABLE naming the package, never a crash', async () => {
  const cylo = createCylo({ runtimes: [ghost], runtimesFile: false, cacheDir: false });
  try {
    await assert.rejects(
      cylo.execute({ language: 'gl', code: 'x' }),
      (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_RUNTIME_UNAVAILABLE' && e.field === 'language' && /ghostlang: toolchain not found .*apt-get install -y ghostlang-toolchain/.test(e.message),
    );
    const info = (await cylo.runtimes()).find((r) => r.language === 'ghostlang');
    assert.deepEqual({ ...info, problem: undefined }, { language: 'ghostlang', aliases: ['gl'], version: null, extension: '.pl', available: false, compiled: false, package: 'ghostlang-toolchain', problem: undefined, environments: [] });
  } finally {
    await cylo.close();
  }
});

test('cylo runtimes prints every language (table and --json), missing ones with the package', async () => {
  const chunks: string[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const io = { stdout, stderr: stdout, stdin: process.stdin };
  assert.equal(await runtimesCommand({ cyloOptions: { runtimes: [ghost], runtimesFile: false, cacheDir: false } }, io), 0);
  const table = chunks.join('');
  assert.match(table, /^LANGUAGE\s+VERSION\s+ALIASES\s+STATUS/);
  for (const id of ['python', 'javascript', 'bash', 'c', 'cpp', 'go', 'rust', 'java', 'typescript']) assert.match(table, new RegExp(`^${id}\\s`, 'm'));
  assert.match(table, /^ghostlang\s+-\s+gl\s+missing: .*apt-get install -y ghostlang-toolchain/m);
  chunks.length = 0;
  assert.equal(await runtimesCommand({ json: true, cyloOptions: { runtimes: [ghost], runtimesFile: false, cacheDir: false } }, io), 0);
  const list = JSON.parse(chunks.join('')) as Array<{ language: string; compiled: boolean; package: string }>;
  assert.equal(list.find((r) => r.language === 'rust')?.compiled, true);
  assert.equal(list.find((r) => r.language === 'ghostlang')?.package, 'ghostlang-toolchain');
  // A runtimes file given to the command is listed too.
  const file = join(dir, 'cli.json');
  writeFileSync(file, JSON.stringify({ runtimes: [{ ...perl, aliases: ['pl'] }] }));
  chunks.length = 0;
  assert.equal(await runtimesCommand({ runtimesFile: file, cyloOptions: { cacheDir: false } }, io), 0);
  assert.match(chunks.join(''), /^perl\s+5\.\d+\S*\s+pl\s+available$/m);
});
