#!/usr/bin/env python3
"""Writes the small checkpoint fixtures that src/io/*.test.ts read, plus expected.json describing them.

Run with an interpreter that has torch (Debian python3-torch):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/make_pth_fixtures.py
Outputs go to test/fixtures/pth/ and are committed, so CI needs no Python. Values are deterministic (fixed
seed); legacy-format files still differ between runs in their storage keys, which torch derives from object ids.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'pth')
DTYPE_NAMES = {torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16',
               torch.bfloat16: 'bfloat16', torch.int64: 'int64', torch.int32: 'int32',
               torch.uint8: 'uint8', torch.bool: 'bool'}


def describe(t):
    """Expected name → {dtype, shape, values} with values of the contiguous tensor, row-major.

    float16/bfloat16 are given as raw 16-bit words (that is how the TS side holds them) and int64 as
    decimal strings (JSON numbers lose precision past 2^53)."""
    t = t.detach().contiguous().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        values = [int(w) & 0xFFFF for w in t.view(torch.int16).tolist()]
    elif t.dtype == torch.int64:
        values = [str(v) for v in t.tolist()]
    elif t.dtype == torch.bool:
        values = [int(v) for v in t.tolist()]
    else:
        values = t.tolist()  # float32 → exact double of each element
    return values


def expect(tensors):
    return {k: {'dtype': DTYPE_NAMES[v.dtype], 'shape': list(v.shape), 'values': describe(v)}
            for k, v in tensors.items()}


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Conv2d(4, 2, 1, bias=False)

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))))


class Evil:
    """What an attacker would pickle: unpickling calls os.system('echo pwned')."""

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def save_bytes(obj, **kw):
    """torch.save into memory: the zip's top folder is then 'archive' rather than the file stem."""
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def write(name, data):
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def safetensors_bytes(tensors, metadata):
    """safetensors by hand, following the reference writer: tensors ordered by element size (largest first)
    then name, JSON header space-padded to a multiple of 8 (the `safetensors` package may be missing)."""
    codes = {torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16',
             torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8', torch.bool: 'BOOL'}
    items = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, t in items:
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dim() > 0 else t.reshape(1).view(torch.uint8).numpy().tobytes()
        header[name] = {'dtype': codes[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 8)
    return struct.pack('<Q', len(js)) + js + b''.join(blobs)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    expected = {}

    # 1. A conv+bn state dict (OrderedDict with _metadata), in both serialisations; one BN training step so
    # running stats and num_batches_tracked (an int64 scalar) are non-trivial.
    net = TinyNet()
    net.train()
    net(torch.randn(2, 3, 5, 5))
    sd = net.state_dict()
    torch.save(sd, os.path.join(OUT, 'net_zip.pth'))
    torch.save(sd, os.path.join(OUT, 'net_legacy.pth'), _use_new_zipfile_serialization=False)
    # Protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) instead of torch's default 2, in both serialisations.
    torch.save(sd, os.path.join(OUT, 'net_zip_p4.pth'), pickle_protocol=4)
    torch.save(sd, os.path.join(OUT, 'net_legacy_p4.pth'), _use_new_zipfile_serialization=False, pickle_protocol=4)
    expected['net'] = expect(sd)

    # 2. A training checkpoint: nested state dict with DataParallel prefixes, an nn.Parameter, an epoch number.
    x = torch.nn.Parameter(torch.randn(2, 3))
    y = torch.arange(5, dtype=torch.int32)
    write('nested.pth', save_bytes({'state_dict': {'module.x': x, 'module.y': y}, 'epoch': 3, 'arch': 'tiny'}))
    expected['nested'] = {'tensors': expect({'x': x, 'y': y}), 'other': {'epoch': 3, 'arch': 'tiny'}}

    # 3. Views sharing one storage: a transpose (non-contiguous stride) and a slice (storage offset).
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {'base': base, 't': base.t(), 's': base[1:3, 2:5], 'row': base[2]}
    assert views['t'].storage().data_ptr() == base.storage().data_ptr()
    write('views_zip.pth', save_bytes(views))
    write('views_legacy.pth', save_bytes(views, _use_new_zipfile_serialization=False))
    expected['views'] = expect(views)

    # 4. Every supported dtype, a 0-d scalar, an empty tensor and int64 values beyond 2^53.
    dtypes = {
        'f16': torch.tensor([1.0, -2.5, 65504.0, 6e-8], dtype=torch.float16),
        'bf16': torch.tensor([1.0, -3.0e38, 0.1], dtype=torch.bfloat16),
        'f64': torch.tensor([[0.1, -1e300], [3.0, 2.0 ** -1074]], dtype=torch.float64),
        'i64': torch.tensor([2 ** 62 + 1, -5, 0], dtype=torch.int64),
        'i32': torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32),
        'u8': torch.tensor([0, 255, 7], dtype=torch.uint8),
        'bool': torch.tensor([[True, False, True]]),
        'scalar': torch.tensor(2.5),
        'empty': torch.zeros(0, 3),
    }
    write('dtypes.pth', save_bytes(dtypes))
    expected['dtypes'] = expect(dtypes)

    # 5. A malicious checkpoint: loading it with torch.load would run `echo pwned`.
    write('evil.pth', save_bytes({'w': torch.ones(2), 'payload': Evil()}))
    write('evil.pkl', pickle.dumps(Evil(), protocol=2))

    # 6. Plain pickles of the same object in every protocol, for the opcode coverage of the unpickler.
    shared = [1, 2]
    obj = {'ints': [0, 1, -1, 255, 256, 65535, 65536, -2 ** 31, 2 ** 31, 2 ** 70, -2 ** 70],
           'floats': [0.5, -1e-300, float('inf')], 'flags': (True, False, None),
           'text': 'héllo \\ "q"\n', 'raw': b'\x00\xff\n', 'empty': ((), [], {}),
           'od': collections.OrderedDict([('b', 1), ('a', 2)]), 'shared': (shared, shared)}
    for proto in range(5):
        write(f'plain_p{proto}.pkl', pickle.dumps(obj, protocol=proto))

    # 7. Zip variants for the zip reader, written by Python's zipfile: deflate, and zip64 records forced by
    # lowering zipfile's limits (a real zip64 needs > 4 GiB).
    # Fixed timestamps keep the files byte-identical between runs.
    def info(name):
        return zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))

    payload = b'deflate me ' * 50
    with zipfile.ZipFile(os.path.join(OUT, 'deflate.zip'), 'w') as z:
        z.writestr(info('a/stored.txt'), b'plain bytes')
        z.writestr(info('a/deflated.txt'), payload, compress_type=zipfile.ZIP_DEFLATED)
    limit, count = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 4, 1
    try:
        with zipfile.ZipFile(os.path.join(OUT, 'zip64.zip'), 'w') as z:
            z.writestr(info('big/one.bin'), bytes(range(40)))
            z.writestr(info('big/two.bin'), b'second entry')
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limit, count

    # 8. A safetensors file laid out like the reference writer's.
    st = {'w': torch.randn(2, 3), 'h': torch.tensor([1.5, -2.0], dtype=torch.float16),
          'i': torch.tensor([7, -8], dtype=torch.int64), 'b': torch.tensor([True, False, True]),
          'scalar': torch.tensor(4.0, dtype=torch.float64)}
    write('sample.safetensors', safetensors_bytes(st, {'format': 'pt', 'note': 'made by make_pth_fixtures.py'}))
    expected['safetensors'] = {'tensors': expect(st), 'metadata': {'format': 'pt', 'note': 'made by make_pth_fixtures.py'}}

    expected['_generator'] = f'tools/reference/make_pth_fixtures.py (torch {torch.__version__}, python {sys.version.split()[0]})'
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main()
