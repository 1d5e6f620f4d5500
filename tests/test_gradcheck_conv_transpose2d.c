/* Gradient checks of ConvTranspose2d (see common/gradcheck.h): stride 1, 2 and 3,
 * padding 0, 1 and 2, output_padding 0 and 1, kernels 1 to 5 (one smaller than the
 * stride), with and without bias, batches of 1 and 3, non-square inputs, one unbatched
 * sample, a batch cut into several groups of samples, a frozen layer (dL/dx only),
 * gradients accumulated over two different batches, and a DCGAN-like Sequential
 * (ConvTranspose2d -> Tanh -> ConvTranspose2d). */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ConvTranspose2d(in -> out, k, stride, pad, opad) on an input of `ndim` dimensions `shape`. */
static void check(int in, int out, int k, int stride, int pad, int opad, bool bias, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 51);
    tnn_module *m = tnn_conv_transpose2d_new(in, out, k, stride, pad, opad, bias, &r);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, bias ? 3 : 2); /* input, weight (, bias) */
    assert_int_equal(rep.elements, x->size + (size_t)in * out * k * k + (bias ? (size_t)out : 0));
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* DCGAN's upsampling: 2 -> 3 channels, 4x4 kernel, stride 2, padding 1, batch 3 on 3x4
 * (6 x 8 out). Then a batch of 17 of 2 x 2 inputs, which conv_transpose2d.c cuts into
 * 9 groups of 2 samples (the last of 1), whose backward runs as 8 runs of groups, one of
 * two (its dW and db added over both). */
static void gradcheck_conv_transpose2d(void **state)
{
    (void)state;
    check(2, 3, 4, 2, 1, 0, true, 4, (int[]){3, 2, 3, 4});
    check(2, 2, 3, 2, 1, 1, true, 4, (int[]){17, 2, 2, 2});
}
/* DCGAN's first layer: a 1x1 input becomes the 4x4 kernel itself. */
static void gradcheck_conv_transpose2d_from_1x1(void **state) { (void)state; check(3, 2, 4, 1, 0, 0, true, 4, (int[]){3, 3, 1, 1}); }
/* Stride 1, no padding, 3x3 on 4x5: 6 x 7 out, every input element in 9 outputs. */
static void gradcheck_conv_transpose2d_stride1(void **state) { (void)state; check(2, 3, 3, 1, 0, 0, true, 4, (int[]){3, 2, 4, 5}); }
/* Stride 1 with padding 2 on a 5x5 kernel: the output as large as the input. */
static void gradcheck_conv_transpose2d_same(void **state) { (void)state; check(2, 2, 5, 1, 2, 0, true, 4, (int[]){2, 2, 4, 3}); }
/* output_padding 1 with stride 2 and padding 1, 3x3: the last output row and column
 * taken from the kernels' last row and column. */
static void gradcheck_conv_transpose2d_output_padding(void **state) { (void)state; check(2, 3, 3, 2, 1, 1, true, 4, (int[]){3, 2, 3, 4}); }
/* Kernel 2 under stride 3, output_padding 2: outputs no kernel reaches (their gradient
 * is the bias's alone). */
static void gradcheck_conv_transpose2d_gaps(void **state) { (void)state; check(2, 2, 2, 3, 0, 2, true, 4, (int[]){2, 2, 3, 2}); }
/* Padding 2 with stride 2 and a 5x5 kernel on 3x3: whole kernel rows cut. */
static void gradcheck_conv_transpose2d_wide_pad(void **state) { (void)state; check(1, 2, 5, 2, 2, 1, true, 4, (int[]){2, 1, 3, 3}); }
static void gradcheck_conv_transpose2d_nobias(void **state) { (void)state; check(2, 3, 4, 2, 1, 0, false, 4, (int[]){3, 2, 3, 3}); }
/* One channel in, batch of one, 1x1 kernel under stride 2. */
static void gradcheck_conv_transpose2d_batch1(void **state) { (void)state; check(1, 3, 1, 2, 0, 1, true, 4, (int[]){1, 1, 4, 3}); }
/* One unbatched sample [C x H x W], as torch's ConvTranspose2d takes it. */
static void gradcheck_conv_transpose2d_unbatched(void **state) { (void)state; check(2, 3, 3, 2, 1, 1, true, 3, (int[]){2, 3, 4}); }

/* Frozen (requires_grad false): dL/dx still right, against central differences of
 * L = sum(w * y) in double; the parameter gradients untouched. */
static void gradcheck_conv_transpose2d_frozen(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 52);
    tnn_module *m = tnn_conv_transpose2d_new(2, 3, 3, 2, 1, 1, true, &r);
    assert_non_null(m);
    tnn_module_set_requires_grad(m, false);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 3, 4), *w = NULL;
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
    printf("gradcheck conv_transpose2d frozen: dL/dx max rel err %.3g over %zu elements\n", worst, x->size);
    tu_assert_close(a, num, x->size, 2e-3, 1e-2, "frozen conv_transpose2d dL/dx");
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
static void gradcheck_conv_transpose2d_accumulates(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 53);
    tnn_module *m = tnn_conv_transpose2d_new(2, 3, 4, 2, 1, 0, true, &r);
    tnn_tensor *x1 = tnn_tensor_new4(3, 2, 3, 4), *x2 = tnn_tensor_new4(2, 2, 4, 2);
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

/* ConvTranspose2d(3 -> 4, k4) -> Tanh -> ConvTranspose2d(4 -> 2, k4, s2, p1) on
 * [2 x 3 x 1 x 1]: a DCGAN generator's first two layers (Tanh rather than ReLU: no kink
 * for the differences to straddle), 1x1 -> 4x4 -> 8x8. */
static void gradcheck_conv_transpose2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 54);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(3, 4, 4, 1, 0, 0, false, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(4, 2, 4, 2, 1, 0, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(2, 3, 1, 1);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 4); /* input, 0.weight, 2.weight, 2.bias */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_conv_transpose2d),
    cmocka_unit_test(gradcheck_conv_transpose2d_from_1x1),
    cmocka_unit_test(gradcheck_conv_transpose2d_stride1),
    cmocka_unit_test(gradcheck_conv_transpose2d_same),
    cmocka_unit_test(gradcheck_conv_transpose2d_output_padding),
    cmocka_unit_test(gradcheck_conv_transpose2d_gaps),
    cmocka_unit_test(gradcheck_conv_transpose2d_wide_pad),
    cmocka_unit_test(gradcheck_conv_transpose2d_nobias),
    cmocka_unit_test(gradcheck_conv_transpose2d_batch1),
    cmocka_unit_test(gradcheck_conv_transpose2d_unbatched),
    cmocka_unit_test(gradcheck_conv_transpose2d_frozen),
    cmocka_unit_test(gradcheck_conv_transpose2d_accumulates),
    cmocka_unit_test(gradcheck_conv_transpose2d_in_sequential),
};

TU_MAIN("gradcheck_conv_transpose2d", tests)
