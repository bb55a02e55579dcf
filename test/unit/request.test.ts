// Unit tests for request validation (normalizeRequest): every refusal is a CyloError with a
// stable code whose message and `field` name the offending field; valid requests come out
// decoded with every default applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS, DEFAULT_REQUEST_BOUNDS, MIN_LIMITS, LIMIT_NAMES } from '../../src/api/limits.js';
import { DEFAULT_POLICY, normalizeRequest, type ValidationPolicy } from '../../src/api/request.js';
import { CyloError, type CyloErrorCode } from '../../src/errors.js';
import { createCylo } from '../../src/cylo.js';

/** Asserts that normalizeRequest(input) throws a CyloError with this code, field and message. */
function rejects(input: unknown, code: CyloErrorCode, field: string, message?: RegExp, policy?: ValidationPolicy): CyloError {
  let caught: unknown;
  try {
    normalizeRequest(input, policy);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CyloError, `expected a CyloError for ${JSON.stringify(input)?.slice(0, 200)}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.field, field, caught.message);
  assert.ok(caught.message.startsWith(`${field}:`), `message names the field first: ${caught.message}`);
  if (message !== undefined) assert.match(caught.message, message);
  // Never a stack or internal detail in what clients receive.
  assert.deepEqual(Object.keys(caught.toJSON().error).sort(), ['code', 'field', 'message']);
  return caught;
}

const ok = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ language: 'python', code: 'print(1)', ...extra });
const withFiles = (...files: unknown[]): Record<string, unknown> => ({ language: 'python', files });

test('not an object is refused', () => {
  for (const input of [null, undefined, 'print(1)', 42, [], true]) rejects(input, 'CYLO_E_VALIDATION', 'request', /expected a JSON object/);
});

test('missing program, or both code and files, is refused', () => {
  rejects({ language: 'python' }, 'CYLO_E_VALIDATION', 'code', /program is missing/);
  rejects({ language: 'python', files: [] }, 'CYLO_E_VALIDATION', 'code', /program is missing/);
  rejects({ language: 'python', code: 'x', files: [{ name: 'a.py', content: 'x' }] }, 'CYLO_E_VALIDATION', 'code', /either code or files, not both/);
});

test('missing or empty language is refused', () => {
  rejects({ code: 'x' }, 'CYLO_E_VALIDATION', 'language', /expected string \(got nothing\)/);
  rejects({ language: '', code: 'x' }, 'CYLO_E_VALIDATION', 'language');
  rejects({ language: 'x'.repeat(65), code: 'x' }, 'CYLO_E_VALIDATION', 'language');
});

test('wrong types name the field, the expected type and what was given', () => {
  rejects({ language: 5, code: 'x' }, 'CYLO_E_VALIDATION', 'language', /expected string \(got number 5\)/);
  rejects(ok({ code: 42 }), 'CYLO_E_VALIDATION', 'code', /expected string \(got number 42\)/);
  rejects(ok({ stdin: 5 }), 'CYLO_E_VALIDATION', 'stdin', /expected string/);
  rejects(ok({ args: 'a b' }), 'CYLO_E_VALIDATION', 'args', /expected array \(got string "a b"\)/);
  rejects(ok({ args: ['a', 1] }), 'CYLO_E_VALIDATION', 'args[1]', /expected string \(got number 1\)/);
  rejects(ok({ env: ['A=1'] }), 'CYLO_E_VALIDATION', 'env', /expected record|expected object/);
  rejects(ok({ env: { A: 1 } }), 'CYLO_E_VALIDATION', 'env.A', /expected string/);
  rejects(ok({ limits: 5 }), 'CYLO_E_VALIDATION', 'limits', /expected object/);
  rejects(ok({ limits: { memoryBytes: 'big' } }), 'CYLO_E_VALIDATION', 'limits.memoryBytes', /expected number \(got string "big"\)/);
  rejects(ok({ limits: { timeoutMs: null } }), 'CYLO_E_VALIDATION', 'limits.timeoutMs', /expected number \(got null\)/);
  rejects(ok({ limits: { pids: true } }), 'CYLO_E_VALIDATION', 'limits.pids', /expected number \(got boolean\)/);
  rejects({ language: 'python', files: 'main.py' }, 'CYLO_E_VALIDATION', 'files', /expected array/);
  rejects(withFiles({ name: 'a.py' }), 'CYLO_E_VALIDATION', 'files[0].content', /expected string \(got nothing\)/);
  rejects(withFiles({ name: 'a.py', content: 'x' }, { name: 7, content: 'x' }), 'CYLO_E_VALIDATION', 'files[1].name', /expected string/);
  rejects(withFiles('a.py'), 'CYLO_E_VALIDATION', 'files[0]', /expected object/);
});

test('unknown fields are refused at every level', () => {
  rejects(ok({ foo: 1 }), 'CYLO_E_VALIDATION', 'foo', /unknown field/);
  rejects(ok({ timeout: 1000 }), 'CYLO_E_VALIDATION', 'timeout', /unknown field/);
  rejects(ok({ limits: { memory: 1 } }), 'CYLO_E_VALIDATION', 'limits.memory', /unknown field/);
  rejects(withFiles({ name: 'a.py', content: 'x', mode: 0o4755 }), 'CYLO_E_VALIDATION', 'files[0].mode', /unknown field/);
});

test('network: true is refused, network: false is accepted', () => {
  rejects(ok({ network: true }), 'CYLO_E_VALIDATION', 'network', /only false is supported/);
  rejects(ok({ network: 'on' }), 'CYLO_E_VALIDATION', 'network', /only false is supported/);
  assert.equal(normalizeRequest(ok({ network: false })).language, 'python');
});

test('zero, negative, fractional and non-finite limits are refused as validation errors', () => {
  for (const name of LIMIT_NAMES) {
    const field = `limits.${name}`;
    rejects(ok({ limits: { [name]: 0 } }), 'CYLO_E_VALIDATION', field, /0/);
    rejects(ok({ limits: { [name]: -1 } }), 'CYLO_E_VALIDATION', field, /-1/);
    rejects(ok({ limits: { [name]: 1.5 } }), 'CYLO_E_VALIDATION', field, /int/);
    rejects(ok({ limits: { [name]: Number.NaN } }), 'CYLO_E_VALIDATION', field);
    rejects(ok({ limits: { [name]: Number.POSITIVE_INFINITY } }), 'CYLO_E_VALIDATION', field);
  }
});

test('limits below the minimum are refused, naming the minimum', () => {
  rejects(ok({ limits: { pids: 1 } }), 'CYLO_E_VALIDATION', 'limits.pids', /below the minimum of 2/);
  rejects(ok({ limits: { memoryBytes: 1024 } }), 'CYLO_E_VALIDATION', 'limits.memoryBytes', new RegExp(`minimum of ${MIN_LIMITS.memoryBytes}`));
  rejects(ok({ limits: { workspaceBytes: 4096 } }), 'CYLO_E_VALIDATION', 'limits.workspaceBytes', /below the minimum/);
});

test('limits above the maximum are CYLO_E_LIMIT_EXCEEDED, never clamped', () => {
  for (const name of LIMIT_NAMES) {
    const field = `limits.${name}`;
    const above = DEFAULT_MAX_LIMITS[name] + 1;
    const err = rejects(ok({ limits: { [name]: above } }), 'CYLO_E_LIMIT_EXCEEDED', field, new RegExp(`maximum of ${DEFAULT_MAX_LIMITS[name]}`));
    assert.equal(err.status, 400);
    // Exactly the maximum is fine.
    // (The largest workspace needs a memory limit at least as large: see the contradiction test.)
    const room = name === 'workspaceBytes' ? { memoryBytes: DEFAULT_MAX_LIMITS.memoryBytes } : {};
    assert.equal(normalizeRequest(ok({ limits: { [name]: DEFAULT_MAX_LIMITS[name], ...room } })).limits[name], DEFAULT_MAX_LIMITS[name]);
  }
  rejects(ok({ limits: { memoryBytes: 1e15 } }), 'CYLO_E_LIMIT_EXCEEDED', 'limits.memoryBytes');
  rejects(ok({ limits: { timeoutMs: Number.MAX_SAFE_INTEGER } }), 'CYLO_E_LIMIT_EXCEEDED', 'limits.timeoutMs');
  // A server's own (lower) maximum is what counts.
  const strict: ValidationPolicy = { ...DEFAULT_POLICY, maxLimits: { ...DEFAULT_MAX_LIMITS, memoryBytes: 64 * 1024 * 1024 } };
  rejects(ok({ limits: { memoryBytes: 65 * 1024 * 1024 } }), 'CYLO_E_LIMIT_EXCEEDED', 'limits.memoryBytes', /maximum of 67108864/, strict);
});

test('limits that contradict each other are refused: a workspace larger than the memory limit', () => {
  // proves: fitWorkspace refuses (400, CYLO_E_VALIDATION) a workspace whose files could never
  // fit in the memory cgroup they are charged to, naming both fields and the fix
  const MiB = 1024 * 1024;
  const err = rejects(ok({ limits: { memoryBytes: 64 * MiB, workspaceBytes: 128 * MiB } }), 'CYLO_E_VALIDATION', 'limits.workspaceBytes', /larger than limits\.memoryBytes \(67108864\).*set workspaceBytes at most 67108864, or raise memoryBytes/);
  assert.equal(err.status, 400);
  // The compile stage's memory limit counts too (the workspace serves both stages).
  rejects(ok({ limits: { compileMemoryBytes: 32 * MiB, workspaceBytes: 48 * MiB } }), 'CYLO_E_VALIDATION', 'limits.workspaceBytes', /larger than limits\.compileMemoryBytes \(33554432\).*raise compileMemoryBytes/);
  // Equal is fine.
  assert.equal(normalizeRequest(ok({ limits: { memoryBytes: 64 * MiB, workspaceBytes: 64 * MiB } })).limits.workspaceBytes, 64 * MiB);
  // A default workspace is made to fit a smaller memory limit instead (the request chose none).
  const fitted = normalizeRequest(ok({ limits: { memoryBytes: 32 * MiB } })).limits;
  assert.equal(fitted.workspaceBytes, 32 * MiB);
  assert.equal(fitted.memoryBytes, 32 * MiB);
});

test('defaults are applied to everything the request leaves out', () => {
  const r = normalizeRequest({ language: 'Python', code: 'print(1)' });
  assert.equal(r.language, 'python', 'language ids are case-insensitive');
  assert.equal(r.version, undefined);
  assert.deepEqual(r.limits, { ...DEFAULT_LIMITS });
  assert.deepEqual(r.args, []);
  assert.deepEqual(r.env, {});
  assert.equal(r.stdin.length, 0);
  assert.equal(r.outputEncoding, 'utf8');
  assert.equal(r.redirectStderrToStdout, false);
  assert.deepEqual(r.files.map((f) => [f.name, f.content.toString('utf8')]), [['main', 'print(1)']]);
  // A partial limits object keeps the other defaults.
  const partial = normalizeRequest(ok({ limits: { timeoutMs: 1234 } }));
  assert.deepEqual(partial.limits, { ...DEFAULT_LIMITS, timeoutMs: 1234 });
  // A policy's defaults above its maxima are clamped to the maxima.
  const policy: ValidationPolicy = { ...DEFAULT_POLICY, maxLimits: { ...DEFAULT_MAX_LIMITS, timeoutMs: 500 } };
  assert.equal(normalizeRequest(ok(), policy).limits.timeoutMs, 500);
});

test('language-specific default entry and limits come from the registry', () => {
  const cylo = createCylo();
  const byLanguage: Record<string, string> = { python: 'main.py', py: 'main.py', javascript: 'main.js', node: 'main.js', bash: 'main.sh', sh: 'main.sh' };
  for (const [language, entry] of Object.entries(byLanguage)) {
    const r = normalizeRequest({ language, code: 'x' }, cylo.policy);
    assert.deepEqual(r.files.map((f) => f.name), [entry], language);
  }
  // Unknown languages are left to the registry (CYLO_E_UNKNOWN_LANGUAGE there); validation falls back to "main".
  assert.deepEqual(normalizeRequest({ language: 'cobol', code: 'x' }, cylo.policy).files.map((f) => f.name), ['main']);
  // A language's own limits apply before the request's.
  const policy: ValidationPolicy = { ...DEFAULT_POLICY, languageLimits: (l) => (l === 'java' ? { memoryBytes: 512 * 1024 * 1024 } : undefined) };
  assert.equal(normalizeRequest({ language: 'java', code: 'x' }, policy).limits.memoryBytes, 512 * 1024 * 1024);
  assert.equal(normalizeRequest({ language: 'java', code: 'x', limits: { memoryBytes: 300 * 1024 * 1024 } }, policy).limits.memoryBytes, 300 * 1024 * 1024);
  assert.equal(normalizeRequest({ language: 'python', code: 'x' }, policy).limits.memoryBytes, DEFAULT_LIMITS.memoryBytes);
});

test('file names: traversal, absolute, NUL, control characters and empty components are refused', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /must not be empty/],
    ['../etc/passwd', /\.\./],
    ['a/../../b', /\.\./],
    ['..', /\.\./],
    ['/etc/passwd', /relative path, not absolute/],
    ['/', /relative path, not absolute/],
    ['a\0b', /NUL or control/],
    ['a\nb', /NUL or control/],
    ['a\u001bb', /NUL or control/],
    ['a\u007fb', /NUL or control/],
    ['a//b', /empty or "\." path components/],
    ['a/', /empty or "\." path components/],
    ['./a', /empty or "\." path components/],
    ['a/./b', /empty or "\." path components/],
    ['a\\..\\b', /"\/" as separator/],
    ['x'.repeat(256), /255 bytes/],
    [`${'d/'.repeat(600)}f`, /at most 1024 bytes/],
  ];
  for (const [name, why] of bad) rejects(withFiles({ name: 'ok.py', content: '' }, { name, content: 'x' }), 'CYLO_E_VALIDATION', 'files[1].name', why);
});

test('file names that are merely unusual are accepted', () => {
  const r = normalizeRequest(withFiles({ name: 'main.py', content: '' }, { name: 'src/pkg/mod.py', content: '' }, { name: '.hidden', content: '' }, { name: 'a..b', content: '' }, { name: 'ünïcode ß.txt', content: '' }));
  assert.deepEqual(r.files.map((f) => f.name), ['main.py', 'src/pkg/mod.py', '.hidden', 'a..b', 'ünïcode ß.txt']);
});

test('duplicate names and file-vs-directory clashes are refused', () => {
  rejects(withFiles({ name: 'a.py', content: '' }, { name: 'a.py', content: '' }), 'CYLO_E_VALIDATION', 'files[1].name', /duplicate file name "a.py"/);
  rejects(withFiles({ name: 'src', content: '' }, { name: 'src/a.py', content: '' }), 'CYLO_E_VALIDATION', 'files', /"src" is both a file and a directory/);
  rejects(withFiles({ name: 'a/b/c.py', content: '' }, { name: 'a/b', content: '' }), 'CYLO_E_VALIDATION', 'files', /"a\/b" is both a file and a directory/);
});

test('base64 and hex contents are decoded', () => {
  const r = normalizeRequest(
    withFiles(
      { name: 'main.py', content: 'print(1)' },
      { name: 'b64', content: 'aGVsbG8=', encoding: 'base64' },
      { name: 'b64-wrapped', content: 'aGVs\nbG8=', encoding: 'base64' },
      { name: 'b64-unpadded', content: 'aGVsbG8', encoding: 'base64' },
      { name: 'b64-url', content: '__-_', encoding: 'base64' },
      { name: 'hex', content: '00ff10Ab', encoding: 'hex' },
      { name: 'empty', content: '', encoding: 'hex' },
      { name: 'utf8', content: 'é', encoding: 'utf8' },
    ),
  );
  const by = Object.fromEntries(r.files.map((f) => [f.name, f.content.toString('hex')]));
  assert.equal(Buffer.from(by['b64'] ?? '', 'hex').toString(), 'hello');
  assert.equal(Buffer.from(by['b64-wrapped'] ?? '', 'hex').toString(), 'hello');
  assert.equal(Buffer.from(by['b64-unpadded'] ?? '', 'hex').toString(), 'hello');
  assert.equal(by['b64-url'], 'ffffbf');
  assert.equal(by['hex'], '00ff10ab');
  assert.equal(by['empty'], '');
  assert.equal(by['utf8'], 'c3a9');
});

test('bad encodings are refused, never silently mis-decoded', () => {
  rejects(withFiles({ name: 'a', content: 'x', encoding: 'rot13' }), 'CYLO_E_VALIDATION', 'files[0].encoding');
  rejects(withFiles({ name: 'a', content: 'not base64!', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  rejects(withFiles({ name: 'a', content: 'ab=c', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  rejects(withFiles({ name: 'a', content: 'abc===', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  // A length that no base64 encoder produces (4n+1 characters) would otherwise lose data silently.
  rejects(withFiles({ name: 'a', content: 'x', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  rejects(withFiles({ name: 'a', content: 'abcde', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  rejects(withFiles({ name: 'a', content: 'abcde=', encoding: 'base64' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid base64/);
  rejects(withFiles({ name: 'a', content: 'abc', encoding: 'hex' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid hex/);
  rejects(withFiles({ name: 'a', content: 'zz', encoding: 'hex' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid hex/);
  rejects(withFiles({ name: 'a', content: '0x00', encoding: 'hex' }), 'CYLO_E_VALIDATION', 'files[0].content', /not valid hex/);
});

test('stdinEncoding, outputEncoding and redirectStderrToStdout: decoded and carried, bad values refused naming the field', () => {
  // proves: stdin is decoded from base64 with the files' strict decoder (no silent data loss),
  // the options reach the normalised request, and anything else is a 400 naming the field.
  const bytes = Buffer.from([0, 1, 0x7f, 0x80, 0xfe, 0xff]);
  const r = normalizeRequest(ok({ stdin: bytes.toString('base64'), stdinEncoding: 'base64', outputEncoding: 'base64', redirectStderrToStdout: true }));
  assert.deepEqual(r.stdin, bytes);
  assert.equal(r.outputEncoding, 'base64');
  assert.equal(r.redirectStderrToStdout, true);
  assert.equal(normalizeRequest(ok({ stdin: 'AA==', stdinEncoding: 'utf8' })).stdin.toString('utf8'), 'AA==', 'utf8 stdin is taken as text');
  rejects(ok({ stdin: 'not base64!', stdinEncoding: 'base64' }), 'CYLO_E_VALIDATION', 'stdin', /^stdin: is not valid base64$/);
  rejects(ok({ stdin: 'abcde', stdinEncoding: 'base64' }), 'CYLO_E_VALIDATION', 'stdin', /not valid base64/);
  rejects(ok({ stdinEncoding: 'hex' }), 'CYLO_E_VALIDATION', 'stdinEncoding', /expected one of utf8, base64/);
  rejects(ok({ outputEncoding: 'latin1' }), 'CYLO_E_VALIDATION', 'outputEncoding', /expected one of utf8, base64/);
  rejects(ok({ redirectStderrToStdout: 'yes' }), 'CYLO_E_VALIDATION', 'redirectStderrToStdout', /expected boolean/);
  // The stdin bound applies to the decoded bytes.
  const small: ValidationPolicy = { ...DEFAULT_POLICY, bounds: { ...DEFAULT_REQUEST_BOUNDS, maxStdinBytes: 4 } };
  assert.equal(normalizeRequest(ok({ stdin: Buffer.alloc(4).toString('base64'), stdinEncoding: 'base64' }), small).stdin.length, 4);
  rejects(ok({ stdin: Buffer.alloc(5).toString('base64'), stdinEncoding: 'base64' }), 'CYLO_E_VALIDATION', 'stdin', /5 bytes, above the maximum of 4/, small);
});

test('too many files, args or env variables are refused, and so are oversize inputs', () => {
  const files = Array.from({ length: DEFAULT_REQUEST_BOUNDS.maxFiles + 1 }, (_, i) => ({ name: `f${i}.py`, content: '' }));
  rejects({ language: 'python', files }, 'CYLO_E_VALIDATION', 'files', new RegExp(`at most ${DEFAULT_REQUEST_BOUNDS.maxFiles} files`));
  assert.equal(normalizeRequest({ language: 'python', files: files.slice(1) }).files.length, DEFAULT_REQUEST_BOUNDS.maxFiles);

  const args = Array.from({ length: DEFAULT_REQUEST_BOUNDS.maxArgs + 1 }, (_, i) => `a${i}`);
  rejects(ok({ args }), 'CYLO_E_VALIDATION', 'args', new RegExp(`at most ${DEFAULT_REQUEST_BOUNDS.maxArgs} arguments`));
  rejects(ok({ args: ['ok', 'a\0b'] }), 'CYLO_E_VALIDATION', 'args[1]', /NUL/);
  rejects(ok({ args: ['x'.repeat(DEFAULT_REQUEST_BOUNDS.maxArgBytes + 1)] }), 'CYLO_E_VALIDATION', 'args[0]', /longer than/);

  const env = Object.fromEntries(Array.from({ length: DEFAULT_REQUEST_BOUNDS.maxEnv + 1 }, (_, i) => [`V${i}`, 'x']));
  rejects(ok({ env }), 'CYLO_E_VALIDATION', 'env', new RegExp(`at most ${DEFAULT_REQUEST_BOUNDS.maxEnv} variables`));
  rejects(ok({ env: { '1BAD': 'x' } }), 'CYLO_E_VALIDATION', 'env.1BAD', /names are letters/);
  rejects(ok({ env: { 'A=B': 'x' } }), 'CYLO_E_VALIDATION', 'env.A=B', /names are letters/);
  rejects(ok({ env: { A: 'x\0y' } }), 'CYLO_E_VALIDATION', 'env.A', /NUL/);
  // Each argument within its own bound, but together past what exec() accepts.
  const big = 'x'.repeat(DEFAULT_REQUEST_BOUNDS.maxArgBytes);
  const tooMany = Math.ceil(DEFAULT_REQUEST_BOUNDS.maxArgsTotalBytes / big.length) + 1;
  rejects(ok({ args: Array.from({ length: tooMany }, () => big) }), 'CYLO_E_VALIDATION', 'args', /args and env take \d+ bytes in all, above the maximum/);
  rejects(ok({ env: Object.fromEntries(Array.from({ length: tooMany }, (_, i) => [`V${i}`, big])) }), 'CYLO_E_VALIDATION', 'env', /above the maximum/);
  const fits = Math.floor(DEFAULT_REQUEST_BOUNDS.maxArgsTotalBytes / (big.length + 1));
  assert.equal(normalizeRequest(ok({ args: Array.from({ length: fits }, () => big) })).args.length, fits);

  const small: ValidationPolicy = { ...DEFAULT_POLICY, bounds: { ...DEFAULT_REQUEST_BOUNDS, maxFilesBytes: 10, maxStdinBytes: 4 } };
  rejects(withFiles({ name: 'a', content: '0123456789A' }), 'CYLO_E_VALIDATION', 'files', /above the maximum of 10/, small);
  rejects(ok({ code: '0123456789A' }), 'CYLO_E_VALIDATION', 'files', /above the maximum of 10/, small);
  rejects(ok({ code: 'x', stdin: 'hello' }), 'CYLO_E_VALIDATION', 'stdin', /above the maximum of 4/, small);
});

test('a valid request comes out decoded and intact', () => {
  const r = normalizeRequest({
    language: 'python',
    version: '3',
    files: [
      { name: 'main.py', content: 'import sys' },
      { name: 'data/in.bin', content: 'AAEC', encoding: 'base64' },
    ],
    stdin: 'line 1\nline 2\n',
    args: ['--help', '$(rm -rf /)', 'a b', ''],
    env: { FOO: 'bar', _X1: '' },
    limits: { timeoutMs: 2000, memoryBytes: 128 * 1024 * 1024 },
    network: false,
  });
  assert.equal(r.version, '3');
  assert.deepEqual(r.files.map((f) => [f.name, f.content.toString('hex')]), [
    ['main.py', Buffer.from('import sys').toString('hex')],
    ['data/in.bin', '000102'],
  ]);
  assert.equal(r.stdin.toString('utf8'), 'line 1\nline 2\n');
  assert.deepEqual(r.args, ['--help', '$(rm -rf /)', 'a b', '']);
  assert.deepEqual(r.env, { FOO: 'bar', _X1: '' });
  assert.deepEqual(r.limits, { ...DEFAULT_LIMITS, timeoutMs: 2000, memoryBytes: 128 * 1024 * 1024 });
});
