/* LayerNorm: PyTorch's nn.LayerNorm. Each row of the input (its last ndim dimensions,
 * which must be the normalized_shape, flattened: N values) is normalised on its own,
 *     y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps),
 * with the row's mean and biased variance, in training and eval mode alike (no running
 * statistics). "weight" (ones) and "bias" (zeros) have the normalized_shape; without
 * elementwise_affine there are none.
 *
 * The arithmetic is torch 1.13's CPU kernel (aten/src/ATen/native/cpu/
 * layer_norm_kernel.cpp and moments_utils.h, the AVX2 build: 8 float lanes), operation
 * by operation, so that results agree to the last bit with torch running on one thread:
 *   - mean and variance: RowwiseMoments, Welford's update per lane over chunks of 16
 *     vectors (the row's first N - N % 8 values, value k in lane k % 8), the chunks'
 *     moments merged by a cascade (a binary counter of partial results), then the
 *     leftover N % 8 values by Welford in order, into which the 8 lanes are merged one
 *     by one. All in float, none of it fused (torch's build does not contract these).
 *   - rstd = 1 / sqrt(max(var, 0) + (float)eps) in float; y = (x * rstd + (-rstd * mean))
 *     * weight + bias, both products fused with their sums (fmaf).
 *   - backward: ds = sum(dy * x * weight), db = sum(dy * weight) in torch's 8-lane
 *     reduction order (ln_lane_dot), then per row
 *         b = (db * mean - ds) * rstd^3 / N,  c = -b * mean - db * rstd / N,
 *         dx = rstd * dy * weight + b * x + c,
 *     with the fused operations torch's build makes (see ln_dx_rows); dweight =
 *     sum over rows of dy * (rstd * x - rstd * mean), dbias = sum of dy, each a float
 *     sum in row order per column (torch's order on one thread).
 * tests/test_parity_layernorm.c checks this against goldens made by PyTorch.
 *
 * Threads: the rows of the forward and of dL/dx are independent, split over the
 * library's threads; the parameter gradients are summed per column in row order, the
 * columns split into blocks over the threads: the same bits on any thread count. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

typedef struct tnn_layernorm {
    tnn_module base;
    int nd;                             /* dimensions normalised */
    int shape[TNN_MAX_DIMS];            /* normalized_shape */
    size_t n;                           /* values per row: the product of shape */
    tnn_layernorm_params p;
    float *weight, *bias, *dweight, *dbias; /* NULL without elementwise_affine (one block) */
    float *stats;                       /* per row of the last forward: mean, rstd */
    size_t stats_rows;                  /* rows stats holds (grows, never shrinks) */
    const float *x;                     /* input of the last forward (borrowed) */
    size_t rows;                        /* its rows */
    int x_ndim, x_shape[TNN_MAX_DIMS];  /* its shape */
    bool grad_none;                     /* discarded, no backward since (.grad is None) */
    tnn_tensor y, dx[2];                /* dL/dx: see tnn_pick_dx */
} tnn_layernorm;

tnn_layernorm_params tnn_layernorm_defaults(void)
{
    return (tnn_layernorm_params){.eps = 1e-5, .elementwise_affine = true, .tag = TNN_SETTINGS_TAG};
}

static void ln_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_layernorm *l = (const tnn_layernorm *)m;
    char s[64];
    snprintf(buf, len, "layer_norm(%s, eps=%g%s)", tnn_shape_str(l->nd, l->shape, s, sizeof s), l->p.eps,
             l->p.elementwise_affine ? "" : ", elementwise_affine=False");
}

/* The forward and the rows of dL/dx are split over threads when each part has this
 * many values. */
#define LN_MIN_SPLIT 16384
/* Columns per task of the parameter gradients' sums. */
#define LN_COL_BLOCK 128

/* ---- torch's RowwiseMoments (moments_utils.h) with 8 float lanes. */

enum { LN_LANES = 8, LN_CHUNK = 16, LN_MAX_DEPTH = 64 };

/* AddMomentsVec: merge (m0_add, m1a, m2a) into (m0, m1, m2), per lane. */
static inline void ln_merge_vec(int64_t m0_add, const float *m1a, const float *m2a, int64_t *m0, float *m1, float *m2)
{
    const int64_t n = *m0 + m0_add;
    const float c = n == 0 ? 0.0f : (float)m0_add / (float)n;
    const float old = (float)*m0;
    for (int l = 0; l < LN_LANES; l++) {
        const float d = m1a[l] - m1[l];
        m1[l] += c * d;
        m2[l] += m2a[l] + d * d * c * old;
    }
    *m0 = n;
}

/* ceil(log2(x)), at least 1 (torch's CeilLog2). */
static inline int ln_ceil_log2(int64_t x)
{
    if (x <= 2) return 1;
    int r = 0;
    for (uint64_t v = (uint64_t)x - 1; v; v >>= 1) r++;
    return r;
}

/* The mean and the biased variance of the N values at x. */
static inline void ln_moments(const float *x, size_t N, float *mean, float *var)
{
    const int64_t nvec = (int64_t)(N / LN_LANES), chunks = (nvec + LN_CHUNK - 1) / LN_CHUNK;
    const int depth = ln_ceil_log2(chunks);
    int64_t m0s[LN_MAX_DEPTH];
    float m1s[LN_MAX_DEPTH][LN_LANES], m2s[LN_MAX_DEPTH][LN_LANES];
    for (int d = 0; d < depth; d++) {
        m0s[d] = 0;
        for (int l = 0; l < LN_LANES; l++) m1s[d][l] = m2s[d][l] = 0.0f;
    }
    for (int64_t i = 0; i < chunks; i++) {
        const float *p = x + (size_t)i * LN_CHUNK * LN_LANES;
        const int64_t cnt = nvec - i * LN_CHUNK < LN_CHUNK ? nvec - i * LN_CHUNK : LN_CHUNK;
        float m1[LN_LANES] = {0}, m2[LN_LANES] = {0};
        for (int64_t j = 0; j < cnt; j++) {
            const float c = 1.0f / (float)(j + 1);
            for (int l = 0; l < LN_LANES; l++) {
                const float v = p[j * LN_LANES + l], d = v - m1[l];
                m1[l] += d * c;
                m2[l] += d * (v - m1[l]);
            }
        }
        ln_merge_vec(cnt, m1, m2, &m0s[0], m1s[0], m2s[0]);
        int64_t mask = i + 1;
        for (int d = 1; d < depth && (mask & 1) == 0; d++) {
            ln_merge_vec(m0s[d - 1], m1s[d - 1], m2s[d - 1], &m0s[d], m1s[d], m2s[d]);
            m0s[d - 1] = 0;
            for (int l = 0; l < LN_LANES; l++) m1s[d - 1][l] = m2s[d - 1][l] = 0.0f;
            mask >>= 1;
        }
    }
    for (int d = 1; d < depth; d++) ln_merge_vec(m0s[d], m1s[d], m2s[d], &m0s[0], m1s[0], m2s[0]);
    /* the values after the last full vector, in order, then the lanes (AddMoments) */
    int64_t m0 = 0;
    float m1 = 0.0f, m2 = 0.0f;
    for (size_t k = (size_t)nvec * LN_LANES; k < N; k++) {
        const float d = x[k] - m1;
        ++m0;
        m1 += d / (float)m0;
        m2 += d * (x[k] - m1);
    }
    for (int l = 0; l < LN_LANES; l++) {
        const int64_t n = m0 + nvec;
        const float c = n == 0 ? 0.0f : (float)nvec / (float)n;
        const float d = m1s[0][l] - m1;
        m1 += c * d;
        m2 += m2s[0][l] + d * d * c * (float)m0;
        m0 = n;
    }
    *mean = m1;
    *var = m2 / (float)N;
}

/* ---- torch's vec::reduce_all family with + (AVX2): fewer than 8 values are added in
 * order; otherwise lane l adds the values l, l+8, l+16, ... (the last, partial, vector
 * into the first lanes) and the lanes are folded as ((l0 + l4) + (l2 + l6)) + ((l1 +
 * l5) + (l3 + l7)). The map's products are rounded in the first vector (and below 8
 * values); later ones are fused into the lane's sum, as torch's build does. */
static inline float ln_lane_fold(const float a[LN_LANES])
{
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* sum of p[k] * q[k] * r[k] (r NULL: of p[k] * q[k]) */
static inline float ln_lane_dot(const float *p, const float *q, const float *r, size_t n)
{
    if (n < LN_LANES) {
        float s = r ? p[0] * q[0] * r[0] : p[0] * q[0];
        for (size_t k = 1; k < n; k++) s += r ? p[k] * q[k] * r[k] : p[k] * q[k];
        return s;
    }
    float a[LN_LANES];
    for (int l = 0; l < LN_LANES; l++) a[l] = r ? p[l] * q[l] * r[l] : p[l] * q[l];
    size_t d = LN_LANES;
    if (r) {
        for (const size_t full = n - n % LN_LANES; d < full; d += LN_LANES)
            for (int l = 0; l < LN_LANES; l++) a[l] = fmaf(p[d + l] * q[d + l], r[d + l], a[l]);
        for (size_t l = 0; d + l < n; l++) a[l] = fmaf(p[d + l] * q[d + l], r[d + l], a[l]);
    } else {
        for (const size_t full = n - n % LN_LANES; d < full; d += LN_LANES)
            for (int l = 0; l < LN_LANES; l++) a[l] = fmaf(p[d + l], q[d + l], a[l]);
        for (size_t l = 0; d + l < n; l++) a[l] = fmaf(p[d + l], q[d + l], a[l]);
    }
    return ln_lane_fold(a);
}

static inline float ln_lane_sum(const float *p, size_t n)
{
    if (n < LN_LANES) {
        float s = p[0];
        for (size_t k = 1; k < n; k++) s += p[k];
        return s;
    }
    float a[LN_LANES];
    for (int l = 0; l < LN_LANES; l++) a[l] = p[l];
    size_t d = LN_LANES;
    for (const size_t full = n - n % LN_LANES; d < full; d += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) a[l] += p[d + l];
    for (size_t l = 0; d + l < n; l++) a[l] += p[d + l];
    return ln_lane_fold(a);
}

typedef struct ln_job {
    tnn_layernorm *l;
    const float *x, *g; /* input; dL/dy (backward) */
    float *out;         /* y, or dL/dx */
} ln_job;

/* Rows [i0, i1): mean, rstd and y (torch's LayerNormKernelImplInternal). */
TNN_CLONES static void ln_forward_rows(void *ctx, size_t i0, size_t i1)
{
    const ln_job *job = ctx;
    const tnn_layernorm *l = job->l;
    const size_t n = l->n;
    const float eps = (float)l->p.eps;
    const float *w = l->weight, *b = l->bias;
    for (size_t i = i0; i < i1; i++) {
        const float *xr = job->x + i * n;
        float *yr = job->out + i * n;
        float mean, var;
        ln_moments(xr, n, &mean, &var);
        const float rstd = 1.0f / sqrtf((var < 0.0f ? 0.0f : var) + eps); /* a NaN stays NaN, as torch's */
        const float scale = rstd, shift = -rstd * mean;
        if (w) {
            for (size_t j = 0; j < n; j++) yr[j] = fmaf(fmaf(xr[j], scale, shift), w[j], b[j]);
        } else {
            /* torch: (x * scale + shift) * 1 + 0 */
            for (size_t j = 0; j < n; j++) yr[j] = fmaf(xr[j], scale, shift) + 0.0f;
        }
        l->stats[2 * i] = mean;
        l->stats[2 * i + 1] = rstd;
    }
}

/* Rows [i0, i1) of dL/dx (torch's LayerNormBackwardKernelImplInternal, its dX part):
 *     ds = sum(dy * x * w), db = sum(dy * w),
 *     b = (db * mean - ds) * rstd^3 / N, c = -b * mean - db * rstd / N,
 *     dx = rstd * dy * w + b * x + c,
 * the fused operations as torch's build makes them: b = fma(db, mean, -ds) * a * a * a
 * * (1/N), c = fma(-b, mean, -(db * a * (1/N))), dx = fma(b, x, a * dy * w) + c. */
TNN_CLONES static void ln_dx_rows(void *ctx, size_t i0, size_t i1)
{
    const ln_job *job = ctx;
    const tnn_layernorm *l = job->l;
    const size_t n = l->n;
    const float *w = l->weight;
    const float scale = 1.0f / (float)n;
    for (size_t i = i0; i < i1; i++) {
        const float *xr = job->x + i * n, *gr = job->g + i * n;
        float *o = job->out + i * n;
        const float mean = l->stats[2 * i], a = l->stats[2 * i + 1];
        const float ds = ln_lane_dot(gr, xr, w, n), db = w ? ln_lane_dot(gr, w, NULL, n) : ln_lane_sum(gr, n);
        const float b = fmaf(db, mean, -ds) * a * a * a * scale;
        const float c = fmaf(-b, mean, -(db * a * scale));
        if (w) {
            for (size_t j = 0; j < n; j++) o[j] = fmaf(b, xr[j], a * gr[j] * w[j]) + c;
        } else {
            for (size_t j = 0; j < n; j++) o[j] = fmaf(b, xr[j], a * gr[j]) + c;
        }
    }
}

/* Columns [task * LN_COL_BLOCK, ...) of the parameter gradients: per column the float
 * sums over the rows in order, from 0, of dy * (rstd * x + (-rstd * mean)) (both
 * products fused) and of dy, added into dweight and dbias. */
TNN_CLONES static void ln_param_grad_task(void *ctx, int task)
{
    const ln_job *job = ctx;
    tnn_layernorm *l = job->l;
    const size_t n = l->n, j0 = (size_t)task * LN_COL_BLOCK, cols = n - j0 < LN_COL_BLOCK ? n - j0 : LN_COL_BLOCK;
    float sw[LN_COL_BLOCK], sb[LN_COL_BLOCK];
    for (size_t j = 0; j < cols; j++) sw[j] = sb[j] = 0.0f;
    for (size_t i = 0; i < l->rows; i++) {
        const float a = l->stats[2 * i + 1], shift = -a * l->stats[2 * i];
        const float *xr = job->x + i * n + j0, *gr = job->g + i * n + j0;
        for (size_t j = 0; j < cols; j++) {
            sw[j] = fmaf(gr[j], fmaf(a, xr[j], shift), sw[j]);
            sb[j] += gr[j];
        }
    }
    float *restrict dw = l->dweight + j0, *restrict dbias = l->dbias + j0;
    for (size_t j = 0; j < cols; j++) {
        dw[j] += sw[j];
        dbias[j] += sb[j];
    }
}

/* Whether x's last l->nd dimensions are the normalized_shape. */
static bool ln_shape_fits(const tnn_layernorm *l, const tnn_tensor *x)
{
    if (x->ndim < l->nd) return false;
    for (int d = 0; d < l->nd; d++)
        if (x->shape[x->ndim - l->nd + d] != l->shape[d]) return false;
    return true;
}

static tnn_status ln_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_layernorm *l = (tnn_layernorm *)m;
    if (!ln_shape_fits(l, x)) {
        char d[96], s[64], ns[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s does not end in the normalized_shape %s (its last %d "
                         "dimensions must be those)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), tnn_shape_str(l->nd, l->shape, ns, sizeof ns), l->nd);
    }
    if (tnn_tensor_overlaps(x, &l->y)) return tnn_error_own_output(m);
    const size_t rows = x->size / l->n;
    if (rows > (size_t)INT32_MAX) {
        char d[96], s[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more than %d rows", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), INT32_MAX);
    }
    if (rows > l->stats_rows) { /* grows only: the same shape (or fewer rows) allocates nothing */
        float *s = tnn_malloc(rows * 2 * sizeof(float), "layer_norm statistics");
        if (!s) return TNN_ERR_NOMEM;
        tnn_free(l->stats);
        l->stats = s;
        l->stats_rows = rows;
    }
    tnn_status st = tnn_tensor_ensure_like(&l->y, x, "layer_norm output");
    if (st) return st;
    ln_job job = {.l = l, .x = x->data, .out = l->y.data};
    tnn_parallel_rows((int)rows, l->n, LN_MIN_SPLIT, ln_forward_rows, &job);
    l->x = x->data;
    l->rows = rows;
    l->x_ndim = x->ndim;
    memcpy(l->x_shape, x->shape, sizeof l->x_shape);
    *y = &l->y;
    return TNN_OK;
}

static tnn_status ln_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_layernorm *l = (tnn_layernorm *)m;
    char d[96];
    if (!l->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    const size_t nx = l->rows * l->n;
    if (dy->size != nx) {
        char s[64], o[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(dy, s, sizeof s), tnn_tensor_shape_str(&l->y, o, sizeof o));
    }
    tnn_tensor *out = NULL;
    if (dx) { /* before any gradient is added: a failure leaves the module as it was */
        tnn_status st = tnn_pick_dx(m, l->dx, l->x, nx, dy, l->x_ndim, l->x_shape, &out);
        if (st) return st;
    }
    ln_job job = {.l = l, .x = l->x, .g = dy->data, .out = out ? out->data : NULL};
    if (l->weight && m->requires_grad) {
        l->grad_none = false;
        const int tasks = (int)((l->n + LN_COL_BLOCK - 1) / LN_COL_BLOCK);
        if (nx >= 2 * (size_t)LN_MIN_SPLIT && tasks > 1) {
            tnn_parallel_tasks(tasks, ln_param_grad_task, &job);
        } else {
            for (int t = 0; t < tasks; t++) ln_param_grad_task(&job, t);
        }
    }
    if (out) {
        tnn_parallel_rows((int)l->rows, l->n, LN_MIN_SPLIT, ln_dx_rows, &job);
        *dx = out;
    }
    return TNN_OK;
}

static tnn_status ln_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_layernorm *l = (tnn_layernorm *)m;
    if (!l->weight) return TNN_OK;
    const bool none = l->grad_none; /* as PyTorch's .grad is None: not "frozen" */
    tnn_status st = tnn_visit_param(prefix, "weight", l->weight, l->dweight, l->nd, l->shape, none, fn, ctx);
    if (!st) st = tnn_visit_param(prefix, "bias", l->bias, l->dbias, l->nd, l->shape, none, fn, ctx);
    return st;
}

static void ln_free(tnn_module *m)
{
    tnn_layernorm *l = (tnn_layernorm *)m;
    tnn_free(l->weight); /* one block for weight, bias and their gradients */
    tnn_free(l->stats);
    tnn_tensor_release(&l->y);
    tnn_tensor_release(&l->dx[0]);
    tnn_tensor_release(&l->dx[1]);
    tnn_free(l);
}

static void ln_discard_grad(tnn_module *m)
{
    tnn_layernorm *l = (tnn_layernorm *)m;
    if (!l->weight) return;
    memset(l->dweight, 0, l->n * sizeof(float));
    memset(l->dbias, 0, l->n * sizeof(float));
    l->grad_none = true;
}

static const tnn_module_vtable ln_vt = {
    .type_name = "layer_norm",
    .forward = ln_forward,
    .backward = ln_backward,
    .visit = ln_visit,
    .describe = ln_describe,
    .free = ln_free,
    .discard_grad = ln_discard_grad,
};

const tnn_tensor *tnn_layernorm_output_buffer(const tnn_module *m)
{
    return m && m->vt == &ln_vt ? &((const tnn_layernorm *)m)->y : NULL;
}

tnn_module *tnn_layernorm_new(int ndim, const int *normalized_shape, tnn_layernorm_params p)
{
    if (tnn_settings_refused(p.tag, "layer_norm", "tnn_layernorm_defaults")) return NULL;
    if (ndim < 1 || ndim > TNN_MAX_DIMS) {
        tnn_error(TNN_ERR_ARG, "layer_norm: ndim is %d, must be 1 to %d (the dimensions of normalized_shape)", ndim,
                  TNN_MAX_DIMS);
        return NULL;
    }
    if (!normalized_shape) {
        tnn_error(TNN_ERR_ARG, "layer_norm: normalized_shape is NULL");
        return NULL;
    }
    char s[64];
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (normalized_shape[d] < 1) {
            tnn_error(TNN_ERR_ARG, "layer_norm(%s): normalized_shape[%d] is %d, must be >= 1",
                      tnn_shape_str(ndim, normalized_shape, s, sizeof s), d, normalized_shape[d]);
            return NULL;
        }
        n *= (size_t)normalized_shape[d]; /* at most INT32_MAX * INT_MAX: no wrap */
        if (n > (size_t)INT32_MAX) break;
    }
    if (n > (size_t)INT32_MAX) {
        tnn_error(TNN_ERR_ARG, "layer_norm(%s): normalized_shape holds more than %d values",
                  tnn_shape_str(ndim, normalized_shape, s, sizeof s), INT32_MAX);
        return NULL;
    }
    if (!(p.eps >= 0.0) || !isfinite(p.eps)) {
        tnn_error(TNN_ERR_ARG, "layer_norm(%s): eps must be finite and >= 0 (got %g)",
                  tnn_shape_str(ndim, normalized_shape, s, sizeof s), p.eps);
        return NULL;
    }
    tnn_layernorm *l = tnn_calloc(1, sizeof *l, "layer_norm");
    if (!l) return NULL;
    tnn_module_init(&l->base, &ln_vt);
    l->nd = ndim;
    for (int d = 0; d < TNN_MAX_DIMS; d++) l->shape[d] = d < ndim ? normalized_shape[d] : 1;
    l->n = n;
    l->p = p;
    tnn_tensor_init_empty(&l->y);
    tnn_tensor_init_empty(&l->dx[0]);
    tnn_tensor_init_empty(&l->dx[1]);
    if (p.elementwise_affine) {
        float *blk = tnn_calloc(n * 4, sizeof(float), "layer_norm parameters");
        if (!blk) {
            tnn_free(l);
            return NULL;
        }
        l->weight = blk;
        l->bias = blk + n;
        l->dweight = blk + 2 * n;
        l->dbias = blk + 3 * n;
        for (size_t j = 0; j < n; j++) l->weight[j] = 1.0f;
    }
    return &l->base;
}
