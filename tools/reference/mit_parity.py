#!/usr/bin/env python3
"""PyTorch twin of our Mix Transformer backbones and transformer decode heads, and their fixtures in test/fixtures/mit/.

The twin is written here from the SegFormer paper and the structure of mmseg's mix_transformer.py (the copy in
lhoyer/DAFormer), DAFormer's daformer_head.py (daformer_sepaspp config), SegFormer's segformer_head.py and HRDA's
hrda_head.py, with the SAME module names and registration order (so its state dict = the official one = ours). It
needs neither mmcv nor timm: ConvModule, DepthwiseSeparableConvModule and drop path (timm 0.3.2's) are spelled out.

Run from the repo root (Debian python3-torch 1.13; about a minute, mit-b5 is 82 M parameters):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/mit_parity.py

Weights and inputs are NOT stored (mit-b5 alone is 330 MB): both sides draw them from hash_uniform(), the integer
hash of vgg_parity.py that TypeScript reproduces bit for bit (src/torch/torch.testing.ts hashUniform). Each tensor of the
state dict is drawn with salt = its position in the state dict. Writes:
  expected.json       per MiT size (b0…b5): state-dict names and shapes (as a SHA-256 of "name shape" lines, the
                      full list for b0), parameter count; for every checked tensor (the four stage outputs, the input
                      gradient and a few parameter gradients of L = sum_s <out_s, w_s>) its sum, L2 norm, max |.|
                      and 64 probed elements; the same for the heads and the mit-b0 segmentor.
  mit-b0.safetensors  mit-b0's four outputs in eval mode and in train mode (drop path, seed 7), and the input
                      gradient in eval mode, in full.
  heads.safetensors   the heads' logits in full: DAFormer (eval; train: BN batch statistics + Dropout2d, seed 21),
                      SegFormer (eval, train), HRDA (with and without a detail crop), and the mit-b0 segmentor's.
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_parity import write_safetensors  # noqa: E402
from vgg_parity import hash_uniform  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'mit')
INPUT = (1, 3, 64, 64)
INPUT_SALT = 1000
PROBES = 64
WIDE = dict(embed_dims=[64, 128, 320, 512], num_heads=[1, 2, 5, 8], sr_ratios=[8, 4, 2, 1], mlp_ratio=4)
SIZES = {
    'mit-b0': dict(WIDE, embed_dims=[32, 64, 160, 256], depths=[2, 2, 2, 2]),
    'mit-b1': dict(WIDE, depths=[2, 2, 2, 2]),
    'mit-b2': dict(WIDE, depths=[3, 4, 6, 3]),
    'mit-b3': dict(WIDE, depths=[3, 4, 18, 3]),
    'mit-b4': dict(WIDE, depths=[3, 8, 27, 3]),
    'mit-b5': dict(WIDE, depths=[3, 6, 40, 3]),
}


# --- Mix Transformer ------------------------------------------------------------------------------------------
def drop_path(x, p, training):
    """Stochastic depth as timm 0.3.2 (what mix_transformer.py imports): floor(keep + U) per sample, x / keep."""
    if p == 0.0 or not training:
        return x
    keep = 1 - p
    mask = keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    mask.floor_()
    return x.div(keep) * mask


def to_map(x, h, w):
    b, _, c = x.shape
    return x.transpose(1, 2).contiguous().reshape(b, c, h, w)


def to_tokens(x):
    return x.flatten(2).transpose(1, 2).contiguous()


class PatchEmbed(nn.Module):
    def __init__(self, cin, dim, k, s):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, k, stride=s, padding=k // 2)
        self.norm = nn.LayerNorm(dim)  # eps 1e-5: the patch embedding's own LayerNorm, not norm_layer

    def forward(self, x):
        y = self.proj(x)
        return self.norm(to_tokens(y)), y.shape[2], y.shape[3]


class Attention(nn.Module):
    def __init__(self, dim, heads, sr):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, sr, stride=sr)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, h, w):
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3).contiguous()
        src = self.norm(to_tokens(self.sr(to_map(x, h, w)))) if self.sr_ratio > 1 else x
        kv = self.kv(src).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).contiguous()
        attn = ((q @ kv[0].transpose(-2, -1).contiguous()) * self.scale).softmax(dim=-1)
        return self.proj((attn @ kv[1]).transpose(1, 2).contiguous().reshape(b, n, c))


class DWConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x, h, w):
        return to_tokens(self.dwconv(to_map(x, h, w)))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x, h, w):
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, sr, dp):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sr)
        self.dp = dp
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, h, w):
        x = x + drop_path(self.attn(self.norm1(x), h, w), self.dp, self.training)
        return x + drop_path(self.mlp(self.norm2(x), h, w), self.dp, self.training)


class MiT(nn.Module):
    def __init__(self, embed_dims, num_heads, depths, sr_ratios, mlp_ratio, drop_path_rate=0.1):
        super().__init__()
        for s in range(4):
            cin = 3 if s == 0 else embed_dims[s - 1]
            setattr(self, f'patch_embed{s + 1}', PatchEmbed(cin, embed_dims[s], 7 if s == 0 else 3, 4 if s == 0 else 2))
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        cur = 0
        for s in range(4):
            setattr(self, f'block{s + 1}', nn.ModuleList([
                Block(embed_dims[s], num_heads[s], mlp_ratio, sr_ratios[s], dpr[cur + i]) for i in range(depths[s])]))
            setattr(self, f'norm{s + 1}', nn.LayerNorm(embed_dims[s], eps=1e-6))
            cur += depths[s]

    def forward(self, x):
        outs = []
        for s in range(1, 5):
            t, h, w = getattr(self, f'patch_embed{s}')(x)
            for blk in getattr(self, f'block{s}'):
                t = blk(t, h, w)
            x = to_map(getattr(self, f'norm{s}')(t), h, w)
            outs.append(x)
        return outs


# --- decode heads (mmcv ConvModule = conv without bias + BN + ReLU) --------------------------------------------
class ConvModule(nn.Module):
    def __init__(self, cin, cout, k, padding=0, dilation=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SepConvModule(nn.Module):
    def __init__(self, cin, cout, dilation):
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, 3, padding=dilation, dilation=dilation, groups=cin)
        self.pointwise_conv = ConvModule(cin, cout, 1)

    def forward(self, x):
        return self.pointwise_conv(self.depthwise_conv(x))


class MLP(nn.Module):
    def __init__(self, cin, embed):
        super().__init__()
        self.proj = nn.Linear(cin, embed)

    def forward(self, x):
        n, _, h, w = x.shape
        return self.proj(x.flatten(2).transpose(1, 2).contiguous()).permute(0, 2, 1).contiguous().reshape(n, -1, h, w)


class SepASPP(nn.Module):
    def __init__(self, cin, ch, dilations):
        super().__init__()
        self.aspp_modules = nn.ModuleList([ConvModule(cin, ch, 1) if d == 1 else SepConvModule(cin, ch, d) for d in dilations])
        self.bottleneck = ConvModule(len(dilations) * ch, ch, 3, padding=1)

    def forward(self, x):
        return self.bottleneck(torch.cat([m(x) for m in self.aspp_modules], dim=1))


def embed_concat(embeds, xs):
    size = xs[0].shape[2:]
    cs = [e(x) for e, x in zip(embeds, xs)]
    return torch.cat([c if c.shape[2:] == size else F.interpolate(c, size=size, mode='bilinear', align_corners=False)
                      for c in cs], dim=1)


class DAFormerHead(nn.Module):
    def __init__(self, in_channels, num_classes, embed=256, channels=256, fusion='aspp'):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = nn.Dropout2d(0.1)
        self.embed_layers = nn.ModuleDict({str(i): MLP(c, embed) for i, c in enumerate(in_channels)})
        cat = embed * len(in_channels)
        self.fuse_layer = SepASPP(cat, channels, (1, 6, 12, 18)) if fusion == 'aspp' else ConvModule(cat, channels, 1)

    def forward(self, xs):
        return self.conv_seg(self.dropout(self.fuse_layer(embed_concat(self.embed_layers.values(), xs))))


class SegFormerHead(nn.Module):
    def __init__(self, in_channels, num_classes, embed=768, channels=128):
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)  # BaseDecodeHead's, unused by SegFormerHead
        self.dropout = nn.Dropout2d(0.1)
        self.linear_c = nn.ModuleDict({str(i): MLP(c, embed) for i, c in enumerate(in_channels)})
        self.linear_fuse = ConvModule(embed * len(in_channels), embed, 1)
        self.linear_pred = nn.Conv2d(embed, num_classes, 1)

    def forward(self, xs):
        return self.linear_pred(self.dropout(self.linear_fuse(embed_concat(self.linear_c.values(), xs))))


class HRDAHead(nn.Module):
    """hrda_head.py's forward for DAFormer heads: scales (0.5, 1), class-wise attention, output stride 4."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.head = DAFormerHead(in_channels, num_classes)
        self.scale_attention = DAFormerHead(in_channels, num_classes, embed=256, channels=256, fusion='conv')

    def forward(self, lr_inp, hr_inp, box=None, os=4, lr_scale=0.5):
        lr_seg = self.head(lr_inp)
        hr_seg = self.head(hr_inp)
        att = torch.sigmoid(self.scale_attention(lr_inp))
        if box is not None:
            mask = lr_seg.new_zeros([lr_seg.shape[0], 1, *lr_seg.shape[2:]])
            y1, y2, x1, x2 = [int(v / (os / lr_scale)) for v in box]
            mask[:, :, y1:y2, x1:x2] = 1
            att = att * mask
        lr_seg = (1 - att) * lr_seg
        up_lr = F.interpolate(lr_seg, scale_factor=1 / lr_scale, mode='bilinear', align_corners=False)
        att = F.interpolate(att, scale_factor=1 / lr_scale, mode='bilinear', align_corners=False)
        if box is not None:
            ins = torch.zeros_like(up_lr)
            y1, y2, x1, x2 = [int(v / os) for v in box]
            ins[:, :, y1:y2, x1:x2] = hr_seg
        else:
            ins = hr_seg
        return att * ins + up_lr, lr_seg, hr_seg


class Segmentor(nn.Module):
    """mmseg's EncoderDecoder naming: backbone.*, decode_head.*"""

    def __init__(self, cfg, num_classes):
        super().__init__()
        self.backbone = MiT(**cfg)
        self.decode_head = DAFormerHead(cfg['embed_dims'], num_classes)

    def forward(self, x):
        return self.decode_head(self.backbone(x))


# --- the deterministic draw, mirrored in src/models/mit.test.ts ------------------------------------------------
def draw_spec(name, shape):
    """(offset, bound): value = offset + U(-bound, bound). LayerNorm/BN scales near 1, shifts and biases small,
    weights with variance 1/fan_in (fan_in per group for convs), BN running variance in [0.5, 1.5]."""
    leaf = name.rsplit('.', 1)[-1]
    if leaf == 'running_var':
        return 1.0, 0.5
    if leaf == 'running_mean':
        return 0.0, 0.1
    if leaf == 'bias':
        return 0.0, 0.1
    if len(shape) == 1:  # LayerNorm / BatchNorm weight
        return 1.0, 0.2
    fan_in = int(np.prod(shape[1:]))
    return 0.0, (3.0 / fan_in) ** 0.5


def drawn(n, salt, offset, bound):
    u = hash_uniform(n, salt, bound)
    return u if offset == 0 else (u.astype(np.float64) + offset).astype(np.float32)


def draw(model):
    with torch.no_grad():
        for salt, (name, t) in enumerate(model.state_dict().items()):
            if t.dtype != torch.float32:
                continue  # num_batches_tracked stays 0
            t.copy_(torch.from_numpy(drawn(t.numel(), salt, *draw_spec(name, list(t.shape)))).reshape(t.shape))


def hashed(shape, salt, bound=1.0):
    return torch.from_numpy(hash_uniform(int(np.prod(shape)), salt, bound)).reshape(shape)


def names_digest(model):
    lines = ''.join(f'{n} {list(t.shape)}\n' for n, t in model.state_dict().items())
    return hashlib.sha256(lines.encode()).hexdigest()


def summary(t):
    """What the test compares for a tensor too big to store: sum, norm, max |.|, and PROBES elements."""
    flat = t.detach().reshape(-1).double()
    idx = [(k * 2654435761) % flat.numel() for k in range(PROBES)]
    return {'shape': list(t.shape), 'sum': float(flat.sum()), 'norm': float(flat.norm()), 'max_abs': float(flat.abs().max()),
            'idx': idx, 'values': [float(flat[i]) for i in idx]}


def loss_of(outs, salt0):
    """L = sum_s <out_s, w_s>, w_s = hash_uniform(salt0 + s): gradients of a scalar that reads every element."""
    return sum((o * hashed(list(o.shape), salt0 + s)).sum() for s, o in enumerate(outs))


def grad_names(depths):
    last = depths[3] - 1
    return ['patch_embed1.proj.weight', 'block1.0.attn.q.weight', 'block1.0.attn.sr.weight', 'block2.1.mlp.dwconv.dwconv.weight',
            'block3.0.attn.kv.bias', f'block4.{last}.mlp.fc2.weight', 'norm4.weight']


def run_mit(name, cfg, tensors):
    torch.manual_seed(0)
    m = MiT(**cfg).eval()
    draw(m)
    x = hashed(INPUT, INPUT_SALT, 2.0).requires_grad_(True)
    outs = m(x)
    loss_of(outs, 3000).backward()
    params = dict(m.named_parameters())
    rec = {'keys': len(m.state_dict()), 'parameters': sum(p.numel() for p in m.parameters()), 'names_sha256': names_digest(m),
           'outputs': [summary(o) for o in outs], 'input_grad': summary(x.grad),
           'param_grads': {n: summary(params[n].grad) for n in grad_names(cfg["depths"])}}
    if name == 'mit-b0':
        rec['state_dict'] = [[n, list(t.shape)] for n, t in m.state_dict().items()]
        for s, o in enumerate(outs):
            tensors[f'b0.eval.out{s}'] = o.detach()
        tensors['b0.eval.input_grad'] = x.grad
        m.train()
        torch.manual_seed(7)
        with torch.no_grad():
            for s, o in enumerate(m(x.detach())):
                tensors[f'b0.train.out{s}'] = o
    return rec


def head_inputs(salt0, sizes, batch=2, channels=(64, 128, 320, 512)):
    return [hashed([batch, c, h, h], salt0 + i, 1.5).requires_grad_(True) for i, (c, h) in enumerate(zip(channels, sizes))]


def run_head(key, head, xs, tensors, seed=None):
    """Eval, or train mode with torch.manual_seed(seed): logits in full, input-feature gradients summarised."""
    head.train(seed is not None)
    if seed is not None:
        torch.manual_seed(seed)
    for x in xs:
        x.grad = None
    y = head(xs)
    tensors[key] = y.detach()
    (y * hashed(list(y.shape), 4000)).sum().backward()
    rec = {'input_grads': [summary(x.grad) for x in xs]}
    if seed is not None:
        rec['running_mean'] = summary(dict(head.named_buffers())[bn_probe(head)])
    return rec


def bn_probe(head):
    return 'fuse_layer.bottleneck.bn.running_mean' if isinstance(head, DAFormerHead) else 'linear_fuse.bn.running_mean'


def run_heads(tensors, K=5):
    xs = head_inputs(2000, [16, 8, 4, 2])
    rec = {'num_classes': K, 'feature_salt': 2000, 'hr_feature_salt': 2100, 'feature_bound': 1.5}
    for key, mk in (('daformer', lambda: DAFormerHead([64, 128, 320, 512], K)),
                    ('segformer', lambda: SegFormerHead([64, 128, 320, 512], K))):
        head = mk()
        draw(head)
        state = {k: v.clone() for k, v in head.state_dict().items()}
        rec[key] = {'state_dict': [[n, list(t.shape)] for n, t in head.state_dict().items()],
                    'eval': run_head(f'{key}.eval', head, xs, tensors)}
        head.load_state_dict(state)
        rec[key]['train'] = run_head(f'{key}.train', head, xs, tensors, seed=21)
    rec['hrda'] = run_hrda(tensors, xs, K)
    return rec


def run_hrda(tensors, lr, K):
    h = HRDAHead([64, 128, 320, 512], K).eval()
    draw(h)
    out = {'state_dict': [[n, list(t.shape)] for n, t in h.state_dict().items()], 'box': [32, 96, 64, 128]}
    for key, box, hr in (('crop', out['box'], head_inputs(2100, [16, 8, 4, 2])), ('full', None, head_inputs(2100, [32, 16, 8, 4]))):
        for x in lr:
            x.grad = None
        fused, lr_seg, hr_seg = h(lr, hr, box)
        for n, t in (('fused', fused), ('lr', lr_seg), ('hr', hr_seg)):
            tensors[f'hrda.{key}.{n}'] = t.detach()
        loss_of([fused, lr_seg, hr_seg], 5000).backward()
        out[key] = {'lr_grads': [summary(x.grad) for x in lr], 'hr_grads': [summary(x.grad) for x in hr]}
    return out


def run_segmentor(tensors, K=19):
    torch.manual_seed(0)
    g = Segmentor(SIZES['mit-b0'], K).eval()
    draw(g)
    x = hashed(INPUT, INPUT_SALT, 2.0).requires_grad_(True)
    y = g(x)
    tensors['segmentor.b0.logits'] = y.detach()
    (y * hashed(list(y.shape), 6000)).sum().backward()
    params = dict(g.named_parameters())
    return {'num_classes': K, 'keys': len(g.state_dict()), 'names_sha256': names_digest(g), 'input_grad': summary(x.grad),
            'param_grads': {n: summary(params[n].grad) for n in ('decode_head.conv_seg.weight', 'backbone.block1.0.attn.q.weight',
                                                                 'decode_head.fuse_layer.aspp_modules.1.depthwise_conv.conv.weight')}}


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    b0, heads = {}, {}
    expected = {'torch': torch.__version__, 'input_shape': list(INPUT), 'input_salt': INPUT_SALT, 'input_bound': 2.0,
                'loss_salt': 3000, 'train_seed': 7}
    expected['mit'] = {}
    for name, cfg in SIZES.items():
        expected['mit'][name] = run_mit(name, cfg, b0)
        print(name, expected['mit'][name]['parameters'], 'parameters', file=sys.stderr)
    expected['heads'] = run_heads(heads)
    expected['segmentor'] = run_segmentor(heads)
    write_safetensors(os.path.join(OUT, 'mit-b0.safetensors'), b0, {'torch': torch.__version__})
    write_safetensors(os.path.join(OUT, 'heads.safetensors'), heads, {'torch': torch.__version__})
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
    for name in sorted(os.listdir(OUT)):
        print(f'{name:20s} {os.path.getsize(os.path.join(OUT, name)):8d} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
