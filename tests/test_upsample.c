/* Unit tests of Upsample (tnn_upsample_nearest2d_new, tinynn/layers.h): hand-computed
 * outputs and gradients, the order of the backward's additions (float, row by row, from
 * +0), torch's float index rule at scale 41, values against a direct reference over
 * many shapes and scales, refusals (arguments, 3-D input, sizes past INT_MAX or memory),
 * describe and no parameters, the same bits on 1, 2 and 3 threads, buffers reused
 * without allocating, allocation failures, and a DCGAN-like generator in a Sequential
 * (Linear -> Unflatten -> Upsample -> Conv2d -> Tanh): shapes, its summary, the chain
 * against the layers run one by one, an Upsample's buffer refused as the input, and a
 * few Adam steps. */
#include "testutil.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upsample x ([1 x 1 x h x w], values row by row) by k; y must be want_y (h*k x w*k
 * values) bit for bit and dx, for dy, want_dx bit for bit. */
static void up_one(int k, int h, int w, const float *x, const float *dy, const float *want_y, const float *want_dx)
{
    tnn_module *m = tnn_upsample_nearest2d_new(k);
    assert_non_null(m);
    tnn_tensor *xt = tnn_tensor_new4(1, 1, h, w);
    memcpy(xt->data, x, (size_t)h * (size_t)w * sizeof(float));
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, xt, &y));
    const int n = h * k * w * k;
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[2], h * k);
    assert_int_equal(y->shape[3], w * k);
    for (int i = 0; i < n; i++)
        if (memcmp(&y->data[i], &want_y[i], sizeof(float)) != 0 && !(isnan(y->data[i]) && isnan(want_y[i])))
            fail_msg("y[%d]: %g, expected %g", i, (double)y->data[i], (double)want_y[i]);
    tnn_tensor *g = tnn_tensor_new(4, y->shape);
    memcpy(g->data, dy, (size_t)n * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
    assert_memory_equal(dx->shape, xt->shape, sizeof xt->shape);
    for (int i = 0; i < h * w; i++)
        if (memcmp(&dx->data[i], &want_dx[i], sizeof(float)) != 0 && !(isnan(dx->data[i]) && isnan(want_dx[i])))
            fail_msg("dx[%d]: %.9g, expected %.9g", i, (double)dx->data[i], (double)want_dx[i]);
    tnn_tensor_free(g);
    tnn_tensor_free(xt);
    tnn_module_free(m);
}

/* 2 x 3 by 2 and 2 x 2 by 3: every element k x k times; each dx the sum of its block. */
static void upsample_hand_computed(void **state)
{
    (void)state;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const float y[24] = {1, 1, 2, 2, 3, 3, /**/ 1, 1, 2, 2, 3, 3, /**/ 4, 4, 5, 5, 6, 6, /**/ 4, 4, 5, 5, 6, 6};
    float dy[24];
    for (int i = 0; i < 24; i++) dy[i] = (float)(1 << (i % 12)) * (i < 12 ? 1.0f : -1.0f);
    /* rows 0, 1: 1 2 4 8 16 32 / 64 128 256 512 1024 2048; rows 2, 3 the same, negated */
    const float dx[6] = {1 + 2 + 64 + 128, 4 + 8 + 256 + 512, 16 + 32 + 1024 + 2048,
                         -(1 + 2 + 64 + 128), -(4 + 8 + 256 + 512), -(16 + 32 + 1024 + 2048)};
    up_one(2, 2, 3, x, dy, y, dx);
    const float x3[4] = {-1.5f, 0.25f, NAN, INFINITY};
    float y3[36], dy3[36], dx3[4] = {0, 0, 0, 0};
    for (int oh = 0; oh < 6; oh++)
        for (int ow = 0; ow < 6; ow++) {
            y3[oh * 6 + ow] = x3[(oh / 3) * 2 + ow / 3];
            dy3[oh * 6 + ow] = (float)(oh * 6 + ow);
            dx3[(oh / 3) * 2 + ow / 3] += (float)(oh * 6 + ow);
        }
    up_one(3, 2, 2, x3, dy3, y3, dx3);
    /* scale 1: a copy */
    const float one[6] = {1, -2, 3, -4, 5, -6};
    up_one(1, 2, 3, one, one, one, one);
}

/* The backward adds in float, output rows in order and each row's columns in order,
 * from +0 (torch's cpu_upsample_nearest_backward): values chosen so that another order
 * or a double accumulator gives other bits; a block of -0 sums to +0. */
static void upsample_backward_order(void **state)
{
    (void)state;
    const float x[1] = {7};
    const float y[4] = {7, 7, 7, 7};
    /* dx = (((0 + dy00) + dy01) + dy10) + dy11. With dy = 2^24, 1, -2^24, 1: 2^24 + 1
     * rounds to 2^24 (ties to even), so row order gives 1; by columns, 2^24 - 2^24 + 1 + 1
     * = 2; in double, 2. */
    const float dy[4] = {16777216.0f, 1.0f, -16777216.0f, 1.0f}, dx[1] = {1.0f};
    up_one(2, 1, 1, x, dy, y, dx);
    /* 1 + 2^24 = 2^24, - 2^24, + 1: 1 (by columns 1 - 2^24 + 2^24 + 1 = 2) */
    const float dy2[4] = {1.0f, 16777216.0f, -16777216.0f, 1.0f}, dx2[1] = {1.0f};
    up_one(2, 1, 1, x, dy2, y, dx2);
    const float dz[4] = {-0.0f, -0.0f, -0.0f, -0.0f}, dxz[1] = {0.0f}; /* +0, not -0 */
    up_one(2, 1, 1, x, dz, y, dxz);
    const float di[4] = {INFINITY, 1.0f, -INFINITY, 2.0f}, dxi[1] = {NAN};
    up_one(2, 1, 1, x, di, y, dxi);
}

/* torch 1.13's index for scale factors other than 1 and 2 is floor(o * (float)(1/k)) in
 * float, which is not o / k for every k: at k = 41, 41 * (float)(1/41) rounds below 1,
 * so output row and column 41 read input 0. The output and dL/dx follow (42 x 42 of the
 * outputs come from input (0, 0); torch: dx = [[1764, 1680], [1680, 1600]] for dy of
 * ones, tests/data/parity/upsample.golden's "k41" case checks the bits). */
static void upsample_torch_index_rule(void **state)
{
    (void)state;
    tnn_module *m = tnn_upsample_nearest2d_new(41);
    tnn_tensor *x = tnn_tensor_new4(1, 1, 2, 2);
    for (int i = 0; i < 4; i++) x->data[i] = (float)(i + 1);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->shape[2], 82);
    assert_true(y->data[41] == 1.0f && y->data[42] == 2.0f);             /* row 0, columns 41 and 42 */
    assert_true(y->data[41 * 82] == 1.0f && y->data[42 * 82] == 3.0f);   /* rows 41 and 42, column 0 */
    tnn_tensor *dy = tnn_tensor_new(4, y->shape);
    tnn_tensor_fill(dy, 1.0f);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_true(dx->data[0] == 1764.0f && dx->data[1] == 1680.0f && dx->data[2] == 1680.0f && dx->data[3] == 1600.0f);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* Direct nearest upsampling by k for the scales whose torch index is o / k at these
 * sizes (1 to 7), and the backward's float sums in torch's order. */
static void reference(int planes, int h, int w, int k, const float *x, const float *dy, float *y, float *dx)
{
    const int ho = h * k, wo = w * k;
    memset(dx, 0, sizeof(float) * (size_t)planes * (size_t)h * (size_t)w);
    for (int c = 0; c < planes; c++)
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                const size_t o = ((size_t)c * ho + i) * wo + j, s = ((size_t)c * h + i / k) * w + j / k;
                y[o] = x[s];
                dx[s] += dy[o];
            }
}

/* Forward and backward against the reference, bit for bit, for scales 1 to 7 over odd
 * and even sizes, batches and channel counts; dy with spread exponents. */
static void upsample_values(void **state)
{
    (void)state;
    const int cases[][5] = {/* n, c, h, w, k */
                            {2, 3, 5, 4, 1}, {3, 2, 7, 5, 2}, {1, 4, 3, 6, 3}, {2, 1, 1, 1, 4}, {2, 2, 5, 3, 5},
                            {1, 3, 2, 9, 7}, {4, 2, 8, 8, 2}, {1, 1, 1, 13, 3}, {2, 3, 11, 1, 2}};
    tnn_rng r;
    tnn_rng_seed(&r, 21);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        tnn_module *m = tnn_upsample_nearest2d_new(g[4]);
        tnn_tensor *x = tnn_tensor_new4(g[0], g[1], g[2], g[3]);
        tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        assert_int_equal(y->ndim, 4);
        assert_true(y->shape[0] == g[0] && y->shape[1] == g[1] && y->shape[2] == g[2] * g[4] && y->shape[3] == g[3] * g[4]);
        tnn_tensor *dy = tnn_tensor_new(4, y->shape);
        tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
        for (size_t i = 0; i < dy->size; i++) dy->data[i] = ldexpf(dy->data[i], (int)tnn_rng_below(&r, 40) - 15);
        float *ry = malloc(y->size * sizeof(float)), *rdx = malloc(x->size * sizeof(float));
        reference(g[0] * g[1], g[2], g[3], g[4], x->data, dy->data, ry, rdx);
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

static void upsample_refusals(void **state)
{
    (void)state;
    assert_null(tnn_upsample_nearest2d_new(0));
    TU_ASSERT_MSG("upsample(scale_factor=0, nearest)", "scale_factor must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_upsample_nearest2d_new(-2));
    TU_ASSERT_MSG("scale_factor must be >= 1", NULL);

    tnn_module *m = tnn_upsample_nearest2d_new(2);
    const tnn_tensor *y, *dx;
    tnn_tensor *x3 = tnn_tensor_new3(3, 4, 5), *x2 = tnn_tensor_new2(2, 8), *x1 = tnn_tensor_new1(4);
    /* torch's Upsample takes [N x C x L] as a 1-D upsampling: a sample [C x H x W] is refused */
    TU_ASSERT_ERR(tnn_module_forward(m, x3, &y), TNN_ERR_SHAPE, "upsample(scale_factor=2, nearest)",
                  "[3 x 4 x 5] is 3-D", "[batch x channels x H x W]", "1-D upsampling", "[1 x C x H x W]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "[2 x 8] is 2-D", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "[4] is 1-D", NULL);
    tnn_tensor *dy = tnn_tensor_new4(1, 2, 4, 4);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "before forward", NULL);
    tnn_tensor *x = tnn_tensor_new4(1, 2, 2, 2), *bad = tnn_tensor_new4(1, 2, 4, 3);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[1 x 2 x 4 x 3]", "[1 x 2 x 4 x 4]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL)); /* no dx wanted: nothing to do */
    /* its own output as its input: refused (module.h, rule 1) */
    TU_ASSERT_ERR(tnn_module_forward(m, y, &y), TNN_ERR_ARG, "upsample(scale_factor=2, nearest)", "own output", NULL);

    /* Sizes the output cannot have, refused before the input is read (views over one
     * float): a dimension past INT_MAX, more planes than an int counts, more elements
     * than memory can address. */
    float one = 1.0f;
    tnn_tensor *wide = tnn_tensor_view(&one, 4, (int[]){1, 1, 1, 1 << 30});
    tnn_tensor *tall = tnn_tensor_view(&one, 4, (int[]){1, 1, INT_MAX / 3 + 1, 1});
    tnn_tensor *many = tnn_tensor_view(&one, 4, (int[]){65536, 65536, 1, 1});
    tnn_tensor *huge = tnn_tensor_view(&one, 4, (int[]){1 << 15, 1 << 15, 1 << 15, 1 << 15});
    assert_true(wide && tall && many && huge);
    TU_ASSERT_ERR(tnn_module_forward(m, wide, &y), TNN_ERR_SHAPE, "upsample(scale_factor=2, nearest)",
                  "[1 x 1 x 1 x 1073741824]", "[1 x 1 x 2 x 2147483648]", "larger than a tensor holds", NULL);
    tnn_module *m3 = tnn_upsample_nearest2d_new(3);
    TU_ASSERT_ERR(tnn_module_forward(m3, tall, &y), TNN_ERR_SHAPE, "upsample(scale_factor=3, nearest)",
                  "2147483649", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, many, &y), TNN_ERR_SHAPE, "[65536 x 65536 x 1 x 1]", NULL);
    if (sizeof(size_t) == 8) /* 2^60 elements in, 2^62 out: 2^64 bytes */
        TU_ASSERT_ERR(tnn_module_forward(m, huge, &y), TNN_ERR_SHAPE, "[32768 x 32768 x 65536 x 65536]", NULL);
    /* and the module still works */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    tnn_module_free(m3);
    tnn_tensor_free(wide);
    tnn_tensor_free(tall);
    tnn_tensor_free(many);
    tnn_tensor_free(huge);
    tnn_tensor_free(x);
    tnn_tensor_free(bad);
    tnn_tensor_free(dy);
    tnn_tensor_free(x1);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
    tnn_module_free(m);
}

/* describe, and no parameters: an empty state_dict, nothing to count; eval and
 * requires_grad change nothing. */
static void upsample_describe_no_parameters(void **state)
{
    (void)state;
    char d[64];
    tnn_module *a = tnn_upsample_nearest2d_new(2);
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "upsample(scale_factor=2, nearest)");
    assert_string_equal(a->vt->type_name, "upsample");
    assert_int_equal(tnn_module_num_params(a), 0);
    tnn_tensor_list *l = tnn_module_state_dict(a, "");
    assert_non_null(l);
    assert_int_equal(l->count, 0);
    tnn_tensor_list_free(l);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 3, 3), *dy = tnn_tensor_new4(2, 2, 6, 6);
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(a, x, &y));
    tnn_tensor *y1 = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_backward(a, dy, &dx));
    tnn_tensor *dx1 = tnn_tensor_clone(dx);
    tnn_module_eval(a);
    tnn_module_set_requires_grad(a, false);
    TU_ASSERT_OK(tnn_module_forward(a, x, &y));
    assert_memory_equal(y->data, y1->data, y1->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(a, dy, &dx));
    assert_memory_equal(dx->data, dx1->data, dx1->size * sizeof(float));
    tnn_tensor_free(y1);
    tnn_tensor_free(dx1);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(a);
}

/* The same bits on 1, 2 and 3 threads, forward and backward, for outputs large enough
 * that the planes are split over the threads (at least 32 planes and twice
 * UPSAMPLE_PARALLEL_MIN, 65,536, output elements: 262,144, 136,080 and 403,440), scales
 * 2, 3 and 41 (through the table). */
static void upsample_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int cases[][5] = {{16, 16, 16, 16, 2}, {6, 35, 9, 8, 3}, {4, 10, 2, 3, 41}};
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *g = cases[ci];
        tnn_module *m = tnn_upsample_nearest2d_new(g[4]);
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
                for (size_t i = 0; i < dy->size; i++) dy->data[i] = ldexpf(dy->data[i], (int)tnn_rng_below(&r, 40) - 15);
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

/* After the first call of a shape, forward and backward allocate nothing (the index
 * table included), and return the same buffers; a smaller batch fits in them too. */
static void upsample_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = tnn_upsample_nearest2d_new(3);
    tnn_tensor *x = tnn_tensor_new4(4, 3, 5, 7), *x2 = tnn_tensor_new4(2, 3, 5, 7), *dy = tnn_tensor_new4(4, 3, 15, 21);
    tnn_tensor *dy2 = tnn_tensor_new4(2, 3, 15, 21);
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
 * (or NULL) naming upsample, nothing leaked, and the module works once memory is there,
 * with the right values. */
static void upsample_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new4(2, 2, 3, 5), *dy = tnn_tensor_new4(2, 2, 9, 15);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    float *ry = malloc(dy->size * sizeof(float)), *rdx = malloc(x->size * sizeof(float));
    reference(4, 3, 5, 3, x->data, dy->data, ry, rdx);
    bool done = false;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_upsample_nearest2d_new(3);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "upsample"));
            if (m) {
                TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                assert_memory_equal(y->data, ry, dy->size * sizeof(float));
                TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
                assert_memory_equal(dx->data, rdx, x->size * sizeof(float));
            }
        }
        tnn_module_free(m);
        long live = tu_alloc_live();
        tu_alloc_uninstall();
        assert_int_equal(live, 0);
    }
    assert_true(done);
    free(ry);
    free(rdx);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* An allocator that refuses any request above 64 MB and remembers the largest one. */
static size_t g_largest;
static void *capped_malloc(void *u, size_t n)
{
    (void)u;
    if (n > g_largest) g_largest = n;
    return n > ((size_t)64 << 20) ? NULL : malloc(n);
}
static void *capped_realloc(void *u, void *p, size_t n)
{
    (void)u;
    if (n > g_largest) g_largest = n;
    return n > ((size_t)64 << 20) ? NULL : realloc(p, n);
}
static void capped_free(void *u, void *p)
{
    (void)u;
    free(p);
}

/* An output too large for memory is refused before the table of source indices is
 * built for it: scale 2^26 on one pixel asks for 2^52 floats of output, and nothing of
 * the 512 MB table's size is requested (0.8.0 built and kept the table first). A
 * forward whose output or table cannot grow fails cleanly: the backward is refused
 * until a forward succeeds, and the next one gives the right values. */
static void upsample_huge_output_refused_before_its_table(void **state)
{
    (void)state;
    const size_t table = ((size_t)2 << 26) * sizeof(int32_t);
    tnn_set_allocator(&(tnn_allocator){capped_malloc, capped_realloc, capped_free, NULL});
    g_largest = 0;
    tnn_module *m = tnn_upsample_nearest2d_new(1 << 26);
    assert_non_null(m);
    tnn_tensor *one = tnn_tensor_new4(1, 1, 1, 1);
    const tnn_tensor *y, *dx;
    TU_ASSERT_ERR(tnn_module_forward(m, one, &y), TNN_ERR_NOMEM, "output", (const char *)NULL);
    assert_null(strstr(tnn_last_error(), "source indices"));
    assert_true(g_largest > table * 1000); /* the output's request, refused */
    tnn_module_free(m);
    tnn_tensor_free(one);
    tnn_set_allocator(NULL);

    /* A forward on a larger input whose allocations fail one by one. */
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_tensor *x = tnn_tensor_new4(1, 2, 2, 3), *dy = tnn_tensor_new4(1, 2, 6, 9);
    tnn_tensor *big = tnn_tensor_new4(1, 2, 20, 30);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(big, &r, -1.0f, 1.0f);
    float ry[108], rdx[12];
    reference(2, 2, 3, 3, x->data, dy->data, ry, rdx);
    int failures = 0;
    for (long k = 0; k < 8; k++) {
        m = tnn_upsample_nearest2d_new(3);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        tu_alloc_install(k);
        tnn_status st = tnn_module_forward(m, big, &y);
        bool failed = tu_alloc_count() > k;
        tu_alloc_uninstall();
        if (failed) {
            assert_int_equal(st, TNN_ERR_NOMEM);
            failures++;
            TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "forward that failed", (const char *)NULL);
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            assert_memory_equal(y->data, ry, sizeof ry);
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            assert_memory_equal(dx->data, rdx, sizeof rdx);
        } else {
            TU_ASSERT_OK(st);
        }
        tnn_module_free(m);
    }
    assert_int_equal(failures, 2); /* the output's growth, then the table's */
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(big);
}

/* A DCGAN-like generator, PyTorch-GAN's dcgan.py in small: Linear(8 -> 4*3*3) ->
 * Unflatten(1, [4, 3, 3]) -> Upsample(2) -> Conv2d(4 -> 4, k3, p1) -> LeakyReLU ->
 * Upsample(2) -> Conv2d(4 -> 1, k3, p1) -> Tanh. Shapes through the chain, its summary
 * (no parameters for the reshapes and upsamplings), dL/dx of the whole chain against
 * the layers run one by one, an Upsample's output buffer refused as the Sequential's
 * input, and a few Adam steps fitting a target image. */
static void upsample_in_generator(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(8, 4 * 3 * 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_unflatten_new(3, (int[]){4, 3, 3})));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_upsample_nearest2d_new(2)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_upsample_nearest2d_new(2)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(4, 1, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "unflatten(1, [4 x 3 x 3])"));
    assert_non_null(strstr(text, "upsample(scale_factor=2, nearest)"));
    assert_int_equal(tnn_module_num_params(s), 8 * 36 + 36 + 4 * 4 * 9 + 4 + 4 * 9 + 1);

    tnn_tensor *z = tnn_tensor_new2(6, 8), *target = tnn_tensor_new4(6, 1, 12, 12), *grad = tnn_tensor_new4(6, 1, 12, 12);
    tnn_tensor_uniform(z, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(target, &r, -0.5f, 0.5f);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), z, &y));
    for (int i = 1; i < 8; i++) {
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
        if (i == 1) assert_true(y->ndim == 4 && y->shape[1] == 4 && y->shape[2] == 3 && y->shape[3] == 3);
        if (i == 2) assert_true(y->shape[2] == 6 && y->shape[3] == 6);
        if (i == 5) assert_true(y->shape[2] == 12 && y->shape[3] == 12);
    }
    assert_true(y->ndim == 4 && y->shape[0] == 6 && y->shape[1] == 1 && y->shape[2] == 12 && y->shape[3] == 12);
    tnn_tensor *y_alone = tnn_tensor_clone(y);
    float loss = 0.0f;
    TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
    tnn_module_zero_grad(s);
    const tnn_tensor *g = grad;
    for (int i = 7; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *alone = tnn_tensor_clone(g);
    TU_ASSERT_OK(tnn_module_forward(s, z, &y)); /* the chain gives the same output and dL/dx */
    assert_memory_equal(y->data, y_alone->data, y_alone->size * sizeof(float));
    TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_backward(s, grad, &dx));
    assert_true(dx->ndim == 2 && dx->shape[0] == 6 && dx->shape[1] == 8);
    assert_memory_equal(dx->data, alone->data, alone->size * sizeof(float));
    tnn_tensor_free(alone);
    tnn_tensor_free(y_alone);

    /* an Upsample's output buffer as the Sequential's input: refused, as a Conv2d's is */
    tnn_module *s2 = tnn_sequential_new();
    tnn_module *u2 = tnn_upsample_nearest2d_new(2);
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_upsample_nearest2d_new(1)));
    TU_ASSERT_OK(tnn_sequential_add(s2, u2));
    tnn_tensor *small = tnn_tensor_new4(1, 1, 2, 2);
    TU_ASSERT_OK(tnn_module_forward(u2, small, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG,
                  "output buffer of child 1 (upsample(scale_factor=2, nearest))", "pass a copy", NULL);
    tnn_tensor_free(small);
    tnn_module_free(s2);

    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 1e-2;
    tnn_optimizer *opt = tnn_adam_new(s, ap);
    assert_non_null(opt);
    float first = 0.0f;
    for (int step = 0; step < 40; step++) {
        TU_ASSERT_OK(tnn_module_forward(s, z, &y));
        TU_ASSERT_OK(tnn_mse_loss(y, target, &loss, grad));
        if (step == 0) first = loss;
        tnn_optimizer_zero_grad(opt);
        TU_ASSERT_OK(tnn_module_backward(s, grad, NULL));
        TU_ASSERT_OK(tnn_optimizer_step(opt));
    }
    printf("DCGAN-like generator: MSE %.4f -> %.4f after 40 Adam steps\n", first, loss);
    assert_true(loss < 0.7f * first);
    tnn_optimizer_free(opt);
    tnn_tensor_free(z);
    tnn_tensor_free(target);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(upsample_hand_computed),
    cmocka_unit_test(upsample_backward_order),
    cmocka_unit_test(upsample_torch_index_rule),
    cmocka_unit_test(upsample_values),
    cmocka_unit_test(upsample_refusals),
    cmocka_unit_test(upsample_describe_no_parameters),
    cmocka_unit_test(upsample_same_bits_on_any_thread_count),
    cmocka_unit_test(upsample_buffers_reused),
    cmocka_unit_test(upsample_allocation_failures),
    cmocka_unit_test(upsample_huge_output_refused_before_its_table),
    cmocka_unit_test(upsample_in_generator),
};

TU_MAIN("upsample", tests)
