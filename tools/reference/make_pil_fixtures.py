#!/usr/bin/python3
"""Stores Pillow resize outputs as test fixtures for src/data/resize.ts (docs/method.md §5.4).

Run from the repo root:  /usr/bin/python3 tools/reference/make_pil_fixtures.py
Reads the shared fixtures at ../shared/fixtures (never copied into the repo) and writes test/fixtures/pil/:
  *.png          small PIL outputs (BICUBIC for RGB images, NEAREST for labels), compared pixel by pixel;
  noise_in.png   a deterministic noise image (worst case for rounding) used as an input;
  manifest.json  one record per case: source, target size, filter, output file or sha256 of the raw output
                 bytes (for outputs too large to store, e.g. the full-size GTA5 -> 1280x720 resize).
"""
import hashlib
import json
import os
import random
import sys

import PIL
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, '..', 'shared', 'fixtures')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'pil')

CS_IMG = 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'
CS_LAB = 'cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png'
NOISE = 'pil:noise_in.png'
SHORT = {CS_IMG: 'cs', CS_LAB: 'cslabelids', NOISE: 'noise', 'gta5/labels/00001.png': 'gta5label'}

# (source, (w, h), filter, store the output as a PNG?)
CASES = [
    (CS_IMG, (100, 50), 'bicubic', True),     # down 2.56x, odd ratio
    (CS_IMG, (300, 170), 'bicubic', True),    # up 1.17x / 1.33x
    (CS_IMG, (131, 97), 'bicubic', True),     # down, unequal ratios
    (CS_IMG, (250, 200), 'bicubic', True),    # x down, y up
    (NOISE, (64, 41), 'bicubic', True),       # up, noise stresses clipping and rounding
    (NOISE, (13, 9), 'bicubic', True),        # down ~2.8x
    (NOISE, (37, 10), 'bicubic', True),       # vertical pass only
    (NOISE, (20, 23), 'bicubic', True),       # horizontal pass only
    (CS_LAB, (100, 50), 'nearest', True),
    (CS_LAB, (300, 170), 'nearest', True),
    (CS_LAB, (131, 97), 'nearest', True),
    # Full-size reference operations (§5.1, §5.3, §5.4): only the sha256 of the output bytes is stored.
    ('gta5/images/00001.png', (1280, 720), 'bicubic', False),
    ('gta5/images/00001.png', (1408, 792), 'bicubic', False),
    ('gta5/images/00001.png', (1024, 576), 'bicubic', False),
    ('cityscapes-color/native_2048x1024.png', (1024, 512), 'bicubic', False),
    ('gta5/labels/00001.png', (1280, 720), 'nearest', True),
]


def load(src):
    if src == NOISE:
        return Image.open(os.path.join(OUT, 'noise_in.png'))
    return Image.open(os.path.join(SHARED, src))


def main():
    if not os.path.isdir(SHARED):
        sys.exit(f'shared fixtures not found at {SHARED}')
    os.makedirs(OUT, exist_ok=True)
    rnd = random.Random(1234)
    noise = Image.frombytes('RGB', (37, 23), bytes(rnd.choice((0, 255, rnd.randrange(256))) for _ in range(37 * 23 * 3)))
    noise.save(os.path.join(OUT, 'noise_in.png'))
    records = []
    for src, size, filt, store in CASES:
        im = load(src)
        if filt == 'bicubic':
            im = im.convert('RGB')  # as the reference: Image.open(...).convert('RGB')
        out = im.resize(size, Image.BICUBIC if filt == 'bicubic' else Image.NEAREST)
        rec = {'src': src, 'size': list(size), 'filter': filt, 'mode': out.mode,
               'sha256': hashlib.sha256(out.tobytes()).hexdigest()}
        if store:
            name = f'{filt}_{SHORT[src]}_{size[0]}x{size[1]}.png'
            out.save(os.path.join(OUT, name), optimize=True)
            rec['file'] = name
        records.append(rec)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        f.write('{"pillow": %s, "cases": [\n' % json.dumps(PIL.__version__))
        f.write(',\n'.join(json.dumps(r) for r in records) + '\n]}\n')
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f'wrote {len(records)} cases to {OUT} ({total} bytes, Pillow {PIL.__version__})')


if __name__ == '__main__':
    main()
