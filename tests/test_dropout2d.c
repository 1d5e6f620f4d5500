/* Unit tests of Dropout2d (tnn_dropout2d_new, tinynn/layers.h): whole channels zeroed or
 * kept, the fraction zeroed near p, the masks drawn one per (sample, channel) in order,
 * the kept channels' factor bit for bit as torch 1.13 computes it, 3-D input as
 * [N x C x L], eval and p = 0 the identity, p = 1 zeros, the backward's factor, refusals,
 * rng NULL, its own output as input, the same bits on 1, 2 and 3 threads, buffers reused
 * without allocating, allocation failures, and a Sequential with a Conv2d before it. */
#include "testutil.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Checks that every channel of y ([n x c x plane]) is either all zeros or exactly
 * x * scale (x * 0 when zeroed: -0 for a negative x, as in torch); returns the number
 * of channels zeroed. */
static int check_channels(const tnn_tensor *x, const tnn_tensor *y, int n, int c, size_t plane, float scale)
{
    int zeroed = 0;
    for (int k = 0; k < n * c; k++) {
        const float *xc = x->data + (size_t)k * plane, *yc = y->data + (size_t)k * plane;
        bool zero = yc[0] == 0.0f && xc[0] != 0.0f;
        for (size_t i = 0; i < plane; i++) {
            float want = xc[i] * (zero ? 0.0f : scale); /* -0 for a negative x, as torch's x * 0 */
            if (memcmp(&yc[i], &want, sizeof want) != 0)
                fail_msg("channel %d element %zu: %a, want %a (x %a, scale %a, channel %s)", k, i, (double)yc[i],
                         (double)want, (double)xc[i], (double)scale, zero ? "zeroed" : "kept");
        }
        zeroed += zero;
    }
    return zeroed;
}

/* Inputs without zeros, so that a zeroed channel shows. */
static tnn_tensor *nonzero_tensor(tnn_rng *r, int ndim, const int *shape)
{
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    for (size_t i = 0; i < x->size; i++) {
        float v = tnn_rng_uniform(r) * 4.0f - 2.0f;
        x->data[i] = v == 0.0f ? 1.0f : v;
    }
    return x;
}

/* Whole channels, zeroed with frequency p over many draws (within 6 sigma), the kept
 * ones scaled by 1.0f / (float)(1 - p), every element of a channel alike. */
static void dropout2d_whole_channels_and_fraction(void **state)
{
    (void)state;
    const float ps[] = {0.1f, 0.25f, 0.5f, 0.9f};
    tnn_rng r, xr;
    tnn_rng_seed(&r, 21);
    tnn_rng_seed(&xr, 22);
    tnn_tensor *x = nonzero_tensor(&xr, 4, (int[]){40, 25, 3, 4});
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        tnn_module *m = tnn_dropout2d_new(ps[k], &r);
        assert_non_null(m);
        const float scale = 1.0f / (float)(1.0 - (double)ps[k]);
        long zeroed = 0, total = 0;
        for (int draw = 0; draw < 20; draw++) {
            const tnn_tensor *y;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            assert_int_equal(y->ndim, 4);
            assert_memory_equal(y->shape, x->shape, sizeof x->shape);
            zeroed += check_channels(x, y, 40, 25, 12, scale);
            total += 40 * 25;
        }
        double mean = (double)total * ps[k], sigma = sqrt((double)total * ps[k] * (1.0 - ps[k]));
        printf("p=%g: %ld of %ld channels zeroed (expected %.0f +- %.0f)\n", (double)ps[k], zeroed, total, mean, sigma);
        assert_true(fabs((double)zeroed - mean) < 6.0 * sigma);
        tnn_module_free(m);
    }
    tnn_tensor_free(x);
}

/* The masks: one uniform number per (sample, channel), in that order, kept when it is
 * >= p (Dropout's rule); so the same seed gives the same masks. */
static void dropout2d_mask_order(void **state)
{
    (void)state;
    tnn_rng r, ref, xr;
    tnn_rng_seed(&r, 5);
    tnn_rng_seed(&ref, 5);
    tnn_rng_seed(&xr, 6);
    tnn_tensor *x = nonzero_tensor(&xr, 4, (int[]){6, 7, 2, 3});
    tnn_module *m = tnn_dropout2d_new(0.4f, &r);
    const tnn_tensor *y;
    for (int rep = 0; rep < 3; rep++) {
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        for (int k = 0; k < 42; k++) {
            bool keep = tnn_rng_uniform(&ref) >= 0.4f;
            assert_true((y->data[(size_t)k * 6] != 0.0f) == keep);
        }
    }
    tnn_module_free(m);
    tnn_tensor_free(x);
}

/* The factor of a kept channel, torch 1.13's bits: Dropout2d(p) (p a float's value) on a
 * tensor of ones, in torch, gives exactly these (torch's noise.div_(1 - p): 1 - p in
 * double rounded to float, then 1.0f / it). For 0.15 and the five after it, 1 / (1 - p)
 * in double rounded to float is one ulp off. And a kept element is x * factor: torch's
 * input * noise. Compared with torch's outputs on 12,915 kept channels of random x for
 * 54 values of p (docs/parity.md). */
static void dropout2d_scale_is_torchs(void **state)
{
    (void)state;
    static const float table[][2] = {
        {0x1p-2f, 0x1.555556p+0f},         {0x1p-1f, 0x1p+1f},
        {0x1.333334p-3f, 0x1.2d2d2cp+0f},  /* 0.15 */
        {0x1.29e2eep-2f, 0x1.690600p+0f},  {0x1.d3cc16p-2f, 0x1.d74f66p+0f}, {0x1.09797ap-2f, 0x1.5998c8p+0f},
        {0x1.a9104ap-2f, 0x1.b5aebap+0f},  {0x1.8d4856p-2f, 0x1.a247f2p+0f},
        {0x1.99999ap-4f, 0x1.1c71c8p+0f},  {0x1.333334p-2f, 0x1.6db6dcp+0f}, {0x1.ccccccp-1f, 0x1.3ffffcp+3f},
        {0x1.ff7ceep-1f, 0x1.f401a6p+9f},  {0x1.333334p-1f, 0x1.400002p+1f}, {0x1.8c685cp-1f, 0x1.1b7a9ep+2f},
        {0x1.ad7f2ap-24f, 0x1.000002p+0f}, {0x1.fae148p-1f, 0x1.90001ap+6f},
    };
    tnn_rng r, xr;
    tnn_rng_seed(&r, 31);
    tnn_rng_seed(&xr, 32);
    tnn_tensor *ones = tnn_tensor_new4(64, 64, 1, 1);
    tnn_tensor_fill(ones, 1.0f);
    tnn_tensor *x = tnn_tensor_new4(64, 64, 1, 2);
    for (size_t i = 0; i < x->size; i++) x->data[i] = (tnn_rng_uniform(&xr) - 0.5f) * 20.0f;
    int double_differs = 0;
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        const float p = table[k][0], want = table[k][1];
        volatile double pd = p;
        double_differs += (float)(1.0 / (1.0 - pd)) != want;
        tnn_module *m = tnn_dropout2d_new(p, &r);
        const tnn_tensor *y;
        int kept = 0;
        for (int draw = 0; draw < 40 && kept == 0; draw++) { /* p = 0.999 keeps ~4 of 4096 */
            TU_ASSERT_OK(tnn_module_forward(m, ones, &y));
            for (size_t i = 0; i < y->size; i++) {
                if (y->data[i] == 0.0f) continue;
                kept++;
                if (y->data[i] != want) fail_msg("p=%a: factor %a, torch's %a", (double)p, (double)y->data[i], (double)want);
            }
        }
        assert_true(kept > 0);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        check_channels(x, y, 64, 64, 2, want);
        tnn_module_free(m);
    }
    assert_int_equal(double_differs, 6);
    tnn_tensor_free(ones);
    tnn_tensor_free(x);
}

/* 3-D input [N x C x L]: torch 1.13's channel-wise 1-D dropout (it warns that a later
 * release will read it as one sample [C x H x W]). */
static void dropout2d_3d_input(void **state)
{
    (void)state;
    tnn_rng r, xr;
    tnn_rng_seed(&r, 41);
    tnn_rng_seed(&xr, 42);
    tnn_tensor *x = nonzero_tensor(&xr, 3, (int[]){30, 20, 7});
    tnn_module *m = tnn_dropout2d_new(0.25f, &r);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 3);
    assert_memory_equal(y->shape, x->shape, sizeof x->shape);
    int zeroed = check_channels(x, y, 30, 20, 7, 0x1.555556p+0f);
    assert_true(zeroed > 90 && zeroed < 210); /* 150 +- 5.6 sigma */
    /* dL/dx: dy times the same factor per channel */
    tnn_tensor *dy = nonzero_tensor(&xr, 3, (int[]){30, 20, 7});
    tnn_tensor *yc = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    for (size_t i = 0; i < dx->size; i++) {
        float want = dy->data[i] * (yc->data[i] == 0.0f ? 0.0f : 0x1.555556p+0f);
        assert_memory_equal(&dx->data[i], &want, sizeof want);
    }
    tnn_tensor_free(yc);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* Eval and p = 0: the identity (bits, NaN and signed zeros too), dL/dx = dy; p = 1:
 * x * 0, zeros (NaN for NaN and inf, as torch's multiplication by 0), dL/dx zeros. */
static void dropout2d_identity_and_p1(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 51);
    tnn_tensor *x = nonzero_tensor(&r, 4, (int[]){3, 4, 2, 2}), *dy = nonzero_tensor(&r, 4, (int[]){3, 4, 2, 2});
    x->data[0] = NAN;
    x->data[5] = INFINITY;
    x->data[9] = -0.0f;
    const tnn_tensor *y, *dx;
    tnn_module *m = tnn_dropout2d_new(0.5f, &r);
    tnn_module_eval(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_memory_equal(y->data, x->data, x->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_memory_equal(dx->data, dy->data, dy->size * sizeof(float));
    tnn_module_free(m);
    tnn_rng before = r;
    m = tnn_dropout2d_new(0.0f, &r); /* training, p = 0: the identity, no draws */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_memory_equal(y->data, x->data, x->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_memory_equal(dx->data, dy->data, dy->size * sizeof(float));
    assert_memory_equal(&before, &r, sizeof r);
    tnn_module_free(m);
    m = tnn_dropout2d_new(1.0f, &r);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    for (size_t i = 0; i < y->size; i++) {
        if (i == 0 || i == 5) assert_true(isnan(y->data[i]));
        else assert_true(y->data[i] == 0.0f);
    }
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    for (size_t i = 0; i < dx->size; i++) assert_true(dx->data[i] == 0.0f);
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL)); /* no dx wanted */
    char d[64];
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "dropout2d(p=1)");
    assert_int_equal(tnn_module_num_params(m), 0);
    tnn_module_free(m);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

static void dropout2d_refusals(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 61);
    assert_null(tnn_dropout2d_new(1.5f, &r));
    TU_ASSERT_MSG("dropout2d", "p must be in [0, 1]", "1.5", NULL);
    assert_null(tnn_dropout2d_new(-0.1f, &r));
    TU_ASSERT_MSG("dropout2d", "-0.1", NULL);
    assert_null(tnn_dropout2d_new(NAN, &r));
    TU_ASSERT_MSG("dropout2d", "nan", NULL);
    assert_null(tnn_dropout2d_new(INFINITY, &r));
    /* other ranks than 3 and 4 (a tensor has at most 4), in training and eval alike */
    tnn_module *m = tnn_dropout2d_new(0.25f, &r);
    const tnn_tensor *y, *dx;
    tnn_tensor *x2 = tnn_tensor_new2(4, 6), *x1 = tnn_tensor_new1(6);
    for (int mode = 0; mode < 2; mode++) {
        tnn_module_train(m, mode == 0);
        TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "dropout2d(p=0.25)", "[4 x 6]", "2-D", NULL);
        TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "1-D", NULL);
    }
    tnn_module_train(m, true);
    /* backward before forward, after a failed forward, and a dy of another size */
    tnn_tensor *x = nonzero_tensor(&r, 4, (int[]){2, 3, 2, 2}), *bad = tnn_tensor_new2(3, 3);
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_STATE, "dropout2d(p=0.25)", "before forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "dropout2d(p=0.25)", "[3 x 3]", "[2 x 3 x 2 x 2]",
                  NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, NULL);
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_STATE, "after a forward that failed", NULL);
    /* its own output: exactly over it is fine (element over element), shifted refused */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    const tnn_tensor *y2;
    tnn_tensor *once = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_forward(m, y, &y2));
    for (size_t i = 0; i < x->size; i += 4) /* each channel kept twice, once, or zeroed */
        assert_true(y2->data[i] == 0.0f || y2->data[i] == once->data[i] * 0x1.555556p+0f);
    tnn_tensor *shifted = tnn_tensor_view(y2->data + 4, 4, (int[]){1, 3, 2, 2});
    TU_ASSERT_ERR(tnn_module_forward(m, shifted, &y), TNN_ERR_ARG, "dropout2d", "own output", NULL);
    tnn_tensor_free(shifted);
    tnn_tensor_free(once);
    tnn_module_free(m);
    /* rng NULL: for evaluation only; training with p = 0 needs no masks */
    m = tnn_dropout2d_new(0.5f, NULL);
    assert_non_null(m);
    TU_ASSERT_ERR(tnn_module_forward(m, x, &y), TNN_ERR_STATE, "dropout2d(p=0.5) forward", "created without an rng",
                  NULL);
    tnn_module_eval(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_memory_equal(y->data, x->data, x->size * sizeof(float));
    tnn_module_free(m);
    m = tnn_dropout2d_new(0.0f, NULL);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_memory_equal(y->data, x->data, x->size * sizeof(float));
    tnn_module_free(m);
    tnn_tensor_free(x);
    tnn_tensor_free(bad);
    tnn_tensor_free(x1);
    tnn_tensor_free(x2);
}

/* The same bits on 1, 2 and 3 threads, forward and backward (the rng reseeded: the
 * same masks), on inputs the channels of which are split over the threads. */
static void dropout2d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int shapes[][4] = {{16, 64, 8, 8}, {8, 33, 13, 11}, {64, 40, 20, 0}};
    tnn_rng r, xr;
    tnn_rng_seed(&xr, 71);
    for (size_t ci = 0; ci < sizeof shapes / sizeof shapes[0]; ci++) {
        const int *s = shapes[ci];
        tnn_module *m = tnn_dropout2d_new(0.3f, &r);
        tnn_tensor *x = s[3] ? nonzero_tensor(&xr, 4, s) : nonzero_tensor(&xr, 3, s);
        tnn_tensor *dy = s[3] ? nonzero_tensor(&xr, 4, s) : nonzero_tensor(&xr, 3, s);
        tnn_tensor *y1 = NULL, *dx1 = NULL;
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            tnn_rng_seed(&r, 72);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            if (!y1) {
                y1 = tnn_tensor_clone(y);
                dx1 = tnn_tensor_clone(dx);
                continue;
            }
            if (memcmp(y->data, y1->data, y1->size * sizeof(float)) != 0)
                fail_msg("case %zu: forward on %d threads differs from 1 thread's", ci, threads);
            if (memcmp(dx->data, dx1->data, dx1->size * sizeof(float)) != 0)
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

/* After the first call of a shape, forward and backward allocate nothing and return
 * the same buffers; a smaller batch and eval mode fit in them too. */
static void dropout2d_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 81);
    tnn_module *m = tnn_dropout2d_new(0.5f, &r);
    tnn_tensor *x = nonzero_tensor(&r, 4, (int[]){4, 3, 5, 5}), *x2 = nonzero_tensor(&r, 4, (int[]){2, 3, 5, 5});
    tnn_tensor *dy = nonzero_tensor(&r, 4, (int[]){4, 3, 5, 5}), *dy2 = nonzero_tensor(&r, 4, (int[]){2, 3, 5, 5});
    const tnn_tensor *y, *dx, *y0, *dx0;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y0));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx0));
    tu_alloc_install(-1);
    for (int i = 0; i < 4; i++) {
        tnn_module_train(m, i != 3);
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
 * (or NULL) naming dropout2d, nothing leaked, and the module works once memory is there. */
static void dropout2d_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 91);
    tnn_tensor *x = nonzero_tensor(&r, 4, (int[]){2, 3, 4, 4}), *dy = nonzero_tensor(&r, 4, (int[]){2, 3, 4, 4});
    bool done = false;
    int failures = 0;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_dropout2d_new(0.25f, &r);
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            failures++;
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "dropout2d"));
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
    assert_true(failures >= 4); /* the module, its output, the mask, dL/dx */
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* Conv2d -> Dropout2d -> LeakyReLU -> Flatten -> Linear, DCGAN's discriminator block,
 * in a Sequential: the same output and dL/dx as the layers run one by one (the same
 * masks: the rng reseeded), the summary, and its output buffer refused as the
 * Sequential's input. */
static void dropout2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r, mr;
    tnn_rng_seed(&r, 101);
    tnn_module *s = tnn_sequential_new();
    tnn_module *drop = tnn_dropout2d_new(0.25f, &mr);
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 8, 3, 2, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, drop));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(8 * 4 * 4, 1, true, &r)));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "dropout2d(p=0.25)"));
    tnn_tensor *x = nonzero_tensor(&r, 4, (int[]){6, 2, 8, 8}), *dy = nonzero_tensor(&r, 2, (int[]){6, 1});
    const tnn_tensor *y, *dx, *z;
    tnn_rng_seed(&mr, 102);
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &z));
    TU_ASSERT_OK(tnn_module_forward(drop, z, &z));
    int zeroed = 0;
    for (size_t k = 0; k < 6 * 8; k++) zeroed += z->data[k * 16] == 0.0f;
    assert_true(zeroed > 0 && zeroed < 48);
    for (int i = 2; i < 5; i++) TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), z, &z));
    tnn_tensor *y_alone = tnn_tensor_clone(z);
    tnn_module_zero_grad(s);
    const tnn_tensor *g = dy;
    for (int i = 4; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *dx_alone = tnn_tensor_clone(g);
    tnn_rng_seed(&mr, 102);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    assert_memory_equal(y->data, y_alone->data, y_alone->size * sizeof(float));
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    assert_memory_equal(dx->data, dx_alone->data, dx_alone->size * sizeof(float));
    /* Dropout2d's own output as the Sequential's input: refused */
    TU_ASSERT_OK(tnn_module_forward(drop, x, &z));
    TU_ASSERT_ERR(tnn_module_forward(s, z, &y), TNN_ERR_ARG, "output of child 1 (dropout2d(p=0.25))",
                  "pass a copy", NULL);
    /* ... also when only the Dropout2d ran, on its own, after it was added (the
     * Sequential knows its buffer: sequential.c's own_output_buffer) */
    tnn_module *s2 = tnn_sequential_new(), *d2 = tnn_dropout2d_new(0.5f, &mr);
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_dropout2d_new(0.25f, &mr)));
    TU_ASSERT_OK(tnn_sequential_add(s2, d2));
    TU_ASSERT_OK(tnn_module_forward(d2, x, &z));
    TU_ASSERT_ERR(tnn_module_forward(s2, z, &y), TNN_ERR_ARG, "output buffer of child 1 (dropout2d(p=0.5))",
                  "pass a copy", NULL);
    tnn_module_free(s2);
    tnn_tensor_free(y_alone);
    tnn_tensor_free(dx_alone);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dropout2d_whole_channels_and_fraction),
    cmocka_unit_test(dropout2d_mask_order),
    cmocka_unit_test(dropout2d_scale_is_torchs),
    cmocka_unit_test(dropout2d_3d_input),
    cmocka_unit_test(dropout2d_identity_and_p1),
    cmocka_unit_test(dropout2d_refusals),
    cmocka_unit_test(dropout2d_same_bits_on_any_thread_count),
    cmocka_unit_test(dropout2d_buffers_reused),
    cmocka_unit_test(dropout2d_allocation_failures),
    cmocka_unit_test(dropout2d_in_sequential),
};

TU_MAIN("dropout2d", tests)
