// Test helpers: where the shared real-image fixtures and the stored PIL outputs live.
// The shared fixtures sit OUTSIDE the repo (<repo root>/../shared/fixtures, third-party data, never copied in).
// Absent: the test skips with a message, except under CI=true where that is a failure.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** The directory holding package.json, found by walking up from this module (works from src/ or dist/src/). */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('repoRoot: no package.json above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
}

/** Path of ../shared/fixtures, or undefined after marking the test skipped (fails instead under CI=true). */
export function sharedFixtures(t: TestContext): string | undefined {
  const dir = join(repoRoot(), '..', 'shared', 'fixtures');
  if (existsSync(dir)) return dir;
  if (process.env.CI === 'true') assert.fail(`shared fixtures folder ${dir} is missing; it is required when CI=true`);
  t.skip(`shared fixtures not found at ${dir} (they live outside the repo; see its README.md): skipped`);
  return undefined;
}

/** Stored PIL outputs made by tools/reference/make_pil_fixtures.py. */
export function pilFixtures(): string {
  return join(repoRoot(), 'test', 'fixtures', 'pil');
}
