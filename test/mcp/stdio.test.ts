// `cylo mcp` over stdio, driven by the SDK's own Client and StdioClientTransport, which spawns
// `node bin/cylo mcp` the way a desktop MCP client would. Needs root and a working sandbox; skips
// visibly with the reason otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { waitFor } from '../support/wait.js';
import { toolCases } from './cases.js';

const skip = sandboxSkipReason();
/** The sandboxes of the `cylo mcp` processes get a uid range of this test process, like every
 *  other cylo the tests start (cylo's default range is shared with anything else on the host). */
const UIDS = { CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT), CYLO_UID_COUNT: '64' };

describe('cylo mcp (stdio)', { skip: skip ?? false }, () => {
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';

  before(async () => {
    transport = new StdioClientTransport({ command: process.execPath, args: ['bin/cylo', 'mcp'], stderr: 'pipe', cwd: process.cwd(), env: UIDS });
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    client = new Client({ name: 'cylo-test', version: '0.0.0' });
    await client.connect(transport);
  });

  after(async () => {
    await client?.close();
  });

  toolCases(() => client);

  it('logs its start on stderr, not stdout', () => {
    assert.match(stderr, /cylo mcp: serving MCP on stdio \(languages: .*python/);
  });

  it('answers an unknown method with a JSON-RPC error (protocol misuse)', async () => {
    const { z } = await import('zod');
    await assert.rejects(client.request({ method: 'cylo/nonsense', params: {} }, z.object({})), (e: Error & { code?: number }) => e.code === -32601);
  });
});

describe('cylo mcp stdout purity', { skip: skip ?? false }, () => {
  it('writes only JSON-RPC lines to stdout, and exits when stdin closes', async () => {
    const child = spawn(process.execPath, ['bin/cylo', 'mcp'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...UIDS } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    const send = (m: object): void => {
      child.stdin.write(`${JSON.stringify(m)}\n`);
    };
    const waitForId = async (id: number): Promise<void> => {
      await waitFor(`the answer to ${id}`, () => out.split('\n').some((l) => l.includes(`"id":${id}`)), 15_000).catch((error: Error) => {
        throw new Error(`${error.message}: ${out}`);
      });
    };
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    await waitForId(1);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_code', arguments: { language: 'bash', code: 'echo out; echo err >&2' } } });
    await waitForId(2);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'exits 0 when the client closes stdin');
    const lines = out.split('\n').filter((l) => l !== '');
    for (const line of lines) {
      const message = JSON.parse(line) as { jsonrpc?: string };
      assert.equal(message.jsonrpc, '2.0', line);
    }
    const answer = JSON.parse(lines.find((l) => l.includes('"id":2')) ?? '{}') as { result?: { structuredContent?: { run?: { stdout?: string; stderr?: string } } } };
    assert.equal(answer.result?.structuredContent?.run?.stdout, 'out\n');
    assert.equal(answer.result?.structuredContent?.run?.stderr, 'err\n');
  });
});
