/* Gradient checks of the element-wise activations (see common/gradcheck.h), ELU, SiLU
 * and GELU also inside a Sequential, where an ELU works in place after a Linear. */
#include "gradcheck.h"
#include "testutil.h"

/* Runs the harness on m with a [4 x 5] input. kink: keep |x| >= 0.1 (ten steps h),
 * otherwise x ~ U(-2, 2), where tanh and sigmoid still have slopes above 0.07. */
static void check(tnn_module *m, bool kink)
{
    assert_non_null(m);
    tnn_rng r;
    tnn_rng_seed(&r, 21);
    tnn_tensor *x = tnn_tensor_new2(4, 5);
    assert_non_null(x);
    if (kink) tu_fill_away_from_zero(x, &r, 0.1f, 2.0f);
    else tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1); /* no parameters: the input only */
    assert_int_equal(rep.elements, 20);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void gradcheck_leaky_relu(void **state) { (void)state; check(tnn_leaky_relu_new(0.2f), true); }
static void gradcheck_relu(void **state) { (void)state; check(tnn_relu_new(), true); }
static void gradcheck_tanh(void **state) { (void)state; check(tnn_tanh_new(), false); }
static void gradcheck_sigmoid(void **state) { (void)state; check(tnn_sigmoid_new(), false); }
/* ELU's slope jumps at 0 unless alpha is 1: away from it for all three */
static void gradcheck_elu(void **state) { (void)state; check(tnn_elu_new(1.0f), true); }
static void gradcheck_elu_alpha(void **state) { (void)state; check(tnn_elu_new(1.7f), true); }
static void gradcheck_elu_negative_alpha(void **state) { (void)state; check(tnn_elu_new(-0.6f), true); }
static void gradcheck_silu(void **state) { (void)state; check(tnn_silu_new(), false); }
static void gradcheck_gelu(void **state) { (void)state; check(tnn_gelu_new(false), false); }
static void gradcheck_gelu_tanh(void **state) { (void)state; check(tnn_gelu_new(true), false); }

/* Linear -> ELU(0.8) (in place over the Linear's output) -> Linear -> GELU -> Linear
 * -> SiLU -> Linear -> GELU(tanh), input and parameters together. No kinks to keep
 * away from: the ELU's inputs pass 0 only where its slope jumps by 0.2, and the
 * harness's tolerance is checked per element (a rare step across 0 would show). */
static void gradcheck_elu_silu_gelu_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 23);
    tnn_module *s = tnn_sequential_new();
    assert_non_null(s);
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(5, 6, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_elu_new(0.8f)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6, 6, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_gelu_new(false)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(6, 5, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_silu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(5, 4, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_gelu_new(true)));
    tnn_tensor *x = tnn_tensor_new2(3, 5);
    tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 9); /* the input and four weights and biases */
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_leaky_relu),
    cmocka_unit_test(gradcheck_relu),
    cmocka_unit_test(gradcheck_tanh),
    cmocka_unit_test(gradcheck_sigmoid),
    cmocka_unit_test(gradcheck_elu),
    cmocka_unit_test(gradcheck_elu_alpha),
    cmocka_unit_test(gradcheck_elu_negative_alpha),
    cmocka_unit_test(gradcheck_silu),
    cmocka_unit_test(gradcheck_gelu),
    cmocka_unit_test(gradcheck_gelu_tanh),
    cmocka_unit_test(gradcheck_elu_silu_gelu_in_sequential),
};

TU_MAIN("gradcheck_activation", tests)
