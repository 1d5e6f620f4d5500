/* Losses with mean reduction, matching PyTorch's formulas and clamps. */
#include "tnn_impl.h"

#include <float.h>
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

/* ---- L1Loss, SmoothL1Loss, HuberLoss ----
 *
 * Their gradients are torch 1.13's bits as its CPU kernels compute them with one thread
 * and its AVX2 code (the goldens' setting; docs/parity.md). L1Loss is composite in torch:
 * abs, then mean; its gradient is sign(d) * (1 / n), with sign(NaN) = sign(+-0) = +0.
 * SmoothL1Loss's and HuberLoss's backward kernels run one form over blocks of 16 floats
 * (two AVX2 vectors) and another over the n mod 16 elements left at the end: the block
 * form compares and scales with beta (delta) rounded to float, the form at the end with
 * the double, so an element near the threshold, or scaled by delta, rounds differently
 * there. REG_BLOCK is that block; the last n mod REG_BLOCK elements take the second form. */
#define REG_BLOCK 16

/* beta (delta) as both forms see it: refused unless finite in float, and >= 0 (beta) or
 * > 0 (delta), as torch refuses the negative (non-positive) ones. */
static tnn_status check_threshold(const char *who, const char *name, double v, bool zero_ok)
{
    if (!(v >= 0.0 && v <= FLT_MAX) || (!zero_ok && v == 0.0))
        return tnn_error(TNN_ERR_ARG, "%s: %s = %g must be %s and at most FLT_MAX", who, name, v,
                         zero_ok ? ">= 0" : "> 0");
    return TNN_OK;
}

tnn_status tnn_l1_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad)
{
    tnn_status st = check_pair("l1_loss", pred, target, grad);
    if (st) return st;
    const size_t n = pred->size;
    const float inv_n = 1.0f / (float)n; /* torch's mean backward: grad / numel, in float */
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float d = pred->data[i] - target->data[i];
        acc += fabsf(d);
        if (grad) grad->data[i] = (float)((d > 0.0f) - (d < 0.0f)) * inv_n;
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

tnn_status tnn_smooth_l1_loss(const tnn_tensor *pred, const tnn_tensor *target, double beta, float *loss,
                              tnn_tensor *grad)
{
    tnn_status st = check_threshold("smooth_l1_loss", "beta", beta, true);
    if (!st) st = check_pair("smooth_l1_loss", pred, target, grad);
    if (st) return st;
    const size_t n = pred->size, blocked = n - n % REG_BLOCK;
    const float norm = (float)(1.0 / (double)n), beta_f = (float)beta;
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float d = pred->data[i] - target->data[i];
        const double z = fabs((double)d);
        acc += z < beta ? 0.5 * z * z / beta : z - 0.5 * beta;
        if (!grad) continue;
        float g;
        if (i < blocked) /* torch's vector form: float beta */
            g = d <= -beta_f ? -norm : d >= beta_f ? norm : d / beta_f * norm;
        else /* its scalar form: the double beta */
            g = d <= -beta ? -norm : d >= beta ? norm : (float)((double)(norm * d) / beta);
        grad->data[i] = g;
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

tnn_status tnn_huber_loss(const tnn_tensor *pred, const tnn_tensor *target, double delta, float *loss,
                          tnn_tensor *grad)
{
    tnn_status st = check_threshold("huber_loss", "delta", delta, false);
    if (!st) st = check_pair("huber_loss", pred, target, grad);
    if (st) return st;
    const size_t n = pred->size, blocked = n - n % REG_BLOCK;
    const float norm = (float)(1.0 / (double)n), delta_f = (float)delta;
    const float outer_f = norm * delta_f, outer = (float)((double)norm * delta);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float d = pred->data[i] - target->data[i];
        const double z = fabs((double)d);
        acc += z < delta ? 0.5 * z * z : delta * (z - 0.5 * delta);
        if (!grad) continue;
        float g;
        if (i < blocked) /* torch's vector form: float delta */
            g = d <= -delta_f ? -outer_f : d >= delta_f ? outer_f : norm * d;
        else /* its scalar form: norm * delta in double */
            g = d <= -delta ? -outer : d >= delta ? outer : norm * d;
        grad->data[i] = g;
    }
    if (loss) *loss = (float)(acc / (double)n);
    return TNN_OK;
}

/* ---- losses over class indices: CrossEntropyLoss and NLLLoss ----
 *
 * One implementation serves the plain functions (no options: every target a class,
 * mean reduction) and the _with ones (tnn_class_loss_params); with the defaults the
 * two do the same arithmetic (a weight of 1.0, a denominator of n), so they give the
 * same bits. */

tnn_class_loss_params tnn_class_loss_defaults(void)
{
    return (tnn_class_loss_params){.weight = NULL, .ignore_index = -100, .label_smoothing = 0.0,
                                   .reduction = TNN_REDUCTION_MEAN, .losses = NULL, .tag = TNN_SETTINGS_TAG};
}

/* A call, its settings checked. */
typedef struct class_call {
    const char *name;
    int n, k;              /* batch, classes */
    const float *w;        /* class weights, NULL for 1 each */
    bool ignore;           /* whether targets equal to ignore_index are ignored (not in the plain functions) */
    int ignore_index;
    double smoothing;      /* label smoothing (cross-entropy) */
    float *losses;         /* per-sample losses (TNN_REDUCTION_NONE), or NULL */
    double den;            /* the mean's denominator: the counted targets' weights summed; 1 for sum and none */
    double nll_acc, smooth_acc; /* cross-entropy with smoothing: the sums of the two terms, unscaled */
} class_call;

static bool ignored(const class_call *c, int t) { return c->ignore && t == c->ignore_index; }

static const char *reduction_name(tnn_reduction r)
{
    return r == TNN_REDUCTION_MEAN ? "mean" : r == TNN_REDUCTION_SUM ? "sum" : "none";
}

/* Whether the na bytes at a and the nb bytes at b share memory. */
static bool bytes_overlap(const void *a, size_t na, const void *b, size_t nb)
{
    if (!a || !b || !na || !nb) return false;
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + nb && pb < pa + na;
}

/* The memory an output resized to m elements spans while the call runs, in bytes: its
 * first m elements; or, if it must grow (an owned tensor, reallocated), the whole old
 * buffer, which is freed, so that nothing else may lie in it. */
static size_t output_bytes(const tnn_tensor *o, size_t m)
{
    return (m > o->capacity && o->owns ? o->capacity : m) * sizeof(float);
}

/* The outputs (grad, losses) against the inputs and each other, before anything is
 * resized: refused, naming the two, if they are the same tensor or share memory. grad
 * may be the input itself or start before it (each input row is read before the
 * gradient row that could overwrite it is written), not start inside it. */
static tnn_status check_outputs(const class_call *c, const tnn_tensor *input, const int *targets,
                                const tnn_tensor *weight, const tnn_tensor *grad, const tnn_tensor *losses)
{
    const char *name = c->name;
    const size_t n = (size_t)c->n, k = (size_t)c->k;
    const size_t in_b = input->size * sizeof(float), t_b = n * sizeof(int);
    const size_t w_b = weight ? weight->size * sizeof(float) : 0;
    if (grad) {
        size_t g_b = output_bytes(grad, n * k);
        bool grows = n * k > grad->capacity && grad->owns;
        const char *with = grad == weight || bytes_overlap(grad->data, g_b, weight ? weight->data : NULL, w_b) ? "weight"
                           : bytes_overlap(grad->data, g_b, targets, t_b) ? "targets"
                           : grad != input && bytes_overlap(grad->data, g_b, input->data, in_b) &&
                                     (grows || grad->data > input->data) ? "the input"
                           : NULL;
        if (with) return tnn_error(TNN_ERR_ARG, "%s: the gradient tensor shares memory with %s", name, with);
    }
    if (losses) {
        size_t l_b = output_bytes(losses, n);
        const char *with = losses == weight || bytes_overlap(losses->data, l_b, weight ? weight->data : NULL, w_b)
                               ? "weight"
                           : losses == input || bytes_overlap(losses->data, l_b, input->data, in_b) ? "the input"
                           : losses == grad || (grad && bytes_overlap(losses->data, l_b, grad->data,
                                                                      output_bytes(grad, n * k))) ? "the gradient"
                           : bytes_overlap(losses->data, l_b, targets, t_b) ? "targets"
                           : NULL;
        if (with) return tnn_error(TNN_ERR_ARG, "%s: the losses tensor shares memory with %s", name, with);
    }
    return TNN_OK;
}

/* The settings (p NULL for the plain functions) and the arguments of a loss over class
 * indices: a [batch x classes] input, grad and losses given their shapes, and every
 * target a class or ignored, all checked before anything is written. */
static tnn_status check_class_loss(class_call *c, bool ce, const tnn_tensor *input, const int *targets,
                                   const tnn_class_loss_params *p, tnn_tensor *grad)
{
    const char *name = c->name;
    if (!input || !targets) return tnn_error(TNN_ERR_ARG, "%s: %s is NULL", name, !input ? "input" : "targets");
    tnn_status st = check_header(name, "input", input);
    if (st) return st;
    char s1[64], s2[64];
    if (input->ndim != 2)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s, expected [batch x classes]", name,
                         tnn_tensor_shape_str(input, s1, sizeof s1));
    int n = c->n = input->shape[0], k = c->k = input->shape[1];
    c->w = NULL;
    c->ignore = p != NULL;
    c->ignore_index = p ? p->ignore_index : 0;
    c->smoothing = 0.0;
    c->losses = NULL;
    tnn_reduction red = p ? p->reduction : TNN_REDUCTION_MEAN;
    if (p) {
        if (red != TNN_REDUCTION_MEAN && red != TNN_REDUCTION_SUM && red != TNN_REDUCTION_NONE)
            return tnn_error(TNN_ERR_ARG, "%s: reduction = %d is not TNN_REDUCTION_MEAN, _SUM or _NONE", name,
                             (int)red);
        double s = p->label_smoothing;
        if (!ce && s != 0.0)
            return tnn_error(TNN_ERR_ARG, "%s: label_smoothing = %g, but NLLLoss has no label smoothing (cross-entropy "
                             "has; 0 here)", name, s);
        if (!(s >= 0.0 && s <= 1.0)) /* NaN too */
            return tnn_error(TNN_ERR_ARG, "%s: label_smoothing = %g is outside [0, 1]", name, s);
        c->smoothing = s;
        if (p->weight) {
            st = check_header(name, "weight", p->weight);
            if (st) return st;
            if (p->weight->ndim != 1 || p->weight->shape[0] != k)
                return tnn_error(TNN_ERR_SHAPE, "%s: weight %s for input %s, expected [%d] (one per class)", name,
                                 tnn_tensor_shape_str(p->weight, s1, sizeof s1),
                                 tnn_tensor_shape_str(input, s2, sizeof s2), k);
            c->w = p->weight->data;
            for (int j = 0; j < k; j++)
                if (!isfinite(c->w[j]))
                    return tnn_error(TNN_ERR_ARG, "%s: weight[%d] = %g is not finite", name, j, (double)c->w[j]);
        }
        if (p->losses && red != TNN_REDUCTION_NONE)
            return tnn_error(TNN_ERR_ARG, "%s: losses is given with reduction %s (per-sample losses come with "
                             "TNN_REDUCTION_NONE)", name, reduction_name(red));
        if (!p->losses && red == TNN_REDUCTION_NONE)
            return tnn_error(TNN_ERR_ARG, "%s: reduction none needs a losses tensor for the per-sample losses", name);
    }
    /* Every check before anything is resized, so that a refusal leaves every tensor as
     * it was (shape included): an output that must grow is reallocated, freeing the
     * buffer anything else pointing into it would still read. */
    tnn_tensor *losses = p ? p->losses : NULL;
    const tnn_tensor *weight = p ? p->weight : NULL;
    /* a view too small for its shape first: tnn_tensor_resize refuses it unchanged */
    if (grad && !grad->owns && (size_t)n * (size_t)k > grad->capacity) return shape_grad(name, grad, input);
    if (losses && !losses->owns && (size_t)n > losses->capacity) {
        st = tnn_tensor_resize(losses, 1, &n);
        return tnn_error(st, "%s: losses tensor %s cannot hold one loss per sample, [%d]", name,
                         tnn_tensor_shape_str(losses, s1, sizeof s1), n);
    }
    st = check_outputs(c, input, targets, weight, grad, losses);
    if (st) return st;
    double den = 0.0;
    for (int i = 0; i < n; i++) {
        int t = targets[i];
        if (ignored(c, t)) continue;
        if (t < 0 || t >= k) {
            if (p)
                return tnn_error(TNN_ERR_ARG, "%s: target[%d] = %d is neither a class in [0, %d) nor ignore_index (%d)",
                                 name, i, t, k, c->ignore_index);
            return tnn_error(TNN_ERR_ARG, "%s: target[%d] = %d is not a class in [0, %d)", name, i, t, k);
        }
        den += c->w ? (double)c->w[t] : 1.0;
    }
    st = shape_grad(name, grad, input);
    if (st) return st;
    if (losses) {
        st = tnn_tensor_resize(losses, 1, &n);
        if (st)
            return tnn_error(st, "%s: losses tensor %s cannot hold one loss per sample, [%d]", name,
                             tnn_tensor_shape_str(losses, s1, sizeof s1), n);
        c->losses = losses->data;
    }
    c->w = weight ? weight->data : NULL; /* read again after the resizes (none can touch it) */
    c->den = red == TNN_REDUCTION_MEAN ? den : 1.0; /* all ignored: 0, and the mean 0 / 0 = NaN, as in torch */
    return TNN_OK;
}

/* Sample i's loss, with t its class and w its class weights (all 1 if NULL):
 * (1 - s) w[t] (-log p[t]) + (s / k) sum_j w[j] (-log p[j]), s the label smoothing
 * (torch 1.13's cross_entropy_loss_label_smoothing); its gradient with respect to the
 * logits is p_j a - b_j with a = (1 - s) w[t] + (s / k) sum_j w[j] and
 * b_j = (1 - s) w[t] [j = t] + (s / k) w[j]. Without smoothing these are w[t] (-log p[t])
 * and w[t] (p_j - [j = t]), computed as such (an infinite -log p[j] elsewhere, from a
 * logit of -inf, must not reach the loss through 0 * inf, and torch's path without
 * smoothing never sees it). */
static double cross_entropy_rows(class_call *c, const tnn_tensor *logits, const int *targets, tnn_tensor *grad)
{
    const int n = c->n, k = c->k;
    const float *w = c->w;
    const double sm = c->smoothing, keep = 1.0 - sm, share = sm / k;
    double wsum = 0.0;
    for (int j = 0; j < k && sm > 0.0; j++) wsum += w ? w[j] : 1.0;
    /* a mean over targets whose weights sum to 0: torch's gradient, term by term (below) */
    const bool zero_den = c->den == 0.0;
    double acc = 0.0, nll_acc = 0.0, smooth_acc = 0.0;
    for (int i = 0; i < n; i++) {
        int t = targets[i];
        float *g = grad ? grad->data + (size_t)i * k : NULL;
        const float *r = logits->data + (size_t)i * k;
        if (ignored(c, t)) {
            if (c->losses) c->losses[i] = 0.0f;
            if (g) { /* torch's log_softmax backward of a zero gradient: 0 - p_j * 0, NaN where its
                      * log-softmax is NaN (a NaN or +inf logit, or every logit -inf) */
                bool nan_row = true;
                for (int j = 0; j < k; j++) nan_row = nan_row && r[j] == -INFINITY;
                for (int j = 0; j < k; j++) nan_row = nan_row || isnan(r[j]) || r[j] == INFINITY;
                for (int j = 0; j < k; j++) g[j] = nan_row ? NAN : 0.0f;
            }
            continue;
        }
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
        double wt = w ? w[t] : 1.0;
        double li = wt * ((mx - r[t]) + l1); /* -log p[t] = (mx - x[t]) + l1 */
        double a = wt, bt = wt;
        if (sm > 0.0) {
            double s = 0.0;
            for (int j = 0; j < k; j++) s += (w ? w[j] : 1.0) * ((mx - r[j]) + l1);
            nll_acc += li;
            smooth_acc += s;
            li = keep * li + share * s;
            a = keep * wt + share * wsum;
            bt = keep * wt;
        }
        acc += li;
        if (c->losses) c->losses[i] = (float)li;
        if (g && zero_den) {
            /* torch: dL/dlog_softmax is -(keep / 0) w[t] at the target plus -(share / 0) w[j]
             * with smoothing, then g_j - p_j sum(g); its infinities and NaNs, as there (the
             * combined form divides one finite difference by 0: inf where torch has NaN) */
            double nt = -(keep / c->den) * wt, sg = 0.0;
            for (int j = 0; j < k; j++) sg += (j == t ? nt : 0.0) + (sm > 0.0 ? -(share / c->den) * (w ? w[j] : 1.0) : 0.0);
            for (int j = 0; j < k; j++) {
                double gj = (j == t ? nt : 0.0) + (sm > 0.0 ? -(share / c->den) * (w ? w[j] : 1.0) : 0.0);
                double pj = (float)exp(((double)r[j] - mx) - l1); /* float, as torch's: 0 where it underflows */
                g[j] = (float)(gj - pj * sg);
            }
        } else if (g) { /* softmax as exp((x - mx) - l1): mx + l1 would lose l1 once |mx| is large */
            for (int j = 0; j < k; j++) {
                double b = j == t ? bt : 0.0;
                if (sm > 0.0) b += share * (w ? w[j] : 1.0);
                g[j] = (float)((exp(((double)r[j] - mx) - l1) * a - b) / c->den);
            }
        }
    }
    c->nll_acc = nll_acc;
    c->smooth_acc = smooth_acc;
    return acc;
}

/* Sample i's loss -w[t] log_probs[i, t]; its gradient -w[t] at the target, 0 elsewhere. */
static double nll_rows(const class_call *c, const tnn_tensor *log_probs, const int *targets, tnn_tensor *grad)
{
    const int n = c->n, k = c->k;
    double acc = 0.0;
    for (int i = 0; i < n; i++) { /* one pass, each target read once (torch: w[t] * -(1 / total_weight) in
                                   * float, rounded twice; here once) */
        const int t = targets[i];
        float *g = grad ? grad->data + (size_t)i * k : NULL;
        if (ignored(c, t)) {
            if (c->losses) c->losses[i] = 0.0f;
            if (g) memset(g, 0, (size_t)k * sizeof *g);
            continue;
        }
        const double wt = c->w ? (double)c->w[t] : 1.0;
        double li = wt * log_probs->data[(size_t)i * k + t]; /* exact: two floats */
        acc -= li;
        if (c->losses) c->losses[i] = (float)-li; /* torch's -w * x in float, the same bits */
        if (g) { /* after the read: grad may be the input itself */
            memset(g, 0, (size_t)k * sizeof *g);
            g[t] = (float)(-wt / c->den);
        }
    }
    return acc;
}

static tnn_status class_loss(const char *name, bool ce, const tnn_tensor *input, const int *targets,
                             const tnn_class_loss_params *p, float *loss, tnn_tensor *grad)
{
    class_call c = {.name = name};
    tnn_status st = check_class_loss(&c, ce, input, targets, p, grad);
    if (st) return st;
    double acc = ce ? cross_entropy_rows(&c, input, targets, grad) : nll_rows(&c, input, targets, grad);
    double l = acc / c.den;
    if (ce && c.den == 0.0 && c.smoothing > 0.0) /* torch's (1 - s) (A / 0) + (s / k) (B / 0): NaN when A = 0 */
        l = (1.0 - c.smoothing) * (c.nll_acc / c.den) + (c.smoothing / c.k) * (c.smooth_acc / c.den);
    if (loss) *loss = (float)l;
    return TNN_OK;
}

tnn_status tnn_cross_entropy_loss(const tnn_tensor *logits, const int *targets, float *loss, tnn_tensor *grad)
{
    return class_loss("cross_entropy_loss", true, logits, targets, NULL, loss, grad);
}

tnn_status tnn_cross_entropy_loss_with(const tnn_tensor *logits, const int *targets, tnn_class_loss_params p,
                                       float *loss, tnn_tensor *grad)
{
    tnn_status st = tnn_settings_refused(p.tag, "cross_entropy_loss_with", "tnn_class_loss_defaults");
    return st ? st : class_loss("cross_entropy_loss_with", true, logits, targets, &p, loss, grad);
}

tnn_status tnn_nll_loss(const tnn_tensor *log_probs, const int *targets, float *loss, tnn_tensor *grad)
{
    return class_loss("nll_loss", false, log_probs, targets, NULL, loss, grad);
}

tnn_status tnn_nll_loss_with(const tnn_tensor *log_probs, const int *targets, tnn_class_loss_params p, float *loss,
                             tnn_tensor *grad)
{
    tnn_status st = tnn_settings_refused(p.tag, "nll_loss_with", "tnn_class_loss_defaults");
    return st ? st : class_loss("nll_loss_with", false, log_probs, targets, &p, loss, grad);
}
