// The Streamable HTTP transport module on its own: the Origin policy (pure), and the plugin
// mounted on a bare Fastify on 127.0.0.1, driven by the SDK's StreamableHTTPClientTransport.
// The same plugin behind `cylo serve` (with its bearer token) is tested in serve-http.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { checkOrigin, allowedOriginsFromEnvironment } from '../../src/mcp/http.js';
import { mcpHttpPlugin } from '../../src/mcp/routes.js';
import { getCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { createCylo } from '../../src/cylo.js';
import { toolCases } from './cases.js';

describe('Origin policy', () => {
  it('allows requests without Origin and from loopback origins', () => {
    for (const origin of [undefined, '', 'http://localhost:3000', 'https://localhost', 'http://127.0.0.1:8080', 'http://127.8.9.10', 'http://[::1]:5173']) {
      assert.deepEqual(checkOrigin(origin), { ok: true }, String(origin));
    }
  });

  it('rejects other origins, "null" and garbage, unless allowed explicitly', () => {
    for (const origin of ['https://evil.example', 'http://localhost.evil.example', 'http://127.0.0.1.evil.example', 'null', 'not a url', 'file:///etc/passwd', 'http://10.0.0.1', 'http://0.0.0.0:3000']) {
      const verdict = checkOrigin(origin);
      assert.equal(verdict.ok, false, origin);
    }
    assert.deepEqual(checkOrigin('https://app.example.com', ['https://app.example.com']), { ok: true });
    assert.equal(checkOrigin('https://app.example.com:8443', ['https://app.example.com']).ok, false);
  });

  it('reads CYLO_MCP_ALLOWED_ORIGINS, normalised', () => {
    assert.deepEqual(allowedOriginsFromEnvironment({ CYLO_MCP_ALLOWED_ORIGINS: ' https://a.example/ , http://b.example:8080' }), ['https://a.example', 'http://b.example:8080']);
    assert.deepEqual(allowedOriginsFromEnvironment({}), []);
    assert.throws(() => allowedOriginsFromEnvironment({ CYLO_MCP_ALLOWED_ORIGINS: 'ftp://x.example' }), /only http and https/);
  });
});

const skip = sandboxSkipReason();

describe('MCP over Streamable HTTP (plugin on a bare Fastify)', { skip: skip ?? false }, () => {
  let app: FastifyInstance;
  let url: URL;
  let client: Client;

  before(async () => {
    app = Fastify();
    await app.register(mcpHttpPlugin, { cylo: getCylo(), allowedOrigins: ['https://allowed.example'] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = new URL(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/mcp`);
    client = new Client({ name: 'cylo-test', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url));
  });

  after(async () => {
    await client?.close();
    await app?.close();
  });

  toolCases(() => client);

  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
  const post = (origin?: string): Promise<Response> =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(origin === undefined ? {} : { origin }) },
      body: JSON.stringify(initialize),
    });

  it('answers 403 with a JSON-RPC error to a foreign Origin', async () => {
    const res = await post('https://evil.example');
    assert.equal(res.status, 403);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, /Origin https:\/\/evil\.example is not allowed/);
  });

  it('a dropped connection cancels the call it waited for (no process left)', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await post();
    const session = init.headers.get('mcp-session-id');
    assert.ok(session);
    await init.body?.cancel();
    const marker = uniqueMarker('mcpdrop');
    const controller = new AbortController();
    const call = {
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'run_code', _meta: { progressToken: 'p' }, arguments: { language: 'python', code: 'import sys, time\nprint("running", sys.argv[1], flush=True)\ntime.sleep(30)', args: [marker], timeout_ms: 20_000 } },
    };
    const res = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': session }, body: JSON.stringify(call), signal: controller.signal });
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    assert.ok(reader);
    let seen = '';
    while (!seen.includes('running')) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += Buffer.from(value).toString('utf8');
    }
    assert.match(seen, /running/);
    assert.ok(processesWith(marker).length > 0, 'the program runs');
    controller.abort();
    await waitFor('the program of the dropped call to be killed', () => processesWith(marker).length === 0);
  });

  it('accepts loopback and explicitly allowed origins', async () => {
    for (const origin of ['http://localhost:6274', 'https://allowed.example']) {
      const res = await post(origin);
      assert.equal(res.status, 200, origin);
      await res.body?.cancel();
    }
  });
});

describe('MCP HTTP sessions (no execution needed)', () => {
  let app: FastifyInstance;
  let url: URL;
  const cylo = createCylo();

  before(async () => {
    app = Fastify();
    await app.register(mcpHttpPlugin, { cylo, maxSessions: 2, sessionIdleMs: 600 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = new URL(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/mcp`);
  });

  after(async () => {
    await app?.close();
    await cylo.close();
  });

  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const rpc = async (body: object, sessionId?: string, method = 'POST'): Promise<Response> =>
    fetch(url, {
      method,
      headers: { ...(method === 'POST' ? headers : { accept: 'text/event-stream' }), ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }) },
      ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
    });
  const open = async (): Promise<string> => {
    const res = await rpc({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const id = res.headers.get('mcp-session-id');
    assert.ok(id, 'initialize answers with an Mcp-Session-Id');
    return id;
  };
  const ping = async (sessionId: string): Promise<number> => {
    const res = await rpc({ jsonrpc: '2.0', id: 2, method: 'ping' }, sessionId);
    await res.body?.cancel();
    return res.status;
  };

  it('refuses requests without a session (400) and with an unknown one (404)', async () => {
    const none = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /initialize/);
    const get = await rpc({}, undefined, 'GET');
    assert.equal(get.status, 400);
    await get.body?.cancel();
    const unknown = await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, '00000000-0000-0000-0000-000000000000');
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
  });

  it('DELETE ends a session', async () => {
    const id = await open();
    assert.equal(await ping(id), 200);
    const del = await rpc({}, id, 'DELETE');
    assert.equal(del.status, 200);
    await del.body?.cancel();
    assert.equal(await ping(id), 404);
  });

  it('keeps at most maxSessions, closing the least recently used idle one', async () => {
    const a = await open();
    const b = await open();
    assert.equal(await ping(a), 200); // a is now more recent than b
    const c = await open();
    assert.equal(await ping(b), 404, 'the least recently used session was closed');
    assert.equal(await ping(a), 200);
    assert.equal(await ping(c), 200);
  });

  it('closes a session idle for longer than sessionIdleMs', async () => {
    const id = await open();
    await new Promise((r) => setTimeout(r, 2200));
    assert.equal(await ping(id), 404);
  });
});

