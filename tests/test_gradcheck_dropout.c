/* Gradient checks of the two layers in src/dropout.c (see common/gradcheck.h).
 * Dropout in training mode: the mask is random; the check reseeds the module's rng
 * identically before every forward, so every evaluation draws the same mask and the
 * function is y = x * mask. Flatten: a reshape, whose dx must be dy in x's shape. */
#include "gradcheck.h"
#include "testutil.h"

static void reseed(void *user) { tnn_rng_seed(user, 77); }

static void gradcheck_dropout(void **state)
{
    (void)state;
    tnn_rng r, mask_rng;
    tnn_rng_seed(&r, 71);
    tnn_module *m = tnn_dropout_new(0.5f, &mask_rng);
    assert_non_null(m);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 6, -1.0f, 1.0f);
    assert_non_null(x);
    gradcheck_opts o = gradcheck_defaults();
    o.before_forward = reseed;
    o.user = &mask_rng;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1);

    /* The mask must drop some elements and scale the others by 1/(1-p) = 2, or the
     * check above would not have exercised dropout at all. */
    const tnn_tensor *y;
    reseed(&mask_rng);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    int dropped = 0, kept = 0;
    for (size_t i = 0; i < y->size; i++) {
        if (y->data[i] == 0.0f) dropped++;
        else if (y->data[i] == 2.0f * x->data[i]) kept++;
    }
    assert_true(dropped > 0 && kept > 0);
    assert_int_equal(dropped + kept, (int)y->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void gradcheck_flatten(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 72);
    tnn_module *m = tnn_flatten_new();
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(4, (int[]){3, 2, 4, 5});
    assert_non_null(x);
    for (size_t i = 0; i < x->size; i++) x->data[i] = tnn_rng_uniform(&r) * 2.0f - 1.0f;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1);
    const tnn_tensor *y; /* and the check saw the flattened shape */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 40);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_dropout),
    cmocka_unit_test(gradcheck_flatten),
};

TU_MAIN("gradcheck_dropout", tests)
