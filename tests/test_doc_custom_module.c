/* Exercises the `scale` module written in docs/custom_module.md: forward, backward,
 * requires_grad, naming inside a Sequential, training with Adam, and its constructor's
 * messages when calloc fails (the test is linked with --wrap=calloc where the linker
 * takes it, TNN_TEST_WRAP_CALLOC). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <tinynn/tinynn.h>

tnn_module *scale_new(int n);

#ifdef TNN_TEST_WRAP_CALLOC
/* calloc, failing the n-th call from the moment calloc_fail_in is set to n. */
static int calloc_fail_in;
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size)
{
    if (calloc_fail_in > 0 && --calloc_fail_in == 0) return NULL;
    return __real_calloc(n, size);
}

/* The page's constructor reports each allocation failure in the library's way (a
 * message, TNN_ERR_NOMEM) and frees what it had allocated (ASan and valgrind check). */
static void test_constructor_out_of_memory(void **state)
{
    (void)state;
    calloc_fail_in = 1; /* the layer */
    assert_null(scale_new(3));
    assert_int_equal(tnn_last_status(), TNN_ERR_NOMEM);
    assert_string_equal(tnn_last_error(), "scale_new: out of memory");
    calloc_fail_in = 2; /* its parameter and gradient */
    assert_null(scale_new(3));
    assert_int_equal(tnn_last_status(), TNN_ERR_NOMEM);
    assert_string_equal(tnn_last_error(), "scale_new: out of memory for 3 features");
    assert_int_equal(calloc_fail_in, 0);
    tnn_module *m = scale_new(3);
    assert_non_null(m);
    tnn_module_free(m);
}
#endif

static void test_forward_backward(void **state)
{
    (void)state;
    tnn_module *m = scale_new(3);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new2(2, 3), *dy = tnn_tensor_new2(2, 3);
    for (int i = 0; i < 6; i++) { x->data[i] = (float)(i + 1); dy->data[i] = 0.5f; }
    tnn_tensor_list *p = tnn_module_parameters(m, "");
    assert_int_equal(p->count, 1);
    float *s = p->items[0].data, *ds = p->items[0].grad;
    s[0] = 2.0f; s[1] = -1.0f; s[2] = 0.5f;

    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
    assert_float_equal(y->data[4], 5.0f * -1.0f, 1e-6);
    assert_int_equal(tnn_module_backward(m, dy, &dx), TNN_OK);
    assert_float_equal(dx->data[0], 0.5f * 2.0f, 1e-6);
    assert_float_equal(ds[0], 0.5f * (1.0f + 4.0f), 1e-6); /* sum over rows of dy * x */

    /* Accumulates, and is skipped while frozen. */
    assert_int_equal(tnn_module_backward(m, dy, NULL), TNN_OK);
    assert_float_equal(ds[0], 5.0f, 1e-6);
    tnn_module_set_requires_grad(m, false);
    assert_int_equal(tnn_module_backward(m, dy, NULL), TNN_OK);
    assert_float_equal(ds[0], 5.0f, 1e-6);

    tnn_tensor_list_free(p);
    tnn_module_free(m);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* The errors a user of the page's module sees: its own message for a wrong input, and
 * the library's checks before its backward runs (the page's backward relies on them:
 * without them a small dy would be read past its end). */
static void test_errors(void **state)
{
    (void)state;
    assert_null(scale_new(0));
    assert_non_null(strstr(tnn_last_error(), "scale_new: n is 0, it must be at least 1"));
    tnn_module *m = scale_new(3);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new2(2, 3), *wide = tnn_tensor_new2(2, 4), *small = tnn_tensor_new2(1, 1);
    const tnn_tensor *y = NULL, *dx = NULL;
    assert_int_equal(tnn_module_backward(m, x, &dx), TNN_ERR_STATE);
    assert_non_null(strstr(tnn_last_error(), "scale backward: called before forward (or after a forward that failed)"));
    assert_int_equal(tnn_module_forward(m, wide, &y), TNN_ERR_SHAPE);
    assert_non_null(strstr(tnn_last_error(), "scale(3): input has 2 dimensions and 4 columns, expected [batch x 3]"));
    assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(m, small, &dx), TNN_ERR_SHAPE);
    assert_non_null(strstr(tnn_last_error(), "dy is [1 x 1], the last forward's output was [2 x 3]"));
    tnn_tensor_free(x);
    tnn_tensor_free(wide);
    tnn_tensor_free(small);
    tnn_module_free(m);
}

static void test_in_sequential_with_adam(void **state)
{
    (void)state;
    tnn_rng rng;
    tnn_rng_seed(&rng, 1);
    tnn_module *net = tnn_sequential_new();
    assert_int_equal(tnn_sequential_add(net, tnn_linear_new(4, 4, true, &rng)), TNN_OK);
    assert_int_equal(tnn_sequential_add(net, scale_new(4)), TNN_OK);
    tnn_tensor_list *sd = tnn_module_state_dict(net, "model.");
    assert_non_null(tnn_tensor_list_find(sd, "model.1.scale"));
    tnn_tensor_list_free(sd);

    /* Fit y = 3x (elementwise) and see the loss fall. */
    tnn_tensor *x = tnn_tensor_new2(16, 4), *t = tnn_tensor_new2(16, 4), *g = tnn_tensor_new2(16, 4);
    tnn_tensor_uniform(x, &rng, -1.0f, 1.0f);
    for (size_t i = 0; i < x->size; i++) t->data[i] = 3.0f * x->data[i];
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.05;
    tnn_optimizer *opt = tnn_adam_new(net, ap);
    assert_non_null(opt);
    float first = 0.0f, loss = 0.0f;
    for (int it = 0; it < 300; it++) {
        const tnn_tensor *y;
        tnn_optimizer_zero_grad(opt);
        assert_int_equal(tnn_module_forward(net, x, &y), TNN_OK);
        assert_int_equal(tnn_mse_loss(y, t, &loss, g), TNN_OK);
        if (it == 0) first = loss;
        assert_int_equal(tnn_module_backward(net, g, NULL), TNN_OK);
        assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
    }
    assert_true(loss < 0.01f * first);
    tnn_optimizer_free(opt);
    tnn_module_free(net);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
    tnn_tensor_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_backward),
        cmocka_unit_test(test_in_sequential_with_adam),
        cmocka_unit_test(test_errors),
#ifdef TNN_TEST_WRAP_CALLOC
        cmocka_unit_test(test_constructor_out_of_memory),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
