// Dataset types by name (STYLE: registries by name). `openDataset('gta5:/data/GTA5')` parses the spec, looks up
// the type and opens it (validating headers). Workers rebuild datasets with `reviveDataset(desc)`.
//
// Built-in types are registered here, statically. A type defined outside this package: call
// `registerDatasetType(name, type)` at the top level of its module and give the descs it creates
// `module: import.meta.url` (generatedDatasetType does), so loader workers import it before reviving.
import { Registry } from '../util/registry.js';
import { parseDatasetSpec, type Dataset, type DatasetDesc, type DatasetType, type OpenOptions } from './dataset.js';
import { cityscapes } from './cityscapes.js';
import { folder } from './folder.js';
import { gta5 } from './gta5.js';
import { synthia } from './synthia.js';
import { digitscapes } from './digitscapes.js';
import { pseudoType } from './pseudo.js';

export const DATASETS = new Registry<DatasetType>('dataset');
DATASETS.register('gta5', gta5);
DATASETS.register('synthia', synthia);
DATASETS.register('cityscapes', cityscapes);
DATASETS.register('folder', folder);
DATASETS.register('digitscapes', digitscapes);
DATASETS.register('pseudo', pseudoType((spec, o) => openDataset(spec, o), (d) => DATASETS.get(d.type).revive(d)));

export function registerDatasetType(name: string, type: DatasetType): void {
  DATASETS.register(name, type);
}

/** Opens `TYPE:ROOT[:SPLIT]`; UsageError for a bad spec or unknown type, DataError listing every file problem. */
export function openDataset(spec: string, opts: OpenOptions = {}): Dataset {
  const s = parseDatasetSpec(spec);
  return DATASETS.get(s.type).open(s, opts);
}

/** Rebuilds a dataset from its desc (inside a worker), importing the desc's defining module first if any. */
export async function reviveDataset(desc: DatasetDesc): Promise<Dataset> {
  if (desc.module !== undefined && !DATASETS.has(desc.type)) await import(desc.module);
  return DATASETS.get(desc.type).revive(desc);
}
