// A test entry to the CLI: `node dist/src/cli/cli.testing.js [--nan-at STEP] [--kill-in-checkpoint NAME] -- ARGS…` runs
// `clan ARGS…` with training hooks set from these flags, so tests can make a loss NaN or kill the process half-way
// through a checkpoint write without any hook in the environment or the public flags. Not part of the package's CLI.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';
import type { TrainHooks } from '../train/trainer.js';
import type { Tensor } from '../torch/index.js';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const own = sep < 0 ? [] : argv.slice(0, sep);
const flag = (name: string): string | undefined => { const i = own.indexOf(name); return i < 0 ? undefined : own[i + 1]; };
const nanAt = flag('--nan-at');
const kill = flag('--kill-in-checkpoint');
const digestOut = flag('--digest-out');
/** SHA-256 over tensors' bytes in order. */
const digest = (ts: Tensor[]) => { const h = createHash('sha256'); for (const t of ts) h.update(new Uint8Array(t.toTypedArray().buffer)); return h.digest('hex'); };
const hooks: TrainHooks = {
  ...(nanAt ? { afterStep: (step, log) => { if (step === Number(nanAt)) log.losses.seg = NaN; } } : {}),
  ...(kill ? { midCheckpointWrite: (path) => { if (path.includes(kill)) process.kill(process.pid, 'SIGKILL'); } } : {}),
  // --digest-out FILE: the weights at the end of the run, {"params", "buffers"} digests (data-parallel tests)
  ...(digestOut ? { afterRun: (p) => {
    const mods = [p.G, ...(p.D ? [p.D] : [])];
    writeFileSync(`${digestOut}.${process.env.RANK ?? 0}`, JSON.stringify({ params: digest(mods.flatMap((m) => m.parameters())),
      buffers: digest(mods.flatMap((m) => m.namedBuffers().map(([, b]) => b))) }));
  } } : {}),
};
process.exitCode = await main(sep < 0 ? argv : argv.slice(sep + 1), { trainHooks: hooks, entry: [fileURLToPath(import.meta.url), ...own, '--'] });
