#!/usr/bin/env python3
"""The PyTorch sweep that chose the `cpu` preset (README, "The cpu preset"; closing notes of issue 5).

Trains source-only / adversarial / clan on digitscapes with the reference model and losses of clan_model.py and
clan_parity.py (the same iteration order as src/methods/clan.ts; uniform batches with replacement and a per-batch
flip instead of the TS loader), evaluates the target mIoU on digitscapes:val in eval mode, and prints one JSON line
per evaluation plus a FINAL line with every option and the per-class IoU. "src" is the mIoU on 500 training
source scenes, "ident" the share of digit pixels predicted as some digit that got the right one.

    npm run build && node tools/reference/digitscapes_dump.mjs /tmp/ds
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/digitscapes_sweep.py --data /tmp/ds --method clan   # cpu preset
    # the old preset (tiny, 128×128, batch 2, SGD), evaluated with BN in train mode to expose the BN problem:
    ... --maxpool --scale 2 --batch 2 --opt sgd --lrG 2.5e-3 --headmult 10 --ladv 0.01 --evaltrain
"""
import sys, os, time, json, argparse, math
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from clan_model import ResNet, Bottleneck, BasicBlock, FCDiscriminator
from clan_parity import focal_loss, weight_map, bce_map, head_cosine

p = argparse.ArgumentParser()
p.add_argument('--data', default='/tmp/ds')  # digitscapes_dump.mjs output
p.add_argument('--method', default='source-only')  # source-only | adversarial | clan
p.add_argument('--iters', type=int, default=1500)
p.add_argument('--batch', type=int, default=8)
p.add_argument('--width', type=int, default=8)  # stem/layer1 planes of the DeepLab backbone
p.add_argument('--blocks', default='1,1,1,1')  # blocks per stage
p.add_argument('--block', default='bottleneck')  # bottleneck | basic
p.add_argument('--init', default='normal')  # normal: N(0, 0.01) as §1.1 | kaiming (backbone convs)
p.add_argument('--opt', default='adam')  # sgd: the official optimizer
p.add_argument('--lrG', type=float, default=1e-3)
p.add_argument('--headmult', type=float, default=1)
p.add_argument('--lrD', type=float, default=1e-4)
p.add_argument('--ladv', type=float, default=0.05)  # λ_adv
p.add_argument('--llocal', type=float, default=10)  # λ_local
p.add_argument('--eps', type=float, default=0.4)  # ε
p.add_argument('--lw', type=float, default=0.01)  # λ_weight
p.add_argument('--ndf', type=int, default=32)
p.add_argument('--seg', default='focal')  # focal | ce
p.add_argument('--scale', type=int, default=1)  # input upsampling factor
p.add_argument('--norm', default='caffe')  # caffe (BGR − mean) | imagenet
p.add_argument('--seed', type=int, default=0)
p.add_argument('--evalevery', type=int, default=500)
p.add_argument('--preheat', type=int, default=-1)  # -1: iters/20
p.add_argument('--threads', type=int, default=1)
p.add_argument('--nodamp', action='store_true')  # damping 1 throughout
p.add_argument('--maxpool', action='store_true')  # keep the stem max-pool (tiny instead of tiny-os4)
p.add_argument('--stem1', action='store_true')  # stem conv stride 1
p.add_argument('--arch', default='deeplab')  # deeplab | fcn (a plain 7-conv FCN with two 1×1 heads)
p.add_argument('--trainbn', action='store_true')  # train the BN affine parameters
p.add_argument('--evaltrain', action='store_true')  # evaluate with batch statistics (BN in train mode, batch --batch)
p.add_argument('--bnmom', type=float, default=0.1)  # BN running-stat momentum
p.add_argument('--oracle', action='store_true')  # train on labelled target scenes instead of source
a = p.parse_args()
torch.set_num_threads(a.threads)
def load(split, n):
    rgb = np.fromfile(os.path.join(a.data, f'{split}_rgb.bin'), np.uint8).reshape(n, 64, 64, 3)
    lab = np.fromfile(os.path.join(a.data, f'{split}_lab.bin'), np.uint8).reshape(n, 64, 64)
    return torch.from_numpy(rgb.copy()), torch.from_numpy(lab.copy()).long()
S, T, V = load('source', 2000), load('target', 2000), load('val', 500)
MEAN = torch.tensor([104.00698793, 116.66876762, 122.67891434]).view(1, 3, 1, 1)
def prep(rgb):  # [N,64,64,3] uint8
    x = rgb.permute(0, 3, 1, 2).float()
    if a.norm == 'caffe':
        x = x[:, [2, 1, 0]] - MEAN
    else:
        x = (x / 255 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    if a.scale != 1:
        x = F.interpolate(x, scale_factor=a.scale, mode='bilinear', align_corners=False)
    return x
torch.manual_seed(a.seed)
blk = Bottleneck if a.block == 'bottleneck' else BasicBlock
G = ResNet(blk, [int(b) for b in a.blocks.split(',')], num_classes=11, base_width=a.width)
if a.init == 'kaiming':
    for n_, m in G.named_modules():
        if isinstance(m, nn.Conv2d) and not n_.startswith(('layer5', 'layer6')):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
if not a.maxpool: G.maxpool = nn.Identity()
if a.stem1: G.conv1.stride = (1, 1)
class FCN(nn.Module):
    def __init__(s, c=32):
        super().__init__()
        def blk(i, o, st=1, d=1): return nn.Sequential(nn.Conv2d(i, o, 3, st, d, d, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        s.f = nn.Sequential(blk(3, c), blk(c, c, 2), blk(c, 2*c), blk(2*c, 2*c, 2), blk(2*c, 4*c), blk(4*c, 4*c, 1, 2), blk(4*c, 4*c, 1, 4))
        s.layer5 = nn.Conv2d(4*c, 11, 1); s.layer6 = nn.Conv2d(4*c, 11, 1)
    def forward(s, x): f = s.f(x); return s.layer5(f), s.layer6(f)
    def backbone_parameters(s): return list(s.f.parameters())
    def head_parameters(s): return list(s.layer5.parameters()) + list(s.layer6.parameters())
if a.arch == 'fcn': G = FCN()
D = FCDiscriminator(11, ndf=a.ndf)
if a.trainbn and a.arch != 'fcn':
    for m in G.modules():
        if isinstance(m, nn.BatchNorm2d): m.weight.requires_grad = True; m.bias.requires_grad = True
bb, hd = G.backbone_parameters(), G.head_parameters()
if a.opt == 'sgd':
    optG = torch.optim.SGD([{'params': bb, 'lr': a.lrG}, {'params': hd, 'lr': a.lrG * a.headmult}], lr=a.lrG, momentum=0.9, weight_decay=5e-4)
else:
    optG = torch.optim.Adam([{'params': bb, 'lr': a.lrG}, {'params': hd, 'lr': a.lrG * a.headmult}], lr=a.lrG, betas=(0.9, 0.99))
optD = torch.optim.Adam(D.parameters(), lr=a.lrD, betas=(0.9, 0.99))
base = [g['lr'] for g in optG.param_groups]
warm = a.iters // 20
preheat = warm if a.preheat < 0 else a.preheat
rng = np.random.default_rng(a.seed)
def lr_at(b, i):
    return b * i / warm if i < warm else b * (1 - i / a.iters) ** 0.9
def seg_loss(x, y):
    return focal_loss(x, y) if a.seg == 'focal' else F.cross_entropy(x, y, ignore_index=255)
def evaluate(D_=None):
    D_ = D_ or V
    conf = torch.zeros(11, 11, dtype=torch.long)
    bs = 50
    if a.evaltrain:
        bs = a.batch
        for m in G.modules():
            if isinstance(m, nn.BatchNorm2d): m.momentum = 0.0
    else: G.eval()
    with torch.no_grad():
        for k in range(0, 500, bs):
            x1, x2 = G(prep(D_[0][k:k+bs])); pr = F.interpolate(x1 + x2, size=(64, 64), mode='bilinear', align_corners=True).argmax(1)
            y = D_[1][k:k+bs]; ok = y != 255
            conf += torch.bincount(y[ok] * 11 + pr[ok], minlength=121).view(11, 11)
    G.train()
    for m in G.modules():
        if isinstance(m, nn.BatchNorm2d): m.momentum = a.bnmom
    tp = conf.diag().double(); iou = tp / (conf.sum(0) + conf.sum(1) - conf.diag()).double()
    global ident
    fg = conf[1:, 1:]; ident = (fg.diag().sum() / fg.sum()).item()
    return iou.mean().item(), iou
def up(x, size): return F.interpolate(x, size=size, mode='bilinear', align_corners=True)
t0 = time.time(); log = []
src = T if a.oracle else S
for i in range(a.iters):
    si = rng.integers(0, 2000, a.batch); ti = rng.integers(0, 2000, a.batch)
    xs, ys = prep(src[0][si]), src[1][si]
    if a.scale != 1: ys = F.interpolate(ys[:, None].float(), scale_factor=a.scale, mode='nearest')[:, 0].long()
    if rng.random() < 0.5: xs, ys = xs.flip(-1), ys.flip(-1)
    xt = prep(T[0][ti])
    for g, b in zip(optG.param_groups, base): g['lr'] = lr_at(b, i)
    for g in optD.param_groups: g['lr'] = lr_at(a.lrD, i)
    damp = 1.0 if a.nodamp else 1 - i / a.iters
    optG.zero_grad(); optD.zero_grad()
    size = list(ys.shape[-2:])
    x1s, x2s = G(xs); x1s, x2s = up(x1s, size), up(x2s, size)
    seg = seg_loss(x1s, ys) + seg_loss(x2s, ys); seg.backward()
    if a.method != 'source-only':
        weighted = a.method == 'clan' and i > preheat
        for q in D.parameters(): q.requires_grad = False
        x1t, x2t = G(xt); x1t, x2t = up(x1t, size), up(x2t, size)
        m = weight_map(x1t, x2t)
        dt = up(D(F.softmax(x1t + x2t, 1)), size)
        l = bce_map(dt, 0); adv = (l * (a.eps + a.llocal * m)).mean() if weighted else l.mean()
        (a.ladv * damp * adv).backward()
        if a.method == 'clan':
            lw = (head_cosine(G) + 1) * a.lw * damp * 2; lw.backward()
        for q in D.parameters(): q.requires_grad = True
        ds = bce_map(up(D(F.softmax(x1s + x2s, 1).detach()), size), 0).mean(); ds.backward()
        l = bce_map(up(D(F.softmax(x1t + x2t, 1).detach()), size), 1)
        dtl = (l * (a.eps + a.llocal * m.detach())).mean() if weighted else l.mean(); dtl.backward()
    optG.step()
    if a.method != 'source-only': optD.step()
    if (i + 1) % a.evalevery == 0 or i + 1 == a.iters:
        ms, _ = evaluate((S[0][:500], S[1][:500])); mi, iou = evaluate()
        print(json.dumps(dict(i=i + 1, miou=round(mi, 4), src=round(ms, 4), ident=round(ident, 3), seg=round(seg.item(), 3), t=round(time.time() - t0, 1))), flush=True)
print('FINAL', json.dumps(dict(vars(a), miou=round(mi, 4), iou=[round(v, 3) for v in iou.tolist()])), flush=True)
