// Test helpers for pages checked in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the report (report/browser.test.ts) and the web app (deploy/web.test.ts). Without Chromium a test skips with a
// message, except under CI=true where that is a failure. Named *.testing.ts so the npm package leaves it out.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// no background fetches of Chromium's own (updates, sync, first run): a test sees only the page's requests
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** True when Chromium is there; otherwise marks the test skipped (fails instead under CI=true). */
export function chromiumOrSkip(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const msg = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') assert.fail(`${msg}; it is required when CI=true`);
  t.skip(`${msg}: browser test skipped`);
  return false;
}

/** Headless Chromium with a fresh profile under `dir` (no cached state, no first-run fetches) and its first page. */
export async function launchChromium(dir: string,
  viewport: { width: number; height: number }): Promise<{ ctx: BrowserContext; page: Page }> {
  const { chromium } = await import('playwright-core');
  const ctx = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, args: ARGS, headless: true, viewport });
  return { ctx, page: ctx.pages()[0] ?? (await ctx.newPage()) };
}

/** Every request URL the page makes; every console error/warning, uncaught error and failed request or HTTP error. */
export function watchPage(page: Page): { requests: string[]; errors: string[] } {
  const requests: string[] = [], errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? '?'})`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  return { requests, errors };
}
