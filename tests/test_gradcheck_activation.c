/* Gradient checks of the element-wise activations (see common/gradcheck.h). */
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_leaky_relu),
    cmocka_unit_test(gradcheck_relu),
    cmocka_unit_test(gradcheck_tanh),
    cmocka_unit_test(gradcheck_sigmoid),
};

TU_MAIN("gradcheck_activation", tests)
