// Webhook delivery: POST the finished submission (JSON) to its callbackUrl, signed, with retries
// and exponential backoff, every attempt recorded in the store. SSRF defences at delivery
// (see webhook-allow.ts for the rules):
// - the host is resolved once, EVERY address is checked against the allowlist, and the request
//   connects to the checked IP itself (Host header and TLS name stay the URL's): a name cannot
//   be re-resolved between check and connect (DNS rebinding);
// - redirects are not followed (a 3xx is a failed attempt): a receiver cannot bounce the POST
//   inward;
// - short timeouts, and at most RESPONSE_CAP bytes of the answer are read: a slow or huge
//   receiver cannot hold the service.
import http from 'node:http';
import https from 'node:https';
import { cyloVersion } from '../version.js';
import { isCyloError } from '../errors.js';
import { signWebhook, SIGNATURE_HEADER } from './webhook-sign.js';
import { systemResolver, type Resolver, type WebhookAllowList } from './webhook-allow.js';
import type { DeliveryAttempt, SubmissionStore } from './store.js';

const RESPONSE_CAP = 4096;

export interface WebhookOptions {
  allow: WebhookAllowList;
  /** The HMAC secret (see webhook-sign.ts). */
  secret: string;
  /** Attempts per delivery, the first included (default 5). */
  attempts?: number;
  /** Delay before the first retry, ms; doubled after each failure, at most 10 minutes (default 2000). */
  backoffMs?: number;
  /** Per attempt: connect + answer headers, ms (default 5000). */
  timeoutMs?: number;
  resolver?: Resolver;
}

export interface WebhookLog {
  (level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void;
}

type PostResult = { statusCode: number } | { error: string };

/** One POST to `url` on the already checked `address`; never throws. */
function postOnce(url: URL, address: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<PostResult> {
  return new Promise((resolve) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request({
      method: 'POST',
      host: address,
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: { ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) },
      servername: url.hostname.replace(/^\[|\]$/g, ''),
      signal,
      agent: false,
    });
    request.once('error', (error) => resolve({ error: signal.aborted ? 'timed out or cancelled' : ((error as NodeJS.ErrnoException).code ?? error.message) }));
    request.once('response', (response) => {
      let read = 0;
      const done = (): void => resolve({ statusCode: response.statusCode ?? 0 });
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > RESPONSE_CAP) {
          response.destroy();
          done();
        }
      });
      response.once('end', done);
      response.once('error', done);
    });
    request.end(body);
  });
}

export class WebhookDispatcher {
  private readonly closing = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly store: SubmissionStore,
    private readonly options: WebhookOptions,
    private readonly log: WebhookLog = () => {},
  ) {
    this.attempts = options.attempts ?? 5;
    this.backoffMs = options.backoffMs ?? 2000;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Delivers `body` for submission `id` in the background (retries included); `done` attempts
   *  were already made (a delivery resumed after a restart). */
  deliver(id: string, callbackUrl: string, body: string, done = 0): void {
    if (this.closing.signal.aborted) return;
    const task = this.run(id, callbackUrl, body, done).catch((error: unknown) => this.log('warn', 'webhook delivery failed unexpectedly', { submissionId: id, err: String(error) }));
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private async run(id: string, callbackUrl: string, body: string, done: number): Promise<void> {
    for (let n = done; n < this.attempts && !this.closing.signal.aborted; n++) {
      if (n > 0) await this.sleep(Math.min(this.backoffMs * 2 ** (n - 1), 600_000));
      if (this.closing.signal.aborted) return; // left pending: resumed after the restart
      const at = Date.now();
      const outcome = await this.attempt(id, callbackUrl, body, n + 1);
      if (outcome === 'closing') return;
      const ok = 'statusCode' in outcome && outcome.statusCode >= 200 && outcome.statusCode < 300;
      const final = ok || outcome.refused === true || n + 1 >= this.attempts;
      const record: DeliveryAttempt = { at, statusCode: 'statusCode' in outcome ? outcome.statusCode : null, error: ok ? null : 'error' in outcome ? outcome.error : `HTTP ${String((outcome as { statusCode: number }).statusCode)}` };
      await this.store.recordDelivery(id, record, ok ? 'delivered' : final ? 'failed' : 'pending');
      this.log(ok ? 'info' : 'warn', ok ? 'webhook delivered' : 'webhook attempt failed', { submissionId: id, attempt: n + 1, statusCode: record.statusCode, error: record.error });
      if (final) return;
    }
  }

  /** One attempt: resolve and check (refused: no retry), then POST to the checked address. */
  private async attempt(id: string, callbackUrl: string, body: string, n: number): Promise<(PostResult & { refused?: boolean }) | 'closing'> {
    const url = new URL(callbackUrl);
    let address: string;
    try {
      const addresses = await this.options.allow.resolveChecked(url.hostname, this.options.resolver ?? systemResolver);
      address = (addresses[0] as { address: string }).address;
    } catch (error) {
      return { error: isCyloError(error) ? error.message : String(error), refused: isCyloError(error) && error.code === 'CYLO_E_CALLBACK_NOT_ALLOWED' };
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': `cylo/${cyloVersion()}`,
      [SIGNATURE_HEADER]: signWebhook(this.options.secret, body, timestamp),
      'x-cylo-submission-id': id,
      'x-cylo-delivery-attempt': String(n),
    };
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]);
    const result = await postOnce(url, address, body, headers, signal);
    return this.closing.signal.aborted ? 'closing' : result;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.closing.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Stops every delivery (unfinished ones stay `pending` in the store) and waits for them. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight]);
  }
}
