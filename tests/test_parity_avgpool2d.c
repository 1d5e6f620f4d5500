/*
 * parity_avgpool2d: tnn_avg_pool2d against torch.nn.AvgPool2d
 * (tests/data/parity/avgpool2d.golden): output and dL/dx for eleven cases, among them
 * count_include_pad both ways, overlapping windows (dx adds), strides above and below
 * the kernel, padding, odd sizes, values of very different sizes (the order of the
 * additions shows in the last bits), NaN, +-inf, signed zeros and denormals whose
 * quotient underflows to -0, and one unbatched sample; and fifteen cases with
 * ceil_mode and divisor_override (tests/data/parity/avgpool2d_options.golden,
 * tnn_avg_pool2d_new_with): windows running past the input and past its padding
 * (torch's divisor for them with count_include_pad: their size inside the padded input),
 * torch's rule dropping a last window that would start in the padding, both ways of
 * count_include_pad, an input smaller than the window once padded, divisor_override
 * with and without ceil_mode (16777217, which float holds as 16777216, too).
 *
 * Tolerance 0, signs of zeros included: torch's CPU kernel (cpu_avg_pool, NCHW) sums
 * each window in float row by row, divides by the divisor converted to float and adds
 * that to 0.0f; its backward adds dy / divisor into dL/dx in output order from zeros;
 * tinynn does the same operations in the same order, so every value is torch's bits
 * (NaN matches NaN). The layer runs inside a Sequential, as in a network.
 */
#include "parity/parity.h"

#include <string.h>

/* Case `name` of golden file `file` through pool. */
static void run(const char *file, const char *name, tnn_module *pool)
{
    golden_file *g = golden_load(file);
    tnn_module *seq = tnn_sequential_new();
    assert_non_null(pool);
    assert_int_equal(tnn_sequential_add(seq, pool), TNN_OK);
    tnn_tensor *x = golden_tensor_new(g, "%s.x", name), *dy = golden_tensor_new(g, "%s.dy", name);
    char nm[128];
    bool ok = true;
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    assert_int_equal(y->ndim, dy->ndim);
    assert_memory_equal(y->shape, dy->shape, sizeof y->shape);
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, 0.0, 0.0);
    assert_int_equal(tnn_module_backward(seq, dy, &dx), TNN_OK);
    assert_int_equal(dx->ndim, x->ndim);
    assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, 0.0, 0.0);
    /* the signs of zeros too (parity_close takes -0 for 0) */
    const float *wy = golden_f32(g, y->size, "%s.y", name), *wdx = golden_f32(g, dx->size, "%s.dx", name);
    for (size_t i = 0; i < y->size; i++)
        if (y->data[i] == y->data[i] && memcmp(&y->data[i], &wy[i], sizeof(float)) != 0) {
            print_error("%s.y[%zu]: %g, torch's %g: other bits\n", name, i, (double)y->data[i], (double)wy[i]);
            ok = false;
            break;
        }
    for (size_t i = 0; i < dx->size; i++)
        if (dx->data[i] == dx->data[i] && memcmp(&dx->data[i], &wdx[i], sizeof(float)) != 0) {
            print_error("%s.dx[%zu]: %g, torch's %g: other bits\n", name, i, (double)dx->data[i], (double)wdx[i]);
            ok = false;
            break;
        }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(seq);
    golden_free(g);
    assert_true(ok);
}

/* AvgPool2d's kernel, stride, padding and count_include_pad, which the golden file
 * does not hold. */
static void run_case(const char *name, int k, int stride, int padding, bool cip)
{
    run("avgpool2d.golden", name, tnn_avg_pool2d_new(k, stride, padding, cip));
}

/* The same with ceil_mode and divisor_override (0: none), from avgpool2d_options.golden. */
static void run_options(const char *name, int k, int stride, int padding, bool ceil_mode, bool cip, int divisor)
{
    tnn_pool2d_params p = tnn_pool2d_defaults();
    p.stride = stride;
    p.padding = padding;
    p.ceil_mode = ceil_mode;
    p.count_include_pad = cip;
    p.divisor_override = divisor;
    run("avgpool2d_options.golden", name, tnn_avg_pool2d_new_with(k, p));
}

/* [8 x 6 x 28 x 28], 2x2, stride 2: a LeNet layer. */
static void avgpool2d_lenet(void **state) { (void)state; run_case("lenet", 2, 2, 0, true); }
/* [4 x 3 x 11 x 9], 2x2, default stride: the last row and column are never read. */
static void avgpool2d_odd(void **state) { (void)state; run_case("odd", 2, 0, 0, true); }
/* [2 x 4 x 9 x 10], 3x3, stride 1, padding 1 counted: every element in up to nine windows. */
static void avgpool2d_overlap(void **state) { (void)state; run_case("overlap", 3, 1, 1, true); }
/* The same, the padding not counted (divisors 4, 6 and 9). */
static void avgpool2d_overlap_nopad(void **state) { (void)state; run_case("overlap_nopad", 3, 1, 1, false); }
/* [3 x 2 x 15 x 13], 3x3, stride 2, padding 1 not counted. */
static void avgpool2d_stride2(void **state) { (void)state; run_case("stride2", 3, 2, 1, false); }
/* [2 x 3 x 17 x 14], 5x5, stride 3, padding 2, counted and not. */
static void avgpool2d_k5(void **state) { (void)state; run_case("k5", 5, 3, 2, true); }
static void avgpool2d_k5_nopad(void **state) { (void)state; run_case("k5_nopad", 5, 3, 2, false); }
/* [2 x 2 x 13 x 11], 2x2, stride 3, padding 1: rows and columns between the windows. */
static void avgpool2d_gaps(void **state) { (void)state; run_case("gaps", 2, 3, 1, false); }
/* [2 x 3 x 12 x 12] of values spread over many binades, 4x4, stride 1, padding 2. */
static void avgpool2d_wide(void **state) { (void)state; run_case("wide", 4, 1, 2, true); }
/* NaN, +-inf, signed zeros and denormals, 2x2, stride 1, padding 1 not counted. */
static void avgpool2d_special(void **state) { (void)state; run_case("special", 2, 1, 1, false); }
/* One sample [3 x 7 x 7], 3x3, stride 2, padding 1. */
static void avgpool2d_unbatched(void **state) { (void)state; run_case("unbatched", 3, 2, 1, true); }

/* ceil_mode: [2 x 3 x 7 x 9], 2x2, stride 2: the last row and column of windows run
 * past the input (no padding: divisors 2 and 1 there). */
static void avgpool2d_ceil_k2(void **state) { (void)state; run_options("ceil_k2", 2, 2, 0, true, true, 0); }
/* [2 x 2 x 8 x 10], 3x3, stride 2, padding 1: past the padding; counted, the windows
 * there divide by 2 x 3, 3 x 2 and 2 x 2 (torch's size inside the padded input); not
 * counted, by their elements inside. */
static void avgpool2d_ceil_pad(void **state) { (void)state; run_options("ceil_pad", 3, 2, 1, true, true, 0); }
static void avgpool2d_ceil_pad_nopad(void **state)
{
    (void)state;
    run_options("ceil_pad_nopad", 3, 2, 1, true, false, 0);
}
/* [2 x 2 x 8 x 9], 3x3, stride 3, padding 1: the last row of windows dropped (it would
 * start in the padding), the last column past the edge; both ways. */
static void avgpool2d_ceil_drop(void **state) { (void)state; run_options("ceil_drop", 3, 3, 1, true, true, 0); }
static void avgpool2d_ceil_drop_nopad(void **state)
{
    (void)state;
    run_options("ceil_drop_nopad", 3, 3, 1, true, false, 0);
}
/* [2 x 3 x 9 x 11], 2x2, default stride, padding 1: dropped in both directions. */
static void avgpool2d_ceil_drop2(void **state) { (void)state; run_options("ceil_drop2", 2, 0, 1, true, true, 0); }
/* [2 x 2 x 10 x 11], 4x4, stride 3, padding 2: rows dropped, columns past the edge. */
static void avgpool2d_ceil_k4(void **state) { (void)state; run_options("ceil_k4", 4, 3, 2, true, true, 0); }
static void avgpool2d_ceil_k4_nopad(void **state)
{
    (void)state;
    run_options("ceil_k4_nopad", 4, 3, 2, true, false, 0);
}
/* [2 x 3 x 9 x 12] over many binades, 3x3, stride 2, padding 1. */
static void avgpool2d_ceil_wide(void **state) { (void)state; run_options("ceil_wide", 3, 2, 1, true, true, 0); }
/* NaN, +-inf, signed zeros, a last row of -inf and a last column of -0 (their windows
 * run past the padding), [2 x 2 x 8 x 8], 3x3, stride 2, padding 1, counted. */
static void avgpool2d_ceil_special(void **state) { (void)state; run_options("ceil_special", 3, 2, 1, true, true, 0); }
/* [2 x 2 x 1 x 2], 4x4, stride 2, padding 1: smaller than the window once padded, one
 * output per plane, divided by 3 x 4. */
static void avgpool2d_ceil_small(void **state) { (void)state; run_options("ceil_small", 4, 2, 1, true, true, 0); }
/* One sample [3 x 6 x 8], 3x3, stride 2, padding 1. */
static void avgpool2d_ceil_unbatched(void **state)
{
    (void)state;
    run_options("ceil_unbatched", 3, 2, 1, true, true, 0);
}
/* divisor_override 3 without ceil_mode ([2 x 3 x 9 x 10], 3x3, stride 2, padding 1),
 * 7 with it and the padding not counted, and 16777217 (float: 16777216) on
 * [2 x 2 x 6 x 6], 2x2; values over many binades. */
static void avgpool2d_div3(void **state) { (void)state; run_options("div3", 3, 2, 1, false, true, 3); }
static void avgpool2d_div_ceil(void **state) { (void)state; run_options("div_ceil", 3, 2, 1, true, false, 7); }
static void avgpool2d_div_big(void **state) { (void)state; run_options("div_big", 2, 2, 0, false, true, 16777217); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(avgpool2d_lenet),   cmocka_unit_test(avgpool2d_odd),      cmocka_unit_test(avgpool2d_overlap),
        cmocka_unit_test(avgpool2d_overlap_nopad), cmocka_unit_test(avgpool2d_stride2), cmocka_unit_test(avgpool2d_k5),
        cmocka_unit_test(avgpool2d_k5_nopad), cmocka_unit_test(avgpool2d_gaps),    cmocka_unit_test(avgpool2d_wide),
        cmocka_unit_test(avgpool2d_special), cmocka_unit_test(avgpool2d_unbatched),
        cmocka_unit_test(avgpool2d_ceil_k2), cmocka_unit_test(avgpool2d_ceil_pad),
        cmocka_unit_test(avgpool2d_ceil_pad_nopad), cmocka_unit_test(avgpool2d_ceil_drop),
        cmocka_unit_test(avgpool2d_ceil_drop_nopad), cmocka_unit_test(avgpool2d_ceil_drop2),
        cmocka_unit_test(avgpool2d_ceil_k4), cmocka_unit_test(avgpool2d_ceil_k4_nopad),
        cmocka_unit_test(avgpool2d_ceil_wide), cmocka_unit_test(avgpool2d_ceil_special),
        cmocka_unit_test(avgpool2d_ceil_small), cmocka_unit_test(avgpool2d_ceil_unbatched),
        cmocka_unit_test(avgpool2d_div3), cmocka_unit_test(avgpool2d_div_ceil), cmocka_unit_test(avgpool2d_div_big),
    };
    return parity_main(argc, argv, "parity_avgpool2d", tests, sizeof tests / sizeof tests[0]);
}
