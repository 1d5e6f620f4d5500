/* Unit tests of Softmax and LogSoftmax over the last dimension: values against a
 * double-precision reference, the rows of 1-D and 3-D inputs, PyTorch's special values,
 * the refusals (no dimensions, own output, backward before forward, a mis-shaped dy),
 * dL/dx never written over dy or the input, buffers that grow and never shrink,
 * results that do not depend on the thread count, allocation failures, and every bit
 * the same as the formulas computed one element at a time. */
#include "testutil.h"
#include "vmath_impl.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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


/* The kernels' results as the formulas give them one element at a time (as 0.5.0
 * computed them): the serial maximum, tnn_exp_nonpos of each x - max, the sums in 8
 * lanes (element j into lane j % 8) added in a fixed tree, libm's log, one rounding to
 * float. src/softmax.c takes the maximum in lanes, the exponentials a step at a time
 * over blocks of elements, short rows in groups and long ones in parts; every bit of
 * its results must be these. */
static double ref_lanes(const double *a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

static void ref_forward(bool log_softmax, const float *x, int n, float *y)
{
    float mxf = x[0];
    for (int j = 1; j < n; j++) mxf = x[j] > mxf || x[j] != x[j] ? x[j] : mxf;
    double mx = mxf, a[8] = {0};
    for (int j = 0; j < n; j++) a[j % 8] += tnn_exp_nonpos((double)x[j] - mx);
    double s = ref_lanes(a), ls = log(s);
    for (int j = 0; j < n; j++)
        y[j] = log_softmax ? (float)(((double)x[j] - mx) - ls) : (float)(tnn_exp_nonpos((double)x[j] - mx) / s);
}

static void ref_backward(bool log_softmax, const float *g, const float *y, int n, float *dx)
{
    double a[8] = {0};
    for (int j = 0; j < n; j++) a[j % 8] += log_softmax ? (double)g[j] : (double)g[j] * y[j];
    double s = ref_lanes(a);
    for (int j = 0; j < n; j++)
        dx[j] = log_softmax ? (float)((double)g[j] - tnn_exp_nonpos(y[j]) * s) : (float)(((double)g[j] - s) * y[j]);
}

/* Forward and backward of x against the reference, bit for bit, on 1 and 3 threads;
 * dy as given, or (NULL) random. NaNs compare by their bits too: the rows here hold at
 * most one NaN payload (where two meet, which one an addition passes on is the
 * compiler's choice of operand order, and differs between the clones). */
static void check_bits(tnn_tensor *x, const tnn_tensor *dy_given, tnn_rng *r)
{
    int n = x->shape[x->ndim - 1];
    size_t rows = x->size / (size_t)n;
    tnn_tensor *dy = dy_given ? (tnn_tensor *)dy_given : tnn_tensor_new2((int)rows, n);
    if (!dy_given) tnn_tensor_normal(dy, r, 0.0f, 1.0f);
    float *want_y = malloc(x->size * sizeof(float)), *want_dx = malloc(x->size * sizeof(float));
    assert_non_null(want_y);
    assert_non_null(want_dx);
    int before = tnn_get_num_threads();
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        for (size_t i = 0; i < rows; i++) ref_forward(log_softmax, x->data + i * n, n, want_y + i * n);
        for (size_t i = 0; i < rows; i++) ref_backward(log_softmax, dy->data + i * n, want_y + i * n, n, want_dx + i * n);
        for (int threads = 1; threads <= 3; threads += 2) {
            tnn_set_num_threads(threads);
            tnn_module *m = make(log_softmax);
            const tnn_tensor *y, *dx;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
            for (size_t k = 0; k < x->size; k++) {
                uint32_t a, b, c, d;
                memcpy(&a, &y->data[k], 4);
                memcpy(&b, &want_y[k], 4);
                memcpy(&c, &dx->data[k], 4);
                memcpy(&d, &want_dx[k], 4);
                if (a != b || c != d)
                    fail_msg("%s [%zu x %d], %d threads, row %zu col %zu: y %08x want %08x (x %g), dx %08x want %08x",
                             log_softmax ? "log_softmax" : "softmax", rows, n, threads, k / n, k % n, a, b, x->data[k], c, d);
            }
            tnn_module_free(m);
        }
    }
    tnn_set_num_threads(before);
    free(want_y);
    free(want_dx);
    if (!dy_given) tnn_tensor_free(dy);
}

/* Row lengths on each side of the kernels' boundaries: the lanes of the maximum (32),
 * the steps' blocks (128, the shortest stepped remainder 32), the buffer (2048, longer
 * rows in parts) and the groups of short rows (up to 256 of them, 2048 elements); logits
 * spread enough for x - max to pass -708, where the exponential is clamped. */
static void softmax_bits_every_length(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 47);
    static const int shapes[][2] = {{1, 1},    {600, 1},  {300, 7},   {257, 8},  {40, 31},  {40, 32},  {9, 33},
                                    {70, 10},  {5, 127},  {5, 128},   {5, 129},  {4, 159},  {4, 160},  {3, 161},
                                    {7, 300},  {5, 1000}, {3, 1023},  {3, 2047}, {3, 2048}, {2, 2049}, {2, 4097},
                                    {1, 6000}, {2, 2176}, {130, 100}, {20, 102}, {65, 31},  {9, 255},  {33, 64}};
    static const float spread[] = {3.0f, 0.01f, 400.0f};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (size_t s = 0; s < sizeof spread / sizeof spread[0]; s++) {
            tnn_tensor *x = tnn_tensor_new2(shapes[k][0], shapes[k][1]);
            tnn_tensor_normal(x, &r, 1.0f, spread[s]);
            check_bits(x, NULL, &r);
            tnn_tensor_free(x);
        }
}

/* Special values, in short rows (a serial maximum) and long ones (in lanes, then the
 * buffer's parts), the special element first, in the middle and last: the largest value
 * 0 as +0 or -0 (the maximum in lanes leaves such rows to the serial loop); -inf among
 * finite values, and rows of -inf; +inf; a NaN (quiet with its sign bit, or signalling);
 * subnormals; +-FLT_MAX; values 800 below the rest (a clamped exponential); dy with
 * zeros, a one-hot -1 (NLL's), a NaN and infinities. */
static void softmax_bits_special_values(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 48);
    const float inf = INFINITY;
    float nan1, nan2, sub = 1e-40f;
    uint32_t b1 = 0xffc01234u, b2 = 0x7f800777u; /* a quiet NaN with its sign bit, a signalling one */
    memcpy(&nan1, &b1, 4);
    memcpy(&nan2, &b2, 4);
    const float specials[] = {0.0f, -0.0f, -inf, inf, nan1, nan2, sub, -sub, FLT_MAX, -FLT_MAX, -800.0f, 88.0f};
    const int lengths[] = {5, 31, 32, 40, 200, 2100};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        int n = lengths[l], rows = 0;
        tnn_tensor *x = tnn_tensor_new2(64, n), *dy = tnn_tensor_new2(64, n);
        tnn_tensor_normal(dy, &r, 0.0f, 1.0f);
        /* one special in an otherwise normal row, at the first, a middle and the last place */
        for (size_t v = 0; v < sizeof specials / sizeof specials[0]; v++)
            for (int at = 0; at < 3; at++, rows++) {
                float *row = x->data + (size_t)rows * n;
                for (int j = 0; j < n; j++) row[j] = (float)(tnn_rng_uniform(&r) * 6.0 - 3.0);
                row[at == 0 ? 0 : at == 1 ? n / 2 : n - 1] = specials[v];
            }
        /* the largest value zero: all x <= 0 with -0 before +0, and +0 before -0 */
        for (int k = 0; k < 2; k++, rows++) {
            float *row = x->data + (size_t)rows * n;
            for (int j = 0; j < n; j++) row[j] = -(float)(tnn_rng_uniform(&r) * 40.0);
            row[n / 3] = k ? 0.0f : -0.0f;
            row[n - 1] = k ? -0.0f : 0.0f;
        }
        /* -0 and +0 with everything else far below (exp(-1000) clamped) */
        for (int k = 0; k < 2; k++, rows++) {
            float *row = x->data + (size_t)rows * n;
            for (int j = 0; j < n; j++) row[j] = -1000.0f;
            row[0] = k ? 0.0f : -0.0f;
            if (n > 1) row[n - 1] = k ? -0.0f : 0.0f;
        }
        /* a row of -inf; a row of one value; a row of NaN (one payload) */
        for (int k = 0; k < 3; k++, rows++) {
            float *row = x->data + (size_t)rows * n;
            for (int j = 0; j < n; j++) row[j] = k == 0 ? -inf : k == 1 ? 3e38f : nan1;
        }
        /* dy: the rows above once more with dy zero, one-hot -1, a NaN, +-inf */
        for (int k = 0; rows < 64; k++, rows++) {
            float *row = x->data + (size_t)rows * n, *g = dy->data + (size_t)rows * n;
            for (int j = 0; j < n; j++) row[j] = (float)(tnn_rng_uniform(&r) * 20.0 - 10.0);
            for (int j = 0; j < n; j++) g[j] = k % 4 == 0 ? 0.0f : k % 4 == 1 ? (j == n / 2 ? -1.0f : 0.0f) : g[j];
            if (k % 4 == 2) g[n / 2] = nan2;
            if (k % 4 == 3) g[n / 2] = k % 8 == 3 ? inf : -inf;
        }
        check_bits(x, dy, &r);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
    }
}


/* Most of the exponentials' last bits vanish in the rounding to float; LogSoftmax's
 * dL/dx keeps them where dy = exp(y) rounded to float: then sum(dy) is 1 within a few
 * float ulps, and g - exp(y) s cancels down to ~1e-7 of exp(y), so its float rounding
 * shows exp(y) to ~1e-14. Short rows (in groups, over the steps' blocks) and long. */
static void softmax_bits_exp_exposed(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 49);
    static const int shapes[][2] = {{700, 2}, {512, 3}, {300, 5}, {4, 3000}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        tnn_tensor *x = tnn_tensor_new2(shapes[k][0], shapes[k][1]), *dy = tnn_tensor_new2(shapes[k][0], shapes[k][1]);
        tnn_tensor_normal(x, &r, 0.0f, 4.0f);
        tnn_module *m = tnn_log_softmax_new();
        const tnn_tensor *y;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        for (size_t i = 0; i < y->size; i++) dy->data[i] = (float)tnn_exp_nonpos(y->data[i]);
        tnn_module_free(m);
        check_bits(x, dy, &r);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
    }
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
    cmocka_unit_test(softmax_bits_every_length),
    cmocka_unit_test(softmax_bits_special_values),
    cmocka_unit_test(softmax_bits_exp_exposed),
};

TU_MAIN("test_softmax", tests)
