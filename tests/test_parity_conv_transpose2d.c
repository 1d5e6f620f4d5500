/*
 * parity_conv_transpose2d: tnn_conv_transpose2d against torch.nn.ConvTranspose2d
 * (tests/data/parity/conv_transpose2d.golden): output, dL/dx, weight and bias
 * gradients, and the gradients accumulated over a second batch without zero_grad,
 * loaded from torch's initial weights by their state_dict names.
 *
 * Tolerances, as test_parity_conv2d.c's. torch 1.13 computes a CPU transposed
 * convolution with its own slow_conv_transpose2d (its profiler shows it for these
 * cases; oneDNN for others), not with tinynn's products on Conv2d's columns, so the
 * sums of products are added in another order and the results are not bit-identical.
 * Each value may be off by a few ulps of the sum of its terms' magnitudes: atol = 1e-6
 * * K * rms(a) * rms(b) (about 16 ulps of that sum), K being the number of products an
 * element sums at most (y: in * ceil(k/stride)^2, the kernel offsets that land on one
 * output; dx: out*k*k; dW: batch*H*W, the input positions), plus rtol 1e-5. The bias
 * gradient is a sum of batch*Hout*Wout values of dy, which tinynn adds in double
 * (rounded once) and torch in float, in an order of its own: the same 1e-6 per term,
 * atol = 1e-6 * batch*Hout*Wout * rms(dy). The weights are loaded under torch's names
 * inside a Sequential ("0.weight"), as a saved nn.Sequential's would be. docs/parity.md
 * gives the measured errors (TNN_PARITY_VERBOSE=1).
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

/* ConvTranspose2d's stride, padding and output_padding, which the golden file does not hold. */
static void run_case(const char *name, int stride, int padding, int output_padding)
{
    golden_file *g = golden_load("conv_transpose2d.golden");
    const golden_tensor *w = golden_find(g, "%s.weight", name);
    assert_non_null(w);
    const int in = w->shape[0], out = w->shape[1], k = w->shape[2]; /* torch's [in x out x k x k] */
    bool bias = golden_find(g, "%s.bias", name) != NULL;
    tnn_module *seq = tnn_sequential_new();
    tnn_module *conv = tnn_conv_transpose2d_new(in, out, k, stride, padding, output_padding, bias, NULL);
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
    const int reach = (k + stride - 1) / stride; /* kernel offsets per output, along one axis */
    const size_t positions = x->size / (size_t)in; /* batch * H * W */
    const size_t terms = dy->size / (size_t)out;   /* batch * Hout * Wout */
    double rx = rms(x->data, x->size), rw = rms(w->data, w->count), rdy = rms(dy->data, dy->size);
    double atol_y = GEMM_ATOL_SCALE * in * reach * reach * rx * rw;
    double atol_dx = GEMM_ATOL_SCALE * out * k * k * rdy * rw;
    double atol_dw = GEMM_ATOL_SCALE * (double)positions * rdy * rx;
    double atol_db = GEMM_ATOL_SCALE * (double)terms * rdy;

    bool ok = true;
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    const golden_tensor *gy = golden_find(g, "%s.y", name);
    assert_non_null(gy);
    assert_int_equal(y->ndim, gy->ndim);
    for (int i = 0; i < y->ndim; i++) assert_int_equal(y->shape[i], gy->shape[i]);
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

/* [3 x 16 x 1 x 1] -> 8, 4x4, no bias: a DCGAN generator's first layer (1x1 -> 4x4). */
static void conv_transpose2d_dcgan_first(void **state) { (void)state; run_case("dcgan_first", 1, 0, 0); }
/* [3 x 8 x 7 x 7] -> 4, 4x4, stride 2, padding 1: DCGAN's upsampling (7x7 -> 14x14). */
static void conv_transpose2d_dcgan_up(void **state) { (void)state; run_case("dcgan_up", 2, 1, 0); }
/* [3 x 3 x 5 x 7] -> 5, 3x3, stride 2, padding 1, output_padding 1: 10 x 14. */
static void conv_transpose2d_output_padding(void **state) { (void)state; run_case("output_padding", 2, 1, 1); }
/* [1 x 4 x 9 x 6] -> 6, 5x5, stride 1, no padding, no bias, batch 1: 13 x 10. */
static void conv_transpose2d_stride1(void **state) { (void)state; run_case("stride1", 1, 0, 0); }
/* [3 x 6 x 8 x 8] -> 3, 5x5, stride 1, padding 2: the same size. */
static void conv_transpose2d_same(void **state) { (void)state; run_case("same", 1, 2, 0); }
/* [1 x 2 x 4 x 5] -> 3, 3x3, stride 3, padding 1, output_padding 2: 11 x 14. */
static void conv_transpose2d_stride3(void **state) { (void)state; run_case("stride3", 3, 1, 2); }

/* [16 x 8 x 4 x 4] -> 6, 4x4, stride 2, padding 1: tinynn's products take two samples
 * each (conv_transpose2d.c's groups), torch's one. */
static void conv_transpose2d_batch16(void **state) { (void)state; run_case("batch16", 2, 1, 0); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_transpose2d_dcgan_first), cmocka_unit_test(conv_transpose2d_dcgan_up),
        cmocka_unit_test(conv_transpose2d_output_padding), cmocka_unit_test(conv_transpose2d_stride1),
        cmocka_unit_test(conv_transpose2d_same), cmocka_unit_test(conv_transpose2d_stride3),
        cmocka_unit_test(conv_transpose2d_batch16),
    };
    return parity_main(argc, argv, "parity_conv_transpose2d", tests, sizeof tests / sizeof tests[0]);
}
