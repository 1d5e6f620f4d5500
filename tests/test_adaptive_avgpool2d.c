/* Unit tests of AdaptiveAvgPool2d (tnn_adaptive_avg_pool2d_new, tinynn/layers.h):
 * hand-computed windows (torch's floor/ceil index rule, overlapping and repeated rows),
 * global average pooling (1 x 1, torch's mean: signed zeros kept as torch keeps them),
 * values against a direct reference in torch's order (bit for bit), one unbatched
 * sample, refusals, describe, the same bits on 1, 2 and 3 threads, buffers reused
 * without allocating, allocation failures, and a CNN ending in global average pooling
 * in a Sequential, trained with Adam. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pool x ([1 x 1 x h x w]) to oh x ow; y and dx (for dy, or ones) bit for bit. */
static void pool_one(int oh, int ow, int h, int w, const float *x, const float *dy, const float *want_y,
                     const float *want_dx)
{
    tnn_module *m = tnn_adaptive_avg_pool2d_new(oh, ow);
    assert_non_null(m);
    tnn_tensor *xt = tnn_tensor_new4(1, 1, h, w);
    memcpy(xt->data, x, (size_t)h * (size_t)w * sizeof(float));
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, xt, &y));
    assert_int_equal(y->shape[2], oh);
    assert_int_equal(y->shape[3], ow);
    for (int i = 0; i < oh * ow; i++)
        if (memcmp(&y->data[i], &want_y[i], sizeof(float)) != 0)
            fail_msg("y[%d]: %g, expected %g", i, (double)y->data[i], (double)want_y[i]);
    tnn_tensor *g = tnn_tensor_new(y->ndim, y->shape);
    for (int i = 0; i < oh * ow; i++) g->data[i] = dy ? dy[i] : 1.0f;
    TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
    for (int i = 0; i < h * w; i++)
        if (memcmp(&dx->data[i], &want_dx[i], sizeof(float)) != 0)
            fail_msg("dx[%d]: %g, expected %g", i, (double)dx->data[i], (double)want_dx[i]);
    tnn_tensor_free(g);
    tnn_tensor_free(xt);
    tnn_module_free(m);
}

/* 1 x 5 to 1 x 3: columns [0, 2), [1, 4), [3, 5) (floor(o*5/3), ceil((o+1)*5/3)): the
 * windows overlap; 2 x 2 to 1 x 1: the mean; 1 x 2 to 1 x 3: [0,1), [0,2), [1,2). */
static void adaptive_hand_computed(void **state)
{
    (void)state;
    const float x[5] = {2, 4, 6, 8, 10}, y[3] = {3, 6, 9}, dy[3] = {2, 3, 4};
    const float dx[5] = {1, 2, 1, 3, 2};
    pool_one(1, 3, 1, 5, x, dy, y, dx);
    const float x2[4] = {1, 2, 3, 6}, y2[1] = {3}, dy2[1] = {8}, dx2[4] = {2, 2, 2, 2};
    pool_one(1, 1, 2, 2, x2, dy2, y2, dx2);
    const float x3[2] = {4, 8}, y3[3] = {4, 6, 8}, dy3[3] = {1, 4, 1}, dx3[2] = {3, 3};
    pool_one(1, 3, 1, 2, x3, dy3, y3, dx3);
    /* the same size: the identity */
    const float x4[6] = {1, -2, 3, -4, 5, -6}, dx4[6] = {1, 1, 1, 1, 1, 1};
    pool_one(2, 3, 2, 3, x4, NULL, x4, dx4);
}

/* torch's signed zeros: the general path divides its sum and keeps a -0 quotient, and
 * adds dL/dx from +0; the 1 x 1 path (mean) keeps -0 too, and sets dL/dx to dy / (H*W),
 * -0 for a -0 dy. A plane of one -0 averages to +0 (its sum starts from +0). */
static void adaptive_signed_zeros(void **state)
{
    (void)state;
    const float x[8] = {-1e-45f, 0, 0, 0, /**/ 0, 0, 0, 0}, y[2] = {-0.0f, 0.0f}, dy[2] = {-0.0f, -1e-45f};
    const float dx[8] = {0};
    pool_one(1, 2, 2, 4, x, dy, y, dx);
    const float x1[4] = {-1e-45f, 0, 0, 0}, y1[1] = {-0.0f}, dy1[1] = {-0.0f};
    const float dx1[4] = {-0.0f, -0.0f, -0.0f, -0.0f};
    pool_one(1, 1, 2, 2, x1, dy1, y1, dx1);
    const float z[1] = {-0.0f}, yz[1] = {0.0f}, dz[1] = {1};
    pool_one(1, 1, 1, 1, z, NULL, yz, dz);
}

/* torch's sum of n contiguous floats (SumKernel's order), written plainly: below 8
 * elements four interleaved cascades, else eight lanes of them after the tail. Only
 * sums of fewer than 16 * 4 * 8 = 512 elements are needed here, where each cascade is
 * one run: a plain sum. */
static float lane_sum(const float *x, long long n, long long stride)
{
    float part[4] = {0, 0, 0, 0};
    const long long rows = n / 4;
    for (int k = 0; k < 4; k++)
        for (long long i = 0; i < rows; i++) part[k] += x[(4 * i + k) * stride];
    for (long long i = rows * 4; i < n; i++) part[0] += x[i * stride];
    return part[0] + part[1] + part[2] + part[3];
}

static float small_torch_sum(const float *x, long long n)
{
    if (n < 8) return lane_sum(x, n, 1);
    float total = 0.0f;
    for (long long i = n / 8 * 8; i < n; i++) total += x[i];
    for (int l = 0; l < 8; l++) total += lane_sum(x + l, n / 8, 8);
    return total;
}

/* Direct adaptive average pooling in torch's terms. */
static void reference(int planes, int h, int w, int oh_n, int ow_n, const float *x, const float *dy, float *y, float *dx)
{
    for (int c = 0; c < planes; c++) {
        const float *xc = x + (size_t)c * h * w;
        float *dxc = dx + (size_t)c * h * w;
        if (oh_n == 1 && ow_n == 1) {
            y[c] = small_torch_sum(xc, (long long)h * w) / (float)(h * w);
            for (int i = 0; i < h * w; i++) dxc[i] = dy[c] / (float)(h * w);
            continue;
        }
        memset(dxc, 0, sizeof(float) * (size_t)h * w);
        for (int i = 0; i < oh_n; i++)
            for (int j = 0; j < ow_n; j++) {
                int h0 = i * h / oh_n, h1 = ((i + 1) * h + oh_n - 1) / oh_n;
                int w0 = j * w / ow_n, w1 = ((j + 1) * w + ow_n - 1) / ow_n;
                float sum = 0.0f;
                for (int a = h0; a < h1; a++)
                    for (int b = w0; b < w1; b++) sum += xc[a * w + b];
                size_t o = ((size_t)c * oh_n + i) * ow_n + j;
                y[o] = sum / (float)(h1 - h0) / (float)(w1 - w0);
                const float g = dy[o] / (float)(h1 - h0) / (float)(w1 - w0);
                for (int a = h0; a < h1; a++)
                    for (int b = w0; b < w1; b++) dxc[a * w + b] += g;
            }
    }
}

static void adaptive_values(void **state)
{
    (void)state;
    const int cases[][6] = {/* n, c, h, w, out_h, out_w */
                            {2, 3, 7, 9, 3, 4},  {1, 2, 10, 10, 3, 3}, {1, 1, 13, 7, 5, 2}, {2, 2, 5, 6, 7, 9},
                            {1, 2, 6, 6, 1, 3},  {1, 1, 9, 4, 4, 1},   {2, 2, 11, 11, 11, 11}, {3, 4, 1, 1, 1, 1},
                            {2, 3, 2, 3, 1, 1},  {2, 3, 4, 4, 1, 1},   {2, 3, 7, 7, 1, 1},   {1, 5, 15, 17, 1, 1}};
    tnn_rng r;
    tnn_rng_seed(&r, 21);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        tnn_module *m = tnn_adaptive_avg_pool2d_new(g[4], g[5]);
        tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
        tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        assert_int_equal(y->shape[0], g[0]);
        assert_int_equal(y->shape[1], g[1]);
        assert_int_equal(y->shape[2], g[4]);
        assert_int_equal(y->shape[3], g[5]);
        tnn_tensor *dy = tnn_tensor_new(4, y->shape);
        tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
        float *ry = malloc(y->size * sizeof(float)), *rdx = malloc(x->size * sizeof(float));
        reference(g[0] * g[1], g[2], g[3], g[4], g[5], x->data, dy->data, ry, rdx);
        if (memcmp(y->data, ry, y->size * sizeof(float)) != 0) fail_msg("case %zu: y differs", ci);
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
        assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
        if (memcmp(dx->data, rdx, x->size * sizeof(float)) != 0) fail_msg("case %zu: dx differs", ci);
        free(ry);
        free(rdx);
        tnn_tensor_free(dy);
        tnn_tensor_free(x);
        tnn_module_free(m);
    }
}

/* Global average pooling of large planes (cascade levels beyond the first) against the
 * mean in double: within a few ulps of the magnitudes summed. */
static void adaptive_global_large(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 22);
    tnn_module *m = tnn_adaptive_avg_pool2d_new(1, 1);
    tnn_tensor *x = tnn_tensor_new3(2, 300, 301);
    tnn_tensor_uniform(x, &r, 0.0f, 1.0f);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 3);
    for (int c = 0; c < 2; c++) {
        double s = 0.0;
        for (int i = 0; i < 300 * 301; i++) s += x->data[(size_t)c * 300 * 301 + (size_t)i];
        s /= 300.0 * 301.0;
        if (fabs(y->data[c] - s) > 1e-6 * s) fail_msg("plane %d: %.9g, mean %.9g", c, (double)y->data[c], s);
    }
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* One unbatched sample [C x H x W], as the same sample batched. */
static void adaptive_unbatched(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 23);
    for (int global = 0; global < 2; global++) {
        tnn_module *m = global ? tnn_adaptive_avg_pool2d_new(1, 1) : tnn_adaptive_avg_pool2d_new(3, 2);
        tnn_tensor *x = tnn_tensor_new3(2, 7, 5), *xb = tnn_tensor_new4(1, 2, 7, 5);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        memcpy(xb->data, x->data, x->size * sizeof(float));
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, xb, &y));
        tnn_tensor *yb = tnn_tensor_clone(y), *dy = tnn_tensor_new(4, y->shape);
        tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
        tnn_tensor *dxb = tnn_tensor_clone(dx);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        assert_int_equal(y->ndim, 3);
        assert_int_equal(y->shape[1], global ? 1 : 3);
        assert_memory_equal(y->data, yb->data, yb->size * sizeof(float));
        tnn_tensor *dy3 = tnn_tensor_new3(2, global ? 1 : 3, global ? 1 : 2);
        memcpy(dy3->data, dy->data, dy->size * sizeof(float));
        TU_ASSERT_OK(tnn_module_backward(m, dy3, &dx));
        assert_int_equal(dx->ndim, 3);
        assert_memory_equal(dx->data, dxb->data, dxb->size * sizeof(float));
        tnn_tensor_free(dy3);
        tnn_tensor_free(dy);
        tnn_tensor_free(dxb);
        tnn_tensor_free(yb);
        tnn_tensor_free(xb);
        tnn_tensor_free(x);
        tnn_module_free(m);
    }
}

static void adaptive_refusals_describe(void **state)
{
    (void)state;
    char d[96];
    assert_null(tnn_adaptive_avg_pool2d_new(0, 1));
    TU_ASSERT_MSG("adaptive_avg_pool2d(0 x 1)", "out_h must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_adaptive_avg_pool2d_new(2, -1));
    TU_ASSERT_MSG("out_w must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    tnn_module *m = tnn_adaptive_avg_pool2d_new(2, 3);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "adaptive_avg_pool2d(2 x 3)");
    assert_int_equal(tnn_module_num_params(m), 0);
    const tnn_tensor *y, *dx;
    tnn_tensor *x2 = tnn_tensor_new2(2, 64), *x = tnn_tensor_new4(2, 1, 5, 5), *dy = tnn_tensor_new4(2, 1, 2, 3);
    tnn_tensor *bad = tnn_tensor_new4(2, 1, 2, 2);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "adaptive_avg_pool2d(2 x 3)", "[2 x 64] is 2-D",
                  "[batch x channels x H x W]", NULL);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "before forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 1 x 2 x 2]", "[2 x 1 x 2 x 3]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    TU_ASSERT_ERR(tnn_module_forward(m, y, &y), TNN_ERR_ARG, "own output", NULL);
    /* an output larger than size_t can count, refused naming the module */
    tnn_module *huge = tnn_adaptive_avg_pool2d_new(INT_MAX, INT_MAX);
    tnn_tensor *x8 = tnn_tensor_new4(1, 8, 1, 1);
    TU_ASSERT_ERR(tnn_module_forward(huge, x8, &y), TNN_ERR_ARG, "adaptive_avg_pool2d(2147483647 x 2147483647)",
                  "[1 x 8 x 1 x 1]", "too large", NULL);
    tnn_tensor_free(x8);
    tnn_module_free(huge);
    tnn_tensor_free(bad);
    tnn_tensor_free(x2);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

/* The same bits on 1, 2 and 3 threads (inputs above 32,768 elements, split over the
 * threads), both paths. */
static void adaptive_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int cases[][6] = {{16, 8, 28, 28, 1, 1}, {8, 20, 15, 17, 4, 5}, {8, 33, 12, 12, 7, 7}};
    tnn_rng r;
    tnn_rng_seed(&r, 24);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        tnn_module *m = tnn_adaptive_avg_pool2d_new(g[4], g[5]);
        tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        tnn_tensor *y1 = NULL, *dx1 = NULL, *dy = NULL;
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            if (!y1) {
                y1 = tnn_tensor_clone(y);
                dy = tnn_tensor_new(4, y->shape);
                tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
            } else if (memcmp(y->data, y1->data, y1->size * sizeof(float)) != 0) {
                fail_msg("case %zu: forward on %d threads differs from 1 thread's", ci, threads);
            }
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            if (!dx1) dx1 = tnn_tensor_clone(dx);
            else if (memcmp(dx->data, dx1->data, dx1->size * sizeof(float)) != 0)
                fail_msg("case %zu: backward on %d threads differs from 1 thread's", ci, threads);
        }
        tnn_parallel_set_threads(1);
        tnn_tensor_free(y1);
        tnn_tensor_free(dx1);
        tnn_tensor_free(dy);
        tnn_tensor_free(x);
        tnn_module_free(m);
    }
}

/* No allocation after the first call of a shape; every allocation failing in turn:
 * TNN_ERR_NOMEM naming the module, nothing leaked, working again afterwards. */
static void adaptive_buffers_and_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 25);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 6, 5), *dy = tnn_tensor_new4(2, 2, 3, 2);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_module *m = tnn_adaptive_avg_pool2d_new(3, 2);
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
    assert_int_equal(tu_alloc_count(), 0);
    tu_alloc_uninstall();
    tnn_module_free(m);
    bool done = false;
    long failures = 0;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        m = tnn_adaptive_avg_pool2d_new(3, 2);
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            failures++;
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "adaptive_avg_pool2d"));
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
    assert_true(failures >= 3);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* Conv2d -> ReLU -> Conv2d -> ReLU -> AdaptiveAvgPool2d(1, 1) -> Flatten -> Linear: the
 * chain's dL/dx against the layers one by one, Adam lowering the loss, and the pool's
 * output buffer refused as the Sequential's input. */
static void adaptive_global_pool_cnn(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 26);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 8, 3, 2, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_adaptive_avg_pool2d_new(1, 1)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(8, 3, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(8, 1, 9, 9), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &y));
    for (int i = 1; i < 7; i++) {
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
        if (i == 4) assert_true(y->shape[1] == 8 && y->shape[2] == 1 && y->shape[3] == 1);
    }
    float loss = 0.0f;
    TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
    tnn_module_zero_grad(s);
    const tnn_tensor *g = grad;
    for (int i = 6; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *alone = tnn_tensor_clone(g);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_backward(s, grad, &dx));
    assert_memory_equal(dx->data, alone->data, alone->size * sizeof(float));
    tnn_tensor_free(alone);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 1e-2;
    tnn_optimizer *opt = tnn_adam_new(s, ap);
    float first = 0.0f;
    for (int step = 0; step < 60; step++) {
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
        if (step == 0) first = loss;
        tnn_optimizer_zero_grad(opt);
        TU_ASSERT_OK(tnn_module_backward(s, grad, NULL));
        TU_ASSERT_OK(tnn_optimizer_step(opt));
    }
    printf("CNN with global average pooling: cross-entropy %.4f -> %.4f after 60 Adam steps\n", first, loss);
    assert_true(loss < 0.75f * first);
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_adaptive_avg_pool2d_new(2, 2)));
    tnn_module *p2 = tnn_adaptive_avg_pool2d_new(4, 4);
    TU_ASSERT_OK(tnn_sequential_add(s2, p2));
    TU_ASSERT_OK(tnn_module_forward(p2, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG, "output buffer of child 1 (adaptive_avg_pool2d(4 x 4))",
                  "pass a copy", NULL);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(adaptive_hand_computed),
    cmocka_unit_test(adaptive_signed_zeros),
    cmocka_unit_test(adaptive_values),
    cmocka_unit_test(adaptive_global_large),
    cmocka_unit_test(adaptive_unbatched),
    cmocka_unit_test(adaptive_refusals_describe),
    cmocka_unit_test(adaptive_same_bits_on_any_thread_count),
    cmocka_unit_test(adaptive_buffers_and_allocation_failures),
    cmocka_unit_test(adaptive_global_pool_cnn),
};

TU_MAIN("adaptive_avgpool2d", tests)
