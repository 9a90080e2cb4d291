"""Reference outputs for the engine tests (src/torch/*.test.ts), made with PyTorch.

Run: ${CLAN_PYTHON:-/usr/bin/python3} tools/reference/engine_reference.py
Writes test/fixtures/engine/ops.json and optim.json. Inputs are stored with the outputs, so the TypeScript
tests feed exactly the same numbers and CI needs no Python. Shapes are deliberately asymmetric
(H != W, stride (2,1), padding (1,2), dilation (2,3)) so swapped arguments cannot pass.
"""
import json, os, sys
import torch
import torch.nn.functional as F

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'engine')
os.makedirs(OUT, exist_ok=True)

def enc(t):
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', ''), 'data': t.flatten().tolist()}

def r(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)

cases = {}

def case(name, inputs, fn, grad_of=()):
    """fn(**inputs) -> output tensor; grads of sum(out * w) for a fixed random w, w.r.t. inputs in grad_of."""
    ins = {k: v.clone().requires_grad_(k in grad_of) for k, v in inputs.items()}
    out = fn(**ins)
    entry = {'inputs': {k: enc(v) for k, v in inputs.items()}, 'output': enc(out)}
    if grad_of:
        w = torch.randn_like(out)
        (out * w).sum().backward()
        entry['upstream'] = enc(w)
        entry['grads'] = {k: enc(ins[k].grad) for k in grad_of}
    cases[name] = entry

x = r(2, 3, 7, 9)
case('conv2d_stride21_pad12_dil23', {'x': x, 'w': r(4, 3, 3, 2), 'b': r(4)},
     lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 3)), ('x', 'w', 'b'))
case('conv2d_groups2_nobias', {'x': r(1, 4, 6, 5), 'w': r(6, 2, 3, 3)},
     lambda x, w: F.conv2d(x, w, None, stride=1, padding=1, groups=2), ('x', 'w'))
case('max_pool2d_ceil', {'x': r(1, 2, 7, 10)},
     lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), ('x',))
case('max_pool2d_k32_s21', {'x': r(1, 2, 6, 5)},
     lambda x: F.max_pool2d(x, (3, 2), stride=(2, 1)), ('x',))
src = r(1, 2, 5, 4)
case('bilinear_ac_true_up', {'x': src}, lambda x: F.interpolate(x, size=(11, 7), mode='bilinear', align_corners=True), ('x',))
case('bilinear_ac_false_up', {'x': src}, lambda x: F.interpolate(x, size=(11, 7), mode='bilinear', align_corners=False), ('x',))
big = r(1, 2, 9, 13)
case('bilinear_ac_true_down', {'x': big}, lambda x: F.interpolate(x, size=(4, 5), mode='bilinear', align_corners=True), ('x',))
case('bilinear_ac_false_down', {'x': big}, lambda x: F.interpolate(x, size=(4, 5), mode='bilinear', align_corners=False), ('x',))
case('nearest_up', {'x': src}, lambda x: F.interpolate(x, size=(11, 7), mode='nearest'), ('x',))

bx = r(3, 4, 5, 6) * 2 + 1
bw, bb = r(4), r(4)
rm, rv = torch.zeros(4), torch.ones(4)
case('batch_norm_train', {'x': bx, 'w': bw, 'b': bb},
     lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5), ('x', 'w', 'b'))
cases['batch_norm_train']['running_mean'] = enc(rm)
cases['batch_norm_train']['running_var'] = enc(rv)
erm, erv = r(4) * 0.1, torch.rand(4) + 0.5
case('batch_norm_eval', {'x': bx, 'w': bw, 'b': bb, 'rm': erm, 'rv': erv},
     lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5), ('x',))

logits = r(2, 5, 3, 4)
target = torch.randint(0, 5, (2, 3, 4))
target[0, 0, :] = 255
target[1, 2, 1] = 255
case('softmax_dim1', {'x': logits}, lambda x: F.softmax(x, 1), ('x',))
case('log_softmax_dim1', {'x': logits}, lambda x: F.log_softmax(x, 1), ('x',))
case('cross_entropy_ignore255_mean', {'x': logits, 't': target}, lambda x, t: F.cross_entropy(x, t, ignore_index=255), ('x',))
case('cross_entropy_ignore255_sum', {'x': logits, 't': target}, lambda x, t: F.cross_entropy(x, t, ignore_index=255, reduction='sum'), ('x',))
case('cross_entropy_ignore255_none', {'x': logits, 't': target}, lambda x, t: F.cross_entropy(x, t, ignore_index=255, reduction='none'), ('x',))
case('nll_loss_ignore255', {'x': F.log_softmax(logits, 1), 't': target}, lambda x, t: F.nll_loss(x, t, ignore_index=255), ('x',))
dl = r(2, 1, 3, 4) * 3
tt = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 3, 4).contiguous()
wm = torch.rand(2, 1, 3, 4) * 5
case('bce_logits_weighted', {'x': dl, 't': tt, 'w': wm},
     lambda x, t, w: F.binary_cross_entropy_with_logits(x, t, weight=w), ('x',))
case('bce_logits_none', {'x': dl, 't': tt},
     lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction='none'), ('x',))
case('cosine_similarity_dim1', {'a': r(2, 5, 3, 4), 'b': r(2, 5, 3, 4)}, lambda a, b: F.cosine_similarity(a, b, dim=1), ('a', 'b'))
case('leaky_relu_02', {'x': r(3, 7)}, lambda x: F.leaky_relu(x, 0.2), ('x',))
case('one_hot', {'x': torch.tensor([[0, 3], [2, 1]])}, lambda x: F.one_hot(x, 4))
g = r(3, 5)
case('gather_dim1', {'x': g, 'i': torch.tensor([[0, 4], [1, 1], [3, 2]])}, lambda x, i: torch.gather(x, 1, i), ('x',))
case('index_select_dim1', {'x': g, 'i': torch.tensor([4, 0, 2])}, lambda x, i: torch.index_select(x, 1, i), ('x',))
case('matmul', {'a': r(3, 4), 'b': r(4, 2)}, lambda a, b: a @ b, ('a', 'b'))
case('reductions_mixed', {'x': r(2, 3, 4)},
     lambda x: torch.cat([x.sum(dim=(0, 2)), x.mean(dim=1, keepdim=True).flatten(), x.amax(dim=2).flatten()]), ('x',))
case('pow_sqrt_exp_log', {'x': torch.rand(2, 3) + 0.5},
     lambda x: torch.cat([x.pow(3), x.sqrt(), x.exp(), x.log(), x.clamp(0.7, 1.2)], 1), ('x',))
case('where_maximum', {'a': r(3, 4), 'b': r(3, 4)}, lambda a, b: torch.where(a > b, a * 2, torch.maximum(a, b)), ('a', 'b'))
case('permute_slice_cat', {'x': r(2, 3, 4)},
     lambda x: torch.cat([x.permute(2, 0, 1)[1:3], x.permute(2, 0, 1)[0:2].flip(0)], 1), ('x',))
with open(os.path.join(OUT, 'ops.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)

# ---------------------------------------------------------------------------------------------- optimizers
class Legacy10SGD:
    def __init__(self, groups, momentum, weight_decay):
        self.param_groups = groups
        self.momentum, self.wd = momentum, weight_decay
        self.state = {}
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g['params']:
                d_p = p.grad
                d_p.add_(p, alpha=self.wd)
                if p not in self.state:
                    buf = d_p.clone()
                    self.state[p] = {'momentum_buffer': buf}
                else:
                    buf = self.state[p]['momentum_buffer']
                    buf.mul_(self.momentum).add_(d_p)
                p.add_(buf, alpha=-g['lr'])

def run_optim(kind):
    torch.manual_seed(1)
    w1 = torch.randn(3, 4, requires_grad=True)
    w2 = torch.randn(5, requires_grad=True)
    w3 = torch.randn(2, 2, requires_grad=True)
    init = {'w1': enc(w1), 'w2': enc(w2), 'w3': enc(w3)}
    if kind == 'sgd':
        opt = torch.optim.SGD([{'params': [w1, w3], 'lr': 0.1}, {'params': [w2], 'lr': 1.0}], lr=0.1, momentum=0.9, weight_decay=5e-4)
    elif kind == 'sgd_duplicates':
        # The official CLAN optimizer lists backbone parameters several times (docs/method.md §3) and ran on
        # PyTorch 1.0, whose SGD loops over the list entry by entry, adds weight decay INTO p.grad in place and
        # creates the momentum buffer on first sight. torch 1.13 batches the buffers per step, so it differs on
        # duplicates: emulate the 1.0 loop here (the TS SGD's `legacy` option).
        opt = Legacy10SGD([{'params': [w1, w1, w1, w3], 'lr': 0.1}, {'params': [w2], 'lr': 1.0}], momentum=0.9, weight_decay=5e-4)
    else:
        opt = torch.optim.Adam([{'params': [w1, w3], 'lr': 0.01}, {'params': [w2], 'lr': 0.1}], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=5e-4)
    steps = []
    for s in range(6):
        if s == 3:
            for i, g in enumerate(opt.param_groups):
                g['lr'] = g['lr'] * 0.5 * (i + 1)
        grads = {'w1': torch.randn(3, 4), 'w2': torch.randn(5), 'w3': torch.randn(2, 2)}
        for n, p in (('w1', w1), ('w2', w2), ('w3', w3)):
            p.grad = grads[n].clone()
        opt.step()
        steps.append({'lrs': [g['lr'] for g in opt.param_groups], 'grads': {k: enc(v) for k, v in grads.items()},
                      'after': {'w1': enc(w1), 'w2': enc(w2), 'w3': enc(w3)}})
    state = {}
    for n, p in (('w1', w1), ('w2', w2), ('w3', w3)):
        st = opt.state[p]
        state[n] = {k: (enc(v) if torch.is_tensor(v) and v.numel() > 1 else float(v)) for k, v in st.items()}
    return {'init': init, 'steps': steps, 'state': state}

with open(os.path.join(OUT, 'optim.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'sgd': run_optim('sgd'), 'sgd_duplicates': run_optim('sgd_duplicates'), 'adam': run_optim('adam')}, f)
print('wrote', OUT, file=sys.stderr)
