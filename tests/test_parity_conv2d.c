/*
 * parity_conv2d: tnn_conv2d against torch.nn.Conv2d (tests/data/parity/conv2d.golden):
 * output, dL/dx, weight and bias gradients, and the gradients accumulated over a
 * second batch without zero_grad, loaded from torch's initial weights by their
 * state_dict names.
 *
 * Tolerances. torch 1.13 computes a CPU convolution with oneDNN (mkldnn) or its own
 * slow_conv2d, not with OpenBLAS's sgemm on tinynn's im2col matrix, so the sums of
 * products are added in another order and the results are not bit-identical. As in
 * test_parity_linear.c, each value may be off by a few ulps of the sum of its terms'
 * magnitudes: atol = 1e-6 * K * rms(a) * rms(b) (about 16 ulps of that sum), K being
 * the number of products summed (y: in*k*k; dx: out*k*k; dW: batch*Hout*Wout), plus
 * rtol 1e-5. The bias gradient is a sum of batch*Hout*Wout values of dy, which tinynn
 * adds in double (rounded once) and torch in float, in an order of its own: the same
 * 1e-6 per term, atol = 1e-6 * batch*Hout*Wout * rms(dy). The weights are loaded
 * under torch's names inside a Sequential ("0.weight"), as a saved nn.Sequential's
 * would be. docs/parity.md gives the measured errors (TNN_PARITY_VERBOSE=1).
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define GEMM_RTOL 1e-5
/* Absolute floor per unit of K * rms(a) * rms(b), the typical size of sum_k |a_k b_k|. */
#define GEMM_ATOL_SCALE 1e-6

static double rms(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s / (double)n);
}

/* Conv2d's stride and padding, which the golden file does not hold. */
static void run_case(const char *name, int stride, int padding)
{
    golden_file *g = golden_load("conv2d.golden");
    const golden_tensor *w = golden_find(g, "%s.weight", name);
    assert_non_null(w);
    const int out = w->shape[0], in = w->shape[1], k = w->shape[2];
    bool bias = golden_find(g, "%s.bias", name) != NULL;
    tnn_module *seq = tnn_sequential_new(), *conv = tnn_conv2d_new(in, out, k, stride, padding, bias, NULL);
    assert_non_null(conv);
    assert_int_equal(tnn_sequential_add(seq, conv), TNN_OK);
    char prefix[64], nm[128];
    snprintf(prefix, sizeof prefix, "%s.", name); /* the golden's "<case>.weight" */
    golden_load_state(g, prefix, conv);
    tnn_tensor_list *params = tnn_module_parameters(seq, "");
    assert_non_null(params);
    assert_string_equal(params->items[0].name, "0.weight");
    float *dw = params->items[0].grad, *db = bias ? params->items[1].grad : NULL;

    tnn_tensor *x = golden_tensor_new(g, "%s.x", name), *dy = golden_tensor_new(g, "%s.dy", name);
    tnn_tensor *x2 = golden_tensor_new(g, "%s.x2", name), *dy2 = golden_tensor_new(g, "%s.dy2", name);
    const size_t terms = dy->size / (size_t)out; /* batch * Hout * Wout */
    double rx = rms(x->data, x->size), rw = rms(w->data, w->count), rdy = rms(dy->data, dy->size);
    double atol_y = GEMM_ATOL_SCALE * in * k * k * rx * rw;
    double atol_dx = GEMM_ATOL_SCALE * out * k * k * rdy * rw;
    double atol_dw = GEMM_ATOL_SCALE * (double)terms * rdy * rx;
    double atol_db = GEMM_ATOL_SCALE * (double)terms * rdy;

    bool ok = true;
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, atol_y, GEMM_RTOL);
    assert_int_equal(tnn_module_backward(seq, dy, &dx), TNN_OK);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, atol_dx, GEMM_RTOL);
    snprintf(nm, sizeof nm, "%s.dweight", name);
    ok &= parity_check(g, nm, dw, w->count, atol_dw, GEMM_RTOL);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.dbias", name);
        ok &= parity_check(g, nm, db, (size_t)out, atol_db, GEMM_RTOL);
    }

    /* A second batch, no zero_grad: gradients accumulate as torch's .grad does. */
    assert_int_equal(tnn_module_forward(seq, x2, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(seq, dy2, NULL), TNN_OK);
    snprintf(nm, sizeof nm, "%s.dweight_acc", name);
    ok &= parity_check(g, nm, dw, w->count, 2 * atol_dw, GEMM_RTOL);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.dbias_acc", name);
        ok &= parity_check(g, nm, db, (size_t)out, 2 * atol_db, GEMM_RTOL);
    }

    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(x2);
    tnn_tensor_free(dy2);
    tnn_tensor_list_free(params);
    tnn_module_free(seq);
    golden_free(g);
    assert_true(ok);
}

/* [8 x 1 x 28 x 28] -> 16 channels, 3x3, padding 1: an MNIST CNN's first layer. */
static void conv2d_mnist(void **state) { (void)state; run_case("mnist", 1, 1); }
/* [4 x 3 x 15 x 13] -> 8, 3x3, stride 2, padding 1. */
static void conv2d_stride2(void **state) { (void)state; run_case("stride2", 2, 1); }
/* [2 x 4 x 12 x 12] -> 6, 5x5, no padding, no bias. */
static void conv2d_nobias(void **state) { (void)state; run_case("nobias", 1, 0); }
/* [3 x 16 x 14 x 14] -> 32, 3x3, padding 1: K = 144, the forward cut into chunks. */
static void conv2d_multi(void **state) { (void)state; run_case("multi", 1, 1); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv2d_mnist), cmocka_unit_test(conv2d_stride2), cmocka_unit_test(conv2d_nobias),
        cmocka_unit_test(conv2d_multi),
    };
    return parity_main(argc, argv, "parity_conv2d", tests, sizeof tests / sizeof tests[0]);
}
