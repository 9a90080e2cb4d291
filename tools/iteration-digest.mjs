// Refactoring check: `node tools/iteration-digest.mjs CHECKOUT` (a built checkout: dist/ and the addon) runs 3
// iterations of clan, adversarial, source-only and clan with detachM + CE from the parity fixture's initial weights
// (and of daformer from its fixture's set-up, where the checkout has it)
// on its inputs, and prints a SHA-256 over every parameter, buffer and optimizer state plus the logged losses.
// Then the mean-teacher methods from G's part of the same init (torch seeded before the steps: ClassMix and MIC draw
// from its generator): dacs, and mic where the checkout has it (methods/mic.js); their lines also hash the teacher.
// Two checkouts that print the same lines compute bit-identical iterations. It reads the layout before and after
// the "house" refactor (methods/config.js or methods/uda.js; models/discriminator.js or models/deeplab.js).
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const root = pathToFileURL(resolve(process.argv[2] ?? '.')).href;
const torch = await import(`${root}/dist/src/torch/index.js`);
const { createSegmentor } = await import(`${root}/dist/src/models/registry.js`);
const { readSafetensorsFile } = await import(`${root}/dist/src/io/safetensors.js`);
const { stripPrefix } = await import(`${root}/dist/src/util/prefix.js`);
let DEF, Disc, Clan, Adv, SO;
try { DEF = (await import(`${root}/dist/src/methods/config.js`)).DEFAULT_METHOD_CONFIG; Disc = (await import(`${root}/dist/src/models/discriminator.js`)).FCDiscriminator; }
catch { DEF = (await import(`${root}/dist/src/methods/uda.js`)).DEFAULT_METHOD_CONFIG; Disc = (await import(`${root}/dist/src/models/deeplab.js`)).FCDiscriminator; }
Clan = (await import(`${root}/dist/src/methods/clan.js`)).Clan;
Adv = (await import(`${root}/dist/src/methods/adversarial.js`)).Adversarial;
SO = (await import(`${root}/dist/src/methods/source-only.js`)).SourceOnly;
torch.setNumThreads(1);
const fx = new URL('../test/fixtures/clan', import.meta.url).pathname;
const init = readSafetensorsFile(`${fx}/init.safetensors`).tensors;
const inputs = readSafetensorsFile(`${fx}/inputs.safetensors`).tensors;
const ex = JSON.parse((await import('node:fs')).readFileSync(`${fx}/expected.json`, 'utf8'));
const out = [];
for (const [name, M, extra] of [['clan', Clan, {}], ['adversarial', Adv, {}], ['source', SO, {}], ['clan-detach-ce', Clan, { detachM: true, segLoss: 'ce' }]]) {
  const G = createSegmentor('micro', ex.config.num_classes);
  G.loadStateDict(stripPrefix(init, 'G.'), true, 'G');
  const D = new Disc(ex.config.num_classes, ex.config.ndf);
  D.loadStateDict(stripPrefix(init, 'D.'), true, 'D');
  // the method sections (hyper.clan, hyper.adversarial, …) or, before them, one flat config
  const cfg = DEF.clan
    ? { ...DEF, maxIter: ex.config.max_iter, warmup: ex.config.warmup, lrG: ex.config.lr_G, segLoss: extra.segLoss ?? DEF.segLoss,
      clan: { ...DEF.clan, preheat: ex.config.preheat, detachM: extra.detachM ?? DEF.clan.detachM }, adversarial: { ...DEF.adversarial, lrD: ex.config.lr_D } }
    : { ...DEF, maxIter: ex.config.max_iter, warmup: ex.config.warmup, preheat: ex.config.preheat, lrG: ex.config.lr_G, lrD: ex.config.lr_D, ...extra };
  const m = name === 'source' ? new M(G, cfg) : new M(G, cfg, D);
  const logs = [];
  for (let s = 1; s <= 3; s++) {
    const inp = (n) => torch.fromHost(inputs.get(n));
    const l = torch.tidy(() => m.trainStep(ex.steps[s - 1].i, { image: inp(`source_image_step${s}`), label: inp(`source_label_step${s}`) }, { image: inp(`target_image_step${s}`), size: [64, 96] }));
    const losses = l.losses ?? { seg: l.seg, adv: l.adv, weight: l.weight, d_s: l.d_s, d_t: l.d_t };
    logs.push(JSON.stringify(Object.fromEntries(Object.entries({ ...losses, m: l.m, w: l.weighted }).filter(([, v]) => v !== undefined))));
  }
  const h = createHash('sha256');
  for (const [k, t] of [...G.stateDict(), ...D.stateDict()]) { const ht = t.toHost(); h.update(k); h.update(new Uint8Array(ht.data.buffer, ht.data.byteOffset, ht.data.byteLength)); }
  for (const opt of [m.optG, m.optD].filter(Boolean)) for (const st of opt.stateDict().state) if (st) for (const [k, v] of Object.entries(st)) { h.update(k); if (v instanceof torch.Tensor) { const ht = v.toHost(); h.update(new Uint8Array(ht.data.buffer, ht.data.byteOffset, ht.data.byteLength)); } else h.update(String(v)); }
  out.push(`${name} ${h.digest('hex')}\n  ${logs.join('\n  ')}`);
}
const hashTensors = (h, entries) => { for (const [k, t] of entries) { const ht = t.toHost(); h.update(k); h.update(new Uint8Array(ht.data.buffer, ht.data.byteOffset, ht.data.byteLength)); } };
const teacherMethods = [['dacs', './methods/dacs.js', 'Dacs'], ['mic', './methods/mic.js', 'Mic']];
for (const [name, file, cls] of teacherMethods) {
  let M;
  try { M = (await import(`${root}/dist/src/${file.slice(2)}`))[cls]; } catch { continue; }
  if (!M || !DEF.dacs) continue;
  const G = createSegmentor('micro', ex.config.num_classes);
  G.loadStateDict(stripPrefix(init, 'G.'), true, 'G');
  const m = new M(G, { ...DEF, maxIter: ex.config.max_iter, warmup: ex.config.warmup, lrG: ex.config.lr_G, dacs: { ...DEF.dacs, pseudoThreshold: 0.25 } });
  torch.manualSeed(7);
  const logs = [];
  for (let s = 1; s <= 3; s++) {
    const inp = (n) => torch.fromHost(inputs.get(n));
    const l = torch.tidy(() => m.trainStep(ex.steps[s - 1].i, { image: inp(`source_image_step${s}`), label: inp(`source_label_step${s}`) }, { image: inp(`target_image_step${s}`), size: [64, 96] }));
    logs.push(JSON.stringify(l.losses));
  }
  const h = createHash('sha256');
  hashTensors(h, [...G.stateDict(), ...m.teacher.stateDict()]);
  for (const st of m.optG.stateDict().state) if (st) hashTensors(h, Object.entries(st).filter(([, v]) => v instanceof torch.Tensor));
  out.push(`${name} ${h.digest('hex')}\n  ${logs.join('\n  ')}`);
  m.dispose(); G.dispose();
}
// daformer (a checkout that has it): 3 iterations of the parity fixture's set-up (test/fixtures/daformer), with the
// feature distance, AdamW, colour jitter and blur; G, the teacher, the frozen encoder and AdamW's state in the hash.
let Daformer = null;
try { Daformer = (await import(`${root}/dist/src/methods/daformer.js`)).Daformer; } catch { /* an older checkout */ }
if (Daformer) {
  const { drawState, hashed } = await import(`${root}/dist/src/models/models.testing.js`);
  const { labelBlocks } = await import(`${root}/dist/src/methods/methods.testing.js`);
  const c = JSON.parse((await import('node:fs')).readFileSync(new URL('../test/fixtures/daformer/expected.json', import.meta.url), 'utf8')).config;
  const [n, [h, w], K] = [c.batch, c.size, c.num_classes];
  torch.manualSeed(0);
  const G = createSegmentor('mit-b0', K);
  drawState(G);
  const m = new Daformer(G, { ...DEF, maxIter: c.max_iter, warmup: c.warmup, power: c.power, optimizerG: 'adamw', lrG: c.lr_G, headLrMult: c.head_lr_mult,
    weightDecay: c.weight_decay, beta1G: c.betas[0], beta2G: c.betas[1], segLoss: 'ce', normalize: c.normalize, initWeights: true,
    dacs: { ...DEF.dacs, emaAlpha: c.ema_alpha, pseudoThreshold: c.pseudo_threshold },
    daformer: { ...DEF.daformer, fdLambda: c.fd_lambda, fdClasses: c.fd_classes, fdScaleMinRatio: c.fd_min_ratio, warmupRatio: c.warmup_ratio } });
  torch.manualSeed(c.seed);
  const logs = [];
  for (let s = 0; s < 3; s++) {
    const l = torch.tidy(() => m.trainStep(s, { image: hashed([n, 3, h, w], c.image_salts[(2 * s) % 4], 2), label: labelBlocks(n, h, w, K, c.label_salts[s % 2]) },
      { image: hashed([n, 3, h, w], c.image_salts[(2 * s + 1) % 4], 2), size: [h, w] }));
    logs.push(JSON.stringify(l.losses));
  }
  const hd = createHash('sha256');
  for (const [pre, mod] of [['G', G], ['EMA', m.teacher], ['IMNET', m.imnet]]) for (const [k, t] of mod.stateDict()) { const ht = t.toHost(); hd.update(`${pre}.${k}`); hd.update(new Uint8Array(ht.data.buffer, ht.data.byteOffset, ht.data.byteLength)); }
  for (const st of m.optG.stateDict().state) if (st) for (const [k, v] of Object.entries(st)) { hd.update(k); if (v instanceof torch.Tensor) { const ht = v.toHost(); hd.update(new Uint8Array(ht.data.buffer, ht.data.byteOffset, ht.data.byteLength)); } else hd.update(String(v)); }
  out.push(`daformer ${hd.digest('hex')}\n  ${logs.join('\n  ')}`);
  m.dispose(); G.dispose();
}
console.log(out.join('\n'));
