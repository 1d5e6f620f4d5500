/*
 * parity_avgpool2d: tnn_avg_pool2d against torch.nn.AvgPool2d
 * (tests/data/parity/avgpool2d.golden): output and dL/dx for eleven cases, among them
 * count_include_pad both ways, overlapping windows (dx adds), strides above and below
 * the kernel, padding, odd sizes, values of very different sizes (the order of the
 * additions shows in the last bits), NaN, +-inf, signed zeros and denormals whose
 * quotient underflows to -0, and one unbatched sample.
 *
 * Tolerance 0, signs of zeros included: torch's CPU kernel (cpu_avg_pool, NCHW) sums
 * each window in float row by row, divides by the divisor converted to float and adds
 * that to 0.0f; its backward adds dy / divisor into dL/dx in output order from zeros;
 * tinynn does the same operations in the same order, so every value is torch's bits
 * (NaN matches NaN). The layer runs inside a Sequential, as in a network.
 */
#include "parity/parity.h"

#include <string.h>

/* AvgPool2d's kernel, stride, padding and count_include_pad, which the golden file
 * does not hold. */
static void run_case(const char *name, int k, int stride, int padding, bool cip)
{
    golden_file *g = golden_load("avgpool2d.golden");
    tnn_module *seq = tnn_sequential_new(), *pool = tnn_avg_pool2d_new(k, stride, padding, cip);
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(avgpool2d_lenet),   cmocka_unit_test(avgpool2d_odd),      cmocka_unit_test(avgpool2d_overlap),
        cmocka_unit_test(avgpool2d_overlap_nopad), cmocka_unit_test(avgpool2d_stride2), cmocka_unit_test(avgpool2d_k5),
        cmocka_unit_test(avgpool2d_k5_nopad), cmocka_unit_test(avgpool2d_gaps),    cmocka_unit_test(avgpool2d_wide),
        cmocka_unit_test(avgpool2d_special), cmocka_unit_test(avgpool2d_unbatched),
    };
    return parity_main(argc, argv, "parity_avgpool2d", tests, sizeof tests / sizeof tests[0]);
}
