// `clan export CKPT --web DIR`: a static folder that segments an image in the browser, with nothing fetched from
// anywhere but itself (`clan serve DIR` serves it). The page (assets/web/) runs model.onnx with onnxruntime-web's
// wasm backend and computes what `clan predict --engine onnx` computes: it imports the compiled resize.js
// (Pillow-exact bicubic) and host-ops.js (align-corners upsampling + argmax of the heads x1, x2) as they are, so
// there is one implementation of each. It reads the model's metadata from model.json (no protobuf in the page).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { atomicWrite } from '../util/atomic.js';
import { ClanError, DataError } from '../util/errors.js';
import { makeDirs, packageRoot } from '../util/paths.js';
import type { OnnxModelInfo } from './onnx-meta.js';

/** The page itself, copied from assets/web/. */
const PAGE = ['index.html', 'app.js', 'app.css'];
/**
 * What onnxruntime-web's wasm backend needs, from its dist/: the ESM bundle (its JS glue for the wasm module is
 * embedded, and it starts its own worker threads from itself) and the SIMD + threads wasm binary.
 */
export const ORT_FILES = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm'];
/** The browser-safe modules the page imports (only type imports in their sources): [compiled file, name here]. */
const MODULES: [string, string][] = [['../data/resize.js', 'resize.js'], ['./host-ops.js', 'host-ops.js']];

/** onnxruntime-web's dist/ folder (an optional dependency). */
function ortDist(): string {
  try {
    // the package exports the .wasm by name (not its package.json), so resolve that
    return dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  } catch {
    throw new ClanError('export --web: needs the npm package onnxruntime-web (npm install onnxruntime-web), which was not found');
  }
}

/** A folder this function wrote before: a model.json of format 'clan-onnx' beside an index.html. */
function isWebExport(dir: string): boolean {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { format?: unknown };
    return info.format === 'clan-onnx' && existsSync(join(dir, 'index.html'));
  } catch { return false; }
}

function prepareDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new DataError(`export --web: ${dir} is a file; expected a new or empty folder, or a previous web export`);
    if (readdirSync(dir).length > 0 && !isWebExport(dir)) {
      throw new DataError(`export --web: folder ${dir} is not empty and is not a previous web export (no model.json of a clan model); expected a new or empty folder`);
    }
  }
  makeDirs(dir);
}

/** A compiled module of this package, without its source-map comment (the .map is not copied). */
function compiledModule(rel: string): string {
  const src = readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
  return src.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

/** Writes the web app into `dir` (made if missing) and returns the paths written, model.onnx first. */
export function writeWebApp(dir: string, onnx: Uint8Array, info: OnnxModelInfo): string[] {
  const out = resolve(dir);
  const ort = ortDist();
  prepareDir(out);
  const written: string[] = [];
  const put = (name: string, data: Uint8Array | string): void => { atomicWrite(join(out, name), data); written.push(join(out, name)); };
  put('model.onnx', onnx);
  put('model.json', JSON.stringify(info, null, 2) + '\n');
  for (const f of PAGE) put(f, readFileSync(join(packageRoot(), 'assets', 'web', f)));
  for (const [rel, name] of MODULES) put(name, compiledModule(rel));
  for (const f of ORT_FILES) put(f, readFileSync(join(ort, f)));
  return written;
}
