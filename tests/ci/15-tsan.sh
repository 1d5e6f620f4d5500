#!/bin/sh
# The library's tests again, built with ThreadSanitizer: a data race in the library's
# own code — between the thread pool's workers and their callers, or between threads of
# a program using the library at once (test_threads) — is reported and fails the test.
# (OpenBLAS is not instrumented: what happens inside cblas_sgemm is not seen.) Of the
# command-line tests, which run the example programs end to end on 2 threads, all of
# label cli but cli_allocation_failures (80 s under TSan: it runs mnist_gan once per
# allocation) and two of label resume (training on 2 threads stopped by a signal and
# resumed; a SIGTERM from outside) run here; the others, much the same runs repeated,
# are left to the other stages. test_doc_cnn and test_doc_dcgan, which train the
# tutorial's networks on one thread (80 s under TSan for the first), are left to them
# too: one thread has no races to find. So are the accuracy sweeps (label math: the
# activations and vmath functions over millions of floats, on one thread).
# die_after_fork=0: test_vmath checks the pool in a child of fork().
set -eu
b="$BUILD-tsan"
cmake -S "$TOP" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYNN_SANITIZE_THREAD=ON \
      -DTINYNN_BUILD_BENCH=OFF >/dev/null
cmake --build "$b" -j "$JOBS" >/dev/null
export TSAN_OPTIONS=halt_on_error=1:die_after_fork=0
ctest --test-dir "$b" -j "$JOBS" -LE 'cli|resume|install|math' -E '^test_doc_(cnn|dcgan)$' --output-on-failure
ctest --test-dir "$b" -j "$JOBS" -L cli -E '^cli_allocation_failures$' --output-on-failure
ctest --test-dir "$b" -j "$JOBS" -R '^(resume_exact_two_threads|signal_sigterm_from_outside)$' --output-on-failure
