// The API page (/docs) in a real browser: the real `cylo serve` (bin/cylo, on a loopback port,
// docs on by default) and Debian's chromium driven by playwright-core. Proves what app.inject()
// cannot: Swagger UI renders the API's operations under the page's strict Content-Security-Policy
// (no console error, no CSP violation: a blocked script or style fails it), and the page asks
// nothing of any other host (offline: its assets come from the package). ~10 s.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { browserSkipReason, launchBrowser, type Browser } from '../support/browser.js';
import { BROWSER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { startServe, stopServe, type Served } from '../support/serve.js';

const skip = browserSkipReason() ?? sandboxSkipReason() ?? false;
const T = { timeout: 60_000 };

describe('/docs in a real browser', { skip }, () => {
  let served: Served;
  let browser: Browser;
  before(async () => {
    served = await startServe({ CYLO_UID_BASE: String(BROWSER_TEST_UID_BASE + 56), CYLO_UID_COUNT: '8', CYLO_CONCURRENCY: '1', CYLO_LOG_LEVEL: 'info' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (served !== undefined) await stopServe(served);
  });

  test('Swagger UI shows the operations under the CSP, asking no other host', T, async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await page.goto(`${served.base}/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    assert.equal(await page.title(), 'cylo API');
    // The native API's execute operation is listed (the document loaded and was rendered).
    assert.ok((await page.locator('.opblock-summary-path', { hasText: '/v1/execute' }).count()) >= 1);
    assert.deepEqual(requested.filter((u) => !u.startsWith(served.base)), [], 'no request to another host');
    assert.deepEqual(browser.problems.splice(0), [], 'no console error, page error or CSP violation');
  });
});
