"""Reference values for AdamW (src/torch/optim.test.ts), made with torch.optim.AdamW.

Run: ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/adamw_reference.py
Writes test/fixtures/engine/adamw.json: DAFormer's group layout on small tensors — a backbone group (lr, decay 0.5: large, so the decoupled decay shows),
a head group at 10x lr, and a norm group without decay (paramwise_cfg decay_mult 0) — six steps with an lr change
before step 4, the weights after each step and the optimizer state at the end. Inputs are stored with the outputs.
"""
import json
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'engine')


def enc(t):
    t = t.detach()
    return {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', ''), 'data': t.flatten().tolist()}


def main():
    torch.manual_seed(2)
    names = ('w1', 'w2', 'w3', 'w4')
    w = {'w1': torch.randn(3, 4), 'w2': torch.randn(5), 'w3': torch.randn(2, 2), 'w4': torch.randn(6)}
    init = {k: enc(v) for k, v in w.items()}
    for v in w.values():
        v.requires_grad_(True)
    # Large learning rates so that the decoupled decay moves the weights well above float32 rounding.
    opt = torch.optim.AdamW([{'params': [w['w1'], w['w3']], 'lr': 0.01},
                             {'params': [w['w2']], 'lr': 0.1},
                             {'params': [w['w4']], 'lr': 0.01, 'weight_decay': 0.0}],
                            lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)
    steps = []
    for s in range(6):
        if s == 3:
            for i, g in enumerate(opt.param_groups):
                g['lr'] = g['lr'] * 0.5 * (i + 1)
        grads = {k: torch.randn(v.shape) for k, v in w.items()}
        for k in names:
            w[k].grad = grads[k].clone()
        opt.step()
        steps.append({'lrs': [g['lr'] for g in opt.param_groups], 'grads': {k: enc(v) for k, v in grads.items()},
                      'after': {k: enc(w[k]) for k in names}})
    state = {k: {n: (enc(v) if torch.is_tensor(v) and v.numel() > 1 else float(v)) for n, v in opt.state[w[k]].items()}
             for k in names}
    with open(os.path.join(OUT, 'adamw.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'adamw': {'init': init, 'steps': steps, 'state': state}}, f)
    print('wrote', os.path.join(OUT, 'adamw.json'), file=sys.stderr)


if __name__ == '__main__':
    main()
