// Builds the addon without node-gyp, into a folder of its own: `node native/build.js OUT_DIR [--jobs N]`.
// For a second build beside build/Release (CI's PyTorch 2.x variants, `CLAN_NATIVE=OUT_DIR/clan_native.node`) and
// for machines where node-gyp cannot fetch Node's headers (scripts/gpu-check.sh). Same flags as binding.gyp
// (native/config.js); the compiler's warnings are printed, and any error fails the build naming the file.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cflags, libs, locate } from './config.js';

const here = dirname(fileURLToPath(import.meta.url));

// Node's N-API headers: beside this node binary, Debian's nodejs-dev, or the copy scripts/gpu-pack.sh ships.
function nodeApiInclude() {
  const dirs = [join(dirname(process.execPath), '../include/node'), '/usr/include/node', join(here, '../.gpu/node-api')];
  const d = dirs.find((x) => existsSync(join(x, 'node_api.h')));
  if (!d) throw new Error(`no node_api.h in ${dirs.join(', ')}`);
  return d;
}

function run(cmd, args) {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b) => { err += b; });
    p.on('error', (e) => res({ code: 1, err: `${cmd}: ${e.message}` }));
    p.on('close', (code) => res({ code: code ?? 1, err }));
  });
}

async function main() {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  const j = args.indexOf('--jobs');
  const jobs = j >= 0 ? Number(args[j + 1]) : availableParallelism();
  if (!out || !(jobs >= 1)) { console.error('usage: node native/build.js OUT_DIR [--jobs N]'); process.exit(2); }
  const t = locate();
  if (!t) { console.error('native/build.js: libtorch not found (set LIBTORCH, or apt-get install -y libtorch-dev)'); process.exit(1); }
  const cxx = process.env.CXX ?? 'g++';
  const addonApi = dirname(createRequire(import.meta.url).resolve('node-addon-api/package.json'));
  const gyp = JSON.parse(readFileSync(join(here, '../binding.gyp'), 'utf8')).targets[0];
  const flags = ['-O2', '-fPIC', '-fexceptions', '-frtti', '-Wall', '-Wextra', ...gyp.defines.map((d) => `-D${d}`), ...cflags(t),
    ...[nodeApiInclude(), addonApi].map((d) => `-I${d}`)];
  const objDir = resolve(out, 'obj');
  rmSync(objDir, { recursive: true, force: true });
  mkdirSync(objDir, { recursive: true });
  const sources = gyp.sources.map((s) => join(here, '..', s));
  const t0 = Date.now();
  const queue = [...sources];
  const failed = [];
  const worker = async () => {
    for (let src = queue.shift(); src; src = queue.shift()) {
      const r = await run(cxx, [...flags, '-c', src, '-o', join(objDir, `${basename(src, '.cc')}.o`)]);
      if (r.err.trim()) process.stderr.write(r.err);
      if (r.code !== 0) failed.push(basename(src));
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, sources.length) }, worker));
  if (failed.length) { console.error(`native/build.js: ${failed.join(', ')} did not compile against ${t.root}`); process.exit(1); }
  const objs = readdirSync(objDir).filter((f) => f.endsWith('.o')).map((f) => join(objDir, f));
  const target = resolve(out, 'clan_native.node');
  const link = await run(cxx, ['-shared', '-o', target, ...objs, ...libs(t)]);
  if (link.err.trim()) process.stderr.write(link.err);
  if (link.code !== 0) { console.error(`native/build.js: linking ${target} failed`); process.exit(1); }
  console.log(`native/build.js: ${target} (${cxx}, ${cflags(t).find((f) => f.startsWith('-std='))}, ${t.root}) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

await main();
