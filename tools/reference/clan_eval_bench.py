#!/usr/bin/env python3
"""Times CLAN inference per image as the evaluation does it (docs/method.md §5.3), for comparison with the TS
evaluator.

    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_eval_bench.py BACKBONE H W THREADS WARMUP ITERS [DEVICE]
        [--label HxW] [--amp off|bf16|fp16] [--cudnn-benchmark 0|1]

One image: G (build_generator(BACKBONE, 19), random init, eval mode) under torch.no_grad() on a [1,3,H,W] random
input already on DEVICE; both heads' logits upsampled (bilinear, align_corners=True) to the label size, summed,
argmax over the classes → uint8, then the prediction copied to the CPU. WARMUP untimed images, then ITERS timed
ones (cuda synchronised around each). DEVICE defaults to cpu.

Flags (after the positionals):
    --label HxW          label size the logits are upsampled to (default 2H×2W, e.g. 512×1024 → 1024×2048)
    --amp off|bf16|fp16  the whole image (forward, upsampling, sum, argmax) under torch.autocast(device, dtype)
    --cudnn-benchmark 0|1  torch.backends.cudnn.benchmark (default 0)
    --pointwise-onednn 0|1  CPU 1×1 convolutions through oneDNN (clan_step_bench.pointwise_onednn), default 0

Prints one JSON line: {"ms": [...], "torch", "backbone", "H", "W", "label": [h, w], "threads", "warmup", "iters",
"device", "device_name", "amp", "cudnn_benchmark", "peak_mem_mb" (max_memory_allocated in MiB over the timed images, reset after the warm-up;
null on cpu), "images_per_s" (1000 / median ms)}.
"""
import contextlib
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import build_generator  # noqa: E402
from clan_parity import AMP_DTYPES  # noqa: E402
from clan_step_bench import bench_parser, peak_rss_mb, pointwise_onednn, size_arg  # noqa: E402


def parse_args(argv):
    ap = bench_parser('clan_eval_bench.py', __doc__)
    ap.add_argument('--label', type=size_arg, help='label size HxW (default 2H×2W)')
    return ap.parse_args(argv)


def predict(G, x, label_size, amp):
    """argmax of up(x1) + up(x2) at label_size → uint8 [h, w] on the CPU (§1.3, §5.3)."""
    ctx = contextlib.nullcontext() if amp == 'off' else torch.autocast(x.device.type, dtype=AMP_DTYPES[amp])
    with torch.no_grad(), ctx:
        x1, x2 = G(x)
        up = lambda t: F.interpolate(t, size=tuple(label_size), mode='bilinear', align_corners=True)  # noqa: E731
        pred = (up(x1) + up(x2)).argmax(1)[0].to(torch.uint8)
    return pred.cpu()


def main(argv):
    a = parse_args(argv)
    label = a.label or [2 * a.h, 2 * a.w]
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = bool(a.cudnn_benchmark)
    if a.pointwise_onednn:
        pointwise_onednn()
    torch.manual_seed(0)
    G = build_generator(a.backbone, 19).to(device).eval()
    x = torch.randn(1, 3, a.h, a.w, generator=torch.Generator().manual_seed(1234)).to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    ms, pred = [], None
    for k in range(a.warmup + a.iters):
        sync()
        t0 = time.perf_counter()
        pred = predict(G, x, label, a.amp)
        sync()
        if k >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1000)
        if k == a.warmup - 1 and device.type == 'cuda':
            # steady state: cuDNN's autotuner tries workspaces in the warm-up that no training step needs
            torch.cuda.reset_peak_memory_stats(device)
    assert pred is None or (list(pred.shape) == label and pred.dtype == torch.uint8)
    cuda = device.type == 'cuda'
    print(json.dumps({'ms': [round(v, 3) for v in ms], 'torch': torch.__version__, 'backbone': a.backbone,
                      'peak_rss_mb': peak_rss_mb(), 'pointwise_onednn': a.pointwise_onednn,
                      'H': a.h, 'W': a.w, 'label': label, 'threads': a.threads, 'warmup': a.warmup,
                      'iters': a.iters, 'device': str(device),
                      'device_name': torch.cuda.get_device_name(device) if cuda else None,
                      'amp': a.amp, 'cudnn_benchmark': a.cudnn_benchmark,
                      'peak_mem_mb': round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1) if cuda else None,
                      'images_per_s': round(1000 / statistics.median(ms), 3) if ms else None}))


if __name__ == '__main__':
    main(sys.argv[1:])
