#!/bin/sh
# Quick start, part 1: install what is missing, build in release mode, train the
# MNIST GAN. Extra arguments go to mnist_gan, e.g.:
#   sh examples/run_mnist_gan.sh --n_epochs 1 --out /tmp/gan
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/cmake/install_deps.sh"
build="${TINYNN_BUILD_DIR:-$top/build}"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target mnist_gan mnist_gan_sample >/dev/null
exec "$build/examples/mnist_gan" "$@"
