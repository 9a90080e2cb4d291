#!/usr/bin/env python3
"""Times one full CLAN training iteration in PyTorch (docs/method.md §4), for comparison with `clan bench`.

    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_step_bench.py BACKBONE H W THREADS WARMUP ITERS [DEVICE]
        [--target HxW] [--amp off|bf16|fp16] [--cudnn-benchmark 0|1] [--tf32 0|1]

BACKBONE ∈ resnet101 | resnet50 | resnet18 | tiny (clan_model.BACKBONES). Batch 1 source (H×W) + 1 target,
19 classes, D ndf 64, random weights. The iteration index is i = 6000 with the official schedule
(max_iter 100000, warm-up/preheat 5000), so the lrs are non-zero and the weighted losses (§2.4-§2.6) run.
WARMUP untimed iterations, then ITERS timed ones. DEVICE defaults to cpu (Debian's torch has no CUDA).

Flags (after the positionals):
    --target HxW         target image size (default: the source H×W)
    --amp off|bf16|fp16  autocast of the forward+loss blocks (clan_parity.clan_step); fp16 adds a GradScaler
                         (torch 1.13's CPU autocast takes bf16 only)
    --cudnn-benchmark 0|1  torch.backends.cudnn.benchmark (default 0)
    --tf32 0|1           TF32 for cuDNN convs and CUDA matmuls, clan_parity.set_tf32 (default: PyTorch's own)
    --pointwise-onednn 0|1  CPU 1×1 convolutions through oneDNN as `clan bench --pointwise-onednn` does
                         (dilation 2 where libtorch then picks oneDNN; same math), default 0

Prints one JSON line: {"ms": [...], "torch", "backbone", "H", "W", "target": [Ht, Wt], "threads", "warmup",
"iters", "device", "device_name", "i", "amp", "cudnn_benchmark", "tf32", "peak_mem_mb", "peak_reserved_mb"}.
The peaks are torch.cuda.max_memory_allocated / max_memory_reserved in MiB over the timed iterations (reset after the warm-up)
(null on cpu).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import BACKBONES, FCDiscriminator, build_generator  # noqa: E402
from clan_parity import PARITY, build_optimizers, clan_step, make_grad_scaler, set_tf32  # noqa: E402

# Official hyper-parameters (docs/method.md §3); the parity-only keys of PARITY are overridden here.
BENCH = dict(PARITY, num_classes=19, ndf=64, batch=1, max_iter=100000, warmup=5000, preheat=5000,
             lr_G=2.5e-4, lr_D=1e-4)
ITERATION = 6000  # past warm-up and preheat


def size_arg(s):
    """'HxW' → [H, W]."""
    h, w = s.lower().split('x')
    return [int(h), int(w)]


def bench_parser(prog, doc):
    """The positionals BACKBONE H W THREADS WARMUP ITERS [DEVICE] and --amp/--cudnn-benchmark, shared by the benches."""
    ap = argparse.ArgumentParser(prog=prog, description=doc.split('\n')[0])
    ap.add_argument('backbone', choices=list(BACKBONES))
    for name in ('H', 'W', 'THREADS', 'WARMUP', 'ITERS'):
        ap.add_argument(name.lower(), metavar=name, type=int)
    ap.add_argument('device', nargs='?', default='cpu')
    ap.add_argument('--amp', choices=('off', 'bf16', 'fp16'), default='off')
    ap.add_argument('--cudnn-benchmark', type=int, choices=(0, 1), default=0)
    ap.add_argument('--pointwise-onednn', type=int, choices=(0, 1), default=0)
    return ap


def pointwise_onednn():
    """Every nn.Conv2d with a 1×1 kernel, stride 1, dilation 1 and groups 1 runs with dilation 2 on a CPU input of batch > 1 or
    over 20480 values: libtorch then takes oneDNN (forward and backward) instead of THNN; the sums are the same
    (src/torch/functional.ts setPointwiseOnednn)."""
    plain = torch.nn.Conv2d._conv_forward

    def conv_forward(self, x, weight, bias):
        if (self.kernel_size == (1, 1) and self.dilation == (1, 1) and self.stride == (1, 1) and self.groups == 1 and x.device.type == 'cpu'
                and (x.shape[0] > 1 or x.numel() > 20480)):
            return torch.nn.functional.conv2d(x, weight, bias, self.stride, self.padding, (2, 2), 1)
        return plain(self, x, weight, bias)
    torch.nn.Conv2d._conv_forward = conv_forward


def parse_args(argv):
    ap = bench_parser('clan_step_bench.py', __doc__)
    ap.add_argument('--target', type=size_arg, help='target image size HxW (default: source H×W)')
    ap.add_argument('--tf32', type=int, choices=(0, 1), default=None)
    return ap.parse_args(argv)


def peak_rss_mb():
    """The process's peak resident set (getrusage ru_maxrss, KiB on Linux) in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cuda_peaks(device):
    """(peak allocated, peak reserved) in MiB rounded to 0.1, or (None, None) off CUDA."""
    if device.type != 'cuda':
        return None, None
    return (round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1),
            round(torch.cuda.max_memory_reserved(device) / 2 ** 20, 1))


def main(argv):
    a = parse_args(argv)
    h, w = a.h, a.w
    ht, wt = a.target or [h, w]
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = bool(a.cudnn_benchmark)
    if a.pointwise_onednn:
        pointwise_onednn()
    if a.tf32 is not None:
        set_tf32(a.tf32)
    torch.manual_seed(0)
    cfg = BENCH
    G = build_generator(a.backbone, cfg['num_classes']).to(device)
    D = FCDiscriminator(cfg['num_classes'], ndf=cfg['ndf']).to(device)
    opt_g, opt_d = build_optimizers(G, D, cfg)
    scaler = make_grad_scaler(device.type) if a.amp == 'fp16' else None
    g = torch.Generator().manual_seed(cfg['input_seed'])
    xs = torch.randn(1, 3, h, w, generator=g).to(device)
    ys = torch.randint(0, cfg['num_classes'], (1, h, w), generator=g)
    ys[torch.rand(1, h, w, generator=g) < cfg['ignore_fraction']] = cfg['ignore_label']
    ys = ys.to(device)
    xt = torch.randn(1, 3, ht, wt, generator=g).to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    ms = []
    for k in range(a.warmup + a.iters):
        sync()
        t0 = time.perf_counter()
        clan_step(G, D, opt_g, opt_d, ITERATION, xs, ys, xt, cfg, amp=a.amp, scaler=scaler)  # .item() syncs too
        sync()
        if k >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1000)
        if k == a.warmup - 1 and device.type == 'cuda':
            # steady state: cuDNN's autotuner tries workspaces in the warm-up that no training step needs
            torch.cuda.reset_peak_memory_stats(device)
    peak, reserved = cuda_peaks(device)
    print(json.dumps({'peak_rss_mb': peak_rss_mb(), 'pointwise_onednn': a.pointwise_onednn, 'ms': [round(v, 3) for v in ms], 'torch': torch.__version__, 'backbone': a.backbone,
                      'H': h, 'W': w, 'target': [ht, wt], 'threads': a.threads, 'warmup': a.warmup,
                      'iters': a.iters, 'device': str(device),
                      'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
                      'i': ITERATION, 'amp': a.amp, 'cudnn_benchmark': a.cudnn_benchmark, 'tf32': a.tf32,
                      'peak_mem_mb': peak, 'peak_reserved_mb': reserved}))


if __name__ == '__main__':
    main(sys.argv[1:])
