#!/usr/bin/env python3
"""Write libtinynn's PyTorch parity goldens to tests/data/parity/.

Run by developers, never by CI (CI only reads the committed files):

    /usr/bin/python3 tests/parity/gen_goldens.py

Needs Debian's python3-torch (torch 1.13, CPU). The output is deterministic: fixed
seeds, one intra-op thread (torch's BatchNorm and sum kernels split their reductions
per thread, so the thread count changes the last bits), the AVX2 kernels, and files
written without timestamps. The format and every file's contents are described in
docs/parity.md; the C reader is tests/parity/golden.c.
"""
import os
import sys

# Fix the kernel flavour and thread count before torch initialises.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import struct  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

torch.set_num_threads(1)

OUT = Path(__file__).resolve().parent.parent / "data" / "parity"
MAGIC = b"TNNGOLD1"
DTYPES = {torch.float32: 0, torch.int64: 1, torch.float16: 2}  # float16: read as float32


class Golden:
    """An ordered list of named tensors, written as one .golden file."""

    def __init__(self):
        self.items = {}

    def add(self, name, t):
        if name in self.items:
            raise KeyError(f"duplicate golden name {name}")
        t = torch.as_tensor(t).detach().cpu().contiguous()
        if t.dtype not in DTYPES:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        self.items[name] = t.clone()

    def write(self, filename):
        out = bytearray(MAGIC)
        out += struct.pack("<I", len(self.items))
        for name, t in self.items.items():
            nb = name.encode("utf-8")
            out += struct.pack("<I", len(nb)) + nb
            out += struct.pack("<II", DTYPES[t.dtype], t.dim())
            out += struct.pack(f"<{t.dim()}I", *t.shape)
            # numpy's "<f4" / "<i8" views make the byte order explicit.
            arr = t.numpy()
            out += arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        path = OUT / filename
        path.write_bytes(bytes(out))
        print(f"{path.relative_to(OUT.parent.parent.parent)}: {len(self.items)} tensors, {len(out)} bytes")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(g, *shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=g) * scale + shift


def uniform(g, lo, hi, *shape):
    return torch.rand(*shape, generator=g) * (hi - lo) + lo


# ---------------------------------------------------------------- Linear

def linear_goldens():
    gd = Golden()
    # (name, batch, in, out, bias). "inner" has one output feature, where torch's
    # bias-gradient sum runs over a contiguous column (a different summation order).
    cases = [("gan", 64, 100, 128, True), ("longk", 8, 1024, 24, True),
             ("inner", 64, 256, 1, True), ("odd", 5, 33, 17, True), ("nobias", 16, 37, 20, False)]
    for i, (name, n, fin, fout, bias) in enumerate(cases):
        g = gen(100 + i)
        torch.manual_seed(100 + i)
        lin = nn.Linear(fin, fout, bias=bias)
        x = randn(g, n, fin).requires_grad_(True)
        dy = randn(g, n, fout)
        p = f"{name}."
        gd.add(p + "weight", lin.weight)
        if bias:
            gd.add(p + "bias", lin.bias)
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        y = lin(x)
        y.backward(dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", x.grad)
        gd.add(p + "dweight", lin.weight.grad)
        if bias:
            gd.add(p + "dbias", lin.bias.grad)
        # A second batch without zero_grad: parameter gradients accumulate.
        x2 = randn(g, n, fin)
        dy2 = randn(g, n, fout)
        lin(x2).backward(dy2)
        gd.add(p + "x2", x2)
        gd.add(p + "dy2", dy2)
        gd.add(p + "dweight_acc", lin.weight.grad)
        if bias:
            gd.add(p + "dbias_acc", lin.bias.grad)
    gd.write("linear.golden")


# ---------------------------------------------------------------- BatchNorm1d

BN_STEPS = 3


def batchnorm_goldens():
    gd = Golden()
    # (name, eps, batch, features). Feature counts that are not multiples of 8 also
    # exercise torch's vector-tail code.
    cases = [("eps0.8_b128", 0.8, 128, 64), ("eps0.8_b2", 0.8, 2, 37),
             ("eps1e-5_b128", 1e-5, 128, 37), ("eps1e-5_b2", 1e-5, 2, 256)]
    for i, (name, eps, n, c) in enumerate(cases):
        g = gen(200 + i)
        bn = nn.BatchNorm1d(c, eps=eps)
        with torch.no_grad():
            bn.weight.copy_(uniform(g, 0.5, 1.5, c))
            bn.bias.copy_(randn(g, c, scale=0.5))
        p = f"{name}."
        gd.add(p + "weight", bn.weight)
        gd.add(p + "bias", bn.bias)
        bn.train()
        for s in range(1, BN_STEPS + 1):
            # Features with a large mean and a small spread test the variance's
            # cancellation; the others are standard normal.
            x = randn(g, n, c) * uniform(g, 0.1, 3.0, c) + randn(g, c, scale=4.0)
            x.requires_grad_(True)
            dy = randn(g, n, c)
            bn.zero_grad()
            y = bn(x)
            y.backward(dy)
            q = f"{p}train{s}."
            gd.add(q + "x", x)
            gd.add(q + "dy", dy)
            gd.add(q + "y", y)
            gd.add(q + "dx", x.grad)
            gd.add(q + "dweight", bn.weight.grad)
            gd.add(q + "dbias", bn.bias.grad)
            gd.add(q + "running_mean", bn.running_mean)
            gd.add(q + "running_var", bn.running_var)
            gd.add(q + "num_batches_tracked", bn.num_batches_tracked)
        bn.eval()
        x = randn(g, n, c, scale=2.0, shift=0.5).requires_grad_(True)
        dy = randn(g, n, c)
        bn.zero_grad()
        y = bn(x)
        y.backward(dy)
        q = f"{p}eval."
        gd.add(q + "x", x)
        gd.add(q + "dy", dy)
        gd.add(q + "y", y)
        gd.add(q + "dx", x.grad)
        gd.add(q + "dweight", bn.weight.grad)
        gd.add(q + "dbias", bn.bias.grad)
        gd.add(q + "running_mean", bn.running_mean)
        gd.add(q + "running_var", bn.running_var)
    gd.write("batchnorm1d.golden")


# ---------------------------------------------------------------- activations

def add_forward_backward(gd, prefix, m, x, dy):
    """Records m(x) as <prefix>.y and dL/dx for upstream gradient dy as <prefix>.dx."""
    xi = x.clone().requires_grad_(True)
    y = m(xi)
    y.backward(dy)
    gd.add(f"{prefix}.y", y)
    gd.add(f"{prefix}.dx", xi.grad)


def activation_goldens():
    gd = Golden()
    g = gen(300)
    # 50 x 37 = 1850 elements: torch's vectorised loop covers 1840 of them and its
    # scalar tail the last 10, so both code paths are compared.
    x = randn(g, 50, 37, scale=3.0)
    special = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 5.0, -5.0, 9.0, -9.0, 15.0, -15.0,
                            20.0, -20.0, 50.0, -50.0, 88.0, -88.0, 100.0, -100.0, 1e-30, -1e-30])
    x.view(-1)[:special.numel()] = special
    x.view(-1)[-special.numel():] = special.flip(0)
    dy = randn(g, 50, 37)
    mods = {"leaky_relu": nn.LeakyReLU(0.2), "relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}
    gd.add("x", x)
    gd.add("dy", dy)
    for name, m in mods.items():
        add_forward_backward(gd, name, m, x, dy)
    gd.write("activation.golden")


def elu_silu_gelu_goldens():
    """ELU (alpha 1, 1.7, -0.6), SiLU and GELU ('none', 'tanh') on a [50 x 37] input with
    torch's special values: 0, -0, tiny, the zeros of SiLU's and GELU's slopes, where
    float exp and erf saturate, +-inf, and NaN (in the vectorised body only: at NaN,
    ELU's backward gives NaN there and dy in torch's scalar tail)."""
    gd = Golden()
    g = gen(310)
    x = randn(g, 50, 37, scale=3.0)
    special = torch.tensor([0.0, -0.0, 1e-8, -1e-8, 1e-30, -1e-30, 0.5, -0.5, -0.7518, -1.2785, 3.0, -3.0,
                            5.0, -5.0, 9.0, -9.0, 15.0, -15.0, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0,
                            89.0, -89.0, 100.0, -100.0, float("inf"), -float("inf"), float("nan")])
    x.view(-1)[:special.numel()] = special
    tail = special[:-1].flip(0)  # torch's scalar tail, the last 10 elements, gets 0 ... -1.2785
    x.view(-1)[-tail.numel():] = tail
    dy = randn(g, 50, 37)
    gd.add("x", x)
    gd.add("dy", dy)
    # ELU with alpha >= 0 as ELU(inplace=True) computes its backward (from the result, as
    # tinynn always does for it), and as nn.ELU() does (from the input) for comparison
    for name, alpha in (("elu", 1.0), ("elu_1.7", 1.7)):
        h = x.clone().requires_grad_(True)
        y = nn.ELU(alpha, inplace=True)(h * 1.0)
        y.backward(dy)
        gd.add(f"{name}.y", y)
        gd.add(f"{name}.dx", h.grad)
        add_forward_backward(gd, f"{name}_from_x", nn.ELU(alpha), x, dy)
    add_forward_backward(gd, "elu_-0.6", nn.ELU(-0.6), x, dy)
    add_forward_backward(gd, "silu", nn.SiLU(), x, dy)
    add_forward_backward(gd, "gelu", nn.GELU(), x, dy)
    add_forward_backward(gd, "gelu_tanh", nn.GELU(approximate="tanh"), x, dy)
    gd.write("elu_silu_gelu.golden")


# ---------------------------------------------------------------- softmax

def softmax_goldens():
    gd = Golden()
    g = gen(800)
    inf, nan = float("inf"), float("nan")
    cases = {}
    # A classifier's logits.
    cases["logits"] = randn(g, 64, 10, scale=3.0)
    # Large values: +-80 and +-1000 with random signs, rows all near -1000 or 1000 (a
    # spread of 0.01 at 1000, where x - max rounds), uniform over +-80 and +-1000, and
    # values whose exp overflows float unless the max is subtracted first.
    signs = torch.where(torch.rand(2, 12, generator=g) < 0.5, -1.0, 1.0)
    cases["large"] = torch.stack([
        80.0 * signs[0] + randn(g, 12, scale=0.5),
        1000.0 * signs[1] + randn(g, 12),
        randn(g, 12, scale=2.0, shift=-1000.0),
        randn(g, 12, scale=0.01, shift=1000.0),
        uniform(g, -80.0, 80.0, 12),
        uniform(g, -1000.0, 1000.0, 12),
        torch.tensor([100.0, 99.5, 98.0, -100.0, 90.0, 88.7, 88.0, 0.0, 95.0, 99.9, 100.0, 50.0]),
        torch.tensor([80.0, -80.0, 79.0, -79.0, 78.0, -78.0, 1000.0, -1000.0, 999.0, -999.0, 998.0, 0.0]),
    ])
    # Rows of equal values: 1/9 each, also at -1000 and near float's largest value.
    cases["equal"] = torch.tensor([[0.0] * 9, [5.0] * 9, [-1000.0] * 9, [3e38] * 9])
    # One column: y = 1 (log: 0), dx = 0.
    cases["col1"] = randn(g, 16, 1, scale=10.0)
    # Wide rows of growing spread; torch's vectorised sums over 1000 elements.
    cases["wide"] = randn(g, 4, 1000) * torch.tensor([[1.0], [2.0], [5.0], [20.0]])
    # A 1-D input, one row (37: not a multiple of the vector width).
    cases["vec"] = randn(g, 37, scale=2.0)
    # -inf among finite values (0, log: -inf), a row of -inf, +inf (first and in the
    # vector tail), NaN, -inf with +inf: all NaN but the first.
    cases["special"] = torch.tensor([[1.0, -inf, 2.0, -inf, 0.5, 3.0, -1.0, 0.0, 2.5, -inf],
                                     [-inf] * 10,
                                     [inf, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                                     [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, inf],
                                     [0.0, 1.0, nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                                     [-inf, inf, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    mods = {"softmax": nn.Softmax(dim=-1), "log_softmax": nn.LogSoftmax(dim=-1)}
    for name, x in cases.items():
        dy = randn(g, *x.shape)
        gd.add(f"{name}.x", x)
        gd.add(f"{name}.dy", dy)
        for mname, m in mods.items():
            add_forward_backward(gd, f"{name}.{mname}", m, x, dy)
    gd.write("softmax.golden")


# ---------------------------------------------------------------- losses

def loss_goldens():
    gd = Golden()
    g = gen(400)

    def add_case(prefix, fn, pred, target):
        pred = pred.clone().requires_grad_(True)
        loss = fn(pred, target)
        loss.backward()
        gd.add(prefix + "pred", pred)
        gd.add(prefix + "target", target)
        gd.add(prefix + "loss", loss)
        gd.add(prefix + "grad", pred.grad)

    bce = nn.BCELoss()
    # The GAN's case: [64 x 1] predictions in (0, 1), hard targets.
    p = uniform(g, 0.001, 0.999, 64, 1)
    t = (torch.rand(64, 1, generator=g) > 0.5).float()
    add_case("bce.gan.", bce, p, t)
    # Predictions of exactly 0 and 1 with both targets: the log clamp at -100 and the
    # backward's max((1 - p) p, 1e-12) decide these.
    p = torch.tensor([[0.0, 1.0, 0.0, 1.0], [1e-30, 1.0 - 2**-24, 1e-7, 0.5],
                      [0.25, 0.75, 1e-45, 0.999]])
    t = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0], [0.3, 0.6, 0.0, 0.5]])
    add_case("bce.edges.", bce, p, t)
    # Soft targets.
    add_case("bce.soft.", bce, uniform(g, 0.01, 0.99, 16, 10), torch.rand(16, 10, generator=g))

    bcel = nn.BCEWithLogitsLoss()
    x = randn(g, 8, 16, scale=3.0)
    big = torch.tensor([100.0, -100.0, 50.0, -50.0, 30.0, -30.0, 20.0, -20.0, 15.0, -15.0, 88.0, -88.0,
                        1e4, -1e4, 0.0, 1e-6])
    x[0] = big
    x[1] = -big
    t = (torch.rand(8, 16, generator=g) > 0.5).float()
    t[2] = torch.rand(16, generator=g)
    add_case("bce_with_logits.mixed.", bcel, x, t)
    add_case("bce_with_logits.gan.", bcel, randn(g, 64, 1, scale=2.0), torch.ones(64, 1))

    mse = nn.MSELoss()
    add_case("mse.a.", mse, randn(g, 16, 10), randn(g, 16, 10))
    add_case("mse.odd.", mse, randn(g, 7, 3, scale=10.0), randn(g, 7, 3))

    ce = nn.CrossEntropyLoss()
    for name, scale in (("normal", 1.0), ("large", 40.0)):
        logits = randn(g, 32, 10, scale=scale)
        target = torch.randint(0, 10, (32,), generator=g)
        add_case(f"cross_entropy.{name}.", ce, logits, target)

    # PyTorch's options of cross_entropy and nll_loss (tnn_cross_entropy_loss_with,
    # tnn_nll_loss_with): class weights, ignore_index, label_smoothing, reduction. Each
    # case's settings are repeated in test_parity_loss.c's table; `.weight` is stored
    # when there are class weights. `.loss` is the reduced loss, or with reduction
    # 'none' the per-sample losses; `.grad` is the gradient of their sum. A generator of
    # their own, so that the cases above keep their numbers.
    g = gen(401)
    F = torch.nn.functional

    def add_class_case(prefix, fn, pred, target, weight=None, **options):
        pred = pred.clone().requires_grad_(True)
        loss = fn(pred, target, weight=weight, **options)
        loss.sum().backward()
        gd.add(prefix + "pred", pred)
        gd.add(prefix + "target", target)
        if weight is not None:
            gd.add(prefix + "weight", weight)
        gd.add(prefix + "loss", loss)
        gd.add(prefix + "grad", pred.grad)

    def class_targets(n, k, ignored=0.0, ignore_index=-100):
        t = torch.randint(0, k, (n,), generator=g)
        t[torch.rand(n, generator=g) < ignored] = ignore_index
        return t

    def class_weights(k, lo=0.2, hi=3.0):
        return uniform(g, lo, hi, k)

    ce_cases = (  # name, logits scale, weights, share of targets ignored, options
        ("weight", 1.0, True, 0.0, {}),
        ("ignore", 1.0, False, 0.25, {}),
        ("ignore_class", 1.0, True, 0.0, {"ignore_index": 3}),
        ("negative_weight", 1.0, "negative", 0.0, {}),
        ("smooth", 1.0, False, 0.25, {"label_smoothing": 0.1}),
        ("smooth_weight", 1.0, True, 0.25, {"label_smoothing": 0.1}),
        ("smooth_large", 40.0, True, 0.0, {"label_smoothing": 0.25}),
        ("smooth_full", 1.0, True, 0.0, {"label_smoothing": 1.0}),
        ("sum", 1.0, True, 0.25, {"reduction": "sum"}),
        ("smooth_sum", 1.0, False, 0.0, {"label_smoothing": 0.1, "reduction": "sum"}),
        ("none", 1.0, True, 0.25, {"label_smoothing": 0.1, "reduction": "none"}),
    )
    for name, scale, weighted, ignored, options in ce_cases:
        logits = randn(g, 32, 10, scale=scale)
        target = class_targets(32, 10, ignored, options.get("ignore_index", -100))
        w = None if not weighted else class_weights(10, -0.5, 2.0) if weighted == "negative" else class_weights(10)
        add_class_case(f"cross_entropy.{name}.", F.cross_entropy, logits, target, w, **options)
    # Every target ignored: the mean is 0 / 0, NaN, and the gradient 0.
    add_class_case("cross_entropy.all_ignored.", F.cross_entropy, randn(g, 4, 5), torch.full((4,), -100),
                   class_weights(5), label_smoothing=0.1)

    nll_cases = (  # name, weights, share of targets ignored, options
        ("plain", False, 0.0, {}),
        ("weight", True, 0.0, {}),
        ("ignore", False, 0.25, {}),
        ("ignore_class", True, 0.0, {"ignore_index": 0}),
        ("sum", True, 0.25, {"reduction": "sum"}),
        ("none", True, 0.25, {"reduction": "none"}),
    )
    for name, weighted, ignored, options in nll_cases:
        log_probs = torch.log_softmax(randn(g, 32, 10, scale=2.0), 1)
        target = class_targets(32, 10, ignored, options.get("ignore_index", -100))
        add_class_case(f"nll.{name}.", F.nll_loss, log_probs, target, class_weights(10) if weighted else None,
                       **options)
    add_class_case("nll.all_ignored.", F.nll_loss, torch.log_softmax(randn(g, 4, 5), 1), torch.full((4,), -100))
    gd.write("loss.golden")


# ---------------------------------------------------------------- optimizers

OPT_STEPS = 10


def regression_loss_goldens():
    """L1Loss, SmoothL1Loss and HuberLoss: the loss and dL/dpred. torch's backward kernels
    for the last two round the last n mod 16 elements in another form (their scalar
    loop), so the sizes include tails of 0, 5, 7 and 13 elements, and values at the
    thresholds as floats (0.7f < 0.7, 1.3f < 1.3) in both parts."""
    gd = Golden()
    g = gen(410)

    def add_case(prefix, fn, pred, target):
        pred = pred.clone().requires_grad_(True)
        loss = fn(pred, target)
        loss.backward()
        gd.add(prefix + "pred", pred)
        gd.add(prefix + "target", target)
        gd.add(prefix + "loss", loss)
        gd.add(prefix + "grad", pred.grad)

    def at(thr, n):
        """n predictions against zero targets: the thresholds as floats, zeros of both
        signs, just inside and outside, then random values (in the block part and the
        tail alike)."""
        t = float(np.float32(thr))
        edge = [t, -t, 0.0, -0.0, np.nextafter(np.float32(t), np.float32(0)).item(),
                -np.nextafter(np.float32(t), np.float32(0)).item(),
                np.nextafter(np.float32(t), np.float32(9)).item(), 2 * t, -3 * t]
        x = randn(g, n, scale=2 * max(t, 0.5))
        x[:len(edge)] = torch.tensor(edge)
        x[n - len(edge):] = torch.tensor(edge)
        return x, torch.zeros(n)

    l1 = nn.L1Loss()
    add_case("l1.a.", l1, randn(g, 16, 10), randn(g, 16, 10))
    add_case("l1.odd.", l1, randn(g, 7, 3, scale=10.0), randn(g, 7, 3))
    x, t = at(1.0, 45)
    x[20] = float("nan")
    x[21] = float("inf")
    add_case("l1.special.", l1, x, t)

    for name, beta, n in (("default", 1.0, 1000), ("b07", 0.7, 43), ("b07_scalar", 0.7, 13),
                          ("b0", 0.0, 37), ("small", 0.05, 61), ("large", 1.0, 40007)):
        fn = nn.SmoothL1Loss(beta=beta)
        if name == "large":
            add_case(f"smooth_l1.{name}.", fn, randn(g, 40007, scale=1.5), randn(g, 40007))
        else:
            x, t = at(beta if beta > 0 else 1.0, n)
            add_case(f"smooth_l1.{name}.", fn, x, t)
        gd.add(f"smooth_l1.{name}.beta", torch.tensor([beta]))
    x, t = at(1.0, 45)
    x[20] = float("nan")
    x[21] = float("inf")
    x[40] = float("-inf")
    add_case("smooth_l1.special.", nn.SmoothL1Loss(), x, t)
    gd.add("smooth_l1.special.beta", torch.tensor([1.0]))

    for name, delta, n in (("default", 1.0, 1000), ("d13", 1.3, 43), ("d13_scalar", 1.3, 13),
                           ("small", 0.05, 61), ("large", 2.5, 1007)):
        fn = nn.HuberLoss(delta=delta)
        if name == "large":
            add_case(f"huber.{name}.", fn, randn(g, 1007, scale=4.0), randn(g, 1007))
        else:
            x, t = at(delta, n)
            add_case(f"huber.{name}.", fn, x, t)
        gd.add(f"huber.{name}.delta", torch.tensor([delta], dtype=torch.float64).float())
    x, t = at(1.0, 45)
    x[20] = float("nan")
    x[21] = float("inf")
    x[40] = float("-inf")
    add_case("huber.special.", nn.HuberLoss(), x, t)
    gd.add("huber.special.delta", torch.tensor([1.0]))
    gd.write("regression_loss.golden")


def optimizer_params(g):
    # The parameters of a Linear(5, 7): "weight" [7 x 5] and "bias" [7].
    return {"weight": randn(g, 7, 5, scale=0.5), "bias": randn(g, 7, scale=0.1)}


def optimizer_grads(g, step):
    grads = {"weight": randn(g, 7, 5), "bias": randn(g, 7, scale=1e-3)}
    # Exact zeros, tiny gradients (around eps) and large ones.
    grads["weight"][0, :] = 0.0
    grads["weight"][1, :] = torch.tensor([1e-8, -1e-8, 1e-10, 3e-9, -2e-7])
    grads["weight"][2, :] = torch.tensor([1e3, -1e3, 10.0, -5e2, 1e2])
    if step % 3 == 0:
        grads["bias"][3] = 0.0
    return grads


def run_optimizer(gd, prefix, seed, make_opt, state_keys, skip=()):
    # At the steps in skip, every .grad is None (a frozen layer): torch leaves those
    # parameters and their state alone, and no gradient is stored for that step.
    g = gen(seed)
    params = {k: v.clone().requires_grad_(True) for k, v in optimizer_params(g).items()}
    for k, v in params.items():
        gd.add(f"{prefix}init.{k}", v)
    opt = make_opt(list(params.values()))
    for s in range(1, OPT_STEPS + 1):
        grads = optimizer_grads(g, s)
        for k, v in params.items():
            if s in skip:
                v.grad = None
                continue
            v.grad = grads[k].clone()
            gd.add(f"{prefix}step{s}.grad.{k}", grads[k])
        opt.step()
        for k, v in params.items():
            gd.add(f"{prefix}step{s}.{k}", v)
    for k, v in params.items():
        st = opt.state[v]
        for key in state_keys:
            val = st[key]
            if key == "step":
                val = torch.tensor(int(val.item()), dtype=torch.int64)
            gd.add(f"{prefix}state.{k}.{key}", val)


def adam_goldens():
    gd = Golden()
    run_optimizer(gd, "gan.", 500,
                  lambda ps: torch.optim.Adam(ps, lr=0.0002, betas=(0.5, 0.999)),
                  ("step", "exp_avg", "exp_avg_sq"))
    run_optimizer(gd, "weight_decay.", 501,
                  lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=0.1),
                  ("step", "exp_avg", "exp_avg_sq"))
    # Frozen for the first three steps and the seventh: each parameter's step count
    # (and so its bias corrections) counts only its own updates.
    run_optimizer(gd, "frozen.", 502,
                  lambda ps: torch.optim.Adam(ps, lr=0.0002, betas=(0.5, 0.999)),
                  ("step", "exp_avg", "exp_avg_sq"), skip=(1, 2, 3, 7))
    gd.write("adam.golden")


def sgd_goldens():
    gd = Golden()
    run_optimizer(gd, "plain.", 600, lambda ps: torch.optim.SGD(ps, lr=0.1), ())
    run_optimizer(gd, "momentum.", 601,
                  lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3),
                  ("momentum_buffer",))
    run_optimizer(gd, "nesterov.", 602,
                  lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
                  ("momentum_buffer",))
    # The momentum buffer starts at the first update (a copy of the gradient, without
    # dampening), not at the first step.
    run_optimizer(gd, "frozen.", 603,
                  lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.5),
                  ("momentum_buffer",), skip=(1, 2, 3, 7))
    gd.write("sgd.golden")



def adamw_params(g):
    # The parameters of Sequential(Linear(5, 7), Linear(7, 3)): two layers, so that one
    # can have no gradient (a frozen layer) while the other trains.
    return {"0.weight": randn(g, 7, 5, scale=0.5), "0.bias": randn(g, 7, scale=0.1),
            "1.weight": randn(g, 3, 7, scale=0.5), "1.bias": randn(g, 3, scale=0.1)}


def adamw_grads(g, step):
    grads = optimizer_grads(g, step)
    grads = {"0.weight": grads["weight"], "0.bias": grads["bias"],
             "1.weight": randn(g, 3, 7), "1.bias": randn(g, 3, scale=0.3)}
    grads["1.weight"][1, :] = 0.0
    grads["1.weight"][2, 3] = 2e3
    return grads


def step_two_layers(gd, prefix, seed, make_opt, frozen=None, lr_at=None, special=None):
    """adamw_params' two layers under the optimizer make_opt(params) for OPT_STEPS steps
    of adamw_grads, writing the initial values, each step's gradients and the values
    after each step. frozen: step -> layers ("0", "1") without gradients at that step
    (torch's .grad None: no decay, no update, no count). lr_at: step -> the learning rate
    set before that step (a schedule; test_parity_optim.c has the same tables). special:
    step -> [(param, index, value)] written into that step's gradients (a NaN, an
    infinity). Returns the optimizer and the parameters, for their state."""
    frozen = frozen or {}
    lr_at = lr_at or {}
    special = special or {}
    g = gen(seed)
    params = {k: v.clone().requires_grad_(True) for k, v in adamw_params(g).items()}
    for k, v in params.items():
        gd.add(f"{prefix}init.{k}", v)
    opt = make_opt(list(params.values()))
    for s in range(1, OPT_STEPS + 1):
        if s in lr_at:
            opt.param_groups[0]["lr"] = lr_at[s]
        grads = adamw_grads(g, s)
        for k, idx, value in special.get(s, ()):
            grads[k][idx] = value
        for k, v in params.items():
            if k.split(".")[0] in frozen.get(s, ()):
                v.grad = None
                continue
            v.grad = grads[k].clone()
            gd.add(f"{prefix}step{s}.grad.{k}", grads[k])
        opt.step()
        for k, v in params.items():
            gd.add(f"{prefix}step{s}.{k}", v)
    return opt, params


def run_adamw(gd, prefix, seed, kw, frozen=None, lr_at=None):
    # torch.optim.AdamW on adamw_params' two layers; frozen and lr_at as in
    # step_two_layers.
    opt, params = step_two_layers(gd, prefix, seed, lambda ps: torch.optim.AdamW(ps, **kw), frozen, lr_at)
    assert not opt.defaults["amsgrad"] and not opt.defaults["maximize"] and not opt.defaults["foreach"]
    for k, v in params.items():
        st = opt.state[v]
        gd.add(f"{prefix}state.{k}.step", torch.tensor(int(st["step"].item()), dtype=torch.int64))
        gd.add(f"{prefix}state.{k}.exp_avg", st["exp_avg"])
        gd.add(f"{prefix}state.{k}.exp_avg_sq", st["exp_avg_sq"])


def adamw_goldens():
    # torch.optim.AdamW (single-tensor: foreach off; amsgrad, maximize off). Its
    # param.mul_(1 - lr * weight_decay) rounds the Python float to float32 first, then
    # multiplies in float32 (checked on 10^6 values against the product in double).
    gd = Golden()
    run_adamw(gd, "defaults.", 510, {})
    # Layer 1 has no gradient at steps 2, 3 and 6, neither layer at step 8; lr 0.01,
    # then 0.0025 from step 5 and 0.04 from step 9.
    run_adamw(gd, "schedule.", 511, dict(lr=0.01, betas=(0.5, 0.999), weight_decay=0.3),
              frozen={2: ("1",), 3: ("1",), 6: ("1",), 8: ("0", "1")}, lr_at={5: 0.0025, 9: 0.04})
    # A large decay (1 - 0.1 * 0.9 = 0.91 per step); layer 0 starts at step 4.
    run_adamw(gd, "strong.", 512, dict(lr=0.1, weight_decay=0.9),
              frozen={1: ("0",), 2: ("0",), 3: ("0",)}, lr_at={7: 0.03})
    # weight_decay 0: torch still multiplies, by 1.
    run_adamw(gd, "nodecay.", 513, dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0))
    gd.write("adamw.golden")


def run_amsgrad(gd, prefix, seed, opt_cls, kw, frozen=None, lr_at=None, special=None):
    # torch.optim.Adam or AdamW with amsgrad=True (single-tensor) on adamw.golden's
    # Sequential(Linear(5, 7), Linear(7, 3)) and its gradients; frozen, lr_at and
    # special as in step_two_layers.
    opt, params = step_two_layers(gd, prefix, seed, lambda ps: opt_cls(ps, amsgrad=True, **kw), frozen, lr_at, special)
    assert opt.defaults["amsgrad"] and not opt.defaults["maximize"] and not opt.defaults["foreach"]
    below = 0  # elements whose second moment fell below its maximum: where amsgrad counts
    for k, v in params.items():
        st = opt.state[v]
        gd.add(f"{prefix}state.{k}.step", torch.tensor(int(st["step"].item()), dtype=torch.int64))
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            gd.add(f"{prefix}state.{k}.{key}", st[key])
        below += int((st["max_exp_avg_sq"] > st["exp_avg_sq"]).sum())
    assert below > 0, f"{prefix}: amsgrad never mattered"


def amsgrad_goldens():
    # Adam and AdamW with amsgrad (torch.optim's max_exp_avg_sq). Second-moment decays
    # of 0.9 to 0.99 let exp_avg_sq fall below its maximum within ten steps.
    gd = Golden()
    Adam, AdamW = torch.optim.Adam, torch.optim.AdamW
    run_amsgrad(gd, "adam.", 520, Adam, dict(lr=0.01, betas=(0.9, 0.9)))
    # L2 decay; layer 1 without gradients at steps 2, 3 and 6, both layers at step 8;
    # lr 0.0025 from step 5 and 0.02 from step 9.
    run_amsgrad(gd, "adam_decay.", 521, Adam, dict(lr=0.005, betas=(0.5, 0.95), weight_decay=0.1),
                frozen={2: ("1",), 3: ("1",), 6: ("1",), 8: ("0", "1")}, lr_at={5: 0.0025, 9: 0.02})
    # The GAN's lr and beta1; layer 0 starts at step 4 (its own count, its own maxima).
    run_amsgrad(gd, "adam_late.", 522, Adam, dict(lr=2e-4, betas=(0.5, 0.99)),
                frozen={1: ("0",), 2: ("0",), 3: ("0",)})
    # A NaN gradient at step 4 and an infinite one at step 6: torch.maximum propagates
    # the NaN into max_exp_avg_sq for good.
    run_amsgrad(gd, "adam_nan.", 523, Adam, dict(lr=0.01, betas=(0.8, 0.9)),
                special={4: [("0.weight", (3, 1), float("nan"))], 6: [("1.bias", (2,), float("inf"))]})
    run_amsgrad(gd, "adamw.", 524, AdamW, dict(lr=1e-3, betas=(0.9, 0.95)))
    run_amsgrad(gd, "adamw_schedule.", 525, AdamW, dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.3),
                frozen={2: ("1",), 3: ("1",), 6: ("1",), 8: ("0", "1")}, lr_at={5: 0.0025, 9: 0.04})
    gd.write("amsgrad.golden")

def run_rmsprop(gd, prefix, seed, kw, frozen=None, lr_at=None, special=None):
    # torch.optim.RMSprop (single-tensor: foreach off; maximize off) on adamw.golden's
    # Sequential(Linear(5, 7), Linear(7, 3)) and its gradients; frozen, lr_at and special
    # as in step_two_layers. The state after the tenth step: each parameter's step (an int
    # in torch's state), square_avg, and momentum_buffer / grad_avg where torch keeps them.
    opt, params = step_two_layers(gd, prefix, seed, lambda ps: torch.optim.RMSprop(ps, **kw), frozen, lr_at, special)
    assert not opt.defaults["maximize"] and not opt.defaults["foreach"]
    keys = ["square_avg"]
    if opt.defaults["momentum"] > 0:
        keys.append("momentum_buffer")
    if opt.defaults["centered"]:
        keys.append("grad_avg")
    for k, v in params.items():
        st = opt.state[v]
        assert sorted(st) == sorted(["step"] + keys), f"{prefix}{k}: state keys {sorted(st)}"
        gd.add(f"{prefix}state.{k}.step", torch.tensor(int(st["step"]), dtype=torch.int64))
        for key in keys:
            gd.add(f"{prefix}state.{k}.{key}", st[key])


def rmsprop_goldens():
    # torch.optim.RMSprop; test_parity_optim.c's test_rmsprop has the same table.
    gd = Golden()
    run_rmsprop(gd, "defaults.", 530, {})
    run_rmsprop(gd, "weight_decay.", 531, dict(lr=3e-3, weight_decay=0.1))
    run_rmsprop(gd, "momentum.", 532, dict(lr=1e-3, momentum=0.9))
    run_rmsprop(gd, "centered.", 533, dict(lr=1e-3, alpha=0.9, centered=True))
    run_rmsprop(gd, "all.", 534, dict(lr=2e-3, alpha=0.95, eps=1e-6, weight_decay=0.05, momentum=0.5,
                                      centered=True))
    # Layer 0 without gradients at steps 1 to 3 (its first update at step 4), layer 1 at
    # steps 6 and 7; momentum, so that a skipped buffer is seen to stay.
    run_rmsprop(gd, "late.", 535, dict(lr=1e-3, momentum=0.9),
                frozen={1: ("0",), 2: ("0",), 3: ("0",), 6: ("1",), 7: ("1",)})
    # A NaN gradient at step 4 and an infinite one at step 6 (inf / inf: NaN).
    run_rmsprop(gd, "nan.", 536, dict(lr=1e-3, momentum=0.5, centered=True),
                special={4: [("0.weight", (3, 1), float("nan"))], 6: [("1.bias", (2,), float("inf"))]})
    # lr 0.01, then 0.0025 from step 5 and 0.04 from step 9.
    run_rmsprop(gd, "schedule.", 537, dict(lr=0.01, momentum=0.3), lr_at={5: 0.0025, 9: 0.04})
    # PyTorch-GAN's wgan.py: RMSprop(lr=0.00005), everything else torch's defaults.
    run_rmsprop(gd, "wgan.", 538, dict(lr=0.00005))
    # alpha 0, centered: square_avg is g*g rounded and grad_avg is g, so that
    # square_avg - grad_avg^2 is the rounding error of g*g alone (fused, as torch's
    # addcmul is): a tiny value, or below 0 and a NaN root.
    run_rmsprop(gd, "alpha0.", 539, dict(lr=1e-4, alpha=0.0, centered=True))
    gd.write("rmsprop.golden")

# ---------------------------------------------------------------- gradient clipping


def clip_grads(g):
    # Gradients of an MLP-like Sequential(Linear(64, 128), ReLU, Linear(128, 32), ReLU,
    # Linear(32, 1)): spread over scales (1e-3 .. 1), with exact zeros, a column of tiny
    # values and a few large ones, so that each norm order has a clear largest term.
    grads = {"0.weight": randn(g, 128, 64, scale=0.05), "0.bias": randn(g, 128, scale=0.01),
             "2.weight": randn(g, 32, 128, scale=0.1), "2.bias": randn(g, 32, scale=1e-3),
             "4.weight": randn(g, 1, 32), "4.bias": randn(g, 1)}
    grads["0.weight"][5, :] = 0.0
    grads["0.weight"][:, 7] = randn(g, 128, scale=1e-8)
    grads["2.weight"][3, 4] = 2.5
    grads["2.weight"][9, 1] = -3.75
    return grads


def clip_goldens():
    gd = Golden()
    g = gen(650)
    grads = clip_grads(g)
    for k, v in grads.items():
        gd.add(f"grads.{k}", v)

    def model():
        torch.manual_seed(650)
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 1))

    def run(name, clip, none=(), edit=None):
        # Every case starts from the gradients "grads.<param>". none: parameters whose
        # .grad is None (skipped by torch); edit(grads) changes a copy of the gradients
        # first (the non-finite cases; test_parity_clip.c makes the same change). Stores
        # the returned total norm and every gradient after the call.
        m = model()
        gs = {k: v.clone() for k, v in grads.items()}
        if edit:
            edit(gs)
        for k, p in m.named_parameters():
            p.grad = None if k in none else gs[k].clone()
        total = clip(m.parameters())
        if total is not None:
            gd.add(f"{name}.total_norm", total.reshape(()))
        for k, p in m.named_parameters():
            if k not in none:
                gd.add(f"{name}.grad.{k}", p.grad)

    norm = torch.nn.utils.clip_grad_norm_
    # The totals are about 10.8 (2-norm), 684 (1-norm), 3.75 (inf-norm: the -3.75 in
    # "2.weight") and 5.05 (3-norm), so max_norm 2.5, 1.0, 0.7 and 0.5 clip and 100.0
    # (1000.0) does not. 0.7 with the inf-norm (and 2.5 with the 2-norm) are values for
    # which torch's float coefficient, (total + 1e-6).reciprocal() * max_norm, differs
    # in the last bit from a plain float division max_norm / (total + 1e-6).
    run("l2_clip", lambda ps: norm(ps, 2.5, 2.0))
    run("l2_noclip", lambda ps: norm(ps, 100.0, 2.0))
    run("l1_clip", lambda ps: norm(ps, 1.0, 1.0))
    run("l1_noclip", lambda ps: norm(ps, 1000.0, 1.0))
    run("inf_clip", lambda ps: norm(ps, 0.7, float("inf")))
    run("inf_noclip", lambda ps: norm(ps, 100.0, float("inf")))
    run("p3_clip", lambda ps: norm(ps, 0.5, 3.0))
    run("zero_max", lambda ps: norm(ps, 0.0, 2.0))
    # The middle Linear has no gradient (.grad None: a frozen layer after zero_grad(set_to_none)).
    run("none_clip", lambda ps: norm(ps, 1.0, 2.0), none=("2.weight", "2.bias"))

    # Non-finite gradients without error_if_nonfinite (torch's default): deterministic.
    # A NaN makes the norm NaN and every gradient NaN; an infinity makes the norm inf and
    # the coefficient 0 (finite gradients become 0, the infinite one NaN). The changes:
    # "2.weight" flat element 17 = NaN; "0.bias" element 3 = -inf; "4.weight" element 0 = NaN.
    def put(k, idx, val):
        def edit(gs):
            gs[k].view(-1)[idx] = val
        return edit
    run("nan_l2", lambda ps: norm(ps, 1.0, 2.0), edit=put("2.weight", 17, float("nan")))
    run("inf_l2", lambda ps: norm(ps, 1.0, 2.0), edit=put("0.bias", 3, float("-inf")))
    run("nan_inf", lambda ps: norm(ps, 1.0, float("inf")), edit=put("4.weight", 0, float("nan")))

    # clip_grad_value_ (returns None).
    run("value", lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.03))
    gd.write("clip.golden")


# ---------------------------------------------------------------- the seed GAN

GAN_ITERS = 5
BATCH = 64
LATENT = 100
IMG = 784
# In the after-one-iteration file, tensors with more elements than this are stored
# as every GAN_SAMPLE_STRIDE-th element (flat index 0, 7, 14, ...; 7 is coprime with
# every row length, so every column is visited); smaller ones are stored whole.
GAN_SAMPLE_LIMIT = 65536
GAN_SAMPLE_STRIDE = 7


def gan_generator():
    def block(fin, fout, normalize=True):
        layers = [nn.Linear(fin, fout)]
        if normalize:
            layers.append(nn.BatchNorm1d(fout, 0.8))
        layers.append(nn.LeakyReLU(0.2))
        return layers
    return nn.Sequential(*block(LATENT, 128, normalize=False), *block(128, 256), *block(256, 512),
                         *block(512, 1024), nn.Linear(1024, IMG), nn.Tanh())


def gan_discriminator():
    return nn.Sequential(nn.Linear(IMG, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2),
                         nn.Linear(256, 1), nn.Sigmoid())


def synthetic_digits(g, n, size=28):
    """MNIST-like images: a few thick strokes on a black background, quantised to
    k/255 and normalised to [-1, 1] as transforms.Normalize([0.5], [0.5]) does.
    size: the image's side; the strokes' ends and widths scale with it (size 28 gives
    the same images as before the parameter existed)."""
    s = size / 28.0
    yy, xx = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    imgs = torch.zeros(n, size, size)
    for i in range(n):
        img = torch.zeros(size, size)
        for _ in range(int(torch.randint(2, 5, (1,), generator=g))):
            a = uniform(g, 5.0 * s, 23.0 * s, 2)
            b = uniform(g, 5.0 * s, 23.0 * s, 2)
            width = float(uniform(g, 1.0 * s, 2.2 * s, 1))
            d = b - a
            tt = (((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / (d @ d + 1e-6)).clamp(0, 1)
            dist = ((xx - a[0] - tt * d[0]) ** 2 + (yy - a[1] - tt * d[1]) ** 2).sqrt()
            img = torch.maximum(img, (1.5 - dist / width).clamp(0, 1))
        imgs[i] = img.clamp(0, 1)
    k = torch.round(imgs * 255.0)
    return ((k / 255.0 - 0.5) / 0.5).reshape(n, size * size)


def add_state(gd, prefix, module, sample=False):
    for name, t in module.state_dict().items():
        t = t.detach()
        if sample and t.numel() > GAN_SAMPLE_LIMIT:
            gd.add(f"{prefix}{name}@{GAN_SAMPLE_STRIDE}", t.reshape(-1)[::GAN_SAMPLE_STRIDE])
        else:
            gd.add(f"{prefix}{name}", t)


def gan_goldens():
    torch.manual_seed(700)
    G = gan_generator()
    D = gan_discriminator()
    g = gen(701)
    init = Golden()
    add_state(init, "G.", G)
    add_state(init, "D.", D)
    zs = [randn(g, BATCH, LATENT) for _ in range(GAN_ITERS)]
    reals = [synthetic_digits(g, BATCH) for _ in range(GAN_ITERS)]
    for i in range(GAN_ITERS):
        init.add(f"iter{i + 1}.z", zs[i])
        init.add(f"iter{i + 1}.real", reals[i])
    init.write("gan_init.golden")

    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))
    valid = torch.ones(BATCH, 1)
    fake = torch.zeros(BATCH, 1)
    first = Golden()
    final = Golden()
    for i in range(GAN_ITERS):
        # The seed iteration of gan.py, line by line.
        opt_g.zero_grad()
        z = zs[i]
        gen_imgs = G(z)
        g_validity = D(gen_imgs)
        g_loss = bce(g_validity, valid)
        g_loss.backward()
        opt_g.step()

        opt_d.zero_grad()
        real_validity = D(reals[i])
        real_loss = bce(real_validity, valid)
        fake_validity = D(gen_imgs.detach())
        fake_loss = bce(fake_validity, fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        opt_d.step()

        p = f"iter{i + 1}."
        for gd in ((first, final) if i == 0 else (final,)):
            gd.add(p + "g_loss", g_loss)
            gd.add(p + "real_loss", real_loss)
            gd.add(p + "fake_loss", fake_loss)
            gd.add(p + "d_loss", d_loss)
        if i == 0:
            first.add(p + "g_validity", g_validity)
            first.add(p + "real_validity", real_validity)
            first.add(p + "fake_validity", fake_validity)
            add_state(first, "G.", G, sample=True)
            add_state(first, "D.", D, sample=True)
    first.write("gan_iter1.golden")
    add_state(final, "G.", G)
    add_state(final, "D.", D)
    final.write("gan_iter5.golden")


# ---------------------------------------------------------------- Conv2d

def conv2d_goldens():
    gd = Golden()
    # (name, batch, in, out, kernel, stride, padding, bias, H, W): an MNIST-like first
    # layer; stride 2 on a non-square input with three channels; no bias, no padding,
    # 5x5 kernel; 16 -> 32 channels (tinynn cuts that forward's products into chunks).
    # torch 1.13 runs these on oneDNN (mkldnn) or its own slow_conv2d, not on OpenBLAS's
    # sgemm: the C test compares with tolerances (test_parity_conv2d.c).
    cases = [("mnist", 8, 1, 16, 3, 1, 1, True, 28, 28), ("stride2", 4, 3, 8, 3, 2, 1, True, 15, 13),
             ("nobias", 2, 4, 6, 5, 1, 0, False, 12, 12), ("multi", 3, 16, 32, 3, 1, 1, True, 14, 14)]
    for i, (name, n, cin, cout, k, s, pad, bias, h, w) in enumerate(cases):
        g = gen(700 + i)
        torch.manual_seed(700 + i)
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=pad, bias=bias)
        x = randn(g, n, cin, h, w).requires_grad_(True)
        y = conv(x)
        dy = randn(g, *y.shape)
        p = f"{name}."
        gd.add(p + "weight", conv.weight)
        if bias:
            gd.add(p + "bias", conv.bias)
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        y.backward(dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", x.grad)
        gd.add(p + "dweight", conv.weight.grad)
        if bias:
            gd.add(p + "dbias", conv.bias.grad)
        # A second batch without zero_grad: parameter gradients accumulate.
        x2 = randn(g, n, cin, h, w)
        dy2 = randn(g, *y.shape)
        conv(x2).backward(dy2)
        gd.add(p + "x2", x2)
        gd.add(p + "dy2", dy2)
        gd.add(p + "dweight_acc", conv.weight.grad)
        if bias:
            gd.add(p + "dbias_acc", conv.bias.grad)
    gd.write("conv2d.golden")


# ---------------------------------------------------------------- MaxPool2d

def maxpool2d_goldens():
    gd = Golden()
    # (name, shape, kernel, stride, padding, values). Max pooling only compares and
    # copies, and torch's CPU kernel (cpu_max_pool) adds dL/dx in output order as tinynn
    # does: the C test compares bit for bit (test_parity_maxpool2d.c). "lenet" is a LeNet
    # layer; "odd" leaves the last row and column out; "overlap" and "stride2" overlap
    # their windows (dx adds); "ties" draws small integers, so windows hold equal
    # maxima (the first wins); "special" holds NaN, +-inf and signed zeros, and whole
    # windows of -inf; "unbatched" is one sample [C x H x W].
    cases = [("lenet", (8, 6, 28, 28), 2, 2, 0, "randn"), ("odd", (4, 3, 11, 9), 2, 2, 0, "randn"),
             ("overlap", (2, 4, 9, 10), 3, 1, 1, "randn"), ("stride2", (3, 2, 15, 13), 3, 2, 1, "randn"),
             ("ties", (2, 3, 8, 8), 3, 1, 1, "ints"), ("special", (2, 2, 7, 6), 2, 1, 1, "special"),
             ("unbatched", (3, 7, 7), 3, 2, 1, "randn")]
    for i, (name, shape, k, s, pad, values) in enumerate(cases):
        g = gen(800 + i)
        if values == "ints":
            x = torch.randint(-2, 3, shape, generator=g).float()
        else:
            x = randn(g, *shape)
        if values == "special":
            flat = x.view(-1)
            idx = torch.randperm(flat.numel(), generator=g)
            specials = [float("nan")] * 6 + [float("inf")] * 4 + [float("-inf")] * 6 + [0.0] * 4 + [-0.0] * 4
            for j, v in enumerate(specials):
                flat[idx[j]] = v
            x[1, 1, 2:5, 1:4] = float("-inf")  # windows with nothing but -inf and padding
            x[0, 0, 0, 0:2] = torch.tensor([-0.0, 0.0])  # equal zeros of both signs
            x[0, 0, 1, 0:2] = torch.tensor([0.0, -0.0])
        pool = nn.MaxPool2d(k, stride=s, padding=pad)
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        dy = randn(g, *y.shape)
        y.backward(dy)
        p = f"{name}."
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", xi.grad)
    gd.write("maxpool2d.golden")


# ---------------------------------------------------------------- AvgPool2d

def avgpool2d_goldens():
    gd = Golden()
    # (name, shape, kernel, stride, padding, count_include_pad, values). torch's CPU
    # kernel (cpu_avg_pool, NCHW) adds each window in float, row by row, divides by the
    # divisor converted to float and adds dy / divisor into dL/dx in output order, as
    # tinynn does: the C test compares bit for bit (test_parity_avgpool2d.c). "lenet" is
    # a LeNet layer; "odd" leaves the last row and column out; "overlap" and
    # "overlap_nopad" overlap their windows (dx adds), the padding counted and not;
    # "stride2" and "k5" pad and move by less than the kernel, "gaps" by more;
    # "wide" holds values of very different sizes (the order of the additions shows);
    # "special" holds NaN, +-inf, signed zeros and denormals whose quotient underflows
    # to -0 (torch gives +0); "unbatched" is one sample [C x H x W].
    cases = [("lenet", (8, 6, 28, 28), 2, 2, 0, True, "randn"), ("odd", (4, 3, 11, 9), 2, 2, 0, True, "randn"),
             ("overlap", (2, 4, 9, 10), 3, 1, 1, True, "randn"),
             ("overlap_nopad", (2, 4, 9, 10), 3, 1, 1, False, "randn"),
             ("stride2", (3, 2, 15, 13), 3, 2, 1, False, "randn"), ("k5", (2, 3, 17, 14), 5, 3, 2, True, "randn"),
             ("k5_nopad", (2, 3, 17, 14), 5, 3, 2, False, "randn"), ("gaps", (2, 2, 13, 11), 2, 3, 1, False, "randn"),
             ("wide", (2, 3, 12, 12), 4, 1, 2, True, "wide"), ("special", (2, 2, 7, 6), 2, 1, 1, False, "special"),
             ("unbatched", (3, 7, 7), 3, 2, 1, True, "randn")]
    for i, (name, shape, k, s, pad, cip, values) in enumerate(cases):
        g = gen(850 + i)
        x = randn(g, *shape)
        if values == "wide":
            x = x * torch.exp(3 * randn(g, *shape))
        if values == "special":
            flat = x.view(-1)
            idx = torch.randperm(flat.numel(), generator=g)
            specials = [float("nan")] * 3 + [float("inf")] * 2 + [float("-inf")] * 2 + [0.0] * 4 + [-0.0] * 4
            for j, v in enumerate(specials):
                flat[idx[j]] = v
            x[1, 1, 2:5, 1:4] = -0.0  # windows of nothing but -0 (and padding)
            x[1, 0, 3:5, 2:4] = torch.tensor([[-1e-45, 0.0], [0.0, -0.0]])  # -1e-45 / 4 is -0
        pool = nn.AvgPool2d(k, stride=s, padding=pad, count_include_pad=cip)
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        dy = randn(g, *y.shape)
        if values == "special":
            dy.view(-1)[:4] = torch.tensor([-0.0, -1e-45, 0.0, float("nan")])
        y.backward(dy)
        p = f"{name}."
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", xi.grad)
    gd.write("avgpool2d.golden")


def adaptive_avgpool2d_goldens():
    gd = Golden()
    # (name, shape, (out_h, out_w), values). torch 1.13 takes two paths: (1, 1) is
    # input.mean((-1, -2)) (its cascade sum, then / (H*W); backward dy / (H*W)), any
    # other size cpu_adaptive_avg_pool (each window summed in float row by row, / height
    # / width; backward in output order): the C test compares bit for bit
    # (test_parity_adaptive_avgpool2d.c). "global*" are global average pooling on planes
    # of 1 to 10,000 elements (below and above 8, one and several cascade runs);
    # "grow" has more outputs than inputs (repeated rows); "special" holds NaN, +-inf,
    # signed zeros and -1e-45 (a -0 quotient stays -0 in both paths).
    cases = [("global_small", (3, 4, 2, 3), (1, 1), "randn"), ("global_7", (2, 5, 7, 7), (1, 1), "wide"),
             ("global_28", (4, 8, 28, 28), (1, 1), "wide"), ("global_100", (2, 3, 100, 100), (1, 1), "wide"),
             ("global_1", (2, 3, 1, 1), (1, 1), "randn"), ("global_unbatched", (6, 9, 11), (1, 1), "randn"),
             ("p3x4", (2, 3, 7, 9), (3, 4), "wide"), ("p5x2", (2, 2, 13, 7), (5, 2), "randn"),
             ("grow", (2, 2, 5, 6), (7, 9), "randn"), ("row", (2, 3, 6, 10), (1, 4), "randn"),
             ("same", (1, 2, 4, 5), (4, 5), "randn"), ("special", (2, 2, 6, 6), (2, 3), "special"),
             ("global_special", (2, 2, 2, 2), (1, 1), "special")]
    for i, (name, shape, out, values) in enumerate(cases):
        g = gen(880 + i)
        x = randn(g, *shape)
        if values == "wide":
            x = x * torch.exp(3 * randn(g, *shape))
        if values == "special":
            x.view(-1)[:6] = torch.tensor([float("nan"), float("inf"), -0.0, 0.0, float("-inf"), 1.0])
            x[1, 1] = 0.0
            x[1, 1, 0, 0] = -1e-45  # a window (or plane) whose quotient is -0
        pool = nn.AdaptiveAvgPool2d(out)
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        dy = randn(g, *y.shape)
        if values == "special":
            dy.view(-1)[-2:] = torch.tensor([-0.0, -1e-45])
        y.backward(dy)
        p = f"{name}."
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", xi.grad)
    gd.write("adaptive_avgpool2d.golden")


# ---------------------------------------------------------------- MaxPool2d and AvgPool2d options

def pool_options_values(g, shape, values):
    """x for the pool option cases: N(0, 1), or "wide" (over many binades), "ints" (in
    [-2, 2]: ties), "special" (NaN, +-inf and signed zeros, with the last row and column,
    which the windows running past the edge hold, full of them)."""
    if values == "ints":
        return torch.randint(-2, 3, shape, generator=g).float()
    x = randn(g, *shape)
    if values == "wide":
        x = x * torch.exp(3 * randn(g, *shape))
    if values == "special":
        flat = x.view(-1)
        idx = torch.randperm(flat.numel(), generator=g)
        specials = [float("nan")] * 3 + [float("inf")] * 2 + [float("-inf")] * 3 + [0.0] * 3 + [-0.0] * 3
        for j, v in enumerate(specials):
            flat[idx[j]] = v
        x[0, 0, -1, :] = float("-inf")  # the last row's windows: nothing but -inf
        x[0, 1, :, -1] = -0.0  # the last column: -0 (AvgPool2d: a -0 sum comes out +0)
        x[1, 0, -1, -1] = float("nan")
        x[1, 1, -2:, -2:] = torch.tensor([[float("inf"), 1.0], [2.0, float("-inf")]])
    return x


def pool_option_case(gd, name, x, pool, g):
    xi = x.clone().requires_grad_(True)
    y = pool(xi)
    dy = randn(g, *y.shape)
    y.backward(dy)
    p = f"{name}."
    gd.add(p + "x", x)
    gd.add(p + "dy", dy)
    gd.add(p + "y", y)
    gd.add(p + "dx", xi.grad)


def pool2d_options_goldens():
    # ceil_mode (both pools) and divisor_override (AvgPool2d), torch 1.13's CPU kernels
    # as in maxpool2d.golden and avgpool2d.golden; the C tests compare bit for bit
    # (test_parity_maxpool2d.c, test_parity_avgpool2d.c hold each case's settings).
    # With ceil_mode: "ceil_k2" runs its last row and column of windows past the input
    # (no padding); "ceil_pad" past the padding (AvgPool2d counting the padding divides
    # those by 2 x 3, 3 x 2, 2 x 2); "ceil_drop" (8 rows, k3, s3, p1) has torch's rule
    # drop the last row of windows (it would start in the bottom padding) while its last
    # column runs past the edge; "ceil_drop2" (k2, default stride, p1) drops both;
    # "ceil_small" is smaller than the window once padded (1 x 2, k4, s2, p1: one
    # output, as in torch).
    max_cases = [("ceil_k2", (2, 3, 7, 9), 2, 2, 0, "randn"), ("ceil_pad", (2, 2, 8, 10), 3, 2, 1, "randn"),
                 ("ceil_drop", (2, 2, 8, 9), 3, 3, 1, "randn"), ("ceil_drop2", (2, 3, 9, 11), 2, None, 1, "randn"),
                 ("ceil_ties", (2, 3, 8, 9), 3, 2, 1, "ints"), ("ceil_special", (2, 2, 7, 7), 2, 2, 0, "special"),
                 ("ceil_small", (2, 2, 1, 2), 4, 2, 1, "randn"), ("ceil_unbatched", (3, 6, 8), 3, 2, 0, "randn")]
    for assert_drop in ("ceil_drop", "ceil_drop2"):  # the rule does drop a window there
        _, shape, k, s, pad, _ = next(c for c in max_cases if c[0] == assert_drop)
        s = s or k
        h = shape[-2]
        assert -(-(h + 2 * pad - k) // s) * s >= h + pad
    gd = Golden()
    for i, (name, shape, k, s, pad, values) in enumerate(max_cases):
        g = gen(1900 + i)
        x = pool_options_values(g, shape, values)
        pool_option_case(gd, name, x, nn.MaxPool2d(k, stride=s, padding=pad, ceil_mode=True), g)
    gd.write("maxpool2d_options.golden")

    # (name, shape, kernel, stride, padding, ceil_mode, count_include_pad,
    # divisor_override, values): the ceil_mode cases above with the padding counted and
    # not ("_nopad"), "ceil_k4" (k4, s3, p2: rows dropped, columns past the edge),
    # "ceil_wide" (values over many binades), "ceil_special"; divisor_override without
    # ceil_mode ("div3"), with it ("div_ceil", the padding not counted: the override
    # wins), and 16777217, which float holds as 16777216 ("div_big": torch divides by
    # the float).
    avg_cases = [("ceil_k2", (2, 3, 7, 9), 2, 2, 0, True, True, None, "randn"),
                 ("ceil_pad", (2, 2, 8, 10), 3, 2, 1, True, True, None, "randn"),
                 ("ceil_pad_nopad", (2, 2, 8, 10), 3, 2, 1, True, False, None, "randn"),
                 ("ceil_drop", (2, 2, 8, 9), 3, 3, 1, True, True, None, "randn"),
                 ("ceil_drop_nopad", (2, 2, 8, 9), 3, 3, 1, True, False, None, "randn"),
                 ("ceil_drop2", (2, 3, 9, 11), 2, None, 1, True, True, None, "randn"),
                 ("ceil_k4", (2, 2, 10, 11), 4, 3, 2, True, True, None, "randn"),
                 ("ceil_k4_nopad", (2, 2, 10, 11), 4, 3, 2, True, False, None, "randn"),
                 ("ceil_wide", (2, 3, 9, 12), 3, 2, 1, True, True, None, "wide"),
                 ("ceil_special", (2, 2, 8, 8), 3, 2, 1, True, True, None, "special"),
                 ("ceil_small", (2, 2, 1, 2), 4, 2, 1, True, True, None, "randn"),
                 ("ceil_unbatched", (3, 6, 8), 3, 2, 1, True, True, None, "randn"),
                 ("div3", (2, 3, 9, 10), 3, 2, 1, False, True, 3, "wide"),
                 ("div_ceil", (2, 2, 8, 10), 3, 2, 1, True, False, 7, "wide"),
                 ("div_big", (2, 2, 6, 6), 2, 2, 0, False, True, 16777217, "wide")]
    gd = Golden()
    for i, (name, shape, k, s, pad, ceil, cip, div, values) in enumerate(avg_cases):
        g = gen(1950 + i)
        x = pool_options_values(g, shape, values)
        pool = nn.AvgPool2d(k, stride=s, padding=pad, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
        pool_option_case(gd, name, x, pool, g)
    gd.write("avgpool2d_options.golden")


# ---------------------------------------------------------------- ConvTranspose2d

def conv_transpose2d_goldens():
    gd = Golden()
    # (name, batch, in, out, kernel, stride, padding, output_padding, bias, H, W):
    # DCGAN's generator layers ("dcgan_first": a 1x1 latent to 4x4, no bias; "dcgan_up":
    # 4x4 on 7x7 at stride 2, padding 1); stride 2 with output_padding 1, a 3x3 kernel
    # on an odd non-square input; stride 1, no padding, 5x5 kernel, no bias, batch 1;
    # stride 1 with padding 2 ("same" size); a 3x3 kernel under stride 3 with
    # output_padding 2 (outputs no kernel reaches); a batch of 16 small inputs, which
    # tinynn puts two samples to a product (torch one). torch 1.13 computes these with
    # oneDNN or its own slow_conv_transpose2d, not OpenBLAS's sgemm on tinynn's columns:
    # the C test compares with tolerances (test_parity_conv_transpose2d.c).
    cases = [("dcgan_first", 3, 16, 8, 4, 1, 0, 0, False, 1, 1),
             ("dcgan_up", 3, 8, 4, 4, 2, 1, 0, True, 7, 7),
             ("output_padding", 3, 3, 5, 3, 2, 1, 1, True, 5, 7),
             ("stride1", 1, 4, 6, 5, 1, 0, 0, False, 9, 6),
             ("same", 3, 6, 3, 5, 1, 2, 0, True, 8, 8),
             ("stride3", 1, 2, 3, 3, 3, 1, 2, True, 4, 5),
             ("batch16", 16, 8, 6, 4, 2, 1, 0, True, 4, 4)]
    for i, (name, n, cin, cout, k, s, pad, opad, bias, h, w) in enumerate(cases):
        g = gen(900 + i)
        torch.manual_seed(900 + i)
        conv = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=pad, output_padding=opad, bias=bias)
        x = randn(g, n, cin, h, w).requires_grad_(True)
        y = conv(x)
        dy = randn(g, *y.shape)
        p = f"{name}."
        gd.add(p + "weight", conv.weight)
        if bias:
            gd.add(p + "bias", conv.bias)
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        y.backward(dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", x.grad)
        gd.add(p + "dweight", conv.weight.grad)
        if bias:
            gd.add(p + "dbias", conv.bias.grad)
        # A second batch without zero_grad: parameter gradients accumulate.
        x2 = randn(g, n, cin, h, w)
        dy2 = randn(g, *y.shape)
        conv(x2).backward(dy2)
        gd.add(p + "x2", x2)
        gd.add(p + "dy2", dy2)
        gd.add(p + "dweight_acc", conv.weight.grad)
        if bias:
            gd.add(p + "dbias_acc", conv.bias.grad)
    gd.write("conv_transpose2d.golden")
# ---------------------------------------------------------------- Upsample

def upsample_goldens():
    gd = Golden()
    # (name, shape, scale_factor, values). nn.Upsample(scale_factor=k, mode='nearest')
    # only copies forward; backward, torch's CPU kernel (cpu_upsample_nearest_backward)
    # zeroes dL/dx and adds each dy into its source element in float, output rows in
    # order and each row's columns in order, as tinynn does: the C test compares bit for
    # bit (test_parity_upsample.c). "k1", "k2", "k3": odd sizes, batch > 1; "dcgan" is
    # the generator's first upsampling at a small batch; "order" draws dy of exponents
    # from 2^-20 to 2^24, so that the order of the additions shows in the bits, and has
    # blocks of -0 (their sum is +0: torch adds from +0); "special" holds NaN, +-inf and
    # signed zeros in x and dy; "onechannel" has C = 1, which torch runs through its
    # channels-last kernels; "k41" has the scale 41, where torch's float index rule puts
    # output row/column 41 on input 0, not 1.
    cases = [("k1", (2, 3, 5, 4), 1, "randn"), ("k2", (3, 4, 7, 5), 2, "randn"), ("k3", (2, 3, 5, 7), 3, "randn"),
             ("dcgan", (4, 16, 8, 8), 2, "randn"), ("order", (3, 2, 5, 3), 3, "order"),
             ("order2", (2, 3, 4, 5), 2, "order"), ("special", (2, 2, 4, 3), 2, "special"),
             ("onechannel", (3, 1, 4, 5), 2, "order"), ("k41", (1, 2, 2, 3), 41, "order")]
    for i, (name, shape, k, values) in enumerate(cases):
        g = gen(900 + i)
        x = randn(g, *shape)
        oshape = (shape[0], shape[1], shape[2] * k, shape[3] * k)
        dy = randn(g, *oshape)
        if values == "order":
            dy = dy * torch.pow(2.0, torch.randint(-20, 25, oshape, generator=g).float())
            dy[0, 0, 0:k, 0:k] = -0.0  # a block of -0: its sum is +0
        if values == "special":
            for t in (x, dy):
                flat = t.view(-1)
                idx = torch.randperm(flat.numel(), generator=g)
                for j, v in enumerate([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, -0.0]):
                    flat[idx[j]] = v
            dy[1, 1, 0:2, 0:2] = torch.tensor([[float("inf"), 1.0], [float("-inf"), 2.0]])  # inf + -inf: NaN
            dy[1, 0, 2:4, 2:4] = -0.0
        up = nn.Upsample(scale_factor=k, mode="nearest")
        xi = x.clone().requires_grad_(True)
        y = up(xi)
        assert tuple(y.shape) == oshape
        y.backward(dy)
        if values == "order":  # the order shows: adding by columns, or in double, gives other bits
            rows = torch.zeros(shape, dtype=torch.float32).numpy()
            cols = rows.copy()
            # torch's source index in float: floor(o * (float)(1/k)), at most size - 1
            def src_of(size):
                o = torch.arange(size * k).float() * torch.tensor(1.0 / k, dtype=torch.float32)
                return [int(i) for i in o.floor().long().clamp(max=size - 1)]
            src, srcw = src_of(shape[2]), src_of(shape[3])
            f = dy.numpy()
            for n in range(shape[0]):
                for c in range(shape[1]):
                    for oh in range(oshape[2]):
                        for ow in range(oshape[3]):
                            rows[n, c, src[oh], srcw[ow]] = np.float32(rows[n, c, src[oh], srcw[ow]] + f[n, c, oh, ow])
                    for ow in range(oshape[3]):
                        for oh in range(oshape[2]):
                            cols[n, c, src[oh], srcw[ow]] = np.float32(cols[n, c, src[oh], srcw[ow]] + f[n, c, oh, ow])
            assert np.array_equal(rows.view(np.uint32), xi.grad.numpy().view(np.uint32)), name
            assert not np.array_equal(cols.view(np.uint32), rows.view(np.uint32)), name
        p = f"{name}."
        gd.add(p + "x", x)
        gd.add(p + "dy", dy)
        gd.add(p + "y", y)
        gd.add(p + "dx", xi.grad)
    gd.write("upsample.golden")
def batchnorm2d_goldens():
    gd = Golden()
    # (name, shape, eps, momentum, affine, track_running_stats). "hw1" ([N x C x 1 x 1])
    # takes torch's channels-last kernel (BatchNorm1d's); the others its contiguous
    # kernel: odd sizes, an image of fewer than 8 values ("small", below one AVX2 vector),
    # a multiple of 8 ("conv"), a batch of one sample ("n1"), momentum 0.3 and 0.01,
    # no affine parameters, no running statistics (eval then uses the batch's).
    cases = [("hw1", (16, 5, 1, 1), 1e-5, 0.1, True, True),
             ("odd", (3, 7, 5, 3), 0.8, 0.1, True, True),
             ("small", (5, 4, 2, 3), 0.8, 0.01, True, True),
             ("conv", (4, 16, 10, 12), 1e-5, 0.1, True, True),
             ("mom", (2, 3, 7, 9), 1e-5, 0.3, True, True),
             ("n1", (1, 6, 9, 11), 1e-5, 0.1, True, True),
             ("noaffine", (4, 3, 6, 5), 1e-5, 0.1, False, True),
             ("untracked", (4, 3, 5, 5), 0.8, 0.1, True, False)]
    for i, (name, shape, eps, mom, affine, track) in enumerate(cases):
        g = gen(900 + i)
        n, c, h, w = shape
        bn = nn.BatchNorm2d(c, eps=eps, momentum=mom, affine=affine, track_running_stats=track)
        p = f"{name}."
        if affine:
            with torch.no_grad():
                bn.weight.copy_(uniform(g, 0.5, 1.5, c))
                bn.bias.copy_(randn(g, c, scale=0.5))
            gd.add(p + "weight", bn.weight)
            gd.add(p + "bias", bn.bias)
        phases = [f"train{s}" for s in range(1, BN_STEPS + 1)] + ["eval"]
        for q in phases:
            bn.train(q != "eval")
            if q == "eval":
                x = randn(g, *shape, scale=2.0, shift=0.5)
            else:
                # Channels with a large mean and a small spread test the variance's
                # cancellation; the others are standard normal.
                x = randn(g, *shape) * uniform(g, 0.1, 3.0, c, 1, 1) + randn(g, c, 1, 1, scale=4.0)
            x.requires_grad_(True)
            dy = randn(g, *shape)  # contiguous: torch's contiguous backward kernel
            bn.zero_grad()
            y = bn(x)
            y.backward(dy)
            q = f"{p}{q}."
            gd.add(q + "x", x)
            gd.add(q + "dy", dy)
            gd.add(q + "y", y)
            gd.add(q + "dx", x.grad)
            if affine:
                gd.add(q + "dweight", bn.weight.grad)
                gd.add(q + "dbias", bn.bias.grad)
            if track:
                gd.add(q + "running_mean", bn.running_mean)
                gd.add(q + "running_var", bn.running_var)
                gd.add(q + "num_batches_tracked", bn.num_batches_tracked)
    gd.write("batchnorm2d.golden")


# ---------------------------------------------------------------- Dropout2d

def dropout2d_goldens():
    gd = Golden()
    # Dropout2d in training mode: torch's masks come from torch's generator, tinynn's from
    # its own, so the C test (test_parity_dropout2d.c) compares the channels both keep
    # (bit for bit: x * (1.0f / (float)(1 - p)), and dy times it) and those both zero
    # (x * 0, signed zeros), drawing masks until every channel has been compared. p is
    # stored as float32 and torch is given that float's value, as the C API takes p.
    # "dcgan" is PyTorch-GAN's Dropout2d(0.25); 0.15 and 0.2909... are ps whose factor in
    # double, rounded, is an ulp from torch's; "l3d" is a 3-D input [N x C x L] (torch
    # 1.13's channel-wise 1-D dropout, with a warning). "eval", "p0" (training, p = 0)
    # and "p1" (training, p = 1, with NaN and +-inf: x * 0) are deterministic.
    cases = [("dcgan", (8, 32, 4, 4), 0.25, True), ("half", (8, 16, 3, 3), 0.5, True),
             ("p015", (8, 16, 3, 3), 0.15, True), ("p029", (8, 16, 2, 3), 0.2909047305583954, True),
             ("p09", (8, 16, 3, 3), 0.9, True), ("p0999", (64, 64, 1, 2), 0.999, True),
             ("l3d", (8, 16, 10), 0.25, True), ("eval", (4, 8, 3, 3), 0.5, False),
             ("p0", (4, 8, 3, 3), 0.0, True), ("p1", (4, 8, 3, 3), 1.0, True)]
    for i, (name, shape, p, train) in enumerate(cases):
        g = gen(900 + i)
        pf = float(np.float32(p))
        x = randn(g, *shape, scale=4.0)
        if name == "p1":
            x.view(-1)[:3] = torch.tensor([float("nan"), float("inf"), float("-inf")])
        dy = randn(g, *shape)
        m = nn.Dropout2d(pf).train(train)
        torch.manual_seed(950 + i)
        xi = x.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the 3-D input's
            y = m(xi)
        y.backward(dy)
        kept = int((y.reshape(shape[0], shape[1], -1) != 0).any(-1).sum())
        if train and 0.0 < p < 1.0 and not (0 < kept < shape[0] * shape[1]):
            raise RuntimeError(f"{name}: torch kept {kept} channels: pick another seed")
        q = f"{name}."
        gd.add(q + "p", torch.tensor(pf, dtype=torch.float32))
        gd.add(q + "x", x)
        gd.add(q + "dy", dy)
        gd.add(q + "y", y)
        gd.add(q + "dx", xi.grad)
    gd.write("dropout2d.golden")


# ---------------------------------------------------------------- LayerNorm

def layernorm_goldens():
    gd = Golden()
    # (name, input shape, normalized_shape, eps, elementwise_affine). Row lengths (the
    # product of normalized_shape) below one AVX2 vector (6), with a tail after whole
    # vectors (37, 63, 100, 150), exactly whole chunks of 16 vectors (128), and long
    # enough for torch's cascade of chunk moments (2100: 17 chunks, 4133: 33 and a
    # tail); 1-D and 2-D normalized_shape; an unbatched input (one row); no affine
    # parameters; eps 0.1. Each row has its own spread (0.2 to 4) and mean (up to +-3
    # times the row's scale; "far" up to 1000), so rstd is far from 1.
    cases = [("row37", (6, 37), (37,), 1e-5, True),
             ("seq100", (2, 5, 100), (100,), 1e-5, True),
             ("twod", (3, 4, 7, 9), (7, 9), 1e-5, True),
             ("small", (5, 6), (6,), 0.1, True),
             ("noaffine", (4, 3, 50), (3, 50), 1e-5, False),
             ("whole", (8, 128), (128,), 1e-5, True),
             ("long", (3, 2100), (2100,), 1e-5, True),
             ("long2d", (2, 4133), (4133,), 1e-5, False),
             ("unbatched", (24,), (24,), 1e-5, True),
             ("far", (4, 3, 20), (3, 20), 1e-5, True)]
    for i, (name, shape, nshape, eps, affine) in enumerate(cases):
        g = gen(1100 + i)
        ln = nn.LayerNorm(nshape, eps=eps, elementwise_affine=affine)
        p = f"{name}."
        if affine:
            with torch.no_grad():
                ln.weight.copy_(uniform(g, 0.5, 1.5, *nshape))
                ln.bias.copy_(randn(g, *nshape, scale=0.5))
            gd.add(p + "weight", ln.weight)
            gd.add(p + "bias", ln.bias)
        lead = shape[:len(shape) - len(nshape)]
        rowshape = tuple(lead) + (1,) * len(nshape)
        shift = 1000.0 if name == "far" else 3.0
        # step2 adds its parameter gradients to step1's (no zero_grad in between)
        for q in ["step1", "step2", "eval"]:
            ln.train(q != "eval")
            if q != "step2":
                ln.zero_grad()
            spread = uniform(g, 0.2, 4.0, *rowshape) if rowshape else uniform(g, 0.2, 4.0, 1)
            x = randn(g, *shape) * spread + randn(g, *rowshape, scale=shift) * (1.0 if name == "far" else spread)
            x.requires_grad_(True)
            dy = randn(g, *shape, scale=1.5, shift=0.2)
            y = ln(x)
            y.backward(dy)
            q = f"{p}{q}."
            gd.add(q + "x", x)
            gd.add(q + "dy", dy)
            gd.add(q + "y", y)
            gd.add(q + "dx", x.grad)
            if affine:
                gd.add(q + "dweight", ln.weight.grad)
                gd.add(q + "dbias", ln.bias.grad)
    gd.write("layernorm.golden")


# ---------------------------------------------------------------- DCGAN

# PyTorch-GAN's dcgan.py with img_size 16, channels 1, latent_dim 100, as plain
# nn.Sequentials (so that the state_dict names are tinynn's), without D's Dropout2d
# layers (their masks cannot be the same in two libraries). Batch 16, three iterations.
DCGAN_ITERS = 3
DCGAN_BATCH = 16
DCGAN_LATENT = 100
DCGAN_SIZE = 16
# The states after the iterations store tensors above DCGAN_SAMPLE_LIMIT elements as
# every DCGAN_SAMPLE_STRIDE-th element (11 is coprime with every row length, 9 and 100).
DCGAN_SAMPLE_LIMIT = 4096
DCGAN_SAMPLE_STRIDE = 11


def dcgan_generator():
    return nn.Sequential(
        nn.Linear(DCGAN_LATENT, 128 * 4 * 4), nn.Unflatten(1, (128, 4, 4)), nn.BatchNorm2d(128),
        nn.Upsample(scale_factor=2), nn.Conv2d(128, 128, 3, stride=1, padding=1), nn.BatchNorm2d(128, 0.8),
        nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2), nn.Conv2d(128, 64, 3, stride=1, padding=1),
        nn.BatchNorm2d(64, 0.8), nn.LeakyReLU(0.2), nn.Conv2d(64, 1, 3, stride=1, padding=1), nn.Tanh())


def dcgan_discriminator():
    def block(fin, fout, bn=True):
        layers = [nn.Conv2d(fin, fout, 3, 2, 1), nn.LeakyReLU(0.2)]  # dcgan.py: + Dropout2d(0.25)
        if bn:
            layers.append(nn.BatchNorm2d(fout, 0.8))
        return layers
    return nn.Sequential(*block(1, 16, bn=False), *block(16, 32), *block(32, 64), *block(64, 128),
                         nn.Flatten(), nn.Linear(128, 1), nn.Sigmoid())


def dcgan_weights_init_normal(m):
    # dcgan.py's weights_init_normal, applied to both networks.
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm2d") != -1:
        torch.nn.init.normal_(m.weight.data, 1.0, 0.02)
        torch.nn.init.constant_(m.bias.data, 0.0)


def add_dcgan_state(gd, prefix, module):
    for name, t in module.state_dict().items():
        t = t.detach()
        if t.numel() > DCGAN_SAMPLE_LIMIT:
            gd.add(f"{prefix}{name}@{DCGAN_SAMPLE_STRIDE}", t.reshape(-1)[::DCGAN_SAMPLE_STRIDE])
        else:
            gd.add(f"{prefix}{name}", t)


def add_dcgan_grads(gd, prefix, module):
    for name, prm in module.named_parameters():
        t = prm.grad.detach()
        if t.numel() > DCGAN_SAMPLE_LIMIT:
            gd.add(f"{prefix}{name}@{DCGAN_SAMPLE_STRIDE}", t.reshape(-1)[::DCGAN_SAMPLE_STRIDE])
        else:
            gd.add(f"{prefix}{name}", t)


def dcgan_goldens():
    torch.manual_seed(1000)
    G = dcgan_generator()
    D = dcgan_discriminator()
    G.apply(dcgan_weights_init_normal)
    D.apply(dcgan_weights_init_normal)
    # The initial state is rounded to float16 values and stored as float16, which halves
    # the file (G's Linear(100, 2048) alone is 0.8 MB in float32); both libraries start
    # from the rounded values (running_var's ones and running_mean's zeros are exact).
    init = Golden()
    with torch.no_grad():
        for prefix, net in (("G.", G), ("D.", D)):
            for name, t in net.state_dict().items():
                if t.dtype == torch.float32:
                    t.copy_(t.half().float())
                    init.add(prefix + name, t.half())
                else:
                    init.add(prefix + name, t)
    g = gen(1001)
    zs = [randn(g, DCGAN_BATCH, DCGAN_LATENT) for _ in range(DCGAN_ITERS)]
    reals = [synthetic_digits(g, DCGAN_BATCH, DCGAN_SIZE).reshape(DCGAN_BATCH, 1, DCGAN_SIZE, DCGAN_SIZE)
             for _ in range(DCGAN_ITERS)]
    for i in range(DCGAN_ITERS):
        init.add(f"iter{i + 1}.z", zs[i])
        init.add(f"iter{i + 1}.real", reals[i])
    init.write("dcgan_init.golden")

    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))
    valid = torch.ones(DCGAN_BATCH, 1)
    fake = torch.zeros(DCGAN_BATCH, 1)
    out = Golden()
    for i in range(DCGAN_ITERS):
        # dcgan.py's iteration, line by line.
        opt_g.zero_grad()
        gen_imgs = G(zs[i])
        g_validity = D(gen_imgs)
        g_loss = bce(g_validity, valid)
        g_loss.backward()
        if i == 0:
            # G's gradients before Adam sees them (D's are the D step's, below).
            add_dcgan_grads(out, "iter1.grad.G.", G)
        opt_g.step()

        opt_d.zero_grad()
        real_validity = D(reals[i])
        real_loss = bce(real_validity, valid)
        fake_validity = D(gen_imgs.detach())
        fake_loss = bce(fake_validity, fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        if i == 0:
            add_dcgan_grads(out, "iter1.grad.D.", D)
        opt_d.step()

        p = f"iter{i + 1}."
        out.add(p + "g_loss", g_loss)
        out.add(p + "real_loss", real_loss)
        out.add(p + "fake_loss", fake_loss)
        out.add(p + "d_loss", d_loss)
        out.add(p + "g_validity", g_validity)
        out.add(p + "real_validity", real_validity)
        out.add(p + "fake_validity", fake_validity)
        if i + 1 in (1, DCGAN_ITERS):
            add_dcgan_state(out, p + "G.", G)
            add_dcgan_state(out, p + "D.", D)
    out.write("dcgan_train.golden")


# ---------------------------------------------------------------- lr schedulers

LR_STEPS = 60


def lr_scheduler_cases():
    """(name, lr, make(optimizer) -> scheduler, metrics or None) for lr_scheduler_goldens;
    tests/test_parity_lr_scheduler.c lists the same cases."""
    S = torch.optim.lr_scheduler
    # Metric sequences for ReduceLROnPlateau: a fall, noisy plateaus, a NaN, an inf.
    fall = [1.0 / (1 + 0.3 * i) for i in range(12)]
    noisy = [0.25 + 0.001 * ((i * 7) % 5) for i in range(20)]
    tail = [0.2 - 0.00001 * i for i in range(10)] + [0.2 + 0.01 * ((i * 3) % 4) for i in range(18)]
    m_min = fall + noisy + [float("nan")] + tail[:27]
    acc = [0.5 + 0.03 * i for i in range(10)] + [0.8 + 0.004 * ((i * 5) % 3) for i in range(25)]
    acc += [0.81 + 0.02 * i for i in range(5)] + [0.9 - 0.01 * (i % 4) for i in range(20)]
    m_max = acc[:LR_STEPS]
    m_inf = [3.0, 2.0, float("inf"), 2.5, 1.0] + [1.0 + 0.05 * (i % 3) for i in range(LR_STEPS - 5)]
    return [
        ("step_3_0.1", 0.1, lambda o: S.StepLR(o, step_size=3, gamma=0.1), None),
        ("step_7_0.7", 0.05, lambda o: S.StepLR(o, step_size=7, gamma=0.7), None),
        ("step_1_0.9", 0.3, lambda o: S.StepLR(o, step_size=1, gamma=0.9), None),
        ("step_5_1.3", 1e-3, lambda o: S.StepLR(o, step_size=5, gamma=1.3), None),
        ("multistep", 0.1, lambda o: S.MultiStepLR(o, milestones=[10, 25, 40], gamma=0.3), None),
        ("multistep_repeat", 0.2, lambda o: S.MultiStepLR(o, milestones=[30, 5, 5, 20, 30, 30], gamma=0.5), None),
        ("multistep_zero", 0.07, lambda o: S.MultiStepLR(o, milestones=[0, 15, 59], gamma=0.1), None),
        ("exp_0.95", 0.1, lambda o: S.ExponentialLR(o, gamma=0.95), None),
        ("exp_0.87", 3e-4, lambda o: S.ExponentialLR(o, gamma=0.87), None),
        ("cosine_10", 0.1, lambda o: S.CosineAnnealingLR(o, T_max=10), None),
        ("cosine_17_eta", 0.05, lambda o: S.CosineAnnealingLR(o, T_max=17, eta_min=1e-4), None),
        ("cosine_1_eta", 0.01, lambda o: S.CosineAnnealingLR(o, T_max=1, eta_min=0.001), None),
        ("cosine_50", 0.3, lambda o: S.CosineAnnealingLR(o, T_max=50), None),
        ("cosine_eta_above", 0.01, lambda o: S.CosineAnnealingLR(o, T_max=8, eta_min=0.02), None),
        ("linear_default", 0.1, lambda o: S.LinearLR(o), None),
        ("linear_0.25_0.75_20", 0.02, lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=20), None),
        ("linear_down_40", 0.5, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=40), None),
        ("linear_to_zero", 0.1, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10), None),
        ("linear_total_0", 0.1, lambda o: S.LinearLR(o, start_factor=0.5, total_iters=0), None),
        ("plateau_min_rel", 0.1, lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=3,
                                                                threshold=1e-3, cooldown=2, min_lr=2e-3), m_min),
        ("plateau_min_abs", 0.1, lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.3, patience=2,
                                                                threshold=0.01, threshold_mode="abs", cooldown=1,
                                                                min_lr=1e-3), m_min),
        ("plateau_max_rel", 0.05, lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.7, patience=4,
                                                                 threshold=0.01, cooldown=3, min_lr=0.01), m_max),
        ("plateau_max_abs", 0.05, lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.2, patience=1,
                                                                 threshold=0.005, threshold_mode="abs",
                                                                 min_lr=1e-4), m_max),
        ("plateau_eps", 0.1, lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.0,
                                                            min_lr=0.0, eps=0.004), m_inf),
        ("plateau_defaults", 0.1, lambda o: S.ReduceLROnPlateau(o), m_min),
    ]


def lr_scheduler_goldens():
    # Per case: "<case>.lr", the learning rate after creation then after each of
    # LR_STEPS steps (get_last_lr()[0]; the optimizer's lr for ReduceLROnPlateau, which
    # has no get_last_lr in 1.13), and "<case>.metrics" for ReduceLROnPlateau; all
    # float64, stored as the int64 of their bits so that the test compares them exactly.
    gd = Golden()

    def bits(xs):
        return torch.tensor(xs, dtype=torch.float64).view(torch.int64)

    for name, lr, make, metrics in lr_scheduler_cases():
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = make(opt)
            rates = [opt.param_groups[0]["lr"]]
            for i in range(LR_STEPS):
                opt.step()
                if metrics is None:
                    sched.step()
                    assert sched.get_last_lr()[0] == opt.param_groups[0]["lr"]
                else:
                    sched.step(metrics[i])
                rates.append(opt.param_groups[0]["lr"])
        gd.add(f"{name}.lr", bits(rates))
        if metrics is not None:
            gd.add(f"{name}.metrics", bits(metrics[:LR_STEPS]))
    gd.write("lr_scheduler.golden")


def main():
    if not torch.__version__.startswith("1.13"):
        print(f"warning: goldens were made with torch 1.13, this is {torch.__version__}", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    linear_goldens()
    batchnorm_goldens()
    activation_goldens()
    elu_silu_gelu_goldens()
    softmax_goldens()
    loss_goldens()
    regression_loss_goldens()
    adam_goldens()
    sgd_goldens()
    adamw_goldens()
    amsgrad_goldens()
    rmsprop_goldens()
    clip_goldens()
    gan_goldens()
    conv2d_goldens()
    maxpool2d_goldens()
    avgpool2d_goldens()
    adaptive_avgpool2d_goldens()
    pool2d_options_goldens()
    conv_transpose2d_goldens()
    upsample_goldens()
    batchnorm2d_goldens()
    dropout2d_goldens()
    dcgan_goldens()
    layernorm_goldens()
    lr_scheduler_goldens()


if __name__ == "__main__":
    main()
