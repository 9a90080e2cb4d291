// clan's web page: what `clan predict --engine onnx` computes, in the browser. The image is decoded at its natural
// size, resized with Pillow-exact bicubic (resize.js, the same code as data/resize.ts) to the model's input size,
// fed as raw RGB 0..255 CHW (the normalisation is inside the graph), run by onnxruntime-web (wasm); the two heads
// x1, x2 are summed, upsampled (bilinear, align corners) to the image's size and argmaxed by host-ops.js (the same
// code as deploy/host-ops.ts). A model exported with --size dynamic runs at its eval size, as `clan predict` does.
// For tests the last result is window.clanResult = { labels, width, height, ms } and body[data-state] says
// loading | ready | running | done | error.
/* global document, window, navigator, performance, createImageBitmap, crossOriginIsolated, fetch, location, URL */
import * as ort from './ort.wasm.bundle.min.mjs';
import { resizeBicubic } from './resize.js';
import { labelsFromHeads, rawChw } from './host-ops.js';

const $ = (id) => document.getElementById(id);
const ALPHA = 0.5; // the overlay's blend, as `clan predict`'s <stem>_overlay.png

function setState(state, message) {
  document.body.dataset.state = state;
  $('status').textContent = message;
}

/** A file next to the page; an HTTP error names the file. */
async function fetchOk(name) {
  const res = await fetch(name);
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

/** model.json (the ONNX file's metadata, deploy/onnx-meta.ts) and an inference session on the wasm backend. */
async function loadModel() {
  const info = await (await fetchOk('model.json')).json();
  // The .wasm sits next to this page; threads need SharedArrayBuffer, i.e. a cross-origin isolated page (clan
  // serve sends COOP/COEP). Asking for threads without it only earns a console warning, so ask for one.
  ort.env.wasm.wasmPaths = { wasm: new URL('ort-wasm-simd-threaded.wasm', location.href).href };
  ort.env.wasm.numThreads = crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
  const bytes = new Uint8Array(await (await fetchOk('model.onnx')).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  return { info, session };
}

/** The file's pixels as RGB [H, W, 3] at its natural size: no colour management, no premultiplied alpha. */
async function decode(file) {
  let bmp;
  try { bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }); } catch (e) {
    throw new Error(`cannot decode it as an image (${e.message}); expected a PNG or JPEG`);
  }
  const { width, height } = bmp;
  const c = document.createElement('canvas');
  c.width = width; c.height = height;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = g.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) { data[i] = rgba[j]; data[i + 1] = rgba[j + 1]; data[i + 2] = rgba[j + 2]; }
  return { width, height, data };
}

/** Labels [H, W] of an RGB image at its own size, and the milliseconds session.run took. */
async function predict({ info, session }, img) {
  const [W, H] = info.inputSize ?? info.evalSize;
  const small = resizeBicubic(img, W, H);
  const chw = rawChw(small.data, W, H); // [1, 3, H, W], RGB 0..255
  const t0 = performance.now();
  const out = await session.run({ image: new ort.Tensor('float32', chw, [1, 3, H, W]) }, ['x1', 'x2']);
  const ms = performance.now() - t0;
  const [, k, h, w] = out.x1.dims; // [1, K, h, w] at the output stride
  const labels = labelsFromHeads(out.x1.data, out.x2.data, k, h, w, img.height, img.width);
  out.x1.dispose(); out.x2.dispose();
  return { labels, width: img.width, height: img.height, ms };
}

/** The image, with the class colours blended over it unless `show` is off; 'background' pixels keep the image. */
function draw(info, img, r, show) {
  const c = $('canvas');
  c.width = r.width; c.height = r.height;
  const g = c.getContext('2d');
  const out = g.createImageData(r.width, r.height);
  const keep = info.classNames.map((n) => n.toLowerCase() === 'background');
  for (let p = 0; p < r.labels.length; p++) {
    const k = r.labels[p], col = info.palette[k], blend = show && !keep[k];
    for (let ch = 0; ch < 3; ch++) {
      const v = img.data[3 * p + ch];
      out.data[4 * p + ch] = blend ? Math.round((1 - ALPHA) * v + ALPHA * col[ch]) : v;
    }
    out.data[4 * p + 3] = 255;
  }
  g.putImageData(out, 0, 0);
}

/** One row per class: its colour, name and share of the image's pixels (classes absent from it greyed). */
function legend(info, labels) {
  const counts = new Array(info.numClasses).fill(0);
  if (labels) for (const k of labels) counts[k]++;
  const rows = info.classNames.map((name, k) => {
    const li = document.createElement('li'), sw = document.createElement('span'), nm = document.createElement('span');
    sw.className = 'swatch'; sw.style.background = `rgb(${info.palette[k].join(',')})`;
    nm.textContent = name;
    li.append(sw, nm);
    if (labels) {
      const share = document.createElement('span');
      const pct = (100 * counts[k]) / labels.length;
      share.className = 'share'; share.textContent = !counts[k] ? '' : pct < 0.1 ? '< 0.1 %' : `${pct.toFixed(1)} %`;
      li.append(share);
      if (!counts[k]) li.className = 'absent';
    }
    return li;
  });
  $('legend').replaceChildren(...rows);
}

function describe(info) {
  const [W, H] = info.inputSize ?? info.evalSize;
  const step = info.step === null ? '' : `, step ${info.step}`;
  return `${info.backbone} · ${info.numClasses} classes · input ${W}×${H}${info.inputSize ? '' : ' (dynamic model, run at its eval size)'} · ${info.source}${step}`;
}

function main() {
  const model = loadModel();
  let last = null;
  model.then((m) => {
    $('model').textContent = describe(m.info);
    legend(m.info, null);
    if (document.body.dataset.state === 'loading') setState('ready', `ready · ${ort.env.wasm.numThreads} wasm thread${ort.env.wasm.numThreads > 1 ? 's' : ''}`);
  }, (e) => setState('error', `cannot load the model: ${e.message ?? e}`));

  async function run(file) {
    try {
      setState('running', `segmenting ${file.name}…`);
      const m = await model;
      const t0 = performance.now();
      const img = await decode(file);
      const r = await predict(m, img);
      const total = performance.now() - t0;
      last = { m, img, r };
      draw(m.info, img, r, $('show').checked);
      legend(m.info, r.labels);
      $('name').textContent = `${file.name} · ${r.width}×${r.height}`;
      $('view').hidden = false;
      window.clanResult = r;
      setState('done', `inference ${r.ms.toFixed(0)} ms (onnxruntime-web, wasm, ${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads > 1 ? 's' : ''}) · decode + resize + inference + upsampling ${total.toFixed(0)} ms`);
    } catch (e) {
      setState('error', `${file.name}: ${e.message ?? e}`);
    }
  }

  $('file').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) run(f); });
  $('show').addEventListener('change', () => { if (last) draw(last.m.info, last.img, last.r, $('show').checked); });
  window.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
  window.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dragging'); });
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const f = e.dataTransfer?.files[0];
    if (f) run(f);
  });
}

main();
