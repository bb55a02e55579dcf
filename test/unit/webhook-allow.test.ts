// The webhook destination rules (SSRF defences) and the signature. Nothing here connects
// anywhere: names are resolved by the system resolver only for `localhost`; the other names
// use a table resolver standing for DNS (what DNS answers is the input under test, not the
// allowlist, which is the real code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CyloError } from '../../src/errors.js';
import { WebhookAllowList, type Resolver } from '../../src/submissions/webhook-allow.js';
import { signWebhook, verifyWebhook } from '../../src/submissions/webhook-sign.js';

const dns: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34'],
  'rebind.example.com': ['93.184.216.34', '169.254.169.254'],
  'internal.example.com': ['10.0.0.5'],
  'loop.example.com': ['127.0.0.1'],
};
const table: Resolver = async (host) => {
  const addresses = dns[host];
  if (addresses === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);
};

async function refused(list: WebhookAllowList, url: string, pattern: RegExp): Promise<void> {
  await assert.rejects(list.checkUrl(url, table), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CALLBACK_NOT_ALLOWED' && e.field === 'callbackUrl' && e.status === 400 && pattern.test(e.message), `${url}: ${String(pattern)}`);
}

test('default allowlist: loopback only (IPv4, IPv6, and names that resolve to loopback)', async () => {
  const list = new WebhookAllowList();
  await list.checkUrl('http://127.0.0.1:9/hook', table);
  await list.checkUrl('http://[::1]:9/hook', table);
  await list.checkUrl('http://localhost:9/hook'); // the system resolver: localhost is loopback
  await list.checkUrl('http://loop.example.com/hook', table);
  await refused(list, 'http://10.0.0.1/hook', /10\.0\.0\.1 is not in this server's webhookAllow list/);
  await refused(list, 'http://169.254.169.254/latest/meta-data', /not in this server's webhookAllow list/);
  await refused(list, 'http://[::ffff:10.0.0.1]/hook', /not in this server's webhookAllow list/);
  await refused(list, 'http://internal.example.com/hook', /internal\.example\.com \(resolves to 10\.0\.0\.5\)/);
  await refused(list, 'http://hooks.example.com/hook', /resolves to 93\.184\.216\.34/);
  await refused(list, 'http://nowhere.example.com/hook', /does not resolve/);
});

test('URL shape: http and https only, no credentials, absolute', async () => {
  const list = new WebhookAllowList();
  await refused(list, 'ftp://127.0.0.1/x', /only http and https/);
  await refused(list, 'file:///etc/passwd', /only http and https/);
  await refused(list, 'gopher://127.0.0.1:6379/_x', /only http and https/);
  await refused(list, 'http://user:pw@127.0.0.1/x', /must not carry credentials/);
  await refused(list, '/relative', /not an absolute URL/);
});

test('operator entries: CIDRs allow addresses; a listed name must still resolve to public addresses', async () => {
  const list = new WebhookAllowList(['hooks.example.com', 'rebind.example.com', '*.corp.example', '10.1.0.0/16']);
  await list.checkUrl('https://hooks.example.com/x', table);
  await list.checkUrl('http://10.1.2.3/x', table);
  await refused(list, 'http://10.2.0.1/x', /not in this server's webhookAllow list/);
  // DNS pointing a listed name at the metadata service is refused (at submit and at delivery).
  await refused(list, 'http://rebind.example.com/x', /resolves to 169\.254\.169\.254/);
  assert.equal(list.addressAllowed('a.corp.example', '93.184.216.34'), true);
  assert.equal(list.addressAllowed('a.corp.example', '192.168.1.1'), false);
  assert.equal(list.addressAllowed('a.corp.example', '10.1.9.9'), true, 'a CIDR entry allows an internal address explicitly');
  assert.throws(() => new WebhookAllowList(['10.0.0.0/33']), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && /webhookAllow: "10\.0\.0\.0\/33"/.test(e.message));
  assert.throws(() => new WebhookAllowList(['http://x']), /webhookAllow/);
});

test('signature: verifies the exact body within the window; a changed body, secret or old timestamp fails', () => {
  const secret = 'k'.repeat(64);
  const body = JSON.stringify({ id: 'abc', status: 'done' });
  const now = 1_800_000_000;
  const header = signWebhook(secret, body, now);
  assert.match(header, /^t=1800000000,v1=[0-9a-f]{64}$/);
  assert.equal(verifyWebhook(secret, header, body, now + 10), true);
  assert.equal(verifyWebhook(secret, header, `${body} `, now), false, 'a changed body');
  assert.equal(verifyWebhook('j'.repeat(64), header, body, now), false, 'another secret');
  assert.equal(verifyWebhook(secret, header, body, now + 301), false, 'a replay after the window');
  assert.equal(verifyWebhook(secret, header.replace(/t=\d+/, `t=${now + 100}`), body, now + 100), false, 'a re-dated signature');
});
