/*
 * parity_upsample: tnn_upsample_nearest2d against torch.nn.Upsample(scale_factor=k,
 * mode='nearest') (tests/data/parity/upsample.golden): output and dL/dx for nine
 * cases, scale factors 1, 2, 3 and 41 on odd sizes with batches above one, among them
 * upstream gradients whose exponents span 2^-20 to 2^24 (the order of the additions
 * shows in the bits; the generator asserts that adding by columns would differ), blocks
 * of -0 (torch adds from +0: their sum is +0), NaN, +-inf and signed zeros, one channel
 * (torch's channels-last kernels), and the scale 41, where torch's float index rule puts
 * output 41 on input 0.
 *
 * Tolerance 0: the forward only copies, and torch's CPU backward kernel
 * (cpu_upsample_nearest_backward) adds each dy into dL/dx in float, output rows in
 * order and each row's columns in order, from zeros, as tinynn does, so every value is
 * torch's bits (NaN matches NaN; the signs of zeros are compared too). The layer runs
 * inside a Sequential, as in a network.
 */
#include "parity/parity.h"

#include <string.h>

/* Whether a and b (n floats) have the same bits, NaN matching any NaN; prints the
 * first difference. */
static bool same_bits(const char *what, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != a[i] && b[i] != b[i]) continue;
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            print_error("%s[%zu]: %.9g, torch's %.9g: other bits\n", what, i, (double)a[i], (double)b[i]);
            return false;
        }
    }
    return true;
}

/* The scale factor, which the golden file does not hold. */
static void run_case(const char *name, int k)
{
    golden_file *g = golden_load("upsample.golden");
    tnn_module *seq = tnn_sequential_new(), *up = tnn_upsample_nearest2d_new(k);
    assert_non_null(up);
    assert_int_equal(tnn_sequential_add(seq, up), TNN_OK);
    tnn_tensor *x = golden_tensor_new(g, "%s.x", name), *dy = golden_tensor_new(g, "%s.dy", name);
    char nm[128];
    bool ok = true;
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    assert_int_equal(y->ndim, dy->ndim);
    assert_memory_equal(y->shape, dy->shape, sizeof y->shape);
    snprintf(nm, sizeof nm, "%s.y", name);
    ok &= parity_check(g, nm, y->data, y->size, 0.0, 0.0);
    ok &= same_bits(nm, y->data, golden_f32(g, y->size, "%s.y", name), y->size);
    assert_int_equal(tnn_module_backward(seq, dy, &dx), TNN_OK);
    assert_int_equal(dx->ndim, x->ndim);
    assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
    snprintf(nm, sizeof nm, "%s.dx", name);
    ok &= parity_check(g, nm, dx->data, dx->size, 0.0, 0.0);
    ok &= same_bits(nm, dx->data, golden_f32(g, dx->size, "%s.dx", name), dx->size);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(seq);
    golden_free(g);
    assert_true(ok);
}

/* [2 x 3 x 5 x 4], scale 1: a copy both ways. */
static void upsample_k1(void **state) { (void)state; run_case("k1", 1); }
/* [3 x 4 x 7 x 5], scale 2. */
static void upsample_k2(void **state) { (void)state; run_case("k2", 2); }
/* [2 x 3 x 5 x 7], scale 3: nine outputs per input element. */
static void upsample_k3(void **state) { (void)state; run_case("k3", 3); }
/* [4 x 16 x 8 x 8], scale 2: the DCGAN generator's first upsampling, small. */
static void upsample_dcgan(void **state) { (void)state; run_case("dcgan", 2); }
/* [3 x 2 x 5 x 3], scale 3, dy of exponents 2^-20 .. 2^24 and a block of -0. */
static void upsample_order(void **state) { (void)state; run_case("order", 3); }
/* [2 x 3 x 4 x 5], scale 2, the same kind of dy. */
static void upsample_order2(void **state) { (void)state; run_case("order2", 2); }
/* NaN, +-inf and signed zeros in x and dy (inf + -inf in one block: NaN). */
static void upsample_special(void **state) { (void)state; run_case("special", 2); }
/* [3 x 1 x 4 x 5], scale 2: one channel (torch: the channels-last kernels). */
static void upsample_onechannel(void **state) { (void)state; run_case("onechannel", 2); }
/* [1 x 2 x 2 x 3], scale 41: torch's float index rule, 42 outputs from input 0. */
static void upsample_k41(void **state) { (void)state; run_case("k41", 41); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(upsample_k1),      cmocka_unit_test(upsample_k2),       cmocka_unit_test(upsample_k3),
        cmocka_unit_test(upsample_dcgan),   cmocka_unit_test(upsample_order),    cmocka_unit_test(upsample_order2),
        cmocka_unit_test(upsample_special), cmocka_unit_test(upsample_onechannel), cmocka_unit_test(upsample_k41),
    };
    return parity_main(argc, argv, "parity_upsample", tests, sizeof tests / sizeof tests[0]);
}
