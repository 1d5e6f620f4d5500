#!/bin/sh
# Side-by-side benchmark, in one run: libtinynn's bench_gan (1 and 2 threads) and the
# PyTorch yardstick ($TORCH_BENCH, default ../shared/bench/torch_seed_gan.py) in its
# thread settings, interleaved over $ROUNDS rounds (default 3) so that both see the
# same machine; then peak memory of a one-epoch mnist_gan run and of the PyTorch
# script. On a CPU with AVX-512 both libraries are also timed with OpenBLAS's AVX-512
# kernels (OPENBLAS_CORETYPE=SkylakeX; see examples/blas_note.h), which OpenBLAS 0.3.21
# does not pick on AMD Zen 4 by itself. Needs a release build in $BUILD (default
# build/) and Debian's python3-torch.
#   sh bench/compare.sh [iters]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD:-$top/build}"
iters="${1:-200}"
rounds="${ROUNDS:-3}"
torch_bench="${TORCH_BENCH:-$top/../shared/bench/torch_seed_gan.py}"
py=/usr/bin/python3
have_torch=0
[ -f "$torch_bench" ] && $py -c 'import torch' 2>/dev/null && have_torch=1

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "(family $(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' '))"
echo "# OpenBLAS $(sed -n 's/^SET(OpenBLAS_VERSION "\(.*\)")/\1/p' /usr/lib/*/cmake/openblas/OpenBLASConfig.cmake 2>/dev/null | head -n 1), $iters iterations per timing"
avx512=0
grep -q avx512f /proc/cpuinfo 2>/dev/null && grep -q avx512bw /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo &&
    grep -q avx512vl /proc/cpuinfo && avx512=1
r=1
while [ $r -le "$rounds" ]; do
    for t in 1 2; do
        echo "round $r libtinynn n_cpu=$t: $("$build/bench/bench_gan" --iters "$iters" --repeats 3 --n_cpu "$t")"
    done
    [ $avx512 = 1 ] && echo "round $r libtinynn n_cpu=2 OPENBLAS_CORETYPE=SkylakeX: $(OPENBLAS_CORETYPE=SkylakeX "$build/bench/bench_gan" --iters "$iters" --repeats 3 --n_cpu 2)"
    if [ $have_torch = 1 ]; then
        for setting in "2 1" "1 1" "1 2"; do
            set -- $setting
            echo "round $r pytorch OPENBLAS_NUM_THREADS=$1 torch_threads=$2: $(OPENBLAS_NUM_THREADS=$1 $py "$torch_bench" --data "$top/data/mnist" --threads "$2" --iters "$iters" 2>&1 | tail -n 1)"
        done
        [ $avx512 = 1 ] && echo "round $r pytorch OPENBLAS_NUM_THREADS=2 torch_threads=1 OPENBLAS_CORETYPE=SkylakeX: $(OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 $py "$torch_bench" --data "$top/data/mnist" --threads 1 --iters "$iters" 2>&1 | tail -n 1)"
    fi
    r=$((r + 1))
done
if [ $have_torch = 0 ]; then
    if [ -f "$torch_bench" ]; then echo "pytorch: not available (apt-get install python3-torch python3-torchvision)"
    else echo "pytorch: skipped: no yardstick script at $torch_bench (set TORCH_BENCH to torch_seed_gan.py's path)"; fi
fi

if [ $have_torch = 1 ]; then
    /usr/bin/time -f "%M" -o /tmp/tnn_torch_rss sh -c "OPENBLAS_NUM_THREADS=2 $py '$torch_bench' --data '$top/data/mnist' --threads 1 --iters 100 >/dev/null 2>&1"
    awk '{printf "pytorch 100 iterations: peak_rss_mb %.1f\n", $1/1024}' /tmp/tnn_torch_rss
fi
out=$(mktemp -d)
/usr/bin/time -f "%M %e" -o "$out/time" "$build/examples/mnist_gan" --n_epochs 1 --n_cpu 2 --out "$out" >/dev/null 2>&1
awk '{printf "mnist_gan 1 epoch, n_cpu=2: peak_rss_mb %.1f, wall_s %s\n", $1/1024, $2}' "$out/time"
rm -rf "$out"
