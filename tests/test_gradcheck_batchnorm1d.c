/* Gradient checks of BatchNorm1d (see common/gradcheck.h): training mode (batch
 * statistics) at several batch sizes including 2, eval mode (running statistics),
 * without affine parameters and without running statistics; each with a small eps and
 * with the GAN's eps of 0.8, on columns of spreads far from 1 and means far from 0 (see
 * check()). */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

enum { C = 4 };

/* BatchNorm1d(C) with random gamma in [0.5, 1.5] and beta in [-0.5, 0.5], so that a
 * mix-up of the two or a missing gamma shows. */
static tnn_module *make_bn(tnn_batchnorm_params p, tnn_rng *r)
{
    tnn_module *m = tnn_batchnorm1d_new(C, p);
    assert_non_null(m);
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_non_null(l);
    for (int i = 0; i < l->count; i++) {
        tnn_named_tensor *t = &l->items[i];
        float *d = t->data;
        if (strcmp(t->name, "weight") == 0)
            for (size_t k = 0; k < t->count; k++) d[k] = 0.5f + tnn_rng_uniform(r);
        if (strcmp(t->name, "bias") == 0)
            for (size_t k = 0; k < t->count; k++) d[k] = tnn_rng_uniform(r) - 0.5f;
    }
    tnn_tensor_list_free(l);
    return m;
}

static int64_t batches_tracked(tnn_module *m)
{
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_non_null(l);
    const tnn_named_tensor *t = tnn_tensor_list_find(l, "num_batches_tracked");
    int64_t n = t ? *(const int64_t *)t->data : -1;
    tnn_tensor_list_free(l);
    return n;
}

/* Checks m on a random [rows x C] input whose every column has mean `offset` and
 * standard deviation `spread`. Batch normalisation bends on the scale of a column's
 * spread, so fixing it keeps the truncation error of the central difference at
 * ~(h/spread)^2 whatever the draw; an unlucky column of nearly equal values would
 * otherwise need a much smaller h. (One row has no spread; it is drawn as is.)
 *
 * The spreads are far from 1 (0.3 to 3) and the means far from 0: with eps small,
 * invstd ~ 1 / spread, so a gradient missing a factor of invstd (or with one too many)
 * is off by a factor of 3 or more, and a backward that forgets to subtract the mean
 * from x sees x - mean and x differ by more than the spread. */
static void check(tnn_module *m, tnn_rng *r, int rows, float offset, float spread, int tensors)
{
    tnn_tensor *x = tnn_tensor_new2(rows, C);
    assert_non_null(x);
    tnn_tensor_uniform(x, r, offset - spread, offset + spread);
    for (int j = 0; j < C && rows > 1; j++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < rows; i++) mean += *tnn_at2(x, i, j) / (double)rows;
        for (int i = 0; i < rows; i++) var += (*tnn_at2(x, i, j) - mean) * (*tnn_at2(x, i, j) - mean) / rows;
        for (int i = 0; i < rows; i++)
            *tnn_at2(x, i, j) = (float)(offset + spread * (*tnn_at2(x, i, j) - mean) / sqrt(var));
    }
    /* Every column bends on the scale of its spread (or of sqrt(eps), if larger), so a
     * step of spread / 10 (at most 5e-2) keeps the extrapolated truncation error
     * ~(h/spread)^4 near 1e-4, while it divides the float32 noise of a column of up
     * to 16 outputs by a step that is not too small. (The noise grows with the ratio of
     * offset to spread, the float rounding of x relative to x - mean: the checks keep
     * it below about 7.) */
    gradcheck_opts o = gradcheck_defaults();
    o.h = spread / 10.0 < 5e-2 ? spread / 10.0 : 5e-2;
    int64_t tracked = batches_tracked(m);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, tensors);
    /* The harness restores buffers: the check leaves the running statistics alone. */
    assert_int_equal(batches_tracked(m), tracked);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void train(int rows, float offset, float spread, double eps, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    check(make_bn(p, &r), &r, rows, offset, spread, 3);
}

/* Small eps (the default 1e-5 and 1e-3): invstd ~ 1 / spread.
 *
 * Two rows: per feature y = +-(d/2) / sqrt(d^2/4 + eps) with d = x0 - x1 = 2 * spread.
 * With a small eps and an O(1) spread y saturates at +-(1 - eps / (2 spread^2)) and dL/dx
 * ~ eps/d^3 lies below float32's resolution of y: it is compared against the floor and
 * gamma and beta carry the check. With eps comparable to the variance (0.5 or the
 * GAN's 0.8 below, vs a variance of 0.25 to 1) the curve bends and dL/dx is O(1): both
 * regimes are checked. */
static void gradcheck_batchnorm1d_train_b2(void **state) { (void)state; train(2, 2.0f, 3.0f, 1e-5, 43); }
static void gradcheck_batchnorm1d_train_b3(void **state) { (void)state; train(3, 1.5f, 0.3f, 1e-5, 44); }
static void gradcheck_batchnorm1d_train_b8(void **state) { (void)state; train(8, -2.0f, 3.0f, 1e-5, 49); }
static void gradcheck_batchnorm1d_train_b16(void **state) { (void)state; train(16, 1.2f, 0.4f, 1e-5, 57); }
static void gradcheck_batchnorm1d_train_b5_eps1e3(void **state) { (void)state; train(5, -1.0f, 0.5f, 1e-3, 58); }
static void gradcheck_batchnorm1d_train_b2_eps(void **state) { (void)state; train(2, -1.0f, 1.0f, 0.5, 42); }

/* eps = 0.8, as the GAN's BatchNorm1d(n, 0.8) (the 0.8 meant as momentum lands on
 * eps): invstd = 1 / sqrt(spread^2 + 0.8), far from 1 / spread, so a backward that
 * uses another eps (or none) than the forward's shows; at spread 2.5 it is still far
 * from 1 (0.38), so a missing factor of invstd shows as well. */
static void gradcheck_batchnorm1d_train_b2_gan(void **state) { (void)state; train(2, 1.5f, 0.7f, 0.8, 59); }
static void gradcheck_batchnorm1d_train_b8_gan(void **state) { (void)state; train(8, 1.0f, 2.5f, 0.8, 60); }
static void gradcheck_batchnorm1d_train_b16_gan(void **state) { (void)state; train(16, -1.5f, 0.3f, 0.8, 61); }

/* Non-default eps and momentum. */
static void gradcheck_batchnorm1d_train_eps(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 47);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.1;
    p.momentum = 0.3;
    check(make_bn(p, &r), &r, 4, 0.7f, 2.0f, 3);
}

/* Eval mode: running statistics moved away from (0, 1) by a few training batches of
 * values in [lo, hi] (variance (hi - lo)^2 / 12). */
static tnn_module *bn_with_history(tnn_rng *r, double eps, float lo, float hi)
{
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.momentum = 0.5;
    p.eps = eps;
    tnn_module *m = make_bn(p, r);
    tnn_tensor *x = tnn_tensor_new2(6, C);
    assert_non_null(x);
    for (int k = 0; k < 3; k++) {
        const tnn_tensor *y;
        tnn_tensor_uniform(x, r, lo, hi);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    }
    tnn_tensor_free(x);
    tnn_module_train(m, false);
    return m;
}

/* Running variance ~ 10 (invstd ~ 0.3), running mean ~ 2. */
static void gradcheck_batchnorm1d_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 48);
    check(bn_with_history(&r, 1e-5, -3.0f, 8.0f), &r, 3, 1.0f, 2.0f, 3);
}

/* Running variance ~ 0.2 with eps 0.8: invstd ~ 1 with eps, ~ 2.2 without. */
static void gradcheck_batchnorm1d_eval_gan(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 52);
    check(bn_with_history(&r, 0.8, 1.0f, 2.0f), &r, 5, -1.0f, 3.0f, 3);
}

/* Eval mode accepts a single row. Running variance ~ 0.2: invstd ~ 2.2. */
static void gradcheck_batchnorm1d_eval_b1(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 49);
    check(bn_with_history(&r, 1e-5, 1.0f, 2.0f), &r, 1, 3.0f, 1.0f, 3);
}

static void gradcheck_batchnorm1d_noaffine_train(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 50);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    check(make_bn(p, &r), &r, 5, 2.0f, 0.3f, 1);
}

/* Without running statistics eval mode normalises with batch statistics. */
static void untracked_eval(double eps, float offset, float spread, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    p.eps = eps;
    tnn_module *m = make_bn(p, &r);
    tnn_module_train(m, false);
    check(m, &r, 4, offset, spread, 3);
}

static void gradcheck_batchnorm1d_untracked_eval(void **state) { (void)state; untracked_eval(1e-5, -1.0f, 2.5f, 51); }
static void gradcheck_batchnorm1d_untracked_eval_gan(void **state) { (void)state; untracked_eval(0.8, 3.0f, 0.5f, 53); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_batchnorm1d_train_b2),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b3),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b8),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b16),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b5_eps1e3),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b2_eps),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b2_gan),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b8_gan),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b16_gan),
    cmocka_unit_test(gradcheck_batchnorm1d_train_eps),
    cmocka_unit_test(gradcheck_batchnorm1d_eval),
    cmocka_unit_test(gradcheck_batchnorm1d_eval_gan),
    cmocka_unit_test(gradcheck_batchnorm1d_eval_b1),
    cmocka_unit_test(gradcheck_batchnorm1d_noaffine_train),
    cmocka_unit_test(gradcheck_batchnorm1d_untracked_eval),
    cmocka_unit_test(gradcheck_batchnorm1d_untracked_eval_gan),
};

TU_MAIN("gradcheck_batchnorm1d", tests)
