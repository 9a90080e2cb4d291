// The config reference, generated from the schema's own descriptions (one source of truth): the key table of
// docs/config.md and of `clan train --help`. A test keeps docs/config.md equal to configMarkdown().
import { z } from 'zod';
import { trainSchema } from './schema.js';
import { PRESETS } from './presets.js';
import { HYPER_SECTIONS, type HyperSection } from '../methods/config.js';
import { readersOf } from '../methods/registry.js';

export interface ConfigKey { key: string; type: string; default: string; description: string }

/** Every leaf key of the training config in schema order, with its type, default and description. */
export function configKeys(schema: z.ZodTypeAny = trainSchema, prefix = ''): ConfigKey[] {
  const out: ConfigKey[] = [];
  const shape = (unwrap(schema).inner as z.AnyZodObject).shape as Record<string, z.ZodTypeAny>;
  for (const [name, field] of Object.entries(shape)) {
    const key = prefix + name;
    const { inner, def, optional } = unwrap(field);
    if (inner instanceof z.ZodObject) { out.push(...configKeys(inner, `${key}.`)); continue; }
    out.push({ key, type: typeName(inner), default: def !== undefined ? JSON.stringify(def) : optional ? '—' : '(required)', description: field.description ?? '' });
  }
  return out;
}

function unwrap(t: z.ZodTypeAny): { inner: z.ZodTypeAny; def: unknown; optional: boolean } {
  let inner = t; let def: unknown; let optional = false;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      def = (inner._def as { defaultValue: () => unknown }).defaultValue();
      inner = inner._def.innerType as z.ZodTypeAny;
    }
    else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) { optional = true; inner = inner.unwrap() as z.ZodTypeAny; }
    else return { inner, def, optional };
  }
}

function typeName(t: z.ZodTypeAny): string {
  if (t instanceof z.ZodEnum) return (t.options as string[]).join(' | ');
  if (t instanceof z.ZodUnion) return (t.options as z.ZodLiteral<unknown>[]).map((o) => String(o.value)).join(' | ');
  if (t instanceof z.ZodTuple) return '[W, H]';
  if (t instanceof z.ZodArray) return `${typeName(t.element as z.ZodTypeAny)}[]`;
  if (t instanceof z.ZodNumber) return t.isInt ? 'integer' : 'number';
  if (t instanceof z.ZodBoolean) return 'boolean';
  if (t instanceof z.ZodString) return 'string';
  return t.constructor.name;
}

/** The keys in groups: the run's own, hyper's common keys, then each method section with the methods that read it. */
function groups(): { title: string; keys: ConfigKey[] }[] {
  const keys = configKeys();
  const section = (k: ConfigKey) => /^hyper\.(\w+)\./.exec(k.key)?.[1];
  const out = [{ title: 'The run', keys: keys.filter((k) => !k.key.startsWith('hyper.')) },
    { title: '`hyper`: common to every method', keys: keys.filter((k) => k.key.startsWith('hyper.') && !section(k)) }];
  for (const s of Object.keys(HYPER_SECTIONS) as HyperSection[]) {
    out.push({ title: `\`hyper.${s}\`: ${readersOf(s)[0]}'s section, read by ${readersOf(s).join(', ')}`, keys: keys.filter((k) => section(k) === s) });
  }
  return out;
}

/** docs/config.md: presets, then every key, grouped. */
export function configMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const table = (ks: ConfigKey[]) => ['| key | type | default | what, and where the default comes from |', '|---|---|---|---|',
    ...ks.map((k) => `| \`${k.key}\` | ${cell(k.type)} | \`${k.default}\` | ${cell(k.description)} |`)];
  return ['# Training configuration', '',
    '<!-- Generated from src/config/schema.ts and src/methods/config.ts by `npm run docs`; do not edit by hand. -->', '',
    'A config is YAML or JSON; `extends:` names a preset or another file, and `clan train --set key=value` overrides any',
    'key below (dotted keys reach into sections). Section numbers (§) refer to [method.md](method.md).', '',
    'Each method owns a section of `hyper:` (as DAFormer\'s `uda=dict(type=…)`); setting a key of a section the chosen method',
    'does not read is an error naming the key\'s owner. Configs written before the sections (a flat `hyper:`) still load: their',
    'keys are mapped onto the sections, with a one-line note.', '',
    '## Presets', '', '| name | what |', '|---|---|',
    ...Object.entries(PRESETS).map(([n, p]) => `| \`${n}\` | ${p.description} |`), '',
    '## Keys', '', ...groups().flatMap((g) => [`### ${g.title}`, '', ...table(g.keys), '']), ''].join('\n').replace(/\n\n\n$/, '\n');
}

/** The key list for `clan train --help`: key, default, description, one line each, grouped as docs/config.md. */
export function configHelp(): string {
  const keys = configKeys();
  const w = Math.max(...keys.map((k) => k.key.length));
  const def = (d: string) => (d === '—' ? '' : d === '(required)' ? '(required) ' : `[${d}] `);
  return groups().map((g) => [` ${g.title.replace(/`/g, '')}:`, ...g.keys.map((k) => `  ${k.key.padEnd(w)}  ${def(k.default)}${k.description}`)].join('\n'))
    .join('\n');
}
