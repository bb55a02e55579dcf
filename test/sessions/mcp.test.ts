// The MCP session tools end to end with the SDK's own Client over Streamable HTTP (the plugin
// on a bare Fastify, real sandboxes): create -> run (state kept, result) -> write/list/read
// files -> close; refusals as tool results with isError; the per-client session bound; one
// client cannot use another's session id; and a client's sessions end (every process killed)
// when its MCP session is terminated.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mcpHttpPlugin } from '../../src/mcp/routes.js';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

type Content = { type: string; text?: string; data?: string; mimeType?: string };
type ToolResult = { content: Content[]; isError?: boolean; structuredContent?: Record<string, unknown> };
const skip = sandboxSkipReason();

describe('MCP session tools (SDK client, Streamable HTTP)', { skip: skip ?? false, timeout: 90_000 }, () => {
  let app: FastifyInstance;
  let url: URL;
  const clients: Array<{ client: Client; transport: StreamableHTTPClientTransport }> = [];
  const connect = async (): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> => {
    const transport = new StreamableHTTPClientTransport(url);
    const client = new Client({ name: 'cylo-session-test', version: '0.0.0' });
    await client.connect(transport);
    clients.push({ client, transport });
    return { client, transport };
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>): Promise<ToolResult> => (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as ToolResult;
  const text = (r: ToolResult): string => r.content.map((c) => c.text ?? '').join('\n');

  before(async () => {
    app = Fastify();
    await app.register(mcpHttpPlugin, { cylo: getCylo() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = new URL(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/mcp`);
  });
  after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await app?.close();
    await closeSharedCylos();
  });

  it('create, run twice with state, write, list, read, close; a closed session is refused', async () => {
    const { client } = await connect();
    const created = await call(client, 'session_create', { language: 'python' });
    assert.equal(created.isError, undefined, text(created));
    const id = created.structuredContent?.session_id as string;
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    const r1 = await call(client, 'session_run', { session_id: id, code: 'import json\nscores = [3, 4]\nprint("ok")' });
    assert.equal(r1.isError, false, text(r1));
    const w = await call(client, 'session_write_file', { session_id: id, path: 'extra.json', content: '[5]' });
    assert.equal(w.structuredContent?.size, 3);
    const r2 = await call(client, 'session_run', { session_id: id, code: 'scores += json.load(open("extra.json"))\nopen("sum.txt", "w").write(str(sum(scores)))\nsum(scores)' });
    // Proves state: scores and json come from run 1.
    assert.equal(r2.structuredContent?.result, '12', text(r2));
    const listed = await call(client, 'session_list_files', { session_id: id });
    assert.deepEqual((listed.structuredContent?.files as Array<{ path: string }>).map((f) => f.path).sort(), ['extra.json', 'sum.txt']);
    const read = await call(client, 'session_read_file', { session_id: id, path: 'sum.txt' });
    assert.deepEqual(read.content, [{ type: 'text', text: '12' }]);
    const failed = await call(client, 'session_run', { session_id: id, code: '1/0' });
    assert.equal(failed.isError, true);
    assert.match(text(failed), /ZeroDivisionError/);
    assert.equal((await call(client, 'session_close', { session_id: id })).isError, undefined);
    const after = await call(client, 'session_run', { session_id: id, code: 'scores' });
    assert.equal(after.isError, true);
    assert.match(text(after), /CYLO_E_SESSION_ENDED/);
  });

  it('another MCP client cannot use the session id; the per-client bound refuses a third session', async () => {
    const a = await connect();
    const b = await connect();
    const id = (await call(a.client, 'session_create', { language: 'javascript' })).structuredContent?.session_id as string;
    const stolen = await call(b.client, 'session_run', { session_id: id, code: '1' });
    assert.equal(stolen.isError, true);
    assert.match(text(stolen), /CYLO_E_SESSION_NOT_FOUND/);
    const second = await call(a.client, 'session_create', { language: 'javascript' });
    assert.equal(second.isError, undefined, text(second));
    const third = await call(a.client, 'session_create', { language: 'javascript' });
    assert.equal(third.isError, true);
    assert.match(text(third), /CYLO_E_SESSION_LIMIT/);
  });

  it('terminating the MCP session ends its cylo sessions: their processes are killed', async () => {
    const { client, transport } = await connect();
    const id = (await call(client, 'session_create', { language: 'python' })).structuredContent?.session_id as string;
    const marker = uniqueMarker('mcpsess');
    const r = await call(client, 'session_run', { session_id: id, code: `import subprocess\np = subprocess.Popen(["/bin/sh", "-c", "sleep 60", "${marker}"])` });
    assert.equal(r.isError, false, text(r));
    assert.ok(processesWith(marker).length > 0, 'the session\'s background process runs');
    await transport.terminateSession();
    // Proves the MCP session's close ends the cylo session: otherwise the sleep would run 60 s.
    await waitFor('the session\'s processes to be killed', () => processesWith(marker).length === 0, 20_000);
  });
});
