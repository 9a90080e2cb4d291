#!/usr/bin/env python3
"""PyTorch twin of one MIC iteration on DACS's self-training (docs/method.md §11, §14), and its fixture in test/fixtures/mic/.

Written from lhoyer/MIC (seg/mmseg/models/uda/dacs.py forward_train, uda/masking_consistency_module.py with
mask_mode 'separatetrgaug' (as its configs), mask_pseudo_threshold and mask_alpha 'same', utils/masking_transforms.py BlockMaskGenerator)
on our DACS (methods/dacs.ts) and the micro DeepLab-v2 twin of clan_model.py (the CLAN parity network):

  EMA update (α = min(1 − 1/(i+1), 0.99); at i = 0 the teacher becomes G) → source loss of both heads, backward →
  the teacher (train-mode BN, no gradient) on the target image resized to the source label's size: ŷ = argmax p,
  share = mean(max p ≥ τ) → ClassMix (a randperm per image) → mixed loss (per-pixel CE × weight, mean over all
  pixels, both heads) × λ_mix, backward → MIC: the target batch colour-jittered and blurred (its own draws), the
  block mask (torch.rand over a round(H/b) × round(W/b) grid, kept where u > ratio, nearest-resized to H × W) times
  that image; loss on (masked image, ŷ, share everywhere) × λ_mask, backward → one SGD step (backbone at lr, heads at 10×).

Random draws: ClassMix's randperms then MIC's augmentation and mask (torch.rand, torch.randperm), from torch's global
generator seeded once before the steps,
in the order ours makes them (the micro network has no dropout), so both sides mask the same blocks. Initial weights and
inputs are the CLAN parity fixture's (test/fixtures/clan/init.safetensors G.*, inputs.safetensors): nothing large is
stored here. Also stored: one block mask drawn on its own from a seed (the generator and the nearest resize, alone).

Run from the repo root (Debian python3-torch 1.13, as the other fixtures; seconds):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/mic_parity.py
Writes test/fixtures/mic/expected.json and, for VARIANT (a masked-loss threshold of its own, BN statistics kept),
expected-variant.json: config; per step the losses, lr, the pseudo-label share, the kept share of the
MIC mask, summaries of every weight delta and of BN statistics (G's and the teacher's); the teacher's parameters after
the last step; SGD momentum after the last step; the standalone mask.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import FIXTURES as CLAN_FIXTURES, Bottleneck, ResNet  # noqa: E402
from clan_parity import PARITY as CLAN, lr_at, read_safetensors  # noqa: E402
from hrda_parity import class_mix_mask, summary  # noqa: E402
from daformer_parity import gaussian_blur, jitter  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'mic')
PARITY = dict(
    num_classes=CLAN['num_classes'], batch=CLAN['batch'], source_size=CLAN['source_size'], target_size=CLAN['target_size'],
    ema_alpha=0.99, pseudo_threshold=0.3, lambda_mix=1.0,  # τ 0.968 → 0.3: a fifth to a third of the teacher's pixels count
    mask_ratio=0.7, mask_block_size=9,  # MIC 0.7; 64 px × 72/512 rounded (ours: blockSize null at 72×104)
    mask_lambda=1.0,
    mask_mode='separatetrgaug', jitter_p=0.2, jitter_s=0.2, blur=True,  # MIC's configs: the masked batch colour-jittered, blurred
    lr_G=1e-3, max_iter=10, warmup=0, power=0.9, momentum=0.9, weight_decay=5e-4,  # SGD (CLAN parity's lr ÷ 25: the pseudo-labels stay varied); heads at 10×
    seed=11, steps=3, probes=8,
    standalone_mask=dict(seed=5, n=2, h=20, w=30, block=4, ratio=0.7),  # round(20/4) × round(30/4) = 5 × 8 blocks
)
# The variant (expected-variant.json): MIC with a masked-loss threshold of its own — official mask_pseudo_threshold 0.25
# with mask_alpha 'same', i.e. a second EMA teacher (EMATeacher) updated as the first — and G's BN running statistics
# put back after the masked batch (ours: hyper.mic.bnStats 'keep'; the official code has no such switch).
VARIANT = dict(PARITY, mask_pseudo_threshold=0.25, bn_stats='keep')  # below τ 0.3: more pixels count
IGNORE = 255
MEAN_BGR = torch.tensor([104.00698793, 116.66876762, 122.67891434]).view(1, 3, 1, 1)  # the caffe normalisation of our DeepLab


def up(x, size):
    return F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=True)


def block_mask(n, h, w, block, ratio):
    """BlockMaskGenerator.generate_mask: [n, 1, H, W] float, 1 kept (u > ratio), blocks nearest-resized."""
    rows, cols = max(1, round(h / block)), max(1, round(w / block))
    keep = (torch.rand(n, 1, rows, cols) > ratio).float()
    return F.interpolate(keep, size=(h, w), mode='nearest')


def augment_batch(x, cfg):
    """MaskingConsistencyModule 'separatetrgaug': strong_transform on the whole target batch (color_jitter: kornia
    ColorJitter on the denormalised pixels, per-image factors and one order for the batch; gaussian_blur: one σ),
    drawn as ours (augment.ts perBatch): u_jitter, u_blur, then 4 factors per image, one randperm(4), one σ."""
    u_jitter = torch.rand(1).item()
    u_blur = torch.rand(1).item() if cfg['blur'] else 0.0
    draws = dict(jitter=u_jitter > cfg['jitter_p'], blur=u_blur > 0.5)
    if not draws['jitter'] and not draws['blur']:
        return x.clone(), draws
    s = cfg['jitter_s']
    if draws['jitter']:
        factors = [[1 - s + 2 * s * torch.rand(1).item() for _ in range(3)] + [-s + 2 * s * torch.rand(1).item()]
                   for _ in range(x.shape[0])]
        order = torch.randperm(4).tolist()
        draws.update(factors=factors, order=order)
    if draws['blur']:
        draws['sigma'] = 0.15 + torch.rand(1).item()
    if draws['jitter']:
        u = ((x + MEAN_BGR) / 255).flip(1)  # denorm_ to RGB in [0, 1]
        u = torch.cat([jitter(u[j:j + 1], f, draws['order']) for j, f in enumerate(draws['factors'])])
        x = u.flip(1) * 255 - MEAN_BGR  # renorm_
    if draws['blur']:
        x = gaussian_blur(x, draws['sigma'])
    return x, draws


def student_loss(G, img, label, weight):
    """Ours (Dacs.studentLoss): both heads upsampled to the label, CE per pixel (0 where ignored) × weight, mean."""
    x1, x2 = G(img)
    size = label.shape[1:]

    def one(x):
        return (F.cross_entropy(up(x, size), label, reduction='none', ignore_index=IGNORE) * weight).mean()
    return one(x1) + one(x2)


def ema(T, G, i, cfg):
    alpha = min(1 - 1 / (i + 1), cfg['ema_alpha'])
    with torch.no_grad():
        for tp, p in zip(T.parameters(), G.parameters()):
            tp.mul_(alpha).add_(p.detach(), alpha=1 - alpha)


def mask_teacher_labels(T2, xt, size, threshold):
    """MIC's own EMATeacher (mask_pseudo_threshold a number): its labels of the target batch and their share weight."""
    with torch.no_grad():
        T2.train()
        a, b = T2(xt)
        prob, pseudo = torch.max(torch.softmax(up(a + b, size), dim=1), dim=1)
        return pseudo, prob.ge(threshold).float().mean()


def step(G, T, opt, i, xs, ys, xt, cfg, T2=None):
    ema(T, G, i, cfg)
    if T2 is not None:
        ema(T2, G, i, cfg)  # mask_alpha 'same': the host's α and timing
    opt.zero_grad()
    lr = lr_at(cfg['lr_G'], i, cfg)
    opt.param_groups[0]['lr'], opt.param_groups[1]['lr'] = lr, 10 * lr
    G.train()
    size = ys.shape[1:]
    x1, x2 = G(xs)
    seg = F.cross_entropy(up(x1, size), ys, ignore_index=IGNORE) + F.cross_entropy(up(x2, size), ys, ignore_index=IGNORE)
    seg.backward()
    xt = up(xt, size) if tuple(xt.shape[2:]) != tuple(size) else xt  # the target at the source label's size
    with torch.no_grad():
        T.train()  # DACS: BN batch statistics
        a, b = T(xt)
        prob, pseudo = torch.max(torch.softmax(up(a + b, size), dim=1), dim=1)
        confident = prob.ge(cfg['pseudo_threshold']).float()
        share = confident.mean()
    mask = class_mix_mask(ys, cfg['num_classes'])
    m = mask.float()
    mixed_img = torch.where(mask.unsqueeze(1), xs, xt)
    mixed_lbl = torch.where(mask, ys, pseudo)
    mix = student_loss(G, mixed_img, mixed_lbl, m + (1 - m) * share) * cfg['lambda_mix']
    mix.backward()
    # MIC, MaskingConsistencyModule: the target image (augmented with 'separatetrgaug'), the shared pseudo-labels and weight
    seen, draws = augment_batch(xt, cfg) if cfg['mask_mode'] == 'separatetrgaug' else (xt, {})
    keep = block_mask(xt.shape[0], *size, cfg['mask_block_size'], cfg['mask_ratio'])
    m_pseudo, m_share = (pseudo, share) if T2 is None else mask_teacher_labels(T2, xt, size, cfg['mask_pseudo_threshold'])
    saved = [b.clone() for b in G.buffers()] if cfg.get('bn_stats') == 'keep' else None
    masked = student_loss(G, seen * keep, m_pseudo, torch.ones_like(confident) * m_share) * cfg['mask_lambda']
    masked.backward()
    if saved is not None:
        with torch.no_grad():
            for b, v in zip(G.buffers(), saved):
                b.copy_(v)
    opt.step()
    return dict(i=i, lr_G=lr, seg=seg.item(), mix=mix.item(), masked=masked.item(), share=share.item(),
                kept=keep.mean().item(), aug=draws, pseudo_classes=[int((pseudo == c).sum()) for c in range(cfg['num_classes'])])


def build(cfg):
    init = read_safetensors(os.path.join(CLAN_FIXTURES, 'init.safetensors'))
    G = ResNet(Bottleneck, CLAN['block_counts'], num_classes=cfg['num_classes'], base_width=CLAN['base_width'])
    G.load_state_dict({k[2:]: v for k, v in init.items() if k.startswith('G.')})
    T = ResNet(Bottleneck, CLAN['block_counts'], num_classes=cfg['num_classes'], base_width=CLAN['base_width'])
    for p in T.parameters():
        p.requires_grad_(False)
    hp = dict(momentum=cfg['momentum'], weight_decay=cfg['weight_decay'])
    opt = torch.optim.SGD([dict(params=G.backbone_parameters(), lr=cfg['lr_G'], **hp),
                           dict(params=G.head_parameters(), lr=10 * cfg['lr_G'], **hp)])
    return G, T, opt


def standalone_mask(spec):
    torch.manual_seed(spec['seed'])
    keep = block_mask(spec['n'], spec['h'], spec['w'], spec['block'], spec['ratio'])
    return [''.join(str(int(v)) for v in row) for row in keep.reshape(-1, spec['w']).tolist()]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    run(PARITY, 'expected.json')
    run(VARIANT, 'expected-variant.json')


def run(cfg, name):
    inputs = read_safetensors(os.path.join(CLAN_FIXTURES, 'inputs.safetensors'))
    G, T, opt = build(cfg)
    T2 = build(cfg)[1] if 'mask_pseudo_threshold' in cfg else None  # its own EMA teacher (weights set at i = 0)
    w0 = {n: p.detach().clone() for n, p in G.named_parameters()}
    torch.manual_seed(cfg['seed'])
    steps = []
    for s in range(cfg['steps']):
        xs, ys, xt = (inputs[f'{k}_step{s + 1}'] for k in ('source_image', 'source_label', 'target_image'))
        rec = step(G, T, opt, s, xs, ys, xt, cfg, T2)
        rec['delta'] = {n: summary(p.detach() - w0[n], cfg['probes']) for n, p in G.named_parameters() if p.requires_grad}
        rec['bn'] = {n: summary(b, cfg['probes']) for n, b in G.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        rec['bn_teacher'] = {n: summary(b, cfg['probes']) for n, b in T.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        print(f"step {s + 1}: seg {rec['seg']:.6f} mix {rec['mix']:.6f} masked {rec['masked']:.6f} share {rec['share']:.3f} "
              f"kept {rec['kept']:.3f} pseudo {rec['pseudo_classes']} aug {rec['aug']}", file=sys.stderr)
        steps.append(rec)
    # the teacher after the last step's update (made at its start): ½·G₀ + ½·G₁ at i = 1, then ⅔ of that + ⅓·G₂ at i = 2
    trainable = {n for n, p in G.named_parameters() if p.requires_grad}
    steps[-1]['teacher'] = {n: summary(p.detach() - w0[n], 4) for n, p in T.named_parameters() if n in trainable}
    names = {p: n for n, p in G.named_parameters()}
    steps[-1]['momentum'] = {names[p]: summary(st['momentum_buffer'], 0) for p, st in opt.state.items()}
    expected = {'torch': torch.__version__, 'config': cfg, 'steps': steps, 'standalone_mask': standalone_mask(cfg['standalone_mask'])}
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
    print(f"{name} {os.path.getsize(os.path.join(OUT, name))} bytes", file=sys.stderr)


if __name__ == '__main__':
    main()
