// Module: named parameters, buffers and sub-modules (torch.nn.Module). Names and their order follow PyTorch
// (own parameters, own buffers, then children in registration order) so state dicts map 1:1.
import { Tensor, fromHost, type Device } from '../tensor.js';
import { keep } from '../scope.js';
import { noGrad } from '../runtime.js';
import type { HostTensor } from '../dtype.js';
import { CheckpointError } from '../../util/errors.js';

/** Anything with a single-tensor forward (layers inside Sequential). */
export interface Layer { forward(x: Tensor): Tensor }

export interface LoadResult { missing: string[]; unexpected: string[] }

export class Module {
  training = true;
  protected readonly _parameters = new Map<string, Tensor>();
  protected readonly _buffers = new Map<string, Tensor>();
  protected readonly _modules = new Map<string, Module>();

  /** Registers a trainable tensor; it is taken out of scope management (owned by the module). */
  registerParameter(name: string, t: Tensor, requiresGrad = true): Tensor {
    keep(t).requiresGrad_(requiresGrad);
    this._parameters.set(name, t);
    return t;
  }
  registerBuffer(name: string, t: Tensor): Tensor {
    this._buffers.set(name, keep(t));
    return t;
  }
  registerModule<M extends Module>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this._parameters) out.push([prefix + n, p]);
    for (const [n, m] of this._modules) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }
  /** Parameters in PyTorch order; `trainableOnly` drops frozen ones (requiresGrad false). */
  parameters(trainableOnly = false): Tensor[] {
    const ps = this.namedParameters().map(([, p]) => p);
    return trainableOnly ? ps.filter((p) => p.requiresGrad) : ps;
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this._buffers) out.push([prefix + n, b]);
    for (const [n, m] of this._modules) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, m] of this._modules) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }
  children(): Module[] { return [...this._modules.values()]; }

  train(mode = true): this {
    this.training = mode;
    for (const m of this._modules.values()) m.train(mode);
    return this;
  }
  eval(): this { return this.train(false); }

  /** Freeze or unfreeze every parameter. */
  requiresGrad_(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Parameters and buffers by dotted name, in PyTorch's state_dict order. The tensors are the live ones. */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this._parameters) out.set(prefix + n, p);
    for (const [n, b] of this._buffers) out.set(prefix + n, b);
    for (const [n, m] of this._modules) for (const [k, v] of m.stateDict(`${prefix}${n}.`)) out.set(k, v);
    return out;
  }

  /**
   * Copy values in. strict: every key must exist on both sides; shapes must always match. All problems are
   * collected and reported in one error.
   */
  loadStateDict(sd: Map<string, Tensor | HostTensor>, strict = true, source = 'state dict'): LoadResult {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const shapeErrors: string[] = [];
    for (const [k, t] of own) {
      const v = sd.get(k);
      if (v === undefined) continue;
      const vs = v.shape;
      const ts = t.shape;
      if (vs.length !== ts.length || vs.some((s, i) => s !== ts[i])) shapeErrors.push(`${k}: expected [${ts.join(', ')}], got [${vs.join(', ')}]`);
    }
    const problems: string[] = [];
    if (shapeErrors.length) problems.push(`shape mismatch for ${shapeErrors.join('; ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length) throw new CheckpointError(`cannot load ${source}: ${problems.join('; ')}`);
    noGrad(() => {
      for (const [k, t] of own) {
        const v = sd.get(k);
        if (v === undefined) continue;
        if (v instanceof Tensor) { t.copy_(v); continue; }
        const tmp = fromHost(v);
        t.copy_(tmp);
        tmp.dispose();
      }
    });
    return { missing, unexpected };
  }

  /**
   * Moves every parameter and buffer to `device` in place, like torch.nn.Module.to(device): the Tensor objects
   * stay the same, so layers and optimizers that hold them see the moved tensors. Build optimizers after it
   * or before it alike; their state, if any, must be on the same device (Optimizer.loadStateDict follows p).
   */
  to(device: Device): this {
    noGrad(() => {
      for (const [, t] of this.stateDict()) {
        if (t.device === device || (device === 'cuda' && t.device === 'cuda:0')) continue;
        t._adopt(t.to(device));
      }
    });
    return this;
  }

  /** The device of the first parameter (or buffer); 'cpu' for a module with neither. */
  get device(): Device {
    const first = this.stateDict().values().next();
    return (first.done ? 'cpu' : first.value.device) as Device;
  }

  /** Free every parameter and buffer of this module tree. */
  dispose(): void {
    for (const [, t] of this.stateDict()) t.dispose();
  }
}
