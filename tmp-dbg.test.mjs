import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
describe('x', () => {
  let child, client;
  before(async () => {
    child = spawn(process.execPath, ['bin/cylo', 'serve', '--port', '0', '--log-format', 'json'], { env: { ...process.env, CYLO_TOKEN: 'x' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await new Promise((r) => setTimeout(r, 3000));
    const port = /"port":(\d+)/.exec(out)[1];
    client = new Client({ name: 'x', version: '1' });
    if (process.env.CONNECT) await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { authorization: 'Bearer x' } } }));
  });
  after(async () => {
    await client.close();
    const exited = new Promise((r) => child.once('exit', (c, s) => { console.error('exit', c, s); r(); }));
    child.kill('SIGTERM');
    await exited;
  });
  it('a', () => {});
});
