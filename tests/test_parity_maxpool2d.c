/*
 * parity_maxpool2d: tnn_max_pool2d against torch.nn.MaxPool2d
 * (tests/data/parity/maxpool2d.golden): output and dL/dx for seven cases, among them
 * overlapping windows (dx adds), ties (the first maximum wins), NaN, +-inf and signed
 * zeros (a NaN wins, the last of its window; a window of -inf points at its first
 * element), and one unbatched sample; and with ceil_mode=True
 * (tests/data/parity/maxpool2d_options.golden, tnn_max_pool2d_new_with) eight more:
 * windows running past the input and past its padding, torch's rule dropping a last
 * window that would start in the padding, ties, NaN and windows of -inf at the edge,
 * an input smaller than the window once padded, one unbatched sample.
 *
 * Tolerance 0: max pooling only compares and copies, and torch's CPU kernel
 * (cpu_max_pool, NCHW) adds each output's dy into dL/dx in output order starting from
 * zeros, as tinynn does, so every value is torch's bits (NaN matches NaN). The layer
 * runs inside a Sequential, as in a network.
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

/* MaxPool2d's kernel, stride and padding, which the golden file does not hold. */
static void run_case(const char *name, int k, int stride, int padding)
{
    run("maxpool2d.golden", name, tnn_max_pool2d_new(k, stride, padding));
}

/* The same with ceil_mode=True, from maxpool2d_options.golden. */
static void run_ceil(const char *name, int k, int stride, int padding)
{
    tnn_pool2d_params p = tnn_pool2d_defaults();
    p.stride = stride;
    p.padding = padding;
    p.ceil_mode = true;
    run("maxpool2d_options.golden", name, tnn_max_pool2d_new_with(k, p));
}

/* [8 x 6 x 28 x 28], 2x2, stride 2: a LeNet layer. */
static void maxpool2d_lenet(void **state) { (void)state; run_case("lenet", 2, 2, 0); }
/* [4 x 3 x 11 x 9], 2x2, default stride: the last row and column are never read. */
static void maxpool2d_odd(void **state) { (void)state; run_case("odd", 2, 0, 0); }
/* [2 x 4 x 9 x 10], 3x3, stride 1, padding 1: every element in up to nine windows. */
static void maxpool2d_overlap(void **state) { (void)state; run_case("overlap", 3, 1, 1); }
/* [3 x 2 x 15 x 13], 3x3, stride 2, padding 1. */
static void maxpool2d_stride2(void **state) { (void)state; run_case("stride2", 3, 2, 1); }
/* Integers in [-2, 2], 3x3, stride 1, padding 1: most windows hold their maximum twice. */
static void maxpool2d_ties(void **state) { (void)state; run_case("ties", 3, 1, 1); }
/* NaN, +-inf, signed zeros and a block of -inf, 2x2, stride 1, padding 1. */
static void maxpool2d_special(void **state) { (void)state; run_case("special", 2, 1, 1); }
/* One sample [3 x 7 x 7], 3x3, stride 2, padding 1. */
static void maxpool2d_unbatched(void **state) { (void)state; run_case("unbatched", 3, 2, 1); }

/* ceil_mode: [2 x 3 x 7 x 9], 2x2, stride 2: the last row and column of windows run
 * past the input (4 x 5 outputs, 3 x 4 without ceil_mode). */
static void maxpool2d_ceil_k2(void **state) { (void)state; run_ceil("ceil_k2", 2, 2, 0); }
/* [2 x 2 x 8 x 10], 3x3, stride 2, padding 1: past the padding too (5 x 6, not 4 x 5). */
static void maxpool2d_ceil_pad(void **state) { (void)state; run_ceil("ceil_pad", 3, 2, 1); }
/* [2 x 2 x 8 x 9], 3x3, stride 3, padding 1: the last row of windows would start in the
 * bottom padding and is dropped (3 rows), the last column runs past the edge (4). */
static void maxpool2d_ceil_drop(void **state) { (void)state; run_ceil("ceil_drop", 3, 3, 1); }
/* [2 x 3 x 9 x 11], 2x2, default stride, padding 1: dropped in both directions. */
static void maxpool2d_ceil_drop2(void **state) { (void)state; run_ceil("ceil_drop2", 2, 0, 1); }
/* Integers in [-2, 2], 3x3, stride 2, padding 1: ties in the clipped windows. */
static void maxpool2d_ceil_ties(void **state) { (void)state; run_ceil("ceil_ties", 3, 2, 1); }
/* NaN, +-inf, signed zeros, a last row of -inf, 2x2, stride 2 on 7 x 7. */
static void maxpool2d_ceil_special(void **state) { (void)state; run_ceil("ceil_special", 2, 2, 0); }
/* [2 x 2 x 1 x 2], 4x4, stride 2, padding 1: smaller than the window once padded, one
 * output per plane (refused without ceil_mode). */
static void maxpool2d_ceil_small(void **state) { (void)state; run_ceil("ceil_small", 4, 2, 1); }
/* One sample [3 x 6 x 8], 3x3, stride 2. */
static void maxpool2d_ceil_unbatched(void **state) { (void)state; run_ceil("ceil_unbatched", 3, 2, 0); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maxpool2d_lenet),   cmocka_unit_test(maxpool2d_odd),     cmocka_unit_test(maxpool2d_overlap),
        cmocka_unit_test(maxpool2d_stride2), cmocka_unit_test(maxpool2d_ties),    cmocka_unit_test(maxpool2d_special),
        cmocka_unit_test(maxpool2d_unbatched),
        cmocka_unit_test(maxpool2d_ceil_k2), cmocka_unit_test(maxpool2d_ceil_pad),
        cmocka_unit_test(maxpool2d_ceil_drop), cmocka_unit_test(maxpool2d_ceil_drop2),
        cmocka_unit_test(maxpool2d_ceil_ties),
        cmocka_unit_test(maxpool2d_ceil_special), cmocka_unit_test(maxpool2d_ceil_small),
        cmocka_unit_test(maxpool2d_ceil_unbatched),
    };
    return parity_main(argc, argv, "parity_maxpool2d", tests, sizeof tests / sizeof tests[0]);
}
