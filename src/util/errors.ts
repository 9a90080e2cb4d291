// Custom error classes (tfjs-layers style). The CLI maps them to one stderr line and an exit code:
// UsageError → 2, everything else → 1. Messages are one line naming the file/field and what is expected.

export class ClanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Wrong command-line usage (exit code 2). */
export class UsageError extends ClanError {}
/** A config key with a wrong value or type. */
export class ConfigError extends ClanError {}
/** A dataset, image or label file that cannot be used. */
export class DataError extends ClanError {}
/** A checkpoint or weights file that cannot be read or does not fit the model. */
export class CheckpointError extends ClanError {}
/** An invalid tensor operation (shape, dtype, disposed tensor), raised in TS or translated from libtorch. */
export class TensorError extends ClanError {}
