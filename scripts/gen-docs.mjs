// `npm run docs`: regenerates docs/config.md from the config schema's descriptions (needs `npm run build` first).
import { writeFileSync } from 'node:fs';
import { configMarkdown } from '../dist/src/config/reference.js';

writeFileSync(new URL('../docs/config.md', import.meta.url), configMarkdown());
console.log('wrote docs/config.md');
