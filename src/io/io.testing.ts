// Test helpers for src/io: locating the committed fixtures (made by tools/reference/make_pth_fixtures.py)
// and comparing tensors with their expected.json entries. Not a test file itself.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { HostTensor } from '../torch/dtype.js';

/** test/fixtures/pth, from dist/src/io (compiled) or src/io alike: both sit three levels below the repo root. */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/pth/', import.meta.url));

/**
 * Path of a fixture, or undefined after skipping the test when it is missing. Under CI=true a missing
 * fixture fails instead: CI must never pass by skipping.
 */
export function fixture(t: TestContext, name: string): string | undefined {
  const path = join(FIXTURES, name);
  if (existsSync(path)) return path;
  const msg = `fixture ${path} missing (run tools/reference/make_pth_fixtures.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

/** One expected tensor: float16/bfloat16 as raw words, int64 as decimal strings, bool as 0/1. */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
export type Expected = Record<string, Record<string, unknown>>;

export function expectedJson(t: TestContext): Expected | undefined {
  const path = fixture(t, 'expected.json');
  return path === undefined ? undefined : (JSON.parse(readFileSync(path, 'utf8')) as Expected);
}

/** Exact comparison (float32 values in the JSON are the exact doubles of the stored floats). */
export function assertTensor(actual: HostTensor | undefined, exp: ExpectedTensor, name: string): void {
  assert.ok(actual, `tensor '${name}' missing`);
  assert.equal(actual.dtype, exp.dtype, `dtype of '${name}'`);
  assert.deepEqual(actual.shape, exp.shape, `shape of '${name}'`);
  const got = Array.from(actual.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
  assert.deepEqual(got, exp.values, `values of '${name}'`);
}

/** Asserts that fn throws a CheckpointError-like one-line message matching re. */
export function assertOneLine(fn: () => unknown, cls: new (...a: never[]) => Error, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`);
    return true;
  });
}

/** Hand-built pickle bytes: numbers are bytes, strings are latin1 text. */
export function pickleBytes(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const x of parts) {
    if (typeof x === 'number') out.push(x);
    else if (typeof x === 'string') for (const c of x) out.push(c.charCodeAt(0));
    else out.push(...x);
  }
  return Uint8Array.from(out);
}

/** SHORT_BINUNICODE opcode for an ASCII string. */
export const shortStr = (s: string): (number | string)[] => [0x8c, s.length, s];
