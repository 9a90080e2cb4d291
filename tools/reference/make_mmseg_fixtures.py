#!/usr/bin/env python3
"""Checkpoints in the official mmseg-era layouts, for src/io/mmseg.test.ts and src/infer/mmseg.test.ts (test/fixtures/mmseg/).

The networks are the twins of mit_parity.py / hrda_parity.py (module names as mmseg's mix_transformer.py,
DAFormer's daformer_head.py and HRDA's hrda_head.py), so the names, nesting and dtypes are the official ones:

  keys.json          full-size name/shape lists: SegFormer's mit_b5.pth (the MiT-b5 encoder plus its ImageNet
                     classifier head.weight [1000, 512] / head.bias), and the decode_head.* of DAFormer's and HRDA's
                     19-class segmentors (configs daformer_sepaspp_mitb5 and gtaHR2csHR_hrda).
  mit_tiny.pth       an ImageNet encoder file as SegFormer saves it (a bare OrderedDict state dict + head.*), tiny widths.
  daformer_tiny.pth  a DAFormer training checkpoint as mmcv's save_checkpoint writes it: {'meta': {mmseg_version,
                     config (the config's pretty_text), CLASSES, PALETTE, epoch, iter}, 'state_dict': model.*,
                     ema_model.*, imnet_model.* (DACS's three networks), 'optimizer': AdamW's state_dict}; its config
                     asks for slide inference so that the test can tell the config's set-up from the defaults.
  hrda_tiny.pth      the same for HRDA (HRDAEncoderDecoder: decode_head.head.*, decode_head.scale_attention.*), with
                     the official test set-up in its config text.
  mic_tiny.pth       the HRDA one as {'state_dict': model.*, ema_model.*} only, in torch's legacy (non-zip) format: no
                     meta, so the official set-up applies.
The parts hold different values (ema_model = model + 1, imnet_model = model + 2) so that the part taken is visible.
Tiny widths: MiT stages 4, 8, 8, 8 channels, one block each, reduction ratios 8, 4, 2, 1; decode heads 8 wide; 4 classes.

Run: ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/make_mmseg_fixtures.py
"""
import json
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mit_parity as mp  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'mmseg')
TINY = dict(embed_dims=[4, 8, 8, 8], num_heads=[1, 1, 1, 1], depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1], mlp_ratio=4)
K, WIDTH = 4, 8
CLASSES = ('road', 'sidewalk', 'building', 'wall')
PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156]]

DAFORMER_CONFIG = """norm_cfg = dict(type='BN', requires_grad=True)
find_unused_parameters = True
model = dict(
    type='EncoderDecoder',
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='DAFormerHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        decoder_params=dict(
            embed_dims=256,
            embed_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            embed_neck_cfg=dict(type='mlp', act_cfg=None, norm_cfg=None),
            fusion_cfg=dict(
                type='aspp',
                sep=True,
                dilations=(1, 6, 12, 18),
                pool=False,
                act_cfg=dict(type='ReLU'),
                norm_cfg=dict(type='BN', requires_grad=True))),
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes/'
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
crop_size = (512, 512)
gta_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', img_scale=(1280, 720)),
    dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(1024, 512),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img'])
        ])
]
"""

HRDA_CONFIG = """model = dict(
    type='HRDAEncoderDecoder',
    pretrained='pretrained/mit_b5.pth',
    backbone=dict(type='mit_b5', style='pytorch'),
    decode_head=dict(
        type='HRDAHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        single_scale_head='DAFormerHead',
        attention_classwise=True,
        hr_loss_weight=0.1),
    train_cfg=dict(
        work_dir='work_dirs/local-basic/220424_2305_gtaHR2csHR_hrda_s1_57e43'),
    test_cfg=dict(
        mode='slide',
        batched_slide=True,
        stride=[512, 512],
        crop_size=[1024, 1024]),
    scales=[1, 0.5],
    hr_crop_size=[512, 512],
    feature_scale=0.5,
    crop_coord_divisible=8,
    hr_slide_inference=True)
img_norm_cfg = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(2048, 1024),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=True),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img'])
        ])
]
"""


class HRDAHead(nn.Module):
    """hrda_head.py's parameters for DAFormer heads (its own conv_seg and dropout deleted), widths as given."""

    def __init__(self, in_channels, num_classes, width):
        super().__init__()
        self.head = mp.DAFormerHead(in_channels, num_classes, embed=width, channels=width)
        self.scale_attention = mp.DAFormerHead(in_channels, num_classes, embed=width, channels=width, fusion='conv')


class Segmentor(nn.Module):
    def __init__(self, cfg, head):
        super().__init__()
        self.backbone = mp.MiT(**cfg)
        self.decode_head = head


class UDA(nn.Module):
    """DACS's networks: model, ema_model, imnet_model (registered in that order)."""

    def __init__(self, make):
        super().__init__()
        self.model, self.ema_model, self.imnet_model = make(), make(), make()


def shapes(sd, prefix=''):
    return [[prefix + k, list(v.shape)] for k, v in sd.items()]


def keys_json():
    b5 = mp.MiT(**mp.SIZES['mit-b5'])
    imagenet = shapes(b5.state_dict()) + [['head.weight', [1000, 512]], ['head.bias', [1000]]]
    dims = mp.SIZES['mit-b5']['embed_dims']
    daformer = shapes(mp.DAFormerHead(dims, 19).state_dict(), 'decode_head.')
    hrda = shapes(HRDAHead(dims, 19, 256).state_dict(), 'decode_head.')
    return {'mit_b5': imagenet, 'daformer_head': daformer, 'hrda_head': hrda}


def uda(head_fn, seed):
    torch.manual_seed(seed)
    u = UDA(lambda: Segmentor(TINY, head_fn()))
    with torch.no_grad():
        for n, t in u.model.state_dict().items():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5) if n.endswith('running_var') else t.uniform_(-1, 1)
        for off, part in ((1.0, u.ema_model), (2.0, u.imnet_model)):
            for (n, t), (_, s) in zip(part.state_dict().items(), u.model.state_dict().items()):
                t.copy_(s + off if t.is_floating_point() else s)
    return u


def mmcv_checkpoint(model, config):
    """mmcv.runner.save_checkpoint: meta, the state dict (an OrderedDict with _metadata), the optimizer's state_dict."""
    state = OrderedDict((k, v.cpu()) for k, v in model.state_dict().items())
    state._metadata = getattr(model.state_dict(), '_metadata', OrderedDict())
    opt = torch.optim.AdamW(model.model.parameters(), lr=6e-5, weight_decay=0.01)
    model.model.backbone.patch_embed1.proj.weight.grad = torch.ones_like(model.model.backbone.patch_embed1.proj.weight)
    opt.step()
    meta = {'mmseg_version': '0.16.0+7c3a1dc', 'mmcv_version': '1.3.7', 'time': 'Sun Apr 24 23:05:00 2022',
            'CLASSES': CLASSES, 'PALETTE': PALETTE, 'epoch': 1, 'iter': 40000}
    if config is not None:
        meta['config'] = config
    return {'meta': meta, 'state_dict': state, 'optimizer': opt.state_dict()}


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'keys.json'), 'w') as f:
        json.dump(keys_json(), f, separators=(',', ':'))
    torch.manual_seed(1)
    enc = mp.MiT(**TINY)
    sd = OrderedDict(enc.state_dict())
    sd['head.weight'] = torch.randn(1000, TINY['embed_dims'][3])  # SegFormer's ImageNet classifier
    sd['head.bias'] = torch.randn(1000)
    torch.save(sd, os.path.join(OUT, 'mit_tiny.pth'))
    dims = TINY['embed_dims']
    daformer = uda(lambda: mp.DAFormerHead(dims, K, embed=WIDTH, channels=WIDTH), 2)
    torch.save(mmcv_checkpoint(daformer, DAFORMER_CONFIG), os.path.join(OUT, 'daformer_tiny.pth'))
    hrda = uda(lambda: HRDAHead(dims, K, WIDTH), 3)
    torch.save(mmcv_checkpoint(hrda, HRDA_CONFIG), os.path.join(OUT, 'hrda_tiny.pth'))
    ck = mmcv_checkpoint(hrda, None)
    ck = {'state_dict': OrderedDict((k, v) for k, v in ck['state_dict'].items() if not k.startswith('imnet_model.'))}
    torch.save(ck, os.path.join(OUT, 'mic_tiny.pth'), _use_new_zipfile_serialization=False)
    for name in sorted(os.listdir(OUT)):
        print(f'{name:20s} {os.path.getsize(os.path.join(OUT, name)):8d} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
