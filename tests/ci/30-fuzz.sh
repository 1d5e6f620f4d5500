#!/bin/sh
# Each libFuzzer target (tests/fuzz/fuzz_*.c), built with clang + ASan + UBSan, runs
# for FUZZ_SECONDS (default 20) from a copy of its committed seed corpus. The targets
# run side by side (they are single-threaded), so the stage takes FUZZ_SECONDS however
# many there are. A crash, leak, sanitizer report or timeout fails the stage.
set -eu
command -v clang >/dev/null || { echo "clang missing: apt-get install clang libclang-rt-14-dev"; exit 1; }
ls "$TOP"/tests/fuzz/fuzz_*.c >/dev/null 2>&1 || { echo "no fuzz targets"; exit 0; }
b="$BUILD-fuzz"
CC=clang cmake -S "$TOP" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYNN_BUILD_FUZZERS=ON \
      -DTINYNN_BUILD_TESTS=OFF -DTINYNN_BUILD_EXAMPLES=OFF -DTINYNN_BUILD_BENCH=OFF >/dev/null
cmake --build "$b" -j "$JOBS" >/dev/null
secs="${FUZZ_SECONDS:-20}"
pids=""
for src in "$TOP"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    corpus="$TOP/tests/fuzz/corpus/${name#fuzz_}"
    work="$b/corpus-$name"
    rm -rf "$work"; mkdir -p "$work"
    [ -d "$corpus" ] && cp "$corpus"/* "$work"/ 2>/dev/null || true
    echo "fuzzing $name for ${secs}s"
    (cd "$b" && "$b/tests/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "$work" >"$b/$name.log" 2>&1; echo $? >"$b/$name.rc") &
    pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
failed=0
for src in "$TOP"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    if [ "$(cat "$b/$name.rc" 2>/dev/null)" != 0 ]; then
        tail -n 60 "$b/$name.log"
        echo "$name: fuzzer found a problem"
        failed=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$b/$name.log" | sed "s/^/  $name /"
    fi
done
exit $failed
