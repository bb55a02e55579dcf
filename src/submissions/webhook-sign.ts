// Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the server's secret, sent as
// `X-Cylo-Signature: t=<unix seconds>,v1=<hex>`. The timestamp is inside the signed text, so a
// receiver that refuses old timestamps (WEBHOOK_TOLERANCE_SECONDS) cannot be fed a recorded
// delivery again later (replay). docs/submissions.md has the receiver's snippet; verifyWebhook
// below is the same code, and the tests check a delivery with it.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-cylo-signature';
/** How old a signature a receiver should accept, in seconds (also what the docs recommend). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The header value for `body` (the exact bytes sent) signed at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: string, timestamp: number): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** True when `header` is a valid signature of `body` made within the tolerance of `nowSeconds`. */
export function verifyWebhook(secret: string, header: string, body: string, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || typeof parts.v1 !== 'string') return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
