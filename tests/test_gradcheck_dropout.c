/* Gradient checks of the two layers in src/dropout.c and of Dropout2d (src/dropout2d.c)
 * (see common/gradcheck.h). Dropout and Dropout2d in training mode: the mask is random;
 * the check reseeds the module's rng identically before every forward, so every
 * evaluation draws the same mask and the function is y = x * mask (Dropout2d: one factor
 * per channel of each sample). Flatten: a reshape, whose dx must be dy in x's shape. */
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

/* Dropout2d(0.5) on [N x C x H x W] (or [N x C x L]): the check runs with a fixed mask
 * that zeroes some channels and keeps others (asserted, from the output), each kept
 * channel scaled by 2 throughout. */
static void check_dropout2d(int ndim, const int *shape)
{
    tnn_rng r, mask_rng;
    tnn_rng_seed(&r, 73);
    tnn_module *m = tnn_dropout2d_new(0.5f, &mask_rng);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new(ndim, shape);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    for (size_t i = 0; i < x->size; i++)
        if (x->data[i] == 0.0f) x->data[i] = 0.5f;
    gradcheck_opts o = gradcheck_defaults();
    o.before_forward = reseed;
    o.user = &mask_rng;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1);
    const tnn_tensor *y;
    reseed(&mask_rng);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    const size_t plane = x->size / ((size_t)shape[0] * (size_t)shape[1]);
    int dropped = 0, kept = 0;
    for (size_t c = 0; c < x->size / plane; c++) {
        bool zero = y->data[c * plane] == 0.0f;
        for (size_t i = c * plane; i < (c + 1) * plane; i++)
            assert_true(zero ? y->data[i] == 0.0f : y->data[i] == 2.0f * x->data[i]);
        dropped += zero;
        kept += !zero;
    }
    assert_true(dropped > 0 && kept > 0);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void gradcheck_dropout2d(void **state) { (void)state; check_dropout2d(4, (int[]){3, 4, 3, 2}); }
static void gradcheck_dropout2d_3d(void **state) { (void)state; check_dropout2d(3, (int[]){4, 3, 5}); }

/* Conv2d -> Dropout2d -> Tanh -> Flatten -> Linear: the mask between the layers, the
 * gradients of the convolution's parameters through it. */
static void gradcheck_dropout2d_in_sequential(void **state)
{
    (void)state;
    tnn_rng r, mask_rng;
    tnn_rng_seed(&r, 74);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 4, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_dropout2d_new(0.5f, &mask_rng)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4 * 3 * 3, 2, true, &r)));
    tnn_tensor *x = tnn_tensor_new4(2, 2, 3, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    gradcheck_opts o = gradcheck_defaults();
    o.before_forward = reseed;
    o.user = &mask_rng;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 5); /* input, 0.weight, 0.bias, 4.weight, 4.bias */
    const tnn_tensor *y; /* the mask dropped some of the 8 channels and kept others */
    reseed(&mask_rng);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    const tnn_tensor *z = NULL;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &z));
    reseed(&mask_rng);
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 1), z, &z));
    int dropped = 0;
    for (int c = 0; c < 8; c++) dropped += z->data[c * 9] == 0.0f;
    assert_true(dropped > 0 && dropped < 8);
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_dropout),
    cmocka_unit_test(gradcheck_flatten),
    cmocka_unit_test(gradcheck_dropout2d),
    cmocka_unit_test(gradcheck_dropout2d_3d),
    cmocka_unit_test(gradcheck_dropout2d_in_sequential),
};

TU_MAIN("gradcheck_dropout", tests)
