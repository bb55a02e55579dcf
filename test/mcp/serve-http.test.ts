// MCP over Streamable HTTP against a real `cylo serve` (spawned as `node bin/cylo serve` on
// 127.0.0.1, a free port, with a bearer token): the same tool calls as over stdio, plus the token
// and Origin checks at /mcp. Needs root and a working sandbox; skips visibly with the reason
// otherwise (or when this build has no `cylo serve`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { type Served, startServe, stopServe } from '../support/serve.js';
import { toolCases } from './cases.js';

const skip = sandboxSkipReason() ?? (existsSync('dist/src/cli/commands/serve.js') ? undefined : 'this build has no `cylo serve` (dist/src/cli/commands/serve.js missing)');
const TOKEN = randomBytes(16).toString('hex');

/** `cylo serve` with a bearer token and an extra allowed Origin, its sandboxes in a uid range of
 *  this test process. */
const startMcpServe = (): Promise<Served> =>
  startServe(
    { CYLO_TOKEN: TOKEN, CYLO_MCP_ALLOWED_ORIGINS: 'https://allowed.example', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT), CYLO_UID_COUNT: '64' },
    { args: ['--log-level', 'info'], timeoutMs: 30_000 },
  );

describe('MCP over Streamable HTTP at /mcp of cylo serve', { skip: skip ?? false }, () => {
  let serve: Served | undefined;
  let client: Client;
  let url: URL;

  before(async () => {
    serve = await startMcpServe();
    url = new URL('/mcp', serve.base);
    client = new Client({ name: 'cylo-test', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
  });

  after(async () => {
    await client?.close();
    if (serve !== undefined) await stopServe(serve);
  });

  toolCases(() => client);

  const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: initialize });

  it('requires the bearer token (401 in cylo\'s error shape without it or with a wrong one)', async () => {
    const headerSets: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }];
    for (const headers of headerSets) {
      const res = await post(headers);
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'CYLO_E_UNAUTHORIZED');
    }
  });

  it('rejects a foreign Origin with 403 even with the token; allows loopback and CYLO_MCP_ALLOWED_ORIGINS', async () => {
    const evil = await post({ authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
    assert.match(((await evil.json()) as { error: { message: string } }).error.message, /Origin https:\/\/evil\.example is not allowed/);
    for (const origin of [`http://localhost:5173`, 'https://allowed.example']) {
      const res = await post({ authorization: `Bearer ${TOKEN}`, origin });
      assert.equal(res.status, 200, origin);
      await res.body?.cancel();
    }
  });
});
