/* Which OpenBLAS kernels run, and a hint when AVX-512 goes unused (see blas_note.h). */
#define _POSIX_C_SOURCE 200809L
#include "blas_note.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

const char *blas_core(void)
{
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

/* OpenBLAS x86-64 kernel sets that use AVX-512. */
static bool core_uses_avx512(const char *c)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", "Zen4", NULL};
    for (int i = 0; avx512[i]; i++)
        if (strcasecmp(c, avx512[i]) == 0) return true;
    return false;
}

bool blas_avx512_unused(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return cpu && !core_uses_avx512(blas_core());
#else
    return false;
#endif
}

void blas_note(const char *prog)
{
    if (!blas_avx512_unused()) return;
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && *set)
        fprintf(stderr,
                "%s: note: this CPU has AVX-512 but OpenBLAS runs its '%s' kernels, as OPENBLAS_CORETYPE=%s in the "
                "environment asks; OPENBLAS_CORETYPE=SkylakeX makes the matrix products about 1.7x faster "
                "(docs/benchmarks.md)\n", prog, blas_core(), set);
    else
        fprintf(stderr,
                "%s: note: this CPU has AVX-512 but OpenBLAS runs its '%s' kernels; OPENBLAS_CORETYPE=SkylakeX "
                "(set before starting) makes the matrix products about 1.7x faster (docs/benchmarks.md)\n",
                prog, blas_core());
}
