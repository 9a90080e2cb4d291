#!/usr/bin/env python3
"""PyTorch reference for ADVENT's two methods on our adapter (docs/method.md §9.1), and their parity fixtures.

MinEnt and AdvEnt as `valeoai/ADVENT` (advent/domain_adaptation/train_UDA.py `train_minent`, `train_advent`;
advent/utils/func.py `prob_2_entropy`; advent/utils/loss.py `entropy_loss`) compute them, on the adapter this
project shares between methods (the same pieces as clan_parity.py: two layer4 heads, focal L_seg on each, D output
upsampled to the loss size, batch N):

- the prediction is p = softmax(x1 + x2): our two heads together are ADVENT's *main* head; there is no layer3 aux
  head, so ADVENT's aux D and aux λs have nothing to act on;
- MinEnt: L_seg on the source, then λ_ent·entropy_loss(p_t) on the target, one SGD step; no D, no damping;
- AdvEnt: the output-space iteration of §4 with D fed prob_2_entropy(p) instead of p, λ_adv·BCE(d_t, source) for
  G, each D term divided by 2, no damping, no per-pixel weighting.

ADVENT writes −p·log2(p + 1e-30) / log2(C); here (and in src/methods/losses.ts) it is −p·ln(p + 1e-30) / ln(C),
the same number (log2 x / log2 C = ln x / ln C) with float32 rounding of its own: the engine has no log2. The
literal log2 form runs too, and expected.json records how far it lies from the ln form ('log2_vs_ln').

Starts from the CLAN parity fixtures' init and inputs (test/fixtures/clan/{init,inputs}.safetensors: the same G, D
and batches) and writes test/fixtures/advent/{minent,advent}/expected.json and step{1,2,3}.safetensors: per step
the weight deltas and BN running statistics, after step 3 also SGD momentum and Adam moments. Run (OpenBLAS
kernels as for the CLAN fixtures, see clan_parity.py):
    OPENBLAS_CORETYPE=SkylakeX ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/advent_parity.py
AdvEnt's three steps amplify float32 rounding (D's Adam moves an element whose gradient is at rounding level by a
whole step either way): on a CPU without AVX-512, PyTorch's own result differs from those fixtures by 1.3e-4, 2.3e-3
and 3.1e-2 (Δw per step) and 8.4e-2 (momentum) — exactly as ours does. So AdvEnt is also recorded on such a CPU:
    ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/advent_parity.py --kernels avx2   # → test/fixtures/advent/advent-avx2
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clan_parity as cp  # noqa: E402
from clan_model import FIXTURES as CLAN_FIXTURES  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'advent')

# The CLAN parity configuration (same nets, sizes, batches) with ADVENT's conventions: no warm-up (ADVENT's poly
# starts at i = 0, so step 1 already moves the weights), no damping, no preheat/weighting, each D term / 2. Measured
# with this script's functions (PyTorch 1.13, CPU), over the three steps:
# - lrs at the official ×10 (CLAN's parity uses ×100 after a zero-lr first step): without a warm-up, ×100 diverges
#   (L_seg 2.1 → 12.3 by step 3) and turns float32 rounding into ~1e-2 differences of the deltas (the log2 and ln
#   forms of the entropy differ that much); at ×10 L_seg stays ~2.1 and they differ by ~3e-6 (MinEnt) / 3.5e-5
#   (AdvEnt, a D bias whose source and target gradients nearly cancel).
# - λ_ent = 0.01 and λ_adv = 0.1 (official 0.001 ×10, ×100): the share of G's step-3 deltas that the method's own term
#   makes ('term_share', worst tensor; λ → 0 changes it by that much) is then ~0.1 for both; at λ_adv = 0.001 it is
#   2e-5 and the G side of AdvEnt's adversarial gradient would hide under the deltas' tolerance.
PARITY = dict(cp.PARITY, lr_G=2.5e-3, lr_D=1e-3, warmup=0, preheat=0, lambda_adv=0.1, lambda_ent=0.01, damping=False,
              halve_d_loss=True, steps=3)
EPS = 1e-30  # ADVENT's guard inside the log


# ---------------------------------------------------------------------------------------------------------
# ADVENT's functions: ours (ln) and the literal ones (log2)
def prob_2_entropy(prob, log2=False):
    """advent/utils/func.py prob_2_entropy: the weighted self-information map −p·log2(p)/log2(C), [N,C,H,W]."""
    c = prob.size(1)
    if log2:
        return -torch.mul(prob, torch.log2(prob + EPS)) / math.log2(c)
    return -torch.mul(prob, torch.log(prob + EPS)) / math.log(c)


def entropy_loss(v, log2=False):
    """advent/utils/loss.py entropy_loss: −Σ v·log2(v) / (n·h·w·log2 c), a scalar."""
    n, c, h, w = v.size()
    if log2:
        return -torch.sum(torch.mul(v, torch.log2(v + EPS))) / (n * h * w * math.log2(c))
    return -torch.sum(torch.mul(v, torch.log(v + EPS))) / (n * h * w * math.log(c))


def seg_loss(G, xs, ys, cfg):
    src_size = list(ys.shape[-2:])
    x1s, x2s = G(xs)
    x1s, x2s = cp.up(x1s, src_size), cp.up(x2s, src_size)
    return x1s, x2s, cp.focal_loss(x1s, ys, cfg['gamma']) + cp.focal_loss(x2s, ys, cfg['gamma'])


def set_lr(opt_g, opt_d, i, cfg):
    lr_g = cp.lr_at(cfg['lr_G'], i, cfg)
    opt_g.param_groups[0]['lr'] = lr_g
    opt_g.param_groups[1]['lr'] = 10 * lr_g
    lr_d = None
    if opt_d is not None:
        lr_d = cp.lr_at(cfg['lr_D'], i, cfg)
        opt_d.param_groups[0]['lr'] = lr_d
    return lr_g, lr_d


def minent_step(G, opt_g, i, xs, ys, xt, cfg, log2=False):
    """train_minent, one iteration: zero grad, lr; source L_seg backward; λ_ent·entropy_loss(p_t) backward; step."""
    opt_g.zero_grad()
    lr_g, _ = set_lr(opt_g, None, i, cfg)
    G.train()
    _, _, loss_seg = seg_loss(G, xs, ys, cfg)
    loss_seg.backward()
    tgt_size = list(xt.shape[-2:])
    x1t, x2t = G(xt)
    x1t, x2t = cp.up(x1t, tgt_size), cp.up(x2t, tgt_size)
    loss_ent = entropy_loss(F.softmax(x1t + x2t, dim=1), log2)
    (cfg['lambda_ent'] * loss_ent).backward()
    opt_g.step()
    return dict(i=i, seg=loss_seg.item(), ent=loss_ent.item(), lr_G=lr_g, damping=1.0)


def advent_step(G, D, opt_g, opt_d, i, xs, ys, xt, cfg, log2=False):
    """train_advent, one iteration (main level only), in §4's order."""
    opt_g.zero_grad()
    opt_d.zero_grad()
    lr_g, lr_d = set_lr(opt_g, opt_d, i, cfg)
    cp.set_requires_grad(D, False)  # only train G: no gradient into D
    G.train()
    D.train()
    x1s, x2s, loss_seg = seg_loss(G, xs, ys, cfg)
    loss_seg.backward()
    # fool D on the target's self-information map (label source = 0)
    src_size, tgt_size = list(ys.shape[-2:]), list(xt.shape[-2:])
    x1t, x2t = G(xt)
    x1t, x2t = cp.up(x1t, tgt_size), cp.up(x2t, tgt_size)
    d_t = cp.up(D(prob_2_entropy(F.softmax(x1t + x2t, dim=1), log2)), tgt_size)
    loss_adv = cp.bce_map(d_t, 0).mean()
    (cfg['lambda_adv'] * loss_adv).backward()
    # D on the detached source (0) and target (1) maps, each term / 2
    cp.set_requires_grad(D, True)
    d_s = cp.up(D(prob_2_entropy(F.softmax((x1s + x2s).detach(), dim=1), log2)), src_size)
    loss_d_s = cp.bce_map(d_s, 0).mean() / 2
    loss_d_s.backward()
    d_t2 = cp.up(D(prob_2_entropy(F.softmax((x1t + x2t).detach(), dim=1), log2)), tgt_size)
    loss_d_t = cp.bce_map(d_t2, 1).mean() / 2
    loss_d_t.backward()
    opt_g.step()
    opt_d.step()
    return dict(i=i, seg=loss_seg.item(), adv=loss_adv.item(), d_s=loss_d_s.item(), d_t=loss_d_t.item(),
                lr_G=lr_g, lr_D=lr_d, damping=1.0, weighted=False)


# ---------------------------------------------------------------------------------------------------------
def snapshot(G, D, opt_g, opt_d, init, with_state):
    """Δw of G's trainable and all of D's parameters, G's BN running statistics; the optimiser state if asked."""
    out = {}
    for n, p in G.named_parameters():
        if p.requires_grad:
            out[f'delta.G.{n}'] = p.detach() - init[f'G.{n}']
            if with_state:
                out[f'sgd.{n}'] = opt_g.state[p]['momentum_buffer'].clone()
    for n, t in G.state_dict().items():
        if n.endswith(('running_mean', 'running_var')):
            out[f'bn.G.{n}'] = t.clone()
    for n, p in (D.named_parameters() if D is not None else []):
        out[f'delta.D.{n}'] = p.detach() - init[f'D.{n}']
        if with_state:
            out[f'adam.exp_avg.{n}'] = opt_d.state[p]['exp_avg'].clone()
            out[f'adam.exp_avg_sq.{n}'] = opt_d.state[p]['exp_avg_sq'].clone()
    return out


def run(method, cfg, init, inputs, log2=False):
    """Three iterations of `method` ('minent' | 'advent') from `init` on `inputs`; (logs, snapshots)."""
    G, D = cp.build_models(cfg)
    G.load_state_dict({n[2:]: t for n, t in init.items() if n.startswith('G.')})
    D.load_state_dict({n[2:]: t for n, t in init.items() if n.startswith('D.')})
    opt_g, opt_d = cp.build_optimizers(G, D, cfg)
    if method == 'minent':
        D, opt_d = None, None
    logs, snaps = [], []
    for k in range(1, cfg['steps'] + 1):
        xs, ys, xt = (inputs[f'{n}_step{k}'] for n in ('source_image', 'source_label', 'target_image'))
        if method == 'minent':
            log = minent_step(G, opt_g, k - 1, xs, ys, xt, cfg, log2)
        else:
            log = advent_step(G, D, opt_g, opt_d, k - 1, xs, ys, xt, cfg, log2)
        snaps.append(snapshot(G, D, opt_g, opt_d, init, with_state=k == cfg['steps']))
        logs.append(log)
    return logs, snaps


def worst_rel(a, b, prefix=('delta.',)):
    """The worst ‖a − b‖/‖b‖ over the tensors whose names start with `prefix`, with its name."""
    return max([(a[n] - b[n]).norm().item() / max(b[n].norm().item(), 1e-30), n] for n in b if n.startswith(prefix))


NOTES = [
    'Iteration i is 0-based; file stepK holds the state after i = K-1. No warm-up: every step moves the weights.',
    'Init and inputs: test/fixtures/clan/{init,inputs}.safetensors (the CLAN parity fixtures).',
    'MinEnt: seg = FL(x1s) + FL(x2s); ent = entropy_loss(softmax(x1t + x2t)) before λ_ent (back-propagated ×λ_ent).',
    'AdvEnt: adv = BCE(up(D(I_t)), 0) before λ_adv; d_s, d_t = the D terms after the division by 2; I = prob_2_entropy.',
    'Entropies with ln: −p·ln(p + 1e-30)/ln C equals ADVENT\'s −p·log2(p + 1e-30)/log2 C up to float32 rounding; '
    'log2_vs_ln is the worst relative difference of losses and deltas between the two forms over the three steps.',
    'term_share: the worst relative change of G\'s deltas at step 3 when λ_ent (MinEnt) or λ_adv (AdvEnt) is 0 — '
    'how much of the compared deltas the method\'s own term is.',
    'Step 3 also holds SGD momentum (sgd.*) and, for AdvEnt, Adam moments (adam.*).',
]


def main(argv):
    # --kernels NAME: write only AdvEnt's fixtures, to advent/advent-NAME: the same iterations recorded with another
    # CPU kernel set (e.g. avx2 on a CPU without AVX-512), where rounding differences grow through Adam's steps
    kernels = argv[argv.index('--kernels') + 1] if '--kernels' in argv else None
    # --out DIR: write both methods' records to DIR/{minent,advent} instead (another PyTorch version's records,
    # e.g. test/fixtures/torch-2.14; the tests pick the folder of the libtorch they run on)
    out_root = argv[argv.index('--out') + 1] if '--out' in argv else OUT
    torch.set_num_threads(1)
    init = cp.read_safetensors(os.path.join(CLAN_FIXTURES, 'init.safetensors'))
    inputs = cp.read_safetensors(os.path.join(CLAN_FIXTURES, 'inputs.safetensors'))
    meta = {'generator': 'tools/reference/advent_parity.py', 'torch': torch.__version__}
    methods = (('minent', 'lambda_ent'), ('advent', 'lambda_adv'))
    if kernels is not None:
        methods = methods[1:]  # MinEnt (no Adam) matches one record on every kernel set
    for method, lam in methods:
        cfg = PARITY
        logs, snaps = run(method, cfg, init, inputs)
        logs2, snaps2 = run(method, cfg, init, inputs)  # self-check: deterministic
        assert logs == logs2 and all(torch.equal(a[n], b[n]) for a, b in zip(snaps, snaps2) for n in a)
        logs_l2, snaps_l2 = run(method, cfg, init, inputs, log2=True)
        keys = [k for k in logs[0] if k in ('seg', 'ent', 'adv', 'd_s', 'd_t')]
        log2_vs_ln = max(max(abs(a[k] - b[k]) / abs(a[k]) for k in keys) for a, b in zip(logs, logs_l2))
        log2_vs_ln = max(log2_vs_ln, max(worst_rel(b, a)[0] for a, b in zip(snaps, snaps_l2) if a))
        _, snaps_off = run(method, dict(cfg, **{lam: 0.0}), init, inputs)
        share = worst_rel(snaps_off[-1], snaps[-1], ('delta.G.',))
        out = os.path.join(out_root, method if kernels is None else f'{method}-{kernels}')
        os.makedirs(out, exist_ok=True)
        for k, snap in enumerate(snaps, 1):
            cp.write_safetensors(os.path.join(out, f'step{k}.safetensors'), snap, {**meta, 'step': k, 'i': k - 1})
        for k, snap in enumerate(snaps, 1):  # the writer round-trips
            back = cp.read_safetensors(os.path.join(out, f'step{k}.safetensors'))
            assert back.keys() == snap.keys() and all(torch.equal(back[n], snap[n]) for n in snap)
        assert all(math.isfinite(log[k]) for log in logs for k in keys)
        cp.write_expected(os.path.join(out, 'expected.json'), dict(cfg, method=method), NOTES, logs,
                          log2_vs_ln=log2_vs_ln, term_share=share)
        for log in logs:
            print(method, json.dumps(log))
        print(method, 'log2_vs_ln', f'{log2_vs_ln:.2e}', 'term_share', share, file=sys.stderr)


if __name__ == '__main__':
    main(sys.argv[1:])
