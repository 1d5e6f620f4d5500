/* Gradient checks of BatchNorm1d (see common/gradcheck.h): training mode (batch
 * statistics) at several batch sizes including 2, eval mode (running statistics),
 * without affine parameters and without running statistics. */
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
 * otherwise need a much smaller h. (One row has no spread; it is drawn as is.) */
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
    /* Every column bends on the scale of its spread (>= 0.5 here), so a step of 5e-2
     * keeps the extrapolated truncation error ~(h/spread)^4 small while it divides
     * the float32 noise of a column of up to 16 outputs by a larger step. */
    gradcheck_opts o = gradcheck_defaults();
    o.h = 5e-2;
    int64_t tracked = batches_tracked(m);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, tensors);
    /* The harness restores buffers: the check leaves the running statistics alone. */
    assert_int_equal(batches_tracked(m), tracked);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void train(int rows, float offset, float spread, double eps)
{
    tnn_rng r;
    tnn_rng_seed(&r, 41 + (uint64_t)rows);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    check(make_bn(p, &r), &r, rows, offset, spread, 3);
}

/* Two rows: per feature y = +-(d/2) / sqrt(d^2/4 + eps) with d = x0 - x1 = 2 * spread.
 * With the default eps and an O(1) spread y saturates at +-(1 - 2e-6) and dL/dx ~
 * eps/d^3 ~ 1e-5 lies below float32's resolution of y: it is compared against the
 * floor and gamma and beta carry the check. With eps comparable to the variance
 * (0.5 vs 1) the curve bends and dL/dx is O(1): both regimes are checked. */
static void gradcheck_batchnorm1d_train_b2(void **state) { (void)state; train(2, 0.5f, 1.0f, 1e-5); }
static void gradcheck_batchnorm1d_train_b2_eps(void **state) { (void)state; train(2, 0.0f, 1.0f, 0.5); }
static void gradcheck_batchnorm1d_train_b3(void **state) { (void)state; train(3, 0.5f, 1.0f, 1e-5); }
static void gradcheck_batchnorm1d_train_b8(void **state) { (void)state; train(8, -0.3f, 1.0f, 1e-5); }
static void gradcheck_batchnorm1d_train_b16(void **state) { (void)state; train(16, 1.0f, 1.0f, 1e-5); }

/* Non-default eps and momentum. */
static void gradcheck_batchnorm1d_train_eps(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 47);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.1;
    p.momentum = 0.3;
    check(make_bn(p, &r), &r, 4, 0.0f, 0.5f, 3);
}

/* Eval mode: running statistics moved away from (0, 1) by a few training batches. */
static tnn_module *bn_with_history(tnn_rng *r)
{
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.momentum = 0.5;
    tnn_module *m = make_bn(p, r);
    tnn_tensor *x = tnn_tensor_new2(6, C);
    assert_non_null(x);
    for (int k = 0; k < 3; k++) {
        const tnn_tensor *y;
        tnn_tensor_uniform(x, r, 0.5f, 3.0f);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    }
    tnn_tensor_free(x);
    tnn_module_train(m, false);
    return m;
}

static void gradcheck_batchnorm1d_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 48);
    check(bn_with_history(&r), &r, 3, 1.0f, 1.0f, 3);
}

/* Eval mode accepts a single row. */
static void gradcheck_batchnorm1d_eval_b1(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 49);
    check(bn_with_history(&r), &r, 1, 1.0f, 1.0f, 3);
}

static void gradcheck_batchnorm1d_noaffine_train(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 50);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    check(make_bn(p, &r), &r, 5, 0.0f, 1.0f, 1);
}

/* Without running statistics eval mode normalises with batch statistics. */
static void gradcheck_batchnorm1d_untracked_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 51);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    tnn_module *m = make_bn(p, &r);
    tnn_module_train(m, false);
    check(m, &r, 4, 0.0f, 1.0f, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_batchnorm1d_train_b2),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b2_eps),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b3),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b8),
    cmocka_unit_test(gradcheck_batchnorm1d_train_b16),
    cmocka_unit_test(gradcheck_batchnorm1d_train_eps),
    cmocka_unit_test(gradcheck_batchnorm1d_eval),
    cmocka_unit_test(gradcheck_batchnorm1d_eval_b1),
    cmocka_unit_test(gradcheck_batchnorm1d_noaffine_train),
    cmocka_unit_test(gradcheck_batchnorm1d_untracked_eval),
};

TU_MAIN("gradcheck_batchnorm1d", tests)
