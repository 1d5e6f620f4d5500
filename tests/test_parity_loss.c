/*
 * parity_bce, parity_bce_with_logits, parity_mse, parity_cross_entropy: the losses
 * against torch.nn.BCELoss, BCEWithLogitsLoss, MSELoss and CrossEntropyLoss (mean
 * reduction; tests/data/parity/loss.golden): the loss and dL/dinput.
 * parity_cross_entropy_with, parity_nll: torch.nn.functional.cross_entropy and nll_loss
 * with class weights, ignore_index, label_smoothing and the three reductions
 * (tnn_cross_entropy_loss_with, tnn_nll_loss_with; NLL plain too); their tolerances
 * are given with test_cross_entropy_with and test_nll below.
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

/* ---- PyTorch's options: tnn_cross_entropy_loss_with, tnn_nll_loss_with ----
 * Each case's settings, as gen_goldens.py's loss_goldens() passes them to torch;
 * "<case>.weight" is in the golden file when the case has class weights. */
typedef struct class_case {
    const char *name;
    int ignore_index;
    double label_smoothing;
    tnn_reduction reduction;
} class_case;

static int *golden_targets(const golden_file *g, const char *cs, int n)
{
    const golden_tensor *t = golden_find(g, "%s.target", cs);
    assert_non_null(t);
    assert_int_equal(t->dtype, GOLDEN_I64);
    assert_int_equal((int)t->count, n);
    int *targets = malloc((size_t)n * sizeof *targets);
    assert_non_null(targets);
    for (int i = 0; i < n; i++) targets[i] = (int)((const int64_t *)t->data)[i];
    return targets;
}

/* The case through fn with its settings, against torch's loss (or per-sample losses,
 * rtol loss_rtol) and gradient (atol grad_atol_unit max|w| / |den|, rtol grad_rtol).
 * The cross-entropy gradient's entries are (softmax a - b) / den, with a, b at most
 * max|w| and den the mean's denominator (1 for sum and none): its unit 2^-22 gives
 * atol 2^-22 max|w| / |den|, which is 2^-22 / batch without options as for the plain
 * cases (0 where every target is ignored: exact zeros). */
typedef tnn_status (*class_loss_fn)(const tnn_tensor *, const int *, tnn_class_loss_params, float *, tnn_tensor *);

static bool check_class_case(const golden_file *g, const char *loss_name, class_loss_fn fn, const class_case *c,
                             double loss_rtol, double grad_atol_unit, double grad_rtol)
{
    char cs[96];
    snprintf(cs, sizeof cs, "%s.%s", loss_name, c->name);
    tnn_tensor *pred = golden_tensor_new(g, "%s.pred", cs);
    int n = pred->shape[0], k = pred->shape[1];
    int *targets = golden_targets(g, cs, n);
    tnn_tensor *weight = golden_find(g, "%s.weight", cs) ? golden_tensor_new(g, "%s.weight", cs) : NULL;
    tnn_tensor *grad = tnn_tensor_new(pred->ndim, pred->shape), *losses = tnn_tensor_new1(1);
    assert_non_null(grad);
    assert_non_null(losses);
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.weight = weight;
    p.ignore_index = c->ignore_index;
    p.label_smoothing = c->label_smoothing;
    p.reduction = c->reduction;
    p.losses = c->reduction == TNN_REDUCTION_NONE ? losses : NULL;
    float loss = 0.0f;
    assert_int_equal(fn(pred, targets, p, &loss, grad), TNN_OK);
    double maxw = 1.0, den = 0.0;
    for (int j = 0; weight && j < k; j++) maxw = j ? fmax(maxw, fabs(weight->data[j])) : fabs(weight->data[j]);
    for (int i = 0; i < n; i++)
        if (targets[i] != c->ignore_index) den += weight ? weight->data[targets[i]] : 1.0;
    if (c->reduction != TNN_REDUCTION_MEAN) den = 1.0;
    char nm[128];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.loss", cs);
    if (c->reduction == TNN_REDUCTION_NONE) {
        assert_int_equal((int)losses->size, n);
        ok &= parity_check(g, nm, losses->data, losses->size, 0.0, loss_rtol);
    } else {
        ok &= parity_check_scalar(g, nm, loss, 0.0, loss_rtol);
    }
    snprintf(nm, sizeof nm, "%s.grad", cs);
    double atol = den == 0.0 ? 0.0 : grad_atol_unit * maxw / fabs(den);
    ok &= parity_check(g, nm, grad->data, grad->size, atol, grad_rtol);
    free(targets);
    tnn_tensor_free(pred);
    tnn_tensor_free(weight);
    tnn_tensor_free(grad);
    tnn_tensor_free(losses);
    return ok;
}

/* The plain function and the _with one with the defaults give the same bits. */
static void assert_plain_is_with_defaults(const golden_file *g, const char *cs, bool ce)
{
    tnn_tensor *pred = golden_tensor_new(g, "%s.pred", cs);
    int *targets = golden_targets(g, cs, pred->shape[0]);
    tnn_tensor *g1 = tnn_tensor_new(pred->ndim, pred->shape), *g2 = tnn_tensor_new(pred->ndim, pred->shape);
    float l1 = NAN, l2 = NAN;
    assert_int_equal(ce ? tnn_cross_entropy_loss(pred, targets, &l1, g1) : tnn_nll_loss(pred, targets, &l1, g1),
                     TNN_OK);
    tnn_class_loss_params p = tnn_class_loss_defaults();
    assert_int_equal(ce ? tnn_cross_entropy_loss_with(pred, targets, p, &l2, g2)
                        : tnn_nll_loss_with(pred, targets, p, &l2, g2),
                     TNN_OK);
    assert_memory_equal(&l1, &l2, sizeof l1);
    assert_memory_equal(g1->data, g2->data, g1->size * sizeof *g1->data);
    free(targets);
    tnn_tensor_free(pred);
    tnn_tensor_free(g1);
    tnn_tensor_free(g2);
}

/* Loss values as in the plain cases: rtol 1e-6 (torch sums in float); the per-sample
 * losses of 'none' too (torch's float log_softmax, tinynn's double, one rounding). */
static void test_cross_entropy_with(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    static const class_case cases[] = {
        {"weight", -100, 0.0, TNN_REDUCTION_MEAN},
        {"ignore", -100, 0.0, TNN_REDUCTION_MEAN},
        {"ignore_class", 3, 0.0, TNN_REDUCTION_MEAN},
        {"negative_weight", -100, 0.0, TNN_REDUCTION_MEAN},
        {"smooth", -100, 0.1, TNN_REDUCTION_MEAN},
        {"smooth_weight", -100, 0.1, TNN_REDUCTION_MEAN},
        {"smooth_large", -100, 0.25, TNN_REDUCTION_MEAN},
        {"smooth_full", -100, 1.0, TNN_REDUCTION_MEAN},
        {"sum", -100, 0.0, TNN_REDUCTION_SUM},
        {"smooth_sum", -100, 0.1, TNN_REDUCTION_SUM},
        {"none", -100, 0.1, TNN_REDUCTION_NONE},
        {"all_ignored", -100, 0.1, TNN_REDUCTION_MEAN},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok &= check_class_case(g, "cross_entropy", tnn_cross_entropy_loss_with, &cases[i], LOSS_RTOL, 0x1p-22,
                               LOSS_RTOL);
    assert_plain_is_with_defaults(g, "cross_entropy.normal", true);
    assert_plain_is_with_defaults(g, "cross_entropy.large", true);
    golden_free(g);
    assert_true(ok);
}

static tnn_status nll_plain(const tnn_tensor *x, const int *t, tnn_class_loss_params p, float *loss, tnn_tensor *grad)
{
    (void)p;
    return tnn_nll_loss(x, t, loss, grad);
}

/* NLLLoss, plain and with options. Its gradient is -w[t] / den and 0 elsewhere:
 * bit-identical without weights (-1/batch, or -1 for sum and none). With weights torch
 * sums den in float and rounds twice (w[t] * -(1 / den)), tinynn sums in double and
 * rounds once: rtol 2^-22 (2 ulps; measured 1), no atol. The per-sample losses are
 * torch's -w x in float, the same bits. */
static void test_nll(void **state)
{
    (void)state;
    golden_file *g = golden_load("loss.golden");
    static const class_case plain = {"plain", -100, 0.0, TNN_REDUCTION_MEAN};
    static const class_case cases[] = {
        {"plain", -100, 0.0, TNN_REDUCTION_MEAN},
        {"weight", -100, 0.0, TNN_REDUCTION_MEAN},
        {"ignore", -100, 0.0, TNN_REDUCTION_MEAN},
        {"ignore_class", 0, 0.0, TNN_REDUCTION_MEAN},
        {"sum", -100, 0.0, TNN_REDUCTION_SUM},
        {"none", -100, 0.0, TNN_REDUCTION_NONE},
        {"all_ignored", -100, 0.0, TNN_REDUCTION_MEAN},
    };
    bool ok = check_class_case(g, "nll", nll_plain, &plain, LOSS_RTOL, 0.0, parity_exact_or(LOSS_RTOL));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok &= check_class_case(g, "nll", tnn_nll_loss_with, &cases[i], LOSS_RTOL, 0.0, 0x1p-22);
    assert_plain_is_with_defaults(g, "nll.plain", false);
    golden_free(g);
    assert_true(ok);
}

/* ---- L1Loss, SmoothL1Loss, HuberLoss (regression_loss.golden) ----
 * Gradients exact, with the signs of zeros: each follows torch's kernel operation by
 * operation, its block form over the first n - n mod 16 elements and its scalar form
 * over the rest (src/loss.c). The loss: rtol 1e-6 (torch's float sum, tinynn's double). */
typedef tnn_status (*threshold_loss)(const tnn_tensor *, const tnn_tensor *, double, float *, tnn_tensor *);

static bool check_regression_case(const golden_file *g, const char *cs, pair_loss plain, threshold_loss fn,
                                  double thr)
{
    tnn_tensor *pred = golden_tensor_new(g, "%s.pred", cs), *target = golden_tensor_new(g, "%s.target", cs);
    tnn_tensor *grad = tnn_tensor_new(pred->ndim, pred->shape);
    assert_non_null(grad);
    float loss = NAN;
    assert_int_equal(plain ? plain(pred, target, &loss, grad) : fn(pred, target, thr, &loss, grad), TNN_OK);
    char nm[128];
    bool ok = true;
    snprintf(nm, sizeof nm, "%s.loss", cs);
    ok &= parity_check_scalar(g, nm, loss, 0.0, LOSS_RTOL);
    snprintf(nm, sizeof nm, "%s.grad", cs);
    ok &= parity_check(g, nm, grad->data, grad->size, 0.0, 0.0);
    const float *want = golden_f32(g, grad->size, "%s.grad", cs);
    for (size_t i = 0; i < grad->size; i++)
        if (grad->data[i] == grad->data[i] && memcmp(&grad->data[i], &want[i], sizeof(float)) != 0) {
            print_error("%s.grad[%zu]: %g, torch's %g: other bits\n", cs, i, (double)grad->data[i], (double)want[i]);
            ok = false;
            break;
        }
    tnn_tensor_free(pred);
    tnn_tensor_free(target);
    tnn_tensor_free(grad);
    return ok;
}

/* Values: [16 x 10] and [7 x 3] pairs, and 45 values against zeros: +-1, zeros of both
 * signs, the floats next to 1, NaN and inf. */
static void test_l1(void **state)
{
    (void)state;
    golden_file *g = golden_load("regression_loss.golden");
    bool ok = true;
    ok &= check_regression_case(g, "l1.a", tnn_l1_loss, NULL, 0);
    ok &= check_regression_case(g, "l1.odd", tnn_l1_loss, NULL, 0);
    ok &= check_regression_case(g, "l1.special", tnn_l1_loss, NULL, 0);
    golden_free(g);
    assert_true(ok);
}

typedef struct threshold_case {
    const char *name;
    double thr; /* beta or delta as torch took it, a double */
} threshold_case;

static void run_threshold_cases(const char *loss, const char *param, threshold_loss fn, const threshold_case *cases,
                                size_t n)
{
    golden_file *g = golden_load("regression_loss.golden");
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char cs[64];
        snprintf(cs, sizeof cs, "%s.%s", loss, cases[i].name);
        /* the golden keeps the setting as a float: a cross-check of the table */
        assert_true(golden_scalar(g, "%s.%s", cs, param) == (float)cases[i].thr);
        ok &= check_regression_case(g, cs, NULL, fn, cases[i].thr);
    }
    golden_free(g);
    assert_true(ok);
}

/* Sizes 1000 (no scalar tail), 43 and 61 (tails of 11 and 13), 13 (all scalar), 37
 * with beta 0, 40007 (beyond torch's grain of 32768: still one loop on one thread),
 * and the thresholds' floats, which lie below 0.7 and 1.3: the block form compares
 * with the float and the scalar form with the double, so they fall on different sides. */
static void test_smooth_l1(void **state)
{
    (void)state;
    static const threshold_case cases[] = {{"default", 1.0}, {"b07", 0.7},  {"b07_scalar", 0.7}, {"b0", 0.0},
                                           {"small", 0.05},  {"large", 1.0}, {"special", 1.0}};
    run_threshold_cases("smooth_l1", "beta", tnn_smooth_l1_loss, cases, sizeof cases / sizeof cases[0]);
}

static void test_huber(void **state)
{
    (void)state;
    static const threshold_case cases[] = {{"default", 1.0}, {"d13", 1.3}, {"d13_scalar", 1.3},
                                           {"small", 0.05},  {"large", 2.5}, {"special", 1.0}};
    run_threshold_cases("huber", "delta", tnn_huber_loss, cases, sizeof cases / sizeof cases[0]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"bce", test_bce, NULL, NULL, NULL},
        {"bce_with_logits", test_bce_with_logits, NULL, NULL, NULL},
        {"mse", test_mse, NULL, NULL, NULL},
        {"cross_entropy", test_cross_entropy, NULL, NULL, NULL},
        {"cross_entropy_with", test_cross_entropy_with, NULL, NULL, NULL},
        {"nll", test_nll, NULL, NULL, NULL},
        {"l1", test_l1, NULL, NULL, NULL},
        {"smooth_l1", test_smooth_l1, NULL, NULL, NULL},
        {"huber", test_huber, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_loss", tests, sizeof tests / sizeof tests[0]);
}
