// The report in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): images load,
// no console error, no network request, every chart has a mark per series, nothing overflows the page width.
// Without Chromium the test skips with a message, except under CI=true where that is a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from './html.js';
import { syntheticReport } from './report.testing.js';
import { chromiumOrSkip, launchChromium, watchPage } from '../util/util.testing.js';

/** Full-page screenshot of the synthetic report, kept for a person to look at. */
const SCREENSHOT = join(tmpdir(), 'clan-report-screenshot.png');
const VIEWPORT = { width: 1300, height: 900 };

test('report in headless Chromium: images load, no console error, no network, marks per series', { timeout: 180_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'clan-report-browser-'));
  const { ctx, page } = await launchChromium(dir, VIEWPORT);
  try {
    const data = syntheticReport();
    const file = join(dir, 'report.html');
    await writeReport(file, data);
    const { requests, errors } = watchPage(page);
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });

    const imgs = await page.$$eval('img', (els) => els.map((e) => ({ complete: e.complete, w: e.naturalWidth, h: e.naturalHeight, alt: e.alt })));
    assert.equal(imgs.length, 6 * data.samples.length);
    for (const im of imgs) assert.ok(im.complete && im.w === 256 && im.h === 128, `image not loaded: ${JSON.stringify(im)}`);

    const charts = await page.$$eval('figure.chart', (figs, sep) => figs.map((f) => {
      const series = JSON.parse(f.getAttribute('data-series') ?? '[]') as string[];
      const marks = [...f.querySelectorAll('svg [role="graphics-symbol"]')].map((m) => m.getAttribute('aria-label') ?? '');
      const box = f.querySelector('svg')!.getBoundingClientRect();
      return { id: f.id, counts: series.map((s) => [s, marks.filter((l) => l.startsWith(s + sep)).length] as const),
        width: box.width, height: box.height };
    }), ' · ');
    assert.equal(charts.length, 10);
    for (const c of charts) {
      assert.ok(c.counts.length >= 1, `${c.id}: no series`);
      for (const [s, n] of c.counts) assert.ok(n >= 1, `${c.id}: no mark for series ${s}`);
      assert.ok(c.width > 200 && c.height > 100, `${c.id}: drawn at ${c.width}×${c.height}`);
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the ${VIEWPORT.width}px viewport`);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
    const network = requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'));
    assert.deepEqual(network, [], 'the report made network requests');
    assert.ok(requests.some((u) => u.startsWith('file:')));
  } finally {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
