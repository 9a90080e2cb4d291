#!/usr/bin/env python3
"""Writes test/fixtures/official/: small checkpoints laid out like the files users bring to `clan convert`
(src/io/official.ts, src/cli/convert.ts), plus the PyTorch forward output they must reproduce.

Run from the repo root with an interpreter that has torch (Debian python3-torch 1.13):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/make_official_fixtures.py

Every network is the REDUCED config that the TS registry calls `micro` (Bottleneck, blocks [1,1,1,1],
base width 4, 128 channels into the heads). All three G files hold the SAME backbone tensors (one seeded
draw), so the three mappings can be cross-checked against each other and git stores the bytes about once.

  deeplab_init_legacy.pth  DeepLab-v2 init layout (DeepLab_resnet_pretrained_init-f81d91e8.pth): keys
                           'Scale.<name>', a 21-class (VOC) layer5, no layer6, no num_batches_tracked
                           (pre-0.4.1 torch), legacy serialization (_use_new_zipfile_serialization=False).
                           layer5's weights are stride-0 expands of a 21-element storage: the head is
                           skipped for 19 classes (docs/method.md §1.1), and 4x21x128x9 real floats
                           would cost 387 KB.
  clan_G_module.pth        a CLAN G snapshot (GTA5_<iter>.pth, model.state_dict() of CLAN_G) saved from
                           nn.DataParallel, so every key is 'module.<name>'; 2 classes (19 would be 700 KB of
                           heads); zip serialization.
  clan_D.pth               a CLAN D snapshot (GTA5_<iter>_D.pth): FCDiscriminator(2 classes, ndf 2), zip.
  torchvision_resnet.pth   torchvision ResNet layout (stride on conv2, no dilation, fc with 10 outputs),
                           keys checked by a strict load into a torchvision-faithful module; zip.
  forward.safetensors      'input' [1,3,33,33] and the eval-mode outputs 'x1', 'x2' of the CLAN G above.
  torchvision_keys.json    state_dict names and shapes of torchvision resnet101 and resnet18 (fc 1000),
                           from the torchvision-faithful classes below (torchvision is not installed here).
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import BasicBlock, Bottleneck, FCDiscriminator, ResNet  # noqa: E402
from clan_parity import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'official')

BLOCKS = (1, 1, 1, 1)   # TS registry 'micro'
WIDTH = 4               # stem channels / layer1 planes of 'micro'
CLAN_CLASSES = 2        # heads of the CLAN snapshot
INIT_CLASSES = 21       # the DeepLab init's layer5 (VOC)
NDF = 2                 # discriminator width of the D snapshot
TV_FC = 10              # outputs of the torchvision fc (1000 in real files)
INPUT_SHAPE = (1, 3, 33, 33)


# --- torchvision's ResNet, written from torchvision/models/resnet.py (v0.13): same module names, the stride
# --- on the 3x3 conv (conv2) of a Bottleneck, no dilation, downsample when stride != 1 or channels change.
class TvBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample


class TvBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample


class TvResNet(nn.Module):
    def __init__(self, block, layers, width=64, num_classes=1000):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def randomize(model, gen):
    """Trained-looking values, so a swapped or mis-scaled tensor changes the output: He-normal convs, heads at
    1/sqrt(fan_in), small biases, BN affine and running statistics away from their defaults."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                head = 'layer5' in name or 'layer6' in name
                std = math.sqrt((1.0 if head else 2.0) / fan_in)
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(1234)


def is_backbone(name):
    return not name.startswith(('layer5.', 'layer6.'))


def keys_and_shapes(module):
    return [[n, list(t.shape)] for n, t in module.state_dict().items()]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)

    # One backbone draw shared by every G file; the CLAN heads are drawn after it.
    G = ResNet(Bottleneck, BLOCKS, num_classes=CLAN_CLASSES, base_width=WIDTH)
    randomize(G, torch.Generator().manual_seed(0))
    G.eval()
    backbone = {n: t.clone() for n, t in G.state_dict().items() if is_backbone(n)}

    # (b) CLAN G snapshot saved through nn.DataParallel: 'module.' on every key, zip format.
    torch.save({f'module.{n}': t for n, t in G.state_dict().items()}, os.path.join(OUT, 'clan_G_module.pth'))
    x = torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x1, x2 = G(x)
    write_safetensors(os.path.join(OUT, 'forward.safetensors'), {'input': x, 'x1': x1, 'x2': x2},
                      {'mode': 'eval', 'classes': CLAN_CLASSES})

    # (a) DeepLab-v2 init layout: 'Scale.' prefix, 21-class layer5 (stride-0 weights), no layer6, no
    # num_batches_tracked, legacy serialization as 2018 files were written.
    gen = torch.Generator().manual_seed(2)
    init = {f'Scale.{n}': t for n, t in backbone.items() if not n.endswith('num_batches_tracked')}
    for i in range(4):
        w = torch.randn(INIT_CLASSES, 1, 1, 1, generator=gen) * 0.01
        init[f'Scale.layer5.conv2d_list.{i}.weight'] = w.expand(INIT_CLASSES, 8 * WIDTH * 4, 3, 3)
        init[f'Scale.layer5.conv2d_list.{i}.bias'] = torch.randn(INIT_CLASSES, generator=gen) * 0.1
    torch.save(init, os.path.join(OUT, 'deeplab_init_legacy.pth'), _use_new_zipfile_serialization=False)

    # (c) torchvision layout: the same backbone tensors plus fc; a strict load proves the names and shapes.
    tv = TvResNet(TvBottleneck, BLOCKS, width=WIDTH, num_classes=TV_FC)
    gen = torch.Generator().manual_seed(3)
    fc = {'fc.weight': torch.randn(TV_FC, 8 * WIDTH * 4, generator=gen) * 0.05,
          'fc.bias': torch.randn(TV_FC, generator=gen) * 0.1}
    tv.load_state_dict({**backbone, **fc}, strict=True)
    torch.save(tv.state_dict(), os.path.join(OUT, 'torchvision_resnet.pth'))

    # (d) CLAN D snapshot.
    D = FCDiscriminator(CLAN_CLASSES, ndf=NDF)
    randomize(D, torch.Generator().manual_seed(4))
    torch.save(D.state_dict(), os.path.join(OUT, 'clan_D.pth'))

    # Full-size torchvision key lists, to check every shape against our resnet101 / resnet18.
    tv_keys = {'resnet101': keys_and_shapes(TvResNet(TvBottleneck, (3, 4, 23, 3))),
               'resnet18': keys_and_shapes(TvResNet(TvBasicBlock, (2, 2, 2, 2)))}
    with open(os.path.join(OUT, 'torchvision_keys.json'), 'w') as f:
        f.write('{\n' + ',\n'.join(f' {json.dumps(k)}: [\n' + ',\n'.join('  ' + json.dumps(r) for r in rows) + '\n ]'
                                   for k, rows in tv_keys.items()) + '\n}\n')

    sizes = {f: os.path.getsize(os.path.join(OUT, f)) for f in sorted(os.listdir(OUT))}
    for f, s in sizes.items():
        print(f'{f:28s} {s:8d} bytes', file=sys.stderr)
    print(f'{"total":28s} {sum(sizes.values()):8d} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
