// Worker thread body for loader.ts: rebuilds the dataset from its plain-data desc, then decodes and augments
// one sample per message and transfers the typed-array buffers back. Imports data modules only (never the
// libtorch addon), so it is safe in worker_threads.
import { parentPort, workerData } from 'node:worker_threads';
import type { DatasetDesc } from './dataset.js';
import { reviveDataset } from './registry.js';
import { preprocess, type Augment, type TransformOptions } from './transforms.js';

export interface WorkerInit { desc: DatasetDesc; transform: TransformOptions }
export interface WorkerTask { id: number; index: number; aug: Augment }
export type WorkerReply =
  | { id: number; ok: true; name: string; image: Float32Array; width: number; height: number; label?: Uint8Array; labelWidth: number;
    labelHeight: number }
  | { id: number; ok: false; errorName: string; message: string };

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const ready = reviveDataset(init.desc);
  port.on('message', (task: WorkerTask) => {
    ready.then((ds) => {
      const p = preprocess(ds.load(task.index), init.transform, task.aug);
      const reply: WorkerReply = { id: task.id, ok: true, name: ds.name(task.index), ...p };
      const transfer = p.label ? [p.image.buffer, p.label.buffer] : [p.image.buffer];
      port.postMessage(reply, transfer as ArrayBuffer[]);
    }).catch((e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      const reply: WorkerReply = { id: task.id, ok: false, errorName: err.name, message: err.message };
      port.postMessage(reply);
    });
  });
}
