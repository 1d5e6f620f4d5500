/* Unit tests of ConvTranspose2d (tnn_conv_transpose2d_new, tinynn/layers.h): values
 * against a direct transposed convolution in double on many geometries, the adjoint of
 * Conv2d bit for bit, shapes, one unbatched sample, refusals, describe, initialisation,
 * state_dict names and shapes, the same bits on 1, 2 and 3 threads, buffers reused,
 * allocation failures, discard_grad, and a DCGAN-like generator in a Sequential. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct geom {
    int n, in, h, w, out, k, s, p, op;
} geom;

static int out_size(int size, int k, int s, int p, int op) { return (size - 1) * s - 2 * p + k + op; }

/* Direct transposed convolution in double: y, and from dy: dx, dW, db; a[0..3] receive,
 * for each of y, dx, dW, db in turn, the sums of the terms' magnitudes (what float
 * rounding of the sums scales with), a[k] holding one per element. Every input element
 * scatters x * W[c, o, ki, kj] into output (ih*s - p + ki, iw*s - p + kj) when that lies
 * inside the output (torch's definition). */
static void reference(const geom *g, const float *x, const float *wt, const float *b, const float *dy, double *y,
                      double *dx, double *dw, double *db, double *a[4])
{
    const int ho = out_size(g->h, g->k, g->s, g->p, g->op), wo = out_size(g->w, g->k, g->s, g->p, g->op);
    const size_t ny = (size_t)g->n * g->out * ho * wo, nx = (size_t)g->n * g->in * g->h * g->w;
    const size_t nw = (size_t)g->in * g->out * g->k * g->k;
    for (size_t i = 0; i < ny; i++) {
        const int o = (int)(i / ((size_t)ho * wo) % (size_t)g->out);
        y[i] = b ? b[o] : 0.0;
        a[0][i] = b ? fabs(b[o]) : 0.0;
    }
    memset(dx, 0, sizeof(double) * nx);
    memset(dw, 0, sizeof(double) * nw);
    memset(db, 0, sizeof(double) * (size_t)g->out);
    memset(a[1], 0, sizeof(double) * nx);
    memset(a[2], 0, sizeof(double) * nw);
    memset(a[3], 0, sizeof(double) * (size_t)g->out);
    for (size_t i = 0; i < ny; i++) {
        const int o = (int)(i / ((size_t)ho * wo) % (size_t)g->out);
        db[o] += dy[i];
        a[3][o] += fabs(dy[i]);
    }
    for (int n = 0; n < g->n; n++)
        for (int c = 0; c < g->in; c++)
            for (int ih = 0; ih < g->h; ih++)
                for (int iw = 0; iw < g->w; iw++) {
                    const size_t xi = (((size_t)n * g->in + c) * g->h + ih) * g->w + iw;
                    for (int o = 0; o < g->out; o++)
                        for (int ki = 0; ki < g->k; ki++)
                            for (int kj = 0; kj < g->k; kj++) {
                                const int oh = ih * g->s - g->p + ki, ow = iw * g->s - g->p + kj;
                                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                                const size_t yi = (((size_t)n * g->out + o) * ho + oh) * wo + ow;
                                const size_t wi = (((size_t)c * g->out + o) * g->k + ki) * g->k + kj;
                                const double t = (double)x[xi] * wt[wi], gy = dy[yi];
                                y[yi] += t;
                                a[0][yi] += fabs(t);
                                dx[xi] += gy * wt[wi];
                                a[1][xi] += fabs(gy * wt[wi]);
                                dw[wi] += gy * x[xi];
                                a[2][wi] += fabs(gy * x[xi]);
                            }
                }
}

/* |got - want| <= rtol * mag for every element: float sums are off by a few ulps of
 * the sum of their terms' magnitudes, whatever order they add in. Returns the worst
 * ratio seen. */
static double assert_close_to_mag(const float *got, const double *want, const double *mag, size_t n, double rtol,
                                  const char *what, size_t ci)
{
    size_t worst = 0;
    double worst_r = -1.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs(got[i] - want[i]) / (mag[i] > 0 ? mag[i] : 1e-30);
        if (!(r <= worst_r)) { worst_r = r; worst = i; }
    }
    if (!(worst_r <= rtol))
        fail_msg("case %zu: %s: element %zu of %zu: got %.9g, expected %.9g, error %.3g of the terms' magnitude %.3g "
                 "(limit %.3g)", ci, what, worst, n, got[worst], want[worst], worst_r, mag[worst], rtol);
    return worst_r;
}

/* Forward and backward against the reference, for a range of geometries (stride 1 to
 * 3, padding 0 to 2, output_padding 0 to 2, kernels 1 to 5, kernels smaller than the
 * stride (outputs no kernel reaches), odd and non-square sizes, padding that cuts
 * whole kernels off, the DCGAN layers), with and without bias: within 4 float ulps
 * (2^-22) of the sum of the terms' magnitudes. The last three cut the batch into
 * groups of several samples, the last group shorter, and the backward's runs into one
 * or two groups each (as conv2d.c: 19 samples of 5 x 5 inputs go 2 by 2, 10 groups in 8
 * runs; 67 of 2 x 2, 8 by 8, 9 groups), with Kt = out*k*k = 432 and 576, beyond
 * OpenBLAS's block of the inner dimension. */
static void convt_values(void **state)
{
    (void)state;
    const geom cases[] = {
        {2, 3, 4, 4, 2, 4, 2, 1, 0},   /* DCGAN's upsampling: 4x4 -> 8x8 */
        {3, 4, 1, 1, 3, 4, 1, 0, 0},   /* DCGAN's first layer: 1x1 -> 4x4 */
        {2, 2, 5, 3, 3, 3, 2, 1, 1},   /* output_padding 1: 10 x 6 */
        {1, 1, 3, 4, 2, 5, 1, 2, 0},   /* stride 1: "same" size (k = 2p + 1) */
        {2, 2, 3, 3, 2, 3, 1, 0, 0},   /* stride 1, no padding: 5x5 */
        {2, 3, 3, 5, 2, 2, 3, 0, 2},   /* kernel smaller than the stride: gaps get the bias only */
        {1, 2, 4, 3, 3, 1, 2, 0, 1},   /* 1x1 kernel, stride 2 */
        {2, 2, 6, 5, 2, 3, 3, 2, 1},   /* stride 3, padding 2 */
        {1, 3, 2, 2, 4, 5, 2, 2, 1},   /* padding cuts most of each kernel */
        {2, 2, 3, 3, 1, 3, 1, 2, 0},   /* padding 2 on a 3x3 kernel: 1x1 out */
        {1, 1, 1, 1, 1, 1, 1, 0, 0},
        {19, 6, 5, 5, 48, 3, 1, 1, 0}, /* Kt = 432; 10 groups of 2 (the last of 1) */
        {67, 3, 2, 2, 2, 3, 2, 1, 1},  /* 9 groups of 8 (the last of 3) */
        {17, 5, 3, 4, 64, 3, 1, 1, 0}, /* Kt = 576 */
    };
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    double worst[4] = {0, 0, 0, 0};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geom *g = &cases[ci];
        for (int bias = 0; bias < 2; bias++) {
            tnn_module *m = tnn_conv_transpose2d_new(g->in, g->out, g->k, g->s, g->p, g->op, bias, &r);
            assert_non_null(m);
            tnn_tensor *x = tnn_tensor_new4(g->n, g->in, g->h, g->w);
            tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            const int ho = out_size(g->h, g->k, g->s, g->p, g->op), wo = out_size(g->w, g->k, g->s, g->p, g->op);
            assert_int_equal(y->ndim, 4);
            assert_int_equal(y->shape[0], g->n);
            assert_int_equal(y->shape[1], g->out);
            assert_int_equal(y->shape[2], ho);
            assert_int_equal(y->shape[3], wo);
            tnn_tensor *dy = tnn_tensor_new(4, y->shape);
            tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
            tnn_tensor_list *p = tnn_module_parameters(m, "");
            const float *wt = p->items[0].data, *b = bias ? p->items[1].data : NULL;
            if (bias) /* a bias of its own size, so that it shows in y next to the products */
                for (int o = 0; o < g->out; o++) ((float *)p->items[1].data)[o] = (float)(0.25 * (o + 1));
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            size_t nw = (size_t)g->out * g->in * g->k * g->k;
            double *ry = malloc(sizeof(double) * y->size), *rdx = malloc(sizeof(double) * x->size);
            double *rdw = malloc(sizeof(double) * nw), *rdb = malloc(sizeof(double) * (size_t)g->out);
            double *mag[4] = {malloc(sizeof(double) * y->size), malloc(sizeof(double) * x->size),
                              malloc(sizeof(double) * nw), malloc(sizeof(double) * (size_t)g->out)};
            const double tol = 0x1p-22;
            reference(g, x->data, wt, b, dy->data, ry, rdx, rdw, rdb, mag);
            worst[0] = fmax(worst[0], assert_close_to_mag(y->data, ry, mag[0], y->size, tol, "y", ci));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_int_equal(dx->ndim, 4);
            assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
            worst[1] = fmax(worst[1], assert_close_to_mag(dx->data, rdx, mag[1], x->size, tol, "dx", ci));
            worst[2] = fmax(worst[2], assert_close_to_mag(p->items[0].grad, rdw, mag[2], nw, tol, "dW", ci));
            if (bias)
                worst[3] = fmax(worst[3], assert_close_to_mag(p->items[1].grad, rdb, mag[3], (size_t)g->out, 0x1p-24,
                                                              "db (double sum)", ci));
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
    printf("conv_transpose2d against the direct sum: worst error / terms' magnitude: y %.3g, dx %.3g, dW %.3g, db %.3g "
           "(limit 2^-22 = %.3g)\n", worst[0], worst[1], worst[2], worst[3], 0x1p-22);
}

/* Copies the n floats of src into the parameter `which` of m. */
static void set_param(tnn_module *m, int which, const float *src, size_t n)
{
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    assert_true(which < p->count);
    assert_int_equal(p->items[which].count, n);
    memcpy(p->items[which].data, src, n * sizeof(float)); /* (void *: a float parameter) */
    tnn_tensor_list_free(p);
}

/* ConvTranspose2d(in -> out, k, s, p, op) is the adjoint of Conv2d(out -> in, k, s, p)
 * on an input of the transposed layer's output size, with the same weight tensor (both
 * [in x out x k x k] in memory): its forward is that Conv2d's dL/dx, its dL/dx that
 * Conv2d's forward, and its dW that Conv2d's dW with x and dy swapped. Both run the same
 * products on the same groups, so without bias they agree bit for bit; Conv2d's values
 * are checked against torch (test_parity_conv2d.c). */
static void convt_adjoint_of_conv2d_bits(void **state)
{
    (void)state;
    const geom cases[] = {
        {3, 4, 4, 4, 2, 4, 2, 1, 0}, {2, 2, 5, 3, 3, 3, 2, 1, 1}, {1, 3, 3, 4, 2, 5, 1, 2, 0},
        {19, 6, 5, 5, 48, 3, 1, 1, 0}, {67, 3, 2, 2, 2, 3, 2, 1, 1}, {5, 2, 6, 5, 3, 3, 3, 2, 1},
    };
    tnn_rng r;
    tnn_rng_seed(&r, 15);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geom *g = &cases[ci];
        tnn_module *t = tnn_conv_transpose2d_new(g->in, g->out, g->k, g->s, g->p, g->op, false, &r);
        tnn_module *c = tnn_conv2d_new(g->out, g->in, g->k, g->s, g->p, false, NULL);
        tnn_tensor_list *pt = tnn_module_parameters(t, "");
        set_param(c, 0, pt->items[0].data, pt->items[0].count);
        const int ho = out_size(g->h, g->k, g->s, g->p, g->op), wo = out_size(g->w, g->k, g->s, g->p, g->op);
        tnn_tensor *x = tnn_tensor_new4(g->n, g->in, g->h, g->w), *z = tnn_tensor_new4(g->n, g->out, ho, wo);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        tnn_tensor_uniform(z, &r, -1.0f, 1.0f);
        const tnn_tensor *yt, *dxt, *yc, *dxc;
        /* transposed: y = T(x), dx = T^T(z); Conv2d: y = C(z), dx = C^T(x) */
        TU_ASSERT_OK(tnn_module_forward(t, x, &yt));
        TU_ASSERT_OK(tnn_module_forward(c, z, &yc));
        assert_memory_equal(yc->shape, x->shape, sizeof x->shape);
        assert_memory_equal(yt->shape, z->shape, sizeof z->shape);
        TU_ASSERT_OK(tnn_module_backward(t, z, &dxt));
        TU_ASSERT_OK(tnn_module_backward(c, x, &dxc));
        assert_memory_equal(yt->data, dxc->data, z->size * sizeof(float));
        assert_memory_equal(dxt->data, yc->data, x->size * sizeof(float));
        tnn_tensor_list *pc = tnn_module_parameters(c, "");
        assert_memory_equal(pt->items[0].grad, pc->items[0].grad, pt->items[0].count * sizeof(float));
        tnn_tensor_list_free(pc);
        tnn_tensor_list_free(pt);
        tnn_tensor_free(x);
        tnn_tensor_free(z);
        tnn_module_free(t);
        tnn_module_free(c);
    }
}

/* A hand-computed case: 1 -> 1 channel, all-ones 3x3 kernel, stride 3, output_padding
 * 2 on a 2x2 input of ones: the 6x6 block of kernels and two rows and columns that no
 * kernel reaches (torch gives them the bias alone: 0.5 here, as it prints). */
static void convt_hand_computed(void **state)
{
    (void)state;
    tnn_module *m = tnn_conv_transpose2d_new(1, 1, 3, 3, 0, 2, true, NULL);
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, half = 0.5f;
    set_param(m, 0, ones, 9);
    set_param(m, 1, &half, 1);
    tnn_tensor *x = tnn_tensor_new4(1, 1, 2, 2);
    for (int i = 0; i < 4; i++) x->data[i] = (float)(i + 1);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->shape[2], 8);
    assert_int_equal(y->shape[3], 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            const float want = i < 6 && j < 6 ? 0.5f + x->data[(i / 3) * 2 + j / 3] : 0.5f;
            assert_true(y->data[i * 8 + j] == want);
        }
    /* padding 1 cuts the first and last row and column: 4 + 2 - 2 = 6 */
    tnn_module *mp = tnn_conv_transpose2d_new(1, 1, 3, 3, 1, 2, false, NULL);
    set_param(mp, 0, ones, 9);
    TU_ASSERT_OK(tnn_module_forward(mp, x, &y));
    assert_int_equal(y->shape[2], 6);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            const int oi = i + 1, oj = j + 1; /* in the unpadded output */
            const float want = oi < 6 && oj < 6 ? x->data[(oi / 3) * 2 + oj / 3] : 0.0f;
            assert_true(y->data[i * 6 + j] == want);
        }
    tnn_tensor_free(x);
    tnn_module_free(m);
    tnn_module_free(mp);
}

/* One unbatched sample [C x H x W] gives [out x Hout x Wout], as the same sample batched,
 * and its dL/dx is [C x H x W]. */
static void convt_unbatched(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *m = tnn_conv_transpose2d_new(2, 3, 3, 2, 1, 1, true, &r);
    tnn_tensor *x = tnn_tensor_new3(2, 4, 5);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor *xb = tnn_tensor_new4(1, 2, 4, 5);
    memcpy(xb->data, x->data, x->size * sizeof(float));
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, xb, &y));
    tnn_tensor *yb = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 8); /* (4-1)*2 - 2 + 3 + 1, as torch's [3, 8, 10] */
    assert_int_equal(y->shape[2], 10);
    assert_memory_equal(y->data, yb->data, yb->size * sizeof(float));
    tnn_tensor *dy = tnn_tensor_new3(3, 8, 10);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *dx;
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_int_equal(dx->ndim, 3);
    assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
    tnn_tensor_free(dy);
    tnn_tensor_free(yb);
    tnn_tensor_free(xb);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void convt_refusals(void **state)
{
    (void)state;
    assert_null(tnn_conv_transpose2d_new(0, 4, 3, 1, 1, 0, true, NULL));
    TU_ASSERT_MSG("conv_transpose2d(0->4, k3, s1, p1, op0)", "in_channels must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_conv_transpose2d_new(1, 0, 3, 1, 1, 0, true, NULL));
    TU_ASSERT_MSG("out_channels must be >= 1", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 4, 0, 1, 1, 0, true, NULL));
    TU_ASSERT_MSG("kernel_size must be >= 1", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 4, 3, 0, 1, 0, true, NULL));
    TU_ASSERT_MSG("stride must be >= 1", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 4, 3, 1, -1, 0, true, NULL));
    TU_ASSERT_MSG("padding must be >= 0", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 4, 3, 2, 1, -1, true, NULL));
    TU_ASSERT_MSG("output_padding must be >= 0", NULL);
    /* torch: "output padding must be smaller than either stride or dilation" */
    assert_null(tnn_conv_transpose2d_new(1, 4, 3, 1, 1, 1, true, NULL));
    TU_ASSERT_MSG("conv_transpose2d(1->4, k3, s1, p1, op1)", "output_padding must be smaller than stride", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 4, 3, 2, 1, 2, true, NULL));
    TU_ASSERT_MSG("output_padding must be smaller than stride", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_conv_transpose2d_new(65536, 65536, 3, 1, 1, 0, true, NULL));
    TU_ASSERT_MSG("too large", NULL);
    assert_null(tnn_conv_transpose2d_new(1, 65536, 256, 1, 1, 0, true, NULL)); /* Kt alone beyond INT_MAX */
    TU_ASSERT_MSG("too large", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);

    tnn_module *m = tnn_conv_transpose2d_new(2, 4, 3, 1, 0, 0, true, NULL);
    const tnn_tensor *y, *dx;
    tnn_tensor *x3 = tnn_tensor_new4(2, 3, 8, 8), *x2 = tnn_tensor_new2(2, 64);
    TU_ASSERT_ERR(tnn_module_forward(m, x3, &y), TNN_ERR_SHAPE, "conv_transpose2d(2->4, k3, s1, p0, op0)",
                  "[2 x 3 x 8 x 8]", "has 3 channels, expected 2", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "[2 x 64] is 2-D", "[batch x 2 x H x W]", NULL);
    tnn_tensor *x1 = tnn_tensor_new1(8);
    TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "[8] is 1-D", NULL);
    tnn_tensor_free(x1);
    /* an output of no rows: torch's "Output size is too small" ((2-1)*1 - 2*3 + 3 = -2;
     * with k1, p1: 0) */
    tnn_module *wide = tnn_conv_transpose2d_new(2, 3, 3, 1, 3, 0, true, NULL);
    tnn_module *zero = tnn_conv_transpose2d_new(2, 3, 1, 1, 1, 0, true, NULL);
    tnn_tensor *small = tnn_tensor_new4(1, 2, 2, 2), *tall = tnn_tensor_new4(1, 2, 9, 2);
    TU_ASSERT_ERR(tnn_module_forward(wide, small, &y), TNN_ERR_SHAPE, "conv_transpose2d(2->3, k3, s1, p3, op0)",
                  "[1 x 2 x 2 x 2]", "output of -2 x -2: too small", NULL);
    TU_ASSERT_ERR(tnn_module_forward(zero, small, &y), TNN_ERR_SHAPE, "output of 0 x 0: too small", NULL);
    TU_ASSERT_ERR(tnn_module_forward(wide, tall, &y), TNN_ERR_SHAPE, "output of 5 x -2: too small", NULL);
    /* padding 2 on a 3x3 kernel and a 3x3 input: 1x1, accepted as torch does */
    tnn_module *one = tnn_conv_transpose2d_new(2, 3, 3, 1, 2, 0, true, NULL);
    tnn_tensor *x33 = tnn_tensor_new4(1, 2, 3, 3);
    TU_ASSERT_OK(tnn_module_forward(one, x33, &y));
    assert_true(y->shape[2] == 1 && y->shape[3] == 1);
    tnn_module_free(one);
    tnn_tensor_free(x33);
    tnn_module_free(wide);
    tnn_module_free(zero);
    tnn_tensor_free(small);
    tnn_tensor_free(tall);
    tnn_tensor *dy = tnn_tensor_new4(2, 4, 10, 10);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "called before forward", NULL);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 8, 8);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_true(y->shape[2] == 10 && y->shape[3] == 10);
    tnn_tensor *bad = tnn_tensor_new4(2, 4, 10, 9);
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 4 x 10 x 9]", "[2 x 4 x 10 x 10]", NULL);
    /* a stride or padding near INT_MAX (im2col's arithmetic is int's): refused, not a
     * wild write */
    tnn_module *far = tnn_conv_transpose2d_new(1, 1, 1, INT_MAX, 0, 0, true, NULL);
    tnn_module *pad = tnn_conv_transpose2d_new(1, 1, 1, 1, INT_MAX / 2, 0, true, NULL);
    tnn_tensor *pair = tnn_tensor_new4(1, 1, 1, 2), *onex = tnn_tensor_new4(1, 1, 1, 1);
    TU_ASSERT_ERR(tnn_module_forward(far, pair, &y), TNN_ERR_SHAPE, "conv_transpose2d(1->1, k1, s2147483647, p0, op0)",
                  "[1 x 1 x 1 x 2]", "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(far, onex, &y), TNN_ERR_SHAPE, "padded plus the stride exceeds", NULL);
    TU_ASSERT_ERR(tnn_module_forward(pad, onex, &y), TNN_ERR_SHAPE, "too small", NULL);
    /* an output of 5 x (2^30 - 1)^2 floats, more bytes than size_t counts: refused,
     * naming the module and the output, before anything is allocated */
    tnn_module *huge = tnn_conv_transpose2d_new(1, 5, 1, (1 << 30) - 1, 0, (1 << 30) - 2, true, NULL);
    assert_non_null(huge);
    TU_ASSERT_ERR(tnn_module_forward(huge, onex, &y), TNN_ERR_SHAPE, "conv_transpose2d(1->5",
                  "output [1 x 5 x 1073741823 x 1073741823]", "larger than memory can address", NULL);
    tnn_module_free(huge);
    tnn_module_free(far);
    tnn_module_free(pad);
    tnn_tensor_free(pair);
    tnn_tensor_free(onex);
    /* its own output as its input: refused (module.h, rule 1) */
    tnn_module *sq = tnn_conv_transpose2d_new(4, 4, 1, 1, 0, 0, true, NULL);
    tnn_tensor *x4 = tnn_tensor_new4(2, 4, 6, 6);
    TU_ASSERT_OK(tnn_module_forward(sq, x4, &y));
    TU_ASSERT_ERR(tnn_module_forward(sq, y, &y), TNN_ERR_ARG, "conv_transpose2d(4->4, k1, s1, p0, op0)", "own output",
                  NULL);
    tnn_module_free(sq);
    tnn_tensor_free(x4);
    tnn_tensor_free(bad);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
    tnn_module_free(m);
}

static void convt_describe(void **state)
{
    (void)state;
    char d[80];
    tnn_module *a = tnn_conv_transpose2d_new(100, 64, 4, 1, 0, 0, true, NULL);
    tnn_module *b = tnn_conv_transpose2d_new(8, 4, 5, 2, 1, 1, false, NULL);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "conv_transpose2d(100->64, k4, s1, p0, op0)");
    assert_string_equal(tnn_module_describe(b, d, sizeof d), "conv_transpose2d(8->4, k5, s2, p1, op1, no bias)");
    tnn_module_free(a);
    tnn_module_free(b);
}

/* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in for this layout: the weight's
 * dimension 1 times k*k, out_channels * k * k (torch 1.13: ConvTranspose2d(3, 5, 4)
 * has fan_in 80, not in*k*k = 48; ConvTranspose2d(2, 50, 4)'s largest weight of 6400 is
 * 0.03535 = 1/sqrt(800)), drawn as Linear draws: weight first, then bias. */
static void convt_init_like_pytorch(void **state)
{
    (void)state;
    tnn_rng r, ref;
    tnn_rng_seed(&r, 77);
    tnn_rng_seed(&ref, 77);
    tnn_module *m = tnn_conv_transpose2d_new(3, 5, 4, 2, 1, 0, true, &r);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    const float bound = (float)(1.0 / sqrt(80.0));
    const float *w = p->items[0].data, *b = p->items[1].data;
    assert_int_equal(p->items[0].count, 3 * 5 * 16);
    double lo = 1, hi = -1;
    for (size_t i = 0; i < p->items[0].count; i++) {
        assert_true(w[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref));
        lo = fmin(lo, w[i]);
        hi = fmax(hi, w[i]);
    }
    for (int i = 0; i < 5; i++) assert_true(b[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref));
    assert_true(lo >= -bound && hi <= bound && hi - lo > bound); /* spread over the range */
    assert_true(hi > 1.0 / sqrt(96.0));                          /* beyond a bound of 1/sqrt(in*k*k*2) */
    assert_int_equal(tnn_rng_u32(&r), tnn_rng_u32(&ref));        /* and nothing more drawn */
    tnn_tensor_list_free(p);
    tnn_module_free(m);
    /* NULL rng: zeros */
    m = tnn_conv_transpose2d_new(3, 5, 4, 2, 1, 0, true, NULL);
    p = tnn_module_parameters(m, "");
    for (int i = 0; i < p->count; i++)
        for (size_t j = 0; j < p->items[i].count; j++) assert_true(((const float *)p->items[i].data)[j] == 0.0f);
    tnn_tensor_list_free(p);
    tnn_module_free(m);
}

/* torch's names and shapes, under a Sequential's prefix: weight [in x out x k x k]. */
static void convt_state_dict_names(void **state)
{
    (void)state;
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(16, 8, 4, 1, 0, 0, true, NULL)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(8, 3, 5, 2, 1, 1, false, NULL)));
    tnn_tensor_list *l = tnn_module_state_dict(s, "main.");
    assert_int_equal(l->count, 3);
    assert_string_equal(l->items[0].name, "main.0.weight");
    assert_int_equal(l->items[0].ndim, 4);
    assert_int_equal(l->items[0].shape[0], 16);
    assert_int_equal(l->items[0].shape[1], 8);
    assert_int_equal(l->items[0].shape[2], 4);
    assert_int_equal(l->items[0].shape[3], 4);
    assert_string_equal(l->items[1].name, "main.0.bias");
    assert_int_equal(l->items[1].ndim, 1);
    assert_int_equal(l->items[1].shape[0], 8);
    assert_string_equal(l->items[2].name, "main.2.weight");
    assert_int_equal(l->items[2].shape[0], 8);
    assert_int_equal(l->items[2].shape[1], 3);
    assert_int_equal(l->items[2].shape[2], 5);
    assert_true(l->items[0].is_param && l->items[2].is_param);
    assert_int_equal(tnn_module_num_params(s), 16 * 8 * 16 + 8 + 8 * 3 * 25);
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
 * whole on one thread, groups and the backward's runs fixed by the shape), on inputs
 * large enough for the pool to take the tasks: DCGAN's layers, a batch of one large
 * sample, batches cut into several groups per run with a shorter last group, and
 * output_padding. A frozen layer's dx has the same bits too. */
static void convt_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const geom cases[] = {
        {64, 32, 1, 1, 32, 4, 1, 0, 0}, /* DCGAN's first layer: 1x1 -> 4x4, 8 groups of 8 */
        {8, 16, 8, 8, 8, 4, 2, 1, 0},   /* 8x8 -> 16x16 */
        {1, 8, 20, 20, 6, 3, 2, 1, 1},  /* one sample: one group, one run */
        {90, 8, 3, 3, 12, 3, 2, 1, 1},  /* 9 groups of 11 samples (the last of 2) in 8 runs */
        {19, 6, 5, 5, 48, 3, 1, 1, 0},  /* Kt = 432; 10 groups of 2 (the last of 1) */
    };
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const geom *g = &cases[ci];
        tnn_rng init;
        tnn_rng_seed(&init, 100 + ci);
        tnn_module *m = tnn_conv_transpose2d_new(g->in, g->out, g->k, g->s, g->p, g->op, true, &init);
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
static void convt_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = tnn_conv_transpose2d_new(2, 4, 4, 2, 1, 0, true, &r);
    tnn_tensor *x = tnn_tensor_new4(12, 2, 5, 5), *x2 = tnn_tensor_new4(3, 2, 5, 5), *dy = tnn_tensor_new4(12, 4, 10, 10);
    tnn_tensor *dy2 = tnn_tensor_new4(3, 4, 10, 10);
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
 * (or NULL) naming conv_transpose2d, nothing leaked, and the module works once memory
 * is there. */
static void convt_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 3, 2), *dy = tnn_tensor_new4(2, 3, 6, 4);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    bool done = false;
    for (long k = 0; k < 40 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_conv_transpose2d_new(2, 3, 3, 2, 1, 1, true, &r);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "conv_transpose2d"));
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
static void convt_discard_grad(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_module *m = tnn_conv_transpose2d_new(1, 2, 3, 2, 1, 1, true, &r);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 3, 3), *dy = tnn_tensor_new4(2, 2, 6, 6);
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

/* A DCGAN-like generator in a Sequential: ConvTranspose2d(8 -> 6, k4) on [N x 8 x 1 x 1]
 * -> ReLU -> ConvTranspose2d(6 -> 4, k4, s2, p1) -> ReLU -> ConvTranspose2d(4 -> 1, k4,
 * s2, p1) -> Tanh: 1x1 -> 4x4 -> 8x8 -> 16x16. Its summary; dL/dx of the chain against
 * the layers run one by one; a few Adam steps of MSE towards fixed images lowering the
 * loss; and a ConvTranspose2d's output buffer as the Sequential's input refused. */
static void convt_dcgan_generator(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(8, 6, 4, 1, 0, 0, false, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(6, 4, 4, 2, 1, 0, false, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv_transpose2d_new(4, 1, 4, 2, 1, 0, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "conv_transpose2d(8->6, k4, s1, p0, op0, no bias)"));
    assert_non_null(strstr(text, "conv_transpose2d(4->1, k4, s2, p1, op0)"));
    assert_int_equal(tnn_module_num_params(s), 8 * 6 * 16 + 6 * 4 * 16 + 4 * 16 + 1);

    tnn_tensor *z = tnn_tensor_new4(8, 8, 1, 1), *target = tnn_tensor_new4(8, 1, 16, 16), *grad = tnn_tensor_new4(8, 1, 16, 16);
    tnn_tensor_uniform(z, &r, -1.0f, 1.0f);
    for (size_t i = 0; i < target->size; i++) /* a different smooth pattern per sample */
        target->data[i] = 0.8f * sinf(0.4f * (float)(i % 16) + 0.7f * (float)(i / 256)) * cosf(0.3f * (float)(i / 16 % 16));
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), z, &y));
    for (int i = 1; i < 6; i++) {
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
        if (i == 1) assert_true(y->shape[1] == 6 && y->shape[2] == 4 && y->shape[3] == 4);
        if (i == 3) assert_true(y->shape[1] == 4 && y->shape[2] == 8 && y->shape[3] == 8);
    }
    assert_true(y->ndim == 4 && y->shape[0] == 8 && y->shape[1] == 1 && y->shape[2] == 16 && y->shape[3] == 16);
    float loss = 0.0f;
    TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
    tnn_module_zero_grad(s);
    const tnn_tensor *g = grad;
    for (int i = 5; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *alone = tnn_tensor_clone(g);
    assert_memory_equal(alone->shape, z->shape, sizeof z->shape);
    TU_ASSERT_OK(tnn_module_forward(s, z, &y)); /* the chain gives the same dL/dx */
    TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_backward(s, grad, &dx));
    assert_memory_equal(dx->data, alone->data, alone->size * sizeof(float));
    tnn_tensor_free(alone);

    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 1e-2;
    tnn_optimizer *opt = tnn_adam_new(s, ap);
    assert_non_null(opt);
    float first = 0.0f;
    for (int step = 0; step < 60; step++) {
        TU_ASSERT_OK(tnn_module_forward(s, z, &y));
        TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
        if (step == 0) first = loss;
        tnn_optimizer_zero_grad(opt);
        TU_ASSERT_OK(tnn_module_backward(s, grad, NULL));
        TU_ASSERT_OK(tnn_optimizer_step(opt));
    }
    printf("DCGAN-like generator: MSE %.4f -> %.4f after 60 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);

    /* a ConvTranspose2d's output buffer as the Sequential's input: refused, as a Conv2d's is */
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_conv_transpose2d_new(1, 1, 3, 1, 1, 0, true, &r)));
    tnn_module *t2 = tnn_conv_transpose2d_new(1, 1, 3, 1, 1, 0, true, &r);
    TU_ASSERT_OK(tnn_sequential_add(s2, t2));
    tnn_tensor *img = tnn_tensor_new4(2, 1, 5, 5);
    TU_ASSERT_OK(tnn_module_forward(t2, img, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG,
                  "output buffer of child 1 (conv_transpose2d(1->1, k3, s1, p1, op0))", "pass a copy", NULL);
    tnn_tensor_free(img);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(z);
    tnn_tensor_free(target);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(convt_values),
    cmocka_unit_test(convt_adjoint_of_conv2d_bits),
    cmocka_unit_test(convt_hand_computed),
    cmocka_unit_test(convt_unbatched),
    cmocka_unit_test(convt_refusals),
    cmocka_unit_test(convt_describe),
    cmocka_unit_test(convt_init_like_pytorch),
    cmocka_unit_test(convt_state_dict_names),
    cmocka_unit_test(convt_same_bits_on_any_thread_count),
    cmocka_unit_test(convt_buffers_reused),
    cmocka_unit_test(convt_allocation_failures),
    cmocka_unit_test(convt_discard_grad),
    cmocka_unit_test(convt_dcgan_generator),
};

TU_MAIN("conv_transpose2d", tests)
