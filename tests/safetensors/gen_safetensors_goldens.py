#!/usr/bin/python3
"""PyTorch side of libtinynn's safetensors interop tests.

The `safetensors` Python package is not installed on the machine these goldens were
made on (no PyPI access), so this file carries its own small REFERENCE WRITER AND
READER of the format, in plain Python (json + struct + numpy), written from the format
specification and the reference implementation (huggingface/safetensors, Rust):

  * writer (save_file): tensors sorted as the reference sorts them (dtype descending in
    the reference's Dtype order, then name), data laid out back to back in that order,
    header = compact JSON {"__metadata__": {...}, name: {"dtype", "shape",
    "data_offsets"}, ...} padded with spaces to a multiple of 8 bytes, preceded by its
    length as a little-endian u64;
  * reader (load_file): the reference's checks -- header length <= 100 MB and within the
    file, UTF-8 JSON object, no duplicate keys, known dtypes, shape product * dtype
    size == end - begin, and the tensors' byte ranges, sorted, covering the data area
    exactly with neither gaps nor overlaps.

With the real package, `safetensors.torch.load_file` / `save_file` would be used
instead; the files are the same format.

Modes (run with Debian's /usr/bin/python3, which has torch):

  gen    Build the seed's Generator (PyTorch-GAN implementations/gan/gan.py), seeded,
         run two training-mode forwards so the BatchNorm buffers are non-trivial, and
         write tests/data/safetensors/torch_generator.safetensors (its state_dict) and
         torch_generator_io.safetensors (z [4 x 100], y_eval and y_train [4 x 784], and
         the BatchNorm buffers after the train-mode forward, "after_train.<name>").
         Also writes the fuzz seed corpus tests/fuzz/corpus/safetensors/.

  check  Load the libtinynn-written tests/data/safetensors/tinynn_generator.safetensors
         into the seed's Generator with load_state_dict(strict=True), run z from
         tinynn_generator_io.safetensors in eval and train mode, and compare with the
         outputs libtinynn recorded there. Also re-reads the torch_* goldens and checks
         they reproduce their recorded outputs. Exits non-zero on any mismatch.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

MAX_HEADER = 100_000_000
# The reference implementation's Dtype enum order (used to sort tensors when writing).
DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
               "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
# dtypes this reader converts (what libtinynn reads: F32 and I64)
NUMPY = {"F32": ("<f4", 4, torch.float32), "I64": ("<i8", 8, torch.int64)}
TORCH_TO_ST = {torch.float32: "F32", torch.int64: "I64"}

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data", "safetensors")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "safetensors")


# --------------------------------------------------------------- reference writer --

def serialize(tensors, metadata=None):
    """bytes of a safetensors file holding `tensors` (dict name -> torch.Tensor)."""
    items = []
    for name, t in tensors.items():
        if t.dtype not in TORCH_TO_ST:
            raise ValueError(f"{name}: dtype {t.dtype} not supported by this writer")
        items.append((name, t))
    items.sort(key=lambda nt: (-DTYPE_ORDER.index(TORCH_TO_ST[nt[1].dtype]), nt[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, at = [], 0
    for name, t in items:
        st_dtype = TORCH_TO_ST[t.dtype]
        blob = t.detach().contiguous().cpu().numpy().astype(NUMPY[st_dtype][0]).tobytes()
        header[name] = {"dtype": st_dtype, "shape": list(t.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def save_file(tensors, path, metadata=None):
    data = serialize(tensors, metadata)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------- reference reader --

class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise FormatError(f"duplicate key {k!r}")
        d[k] = v
    return d


def parse(buf, what="buffer"):
    """(dict name -> torch.Tensor in header order, metadata dict) from file bytes."""
    if len(buf) < 8:
        raise FormatError(f"{what}: {len(buf)} bytes, shorter than the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER:
        raise FormatError(f"{what}: header length {n} too large")
    if n > len(buf) - 8:
        raise FormatError(f"{what}: header length {n} beyond the file ({len(buf)} bytes)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{what}: bad header: {e}")
    if not isinstance(header, dict):
        raise FormatError(f"{what}: header is not an object")
    data = buf[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError(f"{what}: __metadata__ must map strings to strings")
    spans, out = [], {}
    for name, info in header.items():
        dt = info.get("dtype")
        if dt not in NUMPY:
            raise FormatError(f"{what}: tensor {name!r}: dtype {dt!r} not supported")
        shape, offs = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise FormatError(f"{what}: tensor {name!r}: bad shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and o >= 0 for o in offs)):
            raise FormatError(f"{what}: tensor {name!r}: bad data_offsets {offs!r}")
        b, e = offs
        if b > e or e > len(data):
            raise FormatError(f"{what}: tensor {name!r}: data_offsets {offs} out of range")
        np_dtype, size, _ = NUMPY[dt]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * size != e - b:
            raise FormatError(f"{what}: tensor {name!r}: shape {shape} needs {count * size} bytes, offsets hold {e - b}")
        arr = np.frombuffer(data, dtype=np_dtype, count=count, offset=b).reshape(shape).copy()
        out[name] = torch.from_numpy(arr)
        spans.append((b, e, name))
    at = 0
    for b, e, name in sorted(spans):
        if b != at:
            raise FormatError(f"{what}: tensor {name!r} at {b}, expected {at} (gap or overlap)")
        at = e
    if at != len(data):
        raise FormatError(f"{what}: data area {len(data)} bytes, tensors cover {at}")
    return out, metadata


def load_file(path):
    with open(path, "rb") as f:
        return parse(f.read(), path)


# ------------------------------------------------------ the seed's networks (gan.py) --
# PyTorch-GAN implementations/gan/gan.py with opt.latent_dim = 100, img_shape = (1, 28, 28).

LATENT_DIM = 100
IMG_SHAPE = (1, 28, 28)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(LATENT_DIM, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(IMG_SHAPE))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *IMG_SHAPE)
        return img


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()

        self.model = nn.Sequential(
            nn.Linear(int(np.prod(IMG_SHAPE)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        validity = self.model(img_flat)
        return validity


BN_LAYERS = ("model.3", "model.6", "model.9")


def run(g, z, train):
    """Generator output for z as [batch x 784], in train or eval mode."""
    g.train(train)
    with torch.no_grad():
        return g(z).reshape(z.shape[0], -1).clone()


# ----------------------------------------------------------------------------- gen --

def gen(out_dir, corpus_dir):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    g = Generator()
    # Two training-mode forwards so running_mean/var and num_batches_tracked move.
    for _ in range(2):
        run(g, torch.randn(16, LATENT_DIM), train=True)
    state = {k: v.clone() for k, v in g.state_dict().items()}
    z = torch.randn(4, LATENT_DIM)
    y_eval = run(g, z, train=False)
    y_train = run(g, z, train=True)  # updates the running statistics once more
    io = {"z": z, "y_eval": y_eval, "y_train": y_train}
    after = g.state_dict()
    for layer in BN_LAYERS:
        for buf in ("running_mean", "running_var", "num_batches_tracked"):
            io[f"after_train.{layer}.{buf}"] = after[f"{layer}.{buf}"].clone()
    os.makedirs(out_dir, exist_ok=True)
    md = {"format": "pt", "producer": f"gen_safetensors_goldens.py (torch {torch.__version__})"}
    save_file(state, os.path.join(out_dir, "torch_generator.safetensors"), md)
    save_file(io, os.path.join(out_dir, "torch_generator_io.safetensors"), md)
    print(f"wrote {out_dir}/torch_generator.safetensors ({len(state)} tensors) and torch_generator_io.safetensors")

    # Small valid files for the fuzzer to start from.
    os.makedirs(corpus_dir, exist_ok=True)
    seeds = {
        "empty": ({}, None),
        "metadata_only": ({}, {"format": "pt", "k\u00e9y": "v\"al\\ue\n"}),
        "scalar_i64": ({"n": torch.tensor(3, dtype=torch.int64)}, None),
        "f32_matrix": ({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, {"format": "pt"}),
        "mixed": ({"a.weight": torch.ones(2, 2), "a.bias": torch.zeros(2), "a.num_batches_tracked": torch.tensor(7),
                   "empty": torch.zeros(0, 3), "\u00fcnicode \U0001F600": torch.ones(1)}, {"x": "y"}),
    }
    for name, (tensors, meta) in seeds.items():
        with open(os.path.join(corpus_dir, name + ".safetensors"), "wb") as f:
            f.write(serialize(tensors, meta))
    print(f"wrote {len(seeds)} seeds to {corpus_dir}")


# --------------------------------------------------------------------------- check --

def compare(what, got, want, rtol, floor):
    """Relative error |a-b| / max(|a|, |b|, floor); prints the worst element."""
    got, want = got.double().reshape(-1), want.double().reshape(-1)
    if got.shape != want.shape:
        print(f"FAIL {what}: {got.numel()} values, expected {want.numel()}")
        return False
    err = (got - want).abs() / torch.maximum(torch.maximum(got.abs(), want.abs()), torch.tensor(floor, dtype=torch.float64))
    i = int(torch.argmax(err))
    ok = bool(err[i] <= rtol)
    print(f"{'ok  ' if ok else 'FAIL'} {what}: worst rel err {float(err[i]):.3g} at {i} "
          f"(got {float(got[i]):.9g}, want {float(want[i]):.9g}), tol {rtol:g}")
    return ok


RTOL, FLOOR = 1e-5, 1e-2  # as in tests/test_safetensors.c (PARITY_TOL, PARITY_FLOOR)


def check(data_dir):
    torch.set_num_threads(1)
    ok = True
    # 1. A file written by libtinynn loads into the seed's Generator, strictly.
    state, md = load_file(os.path.join(data_dir, "tinynn_generator.safetensors"))
    io, _ = load_file(os.path.join(data_dir, "tinynn_generator_io.safetensors"))
    print(f"tinynn_generator.safetensors: {len(state)} tensors, metadata {md}")
    g = Generator()
    g.load_state_dict(state, strict=True)  # raises on any missing/unexpected/mis-shaped tensor
    if g.model[3].num_batches_tracked.dtype != torch.int64 or g.model[3].num_batches_tracked.dim() != 0:
        print("FAIL num_batches_tracked is not an int64 scalar")
        ok = False
    ok &= compare("libtinynn file -> PyTorch, eval output", run(g, io["z"], False), io["y_eval"], RTOL, FLOOR)
    ok &= compare("libtinynn file -> PyTorch, train output", run(g, io["z"], True), io["y_train"], RTOL, FLOOR)
    # 2. The PyTorch goldens read back and reproduce their own outputs.
    state, _ = load_file(os.path.join(data_dir, "torch_generator.safetensors"))
    io, _ = load_file(os.path.join(data_dir, "torch_generator_io.safetensors"))
    g = Generator()
    g.load_state_dict(state, strict=True)
    ok &= compare("torch golden, eval output", run(g, io["z"], False), io["y_eval"], RTOL, FLOOR)
    ok &= compare("torch golden, train output", run(g, io["z"], True), io["y_train"], RTOL, FLOOR)
    # 3. The discriminator's names, for the C test's expectations.
    names = [f"{k} {list(v.shape)}" for k, v in Discriminator().state_dict().items()]
    print("discriminator state_dict:", ", ".join(names))
    print("check:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["gen", "check"])
    ap.add_argument("--dir", default=DATA, help="golden folder (default: tests/data/safetensors)")
    ap.add_argument("--corpus", default=CORPUS, help="fuzz seed corpus folder (gen)")
    a = ap.parse_args()
    if a.mode == "gen":
        gen(a.dir, a.corpus)
        return 0
    return check(a.dir)


if __name__ == "__main__":
    sys.exit(main())
