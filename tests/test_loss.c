/* Unit tests of the losses (tinynn/loss.h): values and gradients by hand, PyTorch's
 * clamps and stable forms at extreme inputs, and error paths. */
#include "testutil.h"

#include <math.h>
#include <string.h>

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

/* L1, SmoothL1 and Huber against their definitions, in double, on values inside and
 * outside the thresholds; the thresholds' own values; refusals. */
static void l1_smooth_l1_huber_by_hand(void **state)
{
    (void)state;
    enum { N = 6 };
    float p[N] = {0.25f, -0.5f, 2.0f, -3.0f, 1.0f, 0.0f}, t[N] = {0, 0, 0, 0, 0, 0};
    tnn_tensor *P = vec(p, 2, 3), *T = vec(t, 2, 3), *G = tnn_tensor_new2(2, 3);
    float loss;
    TU_ASSERT_OK(tnn_l1_loss(P, T, &loss, G));
    tu_assert_close1(loss, 6.75 / N, 1e-7, 1e-7, "l1");
    tu_assert_close(G->data, ((double[]){1.0 / N, -1.0 / N, 1.0 / N, -1.0 / N, 1.0 / N, 0}), N, 1e-7, 1e-7, "l1 grad");
    /* beta = 1: 0.5 z^2 inside, z - 0.5 outside; at z = beta both give 0.5 */
    TU_ASSERT_OK(tnn_smooth_l1_loss(P, T, 1.0, &loss, G));
    tu_assert_close1(loss, (0.5 * 0.0625 + 0.5 * 0.25 + 1.5 + 2.5 + 0.5 + 0) / N, 1e-7, 1e-7, "smooth_l1");
    tu_assert_close(G->data, ((double[]){0.25 / N, -0.5 / N, 1.0 / N, -1.0 / N, 1.0 / N, 0}), N, 1e-7, 1e-7,
                    "smooth_l1 grad");
    /* beta = 0.5: 0.25 is inside (0.5 z^2 / beta = z^2), the rest outside */
    TU_ASSERT_OK(tnn_smooth_l1_loss(P, T, 0.5, &loss, G));
    tu_assert_close1(loss, (0.0625 + 0.25 + 1.75 + 2.75 + 0.75 + 0) / N, 1e-7, 1e-7, "smooth_l1 beta 0.5");
    tu_assert_close(G->data, ((double[]){0.5 / N, -1.0 / N, 1.0 / N, -1.0 / N, 1.0 / N, 0}), N, 1e-7, 1e-7,
                    "smooth_l1 beta 0.5 grad");
    /* beta = 0: L1's loss; a zero difference takes -1 / n, as torch's kernel gives it */
    TU_ASSERT_OK(tnn_smooth_l1_loss(P, T, 0.0, &loss, G));
    tu_assert_close1(loss, 6.75 / N, 1e-7, 1e-7, "smooth_l1 beta 0");
    tu_assert_close(G->data, ((double[]){1.0 / N, -1.0 / N, 1.0 / N, -1.0 / N, 1.0 / N, -1.0 / N}), N, 1e-7, 1e-7,
                    "smooth_l1 beta 0 grad");
    /* delta = 2: 0.5 z^2 inside, delta (z - 0.5 delta) outside: delta x SmoothL1(beta = delta) */
    TU_ASSERT_OK(tnn_huber_loss(P, T, 2.0, &loss, G));
    tu_assert_close1(loss, (0.5 * 0.0625 + 0.5 * 0.25 + 2.0 + 4.0 + 0.5 + 0) / N, 1e-7, 1e-7, "huber");
    tu_assert_close(G->data, ((double[]){0.25 / N, -0.5 / N, 2.0 / N, -2.0 / N, 1.0 / N, 0}), N, 1e-7, 1e-7,
                    "huber grad");
    float sm;
    TU_ASSERT_OK(tnn_smooth_l1_loss(P, T, 2.0, &sm, NULL));
    tu_assert_close1(loss, 2.0 * sm, 1e-6, 1e-6, "huber = delta x smooth_l1");
    /* refusals, each naming the setting; nothing written */
    tnn_tensor_fill(G, 7.0f);
    loss = 7.0f;
    TU_ASSERT_ERR(tnn_smooth_l1_loss(P, T, -0.5, &loss, G), TNN_ERR_ARG, "smooth_l1_loss", "beta = -0.5", ">= 0", NULL);
    TU_ASSERT_ERR(tnn_smooth_l1_loss(P, T, NAN, &loss, G), TNN_ERR_ARG, "smooth_l1_loss", "beta", NULL);
    TU_ASSERT_ERR(tnn_smooth_l1_loss(P, T, 1e39, &loss, G), TNN_ERR_ARG, "beta", "FLT_MAX", NULL);
    TU_ASSERT_ERR(tnn_huber_loss(P, T, 0.0, &loss, G), TNN_ERR_ARG, "huber_loss", "delta = 0", "> 0", NULL);
    TU_ASSERT_ERR(tnn_huber_loss(P, T, -1.0, &loss, G), TNN_ERR_ARG, "huber_loss", "delta", NULL);
    TU_ASSERT_ERR(tnn_huber_loss(P, T, INFINITY, &loss, G), TNN_ERR_ARG, "delta", NULL);
    assert_true(loss == 7.0f);
    for (int i = 0; i < N; i++) assert_true(G->data[i] == 7.0f);
    tnn_tensor *T3 = tnn_tensor_new2(3, 2);
    TU_ASSERT_ERR(tnn_l1_loss(P, T3, &loss, G), TNN_ERR_SHAPE, "l1_loss", "[2 x 3]", "[3 x 2]", NULL);
    TU_ASSERT_ERR(tnn_smooth_l1_loss(P, T3, 1.0, &loss, G), TNN_ERR_SHAPE, "smooth_l1_loss", NULL);
    TU_ASSERT_ERR(tnn_huber_loss(P, NULL, 1.0, &loss, G), TNN_ERR_ARG, "huber_loss", "target is NULL", NULL);
    tnn_tensor_free(T3);
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

/* ---- PyTorch's options: tnn_cross_entropy_loss_with, tnn_nll_loss_with ---- */

/* The reference: sample i's loss (1 - s) w[t] (-log p[t]) + (s / k) sum_j w[j] (-log p[j])
 * and its gradient, from the softmax computed the plain way (log of the sum of exp), in
 * double; ignored rows 0. Returns the mean's denominator (the counted targets' weights). */
static double ce_reference(const float *x, int n, int k, const int *t, const float *w, int ignore_index, double s,
                           double *li, double *g)
{
    double den = 0.0;
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * k;
        li[i] = 0.0;
        for (int j = 0; j < k; j++) g[i * k + j] = 0.0;
        if (t[i] == ignore_index) continue;
        double se = 0.0;
        for (int j = 0; j < k; j++) se += exp((double)r[j]);
        double wt = w ? w[t[i]] : 1.0;
        den += wt;
        for (int j = 0; j < k; j++) {
            double wj = w ? w[j] : 1.0, nll = log(se) - r[j];
            double q = (1.0 - s) * wt * (j == t[i]) + s / k * wj; /* the smoothed, weighted target */
            li[i] += q * nll;
            for (int m = 0; m < k; m++) g[i * k + m] += q * (exp((double)r[m]) / se - (m == j)); /* d nll / dx[m] */
        }
    }
    return den;
}

static void ce_with_weights_by_hand(void **state)
{
    (void)state;
    float x[6] = {0.5f, -1.0f, 2.0f, 1.0f, 1.0f, -0.5f}, wd[3] = {1.0f, 2.0f, 0.5f};
    int t[2] = {2, 1};
    tnn_tensor *X = vec(x, 2, 3), *G = tnn_tensor_new2(2, 3), *W = tnn_tensor_view(wd, 1, (int[]){3});
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.weight = W;
    float loss;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    /* row 0: -log p[2] weighs 0.5; row 1: -log p[1] weighs 2; mean over 0.5 + 2 */
    double lse0 = log(exp(0.5) + exp(-1.0) + exp(2.0)), lse1 = log(2.0 * exp(1.0) + exp(-0.5));
    double nll0 = lse0 - 2.0, nll1 = lse1 - 1.0;
    tu_assert_close1(loss, (0.5 * nll0 + 2.0 * nll1) / 2.5, 1e-6, 1e-6, "weighted cross_entropy");
    double want[6];
    for (int j = 0; j < 3; j++) {
        want[j] = 0.5 * (exp(x[j] - lse0) - (j == 2)) / 2.5;
        want[3 + j] = 2.0 * (exp(x[3 + j] - lse1) - (j == 1)) / 2.5;
    }
    tu_assert_close(G->data, want, 6, 1e-6, 1e-7, "weighted gradient = w[t] (softmax - onehot) / sum w[t]");
    /* sum: the same without the division */
    p.reduction = TNN_REDUCTION_SUM;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    tu_assert_close1(loss, 0.5 * nll0 + 2.0 * nll1, 1e-6, 1e-6, "weighted sum");
    for (int j = 0; j < 6; j++) want[j] *= 2.5;
    tu_assert_close(G->data, want, 6, 1e-6, 1e-7, "its gradient");
    /* weights of 1 give the plain loss, bit for bit */
    float l1, ones[3] = {1.0f, 1.0f, 1.0f};
    tnn_tensor *G1 = tnn_tensor_new2(2, 3), *W1 = tnn_tensor_view(ones, 1, (int[]){3});
    p = tnn_class_loss_defaults();
    p.weight = W1;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    TU_ASSERT_OK(tnn_cross_entropy_loss(X, t, &l1, G1));
    assert_true(loss == l1);
    assert_memory_equal(G->data, G1->data, 6 * sizeof(float));
    /* negative weights are taken, as torch takes them: -1 for class 2 */
    wd[2] = -1.0f;
    p.weight = W;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    tu_assert_close1(loss, (-nll0 + 2.0 * nll1) / 1.0, 1e-6, 1e-6, "a negative weight");
    /* weights of the counted targets summing to 0: the mean divides by 0, as torch's does */
    wd[1] = 1.0f;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    assert_true(isinf(loss) && loss > 0.0f); /* (-nll0 + nll1) / 0, nll1 > nll0 */
    tnn_tensor_free(X);
    tnn_tensor_free(G);
    tnn_tensor_free(G1);
    tnn_tensor_free(W);
    tnn_tensor_free(W1);
}

/* Ignored targets count for nothing: the loss is the plain loss of the other rows (the
 * same bits), their gradient rows are 0; ignore_index may be any int, a class too. */
static void ce_with_ignore_index(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 31);
    tnn_tensor *X = tu_rand_tensor(&r, 5, 4, -3.0f, 3.0f), *G = tnn_tensor_new2(5, 4);
    int t[5] = {1, -100, 3, -100, 0};
    float loss, sub_loss;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    for (int j = 0; j < 20; j++) G->data[j] = 7.0f;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    /* rows 0, 2, 4 alone, through the plain function */
    float sub[12];
    int st[3] = {1, 3, 0};
    for (int j = 0; j < 4; j++) {
        sub[j] = X->data[j];
        sub[4 + j] = X->data[8 + j];
        sub[8 + j] = X->data[16 + j];
    }
    tnn_tensor *S = vec(sub, 3, 4), *SG = tnn_tensor_new2(3, 4);
    TU_ASSERT_OK(tnn_cross_entropy_loss(S, st, &sub_loss, SG));
    assert_true(loss == sub_loss);
    for (int j = 0; j < 4; j++) {
        assert_true(G->data[4 + j] == 0.0f && G->data[12 + j] == 0.0f); /* ignored rows: 0 */
        assert_true(G->data[j] == SG->data[j] && G->data[8 + j] == SG->data[4 + j]);
        assert_true(G->data[16 + j] == SG->data[8 + j]);
    }
    /* the same through NLL */
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, G));
    TU_ASSERT_OK(tnn_nll_loss(S, st, &sub_loss, SG));
    assert_true(loss == sub_loss);
    /* an ignore_index that is a class (3), or outside [0, classes) and not -100 (7) */
    p.ignore_index = 3;
    int t3[5] = {1, 3, 3, 0, 2};
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t3, p, &loss, G));
    for (int j = 0; j < 4; j++) assert_true(G->data[4 + j] == 0.0f && G->data[8 + j] == 0.0f);
    p.ignore_index = 7;
    int t7[5] = {7, 1, 2, 7, 7};
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t7, p, &loss, G));
    assert_true(isfinite(loss) && G->data[0] == 0.0f && G->data[4] != 0.0f);
    /* ... while -100 is now a target like any other outside [0, 4): refused, naming it */
    for (int j = 0; j < 20; j++) G->data[j] = 7.0f;
    loss = 5.0f;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG,
                  "cross_entropy_loss_with: target[1] = -100 is neither a class in [0, 4) nor ignore_index (7)", NULL);
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "nll_loss_with: target[1] = -100", NULL);
    for (int j = 0; j < 20; j++) assert_true(G->data[j] == 7.0f);
    assert_true(loss == 5.0f);
    /* the plain functions ignore nothing: -100 is refused there */
    TU_ASSERT_ERR(tnn_cross_entropy_loss(X, t, &loss, G), TNN_ERR_ARG, "target[1] = -100 is not a class", NULL);
    /* every target ignored: the mean is 0 / 0, NaN, as in torch; the gradient 0; sum 0 */
    int all[5] = {-100, -100, -100, -100, -100};
    p = tnn_class_loss_defaults();
    for (int smooth = 0; smooth < 2; smooth++) {
        p.label_smoothing = smooth ? 0.1 : 0.0;
        for (int nll = 0; nll < 2 - smooth; nll++) {
            p.reduction = TNN_REDUCTION_MEAN;
            for (int j = 0; j < 20; j++) G->data[j] = 7.0f;
            TU_ASSERT_OK(nll ? tnn_nll_loss_with(X, all, p, &loss, G)
                             : tnn_cross_entropy_loss_with(X, all, p, &loss, G));
            assert_true(isnan(loss));
            for (int j = 0; j < 20; j++) assert_true(G->data[j] == 0.0f);
            p.reduction = TNN_REDUCTION_SUM;
            TU_ASSERT_OK(nll ? tnn_nll_loss_with(X, all, p, &loss, G)
                             : tnn_cross_entropy_loss_with(X, all, p, &loss, G));
            assert_true(loss == 0.0f);
        }
    }
    tnn_tensor_free(S);
    tnn_tensor_free(SG);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
}

/* Label smoothing: without weights, cross-entropy against the soft target
 * (1 - s) onehot + s / k, whose gradient is softmax - target; with weights, torch
 * 1.13's formula (the smoothing term weighs each class, the mean divides by the sum of
 * w[t]) against the reference; s = 1 and s = 0 at the ends. */
static void ce_with_label_smoothing_by_hand(void **state)
{
    (void)state;
    float x[8] = {1.0f, 0.0f, -1.0f, 2.0f, 0.5f, 0.5f, 3.0f, -2.0f}, wd[4] = {0.5f, 1.0f, 2.0f, 1.5f};
    int t[2] = {3, 0};
    tnn_tensor *X = vec(x, 2, 4), *G = tnn_tensor_new2(2, 4), *W = tnn_tensor_view(wd, 1, (int[]){4});
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.label_smoothing = 0.2;
    float loss;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    double want_loss = 0.0, want[8];
    for (int i = 0; i < 2; i++) {
        const float *r = x + 4 * i;
        double lse = log(exp(r[0]) + exp(r[1]) + exp(r[2]) + exp(r[3]));
        for (int j = 0; j < 4; j++) {
            double q = 0.8 * (j == t[i]) + 0.2 / 4;
            want_loss -= q * (r[j] - lse) / 2.0;
            want[4 * i + j] = (exp(r[j] - lse) - q) / 2.0;
        }
    }
    tu_assert_close1(loss, want_loss, 1e-6, 1e-6, "smoothed cross_entropy = CE against (1 - s) onehot + s / k");
    tu_assert_close(G->data, want, 8, 1e-6, 1e-7, "its gradient = (softmax - smoothed target) / n");
    /* with weights and an ignored row, against the reference, for s = 0.2, 1, and mean and sum */
    int t3[3] = {3, -100, 0};
    float x3[12];
    for (int j = 0; j < 12; j++) x3[j] = j < 4 ? x[j] : j < 8 ? 9.0f : x[j - 4];
    tnn_tensor *X3 = vec(x3, 3, 4), *G3 = tnn_tensor_new2(3, 4);
    p.weight = W;
    const double ss[2] = {0.2, 1.0};
    for (int si = 0; si < 2; si++) {
        for (int red = 0; red < 2; red++) {
            double li[3], g[12];
            double den = ce_reference(x3, 3, 4, t3, wd, -100, ss[si], li, g);
            assert_true(den == 0.5 + 1.5);
            if (red) den = 1.0;
            p.label_smoothing = ss[si];
            p.reduction = red ? TNN_REDUCTION_SUM : TNN_REDUCTION_MEAN;
            TU_ASSERT_OK(tnn_cross_entropy_loss_with(X3, t3, p, &loss, G3));
            tu_assert_close1(loss, (li[0] + li[1] + li[2]) / den, 1e-6, 1e-6, "weighted, smoothed cross_entropy");
            for (int j = 0; j < 12; j++) g[j] /= den;
            tu_assert_close(G3->data, g, 12, 1e-6, 1e-7, "its gradient");
        }
    }
    /* A -inf logit other than the target's: without smoothing the loss stays finite (the
     * smoothing term, which would be inf, is not computed, as torch computes it only
     * for s > 0); with smoothing it is inf, as in torch */
    p = tnn_class_loss_defaults();
    p.weight = W;
    x[2] = -INFINITY;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    assert_true(isfinite(loss));
    p.label_smoothing = 0.1;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    assert_true(isinf(loss) && loss > 0.0f);
    tnn_tensor_free(X);
    tnn_tensor_free(X3);
    tnn_tensor_free(G);
    tnn_tensor_free(G3);
    tnn_tensor_free(W);
}

/* reduction none: the per-sample losses (each one the plain loss of its row, the same
 * bits; ignored rows 0), *loss their sum, grad the sum's gradient (row i that of
 * losses[i]: the same bits as with sum). */
static void class_loss_reduction_none(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 32);
    tnn_tensor *X = tu_rand_tensor(&r, 4, 3, -2.0f, 2.0f), *G = tnn_tensor_new2(4, 3), *GS = tnn_tensor_new2(4, 3);
    tnn_tensor *losses = tnn_tensor_new1(1); /* grows to [4] */
    int t[4] = {2, -100, 0, 1};
    float loss, sum;
    for (int nll = 0; nll < 2; nll++) {
        tnn_class_loss_params p = tnn_class_loss_defaults();
        p.reduction = TNN_REDUCTION_NONE;
        p.losses = losses;
        TU_ASSERT_OK(nll ? tnn_nll_loss_with(X, t, p, &loss, G) : tnn_cross_entropy_loss_with(X, t, p, &loss, G));
        assert_int_equal(losses->ndim, 1);
        assert_int_equal(losses->shape[0], 4);
        assert_true(losses->data[1] == 0.0f);
        double acc = 0.0;
        for (int i = 0; i < 4; i++) {
            acc += losses->data[i];
            if (t[i] < 0) continue;
            tnn_tensor *row = tnn_tensor_view(X->data + 3 * i, 2, (int[]){1, 3});
            float li;
            TU_ASSERT_OK(nll ? tnn_nll_loss(row, &t[i], &li, NULL) : tnn_cross_entropy_loss(row, &t[i], &li, NULL));
            assert_true(losses->data[i] == li);
            tnn_tensor_free(row);
        }
        tu_assert_close1(loss, acc, 1e-6, 1e-6, "none: *loss is the sum of the losses");
        p.reduction = TNN_REDUCTION_SUM;
        p.losses = NULL;
        TU_ASSERT_OK(nll ? tnn_nll_loss_with(X, t, p, &sum, GS) : tnn_cross_entropy_loss_with(X, t, p, &sum, GS));
        assert_true(sum == loss);
        assert_memory_equal(G->data, GS->data, 12 * sizeof(float));
    }
    /* NLL's per-sample loss is torch's -w x, rounded once: exact here */
    float wd[3] = {0.5f, 3.0f, 1.25f};
    tnn_tensor *W = tnn_tensor_view(wd, 1, (int[]){3});
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.weight = W;
    p.reduction = TNN_REDUCTION_NONE;
    p.losses = losses;
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, NULL));
    for (int i = 0; i < 4; i++)
        assert_true(losses->data[i] == (t[i] < 0 ? 0.0f : -(wd[t[i]] * X->data[3 * i + t[i]])));
    tnn_tensor_free(W);
    tnn_tensor_free(losses);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
    tnn_tensor_free(GS);
}

/* NLL with weights, ignore_index and sum by hand; after LogSoftmax it is
 * cross-entropy with the same options on the logits (loss and gradient). */
static void nll_with_options_by_hand(void **state)
{
    (void)state;
    float x[6] = {-0.5f, -1.5f, -2.0f, -3.0f, -0.25f, -4.0f}, wd[3] = {2.0f, 0.5f, 4.0f};
    int t[3] = {1, 2, 0};
    tnn_tensor *X = vec(x, 2, 3), *G = tnn_tensor_new2(2, 3), *W = tnn_tensor_view(wd, 1, (int[]){3});
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.weight = W;
    float loss;
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, G));
    assert_true(loss == (float)((0.5 * 1.5 + 4.0 * 4.0) / 4.5));
    float want[6] = {0, (float)(-0.5 / 4.5), 0, 0, 0, (float)(-4.0 / 4.5)};
    assert_memory_equal(G->data, want, sizeof want);
    p.reduction = TNN_REDUCTION_SUM;
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, G));
    assert_true(loss == 0.5f * 1.5f + 4.0f * 4.0f);
    float want_sum[6] = {0, -0.5f, 0, 0, 0, -4.0f};
    assert_memory_equal(G->data, want_sum, sizeof want_sum);
    p.reduction = TNN_REDUCTION_MEAN;
    p.ignore_index = 2;
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, G));
    assert_true(loss == 1.5f);
    float want_ign[6] = {0, -1.0f, 0, 0, 0, 0};
    assert_memory_equal(G->data, want_ign, sizeof want_ign);

    /* after LogSoftmax: cross-entropy with the same options */
    tnn_rng r;
    tnn_rng_seed(&r, 33);
    tnn_tensor *logits = tu_rand_tensor(&r, 16, 7, -4.0f, 4.0f), *gce = tnn_tensor_new2(16, 7);
    tnn_tensor *gnll = tnn_tensor_new2(16, 7), *w7 = tu_rand_tensor(&r, 1, 7, 0.1f, 3.0f);
    TU_ASSERT_OK(tnn_tensor_reshape(w7, 1, (int[]){7}));
    int tt[16];
    for (int i = 0; i < 16; i++) tt[i] = i % 5 == 0 ? -100 : (int)tnn_rng_below(&r, 7);
    tnn_module *ls = tnn_log_softmax_new();
    const tnn_tensor *lp, *dx;
    float ce, nll;
    p = tnn_class_loss_defaults();
    p.weight = w7;
    TU_ASSERT_OK(tnn_module_forward(ls, logits, &lp));
    TU_ASSERT_OK(tnn_nll_loss_with(lp, tt, p, &nll, gnll));
    TU_ASSERT_OK(tnn_module_backward(ls, gnll, &dx));
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(logits, tt, p, &ce, gce));
    tu_assert_close1(nll, ce, 2e-7, 1e-7, "nll_with(log_softmax(x)) = cross_entropy_with(x)");
    double w[16 * 7];
    for (int i = 0; i < 16 * 7; i++) w[i] = gce->data[i];
    tu_assert_close(dx->data, w, 16 * 7, 2e-6, 1e-6, "their gradients");
    tnn_module_free(ls);
    tnn_tensor_free(logits);
    tnn_tensor_free(gce);
    tnn_tensor_free(gnll);
    tnn_tensor_free(w7);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
    tnn_tensor_free(W);
}

/* The defaults are torch's; with them the _with functions are the plain ones, bit for
 * bit, on random batches including large and non-finite logits. */
static void class_loss_defaults_are_the_plain_losses(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    assert_null(p.weight);
    assert_int_equal(p.ignore_index, -100);
    assert_true(p.label_smoothing == 0.0);
    assert_int_equal(p.reduction, TNN_REDUCTION_MEAN);
    assert_null(p.losses);
    tnn_rng r;
    tnn_rng_seed(&r, 34);
    for (int it = 0; it < 200; it++) {
        int n = 1 + (int)tnn_rng_below(&r, 6), k = 1 + (int)tnn_rng_below(&r, 9);
        float scale = it % 3 == 0 ? 50.0f : 3.0f;
        tnn_tensor *X = tu_rand_tensor(&r, n, k, -scale, scale);
        tnn_tensor *g1 = tnn_tensor_new2(n, k), *g2 = tnn_tensor_new2(n, k);
        if (it % 7 == 0) X->data[tnn_rng_below(&r, (uint32_t)X->size)] = it % 2 ? INFINITY : -INFINITY;
        int t[8];
        for (int i = 0; i < n; i++) t[i] = (int)tnn_rng_below(&r, (uint32_t)k);
        for (int nll = 0; nll < 2; nll++) {
            float l1, l2;
            TU_ASSERT_OK(nll ? tnn_nll_loss(X, t, &l1, g1) : tnn_cross_entropy_loss(X, t, &l1, g1));
            TU_ASSERT_OK(nll ? tnn_nll_loss_with(X, t, p, &l2, g2) : tnn_cross_entropy_loss_with(X, t, p, &l2, g2));
            assert_true(memcmp(&l1, &l2, sizeof l1) == 0 || (isnan(l1) && isnan(l2)));
            assert_memory_equal(g1->data, g2->data, g1->size * sizeof(float));
        }
        tnn_tensor_free(X);
        tnn_tensor_free(g1);
        tnn_tensor_free(g2);
    }
}

/* Every refusal names the function and what is wrong, and writes neither *loss nor
 * grad's values (nor the per-sample losses). */
static void class_loss_with_refusals(void **state)
{
    (void)state;
    float x[6] = {0.1f, 0.2f, 0.3f, -0.1f, 0.0f, 0.4f}, wd[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    int t[2] = {0, 2};
    tnn_tensor *X = vec(x, 2, 3), *G = tnn_tensor_new2(2, 3), *L = tnn_tensor_new1(2);
    tnn_tensor *W3 = tnn_tensor_view(wd, 1, (int[]){3}), *W4 = tnn_tensor_view(wd, 1, (int[]){4});
    tnn_tensor *W13 = tnn_tensor_view(wd, 2, (int[]){1, 3});
    float loss = 5.0f;
    for (int j = 0; j < 6; j++) G->data[j] = 7.0f;
    L->data[0] = L->data[1] = 9.0f;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.reduction = (tnn_reduction)3;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "cross_entropy_loss_with: reduction = 3",
                  NULL);
    p = tnn_class_loss_defaults();
    const double bad[3] = {-0.1, 1.5, NAN};
    for (int i = 0; i < 3; i++) {
        p.label_smoothing = bad[i];
        TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "cross_entropy_loss_with: "
                      "label_smoothing = ", "is outside [0, 1]", NULL);
    }
    p.label_smoothing = 0.1;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "nll_loss_with: label_smoothing = 0.1", NULL);
    p = tnn_class_loss_defaults();
    p.weight = W4;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_SHAPE, "weight [4] for input [2 x 3], "
                  "expected [3]", NULL);
    p.weight = W13;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_SHAPE, "nll_loss_with: weight [1 x 3]", NULL);
    p.weight = W3;
    wd[1] = NAN;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "weight[1] = nan is not finite", NULL);
    wd[1] = -INFINITY;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "weight[1] = -inf is not finite", NULL);
    wd[1] = 2.0f;
    p = tnn_class_loss_defaults();
    p.reduction = TNN_REDUCTION_NONE;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "reduction none needs a losses tensor",
                  NULL);
    p.reduction = TNN_REDUCTION_SUM;
    p.losses = L;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "losses is given with reduction sum", NULL);
    /* a view too small for [batch]; outputs sharing memory with the weights or the input */
    p.reduction = TNN_REDUCTION_NONE;
    float one = 9.0f;
    tnn_tensor *L1 = tnn_tensor_view(&one, 1, (int[]){1});
    p.losses = L1;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_SHAPE, "losses tensor [1] cannot hold one "
                  "loss per sample, [2]", NULL);
    assert_true(one == 9.0f);
    tnn_tensor *LX = tnn_tensor_view(x + 4, 1, (int[]){2});
    p.losses = LX;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "losses tensor shares memory with the "
                  "input", NULL);
    p.weight = W3;
    tnn_tensor *LW = tnn_tensor_view(wd + 1, 1, (int[]){2});
    p.losses = LW;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, NULL), TNN_ERR_ARG, "losses tensor shares memory with weight",
                  NULL);
    p.losses = L;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, W3), TNN_ERR_SHAPE, "gradient tensor [3] cannot hold",
                  NULL);
    tnn_tensor *WG = tnn_tensor_view(G->data + 3, 1, (int[]){3});
    p.weight = WG;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "gradient tensor shares memory with "
                  "weight", NULL);
    /* a target that is neither a class nor ignore_index */
    p = tnn_class_loss_defaults();
    t[1] = 3;
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "target[1] = 3 is neither a class in "
                  "[0, 3) nor ignore_index (-100)", NULL);
    t[1] = -1;
    TU_ASSERT_ERR(tnn_nll_loss_with(X, t, p, &loss, G), TNN_ERR_ARG, "nll_loss_with: target[1] = -1", NULL);
    TU_ASSERT_ERR(tnn_nll_loss_with(NULL, t, p, &loss, G), TNN_ERR_ARG, "nll_loss_with: input is NULL", NULL);
    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(X, NULL, p, &loss, G), TNN_ERR_ARG, "targets is NULL", NULL);
    for (int j = 0; j < 6; j++) assert_true(G->data[j] == 7.0f);
    assert_true(L->data[0] == 9.0f && L->data[1] == 9.0f);
    assert_true(loss == 5.0f);
    tnn_tensor_free(WG);
    tnn_tensor_free(L1);
    tnn_tensor_free(LX);
    tnn_tensor_free(LW);
    tnn_tensor_free(X);
    tnn_tensor_free(G);
    tnn_tensor_free(L);
    tnn_tensor_free(W3);
    tnn_tensor_free(W4);
    tnn_tensor_free(W13);
}

/* Whether got is want: both NaN, equal (infinities with their sign), or, finite, within
 * a relative 1e-5 (torch 1.13's values, printed as floats). */
static void assert_as_torch(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float g = got[i], w = want[i];
        bool ok = isnan(w) ? isnan(g) : isfinite(w) ? fabsf(g - w) <= 1e-5f * fmaxf(1.0f, fabsf(w)) : g == w;
        if (!ok) fail_msg("%s[%zu] = %g, torch gives %g", what, i, (double)g, (double)w);
    }
}

static bool same_tensor_state(const tnn_tensor *t, int ndim, int d0, int d1, const float *data)
{
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) return false;
    return memcmp(t->data, data, t->size * sizeof(float)) == 0;
}

/* An output (grad, p.losses) that is, or shares memory with, the weights, the input or
 * the other output is refused before anything is resized: every tensor keeps its shape
 * and values (review finding 2: grad == weight read freed memory, and p.losses == the
 * logits reshaped the logits before the refusal). */
static void class_loss_aliased_outputs_refused_untouched(void **state)
{
    (void)state;
    const int n = 8, k = 3;
    float x0[24], w0[3] = {1.0f, 2.0f, 3.0f};
    for (int i = 0; i < 24; i++) x0[i] = (float)(i % 5) * 0.3f;
    int t[8] = {0, 1, 2, 0, 1, 2, 0, 1};
    tnn_tensor *X = tnn_tensor_new2(n, k), *W = tnn_tensor_new1(k), *G = tnn_tensor_new2(n, k);
    memcpy(X->data, x0, sizeof x0);
    memcpy(W->data, w0, sizeof w0);
    float loss = 5.0f;
    for (int ce = 0; ce < 2; ce++) {
        tnn_class_loss_params p = tnn_class_loss_defaults();
        p.weight = W;
        if (!ce) for (int i = 0; i < 24; i++) X->data[i] = -x0[i]; /* log probabilities for nll */
        float xs[24];
        memcpy(xs, X->data, sizeof xs);
#define CALL(pp, g) (ce ? tnn_cross_entropy_loss_with(X, t, (pp), &loss, (g)) : tnn_nll_loss_with(X, t, (pp), &loss, (g)))
        /* grad is the weight tensor */
        TU_ASSERT_ERR(CALL(p, W), TNN_ERR_ARG, "the gradient tensor shares memory with weight", NULL);
        assert_true(same_tensor_state(W, 1, k, 0, w0));
        /* p.losses is the weight tensor */
        p.reduction = TNN_REDUCTION_NONE;
        p.losses = W;
        TU_ASSERT_ERR(CALL(p, G), TNN_ERR_ARG, "the losses tensor shares memory with weight", NULL);
        assert_true(same_tensor_state(W, 1, k, 0, w0));
        /* p.losses is the input */
        p.weight = NULL;
        p.losses = X;
        TU_ASSERT_ERR(CALL(p, G), TNN_ERR_ARG, "the losses tensor shares memory with the input", NULL);
        assert_true(same_tensor_state(X, 2, n, k, xs));
        /* p.losses is grad */
        tnn_tensor *L = tnn_tensor_new2(n, k);
        for (int i = 0; i < 24; i++) L->data[i] = 7.0f;
        p.losses = L;
        TU_ASSERT_ERR(CALL(p, L), TNN_ERR_ARG, "the losses tensor shares memory with the gradient", NULL);
        float sevens[24];
        for (int i = 0; i < 24; i++) sevens[i] = 7.0f;
        assert_true(same_tensor_state(L, 2, n, k, sevens));
        /* the weights a view into an owned grad that would have to grow (and so be freed) */
        tnn_tensor *Gs = tnn_tensor_new1(k);
        memcpy(Gs->data, w0, sizeof w0);
        tnn_tensor *Wv = tnn_tensor_view(Gs->data, 1, (int[]){k});
        p = tnn_class_loss_defaults();
        p.weight = Wv;
        TU_ASSERT_ERR(CALL(p, Gs), TNN_ERR_ARG, "the gradient tensor shares memory with weight", NULL);
        assert_true(same_tensor_state(Gs, 1, k, 0, w0));
        /* a refused target leaves grad's shape as it was too */
        int tb[8] = {0, 1, 2, 0, 1, 2, 0, 5};
        p.weight = W;
        TU_ASSERT_ERR(ce ? tnn_cross_entropy_loss_with(X, tb, p, &loss, Gs) : tnn_nll_loss_with(X, tb, p, &loss, Gs),
                      TNN_ERR_ARG, "target[7] = 5", NULL);
        p.weight = NULL;
        TU_ASSERT_ERR(ce ? tnn_cross_entropy_loss_with(X, tb, p, &loss, Gs) : tnn_nll_loss_with(X, tb, p, &loss, Gs),
                      TNN_ERR_ARG, "target[7] = 5", NULL);
        assert_true(same_tensor_state(Gs, 1, k, 0, w0));
        assert_true(same_tensor_state(X, 2, n, k, xs));
        assert_true(loss == 5.0f);
        /* grad starting inside the input would overwrite rows not yet read; grad being the
         * input itself (in place) is taken, with the out-of-place results */
        tnn_tensor *Gi = tnn_tensor_view(X->data + 1, 2, (int[]){n - 1, k});
        tnn_tensor *Xs = tnn_tensor_view(X->data, 2, (int[]){n - 1, k});
        TU_ASSERT_ERR(ce ? tnn_cross_entropy_loss_with(Xs, t, p, &loss, Gi) : tnn_nll_loss_with(Xs, t, p, &loss, Gi),
                      TNN_ERR_ARG, "the gradient tensor shares memory with the input", NULL);
        assert_true(same_tensor_state(X, 2, n, k, xs));
        tnn_tensor *Xc = tnn_tensor_new2(n, k), *Gc = tnn_tensor_new2(n, k);
        memcpy(Xc->data, xs, sizeof xs);
        float l1, l2;
        p.label_smoothing = ce ? 0.2 : 0.0;
        TU_ASSERT_OK(CALL(p, Gc));
        l1 = loss;
        TU_ASSERT_OK(ce ? tnn_cross_entropy_loss_with(Xc, t, p, &l2, Xc) : tnn_nll_loss_with(Xc, t, p, &l2, Xc));
        assert_true(l1 == l2);
        assert_memory_equal(Xc->data, Gc->data, sizeof xs);
        loss = 5.0f;
        tnn_tensor_free(Gi);
        tnn_tensor_free(Xs);
        tnn_tensor_free(Xc);
        tnn_tensor_free(Gc);
#undef CALL
        tnn_tensor_free(Wv);
        tnn_tensor_free(Gs);
        tnn_tensor_free(L);
    }
    tnn_tensor_free(X);
    tnn_tensor_free(W);
    tnn_tensor_free(G);
}

/* Outputs over the targets array are refused (review finding 3: nll_loss_with read the
 * targets again after writing p.losses over them, a float's bits becoming an index). */
static void class_loss_outputs_over_targets_refused(void **state)
{
    (void)state;
    const int n = 4, k = 2;
    float lp[8] = {0};
    tnn_tensor *X = vec(lp, n, k);
    union { int t[8]; float f[8]; } u;
    const int t0[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    for (int ce = 0; ce < 2; ce++) {
        for (int which = 0; which < 2; which++) {
            memcpy(u.t, t0, sizeof t0);
            tnn_class_loss_params p = tnn_class_loss_defaults();
            tnn_tensor *G = NULL, *V;
            if (which == 0) { /* p.losses over targets[0..n) */
                V = tnn_tensor_view(u.f, 1, (int[]){n});
                p.reduction = TNN_REDUCTION_NONE;
                p.losses = V;
                G = tnn_tensor_new2(n, k);
            } else { /* grad over them */
                V = tnn_tensor_view(u.f, 2, (int[]){n, k});
                G = V;
            }
            float loss = 5.0f;
            tnn_status st = ce ? tnn_cross_entropy_loss_with(X, u.t, p, &loss, G) : tnn_nll_loss_with(X, u.t, p, &loss, G);
            TU_ASSERT_ERR(st, TNN_ERR_ARG, which ? "the gradient tensor shares memory with targets"
                                                 : "the losses tensor shares memory with targets", NULL);
            assert_memory_equal(u.t, t0, sizeof t0);
            assert_true(loss == 5.0f);
            if (G != V) tnn_tensor_free(G);
            tnn_tensor_free(V);
        }
    }
    tnn_tensor_free(X);
}

/* A mean whose targets' weights sum to 0 gives torch 1.13's values: its NaN where the
 * terms are 0 / 0, infinities with its signs, with and without label smoothing, for
 * both losses (review finding 4). */
static void class_loss_zero_weight_sum_as_torch(void **state)
{
    (void)state;
    const float I = INFINITY, N = NAN;
    float x1[3] = {1, 2, 3}, w1[3] = {0, 1, 1};
    int t1[1] = {0};
    float x6[24] = {0.5f, -1, 2, 0.25f, 1, 0, -2, 3, 0, 0, 0, 0, 2, 1, -1, -INFINITY, 0.1f, 0.2f, 0.3f, 0.4f, -3, 1, 2, 0};
    int t6[6] = {0, 1, 0, 1, 2, 3};
    float w4[4] = {1, -1, 0.5f, -0.5f};
    tnn_tensor *X1 = vec(x1, 1, 3), *W1 = tnn_tensor_view(w1, 1, (int[]){3});
    tnn_tensor *X6 = vec(x6, 6, 4), *W4 = tnn_tensor_view(w4, 1, (int[]){4});
    tnn_tensor *G = tnn_tensor_new2(1, 1);
    tnn_class_loss_params p = tnn_class_loss_defaults();
    float loss;
    const float nan3[3] = {N, N, N};
    const double sm[3] = {0.1, 0.0, 1.0};
    p.weight = W1;
    for (int i = 0; i < 3; i++) {
        p.label_smoothing = sm[i];
        TU_ASSERT_OK(tnn_cross_entropy_loss_with(X1, t1, p, &loss, G));
        assert_true(isnan(loss));
        assert_as_torch(G->data, nan3, 3, "grad");
    }
    p.weight = W4;
    const float g_s0[24] = {N, I, I, I, -I, N, -I, -I, N, I, I, I, -I, N, -I, N, I, I, N, I, -I, -I, -I, N};
    float nan24[24];
    for (int i = 0; i < 24; i++) nan24[i] = N;
    p.label_smoothing = 0.0;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X6, t6, p, &loss, G));
    assert_true(loss == -I);
    assert_as_torch(G->data, g_s0, 24, "grad, no smoothing");
    p.label_smoothing = 0.2;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X6, t6, p, &loss, G));
    assert_true(loss == -I);
    assert_as_torch(G->data, nan24, 24, "grad, smoothing 0.2");
    p.label_smoothing = 1.0;
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X6, t6, p, &loss, G));
    assert_true(isnan(loss));
    assert_as_torch(G->data, nan24, 24, "grad, smoothing 1");
    /* NLLLoss on the same numbers as log probabilities */
    p.label_smoothing = 0.0;
    for (int i = 0; i < 3; i++) x1[i] = -x1[i];
    p.weight = W1;
    TU_ASSERT_OK(tnn_nll_loss_with(X1, t1, p, &loss, G));
    assert_true(isnan(loss));
    assert_as_torch(G->data, (const float[]){N, 0, 0}, 3, "nll grad");
    p.weight = W4;
    const float g_nll[24] = {-I, 0, 0, 0, 0, I, 0, 0, -I, 0, 0, 0, 0, I, 0, 0, 0, 0, -I, 0, 0, 0, 0, I};
    TU_ASSERT_OK(tnn_nll_loss_with(X6, t6, p, &loss, G));
    assert_true(loss == I);
    assert_as_torch(G->data, g_nll, 24, "nll grad");
    tnn_tensor_free(X1);
    tnn_tensor_free(W1);
    tnn_tensor_free(X6);
    tnn_tensor_free(W4);
    tnn_tensor_free(G);
}

/* An ignored row's gradient is torch's: 0, but NaN throughout when its log-softmax is
 * NaN (a NaN or +inf logit, or every logit -inf), as torch's log_softmax backward
 * gives (review finding 5); NLLLoss's stays 0. */
static void ce_ignored_non_finite_rows_as_torch(void **state)
{
    (void)state;
    const float I = INFINITY, N = NAN;
    float x[20] = {0, 1, N, 2, 1, 2, 3, 4, 0, I, 1, 2, -I, -I, -I, -I, 0, -I, 1, 2};
    int t[5] = {-100, 1, -100, -100, -100};
    float wd[4] = {1, 2, 3, 4};
    tnn_tensor *X = vec(x, 5, 4), *G = tnn_tensor_new2(1, 1), *L = tnn_tensor_new1(1);
    tnn_tensor *W = tnn_tensor_view(wd, 1, (int[]){4});
    tnn_class_loss_params p = tnn_class_loss_defaults();
    float loss;
    const float g0[20] = {N, N, N, N, 0.032058607786893845f, -0.9128556847572327f, 0.23688280582427979f,
                          0.6439142823219299f, N, N, N, N, N, N, N, N, 0, 0, 0, 0};
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    tu_assert_close1(loss, 2.4401895999908447, 1e-6, 1e-6, "loss");
    assert_as_torch(G->data, g0, 20, "grad");
    p.label_smoothing = 0.3;
    const float g3[20] = {N, N, N, N, -0.04294139891862869f, -0.6878556609153748f, 0.16188278794288635f,
                          0.5689142346382141f, N, N, N, N, N, N, N, N, 0, 0, 0, 0};
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    tu_assert_close1(loss, 2.290189743041992, 1e-6, 1e-6, "loss");
    assert_as_torch(G->data, g3, 20, "grad, smoothing");
    p.weight = W;
    p.reduction = TNN_REDUCTION_NONE;
    p.losses = L;
    const float gw[20] = {N, N, N, N, -0.006073993165045977f, -1.3626396656036377f, 0.28429803252220154f,
                          1.0844157934188843f, N, N, N, N, N, N, N, N, 0, 0, 0, 0};
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(X, t, p, &loss, G));
    assert_as_torch(L->data, (const float[]){0, 4.496407508850098f, 0, 0, 0}, 5, "losses");
    assert_as_torch(G->data, gw, 20, "grad, weights, none");
    p = tnn_class_loss_defaults();
    TU_ASSERT_OK(tnn_nll_loss_with(X, t, p, &loss, G));
    assert_true(loss == -2.0f);
    for (int i = 0; i < 20; i++) assert_true(G->data[i] == (i == 5 ? -1.0f : 0.0f));
    tnn_tensor_free(X);
    tnn_tensor_free(G);
    tnn_tensor_free(L);
    tnn_tensor_free(W);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mse_by_hand),
    cmocka_unit_test(l1_smooth_l1_huber_by_hand),
    cmocka_unit_test(bce_by_hand_and_clamp),
    cmocka_unit_test(bce_with_logits_stable),
    cmocka_unit_test(cross_entropy_by_hand),
    cmocka_unit_test(cross_entropy_confident_and_non_finite),
    cmocka_unit_test(cross_entropy_tied_large_logits),
    cmocka_unit_test(loss_shape_errors_and_grad_resize),
    cmocka_unit_test(loss_grad_takes_the_output_shape),
    cmocka_unit_test(nll_by_hand_and_as_cross_entropy),
    cmocka_unit_test(ce_with_weights_by_hand),
    cmocka_unit_test(ce_with_ignore_index),
    cmocka_unit_test(ce_with_label_smoothing_by_hand),
    cmocka_unit_test(class_loss_reduction_none),
    cmocka_unit_test(nll_with_options_by_hand),
    cmocka_unit_test(class_loss_defaults_are_the_plain_losses),
    cmocka_unit_test(class_loss_with_refusals),
    cmocka_unit_test(class_loss_aliased_outputs_refused_untouched),
    cmocka_unit_test(class_loss_outputs_over_targets_refused),
    cmocka_unit_test(class_loss_zero_weight_sum_as_torch),
    cmocka_unit_test(ce_ignored_non_finite_rows_as_torch),
};

TU_MAIN("loss", tests)
