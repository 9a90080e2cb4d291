// A test entry to the CLI: `node dist/src/cli/testing.js [--nan-at STEP] [--kill-in-checkpoint NAME] -- ARGS…` runs
// `clan ARGS…` with training hooks set from these flags, so tests can make a loss NaN or kill the process half-way
// through a checkpoint write without any hook in the environment or the public flags. Not part of the package's CLI.
import { main } from './main.js';
import type { TrainHooks } from '../train/trainer.js';

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const own = sep < 0 ? [] : argv.slice(0, sep);
const flag = (name: string): string | undefined => { const i = own.indexOf(name); return i < 0 ? undefined : own[i + 1]; };
const nanAt = flag('--nan-at');
const kill = flag('--kill-in-checkpoint');
const hooks: TrainHooks = {
  ...(nanAt ? { afterStep: (step, log) => { if (step === Number(nanAt)) log.losses.seg = NaN; } } : {}),
  ...(kill ? { midCheckpointWrite: (path) => { if (path.includes(kill)) process.kill(process.pid, 'SIGKILL'); } } : {}),
};
process.exitCode = await main(sep < 0 ? argv : argv.slice(sep + 1), { trainHooks: hooks });
