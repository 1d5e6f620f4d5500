/* Gradient clipping: torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (torch 1.13).
 *
 * The parameters are those of the module's visit; a parameter without a gradient
 * (no_grad: discarded, no backward since) is skipped, as torch skips a .grad of None.
 *
 * The norm is computed in double: each parameter's sum of |g|^p, the sums added in
 * parameter order, then the p-th root, rounded to float once. torch sums in float
 * (torch.norm of each gradient, then the norm of the stacked norms), so its total can be
 * a few ulps away from this one, more on long gradients (docs in optim.h). The
 * coefficient and the products are computed in float exactly as torch computes them:
 *   clip_coef = max_norm / (total_norm + 1e-6)
 * is a Python float divided by a float32 tensor, which torch evaluates as
 * (total_norm + 1e-6).reciprocal() * max_norm (Tensor.__rdiv__), each step rounded to
 * float; a plain float division differs from it in the last bit for about one value in
 * twelve. Then clamp(max=1.0), which keeps a NaN, and grad.mul_(coef). */
#include "tnn_impl.h"

#include <math.h>

/* The sum of |g[i]|^p in double (p finite, > 0), in 8 lanes added at the end: one
 * chain of additions would wait on each add (4 cycles) for every element. */
static double pow_sum(const float *g, size_t n, double p)
{
    double s[8] = {0};
    size_t i = 0, n8 = n - n % 8;
    if (p == 2.0) {
        for (; i < n8; i += 8)
            for (int l = 0; l < 8; l++) s[l] += (double)g[i + l] * (double)g[i + l];
        for (; i < n; i++) s[0] += (double)g[i] * (double)g[i];
    } else if (p == 1.0) {
        for (; i < n8; i += 8)
            for (int l = 0; l < 8; l++) s[l] += fabs((double)g[i + l]);
        for (; i < n; i++) s[0] += fabs((double)g[i]);
    } else {
        for (; i < n; i++) s[i % 8] += pow(fabs((double)g[i]), p);
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* max |g[i]| (0 for no elements); NaN if any element is NaN, as torch's max is. */
static double abs_max(const float *g, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(g[i]);
        if (isnan(a)) return NAN;
        if (a > m) m = a;
    }
    return m;
}

/* The first entry of l with a gradient holding a NaN or an infinity, or NULL. */
static const tnn_named_tensor *first_nonfinite(const tnn_tensor_list *l)
{
    for (int k = 0; k < l->count; k++) {
        const tnn_named_tensor *t = &l->items[k];
        if (t->no_grad) continue;
        for (size_t i = 0; i < t->count; i++)
            if (!isfinite(t->grad[i])) return t;
    }
    return NULL;
}

/* The checks both functions make before they touch m: not NULL, a usable module. */
static tnn_status check_module(const tnn_module *m, const char *fn)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "%s: module is NULL", fn);
    const char *bad = tnn_module_vt_problem(m);
    if (bad) return tnn_error(TNN_ERR_ARG, "%s: the module %s", fn, bad);
    return TNN_OK;
}

/* The work of tnn_clip_grad_norm on the parameters l, the arguments checked. */
static tnn_status clip_norm(const tnn_tensor_list *l, double max_norm, double norm_type, bool error_if_nonfinite,
                            float *total_norm)
{
    /* The total norm over the parameters that have a gradient (torch: p.grad is not None). */
    const bool inf_norm = isinf(norm_type);
    double sum = 0.0;
    int with_grad = 0;
    for (int k = 0; k < l->count; k++) {
        const tnn_named_tensor *t = &l->items[k];
        if (t->no_grad) continue;
        with_grad++;
        if (inf_norm) {
            double a = abs_max(t->grad, t->count);
            if (isnan(a) || a > sum) sum = a; /* torch.max of the norms: a NaN wins (NaN > a is false) */
        } else {
            sum += pow_sum(t->grad, t->count, norm_type);
        }
    }
    if (with_grad == 0) { /* torch returns tensor(0.) and changes nothing */
        if (total_norm) *total_norm = 0.0f;
        return TNN_OK;
    }
    const double total = inf_norm            ? sum
                         : norm_type == 2.0  ? sqrt(sum)
                         : norm_type == 1.0  ? sum
                                             : pow(sum, 1.0 / norm_type);
    const float tf = (float)total;
    if (total_norm) *total_norm = tf;

    if (error_if_nonfinite && !isfinite(tf)) {
        const tnn_named_tensor *bad = first_nonfinite(l);
        if (bad)
            return tnn_error(TNN_ERR_NUMERIC, "clip_grad_norm: the total norm of order %g of the gradients is %s: "
                             "'%s' has a non-finite gradient; no gradient was changed", norm_type,
                             isnan(tf) ? "nan" : "inf", bad->name);
        return tnn_error(TNN_ERR_NUMERIC, "clip_grad_norm: the total norm of order %g of the gradients is %s (it "
                         "overflows: every gradient is finite, but the norm passes FLT_MAX or, for a large norm_type, the "
                         "sum of |g|^norm_type passes DBL_MAX); no gradient was changed", norm_type,
                         isnan(tf) ? "nan" : "inf");
    }

    /* torch: clip_coef = max_norm / (total_norm + 1e-6), evaluated in float32 as
     * (total_norm + 1e-6).reciprocal() * max_norm; then clamp(max=1.0), NaN kept. */
    const float r = 1.0f / (tf + (float)1e-6);
    float coef = r * (float)max_norm;
    if (coef > 1.0f) coef = 1.0f;
    /* torch multiplies by the coefficient even when it is 1; x * 1.0f is x, so that
     * pass over the gradients is skipped. */
    if (coef != 1.0f) {
        for (int k = 0; k < l->count; k++) {
            const tnn_named_tensor *t = &l->items[k];
            if (t->no_grad) continue;
            float *g = t->grad;
            for (size_t i = 0; i < t->count; i++) g[i] *= coef;
        }
    }
    return TNN_OK;
}

tnn_status tnn_clip_grad_norm(tnn_module *m, double max_norm, double norm_type, bool error_if_nonfinite, float *total_norm)
{
    tnn_status st = check_module(m, "clip_grad_norm");
    if (st) return st;
    if (!(max_norm >= 0.0))
        return tnn_error(TNN_ERR_ARG, "clip_grad_norm: max_norm %g must be >= 0 and not NaN", max_norm);
    if (!(norm_type > 0.0))
        return tnn_error(TNN_ERR_ARG, "clip_grad_norm: norm_type %g must be > 0 and not NaN (INFINITY for the largest "
                         "|gradient|)", norm_type);
    tnn_module *held;
    st = tnn_module_enter(m, "clip_grad_norm", &held);
    if (st) return st;
    tnn_tensor_list *l;
    st = tnn_module_collect(m, "", true, &l);
    if (!st) st = clip_norm(l, max_norm, norm_type, error_if_nonfinite, total_norm);
    tnn_tensor_list_free(l);
    tnn_module_leave(held);
    return st;
}

tnn_status tnn_clip_grad_value(tnn_module *m, double clip_value)
{
    tnn_status st = check_module(m, "clip_grad_value");
    if (st) return st;
    if (!(clip_value >= 0.0))
        return tnn_error(TNN_ERR_ARG, "clip_grad_value: clip_value %g must be >= 0 and not NaN", clip_value);
    tnn_module *held;
    st = tnn_module_enter(m, "clip_grad_value", &held);
    if (st) return st;
    tnn_tensor_list *l;
    st = tnn_module_collect(m, "", true, &l);
    /* torch: grad.clamp_(min=-clip_value, max=clip_value), the bounds rounded to float;
     * a NaN stays NaN (both comparisons are false), a zero keeps its sign. */
    const float hi = (float)clip_value, lo = -hi;
    for (int k = 0; !st && k < l->count; k++) {
        const tnn_named_tensor *t = &l->items[k];
        if (t->no_grad) continue;
        float *g = t->grad;
        for (size_t i = 0; i < t->count; i++) {
            float x = g[i];
            g[i] = x < lo ? lo : x > hi ? hi : x;
        }
    }
    tnn_tensor_list_free(l);
    tnn_module_leave(held);
    return st;
}
