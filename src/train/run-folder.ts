// A run folder's housekeeping: one writer at a time (RUN/.lock), no debris of interrupted checkpoint writes, no silent
// mix of two runs, and the files that say what ran — config.yaml (the resolved config) and run.json (code version,
// engine, threads, device, command line, classes). Every file goes through atomicWrite.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';
import type { TrainConfig } from '../config/schema.js';
import { forMethod } from '../config/hyper.js';
import { listCheckpoints } from '../io/checkpoint.js';
import { atomicWrite } from '../util/atomic.js';
import { ClanError } from '../util/errors.js';
import { makeDirs, packageRoot } from '../util/paths.js';
import { lockRunFolder } from './runlock.js';

/**
 * Locks `out`, removes temp files of interrupted checkpoint writes, and refuses to mix two runs: a folder holding a
 * run needs `resume` (continue it) or `overwrite` (its checkpoints and metrics deleted). Returns the lock's release.
 */
export function prepareRunFolder(out: string, o: { resume?: boolean; overwrite?: boolean }, log: (l: string) => void): () => void {
  const ckptDir = join(out, 'checkpoints');   // made by the trainer once the data checks passed
  makeDirs(out);
  const release = lockRunFolder(out, log);
  try {
    const debris = (existsSync(ckptDir) ? readdirSync(ckptDir) : []).filter((f) => /^\.ckpt_\d+\.safetensors\.tmp-/.test(f));
    for (const f of debris) rmSync(join(ckptDir, f), { force: true });
    if (debris.length) log(`note: removed ${debris.length} temp file(s) of interrupted checkpoint writes from ${ckptDir}`);
    const metrics = join(out, 'metrics.jsonl');
    const held = listCheckpoints(ckptDir).length > 0 || (existsSync(metrics) && statSync(metrics).size > 0);
    if (held && !o.resume) {
      if (!o.overwrite) throw new ClanError(`--out ${out} already holds a run (checkpoints, metrics.jsonl); continue it with --resume ${out}, or start over with --overwrite`);
      for (const c of listCheckpoints(ckptDir)) rmSync(c, { force: true });
      rmSync(metrics, { force: true });
      log(`note: --overwrite: deleted the previous run's checkpoints and metrics in ${out}`);
    }
    return release;
  } catch (e) {
    release();
    throw e;
  }
}

export interface RunInfo {
  threads: number; device: string; start: number; worldSize: number; classNames: string[]; palette: [number, number, number][] | null;
  command: string[]; resumed: boolean;
}

/** The text of config.yaml: the resolved config, the sections its method reads. */
export function configYaml(cfg: TrainConfig): string {
  return YAML.stringify(forMethod(cfg));
}

/** config.yaml (the resolved config, the sections its method reads) and run.json (what ran, where, from which code). */
export function writeRunInfo(out: string, cfg: TrainConfig, i: RunInfo, libtorch: string): void {
  atomicWrite(join(out, 'config.yaml'), configYaml(cfg));
  atomicWrite(join(out, 'run.json'), JSON.stringify({ git: gitHash(), libtorch, threads: i.threads, device: i.device, amp: cfg.amp,
    worldSize: i.worldSize, command: i.command, resumedAt: i.resumed ? i.start : null, time: new Date().toISOString(),
    classNames: i.classNames, palette: i.palette }, null, 2) + '\n');
}

function gitHash(): string | null {
  try { return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
}
