// Saving and restoring the live state of a run (docs/checkpoint.md): modules, both optimizers (tensor state as
// tensors, scalars in the metadata) and the fp16 loss scaler, through the host-side format in io/checkpoint.ts.
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { CKPT_FORMAT, assertResumable, writeCheckpoint, type CheckpointMeta, type LoadedCheckpoint, type OptimizerMeta } from '../io/checkpoint.js';
import type { AtomicWriteOptions } from '../util/atomic.js';
import { stripPrefix } from '../util/prefix.js';

/** What a checkpoint holds of a run, by role; a method without a discriminator has D and optD null. */
export interface CheckpointParts {
  G: torch.Module; D: torch.Module | null;
  optG: torch.Optimizer<{ lr: number }> | null; optD: torch.Optimizer<{ lr: number }> | null;
  scaler?: torch.GradScaler | null;
  /** Further modules a method keeps (DACS: its EMA teacher), saved under `<name>.` like G and D. */
  modules?: Record<string, torch.Module>;
}

function optimizerTensors(prefix: string, opt: torch.Optimizer<{ lr: number }> | null, out: Map<string, HostTensor>): OptimizerMeta | null {
  if (!opt) return null;
  const sd = opt.stateDict();
  const scalars = sd.state.map((s, i) => {
    if (!s) return null;
    const sc: Record<string, number> = {};
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof torch.Tensor) out.set(`${prefix}.${i}.${k}`, v.toHost());
      else sc[k] = v;
    }
    return sc;
  });
  return { groups: sd.groups, scalars };
}

export type RunMeta = Omit<CheckpointMeta, 'format' | 'version' | 'optG' | 'optD' | 'scaler' | 'sha256'>;

/** Copies every tensor of `parts` to the host and writes `dir/ckpt_<step>.safetensors` atomically. */
export function saveCheckpoint(dir: string, parts: CheckpointParts, meta: RunMeta, o: AtomicWriteOptions = {}): string {
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of parts.G.stateDict()) tensors.set(`G.${k}`, t.toHost());
  if (parts.D) for (const [k, t] of parts.D.stateDict()) tensors.set(`D.${k}`, t.toHost());
  for (const [name, m] of Object.entries(parts.modules ?? {})) for (const [k, t] of m.stateDict()) tensors.set(`${name}.${k}`, t.toHost());
  const optG = optimizerTensors('optG', parts.optG, tensors);
  const optD = optimizerTensors('optD', parts.optD, tensors);
  return writeCheckpoint(dir, tensors, { format: CKPT_FORMAT, version: 2, ...meta, optG, optD,
    ...(parts.scaler ? { scaler: parts.scaler.stateDict() } : {}) }, o);
}

/**
 * Restore models and optimizers in place from a loaded checkpoint (tensors land on each parameter's device). This
 * is resuming: a version-1 checkpoint, whose optimizer state and header are unsealed, is refused (assertResumable).
 */
export function restoreParts(ck: LoadedCheckpoint, parts: CheckpointParts): void {
  assertResumable(ck);
  parts.G.loadStateDict(stripPrefix(ck.tensors, 'G.'), true, `${ck.path} (G)`);
  if (parts.D) parts.D.loadStateDict(stripPrefix(ck.tensors, 'D.'), true, `${ck.path} (D)`);
  for (const [name, m] of Object.entries(parts.modules ?? {})) m.loadStateDict(stripPrefix(ck.tensors, `${name}.`), true, `${ck.path} (${name})`);
  const restore = (prefix: string, opt: torch.Optimizer<{ lr: number }> | null, m: OptimizerMeta | null) => {
    if (!opt || !m) return;
    const tens = stripPrefix(ck.tensors, `${prefix}.`);
    const state = m.scalars.map((sc, i) => {
      if (!sc) return null;
      const s: torch.ParamState = { ...sc };
      for (const [k, v] of tens) {
        const [idx, ...rest] = k.split('.');
        if (Number(idx) === i) s[rest.join('.')] = torch.fromHost(v);
      }
      return s;
    });
    torch.tidy(() => opt.loadStateDict({ groups: m.groups as { lr: number }[], state }));
  };
  restore('optG', parts.optG, ck.meta.optG);
  restore('optD', parts.optD, ck.meta.optD);
  if (parts.scaler && ck.meta.scaler) parts.scaler.loadStateDict(ck.meta.scaler);
}
