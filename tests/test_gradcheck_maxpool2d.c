/* Gradient checks of MaxPool2d (see common/gradcheck.h): 2x2 windows with stride 2,
 * 3x3 with stride 1 and padding 1 (overlapping windows: dL/dx adds), 3x3 with stride 2
 * and padding 1, the default stride on a batch of one, one unbatched sample, ceil_mode
 * (windows past the edge), and Conv2d -> MaxPool2d -> Tanh -> Flatten -> Linear in a
 * Sequential.
 *
 * Max pooling is piecewise linear: its derivative jumps where two elements of a window
 * swap places. The central differences move one value by up to 2h (4e-2 by default), so
 * the inputs are drawn distinct and at least 0.1 apart (a shuffled grid): no difference
 * straddles a swap. */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x's elements: a random permutation of (i - size/2) * 0.1, i = 0 .. size-1. */
static void fill_distinct(tnn_tensor *x, tnn_rng *r)
{
    for (size_t i = 0; i < x->size; i++) x->data[i] = ((float)i - (float)(x->size / 2)) * 0.1f;
    for (size_t i = x->size - 1; i > 0; i--) {
        size_t j = tnn_rng_below(r, (uint32_t)(i + 1));
        float t = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = t;
    }
}

/* MaxPool2d(k, stride, pad, ceil_mode) on an input of `ndim` dimensions `shape`. */
static void check_with(int k, int stride, int pad, bool ceil_mode, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 51);
    tnn_pool2d_params p = tnn_pool2d_defaults();
    p.stride = stride;
    p.padding = pad;
    p.ceil_mode = ceil_mode;
    tnn_module *m = tnn_max_pool2d_new_with(k, p);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    fill_distinct(x, &r);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1); /* no parameters: the input only */
    assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void check(int k, int stride, int pad, int ndim, const int *shape)
{
    check_with(k, stride, pad, false, ndim, shape);
}

/* 2x2, stride 2, batch 3 with 2 channels on 6x5: the last column is never read (its
 * gradient is zero). */
static void gradcheck_maxpool2d(void **state) { (void)state; check(2, 2, 0, 4, (int[]){3, 2, 6, 5}); }
/* 3x3, stride 1, padding 1: every element in up to nine windows, the maximum of several
 * receiving the sum of their dy. */
static void gradcheck_maxpool2d_overlap(void **state) { (void)state; check(3, 1, 1, 4, (int[]){2, 2, 5, 6}); }
/* 3x3, stride 2, padding 1 on 7x6: windows overlap by one row and column. */
static void gradcheck_maxpool2d_stride2_pad(void **state) { (void)state; check(3, 2, 1, 4, (int[]){2, 3, 7, 6}); }
/* Batch of one, one channel, the default stride (0: the kernel size). */
static void gradcheck_maxpool2d_batch1(void **state) { (void)state; check(2, 0, 0, 4, (int[]){1, 1, 6, 6}); }
/* One unbatched sample [C x H x W], 2x2 with stride 1 and padding 1. */
static void gradcheck_maxpool2d_unbatched(void **state) { (void)state; check(2, 1, 1, 3, (int[]){2, 4, 5}); }

/* ceil_mode, 3x3, stride 2, padding 1 on 8 x 10: 5 x 6 outputs, the last row's and
 * column's windows running past the padding (2 rows or columns of theirs inside the
 * input). */
static void gradcheck_maxpool2d_ceil(void **state) { (void)state; check_with(3, 2, 1, true, 4, (int[]){2, 2, 8, 10}); }

/* Conv2d(2 -> 3, k3, s1, p1) -> MaxPool2d(2) -> Tanh -> Flatten -> Linear(3*2*2 -> 4)
 * on [2 x 2 x 4 x 4]: the pool's dL/dx through a Sequential with the layers a small CNN
 * uses, the Conv2d's gradients reaching it through the pool. Here the pool's inputs are
 * the convolution's outputs, which the differences move too: a weight moved by s moves
 * the difference of two outputs by up to 2 s max|x|, an input element by up to
 * 2 s max|w| (a bias moves a whole channel). With the default h no difference of 2h
 * can make two elements of a window swap: the smallest gap between a window's largest
 * and second largest elements is asserted to be wider than 4 h max(max|x|, max|w|)
 * first (seed 219 draws one of the few weights and inputs with so wide a margin). */
static void gradcheck_maxpool2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 219);
    tnn_module *s = tnn_sequential_new();
    tnn_module *conv = tnn_conv2d_new(2, 3, 3, 1, 1, true, &r);
    TU_ASSERT_OK(tnn_sequential_add(s, conv));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_max_pool2d_new(2, 2, 0)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3 * 2 * 2, 4, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(2, 2, 4, 4);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_opts o = gradcheck_defaults();
    /* the margin, from the convolution's output */
    const tnn_tensor *z;
    TU_ASSERT_OK(tnn_module_forward(conv, x, &z));
    double gap = INFINITY, big = 0.0;
    for (size_t i = 0; i < x->size; i++) big = fmax(big, fabs(x->data[i]));
    tnn_tensor_list *p = tnn_module_parameters(conv, "");
    for (size_t i = 0; i < p->items[0].count; i++) big = fmax(big, fabs(((const float *)p->items[0].data)[i]));
    tnn_tensor_list_free(p);
    for (int c = 0; c < 2 * 3; c++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                float v[4];
                for (int q = 0; q < 4; q++) v[q] = z->data[(size_t)c * 16 + (size_t)(2 * i + q / 2) * 4 + (size_t)(2 * j + q % 2)];
                float a = fmaxf(fmaxf(v[0], v[1]), fmaxf(v[2], v[3])), b = -INFINITY;
                for (int q = 0; q < 4; q++)
                    if (v[q] != a) b = fmaxf(b, v[q]);
                gap = fmin(gap, (double)a - b);
            }
    printf("smallest gap in a window %.4g, the differences move it by at most %.4g\n", gap, 4.0 * o.h * big);
    assert_true(gap > 4.0 * o.h * big);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 5); /* input, 0.weight, 0.bias, 4.weight, 4.bias */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_maxpool2d),
    cmocka_unit_test(gradcheck_maxpool2d_overlap),
    cmocka_unit_test(gradcheck_maxpool2d_stride2_pad),
    cmocka_unit_test(gradcheck_maxpool2d_batch1),
    cmocka_unit_test(gradcheck_maxpool2d_unbatched),
    cmocka_unit_test(gradcheck_maxpool2d_ceil),
    cmocka_unit_test(gradcheck_maxpool2d_in_sequential),
};

TU_MAIN("gradcheck_maxpool2d", tests)
