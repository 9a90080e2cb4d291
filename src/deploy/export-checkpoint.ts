// `clan export` below the command line: a checkpoint's generator written as an ONNX file (export.ts), or as the static
// web page that runs it in the browser (web.ts). Needs libtorch to read the weights through the model.
import { resolve } from 'node:path';
import { loadInferenceModel } from '../infer/model.js';
import { atomicWrite } from '../util/atomic.js';
import { checkBudget, inferenceBytes } from '../infer/cost.js';
import { exportOnnx, onnxInfo, type ExportOptions } from './export.js';
import { writeWebApp } from './web.js';

export interface ExportTarget { onnx?: string; web?: string }   // one of them

/** Writes the model; returns one line saying what was written. */
export function exportCheckpoint(ckpt: string, to: ExportTarget, o: ExportOptions): string {
  const m = loadInferenceModel(ckpt);
  try {
    // the graph is traced by running it once at its input size (the eval size when dynamic), logits upsampled there
    const size = o.size === 'dynamic' || o.size === undefined ? m.evalSize : o.size;
    const params = m.G.parameters().reduce((n, p) => n + p.numel, 0);
    checkBudget(`export: ${m.backbone} at ${size[0]}x${size[1]}`, inferenceBytes({ command: 'export', backbone: m.backbone, params,
      classes: m.numClasses, input: size, image: size, augmented: true }), 'give a smaller --size WxH');
    const bytes = exportOnnx(m, o);
    const mb = (bytes.length / 2 ** 20).toFixed(1);
    const info = onnxInfo(m, o);
    if (to.web !== undefined) {
      const files = writeWebApp(to.web, bytes, info);
      return `wrote ${files.length} files to ${resolve(to.web)} (model ${mb} MB); serve it: clan serve ${to.web}`;
    }
    atomicWrite(to.onnx!, bytes);
    const sz = info.inputSize ? `${info.inputSize[0]}x${info.inputSize[1]}` : 'dynamic';
    return `wrote ${resolve(to.onnx!)} (${mb} MB): ${m.backbone}, ${m.numClasses} classes, input ${sz}, output ${o.output ?? 'logits'}, opset ${o.opset ?? 17}; from ${ckpt}`;
  } finally { m.G.dispose(); }
}
