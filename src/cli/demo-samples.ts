// Sample rows for the demo report: target image, ground truth, source-only and CLAN predictions, CLAN's M map.
import type { Dataset } from '../data/dataset.js';
import { loadInferenceModel } from '../infer/model.js';
import { predictImage } from '../infer/predict.js';
import { encodePng, colorize, heatmap, upscale } from '../report/png.js';
import type { Sample } from '../report/types.js';

/** Sample rows plus the upper end of the shared M colour scale (M is small once C1 and C2 agree, so a fixed
 * [0, 1] scale would paint every map the same dark colour). */
export function buildSamples(sourceOnlyCkpt: string, clanCkpt: string, ds: Dataset, n: number): { samples: Sample[]; mMax: number } {
  const so = loadInferenceModel(sourceOnlyCkpt);
  const cl = loadInferenceModel(clanCkpt);
  const out: Sample[] = [];
  const maps: { m: Float32Array; w: number; h: number }[] = [];
  const up = 4; // 64×64 scenes are shown 4× larger
  try {
    for (let i = 0; i < Math.min(n, ds.length); i++) {
      const s = ds.load(i);
      const { width: w, height: h } = s.image;
      const png = (rgb: Uint8Array) => encodePng(upscale(rgb, w, h, 3, up), w * up, h * up);
      const a = predictImage(so, s.image, s.name);
      const b = predictImage(cl, s.image, s.name);
      out.push({
        name: s.name, image: png(s.image.data), gt: png(colorize(s.label!.data, w, h, cl.palette, [255, 255, 255])),
        sourceOnly: png(colorize(a.label, w, h, so.palette)), clan: png(colorize(b.label, w, h, cl.palette)),
        disagreement: new Uint8Array(0),
      });
      maps.push({ m: b.disagreement, w, h });
    }
  } finally {
    so.G.dispose(); cl.G.dispose();
  }
  let mMax = 1e-6;
  for (const { m } of maps) for (const v of m) if (v > mMax) mMax = v;
  maps.forEach(({ m, w, h }, i) => {
    out[i]!.disagreement = encodePng(upscale(heatmap(m, w, h, { max: mMax }), w, h, 3, up), w * up, h * up);
  });
  return { samples: out, mMax };
}
