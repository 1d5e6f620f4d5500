/* Gradient clipping: torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (torch 1.13).
 *
 * The parameters are those of the module's visit; a parameter without a gradient
 * (no_grad: discarded, no backward since) is skipped, as torch skips a .grad of None.
 *
 * The norm is computed in double: each parameter's sum of |g|^p (a gradient longer
 * than CLIP_PART in parts, below), the sums added in parameter order, then the p-th
 * root, rounded to float once. torch sums in float
 * (torch.norm of each gradient, then the norm of the stacked norms), so its total can be
 * a few ulps away from this one, more on long gradients (docs in optim.h). The
 * coefficient and the products are computed in float exactly as torch computes them:
 *   clip_coef = max_norm / (total_norm + 1e-6)
 * is a Python float divided by a float32 tensor, which torch evaluates as
 * (total_norm + 1e-6).reciprocal() * max_norm (Tensor.__rdiv__), each step rounded to
 * float; a plain float division differs from it in the last bit for about one value in
 * twelve. Then clamp(max=1.0), which keeps a NaN, and grad.mul_(coef). */
#include "parallel_impl.h"
#include "tnn_impl.h"
#include "vmath_impl.h" /* TNN_CLONES */

#include <math.h>
#include <stdio.h>

/* The parameters are taken through the module's visit, twice (every record checked and
 * the norm summed, then the gradients scaled), so a call allocates nothing. A gradient
 * of more than CLIP_PART scalars is summed in parts of that many on the library's
 * threads, up to CLIP_BATCH parts at a time, and the parts' sums are added in order:
 * the parts follow from the size alone, so the norm has the same bits on any thread
 * count. Scaling and clamping run in chunks of CLIP_CHUNK (tnn_parallel_chunks). */
#define CLIP_PART 65536
#define CLIP_BATCH 16
#define CLIP_CHUNK 16384

/* The sum of |g[i]|^p in double (p finite, > 0), in 8 lanes added at the end: one
 * chain of additions would wait on each add (4 cycles) for every element. */
TNN_CLONES static double pow_sum(const float *g, size_t n, double p)
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
TNN_CLONES static double abs_max(const float *g, size_t n)
{
    float m = 0.0f;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        const float a = fabsf(g[i]);
        nan |= a != a;
        m = a > m ? a : m;
    }
    return nan ? NAN : m;
}

TNN_CLONES static void scale_kernel(float *g, size_t n, float coef)
{
    for (size_t i = 0; i < n; i++) g[i] *= coef;
}

/* torch: grad.clamp_(min=-clip_value, max=clip_value), the bounds rounded to float; a
 * NaN stays NaN (both comparisons are false), a zero keeps its sign. */
TNN_CLONES static void clamp_kernel(float *g, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) {
        const float x = g[i];
        g[i] = x < lo ? lo : x > hi ? hi : x;
    }
}

/* Of one part: the sum of |g|^p, or for the inf-norm the largest |g| (NaN if any). */
static double part_value(const float *g, size_t n, double p, bool inf)
{
    return inf ? abs_max(g, n) : pow_sum(g, n, p);
}

/* acc and one more part's value: added, or for the inf-norm the larger, a NaN winning
 * and staying (torch.max of the norms). */
static double combine(double acc, double v, bool inf)
{
    if (!inf) return acc + v;
    return isnan(acc) ? acc : isnan(v) || v > acc ? v : acc;
}

typedef struct parts_job {
    const float *g;
    size_t n;
    double p;
    bool inf;
    double out[CLIP_BATCH];
} parts_job;

static void part_task(void *ctx, int k)
{
    parts_job *j = ctx;
    const size_t lo = (size_t)k * CLIP_PART, hi = j->n - lo < CLIP_PART ? j->n : lo + CLIP_PART;
    j->out[k] = part_value(j->g + lo, hi - lo, j->p, j->inf);
}

/* One gradient's sum of |g|^p (or largest |g|), in parts of CLIP_PART scalars. */
static double grad_value(const float *g, size_t n, double p, bool inf)
{
    if (n <= CLIP_PART) return part_value(g, n, p, inf);
    parts_job j = {.p = p, .inf = inf};
    double acc = 0.0;
    for (size_t b = 0; b < n; b += (size_t)CLIP_PART * CLIP_BATCH) {
        j.g = g + b;
        j.n = n - b < (size_t)CLIP_PART * CLIP_BATCH ? n - b : (size_t)CLIP_PART * CLIP_BATCH;
        const int parts = (int)((j.n + CLIP_PART - 1) / CLIP_PART);
        tnn_parallel_tasks(parts, part_task, &j);
        for (int k = 0; k < parts; k++) acc = b == 0 && k == 0 ? j.out[0] : combine(acc, j.out[k], inf);
    }
    return acc;
}

/* First visit of tnn_clip_grad_norm: every parameter record checked, and the total
 * over those with a gradient (torch: p.grad is not None), in the visit's order. */
typedef struct norm_visit {
    double p, total;
    bool inf;
    int with_grad;
} norm_visit;

static tnn_status norm_one(void *ctx, const tnn_named_tensor *t)
{
    norm_visit *v = ctx;
    if (!t->is_param) return TNN_OK;
    tnn_status st = tnn_check_visited(t);
    if (st || t->no_grad) return st;
    const double a = grad_value(t->grad, t->count, v->p, v->inf);
    v->total = v->with_grad++ ? combine(v->total, a, v->inf) : a;
    return TNN_OK;
}

/* Only records checked: tnn_clip_grad_value's first visit. */
static tnn_status check_one(void *ctx, const tnn_named_tensor *t)
{
    (void)ctx;
    return t->is_param ? tnn_check_visited(t) : TNN_OK;
}

/* The name of the first parameter whose gradient holds a NaN or an infinity. */
typedef struct nonfinite_visit {
    bool found;
    char name[256];
} nonfinite_visit;

static tnn_status find_nonfinite(void *ctx, const tnn_named_tensor *t)
{
    nonfinite_visit *v = ctx;
    if (v->found || !t->is_param || t->no_grad) return TNN_OK;
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(t->grad[i])) {
            v->found = true;
            snprintf(v->name, sizeof v->name, "%s", t->name);
            break;
        }
    return TNN_OK;
}

/* Second visit: each gradient scaled by coef, or clamped to [lo, hi]. */
typedef struct change_visit {
    bool clamp;
    float coef, lo, hi;
    float *g; /* the gradient being changed */
} change_visit;

static void change_range(void *ctx, size_t b, size_t e)
{
    const change_visit *v = ctx;
    if (v->clamp) clamp_kernel(v->g + b, e - b, v->lo, v->hi);
    else scale_kernel(v->g + b, e - b, v->coef);
}

static tnn_status change_one(void *ctx, const tnn_named_tensor *t)
{
    change_visit *v = ctx;
    if (!t->is_param || t->no_grad) return TNN_OK;
    v->g = t->grad;
    tnn_parallel_chunks(t->count, CLIP_CHUNK, change_range, v);
    return TNN_OK;
}

/* The checks both functions make before they touch m: not NULL, a usable module. */
static tnn_status check_module(const tnn_module *m, const char *fn)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "%s: module is NULL", fn);
    const char *bad = tnn_module_vt_problem(m);
    if (bad) return tnn_error(TNN_ERR_ARG, "%s: the module %s", fn, bad);
    return TNN_OK;
}

/* The work of tnn_clip_grad_norm on m, the arguments checked and m held. */
static tnn_status clip_norm(tnn_module *m, double max_norm, double norm_type, bool error_if_nonfinite,
                            float *total_norm)
{
    norm_visit nv = {.p = norm_type, .inf = isinf(norm_type)};
    tnn_status st = tnn_module_visit(m, "", norm_one, &nv);
    if (st) return st;
    if (nv.with_grad == 0) { /* torch returns tensor(0.) and changes nothing */
        if (total_norm) *total_norm = 0.0f;
        return TNN_OK;
    }
    const double sum = nv.total;
    const double total = nv.inf              ? sum
                         : norm_type == 2.0  ? sqrt(sum)
                         : norm_type == 1.0  ? sum
                                             : pow(sum, 1.0 / norm_type);
    const float tf = (float)total;
    if (total_norm) *total_norm = tf;

    if (error_if_nonfinite && !isfinite(tf)) {
        nonfinite_visit bad = {0};
        (void)tnn_module_visit(m, "", find_nonfinite, &bad); /* the same records: the first visit passed */
        if (bad.found)
            return tnn_error(TNN_ERR_NUMERIC, "clip_grad_norm: the total norm of order %g of the gradients is %s: "
                             "'%s' has a non-finite gradient; no gradient was changed", norm_type,
                             isnan(tf) ? "nan" : "inf", bad.name);
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
    if (coef == 1.0f) return TNN_OK;
    change_visit cv = {.coef = coef};
    return tnn_module_visit(m, "", change_one, &cv);
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
    st = clip_norm(m, max_norm, norm_type, error_if_nonfinite, total_norm);
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
    st = tnn_module_visit(m, "", check_one, NULL); /* every record checked before anything changes */
    change_visit cv = {.clamp = true, .hi = (float)clip_value, .lo = -(float)clip_value};
    if (!st) st = tnn_module_visit(m, "", change_one, &cv);
    tnn_module_leave(held);
    return st;
}
