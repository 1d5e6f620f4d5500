/* Unit tests of MaxPool2d (tnn_max_pool2d_new, tnn_max_pool2d_new_with,
 * tinynn/layers.h): hand-computed outputs and gradients, ties (the first maximum), NaN
 * (the last NaN of the window), -inf padding, overlapping windows adding into dL/dx, the
 * default stride, ceil_mode (windows past the edge, torch's output sizes), one unbatched
 * sample, values against a direct reference over many geometries with ceil_mode both
 * ways, refusals (of the settings too), describe, no parameters, the same bits on 1, 2
 * and 3 threads, buffers reused without allocating, allocation failures, and a
 * LeNet-like Sequential (Conv2d -> ReLU -> MaxPool2d -> Flatten -> Linear) trained with
 * Adam. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pool x ([1 x 1 x h x w], values row by row) with module m (freed here); y must hold
 * `ny` values and dx (for dy, or all ones when dy is NULL) h * w. */
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
        if (dx->data[i] != want_dx[i]) fail_msg("dx[%d]: %g, expected %g", i, (double)dx->data[i], (double)want_dx[i]);
    tnn_tensor_free(g);
    tnn_tensor_free(xt);
    tnn_module_free(m);
}

/* The same with MaxPool2d(k, s, p). */
static void pool_one(int k, int s, int p, int h, int w, const float *x, const float *dy, const float *want_y, int ny,
                     const float *want_dx)
{
    pool_module(tnn_max_pool2d_new(k, s, p), h, w, x, dy, want_y, ny, want_dx);
}

/* MaxPool2d(k, s, p, ceil_mode) through tnn_max_pool2d_new_with. */
static tnn_module *pool_with(int k, int s, int p, bool ceil_mode)
{
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = s;
    set.padding = p;
    set.ceil_mode = ceil_mode;
    return tnn_max_pool2d_new_with(k, set);
}

/* 2x2 windows, stride 2, on 4x4: each output the largest of its block, its dy routed
 * back there and nowhere else. */
static void maxpool2d_hand_computed(void **state)
{
    (void)state;
    const float x[16] = {1, 5, 2, 0, /**/ 3, -1, 7, 8, /**/ -4, -2, 6, 6.5f, /**/ -3, -5, 9, 1};
    const float y[4] = {5, 8, -2, 9}, dy[4] = {10, 20, 30, 40};
    const float dx[16] = {0, 10, 0, 0, /**/ 0, 0, 0, 20, /**/ 0, 30, 0, 0, /**/ 0, 0, 40, 0};
    pool_one(2, 2, 0, 4, 4, x, dy, y, 4, dx);
    /* 3x3, stride 2, padding 1 on 3x4: 2x2 outputs over the padded 5x6 */
    const float x2[12] = {4, 1, 0, 2, /**/ -1, 3, 8, -6, /**/ 5, 0, 7, 2};
    const float y2[4] = {4, 8, 5, 8}, dy2[4] = {1, 2, 3, 4};
    const float dx2[12] = {1, 0, 0, 0, /**/ 0, 0, 6, 0, /**/ 3, 0, 0, 0};
    pool_one(3, 2, 1, 3, 4, x2, dy2, y2, 4, dx2);
    /* stride larger than the kernel: rows and columns skipped */
    const float x3[25] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    const float y3[4] = {6, 9, 21, 24};
    float dx3[25] = {0};
    dx3[6] = dx3[9] = dx3[21] = dx3[24] = 1;
    pool_one(2, 3, 0, 5, 5, x3, NULL, y3, 4, dx3);
}

/* Equal maxima: the first of the window in row-major order takes the gradient (torch's
 * v > max); -0 and 0 are equal, the first one's bits are kept. */
static void maxpool2d_ties(void **state)
{
    (void)state;
    const float x[4] = {1, 3, 3, 2}, y[1] = {3}, dx[4] = {0, 1, 0, 0};
    pool_one(2, 2, 0, 2, 2, x, NULL, y, 1, dx);
    const float same[4] = {2, 2, 2, 2}, ys[1] = {2}, dxs[4] = {1, 0, 0, 0};
    pool_one(2, 2, 0, 2, 2, same, NULL, ys, 1, dxs);
    const float z[4] = {-0.0f, 0.0f, 0.0f, 0.0f}, yz[1] = {-0.0f}, dxz[4] = {1, 0, 0, 0};
    pool_one(2, 2, 0, 2, 2, z, NULL, yz, 1, dxz);
    const float z2[4] = {0.0f, -0.0f, -0.0f, -0.0f}, yz2[1] = {0.0f};
    pool_one(2, 2, 0, 2, 2, z2, NULL, yz2, 1, dxz);
}

/* NaN: torch's (v > max) || isnan(v) makes every NaN the new maximum, so the output is
 * NaN and the last NaN of the window takes the gradient; +inf loses to a later NaN. */
static void maxpool2d_nan(void **state)
{
    (void)state;
    const float nan = NAN, inf = INFINITY, yn[1] = {NAN};
    const float a[4] = {1, nan, 5, nan}, dxa[4] = {0, 0, 0, 1};
    pool_one(2, 2, 0, 2, 2, a, NULL, yn, 1, dxa);
    const float b[4] = {nan, 1, 5, 2}, dxb[4] = {1, 0, 0, 0};
    pool_one(2, 2, 0, 2, 2, b, NULL, yn, 1, dxb);
    const float c[4] = {inf, nan, 1, 2}, dxc[4] = {0, 1, 0, 0};
    pool_one(2, 2, 0, 2, 2, c, NULL, yn, 1, dxc);
    /* 3 x 3 with stride 1: the NaN is the output of each of the four windows holding it */
    const float d[9] = {1, 2, 3, 4, nan, 6, 7, 8, 9}, yd[4] = {NAN, NAN, NAN, NAN}, dyd[4] = {1, 2, 4, 8};
    const float dxd[9] = {0, 0, 0, 0, 15, 0, 0, 0, 0};
    pool_one(2, 1, 0, 3, 3, d, dyd, yd, 4, dxd);
}

/* The padding is -inf, not 0: negative inputs stay the maxima at the edges, and a window
 * of nothing but -inf (and padding) gives -inf with its gradient on its first element
 * inside the input. */
static void maxpool2d_minus_inf_padding(void **state)
{
    (void)state;
    const float x[4] = {-1, -2, -3, -4};
    const float y[9] = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
    const float dx[4] = {4, 2, 2, 1};
    pool_one(2, 1, 1, 2, 2, x, NULL, y, 9, dx);
    const float ninf = -INFINITY, all[4] = {ninf, ninf, ninf, ninf};
    const float yi[9] = {ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf, ninf};
    pool_one(2, 1, 1, 2, 2, all, NULL, yi, 9, dx); /* torch: indices 0 0 1 / 0 0 1 / 2 2 3 */
}

/* Windows that overlap (stride < kernel): an element that is the maximum of several
 * receives the sum of their dy. */
static void maxpool2d_overlap_adds(void **state)
{
    (void)state;
    const float x[9] = {0, 0, 0, 0, 9, 0, 0, 0, 0}, y[4] = {9, 9, 9, 9}, dy[4] = {1, 2, 4, 8};
    const float dx[9] = {0, 0, 0, 0, 15, 0, 0, 0, 0};
    pool_one(2, 1, 0, 3, 3, x, dy, y, 4, dx);
    /* 3x3, stride 1, padding 1 on 3x3: the 9 is in all nine windows */
    const float y9[9] = {9, 9, 9, 9, 9, 9, 9, 9, 9}, dy9[9] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    const float dx9[9] = {0, 0, 0, 0, 511, 0, 0, 0, 0};
    pool_one(3, 1, 1, 3, 3, x, dy9, y9, 9, dx9);
}

/* stride 0 is the kernel size, torch's default (stride=None). */
static void maxpool2d_default_stride(void **state)
{
    (void)state;
    char d[64];
    tnn_module *a = tnn_max_pool2d_new(2, 0, 0), *b = tnn_max_pool2d_new(3, 0, 1);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "max_pool2d(k2, s2, p0)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "max_pool2d(k3, s3, p1)");
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

/* ceil_mode: the windows that run past the input are kept, clipped to it. 3x3 input,
 * 2x2 windows, stride 2: 2 x 2 outputs (1 x 1 without ceil_mode), the last column's and
 * row's windows holding 2 and 1 elements; a window of -inf past the edge gives -inf with
 * its gradient on its first element. */
static void maxpool2d_ceil_hand_computed(void **state)
{
    (void)state;
    const float x[9] = {1, 5, 2, /**/ 3, -1, 7, /**/ -4, 9, 0}, y[4] = {5, 7, 9, 0}, dy[4] = {1, 2, 3, 4};
    const float dx[9] = {0, 1, 0, /**/ 0, 0, 2, /**/ 0, 3, 4};
    pool_module(pool_with(2, 2, 0, true), 3, 3, x, dy, y, 4, dx);
    const float y1[1] = {5}, dx1[9] = {0, 1, 0, 0, 0, 0, 0, 0, 0};
    pool_module(pool_with(2, 2, 0, false), 3, 3, x, dy, y1, 1, dx1);
    /* 3x3, stride 2, padding 1 on 4x4: 3 x 3 outputs (2 x 2 without), the last ones
     * over rows and columns [3, 6) of the padded [-1, 5): one row or column inside */
    const float ninf = -INFINITY;
    const float x2[16] = {0, 1, 2, 3, /**/ 4, 5, 6, 7, /**/ 8, 9, 10, 11, /**/ ninf, 12, ninf, 13};
    const float y2[9] = {5, 7, 7, 12, 13, 13, 12, 13, 13}, dy2[9] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    const float dx2[16] = {0, 0, 0, 0, /**/ 0, 1, 0, 6, /**/ 0, 0, 0, 0, /**/ 0, 72, 0, 432};
    pool_module(pool_with(3, 2, 1, true), 4, 4, x2, dy2, y2, 9, dx2);
    const float x4[9] = {1, 2, 3, 4, 5, 6, ninf, ninf, ninf}, y4[4] = {5, 6, ninf, ninf};
    const float dx4[9] = {0, 0, 0, 0, 1, 1, 1, 0, 1};
    pool_module(pool_with(2, 2, 0, true), 3, 3, x4, NULL, y4, 4, dx4);
}

/* Output sizes, rounded down and with ceil_mode, as torch 1.13 gives them
 * (F.max_pool2d on [1 x 1 x h x 1] with a (k, 1) window; 0: torch refuses the input,
 * "Output size is too small"), on h x h inputs: among them windows past the edge,
 * torch's rule dropping a last window that would start in the padding ({8, 3, 3, 1},
 * {3, 2, 2, 1}, {9, 2, 2, 1}, {10, 4, 3, 2}, {5, 1, 3, 0}, {6, 5, 4, 2}: one fewer than
 * ceil((h + 2p - k) / s) + 1), and inputs smaller than the window once padded that
 * ceil_mode still pools ({1, 4, 2, 1}) or not ({1, 4, 1, 1}). */
static void maxpool2d_ceil_output_sizes(void **state)
{
    (void)state;
    static const int cases[][6] = {/* h, k, s, p, torch's size without ceil_mode, with */
                                   {7, 2, 2, 0, 3, 4},  {8, 2, 2, 0, 4, 4},   {8, 3, 2, 1, 4, 5},  {9, 3, 2, 1, 5, 5},
                                   {8, 3, 3, 1, 3, 3},  {9, 3, 3, 1, 3, 4},   {10, 3, 3, 1, 4, 4}, {3, 2, 2, 1, 2, 2},
                                   {9, 2, 2, 1, 5, 5},  {10, 4, 3, 2, 4, 4},  {11, 4, 3, 2, 4, 5}, {5, 1, 3, 0, 2, 2},
                                   {1, 4, 2, 1, 0, 1},  {2, 4, 2, 1, 1, 1},   {1, 3, 5, 1, 1, 1},  {6, 5, 4, 2, 2, 2},
                                   {13, 5, 4, 2, 4, 4}, {1, 4, 1, 1, 0, 0},   {2, 6, 1, 3, 3, 3},  {1, 5, 2, 2, 1, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *c = cases[ci];
        tnn_tensor *x = tnn_tensor_new4(2, 3, c[0], c[0]);
        for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
            tnn_module *m = pool_with(c[1], c[2], c[3], ceil_mode);
            assert_non_null(m);
            const tnn_tensor *y;
            const int want = c[4 + ceil_mode];
            if (want == 0) {
                TU_ASSERT_ERR(tnn_module_forward(m, x, &y), TNN_ERR_SHAPE, "smaller than the",
                              ceil_mode ? "window by the stride or more" : "window (the output would be empty)", NULL);
            } else {
                TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                if (y->shape[2] != want || y->shape[3] != want)
                    fail_msg("h %d, k %d, s %d, p %d, ceil_mode %d: %d x %d, torch's %d x %d", c[0], c[1], c[2], c[3],
                             ceil_mode, y->shape[2], y->shape[3], want, want);
                assert_int_equal(y->shape[0], 2);
                assert_int_equal(y->shape[1], 3);
            }
            tnn_module_free(m);
        }
        tnn_tensor_free(x);
    }
}

/* Direct max pooling in the terms of torch's definition: over the window's offsets
 * (ki, kj), those inside the input, first maximum kept, a NaN taking over. */
static void reference(int planes, int h, int w, int k, int s, int p, bool ceil_mode, const float *x, const float *dy,
                      float *y, float *dx)
{
    const int ho = tu_pool_windows(h, k, s, p, ceil_mode), wo = tu_pool_windows(w, k, s, p, ceil_mode);
    memset(dx, 0, sizeof(float) * (size_t)planes * h * w);
    for (int c = 0; c < planes; c++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                float best = -INFINITY;
                int at = -1;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int ih = i * s - p + ki, iw = j * s - p + kj;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                        float v = x[((size_t)c * h + ih) * w + iw];
                        if (at < 0 || v > best || isnan(v)) {
                            best = v;
                            at = ih * w + iw;
                        }
                    }
                size_t o = ((size_t)c * ho + i) * wo + j;
                y[o] = best;
                dx[(size_t)c * h * w + at] += dy[o];
            }
}

/* Forward and backward against the reference, bit for bit, over geometries with and
 * without padding and overlap, on values with ties (quantised) and without; the cases
 * without ceil_mode through both constructors, those with it (the last column: windows
 * past the edge, or dropped by torch's rule) through tnn_max_pool2d_new_with. */
static void maxpool2d_values(void **state)
{
    (void)state;
    const int cases[][8] = {/* n, c, h, w, k, s, p, ceil_mode */
                            {2, 3, 8, 8, 2, 2, 0, 0}, {3, 2, 9, 7, 3, 2, 1, 0}, {1, 4, 5, 6, 3, 1, 1, 0},
                            {2, 1, 6, 11, 2, 1, 1, 0}, {2, 2, 7, 7, 4, 3, 2, 0}, {1, 1, 1, 1, 1, 1, 0, 0},
                            {2, 3, 10, 5, 5, 1, 2, 0}, {4, 2, 12, 9, 2, 3, 0, 0}, {1, 2, 3, 3, 3, 3, 0, 0},
                            /* no window fits across a row: every output is clipped (1-D signals) */
                            {2, 3, 4, 1, 5, 1, 2, 0}, {1, 2, 3, 1, 7, 1, 3, 0}, {2, 2, 1, 2, 5, 1, 2, 0},
                            {1, 1, 6, 3, 7, 2, 3, 0},
                            /* ceil_mode */
                            {2, 3, 7, 9, 2, 2, 0, 1}, {3, 2, 8, 10, 3, 2, 1, 1}, {2, 2, 8, 9, 3, 3, 1, 1},
                            {2, 3, 9, 11, 2, 2, 1, 1}, {2, 2, 10, 11, 4, 3, 2, 1}, {1, 2, 1, 2, 4, 2, 1, 1},
                            {2, 1, 13, 6, 5, 4, 2, 1}, {2, 2, 12, 14, 3, 2, 1, 1}, {1, 3, 7, 1, 3, 2, 1, 1}};
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0] * 2; ci++) {
        const int *g = cases[ci / 2];
        if (g[7] && ci % 2) continue; /* one constructor for ceil_mode */
        for (int quantised = 0; quantised < 2; quantised++) {
            tnn_module *m = ci % 2 ? tnn_max_pool2d_new(g[4], g[5], g[6]) : pool_with(g[4], g[5], g[6], g[7]);
            assert_non_null(m);
            tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
            tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
            if (quantised)
                for (size_t i = 0; i < x->size; i++) x->data[i] = roundf(x->data[i]);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            const int ho = tu_pool_windows(g[2], g[4], g[5], g[6], g[7]), wo = tu_pool_windows(g[3], g[4], g[5], g[6], g[7]);
            assert_int_equal(y->ndim, 4);
            assert_int_equal(y->shape[0], g[0]);
            assert_int_equal(y->shape[1], g[1]);
            assert_int_equal(y->shape[2], ho);
            assert_int_equal(y->shape[3], wo);
            tnn_tensor *dy = tnn_tensor_new(4, y->shape);
            tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
            float *ry = malloc(y->size * sizeof(float)), *rdx = malloc(x->size * sizeof(float));
            reference(g[0] * g[1], g[2], g[3], g[4], g[5], g[6], g[7], x->data, dy->data, ry, rdx);
            assert_memory_equal(y->data, ry, y->size * sizeof(float));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_int_equal(dx->ndim, 4);
            assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
            assert_memory_equal(dx->data, rdx, x->size * sizeof(float));
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
static void maxpool2d_unbatched(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *m = tnn_max_pool2d_new(3, 2, 1);
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

static void maxpool2d_refusals(void **state)
{
    (void)state;
    assert_null(tnn_max_pool2d_new(0, 1, 0));
    TU_ASSERT_MSG("max_pool2d(k0, s1, p0)", "kernel_size must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_max_pool2d_new(2, -1, 0));
    TU_ASSERT_MSG("stride must be >= 0", NULL);
    assert_null(tnn_max_pool2d_new(2, 2, -1));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    assert_null(tnn_max_pool2d_new(3, 1, 2)); /* torch: "pad should be at most half of kernel size" */
    TU_ASSERT_MSG("max_pool2d(k3, s1, p2)", "padding must be at most half the kernel size", NULL);
    assert_null(tnn_max_pool2d_new(1, 1, 1));
    TU_ASSERT_MSG("at most half", NULL);
    tnn_module *ok = tnn_max_pool2d_new(4, 1, 2); /* 2 = 4 / 2: allowed, as by torch */
    assert_non_null(ok);
    tnn_module_free(ok);

    tnn_module *m = tnn_max_pool2d_new(3, 1, 0);
    const tnn_tensor *y, *dx;
    tnn_tensor *x2 = tnn_tensor_new2(2, 64), *small = tnn_tensor_new4(2, 1, 2, 8), *x5 = tnn_tensor_new1(9);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "max_pool2d(k3, s1, p0)", "[2 x 64] is 2-D",
                  "[batch x channels x H x W]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x5, &y), TNN_ERR_SHAPE, "[9] is 1-D", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, small, &y), TNN_ERR_SHAPE, "max_pool2d(k3, s1, p0)", "[2 x 1 x 2 x 8]",
                  "is 2 x 8", "smaller than the 3 x 3 window", NULL);
    tnn_tensor *dy = tnn_tensor_new4(2, 1, 6, 6);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, NULL);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 8, 8);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    tnn_tensor *bad = tnn_tensor_new4(2, 1, 6, 5);
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 1 x 6 x 5]", "[2 x 1 x 6 x 6]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    /* padded: 1 x 1 with padding 1 is 3 x 3, enough for a 2 x 2 window; 3 x 3 needs p1 */
    tnn_module *pm = tnn_max_pool2d_new(2, 1, 1);
    tnn_tensor *one = tnn_tensor_new4(1, 1, 1, 1);
    TU_ASSERT_OK(tnn_module_forward(pm, one, &y));
    assert_int_equal(y->shape[2], 2);
    tnn_module_free(pm);
    /* a stride or padding near INT_MAX (the window arithmetic is int's): refused, not a
     * wild write; a stride larger than the input but within range still pools */
    tnn_module *far = tnn_max_pool2d_new(4, INT_MAX, 2), *wide = tnn_max_pool2d_new(INT_MAX, 0, INT_MAX / 2);
    tnn_module *big = tnn_max_pool2d_new(2, 1000, 1);
    tnn_tensor *four = tnn_tensor_new4(1, 1, 4, 4);
    for (int i = 0; i < 16; i++) four->data[i] = (float)i;
    TU_ASSERT_ERR(tnn_module_forward(far, four, &y), TNN_ERR_SHAPE, "max_pool2d(k4, s2147483647, p2)",
                  "[1 x 1 x 4 x 4]", "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(wide, one, &y), TNN_ERR_SHAPE, "padded plus the stride exceeds", NULL);
    TU_ASSERT_OK(tnn_module_forward(big, four, &y));
    assert_int_equal(y->size, 1);
    assert_true(y->data[0] == 0.0f); /* the window [-1, 1) x [-1, 1): element 0 */
    tnn_module_free(far);
    tnn_module_free(wide);
    tnn_module_free(big);
    tnn_tensor_free(four);
    /* its own output as its input: refused (module.h, rule 1) */
    tnn_module *sq = tnn_max_pool2d_new(1, 1, 0);
    TU_ASSERT_OK(tnn_module_forward(sq, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(sq, y, &y), TNN_ERR_ARG, "max_pool2d(k1, s1, p0)", "own output", NULL);
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

/* tnn_max_pool2d_new_with: the settings tnn_max_pool2d_new refuses, refused the same
 * way (TNN_ERR_ARG naming the settings and the argument); AvgPool2d's settings changed
 * from their defaults; a struct not started from tnn_pool2d_defaults(). describe shows
 * ceil_mode when set; with the defaults the module is tnn_max_pool2d_new's. */
static void maxpool2d_with_settings(void **state)
{
    (void)state;
    char d[96];
    tnn_pool2d_params p = tnn_pool2d_defaults();
    assert_int_equal(p.stride, 0);
    assert_int_equal(p.padding, 0);
    assert_false(p.ceil_mode);
    assert_true(p.count_include_pad);
    assert_int_equal(p.divisor_override, 0);
    tnn_clear_error();
    assert_null(tnn_max_pool2d_new_with(0, p));
    TU_ASSERT_MSG("max_pool2d(k0, s0, p0)", "kernel_size must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    p.stride = -2;
    p.ceil_mode = true;
    assert_null(tnn_max_pool2d_new_with(3, p));
    TU_ASSERT_MSG("max_pool2d(k3, s-2, p0, ceil_mode=true)", "stride must be >= 0", NULL);
    p.stride = 2;
    p.padding = -1;
    assert_null(tnn_max_pool2d_new_with(3, p));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    p.padding = 2;
    assert_null(tnn_max_pool2d_new_with(3, p));
    TU_ASSERT_MSG("max_pool2d(k3, s2, p2, ceil_mode=true)", "padding must be at most half the kernel size", NULL);
    p.padding = 1;
    p.count_include_pad = false;
    assert_null(tnn_max_pool2d_new_with(3, p));
    TU_ASSERT_MSG("count_include_pad=false", "count_include_pad is AvgPool2d's setting", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    p.count_include_pad = true;
    p.divisor_override = 4;
    assert_null(tnn_max_pool2d_new_with(3, p));
    TU_ASSERT_MSG("divisor_override=4", "divisor_override is AvgPool2d's setting", NULL);
    p.divisor_override = 0;
    tnn_module *m = tnn_max_pool2d_new_with(3, p);
    assert_non_null(m);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "max_pool2d(k3, s2, p1, ceil_mode=true)");
    tnn_module_free(m);
    tnn_pool2d_params z = {.ceil_mode = true, .count_include_pad = true};
    tnn_clear_error();
    assert_null(tnn_max_pool2d_new_with(3, z));
    TU_ASSERT_MSG("max_pool2d", "tnn_pool2d_defaults()", "{.field = value}", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    /* the defaults with a default stride: tnn_max_pool2d_new(2, 0, 0)'s text */
    m = tnn_max_pool2d_new_with(2, tnn_pool2d_defaults());
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "max_pool2d(k2, s2, p0)");
    tnn_module_free(m);
}

/* describe, and no parameters: an empty state_dict, nothing to count; requires_grad
 * and eval change nothing. */
static void maxpool2d_describe_no_parameters(void **state)
{
    (void)state;
    char d[64];
    tnn_module *a = tnn_max_pool2d_new(2, 2, 0), *b = tnn_max_pool2d_new(3, 1, 1);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "max_pool2d(k2, s2, p0)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "max_pool2d(k3, s1, p1)");
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
 * 32,768 elements: 100,352, 40,800, 38,016 and 36,608). */
static void maxpool2d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int cases[][8] = {{16, 8, 28, 28, 2, 2, 0, 0}, {8, 20, 15, 17, 3, 1, 1, 0}, {8, 33, 12, 12, 3, 2, 1, 0},
                            {8, 32, 13, 11, 3, 2, 1, 1}}; /* the last: ceil_mode, windows past the edge */
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        tnn_module *m = pool_with(g[4], g[5], g[6], g[7]);
        tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        for (size_t i = 0; i < x->size; i += 7) x->data[i] = roundf(x->data[i]); /* some ties */
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

/* After the first call of a shape, forward and backward allocate nothing (the argmax
 * indices included), and return the same buffers; a smaller batch fits in them too. */
static void maxpool2d_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = tnn_max_pool2d_new(3, 2, 1);
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
 * (or NULL) naming max_pool2d, nothing leaked, and the module works once memory is
 * there. */
static void maxpool2d_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 6, 5), *dy = tnn_tensor_new4(2, 2, 3, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    bool done = false;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_max_pool2d_new(3, 2, 1);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "max_pool2d"));
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
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* LeNet-like: Conv2d -> ReLU -> MaxPool2d -> Conv2d -> ReLU -> MaxPool2d -> Flatten ->
 * Linear in a Sequential: shapes through the chain, its summary (no parameters for the
 * pools), dL/dx of the whole chain against the layers run one by one, and a few Adam
 * steps lowering the cross-entropy. */
static void maxpool2d_in_lenet(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_max_pool2d_new(2, 0, 0)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 6, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_max_pool2d_new(3, 2, 1)));
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
    assert_non_null(strstr(text, "max_pool2d(k2, s2, p0)"));
    assert_non_null(strstr(text, "max_pool2d(k3, s2, p1)"));
    assert_int_equal(tnn_module_num_params(s), 4 * 9 + 4 + 6 * 4 * 9 + 6 + 54 * 3 + 3);

    tnn_tensor *x = tnn_tensor_new4(8, 1, 10, 10), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    /* 10x10 -> 5x5 (k2) -> 3x3 (k3, s2, p1) */
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
    printf("LeNet-like CNN: cross-entropy %.4f -> %.4f after 30 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);

    /* a pool's output buffer as the Sequential's input: refused, as a Conv2d's is */
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_max_pool2d_new(2, 1, 0)));
    tnn_module *p2 = tnn_max_pool2d_new(2, 1, 0);
    TU_ASSERT_OK(tnn_sequential_add(s2, p2));
    TU_ASSERT_OK(tnn_module_forward(p2, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG, "output buffer of child 1 (max_pool2d(k2, s1, p0))",
                  "pass a copy", NULL);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(maxpool2d_hand_computed),
    cmocka_unit_test(maxpool2d_ties),
    cmocka_unit_test(maxpool2d_nan),
    cmocka_unit_test(maxpool2d_minus_inf_padding),
    cmocka_unit_test(maxpool2d_overlap_adds),
    cmocka_unit_test(maxpool2d_default_stride),
    cmocka_unit_test(maxpool2d_ceil_hand_computed),
    cmocka_unit_test(maxpool2d_ceil_output_sizes),
    cmocka_unit_test(maxpool2d_values),
    cmocka_unit_test(maxpool2d_unbatched),
    cmocka_unit_test(maxpool2d_refusals),
    cmocka_unit_test(maxpool2d_with_settings),
    cmocka_unit_test(maxpool2d_describe_no_parameters),
    cmocka_unit_test(maxpool2d_same_bits_on_any_thread_count),
    cmocka_unit_test(maxpool2d_buffers_reused),
    cmocka_unit_test(maxpool2d_allocation_failures),
    cmocka_unit_test(maxpool2d_in_lenet),
};

TU_MAIN("maxpool2d", tests)
