#!/bin/sh
# Quick start, part 2: install what is missing, build, and run every test.
#   sh tests/run_tests.sh          everything CI runs: the test suite in a release
#                                  build, again under AddressSanitizer + UBSan and
#                                  (all but most command-line tests) ThreadSanitizer, the
#                                  core tests under valgrind memcheck, and each fuzzer
#                                  for a bounded time
#   sh tests/run_tests.sh --quick  only the test suite in a release build
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

if [ $quick = 1 ]; then
    sh "$top/cmake/install_deps.sh"
else
    sh "$top/cmake/install_deps.sh" clang valgrind libclang-rt-14-dev doxygen libtsan2
fi

step() { printf '\n==== %s (at %ss)\n' "$*" "$(( $(date +%s) - start ))"; }

build="${TINYNN_BUILD_DIR:-$top/build}"
step "dependencies in place"
step "release build and test suite ($build)"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
ctest --test-dir "$build" -j "$jobs" --output-on-failure
[ $quick = 1 ] && exit 0

for stage in "$top"/tests/ci/*.sh; do
    [ -f "$stage" ] || continue
    step "$(basename "$stage" .sh)"
    TOP="$top" BUILD="$build" JOBS="$jobs" sh "$stage"
done
echo "all test stages passed in $(( $(date +%s) - start ))s"
