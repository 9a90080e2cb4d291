#!/usr/bin/env python3
"""PyTorch reference models for CLAN, written from the spec (/work/shared/docs/docs/method.md §1).

Module names follow the official `RoyalVane/CLAN:model/CLAN_G.py` and `model/CLAN_D.py`, so state_dict keys
match the official checkpoints (docs/method.md §1.1, §1.2, §1.4):

    G: conv1, bn1, layer1..layer4 (Bottleneck blocks: conv1 bn1 conv2 bn2 conv3 bn3 downsample.{0,1}),
       layer5 / layer6 (Classifier_Module: conv2d_list.{0..3})
    D: conv1, conv2, conv3, conv4, classifier

Run directly to write test/fixtures/clan/official_keys.json (full ResNet-101 G and D, 19 classes):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_model.py
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'clan')

ASPP_DILATIONS = (6, 12, 18, 24)  # docs/method.md §1.2


def _frozen_bn(channels):
    """BN with affine=True whose weight and bias never train (docs/method.md §1.1 "BatchNorm")."""
    bn = nn.BatchNorm2d(channels, affine=True)
    for p in bn.parameters():
        p.requires_grad = False
    return bn


class Bottleneck(nn.Module):
    """Caffe-style bottleneck: the stride sits on the first 1×1 conv (docs/method.md §1.1)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = _frozen_bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = _frozen_bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = _frozen_bn(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class BasicBlock(nn.Module):
    """ResNet-18/34 basic block, not in the official repo: conv3×3(stride) BN ReLU conv3×3 BN + residual.

    Used only by the `resnet18` bench backbone. Inside a dilated stage both 3×3 convs use dilation d,
    padding d (the same per-stage rule as the official Bottleneck's conv2)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = _frozen_bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = _frozen_bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Classifier_Module(nn.Module):
    """DeepLab-v2 ASPP head: four 3×3 convs (dilation = padding ∈ {6,12,18,24}, bias), outputs SUMMED over
    all four branches (docs/method.md §1.2; AdaptSegNet's early-return bug is not reproduced)."""

    def __init__(self, inplanes, num_classes, dilations=ASPP_DILATIONS):
        super().__init__()
        self.conv2d_list = nn.ModuleList(
            nn.Conv2d(inplanes, num_classes, 3, stride=1, padding=d, dilation=d, bias=True) for d in dilations)
        for m in self.conv2d_list:
            m.weight.data.normal_(0, 0.01)  # biases keep PyTorch's default init (§1.2)

    def forward(self, x):
        out = self.conv2d_list[0](x)
        for conv in self.conv2d_list[1:]:
            out = out + conv(x)
        return out


class ResNet(nn.Module):
    """DeepLab-v2 ResNet generator G (docs/method.md §1.1-§1.3), output stride 8.

    block_counts: blocks per stage ([3,4,23,3] = ResNet-101). base_width: stem channels and layer1 planes
    (64 official; stage planes are w, 2w, 4w, 8w). forward returns (x1, x2) = (layer5(f), layer6(f))."""

    def __init__(self, block=Bottleneck, block_counts=(3, 4, 23, 3), num_classes=19, base_width=64):
        super().__init__()
        w = base_width
        self.inplanes = w
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = _frozen_bn(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)  # ceil_mode=True (§1.1 stem)
        self.layer1 = self._make_layer(block, w, block_counts[0])
        self.layer2 = self._make_layer(block, 2 * w, block_counts[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * w, block_counts[2], stride=1, dilation=2)
        self.layer4 = self._make_layer(block, 8 * w, block_counts[3], stride=1, dilation=4)
        feat = 8 * w * block.expansion  # 2048 for ResNet-101
        self.layer5 = Classifier_Module(feat, num_classes)  # C1
        self.layer6 = Classifier_Module(feat, num_classes)  # C2 (same layer4 input, §1.2)
        # §1.1 "Initialisation": every conv N(0, 0.01), BN weight 1 bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0, 0.01)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, block, planes, blocks, stride=1, dilation=1):
        downsample = None
        # §1.1 "Downsample branch": stride≠1, channel change, or dilation ∈ {2, 4}.
        if stride != 1 or self.inplanes != planes * block.expansion or dilation in (2, 4):
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                _frozen_bn(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, dilation=dilation, downsample=downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, dilation=dilation))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.layer5(x), self.layer6(x)  # raw logits at 1/8 resolution (§1.2)

    def backbone_parameters(self):
        """Trainable backbone params (convs; BN frozen) in named_parameters order: the 1× lr group (§3)."""
        return [p for n, p in self.named_parameters()
                if p.requires_grad and not n.startswith(('layer5.', 'layer6.'))]

    def head_parameters(self):
        """layer5 params then layer6 params: the 10× lr group (§3)."""
        return list(self.layer5.parameters()) + list(self.layer6.parameters())


class FCDiscriminator(nn.Module):
    """docs/method.md §1.4: five 4×4 stride-2 pad-1 convs with bias, C→ndf→2ndf→4ndf→8ndf→1,
    LeakyReLU(0.2) after the first four; output is a logit map at 1/32 (upsampling happens outside)."""

    def __init__(self, num_classes, ndf=64):
        super().__init__()
        self.conv1 = nn.Conv2d(num_classes, ndf, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(ndf, ndf * 2, 4, stride=2, padding=1)
        self.conv3 = nn.Conv2d(ndf * 2, ndf * 4, 4, stride=2, padding=1)
        self.conv4 = nn.Conv2d(ndf * 4, ndf * 8, 4, stride=2, padding=1)
        self.classifier = nn.Conv2d(ndf * 8, 1, 4, stride=2, padding=1)
        self.leaky_relu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        x = self.leaky_relu(self.conv1(x))
        x = self.leaky_relu(self.conv2(x))
        x = self.leaky_relu(self.conv3(x))
        x = self.leaky_relu(self.conv4(x))
        return self.classifier(x)


# Backbones by name: (block, block_counts, base_width). `tiny` matches the TS `tiny`.
BACKBONES = {
    'resnet101': (Bottleneck, (3, 4, 23, 3), 64),
    'resnet50': (Bottleneck, (3, 4, 6, 3), 64),
    'resnet18': (BasicBlock, (2, 2, 2, 2), 64),
    'tiny': (Bottleneck, (1, 1, 1, 1), 8),
}


def build_generator(backbone='resnet101', num_classes=19):
    block, counts, width = BACKBONES[backbone]
    return ResNet(block, counts, num_classes=num_classes, base_width=width)


def write_official_keys(path=None):
    """Names and shapes of the full official G (ResNet-101, 19 classes) and D (19 classes, ndf 64) state_dicts,
    in state_dict order, as {"G": [[name, shape], ...], "D": [...]}."""
    path = path or os.path.join(FIXTURES, 'official_keys.json')
    g = build_generator('resnet101', 19)
    d = FCDiscriminator(19, ndf=64)
    out = {k: [[n, list(t.shape)] for n, t in m.state_dict().items()] for k, m in (('G', g), ('D', d))}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('{\n')
        for j, k in enumerate(('G', 'D')):
            rows = ',\n'.join('    ' + json.dumps(r) for r in out[k])
            f.write(f' "{k}": [\n{rows}\n ]' + (',\n' if j == 0 else '\n'))
        f.write('}\n')
    return out


if __name__ == '__main__':
    torch.set_num_threads(1)
    keys = write_official_keys()
    g_params = sum(torch.Size(s).numel() for n, s in keys['G'] if not n.endswith('num_batches_tracked'))
    print(f"official_keys.json: G {len(keys['G'])} entries ({g_params} values), D {len(keys['D'])} entries",
          file=sys.stderr)
