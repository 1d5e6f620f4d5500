/* Unit tests of AvgPool2d (tnn_avg_pool2d_new, tnn_avg_pool2d_new_with,
 * tinynn/layers.h): hand-computed outputs and gradients with count_include_pad both
 * ways, zero padding, overlapping windows adding into dL/dx, signed zeros (+0 out, as
 * torch), the default stride, ceil_mode (torch's divisors of the windows past the edge)
 * and divisor_override, one unbatched sample, values against a direct reference in
 * torch's order over many geometries with all the settings (bit for bit), refusals (a
 * stride or padding near INT_MAX included, and of the settings), describe, no
 * parameters, the same bits on 1, 2 and 3 threads, buffers reused without allocating,
 * allocation failures, and a small CNN (Conv2d -> ReLU -> AvgPool2d -> Flatten ->
 * Linear) in a Sequential trained with Adam. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pool x ([1 x 1 x h x w], values row by row) with module m (freed here); y must hold
 * `ny` values and dx (for dy, or all ones when dy is NULL) h * w, bit for bit. */
static void pool_module(tnn_module *m, int h, int w, const float *x, const float *dy, const float *want_y, int ny,
                        const float *want_dx)
{
    assert_non_null(m);
    tnn_tensor *xt = tnn_tensor_new4(1, 1, h, w);
    memcpy(xt->data, x, (size_t)h * (size_t)w * sizeof(float));
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, xt, &y));
    assert_int_equal((int)y->size, ny);
    for (int i = 0; i < ny; i++) {
        bool same = isnan(want_y[i]) ? isnan(y->data[i]) : memcmp(&y->data[i], &want_y[i], sizeof(float)) == 0;
        if (!same) fail_msg("y[%d]: %g, expected %g", i, (double)y->data[i], (double)want_y[i]);
    }
    tnn_tensor *g = tnn_tensor_new(y->ndim, y->shape);
    for (int i = 0; i < ny; i++) g->data[i] = dy ? dy[i] : 1.0f;
    TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
    for (int i = 0; i < h * w; i++)
        if (memcmp(&dx->data[i], &want_dx[i], sizeof(float)) != 0)
            fail_msg("dx[%d]: %g, expected %g", i, (double)dx->data[i], (double)want_dx[i]);
    tnn_tensor_free(g);
    tnn_tensor_free(xt);
    tnn_module_free(m);
}

/* The same with AvgPool2d(k, s, p, cip). */
static void pool_one(int k, int s, int p, bool cip, int h, int w, const float *x, const float *dy, const float *want_y,
                     int ny, const float *want_dx)
{
    pool_module(tnn_avg_pool2d_new(k, s, p, cip), h, w, x, dy, want_y, ny, want_dx);
}

/* AvgPool2d with all its settings, through tnn_avg_pool2d_new_with. */
static tnn_module *pool_with(int k, int s, int p, bool ceil_mode, bool cip, int divisor)
{
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = s;
    set.padding = p;
    set.ceil_mode = ceil_mode;
    set.count_include_pad = cip;
    set.divisor_override = divisor;
    return tnn_avg_pool2d_new_with(k, set);
}

/* 2x2 windows, stride 2, on 4x4: each output the mean of its block, a quarter of its dy
 * on each element of the block. */
static void avgpool2d_hand_computed(void **state)
{
    (void)state;
    const float x[16] = {1, 5, 2, 0, /**/ 3, -1, 7, 8, /**/ -4, -2, 6, 6.5f, /**/ -3, -5, 9, 1};
    const float y[4] = {2, 4.25f, -3.5f, 5.625f}, dy[4] = {4, 8, 12, 16};
    const float dx[16] = {1, 1, 2, 2, /**/ 1, 1, 2, 2, /**/ 3, 3, 4, 4, /**/ 3, 3, 4, 4};
    for (int cip = 0; cip < 2; cip++) pool_one(2, 2, 0, cip, 4, 4, x, dy, y, 4, dx); /* no padding: the same */
    /* stride larger than the kernel: rows and columns skipped, their gradient zero */
    const float x3[25] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    const float y3[4] = {3, 6, 18, 21};
    float dx3[25] = {0};
    dx3[0] = dx3[1] = dx3[5] = dx3[6] = dx3[3] = dx3[4] = dx3[8] = dx3[9] = 0.25f;
    dx3[15] = dx3[16] = dx3[20] = dx3[21] = dx3[18] = dx3[19] = dx3[23] = dx3[24] = 0.25f;
    pool_one(2, 3, 0, true, 5, 5, x3, NULL, y3, 4, dx3);
}

/* 3x3, stride 2, padding 1 on 3x4 (2x2 outputs over the padded 5x6): the padding counts
 * as zeros in the divisor (9) with count_include_pad, not without (4 or 6 elements
 * inside). */
static void avgpool2d_count_include_pad(void **state)
{
    (void)state;
    const float x[12] = {4, 1, 0, 2, /**/ -1, 3, 8, -6, /**/ 5, 0, 7, 2};
    const float dy[4] = {9, 18, 36, 72};
    /* windows: rows [0,2) x cols [0,2); rows [0,2) x cols [1,4); rows [1,3) x cols [0,2);
     * rows [1,3) x cols [1,4): sums 7, 8, 7, 14 */
    const float y_in[4] = {7.0f / 9.0f, 8.0f / 9.0f, 7.0f / 9.0f, 14.0f / 9.0f};
    const float dx_in[12] = {1, 3, 2, 2, /**/ 5, 15, 10, 10, /**/ 4, 12, 8, 8};
    pool_one(3, 2, 1, true, 3, 4, x, dy, y_in, 4, dx_in);
    const float y_ex[4] = {7.0f / 4.0f, 8.0f / 6.0f, 7.0f / 4.0f, 14.0f / 6.0f};
    const float dx_ex[12] = {2.25f, 5.25f, 3, 3, /**/ 11.25f, 26.25f, 15, 15, /**/ 9, 21, 12, 12};
    pool_one(3, 2, 1, false, 3, 4, x, dy, y_ex, 4, dx_ex);
    /* 2x2, stride 1, padding 1 on 1x1: four windows, each holding the one element */
    const float one[1] = {8}, y4[4] = {2, 2, 2, 2}, y4ex[4] = {8, 8, 8, 8}, dx4[1] = {1}, dx4ex[1] = {4};
    pool_one(2, 1, 1, true, 1, 1, one, NULL, y4, 4, dx4);
    pool_one(2, 1, 1, false, 1, 1, one, NULL, y4ex, 4, dx4ex);
}

/* Overlapping windows (stride < kernel): an element in several receives the sum of
 * their dy / divisor. */
static void avgpool2d_overlap_adds(void **state)
{
    (void)state;
    const float x[9] = {0, 0, 0, 0, 8, 0, 0, 0, 0}, y[4] = {2, 2, 2, 2}, dy[4] = {4, 8, 16, 32};
    const float dx[9] = {1, 3, 2, /**/ 5, 15, 10, /**/ 4, 12, 8};
    pool_one(2, 1, 0, true, 3, 3, x, dy, y, 4, dx);
}

/* Signed zeros, NaN and inf: torch adds the quotient to 0.0f, so a window of -0 (or a
 * quotient that underflows to -0) gives +0; dL/dx starts from +0 too. NaN and inf
 * spread to every window holding them. */
static void avgpool2d_special_values(void **state)
{
    (void)state;
    const float z[4] = {-0.0f, -0.0f, -0.0f, -0.0f}, yz[1] = {0.0f}, dyz[1] = {-0.0f}, dxz[4] = {0, 0, 0, 0};
    pool_one(2, 2, 0, true, 2, 2, z, dyz, yz, 1, dxz);
    const float tiny[4] = {-1e-45f, 0, 0, 0}, ytiny[1] = {0.0f}; /* -1e-45 / 4 is -0 */
    pool_one(2, 2, 0, true, 2, 2, tiny, dyz, ytiny, 1, dxz);
    const float nan = NAN, inf = INFINITY;
    const float a[8] = {1, nan, 2, 3, /**/ 4, 5, 6, inf}, ya[2] = {NAN, INFINITY};
    const float dxa[8] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
    pool_one(2, 2, 0, true, 2, 4, a, NULL, ya, 2, dxa);
}

/* ceil_mode: 3x3 windows, stride 2, padding 1 on 4x4 (x = 0 .. 15 row by row): 3 x 3
 * outputs (2 x 2 without), over rows (and columns) [0, 2), [1, 4), [3, 4), which are
 * 3, 3 and 2 long in the padded input [-1, 5) (the last window, [3, 6), runs past it).
 * Counting the padding, the divisors are those lengths' products, torch's pool_size
 * (not 9); not counting it, the elements inside; divisor_override replaces both. dy is
 * each output's divisor, so that every window adds exactly 1 into dL/dx: dx counts the
 * windows holding each element. */
static void avgpool2d_ceil_and_divisor(void **state)
{
    (void)state;
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    /* window sums: rows R0 = [0, 2), R1 = [1, 4), R2 = [3, 4), columns likewise */
    const float dx[16] = {1, 2, 1, 2, /**/ 2, 4, 2, 4, /**/ 1, 2, 1, 2, /**/ 2, 4, 2, 4};
    const float y_in[9] = {10.0f / 9, 24.0f / 9, 10.0f / 6, 51.0f / 9, 90.0f / 9, 33.0f / 6, 25.0f / 6, 42.0f / 6,
                           15.0f / 4};
    const float dy_in[9] = {9, 9, 6, 9, 9, 6, 6, 6, 4};
    pool_module(pool_with(3, 2, 1, true, true, 0), 4, 4, x, dy_in, y_in, 9, dx);
    const float y_ex[9] = {10.0f / 4, 24.0f / 6, 10.0f / 2, 51.0f / 6, 90.0f / 9, 33.0f / 3, 25.0f / 2, 42.0f / 3, 15};
    const float dy_ex[9] = {4, 6, 2, 6, 9, 3, 2, 3, 1};
    pool_module(pool_with(3, 2, 1, true, false, 0), 4, 4, x, dy_ex, y_ex, 9, dx);
    const float y5[9] = {10.0f / 5, 24.0f / 5, 10.0f / 5, 51.0f / 5, 90.0f / 5, 33.0f / 5, 25.0f / 5, 42.0f / 5, 3};
    const float dy5[9] = {5, 5, 5, 5, 5, 5, 5, 5, 5};
    for (int cip = 0; cip < 2; cip++) pool_module(pool_with(3, 2, 1, true, cip, 5), 4, 4, x, dy5, y5, 9, dx);
    /* divisor_override without ceil_mode: 2 x 2 outputs, rows and columns R0 and R1 */
    const float y5f[4] = {10.0f / 5, 24.0f / 5, 51.0f / 5, 90.0f / 5};
    const float dx5f[16] = {1, 2, 1, 1, /**/ 2, 4, 2, 2, /**/ 1, 2, 1, 1, /**/ 1, 2, 1, 1};
    pool_module(pool_with(3, 2, 1, false, true, 5), 4, 4, x, dy5, y5f, 4, dx5f);
    /* the same module from tnn_avg_pool2d_new and from the defaults */
    const float y9[4] = {10.0f / 9, 24.0f / 9, 51.0f / 9, 90.0f / 9};
    pool_module(pool_with(3, 2, 1, false, true, 0), 4, 4, x, (const float[]){9, 9, 9, 9}, y9, 4, dx5f);
    pool_one(3, 2, 1, true, 4, 4, x, (const float[]){9, 9, 9, 9}, y9, 4, dx5f);
}

/* stride 0 is the kernel size, torch's default (stride=None). */
static void avgpool2d_default_stride(void **state)
{
    (void)state;
    char d[96];
    tnn_module *a = tnn_avg_pool2d_new(2, 0, 0, true), *b = tnn_avg_pool2d_new(3, 0, 1, false);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "avg_pool2d(k2, s2, p0)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "avg_pool2d(k3, s3, p1, count_include_pad=false)");
    tnn_tensor *x = tnn_tensor_new4(2, 3, 7, 9);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(a, x, &y));
    assert_int_equal(y->shape[2], 3);
    assert_int_equal(y->shape[3], 4);
    TU_ASSERT_OK(tnn_module_forward(b, x, &y));
    assert_int_equal(y->shape[2], 3); /* (7 + 2 - 3) / 3 + 1 */
    assert_int_equal(y->shape[3], 3); /* (9 + 2 - 3) / 3 + 1 */
    tnn_tensor_free(x);
    tnn_module_free(a);
    tnn_module_free(b);
}

/* Direct average pooling in the terms of torch's kernel: over the window's offsets
 * (ki, kj), those inside the input added in float from 0, divided by the divisor in
 * float (divisor_override when above 0; with cip the offsets inside the padded input;
 * else those inside the input), added to 0; dL/dx: dy / divisor added in output
 * order. */
static void reference(int planes, int h, int w, int k, int s, int p, bool ceil_mode, bool cip, int divisor,
                      const float *x, const float *dy, float *y, float *dx)
{
    const int ho = tu_pool_windows(h, k, s, p, ceil_mode), wo = tu_pool_windows(w, k, s, p, ceil_mode);
    memset(dx, 0, sizeof(float) * (size_t)planes * h * w);
    for (int c = 0; c < planes; c++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                float sum = 0.0f;
                int n = 0, padded = 0;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int ih = i * s - p + ki, iw = j * s - p + kj;
                        if (ih < h + p && iw < w + p) padded++;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                        sum += x[((size_t)c * h + ih) * w + iw];
                        n++;
                    }
                const float div = (float)(divisor > 0 ? divisor : cip ? padded : n);
                size_t o = ((size_t)c * ho + i) * wo + j;
                y[o] = 0.0f + sum / div;
                const float g = dy[o] / div;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int ih = i * s - p + ki, iw = j * s - p + kj;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                        dx[((size_t)c * h + ih) * w + iw] += g;
                    }
            }
}

/* Forward and backward against the reference, bit for bit, over geometries with and
 * without padding and overlap, count_include_pad both ways: through tnn_avg_pool2d_new,
 * then through tnn_avg_pool2d_new_with with ceil_mode off and on (windows past the edge,
 * or dropped by torch's rule) and divisor_override none, 3 and 16777217 (float holds
 * it as 16777216: torch divides by that). */
static void avgpool2d_values(void **state)
{
    (void)state;
    const int cases[][7] = {/* n, c, h, w, k, s, p */
                            {2, 3, 8, 8, 2, 2, 0}, {3, 2, 9, 7, 3, 2, 1}, {1, 4, 5, 6, 3, 1, 1}, {2, 1, 6, 11, 2, 1, 1},
                            {2, 2, 7, 7, 4, 3, 2}, {1, 1, 1, 1, 1, 1, 0}, {2, 3, 10, 5, 5, 1, 2}, {4, 2, 12, 9, 2, 3, 0},
                            {1, 2, 3, 3, 3, 3, 0}, {1, 2, 17, 19, 7, 2, 3}, {2, 2, 13, 40, 3, 1, 1}, {1, 1, 4, 4, 4, 1, 2},
                            /* windows past the edge with ceil_mode, or dropped by torch's rule */
                            {2, 3, 7, 9, 2, 2, 0}, {2, 2, 8, 10, 3, 2, 1}, {2, 2, 8, 9, 3, 3, 1},
                            {2, 3, 9, 11, 2, 2, 1}, {1, 2, 1, 2, 4, 2, 1}, {2, 1, 13, 6, 5, 4, 2},
                            {2, 2, 12, 14, 3, 2, 1}, {1, 3, 7, 1, 3, 2, 1}};
    /* settings after tnn_avg_pool2d_new's: ceil_mode, divisor_override */
    const int settings[][2] = {{-1, 0}, {0, 0}, {1, 0}, {0, 3}, {1, 3}, {1, 16777217}};
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0] * 6; ci++) {
        const int *g = cases[ci / 6], *set = settings[ci % 6];
        const bool ceil_mode = set[0] == 1;
        for (int cip = 0; cip < 2; cip++) {
            tnn_module *m = set[0] < 0 ? tnn_avg_pool2d_new(g[4], g[5], g[6], cip)
                                       : pool_with(g[4], g[5], g[6], ceil_mode, cip, set[1]);
            assert_non_null(m);
            tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
            tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
            const tnn_tensor *y, *dx;
            if (g[2] + 2 * g[6] < g[4] && !ceil_mode) { /* smaller than the window: only ceil_mode pools it */
                TU_ASSERT_ERR(tnn_module_forward(m, x, &y), TNN_ERR_SHAPE, "smaller than the", NULL);
                tnn_tensor_free(x);
                tnn_module_free(m);
                continue;
            }
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            const int ho = tu_pool_windows(g[2], g[4], g[5], g[6], ceil_mode);
            const int wo = tu_pool_windows(g[3], g[4], g[5], g[6], ceil_mode);
            assert_int_equal(y->ndim, 4);
            assert_int_equal(y->shape[0], g[0]);
            assert_int_equal(y->shape[1], g[1]);
            assert_int_equal(y->shape[2], ho);
            assert_int_equal(y->shape[3], wo);
            tnn_tensor *dy = tnn_tensor_new(4, y->shape);
            tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
            float *ry = malloc(y->size * sizeof(float)), *rdx = malloc(x->size * sizeof(float));
            reference(g[0] * g[1], g[2], g[3], g[4], g[5], g[6], ceil_mode, cip, set[1], x->data, dy->data, ry, rdx);
            if (memcmp(y->data, ry, y->size * sizeof(float)) != 0) fail_msg("case %zu (cip %d): y differs", ci, cip);
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_int_equal(dx->ndim, 4);
            assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
            if (memcmp(dx->data, rdx, x->size * sizeof(float)) != 0) fail_msg("case %zu (cip %d): dx differs", ci, cip);
            free(ry);
            free(rdx);
            tnn_tensor_free(dy);
            tnn_tensor_free(x);
            tnn_module_free(m);
        }
    }
}

/* One unbatched sample [C x H x W] gives [C x Hout x Wout], as the same sample batched,
 * and its dx is [C x H x W]. */
static void avgpool2d_unbatched(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *m = tnn_avg_pool2d_new(3, 2, 1, false);
    tnn_tensor *x = tnn_tensor_new3(2, 7, 5), *xb = tnn_tensor_new4(1, 2, 7, 5);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    memcpy(xb->data, x->data, x->size * sizeof(float));
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, xb, &y));
    tnn_tensor *yb = tnn_tensor_clone(y);
    tnn_tensor *dy = tnn_tensor_new(4, y->shape);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    tnn_tensor *dxb = tnn_tensor_clone(dx);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 4);
    assert_int_equal(y->shape[2], 3);
    assert_memory_equal(y->data, yb->data, yb->size * sizeof(float));
    tnn_tensor *dy3 = tnn_tensor_new3(2, 4, 3);
    memcpy(dy3->data, dy->data, dy->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(m, dy3, &dx));
    assert_int_equal(dx->ndim, 3);
    assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
    assert_memory_equal(dx->data, dxb->data, dxb->size * sizeof(float));
    tnn_tensor_free(dy3);
    tnn_tensor_free(dy);
    tnn_tensor_free(dxb);
    tnn_tensor_free(yb);
    tnn_tensor_free(xb);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void avgpool2d_refusals(void **state)
{
    (void)state;
    assert_null(tnn_avg_pool2d_new(0, 1, 0, true));
    TU_ASSERT_MSG("avg_pool2d(k0, s1, p0)", "kernel_size must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_avg_pool2d_new(2, -1, 0, true));
    TU_ASSERT_MSG("stride must be >= 0", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_avg_pool2d_new(2, 2, -1, false));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    assert_null(tnn_avg_pool2d_new(3, 1, 2, true)); /* torch: "pad should be at most half of kernel size" */
    TU_ASSERT_MSG("avg_pool2d(k3, s1, p2)", "padding must be at most half the kernel size", NULL);
    assert_null(tnn_avg_pool2d_new(1, 1, 1, false));
    TU_ASSERT_MSG("at most half", NULL);
    tnn_module *ok = tnn_avg_pool2d_new(4, 1, 2, true); /* 2 = 4 / 2: allowed, as by torch */
    assert_non_null(ok);
    tnn_module_free(ok);

    tnn_module *m = tnn_avg_pool2d_new(3, 1, 0, true);
    const tnn_tensor *y, *dx;
    tnn_tensor *x2 = tnn_tensor_new2(2, 64), *small = tnn_tensor_new4(2, 1, 2, 8), *x5 = tnn_tensor_new1(9);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "avg_pool2d(k3, s1, p0)", "[2 x 64] is 2-D",
                  "[batch x channels x H x W]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x5, &y), TNN_ERR_SHAPE, "[9] is 1-D", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, small, &y), TNN_ERR_SHAPE, "avg_pool2d(k3, s1, p0)", "[2 x 1 x 2 x 8]",
                  "is 2 x 8", "smaller than the 3 x 3 window", NULL);
    tnn_tensor *dy = tnn_tensor_new4(2, 1, 6, 6);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "avg_pool2d(k3, s1, p0)", "before forward", NULL);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 8, 8);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    tnn_tensor *bad = tnn_tensor_new4(2, 1, 6, 5);
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 1 x 6 x 5]", "[2 x 1 x 6 x 6]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    /* a stride or padding near INT_MAX (the window arithmetic is int's): refused, not a
     * wild read or write; a stride larger than the input but within range still pools,
     * as torch: F.avg_pool2d(arange(16).reshape(1,1,4,4), 4, 1000, 2) is 10/16 */
    tnn_module *far = tnn_avg_pool2d_new(4, INT_MAX, 2, true), *wide = tnn_avg_pool2d_new(INT_MAX, 0, INT_MAX / 2, false);
    tnn_module *farpad = tnn_avg_pool2d_new(INT_MAX - 1, INT_MAX, INT_MAX / 2, true);
    tnn_module *big = tnn_avg_pool2d_new(4, 1000, 2, true), *bigx = tnn_avg_pool2d_new(4, 1000, 2, false);
    tnn_tensor *four = tnn_tensor_new4(1, 1, 4, 4), *one = tnn_tensor_new4(1, 1, 1, 1);
    for (int i = 0; i < 16; i++) four->data[i] = (float)i;
    TU_ASSERT_ERR(tnn_module_forward(far, four, &y), TNN_ERR_SHAPE, "avg_pool2d(k4, s2147483647, p2)",
                  "[1 x 1 x 4 x 4]", "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(wide, one, &y), TNN_ERR_SHAPE, "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(farpad, one, &y), TNN_ERR_SHAPE, "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_backward(far, dy, &dx), TNN_ERR_STATE, NULL); /* no forward went through */
    TU_ASSERT_OK(tnn_module_forward(big, four, &y));
    assert_int_equal(y->size, 1);
    assert_true(y->data[0] == 10.0f / 16.0f); /* rows and columns [-2, 2): 0 + 1 + 4 + 5 of 16 */
    TU_ASSERT_OK(tnn_module_forward(bigx, four, &y));
    assert_true(y->data[0] == 2.5f); /* the same 4 elements, divided by 4 */
    tnn_module_free(far);
    tnn_module_free(wide);
    tnn_module_free(farpad);
    tnn_module_free(big);
    tnn_module_free(bigx);
    tnn_tensor_free(four);
    /* its own output as its input: refused (module.h, rule 1) */
    tnn_module *sq = tnn_avg_pool2d_new(1, 1, 0, true);
    TU_ASSERT_OK(tnn_module_forward(sq, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(sq, y, &y), TNN_ERR_ARG, "avg_pool2d(k1, s1, p0)", "own output", NULL);
    tnn_module_free(sq);
    tnn_tensor_free(one);
    tnn_tensor_free(bad);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(small);
    tnn_tensor_free(x2);
    tnn_tensor_free(x5);
    tnn_module_free(m);
}

/* tnn_avg_pool2d_new_with: the settings tnn_avg_pool2d_new refuses, refused the same
 * way (TNN_ERR_ARG naming the settings and the argument); a negative divisor_override;
 * a struct not started from tnn_pool2d_defaults(). describe shows ceil_mode,
 * count_include_pad and divisor_override when they are not their defaults, in torch's
 * order; with the defaults the module is tnn_avg_pool2d_new's. With ceil_mode an input
 * smaller than the window by the stride or more is refused. */
static void avgpool2d_with_settings(void **state)
{
    (void)state;
    char d[128];
    tnn_pool2d_params p = tnn_pool2d_defaults();
    tnn_clear_error();
    assert_null(tnn_avg_pool2d_new_with(-1, p));
    TU_ASSERT_MSG("avg_pool2d(k-1, s0, p0)", "kernel_size must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    p.stride = -1;
    assert_null(tnn_avg_pool2d_new_with(2, p));
    TU_ASSERT_MSG("stride must be >= 0", NULL);
    p.stride = 2;
    p.padding = -3;
    assert_null(tnn_avg_pool2d_new_with(2, p));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    p.padding = 2;
    p.ceil_mode = true;
    assert_null(tnn_avg_pool2d_new_with(3, p));
    TU_ASSERT_MSG("avg_pool2d(k3, s2, p2, ceil_mode=true)", "padding must be at most half the kernel size", NULL);
    p.padding = 1;
    p.divisor_override = -2; /* torch takes it (and flips the signs); refused here */
    assert_null(tnn_avg_pool2d_new_with(3, p));
    TU_ASSERT_MSG("avg_pool2d(k3, s2, p1, ceil_mode=true, divisor_override=-2)", "divisor_override must be >= 0",
                  "0: none", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    p.divisor_override = 7;
    p.count_include_pad = false;
    tnn_module *m = tnn_avg_pool2d_new_with(3, p);
    assert_non_null(m);
    assert_string_equal(tnn_module_describe(m, d, sizeof d),
                        "avg_pool2d(k3, s2, p1, ceil_mode=true, count_include_pad=false, divisor_override=7)");
    tnn_module_free(m);
    p.ceil_mode = false;
    p.count_include_pad = true;
    m = tnn_avg_pool2d_new_with(3, p);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "avg_pool2d(k3, s2, p1, divisor_override=7)");
    tnn_module_free(m);
    tnn_clear_error();
    assert_null(tnn_avg_pool2d_new_with(3, (tnn_pool2d_params){.stride = 2, .count_include_pad = true}));
    TU_ASSERT_MSG("avg_pool2d", "tnn_pool2d_defaults()", "{.field = value}", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    m = tnn_avg_pool2d_new_with(2, tnn_pool2d_defaults());
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "avg_pool2d(k2, s2, p0)");
    tnn_module_free(m);
    /* 4x4 windows, stride 1, padding 1 on 1 x 1 (3 x 3 padded): empty even rounded up */
    p = tnn_pool2d_defaults();
    p.stride = 1;
    p.padding = 1;
    p.ceil_mode = true;
    m = tnn_avg_pool2d_new_with(4, p);
    tnn_tensor *one = tnn_tensor_new4(1, 1, 1, 1);
    const tnn_tensor *y;
    TU_ASSERT_ERR(tnn_module_forward(m, one, &y), TNN_ERR_SHAPE, "avg_pool2d(k4, s1, p1, ceil_mode=true)",
                  "[1 x 1 x 1 x 1] is 1 x 1, 3 x 3 padded, smaller than the 4 x 4 window by the stride or more", NULL);
    tnn_module_free(m);
    p.stride = 2; /* with stride 2 it pools: one window, divided by 3 x 3 ([-1, 3) up to 1 + 1) */
    m = tnn_avg_pool2d_new_with(4, p);
    one->data[0] = 4.5f;
    TU_ASSERT_OK(tnn_module_forward(m, one, &y));
    assert_int_equal(y->size, 1);
    assert_true(y->data[0] == 4.5f / 9.0f);
    tnn_tensor_free(one);
    tnn_module_free(m);
}

/* describe, and no parameters: an empty state_dict, nothing to count; requires_grad
 * and eval change nothing. */
static void avgpool2d_describe_no_parameters(void **state)
{
    (void)state;
    char d[96];
    tnn_module *a = tnn_avg_pool2d_new(2, 2, 0, true), *b = tnn_avg_pool2d_new(3, 1, 1, false);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "avg_pool2d(k2, s2, p0)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "avg_pool2d(k3, s1, p1, count_include_pad=false)");
    assert_int_equal(tnn_module_num_params(a), 0);
    tnn_tensor_list *l = tnn_module_state_dict(a, "");
    assert_non_null(l);
    assert_int_equal(l->count, 0);
    tnn_tensor_list_free(l);
    tnn_tensor *x = tnn_tensor_new4(1, 2, 4, 4), *dy = tnn_tensor_new4(1, 2, 2, 2);
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(a, x, &y));
    TU_ASSERT_OK(tnn_module_backward(a, dy, &dx));
    tnn_tensor *dx1 = tnn_tensor_clone(dx);
    tnn_module_eval(a);
    tnn_module_set_requires_grad(a, false);
    TU_ASSERT_OK(tnn_module_forward(a, x, &y));
    TU_ASSERT_OK(tnn_module_backward(a, dy, &dx));
    assert_memory_equal(dx->data, dx1->data, dx1->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(a, dy, NULL)); /* no dx wanted: nothing to do */
    tnn_tensor_free(dx1);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(a);
    tnn_module_free(b);
}

/* The same bits on 1, 2 and 3 threads, forward and backward, for inputs large enough
 * that the planes are split over the threads (each above twice POOL_PARALLEL_MIN,
 * 32,768 elements: 100,352, 40,800, 38,016 and twice 36,608, with ceil_mode). */
static void avgpool2d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    /* n, c, h, w, k, s, p, count_include_pad, ceil_mode, divisor_override */
    const int cases[][10] = {{16, 8, 28, 28, 2, 2, 0, 1, 0, 0}, {8, 20, 15, 17, 3, 1, 1, 0, 0, 0},
                             {8, 33, 12, 12, 3, 2, 1, 1, 0, 0}, {8, 32, 13, 11, 3, 2, 1, 1, 1, 0},
                             {8, 32, 13, 11, 3, 2, 1, 0, 1, 5}};
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        assert_true((size_t)g[0] * g[1] * g[2] * g[3] >= 32768);
        tnn_module *m = pool_with(g[4], g[5], g[6], g[8], g[7], g[9]);
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

/* After the first call of a shape, forward and backward allocate nothing and return the
 * same buffers; a smaller batch fits in them too. */
static void avgpool2d_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = tnn_avg_pool2d_new(3, 2, 1, false);
    tnn_tensor *x = tnn_tensor_new4(4, 3, 9, 9), *x2 = tnn_tensor_new4(2, 3, 9, 9), *dy = tnn_tensor_new4(4, 3, 5, 5);
    tnn_tensor *dy2 = tnn_tensor_new4(2, 3, 5, 5);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(x2, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy2, &r, -1.0f, 1.0f);
    const tnn_tensor *y, *dx, *y0, *dx0;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y0));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx0));
    tu_alloc_install(-1);
    for (int i = 0; i < 3; i++) {
        TU_ASSERT_OK(tnn_module_forward(m, i == 1 ? x2 : x, &y));
        assert_ptr_equal(y, y0);
        TU_ASSERT_OK(tnn_module_backward(m, i == 1 ? dy2 : dy, &dx));
        assert_ptr_equal(dx, dx0);
    }
    long count = tu_alloc_count();
    tu_alloc_uninstall();
    assert_int_equal(count, 0);
    tnn_tensor_free(x);
    tnn_tensor_free(x2);
    tnn_tensor_free(dy);
    tnn_tensor_free(dy2);
    tnn_module_free(m);
}

/* Every allocation of creation, forward and backward failing in turn: TNN_ERR_NOMEM
 * (or NULL) naming avg_pool2d, nothing leaked, and the module works once memory is
 * there. */
static void avgpool2d_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 6, 5), *dy = tnn_tensor_new4(2, 2, 3, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    bool done = false;
    long failures = 0;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_avg_pool2d_new(3, 2, 1, true);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            failures++;
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "avg_pool2d"));
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
    assert_true(failures >= 3); /* the module, its output, its dL/dx */
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* A small CNN: Conv2d -> ReLU -> AvgPool2d -> Conv2d -> ReLU -> AvgPool2d (padded, not
 * counting the padding) -> Flatten -> Linear in a Sequential: shapes, the summary (no
 * parameters for the pools), dL/dx of the chain against the layers run one by one, and
 * a few Adam steps lowering the cross-entropy; a pool's output buffer as the
 * Sequential's input is refused. */
static void avgpool2d_in_cnn(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_avg_pool2d_new(2, 0, 0, true)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 6, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_avg_pool2d_new(3, 2, 1, false)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6 * 3 * 3, 3, true, &r)));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "avg_pool2d(k2, s2, p0)"));
    assert_non_null(strstr(text, "avg_pool2d(k3, s2, p1, count_include_pad=false)"));
    assert_int_equal(tnn_module_num_params(s), 4 * 9 + 4 + 6 * 4 * 9 + 6 + 54 * 3 + 3);

    tnn_tensor *x = tnn_tensor_new4(8, 1, 10, 10), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &y));
    for (int i = 1; i < 8; i++) {
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
        if (i == 2) assert_true(y->shape[2] == 5 && y->shape[3] == 5);
        if (i == 5) assert_true(y->shape[1] == 6 && y->shape[2] == 3 && y->shape[3] == 3);
    }
    float loss = 0.0f;
    TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
    tnn_module_zero_grad(s);
    const tnn_tensor *g = grad;
    for (int i = 7; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *alone = tnn_tensor_clone(g);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y)); /* the chain gives the same dL/dx */
    TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_backward(s, grad, &dx));
    assert_memory_equal(dx->data, alone->data, alone->size * sizeof(float));
    tnn_tensor_free(alone);

    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 1e-2;
    tnn_optimizer *opt = tnn_adam_new(s, ap);
    assert_non_null(opt);
    float first = 0.0f;
    for (int step = 0; step < 30; step++) {
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
        if (step == 0) first = loss;
        tnn_optimizer_zero_grad(opt);
        TU_ASSERT_OK(tnn_module_backward(s, grad, NULL));
        TU_ASSERT_OK(tnn_optimizer_step(opt));
    }
    printf("small CNN with average pools: cross-entropy %.4f -> %.4f after 30 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);

    /* a pool's output buffer as the Sequential's input: refused, as a Conv2d's is */
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_avg_pool2d_new(2, 1, 0, true)));
    tnn_module *p2 = tnn_avg_pool2d_new(2, 1, 0, true);
    TU_ASSERT_OK(tnn_sequential_add(s2, p2));
    TU_ASSERT_OK(tnn_module_forward(p2, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG, "output buffer of child 1 (avg_pool2d(k2, s1, p0))",
                  "pass a copy", NULL);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(avgpool2d_hand_computed),
    cmocka_unit_test(avgpool2d_count_include_pad),
    cmocka_unit_test(avgpool2d_overlap_adds),
    cmocka_unit_test(avgpool2d_special_values),
    cmocka_unit_test(avgpool2d_ceil_and_divisor),
    cmocka_unit_test(avgpool2d_default_stride),
    cmocka_unit_test(avgpool2d_values),
    cmocka_unit_test(avgpool2d_unbatched),
    cmocka_unit_test(avgpool2d_refusals),
    cmocka_unit_test(avgpool2d_with_settings),
    cmocka_unit_test(avgpool2d_describe_no_parameters),
    cmocka_unit_test(avgpool2d_same_bits_on_any_thread_count),
    cmocka_unit_test(avgpool2d_buffers_reused),
    cmocka_unit_test(avgpool2d_allocation_failures),
    cmocka_unit_test(avgpool2d_in_cnn),
};

TU_MAIN("avgpool2d", tests)
