/*
 * parity_softmax, parity_log_softmax: Softmax and LogSoftmax over the last dimension
 * against torch.nn.Softmax(dim=-1) and LogSoftmax(dim=-1) (tests/data/parity/
 * softmax.golden): output and dL/dx for cases "logits" [64 x 10], "large" [8 x 12]
 * (+-80, +-1000, rows near -1000 or 1000, values whose exp overflows float), "equal"
 * [4 x 9] (rows of one value, up to 3e38), "col1" [16 x 1], "wide" [4 x 1000] (spreads
 * up to 20), "vec" [37] (a 1-D input, one row) and "special" [6 x 10] (-inf among finite
 * values, a row of -inf, +inf, NaN: NaN must match NaN).
 *
 * Tolerances. torch 1.13 computes in float (SoftMaxKernel.cpp): SLEEF's expf and logf
 * (1 ulp) of x - max rounded to float, sums in eight float lanes, softmax as
 * exp(x - max) * (1 / sum); tinynn computes the same formulas in double and rounds once
 * (src/softmax.c): its y is the correctly rounded value in every element here (0 ulps
 * from a float64 evaluation of the same formula), so the differences are torch's
 * rounding errors.
 *   softmax y: torch's x - max is off by up to half an ulp of |x - max|, at most
 *     2^-24 |x - max|, and exp turns that absolute error into the same relative one
 *     (3.9e-6, 64 ulps, at |x - max| ~ 65 in "wide"); its float sum, exp, reciprocal
 *     and product add a few ulps. rtol = 1e-6 (8 ulps) + 2^-24 D, D the case's largest
 *     |x - max| up to 104 (below -104, both give 0); atol 1e-44 (7 ulps of float's
 *     subnormals, where exp(-100) lands).
 *   log_softmax y = (x - max) - log(sum): torch rounds x - max, log(sum) and their
 *     difference, and its log(sum) carries the float sum's relative error as an
 *     absolute one: rtol 1e-6 covers the roundings of x - max and of y (|y| >= |x - max|),
 *     atol 4 * 2^-24 * max(1, log(cols)) that of log(sum) <= log(cols) and its error.
 *     Where y is near 0 (the leader of a peaked row, y = -log(1 + 2e-9)) torch's float
 *     sum rounds to 1 and gives 0, so ulp distances are meaningless there.
 *   dL/dx: torch's (dy - s) * y and dy - exp(y) * s, s in float; each element is off by
 *     a few ulps of the terms it is made of, |y| (|dy| + |s|) for softmax and
 *     |dy| + exp(y) |s| for log_softmax, which cancel where dy is near s (softmax;
 *     there dy - s is exact in float, and torch's error is that of its float s) or
 *     near exp(y) s: atol 8 * 2^-24 * (the case's largest such term). rtol: softmax's
 *     dx = y (dy - s) inherits y's relative error, so the same rtol as y; 1e-6 for
 *     log_softmax (its y's error enters as exp(y) s |error of y|, small where exp(y)
 *     is not).
 * Measured (TNN_PARITY_VERBOSE=1; docs/parity.md): tol_used at most 0.54 (softmax y,
 * "wide"), 0.14 (softmax dx), 0.17 (log_softmax y), 0.12 (log_softmax dx).
 */
#include "parity/parity.h"

#include <math.h>
#include <stdio.h>

static const char *const CASES[] = {"logits", "large", "equal", "col1", "wide", "vec", "special"};

#define ULP1 (1.0 / 16777216.0) /* 2^-24: half an ulp of 1 */

/* softmax y's rtol: 1e-6 plus 2^-24 times the case's largest |x - max| up to 104 (NaN
 * rows skipped). */
static double softmax_rtol(const float *x, size_t rows, int cols)
{
    double d = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *xr = x + i * (size_t)cols;
        double mx = xr[0];
        for (int j = 1; j < cols; j++) mx = fmax(mx, xr[j]);
        for (int j = 0; j < cols; j++) d = fmax(d, fmin(mx - xr[j], 104.0)); /* fmax drops a NaN */
    }
    return 1e-6 + ULP1 * d;
}

/* The largest term of dL/dx's formula over the case's elements (see above), from
 * torch's y and the golden dy; rows are the last dimension's. NaN rows are skipped
 * (NaN compares only with NaN). */
static double dx_scale(bool log_softmax, const float *y, const float *dy, size_t rows, int cols)
{
    double big = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *yr = y + i * (size_t)cols, *gr = dy + i * (size_t)cols;
        double s = 0.0;
        for (int j = 0; j < cols; j++) s += log_softmax ? (double)gr[j] : (double)gr[j] * yr[j];
        for (int j = 0; j < cols; j++) {
            double t = log_softmax ? fabs(gr[j]) + exp(yr[j]) * fabs(s) : fabs(yr[j]) * (fabs(gr[j]) + fabs(s));
            if (t > big) big = t; /* false for NaN */
        }
    }
    return big;
}

static void run(bool log_softmax)
{
    const char *name = log_softmax ? "log_softmax" : "softmax";
    golden_file *g = golden_load("softmax.golden");
    bool ok = true;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        tnn_module *m = log_softmax ? tnn_log_softmax_new() : tnn_softmax_new();
        assert_non_null(m);
        tnn_tensor *x = golden_tensor_new(g, "%s.x", CASES[c]), *dy = golden_tensor_new(g, "%s.dy", CASES[c]);
        const tnn_tensor *y = NULL, *dx = NULL;
        assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
        assert_int_equal(tnn_module_backward(m, dy, &dx), TNN_OK);
        int cols = x->shape[x->ndim - 1];
        size_t rows = x->size / (size_t)cols;
        char nm[96];
        snprintf(nm, sizeof nm, "%s.%s.y", CASES[c], name);
        const float *wy = golden_f32(g, y->size, "%s", nm);
        double y_atol = log_softmax ? 4.0 * ULP1 * fmax(1.0, log((double)cols)) : 1e-44;
        double rtol = log_softmax ? 1e-6 : softmax_rtol(x->data, rows, cols);
        ok &= parity_check(g, nm, y->data, y->size, y_atol, rtol);
        snprintf(nm, sizeof nm, "%s.%s.dx", CASES[c], name);
        ok &= parity_check(g, nm, dx->data, dx->size, 8.0 * ULP1 * dx_scale(log_softmax, wy, dy->data, rows, cols),
                           rtol);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        tnn_module_free(m);
    }
    golden_free(g);
    assert_true(ok);
}

static void test_softmax(void **state) { (void)state; run(false); }
static void test_log_softmax(void **state) { (void)state; run(true); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"softmax", test_softmax, NULL, NULL, NULL},
        {"log_softmax", test_log_softmax, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_softmax", tests, sizeof tests / sizeof tests[0]);
}
