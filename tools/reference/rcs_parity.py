#!/usr/bin/env python3
"""Twin of DAFormer's rare-class sampling table, and its fixture test/fixtures/rcs/expected.json.

Written from lhoyer/DAFormer: tools/convert_datasets/gta.py (per label, the pixels of each train id present: the
sample_class_stats.json and samples_with_class.json it writes) and mmseg/datasets/uda_dataset.py
(get_rcs_class_probs: classes sorted by their total pixels, freq = 1 - total / sum, softmax(freq / T) in torch's
float32, and the same in float64; samples_with_class: the files with more than rcs_min_pixels pixels of a class). What it checks of ours
(src/data/rcs.ts computeClassStats + rcsTable): the class order, the probabilities and every class's pool.

Two inputs:
  - the 2000 source labels of digitscapes (the set a `--method daformer` demo run draws from), as written by
    `node tools/reference/digitscapes_dump.mjs DIR` (DIR/source_lab.bin, [2000, 64, 64] uint8, 255 = ignore).
    Ours scales min_pixels by the label's area against GTA5's 1914x1052 (3000 -> 6.1 px at 64x64); the twin
    applies the same scaled threshold, which is the only thing here that is not DAFormer's.
  - the GTA5 label of ../shared/fixtures (a P-mode PNG at the native 1914x1052, so the threshold is DAFormer's 3000
    unscaled), read as gta.py does (Pillow, palette indices = Cityscapes label ids) and mapped to train ids.

Run from the repo root after `npm run build` (Debian python3-torch 1.13, numpy and Pillow; seconds):
    node tools/reference/digitscapes_dump.mjs /tmp/ds
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/rcs_parity.py /tmp/ds
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'rcs')
SHARED = os.path.join(HERE, '..', '..', '..', 'shared', 'fixtures')
TEMPERATURE = 0.01      # DAFormer's rare_class_sampling.class_temp
MIN_PIXELS = 3000       # DAFormer's rare_class_sampling.min_pixels, for GTA5's labels
PAPER_PIXELS = 1914 * 1052
# gta.py's id_to_trainid: Cityscapes label id -> train id (the 19 evaluated classes); anything else is ignored
ID_TO_TRAINID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def class_stats(train_ids, num_classes):
    """gta.py's per-label statistics: {train id: pixels} for the ids present (ignore and >= K not counted)."""
    return {c: int(np.sum(train_ids == c)) for c in range(num_classes) if np.sum(train_ids == c) > 0}


def rcs_table(stats, min_pixels):
    """uda_dataset.py: classes by total pixels (ascending), softmax((1 - f) / T) in float32, pools over min_pixels."""
    overall = {}
    for s in stats:  # insertion order as the official dict, then a stable sort by count
        for c, n in s['classes'].items():
            overall[c] = overall.get(c, 0) + n
    overall = dict(sorted(overall.items(), key=lambda kv: kv[1]))
    freq = torch.tensor(list(overall.values()))
    freq = freq / torch.sum(freq)
    freq = 1 - freq
    probs = torch.softmax(freq / TEMPERATURE, dim=-1)
    # the same in float64 (ours computes in doubles): the float32 logits near 1/T = 100 are only good to 7.6e-6
    f64 = torch.tensor(list(overall.values()), dtype=torch.float64)
    probs64 = torch.softmax((1 - f64 / f64.sum()) / TEMPERATURE, dim=-1)
    pools = [[i for i, s in enumerate(stats) if s['classes'].get(c, 0) > min_pixels * s['pixels'] / PAPER_PIXELS]
             for c in overall]
    return {'classes': list(overall.keys()), 'probs': [float(p) for p in probs], 'probs64': [float(p) for p in probs64],
            'pools': pools}


def digitscapes_case(dump_dir):
    lab = np.fromfile(os.path.join(dump_dir, 'source_lab.bin'), dtype=np.uint8).reshape(-1, 64, 64)
    stats = [{'pixels': 64 * 64, 'classes': class_stats(l, 11)} for l in lab]
    return {'spec': 'digitscapes:source', 'labels': len(stats), **rcs_table(stats, MIN_PIXELS)}


def gta5_case():
    path = os.path.join(SHARED, 'gta5', 'labels', '00001.png')
    ids = np.array(Image.open(path))  # P mode: the palette indices, i.e. the label ids (gta.py reads 'unchanged')
    train = np.full(ids.shape, 255, dtype=np.uint8)
    for k, v in ID_TO_TRAINID.items():
        train[ids == k] = v
    stats = [{'pixels': int(ids.size), 'classes': class_stats(train, 19)}]
    return {'spec': 'gta5 fixture labels/00001.png', 'labels': 1, 'stats': {str(k): v for k, v in stats[0]['classes'].items()},
            **rcs_table(stats, MIN_PIXELS)}


def main():
    dump_dir = sys.argv[1] if len(sys.argv) > 1 else '/tmp/ds'
    out = {'temperature': TEMPERATURE, 'min_pixels': MIN_PIXELS, 'torch': torch.__version__,
           'digitscapes': digitscapes_case(dump_dir), 'gta5': gta5_case()}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    d = out['digitscapes']
    print(f"digitscapes: {len(d['classes'])} classes, pools {[len(p) for p in d['pools']]}; "
          f"gta5: {len(out['gta5']['classes'])} classes, {sum(len(p) > 0 for p in out['gta5']['pools'])} with a pool")


if __name__ == '__main__':
    main()
