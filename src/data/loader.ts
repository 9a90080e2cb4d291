// Batches of preprocessed samples, decoded and augmented in worker threads (or in-process with workers = 0).
//
// Determinism: sample g of the stream (g = 0, 1, 2, …; "position") belongs to epoch e = ⌊g / N⌋ and is dataset
// index perm_e[g mod N], perm_e drawn from (seed, e). Its augmentation is drawn from (seed, e, index) (rng.ts),
// in the main thread, before dispatch: results never depend on worker count, prefetch or timing. In a batch of
// B > 1 all samples take the random SCALE of the batch's first sample (so their sizes agree); flips stay per
// sample. With B = 1 (the reference, docs/method.md §3) every sample is independent.
// Position = samples CONSUMED by the caller (not prefetched); `state()` saves it, `startAt` resumes from it.
// Data-parallel (rank r of W, like DistributedSampler): this loader's k-th sample is global stream position
// g = k·W + r, so the ranks read disjoint samples of every epoch and together the global stream; positions and
// startAt count this rank's samples.
import { Worker } from 'node:worker_threads';
import { ConfigError, DataError } from '../util/errors.js';
import type { Dataset } from './dataset.js';
import type { WorkerInit, WorkerReply, WorkerTask } from './loader_worker.js';
import { epochPermutation, rcsRng, sampleRng } from './rng.js';
import { rcsDraw, type RcsTable } from './rcs.js';
import { checkTransform, drawAugment, preprocess, type Augment, type Processed, type TransformOptions } from './transforms.js';

export interface LoaderOptions {
  dataset: Dataset;
  transform: TransformOptions;
  seed: number;
  batchSize?: number;   // default 1 (the reference)
  shuffle?: boolean;    // new permutation per epoch, default true
  workers?: number;     // worker threads; 0 = decode in this thread (default 0)
  prefetch?: number;    // batches prepared ahead of the consumer when workers > 0 (default 2)
  epochs?: number;      // default Infinity: an endless stream for source/target; 1 for evaluation
  startAt?: LoaderState | number; // resume: samples already consumed (by this rank)
  rank?: number;        // data-parallel shard: this process's rank (default 0)
  worldSize?: number;   // number of shards (default 1)
  /** A sample that cannot be read (a DataError: a damaged file, a label value outside the classes) is dropped and passed
   *  here instead of failing the stream (clan eval --skip-bad); a batch of dropped samples only is skipped whole. */
  onBadSample?: (name: string, message: string) => void;
  /** Rare-class sampling (rcs.ts, DAFormer): each position's sample is drawn by class instead of the epoch's order. */
  rareClass?: RcsTable;
}

export interface LoaderState { seed: number; consumed: number }

export interface Batch {
  images: Float32Array;   // [B, 3, height, width]
  labels?: Uint8Array;    // [B, labelHeight, labelWidth]
  size: number;           // B (the last batch of a finite stream may be smaller)
  width: number; height: number; labelWidth: number; labelHeight: number;
  indices: number[];      // dataset index per sample
  names: string[];
  epochs: number[];       // epoch per sample
  augments: Augment[];
  position: number;       // stream position of the first sample
}

interface Item extends Processed { name: string }

class WorkerPool {
  private readonly workers: { w: Worker; busy: number; dead: boolean }[] = [];
  private readonly waiting = new Map<number, { resolve: (p: Item) => void; reject: (e: Error) => void; worker: number }>();
  private nextId = 0;

  constructor(n: number, init: WorkerInit) {
    for (let i = 0; i < n; i++) {
      // execArgv [] : the parent's flags (e.g. --input-type, -e) can be invalid in a worker; workers need none.
      const w = new Worker(new URL('./loader_worker.js', import.meta.url), { workerData: init, execArgv: [] });
      w.unref(); // idle workers never keep the process alive; ref'd while they owe a result
      w.on('message', (r: WorkerReply) => this.reply(i, r));
      w.on('error', (e) => this.fail(i, new DataError(`loader worker ${i} crashed: ${e.message}`)));
      w.on('exit', (code) => this.fail(i, new DataError(`loader worker ${i} exited (code ${code})`)));
      this.workers.push({ w, busy: 0, dead: false });
    }
  }

  run(index: number, aug: Augment): Promise<Item> {
    let best = -1;
    this.workers.forEach((x, i) => { if (!x.dead && (best < 0 || x.busy < this.workers[best]!.busy)) best = i; });
    if (best < 0) return Promise.reject(new DataError('loader: every worker has exited'));
    const slot = this.workers[best]!;
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.w.ref();
    const task: WorkerTask = { id, index, aug };
    return new Promise<Item>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker: best });
      slot.w.postMessage(task);
    });
  }

  private reply(i: number, r: WorkerReply): void {
    const wait = this.waiting.get(r.id);
    if (!wait) return;
    this.waiting.delete(r.id);
    if (--this.workers[i]!.busy === 0) this.workers[i]!.w.unref();
    if (r.ok) wait.resolve(r);
    else wait.reject(r.errorName === 'DataError' ? new DataError(r.message) : new Error(r.message));
  }

  private fail(i: number, e: Error): void {
    this.workers[i]!.dead = true;
    for (const [id, wait] of this.waiting) if (wait.worker === i) { this.waiting.delete(id); wait.reject(e); }
  }

  async close(): Promise<void> {
    for (const { w } of this.workers) w.removeAllListeners('exit');
    for (const [, wait] of this.waiting) wait.reject(new DataError('loader closed'));
    this.waiting.clear();
    await Promise.all(this.workers.map(({ w }) => w.terminate()));
  }
}

export class Loader implements AsyncIterable<Batch> {
  readonly batchSize: number;
  readonly seed: number;
  /** Total stream length in samples (Infinity for an endless loader). */
  readonly total: number;
  private consumedCount: number;
  private reserved: number;   // samples claimed by next() calls (≥ consumed)
  private submitted: number;  // samples dispatched to workers
  private readonly pending = new Map<number, Promise<Item>>();
  private readonly perms = new Map<number, Uint32Array>();
  private readonly augs = new Map<number, { index: number; epoch: number; aug: Augment }>();
  private readonly pool?: WorkerPool;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private failed?: Error;     // a failed batch ends the stream: later next() calls rethrow it
  private readonly origin: number; // resume position; batches start here and every batchSize after
  private readonly rank: number;
  private readonly world: number;

  constructor(private readonly o: LoaderOptions) {
    this.batchSize = o.batchSize ?? 1;
    this.seed = o.seed;
    const N = o.dataset.length;
    if (!(Number.isInteger(this.batchSize) && this.batchSize >= 1)) throw new ConfigError(`loader: batchSize must be an integer ≥ 1, got ${o.batchSize}`);
    if (!Number.isSafeInteger(o.seed)) throw new ConfigError(`loader: seed must be an integer, got ${o.seed}`);
    if (N < 1) throw new ConfigError(`loader: dataset ${o.dataset.spec} is empty`);
    const epochs = o.epochs ?? Infinity;
    if (!(epochs > 0)) throw new ConfigError(`loader: epochs must be > 0, got ${epochs}`);
    this.rank = o.rank ?? 0;
    this.world = o.worldSize ?? 1;
    if (!(Number.isInteger(this.world) && this.world >= 1 && Number.isInteger(this.rank) && this.rank >= 0 && this.rank < this.world)) {
      throw new ConfigError(`loader: rank ${o.rank} of worldSize ${o.worldSize}: expected 0 ≤ rank < worldSize`);
    }
    this.total = epochs === Infinity ? Infinity : Math.max(0, Math.ceil((epochs * N - this.rank) / this.world));
    const start = typeof o.startAt === 'number' ? o.startAt : o.startAt?.consumed ?? 0;
    if (typeof o.startAt === 'object' && o.startAt.seed !== o.seed) {
      throw new ConfigError(`loader: resume state was saved with seed ${o.startAt.seed} but this loader has seed ${o.seed}`);
    }
    if (!(Number.isInteger(start) && start >= 0 && start <= this.total)) throw new ConfigError(`loader: startAt ${start} outside [0, ${this.total}]`);
    this.consumedCount = this.reserved = this.submitted = this.origin = start;
    checkTransform(o.transform);
    const workers = o.workers ?? 0;
    if (!(Number.isInteger(workers) && workers >= 0)) throw new ConfigError(`loader: workers must be an integer ≥ 0, got ${workers}`);
    const prefetch = o.prefetch ?? 2;
    if (!(Number.isInteger(prefetch) && prefetch >= 0)) throw new ConfigError(`loader: prefetch must be an integer ≥ 0, got ${prefetch}`);
    if (workers > 0) this.pool = new WorkerPool(workers, { desc: o.dataset.desc, transform: o.transform });
  }

  /** Samples per epoch. */
  get epochLength(): number { return this.o.dataset.length; }
  /** Samples handed to the caller so far (including those skipped by startAt). */
  get consumed(): number { return this.consumedCount; }
  get epoch(): number { return Math.floor(this.consumedCount / this.epochLength); }
  state(): LoaderState { return { seed: this.seed, consumed: this.consumedCount }; }

  /** The next batch, or undefined at the end of a finite stream. Calls are served in order. */
  next(): Promise<Batch | undefined> {
    const p = this.chain.then(() => this.take());
    this.chain = p.catch(() => undefined);
    return p;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    for (;;) {
      const b = await this.next();
      if (!b) return;
      yield b;
    }
  }

  /** Stops the workers; the loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
  }

  private async take(): Promise<Batch | undefined> {
    if (this.closed) throw new DataError('loader: next() after close()');
    if (this.failed) throw this.failed;
    const start = this.reserved;
    if (start >= this.total) return undefined;
    const end = Math.min(start + this.batchSize, this.total);
    this.reserved = end;
    this.submitUpTo(this.pool ? Math.min(this.total, end + (this.o.prefetch ?? 2) * this.batchSize) : end);
    const items: Item[] = [];
    const meta: { index: number; epoch: number; aug: Augment }[] = [];
    let batch: Batch;
    try {
      for (let g = start; g < end; g++) {
        const p = this.pending.get(g)!;
        this.pending.delete(g);
        const m = this.augs.get(g)!;
        this.augs.delete(g);
        const it = await this.settle(p, m.index);
        if (it) { items.push(it); meta.push(m); }
      }
      this.consumedCount = end;
      if (items.length === 0) return await this.take();   // every sample of the batch was dropped (onBadSample)
      batch = assemble(items, meta, start);
    } catch (e) {
      this.failed = e instanceof Error ? e : new Error(String(e));
      throw this.failed;
    }
    return batch;
  }

  /** A sample's item, or null when it could not be read and onBadSample takes such samples. */
  private async settle(p: Promise<Item>, index: number): Promise<Item | null> {
    try { return await p; } catch (e) {
      if (!this.o.onBadSample || !(e instanceof DataError)) throw e;
      this.o.onBadSample(this.o.dataset.name(index), e.message);
      return null;
    }
  }

  /** Where this rank's position k points: epoch, dataset index and augmentation (batch-shared scale). */
  private plan(k: number): { index: number; epoch: number; aug: Augment } {
    const N = this.epochLength;
    const g = k * this.world + this.rank; // the global stream position
    const epoch = Math.floor(g / N);
    let index = g % N;
    if (this.o.rareClass) index = rcsDraw(this.o.rareClass, rcsRng(this.seed, g)).index;
    else if (this.o.shuffle ?? true) {
      let perm = this.perms.get(epoch);
      if (!perm) {
        perm = epochPermutation(this.seed, epoch, N);
        this.perms.set(epoch, perm);
        for (const e of this.perms.keys()) if (e < epoch - 1) this.perms.delete(e);
      }
      index = perm[index]!;
    }
    const aug = drawAugment(sampleRng(this.seed, epoch, index), this.o.transform);
    const first = k - ((k - this.origin) % this.batchSize);
    if (first !== k) aug.scale = this.augs.get(first)!.aug.scale;
    return { index, epoch, aug };
  }

  private submitUpTo(limit: number): void {
    for (; this.submitted < limit; this.submitted++) {
      const g = this.submitted;
      const p = this.plan(g);
      this.augs.set(g, p);
      const promise = this.pool ? this.pool.run(p.index, p.aug) : Promise.resolve().then(() => this.local(p.index, p.aug));
      promise.catch(() => undefined); // observed when awaited in take()
      this.pending.set(g, promise);
    }
  }

  private local(index: number, aug: Augment): Item {
    const ds = this.o.dataset;
    return { name: ds.name(index), ...preprocess(ds.load(index), this.o.transform, aug) };
  }
}

function assemble(items: Item[], meta: { index: number; epoch: number; aug: Augment }[], position: number): Batch {
  const a = items[0]!;
  for (const it of items) {
    if (it.width !== a.width || it.height !== a.height || it.labelWidth !== a.labelWidth || it.labelHeight !== a.labelHeight
      || !!it.label !== !!a.label) {
      throw new DataError(`loader: samples ${a.name} (${a.width}x${a.height}, label ${a.labelWidth}x${a.labelHeight}) and ${it.name} ` +
        `(${it.width}x${it.height}, label ${it.labelWidth}x${it.labelHeight}) cannot share a batch; use batchSize 1 or labelSize 'nominal'`);
    }
  }
  const B = items.length;
  let images = a.image, labels = a.label;
  if (B > 1) {
    images = new Float32Array(B * a.image.length);
    items.forEach((it, k) => images.set(it.image, k * a.image.length));
    if (a.label) {
      const l = new Uint8Array(B * a.label.length);
      items.forEach((it, k) => l.set(it.label!, k * a.label!.length));
      labels = l;
    }
  }
  return {
    images, ...(labels ? { labels } : {}), size: B, width: a.width, height: a.height, labelWidth: a.labelWidth, labelHeight: a.labelHeight,
    indices: meta.map((m) => m.index), names: items.map((it) => it.name), epochs: meta.map((m) => m.epoch),
    augments: meta.map((m) => m.aug), position,
  };
}
