/* Gradient checks of Conv2d (see common/gradcheck.h): padding 0 and 1, stride 1 and 2,
 * with and without bias, one and several channels in and out, batches of 1 and 3,
 * non-square inputs, a kernel as large as the input, one unbatched sample, a batch cut
 * into several groups of samples, a frozen layer (dL/dx only), gradients accumulated
 * over two different batches, and a Conv2d -> Tanh -> Flatten -> Linear Sequential. */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Conv2d(in -> out, k, stride, pad) on an input of `ndim` dimensions `shape`. */
static void check(int in, int out, int k, int stride, int pad, bool bias, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 41);
    tnn_module *m = tnn_conv2d_new(in, out, k, stride, pad, bias, &r);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, bias ? 3 : 2); /* input, weight (, bias) */
    assert_int_equal(rep.elements, x->size + (size_t)out * in * k * k + (bias ? (size_t)out : 0));
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* 2 -> 3 channels, 3x3 kernel, padding 1, batch 3 on 5x5. Then a batch of 17 with 2 x 2
 * outputs, which conv2d.c cuts into 9 groups of 2 samples (the last of 1) and whose
 * backward runs as 8 runs of groups, one of two (its dW and db added over both). */
static void gradcheck_conv2d(void **state)
{
    (void)state;
    check(2, 3, 3, 1, 1, true, 4, (int[]){3, 2, 5, 5});
    check(2, 2, 2, 1, 0, true, 4, (int[]){17, 2, 3, 3});
}
/* No padding: the output shrinks to 3x4. */
static void gradcheck_conv2d_nopad(void **state) { (void)state; check(2, 3, 3, 1, 0, true, 4, (int[]){3, 2, 5, 6}); }
/* Stride 2 with padding 1 on a 7x6 input: 4x3 out, the last row and column of the
 * padded input unused by one parity. */
static void gradcheck_conv2d_stride2(void **state) { (void)state; check(2, 3, 3, 2, 1, true, 4, (int[]){3, 2, 7, 6}); }
/* Stride 2, no padding, 2x2 kernel on 5x8: the last input row is never read (its
 * gradient is zero). */
static void gradcheck_conv2d_stride2_nopad(void **state) { (void)state; check(3, 2, 2, 2, 0, true, 4, (int[]){3, 3, 5, 8}); }
static void gradcheck_conv2d_nobias(void **state) { (void)state; check(2, 3, 3, 1, 1, false, 4, (int[]){3, 2, 5, 5}); }
/* One channel in, batch of one (MNIST-like, small). */
static void gradcheck_conv2d_batch1(void **state) { (void)state; check(1, 4, 3, 1, 1, true, 4, (int[]){1, 1, 6, 5}); }
/* The kernel covers the whole input: one output position, a Linear in disguise. */
static void gradcheck_conv2d_kernel_is_input(void **state) { (void)state; check(2, 3, 4, 1, 0, true, 4, (int[]){3, 2, 4, 4}); }
/* Padding larger than what the kernel needs: whole rows of zeros at the edges. */
static void gradcheck_conv2d_wide_pad(void **state) { (void)state; check(1, 2, 2, 1, 2, true, 4, (int[]){2, 1, 3, 4}); }
/* One unbatched sample [C x H x W], as torch's Conv2d takes it. */
static void gradcheck_conv2d_unbatched(void **state) { (void)state; check(2, 3, 3, 1, 1, true, 3, (int[]){2, 4, 5}); }

/* Frozen (requires_grad false): dL/dx still right, against central differences of
 * L = sum(w * y) in double; the parameter gradients untouched. */
static void gradcheck_conv2d_frozen(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 42);
    tnn_module *m = tnn_conv2d_new(2, 3, 3, 2, 1, true, &r);
    assert_non_null(m);
    tnn_module_set_requires_grad(m, false);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 5, 6), *w = NULL;
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    assert_non_null(p);
    for (int i = 0; i < p->count; i++)
        for (size_t j = 0; j < p->items[i].count; j++) p->items[i].grad[j] = 7.0f; /* sentinel */
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    w = tnn_tensor_new(y->ndim, y->shape);
    tnn_tensor_uniform(w, &r, -1.0f, 1.0f);
    TU_ASSERT_OK(tnn_module_backward(m, w, &dx));
    float *a = malloc(x->size * sizeof *a);
    memcpy(a, dx->data, x->size * sizeof *a);
    double *num = malloc(x->size * sizeof *num), worst = 0.0;
    const double h = 1e-2;
    for (size_t i = 0; i < x->size; i++) { /* the output is linear in x: one central difference is exact but for rounding */
        const float v = x->data[i];
        double L[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            x->data[i] = (float)(v + (sgn ? -h : h));
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            L[sgn] = 0.0;
            for (size_t j = 0; j < y->size; j++) L[sgn] += (double)w->data[j] * y->data[j];
        }
        num[i] = (L[0] - L[1]) / ((double)(float)(v + h) - (double)(float)(v - h));
        x->data[i] = v;
        double e = fabs(a[i] - num[i]) / fmax(fmax(fabs(a[i]), fabs(num[i])), 1e-2);
        if (e > worst) worst = e;
    }
    printf("gradcheck conv2d frozen: dL/dx max rel err %.3g over %zu elements\n", worst, x->size);
    tu_assert_close(a, num, x->size, 2e-3, 1e-2, "frozen conv2d dL/dx");
    for (int i = 0; i < p->count; i++)
        for (size_t j = 0; j < p->items[i].count; j++) assert_true(p->items[i].grad[j] == 7.0f);
    free(a);
    free(num);
    tnn_tensor_list_free(p);
    tnn_tensor_free(x);
    tnn_tensor_free(w);
    tnn_module_free(m);
}

/* Two different batches (of different sizes) without zeroing: the gradients are the
 * sum of each batch's own (each taken after discard_grad), float by float. */
static void gradcheck_conv2d_accumulates(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 43);
    tnn_module *m = tnn_conv2d_new(2, 3, 3, 1, 1, true, &r);
    tnn_tensor *x1 = tnn_tensor_new4(3, 2, 4, 5), *x2 = tnn_tensor_new4(2, 2, 6, 3);
    tnn_tensor_uniform(x1, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(x2, &r, -1.0f, 1.0f);
    /* the second batch's gradients must pass a check of their own ... */
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x2, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    size_t total = 0;
    for (int i = 0; i < p->count; i++) total += p->items[i].count;
    float *g1 = malloc(total * sizeof *g1), *g2 = malloc(total * sizeof *g2);
    const tnn_tensor *y, *dx;
    tnn_tensor *dys[2] = {NULL, NULL};
    tnn_tensor *xs[2] = {x1, x2};
    float *gs[2] = {g1, g2};
    for (int b = 0; b < 2; b++) { /* each batch's own gradients */
        TU_ASSERT_OK(tnn_module_forward(m, xs[b], &y));
        dys[b] = tnn_tensor_new(y->ndim, y->shape);
        tnn_tensor_uniform(dys[b], &r, -1.0f, 1.0f);
        tnn_module_discard_grad(m);
        TU_ASSERT_OK(tnn_module_backward(m, dys[b], &dx));
        size_t o = 0;
        for (int i = 0; i < p->count; i++) {
            memcpy(gs[b] + o, p->items[i].grad, p->items[i].count * sizeof(float));
            o += p->items[i].count;
        }
    }
    /* ... and together they add up, float by float, as torch's .grad += new does */
    tnn_module_zero_grad(m);
    for (int b = 0; b < 2; b++) {
        TU_ASSERT_OK(tnn_module_forward(m, xs[b], &y));
        TU_ASSERT_OK(tnn_module_backward(m, dys[b], NULL));
    }
    size_t o = 0;
    for (int i = 0; i < p->count; i++)
        for (size_t j = 0; j < p->items[i].count; j++, o++) {
            float want = 0.0f + g1[o];
            want += g2[o];
            if (p->items[i].grad[j] != want)
                fail_msg("%s[%zu]: %.9g accumulated, %.9g + %.9g apart", p->items[i].name, j, p->items[i].grad[j],
                         (double)g1[o], (double)g2[o]);
        }
    free(g1);
    free(g2);
    tnn_tensor_free(dys[0]);
    tnn_tensor_free(dys[1]);
    tnn_tensor_list_free(p);
    tnn_tensor_free(x1);
    tnn_tensor_free(x2);
    tnn_module_free(m);
}

/* Conv2d(2 -> 3, k3, s2, p1) -> Tanh -> Flatten -> Linear(3*3*3 -> 4) on [3 x 2 x 5 x 6]:
 * the layer's dL/dx and gradients through a Sequential with the layers a small CNN uses
 * (Tanh rather than ReLU: no kink for the differences to straddle). */
static void gradcheck_conv2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 44);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 3, 3, 2, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3 * 3 * 3, 4, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(3, 2, 5, 6);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 5); /* input, 0.weight, 0.bias, 3.weight, 3.bias */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_conv2d),
    cmocka_unit_test(gradcheck_conv2d_nopad),
    cmocka_unit_test(gradcheck_conv2d_stride2),
    cmocka_unit_test(gradcheck_conv2d_stride2_nopad),
    cmocka_unit_test(gradcheck_conv2d_nobias),
    cmocka_unit_test(gradcheck_conv2d_batch1),
    cmocka_unit_test(gradcheck_conv2d_kernel_is_input),
    cmocka_unit_test(gradcheck_conv2d_wide_pad),
    cmocka_unit_test(gradcheck_conv2d_unbatched),
    cmocka_unit_test(gradcheck_conv2d_frozen),
    cmocka_unit_test(gradcheck_conv2d_accumulates),
    cmocka_unit_test(gradcheck_conv2d_in_sequential),
};

TU_MAIN("gradcheck_conv2d", tests)
