#!/usr/bin/env python3
"""PyTorch twin of one DAFormer iteration, and its fixture test/fixtures/daformer/expected.json.

Written from lhoyer/DAFormer (mmseg/models/uda/dacs.py forward_train and calc_feat_dist, mmseg/models/utils/
dacs_transforms.py, mmseg/utils/utils.py downscale_label_ratio, configs/_base_/schedules/poly10warm.py, the AdamW
optimizer with paramwise_cfg) on the MiT-b0 + DAFormer-head twin of mit_parity.py (mmseg's names = ours), without
mmcv or kornia: kornia 0.5's ColorJitter (brightness, contrast, saturation, hue in a random order, rgb_to_hsv /
hsv_to_rgb) and GaussianBlur2d (reflect border) are written out below from kornia's formulas.

Where our code draws with torch's generator instead of Python's random, numpy's or kornia's, the twin draws the same
way and in the same order as src/methods/augment.ts (u_jitter, u_blur; per image 4 factors + randperm(4) of their
order, then σ), so a fixed seed gives both sides the same augmentation; ClassMix, drop path and Dropout2d draw as in
hrda_parity.py. The iteration is DAFormer's: source CE and the feature distance backpropagated one after the other
(retain_graph), the EMA teacher's pseudo-labels, ClassMix, strong augmentation, mixed CE, one AdamW step.

Run from the repo root (Debian python3-torch 1.13; seconds):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/daformer_parity.py
"""
import copy
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mit_parity as mp  # noqa: E402
from hrda_parity import class_mix_mask, inputs, mm_ce, summary, teacher_mode  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'daformer')
PARITY = dict(
    backbone='mit-b0', num_classes=5, batch=2, size=[64, 64],
    ema_alpha=0.99, pseudo_threshold=0.32, lambda_mix=1.0,  # τ 0.968 → 0.32: part of the hashed teacher's pixels
    lr_G=1e-3, head_lr_mult=10, weight_decay=0.01, betas=[0.9, 0.999],  # AdamW (DAFormer: lr 6e-5)
    max_iter=10, warmup=2, power=1.0, warmup_ratio=0.1,  # poly10warm's shape (1500, 1e-6) on 2 steps
    jitter_p=0.2, jitter_s=0.2, blur=True,  # DAFormer's
    fd_lambda=0.05, fd_classes=[0, 2, 3], fd_min_ratio=0.25,  # DAFormer 0.005, things, 0.75: here enough pixels count
    normalize='imagenet',
    seed=5, steps=2, probes=8,
    image_salts=[100, 200, 300, 400], label_salts=[110, 210],
)
IGNORE = 255
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255  # DAFormer img_norm_cfg (= ImageNet ×255)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


# --- kornia 0.5 colour conversions and jitter ------------------------------------------------------------------
def rgb_to_hsv(image, eps=1e-6):
    max_rgb, argmax_rgb = image.max(-3)
    min_rgb, _ = image.min(-3)
    deltac = max_rgb - min_rgb
    v = max_rgb
    s = deltac / (v + eps)
    deltac = torch.where(deltac == 0, torch.ones_like(deltac), deltac)
    rc, gc, bc = torch.unbind(max_rgb.unsqueeze(-3) - image, dim=-3)
    cand = torch.stack((bc - gc, (rc - bc) + 2.0 * deltac, (gc - rc) + 4.0 * deltac), dim=-3) / deltac.unsqueeze(-3)
    h = torch.gather(cand, dim=-3, index=argmax_rgb.unsqueeze(-3)).squeeze(-3)
    h = (h / 6.0) % 1.0
    return torch.stack((2 * math.pi * h, s, v), dim=-3)


def hsv_to_rgb(image):
    h = image[..., 0, :, :] / (2 * math.pi)
    s, v = image[..., 1, :, :], image[..., 2, :, :]
    hi = torch.floor(h * 6) % 6
    f = ((h * 6) % 6) - hi
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    hi = hi.long()
    idx = torch.stack([hi, hi + 6, hi + 12], dim=-3)
    table = torch.stack((v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q), dim=-3)
    return torch.gather(table, -3, idx)


def jitter(x, factors, order):
    """ColorJitter's apply: brightness adds (b − 1), contrast multiplies, saturation and hue in HSV; clamps to [0, 1]."""
    b, c, s, hue = factors
    for k in order:
        if k == 0:
            x = torch.clamp(x + (b - 1), 0, 1)
        elif k == 1:
            x = torch.clamp(x * c, 0, 1)
        elif k == 2:
            h, sat, v = torch.chunk(rgb_to_hsv(x), 3, dim=-3)
            x = hsv_to_rgb(torch.cat([h, torch.clamp(sat * s, 0, 1), v], dim=-3))
        else:
            h, sat, v = torch.chunk(rgb_to_hsv(x), 3, dim=-3)
            x = hsv_to_rgb(torch.cat([torch.fmod(h + hue * 2 * math.pi, 2 * math.pi), sat, v], dim=-3))
    return x


def gaussian_blur(x, sigma):
    """kornia GaussianBlur2d with DAFormer's kernel size (dacs_transforms.gaussian_blur), reflect border."""
    ks = [int(math.floor(math.ceil(0.1 * n) - 0.5 + math.ceil(0.1 * n) % 2)) for n in x.shape[2:]]

    def window(n):
        t = torch.arange(n).float() - n // 2
        g = torch.exp(-t.pow(2.0) / float(2 * sigma ** 2))
        return g / g.sum()
    kernel = torch.matmul(window(ks[0]).unsqueeze(-1), window(ks[1]).unsqueeze(0))
    c = x.shape[1]
    pad = [(ks[1] - 1) // 2, (ks[1] - 1) // 2, (ks[0] - 1) // 2, (ks[0] - 1) // 2]
    return F.conv2d(F.pad(x, pad, mode='reflect'), kernel.expand(c, 1, *ks), groups=c)


def strong_augment(images, cfg, draws):
    """dacs_transforms.strong_transform after the mix (color_jitter, gaussian_blur), with our draw order."""
    u_jitter = torch.rand(1).item()
    u_blur = torch.rand(1).item() if cfg['blur'] else 0.0
    draws.update(jitter=u_jitter > cfg['jitter_p'], blur=u_blur > 0.5, factors=[], orders=[], sigmas=[])
    if not draws['jitter'] and not draws['blur']:
        return images.clone()
    out = []
    s = cfg['jitter_s']
    for j in range(images.shape[0]):
        x = images[j:j + 1]
        if draws['jitter']:
            f = [1 - s + 2 * s * torch.rand(1).item() for _ in range(3)] + [-s + 2 * s * torch.rand(1).item()]
            order = torch.randperm(4).tolist()
            draws['factors'].append(f)
            draws['orders'].append(order)
            x = jitter(x * STD / 255 + MEAN / 255, f, order) * 255  # denorm_, ColorJitter, renorm_
            x = (x - MEAN) / STD
        if draws['blur']:
            sigma = 0.15 + torch.rand(1).item()
            draws['sigmas'].append(sigma)
            x = gaussian_blur(x, sigma)
        out.append(x)
    return torch.cat(out)


# --- the feature distance -----------------------------------------------------------------------------------------
def downscale_label_ratio(gt, scale, min_ratio, n_classes):
    out = gt.clone()
    out[out == IGNORE] = n_classes
    out = F.one_hot(out, num_classes=n_classes + 1).permute(0, 3, 1, 2)
    out = F.avg_pool2d(out.float(), kernel_size=scale)
    ratio, out = torch.max(out, dim=1)
    out[out == n_classes] = IGNORE
    out[ratio < min_ratio] = IGNORE
    return out


def feat_dist(G, E0, xs, ys, feats, cfg):
    """DACS.calc_feat_dist: the stride-32 maps, masked to the thing classes of the scaled-down label."""
    with torch.no_grad():
        E0.eval()
        f0 = E0.backbone(xs)[-1].detach()
    scale = ys.shape[-1] // feats[-1].shape[-1]
    gt = downscale_label_ratio(ys, scale, cfg['fd_min_ratio'], cfg['num_classes'])
    mask = torch.any(gt[..., None] == torch.tensor(cfg['fd_classes']), -1)
    dist = torch.norm(feats[-1] - f0, dim=1, p=2)[mask]
    return cfg['fd_lambda'] * dist.mean(), int(mask.sum())


def comparable(name, t):
    """The value half of a MiT kv.bias: the key half's gradient is zero up to rounding (softmax is blind to a shift of
    every logit of a row), and AdamW turns that rounding noise into updates of ±lr·noise/(|noise| + eps): not twins'."""
    return t[t.shape[0] // 2:] if name.endswith('attn.kv.bias') else t


def lr_at(i, cfg):
    """mmcv poly with warmup='linear' (LrUpdaterHook.get_warmup_lr on the regular lr)."""
    poly = cfg['lr_G'] * (1 - i / cfg['max_iter']) ** cfg['power']
    if i >= cfg['warmup']:
        return poly
    return poly * (1 - (1 - i / cfg['warmup']) * (1 - cfg['warmup_ratio']))


def optimizer(G, cfg):
    """AdamW with DAFormer's paramwise_cfg: head lr ×10; norm (and pos_block) decay ×0 — as our three groups."""
    back = list(G.backbone.named_parameters())
    groups = [[p for n, p in back if 'norm' not in n], [p for n, p in back if 'norm' in n], list(G.decode_head.parameters())]
    mults, decays = [1, 1, cfg['head_lr_mult']], [cfg['weight_decay'], 0.0, cfg['weight_decay']]
    return torch.optim.AdamW([dict(params=g, lr=cfg['lr_G'] * m, weight_decay=d) for g, m, d in zip(groups, mults, decays)],
                             betas=tuple(cfg['betas']), eps=1e-8), mults


def step(G, T, E0, opt, mults, i, xs, ys, xt, cfg):
    alpha = min(1 - 1 / (i + 1), cfg['ema_alpha'])
    with torch.no_grad():
        for tp, p in zip(T.parameters(), G.parameters()):
            tp.data[:] = alpha * tp.data[:] + (1 - alpha) * p.data[:]
    opt.zero_grad()
    lr = lr_at(i, cfg)
    for g, m in zip(opt.param_groups, mults):
        g['lr'] = lr * m
    G.train()
    feats = G.backbone(xs)
    seg = mm_ce(G.decode_head(feats), ys)
    seg.backward(retain_graph=True)
    fd, fd_pixels = feat_dist(G, E0, xs, ys, feats, cfg)
    fd.backward()
    with torch.no_grad():
        teacher_mode(T)
        logits = F.interpolate(T(xt), size=xt.shape[2:], mode='bilinear', align_corners=False)
        prob, pseudo = torch.max(torch.softmax(logits, dim=1), dim=1)
        share = prob.ge(cfg['pseudo_threshold']).float().mean()
    mask = class_mix_mask(ys, cfg['num_classes'])
    m = mask.float()
    mixed_img = torch.where(mask.unsqueeze(1), xs, xt)
    mixed_lbl = torch.where(mask, ys, pseudo)
    weight = m + (1 - m) * share
    draws = {}
    aug = strong_augment(mixed_img, cfg, draws)
    mix = mm_ce(G(aug), mixed_lbl, weight) * cfg['lambda_mix']
    mix.backward()
    opt.step()
    return dict(i=i, lr_G=lr, seg=seg.item(), fd=fd.item(), mix=mix.item(), share=share.item(), fd_pixels=fd_pixels,
                draws=draws, aug=summary(aug, cfg['probes']))


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cfg = PARITY
    torch.manual_seed(0)
    G = mp.Segmentor(mp.SIZES['mit-b0'], cfg['num_classes'])
    T = mp.Segmentor(mp.SIZES['mit-b0'], cfg['num_classes'])
    mp.draw(G)
    E0 = copy.deepcopy(G)  # the ImageNet model: G's initial weights (--init), frozen
    for p in list(T.parameters()) + list(E0.parameters()):
        p.requires_grad_(False)
    opt, mults = optimizer(G, cfg)
    w0 = {n: p.detach().clone() for n, p in G.named_parameters()}
    torch.manual_seed(cfg['seed'])
    steps = []
    for s, (xs, ys, xt) in enumerate(inputs(cfg)):
        rec = step(G, T, E0, opt, mults, s, xs, ys, xt, cfg)
        rec['delta'] = {n: summary(comparable(n, p.detach() - w0[n]), cfg['probes']) for n, p in G.named_parameters()}
        if s == cfg['steps'] - 1:  # the teacher: G before step 1, the mean of G's two states before step 2 (α 0.5)
            rec['teacher'] = {n: summary(comparable(n, p.detach() - w0[n]), 4) for n, p in T.named_parameters()}
        if s == 0:  # AdamW's moments after one step: 0.1·g and 0.001·g² of the first gradient
            names = {p: n for n, p in G.named_parameters()}
            rec['adam'] = {names[p]: [summary(comparable(names[p], st['exp_avg']), 0), summary(comparable(names[p], st['exp_avg_sq']), 0)]
                           for p, st in opt.state.items()}
        rec['bn'] = {n: summary(b, cfg['probes']) for n, b in G.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        rec['bn_teacher'] = {n: summary(b, cfg['probes']) for n, b in T.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        d = rec['draws']
        print(f"step {s + 1}: lr {rec['lr_G']:.3e} seg {rec['seg']:.6f} fd {rec['fd']:.6f} ({rec['fd_pixels']} px) "
              f"mix {rec['mix']:.6f} share {rec['share']:.3f} jitter {d['jitter']} blur {d['blur']} sigmas {d['sigmas']}", file=sys.stderr)
        steps.append(rec)
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'config': cfg, 'steps': steps}, f, separators=(',', ':'))
    print(f"expected.json {os.path.getsize(os.path.join(OUT, 'expected.json'))} bytes", file=sys.stderr)


if __name__ == '__main__':
    main()
