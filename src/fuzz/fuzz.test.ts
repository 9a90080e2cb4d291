// The fuzz harness as a regression suite: (a) every input in test/fixtures/fuzz/ (inputs the fuzzer once found,
// named <target>-<desc>.bin) goes through its target in a child process and must be refused with one line or load
// equal / well-formed; (b) a deterministic run (fixed seed, fixed case count per target) must find nothing.
// Findings not fixed yet are skipped with the reason, so the suite stays green: delete the line once fixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClanError, ConfigError } from '../util/errors.js';
import { Rng } from '../data/rng.js';
import { classify, refusalProblem, type FindingKind, type Verdict } from './check.js';
import { runFiles, runFuzz, targetOfFixture } from './fuzz.js';
import { mutate } from './mutate.js';
import { Pool } from './pool.js';
import { FIXTURES } from './seeds.js';
import { TARGETS, loadInput } from './targets.js';

const DIR = join(FIXTURES, 'fuzz');

/** Fixtures of findings not fixed yet → why they are skipped (test/fixtures/fuzz/README.md says what each holds). */
const OPEN: Record<string, string> = {};

/** Kinds of finding the deterministic run may still hit per target while their fixtures above are open. */
const OPEN_KINDS: Record<string, { kinds: FindingKind[]; reason: string }> = {};

const SEED = 1;
const CASES = 2000;

const files = readdirSync(DIR).filter((f) => f.endsWith('.bin')).sort();
const ready = files.filter((f) => OPEN[f] === undefined && targetOfFixture(f, TARGETS) !== undefined);
const fixtureResults = new Map((await runFiles(ready.map((f) => ({ target: targetOfFixture(f, TARGETS)!.name, path: join(DIR, f) }))))
  .map((r, i) => [ready[i]!, r]));
const run = await runFuzz({ targets: TARGETS, seed: SEED, cases: CASES });

test('every fuzz fixture is named <target>-<desc>.bin after a known target; every open entry has its file', () => {
  for (const f of files) assert.ok(targetOfFixture(f, TARGETS), `${f}: no target '${f.split('-')[0]}…'`);
  for (const f of Object.keys(OPEN)) assert.ok(files.includes(f), `OPEN lists ${f}, which is not in ${DIR}`);
  assert.equal(targetOfFixture('pth-zip-deflate-x.bin', TARGETS)?.name, 'pth-zip-deflate');
});

for (const f of files) {
  test(`fuzz fixture ${f}: refused with one line, or loaded equal / well-formed`, { skip: OPEN[f] ?? false }, () => {
    const r = fixtureResults.get(f)!;
    assert.notEqual(r.outcome, 'finding', `${r.kind}: ${r.detail}`);
  });
}

for (const s of run.summaries) {
  const open = OPEN_KINDS[s.target];
  const found = run.findings.filter((f) => f.target === s.target);
  test(`fuzz ${s.target}, ${CASES} cases of seed ${SEED}: no crash, hang, RSS over the bound${open ? '' : ', bad refusal or changed content'}`, () => {
    assert.equal(s.cases, CASES);
    assert.equal(s.loaded_equal + s.loaded_other + s.refused + s.findings, CASES);
    const bad = found.filter((f) => !open?.kinds.includes(f.kind));
    assert.deepEqual(bad.map((f) => `case ${f.index} (${f.mutation}): ${f.kind}: ${f.detail}`), []);
  });
  if (open) {
    test(`fuzz ${s.target}, ${CASES} cases of seed ${SEED}: no ${open.kinds.join('/')} findings`, { skip: open.reason }, () => {
      assert.deepEqual(found.map((f) => `case ${f.index}: ${f.kind}: ${f.detail}`), []);
    });
  }
}

test('mutations are reproducible from the case seed alone, and differ between seeds', () => {
  const seed = TARGETS[0]!.seed();
  const a = mutate(seed, 12345), b = mutate(seed, 12345), c = mutate(seed, 12346);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.bytes, c.bytes);
  assert.deepEqual(seed, TARGETS[0]!.seed(), 'the seed input itself is left alone');
});

test('structural mutators (structural.ts): each variant of each, alone on its target\'s seed, is refused with one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-fuzz-structural-'));
  try {
    const seen: string[] = [];
    for (const t of TARGETS) {
      const seed = t.seed(), original = loadInput(t, seed, join(dir, t.file)).digest;
      for (const [name, m] of Object.entries(t.mutators ?? {})) {
        const variants = new Map<string, Verdict>();
        for (let s = 1; s <= 40; s++) {
          const { bytes, mutation } = m(seed, new Rng(s));
          if (!variants.has(mutation)) variants.set(mutation, classify(t, bytes, join(dir, t.file), original));
        }
        for (const [mutation, v] of variants) {
          seen.push(`${t.name}/${name}: ${mutation}`);
          // 60 levels are within the limit: that pickle loads (a format without integrity); the YAML key is unknown
          const loads = mutation.includes('in 60 nested dicts');
          assert.equal(v.outcome, loads ? 'other' : 'refused', `${t.name}, ${mutation}: ${v.kind ?? ''} ${v.detail}`);
        }
      }
    }
    // 4 header prefixes × 3 safetensors targets, 5 downgrade edits, 3 depths × (pickle, YAML): every variant was drawn
    assert.equal(seen.length, 4 * 3 + 5 + 3 + 3, seen.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a refusal is a one-line ClanError that is not a JS internal', () => {
  assert.equal(refusalProblem(new ConfigError("config: unknown key 'x'")), undefined);
  assert.equal(refusalProblem(new TypeError('x is not a function'))?.kind, 'error');
  assert.equal(refusalProblem(new ClanError("f: Cannot read properties of undefined (reading '1')"))?.kind, 'error');
  // ClanError escapes control characters itself (util/errors.ts); the check must still catch a raw one.
  assert.equal(new ClanError('esc \x1b[2J\r').message, 'esc \\x1b[2J\\x0d');
  assert.equal(refusalProblem(new ClanError('a list\n  one\n  two')), undefined, 'line breaks: the CLI folds them');
  const raw = (m: string) => Object.assign(new ClanError('x'), { message: m });
  assert.equal(refusalProblem(raw('escape \x1b[2J'))?.kind, 'message');
  assert.equal(refusalProblem(raw('x'.repeat(1001)))?.kind, 'message');
  assert.equal(new ClanError('x'.repeat(1001)).message.length, 583, 'long lines are cut around an ellipsis');
});

test('every target\'s seed input loads, well-formed and the same each time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-fuzz-test-'));
  try {
    for (const t of TARGETS) {
      assert.deepEqual(t.seed(), t.seed(), `${t.name}: the seed bytes are the same each time (findings are re-created from them)`);
      const a = loadInput(t, t.seed(), join(dir, t.file)), b = loadInput(t, t.seed(), join(dir, t.file));
      assert.equal(a.problem, undefined, t.name);
      assert.equal(a.digest, b.digest, t.name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pool reports a child that dies as a crash, a case past its timeout as a hang, RSS over the bound as rss', async () => {
  const spec = { id: 0, target: 'png', seed: 1 };
  const crash = await new Pool({ timeoutMs: 10_000, rssBoundMb: 1536, heapMb: 1 }).run(spec); // V8 cannot start in 1 MB
  assert.equal(crash.kind, 'crash', crash.detail);
  const hang = await new Pool({ timeoutMs: 1, rssBoundMb: 1536, heapMb: 512 }).run(spec);
  assert.equal(hang.kind, 'hang', hang.detail);
  const rss = await new Pool({ timeoutMs: 10_000, rssBoundMb: 1, heapMb: 512 }).run(spec);
  assert.equal(rss.kind, 'rss', rss.detail);
  const ok = new Pool();
  try {
    assert.equal((await ok.run(spec)).outcome, 'refused', 'a fresh pool runs the same case normally');
  } finally {
    ok.close();
  }
});
