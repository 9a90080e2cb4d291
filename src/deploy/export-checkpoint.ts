// `clan export` below the command line: a checkpoint's generator written as an ONNX file (export.ts), or as the static
// web page that runs it in the browser (web.ts). Needs libtorch to read the weights through the model.
import { resolve } from 'node:path';
import { loadInferenceModel } from '../infer/model.js';
import { atomicWrite } from '../util/atomic.js';
import { exportOnnx, onnxInfo, type ExportOptions } from './export.js';
import { writeWebApp } from './web.js';

export interface ExportTarget { onnx?: string; web?: string }   // one of them

/** Writes the model; returns one line saying what was written. */
export function exportCheckpoint(ckpt: string, to: ExportTarget, o: ExportOptions): string {
  const m = loadInferenceModel(ckpt);
  try {
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
