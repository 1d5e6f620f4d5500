/* Unit tests of LayerNorm (tnn_layernorm_new, tinynn/layers.h): outputs and gradients
 * against a double-precision reference over many shapes (1-D to 3-D normalized_shape,
 * rows below, at and above one 8-value vector and long enough for the cascade of
 * chunk moments), the shapes of the output and the parameters and their state_dict
 * names, refusals of arguments and inputs naming the module and the shapes, no
 * parameters without elementwise_affine (the default parameters give its very output),
 * eval mode the same as training, gradients that accumulate, frozen and discarded
 * gradients, the same bits on 1, 2 and 3 threads, buffers reused without allocating,
 * allocation failures, and a Sequential (Linear -> LayerNorm -> ReLU -> Linear) whose
 * input may not be the LayerNorm's output buffer, trained with Adam. */
#include "testutil.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LayerNorm(nd, shape) with weight U(0.5, 1.5) and bias U(-0.5, 0.5) (affine). */
static tnn_module *make_ln(int nd, const int *shape, bool affine, double eps, tnn_rng *r)
{
    tnn_layernorm_params p = tnn_layernorm_defaults();
    p.elementwise_affine = affine;
    p.eps = eps;
    tnn_module *m = tnn_layernorm_new(nd, shape, p);
    assert_non_null(m);
    if (!affine) return m;
    tnn_tensor_list *l = tnn_module_parameters(m, "");
    assert_non_null(l);
    assert_int_equal(l->count, 2);
    for (int i = 0; i < 2; i++) {
        float *d = l->items[i].data;
        for (size_t k = 0; k < l->items[i].count; k++) d[k] = (i == 0 ? 0.5f : -0.5f) + tnn_rng_uniform(r);
    }
    tnn_tensor_list_free(l);
    return m;
}

/* Rows of x with their own spread (0.2 to 4.2) and mean (up to +-10). */
static void fill_rows(tnn_tensor *x, size_t n, tnn_rng *r)
{
    for (size_t i = 0; i < x->size / n; i++) {
        const float spread = 0.2f + 4.0f * tnn_rng_uniform(r), mean = 20.0f * tnn_rng_uniform(r) - 10.0f;
        for (size_t j = 0; j < n; j++) x->data[i * n + j] = mean + spread * (2.0f * tnn_rng_uniform(r) - 1.0f);
    }
}

/* Direct reference in double: y, dx and (added into dw, db) the parameter gradients. */
static void reference(const float *x, const float *dy, const float *w, const float *b, size_t rows, size_t n, double eps,
                      double *y, double *dx, double *dw, double *db)
{
    for (size_t i = 0; i < rows; i++) {
        const float *xr = x + i * n, *g = dy + i * n;
        double mean = 0.0, var = 0.0, mg = 0.0, mgx = 0.0;
        for (size_t j = 0; j < n; j++) mean += xr[j];
        mean /= (double)n;
        for (size_t j = 0; j < n; j++) var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)n;
        const double rstd = 1.0 / sqrt(var + (double)(float)eps);
        for (size_t j = 0; j < n; j++) {
            const double xh = (xr[j] - mean) * rstd, gw = g[j] * (w ? w[j] : 1.0);
            y[i * n + j] = xh * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
            mg += gw / (double)n;
            mgx += gw * xh / (double)n;
            if (dw) {
                dw[j] += g[j] * xh;
                db[j] += g[j];
            }
        }
        for (size_t j = 0; j < n; j++) {
            const double xh = (xr[j] - mean) * rstd, gw = g[j] * (w ? w[j] : 1.0);
            dx[i * n + j] = rstd * (gw - mg - xh * mgx);
        }
    }
}

/* One shape: forward and backward against the reference. */
static void check_values(int xnd, const int *xshape, int nd, bool affine, double eps, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    const int *shape = xshape + xnd - nd;
    tnn_module *m = make_ln(nd, shape, affine, eps, &r);
    tnn_tensor *x = tnn_tensor_new(xnd, xshape), *dy = tnn_tensor_new(xnd, xshape);
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)shape[d];
    const size_t rows = x->size / n;
    fill_rows(x, n, &r);
    tnn_tensor_uniform(dy, &r, -1.0f, 2.0f);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    const float *w = affine ? p->items[0].data : NULL, *b = affine ? p->items[1].data : NULL;
    double *ry = malloc(x->size * sizeof(double)), *rdx = malloc(x->size * sizeof(double));
    double *rdw = calloc(n, sizeof(double)), *rdb = calloc(n, sizeof(double));
    reference(x->data, dy->data, w, b, rows, n, eps, ry, rdx, rdw, rdb);
    const tnn_tensor *y, *dx;
    tnn_module_zero_grad(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, xnd);
    assert_memory_equal(y->shape, x->shape, sizeof x->shape);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
    tu_assert_close(y->data, ry, x->size, 2e-5, 1.0, "y");
    /* torch's formula, b = (db * mean - ds) * rstd^3 / N, loses bits to cancellation in
     * rows whose mean is many spreads from 0 (up to 50 here): dx within 2e-4 of
     * max(|dx|, 1) */
    tu_assert_close(dx->data, rdx, x->size, 2e-4, 1.0, "dx");
    if (affine) {
        tu_assert_close(p->items[0].grad, rdw, n, 1e-4, 1.0, "dweight");
        tu_assert_close(p->items[1].grad, rdb, n, 1e-5, 1.0, "dbias");
    }
    free(ry);
    free(rdx);
    free(rdw);
    free(rdb);
    tnn_tensor_list_free(p);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

static void layernorm_values(void **state)
{
    (void)state;
    /* row lengths 2 to 40 (below, at and after one vector; tails). (A row of one value
     * has dL/dx 0, which torch's formula, ours, gives only up to its rounding.) */
    for (int n = 2; n <= 40; n++) {
        check_values(2, (int[]){5, n}, 1, true, 1e-5, 100 + (uint64_t)n);
        check_values(2, (int[]){3, n}, 1, false, 1e-5, 200 + (uint64_t)n);
    }
    check_values(3, (int[]){2, 6, 128}, 1, true, 1e-5, 1);     /* whole chunks */
    check_values(2, (int[]){3, 2049}, 1, true, 1e-5, 2);       /* 17 chunks: the cascade */
    check_values(2, (int[]){2, 8 * 16 * 37 + 3}, 1, true, 1e-5, 3);
    check_values(4, (int[]){2, 3, 5, 7}, 2, true, 1e-5, 4);    /* 2-D normalized_shape */
    check_values(4, (int[]){2, 3, 5, 7}, 3, true, 0.5, 5);     /* 3-D, eps 0.5 */
    check_values(3, (int[]){4, 5, 6}, 3, false, 1e-5, 6);      /* unbatched 3-D: one row */
    check_values(1, (int[]){33}, 1, true, 1e-5, 7);            /* unbatched 1-D */
}

/* Output and parameter shapes, state_dict names, describe, num_params. */
static void layernorm_shapes_and_names(void **state)
{
    (void)state;
    tnn_module *m = tnn_layernorm_new(2, (int[]){7, 9}, tnn_layernorm_defaults());
    assert_non_null(m);
    assert_int_equal(tnn_module_num_params(m), 2 * 63);
    char d[96];
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "layer_norm([7 x 9], eps=1e-05)");
    tnn_tensor_list *sd = tnn_module_state_dict(m, "ln.");
    assert_non_null(sd);
    assert_int_equal(sd->count, 2);
    assert_string_equal(sd->items[0].name, "ln.weight");
    assert_string_equal(sd->items[1].name, "ln.bias");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sd->items[i].ndim, 2);
        assert_int_equal(sd->items[i].shape[0], 7);
        assert_int_equal(sd->items[i].shape[1], 9);
        assert_true(sd->items[i].is_param);
        for (int k = 0; k < 63; k++) assert_true(((const float *)sd->items[i].data)[k] == (i == 0 ? 1.0f : 0.0f));
    }
    tnn_tensor_list_free(sd);
    const tnn_tensor *y;
    tnn_tensor *x3 = tnn_tensor_new3(4, 7, 9), *x2 = tnn_tensor_new2(7, 9), *x4 = tnn_tensor_new4(2, 3, 7, 9);
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    tnn_tensor_uniform(x3, &r, -2.0f, 5.0f);
    tnn_tensor_uniform(x2, &r, -2.0f, 5.0f);
    tnn_tensor_uniform(x4, &r, -2.0f, 5.0f);
    TU_ASSERT_OK(tnn_module_forward(m, x4, &y));
    assert_memory_equal(y->shape, x4->shape, sizeof x4->shape);
    TU_ASSERT_OK(tnn_module_forward(m, x3, &y));
    assert_memory_equal(y->shape, x3->shape, sizeof x3->shape);
    TU_ASSERT_OK(tnn_module_forward(m, x2, &y)); /* exactly normalized_shape: one row */
    assert_int_equal(y->ndim, 2);
    double mean = 0.0, var = 0.0;
    for (int k = 0; k < 63; k++) mean += y->data[k] / 63.0;
    for (int k = 0; k < 63; k++) var += (y->data[k] - mean) * (y->data[k] - mean) / 63.0;
    assert_true(fabs(mean) < 1e-6 && fabs(var - 1.0) < 1e-4);
    tnn_module_free(m);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
    tnn_tensor_free(x4);

    tnn_layernorm_params p = tnn_layernorm_defaults();
    assert_true(p.eps == 1e-5 && p.elementwise_affine);
    p.elementwise_affine = false;
    p.eps = 0.25;
    m = tnn_layernorm_new(1, (int[]){5}, p);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "layer_norm([5], eps=0.25, elementwise_affine=False)");
    assert_int_equal(tnn_module_num_params(m), 0);
    sd = tnn_module_state_dict(m, "");
    assert_int_equal(sd->count, 0);
    tnn_tensor_list_free(sd);
    tnn_module_free(m);
}

static void layernorm_refusals(void **state)
{
    (void)state;
    tnn_layernorm_params p = tnn_layernorm_defaults();
    assert_null(tnn_layernorm_new(0, (int[]){4}, p));
    TU_ASSERT_MSG("layer_norm", "ndim is 0", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_layernorm_new(5, (int[]){1, 2, 3, 4, 5}, p));
    TU_ASSERT_MSG("ndim is 5", NULL);
    assert_null(tnn_layernorm_new(1, NULL, p));
    TU_ASSERT_MSG("normalized_shape is NULL", NULL);
    assert_null(tnn_layernorm_new(2, (int[]){4, 0}, p));
    TU_ASSERT_MSG("layer_norm([4 x 0])", "normalized_shape[1] is 0", NULL);
    assert_null(tnn_layernorm_new(3, (int[]){65536, 65536, 2}, p));
    TU_ASSERT_MSG("holds more than 2147483647 values", NULL);
    /* a product that wraps size_t round to 4 */
    assert_null(tnn_layernorm_new(4, (int[]){27905, 34724, 49477, 384773}, p));
    TU_ASSERT_MSG("layer_norm([27905 x 34724 x 49477 x 384773])", "holds more than 2147483647 values", NULL);
    const double bad_eps[] = {-1e-5, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        p.eps = bad_eps[i];
        assert_null(tnn_layernorm_new(1, (int[]){4}, p));
        TU_ASSERT_MSG("layer_norm([4])", "eps must be finite and >= 0", NULL);
        assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    }
    p.eps = 0.0; /* allowed, as by torch */
    tnn_module *z = tnn_layernorm_new(1, (int[]){4}, p);
    assert_non_null(z);
    tnn_module_free(z);

    tnn_module *m = tnn_layernorm_new(2, (int[]){4, 5}, tnn_layernorm_defaults());
    const tnn_tensor *y, *dx;
    tnn_tensor *x45 = tnn_tensor_new3(3, 4, 5), *x54 = tnn_tensor_new3(3, 5, 4), *x5 = tnn_tensor_new1(5);
    tnn_tensor *x20 = tnn_tensor_new2(3, 20);
    TU_ASSERT_ERR(tnn_module_forward(m, x54, &y), TNN_ERR_SHAPE, "layer_norm([4 x 5], eps=1e-05)", "input [3 x 5 x 4]",
                  "normalized_shape [4 x 5]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x5, &y), TNN_ERR_SHAPE, "input [5]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, x20, &y), TNN_ERR_SHAPE, "input [3 x 20]", NULL); /* same count, other shape */
    tnn_tensor *dy = tnn_tensor_new3(3, 4, 5), *bad = tnn_tensor_new3(2, 4, 5);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "layer_norm([4 x 5]", "before forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(m, x45, &y));
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[2 x 4 x 5]", "[3 x 4 x 5]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    /* its own output as its input: refused */
    TU_ASSERT_ERR(tnn_module_forward(m, y, &y), TNN_ERR_ARG, "layer_norm([4 x 5]", "own output", NULL);
    tnn_module_free(m);
    /* a row whose moments overflow gives NaN, as torch's (not a finite value from a
     * variance clamped at 0) */
    m = tnn_layernorm_new(1, (int[]){3}, tnn_layernorm_defaults());
    tnn_tensor *big = tnn_tensor_new2(1, 3);
    for (int i = 0; i < 3; i++) big->data[i] = -1e30f;
    TU_ASSERT_OK(tnn_module_forward(m, big, &y));
    for (int i = 0; i < 3; i++) assert_true(isnan(y->data[i]));
    tnn_tensor_free(big);
    tnn_module_free(m);
    tnn_tensor_free(x45);
    tnn_tensor_free(x54);
    tnn_tensor_free(x5);
    tnn_tensor_free(x20);
    tnn_tensor_free(dy);
    tnn_tensor_free(bad);
}

/* Without elementwise_affine: no parameters, and the output of a module with the
 * default parameters (weight 1, bias 0) bit for bit; its dL/dx within rounding (torch
 * sums dy * x * 1 and dy * x differently). A backward without dx still works. */
static void layernorm_affine_off(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 4);
    tnn_layernorm_params p = tnn_layernorm_defaults();
    tnn_module *a = tnn_layernorm_new(1, (int[]){37}, p);
    p.elementwise_affine = false;
    tnn_module *b = tnn_layernorm_new(1, (int[]){37}, p);
    tnn_tensor *x = tnn_tensor_new3(2, 3, 37), *dy = tnn_tensor_new3(2, 3, 37);
    fill_rows(x, 37, &r);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *ya, *yb, *dxa, *dxb;
    TU_ASSERT_OK(tnn_module_forward(a, x, &ya));
    TU_ASSERT_OK(tnn_module_forward(b, x, &yb));
    assert_memory_equal(ya->data, yb->data, x->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(a, dy, &dxa));
    TU_ASSERT_OK(tnn_module_backward(b, dy, &dxb));
    double *want = malloc(x->size * sizeof(double));
    for (size_t i = 0; i < x->size; i++) want[i] = dxa->data[i];
    tu_assert_close(dxb->data, want, x->size, 1e-5, 1e-3, "dx without affine");
    free(want);
    TU_ASSERT_OK(tnn_module_backward(b, dy, NULL));
    tnn_module_free(a);
    tnn_module_free(b);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* Eval mode computes what training mode does (no running statistics). */
static void layernorm_eval_same_as_train(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    tnn_module *m = make_ln(1, (int[]){50}, true, 1e-5, &r);
    tnn_tensor *x = tnn_tensor_new2(6, 50), *dy = tnn_tensor_new2(6, 50);
    fill_rows(x, 50, &r);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    float res[2][4][300];
    memset(res, 0, sizeof res);
    for (int mode = 0; mode < 2; mode++) {
        tnn_module_train(m, mode == 0);
        tnn_module_zero_grad(m);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
        memcpy(res[mode][0], y->data, 300 * sizeof(float));
        memcpy(res[mode][1], dx->data, 300 * sizeof(float));
        memcpy(res[mode][2], p->items[0].grad, 50 * sizeof(float));
        memcpy(res[mode][3], p->items[1].grad, 50 * sizeof(float));
    }
    assert_memory_equal(res[0], res[1], sizeof res[0]);
    tnn_tensor_list_free(p);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

/* Parameter gradients add up over backwards (twice the first after two, bit for bit
 * here as 2s = s + s); a frozen module adds none but still gives dL/dx; discarded
 * gradients read as zero and the next backward writes them. */
static void layernorm_gradients_accumulate(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *m = make_ln(1, (int[]){20}, true, 1e-5, &r);
    tnn_tensor *x = tnn_tensor_new2(5, 20), *dy = tnn_tensor_new2(5, 20);
    fill_rows(x, 20, &r);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    const tnn_tensor *y, *dx;
    float once[2][20];
    tnn_module_zero_grad(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    memcpy(once[0], p->items[0].grad, sizeof once[0]);
    memcpy(once[1], p->items[1].grad, sizeof once[1]);
    tnn_tensor *dx1 = tnn_tensor_clone(dx);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    for (int k = 0; k < 20; k++) {
        assert_true(p->items[0].grad[k] == 2.0f * once[0][k]);
        assert_true(p->items[1].grad[k] == 2.0f * once[1][k]);
    }
    tnn_module_set_requires_grad(m, false);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_memory_equal(dx->data, dx1->data, dx1->size * sizeof(float));
    for (int k = 0; k < 20; k++) assert_true(p->items[0].grad[k] == 2.0f * once[0][k]);
    tnn_module_set_requires_grad(m, true);
    tnn_module_discard_grad(m);
    tnn_tensor_list_free(p);
    p = tnn_module_parameters(m, "");
    assert_true(p->items[0].no_grad && p->items[1].no_grad);
    for (int k = 0; k < 20; k++) assert_true(p->items[0].grad[k] == 0.0f);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    tnn_tensor_list_free(p);
    p = tnn_module_parameters(m, "");
    assert_false(p->items[0].no_grad);
    assert_memory_equal(p->items[0].grad, once[0], sizeof once[0]);
    assert_memory_equal(p->items[1].grad, once[1], sizeof once[1]);
    tnn_tensor_list_free(p);
    tnn_tensor_free(dx1);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

/* The same bits on 1, 2 and 3 threads, forward, dL/dx and the parameter gradients, for
 * inputs large enough that rows and column blocks are split over the threads. */
static void layernorm_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    /* [d0 x d1 x d2], normalised over the last nd dimensions, affine or not */
    const int cases[][5] = {{64, 1, 1000, 1, 1}, {300, 1, 130, 1, 1}, {40, 10, 90, 2, 1}, {4, 1, 9000, 1, 1},
                            {48, 1, 700, 1, 0}};
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int *c = cases[ci], nd = c[3];
        const bool affine = c[4] != 0;
        tnn_module *m = make_ln(nd, c + 3 - nd, affine, 1e-5, &r);
        tnn_tensor *x = tnn_tensor_new3(c[0], c[1], c[2]), *dy = tnn_tensor_new3(c[0], c[1], c[2]);
        size_t n = 1;
        for (int d = 3 - nd; d < 3; d++) n *= (size_t)c[d];
        fill_rows(x, n, &r);
        tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
        tnn_tensor_list *p = tnn_module_parameters(m, "");
        tnn_tensor *y1 = NULL, *dx1 = NULL;
        float *g1 = malloc(2 * n * sizeof(float));
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            tnn_module_zero_grad(m);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            if (!y1) {
                y1 = tnn_tensor_clone(y);
                dx1 = tnn_tensor_clone(dx);
                if (affine) {
                    memcpy(g1, p->items[0].grad, n * sizeof(float));
                    memcpy(g1 + n, p->items[1].grad, n * sizeof(float));
                }
                continue;
            }
            if (memcmp(y->data, y1->data, y1->size * sizeof(float)) != 0)
                fail_msg("case %zu: forward on %d threads differs from 1 thread's", ci, threads);
            if (memcmp(dx->data, dx1->data, dx1->size * sizeof(float)) != 0)
                fail_msg("case %zu: dx on %d threads differs from 1 thread's", ci, threads);
            if (affine && (memcmp(p->items[0].grad, g1, n * sizeof(float)) || memcmp(p->items[1].grad, g1 + n, n * sizeof(float))))
                fail_msg("case %zu: parameter gradients on %d threads differ from 1 thread's", ci, threads);
        }
        tnn_parallel_set_threads(1);
        free(g1);
        tnn_tensor_list_free(p);
        tnn_tensor_free(y1);
        tnn_tensor_free(dx1);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        tnn_module_free(m);
    }
}

/* After the first call of a shape, forward and backward allocate nothing (the per-row
 * statistics included), and return the same buffers; fewer rows fit in them too. */
static void layernorm_buffers_reused(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 10);
    tnn_module *m = make_ln(1, (int[]){45}, true, 1e-5, &r);
    tnn_tensor *x = tnn_tensor_new3(4, 3, 45), *x2 = tnn_tensor_new3(2, 3, 45), *dy = tnn_tensor_new3(4, 3, 45);
    tnn_tensor *dy2 = tnn_tensor_new3(2, 3, 45);
    fill_rows(x, 45, &r);
    fill_rows(x2, 45, &r);
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
 * (or NULL) naming layer_norm, nothing leaked, and the module works once memory is
 * there. */
static void layernorm_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new3(2, 3, 10), *dy = tnn_tensor_new3(2, 3, 10);
    fill_rows(x, 10, &r);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    for (int affine = 0; affine < 2; affine++) {
        bool done = false;
        tnn_layernorm_params p = tnn_layernorm_defaults();
        p.elementwise_affine = affine;
        for (long k = 0; k < 20 && !done; k++) {
            tu_alloc_install(k);
            tnn_module *m = tnn_layernorm_new(1, (int[]){10}, p);
            const tnn_tensor *y, *dx;
            tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
            if (!st) st = tnn_module_backward(m, dy, &dx);
            if (tu_alloc_count() <= k) {
                TU_ASSERT_OK(st);
                done = true;
            } else {
                assert_int_equal(st, TNN_ERR_NOMEM);
                assert_non_null(strstr(tnn_last_error(), "layer_norm"));
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
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* Linear -> LayerNorm -> ReLU -> Linear in a Sequential: dL/dx of the chain against
 * the layers run one by one, a few Adam steps lowering the cross-entropy, and the
 * LayerNorm's output buffer refused as the Sequential's input. */
static void layernorm_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 13);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(12, 16, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_layernorm_new(1, (int[]){16}, tnn_layernorm_defaults())));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(16, 3, true, &r)));
    tnn_tensor_list *sd = tnn_module_state_dict(s, "");
    assert_non_null(tnn_tensor_list_find(sd, "1.weight"));
    assert_non_null(tnn_tensor_list_find(sd, "1.bias"));
    tnn_tensor_list_free(sd);
    tnn_tensor *x = tnn_tensor_new2(8, 12), *grad = tnn_tensor_new2(8, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    int targets[8];
    for (int i = 0; i < 8; i++) targets[i] = (int)tnn_rng_below(&r, 3);
    const tnn_tensor *y, *dx;
    float loss = 0.0f;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &y));
    for (int i = 1; i < 4; i++) TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
    TU_ASSERT_OK(tnn_cross_entropy_loss(y, targets, &loss, grad));
    tnn_module_zero_grad(s);
    const tnn_tensor *g = grad;
    for (int i = 3; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
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
    printf("Linear -> LayerNorm -> ReLU -> Linear: cross-entropy %.4f -> %.4f after 30 Adam steps\n", first, loss);
    assert_true(loss < 0.5f * first);

    /* a LayerNorm's output buffer as the Sequential's input: refused */
    tnn_module *s2 = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s2, tnn_relu_new()));
    tnn_module *ln = tnn_layernorm_new(1, (int[]){12}, tnn_layernorm_defaults());
    TU_ASSERT_OK(tnn_sequential_add(s2, ln));
    TU_ASSERT_OK(tnn_module_forward(ln, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(s2, y, &y), TNN_ERR_ARG, "output buffer of child 1 (layer_norm([12], eps=1e-05))",
                  NULL);
    tnn_module_free(s2);
    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(grad);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(layernorm_values),
    cmocka_unit_test(layernorm_shapes_and_names),
    cmocka_unit_test(layernorm_refusals),
    cmocka_unit_test(layernorm_affine_off),
    cmocka_unit_test(layernorm_eval_same_as_train),
    cmocka_unit_test(layernorm_gradients_accumulate),
    cmocka_unit_test(layernorm_same_bits_on_any_thread_count),
    cmocka_unit_test(layernorm_buffers_reused),
    cmocka_unit_test(layernorm_allocation_failures),
    cmocka_unit_test(layernorm_in_sequential),
};

TU_MAIN("layernorm", tests)
