/*
 * blas_note.h - which OpenBLAS kernels this process runs, and a hint when they leave
 * the CPU's AVX-512 unused.
 *
 * OpenBLAS chooses its kernels when it loads (DYNAMIC_ARCH builds, such as Debian's).
 * Releases before 0.3.22, Debian 12's 0.3.21 among them, do not recognise AMD Zen 4
 * and pick the AVX2 "Haswell" kernels on it, although Zen 4 runs OpenBLAS's AVX-512
 * "SkylakeX" kernels, which newer releases choose there: the seed GAN's products run
 * about 1.7x faster with them (docs/benchmarks.md). The environment variable
 * OPENBLAS_CORETYPE=SkylakeX, set before the program starts, selects them;
 * examples/run_mnist_gan.sh sets it when this CPU has AVX-512 and it is unset.
 */
#ifndef TINYNN_EXAMPLES_BLAS_NOTE_H
#define TINYNN_EXAMPLES_BLAS_NOTE_H

#include <stdbool.h>

/* OpenBLAS's name for the kernels in use ("Haswell", "SkylakeX", ...). */
const char *blas_core(void);
/* True if the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, BW,
 * DQ, VL) while OpenBLAS runs kernels without AVX-512. */
bool blas_avx512_unused(void);
/* Print one line to stderr saying so, naming the fix, if blas_avx512_unused(). */
void blas_note(const char *prog);

#endif
