#!/usr/bin/env python3
"""PyTorch reference for src/eval/evaluate.ts: CLAN_evaluate.py + CLAN_iou.py on the Cityscapes fixture with a
fixed small model (docs/method.md §5.3, §5.4).

The model is the `micro` generator (Bottleneck, [1, 1, 1, 1], base width 4, 19 classes) from a fixed seed,
trained for a few SGD steps on the fixture image + label (in train mode, so the BN running statistics are
non-trivial too) so that its argmax map holds several classes. Evaluation then follows the official scripts:

    image  PIL RGB → resize(EVAL_SIZE, BICUBIC) → float32 → RGB→BGR → − IMG_MEAN → CHW        (§5.4)
    label  gtFine labelIds at full resolution → trainIds by info.json label2train (else 255)   (§5.3)
    G.eval(), no_grad: x1, x2 = G(x); up(x1 + x2) bilinear align_corners=True to the label size;
    argmax → uint8; fast_hist over 0 ≤ gt < 19; IoU = diag / (row + col − diag); mIoU = nanmean.

micro19.safetensors holds the G state_dict as `G.<name>` (BN buffers included, num_batches_tracked as I64); the
4-D conv weights are stored as F16 (the 19-class heads alone are 175k values: 700 KB as F32), and the reference
is computed from the model as read back from that file, i.e. with those F16 values widened to float32.

Writes test/fixtures/eval/{micro19.safetensors, pred.png, expected.json}. Run from anywhere:
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/eval_reference.py
"""
import json
import os
import re
import struct
import sys

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import Bottleneck, ResNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CITYSCAPES = os.path.join(ROOT, '..', 'shared', 'fixtures', 'cityscapes')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'eval')

CFG = dict(
    eval_size=[128, 64],  # network input W, H: half the fixture's 256×128, so the BICUBIC resize matters
    num_classes=19,
    block_counts=[1, 1, 1, 1],
    base_width=4,  # the TS `micro` backbone: 128 channels into the heads
    seed=0,  # torch.manual_seed before building G
    train_steps=40,  # SGD steps on the fixture image + label, to make the argmax map non-trivial
    train_lr=0.05,  # heads at 10× (as §3), backbone at 1×
    momentum=0.9,
    conv_weights_f16=True,  # 4-D weights rounded to and stored as F16 (halves the file; heads are 175k values)
)
IMG_MEAN = np.array((104.00698793, 116.66876762, 122.67891434), dtype=np.float32)  # BGR, §5.4
# info.json label2train (§5.3): these labelIds → trainIds 0..18 in order; every other id → 255.
LABEL_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]


def read_pair():
    """The fixture's val images (sorted) as (name, image tensor [1,3,h,w], trainId label [H,W] uint8)."""
    img_dir = os.path.join(CITYSCAPES, 'leftImg8bit', 'val')
    out = []
    for city in sorted(os.listdir(img_dir)):
        for f in sorted(os.listdir(os.path.join(img_dir, city))):
            if not f.endswith('_leftImg8bit.png'):
                continue
            stem = f[:-len('_leftImg8bit.png')]
            # cityscapes_dataset.py __getitem__ (eval): convert('RGB'), resize(crop_size, BICUBIC), float32,
            # [:, :, ::-1], -= IMG_MEAN, transpose((2, 0, 1)).
            image = Image.open(os.path.join(img_dir, city, f)).convert('RGB')
            image = image.resize(tuple(CFG['eval_size']), Image.BICUBIC)
            a = np.asarray(image, np.float32)[:, :, ::-1] - IMG_MEAN
            x = torch.from_numpy(a.transpose((2, 0, 1)).copy()).unsqueeze(0)
            ids = np.array(Image.open(os.path.join(CITYSCAPES, 'gtFine', 'val', city, f'{stem}_gtFine_labelIds.png')))
            label = np.full(ids.shape, 255, np.uint8)
            for train_id, label_id in enumerate(LABEL_IDS):
                label[ids == label_id] = train_id
            out.append((f'{city}/{stem}', x, label))
    return out


# safetensors by hand (the pip package is absent), with F16 besides clan_parity.py's F32/I64. Layout as
# src/io/safetensors.ts writes it: sorted by element size (desc) then name, header space-padded to 8 bytes.
ST_DTYPES = {torch.float32: ('F32', '<f4'), torch.float16: ('F16', '<f2'), torch.int64: ('I64', '<i8')}


def write_safetensors(path, tensors, metadata):
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, offset = {'__metadata__': {k: str(v) for k, v in metadata.items()}}, [], 0
    for n in names:
        t = tensors[n].detach().contiguous().cpu()
        code, np_dtype = ST_DTYPES[t.dtype]
        blob = t.numpy().astype(np_dtype).tobytes()
        header[n] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js + b''.join(blobs))


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    np_dtypes = {code: np_dtype for code, np_dtype in ST_DTYPES.values()}
    out = {}
    for name, info in header.items():
        b, e = info['data_offsets']
        a = np.frombuffer(data[8 + n + b:8 + n + e], dtype=np_dtypes[info['dtype']]).reshape(info['shape'])
        out[name] = torch.from_numpy(a.copy())
    return out


def build():
    torch.manual_seed(CFG['seed'])
    return ResNet(Bottleneck, CFG['block_counts'], num_classes=CFG['num_classes'], base_width=CFG['base_width'])


def train(G, pairs):
    """A few SGD steps of cross-entropy (ignore 255) at the label size; train mode updates the BN stats."""
    opt = torch.optim.SGD([{'params': G.backbone_parameters(), 'lr': CFG['train_lr']},
                           {'params': G.head_parameters(), 'lr': 10 * CFG['train_lr']}],
                          lr=CFG['train_lr'], momentum=CFG['momentum'])
    G.train()
    for _ in range(CFG['train_steps']):
        for _, x, label in pairs:
            opt.zero_grad()
            x1, x2 = G(x)
            y = torch.from_numpy(label.astype(np.int64)).unsqueeze(0)
            size = label.shape
            up = lambda t: F.interpolate(t, size=size, mode='bilinear', align_corners=True)  # noqa: E731
            loss = F.cross_entropy(up(x1), y, ignore_index=255) + F.cross_entropy(up(x2), y, ignore_index=255)
            loss.backward()
            opt.step()
    return loss.item()


def fast_hist(gt, pred, n):
    k = (gt >= 0) & (gt < n)
    return np.bincount(n * gt[k].astype(int) + pred[k], minlength=n ** 2).reshape(n, n)


def evaluate(G, pairs):
    """CLAN_evaluate.py L91-114 + CLAN_iou.py. Returns per-image predictions, the confusion, the min margin."""
    n = CFG['num_classes']
    G.eval()
    hist = np.zeros((n, n), np.int64)
    preds, margin = [], float('inf')
    with torch.no_grad():
        for name, x, label in pairs:
            x1, x2 = G(x)
            out = F.interpolate(x1 + x2, size=label.shape, mode='bilinear', align_corners=True)[0]  # [C, H, W]
            top2 = out.topk(2, dim=0).values
            margin = min(margin, (top2[0] - top2[1]).min().item())
            pred = np.asarray(np.argmax(out.numpy().transpose(1, 2, 0), axis=2), dtype=np.uint8)
            hist += fast_hist(label.flatten(), pred.flatten(), n)
            preds.append((name, pred))
    return preds, hist, margin


def main():
    torch.set_num_threads(1)
    pairs = read_pair()
    G = build()
    loss = train(G, pairs)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, 'micro19.safetensors')
    sd = {f'G.{k}': (v.half() if CFG['conv_weights_f16'] and v.dim() == 4 else v) for k, v in G.state_dict().items()}
    write_safetensors(path, sd,
                      {'made_by': 'tools/reference/eval_reference.py', 'backbone': 'micro', 'num_classes': 19})
    # Evaluate the model as read back from the file (F16 weights widen exactly into the float32 parameters by
    # load_state_dict's copy_, as Module.loadStateDict does), so the fixture and the numbers cannot drift apart.
    G2 = build()
    G2.load_state_dict({k[2:]: v for k, v in read_safetensors(path).items()}, strict=True)
    preds, hist, margin = evaluate(G2, pairs)
    assert len(preds) == 1, 'the fixture has one val image; pred.png stores one map'
    name, pred = preds[0]
    Image.fromarray(pred, mode='L').save(os.path.join(OUT, 'pred.png'), optimize=True)

    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    miou = float(np.nanmean(iou))
    counts = np.bincount(pred.flatten(), minlength=CFG['num_classes'])
    expected = dict(
        made_by='tools/reference/eval_reference.py', torch=torch.__version__, pil=PIL.__version__,
        config=CFG, image=name, label_size=list(pred.shape[::-1]), eval_size=CFG['eval_size'],
        train_loss_last=loss, min_top2_margin=margin,
        miou=miou, miou_pct=round(miou * 100, 2),
        per_class_iou=[None if np.isnan(v) else float(v) for v in iou],
        pred_histogram=[int(c) for c in counts],
        confusion=hist.tolist(),
    )
    text = json.dumps(expected, indent=1)
    text = re.sub(r'\[[^\[\]{}]*\]', lambda m: re.sub(r'\s+', '', m.group(0)).replace(',', ', '), text)  # flat lists on one line
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        f.write(text + '\n')
    classes = [c for c in range(CFG['num_classes']) if counts[c]]
    print(f'{name}: mIoU {miou * 100:.2f}, predicted classes {classes}, min top-2 margin {margin:.3g}, '
          f'last train loss {loss:.3f}', file=sys.stderr)


if __name__ == '__main__':
    main()
