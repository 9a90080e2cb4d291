// How deep a YAML text nests, measured before it is parsed: YAML.parse composes nodes recursively and overflows
// the call stack near 800 levels ("Maximum call stack size exceeded" as the whole message), and every walker of a
// config after it (deep merge, the schema) recurses too. yaml's CST parser (its first stage) keeps its own stack,
// so the text is parsed to a CST and measured with an explicit stack against CLAN_MAX_NESTING_DEPTH.
import { Parser } from 'yaml';
import { ConfigError } from '../util/errors.js';
import { limit, limitText } from '../util/limits.js';

/** A CST node as far as nesting goes: collections have items with a key and/or a value; documents a value. */
interface Node { type?: string; offset?: number; value?: unknown; items?: { key?: unknown; value?: unknown }[] }

/**
 * The deepest nesting of collections in `text` (a scalar document is 0), and the offset of the first collection
 * found more than `max` levels deep (-1 when none is).
 */
export function yamlDepth(text: string, max = Infinity): { depth: number; over: number } {
  let depth = 0, over = -1;
  const todo: [unknown, number][] = [];
  for (const token of new Parser().parse(text)) todo.push([token, 0]);
  while (todo.length > 0) {
    const [t, d] = todo.pop()!;
    if (typeof t !== 'object' || t === null) continue;
    const n = t as Node;
    if (n.type === 'document') { todo.push([n.value, d]); continue; }
    if (!Array.isArray(n.items)) continue; // a scalar, an alias, a comment
    depth = Math.max(depth, d + 1);
    if (d + 1 === max + 1 && (over < 0 || (n.offset ?? 0) < over)) over = n.offset ?? 0;
    for (const it of n.items) todo.push([it.key, d + 1], [it.value, d + 1]);
  }
  return { depth, over };
}

/** Refuses text nested deeper than CLAN_MAX_NESTING_DEPTH, naming `what` (e.g. "config file x.yaml") and the line. */
export function checkYamlDepth(text: string, what: string): void {
  const max = limit('nestingDepth');
  const { depth, over } = yamlDepth(text, max);
  if (depth <= max) return;
  const line = text.slice(0, over).split('\n').length;
  throw new ConfigError(`${what}: nests ${depth} levels deep (level ${max + 1} at line ${line}), more than ${limitText('nestingDepth')}; a config nests a few`);
}
