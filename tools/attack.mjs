// Hostile inputs and faults against a built checkout, as an attacker or an unlucky user would try them:
//   node tools/attack.mjs CHECKOUT [--json]
// Each case runs `clan` of CHECKOUT (its bin/clan.js, its dist/) in a child with a 30 s timeout and a 3 GiB
// address-space cap, and is classed: clean (refused in one line naming the file, or done right), wrong (exit 0
// with a wrong result, or an error that does not say what/where), crash (signal, V8 fatal, timeout, out of
// memory, a stack trace) or lost (a run's data destroyed). Prints one row per case and the totals.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';

const ROOT = resolve(process.argv[2] ?? '.');
const HERE = new URL('..', import.meta.url).pathname;
const FIX = join(HERE, 'test', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'clan-attack-'));
const TINY = ['--preset', 'cpu', '--backbone', 'micro', '--threads', '1', '--set', 'hyper.adversarial.ndf=8', '--set', 'targetVal.limit=2', '--set', 'logEvery=1000'];

function clan(args, o = {}) {
  const r = spawnSync('prlimit', ['--as=3221225472', process.execPath, join(ROOT, 'bin', 'clan.js'), ...args],
    { cwd: work, encoding: 'utf8', timeout: o.timeout ?? 30_000, env: { ...process.env, ...(o.env ?? {}) } });
  const lines = (r.stderr ?? '').split('\n').filter((l) => l.startsWith('clan:'));
  const crashed = r.signal !== null || r.status === 134 || /FATAL ERROR|Aborted|\n\s+at /.test(r.stderr ?? '') || r.error?.code === 'ETIMEDOUT';
  return { code: r.status, signal: r.signal, stderr: r.stderr ?? '', lines, crashed };
}
/** A refusal is clean when it is exactly one `clan:` line that names `file`. */
const refused = (r, file) => (r.crashed ? 'crash' : r.code !== 0 && r.lines.length === 1 && r.lines[0].includes(file) ? 'clean' : 'wrong');

function safetensors(tensors, metadata) {
  const header = {}; let off = 0; const parts = [];
  if (metadata) header.__metadata__ = metadata;
  for (const [name, { shape, data }] of Object.entries(tensors)) {
    const b = Buffer.from(new Float32Array(data).buffer); header[name] = { dtype: 'F32', shape, data_offsets: [off, off + b.length] }; off += b.length; parts.push(b);
  }
  let json = Buffer.from(JSON.stringify(header)); const pad = (8 - (json.length % 8)) % 8; json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...parts]);
}
function chunk(type, data) {
  const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]); let c = 0xffffffff;
  for (const b of td) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length); const crc = Buffer.alloc(4); crc.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return Buffer.concat([len, td, crc]);
}
/** A w×h grey PNG whose rows are all zero: tiny on disk, w·h bytes when decoded. */
function bombPng(w, h) {
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc((w + 1) * h), { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const cases = [];
const add = (name, fn) => cases.push({ name, fn });

// A finished 4-step run to attack.
const run = join(work, 'run');
const base = clan(['train', ...TINY, '--iters', '4', '--set', 'checkpointEvery=2', '--out', run], { timeout: 120_000 });
if (base.code !== 0) { console.error(`attack: the base run failed: ${base.stderr}`); process.exit(1); }
const ckpt = () => join(run, 'checkpoints', readdirSync(join(run, 'checkpoints')).filter((f) => /^ckpt_\d+\.safetensors$/.test(f)).sort().pop());
const EVAL = ['eval', '--data', 'digitscapes:val', '--limit', '2', '--json'];

add('two trains into the same --out at once', async () => {
  const out = join(work, 'twin');
  const start = () => new Promise((res) => { const c = spawn(process.execPath, [join(ROOT, 'bin', 'clan.js'), 'train', ...TINY, '--iters', '30', '--set', 'checkpointEvery=10', '--out', out], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] }); let e = ''; c.stderr.on('data', (d) => { e += d; }); c.on('exit', (code) => res({ code, e })); });
  const [a, b] = await Promise.all([start(), start()]);
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"seg"')).length;
  if (a.code === 0 && b.code === 0) return 'lost';
  return (a.code === 0) !== (b.code === 0) && steps === 30 && /in use by pid/.test(a.e + b.e) ? 'clean' : 'wrong';
});
add('a new run in a folder that holds one (no --resume)', () => {
  const out = join(work, 'again');
  clan(['train', ...TINY, '--iters', '4', '--set', 'checkpointEvery=2', '--out', out], { timeout: 120_000 });
  const r = clan(['train', ...TINY, '--iters', '2', '--set', 'checkpointEvery=2', '--out', out], { timeout: 120_000 });
  if (r.code === 0) return existsSync(join(out, 'checkpoints', 'ckpt_0000004.safetensors')) ? 'wrong' : 'lost';
  return refused(r, out);
});
for (const [field, edit] of [['step', (m) => { m.step = 90; }], ['loaders', (m) => { m.loaders = { source: 0, target: 0 }; }],
  ['classNames', (m) => { m.classNames[1] = 'zero'; }], ['evalSize', (m) => { m.evalSize = [32, 32]; }], ['torchRng', (m) => { m.torchRng = m.torchRng.slice(4) + 'AAAA'; }]]) {
  add(`checkpoint header edited: ${field}`, () => {
    const src = ckpt(); const dst = join(work, `edit-${field}.safetensors`);
    const bytes = readFileSync(src); const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString()); const meta = JSON.parse(header.__metadata__.clan); edit(meta);
    header.__metadata__.clan = JSON.stringify(meta);
    let json = Buffer.from(JSON.stringify(header)); json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(dst, Buffer.concat([len, json, bytes.subarray(8 + n)]));
    const r = clan([...EVAL, '--checkpoint', dst]);
    return r.code === 0 ? 'wrong' : refused(r, dst);
  });
}
const weights = (name, keep, meta = {}) => {
  const bytes = readFileSync(ckpt()); const n = Number(bytes.readBigUInt64LE(0)); const header = JSON.parse(bytes.subarray(8, 8 + n).toString());
  const data = bytes.subarray(8 + n); const ts = {};
  for (const [k, v] of Object.entries(header)) if (k.startsWith('G.') && keep(k) && v.dtype === 'F32') ts[k] = { shape: v.shape, data: new Float32Array(data.buffer.slice(data.byteOffset + v.data_offsets[0], data.byteOffset + v.data_offsets[1])) };
  const p = join(work, name); writeFileSync(p, safetensors(ts, { format: 'clan-weights', backbone: 'micro', num_classes: '11', ...meta })); return p;
};
add('converted weights without the heads, evaluated', () => { const p = weights('noheads.safetensors', (k) => !/^G\.layer[56]\./.test(k)); const r = clan([...EVAL, '--checkpoint', p]); return r.code === 0 ? 'wrong' : refused(r, p); });
add('converted weights without any G tensor, evaluated', () => { const p = join(work, 'empty.safetensors'); writeFileSync(p, safetensors({ 'D.x': { shape: [1], data: [1] } }, { format: 'clan-weights', backbone: 'micro', num_classes: '11' })); const r = clan([...EVAL, '--checkpoint', p]); return r.code === 0 ? 'wrong' : refused(r, p); });
add('converted weights with num_classes 1e9', () => { const p = weights('huge.safetensors', () => true, { num_classes: '1000000000' }); return refused(clan([...EVAL, '--checkpoint', p]), p); });
add('safetensors with a duplicate tensor key', () => {
  const p = weights('dup.safetensors', () => true); const b = readFileSync(p); const n = Number(b.readBigUInt64LE(0));
  const text = b.subarray(8, 8 + n).toString(); const first = /"(G\.[^"]+)":(\{[^}]+\})/.exec(text);
  const dup = text.replace('{', `{"${first[1]}":${first[2]},`); // the same key twice: JSON.parse keeps the last
  let json = Buffer.from(dup); json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]); const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(p, Buffer.concat([len, json, b.subarray(8 + n)]));
  const r = clan([...EVAL, '--checkpoint', p]); return r.code === 0 ? 'wrong' : refused(r, p);
});
add('PNG of 14000×14000 pixels (a few KB), predicted', () => { const p = join(work, 'bomb.png'); writeFileSync(p, bombPng(14000, 14000)); const r = clan(['predict', '--checkpoint', ckpt(), '--input', p, '--out', join(work, 'pred1')]); return r.code === 0 ? 'wrong' : refused(r, p); });
add('PNG with a bad IDAT CRC, predicted', () => { const p = join(work, 'crc.png'); copyFileSync(join(FIX, 'limits', 'bad_idat_crc.png'), p); const r = clan(['predict', '--checkpoint', ckpt(), '--input', p, '--out', join(work, 'pred2')]); return r.code === 0 ? 'wrong' : refused(r, p); });
for (const f of ['shared_dicts.pth', 'zero_stride.pth', 'zero_stride_legacy.pth']) {
  add(`.pth ${f}, converted`, () => { const p = join(work, f); copyFileSync(join(FIX, 'limits', f), p); return refused(clan(['convert', p, join(work, `${f}.safetensors`)]), p); });
}
add('a torn last line of metrics.jsonl, then --resume', () => {
  const out = join(work, 'torn'); clan(['train', ...TINY, '--iters', '2', '--set', 'checkpointEvery=2', '--out', out], { timeout: 120_000 });
  appendFileSync(join(out, 'metrics.jsonl'), '{"step":3,"lr":0.0');
  const r = clan(['train', '--resume', out, '--iters', '4'], { timeout: 120_000 });
  return r.crashed ? 'crash' : r.code === 0 ? 'clean' : 'wrong';
});
add('--init with a .pth (not converted)', () => { const p = join(work, 'init.pth'); copyFileSync(join(FIX, 'pth', 'net_zip.pth'), p); const r = clan(['train', ...TINY, '--iters', '1', '--init', p, '--out', join(work, 'initrun')]); return r.code !== 0 && /clan convert/.test(r.lines.join()) ? 'clean' : r.crashed ? 'crash' : 'wrong'; });

const rows = [];
for (const c of cases) {
  let outcome;
  try { outcome = await c.fn(); } catch (e) { outcome = `error: ${e.message}`; }
  rows.push({ case: c.name, outcome });
  if (!process.argv.includes('--json')) console.log(`${outcome.padEnd(6)} ${c.name}`);
}
const count = (o) => rows.filter((r) => r.outcome === o).length;
const total = { cases: rows.length, clean: count('clean'), wrong: count('wrong'), crash: count('crash'), lost: count('lost') };
console.log(process.argv.includes('--json') ? JSON.stringify({ checkout: ROOT, ...total, rows }) : JSON.stringify(total));
rmSync(work, { recursive: true, force: true });
