/* Unit tests of Conv2d (tnn_conv2d_new, tinynn/layers.h): values against a direct
 * convolution in double, shapes, refusals, describe, initialisation, state_dict names,
 * the same bits on 1, 2 and 3 threads, buffers reused, allocation failures, and
 * a small CNN (Conv2d -> ReLU -> Flatten -> Linear) trained with Adam. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct geom {
    int n, in, h, w, out, k, s, p;
} geom;

static int out_size(int size, int k, int s, int p) { return (size + 2 * p - k) / s + 1; }

/* Direct convolution in double: y, and from dy: dx, dW, db; a[0..3] receive, for each
 * of y, dx, dW, db in turn, the sums of the terms' magnitudes (what float rounding of
 * the sums scales with), a[k] holding one per element. */
static void reference(const geom *g, const float *x, const float *wt, const float *b, const float *dy, double *y,
                      double *dx, double *dw, double *db, double *a[4])
{
    const int ho = out_size(g->h, g->k, g->s, g->p), wo = out_size(g->w, g->k, g->s, g->p);
    memset(dx, 0, sizeof(double) * (size_t)g->n * g->in * g->h * g->w);
    memset(dw, 0, sizeof(double) * (size_t)g->out * g->in * g->k * g->k);
    memset(db, 0, sizeof(double) * (size_t)g->out);
    memset(a[1], 0, sizeof(double) * (size_t)g->n * g->in * g->h * g->w);
    memset(a[2], 0, sizeof(double) * (size_t)g->out * g->in * g->k * g->k);
    memset(a[3], 0, sizeof(double) * (size_t)g->out);
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->out; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    size_t yi = (((size_t)n * g->out + o) * ho + i) * wo + j;
                    double acc = b ? b[o] : 0.0, gy = dy[yi], mag = fabs(acc);
                    db[o] += gy;
                    a[3][o] += fabs(gy);
                    for (int c = 0; c < g->in; c++)
                        for (int ki = 0; ki < g->k; ki++)
                            for (int kj = 0; kj < g->k; kj++) {
                                int ih = i * g->s - g->p + ki, iw = j * g->s - g->p + kj;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                                size_t xi = (((size_t)n * g->in + c) * g->h + ih) * g->w + iw;
                                size_t wi = (((size_t)o * g->in + c) * g->k + ki) * g->k + kj;
                                acc += (double)x[xi] * wt[wi];
                                mag += fabs((double)x[xi] * wt[wi]);
                                dx[xi] += gy * wt[wi];
                                a[1][xi] += fabs(gy * wt[wi]);
                                dw[wi] += gy * x[xi];
                                a[2][wi] += fabs(gy * x[xi]);
                            }
                    y[yi] = acc;
                    a[0][yi] = mag;
                }
}

/* |got - want| <= rtol * mag for every element: float sums are off by a few ulps of
 * the sum of their terms' magnitudes, whatever order they add in. */
static void assert_close_to_mag(const float *got, const double *want, const double *mag, size_t n, double rtol,
                                const char *what)
{
    size_t worst = 0;
    double worst_r = -1.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(got[i] - want[i]) / (mag[i] > 0 ? mag[i] : 1e-30);
        if (!(r <= worst_r)) { worst_r = r; worst = i; }
    }
    if (!(worst_r <= rtol))
        fail_msg("%s: element %zu of %zu: got %.9g, expected %.9g, error %.3g of the terms' magnitude %.3g (limit %.3g)",
                 what, worst, n, got[worst], want[worst], worst_r, mag[worst], rtol);
}

/* Forward and backward against the reference, for a range of geometries: within 4
 * float ulps (2^-22) of the sum of the terms' magnitudes. The last three cut the batch
 * into groups of several samples, the last group shorter, and the backward's runs into
 * one or two groups each (conv2d.c: 19 samples of 5 x 5 go 2 by 2, 10 groups in 8 runs;
 * 67 of 2 x 2 outputs 8 by 8, 9 groups), with K = 432 and 576 beyond OpenBLAS's block
 * of the inner dimension. */
static void conv2d_values(void **state)
{
    (void)state;
    const geom cases[] = {
        {2, 1, 28, 28, 16, 3, 1, 1}, {3, 3, 9, 7, 5, 3, 2, 1}, {1, 2, 5, 5, 3, 5, 1, 0}, {2, 4, 6, 11, 2, 2, 2, 0},
        {2, 2, 4, 3, 40, 3, 1, 2}, {1, 1, 1, 1, 1, 1, 1, 0}, {2, 3, 8, 8, 1, 3, 3, 1},
        {19, 48, 5, 5, 6, 3, 1, 1}, {67, 2, 4, 4, 3, 3, 2, 1}, {17, 64, 3, 4, 5, 3, 1, 1},
    };
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geom *g = &cases[ci];
        for (int bias = 0; bias < 2; bias++) {
            tnn_module *m = tnn_conv2d_new(g->in, g->out, g->k, g->s, g->p, bias, &r);
            assert_non_null(m);
            tnn_tensor *x = tnn_tensor_new4(g->n, g->in, g->h, g->w);
            tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            const int ho = out_size(g->h, g->k, g->s, g->p), wo = out_size(g->w, g->k, g->s, g->p);
            assert_int_equal(y->ndim, 4);
            assert_int_equal(y->shape[0], g->n);
            assert_int_equal(y->shape[1], g->out);
            assert_int_equal(y->shape[2], ho);
            assert_int_equal(y->shape[3], wo);
            tnn_tensor *dy = tnn_tensor_new(4, y->shape);
            tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
            tnn_tensor_list *p = tnn_module_parameters(m, "");
            const float *wt = p->items[0].data, *b = bias ? p->items[1].data : NULL;
            size_t nw = (size_t)g->out * g->in * g->k * g->k;
            double *ry = malloc(sizeof(double) * y->size), *rdx = malloc(sizeof(double) * x->size);
            double *rdw = malloc(sizeof(double) * nw), *rdb = malloc(sizeof(double) * (size_t)g->out);
            double *mag[4] = {malloc(sizeof(double) * y->size), malloc(sizeof(double) * x->size),
                              malloc(sizeof(double) * nw), malloc(sizeof(double) * (size_t)g->out)};
            const double tol = 0x1p-22;
            reference(g, x->data, wt, b, dy->data, ry, rdx, rdw, rdb, mag);
            assert_close_to_mag(y->data, ry, mag[0], y->size, tol, "conv2d y");
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_int_equal(dx->ndim, 4);
            assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
            assert_close_to_mag(dx->data, rdx, mag[1], x->size, tol, "conv2d dx");
            assert_close_to_mag(p->items[0].grad, rdw, mag[2], nw, tol, "conv2d dW");
            if (bias) assert_close_to_mag(p->items[1].grad, rdb, mag[3], (size_t)g->out, 0x1p-24, "conv2d db (double sum)");
            for (int i = 0; i < 4; i++) free(mag[i]);
            free(ry);
            free(rdx);
            free(rdw);
            free(rdb);
            tnn_tensor_list_free(p);
            tnn_tensor_free(dy);
            tnn_tensor_free(x);
            tnn_module_free(m);
        }
    }
}

/* One unbatched sample [C x H x W] gives [out x Hout x Wout], as the same sample batched. */
static void conv2d_unbatched(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *m = tnn_conv2d_new(2, 3, 3, 2, 1, true, &r);
    tnn_tensor *x = tnn_tensor_new3(2, 7, 5);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor *xb = tnn_tensor_new4(1, 2, 7, 5);
    memcpy(xb->data, x->data, x->size * sizeof(float));
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, xb, &y));
    tnn_tensor *yb = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 4);
    assert_int_equal(y->shape[2], 3);
    assert_memory_equal(y->data, yb->data, yb->size * sizeof(float));
    tnn_tensor *dy = tnn_tensor_new3(3, 4, 3);
    const tnn_tensor *dx;
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_int_equal(dx->ndim, 3);
    tnn_tensor_free(dy);
    tnn_tensor_free(yb);
    tnn_tensor_free(xb);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void conv2d_refusals(void **state)
{
    (void)state;
    assert_null(tnn_conv2d_new(0, 4, 3, 1, 1, true, NULL));
    TU_ASSERT_MSG("conv2d(0->4, k3, s1, p1)", "in_channels must be >= 1", NULL);
    assert_null(tnn_conv2d_new(1, 0, 3, 1, 1, true, NULL));
    TU_ASSERT_MSG("out_channels must be >= 1", NULL);
    assert_null(tnn_conv2d_new(1, 4, 0, 1, 1, true, NULL));
    TU_ASSERT_MSG("kernel_size must be >= 1", NULL);
    assert_null(tnn_conv2d_new(1, 4, 3, 0, 1, true, NULL));
    TU_ASSERT_MSG("stride must be >= 1", NULL);
    assert_null(tnn_conv2d_new(1, 4, 3, 1, -1, true, NULL));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    assert_null(tnn_conv2d_new(65536, 65536, 3, 1, 1, true, NULL));
    TU_ASSERT_MSG("too large", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);

    tnn_module *m = tnn_conv2d_new(1, 4, 3, 1, 0, true, NULL);
    const tnn_tensor *y, *dx;
    tnn_tensor *x3 = tnn_tensor_new4(2, 3, 8, 8), *x2 = tnn_tensor_new2(2, 64), *small = tnn_tensor_new4(2, 1, 2, 8);
    TU_ASSERT_ERR(tnn_module_forward(m, x3, &y), TNN_ERR_SHAPE, "conv2d(1->4, k3, s1, p0)", "[2 x 3 x 8 x 8]",
                  "has 3 channels, expected 1", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "[2 x 64] is 2-D", "[batch x 1 x H x W]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, small, &y), TNN_ERR_SHAPE, "[2 x 1 x 2 x 8]", "is 2 x 8",
                  "smaller than the 3 x 3 kernel", NULL);
    tnn_tensor *dy = tnn_tensor_new4(2, 4, 6, 6);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, NULL);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 8, 8);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    tnn_tensor *bad = tnn_tensor_new4(2, 4, 6, 5);
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 4 x 6 x 5]", "[2 x 4 x 6 x 6]", NULL);
    /* a stride or padding near INT_MAX (im2col's arithmetic is int's): refused, not a
     * wild write */
    tnn_module *far = tnn_conv2d_new(1, 1, 1, INT_MAX, 2, true, NULL);
    tnn_module *pad = tnn_conv2d_new(1, 1, 1, 1, INT_MAX, true, NULL);
    tnn_tensor *one = tnn_tensor_new4(1, 1, 1, 1);
    TU_ASSERT_ERR(tnn_module_forward(far, one, &y), TNN_ERR_SHAPE, "conv2d(1->1, k1, s2147483647, p2)",
                  "[1 x 1 x 1 x 1]", "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(pad, one, &y), TNN_ERR_SHAPE, "conv2d(1->1, k1, s1, p2147483647)",
                  "padded plus the stride exceeds", NULL);
    tnn_module_free(far);
    tnn_module_free(pad);
    tnn_tensor_free(one);
    /* its own output as its input: refused (module.h, rule 1) */
    tnn_module *sq = tnn_conv2d_new(4, 4, 1, 1, 0, true, NULL);
    tnn_tensor *x4 = tnn_tensor_new4(2, 4, 6, 6);
    TU_ASSERT_OK(tnn_module_forward(sq, x4, &y));
    TU_ASSERT_ERR(tnn_module_forward(sq, y, &y), TNN_ERR_ARG, "conv2d(4->4, k1, s1, p0)", "own output", NULL);
    tnn_module_free(sq);
    tnn_tensor_free(x4);
    tnn_tensor_free(bad);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(small);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
    tnn_module_free(m);
}

static void conv2d_describe(void **state)
{
    (void)state;
    char d[64];
    tnn_module *a = tnn_conv2d_new(1, 16, 3, 1, 1, true, NULL), *b = tnn_conv2d_new(8, 4, 5, 2, 0, false, NULL);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "conv2d(1->16, k3, s1, p1)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "conv2d(8->4, k5, s2, p0, no bias)");
    tnn_module_free(a);
    tnn_module_free(b);
}

/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in*k*k, drawn as Linear draws: weight
 * first, then bias, -bound + 2 bound u each. */
static void conv2d_init_like_pytorch(void **state)
{
    (void)state;
    tnn_rng r, ref;
    tnn_rng_seed(&r, 77);
    tnn_rng_seed(&ref, 77);
    tnn_module *m = tnn_conv2d_new(3, 5, 3, 1, 1, true, &r);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    const float bound = (float)(1.0 / sqrt(27.0));
    const float *w = p->items[0].data, *b = p->items[1].data;
    assert_int_equal(p->items[0].count, 5 * 27);
    double lo = 1, hi = -1;
    for (size_t i = 0; i < p->items[0].count; i++) {
        assert_true(w[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref));
        lo = fmin(lo, w[i]);
        hi = fmax(hi, w[i]);
    }
    for (int i = 0; i < 5; i++) assert_true(b[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref));
    assert_true(lo >= -bound && hi <= bound && hi - lo > bound); /* spread over the range */
    assert_int_equal(tnn_rng_u32(&r), tnn_rng_u32(&ref));      /* and nothing more drawn */
    tnn_tensor_list_free(p);
    tnn_module_free(m);
    /* NULL rng: zeros */
    m = tnn_conv2d_new(3, 5, 3, 1, 1, true, NULL);
    p = tnn_module_parameters(m, "");
    for (int i = 0; i < p->count; i++)
        for (size_t j = 0; j < p->items[i].count; j++) assert_true(((const float *)p->items[i].data)[j] == 0.0f);
    tnn_tensor_list_free(p);
    tnn_module_free(m);
}

/* torch's names and shapes, under a Sequential's prefix (nn.Sequential(nn.Conv2d(...), ...)). */
static void conv2d_state_dict_names(void **state)
{
    (void)state;
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 16, 3, 1, 1, true, NULL)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(16, 8, 5, 2, 0, false, NULL)));
    tnn_tensor_list *l = tnn_module_state_dict(s, "model.");
    assert_int_equal(l->count, 3);
    assert_string_equal(l->items[0].name, "model.0.weight");
    assert_int_equal(l->items[0].ndim, 4);
    assert_int_equal(l->items[0].shape[0], 16);
    assert_int_equal(l->items[0].shape[1], 1);
    assert_int_equal(l->items[0].shape[2], 3);
    assert_int_equal(l->items[0].shape[3], 3);
    assert_string_equal(l->items[1].name, "model.0.bias");
    assert_int_equal(l->items[1].ndim, 1);
    assert_int_equal(l->items[1].shape[0], 16);
    assert_string_equal(l->items[2].name, "model.2.weight");
    assert_int_equal(l->items[2].shape[0], 8);
    assert_int_equal(l->items[2].shape[1], 16);
    assert_int_equal(l->items[2].shape[2], 5);
    assert_true(l->items[0].is_param && l->items[2].is_param);
    assert_int_equal(tnn_module_num_params(s), 16 * 9 + 16 + 8 * 16 * 25);
    tnn_tensor_list_free(l);
    tnn_module_free(s);
}

/* Whether a and b hold the same n floats, bit for bit; on failure says where. */
static void assert_same_bits(const float *a, const float *b, size_t n, const char *what, size_t ci, int threads)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("case %zu: %s element %zu of %zu on %d threads is %.9g, on 1 thread %.9g", ci, what, i, n, threads,
                     a[i], b[i]);
}

/* y, dx, dW and db have the same bits on 1, 2 and 3 threads (each group's products
 * whole on one thread, groups and the backward's runs fixed by the shape), for layers
 * whose products the library's gemm would otherwise split: fewer than 32 out channels
 * with a long K, 32 or more, an output of one or two rows; and batches cut into
 * several groups per run with a shorter last group. A frozen layer's dx (no dW, dy
 * regrouped only for dx) has the same bits too. */
static void conv2d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const geom cases[] = {
        {4, 1, 28, 28, 16, 3, 1, 1},  /* MNIST-like: each sample one product */
        {3, 16, 20, 20, 24, 3, 1, 1}, /* out < 32, out*K*P > 2^18: split by columns in tnn_gemm_run */
        {3, 16, 14, 14, 48, 3, 1, 1}, /* out >= 32: split by rows in tnn_gemm_run */
        {3, 8, 12, 12, 2, 3, 1, 1},   /* two output channels: tnn_gemm_run's matrix-vector path */
        {5, 3, 30, 30, 1, 5, 2, 2},
        {90, 8, 6, 6, 12, 3, 1, 1},   /* 9 groups of 11 samples (the last of 2) in 8 runs */
        {19, 48, 5, 5, 6, 3, 1, 1},   /* K = 432; 10 groups of 2 (the last of 1) */
    };
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geom *g = &cases[ci];
        tnn_rng init;
        tnn_rng_seed(&init, 100 + ci);
        tnn_module *m = tnn_conv2d_new(g->in, g->out, g->k, g->s, g->p, true, &init);
        tnn_tensor *x = tnn_tensor_new4(g->n, g->in, g->h, g->w);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        tnn_tensor *y1 = NULL, *dx1 = NULL, *dy = NULL;
        tnn_tensor_list *p = tnn_module_parameters(m, "");
        const size_t nw = p->items[0].count, nb = p->items[1].count;
        float *dw1 = malloc(nw * sizeof(float)), *db1 = malloc(nb * sizeof(float));
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            for (int rep = 0; rep < 2; rep++) {
                const tnn_tensor *y, *dx;
                TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                if (!y1) {
                    y1 = tnn_tensor_clone(y);
                    dy = tnn_tensor_new(4, y->shape);
                    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
                } else {
                    assert_same_bits(y->data, y1->data, y1->size, "y", ci, threads);
                }
                tnn_module_discard_grad(m);
                TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
                if (threads == 1 && rep == 0) {
                    dx1 = tnn_tensor_clone(dx);
                    memcpy(dw1, p->items[0].grad, nw * sizeof(float));
                    memcpy(db1, p->items[1].grad, nb * sizeof(float));
                } else {
                    assert_same_bits(dx->data, dx1->data, dx1->size, "dx", ci, threads);
                    assert_same_bits(p->items[0].grad, dw1, nw, "dW", ci, threads);
                    assert_same_bits(p->items[1].grad, db1, nb, "db", ci, threads);
                }
            }
            tnn_module_set_requires_grad(m, false);
            const tnn_tensor *dx;
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_same_bits(dx->data, dx1->data, dx1->size, "frozen dx", ci, threads);
            tnn_module_set_requires_grad(m, true);
        }
        tnn_parallel_set_threads(1);
        free(dw1);
        free(db1);
        tnn_tensor_list_free(p);
        tnn_tensor_free(y1);
        tnn_tensor_free(dx1);
        tnn_tensor_free(dy);
        tnn_tensor_free(x);
        tnn_module_free(m);
    }
}

/* After the first call of a shape, forward and backward allocate nothing, and return
 * the same buffers; a smaller batch fits in them too. */
static void conv2d_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = tnn_conv2d_new(2, 4, 3, 1, 1, true, &r);
    tnn_tensor *x = tnn_tensor_new4(4, 2, 9, 9), *x2 = tnn_tensor_new4(2, 2, 9, 9), *dy = tnn_tensor_new4(4, 4, 9, 9);
    tnn_tensor *dy2 = tnn_tensor_new4(2, 4, 9, 9);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
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
 * (or NULL) naming conv2d, nothing leaked, and the module works once memory is there. */
static void conv2d_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 6, 5), *dy = tnn_tensor_new4(2, 3, 3, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    bool done = false;
    for (long k = 0; k < 40 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_conv2d_new(2, 3, 3, 2, 1, true, &r);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "conv2d"));
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

/* discard_grad as Linear's: the next backward writes the gradients, visit reads zeros
 * and no_grad until then; a frozen module's backward writes none. */
static void conv2d_discard_grad(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_module *m = tnn_conv2d_new(1, 2, 3, 1, 1, true, &r);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 4, 4), *dy = tnn_tensor_new4(2, 2, 4, 4);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    float first[18 + 2];
    memcpy(first, p->items[0].grad, 18 * sizeof(float));
    memcpy(first + 18, p->items[1].grad, 2 * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    assert_true(p->items[1].grad[0] != first[18]); /* accumulated */
    tnn_tensor_list_free(p);
    tnn_module_discard_grad(m);
    p = tnn_module_parameters(m, ""); /* visit: zeros, no_grad */
    assert_true(p->items[0].no_grad && p->items[1].no_grad);
    for (int i = 0; i < 18; i++) assert_true(p->items[0].grad[i] == 0.0f);
    tnn_tensor_list_free(p);
    tnn_module_discard_grad(m);
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL)); /* written, not added */
    p = tnn_module_parameters(m, "");
    assert_false(p->items[0].no_grad);
    assert_memory_equal(p->items[0].grad, first, 18 * sizeof(float));
    assert_memory_equal(p->items[1].grad, first + 18, 2 * sizeof(float));
    tnn_tensor_list_free(p);
    tnn_module_discard_grad(m);
    tnn_module_set_requires_grad(m, false);
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    p = tnn_module_parameters(m, "");
    assert_true(p->items[0].no_grad); /* a frozen backward wrote nothing */
    tnn_tensor_list_free(p);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

/* Conv2d -> ReLU -> Flatten -> Linear in a Sequential: its summary, and a few Adam steps
 * on random data lowering the cross-entropy. */
static void conv2d_small_cnn_trains(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 6, 3, 2, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6 * 4 * 4, 3, true, &r)));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "conv2d(1->4, k3, s1, p1)"));
    assert_non_null(strstr(text, "conv2d(4->6, k3, s2, p1)"));
    assert_non_null(strstr(text, "flatten"));
    assert_non_null(strstr(text, "linear(96->3)"));

    tnn_tensor *x = tnn_tensor_new4(8, 1, 8, 8), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 1e-2;
    tnn_optimizer *opt = tnn_adam_new(s, ap);
    assert_non_null(opt);
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < 20; step++) {
        const tnn_tensor *y;
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
        if (step == 0) first = loss;
        tnn_optimizer_zero_grad(opt);
        TU_ASSERT_OK(tnn_module_backward(s, grad, NULL));
        TU_ASSERT_OK(tnn_optimizer_step(opt));
    }
    printf("small CNN: cross-entropy %.4f -> %.4f after 20 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(conv2d_values),
    cmocka_unit_test(conv2d_unbatched),
    cmocka_unit_test(conv2d_refusals),
    cmocka_unit_test(conv2d_describe),
    cmocka_unit_test(conv2d_init_like_pytorch),
    cmocka_unit_test(conv2d_state_dict_names),
    cmocka_unit_test(conv2d_same_bits_on_any_thread_count),
    cmocka_unit_test(conv2d_buffers_reused),
    cmocka_unit_test(conv2d_allocation_failures),
    cmocka_unit_test(conv2d_discard_grad),
    cmocka_unit_test(conv2d_small_cnn_trains),
};

TU_MAIN("conv2d", tests)
