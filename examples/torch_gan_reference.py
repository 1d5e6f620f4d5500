#!/usr/bin/python3
"""Train the seed GAN in PyTorch and keep its generator where libtinynn's tools read it.

The yardstick for docs/quality.md: the same networks, loss, optimizers and batch order
rules as PyTorch-GAN's implementations/gan/gan.py, trained by PyTorch itself, so that
mnist_gan's sample quality can be compared with PyTorch's on the same scorer. Optional:
needs Debian's python3-torch (run it with /usr/bin/python3); nothing in the build or the
tests uses it.

  /usr/bin/python3 examples/torch_gan_reference.py --bn_eps 1e-5 --n_epochs 25 \\
      --snapshot_epochs 5,25 --seed 0 --out runs/torch_eps1e-5
  sh examples/quality_report.sh runs/torch_eps1e-5

Writes OUT/generator_epoch<E>.safetensors: the generator's state_dict under the seed's
names (model.0.weight, ...), with the __metadata__ mnist_gan writes (latent_dim,
img_size, channels, bn_eps, bn_momentum), so that mnist_gan_sample and
examples/quality_report.sh take it as they take mnist_gan's own snapshots. The file is
written by the small reference safetensors writer in tests/safetensors/ (the
`safetensors` package is not in Debian). One line per epoch goes to stdout.

Data: the bundled IDX file, pixels mapped to [-1, 1] by (x/255 - 0.5)/0.5 as
transforms.Normalize([0.5], [0.5]) does, reshuffled every epoch (DataLoader
shuffle=True, last partial batch kept), each batch: the generator step, then the
discriminator step on the same fake batch, detached.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "safetensors"))
from gen_safetensors_goldens import save_file  # noqa: E402  (reference safetensors writer)


def load_images(folder):
    for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                raw = f.read()
            if len(raw) < 16 or raw[:4] != b"\x00\x00\x08\x03":
                sys.exit(f"torch_gan_reference: {path}: not a uint8 IDX file of images")
            n, h, w = (int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
            if len(raw) != 16 + n * h * w or (h, w) != (28, 28):
                sys.exit(f"torch_gan_reference: {path}: expected {n} images of 28 x 28")
            x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28)
            return (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.5) / 0.5
    sys.exit(f"torch_gan_reference: no train-images-idx3-ubyte(.gz) in {folder}")


def build(latent, bn_eps, bn_momentum):
    def block(i, o, normalize=True):
        layers = [nn.Linear(i, o)]
        if normalize:
            layers.append(nn.BatchNorm1d(o, eps=bn_eps, momentum=bn_momentum))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(*block(latent, 128, normalize=False), *block(128, 256),
                                       *block(256, 512), *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())

        def forward(self, z):
            return self.model(z).view(z.size(0), 1, 28, 28)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                                       nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())

        def forward(self, img):
            return self.model(img.view(img.size(0), -1))

    return Generator(), Discriminator()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    p.add_argument("--out", required=True)
    p.add_argument("--n_epochs", type=int, default=25)
    p.add_argument("--snapshot_epochs", default="", help="comma-separated epochs to keep (the last is always kept)")
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.0002)
    p.add_argument("--b1", type=float, default=0.5)
    p.add_argument("--b2", type=float, default=0.999)
    p.add_argument("--latent_dim", type=int, default=100)
    p.add_argument("--bn_eps", type=float, default=0.8)
    p.add_argument("--bn_momentum", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    o = p.parse_args()
    if o.n_epochs < 1 or o.batch_size < 2:
        sys.exit("torch_gan_reference: --n_epochs must be >= 1 and --batch_size >= 2")
    try:
        snaps = {int(s) for s in o.snapshot_epochs.split(",") if s.strip()} | {o.n_epochs}
    except ValueError:
        sys.exit(f"torch_gan_reference: --snapshot_epochs '{o.snapshot_epochs}' is not a list of integers")
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    os.makedirs(o.out, exist_ok=True)

    X = load_images(o.data)
    G, D = build(o.latent_dim, o.bn_eps, o.bn_momentum)
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=o.lr, betas=(o.b1, o.b2))
    opt_d = torch.optim.Adam(D.parameters(), lr=o.lr, betas=(o.b1, o.b2))
    meta = {"format": "tinynn-gan", "latent_dim": o.latent_dim, "img_size": 28, "channels": 1,
            "bn_eps": repr(o.bn_eps), "bn_momentum": repr(o.bn_momentum), "trained_by": f"torch {torch.__version__}"}
    n = X.shape[0]
    for epoch in range(1, o.n_epochs + 1):
        t0 = time.time()
        perm = torch.randperm(n)
        for i in range(0, n, o.batch_size):
            imgs = X[perm[i:i + o.batch_size]]
            b = imgs.shape[0]
            valid = torch.ones(b, 1)
            fake = torch.zeros(b, 1)
            opt_g.zero_grad()
            z = torch.randn(b, o.latent_dim)
            gen_imgs = G(z)
            g_loss = bce(D(gen_imgs), valid)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (bce(D(imgs), valid) + bce(D(gen_imgs.detach()), fake)) / 2
            d_loss.backward()
            opt_d.step()
        print(f"[Epoch {epoch}/{o.n_epochs}] [D loss: {d_loss.item():f}] [G loss: {g_loss.item():f}] "
              f"{time.time() - t0:.1f} s", flush=True)
        if epoch in snaps:
            state = {k: v for k, v in G.state_dict().items()}
            save_file(state, os.path.join(o.out, f"generator_epoch{epoch}.safetensors"), meta)


if __name__ == "__main__":
    main()
