/* Vectorisable math for the element-wise kernels (private).
 *
 * glibc's tanhf/expf are calls the compiler cannot vectorise, and they dominated the
 * element-wise time of a GAN iteration; log, sin and cos did the same to the normal
 * generator. The inline versions here compute in double and use only arithmetic,
 * comparisons and bit casts, so loops over them vectorise (the library is built with
 * -fno-math-errno -fno-trapping-math, which change no result). tnn_tanhf and
 * tnn_sigmoidf have a relative error below 1e-15 before their one rounding to float, so
 * they give the correctly rounded float except in rare double-rounding ties (a sweep in
 * tests/test_vmath.c checks them against (float)tanh((double)x)); tnn_log_pos and
 * tnn_sincos_small are within an ulp of glibc's log, sin and cos on every input the
 * normal generator gives them (checked there too).
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

/* c[0] z^(n-1) + c[1] z^(n-2) + ... + c[n-1], by Horner's rule (a multiply and an add
 * per coefficient, in this order, whatever the clone). */
static inline double tnn_horner(double z, const double *c, int n)
{
    double p = c[0];
    for (int i = 1; i < n; i++) p = p * z + c[i];
    return p;
}

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

/* exp(y) for y <= 0 (y >= -708 is exact-range; smaller y is clamped, giving ~1e-308):
 * y = k ln2 + r, then exp(r) 2^k. softmax.c takes the same steps apart, each over a
 * block of elements, and must give these bits. */
static inline double tnn_exp_reduce(double y, uint64_t *scale_bits)
{
    y = y < -708.0 ? -708.0 : y;
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    double kd = y * log2e + shifter;
    int64_t kbits;
    memcpy(&kbits, &kd, sizeof kbits);
    kd -= shifter;
    /* 2^k from the integer the shifter left in the low mantissa bits */
    int64_t k = kbits - (int64_t)0x4338000000000000LL;
    *scale_bits = (uint64_t)(k + 1023) << 52;
    /* r = y - k ln2, |r| <= ln2/2, in two steps (Cody-Waite) */
    return y - kd * ln2_hi - kd * ln2_lo;
}

/* exp(r): Taylor polynomial to r^13 (highest first), truncation error < 2e-17 for
 * |r| <= 0.347 */
static const double tnn_exp_taylor[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                          1.0 / 362880.0,     1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,
                                          1.0 / 120.0,        1.0 / 24.0,        1.0 / 6.0,        0.5,
                                          1.0,                1.0};

static inline double tnn_exp_nonpos(double y)
{
    uint64_t sbits;
    double r = tnn_exp_reduce(y, &sbits), s;
    memcpy(&s, &sbits, sizeof s);
    return tnn_horner(r, tnn_exp_taylor, 14) * s;
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

/* exp(x) - 1 for x <= 0 with a relative error below 1e-15: near 0, where exp(x) - 1
 * cancels, the Taylor series x + x^2/2! + ... + x^13/13! (|x| <= ln2/2: truncation
 * below 1e-19), elsewhere exp(x) - 1 (|result| >= 0.29, so no cancellation). */
static inline double tnn_expm1_nonpos(double x)
{
    double small = x * tnn_horner(x, tnn_exp_taylor, 13);
    double big = tnn_exp_nonpos(x) - 1.0;
    return x >= -0.34657359027997264 ? small : big;
}

/* erfc(a) for a >= 0 (or +inf), relative error below 1e-12: below 2, 1 - erf(a) from
 * erf's Taylor series in a^2 to a^71 (truncation below 1e-19 at a = 2; the alternating
 * terms lose at most e^4 of double's precision, and erfc(2) = 0.0047 loses 200 times
 * more to the subtraction); from 2 up, exp(-a^2) / sqrt(pi) over Laplace's continued
 * fraction a + (1/2)/(a + 1/(a + (3/2)/(a + ...))) to 40 terms, evaluated backwards
 * (relative error below 5e-14 at a = 2, less above). Both branches are computed
 * (branch-free, so that loops over it vectorise); exp is clamped at exp(-708), far
 * under any float result it feeds. */
static inline double tnn_erfc_nonneg(double a)
{
    /* 2/sqrt(pi) (-1)^n / (n! (2n + 1)), n = 35 down to 0 */
    static const double c[36] = {
        -1.538027363683162e-42, 5.539127534424142e-41, -1.9395213725013487e-39, 6.597356545539203e-38,
        -2.1781748594796097e-36, 6.973730328792914e-35, -2.1630383901171243e-33, 6.492909974544561e-32,
        -1.8841244217042036e-30, 5.279103332510834e-29, -1.4263930180784176e-27, 3.71153285316323e-26,
        -9.28672901131906e-25, 2.2308786802746453e-23, -5.136209054585811e-22, 1.131218725924631e-20,
        -2.3784598852774293e-19, 4.763348040515068e-18, -9.063970842808673e-17, 1.6342614095367152e-15,
        -2.7835162072109215e-14, 4.4632242632864775e-13, -6.7113668551641105e-12, 9.422759064650411e-11,
        -1.2290555301717928e-09, 1.4807192815879218e-08, -1.6365844691234924e-07, 1.6462114365889248e-06,
        -1.492565035840625e-05, 0.00012055332981789664, -0.0008548327023450853, 0.005223977625442188,
        -0.026866170645131252, 0.11283791670955126, -0.37612638903183754, 1.1283791670955126};
    double z = a * a;
    double small = 1.0 - a * tnn_horner(z, c, 36);
    double t = a;
    for (int k = 40; k >= 1; k--) t = a + (0.5 * k) / t;
    double big = tnn_exp_nonpos(-z) * 0.5641895835477563 / t;
    return a < 2.0 ? small : big;
}

/* x Phi(x), Phi the standard normal CDF: torch's GELU ('none'), 0.5 x (1 + erf(x/sqrt2)),
 * as 0.5 x erfc(|x|/sqrt2) below 0 (no cancellation in the tail) and x (1 - 0.5
 * erfc(x/sqrt2)) above. Phi(x) is returned in *cdf for the backward. */
static inline double tnn_gelu_d(double x, double *cdf)
{
    double e = tnn_erfc_nonneg(fabs(x) * 0.70710678118654752440);
    double p = x < 0.0 ? 0.5 * e : 1.0 - 0.5 * e;
    *cdf = p;
    return x * p;
}

/* The activations ELU, SiLU and GELU in float, each computed in double and rounded
 * once (see tests/test_activation.c for their measured errors against long double
 * references). Where torch 1.13 gives NaN for an infinite input (SiLU and GELU at
 * -inf, whose formulas reach -inf * 0, and all their gradients at +-inf) these do as
 * well; at 0 they give torch's sign of zero. */

/* ELU: x > 0 ? x : alpha (exp(x) - 1); torch's (exp(0) - 1) * alpha at either zero. */
static inline float tnn_eluf(float xf, float alpha)
{
    double x = xf;
    double m = tnn_expm1_nonpos(x > 0.0 ? 0.0 : x); /* NaN stays NaN */
    m = x == 0.0 ? 0.0 : m;
    return x > 0.0 ? xf : (float)((double)alpha * m);
}

/* ELU's dL/dx from the input: g (x > 0) or g alpha exp(x) (torch's elu_backward with
 * is_result false; NaN gives NaN). */
static inline float tnn_elu_grad_xf(float g, float xf, float alpha)
{
    double x = xf;
    double e = tnn_exp_nonpos(x > 0.0 ? 0.0 : x);
    return x > 0.0 ? g : (float)((double)g * ((double)alpha * e));
}

/* sigmoid(x) and 1 - sigmoid(x), each without cancellation: e = exp(-|x|),
 * 1/(1 + e) and e/(1 + e). */
static inline void tnn_sigmoid_pair(double x, double *s, double *c)
{
    double e = tnn_exp_nonpos(-fabs(x)), inv = 1.0 / (1.0 + e), se = e * inv;
    *s = x >= 0.0 ? inv : se;
    *c = x >= 0.0 ? se : inv;
}

/* SiLU: x sigmoid(x) = x / (1 + exp(-x)). */
static inline float tnn_siluf(float xf)
{
    double x = xf, s, c;
    tnn_sigmoid_pair(x, &s, &c);
    float y = (float)(x * s);
    return xf == -INFINITY ? NAN : x != x ? xf : y;
}

/* SiLU's dL/dx: g s (1 + x (1 - s)), s = sigmoid(x). */
static inline float tnn_silu_gradf(float g, float xf)
{
    double x = xf, s, c;
    tnn_sigmoid_pair(x, &s, &c);
    float d = (float)((double)g * (s * (1.0 + x * c)));
    return isinf(xf) ? NAN : x != x ? xf : d;
}

/* GELU ('none'): x Phi(x); +0 at -0 (torch's oneDNN kernel gives +0 there). */
static inline float tnn_geluf(float xf)
{
    double x = xf, cdf;
    float y = (float)tnn_gelu_d(x, &cdf);
    return xf == -INFINITY ? NAN : x == 0.0 ? 0.0f : x != x ? xf : y;
}

/* GELU's dL/dx: g (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi). */
static inline float tnn_gelu_gradf(float g, float xf)
{
    double x = xf, cdf;
    (void)tnn_gelu_d(x, &cdf);
    double pdf = tnn_exp_nonpos(-0.5 * x * x) * 0.39894228040143267794;
    float d = (float)((double)g * (cdf + x * pdf));
    return isinf(xf) ? NAN : x != x ? xf : d;
}

/* GELU ('tanh'): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed as
 * x sigmoid(2u) (1 + tanh(u) = 2 sigmoid(2u)) so that nothing cancels below 0; x^3 in
 * double does not overflow. sigmoid(2u) and 1 - sigmoid(2u) go to *s and *c. */
static inline double tnn_gelu_tanh_d(double x, double *s, double *c)
{
    double u = 0.79788456080286535588 * (x + 0.044715 * (x * x * x));
    tnn_sigmoid_pair(2.0 * u, s, c);
    return x * *s;
}

static inline float tnn_gelu_tanhf(float xf)
{
    double s, c;
    float y = (float)tnn_gelu_tanh_d(xf, &s, &c);
    return xf == -INFINITY ? NAN : xf != xf ? xf : y;
}

/* Its dL/dx: g (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u'), u' = sqrt(2/pi) (1 +
 * 3 0.044715 x^2), with 0.5 (1 + tanh u) = s and 1 - tanh^2 u = 4 s (1 - s). */
static inline float tnn_gelu_tanh_gradf(float g, float xf)
{
    double x = xf, s, c;
    (void)tnn_gelu_tanh_d(x, &s, &c);
    double du = 0.79788456080286535588 * (1.0 + 3.0 * 0.044715 * (x * x));
    float d = (float)((double)g * (s + 2.0 * x * (s * c) * du));
    return isinf(xf) ? NAN : x != x ? xf : d;
}


/* log(x) for a positive, normal, finite double x (the only inputs the normal generator
 * gives it), within about one ulp: fdlibm's reduction x = 2^k m, m in [sqrt(1/2),
 * sqrt(2)), log(m) = f - (f^2/2 - s (f^2/2 + R)) with f = m - 1, s = f / (2 + f) and
 * R the series of 2 atanh(s) / s - 2 = 2s^2/3 + 2s^4/5 + ... (to s^24: truncation
 * below 1e-19 for |s| <= 0.1716). */
static inline double tnn_log_pos(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int64_t k = (int64_t)(bits >> 52) - 1023;
    uint64_t mbits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL; /* m in [1, 2) */
    double m;
    memcpy(&m, &mbits, sizeof m);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m; /* exact */
    k = big ? k + 1 : k;
    double f = m - 1.0; /* exact (Sterbenz) */
    double s = f / (2.0 + f), z = s * s;
    static const double c[] = {2.0 / 25.0, 2.0 / 23.0, 2.0 / 21.0, 2.0 / 19.0, 2.0 / 17.0, 2.0 / 15.0,
                               2.0 / 13.0, 2.0 / 11.0, 2.0 / 9.0,  2.0 / 7.0,  2.0 / 5.0,  2.0 / 3.0};
    double r = tnn_horner(z, c, 12) * z;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double dk = (double)k, hfsq = 0.5 * f * f;
    return dk * ln2_hi - ((hfsq - (s * (hfsq + r) + dk * ln2_lo)) - f);
}

/* sin(t) and cos(t) for 0 <= t < 7 (the normal generator's angles, 2 pi u), within about
 * one ulp: t = q pi/2 + x with x from four-part Cody-Waite reduction (fdlibm's pi/2
 * pieces; q <= 4, so each q * piece is exact), then Taylor polynomials on |x| <= pi/4
 * (to x^17 and x^18: truncation below 1e-19). */
static inline void tnn_sincos_small(double t, double *sin_t, double *cos_t)
{
    const double pio2_1 = 1.57079632673412561417e+00, pio2_2 = 6.07710050630396597660e-11,
                 pio2_3 = 2.02226624871116645580e-21, pio2_3t = 8.47842766036889956997e-32;
    const double shifter = 6755399441055744.0; /* adding it rounds to an integer */
    double qd = t * 6.36619772367581382433e-01 + shifter; /* t * 2/pi */
    int64_t qbits;
    memcpy(&qbits, &qd, sizeof qbits);
    qd -= shifter;
    int q = (int)((qbits - (int64_t)0x4338000000000000LL) & 3);
    double x = ((t - qd * pio2_1) - qd * pio2_2) - qd * pio2_3 - qd * pio2_3t;
    double z = x * x;
    /* sin x = x - x z (1/3! - z/5! + ... - z^7/17!), cos x = 1 - (z/2 - z^2 (1/4! - ... - z^7/18!)) */
    static const double cs[] = {-1.0 / 355687428096000.0, 1.0 / 1307674368000.0, -1.0 / 6227020800.0,
                                1.0 / 39916800.0,          -1.0 / 362880.0,      1.0 / 5040.0,
                                -1.0 / 120.0,              1.0 / 6.0};
    static const double cc[] = {-1.0 / 6402373705728000.0, 1.0 / 20922789888000.0, -1.0 / 87178291200.0,
                                1.0 / 479001600.0,         -1.0 / 3628800.0,       1.0 / 40320.0,
                                -1.0 / 720.0,              1.0 / 24.0};
    double sx = x - x * z * tnn_horner(z, cs, 8);
    double cx = 1.0 - (0.5 * z - z * z * tnn_horner(z, cc, 8));
    /* quadrant q: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s) */
    double a = (q & 1) ? cx : sx, b = (q & 1) ? sx : cx;
    *sin_t = (q & 2) ? -a : a;
    *cos_t = ((q + 1) & 2) ? -b : b;
}

#endif
