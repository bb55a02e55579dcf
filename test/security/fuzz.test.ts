// Bad input, property-based (fast-check): the library validator (normalizeRequest) and the HTTP
// API (both the native /v1/execute and Piston's /api/v2/execute, through app.inject()) get wrong
// types, missing and extra fields, huge, negative and non-integer numbers, deep JSON, invalid
// UTF-8, NUL bytes, traversal and absolute file names, 10,000 files and oversized bodies.
// Every case must be a clean 4xx with a stable CYLO_E_* code (the library: a CyloError with such
// a code), never a 500, never a crash, never a stack trace in the body.
//
// Nothing is executed: the requests that pass validation name a language that does not exist,
// so they end in CYLO_E_UNKNOWN_LANGUAGE (and the pool's counters prove no execution ran).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_POLICY, normalizeRequest } from '../../src/api/request.js';
import { DEFAULT_MAX_LIMITS, LIMIT_NAMES, MIN_LIMITS } from '../../src/api/limits.js';
import { CyloError, ERROR_CODES } from '../../src/errors.js';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { buildServer } from '../../src/server/app.js';
import { SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';

// A failing property's report carries the error itself (fast-check 4 puts it only in `cause`,
// which the test runner's TAP output does not show).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const RUNS = Number(process.env.CYLO_FUZZ_RUNS ?? 300);
const BODY_LIMIT = 4 * 1024 * 1024;
const NO_SUCH_LANGUAGE = 'no-such-language';

/** Codes a validation failure may carry, library and HTTP. */
const VALIDATION_CODES = new Set(['CYLO_E_VALIDATION', 'CYLO_E_LIMIT_EXCEEDED']);
const HTTP_CLIENT_CODES = new Set(['CYLO_E_VALIDATION', 'CYLO_E_LIMIT_EXCEEDED', 'CYLO_E_UNKNOWN_LANGUAGE', 'CYLO_E_BODY_TOO_LARGE', 'CYLO_E_NOT_FOUND']);

/** Traces of internals that must never reach a client. */
const LEAKS = [/\n\s+at\s/, /node_modules/, /\/work\/main/, /dist\/src/, /\.js:\d+/, /TypeError|RangeError|ReferenceError/];

// ------------------------------------------------------------------------------------------
// the library validator
// ------------------------------------------------------------------------------------------

/** normalizeRequest either accepts or throws a CyloError with a validation code, a field and a
 *  message free of internals; anything else fails the property. */
function validate(input: unknown): { ok: true; value: ReturnType<typeof normalizeRequest> } | { ok: false; error: CyloError } {
  try {
    return { ok: true, value: normalizeRequest(input, DEFAULT_POLICY) };
  } catch (error) {
    assert.ok(error instanceof CyloError, `not a CyloError: ${String(error)} ${(error as Error).stack ?? ''}`);
    assert.ok(VALIDATION_CODES.has(error.code), `code ${error.code}: ${error.message}`);
    assert.equal(typeof error.field, 'string', `a field is named: ${error.message}`);
    for (const leak of LEAKS) assert.doesNotMatch(error.message, leak);
    return { ok: false, error };
  }
}

const BASE = { language: 'bash', code: 'true' };
const FIELDS = ['language', 'version', 'code', 'files', 'stdin', 'args', 'env', 'limits', 'network'];

/** Values of every JSON type and then some the library can be handed directly. */
const anyValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, undefined, NaN, Infinity, -Infinity, -0, 2 ** 53, -(2 ** 63), '', '\0', [], {}, true, Symbol.iterator, () => 1, new Date(0), Buffer.from('x'), new Map()),
);

test('normalizeRequest: arbitrary values never crash it; every refusal is a CyloError with a stable code and a field', () => {
  fc.assert(
    fc.property(anyValue, (input) => {
      validate(input);
    }),
    { numRuns: RUNS },
  );
});

test('normalizeRequest: a field of the wrong type, a missing field or an unknown one is refused, naming the field', () => {
  fc.assert(
    fc.property(fc.constantFrom(...FIELDS), anyValue, fc.boolean(), (field, value, drop) => {
      const input: Record<string, unknown> = { ...BASE };
      if (drop) delete input[field];
      else input[field] = value;
      const r = validate(input);
      if (!r.ok) assert.ok(r.error.field?.startsWith(field) || ['code', 'request', 'language'].includes(r.error.field ?? ''), `${field}: field ${r.error.field}`);
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !FIELDS.includes(k) && k !== '__proto__'), anyValue, (key, value) => {
      const r = validate({ ...BASE, [key]: value });
      assert.equal(r.ok, false, `unknown field ${JSON.stringify(key)} accepted`);
      if (!r.ok) assert.match(r.error.message, /unknown field/);
    }),
    { numRuns: RUNS },
  );
  for (const missing of [{}, { code: 'x' }, { language: 'bash' }, { language: 'bash', files: [] }]) assert.equal(validate(missing).ok, false, JSON.stringify(missing));
});

test('normalizeRequest: limits that are huge, negative, fractional or not numbers are refused; accepted ones are within [min, max]', () => {
  const weird = fc.oneof(
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.double(),
    fc.bigInt().map((b) => Number(b)),
    fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -1e308, NaN, Infinity, -Infinity, 0.5, -0, '1000', null, true, [1000], { value: 1 }),
  );
  fc.assert(
    fc.property(fc.constantFrom(...LIMIT_NAMES), weird, (name, value) => {
      const r = validate({ ...BASE, limits: { [name]: value } });
      if (r.ok) {
        const v = r.value.limits[name];
        assert.ok(Number.isInteger(v) && v >= MIN_LIMITS[name] && v <= DEFAULT_MAX_LIMITS[name], `${name}=${String(value)} accepted as ${v}`);
        assert.equal(v, value, 'never silently clamped');
      } else {
        assert.equal(r.error.field, `limits.${name}`);
        // A safe integer above the maximum names the maximum; anything else is a type error.
        if (typeof value === 'number' && Number.isSafeInteger(value) && value > DEFAULT_MAX_LIMITS[name]) assert.equal(r.error.code, 'CYLO_E_LIMIT_EXCEEDED');
      }
    }),
    { numRuns: RUNS },
  );
});

/** File-name parts that try to leave the workspace or hide something. */
const namePart = fc.oneof(
  fc.constantFrom('..', '.', '', 'a', 'main.py', '...', '..\\..', '\0', '\n', '\r', '\u001b', '\u007f', '\u202e', '~', '%2e%2e', '．．', 'x'.repeat(300)),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const fileName = fc.tuple(fc.boolean(), fc.array(namePart, { minLength: 1, maxLength: 6 })).map(([abs, parts]) => (abs ? '/' : '') + parts.join('/'));

test('normalizeRequest: traversal, absolute, NUL and control-character file names are refused; an accepted name stays inside', () => {
  fc.assert(
    fc.property(fileName, (name) => {
      const r = validate({ language: 'bash', files: [{ name: 'main.sh', content: '' }, { name, content: 'x' }] });
      if (r.ok) {
        const got = r.value.files[1]?.name ?? '';
        assert.ok(!got.startsWith('/'), `absolute: ${JSON.stringify(got)}`);
        // eslint-disable-next-line no-control-regex
        assert.doesNotMatch(got, /[\u0000-\u001f\u007f]/);
        for (const part of got.split('/')) assert.ok(part !== '..' && part !== '.' && part !== '', `component ${JSON.stringify(part)} in ${JSON.stringify(got)}`);
      } else {
        assert.ok(['files[1].name', 'files'].includes(r.error.field ?? ''), `field ${r.error.field}`);
        assert.equal(r.error.code, 'CYLO_E_VALIDATION');
      }
    }),
    { numRuns: RUNS * 2 },
  );
});

test('normalizeRequest: NUL bytes in args and env, invalid env names, invalid base64/hex are refused', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      const withNul = `${a}\0${b}`;
      assert.equal(validate({ ...BASE, args: [withNul] }).ok, false);
      assert.equal(validate({ ...BASE, env: { X: withNul } }).ok, false);
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && k !== '__proto__'), (key) => {
      const r = validate({ ...BASE, env: { [key]: 'v' } });
      assert.equal(r.ok, false, `env name ${JSON.stringify(key)} accepted`);
    }),
    { numRuns: RUNS },
  );
  for (const [encoding, content] of [['base64', 'a'], ['base64', '!!!!'], ['base64', 'YQ=x'], ['hex', 'abc'], ['hex', 'zz']] as const) {
    const r = validate({ language: 'bash', files: [{ name: 'main.sh', content, encoding }] });
    assert.equal(r.ok, false, `${encoding} ${content}`);
  }
});

test('normalizeRequest: 10,000 nested arrays in any field, and 10,000 files, are refused cleanly', () => {
  let deep: unknown = 'x';
  for (let i = 0; i < 10_000; i++) deep = [deep];
  let deepObject: unknown = 'x';
  for (let i = 0; i < 10_000; i++) deepObject = { a: deepObject };
  for (const field of FIELDS) {
    for (const value of [deep, deepObject]) {
      const r = validate({ ...BASE, [field]: value });
      assert.equal(r.ok, false, field);
    }
  }
  const files = Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}.sh`, content: '' }));
  const r = validate({ language: 'bash', files });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual([r.error.code, r.error.field], ['CYLO_E_VALIDATION', 'files']);
});

// ------------------------------------------------------------------------------------------
// the HTTP API
// ------------------------------------------------------------------------------------------

let cylo: Cylo;
let app: FastifyInstance;

before(async () => {
  cylo = createCylo({ uidBase: SECURITY_UIDS.service, uidCount: SECURITY_UID_COUNT, runtimesFile: false, cacheDir: false });
  app = await buildServer({ cylo, logger: false, processMetrics: false, bodyLimit: BODY_LIMIT });
  await app.ready();
});

after(async () => {
  await app?.close();
  await cylo?.close();
});

interface Answer {
  statusCode: number;
  body: string;
}

/** Every answer: a 4xx with a JSON error body, a code of the catalogue matching the status, and
 *  nothing of the server's internals. The Piston routes also carry Piston's `message`. */
function assertClean4xx(res: Answer, what: string, piston = false): string {
  assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${what}: status ${res.statusCode} ${res.body.slice(0, 300)}`);
  let body: { error?: { code?: string; message?: string }; message?: unknown };
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    assert.fail(`${what}: the body is not JSON: ${res.body.slice(0, 200)}`);
  }
  const code = body.error?.code ?? '';
  assert.ok(HTTP_CLIENT_CODES.has(code), `${what}: code ${code}`);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, res.statusCode, `${what}: ${code} has status ${res.statusCode}`);
  assert.equal(typeof body.error?.message, 'string');
  if (piston) assert.equal(typeof body.message, 'string', `${what}: Piston's message`);
  for (const leak of LEAKS) assert.doesNotMatch(res.body, leak, `${what}: ${res.body.slice(0, 300)}`);
  return code;
}

async function post(url: string, payload: string | Buffer, contentType: string | undefined = 'application/json'): Promise<Answer> {
  const res = await app.inject({ method: 'POST', url, payload, headers: contentType === undefined ? {} : { 'content-type': contentType } });
  return { statusCode: res.statusCode, body: res.body };
}

const ROUTES = [
  { url: '/v1/execute', piston: false },
  { url: '/api/v2/execute', piston: true },
];

/** A request that passes validation only with a language that does not exist: nothing runs. */
const harmless = (o: Record<string, unknown>): Record<string, unknown> => ({ ...o, language: NO_SUCH_LANGUAGE });

test('HTTP: arbitrary JSON bodies get a clean 4xx on both APIs, never a 500', async () => {
  await fc.assert(
    fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(...ROUTES), async (value, route) => {
      const body = value !== null && typeof value === 'object' && !Array.isArray(value) ? harmless(value as Record<string, unknown>) : value;
      assertClean4xx(await post(route.url, JSON.stringify(body)), `${route.url} ${JSON.stringify(body).slice(0, 100)}`, route.piston);
    }),
    { numRuns: RUNS },
  );
});

test('HTTP: wrong types, missing and extra fields, huge and negative numbers: 400 with the field named', async () => {
  const pistonBase = { language: NO_SUCH_LANGUAGE, version: '*', files: [{ content: 'true' }] };
  const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-1, 0, 1e300, -1e300, 2 ** 64, 4.5));
  const wrong = fc.oneof(fc.jsonValue({ maxDepth: 2 }), number);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...FIELDS, 'extra', 'limits.timeoutMs', 'limits.memoryBytes', 'limits.pids', 'files.0.name', 'files.0.content'), wrong, async (field, value) => {
      const req: Record<string, unknown> = { language: NO_SUCH_LANGUAGE, code: 'true' };
      if (field.startsWith('limits.')) req.limits = { [field.slice(7)]: value };
      else if (field.startsWith('files.')) {
        delete req.code;
        req.files = [{ name: 'main.sh', content: '', [field.slice(8)]: value }];
      } else req[field] = value;
      if (field === 'language') req.language = typeof value === 'string' ? `${NO_SUCH_LANGUAGE}-${value}`.slice(0, 64) : value;
      assertClean4xx(await post('/v1/execute', JSON.stringify(req)), `/v1/execute ${field}=${JSON.stringify(value)}`);
    }),
    { numRuns: RUNS },
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('run_timeout', 'compile_timeout', 'run_memory_limit', 'compile_memory_limit', 'run_cpu_time', 'compile_cpu_time', 'files', 'args', 'stdin', 'version'), wrong, async (field, value) => {
      assertClean4xx(await post('/api/v2/execute', JSON.stringify({ ...pistonBase, [field]: value })), `/api/v2/execute ${field}=${JSON.stringify(value)}`, true);
    }),
    { numRuns: RUNS },
  );
});

test('HTTP: invalid UTF-8, raw NUL bytes and random bytes in the body: a clean 4xx', async () => {
  const fixed = [
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    Buffer.concat([Buffer.from('{"language":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","code":"true"}')]),
    Buffer.concat([Buffer.from('{"language":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","code":"x"}')]),
    Buffer.from('{"language":"bash","code":"\0"}'),
    Buffer.from('\0\0\0\0'),
    Buffer.from('{"language":"bash","code":"true"'),
    Buffer.from('{"__proto__":{"polluted":1},"language":"bash","code":"true"}'),
    Buffer.from('{"constructor":{"prototype":{"polluted":1}},"language":"bash","code":"true"}'),
    Buffer.from('\ufeff{"language":1}'),
  ];
  for (const route of ROUTES) for (const body of fixed) assertClean4xx(await post(route.url, body), `${route.url} ${body.toString('hex').slice(0, 40)}`, route.piston);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.constantFrom(...ROUTES), fc.constantFrom('application/json', 'text/plain', undefined, 'application/json; charset=utf-16', 'multipart/form-data; boundary=x'), async (bytes, route, type) => {
      assertClean4xx(await post(route.url, Buffer.from(bytes), type), `${route.url} ${Buffer.from(bytes).toString('hex').slice(0, 40)}`, route.piston);
    }),
    { numRuns: RUNS },
  );
});

test('HTTP: deep JSON (10,000 and 1,000,000 levels), 10,000 files and oversized bodies: 400 or 413, never a crash', async () => {
  for (const depth of [10_000, 1_000_000]) {
    const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const objects = `${'{"a":'.repeat(depth / 10)}1${'}'.repeat(depth / 10)}`;
    const inField = `{"language":"${NO_SUCH_LANGUAGE}","code":${arrays}}`;
    for (const route of ROUTES) {
      for (const body of [arrays, objects, inField]) {
        const code = assertClean4xx(await post(route.url, body), `${route.url} depth ${depth}`, route.piston);
        assert.ok(['CYLO_E_VALIDATION', 'CYLO_E_BODY_TOO_LARGE'].includes(code), code);
      }
    }
  }
  const files = Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}.sh`, content: '' }));
  const many = await post('/v1/execute', JSON.stringify({ language: NO_SUCH_LANGUAGE, files }));
  assert.equal(assertClean4xx(many, '10,000 files'), 'CYLO_E_VALIDATION');
  assert.equal(JSON.parse(many.body).error.field, 'files');
  const huge = JSON.stringify({ language: NO_SUCH_LANGUAGE, code: 'x'.repeat(BODY_LIMIT + 1) });
  for (const route of ROUTES) assert.equal(assertClean4xx(await post(route.url, huge), `${route.url} oversized`, route.piston), 'CYLO_E_BODY_TOO_LARGE');
  // Traversal and absolute names over HTTP, on both APIs.
  for (const name of ['../x', '/etc/passwd', 'a/../../x', 'a\0b', '..']) {
    const native = await post('/v1/execute', JSON.stringify({ language: NO_SUCH_LANGUAGE, files: [{ name, content: '' }] }));
    assert.equal(assertClean4xx(native, `name ${JSON.stringify(name)}`), 'CYLO_E_VALIDATION');
    const piston = await post('/api/v2/execute', JSON.stringify({ language: 'bash', version: '*', files: [{ name: 'main.sh', content: 'true' }, { name, content: '' }] }));
    assert.equal(assertClean4xx(piston, `piston name ${JSON.stringify(name)}`, true), 'CYLO_E_VALIDATION');
  }
});

test('HTTP: unknown routes, methods and query strings get 404; the service is healthy and ran nothing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'POST'), fc.webPath(), fc.string({ maxLength: 30 }), async (method, path, query) => {
      const url = `/${path.replace(/^\/+/, '')}?${encodeURIComponent(query)}`;
      if (['/healthz', '/metrics', '/openapi.json', '/v1/runtimes', '/api/v2/runtimes'].some((p) => url.startsWith(`${p}?`)) && method === 'GET') return;
      if (/^\/(v1\/execute|api\/v2\/execute|api\/v2\/connect|mcp)\/?\?/.test(url)) return;
      const res = await app.inject({ method: method as 'GET', url });
      if (res.statusCode === 404) assertClean4xx({ statusCode: res.statusCode, body: res.body }, `${method} ${url}`, url.startsWith('/api/v2'));
      else assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode}`);
    }),
    { numRuns: RUNS },
  );
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  const stats = cylo.stats();
  assert.equal(stats.completed, 0, 'no request of the battery ran a program');
  assert.equal(stats.running, 0);
});
