#!/usr/bin/env python3
"""Golden files for tests/test_image.c and tests/test_idx.c, made with torchvision and
Pillow (Debian: python3-torchvision, python3-pil). Run from anywhere:

    /usr/bin/python3 tests/data/images/make_goldens.py

grid_<case>.f32  float32 little-endian images, shape (n, c, h, w) as in the name table below
grid_<case>.png  torchvision.utils.save_image(images, path, nrow=..., normalize=...)
resize_in.u8     one 28 x 28 8-bit image (a thick ring, like a digit's strokes, plus noise)
resize_<h>x<w>.u8  PIL Image.resize((w, h), Image.BILINEAR) of it, which is what the seed's
                   transforms.Resize(img_size) does to MNIST's PIL images
unit.f32         ToTensor() + Normalize([0.5], [0.5]) of the bytes 0..255
"""
import os

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.utils import save_image

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)

GRIDS = {  # name: (n, c, h, w, nrow, normalize)
    "mnist25": (25, 1, 28, 28, 5, True),
    "rgb7": (7, 3, 8, 12, 4, True),
    "single": (1, 1, 28, 28, 5, True),
    "raw10": (10, 1, 6, 6, 5, False),
}
for name, (n, c, h, w, nrow, norm) in GRIDS.items():
    x = torch.tanh(torch.randn(n, c, h, w) * 2.0)
    if not norm:
        x = x * 0.7 + 0.4  # some values outside [0, 1]: clamped
    x.numpy().astype("<f4").tofile(os.path.join(HERE, f"grid_{name}.f32"))
    save_image(x, os.path.join(HERE, f"grid_{name}.png"), nrow=nrow, normalize=norm)

yy, xx = np.mgrid[0:28, 0:28]
r = np.hypot(yy - 13.5, xx - 13.5)
ring = np.clip(255 - np.abs(r - 8) * 90, 0, 255)
noise = np.random.default_rng(0).integers(0, 40, (28, 28))
img = np.clip(ring + noise, 0, 255).astype(np.uint8)
img.tofile(os.path.join(HERE, "resize_in.u8"))
for (h, w) in [(16, 16), (32, 32), (64, 64), (7, 7), (20, 41)]:
    out = np.asarray(Image.fromarray(img, "L").resize((w, h), Image.BILINEAR))
    out.astype(np.uint8).tofile(os.path.join(HERE, f"resize_{h}x{w}.u8"))
# torchvision's own Resize takes the same path for a square image
assert (np.asarray(transforms.Resize(32)(Image.fromarray(img, "L"))) ==
        np.fromfile(os.path.join(HERE, "resize_32x32.u8"), np.uint8).reshape(32, 32)).all()

t = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
t(Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")).numpy().astype("<f4").tofile(
    os.path.join(HERE, "unit.f32"))
print("goldens written to", HERE)
