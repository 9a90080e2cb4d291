#!/usr/bin/env python3
"""PyTorch twin of our `vgg16` backbone (src/models/vgg.ts) and its fixtures in test/fixtures/vgg/.

The twin is AdaptSegNet's model/deeplab_vgg.py (docs/method.md §1.6) built the same way — torchvision's VGG-16
`features`, pool4 and pool5 dropped by index, conv5_1..conv5_3 set to dilation 2 / padding 2, fc6/fc7 appended
as 3x3 convs with dilation 4 — with CLAN's two ASPP heads layer5/layer6 (all four branches summed, §1.2) on fc7
instead of deeplab_vgg.py's single `classifier`. torchvision is not installed here, so its VGG-16 is written out
below from torchvision/models/vgg.py (cfg 'D'), with the same module names.

Run from the repo root (Debian python3-torch 1.13; about 10 s):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/vgg_parity.py

Writes:
  parity.safetensors      'x1', 'x2' [1, 19, 8, 12]: both heads' logits for a 1x3x65x97 input (odd sizes: the
                          2x2 floor pools give 32x48, 16x24, 8x12). Weights and input are NOT stored (121 MB):
                          both sides draw them from hash_uniform() below, an integer hash that TypeScript
                          reproduces bit for bit (vgg.test.ts), so only the outputs are.
  expected.json           the twin's state-dict names and shapes (= ours, in order), its parameter count, the
                          float64 sum of every drawn tensor (to tell a drawing difference from a network one),
                          torchvision key -> our key as deeplab_vgg.py's surgery moves the modules (found by
                          parameter identity, not written by hand), and the names and shapes of torchvision's
                          full VGG-16 state dict (vgg16-397923af.pth's layout).
  torchvision_vgg16.pth   a torchvision-layout VGG-16 state dict for `clan convert --from torchvision-vgg16`,
                          legacy serialization like vgg16-397923af.pth: features.N at full shape, each weight a
                          stride-0 expand of one value per output channel (so the file is small), different in
                          every tensor; the Linear classifier.{0,3,6} under its real names but shrunk (it is
                          skipped by name; at full size it would be 494 MB). Legacy pickles name storages by
                          address, so its bytes change from run to run; its tensors do not.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import Classifier_Module  # noqa: E402
from clan_parity import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'vgg')
NUM_CLASSES = 19
INPUT_SHAPE = (1, 3, 65, 97)
INPUT_SALT = 1000
VGG16_CFG = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']  # cfg 'D'


# --- torchvision/models/vgg.py: make_layers(cfg 'D') and the VGG classifier, same names ----------------------
class TvVGG16(nn.Module):
    def __init__(self, fc_in=512 * 7 * 7, hidden=4096, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_CFG:
            if v == 'M':
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(fc_in, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(hidden, num_classes))


# --- AdaptSegNet model/deeplab_vgg.py (DeeplabVGG.__init__), with CLAN's two heads --------------------------
class DeeplabVGG2(nn.Module):
    def __init__(self, num_classes, vgg):
        super().__init__()
        features = list(vgg.features.children())
        features = nn.Sequential(*(features[i] for i in list(range(23)) + list(range(24, 30))))  # remove pool4/pool5
        for i in [23, 25, 27]:
            features[i].dilation = (2, 2)
            features[i].padding = (2, 2)
        fc6 = nn.Conv2d(512, 1024, kernel_size=3, padding=4, dilation=4)
        fc7 = nn.Conv2d(1024, 1024, kernel_size=3, padding=4, dilation=4)
        self.features = nn.Sequential(*([features[i] for i in range(len(features))]
                                        + [fc6, nn.ReLU(inplace=True), fc7, nn.ReLU(inplace=True)]))
        self.layer5 = Classifier_Module(1024, num_classes)  # C1 (docs/method.md §1.2)
        self.layer6 = Classifier_Module(1024, num_classes)  # C2

    def forward(self, x):
        f = self.features(x)
        return self.layer5(f), self.layer6(f)


# --- the deterministic draw, mirrored in src/models/vgg.test.ts ---------------------------------------------
M32 = 0xFFFFFFFF


def hash_uniform(n, salt, bound):
    """U(-bound, bound)-like float32 values from a 32-bit integer hash of (index, salt): lowbias32 over
    i*0x9E3779B1 + (salt+1)*0x85EBCA77 (mod 2^32). Every step is exact in uint64 here and in Math.imul/>>> in
    JavaScript, and (h/2^32*2 - 1)*bound rounds once in float64 and once to float32 on both sides."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(0x9E3779B1) + np.uint64(((salt + 1) * 0x85EBCA77) & M32)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & np.uint64(M32)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & np.uint64(M32)
    h ^= h >> np.uint64(16)
    return ((h.astype(np.float64) / 4294967296.0 * 2.0 - 1.0) * bound).astype(np.float32)


def bound_of(name, shape):
    """He-uniform for the trunk (activations keep their scale through 15 ReLU convs), 1/2 of it for the heads,
    0.1 for biases."""
    if name.endswith('.bias'):
        return 0.1
    fan_in = shape[1] * shape[2] * shape[3]
    return (3.0 if name.startswith(('layer5.', 'layer6.')) else 6.0) ** 0.5 / fan_in ** 0.5


def draw(model):
    """Overwrites every parameter with hash_uniform(numel, position in the state dict, bound_of)."""
    sums = {}
    with torch.no_grad():
        for salt, (name, t) in enumerate(model.state_dict().items()):
            v = hash_uniform(t.numel(), salt, bound_of(name, list(t.shape)))
            t.copy_(torch.from_numpy(v).reshape(t.shape))
            sums[name] = float(v.astype(np.float64).sum())
    return sums


def torchvision_to_ours(tv, g):
    """The key each torchvision tensor has after deeplab_vgg.py's surgery: same Parameter objects."""
    where = {id(p): n for n, p in g.named_parameters()}
    return {n: where[id(p)] for n, p in tv.features.named_parameters(prefix='features')}


def fake_torchvision_file(path):
    """torchvision layout (see the module docstring): full-shape features, shrunk classifier, legacy format."""
    tv = TvVGG16(fc_in=32, hidden=16, num_classes=10)
    gen = torch.Generator().manual_seed(17)
    sd = {}
    for k, (name, t) in enumerate(tv.state_dict().items()):
        if name.startswith('features.') and name.endswith('.weight'):
            per_out = (torch.randn(t.shape[0], generator=gen) * 0.01 + 0.1 * k).reshape(-1, 1, 1, 1)
            sd[name] = per_out.expand(t.shape)
        else:
            sd[name] = torch.randn(t.shape, generator=gen) * 0.1 + 0.1 * k
    tv.load_state_dict(sd, strict=True)  # names and shapes are torchvision's
    torch.save(sd, path, _use_new_zipfile_serialization=False)


def write_json(path, obj):
    """One line per top-level field, per row of a list, per entry of a dict (readable diffs)."""
    def field(v):
        if isinstance(v, list) and v and isinstance(v[0], list):
            return '[\n' + ',\n'.join(f'  {json.dumps(r)}' for r in v) + '\n ]'
        if isinstance(v, dict) and len(v) > 1 and not any(isinstance(x, str) for x in v.values()):
            return '{\n' + ',\n'.join(f'  {json.dumps(k)}: {json.dumps(x)}' for k, x in v.items()) + '\n }'
        return json.dumps(v)
    with open(path, 'w') as f:
        f.write('{\n' + ',\n'.join(f' {json.dumps(k)}: {field(v)}' for k, v in obj.items()) + '\n}\n')


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    tv = TvVGG16(hidden=16, num_classes=10)  # the classifier is not part of the twin: keep it small
    g = DeeplabVGG2(NUM_CLASSES, tv).eval()
    mapping = torchvision_to_ours(tv, g)
    sums = draw(g)
    x = torch.from_numpy(hash_uniform(int(np.prod(INPUT_SHAPE)), INPUT_SALT, 1.0)).reshape(INPUT_SHAPE)
    with torch.no_grad():
        x1, x2 = g(x)
        feat = g.features(x)
    params = sum(p.numel() for p in g.parameters())
    write_safetensors(os.path.join(OUT, 'parity.safetensors'), {'x1': x1, 'x2': x2},
                      {'input_shape': list(INPUT_SHAPE), 'input_salt': INPUT_SALT, 'torch': torch.__version__})
    expected = {
        'num_classes': NUM_CLASSES, 'input_shape': list(INPUT_SHAPE), 'input_salt': INPUT_SALT,
        'input_sum': float(x.double().sum()), 'feature_shape': list(feat.shape), 'parameters': params,
        'state_dict': [[n, list(t.shape)] for n, t in g.state_dict().items()],
        'sums': sums, 'torchvision_to_ours': mapping,
        'torchvision_state_dict': [[n, list(t.shape)] for n, t in TvVGG16().state_dict().items()],
    }
    write_json(os.path.join(OUT, 'expected.json'), expected)
    fake_torchvision_file(os.path.join(OUT, 'torchvision_vgg16.pth'))
    for name in sorted(os.listdir(OUT)):
        print(f'{name:26s} {os.path.getsize(os.path.join(OUT, name)):8d} bytes', file=sys.stderr)
    print(f'parameters {params}; features {list(feat.shape)}; '
          f'max |x1| {x1.abs().max():.4g}, max |x2| {x2.abs().max():.4g}', file=sys.stderr)


if __name__ == '__main__':
    main()
