/* Gradient checks of LayerNorm (see common/gradcheck.h): rows of 10 (one vector and a
 * tail) and 37 values, a 2-D normalized_shape, no affine parameters, a small spread
 * (rstd ~ 3), a large eps, one unbatched row, and Linear -> LayerNorm -> Tanh -> Linear
 * in a Sequential.
 *
 * Every row is drawn with a mean far from 0 and a spread far from 1 (rescaled to exactly
 * that mean and spread), so that rstd is far from 1 and a backward that drops an rstd
 * factor, or the terms of the mean or the variance, is off by far more than the
 * tolerance. LayerNorm bends on the scale of a row's spread: the step h is 1/15 of it
 * (truncation after the extrapolation ~(1/15)^4), and its gradients scale with rstd =
 * 1/spread, so the floor of the relative error is 0.05/spread: elements far below the
 * typical gradient are compared against 2e-3 of that, above the float32 noise of the
 * differences (x - mean loses the bits of a mean several spreads from 0). */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* LayerNorm over normalized_shape shape (nd dimensions), weight U(0.5, 1.5) and bias
 * U(-0.5, 0.5) so that a mix-up of the two or a missing weight shows. */
static tnn_module *make_ln(int nd, const int *shape, bool affine, double eps, tnn_rng *r)
{
    tnn_layernorm_params p = tnn_layernorm_defaults();
    p.elementwise_affine = affine;
    p.eps = eps;
    tnn_module *m = tnn_layernorm_new(nd, shape, p);
    assert_non_null(m);
    tnn_tensor_list *l = tnn_module_parameters(m, "");
    assert_non_null(l);
    for (int i = 0; i < l->count; i++) {
        float *d = l->items[i].data;
        for (size_t k = 0; k < l->items[i].count; k++)
            d[k] = (strcmp(l->items[i].name, "weight") == 0 ? 0.5f : -0.5f) + tnn_rng_uniform(r);
    }
    tnn_tensor_list_free(l);
    return m;
}

/* x's rows of n values: mean `offset` plus a shift per row, standard deviation `spread`
 * exactly (up to rounding). */
static void fill_rows(tnn_tensor *x, size_t n, float offset, float spread, tnn_rng *r)
{
    tnn_tensor_uniform(x, r, -1.0f, 1.0f);
    for (size_t i = 0; i < x->size / n; i++) {
        float *v = x->data + i * n;
        double mean = 0.0, var = 0.0;
        for (size_t j = 0; j < n; j++) mean += v[j] / (double)n;
        for (size_t j = 0; j < n; j++) var += (v[j] - mean) * (v[j] - mean) / (double)n;
        const double row_mean = offset + 0.5 * (double)i * offset / 4.0;
        for (size_t j = 0; j < n; j++) v[j] = (float)(row_mean + spread * (v[j] - mean) / sqrt(var));
    }
}

static void check(int xnd, const int *xshape, int nd, bool affine, double eps, float offset, float spread, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_module *m = make_ln(nd, xshape + xnd - nd, affine, eps, &r);
    tnn_tensor *x = tnn_tensor_new(xnd, xshape);
    assert_non_null(x);
    size_t n = 1;
    for (int d = xnd - nd; d < xnd; d++) n *= (size_t)xshape[d];
    fill_rows(x, n, offset, spread, &r);
    gradcheck_opts o = gradcheck_defaults();
    o.h = spread / 15.0;
    o.floor = 0.05 / spread;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, affine ? 3 : 1);
    assert_int_equal(rep.elements, x->size + (affine ? 2 * n : 0));
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* [3 x 10]: rows of mean 5 and up, spread 4 (rstd 1/4). */
static void gradcheck_layernorm(void **state) { (void)state; check(2, (int[]){3, 10}, 1, true, 1e-5, 5.0f, 4.0f, 61); }
/* [2 x 37]: 4 vectors and a tail, mean -3 and below, spread 2.5. */
static void gradcheck_layernorm_37(void **state) { (void)state; check(2, (int[]){2, 37}, 1, true, 1e-5, -3.0f, 2.5f, 62); }
/* [2 x 2 x 3 x 4], normalized_shape [3 x 4]. */
static void gradcheck_layernorm_2d(void **state) { (void)state; check(4, (int[]){2, 2, 3, 4}, 2, true, 1e-5, 2.0f, 3.0f, 63); }
/* elementwise_affine=False: dL/dx only. */
static void gradcheck_layernorm_noaffine(void **state) { (void)state; check(3, (int[]){2, 3, 9}, 1, false, 1e-5, 3.0f, 0.6f, 64); }
/* Spread 0.3 (rstd ~ 3.3) around -1.5. */
static void gradcheck_layernorm_small_spread(void **state) { (void)state; check(2, (int[]){4, 12}, 1, true, 1e-5, -1.5f, 0.3f, 65); }
/* eps 0.5, comparable to the variance (spread 1.2): eps's place in rstd matters. */
static void gradcheck_layernorm_eps(void **state) { (void)state; check(2, (int[]){3, 8}, 1, true, 0.5, -2.0f, 1.2f, 66); }
/* One unbatched row [16]. */
static void gradcheck_layernorm_unbatched(void **state) { (void)state; check(1, (int[]){16}, 1, true, 1e-5, 3.0f, 2.0f, 67); }

/* Linear(6 -> 10) -> LayerNorm(10) -> Tanh -> Linear(10 -> 3) on [4 x 6]: the
 * LayerNorm's dL/dx reaching the first Linear's parameters. */
static void gradcheck_layernorm_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 68);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6, 10, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, make_ln(1, (int[]){10}, true, 1e-5, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(10, 3, true, &r)));
    tnn_tensor *x = tnn_tensor_new2(4, 6);
    tnn_tensor_uniform(x, &r, 1.0f, 3.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 7); /* input, 0.weight, 0.bias, 1.weight, 1.bias, 3.weight, 3.bias */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_layernorm),
    cmocka_unit_test(gradcheck_layernorm_37),
    cmocka_unit_test(gradcheck_layernorm_2d),
    cmocka_unit_test(gradcheck_layernorm_noaffine),
    cmocka_unit_test(gradcheck_layernorm_small_spread),
    cmocka_unit_test(gradcheck_layernorm_eps),
    cmocka_unit_test(gradcheck_layernorm_unbatched),
    cmocka_unit_test(gradcheck_layernorm_in_sequential),
};

TU_MAIN("gradcheck_layernorm", tests)
