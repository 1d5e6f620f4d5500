/*
 * parity_leaky_relu, parity_relu, parity_tanh, parity_sigmoid: the activations against
 * torch.nn.LeakyReLU(0.2), ReLU, Tanh and Sigmoid (tests/data/parity/activation.golden):
 * output and dL/dx for a [50 x 37] input that includes 0, -0, tiny values and
 * saturating ones (+-20, +-50, +-88, +-100).
 *
 * Tolerances. LeakyReLU and ReLU are exact (one multiply or a select): 0 ulps.
 * Tanh and Sigmoid: torch evaluates tanh/exp with SLEEF's vectorised functions (1-ulp
 * accuracy) and only its scalar tail with libm, tinynn with libm everywhere, so outputs
 * differ by up to 2 ulps in some elements: y gets rtol 1e-6 (8 ulps) and atol 1e-7
 * (2 ulps of values near 1). The backward formulas are torch's, operation by
 * operation, so dL/dx inherits only the difference in y, multiplied by
 * |d(1 - y^2)/dy| = 2|y| <= 2 (tanh) or |1 - 2y| <= 1 (sigmoid) and by dy: atol
 * 2 * 2 ulps(1) * max|dy| = 2.4e-7 * max|dy|, rtol 1e-5 (where 1 - y^2 is small, an
 * ulp of y is a larger part of it). Where y agrees to the bit, dx must too.
 *
 * parity_elu, parity_elu_1.7, parity_elu_-0.6, parity_silu, parity_gelu,
 * parity_gelu_tanh: torch.nn.ELU(alpha), SiLU, GELU() and GELU(approximate='tanh')
 * (tests/data/parity/elu_silu_gelu.golden, the input with +-inf and NaN besides). tinynn
 * computes these in double and rounds once (within an ulp of the exact values,
 * tests/test_activation.c); torch evaluates the formulas in float (GELU 'none' in
 * oneDNN), which cancel: exp(x) - 1 near 0, 1 + erf or 1 + tanh below about -3, and
 * flush to 0 early (exp(-x) overflows below -88.7). So the differences are absolute,
 * not relative: measured over 4.2 million inputs (log-uniform 1e-40 ... 1e10 of either
 * sign and uniform in [-20, 20]; docs/parity.md) the largest |tinynn - torch| beyond
 * rtol 2.4e-7 (2 ulps) was, with dy = 1: ELU y 2.98e-8 * alpha (half an ulp of alpha),
 * dx 3.5e-8 * alpha; ELU(-0.6) dx 1.4e-45 (computed from x: within 2 ulps); SiLU y
 * 2.6e-37 (torch's early 0), dx 7.1e-7; GELU y 2.6e-7, dx 1.7e-7; GELU tanh y 1.5e-7,
 * dx 1.04e-6. The tolerances below are about twice those, times max|dy| for dx. ELU's
 * backward with alpha >= 0 is torch's from the result (ELU(inplace=True)), operation by
 * operation: where y agrees to the bit, dx must too; it is also held to torch's nn.ELU()
 * backward from the input (alpha exp(x)) with the same tolerance.
 */
#include "parity/parity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(v[i]));
    return m;
}

/* exact: LeakyReLU/ReLU (no tolerance); otherwise the tanh/sigmoid tolerances above. */
static void run(const char *name, tnn_module *m, bool exact)
{
    assert_non_null(m);
    golden_file *g = golden_load("activation.golden");
    tnn_tensor *x = golden_tensor_new(g, "x"), *dy = golden_tensor_new(g, "dy");
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(m, dy, &dx), TNN_OK);
    char nm[64];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, exact ? 0.0 : 1e-7, exact ? 0.0 : 1e-6);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, exact ? 0.0 : 2.4e-7 * max_abs(dy->data, dy->size),
                       exact ? 0.0 : 1e-5);
    if (!exact) {
        /* Where y agrees to the bit, only the backward formula decides dx, and it is
         * torch's: there dx must agree to the bit as well. */
        const float *wy = golden_f32(g, y->size, "%s.y", name), *wdx = golden_f32(g, dx->size, "%s.dx", name);
        size_t same = 0, bad = 0, first = 0;
        for (size_t i = 0; i < y->size; i++) {
            if (y->data[i] != wy[i]) continue;
            same++;
            if (dx->data[i] != wdx[i] && bad++ == 0) first = i;
        }
        if (bad) {
            print_error("parity FAIL %s.dx: %zu of the %zu elements whose y is exact differ, first [%zu]: got %.9g, want %.9g\n",
                        name, bad, same, first, dx->data[first], wdx[first]);
            ok = false;
        } else if (getenv("TNN_PARITY_VERBOSE")) {
            printf("parity %s.dx is bit-exact at all %zu elements whose y is\n", name, same);
        }
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
    golden_free(g);
    assert_true(ok);
}

/* name's y and dx (and name_from_x.dx when from_x) against elu_silu_gelu.golden:
 * |got - want| <= atol + 2.4e-7 |want|, dx's atol times max|dy|. */
static void run_smooth(const char *name, tnn_module *m, double atol_y, double atol_dx, bool from_x)
{
    assert_non_null(m);
    golden_file *g = golden_load("elu_silu_gelu.golden");
    tnn_tensor *x = golden_tensor_new(g, "x"), *dy = golden_tensor_new(g, "dy");
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(m, dy, &dx), TNN_OK);
    const double rtol = 2.4e-7, gmax = max_abs(dy->data, dy->size);
    char nm[64];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, atol_y, rtol);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, atol_dx * gmax, rtol);
    if (from_x) {
        snprintf(nm, sizeof nm, "%s_from_x.dx", name);
        ok &= parity_check(g, nm, dx->data, dx->size, atol_dx * gmax, rtol);
        /* torch's backward from the result, operation by operation: where y is exact,
         * so is dx */
        const float *wy = golden_f32(g, y->size, "%s.y", name), *wdx = golden_f32(g, dx->size, "%s.dx", name);
        size_t same = 0, bad = 0;
        for (size_t i = 0; i < y->size; i++) {
            if (memcmp(&y->data[i], &wy[i], sizeof(float)) != 0) continue;
            same++;
            if (memcmp(&dx->data[i], &wdx[i], sizeof(float)) != 0 && !(isnan(dx->data[i]) && isnan(wdx[i]))) bad++;
        }
        if (bad) {
            print_error("parity FAIL %s.dx: %zu of the %zu elements whose y is exact differ\n", name, bad, same);
            ok = false;
        }
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
    golden_free(g);
    assert_true(ok);
}

static void test_leaky_relu(void **state) { (void)state; run("leaky_relu", tnn_leaky_relu_new(0.2f), true); }
static void test_relu(void **state) { (void)state; run("relu", tnn_relu_new(), true); }
static void test_tanh(void **state) { (void)state; run("tanh", tnn_tanh_new(), false); }
static void test_sigmoid(void **state) { (void)state; run("sigmoid", tnn_sigmoid_new(), false); }
static void test_elu(void **state) { (void)state; run_smooth("elu", tnn_elu_new(1.0f), 6e-8, 7e-8, true); }
static void test_elu_17(void **state) { (void)state; run_smooth("elu_1.7", tnn_elu_new(1.7f), 1e-7, 1.2e-7, true); }
static void test_elu_neg(void **state) { (void)state; run_smooth("elu_-0.6", tnn_elu_new(-0.6f), 4e-8, 3e-45, false); }
static void test_silu(void **state) { (void)state; run_smooth("silu", tnn_silu_new(), 6e-37, 1.5e-6, false); }
static void test_gelu(void **state) { (void)state; run_smooth("gelu", tnn_gelu_new(false), 5e-7, 3.5e-7, false); }
static void test_gelu_tanh(void **state) { (void)state; run_smooth("gelu_tanh", tnn_gelu_new(true), 3e-7, 2.1e-6, false); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"leaky_relu", test_leaky_relu, NULL, NULL, NULL},
        {"relu", test_relu, NULL, NULL, NULL},
        {"tanh", test_tanh, NULL, NULL, NULL},
        {"sigmoid", test_sigmoid, NULL, NULL, NULL},
        {"elu", test_elu, NULL, NULL, NULL},
        {"elu_1.7", test_elu_17, NULL, NULL, NULL},
        {"elu_-0.6", test_elu_neg, NULL, NULL, NULL},
        {"silu", test_silu, NULL, NULL, NULL},
        {"gelu", test_gelu, NULL, NULL, NULL},
        {"gelu_tanh", test_gelu_tanh, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_activation", tests, sizeof tests / sizeof tests[0]);
}
