#!/usr/bin/env python3
"""Times one full CLAN training iteration in PyTorch (clan-reference.md §4), for comparison with `clan bench`.

    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_step_bench.py BACKBONE H W THREADS WARMUP ITERS [DEVICE]

BACKBONE ∈ resnet101 | resnet50 | resnet18 | tiny (clan_model.BACKBONES). Batch 1 source + 1 target, both
H×W, 19 classes, D ndf 64, random weights. The iteration index is i = 6000 with the official schedule
(max_iter 100000, warm-up/preheat 5000), so the lrs are non-zero and the weighted losses (§2.4-§2.6) run.
WARMUP untimed iterations, then ITERS timed ones. DEVICE defaults to cpu (Debian's torch has no CUDA).
Prints one JSON line: {"ms": [...], "torch": ..., "backbone": ..., ...}.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import BACKBONES, FCDiscriminator, build_generator  # noqa: E402
from clan_parity import PARITY, build_optimizers, clan_step  # noqa: E402

# Official hyper-parameters (clan-reference.md §3); the parity-only keys of PARITY are overridden here.
BENCH = dict(PARITY, num_classes=19, ndf=64, batch=1, max_iter=100000, warmup=5000, preheat=5000,
             lr_G=2.5e-4, lr_D=1e-4)
ITERATION = 6000  # past warm-up and preheat


def main(argv):
    if len(argv) not in (6, 7) or argv[0] not in BACKBONES:
        sys.exit(f'usage: clan_step_bench.py BACKBONE({"|".join(BACKBONES)}) H W THREADS WARMUP ITERS [DEVICE]')
    backbone, h, w, threads, warmup, iters = argv[0], *map(int, argv[1:6])
    device = torch.device(argv[6] if len(argv) == 7 else 'cpu')
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = BENCH
    G = build_generator(backbone, cfg['num_classes']).to(device)
    D = FCDiscriminator(cfg['num_classes'], ndf=cfg['ndf']).to(device)
    opt_g, opt_d = build_optimizers(G, D, cfg)
    g = torch.Generator().manual_seed(cfg['input_seed'])
    xs = torch.randn(1, 3, h, w, generator=g).to(device)
    ys = torch.randint(0, cfg['num_classes'], (1, h, w), generator=g)
    ys[torch.rand(1, h, w, generator=g) < cfg['ignore_fraction']] = cfg['ignore_label']
    ys = ys.to(device)
    xt = torch.randn(1, 3, h, w, generator=g).to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    ms = []
    for k in range(warmup + iters):
        sync()
        t0 = time.perf_counter()
        clan_step(G, D, opt_g, opt_d, ITERATION, xs, ys, xt, cfg)  # .item() calls also synchronise
        sync()
        if k >= warmup:
            ms.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'ms': [round(v, 3) for v in ms], 'torch': torch.__version__, 'backbone': backbone,
                      'H': h, 'W': w, 'threads': threads, 'warmup': warmup, 'iters': iters,
                      'device': str(device), 'i': ITERATION}))


if __name__ == '__main__':
    main(sys.argv[1:])
