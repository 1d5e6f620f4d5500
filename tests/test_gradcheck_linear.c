/* Gradient checks of Linear (see common/gradcheck.h). */
#include "gradcheck.h"
#include "testutil.h"

/* Linear(5 -> 4) on a batch of 3; `shape` is the input's shape (its trailing
 * dimensions are the 5 features). */
static void check(bool bias, int ndim, const int *shape)
{
    tnn_rng r;
    tnn_rng_seed(&r, 31);
    tnn_module *m = tnn_linear_new(5, 4, bias, &r);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, bias ? 3 : 2); /* input, weight (, bias) */
    assert_int_equal(rep.elements, 15 + 20 + (bias ? 4 : 0));
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void gradcheck_linear(void **state) { (void)state; check(true, 2, (int[]){3, 5}); }
static void gradcheck_linear_nobias(void **state) { (void)state; check(false, 2, (int[]){3, 5}); }
/* [batch x 1 x 5]: trailing dimensions flattened, dL/dx keeps the input's shape. */
static void gradcheck_linear_3d_input(void **state) { (void)state; check(true, 3, (int[]){3, 1, 5}); }

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_linear),
    cmocka_unit_test(gradcheck_linear_nobias),
    cmocka_unit_test(gradcheck_linear_3d_input),
};

TU_MAIN("gradcheck_linear", tests)
