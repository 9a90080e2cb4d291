import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { DataError } from '../util/errors.js';
import { esc, pct, renderReport, writeReport, type ReportData } from './html.js';
import { seriesMarks, syntheticReport } from './report.testing.js';

/** Every value of a src / href / xlink:href attribute in the page. */
function urls(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href|xlink:href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

test('pct and esc', () => {
  assert.equal(pct(0.43157), '43.16');
  assert.equal(pct(0.00552), '0.55');
  assert.equal(pct(1), '100.00');
  assert.equal(pct(null), '—');
  assert.equal(pct(Number.NaN), '—');
  assert.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('renderReport: one self-contained page, no network URL, images inline, one mark per series', async () => {
  const data = syntheticReport();
  const html = await renderReport(data);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  // Self-contained: no script, no external stylesheet, no http(s) or protocol-relative URL in src/href.
  assert.ok(!/<script\b/i.test(html));
  assert.ok(!/<link\b[^>]*stylesheet/i.test(html));
  const refs = urls(html);
  assert.ok(refs.length >= 6 * data.samples.length);
  for (const u of refs) assert.ok(!/^\s*(https?:)?\/\//i.test(u), `network URL in src/href: ${u.slice(0, 80)}`);
  assert.ok(!/url\(\s*["']?(https?:)?\/\//i.test(html), 'network URL in CSS');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  // Images: 5 per sample row, each a PNG data URI that decodes to the sample's size (128×64 scenes at 2×).
  const imgs = [...html.matchAll(/<img\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!);
  assert.equal(imgs.length, 6 * data.samples.length);
  for (const src of imgs) {
    assert.ok(src.startsWith('data:image/png;base64,'));
    const png = decode(Buffer.from(src.slice(22), 'base64'));
    assert.deepEqual([png.width, png.height], [256, 128]);
  }
  // Charts: every figure lists its series, and its SVG has ≥ 1 data mark per series.
  const figures = [...html.matchAll(/<figure class="chart[^"]*" id="([^"]+)" data-series="([^"]*)">([\s\S]*?)<\/figure>/g)];
  assert.deepEqual(figures.map((f) => f[1]), ['loss-seg', 'loss-adv', 'loss-weight', 'loss-d_s', 'loss-d_t', 'disagreement', 'lr', 'miou', 'confusion', 'per-class']);
  for (const [, id, seriesAttr, svg] of figures) {
    const series = JSON.parse(seriesAttr!.replace(/&quot;/g, '"')) as string[];
    assert.ok(series.length >= 1, id);
    for (const s of series) assert.ok(seriesMarks(svg!, s) >= 1, `${id}: no mark for ${s}`);
  }
  const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, 'duplicate id in the page');
});

test('renderReport: summary and per-class tables in percent with two decimals', async () => {
  const d = syntheticReport({ samples: 1, iters: 200 });
  const m = d.methods.map((x, i) => ({ ...x, miouMean: [0.36641, 0.42368, 0.43157][i]!, miouStd: [0.00531, 0.01, 0.00552][i]!,
    seconds: [713.4, 1239, 3725][i]! }));
  m[2]!.perClassIou[0] = 0.87; // road, CLAN
  const html = await renderReport({ ...d, methods: m });
  assert.match(html, /<td class="num">36\.64 ± 0\.53<\/td>/);
  assert.match(html, /<td class="num best">43\.16 ± 0\.55<\/td>/);   // best method in bold
  assert.match(html, /<td class="num">\+6\.52<\/td>/);               // 43.157 − 36.641 points
  assert.match(html, /<td class="num">3,725 <span class="muted">\(1 h 02 min\)<\/span><\/td>/);
  assert.match(html, /<th scope="row">road<\/th>(<td[^>]*>[^<]*<\/td>){2}<td class="num best">87\.00<\/td>/);
  assert.match(html, /<th scope="row">train<\/th><td class="num">—<\/td><td class="num">—<\/td><td class="num">—<\/td>/);
  assert.ok(!/\d\.\d{3,}%/.test(html.replace(/<svg[\s\S]*?<\/svg>/g, '')), 'a percent with more than two decimals');
  assert.ok(!html.includes('per seed (%)'), 'one value per method: no per-seed column');
  // Several seeds: the values side by side, in seed order.
  const withSeeds = await renderReport({ ...d,
    methods: m.map((x, i) => ({ ...x, perSeed: [[0.3588, 0.37, 0.3723], [0.41, 0.4366, 0.4244], [0.43, 0.4252, 0.4395]][i]! })) });
  assert.match(withSeeds, /<th>per seed \(%\)/);
  assert.match(withSeeds, /<td class="num best">43\.16 ± 0\.55<\/td><td class="num">\+6\.52<\/td><td class="num">—<\/td><td class="num">43\.00, 42\.52, 43\.95<\/td>/);
});

test('renderReport: one seed shows no ± column, the sample grid has a column per method, the colour bar is rounded, the per-class table is open', async () => {
  const d = syntheticReport({ samples: 2, iters: 200 });
  const one = d.methods.map((x) => ({ ...x, seeds: 1, miouStd: 0, evals: x.evals.filter((e) => e.seed === 0) }));
  const html = await renderReport({ ...d, methods: one, disagreementRange: [0, 0.123456789012345], disagreementOf: 'adversarial' });
  assert.ok(!html.replace(/<svg[\s\S]*?<\/svg>/g, '').includes('±'), 'a ± for one seed');
  assert.match(html, /final checkpoint/);
  assert.match(html, /<th>ground truth<\/th><th>Source only<\/th><th>Adversarial \(AdaptSegNet\)<\/th><th>CLAN<\/th><th>M = /);
  assert.match(html, /C1\/C2 disagreement \(Adversarial \(AdaptSegNet\)\)/);
  assert.match(html, /<span>M = 0<\/span><span class="bar"[^>]*><\/span><span>0\.123<\/span>/);
  assert.match(html, /<details open><summary>Per-class IoU table/);
  assert.match(html, /alt="frankfurt_000001: Adversarial \(AdaptSegNet\)"/);
  // Without M maps there is no M column and no colour bar.
  const noM = await renderReport({ ...d, samples: d.samples.map(({ disagreement: _m, ...s }) => s) });
  assert.ok(!noM.includes('class="colorbar"') && !noM.includes('M = 1 − cos'));
  assert.equal([...noM.matchAll(/<img\b/g)].length, 5 * d.samples.length);
  await assert.rejects(renderReport({ ...d, samples: [{ ...d.samples[0]!, predictions: [] }] }), (e: unknown) => e instanceof DataError && /samples\[0\]\.predictions has 0 images; expected 3/.test(e.message));
  await assert.rejects(renderReport({ ...d, disagreementOf: 'dann' }), (e: unknown) => e instanceof DataError && /disagreementOf 'dann' is not a method key/.test(e.message));
});

test('renderReport: text is escaped, notes listed, inconsistent data rejected with DataError', async () => {
  const d = syntheticReport({ samples: 1, iters: 100 });
  const html = await renderReport({ ...d, title: '<script>alert(1)</script>', notes: ['a < b & c'] });
  assert.ok(!html.includes('<script>alert'));
  assert.ok(html.includes('<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>'));
  assert.ok(html.includes('<li>a &lt; b &amp; c</li>'));
  const bad = (patch: Partial<ReportData>, re: RegExp) =>
    assert.rejects(renderReport({ ...d, ...patch }), (e: unknown) => e instanceof DataError && re.test(e.message));
  await bad({ methods: [{ ...d.methods[0]!, perClassIou: [0.5] }] }, /methods\[0\] \(source_only\)\.perClassIou has 1 entries; expected 19/);
  await bad({ methods: [d.methods[0]!, d.methods[0]!] }, /methods\[1\] \(source_only\)\.key is repeated/);
  await bad({ methods: [{ ...d.methods[0]!, miouMean: 43.2 }] }, /miouMean = 43\.2; expected a fraction/);
  await bad({ methods: [{ ...d.methods[0]!, perSeed: [0.4] }] }, /methods\[0\] \(source_only\)\.perSeed has 1 entries; expected 3 \(seeds\)/);
  await bad({ methods: [{ ...d.methods[0]!, perSeed: [0.4, 41, 0.4] }] }, /perSeed\[1\] = 41; expected a fraction/);
  await bad({ confusion: { method: 'dann', matrix: [] } }, /confusion\.method 'dann' is not a method key/);
  await bad({ confusion: { method: 'clan', matrix: [[1]] } }, /confusion\.matrix is not 19×19/);
});

test('writeReport: atomic (temp file in the same folder, then rename), creates the folder, leaves no temp', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-report-'));
  try {
    const path = join(dir, 'sub', 'report.html');
    const d = syntheticReport({ samples: 1, iters: 100 });
    await writeReport(path, d);
    const first = readFileSync(path, 'utf8');
    assert.ok(first.includes('<h1>CLAN · GTA5 → Cityscapes (synthetic test data)</h1>'));
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['report.html']);
    await writeReport(path, { ...d, title: 'second' }); // replaces
    assert.ok(readFileSync(path, 'utf8').includes('<h1>second</h1>'));
    // A failing render leaves the old file untouched and no temp file behind.
    await assert.rejects(writeReport(path, { ...d, classNames: [] }), DataError);
    assert.ok(readFileSync(path, 'utf8').includes('<h1>second</h1>'));
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['report.html']);
    // A failing write (target is a directory) removes its temp file.
    const asDir = join(dir, 'taken');
    mkdirSync(asDir);
    await assert.rejects(writeReport(asDir, d));
    assert.deepEqual(readdirSync(dir).sort(), ['sub', 'taken']);
    assert.ok(existsSync(asDir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
