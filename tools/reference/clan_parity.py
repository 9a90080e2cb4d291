#!/usr/bin/env python3
"""PyTorch reference for the CLAN training iteration (docs/method.md §2-§4), and the parity fixtures.

Generalises the official iteration (CLAN_train.py L290-421) to batch size N: the focal loss averages over the
valid pixels of the whole batch and the weight map is [N,1,H,W] (the official code hard-codes N = 1, §2.1 and
§2.3 "pitfalls"). Everything else follows §4 step by step.

Writes test/fixtures/clan/{init,inputs,step1,step2,step3}.safetensors and expected.json, then re-runs the
three iterations from the written init/inputs and asserts bit-identical results. Run:
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_parity.py

Device mode (reads the committed fixtures, writes nothing under test/):
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/clan_parity.py --device DEV --out DIR [--tf32 0|1]
runs the same three iterations from the committed init/inputs on DEV and writes DIR/expected.json (without
float32_vs_float64, plus "device" and "device_name") and DIR/step{1,2,3}.safetensors. --tf32 0 (default) disables
TF32 in cuDNN and CUDA matmuls; cuDNN runs deterministic, benchmark off. On cpu the tensors and losses equal the
fixtures' bit for bit only with the OpenBLAS kernels that made them: Debian's torch picks them by CPU, and the
fixtures need OPENBLAS_CORETYPE=SkylakeX (on an AMD EPYC the default Haswell kernels differ by ~1e-4 relative).
"""
import argparse
import contextlib
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clan_model import FIXTURES, Bottleneck, FCDiscriminator, ResNet  # noqa: E402

# ---------------------------------------------------------------------------------------------------------
# Parity configuration. The lrs are the official ones ×100 so that three steps move the weights visibly.
PARITY = dict(
    block_counts=[1, 1, 1, 1],  # Bottleneck blocks per stage
    base_width=4,  # stem/layer1 width; stages 4, 8, 16, 32 planes → 128 channels into the heads
    num_classes=5,
    ndf=8,  # D width
    batch=2,
    source_size=[72, 104],  # H, W of source images and labels
    target_size=[64, 96],  # H, W of target images
    ignore_label=255,
    max_iter=10,  # damping and poly horizon (official 100000)
    warmup=1,  # linear lr warm-up length (official 5000)
    preheat=1,  # weighted adversarial losses when i > preheat (official 5000)
    lr_G=2.5e-2,  # official 2.5e-4 × 100; heads at 10×
    lr_D=1e-2,  # official 1e-4 × 100
    momentum=0.9,
    weight_decay=5e-4,
    power=0.9,
    adam_betas=[0.9, 0.99],
    adam_eps=1e-8,
    lambda_adv=0.001,
    lambda_weight=0.01,
    lambda_local=40.0,
    epsilon=0.4,
    gamma=2.0,
    steps=3,  # iterations i = 0, 1, 2 → files step1..step3
    init_seed=0,  # torch.manual_seed before building G then D
    input_seed=1234,  # torch.Generator for the inputs
    ignore_fraction=0.1,  # share of source label pixels set to 255
)


# ---------------------------------------------------------------------------------------------------------
# Schedules (docs/method.md §3)
def lr_at(base, i, cfg):
    """Linear warm-up for i < warmup, then poly: base·(1 − i/max_iter)^0.9 (§3 "LR schedule")."""
    if i < cfg['warmup']:
        return base * i / cfg['warmup']
    return base * (1 - i / cfg['max_iter']) ** cfg['power']


def damping_at(i, cfg):
    return 1 - i / cfg['max_iter']  # §2 notation, §3 "Damping"


# ---------------------------------------------------------------------------------------------------------
# Losses (docs/method.md §2)
def up(x, size):
    """nn.Upsample(mode='bilinear', align_corners=True) to (H, W) (§1.4, §1.5)."""
    return F.interpolate(x, size=tuple(size), mode='bilinear', align_corners=True)


def focal_loss(logits, labels, gamma=2.0, ignore_label=255):
    """§2.1: P = softmax clamped to [1e-9, 1−1e-9] (1−1e-9 rounds to 1.0 in float32), p_t = P at the label,
    mean over the valid pixels (0 ≤ y, y ≠ 255) of the whole batch of −(1−p_t)^γ·log p_t.
    logits [N,C,H,W], labels [N,H,W] int64."""
    valid = (labels >= 0) & (labels != ignore_label)  # [N,H,W]
    p = F.softmax(logits, dim=1).clamp(1e-9, 1 - 1e-9)
    pt = p.gather(1, labels.clamp(min=0).masked_fill(~valid, 0).unsqueeze(1)).squeeze(1)[valid]  # [V]
    # (the TS side builds the same gather index with where(valid, labels, 0); identical values)
    return (-(1 - pt) ** gamma * pt.log()).mean()


def weight_map(x1, x2):
    """§2.3: M = 1 − Σ_c p1·p2 / (‖p1‖₂‖p2‖₂), p = softmax over classes; no eps, not detached. [N,1,H,W]."""
    p1 = F.softmax(x1, dim=1)
    p2 = F.softmax(x2, dim=1)
    return (1 - (p1 * p2).sum(1) / (p1.norm(2, dim=1) * p2.norm(2, dim=1))).unsqueeze(1)


def bce_map(logits, target):
    """§2.4: element-wise BCE with logits against a constant domain label (0 source, 1 target)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)), reduction='none')


def weighted_mean(loss, m, weighted, cfg):
    """§2.4: mean(ℓ·(ε + λ_local·M)) once past the preheat, plain mean(ℓ) before."""
    return (loss * (cfg['epsilon'] + cfg['lambda_local'] * m)).mean() if weighted else loss.mean()


def head_cosine(G):
    """§2.2: cos(W5, W6) with W = cat of the flattened layer params in parameters() order, biases included."""
    w5 = torch.cat([p.reshape(-1) for p in G.layer5.parameters()])
    w6 = torch.cat([p.reshape(-1) for p in G.layer6.parameters()])
    return torch.dot(w5, w6) / (w5.norm() * w6.norm())


# ---------------------------------------------------------------------------------------------------------
# Models and optimisers
def build_models(cfg, block=Bottleneck):
    torch.manual_seed(cfg['init_seed'])
    G = ResNet(block, cfg['block_counts'], num_classes=cfg['num_classes'], base_width=cfg['base_width'])
    D = FCDiscriminator(cfg['num_classes'], ndf=cfg['ndf'])
    return G, D


def build_optimizers(G, D, cfg):
    """§3: SGD(momentum 0.9, wd 5e-4) with [backbone trainable params at lr, layer5+layer6 at 10×lr];
    Adam(betas (0.9, 0.99)) for D. Each backbone parameter appears ONCE (the official duplicate-parameter
    quirk of §3 is not reproduced)."""
    opt_g = torch.optim.SGD([{'params': G.backbone_parameters(), 'lr': cfg['lr_G']},
                             {'params': G.head_parameters(), 'lr': 10 * cfg['lr_G']}],
                            lr=cfg['lr_G'], momentum=cfg['momentum'], weight_decay=cfg['weight_decay'])
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg['lr_D'], betas=tuple(cfg['adam_betas']), eps=cfg['adam_eps'])
    return opt_g, opt_d


def set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad = flag


AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def make_grad_scaler(device_type):
    """The fp16 GradScaler: torch.amp.GradScaler(device) where it exists (torch ≥ 2.3), else torch.cuda.amp's."""
    if hasattr(torch, 'amp') and hasattr(torch.amp, 'GradScaler'):
        return torch.amp.GradScaler(device_type)
    return torch.cuda.amp.GradScaler()


def set_tf32(flag):
    """TF32 on/off for cuDNN convs and CUDA matmuls: the fp32_precision settings where they exist (torch ≥ 2.9,
    which deprecates the old flags), else torch.backends.cudnn.allow_tf32 / torch.backends.cuda.matmul.allow_tf32."""
    if hasattr(torch.backends, 'fp32_precision'):  # the new API (torch.backends.cuda's getattr asserts on 1.13)
        torch.backends.cuda.matmul.fp32_precision = 'tf32' if flag else 'ieee'
        torch.backends.cudnn.conv.fp32_precision = 'tf32' if flag else 'ieee'
    else:
        torch.backends.cudnn.allow_tf32 = bool(flag)
        torch.backends.cuda.matmul.allow_tf32 = bool(flag)


def clan_step(G, D, opt_g, opt_d, i, xs, ys, xt, cfg, amp='off', scaler=None):
    """One CLAN iteration i (0-based) in the order of docs/method.md §4. Returns the logged scalars.

    amp='off' (the parity path): plain float32. amp='bf16'|'fp16': each forward+loss block runs inside
    torch.autocast(device type, dtype) and every backward() outside it; the weight-discrepancy loss (§4.5) runs
    without autocast. With a GradScaler (fp16) every backward is scaler.scale(loss).backward() and the steps are
    scaler.step(opt_g), scaler.step(opt_d), scaler.update(). The logged losses are the unscaled ones."""
    src_size, tgt_size = list(ys.shape[-2:]), list(xt.shape[-2:])
    weighted = i > cfg['preheat']  # strict '>' (§2.5)

    def autocast():
        if amp == 'off':
            return contextlib.nullcontext()
        return torch.autocast(xs.device.type, dtype=AMP_DTYPES[amp])

    def backward(loss):
        (loss if scaler is None else scaler.scale(loss)).backward()

    # §4.1 zero grads, lrs (warm-up/poly on every group, heads keep 10×), damping.
    opt_g.zero_grad()
    opt_d.zero_grad()
    lr_g, lr_d = lr_at(cfg['lr_G'], i, cfg), lr_at(cfg['lr_D'], i, cfg)
    opt_g.param_groups[0]['lr'] = lr_g
    opt_g.param_groups[1]['lr'] = 10 * lr_g
    opt_d.param_groups[0]['lr'] = lr_d
    damping = damping_at(i, cfg)
    # §4.2 freeze D.
    set_requires_grad(D, False)
    G.train()
    D.train()
    # §4.3 source forward, L_seg = FL(x1s) + FL(x2s) at the label size.
    with autocast():
        x1s, x2s = G(xs)
        x1s, x2s = up(x1s, src_size), up(x2s, src_size)
        loss_seg = (focal_loss(x1s, ys, cfg['gamma'], cfg['ignore_label'])
                    + focal_loss(x2s, ys, cfg['gamma'], cfg['ignore_label']))
    backward(loss_seg)
    # §4.4 target forward, M with graph, adversarial loss against the source label 0 (§2.5).
    with autocast():
        x1t, x2t = G(xt)
        x1t, x2t = up(x1t, tgt_size), up(x2t, tgt_size)
        m = weight_map(x1t, x2t)  # [N,1,H,W], not detached (§2.3)
        d_t = up(D(F.softmax(x1t + x2t, dim=1)), tgt_size)
        loss_adv = weighted_mean(bce_map(d_t, 0), m, weighted, cfg)
    backward(cfg['lambda_adv'] * damping * loss_adv)
    # §4.5 weight discrepancy (§2.2), gradients reach only the heads; never under autocast.
    cos = head_cosine(G)
    loss_weight = (cos + 1) * cfg['lambda_weight'] * damping * 2
    backward(loss_weight)
    # §4.6 unfreeze D; detached inputs and M.
    set_requires_grad(D, True)
    # §4.7 D on source, label 0, unweighted (§2.6).
    with autocast():
        d_s = up(D(F.softmax(x1s + x2s, dim=1).detach()), src_size)
        loss_d_s = bce_map(d_s, 0).mean()
    backward(loss_d_s)
    # §4.8 D on target, label 1, weighted with the detached M past the preheat (§2.6).
    with autocast():
        d_t2 = up(D(F.softmax(x1t + x2t, dim=1).detach()), tgt_size)
        loss_d_t = weighted_mean(bce_map(d_t2, 1), m.detach(), weighted, cfg)
    backward(loss_d_t)
    # §4.9 G then D step.
    if scaler is None:
        opt_g.step()
        opt_d.step()
    else:
        scaler.step(opt_g)
        scaler.step(opt_d)
        scaler.update()
    return dict(i=i, seg=loss_seg.item(), adv=loss_adv.item(), weight=loss_weight.item(),
                d_s=loss_d_s.item(), d_t=loss_d_t.item(), lr_G=lr_g, lr_D=lr_d, damping=damping,
                weighted=weighted, M_mean=m.mean().item(), cos_W5_W6=cos.item())


# ---------------------------------------------------------------------------------------------------------
# safetensors, by hand (the pip package is absent). Layout as src/io/safetensors.ts writes it: tensors sorted
# by element size (desc) then name, header space-padded to a multiple of 8, little-endian data.
ST_DTYPES = {torch.float32: ('F32', 'f'), torch.int64: ('I64', 'q')}


def write_safetensors(path, tensors, metadata=None):
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    for n in names:
        t = tensors[n].detach().contiguous().cpu()
        code, fmt = ST_DTYPES[t.dtype]
        flat = t.reshape(-1).tolist()
        blob = struct.pack(f'<{len(flat)}{fmt}', *flat)
        header[n] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * (-len(js) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    out = {}
    for name, info in header.items():
        dtype = {'F32': torch.float32, 'I64': torch.int64}[info['dtype']]
        fmt = {'F32': 'f', 'I64': 'q'}[info['dtype']]
        b, e = info['data_offsets']
        raw = data[8 + n + b:8 + n + e]
        vals = struct.unpack(f'<{len(raw) // struct.calcsize(fmt)}{fmt}', raw)
        out[name] = torch.tensor(vals, dtype=dtype).reshape(info['shape'])
    return out


# ---------------------------------------------------------------------------------------------------------
def make_inputs(cfg):
    """A fresh source batch (image, label with some 255) and target batch per step, from one generator."""
    g = torch.Generator().manual_seed(cfg['input_seed'])
    n, c = cfg['batch'], cfg['num_classes']
    (hs, ws), (ht, wt) = cfg['source_size'], cfg['target_size']
    out = {}
    for k in range(1, cfg['steps'] + 1):
        out[f'source_image_step{k}'] = torch.randn(n, 3, hs, ws, generator=g)
        label = torch.randint(0, c, (n, hs, ws), generator=g, dtype=torch.int64)
        label[torch.rand(n, hs, ws, generator=g) < cfg['ignore_fraction']] = cfg['ignore_label']
        out[f'source_label_step{k}'] = label
        out[f'target_image_step{k}'] = torch.randn(n, 3, ht, wt, generator=g)
    return out


def init_state(G, D):
    return {**{f'G.{n}': t.clone() for n, t in G.state_dict().items()},
            **{f'D.{n}': t.clone() for n, t in D.state_dict().items()}}


def snapshot(G, D, opt_g, opt_d, init):
    """After-step tensors: Δw of trainable G params and all D params, BN running stats, optimiser state."""
    out = {}
    for n, p in G.named_parameters():
        if p.requires_grad:
            out[f'delta.G.{n}'] = p.detach() - init[f'G.{n}']
            out[f'sgd.{n}'] = opt_g.state[p]['momentum_buffer'].clone()
    for n, t in G.state_dict().items():
        if n.endswith(('running_mean', 'running_var')):
            out[f'bn.G.{n}'] = t.clone()
    for n, p in D.named_parameters():
        out[f'delta.D.{n}'] = p.detach() - init[f'D.{n}']
        out[f'adam.exp_avg.{n}'] = opt_d.state[p]['exp_avg'].clone()
        out[f'adam.exp_avg_sq.{n}'] = opt_d.state[p]['exp_avg_sq'].clone()
    return out


def run(cfg, init, inputs, dtype=torch.float32, device='cpu'):
    """Builds G and D, loads `init`, runs cfg['steps'] iterations in `dtype` on `device`; returns
    (logs, snapshots), the snapshot tensors on `device`."""
    G, D = build_models(cfg)
    G.to(device, dtype)
    D.to(device, dtype)
    cast = lambda m: {n: (t.to(dtype) if t.is_floating_point() else t).to(device) for n, t in m.items()}  # noqa: E731
    init, inputs = cast(init), cast(inputs)
    G.load_state_dict({n[2:]: t for n, t in init.items() if n.startswith('G.')})
    D.load_state_dict({n[2:]: t for n, t in init.items() if n.startswith('D.')})
    opt_g, opt_d = build_optimizers(G, D, cfg)
    logs, snaps = [], []
    for k in range(1, cfg['steps'] + 1):
        log = clan_step(G, D, opt_g, opt_d, k - 1, inputs[f'source_image_step{k}'],
                        inputs[f'source_label_step{k}'], inputs[f'target_image_step{k}'], cfg)
        snap = snapshot(G, D, opt_g, opt_d, init)
        log['delta_norms'] = {n[len('delta.'):]: t.norm().item() for n, t in snap.items() if n.startswith('delta.')}
        log['bn_num_batches_tracked'] = int(G.bn1.num_batches_tracked)
        logs.append(log)
        snaps.append(snap)
    return logs, snaps


NOTES = [
    'Iteration i is 0-based; file stepK holds the state after i = K-1.',
    'At i = 0 the warm-up lr is 0 (lr = base·i/warmup), so every delta in step1 is exactly 0; the SGD momentum '
    'buffers (= grad + weight_decay·w) and the Adam moments of step1 still carry the first gradients.',
    'preheat is strict: the weighted losses (ε + λ_local·M) are used only when i > preheat, i.e. at i = 2 (step3).',
    'Losses: seg = FL(x1s) + FL(x2s); adv = unscaled G adversarial loss (back-propagated ×λ_adv·damping); '
    'weight = (cos + 1)·λ_weight·damping·2 as back-propagated; d_s, d_t = discriminator losses.',
    'Batch generalisation: focal loss averages over the valid pixels of the whole batch; M is [N,1,H,W].',
    'Backbone SGD group = trainable backbone params (convs; BN frozen) once each in named_parameters order; '
    'the official duplicate-parameter quirk is not reproduced. Head group = layer5 params then layer6 params at 10×lr.',
    'SGD (torch 1.13): buf = g + wd·w on the first step, then buf = μ·buf + (g + wd·w); w -= lr·buf. '
    'Adam: bias-corrected with the step count, which also counts the lr=0 step at i = 0.',
    'BatchNorm runs in train mode (batch statistics, momentum 0.1, eps 1e-5, unbiased running_var); each step '
    'runs G twice (source, target), so num_batches_tracked = 2·K after step K.',
    'Upsampling is bilinear with align_corners=True; D output is upsampled to the input size of D.',
    'With these sizes D outputs 2×3 maps for both source (72×104) and target (64×96) inputs, so the upsampling of D is exercised.',
    'float32_vs_float64: the same three steps run in float64 from the same init/inputs; per step the relative '
    'loss errors and, per tensor family, [worst ‖a32 − a64‖/‖a64‖, name] (absolute norm where ‖a64‖ = 0). '
    'D biases/Adam moments are the least stable (source and target BCE gradients nearly cancel).',
]


def float64_discrepancy(cfg, init, inputs, logs, snaps):
    """How far float32 is from the same computation in float64: a floor for the TS parity tolerances.
    Per step: relative loss errors and, per tensor family, the worst ‖a32 − a64‖/‖a64‖ with its name."""
    logs64, snaps64 = run(cfg, init, inputs, torch.float64)
    out = []
    for la, lb, sa, sb in zip(logs, logs64, snaps, snaps64):
        rep = {'losses': {k: abs(la[k] - lb[k]) / abs(lb[k]) for k in ('seg', 'adv', 'weight', 'd_s', 'd_t')}}
        for fam in ('delta.G.', 'delta.D.', 'sgd.', 'adam.exp_avg.', 'adam.exp_avg_sq.', 'bn.G.'):
            errs = []
            for n in sa:
                if n.startswith(fam):
                    diff, ref = (sa[n].double() - sb[n]).norm().item(), sb[n].norm().item()
                    errs.append([diff / ref if ref > 0 else diff, n])
            rep[fam.rstrip('.')] = max(errs)
        out.append(rep)
    return out


LOG_KEYS = ('i', 'seg', 'adv', 'weight', 'd_s', 'd_t', 'lr_G', 'lr_D', 'damping', 'M_mean', 'cos_W5_W6')


def cpu_kernels():
    """The CPU a record was made on and the kernel set PyTorch picked there ('AMD EPYC, AVX512'): MKL and oneDNN
    choose their kernels by CPU (vendor, ISA, caches), so another CPU may round differently; the tests keep one
    record per kernel set (test/fixtures/torch-2.14/clan, clan-*)."""
    model = 'unknown CPU'
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            model = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')), model)
    cap = getattr(getattr(torch.backends, 'cpu', None), 'get_cpu_capability', lambda: 'capability unknown')()
    return f'{model}, {cap}'


def write_expected(path, cfg, notes, logs, **extra):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump({'torch': torch.__version__, 'config': cfg, 'notes': notes, 'steps': logs, 'cpu': cpu_kernels(), **extra},
                  f, indent=1, ensure_ascii=False)
        f.write('\n')


def write_fixtures():
    """Default mode: regenerates test/fixtures/clan on the CPU and self-checks it."""
    torch.set_num_threads(1)
    cfg = PARITY
    os.makedirs(FIXTURES, exist_ok=True)
    G, D = build_models(cfg)
    init = init_state(G, D)
    inputs = make_inputs(cfg)
    meta = {'generator': 'tools/reference/clan_parity.py', 'torch': torch.__version__}
    write_safetensors(os.path.join(FIXTURES, 'init.safetensors'), init, meta)
    write_safetensors(os.path.join(FIXTURES, 'inputs.safetensors'), inputs, meta)

    logs, snaps = run(cfg, init, inputs)
    for k, snap in enumerate(snaps, 1):
        write_safetensors(os.path.join(FIXTURES, f'step{k}.safetensors'), snap, {**meta, 'step': k, 'i': k - 1})
    write_expected(os.path.join(FIXTURES, 'expected.json'), cfg, NOTES, logs,
                   float32_vs_float64=float64_discrepancy(cfg, init, inputs, logs, snaps))

    # Self-check: re-run from the files just written (exercises the safetensors writer too) and demand
    # bit-identical losses and states.
    init2 = read_safetensors(os.path.join(FIXTURES, 'init.safetensors'))
    inputs2 = read_safetensors(os.path.join(FIXTURES, 'inputs.safetensors'))
    assert all(torch.equal(init[n], init2[n]) for n in init) and init.keys() == init2.keys()
    assert all(torch.equal(inputs[n], inputs2[n]) for n in inputs) and inputs.keys() == inputs2.keys()
    logs2, snaps2 = run(cfg, init2, inputs2)
    assert logs == logs2, 'losses differ between two runs'
    for k, (a, b) in enumerate(zip(snaps, snaps2), 1):
        assert a.keys() == b.keys()
        bad = [n for n in a if not torch.equal(a[n], b[n])]
        assert not bad, f'step{k}: {bad[:5]} differ between two runs'
        c = read_safetensors(os.path.join(FIXTURES, f'step{k}.safetensors'))
        assert all(torch.equal(a[n], c[n]) for n in a) and a.keys() == c.keys()
    for log in logs:
        assert all(math.isfinite(log[k]) for k in ('seg', 'adv', 'weight', 'd_s', 'd_t'))
    for log in logs:
        print(json.dumps({k: log[k] for k in LOG_KEYS}))
    sizes = {f: os.path.getsize(os.path.join(FIXTURES, f)) for f in sorted(os.listdir(FIXTURES))}
    print(json.dumps(sizes), 'total', sum(sizes.values()), file=sys.stderr)
    print('self-check: deterministic re-run identical', file=sys.stderr)


def run_on_device(device, out, tf32):
    """--device mode: the committed init/inputs of test/fixtures/clan run on `device`; writes OUT/expected.json
    (no float32_vs_float64) and OUT/step{k}.safetensors with the fixtures' tensor names. tf32=0 turns TF32 off
    for cuDNN convs and CUDA matmuls; cuDNN is always deterministic with benchmark off."""
    torch.set_num_threads(1)  # as the fixtures were made: on the CPU the result then equals them bit for bit
    set_tf32(tf32)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    device = torch.device(device)
    cfg = PARITY
    init = read_safetensors(os.path.join(FIXTURES, 'init.safetensors'))
    inputs = read_safetensors(os.path.join(FIXTURES, 'inputs.safetensors'))
    logs, snaps = run(cfg, init, inputs, device=device)
    os.makedirs(out, exist_ok=True)
    meta = {'generator': f'tools/reference/clan_parity.py --device {device} --tf32 {tf32}',
            'torch': torch.__version__}
    for k, snap in enumerate(snaps, 1):
        write_safetensors(os.path.join(out, f'step{k}.safetensors'), {n: t.cpu() for n, t in snap.items()},
                          {**meta, 'step': k, 'i': k - 1})
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else None
    notes = [n for n in NOTES if not n.startswith('float32_vs_float64')]
    notes.append(f'Run on {device} ({name or "cpu"}) from the committed init/inputs, tf32={tf32}.')
    write_expected(os.path.join(out, 'expected.json'), cfg, notes, logs, device=str(device), device_name=name)
    for log in logs:
        print(json.dumps({k: log[k] for k in LOG_KEYS}))


def main(argv):
    ap = argparse.ArgumentParser(description='CLAN parity fixtures. Without flags: regenerate test/fixtures/clan.')
    ap.add_argument('--device', help='run the committed fixtures\' init/inputs on this device (cpu, cuda, cuda:1)')
    ap.add_argument('--out', help='with --device: folder for expected.json and step{k}.safetensors')
    ap.add_argument('--tf32', type=int, choices=(0, 1), default=0, help='with --device: allow TF32 (default 0)')
    a = ap.parse_args(argv)
    if a.device is None and a.out is None:
        write_fixtures()
    elif a.device is None or a.out is None:
        ap.error('--device and --out go together')
    else:
        run_on_device(a.device, a.out, a.tf32)


if __name__ == '__main__':
    main(sys.argv[1:])
