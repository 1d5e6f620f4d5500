/* Losses with mean reduction, matching PyTorch's formulas and clamps. */
#include "tnn_impl.h"

#include <string.h>

#include <math.h>

/* grad takes the input's shape even when it already has its size (a [batch] grad for a
 * [batch x 1] output): it is the dy of the module that produced the input, and backward
 * wants exactly that module's output shape. */
static tnn_status shape_grad(const char *who, tnn_tensor *grad, const tnn_tensor *input)
{
    if (!grad) return TNN_OK;
    tnn_status st = tnn_tensor_resize(grad, input->ndim, input->shape);
    if (st) {
        char s1[64], s2[64];
        return tnn_error(st, "%s: gradient tensor %s cannot hold the input's shape %s", who,
                         tnn_tensor_shape_str(grad, s1, sizeof s1), tnn_tensor_shape_str(input, s2, sizeof s2));
    }
    return TNN_OK;
}

/* A tensor header the caller passed, checked against itself. */
static tnn_status check_header(const char *who, const char *what, const tnn_tensor *t)
{
    char why[128];
    if (tnn_tensor_problem(t, why, sizeof why)) return tnn_error(TNN_ERR_ARG, "%s: %s %s", who, what, why);
    return TNN_OK;
}

static tnn_status check_pair(const char *who, const tnn_tensor *a, const tnn_tensor *b, tnn_tensor *grad)
{
    if (!a || !b) return tnn_error(TNN_ERR_ARG, "%s: %s is NULL", who, !a ? "input" : "target");
    if (a->size == 0) return tnn_error(TNN_ERR_ARG, "%s: input is empty", who);
    tnn_status st = check_header(who, "input", a);
    if (!st) st = check_header(who, "target", b);
    if (st) return st;
    /* Only dimensions of 1 may differ: equal counts in other shapes ([4 x 2] against
     * [2 x 4], a transposed target) would pair elements that do not belong together. */
    if (!tnn_same_but_ones(a->ndim, a->shape, b->ndim, b->shape)) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s and target %s differ in shape (only dimensions of size 1 may "
                         "differ, as in [N x 1] against [N])", who, tnn_tensor_shape_str(a, s1, sizeof s1),
                         tnn_tensor_shape_str(b, s2, sizeof s2));
    }
    return shape_grad(who, grad, a);
}

tnn_status tnn_bce_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_pair("bce_loss", pred, target, grad);
    if (st) return st;
    size_t n = pred->size;
    for (size_t i = 0; i < n; i++) /* first, so that a refusal leaves grad as it was */
        if (!(pred->data[i] >= 0.0f && pred->data[i] <= 1.0f))
            return tnn_error(TNN_ERR_ARG, "bce_loss: input[%zu] = %g is outside [0, 1]", i, (double)pred->data[i]);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        float p = pred->data[i], t = target->data[i];
        /* PyTorch 1.13's element, in float: (t - 1) * max(log(1 - p), -100) - t * max(log(p), -100),
         * with 1 - p rounded to float first (so p below 2^-25 costs nothing when t = 0, where
         * log1p(-p) would give -p); the mean is taken in double (torch sums in float, so the
         * loss may differ in its last bit; the gradient does not depend on it). */
        float e = (t - 1.0f) * fmaxf(logf(1.0f - p), -100.0f) - t * fmaxf(logf(p), -100.0f);
        acc += e;
        if (grad) /* PyTorch: (p - t) / max((1 - p) * p, 1e-12), then / n */
            grad->data[i] = ((p - t) / fmaxf((1.0f - p) * p, 1e-12f)) / (float)n;
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

tnn_status tnn_bce_with_logits_loss(const tnn_tensor *logits, const tnn_tensor *target, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_pair("bce_with_logits_loss", logits, target, grad);
    if (st) return st;
    size_t n = logits->size;
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = logits->data[i], t = target->data[i];
        /* torch's (1 - t) * x + max(-x, 0) + log(exp(-max(-x, 0)) + exp(-x - max(-x, 0))), the
         * last term as log1p(exp(-|x|)): the same terms in torch's order, so an infinite
         * logit gives torch's inf or NaN (x = +inf, t = 0: inf) */
        acc += (1.0 - t) * x + fmax(-x, 0.0) + log1p(exp(-fabs(x)));
        if (grad) {
            double sig = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
            grad->data[i] = (float)((sig - t) / (double)n);
        }
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

tnn_status tnn_mse_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_pair("mse_loss", pred, target, grad);
    if (st) return st;
    size_t n = pred->size;
    /* PyTorch's mse_loss_backward: (float)(2 / n) * (p - t) * grad_output */
    const float scale = (float)(2.0 / (double)n);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = pred->data[i] - target->data[i];
        acc += d * d; /* torch's element (a - b)^2 in float; the mean in double */
        if (grad) grad->data[i] = scale * d;
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

/* The checks of the losses over class indices: a [batch x classes] input, grad given
 * its shape, and every target a class, checked before anything is written. */
static tnn_status check_class_loss(const char *name, const tnn_tensor *input, const int *targets, tnn_tensor *grad)
{
    if (!input || !targets) return tnn_error(TNN_ERR_ARG, "%s: %s is NULL", name, !input ? "input" : "targets");
    tnn_status st = check_header(name, "input", input);
    if (st) return st;
    if (input->ndim != 2) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s, expected [batch x classes]", name,
                         tnn_tensor_shape_str(input, s, sizeof s));
    }
    st = shape_grad(name, grad, input);
    if (st) return st;
    for (int i = 0, n = input->shape[0], k = input->shape[1]; i < n; i++)
        if (targets[i] < 0 || targets[i] >= k)
            return tnn_error(TNN_ERR_ARG, "%s: target[%d] = %d is not a class in [0, %d)", name, i, targets[i], k);
    return TNN_OK;
}

tnn_status tnn_cross_entropy_loss(const tnn_tensor *logits, const int *targets, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_class_loss("cross_entropy_loss", logits, targets, grad);
    if (st) return st;
    int n = logits->shape[0], k = logits->shape[1];
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        int t = targets[i];
        const float *r = logits->data + (size_t)i * k;
        int jm = 0; /* the first largest logit */
        for (int j = 1; j < k; j++) jm = r[j] > r[jm] ? j : jm;
        double mx = r[jm];
        /* log-sum-exp as mx + log1p(the other terms' sum): the largest term is exactly 1,
         * so a confident prediction's small loss keeps its relative accuracy (mx + log(se)
         * loses it: 1.3 % off at logits [30, 0]). The largest term is added as its
         * excess over 1, exactly 0 unless it is NaN: an infinite largest logit gives NaN,
         * as in torch, and so does a NaN logit anywhere. */
        double se = exp((double)r[jm] - mx) - 1.0;
        for (int j = 0; j < k; j++)
            if (j != jm) se += exp((double)r[j] - mx);
        double l1 = log1p(se);
        acc += (mx - r[t]) + l1;
        if (grad) { /* softmax as exp((x - mx) - l1): mx + l1 would lose l1 once |mx| is large */
            float *g = grad->data + (size_t)i * k;
            for (int j = 0; j < k; j++) g[j] = (float)((exp(((double)r[j] - mx) - l1) - (j == t ? 1.0 : 0.0)) / n);
        }
    }
    if (loss) *loss = (float)(acc / n);
    return TNN_OK;
}

tnn_status tnn_nll_loss(const tnn_tensor *log_probs, const int *targets, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_class_loss("nll_loss", log_probs, targets, grad);
    if (st) return st;
    int n = log_probs->shape[0], k = log_probs->shape[1];
    double acc = 0.0;
    for (int i = 0; i < n; i++) acc -= log_probs->data[(size_t)i * k + targets[i]];
    if (loss) *loss = (float)(acc / n);
    if (grad) { /* -1/n at each row's target (torch: -1 / total_weight, in float, the same value) */
        memset(grad->data, 0, grad->size * sizeof *grad->data);
        float g = (float)(-1.0 / n);
        for (int i = 0; i < n; i++) grad->data[(size_t)i * k + targets[i]] = g;
    }
    return TNN_OK;
}
