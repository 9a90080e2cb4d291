// Output-folder checks shared by the commands that write (train, predict, demo, eval --run).
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ClanError } from '../util/errors.js';
import { makeDirs } from '../util/paths.js';

/** Create `dir` if needed and make sure we can write there; one clear error otherwise. */
export function assertWritable(dir: string, flag = '--out'): void {
  try {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ClanError(`${flag} ${dir} exists and is not a folder`);
    makeDirs(dir);
    accessSync(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof ClanError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const parent = existsSync(dir) ? dir : dirname(dir);
    throw new ClanError(`${flag} ${dir} is not writable (${code ?? 'error'} at ${parent}); choose a folder you can write to`);
  }
}
