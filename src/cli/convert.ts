// `clan convert IN OUT`: official CLAN snapshots, the DeepLab-v2 init, torchvision ResNets/VGG-16 and mmseg-era MiT
// checkpoints (SegFormer, DAFormer, HRDA, MIC) → our weights file, and back to official names; the work is
// infer/convert-weights.ts and infer/mmseg.ts (mapping rules: io/official.ts, io/mmseg.ts).
import { intFlag, parse, str, enumFlag, boolFlag, sizeFlag, type Command, type Parsed } from './args.js';
import { UsageError } from '../util/errors.js';
import { OFFICIAL_LOAD_SNIPPET, WEIGHTS_SOURCES } from '../io/official.js';
import { MMSEG_PARTS } from '../io/mmseg.js';

const FROM = [...WEIGHTS_SOURCES, 'clan', 'mmseg'] as const;
const TO = ['clan', 'official', 'deeplab-init'] as const;

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert official CLAN / DeepLab-init / torchvision weights, or our checkpoints, to our weights (and back to official names)',
  usage: `usage: clan convert IN OUT [--from official-clan|deeplab-init|torchvision-resnet|torchvision-vgg16|clan|mmseg]
                   [--to clan|official|deeplab-init] [--backbone resnet101] [--num-classes 19]
                   [--discriminator D_IN] [--part model|ema_model|imnet_model] [--eval-size WxH] [--json]

Reads IN (.pth of any torch version, or .safetensors), maps its names onto our DeepLab-v2 G (and FCDiscriminator
D), checks every name and shape against the model of --backbone, and writes OUT as safetensors.

  --from            what IN is; detected when absent:
                      deeplab-init        DeepLab_resnet_pretrained_init-f81d91e8.pth ('Scale.' keys); layer5 is
                                          dropped for 19 classes as CLAN_train.py does, layer5/layer6 stay missing
                      official-clan       GTA5_<iter>.pth (has layer6) or GTA5_<iter>_D.pth (a D), 1:1
                      torchvision-resnet  torchvision ResNet (has fc.weight); fc dropped, heads missing. NOTE: a
                                          different network (stride on conv2, no dilation): fine-tune before use
                      torchvision-vgg16   torchvision VGG-16 (vgg16-397923af.pth; features.N and a Linear
                                          classifier) into --backbone vgg16 (the default for this source): the 13
                                          convs renumbered past the removed pool4; the classifier dropped, fc6/fc7
                                          and the heads start from their init, as AdaptSegNet's deeplab_vgg.py
                      clan                our own weights file (G./D. keys), or a training checkpoint
                                          (RUN/checkpoints/ckpt_N.safetensors): its G and D, without the
                                          optimizer and run state; backbone and classes from its header
                      mmseg               SegFormer's ImageNet encoder (mit_b5.pth, for train's init: the decode head
                                          starts from its own init) or a DAFormer / HRDA / MIC checkpoint (latest.pth,
                                          iter_40000.pth): mit-b* (DAFormer's head) or hrda-mit-b*, picked by the
                                          file's shapes; the file keeps ImageNet normalisation, the config's test
                                          size and whole/slide mode (eval and predict use them), class names and
                                          palette. Must be given: mmseg files are not detected
  --to              clan (default): our weights file, keys G.<name> and D.<name>, metadata format=clan-weights
                    official: official names (G; a D goes to OUT with _D before .safetensors), for PyTorch:
${OFFICIAL_LOAD_SNIPPET.split('\n').map((l) => `                        ${l}`).join('\n')}
                    deeplab-init: G with the 'Scale.' prefix of the DeepLab init
  --backbone        resnet101 (official), resnet50, resnet18, tiny, micro, vgg16 (default: what our own files say,
                    vgg16 for torchvision-vgg16, else resnet101)
  --num-classes     classes of the heads and of D's input (default: what our own files say, else 19)
  --discriminator   also convert this D snapshot (GTA5_<iter>_D.pth); its ndf is read from the file
  --part            mmseg: which network of a DAFormer/HRDA/MIC checkpoint: model (default, what mmseg's test.py
                    evaluates), ema_model (the teacher) or imnet_model (the ImageNet feature-distance copy)
  --eval-size       mmseg: the test size WxH stored in OUT (default: the checkpoint's config, else the official
                    gta2cs one: 1024x512 DAFormer, 2048x1024 HRDA)
  --json            print one JSON object on stdout instead of the report

Keys the file does not provide are listed as missing and left out of OUT (the model's init fills them); BN
num_batches_tracked counters absent from pre-0.4.1 files are written as 0.`,
  async run(argv) {
    const p = parse('convert', argv, { from: { type: 'string' }, to: { type: 'string' }, backbone: { type: 'string' },
      'num-classes': { type: 'string' }, discriminator: { type: 'string' }, part: { type: 'string' }, 'eval-size': { type: 'string' },
      json: { type: 'boolean' } }, true);
    if (p.values.help) { console.log(this.usage); return 0; }
    if (p.positionals.length !== 2) throw new UsageError(`convert: expected IN and OUT, got ${p.positionals.length} argument(s) (see 'clan convert --help')`);
    const [input, output] = p.positionals as [string, string];
    if (!output.endsWith('.safetensors')) throw new UsageError(`convert: OUT must end in .safetensors (got '${output}'); see --help for loading it in PyTorch`);
    const from = str(p, 'from') === undefined ? undefined : enumFlag('convert', 'from', str(p, 'from'), FROM, 'clan');
    const numClasses = str(p, 'num-classes') === undefined ? undefined : intFlag('convert', 'num-classes', str(p, 'num-classes'), 19, 1, 256, '8-bit label maps');
    if (from === 'mmseg') return convertFromMmseg(p, input, output, numClasses);
    for (const f of ['part', 'eval-size']) if (str(p, f) !== undefined) throw new UsageError(`convert: --${f} is for --from mmseg`);
    // The engine (and with it the addon) loads only now, so `clan convert --help` stays instant.
    const { convertWeights, formatConvertReport } = await import('../infer/convert-weights.js');
    const report = convertWeights({ input, output, to: enumFlag('convert', 'to', str(p, 'to'), TO, 'clan'), ...(from ? { from } : {}),
      ...(str(p, 'backbone') ? { backbone: str(p, 'backbone')! } : {}), ...(numClasses ? { numClasses } : {}),
      ...(str(p, 'discriminator') ? { discriminator: str(p, 'discriminator')! } : {}) });
    console.log(boolFlag(p, 'json') ? JSON.stringify(report) : formatConvertReport(report));
    return 0;
  },
};

/** `--from mmseg`: a SegFormer / DAFormer / HRDA / MIC checkpoint into our weights file (infer/mmseg.ts). */
async function convertFromMmseg(p: Parsed, input: string, output: string, numClasses: number | undefined): Promise<number> {
  if (str(p, 'to') !== undefined && str(p, 'to') !== 'clan') throw new UsageError('convert: --from mmseg writes our weights file only (--to clan)');
  if (str(p, 'discriminator') !== undefined) throw new UsageError('convert: --discriminator is for CLAN snapshots; mmseg checkpoints have no D');
  const part = str(p, 'part') === undefined ? undefined : enumFlag('convert', 'part', str(p, 'part'), MMSEG_PARTS, 'model');
  const evalSize = sizeFlag('convert', 'eval-size', str(p, 'eval-size'));
  const { convertMmseg, formatMmsegReport } = await import('../infer/mmseg.js');
  const r = convertMmseg(input, output, { ...(part ? { part } : {}), ...(str(p, 'backbone') ? { backbone: str(p, 'backbone')! } : {}),
    ...(numClasses ? { numClasses } : {}), ...(evalSize ? { evalSize } : {}) });
  console.log(boolFlag(p, 'json') ? JSON.stringify(r) : formatMmsegReport(r));
  return 0;
}
