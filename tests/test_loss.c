/* Unit tests of the losses (tinynn/loss.h): values and gradients by hand, PyTorch's
 * clamps and stable forms at extreme inputs, and error paths. */
#include "testutil.h"

#include <math.h>

static tnn_tensor *vec(float *d, int rows, int cols) { return tnn_tensor_view(d, 2, (int[]){rows, cols}); }

static void mse_by_hand(void **state)
{
    (void)state;
    float p[3] = {1, 2, 3}, t[3] = {1, 0, 0};
    tnn_tensor *P = vec(p, 1, 3), *T = vec(t, 1, 3), *G = tnn_tensor_new2(1, 3);
    float loss;
    TU_ASSERT_OK(tnn_mse_loss(P, T, &loss, G));
    tu_assert_close1(loss, 13.0 / 3.0, 1e-6, 1e-6, "mse");
    tu_assert_close(G->data, ((double[]){0, 4.0 / 3.0, 2}), 3, 1e-6, 1e-6, "mse grad = 2 (p - t) / n");
    TU_ASSERT_OK(tnn_mse_loss(P, T, &loss, NULL)); /* gradient optional */
    tnn_tensor_free(P);
    tnn_tensor_free(T);
    tnn_tensor_free(G);
}

static void bce_by_hand_and_clamp(void **state)
{
    (void)state;
    float p[2] = {0.5f, 0.9f}, t[2] = {1, 0};
    tnn_tensor *P = vec(p, 2, 1), *T = vec(t, 2, 1), *G = tnn_tensor_new2(2, 1);
    float loss;
    TU_ASSERT_OK(tnn_bce_loss(P, T, &loss, G));
    tu_assert_close1(loss, -(log(0.5) + log(1.0 - (double)0.9f)) / 2, 1e-6, 1e-6, "bce");
    /* (p - t) / (p (1 - p)) / n */
    tu_assert_close(G->data, ((double[]){-1.0, 0.9 / (0.9 * 0.1) / 2}), 2, 1e-5, 1e-6, "bce grad");

    /* p = 0 with t = 1 and p = 1 with t = 0: log clamped at -100, loss 100, finite gradient. */
    p[0] = 0.0f;
    p[1] = 1.0f;
    TU_ASSERT_OK(tnn_bce_loss(P, T, &loss, G));
    tu_assert_close1(loss, 100.0, 1e-6, 1e-6, "bce clamped");
    assert_true(isfinite(G->data[0]) && isfinite(G->data[1]));
    assert_true(G->data[0] < 0.0f && G->data[1] > 0.0f);
    /* ... and with matching targets the loss is 0 (0 * -100, not NaN). */
    t[0] = 0.0f;
    t[1] = 1.0f;
    TU_ASSERT_OK(tnn_bce_loss(P, T, &loss, G));
    assert_true(loss == 0.0f);
    /* torch 1.13 takes log(1 - p) with 1 - p rounded to float: a p below 2^-25 with
     * t = 0 costs exactly 0, and 1e-7 costs -log(0.99999988f), not 1e-7. */
    t[0] = t[1] = 0.0f;
    p[0] = p[1] = 1e-8f;
    TU_ASSERT_OK(tnn_bce_loss(P, T, &loss, G));
    assert_true(loss == 0.0f);
    p[0] = p[1] = 1e-7f;
    TU_ASSERT_OK(tnn_bce_loss(P, T, &loss, G));
    volatile float one_minus = 1.0f - 1e-7f; /* at run time, as torch calls logf */
    assert_true(loss == -logf(one_minus));
    assert_true(loss == 1.1920929e-07f); /* torch 1.13's value */
    t[0] = 1.0f;
    t[1] = 1.0f;
    /* Probabilities outside [0, 1] (or NaN) are refused. */
    p[0] = 1.5f;
    TU_ASSERT_ERR(tnn_bce_loss(P, T, &loss, G), TNN_ERR_ARG, "bce_loss", "1.5", NULL);
    p[0] = NAN;
    TU_ASSERT_ERR(tnn_bce_loss(P, T, &loss, G), TNN_ERR_ARG, "bce_loss", NULL);
    /* a refusal leaves the gradient as it was, also for a bad element after good ones */
    p[0] = 0.25f;
    p[1] = 2.0f;
    G->data[0] = G->data[1] = 7.0f;
    TU_ASSERT_ERR(tnn_bce_loss(P, T, &loss, G), TNN_ERR_ARG, "input[1] = 2", NULL);
    assert_true(G->data[0] == 7.0f && G->data[1] == 7.0f);
    tnn_tensor_free(P);
    tnn_tensor_free(T);
    tnn_tensor_free(G);
}

static void bce_with_logits_stable(void **state)
{
    (void)state;
    float x[3] = {-1.0f, 0.5f, 2.0f}, t[3] = {0.0f, 1.0f, 0.3f}, p[3];
    for (int i = 0; i < 3; i++) p[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    tnn_tensor *X = vec(x, 1, 3), *T = vec(t, 1, 3), *P = vec(p, 1, 3), *G = tnn_tensor_new2(1, 3),
               *GP = tnn_tensor_new2(1, 3);
    float l1, l2;
    /* Equal to BCE on sigmoid(x) where that is accurate. */
    TU_ASSERT_OK(tnn_bce_with_logits_loss(X, T, &l1, G));
    TU_ASSERT_OK(tnn_bce_loss(P, T, &l2, GP));
    tu_assert_close1(l1, l2, 1e-6, 1e-6, "bce_with_logits vs bce(sigmoid)");
    double want[3];
    for (int i = 0; i < 3; i++) want[i] = ((double)p[i] - t[i]) / 3.0; /* (sigmoid(x) - t) / n */
    tu_assert_close(G->data, want, 3, 1e-6, 1e-6, "bce_with_logits grad");

    /* Extreme logits: finite, and the exact limits. */
    x[0] = 100.0f;
    x[1] = -100.0f;
    x[2] = 0.0f;
    t[0] = 1.0f;
    t[1] = 1.0f;
    t[2] = 1.0f;
    TU_ASSERT_OK(tnn_bce_with_logits_loss(X, T, &l1, G));
    tu_assert_close1(l1, (0.0 + 100.0 + log(2.0)) / 3.0, 1e-6, 1e-6, "bce_with_logits at +-100");
    tu_assert_close(G->data, ((double[]){0.0, -1.0 / 3.0, -0.5 / 3.0}), 3, 1e-6, 1e-6, "its gradient");
    x[0] = 1e4f;
    x[1] = -1e4f;
    TU_ASSERT_OK(tnn_bce_with_logits_loss(X, T, &l1, G));
    assert_true(isfinite(l1));
    for (int i = 0; i < 3; i++) assert_true(isfinite(G->data[i]));
    /* Infinite logits give torch's value: (1 - t) * x + max(-x, 0) + ..., so +inf with
     * t = 0 costs inf, -inf with t = 1 is NaN (0 * -inf), where max(x, 0) - x * t gave
     * NaN and inf. */
    tnn_tensor *X1 = tnn_tensor_new2(1, 1), *T1 = tnn_tensor_new2(1, 1);
    const float cases[4][3] = {{INFINITY, 0.0f, INFINITY}, {INFINITY, 0.5f, INFINITY}, {-INFINITY, 1.0f, NAN},
                               {-INFINITY, 0.5f, NAN}};
    for (int k = 0; k < 4; k++) {
        X1->data[0] = cases[k][0];
        T1->data[0] = cases[k][1];
        TU_ASSERT_OK(tnn_bce_with_logits_loss(X1, T1, &l1, NULL));
        if (isnan(cases[k][2])) assert_true(isnan(l1));
        else assert_true(l1 == cases[k][2]);
    }
    tnn_tensor_free(X1);
    tnn_tensor_free(T1);
    tnn_tensor_free(X);
    tnn_tensor_free(T);
    tnn_tensor_free(P);
    tnn_tensor_free(G);
    tnn_tensor_free(GP);
}

static void cross_entropy_by_hand(void **state)
{
    (void)state;
    float x[8] = {0, 0, 0, 0, 1, 2, 3, 3};
    int t[2] = {1, 2};
    tnn_tensor *X = vec(x, 2, 4), *G = tnn_tensor_new2(2, 4);
    float loss;
    TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
    double lse1 = log(exp(1.0) + exp(2.0) + 2.0 * exp(3.0));
    tu_assert_close1(loss, (log(4.0) + lse1 - 3.0) / 2.0, 1e-6, 1e-6, "cross_entropy");
    double want[8];
    for (int j = 0; j < 4; j++) {
        want[j] = (0.25 - (j == 1)) / 2.0;
        want[4 + j] = (exp(x[4 + j] - lse1) - (j == 2)) / 2.0;
    }
    tu_assert_close(G->data, want, 8, 1e-6, 1e-6, "cross_entropy grad = (softmax - onehot) / n");
    /* Each row of the gradient sums to 0. */
    for (int i = 0; i < 2; i++) {
        double s = 0.0;
        for (int j = 0; j < 4; j++) s += G->data[i * 4 + j];
        assert_true(fabs(s) < 1e-7);
    }
    /* Large logits: log-sum-exp keeps it finite. */
    x[0] = 1000.0f;
    TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
    tu_assert_close1(loss, (1000.0 + lse1 - 3.0) / 2.0, 1e-6, 1e-6, "cross_entropy with a logit of 1000");
    /* Errors: class out of range, wrong rank, NULL. */
    t[1] = 4;
    for (int j = 0; j < 8; j++) G->data[j] = 7.0f;
    TU_ASSERT_ERR(tnn_cross_entropy_loss(X, t, &loss, G), TNN_ERR_ARG, "target[1] = 4", NULL);
    for (int j = 0; j < 8; j++) assert_true(G->data[j] == 7.0f); /* row 0 not written either */
    t[1] = -1;
    TU_ASSERT_ERR(tnn_cross_entropy_loss(X, t, &loss, G), TNN_ERR_ARG, "target[1] = -1", NULL);
    t[1] = 0;
    tnn_tensor *flat = tnn_tensor_view(x, 1, (int[]){8});
    TU_ASSERT_ERR(tnn_cross_entropy_loss(flat, t, &loss, G), TNN_ERR_SHAPE, "[8]", NULL);
    TU_ASSERT_ERR(tnn_cross_entropy_loss(X, NULL, &loss, G), TNN_ERR_ARG, NULL);
    TU_ASSERT_ERR(tnn_cross_entropy_loss(NULL, t, &loss, G), TNN_ERR_ARG, NULL);
    tnn_tensor_free(flat);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
}

/* A confident prediction's loss keeps its relative accuracy: the loss of logits
 * [z, 0] with target 0 is log1p(exp(-z)), which log(1 + exp(-z)) loses for large z
 * (mx + log(se) was 1.3 % off at z = 30). Infinite and NaN logits give NaN, as in torch. */
static void cross_entropy_confident_and_non_finite(void **state)
{
    (void)state;
    float x[6] = {0};
    tnn_tensor *X = vec(x, 2, 3), *G = tnn_tensor_new2(2, 3);
    float loss;
    int t[2] = {0, 2};
    const float zs[] = {10.0f, 15.0f, 30.0f, 60.0f};
    for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
        float z = zs[i];
        /* row 0: [z, 0, 0] for class 0; row 1: [0, -1, z] for class 2 */
        x[0] = z; x[1] = 0.0f; x[2] = 0.0f; x[3] = 0.0f; x[4] = -1.0f; x[5] = z;
        TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
        double want = (log1p(2.0 * exp(-(double)z)) + log1p(exp(-(double)z) + exp(-1.0 - z))) / 2.0;
        tu_assert_close1(loss, want, 1.2e-7, 1e-300, "cross_entropy of a confident prediction");
    }
    x[0] = INFINITY; x[1] = 0.0f; x[2] = 0.0f; t[0] = 1;
    TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
    assert_true(isnan(loss));
    x[0] = 0.0f; x[1] = NAN;
    TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
    assert_true(isnan(loss));
    tnn_tensor_free(X);
    tnn_tensor_free(G);
}

/* Tied logits far from 0: the softmax is exact (1/k each), whatever their magnitude.
 * The gradient was exp(x - (max + log-sum)) in double, which loses log-sum once max is
 * large: [0, 1] instead of [-0.5, 0.5] at 1e16. */
static void cross_entropy_tied_large_logits(void **state)
{
    (void)state;
    const float ms[] = {1e9f, 1e12f, -1e12f, 1e16f, 1e20f, -1e30f, 3e38f};
    for (int k = 2; k <= 3; k++) {
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            float x[3] = {ms[i], ms[i], ms[i]};
            tnn_tensor *X = vec(x, 1, k), *G = tnn_tensor_new2(1, k);
            int t[1] = {0};
            float loss;
            TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &loss, G));
            tu_assert_close1(loss, log((double)k), 1.2e-7, 0.0, "cross_entropy of tied logits");
            tu_assert_close1(G->data[0], 1.0 / k - 1.0, 1.2e-7, 0.0, "cross_entropy gradient at the target");
            for (int j = 1; j < k; j++) tu_assert_close1(G->data[j], 1.0 / k, 1.2e-7, 0.0, "cross_entropy gradient");
            tnn_tensor_free(X);
            tnn_tensor_free(G);
        }
    }
}

/* A discriminator's [N x 1] output against [N] targets with a [N] grad tensor: the
 * grad takes the output's shape, and the backward it feeds accepts it. */
static void loss_grad_takes_the_output_shape(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 2);
    tnn_module *d = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_linear_new(3, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_sigmoid_new()));
    tnn_tensor *x = tu_rand_tensor(&r, 4, 3, -1.0f, 1.0f), *t = tnn_tensor_new1(4), *g = tnn_tensor_new1(4);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(d, x, &y));
    float loss;
    TU_ASSERT_OK(tnn_bce_loss(y, t, &loss, g));
    assert_int_equal(g->ndim, 2);
    assert_int_equal(g->shape[0], 4);
    assert_int_equal(g->shape[1], 1);
    TU_ASSERT_OK(tnn_module_backward(d, g, NULL));
    /* a [4] dy made by hand is also taken for [4 x 1] (they differ by a dimension of 1) */
    tnn_tensor *h = tnn_tensor_new1(4);
    TU_ASSERT_OK(tnn_module_backward(d, h, NULL));
    tnn_tensor_free(h);
    /* cross-entropy too: a [12] gradient for [3 x 4] logits becomes [3 x 4] */
    tnn_tensor *logits = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f), *ce = tnn_tensor_new1(12);
    TU_ASSERT_OK(tnn_cross_entropy_loss(logits, (const int[]){0, 3, 1}, &loss, ce));
    assert_int_equal(ce->ndim, 2);
    assert_int_equal(ce->shape[0], 3);
    assert_int_equal(ce->shape[1], 4);
    tnn_tensor_free(logits);
    tnn_tensor_free(ce);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
    tnn_tensor_free(g);
    tnn_module_free(d);
}

static void loss_shape_errors_and_grad_resize(void **state)
{
    (void)state;
    tnn_tensor *a = tnn_tensor_new2(2, 3), *b = tnn_tensor_new2(3, 3);
    float loss;
    TU_ASSERT_ERR(tnn_mse_loss(a, b, &loss, NULL), TNN_ERR_SHAPE, "mse_loss", "[2 x 3]", "[3 x 3]", NULL);
    TU_ASSERT_ERR(tnn_bce_loss(a, b, &loss, NULL), TNN_ERR_SHAPE, "bce_loss", "[2 x 3]", "[3 x 3]", NULL);
    TU_ASSERT_ERR(tnn_bce_with_logits_loss(a, b, &loss, NULL), TNN_ERR_SHAPE, "bce_with_logits_loss", NULL);
    /* equal counts in another shape (a transposed target): refused, as torch refuses
     * them; only dimensions of 1 may differ */
    {
        tnn_tensor *p24 = tnn_tensor_new2(2, 4), *t42 = tnn_tensor_new2(4, 2), *t8 = tnn_tensor_new1(8);
        tnn_tensor *p81 = tnn_tensor_new2(8, 1), *t214 = tnn_tensor_new3(2, 1, 4);
        tnn_tensor_fill(p24, 0.5f);
        tnn_tensor_fill(t42, 1.0f);
        tnn_tensor_fill(t8, 1.0f);
        tnn_tensor_fill(p81, 0.5f);
        tnn_tensor_fill(t214, 1.0f);
        TU_ASSERT_ERR(tnn_mse_loss(p24, t42, &loss, NULL), TNN_ERR_SHAPE, "mse_loss: input [2 x 4] and target [4 x 2] "
                      "differ in shape", NULL);
        TU_ASSERT_ERR(tnn_bce_loss(p24, t42, &loss, NULL), TNN_ERR_SHAPE, "bce_loss", "differ in shape", NULL);
        TU_ASSERT_ERR(tnn_bce_with_logits_loss(p24, t8, &loss, NULL), TNN_ERR_SHAPE, "[2 x 4]", "[8]", NULL);
        TU_ASSERT_OK(tnn_mse_loss(p81, t8, &loss, NULL));
        TU_ASSERT_OK(tnn_bce_loss(p24, t214, &loss, NULL));
        tnn_tensor_free(p24);
        tnn_tensor_free(t42);
        tnn_tensor_free(t8);
        tnn_tensor_free(p81);
        tnn_tensor_free(t214);
    }
    TU_ASSERT_ERR(tnn_mse_loss(NULL, b, &loss, NULL), TNN_ERR_ARG, NULL);
    TU_ASSERT_ERR(tnn_mse_loss(a, NULL, &loss, NULL), TNN_ERR_ARG, NULL);
    /* An owned gradient tensor of another size is resized to the input's shape. */
    tnn_tensor *g = tnn_tensor_new1(1), *t = tnn_tensor_new2(2, 3);
    tnn_tensor_fill(a, 1.0f);
    TU_ASSERT_OK(tnn_mse_loss(a, t, &loss, g));
    assert_true(tnn_tensor_same_shape(g, a));
    tu_assert_close1(g->data[5], 2.0 / 6.0, 1e-6, 1e-6, "resized gradient");
    /* A view that is too small cannot grow: an error, no write past its end. */
    float small[2] = {-7.0f, -7.0f};
    tnn_tensor *gv = tnn_tensor_view(small, 1, (int[]){1});
    TU_ASSERT_ERR(tnn_mse_loss(a, t, &loss, gv), TNN_ERR_SHAPE, "mse_loss", NULL);
    assert_true(small[1] == -7.0f);
    tnn_tensor_free(gv);
    tnn_tensor_free(g);
    tnn_tensor_free(t);
    tnn_tensor_free(a);
    tnn_tensor_free(b);
}


/* NLLLoss: by hand; after LogSoftmax it is CrossEntropyLoss on the logits (loss and,
 * through LogSoftmax's backward, gradient); the refusals, with grad left as it was. */
static void nll_by_hand_and_as_cross_entropy(void **state)
{
    (void)state;
    float x[6] = {-0.5f, -1.5f, -2.0f, -3.0f, -0.25f, -4.0f};
    int t[2] = {1, 2};
    tnn_tensor *X = vec(x, 2, 3), *G = tnn_tensor_new2(2, 3);
    float loss;
    for (int j = 0; j < 6; j++) G->data[j] = 9.0f; /* written over, zeros included */
    TU_ASSERT_OK(tnn_nll_loss(X, t, &loss, G));
    assert_true(loss == (float)((1.5 + 4.0) / 2.0));
    float want[6] = {0, -0.5f, 0, 0, 0, -0.5f};
    assert_memory_equal(G->data, want, sizeof want);
    TU_ASSERT_OK(tnn_nll_loss(X, t, &loss, NULL));

    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_tensor *logits = tu_rand_tensor(&r, 16, 7, -4.0f, 4.0f), *gce = tnn_tensor_new2(16, 7), *gnll = tnn_tensor_new2(16, 7);
    int tt[16];
    for (int i = 0; i < 16; i++) tt[i] = (int)tnn_rng_below(&r, 7);
    tnn_module *ls = tnn_log_softmax_new();
    const tnn_tensor *lp, *dx;
    float ce, nll;
    TU_ASSERT_OK(tnn_module_forward(ls, logits, &lp));
    TU_ASSERT_OK(tnn_nll_loss(lp, tt, &nll, gnll));
    TU_ASSERT_OK(tnn_module_backward(ls, gnll, &dx));
    TU_ASSERT_OK(tnn_cross_entropy_loss(logits, tt, &ce, gce));
    tu_assert_close1(nll, ce, 2e-7, 1e-7, "nll(log_softmax(x)) = cross_entropy(x)");
    double w[16 * 7];
    for (int i = 0; i < 16 * 7; i++) w[i] = gce->data[i];
    /* exp(y) of a float y = log p, |y| < 9: relative 2^-24 * 9 */
    tu_assert_close(dx->data, w, 16 * 7, 2e-6, 1e-6, "their gradients");

    t[1] = 3;
    for (int j = 0; j < 6; j++) G->data[j] = 7.0f;
    TU_ASSERT_ERR(tnn_nll_loss(X, t, &loss, G), TNN_ERR_ARG, "nll_loss: target[1] = 3 is not a class in [0, 3)", NULL);
    for (int j = 0; j < 6; j++) assert_true(G->data[j] == 7.0f);
    t[1] = -1;
    TU_ASSERT_ERR(tnn_nll_loss(X, t, &loss, G), TNN_ERR_ARG, "target[1] = -1", NULL);
    TU_ASSERT_ERR(tnn_nll_loss(NULL, t, &loss, G), TNN_ERR_ARG, "nll_loss: input is NULL", NULL);
    TU_ASSERT_ERR(tnn_nll_loss(X, NULL, &loss, G), TNN_ERR_ARG, "nll_loss: targets is NULL", NULL);
    tnn_tensor *v = vec(x, 6, 1);
    TU_ASSERT_OK(tnn_tensor_reshape(v, 1, (int[]){6}));
    TU_ASSERT_ERR(tnn_nll_loss(v, t, &loss, NULL), TNN_ERR_SHAPE, "nll_loss: input [6], expected [batch x classes]", NULL);
    tnn_module_free(ls);
    tnn_tensor_free(v);
    tnn_tensor_free(logits);
    tnn_tensor_free(gce);
    tnn_tensor_free(gnll);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mse_by_hand),
    cmocka_unit_test(bce_by_hand_and_clamp),
    cmocka_unit_test(bce_with_logits_stable),
    cmocka_unit_test(cross_entropy_by_hand),
    cmocka_unit_test(cross_entropy_confident_and_non_finite),
    cmocka_unit_test(cross_entropy_tied_large_logits),
    cmocka_unit_test(loss_shape_errors_and_grad_resize),
    cmocka_unit_test(loss_grad_takes_the_output_shape),
    cmocka_unit_test(nll_by_hand_and_as_cross_entropy),
};

TU_MAIN("loss", tests)
