#!/usr/bin/env python3
"""PyTorch reference for src/infer/inference.ts: mmsegmentation's test-time inference modes on the `micro` 19-class
model of test/fixtures/eval/micro19.safetensors and the real Cityscapes fixture (../shared/fixtures/cityscapes, val,
one 256×128 image and its gtFine labels).

Written from mmseg 0.x's semantics (EncoderDecoder.slide_inference / inference / aug_test, MultiScaleFlipAug,
Resize(keep_ratio=True) = mmcv.rescale_size), with CLAN's network and pre-processing:

    pass sizes  no `scales` and no flip: ONE pass at the eval size exactly (CLAN's evaluation input, §5.4);
                otherwise MultiScaleFlipAug: scale_r = (int(W_eval·r), int(H_eval·r)) per ratio r, each applied
                with keep_ratio (f = min(max(scale)/max(h, w), min(scale)/min(h, w)) of the image's own w×h,
                size = (int(w·f + 0.5), int(h·f + 0.5))), and for each scale no flip, then flip if asked
    image       PIL RGB → resize(size, BICUBIC) → (flip left-right) → float32 → RGB→BGR → − IMG_MEAN → CHW
    whole       logits = up(x1 + x2) bilinear align_corners=True to the output size (one resize, as CLAN's eval)
    slide       windows as slide_inference (crop/stride given W×H here; mmseg's config order is H, W):
                h_grids = max(H − h_crop + h_stride − 1, 0) // h_stride + 1 (same for w); y1 = i·h_stride,
                y2 = min(y1 + h_crop, H), y1 = max(y2 − h_crop, 0); each window's up(x1 + x2) to the window size
                (encode_decode), summed into the image frame (F.pad), divided by the count map, then up to the
                output size (the rescale of slide_inference)
    per pass    softmax over classes at the output size, flipped back if the pass was flipped (inference)
    aug         probabilities summed in pass order and divided by the number of passes; argmax (aug_test)

The output size is the label's (the image's here: 256×128). Writes test/fixtures/infer/{expected.json, <case>.png}.
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/infer_reference.py
"""
import json
import os
import re
import sys

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_reference import CITYSCAPES, IMG_MEAN, LABEL_IDS, build, read_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, 'test', 'fixtures', 'eval', 'micro19.safetensors')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'infer')
STEM = 'frankfurt/frankfurt_000000_000294'
K = 19

# crop/stride are [W, H] (the CLI's --crop WxH); 0.5 of 128×64 is 64×32, lower than the 48-row crop: a short window.
CASES = [
    dict(name='slide', eval_size=[128, 64], mode='slide', crop=[64, 48], stride=[48, 32], scales=None, flip=False),
    dict(name='whole_tta', eval_size=[128, 64], mode='whole', scales=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75], flip=True),
    dict(name='slide_tta', eval_size=[128, 64], mode='slide', crop=[64, 48], stride=[48, 32], scales=[0.5, 1.0, 1.5],
         flip=True),
    # eval size 96×64 (3:2) on a 2:1 image: keep_ratio gives 72×36, 96×48, 120×60, not the stretched 96×64 of whole
    dict(name='keep_ratio', eval_size=[96, 64], mode='whole', scales=[0.75, 1.0, 1.25], flip=False),
]
SAMPLES = 12  # pixels at fixed places whose K probabilities are stored per case, and as many of the least certain


def rescale_size(w, h, scale):
    """mmcv.rescale_size with a (w, h) tuple: the largest size of the same ratio inside the scale's edges."""
    f = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(w * float(f) + 0.5), int(h * float(f) + 0.5)


def passes(case, w, h):
    """[(width, height, flip)] in MultiScaleFlipAug order (scales outer, flip inner)."""
    if case['scales'] is None and not case['flip']:
        return [(case['eval_size'][0], case['eval_size'][1], False)]
    ew, eh = case['eval_size']
    out = []
    for r in case['scales'] or [1.0]:
        sw, sh = rescale_size(w, h, (int(ew * r), int(eh * r)))
        out += [(sw, sh, flip) for flip in ([False, True] if case['flip'] else [False])]
    return out


def to_input(image, w, h, flip):
    a = np.asarray(image.resize((w, h), Image.BICUBIC), np.float32)
    if flip:
        a = a[:, ::-1]  # RandomFlip after Resize, before Normalize
    a = a[:, :, ::-1] - IMG_MEAN
    return torch.from_numpy(np.ascontiguousarray(a.transpose((2, 0, 1)))).unsqueeze(0)


def up(t, size):
    return F.interpolate(t, size=size, mode='bilinear', align_corners=True)


def slide(G, x, crop, stride):
    """slide_inference without its rescale: [1, K, H, W] logits at the input's size."""
    (w_crop, h_crop), (w_stride, h_stride) = crop, stride
    _, _, H, W = x.shape
    h_grids = max(H - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(W - w_crop + w_stride - 1, 0) // w_stride + 1
    preds = x.new_zeros((1, K, H, W))
    count = x.new_zeros((1, 1, H, W))
    windows = []
    for i in range(h_grids):
        for j in range(w_grids):
            y1, x1 = i * h_stride, j * w_stride
            y2, x2 = min(y1 + h_crop, H), min(x1 + w_crop, W)
            y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
            c = x[:, :, y1:y2, x1:x2]
            a, b = G(c)
            preds += F.pad(up(a + b, c.shape[2:]), (x1, W - x2, y1, H - y2))
            count[:, :, y1:y2, x1:x2] += 1
            windows.append([x1, y1, x2, y2])
    assert (count == 0).sum() == 0
    return preds / count, windows


def infer(G, image, case, out_size):
    """Averaged probabilities [1, K, H, W] at out_size (H, W), the passes and each pass's slide windows."""
    ps = passes(case, *image.size)
    total, windows = None, []
    for w, h, flip in ps:
        x = to_input(image, w, h, flip)
        if case['mode'] == 'slide':
            logits, win = slide(G, x, case['crop'], case['stride'])
            logits = up(logits, out_size)
            windows.append(win)
        else:
            a, b = G(x)
            logits = up(a + b, out_size)
        p = F.softmax(logits, dim=1)
        if flip:
            p = p.flip(dims=(3,))
        total = p if total is None else total + p
    return total / len(ps), ps, windows


def fast_hist(gt, pred, n):
    k = (gt >= 0) & (gt < n)
    return np.bincount(n * gt[k].astype(int) + pred[k], minlength=n ** 2).reshape(n, n)


def main():
    torch.set_num_threads(1)
    G = build()
    G.load_state_dict({k[2:]: v for k, v in read_safetensors(MODEL).items()}, strict=True)
    G.eval()
    city, name = STEM.split('/')
    image = Image.open(os.path.join(CITYSCAPES, 'leftImg8bit', 'val', city, f'{name}_leftImg8bit.png')).convert('RGB')
    ids = np.array(Image.open(os.path.join(CITYSCAPES, 'gtFine', 'val', city, f'{name}_gtFine_labelIds.png')))
    gt = np.full(ids.shape, 255, np.uint8)
    for train_id, label_id in enumerate(LABEL_IDS):
        gt[ids == label_id] = train_id
    H, W = gt.shape
    fixed = [((i * 37 + 5) % W, (i * 53 + 3) % H) for i in range(SAMPLES)]  # (x, y)
    os.makedirs(OUT, exist_ok=True)
    cases = []
    with torch.no_grad():
        for case in CASES:
            probs, ps, windows = infer(G, image, case, (H, W))
            p = probs[0]  # [K, H, W]
            top2 = p.topk(2, dim=0).values
            label = p.argmax(0).numpy().astype(np.uint8)
            # most pixels of one pass are saturated (0 or 1); the least certain of the average test the blend
            order = np.lexsort((np.arange(H * W), top2[0].flatten().numpy()))[:SAMPLES]
            samples = fixed + [(int(i) % W, int(i) // W) for i in order]
            Image.fromarray(label, mode='L').save(os.path.join(OUT, f"{case['name']}.png"), optimize=True)
            hist = fast_hist(gt.flatten(), label.flatten(), K)
            cases.append(dict(
                case, passes=[[w, h, int(f)] for w, h, f in ps], windows=windows,
                min_top2_margin=(top2[0] - top2[1]).min().item(),
                exact_ties=int((top2[0] == top2[1]).sum()),  # argmax takes the first class; needs equal bits
                class_mean=[float(v) for v in p.double().mean((1, 2))],
                samples=[[x, y, [float(v) for v in p[:, y, x]]] for x, y in samples],
                pred_histogram=[int(c) for c in np.bincount(label.flatten(), minlength=K)],
                confusion=hist.tolist()))
            print(f"{case['name']}: {len(ps)} passes, classes {sorted(set(label.flatten().tolist()))}, "
                  f"min top-2 margin {cases[-1]['min_top2_margin']:.3g}", file=sys.stderr)
    expected = dict(made_by='tools/reference/infer_reference.py', torch=torch.__version__, pil=PIL.__version__,
                    model='test/fixtures/eval/micro19.safetensors', image=STEM, label_size=[W, H], cases=cases)
    text = json.dumps(expected, indent=1)
    text = re.sub(r'\[[^\[\]{}]*\]', lambda m: re.sub(r'\s+', '', m.group(0)).replace(',', ', '), text)
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        f.write(text + '\n')


if __name__ == '__main__':
    main()
