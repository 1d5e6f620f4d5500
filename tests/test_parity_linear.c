/*
 * parity_linear: tnn_linear against torch.nn.Linear (tests/data/parity/linear.golden):
 * output, dL/dx, weight and bias gradients, and the gradients accumulated over a
 * second batch without zero_grad.
 *
 * Tolerances. Every product goes through OpenBLAS's sgemm, as torch's addmm/mm do when
 * torch is built against OpenBLAS (Debian's is); with the same OpenBLAS kernel and one
 * thread the results are bit-identical, which is what the machine that made the goldens
 * measures (docs/parity.md). A machine whose OpenBLAS picks another kernel (or a torch
 * with MKL) sums the K products of each output in another order, which moves it by a
 * few ulps of sum_k |a_k b_k|: atol = 1e-6 * K * rms(a) * rms(b) (about 16 ulps of that
 * sum; running the tests under OPENBLAS_CORETYPE=Haswell, Sandybridge, Nehalem,
 * Prescott, SkylakeX gave at most 5 ulps) plus rtol 1e-5. The bias gradient is a
 * column sum that tinynn computes in torch's order (src/linear.c), so it needs no
 * BLAS margin: rtol 1e-6 and atol 1e-7 * sqrt(batch) * rms(dy) (0 with TNN_PARITY_EXACT=1).
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define GEMM_RTOL 1e-5
/* Absolute floor per unit of K * rms(a) * rms(b), the typical size of sum_k |a_k b_k|. */
#define GEMM_ATOL_SCALE 1e-6
#define SUM_RTOL 1e-6

static double rms(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s / (double)n);
}

static void run_case(const char *name)
{
    golden_file *g = golden_load("linear.golden");
    const golden_tensor *w = golden_find(g, "%s.weight", name);
    assert_non_null(w);
    int out = w->shape[0], in = w->shape[1];
    bool bias = golden_find(g, "%s.bias", name) != NULL;
    tnn_module *lin = tnn_linear_new(in, out, bias, NULL);
    assert_non_null(lin);
    char prefix[64], nm[128];
    snprintf(prefix, sizeof prefix, "%s.", name);
    golden_load_state(g, prefix, lin);
    tnn_tensor_list *params = tnn_module_parameters(lin, "");
    assert_non_null(params);
    float *dw = params->items[0].grad, *db = bias ? params->items[1].grad : NULL;

    tnn_tensor *x = golden_tensor_new(g, "%s.x", name), *dy = golden_tensor_new(g, "%s.dy", name);
    tnn_tensor *x2 = golden_tensor_new(g, "%s.x2", name), *dy2 = golden_tensor_new(g, "%s.dy2", name);
    int n = x->shape[0];
    double rx = rms(x->data, x->size), rw = rms(w->data, w->count), rdy = rms(dy->data, dy->size);
    double atol_y = GEMM_ATOL_SCALE * in * rx * rw;     /* y = x W^T + b: K = in */
    double atol_dx = GEMM_ATOL_SCALE * out * rdy * rw;  /* dx = dy W: K = out */
    double atol_dw = GEMM_ATOL_SCALE * n * rdy * rx;    /* dW = dy^T x: K = batch */

    bool ok = true;
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(lin, x, &y), TNN_OK);
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, atol_y, GEMM_RTOL);
    assert_int_equal(tnn_module_backward(lin, dy, &dx), TNN_OK);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, atol_dx, GEMM_RTOL);
    snprintf(nm, sizeof nm, "%s.dweight", name);
    ok &= parity_check(g, nm, dw, (size_t)out * in, atol_dw, GEMM_RTOL);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.dbias", name);
        ok &= parity_check(g, nm, db, (size_t)out, parity_exact_or(1e-7 * sqrt((double)n) * rdy), parity_exact_or(SUM_RTOL));
    }

    /* A second batch, no zero_grad: gradients accumulate as torch's .grad does. */
    assert_int_equal(tnn_module_forward(lin, x2, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(lin, dy2, NULL), TNN_OK);
    snprintf(nm, sizeof nm, "%s.dweight_acc", name);
    ok &= parity_check(g, nm, dw, (size_t)out * in, 2 * atol_dw, GEMM_RTOL);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.dbias_acc", name);
        ok &= parity_check(g, nm, db, (size_t)out, parity_exact_or(2e-7 * sqrt((double)n) * rdy), parity_exact_or(SUM_RTOL));
    }

    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(x2);
    tnn_tensor_free(dy2);
    tnn_tensor_list_free(params);
    tnn_module_free(lin);
    golden_free(g);
    assert_true(ok);
}

/* Linear(100, 128), batch 64: the generator's first layer. */
static void linear_gan(void **state) { (void)state; run_case("gan"); }
/* K = 1024 with batch 8. */
static void linear_longk(void **state) { (void)state; run_case("longk"); }
/* One output feature: torch sums the bias gradient over a contiguous column. */
static void linear_inner(void **state) { (void)state; run_case("inner"); }
/* Odd sizes: batch 5, 33 -> 17 (vector tails everywhere). */
static void linear_odd(void **state) { (void)state; run_case("odd"); }
static void linear_nobias(void **state) { (void)state; run_case("nobias"); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_gan),   cmocka_unit_test(linear_longk),  cmocka_unit_test(linear_inner),
        cmocka_unit_test(linear_odd),   cmocka_unit_test(linear_nobias),
    };
    return parity_main(argc, argv, "parity_linear", tests, sizeof tests / sizeof tests[0]);
}
