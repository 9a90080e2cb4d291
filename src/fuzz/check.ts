// Classifying one fuzz case (the property is stated in targets.ts): loaded equal, loaded other (formats without an
// integrity check, well-formed), refused with a proper one-line ClanError, or a finding.
import { ClanError } from '../util/errors.js';
import { loadInput, type Target } from './targets.js';

export type Outcome = 'equal' | 'other' | 'refused' | 'finding';
/** error: not a ClanError, or one wrapping a JS internal; message: a ClanError whose message is not one clean line
 *  (line breaks, control characters, too long); changed: an integrity format loaded other content; malformed: an
 *  ill-formed result; crash / hang / rss: the child died, timed out or grew past the RSS bound (pool.ts decides). */
export type FindingKind = 'error' | 'message' | 'changed' | 'malformed' | 'crash' | 'hang' | 'rss';

export interface Verdict { outcome: Outcome; kind?: FindingKind; detail: string }

/** Longer than this is not "one line" a user can read (a message that lists a whole header, say). */
export const MAX_MESSAGE = 1000;

/** Line terminators (a log line ends at any of them: JS, YAML and editors agree), and the other C0/C1 controls. */
const LINE_BREAK = /\r\n|[\n\r\v\f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0e-\x1f\x7f-\x9f]/;

/** Messages of V8, Node and libtorch internals: a ClanError that merely wraps one of these is not a refusal. */
const INTERNAL = [
  /Cannot read propert/, /Cannot set propert/, /is not a function/, /is not iterable/, /is not defined/, /is not a constructor/,
  /Maximum call stack/, /Invalid array length/, /Invalid typed array length/, /Invalid string length/, /Array buffer allocation failed/,
  /outside the bounds of the DataView/, /should be a multiple of/, /Cannot convert .* to a BigInt/, /Cannot mix BigInt/,
  /Cannot convert a BigInt/, /The value of "[^"]*" is out of range/, /\bERR_[A-Z_]+/, /out of memory/i, /c10::|Exception raised from/,
];

/** Why `e` is not a proper refusal (and which kind of finding that is), or undefined when it is one. */
export function refusalProblem(e: unknown): { kind: FindingKind; detail: string } | undefined {
  if (!(e instanceof ClanError)) {
    const err = e as Error;
    return { kind: 'error', detail: `${err?.name ?? typeof e} (not a ClanError): ${String(err?.message ?? e).split('\n')[0]!.slice(0, 300)}` };
  }
  const internal = INTERNAL.find((re) => re.test(e.message));
  if (internal) return { kind: 'error', detail: `${e.name} wraps a JS/native internal (${internal.source}): ${JSON.stringify(e.message.slice(0, 300))}` };
  const message = messageProblem(e);
  return message === undefined ? undefined : { kind: 'message', detail: message };
}

function messageProblem(e: ClanError): string | undefined {
  // The CLI folds a message's lines into one stderr line (cli/main.ts), so line breaks are allowed; each line
  // must be short and free of other control characters.
  const lines = e.message.split(LINE_BREAK);
  const long = lines.find((l) => l.length > MAX_MESSAGE);
  if (long !== undefined) return `${e.name} message line of ${long.length} characters: ${JSON.stringify(long.slice(0, 200))}…`;
  const control = CONTROL.exec(e.message);
  if (control) return `${e.name} message holds control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0')} (terminal escapes from the input): ${JSON.stringify(e.message.slice(0, 200))}`;
  if (e.message.trim() === '') return `${e.name} with an empty message`;
  return undefined;
}

/** Loads `bytes` through `t` and judges the result against the unmutated seed's digest. */
export function classify(t: Target, bytes: Uint8Array, path: string, original: string): Verdict {
  let content;
  try {
    content = loadInput(t, bytes, path);
  } catch (e) {
    const problem = refusalProblem(e);
    return problem === undefined ? { outcome: 'refused', detail: (e as Error).message } : { outcome: 'finding', ...problem };
  }
  if (content.digest === original) return { outcome: 'equal', detail: '' };
  if (t.integrity !== null) return { outcome: 'finding', kind: 'changed', detail: `loaded content that differs from the original despite the ${t.integrity}${content.problem ? ` (and ${content.problem})` : ''}` };
  if (content.problem !== undefined) return { outcome: 'finding', kind: 'malformed', detail: `loaded but ill-formed: ${content.problem}` };
  return { outcome: 'other', detail: '' };
}
