/* Gradient checks of the losses (see gradcheck_loss in common/gradcheck.h): the
 * returned dL/dinput against central differences of the returned loss. */
#include "gradcheck.h"
#include "testutil.h"

#include <math.h>

typedef struct pair_ctx {
    tnn_status (*loss)(const tnn_tensor *, const tnn_tensor *, float *, tnn_tensor *);
    const tnn_tensor *target;
} pair_ctx;

static tnn_status pair_loss(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    pair_ctx *c = ctx;
    return c->loss(x, c->target, loss, grad);
}

static void check_pair(const char *name, pair_ctx *c, tnn_tensor *x, double h)
{
    gradcheck_opts o = gradcheck_defaults();
    o.h = h;
    gradcheck_report rep;
    assert_int_equal(gradcheck_loss(name, pair_loss, c, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.elements, x->size);
}

/* Targets: hard 0/1 labels in the first row, soft labels in [0, 1] elsewhere. */
static tnn_tensor *targets(tnn_rng *r, int rows, int cols)
{
    tnn_tensor *t = tu_rand_tensor(r, rows, cols, 0.0f, 1.0f);
    assert_non_null(t);
    for (int j = 0; j < cols; j++) *tnn_at2(t, 0, j) = (float)(j % 2);
    return t;
}

static void gradcheck_bce(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 81);
    /* p in [0.1, 0.9], away from the clamped ends. log p bends on the scale of p, so
     * the step is 1e-2 (h/p <= 0.1; the extrapolated truncation error ~(h/p)^4). */
    tnn_tensor *p = tu_rand_tensor(&r, 3, 4, 0.1f, 0.9f), *t = targets(&r, 3, 4);
    pair_ctx c = {tnn_bce_loss, t};
    check_pair("bce", &c, p, 1e-2);
    tnn_tensor_free(p);
    tnn_tensor_free(t);
}

static void gradcheck_bce_with_logits(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 82);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -4.0f, 4.0f), *t = targets(&r, 3, 4);
    pair_ctx c = {tnn_bce_with_logits_loss, t};
    check_pair("bce_with_logits", &c, x, gradcheck_defaults().h);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
}

static void gradcheck_mse(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 83);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f), *t = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f);
    pair_ctx c = {tnn_mse_loss, t};
    check_pair("mse", &c, x, gradcheck_defaults().h);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
}

/* x - t kept at least `gap` away from each kink at +-k (and from 0): the central
 * differences at steps up to 2h must not straddle one. */
static tnn_tensor *away_from_kinks(tnn_rng *r, const tnn_tensor *t, const float *kinks, int nk, float gap)
{
    tnn_tensor *x = tnn_tensor_new(t->ndim, t->shape);
    assert_non_null(x);
    for (size_t i = 0; i < x->size; i++) {
        float d;
        bool near;
        do {
            d = 3.0f * (2.0f * tnn_rng_uniform(r) - 1.0f);
            near = fabsf(d) < gap;
            for (int k = 0; k < nk; k++) near |= fabsf(fabsf(d) - kinks[k]) < gap;
        } while (near);
        x->data[i] = t->data[i] + d;
    }
    return x;
}

typedef struct thr_ctx {
    tnn_status (*loss)(const tnn_tensor *, const tnn_tensor *, double, float *, tnn_tensor *);
    const tnn_tensor *target;
    double thr;
} thr_ctx;

static tnn_status thr_loss(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    thr_ctx *c = ctx;
    return c->loss(x, c->target, c->thr, loss, grad);
}

static void gradcheck_l1(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 95);
    tnn_tensor *t = tu_rand_tensor(&r, 5, 7, -1.0f, 1.0f), *x = away_from_kinks(&r, t, NULL, 0, 0.1f);
    pair_ctx c = {tnn_l1_loss, t};
    check_pair("l1", &c, x, gradcheck_defaults().h);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
}

/* 5 x 7 = 35 elements: 32 in torch's block form and 3 in its scalar form. */
static void check_threshold(const char *name, tnn_status (*fn)(const tnn_tensor *, const tnn_tensor *, double, float *,
                                                                 tnn_tensor *), double thr, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    const float kink = (float)thr;
    tnn_tensor *t = tu_rand_tensor(&r, 5, 7, -1.0f, 1.0f), *x = away_from_kinks(&r, t, &kink, 1, 0.1f);
    thr_ctx c = {fn, t, thr};
    gradcheck_opts o = gradcheck_defaults();
    gradcheck_report rep;
    assert_int_equal(gradcheck_loss(name, thr_loss, &c, x, o, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.elements, x->size);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
}

static void gradcheck_smooth_l1(void **state) { (void)state; check_threshold("smooth_l1(1)", tnn_smooth_l1_loss, 1.0, 96); }
static void gradcheck_smooth_l1_beta(void **state) { (void)state; check_threshold("smooth_l1(0.7)", tnn_smooth_l1_loss, 0.7, 97); }
static void gradcheck_huber(void **state) { (void)state; check_threshold("huber(1)", tnn_huber_loss, 1.0, 98); }
static void gradcheck_huber_delta(void **state) { (void)state; check_threshold("huber(1.3)", tnn_huber_loss, 1.3, 99); }

typedef struct ce_ctx {
    const int *targets;
} ce_ctx;

static tnn_status ce_loss(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    return tnn_cross_entropy_loss(x, ((ce_ctx *)ctx)->targets, loss, grad);
}

static void gradcheck_cross_entropy(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 84);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 5, -2.0f, 2.0f);
    assert_non_null(x);
    int t[4] = {0, 4, 2, 2};
    ce_ctx c = {t};
    gradcheck_report rep;
    assert_int_equal(gradcheck_loss("cross_entropy", ce_loss, &c, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.elements, 20);
    tnn_tensor_free(x);
}

/* NLLLoss after LogSoftmax, PyTorch's usual pair: the loss of log_softmax(x), and its
 * gradient through LogSoftmax's backward. (NLLLoss alone is linear in its input: most
 * of its gradient is exactly 0, which the harness does not compare.) */
typedef struct nll_ctx {
    tnn_module *log_softmax;
    const int *targets;
} nll_ctx;

static tnn_status nll_after_log_softmax(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    nll_ctx *c = ctx;
    const tnn_tensor *y, *dx;
    tnn_status st = tnn_module_forward(c->log_softmax, x, &y);
    if (st) return st;
    tnn_tensor *g = grad ? tnn_tensor_new2(y->shape[0], y->shape[1]) : NULL;
    if (grad && !g) return TNN_ERR_NOMEM;
    st = tnn_nll_loss(y, c->targets, loss, g);
    if (!st && grad) st = tnn_module_backward(c->log_softmax, g, &dx);
    if (!st && grad) st = tnn_tensor_copy(grad, dx);
    tnn_tensor_free(g);
    return st;
}

static void gradcheck_nll_after_log_softmax(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 85);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 5, -2.0f, 2.0f);
    assert_non_null(x);
    int t[4] = {3, 0, 4, 3};
    nll_ctx c = {tnn_log_softmax_new(), t};
    assert_non_null(c.log_softmax);
    gradcheck_report rep;
    assert_int_equal(gradcheck_loss("nll(log_softmax)", nll_after_log_softmax, &c, x, gradcheck_defaults(), &rep),
                     GRADCHECK_PASS);
    assert_int_equal(rep.elements, 20);
    tnn_module_free(c.log_softmax);
    tnn_tensor_free(x);
}

/* ---- PyTorch's options (tnn_cross_entropy_loss_with, tnn_nll_loss_with) ----
 * NLL is checked after LogSoftmax, as above. With reduction none the loss checked is
 * sum_i c_i losses[i] for fixed random c_i, its gradient grad's row i times c_i (row
 * i must be the gradient of losses[i] alone). */
typedef struct with_ctx {
    tnn_class_loss_params p;
    const int *targets;
    tnn_module *log_softmax; /* NLL: its input is log_softmax(x); NULL: cross-entropy on x */
    const double *c;         /* reduction none: the per-sample losses' factors */
} with_ctx;

static tnn_status class_loss_with(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    with_ctx *c = ctx;
    const tnn_tensor *in = x, *dx;
    tnn_status st = c->log_softmax ? tnn_module_forward(c->log_softmax, x, &in) : TNN_OK;
    if (st) return st;
    tnn_tensor *g = grad && c->log_softmax ? tnn_tensor_new2(x->shape[0], x->shape[1]) : grad;
    if (grad && !g) return TNN_ERR_NOMEM;
    st = c->log_softmax ? tnn_nll_loss_with(in, c->targets, c->p, loss, g)
                        : tnn_cross_entropy_loss_with(in, c->targets, c->p, loss, g);
    if (!st && c->c) {
        int n = x->shape[0], k = x->shape[1];
        double acc = 0.0;
        for (int i = 0; i < n; i++) {
            acc += c->c[i] * c->p.losses->data[i];
            for (int j = 0; g && j < k; j++) g->data[(size_t)i * k + j] *= (float)c->c[i];
        }
        if (loss) *loss = (float)acc;
    }
    if (!st && grad && c->log_softmax) st = tnn_module_backward(c->log_softmax, g, &dx);
    if (!st && grad && c->log_softmax) st = tnn_tensor_copy(grad, dx);
    if (g != grad) tnn_tensor_free(g);
    return st;
}

/* A [4 x 5] batch of logits in [-2, 2], class weights in [0.2, 3] (weighted), the
 * options of `p`; targets with two rows ignored when ignore is set. */
static void check_with(const char *name, tnn_class_loss_params p, bool weighted, bool ignore, bool nll, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 5, -2.0f, 2.0f), *w = tu_rand_tensor(&r, 1, 5, 0.2f, 3.0f);
    assert_non_null(x);
    assert_non_null(w);
    TU_ASSERT_OK(tnn_tensor_reshape(w, 1, (int[]){5}));
    int t[4] = {1, ignore ? p.ignore_index : 4, 0, ignore ? p.ignore_index : 3};
    double c[4] = {0.7, -1.3, 0.4, 1.9};
    tnn_tensor *losses = tnn_tensor_new1(4);
    p.weight = weighted ? w : NULL;
    if (p.reduction == TNN_REDUCTION_NONE) p.losses = losses;
    with_ctx ctx = {p, t, nll ? tnn_log_softmax_new() : NULL, p.reduction == TNN_REDUCTION_NONE ? c : NULL};
    assert_true(!nll || ctx.log_softmax);
    gradcheck_report rep;
    assert_int_equal(gradcheck_loss(name, class_loss_with, &ctx, x, gradcheck_defaults(), &rep), GRADCHECK_PASS);
    assert_int_equal(rep.elements, 20);
    tnn_module_free(ctx.log_softmax);
    tnn_tensor_free(losses);
    tnn_tensor_free(x);
    tnn_tensor_free(w);
}

static void gradcheck_cross_entropy_weighted(void **state)
{
    (void)state;
    check_with("cross_entropy(weight)", tnn_class_loss_defaults(), true, false, false, 86);
}

static void gradcheck_cross_entropy_smoothed(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.label_smoothing = 0.3;
    check_with("cross_entropy(label_smoothing)", p, false, false, false, 87);
}

static void gradcheck_cross_entropy_smoothed_weighted(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.label_smoothing = 0.3;
    check_with("cross_entropy(weight, label_smoothing)", p, true, false, false, 88);
}

/* Two rows ignored (gradient 0, out of the mean), with weights and smoothing. */
static void gradcheck_cross_entropy_ignore(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.label_smoothing = 0.2;
    check_with("cross_entropy(ignore_index -100, weight, label_smoothing)", p, true, true, false, 89);
    p.ignore_index = 2; /* a class */
    check_with("cross_entropy(ignore_index 2, weight, label_smoothing)", p, true, true, false, 90);
}

static void gradcheck_cross_entropy_sum(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.reduction = TNN_REDUCTION_SUM;
    p.label_smoothing = 0.1;
    check_with("cross_entropy(sum, weight, label_smoothing, ignore)", p, true, true, false, 91);
}

static void gradcheck_cross_entropy_none(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.reduction = TNN_REDUCTION_NONE;
    p.label_smoothing = 0.1;
    check_with("cross_entropy(none, weight, label_smoothing, ignore)", p, true, true, false, 92);
}

static void gradcheck_nll_weighted_after_log_softmax(void **state)
{
    (void)state;
    check_with("nll(log_softmax; weight, ignore)", tnn_class_loss_defaults(), true, true, true, 93);
}

static void gradcheck_nll_none_after_log_softmax(void **state)
{
    (void)state;
    tnn_class_loss_params p = tnn_class_loss_defaults();
    p.reduction = TNN_REDUCTION_NONE;
    check_with("nll(log_softmax; none, weight, ignore)", p, true, true, true, 94);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_bce),
    cmocka_unit_test(gradcheck_bce_with_logits),
    cmocka_unit_test(gradcheck_mse),
    cmocka_unit_test(gradcheck_l1),
    cmocka_unit_test(gradcheck_smooth_l1),
    cmocka_unit_test(gradcheck_smooth_l1_beta),
    cmocka_unit_test(gradcheck_huber),
    cmocka_unit_test(gradcheck_huber_delta),
    cmocka_unit_test(gradcheck_cross_entropy),
    cmocka_unit_test(gradcheck_nll_after_log_softmax),
    cmocka_unit_test(gradcheck_cross_entropy_weighted),
    cmocka_unit_test(gradcheck_cross_entropy_smoothed),
    cmocka_unit_test(gradcheck_cross_entropy_smoothed_weighted),
    cmocka_unit_test(gradcheck_cross_entropy_ignore),
    cmocka_unit_test(gradcheck_cross_entropy_sum),
    cmocka_unit_test(gradcheck_cross_entropy_none),
    cmocka_unit_test(gradcheck_nll_weighted_after_log_softmax),
    cmocka_unit_test(gradcheck_nll_none_after_log_softmax),
};

TU_MAIN("gradcheck_loss", tests)
