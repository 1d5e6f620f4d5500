/* Unit tests of Softmax and LogSoftmax over the last dimension: values against a
 * double-precision reference, the rows of 1-D and 3-D inputs, PyTorch's special values,
 * the refusals (no dimensions, own output, backward before forward, a mis-shaped dy),
 * dL/dx never written over dy or the input, buffers that grow and never shrink,
 * results that do not depend on the thread count, and allocation failures. */
#include "testutil.h"

#include <math.h>
#include <string.h>

static tnn_module *make(bool log_softmax) { return log_softmax ? tnn_log_softmax_new() : tnn_softmax_new(); }

/* The reference in double, libm's exp and log: a row of n. */
static void reference_row(bool log_softmax, const float *x, int n, double *y)
{
    double mx = x[0], s = 0.0;
    for (int j = 1; j < n; j++) mx = fmax(mx, x[j]);
    for (int j = 0; j < n; j++) s += exp((double)x[j] - mx);
    for (int j = 0; j < n; j++) y[j] = log_softmax ? ((double)x[j] - mx) - log(s) : exp((double)x[j] - mx) / s;
}

/* Forward and backward of a [rows x n] input against the reference; each result is the
 * exact value rounded once (within 1e-7 relative). */
static void check_values(bool log_softmax, tnn_tensor *x, const tnn_tensor *dy)
{
    tnn_module *m = make(log_softmax);
    assert_non_null(m);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, x->ndim);
    for (int d = 0; d < x->ndim; d++) assert_int_equal(y->shape[d], x->shape[d]);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    int n = x->shape[x->ndim - 1];
    size_t rows = x->size / (size_t)n;
    double want[64], wdx[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < rows; i++) {
        const float *xr = x->data + i * n, *g = dy->data + i * n, *yr = y->data + i * n;
        reference_row(log_softmax, xr, n, want);
        tu_assert_close(yr, want, (size_t)n, 1e-7, 1e-30, log_softmax ? "log_softmax y" : "softmax y");
        double s = 0.0; /* torch's formulas on tinynn's y, in double */
        for (int j = 0; j < n; j++) s += log_softmax ? g[j] : (double)g[j] * yr[j];
        for (int j = 0; j < n; j++) wdx[j] = log_softmax ? g[j] - exp(yr[j]) * s : ((double)g[j] - s) * yr[j];
        tu_assert_close(dx->data + i * n, wdx, (size_t)n, 1e-6, 1e-6, log_softmax ? "log_softmax dx" : "softmax dx");
    }
    tnn_module_free(m);
}

static void softmax_values(void **state)
{
    (void)state;
    static const float v[4][5] = {
        {1.0f, 2.0f, 3.0f, 4.0f, 5.0f},
        {1000.0f, 1000.0f, 1000.0f, 1000.0f, 1000.0f}, /* equal: 1/5 each (log: -log 5) */
        {-1000.0f, 1000.0f, 999.5f, 0.0f, -80.0f},
        {88.0f, 89.0f, 100.0f, -1e38f, 2e38f},         /* exp(100) overflows float */
    };
    tnn_rng r;
    tnn_rng_seed(&r, 40);
    tnn_tensor *x = tnn_tensor_new2(4, 5), *dy = tu_rand_tensor(&r, 4, 5, -1.0f, 1.0f);
    memcpy(x->data, v, sizeof v);
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        check_values(log_softmax, x, dy);
        tnn_module *m = make(log_softmax);
        char d[64];
        assert_string_equal(tnn_module_describe(m, d, sizeof d), log_softmax ? "log_softmax(dim=-1)" : "softmax(dim=-1)");
        assert_string_equal(m->vt->type_name, log_softmax ? "log_softmax" : "softmax");
        assert_int_equal(tnn_module_num_params(m), 0);
        tnn_tensor_list *l = tnn_module_state_dict(m, "");
        assert_non_null(l);
        assert_int_equal(l->count, 0);
        tnn_tensor_list_free(l);
        tnn_module_free(m);
    }
    /* Softmax rows sum to 1; the equal row is exactly 0.2 (0.2f) */
    tnn_module *m = tnn_softmax_new();
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    for (int j = 0; j < 5; j++) assert_true(y->data[5 + j] == 0.2f);
    tnn_module_free(m);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* The last dimension holds the rows, whatever the rank: a 1-D input is one row (as
 * torch's softmax(dim=-1)), [2 x 3 x 4] is six rows of 4, bit for bit the rows of the
 * same data as [6 x 4]. */
static void softmax_rows_of_any_rank(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 41);
    tnn_tensor *x3 = tnn_tensor_new3(2, 3, 4), *dy3 = tnn_tensor_new3(2, 3, 4), *x1 = tnn_tensor_new1(9),
               *dy1 = tnn_tensor_new1(9);
    tnn_tensor_uniform(x3, &r, -4.0f, 4.0f);
    tnn_tensor_uniform(dy3, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(x1, &r, -4.0f, 4.0f);
    tnn_tensor_uniform(dy1, &r, -1.0f, 1.0f);
    tnn_tensor *x2 = tnn_tensor_view(x3->data, 2, (int[]){6, 4}), *dy2 = tnn_tensor_view(dy3->data, 2, (int[]){6, 4});
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        check_values(log_softmax, x3, dy3);
        check_values(log_softmax, x1, dy1);
        tnn_module *a = make(log_softmax), *b = make(log_softmax);
        const tnn_tensor *ya, *yb, *dxa, *dxb;
        TU_ASSERT_OK(tnn_module_forward(a, x3, &ya));
        TU_ASSERT_OK(tnn_module_forward(b, x2, &yb));
        assert_int_equal(ya->ndim, 3);
        assert_memory_equal(ya->data, yb->data, ya->size * sizeof(float));
        TU_ASSERT_OK(tnn_module_backward(a, dy3, &dxa));
        TU_ASSERT_OK(tnn_module_backward(b, dy2, &dxb));
        assert_int_equal(dxa->ndim, 3);
        assert_memory_equal(dxa->data, dxb->data, dxa->size * sizeof(float));
        tnn_module_free(a);
        tnn_module_free(b);
    }
    tnn_tensor_free(x1);
    tnn_tensor_free(dy1);
    tnn_tensor_free(x2);
    tnn_tensor_free(dy2);
    tnn_tensor_free(x3);
    tnn_tensor_free(dy3);
}

/* torch 1.13's results (checked with it): -inf among finite values gives 0 (log: -inf)
 * and dx 0 (log: dy); a row of -inf (-inf - -inf), a row with +inf (inf - inf) and a row
 * with NaN are NaN throughout, dx too; the other rows are untouched by them. */
static void softmax_special_values(void **state)
{
    (void)state;
    const float inf = INFINITY;
    const float v[5][4] = {
        {1.0f, -inf, 2.0f, 0.5f}, {-inf, -inf, -inf, -inf}, {0.0f, 1.0f, inf, 2.0f},
        {0.0f, NAN, 1.0f, 2.0f}, {0.5f, 0.25f, -0.5f, 3.0f},
    };
    tnn_tensor *x = tnn_tensor_new2(5, 4), *dy = tnn_tensor_new2(5, 4);
    memcpy(x->data, v, sizeof v);
    tnn_tensor_fill(dy, 0.5f);
    dy->data[1] = 2.0f;
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        tnn_module *m = make(log_softmax);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
        if (log_softmax) {
            assert_true(y->data[1] == -inf);
            assert_true(dx->data[1] == 2.0f);
        } else {
            assert_true(y->data[1] == 0.0f);
            assert_true(dx->data[1] == 0.0f);
        }
        for (int j = 0; j < 4; j++) {
            if (j != 1) assert_true(isfinite(y->data[j]) && isfinite(dx->data[j]));
            for (int i = 1; i <= 3; i++) {
                assert_true(isnan(y->data[i * 4 + j]));
                assert_true(isnan(dx->data[i * 4 + j]));
            }
            assert_true(isfinite(y->data[16 + j]) && isfinite(dx->data[16 + j]));
        }
        tnn_module_free(m);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

static void softmax_refusals(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 42);
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        const char *name = log_softmax ? "log_softmax(dim=-1)" : "softmax(dim=-1)";
        tnn_module *m = make(log_softmax);
        assert_non_null(m);
        tnn_tensor *x = tu_rand_tensor(&r, 2, 4, -1.0f, 1.0f), *dy = tnn_tensor_new2(2, 4), *bad = tnn_tensor_new2(3, 3);
        const tnn_tensor *y = NULL, *y2, *dx = (const tnn_tensor *)dy;
        /* backward before any forward */
        TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, name, "before forward", NULL);
        assert_null(dx);
        /* an input without dimensions (a scalar: torch's softmax takes one, a tinynn
         * tensor has 1 to 4 dimensions) */
        float one = 1.0f;
        tnn_tensor scalar = {.data = &one, .ndim = 0, .shape = {1, 1, 1, 1}, .size = 1, .owns = false};
        TU_ASSERT_ERR(tnn_module_forward(m, &scalar, &y), TNN_ERR_ARG, name, "forward", "0 dimensions", NULL);
        assert_null(y);
        TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, name, "before forward", NULL);
        /* a dy of another shape, both shapes named; and one of another size */
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, name, "[3 x 3]", "[2 x 4]", NULL);
        tnn_tensor *t = tnn_tensor_new2(4, 2); /* the same count, transposed */
        TU_ASSERT_ERR(tnn_module_backward(m, t, &dx), TNN_ERR_SHAPE, name, "[4 x 2]", "[2 x 4]", NULL);
        tnn_tensor_free(t);
        /* its own output, whole or a row of it: refused, and a failed forward leaves no
         * backward; a copy is fine */
        TU_ASSERT_ERR(tnn_module_forward(m, y, &y2), TNN_ERR_ARG, name, "own output from its last forward", NULL);
        TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "before forward (or after a forward that failed)", NULL);
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        tnn_tensor *row = tnn_tensor_view(y->data + 4, 1, (int[]){4});
        TU_ASSERT_ERR(tnn_module_forward(m, row, &y2), TNN_ERR_ARG, "own output", NULL);
        tnn_tensor_free(row);
        tnn_tensor *copy = tnn_tensor_clone(y);
        TU_ASSERT_OK(tnn_module_forward(m, copy, &y2));
        tnn_tensor_free(copy);
        tnn_tensor_free(bad);
        tnn_tensor_free(dy);
        tnn_tensor_free(x);
        tnn_module_free(m);
    }
}

/* dL/dx goes into a buffer of the module's own, never over dy or the input, even when
 * either is the module's own dx from the last backward (module.h rule 1); dy may be
 * the module's output. */
static void softmax_dx_buffers(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 43);
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        tnn_module *m = make(log_softmax);
        tnn_tensor *x = tu_rand_tensor(&r, 3, 5, -2.0f, 2.0f), *dy = tu_rand_tensor(&r, 3, 5, -1.0f, 1.0f);
        const tnn_tensor *y, *dx1, *dx2;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx1));
        tnn_tensor *first = tnn_tensor_clone(dx1);
        /* its dx as dy: the new dx goes into the other buffer, dy stays as it was */
        TU_ASSERT_OK(tnn_module_backward(m, dx1, &dx2));
        assert_ptr_not_equal(dx2->data, dx1->data);
        assert_memory_equal(dx1->data, first->data, first->size * sizeof(float));
        /* the same as from a copy */
        tnn_tensor *want = tnn_tensor_clone(dx2);
        const tnn_tensor *dx3;
        TU_ASSERT_OK(tnn_module_backward(m, first, &dx3));
        assert_memory_equal(dx3->data, want->data, want->size * sizeof(float));
        /* its dx as the next input, then dy: neither is written */
        tnn_tensor *in = tnn_tensor_clone(dx3);
        TU_ASSERT_OK(tnn_module_forward(m, dx3, &y));
        TU_ASSERT_OK(tnn_module_backward(m, dx3, &dx1));
        assert_ptr_not_equal(dx1->data, dx3->data);
        assert_memory_equal(dx3->data, in->data, in->size * sizeof(float));
        /* its own output as dy */
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        tnn_tensor *yc = tnn_tensor_clone(y);
        TU_ASSERT_OK(tnn_module_backward(m, y, &dx1));
        TU_ASSERT_OK(tnn_module_backward(m, yc, &dx2));
        assert_memory_equal(dx1->data, dx2->data, yc->size * sizeof(float));
        /* no dx asked for: nothing to do, and fine */
        TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
        tnn_tensor_free(yc);
        tnn_tensor_free(in);
        tnn_tensor_free(want);
        tnn_tensor_free(first);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        tnn_module_free(m);
    }
}

/* A smaller batch reuses the buffers (they grow, never shrink) and a larger one grows
 * them; each forward's results are those of a new module. */
static void softmax_batch_sizes(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 44);
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        tnn_module *m = make(log_softmax);
        const int batches[] = {8, 2, 8, 40, 3};
        const float *first_y = NULL;
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            tnn_tensor *x = tu_rand_tensor(&r, batches[b], 6, -3.0f, 3.0f), *dy = tu_rand_tensor(&r, batches[b], 6, -1.0f, 1.0f);
            tnn_module *fresh = make(log_softmax);
            const tnn_tensor *y, *dx, *fy, *fdx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            TU_ASSERT_OK(tnn_module_forward(fresh, x, &fy));
            TU_ASSERT_OK(tnn_module_backward(fresh, dy, &fdx));
            assert_int_equal(y->shape[0], batches[b]);
            assert_int_equal(dx->shape[0], batches[b]);
            assert_memory_equal(y->data, fy->data, y->size * sizeof(float));
            assert_memory_equal(dx->data, fdx->data, dx->size * sizeof(float));
            if (b == 0) first_y = y->data;
            if (b == 1) assert_ptr_equal(y->data, first_y); /* 2 rows fit in the 8 rows' buffer */
            tnn_module_free(fresh);
            tnn_tensor_free(x);
            tnn_tensor_free(dy);
        }
        tnn_module_free(m);
    }
}

/* Rows are independent: 1, 2 and 3 threads give the same bits, on inputs large enough
 * to be split (a [300 x 64] batch, and [4 x 70000]: too few rows to split). */
static void softmax_threads(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 45);
    const int shapes[2][2] = {{300, 64}, {4, 70000}};
    int before = tnn_get_num_threads();
    for (int k = 0; k < 2; k++) {
        tnn_tensor *x = tu_rand_tensor(&r, shapes[k][0], shapes[k][1], -10.0f, 10.0f);
        tnn_tensor *dy = tu_rand_tensor(&r, shapes[k][0], shapes[k][1], -1.0f, 1.0f);
        for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
            tnn_tensor *y1 = NULL, *dx1 = NULL;
            for (int threads = 1; threads <= 3; threads++) {
                tnn_set_num_threads(threads);
                tnn_module *m = make(log_softmax);
                const tnn_tensor *y, *dx;
                TU_ASSERT_OK(tnn_module_forward(m, x, &y));
                TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
                if (threads == 1) {
                    y1 = tnn_tensor_clone(y);
                    dx1 = tnn_tensor_clone(dx);
                } else {
                    assert_memory_equal(y->data, y1->data, y->size * sizeof(float));
                    assert_memory_equal(dx->data, dx1->data, dx->size * sizeof(float));
                }
                tnn_module_free(m);
            }
            tnn_tensor_free(y1);
            tnn_tensor_free(dx1);
        }
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
    }
    tnn_set_num_threads(before);
}

/* Each allocation failing in turn: the constructor returns NULL, or forward or backward
 * TNN_ERR_NOMEM naming the module; nothing leaks, and the module works afterwards. */
static void softmax_allocation_failures(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 46);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 5, -1.0f, 1.0f), *dy = tu_rand_tensor(&r, 4, 5, -1.0f, 1.0f);
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        bool done = false;
        for (long k = 0; k < 20 && !done; k++) {
            tu_alloc_install(k); /* only the k-th allocation from here fails */
            tnn_module *m = make(log_softmax);
            const tnn_tensor *y, *dx;
            tnn_status st = m ? tnn_module_forward(m, x, &y) : TNN_ERR_NOMEM;
            if (!st) st = tnn_module_backward(m, dy, &dx);
            if (tu_alloc_count() <= k) {
                TU_ASSERT_OK(st);
                done = true;
            } else {
                assert_int_equal(st, TNN_ERR_NOMEM);
                assert_non_null(strstr(tnn_last_error(), "softmax"));
                if (m) { /* it works once memory is there */
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(softmax_values),
    cmocka_unit_test(softmax_rows_of_any_rank),
    cmocka_unit_test(softmax_special_values),
    cmocka_unit_test(softmax_refusals),
    cmocka_unit_test(softmax_dx_buffers),
    cmocka_unit_test(softmax_batch_sizes),
    cmocka_unit_test(softmax_threads),
    cmocka_unit_test(softmax_allocation_failures),
};

TU_MAIN("test_softmax", tests)
