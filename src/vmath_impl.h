/* Vectorisable math for the element-wise kernels (private).
 *
 * glibc's tanhf/expf are calls the compiler cannot vectorise, and they dominated the
 * element-wise time of a GAN iteration. These inline versions compute in double with
 * a relative error below 1e-15 and round once to float, so they give the correctly
 * rounded float result except in rare double-rounding ties (an exhaustive-stride sweep
 * in tests/test_vmath.c checks them against (float)tanh((double)x)). They use only
 * arithmetic, comparisons and bit casts, so loops over them vectorise (the library is
 * built with -fno-math-errno -fno-trapping-math, which change no result).
 *
 * TNN_CLONES asks GCC/clang to compile a kernel for x86-64-v4 (AVX-512), x86-64-v3
 * (AVX2 + FMA) and the baseline and pick one at load time (ifunc), so one binary runs
 * everywhere and fast on new CPUs. FP contraction is off (-std=c11) and fmaf is exact
 * everywhere (an instruction in the v3/v4 clones, a libm call in the baseline), so
 * every clone computes the same bits. */
#ifndef TINYNN_VMATH_IMPL_H
#define TINYNN_VMATH_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Sanitizers instrument the ifunc resolvers, which run before the sanitizer's runtime is
 * set up: no clones in sanitized builds (GCC says so with __SANITIZE_*__, clang with
 * __has_feature). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TNN_NO_CLONES
#endif
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(TNN_NO_CLONES) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define TNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TNN_CLONES
#endif

/* exp(y) for y <= 0 (y >= -708 is exact-range; smaller y is clamped, giving ~1e-308). */
static inline double tnn_exp_nonpos(double y)
{
    y = y < -708.0 ? -708.0 : y;
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    double kd = y * log2e + shifter;
    int64_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    kd -= shifter;
    /* r = y - k ln2, |r| <= ln2/2, in two steps (Cody-Waite) */
    double r = y - kd * ln2_hi - kd * ln2_lo;
    /* exp(r): Taylor polynomial to r^13, truncation error < 2e-17 for |r| <= 0.347 */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k from the integer the shifter left in the low mantissa bits */
    int64_t k = kbits - (int64_t)0x4338000000000000LL;
    uint64_t sbits = (uint64_t)(k + 1023) << 52;
    double s;
    memcpy(&s, &sbits, sizeof s);
    return p * s;
}

/* tanh(x), odd, saturating at +-1; NaN in, NaN out; signed zeros kept. */
static inline float tnn_tanhf(float xf)
{
    double x = xf, a = fabs(x);
    double ac = a < 20.0 ? a : 20.0; /* tanh(20) rounds to 1 in float; keeps inf out */
    double e = tnn_exp_nonpos(-2.0 * ac);
    double t = (1.0 - e) / (1.0 + e);
    /* below 1e-3, (1 - e) cancels: use the series x - x^3/3 + 2x^5/15 */
    double a2 = a * a;
    double small = a * (1.0 - a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0)));
    t = a < 1e-3 ? small : t;
    t = copysign(t, x);
    return x != x ? xf : (float)t;
}

/* 1 / (1 + exp(-x)), without overflow for large |x|. */
static inline float tnn_sigmoidf(float xf)
{
    double x = xf;
    double e = tnn_exp_nonpos(-fabs(x));
    double s = (x >= 0.0 ? 1.0 : e) / (1.0 + e);
    return x != x ? xf : (float)s;
}

#endif
