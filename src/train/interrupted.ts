// Raised when Ctrl-C (SIGINT) stops a run after its checkpoint is written; the CLI exits with 130.
import { ClanError } from '../util/errors.js';
export class Interrupted extends ClanError {}
