// The web export in a real headless Chromium served from 127.0.0.1: the page's label map for the Cityscapes fixture
// (and for the fixture resized to a size the model does not take) against `clan predict`'s, i.e. predictImage on
// libtorch — ≥ 99.9 % of pixels equal; no console error or warning; no request leaving the server. A screenshot is
// kept for a person to look at. Without Chromium or the shared fixtures the test skips (fails under CI=true).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Page } from 'playwright-core';
import { decodeRgb, readBytes } from '../data/image.js';
import { resizeBicubic } from '../data/resize.js';
import { sharedFixtures } from '../data/data.testing.js';
import { predictImage } from '../infer/predict.js';
import { encodePng } from '../report/png.js';
import { chromiumOrSkip, launchChromium, watchPage } from '../util/util.testing.js';
import { exportOnnx, onnxInfo } from './export.js';
import { serveStatic } from './serve.js';
import { plausibleModel } from '../infer/plausible.js';
import { ORT_FILES, writeWebApp } from './web.js';

const SCREENSHOT = join(tmpdir(), 'clan-web-screenshot.png');
const VIEWPORT = { width: 1200, height: 800 };
const FIXTURE = 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png';

interface PageResult { labels: number[]; width: number; height: number; ms: number }

/** Uploads `file` through the page's file input and returns window.clanResult once the page says 'done'. */
async function segment(page: Page, file: string): Promise<PageResult> {
  await page.setInputFiles('#file', file);
  await page.waitForFunction((name) => document.body.dataset.state === 'error'
    || (document.body.dataset.state === 'done' && document.getElementById('name')!.textContent!.startsWith(name)), basename(file), { timeout: 120_000 });
  const state = await page.evaluate(() => [document.body.dataset.state, document.getElementById('status')!.textContent]);
  assert.equal(state[0], 'done', `the page says: ${state[1]}`);
  return page.evaluate(() => {
    const r = (window as unknown as { clanResult: { labels: Uint8Array; width: number; height: number; ms: number } }).clanResult;
    return { labels: Array.from(r.labels), width: r.width, height: r.height, ms: r.ms };
  });
}

/** Fraction of pixels where the page's labels equal ours, and how many classes ours has. */
function agreement(page: PageResult, ours: { label: Uint8Array; width: number; height: number }): { same: number; classes: number } {
  assert.deepEqual([page.width, page.height], [ours.width, ours.height]);
  let same = 0;
  for (let i = 0; i < ours.label.length; i++) if (page.labels[i] === ours.label[i]) same++;
  return { same: same / ours.label.length, classes: new Set(ours.label).size };
}

test('web export in headless Chromium: the page\'s labels = clan predict\'s (≥ 99.9 %), no console error, no network', { timeout: 300_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const fixtures = sharedFixtures(t);
  if (!fixtures) return;
  const m = plausibleModel('tiny', 19, 5, [256, 128]);
  const dir = mkdtempSync(join(tmpdir(), 'clan-web-'));
  const web = join(dir, 'web');
  // the fixture at a size the model does not take: the page resizes it (bicubic) and upsamples to 300×170
  const other = join(dir, 'resized_300x170.png');
  const img = decodeRgb(readBytes(join(fixtures, FIXTURE)), 'fixture');
  writeFileSync(other, encodePng(resizeBicubic(img, 300, 170).data, 300, 170));
  const files = writeWebApp(web, exportOnnx(m, { output: 'heads' }), onnxInfo(m, { output: 'heads' }));
  assert.deepEqual(readdirSync(web).sort(), files.map((f) => basename(f)).sort());
  for (const f of ORT_FILES) assert.ok(files.includes(join(web, f)));
  const served = await serveStatic(web);
  const { ctx, page } = await launchChromium(dir, VIEWPORT);
  try {
    const { requests, errors } = watchPage(page);
    await page.goto(served.url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#status') ?? '');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'clan serve\'s COOP/COEP headers make the page cross-origin isolated');
    for (const f of [other, join(fixtures, FIXTURE)]) {
      const r = await segment(page, f);
      const a = agreement(r, predictImage(m, decodeRgb(readBytes(f), f)));
      t.diagnostic(`${basename(f)} ${r.width}×${r.height}: ${(a.same * 100).toFixed(3)} % of pixels equal to predictImage (${a.classes} classes), session.run ${r.ms.toFixed(0)} ms`);
      assert.ok(Number.isFinite(r.ms) && r.ms > 0, `inference time ${r.ms}`);
      assert.ok(a.classes >= 3, `only ${a.classes} classes predicted: the comparison would test little`);
      assert.ok(a.same >= 0.999, `${basename(f)}: ${(a.same * 100).toFixed(3)} % of pixels agree`);
    }
    assert.equal(await page.locator('#legend li').count(), 19);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
    t.diagnostic(`requests: ${requests.map((u) => u.replace(served.url, '/')).join(' ')}`);
    assert.deepEqual(errors, []);
    const away = requests.filter((u) => !u.startsWith(served.url) && !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(away, [], 'the page made requests beyond its own server');
  } finally {
    await ctx.close();
    await served.close();
    m.G.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeWebApp: refuses a non-empty folder that is not a web export, one line naming it; rewrites a previous export', (t) => {
  const m = plausibleModel('micro', 3, 6, [32, 32]);
  const dir = mkdtempSync(join(tmpdir(), 'clan-web-dir-'));
  try {
    const onnx = exportOnnx(m, { output: 'heads' }), info = onnxInfo(m, { output: 'heads' });
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    assert.throws(() => writeWebApp(busy, onnx, info), (e: Error) => e.name === 'DataError' && !e.message.includes('\n')
      && e.message.includes(busy) && /not empty and is not a previous web export/.test(e.message));
    const web = join(dir, 'web');
    const first = writeWebApp(web, onnx, info);
    assert.deepEqual(writeWebApp(web, onnx, { ...info, step: 8 }), first);
    t.diagnostic(`files: ${first.map((f) => basename(f)).join(', ')}`);
  } finally {
    m.G.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
