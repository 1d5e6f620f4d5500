#!/bin/sh
# The library's tests again, built with ThreadSanitizer: a data race in the library's
# own code — between the thread pool's workers and their callers, or between threads of
# a program using the library at once (test_threads) — is reported and fails the test.
# (OpenBLAS is not instrumented: what happens inside cblas_sgemm is not seen.) The
# command-line tests (labels cli and resume) run mnist_gan end to end many times and are
# left to the other stages.
# die_after_fork=0: test_vmath checks the pool in a child of fork().
set -eu
b="$BUILD-tsan"
cmake -S "$TOP" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYNN_SANITIZE_THREAD=ON \
      -DTINYNN_BUILD_BENCH=OFF >/dev/null
cmake --build "$b" -j "$JOBS" >/dev/null
TSAN_OPTIONS=halt_on_error=1:die_after_fork=0 \
    ctest --test-dir "$b" -j "$JOBS" -LE 'cli|resume|install' --output-on-failure
