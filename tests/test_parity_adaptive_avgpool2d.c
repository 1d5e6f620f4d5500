/*
 * parity_adaptive_avgpool2d: tnn_adaptive_avg_pool2d against torch.nn.AdaptiveAvgPool2d
 * (tests/data/parity/adaptive_avgpool2d.golden): output and dL/dx for thirteen cases:
 * global average pooling (1 x 1) on planes of 1 to 10,000 elements, values over many
 * binades, one unbatched sample; other output sizes with overlapping windows, more
 * outputs than inputs, one row of outputs, the identity size; NaN, +-inf, signed zeros
 * and a -0 quotient in both paths.
 *
 * Tolerance 0, signs of zeros included. torch 1.13 computes 1 x 1 as input.mean((-1,
 * -2)): its cascade sum in float (SumKernel.cpp), divided by H*W; backward dy / (H*W)
 * everywhere. Other sizes go through cpu_adaptive_avg_pool: each window summed in float
 * row by row, divided by its height and then its width; backward dy / height / width
 * added in output order from zeros. tinynn does the same operations in the same order.
 * The layer runs inside a Sequential, as in a network.
 */
#include "parity/parity.h"

#include <string.h>

static void run_case(const char *name, int out_h, int out_w)
{
    golden_file *g = golden_load("adaptive_avgpool2d.golden");
    tnn_module *seq = tnn_sequential_new(), *pool = tnn_adaptive_avg_pool2d_new(out_h, out_w);
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

/* Global average pooling: [3 x 4 x 2 x 3] (6 elements: below one vector of 8). */
static void adaptive_global_small(void **state) { (void)state; run_case("global_small", 1, 1); }
/* [2 x 5 x 7 x 7], [4 x 8 x 28 x 28], [2 x 3 x 100 x 100] over many binades. */
static void adaptive_global_7(void **state) { (void)state; run_case("global_7", 1, 1); }
static void adaptive_global_28(void **state) { (void)state; run_case("global_28", 1, 1); }
static void adaptive_global_100(void **state) { (void)state; run_case("global_100", 1, 1); }
/* [2 x 3 x 1 x 1]: the mean of one element. */
static void adaptive_global_1(void **state) { (void)state; run_case("global_1", 1, 1); }
/* One sample [6 x 9 x 11]. */
static void adaptive_global_unbatched(void **state) { (void)state; run_case("global_unbatched", 1, 1); }
/* [2 x 3 x 7 x 9] to 3 x 4 (wide values), [2 x 2 x 13 x 7] to 5 x 2. */
static void adaptive_p3x4(void **state) { (void)state; run_case("p3x4", 3, 4); }
static void adaptive_p5x2(void **state) { (void)state; run_case("p5x2", 5, 2); }
/* [2 x 2 x 5 x 6] to 7 x 9: more outputs than inputs. */
static void adaptive_grow(void **state) { (void)state; run_case("grow", 7, 9); }
/* [2 x 3 x 6 x 10] to 1 x 4: the general path with one row. */
static void adaptive_row(void **state) { (void)state; run_case("row", 1, 4); }
/* [1 x 2 x 4 x 5] to 4 x 5: the identity. */
static void adaptive_same(void **state) { (void)state; run_case("same", 4, 5); }
/* NaN, +-inf, signed zeros, a -0 quotient: [2 x 2 x 6 x 6] to 2 x 3 and [2 x 2 x 2 x 2] to 1 x 1. */
static void adaptive_special(void **state) { (void)state; run_case("special", 2, 3); }
static void adaptive_global_special(void **state) { (void)state; run_case("global_special", 1, 1); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adaptive_global_small), cmocka_unit_test(adaptive_global_7),
        cmocka_unit_test(adaptive_global_28),    cmocka_unit_test(adaptive_global_100),
        cmocka_unit_test(adaptive_global_1),     cmocka_unit_test(adaptive_global_unbatched),
        cmocka_unit_test(adaptive_p3x4),         cmocka_unit_test(adaptive_p5x2),
        cmocka_unit_test(adaptive_grow),         cmocka_unit_test(adaptive_row),
        cmocka_unit_test(adaptive_same),         cmocka_unit_test(adaptive_special),
        cmocka_unit_test(adaptive_global_special),
    };
    return parity_main(argc, argv, "parity_adaptive_avgpool2d", tests, sizeof tests / sizeof tests[0]);
}
