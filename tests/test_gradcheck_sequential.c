/* Gradient check of a Sequential stack Linear - BatchNorm1d - LeakyReLU - Linear - Tanh
 * (see common/gradcheck.h): every parameter of every child, named "0.weight",
 * "1.bias", ... , and the input. */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>

enum { BATCH = 4, IN = 5, HIDDEN = 6, OUT = 3 };

static tnn_module *make_stack(tnn_rng *r)
{
    tnn_module *s = tnn_sequential_new();
    assert_non_null(s);
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(IN, HIDDEN, true, r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_batchnorm1d_new(HIDDEN, tnn_batchnorm_defaults())));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(HIDDEN, OUT, true, r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    /* Random gamma and beta for the batch norm. */
    tnn_tensor_list *l = tnn_module_parameters(s, "");
    assert_non_null(l);
    const tnn_named_tensor *g = tnn_tensor_list_find(l, "1.weight"), *b = tnn_tensor_list_find(l, "1.bias");
    assert_non_null(g);
    assert_non_null(b);
    for (int j = 0; j < HIDDEN; j++) {
        ((float *)g->data)[j] = 0.5f + tnn_rng_uniform(r);
        ((float *)b->data)[j] = tnn_rng_uniform(r) - 0.5f;
    }
    tnn_tensor_list_free(l);
    return s;
}

/* Smallest |z| over the LeakyReLU's input z (the batch norm's output), computed by
 * running the first two children by hand. */
static float kink_distance(tnn_module *s, const tnn_tensor *x)
{
    const tnn_tensor *h, *z;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &h));
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 1), h, &z));
    float d = INFINITY;
    for (size_t i = 0; i < z->size; i++) d = fminf(d, fabsf(z->data[i]));
    return d;
}

static void gradcheck_sequential(void **state)
{
    (void)state;
    /* The LeakyReLU's kink at 0 must stay out of reach of the perturbations. A step
     * h moves z by at most ~|dz/dv| * 2h (the largest step of the extrapolation) with
     * |dz/dv| up to ~5 here, so draws are taken until every |z| >= 0.25 (seed search,
     * deterministic). */
    tnn_module *s = NULL;
    tnn_tensor *x = tnn_tensor_new2(BATCH, IN);
    assert_non_null(x);
    uint64_t seed;
    for (seed = 1; seed < 1000; seed++) {
        tnn_rng r;
        tnn_rng_seed(&r, seed);
        s = make_stack(&r);
        tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
        if (kink_distance(s, x) >= 0.25f) break;
        tnn_module_free(s);
        s = NULL;
    }
    assert_non_null(s);
    print_message("sequential: seed %llu keeps the LeakyReLU input >= 0.25 from 0\n", (unsigned long long)seed);
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(s, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 7); /* input, 0.weight, 0.bias, 1.weight, 1.bias, 3.weight, 3.bias */
    assert_int_equal(rep.elements, BATCH * IN + (IN * HIDDEN + HIDDEN) + 2 * HIDDEN + (HIDDEN * OUT + OUT));
    tnn_tensor_free(x);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_sequential),
};

TU_MAIN("gradcheck_sequential", tests)
