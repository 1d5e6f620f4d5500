/* Gradient checks of BatchNorm2d (see common/gradcheck.h): training mode (batch
 * statistics over N*H*W values per channel) with planes below one 8-lane vector, with
 * a vector and a tail, one sample, and an [N x C x 1 x 1] input (BatchNorm1d's kernel);
 * eval mode (running statistics); without affine parameters; without running
 * statistics. */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* BatchNorm2d(c) with random gamma in [0.5, 1.5] and beta in [-0.5, 0.5], so that a
 * mix-up of the two or a missing gamma shows. */
static tnn_module *make_bn(int c, tnn_batchnorm_params p, tnn_rng *r)
{
    tnn_module *m = tnn_batchnorm2d_new(c, p);
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

/* Checks m on a random [n x c x h x w] input whose every channel (its n*h*w values) has
 * mean `offset` and standard deviation `spread`, as test_gradcheck_batchnorm1d.c does
 * per column: the normalisation bends on the scale of the spread, so fixing it keeps
 * the truncation error at ~(h/spread)^4 whatever the draw. Spreads other than 1 (with
 * eps small, invstd ~ 1 / spread) make a factor of invstd missing from a gradient show. */
static void check(tnn_module *m, tnn_rng *r, const int shape[4], float offset, float spread, int tensors)
{
    tnn_tensor *x = tnn_tensor_new(4, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, r, offset - spread, offset + spread);
    const int n = shape[0], c = shape[1];
    const size_t hw = (size_t)shape[2] * (size_t)shape[3], count = (size_t)n * hw;
    for (int ch = 0; ch < c && count > 1; ch++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) mean += x->data[((size_t)i * c + ch) * hw + k] / (double)count;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                double d = x->data[((size_t)i * c + ch) * hw + k] - mean;
                var += d * d / (double)count;
            }
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                float *v = &x->data[((size_t)i * c + ch) * hw + k];
                *v = (float)(offset + spread * (*v - mean) / sqrt(var));
            }
    }
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

static void train(int n, int c, int h, int w, float offset, float spread, double eps, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    check(make_bn(c, p, &r), &r, (int[]){n, c, h, w}, offset, spread, 3);
}

/* 2 x 2 planes: 4 values, below one vector (the backward's sums add in order). */
static void gradcheck_batchnorm2d_train_small(void **state) { (void)state; train(3, 2, 2, 2, 0.5f, 0.6f, 1e-5, 61); }
/* 3 x 3 planes: one vector and a tail of 1. */
static void gradcheck_batchnorm2d_train_tail(void **state) { (void)state; train(2, 3, 3, 3, -0.3f, 1.7f, 1e-5, 62); }
/* One sample: the statistics are over its plane alone; eps 0.8 bends the curve. */
static void gradcheck_batchnorm2d_train_n1(void **state) { (void)state; train(1, 3, 4, 5, 1.0f, 1.0f, 0.8, 63); }
/* [N x C x 1 x 1]: BatchNorm1d's kernel. */
static void gradcheck_batchnorm2d_train_hw1(void **state) { (void)state; train(6, 3, 1, 1, 0.0f, 0.8f, 1e-5, 64); }

/* Eval mode: running statistics moved away from (0, 1) by a few training batches. */
static tnn_module *bn_with_history(int c, tnn_rng *r)
{
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.momentum = 0.5;
    tnn_module *m = make_bn(c, p, r);
    tnn_tensor *x = tnn_tensor_new(4, (int[]){3, c, 3, 4});
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

static void gradcheck_batchnorm2d_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 65);
    check(bn_with_history(3, &r), &r, (int[]){2, 3, 3, 3}, 1.0f, 1.0f, 3);
}

/* Eval mode accepts a single value per channel. */
static void gradcheck_batchnorm2d_eval_one_value(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 66);
    check(bn_with_history(3, &r), &r, (int[]){1, 3, 1, 1}, 1.0f, 1.0f, 3);
}

static void gradcheck_batchnorm2d_noaffine_train(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 67);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    check(make_bn(2, p, &r), &r, (int[]){2, 2, 3, 4}, 0.0f, 1.0f, 1);
}

static void gradcheck_batchnorm2d_noaffine_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 68);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    p.momentum = 0.5;
    tnn_module *m = make_bn(2, p, &r);
    tnn_tensor *x = tnn_tensor_new(4, (int[]){2, 2, 3, 3});
    assert_non_null(x);
    const tnn_tensor *y;
    tnn_tensor_uniform(x, &r, 0.5f, 3.0f);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    tnn_tensor_free(x);
    tnn_module_train(m, false);
    check(m, &r, (int[]){2, 2, 3, 3}, 0.5f, 1.0f, 1);
}

/* Without running statistics eval mode normalises with batch statistics. */
static void gradcheck_batchnorm2d_untracked_eval(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 69);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    tnn_module *m = make_bn(3, p, &r);
    tnn_module_train(m, false);
    check(m, &r, (int[]){2, 3, 2, 4}, 0.0f, 1.0f, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_batchnorm2d_train_small),
    cmocka_unit_test(gradcheck_batchnorm2d_train_tail),
    cmocka_unit_test(gradcheck_batchnorm2d_train_n1),
    cmocka_unit_test(gradcheck_batchnorm2d_train_hw1),
    cmocka_unit_test(gradcheck_batchnorm2d_eval),
    cmocka_unit_test(gradcheck_batchnorm2d_eval_one_value),
    cmocka_unit_test(gradcheck_batchnorm2d_noaffine_train),
    cmocka_unit_test(gradcheck_batchnorm2d_noaffine_eval),
    cmocka_unit_test(gradcheck_batchnorm2d_untracked_eval),
};

TU_MAIN("gradcheck_batchnorm2d", tests)
