"""Reference outputs for the transformer ops (src/torch/nn/dense.test.ts), made with PyTorch.

Run: ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/mit_ops.py
Writes test/fixtures/mit/ops.json: per case the inputs, the output, a fixed random upstream gradient w and the
gradients of sum(out * w) w.r.t. the listed inputs, so the TypeScript test feeds exactly the same numbers.
Shapes are asymmetric so swapped dims cannot pass. The random cases (dropout, dropout2d, drop path) store the
seed: torch.manual_seed(seed) right before the op, the same generator libtorch gives the addon, so the masks match.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'mit')


def enc(t):
    t = t.detach()
    return {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', ''), 'data': t.flatten().tolist()}


def r(*shape):
    return torch.randn(*shape)


cases = {}


def case(name, inputs, fn, grad_of=(), seed=None):
    """fn(**inputs) -> tensor; with seed, torch.manual_seed(seed) just before fn (random ops)."""
    ins = {k: v.clone().requires_grad_(k in grad_of) for k, v in inputs.items()}
    state = torch.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    out = fn(**ins)
    torch.set_rng_state(state)  # the draws of later cases do not depend on this one's
    entry = {'inputs': {k: enc(v) for k, v in inputs.items()}, 'output': enc(out)}
    if seed is not None:
        entry['seed'] = seed
    if grad_of:
        w = torch.randn_like(out)
        (out * w).sum().backward()
        entry['upstream'] = enc(w)
        entry['grads'] = {k: enc(ins[k].grad) for k in grad_of}
    cases[name] = entry


def attention(q, k, v):
    """MiT's attention core: softmax(q·kᵀ·d^-1/2) over the keys, then ·v. q [B, h, N, d], k, v [B, h, M, d]."""
    return ((q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)).softmax(dim=-1) @ v


def drop_path(x, p, training=True):
    """timm 0.3.2's drop_path (what mix_transformer.py imports)."""
    if p == 0.0 or not training:
        return x
    keep = 1 - p
    mask = keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    mask.floor_()
    return x.div(keep) * mask


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    case('linear_3d', {'x': r(2, 5, 7), 'w': r(4, 7), 'b': r(4)}, lambda x, w, b: F.linear(x, w, b), ('x', 'w', 'b'))
    case('linear_nobias', {'x': r(3, 6), 'w': r(5, 6)}, lambda x, w: F.linear(x, w), ('x', 'w'))
    ln = r(2, 5, 6) * 3 + 1
    case('layer_norm_eps1e-6', {'x': ln, 'w': r(6), 'b': r(6)},
         lambda x, w, b: F.layer_norm(x, (6,), w, b, eps=1e-6), ('x', 'w', 'b'))
    case('layer_norm_2dims', {'x': r(2, 3, 4) * 2, 'w': r(3, 4), 'b': r(3, 4)},
         lambda x, w, b: F.layer_norm(x, (3, 4), w, b), ('x', 'w', 'b'))
    case('gelu', {'x': r(3, 7) * 3}, lambda x: F.gelu(x), ('x',))
    case('conv2d_depthwise', {'x': r(2, 6, 7, 5), 'w': r(6, 1, 3, 3), 'b': r(6)},
         lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=6), ('x', 'w', 'b'))
    case('conv2d_depthwise_dil2', {'x': r(1, 4, 9, 8), 'w': r(4, 1, 3, 3)},
         lambda x, w: F.conv2d(x, w, None, padding=2, dilation=2, groups=4), ('x', 'w'))
    case('conv2d_sr_k4s4', {'x': r(1, 3, 8, 12), 'w': r(5, 3, 4, 4), 'b': r(5)},
         lambda x, w, b: F.conv2d(x, w, b, stride=4), ('x', 'w', 'b'))
    case('attention', {'q': r(2, 3, 5, 4), 'k': r(2, 3, 6, 4), 'v': r(2, 3, 6, 4)}, attention, ('q', 'k', 'v'))
    case('softmax_last', {'x': r(2, 3, 5) * 2}, lambda x: x.softmax(dim=-1), ('x',))
    case('dropout_p03', {'x': r(4, 50)}, lambda x: F.dropout(x, 0.3, training=True), ('x',), seed=11)
    case('dropout2d_p01', {'x': r(3, 40, 2, 3)}, lambda x: F.dropout2d(x, 0.1, training=True), ('x',), seed=12)
    case('drop_path_p04', {'x': r(16, 5, 3)}, lambda x: drop_path(x, 0.4), ('x',), seed=13)
    with open(os.path.join(OUT, 'ops.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f)
    print('wrote', os.path.join(OUT, 'ops.json'), os.path.getsize(os.path.join(OUT, 'ops.json')), 'bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
