/* Unit tests of ELU, SiLU and GELU (tnn_elu_new, tnn_silu_new, tnn_gelu_new,
 * tinynn/layers.h; the other activations are tested in test_module.c): accuracy of
 * outputs and gradients against long double references over a sweep of floats, torch's
 * values at 0, -0, +-inf and NaN, the same bits from every ISA the kernels are cloned
 * for and on 1, 2 and 3 threads, describe and refusals, in-place work inside a
 * Sequential (ELU) or not (SiLU, GELU) giving the bits of the modules run alone,
 * buffers reused, and allocation failures. */
#include "testutil.h"
#include "vmath_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- references */

typedef long double ld;

static ld ref_sigmoid(ld x) { return x >= 0 ? 1.0L / (1.0L + expl(-x)) : expl(x) / (1.0L + expl(x)); }
static ld ref_elu(ld x, ld a) { return x > 0 ? x : a * expm1l(x); }
static ld ref_elu_grad(ld x, ld a) { return x > 0 ? 1.0L : a * expl(x); }
static ld ref_silu(ld x) { return x * ref_sigmoid(x); }
static ld ref_silu_grad(ld x)
{
    ld s = ref_sigmoid(x), c = ref_sigmoid(-x);
    return s * (1.0L + x * c);
}
static ld ref_cdf(ld x) { return x < 0 ? 0.5L * erfcl(-x / sqrtl(2.0L)) : 1.0L - 0.5L * erfcl(x / sqrtl(2.0L)); }
static ld ref_gelu(ld x) { return x * ref_cdf(x); }
static ld ref_gelu_grad(ld x) { return ref_cdf(x) + x * expl(-0.5L * x * x) / sqrtl(2.0L * 3.14159265358979323846264338L); }
static ld ref_u(ld x) { return sqrtl(2.0L / 3.14159265358979323846264338L) * (x + 0.044715L * x * x * x); }
static ld ref_gelu_tanh(ld x) { return x * ref_sigmoid(2.0L * ref_u(x)); }
static ld ref_gelu_tanh_grad(ld x)
{
    ld s = ref_sigmoid(2.0L * ref_u(x)), c = ref_sigmoid(-2.0L * ref_u(x));
    ld du = sqrtl(2.0L / 3.14159265358979323846264338L) * (1.0L + 3.0L * 0.044715L * x * x);
    return s + 2.0L * x * s * c * du;
}

/* ulps between two floats of the same sign (zeros of either sign are 0 apart) */
static int64_t ulps(float a, float b)
{
    if (a == b) return 0;
    if (isnan(a) || isnan(b) || (a < 0) != (b < 0)) return INT32_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    ia &= 0x7fffffff;
    ib &= 0x7fffffff;
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

enum fn { F_ELU1, F_ELU17, F_ELU_GRAD_NEG, F_SILU, F_SILU_GRAD, F_GELU, F_GELU_GRAD, F_GELU_TANH, F_GELU_TANH_GRAD, F_COUNT };
static const char *fn_names[F_COUNT] = {"elu(1)", "elu(1.7)", "elu(-0.6) dx", "silu", "silu dx",
                                        "gelu", "gelu dx", "gelu_tanh", "gelu_tanh dx"};

static float ours(int f, float x)
{
    switch (f) {
    case F_ELU1: return tnn_eluf(x, 1.0f);
    case F_ELU17: return tnn_eluf(x, 1.7f);
    case F_ELU_GRAD_NEG: return tnn_elu_grad_xf(1.0f, x, -0.6f);
    case F_SILU: return tnn_siluf(x);
    case F_SILU_GRAD: return tnn_silu_gradf(1.0f, x);
    case F_GELU: return tnn_geluf(x);
    case F_GELU_GRAD: return tnn_gelu_gradf(1.0f, x);
    case F_GELU_TANH: return tnn_gelu_tanhf(x);
    default: return tnn_gelu_tanh_gradf(1.0f, x);
    }
}

static ld reference(int f, ld x)
{
    switch (f) {
    case F_ELU1: return ref_elu(x, 1.0L);
    case F_ELU17: return ref_elu(x, (ld)1.7f);
    case F_ELU_GRAD_NEG: return ref_elu_grad(x, (ld)-0.6f);
    case F_SILU: return ref_silu(x);
    case F_SILU_GRAD: return ref_silu_grad(x);
    case F_GELU: return ref_gelu(x);
    case F_GELU_GRAD: return ref_gelu_grad(x);
    case F_GELU_TANH: return ref_gelu_tanh(x);
    default: return ref_gelu_tanh_grad(x);
    }
}

/* Every `stride`-th positive finite float and its negation against the reference
 * rounded to float: the largest difference must be at most 1 ulp (measured: see the
 * printout; the long double reference is good to 1e-18 relative, except SiLU's and
 * GELU's gradients within 1e-18 of their zeros, where neither matters at float's
 * resolution). */
static void sweep(uint32_t stride)
{
    for (int f = 0; f < F_COUNT; f++) {
        int64_t worst = 0;
        long off = 0, n = 0;
        float worst_x = 0.0f;
        for (uint32_t u = 0; u < 0x7f800000u; u += stride) {
            float p;
            memcpy(&p, &u, 4);
            for (int s = 0; s < 2; s++) {
                float x = s ? -p : p;
                float want = (float)reference(f, (ld)x);
                int64_t d = ulps(ours(f, x), want);
                n++;
                if (d) off++;
                if (d > worst) {
                    worst = d;
                    worst_x = x;
                }
            }
        }
        printf("%-13s worst %lld ulp (at %.9g), %ld of %ld values off by any\n", fn_names[f], (long long)worst,
               (double)worst_x, off, n);
        if (worst > 1) fail_msg("%s: %lld ulps at %.9g", fn_names[f], (long long)worst, (double)worst_x);
    }
}

static void activation_accuracy(void **state)
{
    (void)state;
    sweep(65537); /* 32 thousand values per function and sign (quick under valgrind);
                   * `test_activation sweep` (label math) takes every 997th float */
}

static uint32_t sweep_stride = 997;

static void activation_accuracy_sweep(void **state)
{
    (void)state;
    sweep(sweep_stride);
}

/* ---------------------------------------------------------------- torch's special values */

static bool same_bits(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

/* Output and dL/dx (dy = 1) at 0, -0, +inf, -inf, NaN, and where float overflow or
 * underflow decides: torch 1.13's values (tests/parity/gen_goldens.py prints them). */
static void activation_special_values(void **state)
{
    (void)state;
    const float inf = INFINITY, nan = NAN;
    const float x[] = {0.0f, -0.0f, inf, -inf, nan, -200.0f, 1e30f};
    struct {
        tnn_module *m;
        float y[7], dx[7];
    } cases[] = {
        /* ELU: (exp(0) - 1) * alpha = +0 at either zero; -inf gives -alpha, its slope 0 */
        {tnn_elu_new(1.0f), {0.0f, 0.0f, inf, -1.0f, nan, -1.0f, 1e30f}, {1.0f, 1.0f, 1.0f, 0.0f, nan, 0.0f, 1.0f}},
        {tnn_elu_new(2.5f), {0.0f, 0.0f, inf, -2.5f, nan, -2.5f, 1e30f}, {2.5f, 2.5f, 1.0f, 0.0f, nan, 0.0f, 1.0f}},
        /* a negative alpha: (exp(0) - 1) * -0.5 = -0 */
        {tnn_elu_new(-0.5f), {-0.0f, -0.0f, inf, 0.5f, nan, 0.5f, 1e30f}, {-0.5f, -0.5f, 1.0f, -0.0f, nan, -0.0f, 1.0f}},
        /* SiLU: -inf / (1 + exp(inf)) is NaN; the slope at +-inf is NaN (inf * 0) */
        {tnn_silu_new(), {0.0f, -0.0f, inf, nan, nan, -0.0f, 1e30f}, {0.5f, 0.5f, nan, nan, nan, -0.0f, 1.0f}},
        /* GELU: +0 at -0 as torch's oneDNN kernel gives; -inf * 0 is NaN */
        {tnn_gelu_new(false), {0.0f, 0.0f, inf, nan, nan, -0.0f, 1e30f}, {0.5f, 0.5f, nan, nan, nan, -0.0f, 1.0f}},
        {tnn_gelu_new(true), {0.0f, -0.0f, inf, nan, nan, -0.0f, 1e30f}, {0.5f, 0.5f, nan, nan, nan, -0.0f, 1.0f}},
    };
    tnn_tensor *xt = tnn_tensor_new2(1, 7), *dy = tnn_tensor_new2(1, 7);
    memcpy(xt->data, x, sizeof x);
    tnn_tensor_fill(dy, 1.0f);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_non_null(cases[k].m);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(cases[k].m, xt, &y));
        TU_ASSERT_OK(tnn_module_backward(cases[k].m, dy, &dx));
        for (int i = 0; i < 7; i++) {
            if (!same_bits(y->data[i], cases[k].y[i]))
                fail_msg("case %zu y(%g) = %g, expected %g", k, (double)x[i], (double)y->data[i], (double)cases[k].y[i]);
            /* the sign of a zero gradient is not torch's business: compare values */
            bool ok = isnan(cases[k].dx[i]) ? isnan(dx->data[i]) : dx->data[i] == cases[k].dx[i];
            if (!ok) fail_msg("case %zu dx(%g) = %g, expected %g", k, (double)x[i], (double)dx->data[i], (double)cases[k].dx[i]);
        }
        tnn_module_free(cases[k].m);
    }
    tnn_tensor_free(xt);
    tnn_tensor_free(dy);
}

/* A few values by hand (double-precision formulas) and the describe strings. */
static void activation_values_and_describe(void **state)
{
    (void)state;
    float xd[5] = {-2.0f, -0.5f, 0.25f, 0.5f, 3.0f};
    tnn_tensor *x = tnn_tensor_view(xd, 2, (int[]){1, 5});
    struct {
        tnn_module *m;
        const char *name;
        int f;
    } cases[] = {
        {tnn_elu_new(1.0f), "elu(alpha=1)", F_ELU1},
        {tnn_elu_new(1.7f), "elu(alpha=1.7)", F_ELU17},
        {tnn_silu_new(), "silu", F_SILU},
        {tnn_gelu_new(false), "gelu", F_GELU},
        {tnn_gelu_new(true), "gelu(approximate='tanh')", F_GELU_TANH},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_non_null(cases[k].m);
        const tnn_tensor *y;
        TU_ASSERT_OK(tnn_module_forward(cases[k].m, x, &y));
        double want[5];
        for (int i = 0; i < 5; i++) want[i] = (double)reference(cases[k].f, (ld)xd[i]);
        tu_assert_close(y->data, want, 5, 1e-7, 1e-30, cases[k].name);
        assert_int_equal(tnn_module_num_params(cases[k].m), 0);
        char d[64];
        assert_string_equal(tnn_module_describe(cases[k].m, d, sizeof d), cases[k].name);
        tnn_module_free(cases[k].m);
    }
    /* hand values: GELU(1) = Phi(1) = 0.841344746, SiLU(1) = 1/(1 + e^-1) = 0.731058579 */
    float one = 1.0f;
    assert_true(tnn_geluf(one) == 0.841344746f && tnn_siluf(one) == 0.731058579f);
    assert_true(tnn_eluf(-1.0f, 1.0f) == -0.632120559f && tnn_gelu_tanhf(one) == 0.841191990f);
    tnn_tensor_free(x);
}

static void activation_refusals(void **state)
{
    (void)state;
    assert_null(tnn_elu_new(NAN));
    TU_ASSERT_MSG("elu", "alpha", "finite", NULL);
    assert_null(tnn_elu_new(INFINITY));
    tnn_module *mods[] = {tnn_elu_new(1.0f), tnn_silu_new(), tnn_gelu_new(false), tnn_gelu_new(true)};
    const char *names[] = {"elu", "silu", "gelu", "gelu"};
    tnn_tensor *dy = tnn_tensor_new2(2, 3), *x = tnn_tensor_new2(2, 4), *bad = tnn_tensor_new2(3, 3);
    tnn_tensor_fill(x, 0.5f);
    const tnn_tensor *dx = dy, *y;
    for (size_t k = 0; k < 4; k++) {
        assert_non_null(mods[k]);
        TU_ASSERT_ERR(tnn_module_backward(mods[k], dy, &dx), TNN_ERR_STATE, names[k], "before forward", NULL);
        TU_ASSERT_OK(tnn_module_forward(mods[k], x, &y));
        TU_ASSERT_ERR(tnn_module_backward(mods[k], bad, &dx), TNN_ERR_SHAPE, names[k], "[3 x 3]", NULL);
        tnn_module_free(mods[k]);
    }
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_tensor_free(bad);
}

/* ---------------------------------------------------------------- the same bits everywhere */

#define N_BITS 20001 /* not a multiple of any vector width: every kernel has a tail */

static void fill_inputs(float *x, size_t n)
{
    tnn_rng r;
    tnn_rng_seed(&r, 77);
    for (size_t i = 0; i < n; i++) {
        /* log-uniform magnitudes from 1e-12 to 1e4, both signs, and specials */
        float u = tnn_rng_uniform(&r), v = tnn_rng_uniform(&r);
        x[i] = (v < 0.5f ? -1.0f : 1.0f) * powf(10.0f, -12.0f + 16.0f * u);
    }
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 3e38f, -3e38f, -0.75179f, -1.2785f};
    memcpy(x, sp, sizeof sp);
}

/* The kernels' loops compiled for one ISA (as TNN_CLONES does), output and gradient of
 * every function into out[2 * F_COUNT][n]. */
#define DEFINE_RUN(name, attr) \
    attr static void name(float *const *out, const float *x, size_t n) \
    { \
        for (size_t i = 0; i < n; i++) out[0][i] = tnn_eluf(x[i], 1.7f); \
        for (size_t i = 0; i < n; i++) out[1][i] = tnn_elu_grad_xf(0.5f, x[i], -0.6f); \
        for (size_t i = 0; i < n; i++) out[2][i] = tnn_siluf(x[i]); \
        for (size_t i = 0; i < n; i++) out[3][i] = tnn_silu_gradf(0.5f, x[i]); \
        for (size_t i = 0; i < n; i++) out[4][i] = tnn_geluf(x[i]); \
        for (size_t i = 0; i < n; i++) out[5][i] = tnn_gelu_gradf(0.5f, x[i]); \
        for (size_t i = 0; i < n; i++) out[6][i] = tnn_gelu_tanhf(x[i]); \
        for (size_t i = 0; i < n; i++) out[7][i] = tnn_gelu_tanh_gradf(0.5f, x[i]); \
    }
#define N_OUT 8
DEFINE_RUN(run_default, )
#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_ISA_RUNS 1
DEFINE_RUN(run_v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_RUN(run_v4, __attribute__((target("arch=x86-64-v4"))))
#endif

static float **alloc_outs(size_t n)
{
    float **o = malloc(N_OUT * sizeof *o);
    for (int k = 0; k < N_OUT; k++) o[k] = malloc(n * sizeof(float));
    return o;
}

static void free_outs(float **o)
{
    for (int k = 0; k < N_OUT; k++) free(o[k]);
    free(o);
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) fail_msg("%s: element %zu differs: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* The module's forward and backward (dy = 0.5) into out[2k], out[2k + 1]. */
static void run_modules(float *const *out, const float *x, size_t n)
{
    tnn_module *mods[4] = {tnn_elu_new(1.7f), tnn_silu_new(), tnn_gelu_new(false), tnn_gelu_new(true)};
    tnn_tensor *xt = tnn_tensor_new2(1, (int)n), *dy = tnn_tensor_new2(1, (int)n);
    memcpy(xt->data, x, n * sizeof(float));
    tnn_tensor_fill(dy, 0.5f);
    for (int k = 0; k < 4; k++) {
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(mods[k], xt, &y));
        TU_ASSERT_OK(tnn_module_backward(mods[k], dy, &dx));
        memcpy(out[2 * k], y->data, n * sizeof(float));
        memcpy(out[2 * k + 1], dx->data, n * sizeof(float));
        tnn_module_free(mods[k]);
    }
    tnn_tensor_free(xt);
    tnn_tensor_free(dy);
}

/* AVX2+FMA and AVX-512 builds of the loops (where this CPU has them) give the baseline
 * build's bits, and so do the library's kernels (whichever clone was picked at load),
 * except ELU's backward with alpha >= 0, torch's float formula from the output, which
 * is compared with it directly. */
static void activation_clones_agree(void **state)
{
    (void)state;
    float *x = malloc(N_BITS * sizeof(float));
    fill_inputs(x, N_BITS);
    float **base = alloc_outs(N_BITS), **other = alloc_outs(N_BITS);
    run_default(base, x, N_BITS);
    int isas = 0;
#ifdef HAVE_ISA_RUNS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        run_v3(other, x, N_BITS);
        for (int k = 0; k < N_OUT; k++) assert_same_bits(base[k], other[k], N_BITS, "x86-64-v3");
        isas++;
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq")) {
        run_v4(other, x, N_BITS);
        for (int k = 0; k < N_OUT; k++) assert_same_bits(base[k], other[k], N_BITS, "x86-64-v4");
        isas++;
    }
#endif
    printf("baseline build compared with %d other ISA builds\n", isas);
    run_modules(other, x, N_BITS);
    assert_same_bits(base[0], other[0], N_BITS, "elu module");
    for (size_t i = 0; i < N_BITS; i++) {
        float y = base[0][i], want = y > 0.0f ? 0.5f : 0.5f * (y + 1.7f);
        if (!same_bits(other[1][i], want)) fail_msg("elu dx %zu", i);
    }
    for (int k = 2; k < N_OUT; k++) assert_same_bits(base[k], other[k], N_BITS, fn_names[k]);
    free_outs(base);
    free_outs(other);
    free(x);
}

static void activation_same_bits_on_1_2_3_threads(void **state)
{
    (void)state;
    size_t n = 3 * 8192 + 7; /* several chunks of every kernel */
    float *x = malloc(n * sizeof(float));
    fill_inputs(x, n);
    float **ref = alloc_outs(n), **got = alloc_outs(n);
    int before = tnn_get_num_threads();
    tnn_set_num_threads(1);
    run_modules(ref, x, n);
    for (int t = 2; t <= 3; t++) {
        tnn_set_num_threads(t);
        run_modules(got, x, n);
        for (int k = 0; k < N_OUT; k++) assert_same_bits(ref[k], got[k], n, "threads");
    }
    tnn_set_num_threads(before);
    free_outs(ref);
    free_outs(got);
    free(x);
}

/* ---------------------------------------------------------------- in a Sequential */

/* Linear -> act -> Linear in a Sequential (an ELU works in place over the first
 * Linear's output and, in backward, over the second's dx; SiLU and GELU must not in
 * forward, their backward reading x) and the same modules' twins run one by one: the
 * same bits of output and of every gradient. */
static void check_in_sequential(tnn_module *(*make)(void), const char *what)
{
    tnn_rng r1, r2;
    tnn_rng_seed(&r1, 5);
    tnn_rng_seed(&r2, 5);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6, 9, true, &r1)));
    TU_ASSERT_OK(tnn_sequential_add(s, make()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(9, 4, true, &r1)));
    tnn_module *l1 = tnn_linear_new(6, 9, true, &r2), *act = make(), *l2 = tnn_linear_new(9, 4, true, &r2);
    tnn_tensor *x = tu_rand_tensor(&r1, 5, 6, -3.0f, 3.0f), *dy = tu_rand_tensor(&r1, 5, 4, -1.0f, 1.0f);
    for (int rep = 0; rep < 2; rep++) {
        const tnn_tensor *y, *dx, *h1, *h2, *y2, *g2, *g1, *dx2;
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
        TU_ASSERT_OK(tnn_module_forward(l1, x, &h1));
        TU_ASSERT_OK(tnn_module_forward(act, h1, &h2));
        TU_ASSERT_OK(tnn_module_forward(l2, h2, &y2));
        TU_ASSERT_OK(tnn_module_backward(l2, dy, &g2));
        TU_ASSERT_OK(tnn_module_backward(act, g2, &g1));
        TU_ASSERT_OK(tnn_module_backward(l1, g1, &dx2));
        assert_same_bits(y->data, y2->data, y->size, what);
        assert_same_bits(dx->data, dx2->data, dx->size, what);
        tnn_tensor_list *pa = tnn_module_parameters(s, ""), *pb1 = tnn_module_parameters(l1, ""),
                        *pb2 = tnn_module_parameters(l2, "");
        for (int i = 0; i < 4; i++) {
            const tnn_named_tensor *a = &pa->items[i], *b = i < 2 ? &pb1->items[i] : &pb2->items[i - 2];
            assert_non_null(a->grad);
            assert_same_bits(a->grad, b->grad, a->count, what);
        }
        tnn_tensor_list_free(pa);
        tnn_tensor_list_free(pb1);
        tnn_tensor_list_free(pb2);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(s);
    tnn_module_free(l1);
    tnn_module_free(act);
    tnn_module_free(l2);
}

static tnn_module *make_elu(void) { return tnn_elu_new(1.3f); }
static tnn_module *make_elu_neg(void) { return tnn_elu_new(-0.4f); }
static tnn_module *make_silu(void) { return tnn_silu_new(); }
static tnn_module *make_gelu(void) { return tnn_gelu_new(false); }
static tnn_module *make_gelu_tanh(void) { return tnn_gelu_new(true); }

static void activation_in_sequential(void **state)
{
    (void)state;
    check_in_sequential(make_elu, "elu");
    check_in_sequential(make_elu_neg, "elu(-0.4)");
    check_in_sequential(make_silu, "silu");
    check_in_sequential(make_gelu, "gelu");
    check_in_sequential(make_gelu_tanh, "gelu tanh");
}

/* Fed its own last output: an ELU with alpha >= 0 computes over it (ELU(ELU(x))), the
 * others refuse, their backward needing the input the forward would overwrite. */
static void activation_own_output(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 8);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -2.0f, 2.0f);
    tnn_module *elu = tnn_elu_new(1.0f);
    const tnn_tensor *y, *y2;
    TU_ASSERT_OK(tnn_module_forward(elu, x, &y));
    TU_ASSERT_OK(tnn_module_forward(elu, y, &y2));
    for (size_t i = 0; i < x->size; i++) assert_true(y2->data[i] == tnn_eluf(tnn_eluf(x->data[i], 1.0f), 1.0f));
    tnn_module_free(elu);
    tnn_module *mods[] = {tnn_elu_new(-0.5f), tnn_silu_new(), tnn_gelu_new(false), tnn_gelu_new(true)};
    const char *names[] = {"elu", "silu", "gelu", "gelu"};
    for (int k = 0; k < 4; k++) {
        TU_ASSERT_OK(tnn_module_forward(mods[k], x, &y));
        TU_ASSERT_ERR(tnn_module_forward(mods[k], y, &y2), TNN_ERR_ARG, names[k], "own output", NULL);
        tnn_module_free(mods[k]);
    }
    tnn_tensor_free(x);
}

/* ---------------------------------------------------------------- memory */

static tnn_module *make_k(int k)
{
    switch (k) {
    case 0: return tnn_elu_new(0.5f);
    case 1: return tnn_silu_new();
    case 2: return tnn_gelu_new(false);
    default: return tnn_gelu_new(true);
    }
}

static void activation_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_tensor *x = tu_rand_tensor(&r, 6, 7, -3.0f, 3.0f), *dy = tu_rand_tensor(&r, 6, 7, -1.0f, 1.0f);
    for (int k = 0; k < 4; k++) {
        tnn_module *m = make_k(k);
        const tnn_tensor *y, *dx, *y0, *dx0;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y0));
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx0));
        tu_alloc_install(-1);
        for (int i = 0; i < 3; i++) {
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            assert_ptr_equal(y, y0);
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_ptr_equal(dx, dx0);
        }
        long count = tu_alloc_count();
        tu_alloc_uninstall();
        assert_int_equal(count, 0);
        tnn_module_free(m);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

static void activation_allocation_failures(void **state)
{
    (void)state;
    const char *names[] = {"elu", "silu", "gelu", "gelu"};
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_tensor *x = tu_rand_tensor(&r, 2, 5, -3.0f, 3.0f), *dy = tu_rand_tensor(&r, 2, 5, -1.0f, 1.0f);
    for (int m_k = 0; m_k < 4; m_k++) {
        bool done = false;
        for (long k = 0; k < 20 && !done; k++) {
            tu_alloc_install(k);
            tnn_module *m = make_k(m_k);
            const tnn_tensor *y, *dx;
            tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
            if (!st) st = tnn_module_backward(m, dy, &dx);
            if (tu_alloc_count() <= k) {
                TU_ASSERT_OK(st);
                done = true;
            } else {
                assert_int_equal(st, TNN_ERR_NOMEM);
                assert_non_null(strstr(tnn_last_error(), names[m_k]));
                if (m) {
                    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
                }
            }
            tnn_module_free(m);
            long live = tu_alloc_live();
            tu_alloc_uninstall();
            assert_int_equal(live, 0);
        }
        assert_true(done);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(activation_accuracy),
    cmocka_unit_test(activation_special_values),
    cmocka_unit_test(activation_values_and_describe),
    cmocka_unit_test(activation_refusals),
    cmocka_unit_test(activation_clones_agree),
    cmocka_unit_test(activation_same_bits_on_1_2_3_threads),
    cmocka_unit_test(activation_in_sequential),
    cmocka_unit_test(activation_own_output),
    cmocka_unit_test(activation_buffers_reused),
    cmocka_unit_test(activation_allocation_failures),
};

/* `test_activation sweep [stride]` runs the finer accuracy sweep alone (label `math`:
 * every 997th float, 4.3 million values per function, about 7 s; `sweep 97`, 44 million
 * each, took 70 s and found one value 1 ulp off, SiLU's gradient at -9.62615013e-06). */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sweep") == 0) {
        if (argc > 2) sweep_stride = (uint32_t)strtoul(argv[2], NULL, 10);
        if (sweep_stride == 0) sweep_stride = 997;
        const struct CMUnitTest sweep_tests[] = {cmocka_unit_test(activation_accuracy_sweep)};
        return cmocka_run_group_tests_name("activation_sweep", sweep_tests, NULL, NULL);
    }
    return tu_main(argc, argv, "activation", tests, sizeof tests / sizeof tests[0]);
}
