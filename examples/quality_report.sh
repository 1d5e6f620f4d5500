#!/bin/sh
# Score the generator snapshots of mnist_gan runs (--snapshot_epochs) with mnist_score
# and write a 5x5 grid per snapshot: the figures of docs/quality.md.
#   sh examples/quality_report.sh RUN_DIR [RUN_DIR ...]
# For each RUN_DIR/generator_epoch<E>.safetensors: 10,000 samples (seed 1, BatchNorm in
# train mode as the seed samples) -> RUN_DIR/samples_epoch<E>-idx3-ubyte.gz, scored
# against the MNIST test set; 25 samples (seed 0) -> RUN_DIR/grid_epoch<E>.png.
# Prints one markdown table row per snapshot.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD:-$top/build}"
clf="${CLASSIFIER:-$top/data/models/mnist_classifier.safetensors}"
for run in "$@"; do
    for e in $(ls "$run" | sed -n 's/^generator_epoch\([0-9]*\)\.safetensors$/\1/p' | sort -n); do
        w="$run/generator_epoch$e.safetensors"
        eps=$(grep -a -o '"bn_eps":"[^"]*"' "$w" | head -n 1 | cut -d'"' -f4)
        "$build/examples/mnist_gan_sample" --weights "$w" --n_samples 10000 --seed 1 \
            --idx "$run/samples_epoch$e-idx3-ubyte.gz" >/dev/null
        "$build/examples/mnist_gan_sample" --weights "$w" --n_samples 25 --seed 0 --png "$run/grid_epoch$e.png" >/dev/null
        json=$("$build/examples/mnist_score" --classifier "$clf" --idx "$run/samples_epoch$e-idx3-ubyte.gz" | tail -n 1)
        echo "$json" > "$run/score_epoch$e.json"
        printf '| %s | %s | %s |\n' "$eps" "$e" "$(echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
h = d.get("class_histogram", [])
print("%.2f | %.2f | %d | %s" % (d["fid"], d["inception_score"], d["classes_covered"], " ".join(str(x) for x in h)))')"
    done
done
