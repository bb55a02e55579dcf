// A real browser for the playground's end-to-end tests: Debian's chromium (apt package
// `chromium`, installed by scripts/setup.sh) driven by playwright-core, which downloads no
// browser of its own. Each launch gets a fresh profile directory (removed on close) and the flags
// that keep Chromium off the network (on a closed network its background connections fail
// noisily) and out of its own sandbox (the tests run as root, where Chromium's sandbox refuses
// to start; the page is our own, served from loopback).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why no browser can run here, or undefined. */
export function browserSkipReason(): string | undefined {
  if (!existsSync(CHROMIUM)) return `no browser: ${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium package)`;
  return undefined;
}

export interface Browser {
  context: BrowserContext;
  /** A new tab that records console errors and CSP violations (see `problems`). */
  newPage(): Promise<Page>;
  /** Console errors, page errors and Content-Security-Policy violations of every tab so far. */
  problems: string[];
  close(): Promise<void>;
}

/** Launches Chromium headless with a fresh profile. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'cylo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1100, height: 900 } });
  const problems: string[] = [];
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage();
      page.on('console', (m) => {
        // A 401 is how the page learns that it needs the token (the token test): not a problem.
        if (/status of 401/.test(m.text())) return;
        if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
