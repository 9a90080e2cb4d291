#!/usr/bin/python3
"""Writes the JPEG corpus that src/data/jpeg.test.ts decodes and compares, byte for byte, with Pillow.

Run from the repo root:  /usr/bin/python3 tools/reference/make_jpeg_fixtures.py
Needs Pillow and libjpeg-turbo's command-line tools (Debian: apt-get install libjpeg-turbo-progs) for what
Pillow's encoder cannot write: restart markers, 4:4:0 / 4:1:1 sampling, arithmetic coding, an RGB (untransformed)
colour space. Writes test/fixtures/jpeg/:
  NAME.jpg       a small JPEG of a deterministic synthetic scene (gradients, edges, noise; no shared image)
  NAME.rgb       what PyTorch pipelines see: Image.open(f).convert('RGB').tobytes(), H*W*3 bytes
  manifest.json  one record per case: name, what it exercises, Pillow's mode and size, and the sha256 of the .rgb,
                 or, where there is no .rgb, why (`pillow`: Pillow's error, or CMYK, which we refuse in one line)
Pillow decodes with its defaults (libjpeg's ISLOW integer IDCT, fancy upsampling, no draft mode), and
Image.open does NOT apply the EXIF orientation: the exif_orientation6 case keeps its stored layout.
"""
import hashlib
import io
import json
import os
import random
import subprocess
import tempfile

import PIL
from PIL import Image, features

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'jpeg')


def scene(w, h, seed):
    """An RGB test image: smooth colour ramps (upsampling), hard-edged bars (ringing, clamping), noise."""
    rnd = random.Random(seed)
    px = bytearray()
    for y in range(h):
        for x in range(w):
            r, g, b = (255 * x) // max(1, w - 1), (255 * y) // max(1, h - 1), (x * y * 7) & 255
            if (x // 6 + y // 9) % 3 == 0:  # saturated bars next to ramps: IDCT over/undershoot
                r, g, b = 255 - g, 0, 255
            if x > w * 2 // 3:
                r, g, b = (rnd.randrange(256) for _ in range(3))
            px += bytes((r, g, b))
    return Image.frombytes('RGB', (w, h), bytes(px))


def pil_save(im, **kw):
    buf = io.BytesIO()
    im.save(buf, 'JPEG', **kw)
    return buf.getvalue()


def tool(args, data):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def cjpeg(im, *args):
    """libjpeg-turbo's cjpeg on the image as PPM/PGM."""
    buf = io.BytesIO()
    im.save(buf, 'PPM')
    return tool(['cjpeg', *args], buf.getvalue())


def exif_orientation(data, value):
    """Inserts an APP1 EXIF segment holding only the orientation tag right after SOI."""
    tiff = b'II*\x00\x08\x00\x00\x00\x01\x00' + b'\x12\x01\x03\x00\x01\x00\x00\x00' + bytes((value, 0, 0, 0)) + b'\x00' * 4
    payload = b'Exif\x00\x00' + tiff
    return data[:2] + b'\xff\xe1' + (len(payload) + 2).to_bytes(2, 'big') + payload + data[2:]


def junk(data):
    at = data.index(b'\xff\xdb')  # the first DQT
    return data[:at] + b'\x00\x11\x22' + data[at:]


def cases():
    img = scene(45, 37, 1)      # 45x37: partial MCUs on both edges for every sampling
    big = scene(64, 48, 2)
    gray = scene(41, 29, 3).convert('L')
    base = pil_save(img, quality=90)
    return [
        ('baseline_420_q90', 'baseline, 4:2:0, quality 90 (Pillow default sampling)', pil_save(img, quality=90)),
        ('baseline_422_q75', 'baseline, 4:2:2', pil_save(img, quality=75, subsampling=1)),
        ('baseline_444_q95', 'baseline, 4:4:4', pil_save(img, quality=95, subsampling=0)),
        ('baseline_420_q10', 'baseline, 4:2:0, quality 10: large coefficient errors, IDCT output clamped',
         pil_save(img, quality=10)),
        ('baseline_444_q100', 'baseline, 4:4:4, quality 100 (all-1 quantisers)', pil_save(big, quality=100, subsampling=0)),
        ('optimized_420', 'baseline, 4:2:0, optimised Huffman tables', pil_save(big, quality=85, optimize=True)),
        ('progressive_420', 'progressive, 4:2:0', pil_save(img, quality=90, progressive=True)),
        ('progressive_444', 'progressive, 4:4:4, optimised', pil_save(big, quality=80, subsampling=0, progressive=True, optimize=True)),
        ('restart_420', 'baseline, 4:2:0, a restart marker every 2 MCUs (jpegtran -restart 2B)',
         tool(['jpegtran', '-restart', '2B'], pil_save(img, quality=90))),
        ('restart_progressive_422', 'progressive, 4:2:2, a restart marker every MCU (jpegtran -restart 1B)',
         tool(['jpegtran', '-restart', '1B'], pil_save(img, quality=85, subsampling=1, progressive=True))),
        ('sampling_440', 'baseline, 4:4:0 (h1v2, cjpeg -sample 1x2)', cjpeg(img, '-quality', '90', '-sample', '1x2')),
        ('sampling_411', 'baseline, 4:1:1 (h4v1, cjpeg -sample 4x1)', cjpeg(img, '-quality', '90', '-sample', '4x1')),
        ('arithmetic_420', 'arithmetic coding (cjpeg -arithmetic)', cjpeg(img, '-quality', '90', '-arithmetic')),
        ('rgb_colorspace', 'RGB stored without the YCbCr transform (cjpeg -rgb, Adobe marker)', cjpeg(img, '-quality', '90', '-rgb')),
        ('gray_baseline', 'greyscale, baseline', pil_save(gray, quality=90)),
        ('gray_progressive', 'greyscale, progressive', pil_save(gray, quality=90, progressive=True)),
        ('tiny_1x1', '1x1, 4:2:0', pil_save(scene(1, 1, 4), quality=90)),
        ('odd_17x3', '17x3, 4:2:0: a chroma plane of odd width and 2 rows', pil_save(scene(17, 3, 5), quality=90)),
        # Flat mid-grey (every DC difference 0) with libjpeg's optimised Huffman tables: 1-bit codes, so exactly the
        # least data a JPEG of its size can hold.
        ('flat_gray_optimized', 'flat 128 grey, baseline, optimised: 2 bits per block',
         pil_save(Image.new('L', (128, 32), 128), quality=90, optimize=True)),
        ('flat_progressive', 'flat 128 grey RGB, progressive 4:2:0, optimised: 1 bit per block in each DC scan',
         pil_save(Image.new('RGB', (128, 32), (128, 128, 128)), quality=90, optimize=True, progressive=True)),
        ('exif_orientation6', 'EXIF orientation 6: Image.open keeps the stored 45x37 layout',
         exif_orientation(pil_save(img, quality=90), 6)),
        ('cmyk', 'CMYK (Adobe, inverted): Pillow opens it as mode CMYK; we refuse it',
         pil_save(Image.merge('CMYK', (*img.split(), gray.resize(img.size))), quality=90)),
        # Damaged files. Pillow decodes what libjpeg only warns about, and refuses a file that ends before EOI.
        ('junk_between_segments', 'three junk bytes before a DQT marker (skipped, as libjpeg and Pillow do)', junk(base)),
        ('early_eoi', 'entropy data cut at 70 % and closed by EOI: the rest decodes grey', base[:len(base) * 7 // 10] + b'\xff\xd9'),
        ('truncated', 'cut at 70 % with no EOI: Pillow says "image file is truncated"', base[:len(base) * 7 // 10]),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    records = []
    for name, what, data in cases():
        with open(os.path.join(OUT, f'{name}.jpg'), 'wb') as f:
            f.write(data)
        im = Image.open(io.BytesIO(data))
        rec = {'name': name, 'what': what, 'mode': im.mode, 'size': list(im.size)}
        try:
            if im.mode == 'CMYK':
                raise ValueError('CMYK')  # Pillow converts it naively; a model trained on RGB should not see that
            rgb = im.convert('RGB').tobytes()
        except (OSError, ValueError) as e:
            rec['pillow'] = str(e)
        else:
            with open(os.path.join(OUT, f'{name}.rgb'), 'wb') as f:
                f.write(rgb)
            rec['sha256'] = hashlib.sha256(rgb).hexdigest()
        records.append(rec)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        head = {'pillow': PIL.__version__, 'libjpeg_turbo': features.version('libjpeg_turbo') or features.version('jpg')}
        f.write('{"reference": %s, "cases": [\n' % json.dumps(head))
        f.write(',\n'.join(json.dumps(r) for r in records) + '\n]}\n')
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f'{len(records)} cases, {total} bytes in {OUT}')


if __name__ == '__main__':
    main()
