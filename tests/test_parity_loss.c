/*
 * parity_bce, parity_bce_with_logits, parity_mse, parity_cross_entropy: the losses
 * against torch.nn.BCELoss, BCEWithLogitsLoss, MSELoss and CrossEntropyLoss (mean
 * reduction; tests/data/parity/loss.golden): the loss and dL/dinput.
 *
 * Loss values: rtol 1e-6. torch sums the per-element losses in float (its cascade sum),
 * tinynn in double, so the mean can differ in its last bit or two; for BCE and MSE the
 * per-element terms themselves are torch's, bit for bit (same libm calls; BCE's
 * log(1 - p) with 1 - p in float, as torch 1.13 has it, checked at small p in test_loss).
 * Gradients: BCE and MSE follow torch's backward formulas operation by operation and
 * match exactly; rtol 1e-6 leaves room for a compiler's a*b+c contraction only
 * (TNN_PARITY_EXACT=1 removes it).
 * BCEWithLogits and CrossEntropy gradients go through exp: torch uses SLEEF's vector
 * exp, tinynn libm's exp in double, so they agree to about an ulp of the largest term
 * (sigmoid or softmax <= 1) divided by the element count; atol = 2^-22 / count (4 ulps
 * of 1, scaled) covers the entries where sigmoid(x) - t or softmax - onehot cancels.
 */
#include "parity/parity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_RTOL 1e-6

typedef tnn_status (*pair_loss)(const tnn_tensor *, const tnn_tensor *, float *, tnn_tensor *);

/* grad_atol_per_count < 0: the gradient is torch's formula, bit for bit (BCE, MSE). */
static bool check_pair_case(const golden_file *g, const char *cs, pair_loss fn, double grad_atol_per_count)
{
    tnn_tensor *pred = golden_tensor_new(g, "%s.pred", cs), *target = golden_tensor_new(g, "%s.target", cs);
    tnn_tensor *grad = tnn_tensor_new(pred->ndim, pred->shape);
    assert_non_null(grad);
    float loss = NAN;
    assert_int_equal(fn(pred, target, &loss, grad), TNN_OK);
    char nm[128];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.loss", cs);
    ok &= parity_check_scalar(g, nm, loss, 0.0, LOSS_RTOL);
    snprintf(nm, sizeof nm, "%s.grad", cs);
    if (grad_atol_per_count < 0)
        ok &= parity_check(g, nm, grad->data, grad->size, 0.0, parity_exact_or(LOSS_RTOL));
    else
        ok &= parity_check(g, nm, grad->data, grad->size, grad_atol_per_count / (double)pred->size, LOSS_RTOL);
    tnn_tensor_free(pred);
    tnn_tensor_free(target);
    tnn_tensor_free(grad);
    return ok;
}

static void test_bce(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    bool ok = true;
    ok &= check_pair_case(g, "bce.gan", tnn_bce_loss, -1);
    /* Predictions of exactly 0 and 1 (log clamped at -100, gradient divided by
     * max((1 - p) p, 1e-12)), 1e-30, 1e-45 and 1 - 2^-24. */
    ok &= check_pair_case(g, "bce.edges", tnn_bce_loss, -1);
    ok &= check_pair_case(g, "bce.soft", tnn_bce_loss, -1);
    golden_free(g);
    assert_true(ok);
}

static void test_bce_with_logits(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    bool ok = true;
    /* Logits up to +-1e4, +-100, +-88, ... with hard and soft targets. */
    ok &= check_pair_case(g, "bce_with_logits.mixed", tnn_bce_with_logits_loss, 0x1p-22);
    ok &= check_pair_case(g, "bce_with_logits.gan", tnn_bce_with_logits_loss, 0x1p-22);
    golden_free(g);
    assert_true(ok);
}

static void test_mse(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    bool ok = true;
    ok &= check_pair_case(g, "mse.a", tnn_mse_loss, -1);
    ok &= check_pair_case(g, "mse.odd", tnn_mse_loss, -1);
    golden_free(g);
    assert_true(ok);
}

static bool check_ce_case(const golden_file *g, const char *cs)
{
    tnn_tensor *logits = golden_tensor_new(g, "%s.pred", cs);
    const golden_tensor *t = golden_find(g, "%s.target", cs);
    assert_non_null(t);
    assert_int_equal(t->dtype, GOLDEN_I64);
    int n = logits->shape[0];
    assert_int_equal((int)t->count, n);
    int *targets = malloc((size_t)n * sizeof *targets);
    for (int i = 0; i < n; i++) targets[i] = (int)((const int64_t *)t->data)[i];
    tnn_tensor *grad = tnn_tensor_new(logits->ndim, logits->shape);
    float loss = NAN;
    assert_int_equal(tnn_cross_entropy_loss(logits, targets, &loss, grad), TNN_OK);
    char nm[128];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.loss", cs);
    ok &= parity_check_scalar(g, nm, loss, 0.0, LOSS_RTOL);
    /* Each gradient row is (softmax - onehot) / batch. */
    snprintf(nm, sizeof nm, "%s.grad", cs);
    ok &= parity_check(g, nm, grad->data, grad->size, 0x1p-22 / n, LOSS_RTOL);
    free(targets);
    tnn_tensor_free(logits);
    tnn_tensor_free(grad);
    return ok;
}

static void test_cross_entropy(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    bool ok = true;
    ok &= check_ce_case(g, "cross_entropy.normal");
    /* Logits scaled by 40: the log-sum-exp must subtract the row maximum. */
    ok &= check_ce_case(g, "cross_entropy.large");
    golden_free(g);
    assert_true(ok);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"bce", test_bce, NULL, NULL, NULL},
        {"bce_with_logits", test_bce_with_logits, NULL, NULL, NULL},
        {"mse", test_mse, NULL, NULL, NULL},
        {"cross_entropy", test_cross_entropy, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_loss", tests, sizeof tests / sizeof tests[0]);
}
