// Optimizer base: parameter groups with their own hyper-parameters (CLAN trains its heads at 10× lr), per-
// parameter state, and a state dict for exact resume. A parameter may appear more than once in a group (the
// official CLAN optimizer does this, docs/method.md §3): each entry then updates it again, sharing state.
import { Tensor, type Device } from '../tensor.js';
import { keep } from '../scope.js';
import { noGrad } from '../runtime.js';
import { CheckpointError } from '../../util/errors.js';

export interface ParamGroup<H> { params: Tensor[]; hp: H }
export type ParamState = Record<string, Tensor | number>;

/** Serializable optimizer state: per-group hyper-parameters, and per unique parameter (by first index) its state. */
export interface OptimizerState<H> { groups: H[]; state: (ParamState | null)[] }

export abstract class Optimizer<H extends { lr: number }> {
  readonly groups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(groups: { params: Tensor[]; hp: H }[]) {
    this.groups = groups.map((g) => ({ params: [...g.params], hp: { ...g.hp } }));
  }

  /** Unique parameters in first-seen order (defines state indices). */
  uniqueParams(): Tensor[] {
    const seen = new Set<Tensor>();
    for (const g of this.groups) for (const p of g.params) seen.add(p);
    return [...seen];
  }

  setLr(group: number, lr: number): void { this.groups[group]!.hp.lr = lr; }
  getLr(group = 0): number { return this.groups[group]!.hp.lr; }

  /** Clear gradients. setToNone (PyTorch 2 default) frees them; otherwise they are zeroed in place. */
  /** zeroGrad's default: drop the gradients (PyTorch's set_to_none), or zero them in place (data-parallel buckets). */
  gradToNone = true;

  zeroGrad(setToNone = this.gradToNone): void {
    for (const p of this.uniqueParams()) {
      if (setToNone) p.grad = null;
      else { const g = p.grad; if (g) noGrad(() => g.zero_()); }
    }
  }

  step(): void {
    noGrad(() => {
      for (const g of this.groups) for (const p of g.params) {
        const grad = p.grad;
        if (grad === null) continue;
        let st = this.state.get(p);
        if (st === undefined) { st = {}; this.state.set(p, st); }
        this.update(p, grad, st, g.hp);
      }
    });
  }

  /** One parameter update; runs under noGrad. Tensors stored in `st` must be kept (see keepState). */
  protected abstract update(p: Tensor, grad: Tensor, st: ParamState, hp: H): void;

  protected keepState(t: Tensor): Tensor { return keep(t); }

  stateDict(): OptimizerState<H> {
    return {
      groups: this.groups.map((g) => ({ ...g.hp })),
      state: this.uniqueParams().map((p) => { const s = this.state.get(p); return s ? { ...s } : null; }),
    };
  }

  /** Restore hyper-parameters and state (tensors are copied into new kept tensors). */
  loadStateDict(sd: OptimizerState<H>): void {
    const params = this.uniqueParams();
    if (sd.groups.length !== this.groups.length) throw new CheckpointError(`optimizer state has ${sd.groups.length} parameter groups, this optimizer has ${this.groups.length}`);
    if (sd.state.length !== params.length) throw new CheckpointError(`optimizer state covers ${sd.state.length} parameters, this optimizer has ${params.length}`);
    sd.groups.forEach((hp, i) => { this.groups[i]!.hp = { ...hp }; });
    this.disposeState();
    params.forEach((p, i) => {
      const s = sd.state[i];
      if (!s) return;
      const st: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          const ps = p.shape; const vs = v.shape;
          if (k !== 'step' && (ps.length !== vs.length || ps.some((d, j) => d !== vs[j]))) {
            throw new CheckpointError(`optimizer state '${k}' of parameter ${i} has shape [${vs.join(', ')}], expected [${ps.join(', ')}]`);
          }
          // Restored state lives where its parameter lives (a CPU checkpoint resumed on CUDA, or the reverse).
          st[k] = keep(noGrad(() => (v.device === p.device ? v.detach().clone() : v.to(p.device as Device))));
        } else st[k] = v;
      }
      this.state.set(p, st);
    });
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
  dispose(): void { this.disposeState(); }
}
