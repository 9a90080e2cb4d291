// Locations relative to the installed package (so `clan` works from any folder).
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

/** The package root: the nearest folder above this file whose package.json is named "clan". */
export function packageRoot(): string {
  if (cached) return cached;
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(d, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'clan') return (cached = d);
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the clan package root above ' + fileURLToPath(import.meta.url));
    d = up;
  }
}

/** test/fixtures/<rel> inside the package (fixtures made by tools/reference, committed). */
export function fixturePath(rel: string): string { return join(packageRoot(), 'test', 'fixtures', rel); }

/** ../shared/fixtures beside the repository (third-party data, never copied in). */
export function sharedFixturesPath(): string { return join(packageRoot(), '..', 'shared', 'fixtures'); }

/**
 * mkdir -p, one level at a time. Node's `mkdirSync(dir, { recursive: true })` never returns for a path under
 * /proc (mkdir there answers ENOENT and Node retries the parent forever, Node 20); this throws the first error.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try { mkdirSync(d); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw e; // EEXIST: made meanwhile
    }
  }
}

/** The package's version, from its package.json (one source: `clan --version`, reports). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
