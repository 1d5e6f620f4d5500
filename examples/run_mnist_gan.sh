#!/bin/sh
# Quick start, part 1: install what is missing, build in release mode, train the
# MNIST GAN. Extra arguments go to mnist_gan, e.g.:
#   sh examples/run_mnist_gan.sh --n_epochs 1 --out /tmp/gan
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/cmake/install_deps.sh"
build="${TINYNN_BUILD_DIR:-$top/build}"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# CMAKE_BUILD_PARALLEL_LEVEL, if set, chooses the build's jobs; else one per core.
cmake --build "$build" -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" --target mnist_gan mnist_gan_sample >/dev/null
# Debian 12's OpenBLAS (0.3.21) does not recognise AMD Zen 4 and runs its AVX2 kernels
# there; its AVX-512 kernels are ~1.7x faster on such CPUs (docs/benchmarks.md). Ask for
# them when the CPU has the AVX-512 subsets they use, unless the caller chose already.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo 2>/dev/null &&
    grep -q avx512bw /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo; then
    OPENBLAS_CORETYPE=SkylakeX
    export OPENBLAS_CORETYPE
fi
exec "$build/examples/mnist_gan" "$@"
