// The web playground end to end: the real `cylo serve` (bin/cylo, a child process on a loopback
// port) and a real browser (Debian's chromium driven by playwright-core). Each test drives the
// page as a person would (pick a language, type, run, stop, share, answer the token prompt) and
// checks what the page shows. Every tab also records console errors and Content-Security-Policy
// violations: the page must work under its own CSP, so any violation fails the test after it.
// Skips visibly when no browser or no sandbox can run here.
import { after, before, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { browserSkipReason, launchBrowser, type Browser } from '../support/browser.js';
import { BROWSER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { startServe, stopServe, type Served } from '../support/serve.js';
import { waitForAsync } from '../support/wait.js';

const skip = browserSkipReason() ?? sandboxSkipReason() ?? false;
// Generous bounds (2 shared cores); the suite itself takes well under a minute.
const T = { timeout: 60_000 };
const TOKEN = 'playground-token-7f3a';

let served: Served;
let browser: Browser;

/** Opens the page and waits until the languages are loaded. */
async function openPage(url = `${served.base}/`): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.locator('#status[data-kind="ok"]').waitFor({ timeout: 20_000 });
  return page;
}

/** Replaces the editor's text (typed into CodeMirror as text input, so no auto-indent or
 *  auto-closed bracket changes it). */
async function setCode(page: Page, code: string): Promise<void> {
  await page.locator('.cm-content').click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(code);
}

/** Clicks Run and waits for the final status (ok or error). */
async function runAndWait(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  // (The click handler has set the status to busy; a string predicate would need eval, which
  // the page's CSP forbids.)
  await page.locator('#status:not([data-kind="busy"])').waitFor({ timeout: 30_000 });
  await page.locator('#run:enabled').waitFor({ timeout: 5_000 });
  return (await page.locator('#status').textContent()) ?? '';
}

describe('playground in a real browser', { skip, concurrency: false }, () => {
  before(async () => {
    served = await startServe({ CYLO_UID_BASE: String(BROWSER_TEST_UID_BASE), CYLO_UID_COUNT: '16', CYLO_CONCURRENCY: '2', CYLO_LOG_LEVEL: 'info' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (served !== undefined) await stopServe(served);
  });
  afterEach(() => {
    // proves: the page works under its own CSP (no blocked script or style) and throws nothing.
    assert.deepEqual(browser.problems.splice(0), [], 'no console error, page error or CSP violation');
  });

  test('Python reading stdin: output arrives while the program runs, then the figures', T, async () => {
    const page = await openPage();
    await page.getByLabel('Language').selectOption('python');
    await page.getByRole('textbox', { name: 'Standard input' }).fill('world');
    await setCode(page, "import time\nname = input()\nprint('hello', name, flush=True)\ntime.sleep(1)\nprint('bye', name)\n");
    // Record, in DOM mutation order, what the output and the status were each time either
    // changed. Rendering from the final result would put both lines in at once.
    await page.evaluate(`(() => {
      window.snapshots = [];
      const out = document.getElementById('output'), status = document.getElementById('status');
      const take = () => window.snapshots.push({ out: out.textContent, status: status.textContent });
      new MutationObserver(take).observe(document.getElementById('output').parentElement, { subtree: true, childList: true, characterData: true });
    })()`);
    const status = await runAndWait(page);
    assert.equal(status, 'Finished');
    assert.equal(await page.locator('#output').textContent(), 'hello world\nbye world\n');
    const snapshots = (await page.evaluate('window.snapshots')) as Array<{ out: string; status: string }>;
    const first = snapshots.find((s) => s.out.includes('hello world'));
    // proves: live output over SSE: the first line was on the page while the program still ran.
    assert.ok(first !== undefined, 'the first line was shown');
    assert.ok(!first.out.includes('bye'), `the first line came before the second: ${JSON.stringify(first)}`);
    assert.equal(first.status, 'Running…', 'and before the result');
    assert.equal(await page.locator('dd[data-fact="Exit code"]').textContent(), '0');
    assert.match((await page.locator('dd[data-fact="Wall time"]').textContent()) ?? '', /^\d+ ms$/);
    assert.match((await page.locator('dd[data-fact="Peak memory"]').textContent()) ?? '', /MiB$/);
    assert.equal(await page.locator('dd[data-fact="Limit hit"]').textContent(), 'none');
    // The README's picture: CYLO_PLAYGROUND_SCREENSHOT=docs/playground.png (see docs/playground.md).
    const shot = process.env.CYLO_PLAYGROUND_SCREENSHOT;
    if (shot !== undefined && shot !== '') await page.screenshot({ path: shot, fullPage: true });
    await page.close();
  });

  test('stdout and stderr are told apart in text, not by colour alone', T, async () => {
    const page = await openPage();
    await setCode(page, "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\n");
    assert.equal(await runAndWait(page), 'Finished');
    // proves: the stderr run carries a visible "stderr" tag (what a screen reader reads too).
    assert.equal(await page.locator('#output [data-stream="stdout"]').textContent(), 'out\n');
    assert.equal(await page.locator('#output [data-stream="stderr"]').textContent(), 'stderr err\n');
    await page.close();
  });

  test('a time-out is reported as such, with the limit that stopped the program', T, async () => {
    const page = await openPage();
    await setCode(page, 'while True:\n    pass\n');
    await page.getByLabel('Time limit (ms)').fill('1000');
    const status = await runAndWait(page);
    // proves: the status names the time-out and the limit (wall clock or CPU, whichever came first).
    assert.match(status, /^Time limit exceeded: (time limit \(wall clock\)|CPU time limit)$/);
    assert.match((await page.locator('dd[data-fact="Limit hit"]').textContent()) ?? '', /time limit/i);
    assert.equal(await page.locator('dd[data-fact="Signal"]').textContent(), 'SIGKILL');
    await page.close();
  });

  test('a C compile error is shown as diagnostics, apart from the output', T, async () => {
    const page = await openPage();
    await page.getByLabel('Language').selectOption('c');
    await setCode(page, 'int main(void) {\n    return undeclared_name;\n}\n');
    assert.equal(await runAndWait(page), 'Compile error');
    // proves: the compiler's message is in the diagnostics panel, not in the program output.
    assert.equal(await page.locator('#diagnostics-section').isVisible(), true);
    assert.match((await page.locator('#diagnostics').textContent()) ?? '', /error: .undeclared_name. undeclared/);
    assert.equal(await page.locator('#output').textContent(), '');
    await page.close();
  });

  test('a plot comes back as an image shown inline, and every output file can be downloaded', T, async () => {
    const page = await openPage();
    // A 3x2 PNG written by hand (no plotting library needed), plus a CSV.
    await setCode(
      page,
      [
        'import struct, zlib',
        'def chunk(kind, data):',
        '    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))',
        'rows = b"".join(b"\\x00" + b"\\xff\\x00\\x00" * 3 for _ in range(2))',
        'png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")',
        'open("plot.png", "wb").write(png)',
        'open("data.csv", "w").write("x,y\\n1,2\\n")',
        'print("written")',
        '',
      ].join('\n'),
    );
    await page.getByLabel('Output files').fill('*.png *.csv');
    assert.equal(await runAndWait(page), 'Finished');
    const img = page.getByRole('img', { name: 'plot.png' });
    await img.waitFor({ timeout: 10_000 });
    // proves: the request asked for the files (`outputs`), the PNG came back and the browser
    // decoded it (its real size), shown from a blob: URL under the page's CSP.
    const decoded = await img.evaluate(async (el) => {
      const image = el as unknown as { decode(): Promise<void>; naturalWidth: number; naturalHeight: number; src: string };
      await image.decode();
      return [image.naturalWidth, image.naturalHeight, image.src.startsWith('blob:')];
    });
    assert.deepEqual(decoded, [3, 2, true]);
    assert.equal(await page.getByRole('link', { name: 'Download plot.png' }).getAttribute('download'), 'plot.png');
    const csv = page.getByRole('link', { name: 'Download data.csv' });
    assert.equal(await csv.getAttribute('download'), 'data.csv');
    assert.equal(await page.getByRole('img', { name: 'data.csv' }).count(), 0, 'only images are shown inline');
    const download = await Promise.all([page.waitForEvent('download'), csv.click()]).then(([d]) => d.path()).then((p) => readFileSync(p, 'utf8'));
    assert.equal(download, 'x,y\n1,2\n');
    await page.close();
  });

  test('a shared link restores the language, the code and the input; nothing goes to the server', T, async () => {
    const page = await openPage();
    await page.getByLabel('Language').selectOption('javascript');
    await setCode(page, 'console.log("shared", require("fs").readFileSync(0, "utf8").trim());\n');
    await page.getByRole('textbox', { name: 'Standard input' }).fill('via link');
    await page.getByRole('button', { name: 'Share link' }).click();
    const link = await page.getByRole('textbox', { name: 'Share link' }).inputValue();
    const url = new URL(link);
    // proves: the code travels in the fragment (browsers never send it), the path stays /.
    assert.equal(url.pathname, '/');
    assert.equal(url.search, '');
    assert.match(url.hash, /^#s=[A-Za-z0-9_-]+$/);
    await page.close();

    const restored = await openPage(link);
    assert.equal(await restored.getByLabel('Language').inputValue(), 'javascript');
    assert.deepEqual(await restored.locator('.cm-line').allTextContents(), ['console.log("shared", require("fs").readFileSync(0, "utf8").trim());', '']);
    assert.equal(await restored.getByRole('textbox', { name: 'Standard input' }).inputValue(), 'via link');
    assert.equal(await runAndWait(restored), 'Finished');
    assert.equal(await restored.locator('#output').textContent(), 'shared via link\n');
    await restored.close();
  });

  test('test cases: one verdict per case in the table', T, async () => {
    const page = await openPage();
    await setCode(page, 'print(int(input()) * 2)\n');
    await page.getByText('Test cases').click();
    for (const [input, expected] of [['2', '4'], ['3', '7']]) {
      await page.getByRole('button', { name: 'Add a test case' }).click();
      const n = await page.locator('li.case').count();
      await page.getByLabel(`Case ${n} input`).fill(input as string);
      await page.getByLabel(`Case ${n} expected output`).fill(expected as string);
    }
    assert.equal(await runAndWait(page), 'Tests: 1/2 passed (wrong answer)');
    // proves: the request carried `tests` and the page shows each case's verdict and why.
    const rows = await page.locator('#verdicts tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: { verdict: string } }).dataset.verdict));
    assert.deepEqual(rows, ['accepted', 'wrong_answer']);
    assert.match((await page.locator('#verdicts tbody tr').nth(1).textContent()) ?? '', /expected "7", got "6"/);
    await page.close();
  });

  test('Stop aborts the request and the server cancels the execution', T, async () => {
    const page = await openPage();
    await setCode(page, "import time\nprint('started', flush=True)\ntime.sleep(30)\n");
    await page.getByLabel('Time limit (ms)').fill('40000');
    const cancelledBefore = await cancelledCount();
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('#output').getByText('started').waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('#status', { hasText: 'Stopped' }).waitFor({ timeout: 10_000 });
    // proves: the server saw the client go away and cancelled (not the 40 s time limit): its
    // metrics count one more CYLO_E_CANCELLED and nothing runs any more.
    await waitForAsync('the server to count the cancellation', async () => (await cancelledCount()) > cancelledBefore, 15_000);
    await waitForAsync('no execution in flight', async () => /cylo_executions_in_flight 0\b/.test(await metrics()), 15_000);
    assert.equal(await page.getByRole('button', { name: 'Run', exact: true }).isEnabled(), true);
    await page.close();
  });

  test('light and dark themes follow the system, the editor included, switched live', T, async () => {
    const page = await openPage();
    const colours = async () =>
      (await page.evaluate(`[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.querySelector('.cm-editor')).backgroundColor]`)) as [string, string];
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await colours();
    await page.emulateMedia({ colorScheme: 'dark' });
    // The media query's change event reaches the page on its own schedule: poll for it.
    const dark = await waitForAsync('the dark theme', async () => {
      const c = await colours();
      return c[1] !== light[1] && c;
    });
    // proves: prefers-color-scheme switches the page and CodeMirror's theme (one-dark's
    // background) without a reload.
    assert.equal(light[0], 'rgb(255, 255, 255)');
    assert.equal(dark[0], 'rgb(13, 17, 23)');
    assert.equal(dark[1], 'rgb(40, 44, 52)');
    assert.notEqual(light[1], dark[1]);
    await page.close();
  });

  test('keyboard: Ctrl+Enter runs from the editor; Tab indents; Esc then Tab leaves the editor', T, async () => {
    const page = await openPage();
    await setCode(page, 'print(6 * 7)');
    await page.keyboard.press('Control+Enter');
    await page.locator('#status', { hasText: 'Finished' }).waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('#output').textContent(), '42\n');
    await page.locator('.cm-content').click();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.classList.contains("cm-content")'), true, 'Tab alone stays in the editor');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    // proves: the documented escape from CodeMirror's tab trap reaches the next control.
    assert.equal(await page.evaluate('document.activeElement.id'), 'stdin');
    await page.close();
  });
});

/** The server's count of executions cancelled by their client. */
async function cancelledCount(): Promise<number> {
  const m = /cylo_execution_errors_total\{api="native",code="CYLO_E_CANCELLED"\} (\d+)/.exec(await metrics());
  return m === null ? 0 : Number(m[1]);
}

async function metrics(): Promise<string> {
  return (await fetch(`${served.base}/metrics`)).text();
}

describe('playground with a token', { skip, concurrency: false }, () => {
  let tokenServed: Served;
  before(async () => {
    tokenServed = await startServe({ CYLO_UID_BASE: String(BROWSER_TEST_UID_BASE + 16), CYLO_UID_COUNT: '16', CYLO_CONCURRENCY: '1', CYLO_LOG_LEVEL: 'info', CYLO_TOKEN: TOKEN });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (tokenServed !== undefined) await stopServe(tokenServed);
  });

  test('the page asks for the token once, keeps it for the tab, and runs with it', T, async () => {
    const page = await browser.newPage();
    // The page itself is public: it must load to ask.
    const answer = await page.goto(`${tokenServed.base}/`);
    assert.equal(answer?.status(), 200);
    const dialog = page.getByRole('dialog', { name: 'Token needed' });
    await dialog.waitFor({ timeout: 20_000 });
    assert.match((await dialog.textContent()) ?? '', /This server requires a token/);
    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use the token' }).click();
    await page.locator('#status[data-kind="ok"]').waitFor({ timeout: 20_000 });
    // proves: with the token the API answered (languages loaded) and a run works.
    assert.ok((await page.getByLabel('Language').locator('option').count()) > 0);
    await setCode(page, 'print("with token")');
    assert.equal(await runAndWait(page), 'Finished');
    assert.equal(await page.locator('#output').textContent(), 'with token\n');
    // proves: asked once: a reload in the same tab uses the kept token, no dialog.
    await page.reload();
    await page.locator('#status[data-kind="ok"]').waitFor({ timeout: 20_000 });
    assert.equal(await dialog.isVisible(), false);
    assert.equal(await page.evaluate('sessionStorage.getItem("cylo.token")'), TOKEN);
    await page.close();
  });
});
