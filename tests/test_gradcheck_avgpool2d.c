/* Gradient checks of AvgPool2d and AdaptiveAvgPool2d (see common/gradcheck.h):
 * AvgPool2d with 2x2 windows and stride 2,
 * 3x3 with stride 1 and padding 1 (overlapping windows: dL/dx adds) with
 * count_include_pad both ways, 3x3 with stride 2 and padding 1 not counting the padding
 * (divisors 4, 6 and 9 side by side), 5x5 with stride 3 and padding 2, the default
 * stride on a batch of one, one unbatched sample, ceil_mode with the padding counted
 * (torch's divisors of the windows past the edge) and with a divisor_override, and
 * Conv2d -> AvgPool2d -> Tanh -> Flatten -> Linear in a Sequential; AdaptiveAvgPool2d to a smaller size, to 1 x 1 (its
 * mean path), to a larger size, and on one unbatched sample. Average pooling is linear:
 * no input needs to be kept away from a kink. */
#include "gradcheck.h"
#include "testutil.h"

/* AvgPool2d(k, stride, pad, ceil_mode, cip, divisor_override) on an input of `ndim`
 * dimensions `shape`. */
static void check_with(int k, int stride, int pad, bool ceil_mode, bool cip, int divisor, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 61);
    tnn_pool2d_params p = tnn_pool2d_defaults();
    p.stride = stride;
    p.padding = pad;
    p.ceil_mode = ceil_mode;
    p.count_include_pad = cip;
    p.divisor_override = divisor;
    tnn_module *m = tnn_avg_pool2d_new_with(k, p);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1); /* no parameters: the input only */
    assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void check(int k, int stride, int pad, bool cip, int ndim, const int *shape)
{
    check_with(k, stride, pad, false, cip, 0, ndim, shape);
}

/* 2x2, stride 2, batch 3 with 2 channels on 6x5: the last column is never read (its
 * gradient is zero). */
static void gradcheck_avgpool2d(void **state) { (void)state; check(2, 2, 0, true, 4, (int[]){3, 2, 6, 5}); }
/* 3x3, stride 1, padding 1, the padding counted: every element in up to nine windows. */
static void gradcheck_avgpool2d_overlap(void **state) { (void)state; check(3, 1, 1, true, 4, (int[]){2, 2, 5, 6}); }
/* The same without counting the padding: edge windows divide by 4 or 6. */
static void gradcheck_avgpool2d_overlap_exclude_pad(void **state)
{
    (void)state;
    check(3, 1, 1, false, 4, (int[]){2, 2, 5, 6});
}
/* 3x3, stride 2, padding 1 on 7x6, the padding not counted. */
static void gradcheck_avgpool2d_stride2_pad(void **state) { (void)state; check(3, 2, 1, false, 4, (int[]){2, 3, 7, 6}); }
/* 5x5, stride 3, padding 2 on 9x8, the padding counted. */
static void gradcheck_avgpool2d_k5(void **state) { (void)state; check(5, 3, 2, true, 4, (int[]){1, 2, 9, 8}); }
/* Batch of one, one channel, the default stride (0: the kernel size). */
static void gradcheck_avgpool2d_batch1(void **state) { (void)state; check(2, 0, 0, true, 4, (int[]){1, 1, 6, 6}); }
/* One unbatched sample [C x H x W], 2x2 with stride 1 and padding 1, not counted. */
static void gradcheck_avgpool2d_unbatched(void **state) { (void)state; check(2, 1, 1, false, 3, (int[]){2, 4, 5}); }

/* ceil_mode, 3x3, stride 2, padding 1 on 8 x 10, the padding counted: the last row's and
 * column's windows run past the padded input and divide by 2 x 3, 3 x 2 and 2 x 2. */
static void gradcheck_avgpool2d_ceil(void **state)
{
    (void)state;
    check_with(3, 2, 1, true, true, 0, 4, (int[]){2, 2, 8, 10});
}
/* ceil_mode with divisor_override 5 (the padding not counted: no effect), 4x4, stride 3,
 * padding 2 on 10 x 11: the last row of windows dropped by torch's rule, the last
 * column past the edge. */
static void gradcheck_avgpool2d_ceil_divisor(void **state)
{
    (void)state;
    check_with(4, 3, 2, true, false, 5, 4, (int[]){1, 2, 10, 11});
}

/* Conv2d(2 -> 3, k3, s1, p1) -> AvgPool2d(3, 2, 1, count_include_pad=false) -> Tanh ->
 * Flatten -> Linear(3*2*2 -> 4) on [2 x 2 x 4 x 4]: the pool's dL/dx through a
 * Sequential, the Conv2d's gradients reaching it through the pool. */
static void gradcheck_avgpool2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 62);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 3, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_avg_pool2d_new(3, 2, 1, false)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3 * 2 * 2, 4, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(2, 2, 4, 4);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 5); /* input, 0.weight, 0.bias, 4.weight, 4.bias */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

/* AdaptiveAvgPool2d(out_h, out_w) on an input of `ndim` dimensions `shape`. */
static void check_adaptive(int out_h, int out_w, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 63);
    tnn_module *m = tnn_adaptive_avg_pool2d_new(out_h, out_w);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1);
    assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* AdaptiveAvgPool2d: 7 x 9 to 3 x 4 (overlapping windows), the
 * global 1 x 1 (the mean path), 5 x 6 to 7 x 9 (rows and columns repeated), one
 * unbatched sample. */
static void gradcheck_adaptive_avgpool2d(void **state) { (void)state; check_adaptive(3, 4, 4, (int[]){2, 3, 7, 9}); }
static void gradcheck_adaptive_avgpool2d_global(void **state) { (void)state; check_adaptive(1, 1, 4, (int[]){3, 2, 5, 6}); }
static void gradcheck_adaptive_avgpool2d_grow(void **state) { (void)state; check_adaptive(7, 9, 4, (int[]){1, 2, 5, 6}); }
static void gradcheck_adaptive_avgpool2d_unbatched(void **state) { (void)state; check_adaptive(2, 3, 3, (int[]){2, 5, 7}); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_avgpool2d),
    cmocka_unit_test(gradcheck_avgpool2d_overlap),
    cmocka_unit_test(gradcheck_avgpool2d_overlap_exclude_pad),
    cmocka_unit_test(gradcheck_avgpool2d_stride2_pad),
    cmocka_unit_test(gradcheck_avgpool2d_k5),
    cmocka_unit_test(gradcheck_avgpool2d_batch1),
    cmocka_unit_test(gradcheck_avgpool2d_unbatched),
    cmocka_unit_test(gradcheck_avgpool2d_ceil),
    cmocka_unit_test(gradcheck_avgpool2d_ceil_divisor),
    cmocka_unit_test(gradcheck_avgpool2d_in_sequential),
    cmocka_unit_test(gradcheck_adaptive_avgpool2d),
    cmocka_unit_test(gradcheck_adaptive_avgpool2d_global),
    cmocka_unit_test(gradcheck_adaptive_avgpool2d_grow),
    cmocka_unit_test(gradcheck_adaptive_avgpool2d_unbatched),
};

TU_MAIN("gradcheck_avgpool2d", tests)
