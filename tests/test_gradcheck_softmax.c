/* Gradient checks of Softmax and LogSoftmax over the last dimension (see
 * common/gradcheck.h). Default h, tol and floor: both functions bend on a scale of ~1
 * whatever the rows' offsets, as tanh and sigmoid do; only LogSoftmax's rows of large
 * spread take a larger h (spread_input says why). */
#include "gradcheck.h"
#include "testutil.h"

#include <string.h>

static tnn_module *make(bool log_softmax) { return log_softmax ? tnn_log_softmax_new() : tnn_softmax_new(); }

/* Runs the harness on a new module with input x (freed here) and step h: every element
 * compared. */
static void check_h(bool log_softmax, tnn_tensor *x, double h)
{
    assert_non_null(x);
    tnn_module *m = make(log_softmax);
    assert_non_null(m);
    gradcheck_opts o = gradcheck_defaults();
    o.h = h;
    gradcheck_report rep;
    assert_int_equal(gradcheck_module(m, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 1); /* no parameters: the input only */
    assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void check(bool log_softmax, tnn_tensor *x) { check_h(log_softmax, x, gradcheck_defaults().h); }

/* [4 x 5], x ~ U(-2, 2): outputs and gradients of the size of the typical ones. */
static tnn_tensor *uniform_input(void)
{
    tnn_rng r;
    tnn_rng_seed(&r, 31);
    return tu_rand_tensor(&r, 4, 5, -2.0f, 2.0f);
}

/* Rows far from 0 and with large spreads. Softmax: a row shifted by 1000 (the same
 * softmax as unshifted, computed after subtracting the max), one of +-80 with three
 * close leaders, one where a leader of 1000 makes -1000 and -80 vanish (their gradients
 * compare in absolute terms), one spread over [-12, 12], and one that rounds to one-hot
 * but for 2e-9. LogSoftmax's output is about x - max, whose float rounding (half an
 * ulp: 1.9e-6 at 41, 6e-5 at 2000) enters the loss and, divided by the step, the
 * numeric gradient; so its rows stay within 41 of their max (-1000 next to 1000 gave
 * errors of 3% at h = 0.02), spreads that still make the smallest e^-40 = 4e-18, and
 * it takes h = 0.1: at the default 0.02 an element of gradient 0.02 at y = -9 came out
 * 2.1e-3 off (noise ~ 1/h), at 0.05 1.0e-3, at 0.1 1.8e-4, at 0.2 3.6e-4 (truncation,
 * ~h^4, takes over). */
static tnn_tensor *spread_input(bool log_softmax)
{
    static const float soft[5][6] = {
        {1000.5f, 999.0f, 1001.25f, 998.0f, 1000.0f, 1002.0f},
        {80.0f, -80.0f, 79.5f, 0.0f, -79.0f, 78.75f},
        {1000.0f, 999.25f, -1000.0f, 0.0f, 998.5f, -80.0f},
        {-12.0f, -6.5f, 0.25f, 3.0f, 7.5f, 12.0f},
        {20.0f, 0.0f, -20.0f, 0.5f, -0.5f, 1.0f},
    };
    static const float logs[5][6] = {
        {1000.5f, 999.0f, 1001.25f, 998.0f, 1000.0f, 1002.0f},
        {80.0f, 40.0f, 79.5f, 60.0f, 45.0f, 78.75f},
        {1000.0f, 999.25f, 960.0f, 985.0f, 998.5f, 970.0f},
        {-12.0f, -6.5f, 0.25f, 3.0f, 7.5f, 12.0f},
        {20.0f, 0.0f, -20.0f, 0.5f, -0.5f, 1.0f},
    };
    tnn_tensor *x = tnn_tensor_new2(5, 6);
    if (x) memcpy(x->data, log_softmax ? logs : soft, sizeof soft);
    return x;
}

/* [2 x 3 x 4]: rows of the last dimension, six of them; and a 1-D input, one row. */
static tnn_tensor *input_3d(void)
{
    tnn_rng r;
    tnn_rng_seed(&r, 32);
    tnn_tensor *x = tnn_tensor_new3(2, 3, 4);
    if (x) tnn_tensor_uniform(x, &r, -3.0f, 3.0f);
    return x;
}

static tnn_tensor *input_1d(void)
{
    tnn_rng r;
    tnn_rng_seed(&r, 33);
    tnn_tensor *x = tnn_tensor_new1(7);
    if (x) tnn_tensor_uniform(x, &r, -2.0f, 2.0f);
    return x;
}

static void gradcheck_softmax(void **state) { (void)state; check(false, uniform_input()); }
static void gradcheck_log_softmax(void **state) { (void)state; check(true, uniform_input()); }
static void gradcheck_softmax_spread(void **state) { (void)state; check(false, spread_input(false)); }
static void gradcheck_log_softmax_spread(void **state) { (void)state; check_h(true, spread_input(true), 0.1); }
static void gradcheck_softmax_3d(void **state)
{
    (void)state;
    check(false, input_3d());
    check(false, input_1d());
}
static void gradcheck_log_softmax_3d(void **state)
{
    (void)state;
    check(true, input_3d());
    check(true, input_1d());
}

/* One column: every row is the single element's own, so y is exactly 1 (log: 0) for
 * any x and the true gradient is exactly 0. The harness refuses to compare zero with
 * zero, so this checks the same thing by hand: perturbing any x by +-h and +-2h leaves
 * y unchanged (the numeric gradient is 0), and backward gives exactly 0 for a random
 * dy (torch's (dy - dy * 1) * 1 and dy - exp(0) * dy). A backward without the sum
 * term would give dy. */
static void check_one_column(bool log_softmax)
{
    tnn_rng r;
    tnn_rng_seed(&r, 34);
    tnn_tensor *x = tu_rand_tensor(&r, 6, 1, -50.0f, 50.0f), *dy = tu_rand_tensor(&r, 6, 1, -1.0f, 1.0f);
    assert_non_null(x);
    assert_non_null(dy);
    tnn_module *m = make(log_softmax);
    assert_non_null(m);
    const float want = log_softmax ? 0.0f : 1.0f;
    const tnn_tensor *y, *dx;
    for (size_t i = 0; i < x->size; i++) {
        const float x0 = x->data[i];
        for (int k = -2; k <= 2; k++) {
            x->data[i] = x0 + (float)(k * gradcheck_defaults().h);
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            for (size_t j = 0; j < y->size; j++) assert_true(y->data[j] == want);
        }
        x->data[i] = x0;
    }
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    for (size_t j = 0; j < dx->size; j++) {
        if (dx->data[j] != 0.0f) fail_msg("one column: dx[%zu] = %.9g for dy %.9g, want 0", j, (double)dx->data[j],
                                          (double)dy->data[j]);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

static void gradcheck_softmax_one_column(void **state) { (void)state; check_one_column(false); }
static void gradcheck_log_softmax_one_column(void **state) { (void)state; check_one_column(true); }

/* Inside a Sequential after a Linear, the classifier's head: the weight and bias
 * gradients come through the softmax's dL/dx. */
static void gradcheck_softmax_in_sequential(void **state)
{
    (void)state;
    for (int log_softmax = 0; log_softmax < 2; log_softmax++) {
        tnn_rng r;
        tnn_rng_seed(&r, 35);
        tnn_module *seq = tnn_sequential_new();
        assert_non_null(seq);
        TU_ASSERT_OK(tnn_sequential_add(seq, tnn_linear_new(5, 4, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(seq, make(log_softmax)));
        tnn_tensor *x = tu_rand_tensor(&r, 3, 5, -1.5f, 1.5f);
        gradcheck_report rep;
        assert_int_equal(gradcheck_module(seq, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
        assert_int_equal(rep.tensors, 3); /* input, 0.weight, 0.bias */
        tnn_tensor_free(x);
        tnn_module_free(seq);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_softmax),
    cmocka_unit_test(gradcheck_log_softmax),
    cmocka_unit_test(gradcheck_softmax_spread),
    cmocka_unit_test(gradcheck_log_softmax_spread),
    cmocka_unit_test(gradcheck_softmax_3d),
    cmocka_unit_test(gradcheck_log_softmax_3d),
    cmocka_unit_test(gradcheck_softmax_one_column),
    cmocka_unit_test(gradcheck_log_softmax_one_column),
    cmocka_unit_test(gradcheck_softmax_in_sequential),
};

TU_MAIN("gradcheck_softmax", tests)
