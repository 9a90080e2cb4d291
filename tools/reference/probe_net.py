"""PyTorch twin of bench/probe-net.ts, timed by `clan bench engine` for the ours/theirs ratio.

Usage: probe_net.py H W THREADS WARMUP STEPS  → prints one JSON line {"ms": [per-step ms…], "torch": "…"}
"""
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

H, W, THREADS, WARMUP, STEPS = (int(a) for a in sys.argv[1:6])
torch.set_num_threads(THREADS)
torch.manual_seed(0)
SPEC = [(3, 32, 2, 1), (32, 32, 1, 1), (32, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 128, 1, 1), (128, 128, 1, 2)]
layers = []
for i, o, s, d in SPEC:
    layers += [nn.Conv2d(i, o, 3, stride=s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
body = nn.Sequential(*layers)
head = nn.Conv2d(128, 8, 1)
params = list(body.parameters()) + list(head.parameters())
opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
x = torch.randn(1, 3, H, W)
y = torch.randint(0, 8, (1, H, W))
times = []
for step in range(WARMUP + STEPS):
    t0 = time.perf_counter()
    opt.zero_grad()
    out = F.interpolate(head(body(x)), size=(H, W), mode='bilinear', align_corners=True)
    loss = F.cross_entropy(out, y, ignore_index=255)
    loss.backward()
    opt.step()
    loss.item()
    if step >= WARMUP:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'ms': times, 'torch': torch.__version__}))
