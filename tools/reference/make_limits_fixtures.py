#!/usr/bin/env python3
"""Writes the small hostile fixtures that the resource-limit tests (src/io/limits.ts) read.

Run with an interpreter that has torch and Pillow (Debian python3-torch, python3-pil):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/make_limits_fixtures.py
Outputs go to test/fixtures/limits/ and are committed (each a few KB), so CI needs no Python. Each file is
made by the real writer (torch.save, Pillow) so the tests see what an attacker would hand us:
  shared_dicts.pth         40 levels of a dict holding the level below twice: 1.3 KB, 2^40 dotted names
  zero_stride.pth          a [20000, 20000] expand() of a 1-element view: 16 bytes of storage, 1.6 GB as a copy
  zero_stride_legacy.pth   the same in the legacy (non-zip) format
  shared_storage.pth       8 names viewing one 1024-float storage (arange): loads, as 8 copies
  bad_idat_crc.png         a 16x16 RGB PNG whose IDAT CRC is wrong: Pillow's verify() refuses it (its load() skips
                           IDAT CRCs, as fast-png skips all CRCs); we check every chunk's CRC before decoding
"""
import io
import os
import struct
import zlib

import torch
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'limits')


def shared_dicts():
    d = {'w': torch.zeros(1)}
    for _ in range(40):
        d = {'a': d, 'b': d}  # pickled once, then fetched from the memo: the file stays small
    torch.save(d, os.path.join(OUT, 'shared_dicts.pth'))


def zero_stride():
    x = torch.arange(4.0)[:1].expand(20000, 20000)  # stride (0, 0) over a 4-float storage
    assert x.stride() == (0, 0)
    torch.save({'x': x}, os.path.join(OUT, 'zero_stride.pth'))
    torch.save({'x': x}, os.path.join(OUT, 'zero_stride_legacy.pth'), _use_new_zipfile_serialization=False)


def shared_storage():
    base = torch.arange(1024.0)
    torch.save({f'v{i}': base.view(32, 32) if i % 2 else base for i in range(8)}, os.path.join(OUT, 'shared_storage.pth'))


def bad_idat_crc():
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (16, 16, 3), generator=g, dtype=torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels, 'RGB').save(buf, 'PNG')
    png = bytearray(buf.getvalue())
    at = png.index(b'IDAT') - 4
    (length,) = struct.unpack('>I', png[at:at + 4])
    crc_at = at + 8 + length
    assert struct.unpack('>I', png[crc_at:crc_at + 4])[0] == zlib.crc32(png[at + 4:crc_at])
    png[crc_at + 3] ^= 0xFF  # the data stay intact: only the checksum is wrong
    try:
        Image.open(io.BytesIO(bytes(png))).verify()
        raise SystemExit('Pillow verify() accepted a bad IDAT CRC')
    except SyntaxError as e:  # "broken PNG file (bad header checksum in b'IDAT')"
        print('Pillow verify() refuses bad_idat_crc.png:', e)
    with open(os.path.join(OUT, 'bad_idat_crc.png'), 'wb') as f:
        f.write(png)


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    shared_dicts()
    zero_stride()
    shared_storage()
    bad_idat_crc()
    for name in sorted(os.listdir(OUT)):
        print(f'{name}: {os.path.getsize(os.path.join(OUT, name))} bytes')
