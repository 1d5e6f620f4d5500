/* Gradient checks of Upsample and Unflatten (see common/gradcheck.h): Upsample with
 * scales 1, 2 and 3 on odd sizes and batches above one, the scale 41 (torch's index
 * rule: input elements copied to unequal numbers of outputs), and Linear -> Unflatten
 * -> Upsample -> Conv2d -> Tanh, a DCGAN generator's first layers, in a Sequential;
 * Unflatten alone (with trailing dimensions) and Linear -> Unflatten -> Conv2d -> Tanh
 * in a Sequential.
 *
 * Both layers are linear in x (copies and a reshape), so the differences are exact up
 * to the forward's rounding; the layers around them in the Sequentials are smooth. */
#include "gradcheck.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* m on an input of `ndim` dimensions `shape`, U(-1, 1): passes, comparing the input's
 * gradient (no parameters) or `tensors` tensors. */
static void check(tnn_module *m, int ndim, const int *shape, int tensors)
{
    tnn_rng r;
    tnn_rng_seed(&r, 61);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    assert_non_null(x);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, tensors);
    if (tensors == 1) assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* Scale 2, [3 x 2 x 3 x 5]: each dL/dx the sum of its 2 x 2 block's weights. */
static void gradcheck_upsample(void **state)
{
    (void)state;
    check(tnn_upsample_nearest2d_new(2), 4, (int[]){3, 2, 3, 5}, 1);
}
/* Scale 3, [2 x 3 x 5 x 2]. */
static void gradcheck_upsample_k3(void **state)
{
    (void)state;
    check(tnn_upsample_nearest2d_new(3), 4, (int[]){2, 3, 5, 2}, 1);
}
/* Scale 1: the identity. */
static void gradcheck_upsample_k1(void **state)
{
    (void)state;
    check(tnn_upsample_nearest2d_new(1), 4, (int[]){2, 2, 3, 3}, 1);
}
/* Scale 41 on [1 x 2 x 2 x 1]: 42 rows from input row 0, 40 from row 1 (torch's rule). */
static void gradcheck_upsample_k41(void **state)
{
    (void)state;
    check(tnn_upsample_nearest2d_new(41), 4, (int[]){1, 2, 2, 1}, 1);
}

/* Linear(3 -> 2*2*2) -> Unflatten(1, [2, 2, 2]) -> Upsample(2) -> Conv2d(2 -> 2, k3, p1)
 * -> Tanh on [4 x 3]: dL/dx and the Linear's and Conv2d's gradients through both. */
static void gradcheck_upsample_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 62);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3, 8, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_unflatten_new(3, (int[]){2, 2, 2})));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_upsample_nearest2d_new(2)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 2, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    check(s, 2, (int[]){4, 3}, 5); /* input, 0.weight, 0.bias, 3.weight, 3.bias */
}

/* Unflatten(1, [2, 3]) on [3 x 6 x 2]: dL/dx is dy under the input's shape. */
static void gradcheck_unflatten(void **state)
{
    (void)state;
    check(tnn_unflatten_new(2, (int[]){2, 3}), 3, (int[]){3, 6, 2}, 1);
}

/* Linear(4 -> 2*3*3) -> Unflatten(1, [2, 3, 3]) -> Conv2d(2 -> 3, k3, s1, p1) -> Tanh on
 * [3 x 4]. */
static void gradcheck_unflatten_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 63);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 18, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_unflatten_new(3, (int[]){2, 3, 3})));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 3, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    check(s, 2, (int[]){3, 4}, 5); /* input, 0.weight, 0.bias, 2.weight, 2.bias */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_upsample),
    cmocka_unit_test(gradcheck_upsample_k3),
    cmocka_unit_test(gradcheck_upsample_k1),
    cmocka_unit_test(gradcheck_upsample_k41),
    cmocka_unit_test(gradcheck_upsample_in_sequential),
    cmocka_unit_test(gradcheck_unflatten),
    cmocka_unit_test(gradcheck_unflatten_in_sequential),
};

TU_MAIN("gradcheck_upsample", tests)
