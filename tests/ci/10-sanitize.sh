#!/bin/sh
# The whole test suite again, built with AddressSanitizer + UndefinedBehaviorSanitizer.
# Any report fails the test that triggered it (-fno-sanitize-recover, leak checking on).
set -eu
b="$BUILD-sanitize"
cmake -S "$TOP" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYNN_SANITIZE=ON \
      -DTINYNN_BUILD_BENCH=OFF >/dev/null
cmake --build "$b" -j "$JOBS" >/dev/null
# The install/consumer test builds unsanitized programs against the library: skip it here.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$b" -j "$JOBS" -LE install --output-on-failure
