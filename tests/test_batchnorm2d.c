/* Unit tests of BatchNorm2d (tnn_batchnorm2d_new, tinynn/layers.h): values against a
 * double-precision reference in training and eval mode, with and without affine
 * parameters and running statistics; an [N x C x 1 x 1] input giving BatchNorm1d's bits;
 * the running statistics and num_batches_tracked over several steps; state_dict names
 * and describe; refusals (not 4-D, another channel count, one value per channel in
 * training, bad arguments); gradients that accumulate and requires_grad; the same bits
 * on 1, 2 and 3 threads; buffers reused without allocating; allocation failures; and
 * a Sequential Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d -> Flatten -> Linear. */
#include "testutil.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tnn_named_tensor *find(tnn_tensor_list *l, const char *name)
{
    return tnn_tensor_list_find(l, name);
}

/* Random [n x c x h x w] input, each channel with its own offset and scale (a large
 * mean over a small spread for some). */
static tnn_tensor *rand_input(tnn_rng *r, int n, int c, int h, int w)
{
    tnn_tensor *x = tnn_tensor_new4(n, c, h, w);
    assert_non_null(x);
    const size_t hw = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++) {
        float off = 8.0f * (tnn_rng_uniform(r) - 0.5f), sc = 0.1f + 3.0f * tnn_rng_uniform(r);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++)
                x->data[((size_t)i * c + ch) * hw + k] = off + sc * (2.0f * tnn_rng_uniform(r) - 1.0f);
    }
    return x;
}

/* The reference, in double: y, dx, dweight, dbias and the updated running statistics
 * (rm, rv in/out) of a forward and backward in training (batch statistics) or eval
 * mode. w, b NULL: no affine parameters. */
static void reference(const tnn_tensor *x, const tnn_tensor *dy, const float *w, const float *b, double *rm,
                      double *rv, double eps, double mom, bool batch_stats, double *y, double *dx, double *dw,
                      double *db)
{
    const int n = x->shape[0], c = x->shape[1];
    const size_t hw = (size_t)x->shape[2] * (size_t)x->shape[3];
    const double cnt = (double)n * (double)hw;
    for (int ch = 0; ch < c; ch++) {
#define AT(t, i, k) (t)->data[((size_t)(i) * c + ch) * hw + (k)]
#define AD(a, i, k) (a)[((size_t)(i) * c + ch) * hw + (k)]
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) mean += AT(x, i, k);
        mean /= cnt;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) var += (AT(x, i, k) - mean) * (AT(x, i, k) - mean);
        double m = mean, v = var / cnt;
        if (batch_stats && rm) {
            rm[ch] = (1.0 - mom) * rm[ch] + mom * mean;
            rv[ch] = (1.0 - mom) * rv[ch] + mom * var / (cnt - 1.0);
        }
        if (!batch_stats) {
            m = rm[ch];
            v = rv[ch];
        }
        const double inv = 1.0 / sqrt(v + eps), g = w ? w[ch] : 1.0, be = b ? b[ch] : 0.0;
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                double xh = (AT(x, i, k) - m) * inv;
                AD(y, i, k) = xh * g + be;
                sdy += AT(dy, i, k);
                sdyx += AT(dy, i, k) * xh;
            }
        dw[ch] = sdyx;
        db[ch] = sdy;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                double xh = (AT(x, i, k) - m) * inv;
                AD(dx, i, k) = batch_stats ? (AT(dy, i, k) - sdy / cnt - xh * sdyx / cnt) * inv * g : AT(dy, i, k) * inv * g;
            }
#undef AT
#undef AD
    }
}

/* Forward and backward against the reference over a few steps (training, then eval),
 * for one shape and setting. */
static void check_values(int n, int c, int h, int w, double eps, double mom, bool affine, bool track, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    p.momentum = mom;
    p.affine = affine;
    p.track_running_stats = track;
    tnn_module *m = tnn_batchnorm2d_new(c, p);
    assert_non_null(m);
    tnn_tensor_list *sd = tnn_module_state_dict(m, "");
    const tnn_named_tensor *wt = find(sd, "weight"), *bt = find(sd, "bias"), *rmt = find(sd, "running_mean"),
                           *rvt = find(sd, "running_var"), *nbt = find(sd, "num_batches_tracked");
    assert_true(!wt == !affine && !bt == !affine && !rmt == !track && !rvt == !track && !nbt == !track);
    if (affine)
        for (int j = 0; j < c; j++) {
            ((float *)wt->data)[j] = 0.5f + tnn_rng_uniform(&r);
            ((float *)bt->data)[j] = tnn_rng_uniform(&r) - 0.5f;
        }
    const size_t sz = (size_t)n * c * h * w;
    double *y = malloc(sz * sizeof(double)), *dx = malloc(sz * sizeof(double)), *dw = malloc((size_t)c * sizeof(double)),
           *db = malloc((size_t)c * sizeof(double)), *rm = calloc((size_t)c, sizeof(double)),
           *rv = malloc((size_t)c * sizeof(double));
    for (int j = 0; j < c; j++) rv[j] = 1.0;
    for (int step = 0; step < 4; step++) {
        const bool training = step < 3, batch_stats = training || !track;
        tnn_module_train(m, training);
        tnn_module_zero_grad(m);
        tnn_tensor *x = rand_input(&r, n, c, h, w), *g = rand_input(&r, n, c, h, w);
        const tnn_tensor *yt, *dxt;
        TU_ASSERT_OK(tnn_module_forward(m, x, &yt));
        assert_int_equal(yt->ndim, 4);
        assert_memory_equal(yt->shape, x->shape, 4 * sizeof(int));
        TU_ASSERT_OK(tnn_module_backward(m, g, &dxt));
        assert_memory_equal(dxt->shape, x->shape, 4 * sizeof(int));
        reference(x, g, affine ? wt->data : NULL, affine ? bt->data : NULL, track ? rm : NULL, track ? rv : NULL, eps,
                  mom, batch_stats, y, dx, dw, db);
        tu_assert_close(yt->data, y, sz, 1e-5, 1.0, "y");
        tu_assert_close(dxt->data, dx, sz, 2e-4, 1.0, "dx");
        if (affine) {
            tu_assert_close(wt->grad, dw, (size_t)c, 1e-4, 1.0, "dweight");
            tu_assert_close(bt->grad, db, (size_t)c, 1e-5, 1.0, "dbias");
        }
        if (track) {
            tu_assert_close(rmt->data, rm, (size_t)c, 1e-5, 1.0, "running_mean");
            tu_assert_close(rvt->data, rv, (size_t)c, 1e-5, 1.0, "running_var");
            assert_int_equal(*(int64_t *)nbt->data, step < 3 ? step + 1 : 3);
        }
        tnn_tensor_free(x);
        tnn_tensor_free(g);
    }
    free(y);
    free(dx);
    free(dw);
    free(db);
    free(rm);
    free(rv);
    tnn_tensor_list_free(sd);
    tnn_module_free(m);
}

static void bn2d_values(void **state)
{
    (void)state;
    check_values(4, 3, 5, 7, 1e-5, 0.1, true, true, 1);   /* planes of 35: vectors and a tail */
    check_values(3, 5, 2, 3, 0.8, 0.3, true, true, 2);    /* 6 values: below one vector */
    check_values(1, 4, 8, 8, 1e-5, 0.1, true, true, 3);   /* one sample */
    check_values(7, 6, 1, 1, 1e-5, 0.1, true, true, 4);   /* BatchNorm1d's kernel */
    check_values(2, 3, 4, 4, 1e-5, 1.0, false, true, 5);  /* no affine; momentum 1 */
    check_values(2, 3, 3, 5, 0.5, 0.0, true, true, 6);    /* momentum 0: running stats stay */
    check_values(3, 2, 5, 5, 1e-5, 0.1, true, false, 7);  /* no running statistics */
    check_values(2, 2, 3, 3, 1e-5, 0.1, false, false, 8); /* neither */
}

/* [N x C x 1 x 1] is BatchNorm1d's [N x C], as in torch (one kernel): the same bits. */
static void bn2d_hw1_is_batchnorm1d(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 20);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.8;
    tnn_module *a = tnn_batchnorm2d_new(37, p), *b = tnn_batchnorm1d_new(37, p);
    tnn_tensor *x4 = rand_input(&r, 9, 37, 1, 1), *g4 = rand_input(&r, 9, 37, 1, 1);
    tnn_tensor *x2 = tnn_tensor_new2(9, 37), *g2 = tnn_tensor_new2(9, 37);
    memcpy(x2->data, x4->data, x4->size * sizeof(float));
    memcpy(g2->data, g4->data, g4->size * sizeof(float));
    for (int step = 0; step < 3; step++) {
        tnn_module_train(a, step < 2);
        tnn_module_train(b, step < 2);
        const tnn_tensor *ya, *yb, *dxa, *dxb;
        TU_ASSERT_OK(tnn_module_forward(a, x4, &ya));
        TU_ASSERT_OK(tnn_module_forward(b, x2, &yb));
        TU_ASSERT_OK(tnn_module_backward(a, g4, &dxa));
        TU_ASSERT_OK(tnn_module_backward(b, g2, &dxb));
        assert_int_equal(ya->ndim, 4);
        assert_memory_equal(ya->data, yb->data, yb->size * sizeof(float));
        assert_memory_equal(dxa->data, dxb->data, dxb->size * sizeof(float));
        tnn_tensor_list *la = tnn_module_state_dict(a, ""), *lb = tnn_module_state_dict(b, "");
        assert_int_equal(la->count, 5);
        for (int i = 0; i < la->count; i++) {
            assert_string_equal(la->items[i].name, lb->items[i].name);
            size_t bytes = la->items[i].count * (la->items[i].dtype == TNN_I64 ? 8 : 4);
            assert_memory_equal(la->items[i].data, lb->items[i].data, bytes);
            if (la->items[i].grad) assert_memory_equal(la->items[i].grad, lb->items[i].grad, bytes);
        }
        tnn_tensor_list_free(la);
        tnn_tensor_list_free(lb);
    }
    tnn_tensor_free(x4);
    tnn_tensor_free(g4);
    tnn_tensor_free(x2);
    tnn_tensor_free(g2);
    tnn_module_free(a);
    tnn_module_free(b);
}

/* state_dict names, shapes and initial values as torch's; describe; parameters. */
static void bn2d_state_dict_describe(void **state)
{
    (void)state;
    tnn_module *m = tnn_batchnorm2d_new(6, tnn_batchnorm_defaults());
    char d[80];
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "batchnorm2d(6, eps=1e-05, momentum=0.1)");
    assert_int_equal(tnn_module_num_params(m), 12);
    tnn_tensor_list *l = tnn_module_state_dict(m, "bn.");
    const char *names[] = {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
    const float init[] = {1.0f, 0.0f, 0.0f, 1.0f};
    assert_int_equal(l->count, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(l->items[i].name, names[i]);
        if (i < 4) {
            assert_int_equal(l->items[i].ndim, 1);
            assert_int_equal(l->items[i].shape[0], 6);
            for (int j = 0; j < 6; j++) assert_true(((float *)l->items[i].data)[j] == init[i]);
        } else {
            assert_int_equal(l->items[i].dtype, TNN_I64);
            assert_int_equal(l->items[i].ndim, 0);
            assert_int_equal(*(int64_t *)l->items[i].data, 0);
        }
    }
    tnn_tensor_list_free(l);
    tnn_module_free(m);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    p.eps = 0.8;
    p.momentum = 0.25;
    m = tnn_batchnorm2d_new(3, p);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "batchnorm2d(3, eps=0.8, momentum=0.25)");
    assert_int_equal(tnn_module_num_params(m), 0);
    l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 3);
    assert_string_equal(l->items[0].name, "running_mean");
    tnn_tensor_list_free(l);
    tnn_module_free(m);
    p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    m = tnn_batchnorm2d_new(3, p);
    l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 2);
    assert_string_equal(l->items[1].name, "bias");
    tnn_tensor_list_free(l);
    tnn_module_free(m);
}

static void bn2d_refusals(void **state)
{
    (void)state;
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    assert_null(tnn_batchnorm2d_new(0, p));
    TU_ASSERT_MSG("batchnorm2d(0)", "num_features must be >= 1", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    p.eps = -1.0;
    assert_null(tnn_batchnorm2d_new(3, p));
    TU_ASSERT_MSG("batchnorm2d(3)", "eps must be finite and >= 0", NULL);
    p.eps = INFINITY;
    assert_null(tnn_batchnorm2d_new(3, p));
    p = tnn_batchnorm_defaults();
    p.momentum = 1.5;
    assert_null(tnn_batchnorm2d_new(3, p));
    TU_ASSERT_MSG("momentum in [0, 1]", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);

    tnn_module *m = tnn_batchnorm2d_new(3, tnn_batchnorm_defaults());
    const tnn_tensor *y, *dx;
    tnn_tensor *x2 = tnn_tensor_new2(4, 3), *x3 = tnn_tensor_new3(3, 4, 4), *wrong = tnn_tensor_new4(2, 4, 3, 3);
    tnn_tensor *one = tnn_tensor_new4(1, 3, 1, 1), *x = tnn_tensor_new4(2, 3, 3, 3), *dy = tnn_tensor_new4(2, 3, 3, 3);
    tnn_tensor *bad = tnn_tensor_new4(2, 3, 3, 2);
    TU_ASSERT_ERR(tnn_module_forward(m, x2, &y), TNN_ERR_SHAPE, "batchnorm2d(3)", "[4 x 3]", "expected [batch x 3 x H x W]",
                  NULL);
    /* torch: "expected 4D input (got 3D input)" */
    TU_ASSERT_ERR(tnn_module_forward(m, x3, &y), TNN_ERR_SHAPE, "batchnorm2d(3)", "[3 x 4 x 4]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, wrong, &y), TNN_ERR_SHAPE, "batchnorm2d(3)", "[2 x 4 x 3 x 3]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, one, &y), TNN_ERR_SHAPE, "batchnorm2d(3)",
                  "more than 1 value per channel", "[1 x 3 x 1 x 1]", NULL);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "batchnorm2d(3", "before forward", NULL);
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_int_equal(*(int64_t *)find(l, "num_batches_tracked")->data, 0); /* refusals count nothing */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "batchnorm2d(3,", "[2 x 3 x 3 x 2]",
                  "[2 x 3 x 3 x 3]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    /* its own output as its input */
    TU_ASSERT_ERR(tnn_module_forward(m, y, &y), TNN_ERR_ARG, "batchnorm2d(3", "own output", NULL);
    /* a count that cannot go on */
    *(int64_t *)find(l, "num_batches_tracked")->data = -1;
    TU_ASSERT_ERR(tnn_module_forward(m, x, &y), TNN_ERR_STATE, "batchnorm2d(3)", "num_batches_tracked is -1", NULL);
    tnn_module_eval(m); /* eval does not count: accepted, and one value per channel too */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_forward(m, one, &y));
    tnn_tensor_list_free(l);
    tnn_module_free(m);
    /* without running statistics eval uses the batch's: one value is refused there too */
    p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    m = tnn_batchnorm2d_new(3, p);
    tnn_module_eval(m);
    TU_ASSERT_ERR(tnn_module_forward(m, one, &y), TNN_ERR_SHAPE, "more than 1 value per channel", NULL);
    tnn_tensor *n1 = tnn_tensor_new4(1, 3, 1, 2); /* one sample, two values: accepted */
    TU_ASSERT_OK(tnn_module_forward(m, n1, &y));
    tnn_tensor_free(n1);
    tnn_module_free(m);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
    tnn_tensor_free(wrong);
    tnn_tensor_free(one);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(bad);
}

/* Parameter gradients accumulate over backwards (twice one backward's, exactly); with
 * requires_grad false they stay untouched while dL/dx is still computed; a backward
 * without dx still gives the parameter gradients. */
static void bn2d_gradients_accumulate(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 30);
    tnn_module *m = tnn_batchnorm2d_new(4, tnn_batchnorm_defaults());
    tnn_tensor *x = rand_input(&r, 3, 4, 5, 6), *g = rand_input(&r, 3, 4, 5, 6);
    tnn_tensor_list *l = tnn_module_parameters(m, "");
    const float *dw = l->items[0].grad, *db = l->items[1].grad;
    const tnn_tensor *y, *dx;
    tnn_module_zero_grad(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
    tnn_tensor *dx1 = tnn_tensor_clone(dx);
    float w1[4], b1[4];
    memcpy(w1, dw, sizeof w1);
    memcpy(b1, db, sizeof b1);
    TU_ASSERT_OK(tnn_module_backward(m, g, NULL));
    for (int j = 0; j < 4; j++) {
        assert_true(dw[j] == 2.0f * w1[j]);
        assert_true(db[j] == 2.0f * b1[j]);
    }
    tnn_module_set_requires_grad(m, false);
    TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
    assert_memory_equal(dx->data, dx1->data, dx1->size * sizeof(float));
    for (int j = 0; j < 4; j++) assert_true(dw[j] == 2.0f * w1[j]);
    tnn_tensor_free(dx1);
    tnn_tensor_list_free(l);
    tnn_tensor_free(x);
    tnn_tensor_free(g);
    tnn_module_free(m);
}

/* The same bits on 1, 2 and 3 threads, forward and backward in training and eval mode,
 * parameter gradients and running statistics included, for inputs large enough that
 * the channels are split over the threads. */
static void bn2d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int cases[][4] = {{8, 16, 24, 24}, {4, 7, 33, 31}, {1024, 40, 1, 1}, {3, 5, 100, 90}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *s = cases[ci];
        tnn_rng r;
        tnn_rng_seed(&r, 40 + ci);
        tnn_tensor *x = rand_input(&r, s[0], s[1], s[2], s[3]), *g = rand_input(&r, s[0], s[1], s[2], s[3]);
        float *ref[2][6] = {{0}};
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            tnn_module *m = tnn_batchnorm2d_new(s[1], tnn_batchnorm_defaults());
            tnn_tensor_list *l = tnn_module_state_dict(m, "");
            for (int mode = 0; mode < 2; mode++) { /* training, then eval with the updated stats */
                tnn_module_train(m, mode == 0);
                tnn_module_zero_grad(m);
                const tnn_tensor *y, *dx;
                TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                TU_ASSERT_OK(tnn_module_backward(m, g, &dx));
                const float *got[6] = {y->data, dx->data, l->items[0].grad, l->items[1].grad, l->items[2].data,
                                       l->items[3].data};
                const size_t n[6] = {y->size, dx->size, (size_t)s[1], (size_t)s[1], (size_t)s[1], (size_t)s[1]};
                for (int t = 0; t < 6; t++) {
                    if (threads == 1) {
                        ref[mode][t] = malloc(n[t] * sizeof(float));
                        memcpy(ref[mode][t], got[t], n[t] * sizeof(float));
                    } else if (memcmp(ref[mode][t], got[t], n[t] * sizeof(float)) != 0) {
                        fail_msg("case %zu, %s, result %d: %d threads differ from 1 thread's", ci,
                                 mode ? "eval" : "training", t, threads);
                    }
                }
            }
            tnn_tensor_list_free(l);
            tnn_module_free(m);
        }
        tnn_parallel_set_threads(1);
        for (int mode = 0; mode < 2; mode++)
            for (int t = 0; t < 6; t++) free(ref[mode][t]);
        tnn_tensor_free(x);
        tnn_tensor_free(g);
    }
}

/* After the first call of a shape, forward and backward (training and eval) allocate
 * nothing and return the same buffers; a smaller batch or image fits in them too. */
static void bn2d_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 50);
    tnn_module *m = tnn_batchnorm2d_new(3, tnn_batchnorm_defaults());
    tnn_tensor *x = rand_input(&r, 4, 3, 9, 9), *x2 = rand_input(&r, 2, 3, 5, 7), *dy = rand_input(&r, 4, 3, 9, 9);
    tnn_tensor *dy2 = rand_input(&r, 2, 3, 5, 7);
    const tnn_tensor *y, *dx, *y0, *dx0;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y0));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx0));
    tu_alloc_install(-1);
    for (int i = 0; i < 4; i++) {
        tnn_module_train(m, i < 2);
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
 * (or NULL) naming batchnorm2d, nothing leaked, and the module works once memory is
 * there. */
static void bn2d_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 51);
    tnn_tensor *x = rand_input(&r, 2, 3, 4, 5), *dy = rand_input(&r, 2, 3, 4, 5);
    bool done = false;
    for (long k = 0; k < 20 && !done; k++) {
        tu_alloc_install(k);
        tnn_module *m = tnn_batchnorm2d_new(3, tnn_batchnorm_defaults());
        const tnn_tensor *y, *dx;
        tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
        if (!st) st = tnn_module_backward(m, dy, &dx);
        if (tu_alloc_count() <= k) {
            TU_ASSERT_OK(st);
            done = true;
        } else {
            assert_int_equal(st, TNN_ERR_NOMEM);
            assert_non_null(strstr(tnn_last_error(), "batchnorm2d"));
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

/* Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d -> Flatten -> Linear in a Sequential:
 * shapes, the summary, dL/dx and the parameter gradients of the chain against the
 * layers run one by one (the same bits), a few Adam steps lowering the cross-entropy,
 * the state_dict names, and a BatchNorm2d's output buffer refused as the Sequential's
 * input. */
static void bn2d_after_conv2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 60);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(1, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_batchnorm2d_new(4, tnn_batchnorm_defaults())));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_max_pool2d_new(2, 0, 0)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4 * 4 * 4, 3, true, &r)));
    char text[2048];
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(s, f));
    rewind(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "batchnorm2d(4, eps=1e-05, momentum=0.1)"));
    assert_int_equal(tnn_module_num_params(s), 4 * 9 + 4 + 4 + 4 + 64 * 3 + 3);
    tnn_tensor_list *sd = tnn_module_state_dict(s, "");
    assert_non_null(find(sd, "1.running_var"));
    assert_non_null(find(sd, "1.num_batches_tracked"));
    tnn_tensor_list_free(sd);

    tnn_tensor *x = tnn_tensor_new4(8, 1, 8, 8), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    const tnn_tensor *y, *dx;
    float loss = 0.0f;
    /* one by one; the BatchNorm2d in eval mode so that the running statistics (counted
     * in training) do not differ between the two runs */
    for (int mode = 0; mode < 2; mode++) {
        tnn_module_train(s, mode == 0);
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &y));
        for (int i = 1; i < 6; i++) {
            TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
            if (i == 1) assert_true(y->ndim == 4 && y->shape[1] == 4 && y->shape[2] == 8 && y->shape[3] == 8);
        }
        TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
        tnn_module_zero_grad(s);
        const tnn_tensor *g = grad;
        for (int i = 5; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
        tnn_tensor *alone = tnn_tensor_clone(g);
        tnn_tensor_list *pa = tnn_module_parameters(s, "");
        float *alone_grads[8];
        for (int i = 0; i < pa->count; i++) {
            alone_grads[i] = malloc(pa->items[i].count * sizeof(float));
            memcpy(alone_grads[i], pa->items[i].grad, pa->items[i].count * sizeof(float));
        }
        TU_ASSERT_OK(tnn_module_forward(s, x, &y)); /* the chain: the same bits */
        TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
        tnn_module_zero_grad(s);
        TU_ASSERT_OK(tnn_module_backward(s, grad, &dx));
        assert_memory_equal(dx->data, alone->data, alone->size * sizeof(float));
        for (int i = 0; i < pa->count; i++) {
            assert_memory_equal(pa->items[i].grad, alone_grads[i], pa->items[i].count * sizeof(float));
            free(alone_grads[i]);
        }
        tnn_tensor_list_free(pa);
        tnn_tensor_free(alone);
    }

    tnn_module_train(s, true);
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
    printf("Conv2d + BatchNorm2d CNN: cross-entropy %.4f -> %.4f after 30 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);
    sd = tnn_module_state_dict(s, "");
    assert_int_equal(*(int64_t *)find(sd, "1.num_batches_tracked")->data, 2 + 30); /* two training forwards above, then 30 */
    tnn_tensor_list_free(sd);

    /* a BatchNorm2d's output buffer as the Sequential's input: refused */
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_relu_new()));
    tnn_module *b2 = tnn_batchnorm2d_new(1, tnn_batchnorm_defaults());
    TU_ASSERT_OK(tnn_sequential_add(s2, b2));
    TU_ASSERT_OK(tnn_module_forward(b2, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG, "output buffer of child 1 (batchnorm2d(1", "pass a copy",
                  NULL);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(bn2d_values),
    cmocka_unit_test(bn2d_hw1_is_batchnorm1d),
    cmocka_unit_test(bn2d_state_dict_describe),
    cmocka_unit_test(bn2d_refusals),
    cmocka_unit_test(bn2d_gradients_accumulate),
    cmocka_unit_test(bn2d_same_bits_on_any_thread_count),
    cmocka_unit_test(bn2d_buffers_reused),
    cmocka_unit_test(bn2d_allocation_failures),
    cmocka_unit_test(bn2d_after_conv2d_in_sequential),
};

TU_MAIN("batchnorm2d", tests)
