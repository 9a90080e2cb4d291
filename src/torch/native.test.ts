// The binding's two sides agree: the addon's own description of its exports (native/*.cc registers every binding
// with its arity as __signatures, and its dtype table as __dtypes) against NATIVE_ARITY (which the compiler checks
// against the `Native` interface) and DTYPES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { addonPath, native, NATIVE_ARITY, CUDA_HEADER_BINDINGS } from './native.js';
import { DTYPES, type DType } from './dtype.js';

interface Addon { __signatures: Record<string, number>; __dtypes: string[]; [name: string]: unknown }
const addon = createRequire(import.meta.url)(addonPath()) as Addon;

// The CUDA-header bindings are registered only by a build with the CUDA runtime's headers (they are optional in
// Native, and device.ts names the missing headers when one is called); every other binding always exists.
const headers = native.cudaVersions().headers;
const expected = Object.fromEntries(
  Object.entries(NATIVE_ARITY).filter(([k]) => headers || !(CUDA_HEADER_BINDINGS as readonly string[]).includes(k)),
);
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

test('every function the addon exports is registered with an arity', () => {
  const fns = Object.keys(addon).filter((k) => typeof addon[k] === 'function' && k !== 'NativeTensor');
  assert.deepEqual(sorted(fns), sorted(Object.keys(addon.__signatures)));
});

test('the addon exports exactly the bindings Native declares', () => {
  assert.deepEqual(sorted(Object.keys(addon.__signatures)), sorted(Object.keys(expected)));
});

test('each binding reads as many arguments as Native declares', () => {
  const wrong = Object.entries(addon.__signatures)
    .filter(([k, n]) => expected[k] !== n)
    .map(([k, n]) => `${k}: C++ ${n}, Native ${expected[k]}`);
  assert.deepEqual(wrong, []);
});

test('the addon numbers dtypes in the order of DTYPES', () => {
  assert.deepEqual(addon.__dtypes, [...DTYPES]);
});

// 3 in each dtype, as little-endian bytes: dtype index i must create the type DTYPES[i] names.
const THREE: Record<DType, ArrayBufferView> = {
  float32: new Float32Array([3]), float64: new Float64Array([3]),
  float16: new Uint16Array([0x4200]), bfloat16: new Uint16Array([0x4040]),
  int64: new BigInt64Array([3n]), int32: new Int32Array([3]), uint8: new Uint8Array([3]), bool: new Uint8Array([1]),
};

test('each dtype index creates the type its name says', () => {
  DTYPES.forEach((name, i) => {
    const h = native.full([1], 3, i, 'cpu');
    try {
      const want = THREE[name];
      assert.deepEqual(new Uint8Array(native.toBuffer(h)), new Uint8Array(want.buffer, want.byteOffset, want.byteLength), name);
    } finally { native.dispose(h); }
  });
});
