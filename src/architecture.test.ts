// docs/architecture.md's layer table held to the code: every import of every source file (static and dynamic, tests
// and test helpers aside) goes to a layer its row allows, the files of deploy that run without libtorch import no
// engine, and no file imports itself back through a circle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { packageRoot } from './util/paths.js';

const SRC = join(packageRoot(), 'src');
const isSource = (f: string) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.testing.ts') && !f.endsWith('.d.ts');

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : isSource(e.name) ? [join(dir, e.name)] : []));
}
/** The relative imports of a file (import … from, export … from, import(…)), as paths under src/ without extension. */
function imports(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => relative(SRC, normalize(join(dirname(file), m[1]!))).replace(/\.js$/, ''));
}
const layerOf = (rel: string) => (rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.(ts|js)$/, ''));

/** The table's rows: layer → the layers it may import ('*' for "everything below it"). */
function table(): Map<string, Set<string>> {
  const doc = readFileSync(join(packageRoot(), 'docs', 'architecture.md'), 'utf8');
  const rows = new Map<string, Set<string>>();
  for (const m of doc.matchAll(/^\| (\w+) \| (.+) \|$/gm)) {
    if (m[1] === 'layer') continue;
    const allowed = m[2]!.startsWith('everything below') ? ['*'] : m[2] === '—' ? [] : [...m[2]!.matchAll(/(?:^|, )(\w+)/g)].map((x) => x[1]!);
    rows.set(m[1]!, new Set(allowed));
  }
  return rows;
}

test('every import goes to a layer the architecture table allows, and each layer has a row', () => {
  const rows = table();
  assert.ok(rows.size >= 15, `rows read from docs/architecture.md: ${[...rows.keys()].join(', ')}`);
  const wrong: string[] = [];
  for (const f of sources()) {
    const from = layerOf(relative(SRC, f));
    const allowed = rows.get(from);
    if (!allowed) { wrong.push(`${relative(SRC, f)}: layer '${from}' has no row`); continue; }
    for (const to of imports(f).map(layerOf)) {
      if (to !== from && !allowed.has('*') && !allowed.has(to)) wrong.push(`${relative(SRC, f)} imports ${to}, which the '${from}' row does not allow`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('what runs without libtorch imports no engine: deploy\'s onnx path, data (worker threads), io and util', () => {
  const noEngine = sources().map((f) => relative(SRC, f)).filter((r) => /^deploy\/(ort|host-ops|onnx[^/]*|web|serve)\.ts$/.test(r) || /^(data|util|report)\//.test(r));
  const wrong = noEngine.flatMap((r) => imports(join(SRC, r)).filter((i) => /^(torch|models|infer)\//.test(i) && i !== 'torch/dtype').map((i) => `${r} imports ${i}`));
  assert.deepEqual(wrong, []);
});

test('no import circles between files (a depth-first walk finds no back edge)', () => {
  const files = sources().map((f) => relative(SRC, f).replace(/\.ts$/, ''));
  const known = new Set(files);
  const edges = new Map(files.map((f) => [f, imports(join(SRC, `${f}.ts`)).filter((i) => known.has(i))]));
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, 'open');
    for (const g of edges.get(f)!) {
      if (state.get(g) === 'open') circles.push([...path.slice(path.indexOf(g)), g].join(' → '));
      else if (!state.has(g)) visit(g, [...path, g]);
    }
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(circles, []);
});
