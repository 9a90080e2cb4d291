#!/usr/bin/env python3
"""How well-conditioned the CLAN parity iterations are (clan_parity.py's PARITY config): runs the three steps
twice in PyTorch, once on inputs multiplied by (1 + EPS·N(0,1)), and prints per step the worst relative change of
the weight deltas and SGD momenta. EPS at float32 rounding level (3e-8) is what another summation order (another
libtorch version, a GPU kernel) amounts to; the answer bounds what any parity tolerance can ask.

    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/parity_sensitivity.py [EPS ...]

Measured with PyTorch 1.13 on the CPU (EPS 3e-8): step 1 4.7e-4, step 2 3.9e-4, step 3 3.6e-2 (layer1.0.conv1
momentum); EPS 1e-6: 5.4e-3, 8.1e-3, 3.9e-1. Step 3 is the first with CLAN's weighting on, at lr ×100.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clan_parity as cp  # noqa: E402


def main(eps_list):
    torch.set_num_threads(1)
    cfg = cp.PARITY
    G, D = cp.build_models(cfg)
    init, inputs = cp.init_state(G, D), cp.make_inputs(cfg)
    _, snaps = cp.run(cfg, init, inputs)
    for eps in eps_list:
        g = torch.Generator().manual_seed(5)
        noisy = {k: v * (1 + eps * torch.randn(v.shape, generator=g)) if v.is_floating_point() else v for k, v in inputs.items()}
        _, snaps2 = cp.run(cfg, init, noisy)
        for k, (a, b) in enumerate(zip(snaps, snaps2), 1):
            rel, name = max(((a[n] - b[n]).norm().item() / max(a[n].norm().item(), 1e-30), n) for n in a if n.startswith(('delta.', 'sgd.')))
            print(f'eps {eps:g} step {k}: worst relative change {rel:.2e} ({name})')


if __name__ == '__main__':
    main([float(e) for e in sys.argv[1:]] or [3e-8, 1e-6])
