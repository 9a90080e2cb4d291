// Custom error classes (tfjs-layers style). The CLI maps them to one stderr line and an exit code:
// UsageError → 2, everything else → 1. Messages are one line naming the file/field and what is expected.

export class ClanError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = new.target.name;
  }
}

/**
 * Messages quote names and values from files users hand us; a control character there (ESC, NUL, a C1 code, a
 * stray carriage return) would drive the terminal. Every ClanError's message is cleaned here, once: controls
 * other than the line break become \xNN, and a line made long by quoted junk keeps its start (the file) and its
 * end (what is expected) around an ellipsis. Line breaks stay: a few errors list one problem per line, and the
 * CLI folds every message into one stderr line.
 */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return t.split('\n').map((l) => (l.length <= 600 ? l : `${l.slice(0, 480)} … ${l.slice(-100)}`)).join('\n');
}
/** Wrong command-line usage (exit code 2). */
export class UsageError extends ClanError {}
/** A config key with a wrong value or type. */
export class ConfigError extends ClanError {}
/** A config that failed validation, with the path of every offending key (the CLI tells its own flags' mistakes apart). */
export class ConfigIssuesError extends ConfigError {
  constructor(message: string, readonly paths: readonly (readonly string[])[]) { super(message); }
}
/** A dataset, image or label file that cannot be used. */
export class DataError extends ClanError {}
/** A checkpoint or weights file that cannot be read or does not fit the model. */
export class CheckpointError extends ClanError {}
/** An invalid tensor operation (shape, dtype, disposed tensor), raised in TS or translated from libtorch. */
export class TensorError extends ClanError {}
/** A command whose memory estimate (infer/cost.ts) is over CLAN_MEMORY_BUDGET_MB, refused before it starts (exit 1). */
export class BudgetError extends ClanError {}
/** An optional inference engine cannot be loaded (onnxruntime-node missing or broken). */
export class EngineError extends ClanError {}
