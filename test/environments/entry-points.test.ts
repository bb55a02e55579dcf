// Environments through the entry points with their real clients: the MCP SDK client over
// Streamable HTTP (run_code and session_create with an environment; the tool descriptions name
// the environments and their packages; a datasci plot as an image block) and the HTTP service
// (GET /v1/runtimes lists them; the native, Piston and session routes accept `environment`; an
// unknown one is a 400 with its code). Real sandboxes; an environment built from a wheel made
// at test time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mcpHttpPlugin } from '../../src/mcp/routes.js';
import { buildServer } from '../../src/server/app.js';
import type { Cylo } from '../../src/cylo.js';
import { testCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { datasciSkipReason } from '../support/datasci.js';
import { makeWheel } from '../support/packages.js';
import { PNG_SIGNATURE } from '../support/png.js';

type Content = { type: string; text?: string; data?: string; mimeType?: string };
type ToolResult = { content: Content[]; isError?: boolean; structuredContent?: Record<string, unknown> };
const skip = sandboxSkipReason();

describe('environments through MCP and HTTP', { skip: skip ?? false, timeout: 180_000 }, () => {
  let root: string;
  let cylo: Cylo;
  let mcp: FastifyInstance;
  let http: FastifyInstance;
  let client: Client;
  const call = async (name: string, args: Record<string, unknown>): Promise<ToolResult> => (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as ToolResult;
  const text = (r: ToolResult): string => r.content.map((c) => c.text ?? '').join('\n');

  before(async () => {
    root = mkdtempSync('/tmp/cylo-envs-entry-');
    mkdirSync(join(root, 'from'));
    makeWheel(join(root, 'from'), 'cylotiny', '1.2.3', 'def hello():\n    return "tiny says hi"\n');
    // uids: +384 of the server tests' range (connect and serve-lifecycle, never run at once)
    cylo = testCylo({ environmentsDir: join(root, 'environments'), concurrency: 2, defaultLimits: { timeoutMs: 20_000, cpuTimeMs: 20_000, memoryBytes: 256 * 1024 * 1024, pids: 32, outputBytes: 256 * 1024, workspaceBytes: 16 * 1024 * 1024 } }, 384);
    await cylo.buildEnvironment({ name: 'tiny', language: 'python', packages: ['cylotiny'], from: join(root, 'from') });
    mcp = Fastify();
    await mcp.register(mcpHttpPlugin, { cylo });
    await mcp.listen({ host: '127.0.0.1', port: 0 });
    client = new Client({ name: 'cylo-env-test', version: '0.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(mcp.server.address() as AddressInfo).port}/mcp`)));
    http = await buildServer({ cylo, logger: false, processMetrics: false });
    await http.ready();
  });
  after(async () => {
    await client?.close().catch(() => {});
    await mcp?.close();
    await http?.close();
    await cylo?.close({ graceMs: 0 });
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('MCP: the tool descriptions name each environment with its packages; run_code imports from one', async () => {
    const { tools } = await client.listTools();
    const runCode = tools.find((t) => t.name === 'run_code');
    const described = JSON.stringify(runCode?.inputSchema.properties?.environment ?? {});
    // proves: a model can see what it can import and where (the name and the package version)
    assert.match(described, /python: tiny \(cylotiny 1\.2\.3\)/);
    assert.match(JSON.stringify(tools.find((t) => t.name === 'session_create')?.inputSchema.properties?.environment ?? {}), /cylotiny 1\.2\.3/);
    const r = await call('run_code', { language: 'python', environment: 'tiny', code: 'import cylotiny\nprint(cylotiny.hello())' });
    assert.equal(r.isError, false, text(r));
    assert.match(text(r), /tiny says hi/);
    const refused = await call('run_code', { language: 'python', environment: 'nope', code: '1' });
    assert.equal(refused.isError, true);
    assert.match(text(refused), /CYLO_E_UNKNOWN_ENVIRONMENT|no environment named "nope"/);
  });

  it('MCP: an operator\'s environment allowlist (mcpEnvironments) hides and refuses the others', async () => {
    const limited = Fastify();
    await limited.register(mcpHttpPlugin, { cylo, environments: [] });
    await limited.listen({ host: '127.0.0.1', port: 0 });
    const other = new Client({ name: 'cylo-env-test-limited', version: '0.0.0' });
    try {
      await other.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(limited.server.address() as AddressInfo).port}/mcp`)));
      const { tools } = await other.listTools();
      // proves: the model is not told about environments it may not use, and cannot use them
      assert.doesNotMatch(JSON.stringify(tools), /cylotiny/);
      for (const [name, args] of [['run_code', { language: 'python', environment: 'tiny', code: 'import cylotiny' }], ['session_create', { language: 'python', environment: 'tiny' }]] as const) {
        const r = (await other.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as ToolResult;
        assert.equal(r.isError, true, name);
        assert.match(text(r), /none are offered to MCP clients/);
      }
    } finally {
      await other.close().catch(() => {});
      await limited.close();
    }
  });

  it('MCP: session_create with an environment keeps the import across runs', async () => {
    const created = await call('session_create', { language: 'python', environment: 'tiny' });
    assert.equal(created.isError, undefined, text(created));
    const id = created.structuredContent?.session_id as string;
    await call('session_run', { session_id: id, code: 'import cylotiny' });
    const r = await call('session_run', { session_id: id, code: 'cylotiny.hello()' });
    // proves: the session's sandbox has the environment, and the import from run 1 is kept
    assert.equal(r.structuredContent?.result, "'tiny says hi'", text(r));
    await call('session_close', { session_id: id });
  });

  it('MCP: a matplotlib plot in the datasci environment comes back as an image block', { skip: datasciSkipReason() ?? false }, async () => {
    const code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('plot.png')";
    const r = await call('run_code', { language: 'python', environment: 'datasci', code, outputs: ['*.png'] });
    assert.equal(r.isError, false, text(r));
    const image = r.content.find((c) => c.type === 'image');
    assert.equal(image?.mimeType, 'image/png');
    assert.ok(Buffer.from(image?.data ?? '', 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
  });

  it('HTTP: /v1/runtimes lists the environments; native, Piston and session routes accept environment', async () => {
    const runtimes = JSON.parse((await http.inject({ method: 'GET', url: '/v1/runtimes' })).body) as Array<{ language: string; environments: Array<{ name: string; packages: unknown[] }> }>;
    // proves: the response schema keeps the field (a schema without it would strip it)
    assert.deepEqual(runtimes.find((r) => r.language === 'python')?.environments.find((e) => e.name === 'tiny')?.packages, [{ name: 'cylotiny', version: '1.2.3' }]);
    const native = await http.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', environment: 'tiny', code: 'import cylotiny; print(cylotiny.hello())' } });
    assert.equal(native.statusCode, 200, native.body);
    assert.equal((JSON.parse(native.body) as { run: { stdout: string } }).run.stdout, 'tiny says hi\n');
    const piston = await http.inject({ method: 'POST', url: '/api/v2/execute', payload: { language: 'python', version: '*', environment: 'tiny', files: [{ content: 'import cylotiny; print(cylotiny.hello())' }] } });
    assert.equal(piston.statusCode, 200, piston.body);
    assert.equal((JSON.parse(piston.body) as { run: { stdout: string } }).run.stdout, 'tiny says hi\n');
    const session = await http.inject({ method: 'POST', url: '/v1/sessions', payload: { language: 'python', environment: 'tiny' } });
    assert.equal(session.statusCode, 201, session.body);
    const id = (JSON.parse(session.body) as { id: string }).id;
    const run = await http.inject({ method: 'POST', url: `/v1/sessions/${id}/execute`, payload: { code: 'import cylotiny\ncylotiny.hello()' } });
    assert.match(run.body, /tiny says hi/);
    await http.inject({ method: 'DELETE', url: `/v1/sessions/${id}` });
    const unknown = await http.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', environment: 'nope', code: '1' } });
    assert.equal(unknown.statusCode, 400);
    assert.equal((JSON.parse(unknown.body) as { error: { code: string; field: string } }).error.code, 'CYLO_E_UNKNOWN_ENVIRONMENT');
  });
});
