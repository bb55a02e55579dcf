// Webhook delivery at the wire (no sandbox needed): a real SQLite store, real receivers on
// 127.0.0.1, and a resolver standing for DNS so that names can change their answer between
// submit time and delivery (rebinding). Proves: the request goes to the checked address with
// the URL's Host; a name that now resolves outside the allowlist is refused at delivery and
// nothing connects; redirects are not followed; a receiver that never answers costs one timeout.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { openSqliteStore } from '../../src/submissions/sqlite-store.js';
import { WebhookAllowList, type Resolver } from '../../src/submissions/webhook-allow.js';
import { WebhookDispatcher } from '../../src/submissions/webhook-deliver.js';
import { verifyWebhook } from '../../src/submissions/webhook-sign.js';
import type { StoredSubmission } from '../../src/submissions/store.js';

const tempRoot = mkdtempSync(join(tmpdir(), 'cylo-deliver-test-'));
const store = openSqliteStore(join(tempRoot, 'data'));
const servers: Server[] = [];
const SECRET = 's'.repeat(64);
let n = 0;

after(async () => {
  for (const s of servers) s.close();
  await store.close();
  rmSync(tempRoot, { recursive: true, force: true });
});

async function receiver(answer: (res: import('node:http').ServerResponse) => void = (res) => res.end('ok')): Promise<{ port: number; hits: Array<{ headers: IncomingHttpHeaders; body: string }> }> {
  const hits: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hits.push({ headers: req.headers, body });
      answer(res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, hits };
}

/** A finished submission with a pending webhook to `url`, in the store. */
async function finished(url: string): Promise<string> {
  const id = `deliver-test-${n++}`.padEnd(22, 'x');
  await store.insert([{ id, owner: null, request: { language: 'bash', code: 'true' }, callbackUrl: url, adapter: null, createdAt: Date.now() }]);
  await store.claimNext(Date.now());
  await store.finish(id, { status: 'cancelled' }, Date.now(), ['running']);
  return id;
}

async function settled(id: string): Promise<StoredSubmission> {
  for (let i = 0; i < 400; i++) {
    const s = await store.get(id);
    if (s !== undefined && s.webhook !== 'pending') return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`webhook of ${id} still pending after 10 s`);
}

test('a name is connected to at the address checked, with its own Host header, signed', async () => {
  const hook = await receiver();
  const resolver: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
  const allow = new WebhookAllowList(['127.0.0.0/8']);
  const dispatcher = new WebhookDispatcher(store, { allow, secret: SECRET, resolver, backoffMs: 10 });
  const id = await finished(`http://hooks.test:${hook.port}/in?x=1`);
  dispatcher.deliver(id, `http://hooks.test:${hook.port}/in?x=1`, '{"a":1}');
  const s = await settled(id);
  await dispatcher.close();
  assert.equal(s.webhook, 'delivered');
  assert.equal(hook.hits.length, 1);
  assert.equal(hook.hits[0]?.headers.host, `hooks.test:${hook.port}`);
  assert.equal(hook.hits[0]?.body, '{"a":1}');
  assert.equal(verifyWebhook(SECRET, hook.hits[0]?.headers['x-cylo-signature'] as string, '{"a":1}'), true);
});

test('DNS rebinding: a name that resolved to loopback at submit time and to 10.0.0.1 at delivery is refused, nothing connects, no retry', async () => {
  const allow = new WebhookAllowList();
  let answer = '127.0.0.1';
  let lookups = 0;
  const resolver: Resolver = async () => {
    lookups++;
    return [{ address: answer, family: 4 }];
  };
  await allow.checkUrl('http://rebind.test:9/hook', resolver); // submit time: allowed
  answer = '10.0.0.1';
  const dispatcher = new WebhookDispatcher(store, { allow, secret: SECRET, resolver, backoffMs: 10, attempts: 3 });
  const id = await finished('http://rebind.test:9/hook');
  dispatcher.deliver(id, 'http://rebind.test:9/hook', '{}');
  const s = await settled(id);
  await dispatcher.close();
  assert.equal(s.webhook, 'failed');
  assert.equal(s.deliveries.length, 1, 'a refused destination is not retried');
  assert.equal(s.deliveries[0]?.statusCode, null);
  assert.match(s.deliveries[0]?.error ?? '', /resolves to 10\.0\.0\.1.*webhookAllow/);
  assert.equal(lookups, 2, 'resolved once at submit, once at delivery (then connected to what was checked)');
});

test('a redirect is not followed: the 302 is a failed attempt, the target never sees the POST', async () => {
  const target = await receiver();
  const bouncer = await receiver((res) => {
    res.statusCode = 302;
    res.setHeader('location', `http://127.0.0.1:${target.port}/inner`);
    res.end();
  });
  const dispatcher = new WebhookDispatcher(store, { allow: new WebhookAllowList(), secret: SECRET, backoffMs: 10, attempts: 2 });
  const url = `http://127.0.0.1:${bouncer.port}/hook`;
  const id = await finished(url);
  dispatcher.deliver(id, url, '{}');
  const s = await settled(id);
  await dispatcher.close();
  assert.equal(s.webhook, 'failed');
  assert.deepEqual(s.deliveries.map((d) => [d.statusCode, d.error]), [[302, 'HTTP 302'], [302, 'HTTP 302']]);
  assert.equal(bouncer.hits.length, 2);
  assert.equal(target.hits.length, 0);
});

test('a receiver that never answers is given up on after the timeout, and the attempt says so', async () => {
  const silent = await receiver(() => {}); // never answers
  const dispatcher = new WebhookDispatcher(store, { allow: new WebhookAllowList(), secret: SECRET, attempts: 1, timeoutMs: 300 });
  const url = `http://127.0.0.1:${silent.port}/hook`;
  const id = await finished(url);
  dispatcher.deliver(id, url, '{}');
  const s = await settled(id);
  await dispatcher.close();
  assert.equal(s.webhook, 'failed');
  assert.equal(s.deliveries[0]?.statusCode, null);
  assert.match(s.deliveries[0]?.error ?? '', /timed out/);
});
