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

static void test_leaky_relu(void **state) { (void)state; run("leaky_relu", tnn_leaky_relu_new(0.2f), true); }
static void test_relu(void **state) { (void)state; run("relu", tnn_relu_new(), true); }
static void test_tanh(void **state) { (void)state; run("tanh", tnn_tanh_new(), false); }
static void test_sigmoid(void **state) { (void)state; run("sigmoid", tnn_sigmoid_new(), false); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"leaky_relu", test_leaky_relu, NULL, NULL, NULL},
        {"relu", test_relu, NULL, NULL, NULL},
        {"tanh", test_tanh, NULL, NULL, NULL},
        {"sigmoid", test_sigmoid, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_activation", tests, sizeof tests / sizeof tests[0]);
}
