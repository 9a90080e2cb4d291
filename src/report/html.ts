// One self-contained HTML report: charts as inline SVG, images as data: URIs, CSS inline, no script and no
// network request (a Content-Security-Policy forbids any). Written atomically by writeReport.
import { dirname } from 'node:path';
import { reportCharts, type Chart } from './charts.js';
import { dataUri, VIRIDIS } from './png.js';
import { validateReportData, type MethodResult, type ReportData } from './types.js';
import { makeDirs } from '../util/paths.js';
import { atomicWrite } from '../util/atomic.js';

export type { MethodResult, MetricRow, ReportData, Sample } from './types.js';

/** Renders the report page. Throws DataError on inconsistent data (see validateReportData). */
export async function renderReport(data: ReportData): Promise<string> {
  validateReportData(data);
  const charts = await reportCharts(data);
  const byId = new Map(charts.map((c) => [c.id, c]));
  const training = charts.filter((c) => c.id.startsWith('loss-') || c.id === 'disagreement' || c.id === 'lr');
  const pick = (ids: string[]) => ids.map((id) => byId.get(id)).filter((c): c is Chart => c !== undefined);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(data.title)}</h1>
<p class="sub">${data.methods.length} methods · ${data.classNames.length} classes · target-domain evaluation</p></header>
<section id="summary"><h2>Summary</h2>${summaryTable(data.methods)}</section>
${training.length ? `<section id="training"><h2>Training</h2><div class="grid">${training.map(figure).join('\n')}</div></section>` : ''}
<section id="evaluation"><h2>Target evaluation</h2>
<div class="row">${pick(['miou', 'confusion']).map(figure).join('\n')}</div>
${pick(['per-class']).map(figure).join('\n')}
${perClassTable(data)}
</section>
${samplesSection(data)}
${data.notes?.length ? `<section id="notes"><h2>Notes</h2><ul>${data.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></section>` : ''}
</body>
</html>
`;
}

/** Renders and writes the report atomically (util/atomic.ts). */
export async function writeReport(path: string, data: ReportData): Promise<void> {
  const html = await renderReport(data);
  makeDirs(dirname(path));
  atomicWrite(path, html);
}

/** A fraction as percent with two decimals ("43.16"); "—" when missing. */
export function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : (100 * v).toFixed(2);
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function figure(c: Chart): string {
  return `<figure class="chart${c.wide ? ' wide' : ''}" id="${esc(c.id)}" data-series="${esc(JSON.stringify(c.series))}">${c.svg}</figure>`;
}

function summaryTable(methods: readonly MethodResult[]): string {
  const base = methods.find((m) => m.key === 'source_only');
  const best = Math.max(...methods.map((m) => m.miouMean));
  // Per-seed values side by side: the seed spread is shared across methods (same init and data order per seed).
  const perSeed = methods.some((m) => (m.perSeed?.length ?? 0) > 1);
  const rows = methods.map((m) => {
    const peak = m.evals.reduce<{ step: number; miou: number } | undefined>(
      (a, e) => (a === undefined || e.miou > a.miou ? e : a), undefined);
    const gain = base && m !== base ? `${m.miouMean >= base.miouMean ? '+' : '−'}${pct(Math.abs(m.miouMean - base.miouMean))}` : '';
    return `<tr><th scope="row"><span class="chip ${esc(m.key)}"></span>${esc(m.label)}</th>`
      + `<td class="num${m.miouMean === best ? ' best' : ''}">${pct(m.miouMean)}${m.seeds > 1 ? ` ± ${pct(m.miouStd)}` : ''}</td>`
      + `<td class="num">${gain}</td>`
      + `<td class="num">${peak ? `${pct(peak.miou)} <span class="muted">@ ${peak.step}</span>` : '—'}</td>`
      + (perSeed ? `<td class="num">${m.perSeed?.map((v) => pct(v)).join(', ') ?? '—'}</td>` : '')
      + `<td class="num">${m.seeds}</td><td class="num">${int(m.iters)}</td>`
      + `<td class="num">${int(Math.round(m.seconds))} <span class="muted">(${duration(m.seconds)})</span></td></tr>`;
  });
  return `<table class="summary"><thead><tr><th>Method</th><th>target mIoU (%)<br><span class="muted">${methods.some((m) => m.seeds > 1) ? 'mean ± std over seeds' : 'final checkpoint'}</span></th>`
    + `<th>Δ vs source only<br><span class="muted">(points)</span></th><th>best checkpoint (%)<br><span class="muted">first seed</span></th>`
    + (perSeed ? '<th>per seed (%)<br><span class="muted">seed 0, 1, …</span></th>' : '')
    + `<th>seeds</th><th>iterations</th><th>seconds</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function perClassTable(d: ReportData): string {
  const head = d.methods.map((m) => `<th>${esc(m.label)}</th>`).join('');
  const rows = d.classNames.map((name, k) => {
    const vals = d.methods.map((m) => m.perClassIou[k] ?? null);
    const best = Math.max(...vals.map((v) => v ?? -1));
    return `<tr><th scope="row">${esc(name)}</th>${vals.map((v) => `<td class="num${v !== null && v === best ? ' best' : ''}">${pct(v)}</td>`).join('')}</tr>`;
  });
  const mean = d.methods.map((m) => `<td class="num">${pct(meanOf(m.perClassIou))}</td>`).join('');
  return `<details open><summary>Per-class IoU table (%)</summary><table class="perclass"><thead><tr><th>class</th>${head}</tr></thead>`
    + `<tbody>${rows.join('')}</tbody><tfoot><tr><th scope="row">mean (present classes)</th>${mean}</tr></tfoot></table></details>`;
}

function samplesSection(d: ReportData): string {
  if (d.samples.length === 0) return '';
  const mOf = d.methods.find((m) => m.key === d.disagreementOf) ?? d.methods[d.methods.length - 1]!;
  const withM = d.samples.some((s) => s.disagreement);
  const img = (png: Uint8Array, alt: string, cls = '') => `<img${cls ? ` class="${cls}"` : ''} src="${dataUri(png)}" alt="${esc(alt)}">`;
  const rows = d.samples.map((s) => `<tr><th scope="row">${esc(s.name)}</th>`
    + `<td>${img(s.image, `${s.name}: image`)}</td><td>${img(s.gt, `${s.name}: ground truth`, 'label')}</td>`
    + s.predictions.map((p, k) => `<td>${img(p, `${s.name}: ${d.methods[k]!.label}`, 'label')}</td>`).join('')
    + (withM ? `<td>${s.disagreement ? img(s.disagreement, `${s.name}: M`, 'label') : ''}</td>` : '') + '</tr>');
  const [lo, hi] = d.disagreementRange ?? [0, 1];
  const gradient = VIRIDIS.map((c, i) => `rgb(${c.join(',')}) ${((100 * i) / (VIRIDIS.length - 1)).toFixed(1)}%`).join(', ');
  const legend = d.palette
    ? `<ul class="palette">${d.classNames.map((n, k) => `<li><span class="sw" style="background:rgb(${d.palette![k]!.join(',')})"></span>${esc(n)}</li>`).join('')}</ul>`
    : '';
  const mHead = withM ? `<th>M = 1 − cos(p₁, p₂)<br><span class="muted">C1/C2 disagreement (${esc(mOf.label)})</span></th>` : '';
  const bar = withM ? `<div class="colorbar"><span>M = ${sig(lo)}</span><span class="bar" style="background:linear-gradient(to right, ${gradient})"></span><span>${sig(hi)}</span></div>` : '';
  return `<section id="samples"><h2>Target samples</h2>
<table class="samples"><thead><tr><th></th><th>image</th><th>ground truth</th>${d.methods.map((m) => `<th>${esc(m.label)}</th>`).join('')}${mHead}</tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
<div class="legends">${legend}
${bar}</div>
</section>`;
}

/** A number with at most 3 significant digits, no trailing zeros ("0.0123", "1", "0.5"). */
export function sig(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(3))) : String(v);
}

function meanOf(v: readonly (number | null)[]): number | null {
  const xs = v.filter((x): x is number => x !== null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function int(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function duration(s: number): string {
  const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : m > 0 ? `${m} min ${String(sec).padStart(2, '0')} s` : `${sec} s`;
}

const CSS = `
:root { --fg: #222; --muted: #777; --line: #e3e3e3; --bg: #fafafa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1280px; padding: 20px 28px 48px; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub, .muted { color: var(--muted); } .muted { font-size: 12px; font-weight: normal; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px; }
figure.chart { margin: 0; padding: 10px; background: white; border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; }
figure.chart.wide { margin-top: 12px; }
.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.row figure.chart { flex: 0 1 auto; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; background: white; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; }
thead th { font-weight: 600; font-size: 13px; border-bottom: 2px solid #ccc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { font-weight: 700; }
.chip { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; background: #e15759; }
.chip.source_only { background: #79706e; } .chip.adversarial { background: #f28e2b; } .chip.clan { background: #4e79a7; }
details { margin-top: 12px; } summary { cursor: pointer; color: #335; }
table.perclass { margin-top: 8px; font-size: 13px; } table.perclass td, table.perclass th { padding: 3px 10px; }
table.samples { width: 100%; table-layout: fixed; }
table.samples th:first-child { width: 150px; font-size: 12px; overflow-wrap: anywhere; }
table.samples td { padding: 4px; }
table.samples img { display: block; width: 100%; height: auto; border-radius: 2px; }
table.samples img.label { image-rendering: pixelated; }
.legends { display: flex; flex-wrap: wrap; gap: 16px 32px; align-items: center; margin-top: 10px; }
ul.palette { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; max-width: 900px; }
ul.palette .sw { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -2px; border: 1px solid #0002; }
.colorbar { display: flex; align-items: center; gap: 6px; font-size: 12px; }
.colorbar .bar { display: inline-block; width: 180px; height: 12px; border: 1px solid #0002; }
#notes li { margin: 3px 0; }
`;
