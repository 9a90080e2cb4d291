#!/usr/bin/env python3
"""PyTorch twin of HRDA's network and of one HRDA iteration, and their fixtures in test/fixtures/hrda/.

Written from lhoyer/HRDA (mmseg/models/segmentors/hrda_encoder_decoder.py, mmseg/models/decode_heads/hrda_head.py,
mmseg/models/uda/dacs.py, configs/hrda/gtaHR2csHR_hrda.py), on the MiT-b0 and DAFormer-head twins of mit_parity.py
(same module names, so the state dict is HRDAEncoderDecoder's = ours), without mmcv:

- the network (HRDASegmentor): forward_train(img, box) = HRDAEncoderDecoder._forward_train_features + HRDAHead.forward
  (context = resize(img, scale_factor=0.5), the detail crop of img at box), encode_decode(img) = the test-time forward
  with hr_slide_inference (detail windows of the crop's size every half crop, batched, decode_hr) resized to img;
- the iteration: DACS forward_train as HRDA runs it (EMA update, source losses, the EMA teacher's pseudo-labels with
  dropout and drop path off, ClassMix, mixed losses, one SGD step), HRDAHead.losses (fused ×(1 − 0.1), detail ×0.1 on
  the cropped label and weight), mmseg's cross-entropy (per pixel, ×weight, mean over all pixels).

Where our code draws with torch's generator instead of numpy's (the crop offsets, ClassMix's classes), the twin draws
the same way, in the same order as ours (crop rows then columns before each forward_train; a randperm per image for
ClassMix), so a fixed seed gives both sides the same crops; the student's drop path and Dropout2d draw in the forward's
order on both sides. Weights and inputs are hashed (mit_parity.py draw / hashed), nothing large is stored.

Run from the repo root (Debian python3-torch 1.13; under a minute):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/hrda_parity.py
Writes test/fixtures/hrda/expected.json (config, per step: losses, lr, crop boxes, pseudo-label share, summaries of
every weight delta, of the EMA teacher and of BN statistics; after the last step SGD momentum) and network.safetensors
(the drawn network's test-time fused logits and training outputs in eval mode, in full).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mit_parity as mp  # noqa: E402
from clan_parity import lr_at, write_safetensors  # noqa: E402
from vgg_parity import hash_uniform  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'hrda')
PARITY = dict(
    backbone='hrda-mit-b0', num_classes=5, batch=2, size=[64, 64],  # H, W of images and labels (multiples of 8)
    detail_crop=[32, 32], divisible=8,  # HRDA: 512 of 1024, crop_coord_divisible 8
    hr_loss_weight=0.1, lr_loss_weight=0.0,  # HRDA's config
    ema_alpha=0.99, pseudo_threshold=0.32, lambda_mix=1.0,  # τ 0.968 → 0.32: about half the hashed teacher's pixels
    lr_G=1e-2, max_iter=10, warmup=0, power=0.9, momentum=0.9, weight_decay=0.0,  # SGD; heads at 10×
    seed=3, steps=2, probes=8,
    image_salts=[100, 200, 300, 400], label_salts=[110, 210],  # per step: source image, target image; source label
)
IGNORE = 255


class HRDASegmentor(nn.Module):
    """HRDAEncoderDecoder's names: backbone.*, decode_head.head.*, decode_head.scale_attention.*"""

    def __init__(self, cfg, num_classes, crop, divisible):
        super().__init__()
        self.backbone = mp.MiT(**cfg)
        self.decode_head = mp.HRDAHead(cfg['embed_dims'], num_classes)
        self.crop, self.divisible, self.os = crop, divisible, 4

    def context(self, img):
        return F.interpolate(img, scale_factor=0.5, mode='bilinear', align_corners=False)  # mmseg resize

    def forward_train(self, img, box):
        lr = self.backbone(self.context(img))
        y1, y2, x1, x2 = box
        hr = self.backbone(img[:, :, y1:y2, x1:x2])
        return self.decode_head(lr, hr, box)

    def slide_boxes(self, h_img, w_img):
        """extract_slide_feat's grid: crop_size = hr_crop_size, stride = crop // 2."""
        (h_crop, w_crop), (h_stride, w_stride) = self.crop, [c // 2 for c in self.crop]
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        boxes = []
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y2, x2 = min(h_idx * h_stride + h_crop, h_img), min(w_idx * w_stride + w_crop, w_img)
                boxes.append([max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2])
        return boxes

    def encode_decode(self, img):
        """HRDAEncoderDecoder.encode_decode: the fused logits resized to the image."""
        return F.interpolate(self.test_fused(img), size=img.shape[2:], mode='bilinear', align_corners=False)

    def test_fused(self, img):
        """encode_decode's decode with hr_slide_inference (HRDAHead.forward without a crop box), at 1/4 of img."""
        head = self.decode_head
        lr_inp = self.backbone(self.context(img))
        boxes = self.slide_boxes(*img.shape[2:])
        feats = self.backbone(torch.cat([img[:, :, b[0]:b[1], b[2]:b[3]] for b in boxes], dim=0))
        bs = img.shape[0]
        lr_seg = head.head(lr_inp)
        # decode_hr
        sboxes = [[int(v / self.os) for v in b] for b in boxes]
        h_img, w_img = max(b[1] for b in sboxes), max(b[3] for b in sboxes)
        preds = torch.zeros((bs, lr_seg.shape[1], h_img, w_img))
        count = torch.zeros((bs, 1, h_img, w_img))
        crop_logits = head.head(feats)
        for i, (y1, y2, x1, x2) in enumerate(sboxes):
            preds += F.pad(crop_logits[i * bs:(i + 1) * bs], (x1, w_img - x2, y1, h_img - y2))
            count[:, :, y1:y2, x1:x2] += 1
        hr_seg = preds / count
        att = torch.sigmoid(head.scale_attention(lr_inp))
        lr_seg = (1 - att) * lr_seg
        up_lr = F.interpolate(lr_seg, scale_factor=2, mode='bilinear', align_corners=False)
        att = F.interpolate(att, scale_factor=2, mode='bilinear', align_corners=False)
        return att * hr_seg + up_lr


def random_box(h, w, crop, d):
    """get_crop_bbox(divisible=d) with torch's generator, rows then columns (ours: HrdaSegmentor.randomDetailBox)."""
    ch, cw = crop
    if (h, w) == (ch, cw):
        return [0, h, 0, w]

    def offset(margin):
        n = (margin + 1) // d
        return int(torch.randint(0, n, (1,)).item()) * d if n >= 1 else 0
    y = offset(h - ch)
    x = offset(w - cw)
    return [y, y + ch, x, x + cw]


def mm_ce(logits, label, weight=None):
    """BaseDecodeHead.losses with mmseg 0.16's CrossEntropyLoss: resize to the label, CE per pixel, ×weight, mean."""
    up = F.interpolate(logits, size=label.shape[1:], mode='bilinear', align_corners=False)
    loss = F.cross_entropy(up, label, reduction='none', ignore_index=IGNORE)
    return (loss * weight if weight is not None else loss).mean()


def hrda_losses(G, img, label, weight, cfg):
    """HRDAEncoderDecoder.forward_train + HRDAHead.losses: (total, detail term)."""
    box = random_box(*label.shape[1:], cfg['detail_crop'], cfg['divisible'])
    fused, lr_seg, hr_seg = G.forward_train(img, box)
    y1, y2, x1, x2 = box
    wd, wc = cfg['hr_loss_weight'], cfg['lr_loss_weight']
    loss = mm_ce(fused, label, weight) * (1 - wd - wc)
    detail = mm_ce(hr_seg, label[:, y1:y2, x1:x2], None if weight is None else weight[:, y1:y2, x1:x2]) * wd
    total = loss + detail
    if wc > 0:
        total = total + mm_ce(lr_seg, label, weight) * wc
    return total, detail, box


def class_mix_mask(labels, k):
    """Our classMixMask (methods/dacs.ts): per image ⌈n/2⌉ of its n classes by torch.randperm, their pixels."""
    masks = []
    for lab in labels:
        present = [c for c in range(k) if (lab == c).any()]
        order = torch.randperm(len(present)).tolist()
        chosen = [present[j] for j in order[:(len(present) + 1) // 2]]
        m = torch.zeros_like(lab, dtype=torch.bool)
        for c in chosen:
            m |= lab == c
        masks.append(m)
    return torch.stack(masks)


def teacher_mode(T):
    """DACS.forward_train: the EMA model in training mode (BN batch statistics), dropout and drop path off."""
    T.train()
    for m in T.modules():
        if isinstance(m, (nn.Dropout2d, mp.Block)):  # the twin's Block applies drop path when training
            m.training = False


def step(G, T, opt, i, xs, ys, xt, cfg):
    alpha = min(1 - 1 / (i + 1), cfg['ema_alpha'])
    with torch.no_grad():  # DACS._update_ema (at i = 0: α = 0, the teacher becomes G)
        for tp, p in zip(T.parameters(), G.parameters()):
            tp.data[:] = alpha * tp.data[:] + (1 - alpha) * p.data[:]
    opt.zero_grad()
    lr = lr_at(cfg['lr_G'], i, cfg)
    opt.param_groups[0]['lr'] = lr
    opt.param_groups[1]['lr'] = 10 * lr
    G.train()
    seg, seg_detail, src_box = hrda_losses(G, xs, ys, None, cfg)
    seg.backward()
    with torch.no_grad():
        teacher_mode(T)
        prob, pseudo = torch.max(torch.softmax(T.encode_decode(xt), dim=1), dim=1)
        confident = prob.ge(cfg['pseudo_threshold'])
        if os.environ.get('HRDA_PROB_QUANTILES'):
            print('max p quantiles', [round(float(q), 3) for q in torch.quantile(prob.flatten(), torch.tensor([.1, .25, .5, .75, .9]))], file=sys.stderr)
        share = confident.float().mean()
    mask = class_mix_mask(ys, cfg['num_classes'])
    m = mask.float()
    mixed_img = torch.where(mask.unsqueeze(1), xs, xt)
    mixed_lbl = torch.where(mask, ys, pseudo)
    weight = m + (1 - m) * share
    mix, mix_detail, mix_box = hrda_losses(G, mixed_img, mixed_lbl, weight, cfg)
    mix, mix_detail = mix * cfg['lambda_mix'], mix_detail * cfg['lambda_mix']
    mix.backward()
    opt.step()
    return dict(i=i, lr_G=lr, seg=seg.item(), seg_detail=seg_detail.item(), mix=mix.item(), mix_detail=mix_detail.item(),
                source_box=src_box, mix_box=mix_box, share=share.item(),
                pseudo_classes=[int((pseudo == c).sum()) for c in range(cfg['num_classes'])])


def g9(v):
    return float(f'{v:.9g}')  # float32 needs 9 significant digits


def summary(t, probes):
    """[‖t‖, Σt, max |t|, t at `probes` elements (k·2654435761 mod numel, k = 0…probes − 1)], 9 significant digits."""
    flat = t.detach().reshape(-1).double()
    idx = [(k * 2654435761) % flat.numel() for k in range(probes)]
    return [g9(flat.norm()), g9(flat.sum()), g9(flat.abs().max())] + [g9(flat[i]) for i in idx]


def inputs(cfg):
    n, (h, w), k = cfg['batch'], cfg['size'], cfg['num_classes']
    out = []
    for s in range(cfg['steps']):
        xs = mp.hashed([n, 3, h, w], cfg['image_salts'][2 * s], 2.0)
        xt = mp.hashed([n, 3, h, w], cfg['image_salts'][2 * s + 1], 2.0)
        out.append((xs, label_blocks(n, h, w, k, cfg['label_salts'][s]), xt))
    return out


def label_blocks(n, h, w, k, salt):
    """Source labels in 8×8 blocks: class ⌊(u + 1)/2·(K + 1)⌋ of a hashed u per block, K meaning ignore (255)."""
    u = torch.from_numpy(hash_uniform(n * (h // 8) * (w // 8), salt, 1.0)).double()
    c = torch.clamp(torch.floor((u + 1) / 2 * (k + 1)), max=k).long().reshape(n, h // 8, w // 8)
    c[c == k] = IGNORE
    return c.repeat_interleave(8, 1).repeat_interleave(8, 2)


def network_outputs(cfg, tensors):
    """The drawn network in eval mode: the test-time forward and forward_train at a fixed box, in full."""
    torch.manual_seed(0)
    G = HRDASegmentor(mp.SIZES['mit-b0'], cfg['num_classes'], cfg['detail_crop'], cfg['divisible'])
    mp.draw(G)
    G.eval()
    x = mp.hashed([cfg['batch'], 3] + cfg['size'], 1000, 2.0)
    with torch.no_grad():
        tensors['test.fused'] = G.test_fused(x)
        box = [16, 48, 8, 40]
        for n, t in zip(('fused', 'lr', 'hr'), G.forward_train(x, box)):
            tensors[f'train.{n}'] = t
    return {'input_salt': 1000, 'box': box, 'windows': G.slide_boxes(*cfg['size']), 'names_sha256': mp.names_digest(G),
            'keys': len(G.state_dict())}


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    cfg = PARITY
    tensors = {}
    expected = {'torch': torch.__version__, 'config': cfg, 'network': network_outputs(cfg, tensors)}
    torch.manual_seed(0)
    G = HRDASegmentor(mp.SIZES['mit-b0'], cfg['num_classes'], cfg['detail_crop'], cfg['divisible'])
    T = HRDASegmentor(mp.SIZES['mit-b0'], cfg['num_classes'], cfg['detail_crop'], cfg['divisible'])
    mp.draw(G)
    for p in T.parameters():
        p.requires_grad_(False)
    hp = dict(momentum=cfg['momentum'], weight_decay=cfg['weight_decay'])
    opt = torch.optim.SGD([dict(params=list(G.backbone.parameters()), lr=cfg['lr_G'], **hp),
                           dict(params=list(G.decode_head.parameters()), lr=10 * cfg['lr_G'], **hp)])
    w0 = {n: p.detach().clone() for n, p in G.named_parameters()}
    torch.manual_seed(cfg['seed'])
    steps = []
    for s, (xs, ys, xt) in enumerate(inputs(cfg)):
        rec = step(G, T, opt, s, xs, ys, xt, cfg)
        rec['delta'] = {n: summary(p.detach() - w0[n], cfg['probes']) for n, p in G.named_parameters()}
        if s == cfg['steps'] - 1:  # the teacher is G before step 1 and the mean of G's two states before step 2
            rec['teacher'] = {n: summary(p.detach() - w0[n], 4) for n, p in T.named_parameters()}
        rec['bn'] = {n: summary(b, cfg['probes']) for n, b in G.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        rec['bn_teacher'] = {n: summary(b, cfg['probes']) for n, b in T.named_buffers() if n.endswith(('running_mean', 'running_var'))}
        print(f"step {s + 1}: seg {rec['seg']:.6f} (detail {rec['seg_detail']:.6f}) mix {rec['mix']:.6f} "
              f"(detail {rec['mix_detail']:.6f}) boxes {rec['source_box']} {rec['mix_box']} share {rec['share']:.3f} "
              f"pseudo {rec['pseudo_classes']}", file=sys.stderr)
        steps.append(rec)
    names = {p: n for n, p in G.named_parameters()}
    steps[-1]['momentum'] = {names[p]: summary(st['momentum_buffer'], 0) for p, st in opt.state.items()}
    expected['steps'] = steps
    write_safetensors(os.path.join(OUT, 'network.safetensors'), tensors, {'torch': torch.__version__})
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
    for name in sorted(os.listdir(OUT)):
        print(f'{name:22s} {os.path.getsize(os.path.join(OUT, name)):8d} bytes', file=sys.stderr)


if __name__ == '__main__':
    main()
