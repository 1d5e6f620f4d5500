/* BatchNorm1d over [batch x features], PyTorch's nn.BatchNorm1d.
 *
 * Training: y = (x - mean) / sqrt(var + eps) * weight + bias with the batch mean and
 * the biased batch variance; running_mean/var move towards the batch mean and the
 * unbiased variance by `momentum`; num_batches_tracked counts the updates.
 * Eval: the same with the running statistics.
 *
 * The arithmetic is PyTorch's CPU kernel for [batch x features] input (torch 1.13,
 * aten/src/ATen/native/cpu/batch_norm_kernel.cpp, the "channels last" path that
 * [N x C] takes, and batch_norm_cpu_update_stats_template in Normalization.cpp),
 * operation by operation, so that results agree to the last bit with torch running on
 * one thread: float sums in batch order, the same float/double mixture, and a fused
 * multiply-add (fmaf) wherever torch's vectorised kernel, as compiled, performs one.
 * tests/test_parity_batchnorm1d.c checks this against goldens made by PyTorch. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

typedef struct tnn_batchnorm1d {
    tnn_module base;
    int c;
    tnn_batchnorm_params p;
    float *weight, *bias, *dweight, *dbias;   /* NULL when !affine */
    float *running_mean, *running_var;        /* NULL when !track_running_stats */
    int64_t num_batches_tracked;
    float *mean, *invstd;                     /* statistics used by the last forward */
    float *acc;                               /* scratch: 2*c floats */
    const float *x;
    int rows;
    bool used_batch_stats;                    /* last forward normalised with batch stats */
    bool grad_none;                           /* discarded, no backward since (.grad is None) */
    tnn_tensor y, dx[2]; /* dL/dx: see tnn_pick_dx */
} tnn_batchnorm1d;

tnn_batchnorm_params tnn_batchnorm_defaults(void)
{
    return (tnn_batchnorm_params){.eps = 1e-5, .momentum = 0.1, .affine = true, .track_running_stats = true};
}

static void bn_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_batchnorm1d *b = (const tnn_batchnorm1d *)m;
    snprintf(buf, len, "batchnorm1d(%d, eps=%g, momentum=%g)", b->c, b->p.eps, b->p.momentum);
}

/* The element-wise passes are split over threads when each part has this many values. */
#define BN_MIN_SPLIT 16384

/* The per-feature statistics are computed by one thread (a float sum over the batch in
 * batch order, as torch adds); the element-wise passes over [batch x features] are split
 * by rows over the library's threads, as the matrix products around them are, with the
 * same bits on any thread count. */
typedef struct bn_job {
    tnn_batchnorm1d *b;
    const float *x, *g; /* input; dL/dy (backward) */
    float *out;         /* y, or dL/dx (NULL: not wanted) */
    int n;
    bool batch_stats;
} bn_job;

/* The batch statistics (and the running statistics' update), or the running ones in
 * eval mode, then alpha and beta. */
TNN_CLONES static void bn_stats(const bn_job *job)
{
    tnn_batchnorm1d *b = job->b;
    const int n = job->n, c = b->c;
    const float *xd = job->x;
    const bool batch_stats = job->batch_stats;
    float *alpha = b->acc, *beta = b->acc + c;
    if (batch_stats) {
        /* torch: mean = sum / N with a float sum over the batch, the division in double;
         * var_sum = sum (x - mean)^2, a float fma per row. */
        float *mean = b->mean, *var_sum = b->invstd;
        for (int j = 0; j < c; j++) mean[j] = var_sum[j] = 0.0f;
        for (int i = 0; i < n; i++) {
            const float *r = xd + (size_t)i * c;
            for (int j = 0; j < c; j++) mean[j] += r[j];
        }
        for (int j = 0; j < c; j++) mean[j] = (float)((double)mean[j] / n);
        for (int i = 0; i < n; i++) {
            const float *r = xd + (size_t)i * c;
            for (int j = 0; j < c; j++) {
                float d = r[j] - mean[j];
                var_sum[j] = fmaf(d, d, var_sum[j]);
            }
        }
        /* Per feature, in loops over separate arrays so that they vectorise (the
         * arrays are disjoint parts of one block; var_sum becomes invstd in place, so
         * the running variance, which needs var_sum, comes first). */
        if (b->p.track_running_stats) {
            /* torch: momentum * mean + (1 - momentum) * running_mean in float; the
             * variance's momentum * unbiased term is a double (unbiased_var is). */
            const float mom = (float)b->p.momentum, keep = 1.0f - mom, nf1 = (float)(n - 1);
            float *restrict rm = b->running_mean, *restrict rv = b->running_var;
            const float *restrict mu = mean, *restrict vs = var_sum;
            for (int j = 0; j < c; j++) {
                float unbiased = vs[j] / nf1;
                rm[j] = mom * mu[j] + keep * rm[j];
                rv[j] = (float)((double)mom * (double)unbiased + (double)(keep * rv[j]));
            }
        }
        const float nf = (float)n;
        const double eps = b->p.eps;
        for (int j = 0; j < c; j++) {
            float var = var_sum[j] / nf;                           /* biased variance, rounded to float */
            /* invstd, in double as torch's VarTransform (InvStd: 0 for a variance and eps of 0) */
            var_sum[j] = var == 0.0f && eps == 0.0 ? 0.0f : (float)(1.0 / sqrt((double)var + eps));
        }
    } else {
        /* torch's eval forward: invstd = 1 / sqrt(running_var + (float)eps) in float. */
        for (int j = 0; j < c; j++) {
            b->mean[j] = b->running_mean[j];
            b->invstd[j] = 1.0f / sqrtf(b->running_var[j] + (float)b->p.eps);
        }
    }
    /* torch: y = x * alpha + beta with alpha = invstd * w, beta = b - mean * alpha, both
     * a*b+c fused. */
    for (int j = 0; j < c; j++) {
        alpha[j] = b->weight ? b->invstd[j] * b->weight[j] : b->invstd[j];
        beta[j] = fmaf(-b->mean[j], alpha[j], b->weight ? b->bias[j] : 0.0f);
    }
}

/* y = x * alpha + beta over the rows [i0, i1) (after bn_stats). */
TNN_CLONES static void bn_apply_rows(void *ctx, size_t i0, size_t i1)
{
    const bn_job *job = ctx;
    const int c = job->b->c;
    const float *alpha = job->b->acc, *beta = job->b->acc + c;
    for (size_t i = i0; i < i1; i++) {
        const float *r = job->x + i * (size_t)c;
        float *o = job->out + i * (size_t)c;
        for (int j = 0; j < c; j++) o[j] = fmaf(r[j], alpha[j], beta[j]);
    }
}

/* The per-feature sums run as task 0, usually on the calling thread (a task goes to the
 * thread that claims it first; the result is the same on any). Meanwhile the other threads,
 * touch the rows of the output that they will write in the element-wise pass after
 * (one store per cache line; the pass overwrites them all): the output is a buffer last
 * used an iteration ago, and its lines come from memory while the sums run instead of
 * during that pass. Only the rows of the other threads: the caller is busy. */
typedef struct sums_job {
    void (*sums)(const bn_job *job);
    const bn_job *job;
    int rows_per;
} sums_job;

static void sums_task(void *ctx, int task)
{
    const sums_job *s = ctx;
    if (task == 0) {
        s->sums(s->job);
        return;
    }
    const int c = s->job->b->c, r0 = task * s->rows_per;
    int r1 = r0 + s->rows_per < s->job->n ? r0 + s->rows_per : s->job->n;
    volatile float *p = s->job->out + (size_t)r0 * (size_t)c, *e = s->job->out + (size_t)r1 * (size_t)c;
    for (; p < e; p += 16) *p = 0.0f;
}

static void sums_then_rows(void (*sums)(const bn_job *job), const bn_job *job, tnn_range_fn rows)
{
    const int n = job->n, c = job->b->c, parts = tnn_parallel_threads();
    if (job->out && parts > 1 && n >= 32 && (size_t)n * (size_t)c >= 2 * BN_MIN_SPLIT) {
        /* the split tnn_parallel_rows makes below */
        sums_job s = {sums, job, tnn_rows_per_part(n, parts)};
        tnn_parallel_tasks((n + s.rows_per - 1) / s.rows_per, sums_task, &s);
    } else {
        sums(job);
    }
    if (job->out) tnn_parallel_rows(n, (size_t)c, BN_MIN_SPLIT, rows, (void *)job);
}

static tnn_status bn_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    int n = x->shape[0], c = b->c;
    if (x->ndim != 2 || x->shape[1] != c) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "batchnorm1d(%d): input %s, expected [batch x %d]", c,
                         tnn_tensor_shape_str(x, s, sizeof s), c);
    }
    bool batch_stats = m->training || !b->p.track_running_stats;
    if (batch_stats && n < 2)
        return tnn_error(TNN_ERR_SHAPE, "batchnorm1d(%d): training needs more than 1 value per feature, got input [%d x %d]", c, n, c);
    if (tnn_tensor_overlaps(x, &b->y)) return tnn_error_own_output(m);
    if (batch_stats && b->p.track_running_stats && (b->num_batches_tracked < 0 || b->num_batches_tracked == INT64_MAX))
        return tnn_error(TNN_ERR_STATE, "batchnorm1d(%d): num_batches_tracked is %lld, which cannot be counted on "
                         "(a loaded state?); it must be 0 to 2^63 - 2", c, (long long)b->num_batches_tracked);
    tnn_status st = tnn_tensor_ensure2(&b->y, n, c, "batchnorm1d output");
    if (st) return st;
    bn_job job = {.b = b, .x = x->data, .out = b->y.data, .n = n, .batch_stats = batch_stats};
    sums_then_rows(bn_stats, &job, bn_apply_rows);
    if (batch_stats && b->p.track_running_stats) b->num_batches_tracked++;
    b->x = x->data;
    b->rows = n;
    b->used_batch_stats = batch_stats;
    *y = &b->y;
    return TNN_OK;
}

/* The backward sums over the batch, on one thread (see bn_stats): the parameter
 * gradients, and the per-feature factors of dL/dx. */
TNN_CLONES static void bn_backward_sums(const bn_job *job)
{
    tnn_batchnorm1d *b = job->b;
    const int n = job->n, c = b->c;
    /* torch (batch_norm_cpu_backward_channels_last_impl): float sums over the batch of
     * dy and of (x - mean) * dy (a fused multiply-add per row). In eval mode mean is the
     * running mean and invstd = 1 / sqrt(running_var + eps) computed in double (unlike
     * the eval forward's float). */
    float *sum_dy = b->acc, *dot = b->acc + c;
    const float *mean = b->used_batch_stats ? b->mean : b->running_mean;
    float *invstd = b->invstd;
    if (!b->used_batch_stats) {
        for (int j = 0; j < c; j++) invstd[j] = (float)(1.0 / sqrt((double)b->running_var[j] + b->p.eps));
    }
    for (int j = 0; j < c; j++) sum_dy[j] = dot[j] = 0.0f;
    const float *g = job->g, *xd = job->x;
    for (int i = 0; i < n; i++) {
        const float *gr = g + (size_t)i * c, *xr = xd + (size_t)i * c;
        for (int j = 0; j < c; j++) {
            sum_dy[j] += gr[j];
            dot[j] = fmaf(xr[j] - mean[j], gr[j], dot[j]);
        }
    }
    if (b->base.requires_grad && b->weight) {
        b->grad_none = false;
        float *restrict dw = b->dweight, *restrict db = b->dbias;
        const float *restrict dt = dot, *restrict sd = sum_dy, *restrict is = invstd;
        for (int j = 0; j < c; j++) {
            dw[j] += dt[j] * is[j];
            db[j] += sd[j];
        }
    }
    if (job->out && b->used_batch_stats) {
        /* torch: k = dot * invstd * invstd / N, grad_mean = sum_dy / N (in place) */
        const float nf = (float)n;
        for (int j = 0; j < c; j++) {
            dot[j] = dot[j] * invstd[j] * invstd[j] / nf;
            sum_dy[j] = sum_dy[j] / nf;
        }
    }
}

/* dL/dx over the rows [i0, i1) (after bn_backward_sums). */
TNN_CLONES static void bn_dx_rows(void *ctx, size_t i0, size_t i1)
{
    const bn_job *job = ctx;
    const tnn_batchnorm1d *b = job->b;
    const int c = b->c;
    const float *mean = b->used_batch_stats ? b->mean : b->running_mean, *invstd = b->invstd;
    const float *k = b->acc + c, *grad_mean = b->acc;
    if (b->used_batch_stats) {
        /* torch: dx = (dy - grad_mean - (x - mean) * k) * invstd * w, the last product and
         * difference fused. */
        for (size_t i = i0; i < i1; i++) {
            const float *gr = job->g + i * (size_t)c, *xr = job->x + i * (size_t)c;
            float *o = job->out + i * (size_t)c;
            for (int j = 0; j < c; j++) {
                float v = fmaf(-(xr[j] - mean[j]), k[j], gr[j] - grad_mean[j]) * invstd[j];
                o[j] = b->weight ? v * b->weight[j] : v;
            }
        }
    } else {
        for (size_t i = i0; i < i1; i++) {
            const float *gr = job->g + i * (size_t)c;
            float *o = job->out + i * (size_t)c;
            for (int j = 0; j < c; j++) o[j] = gr[j] * invstd[j] * (b->weight ? b->weight[j] : 1.0f);
        }
    }
}

/* The backward pass, with x_hat = (x - mean) * invstd the normalised input and the
 * sums over the batch's N rows, per feature j:
 *     dL/dbias   = sum(dy)
 *     dL/dweight = sum(dy * x_hat)               = sum((x - mean) * dy) * invstd
 * and, in training mode (mean and invstd depend on x),
 *     dL/dx = (dy - sum(dy) / N - x_hat * sum(dy * x_hat) / N) * invstd * weight
 *           = (dy - grad_mean - (x - mean) * k) * invstd * weight,
 *     grad_mean = sum(dy) / N,  k = sum((x - mean) * dy) * invstd^2 / N;
 * in eval mode (running statistics: constants) dL/dx = dy * invstd * weight.
 * bn_backward_sums computes the two sums, the parameter gradients, grad_mean and k
 * (in b->acc: sum_dy then grad_mean, dot then k); bn_dx_rows the rows of dL/dx. */
static tnn_status bn_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    int n = b->rows, c = b->c;
    if (!b->x) return tnn_error(TNN_ERR_STATE, "batchnorm1d(%d): backward called before forward", c);
    if (dy->size != (size_t)n * (size_t)c) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "batchnorm1d(%d): dy %s does not match the output [%d x %d]", c,
                         tnn_tensor_shape_str(dy, s, sizeof s), n, c);
    }
    tnn_tensor *out = NULL;
    if (dx) { /* before any gradient is added: a failure leaves the module as it was */
        tnn_status st = tnn_pick_dx(m, b->dx, b->x, (size_t)n * (size_t)c, dy, 2, (int[]){n, c}, &out);
        if (st) return st;
    }
    bn_job job = {.b = b, .x = b->x, .g = dy->data, .out = out ? out->data : NULL, .n = n};
    sums_then_rows(bn_backward_sums, &job, bn_dx_rows);
    if (dx) *dx = out;
    return TNN_OK;
}

static tnn_status bn_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    int shape[1] = {b->c};
    tnn_status st = TNN_OK;
    if (b->weight) {
        const bool none = b->grad_none; /* as PyTorch's .grad is None: not "frozen" */
        st = tnn_visit_param(prefix, "weight", b->weight, b->dweight, 1, shape, none, fn, ctx);
        if (!st) st = tnn_visit_param(prefix, "bias", b->bias, b->dbias, 1, shape, none, fn, ctx);
    }
    if (!st && b->running_mean) {
        st = tnn_visit_one(prefix, "running_mean", TNN_F32, b->running_mean, NULL, 1, shape, false, fn, ctx);
        if (!st) st = tnn_visit_one(prefix, "running_var", TNN_F32, b->running_var, NULL, 1, shape, false, fn, ctx);
        if (!st) st = tnn_visit_one(prefix, "num_batches_tracked", TNN_I64, &b->num_batches_tracked, NULL, 0, shape, false, fn, ctx);
    }
    return st;
}

static void bn_free(tnn_module *m)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    tnn_free(b->mean); /* one block for every per-feature float array */
    tnn_free(b->acc);
    tnn_tensor_release(&b->y);
    tnn_tensor_release(&b->dx[0]);
    tnn_tensor_release(&b->dx[1]);
    tnn_free(b);
}

/* Its gradients are 2 x c floats: zeroed at once (no pass worth saving), and marked as
 * having none until a backward writes them. */
static void bn_discard_grad(tnn_module *m)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    if (!b->weight) return;
    memset(b->dweight, 0, (size_t)b->c * sizeof(float));
    memset(b->dbias, 0, (size_t)b->c * sizeof(float));
    b->grad_none = true;
}

static const tnn_module_vtable bn_vt = {
    .type_name = "batchnorm1d",
    .forward = bn_forward,
    .backward = bn_backward,
    .visit = bn_visit,
    .describe = bn_describe,
    .free = bn_free,
    .discard_grad = bn_discard_grad,
};

bool tnn_is_batchnorm1d(const tnn_module *m) { return m && m->vt == &bn_vt; }
const tnn_tensor *tnn_batchnorm1d_output_buffer(const tnn_module *m) { return &((const tnn_batchnorm1d *)m)->y; }

tnn_module *tnn_batchnorm1d_new(int c, tnn_batchnorm_params p)
{
    if (c < 1) {
        tnn_error(TNN_ERR_ARG, "batchnorm1d(%d): num_features must be >= 1", c);
        return NULL;
    }
    if (!(p.eps >= 0.0) || !isfinite(p.eps) || !(p.momentum >= 0.0 && p.momentum <= 1.0)) {
        tnn_error(TNN_ERR_ARG, "batchnorm1d(%d): eps must be finite and >= 0, momentum in [0, 1] (got eps=%g, momentum=%g)",
                  c, p.eps, p.momentum);
        return NULL;
    }
    tnn_batchnorm1d *b = tnn_calloc(1, sizeof *b, "batchnorm1d");
    if (!b) return NULL;
    tnn_module_init(&b->base, &bn_vt);
    b->c = c;
    b->p = p;
    tnn_tensor_init_empty(&b->y);
    tnn_tensor_init_empty(&b->dx[0]);
    tnn_tensor_init_empty(&b->dx[1]);
    float *blk = tnn_calloc((size_t)c * 8, sizeof(float), "batchnorm1d parameters");
    b->acc = tnn_calloc((size_t)c * 2, sizeof(float), "batchnorm1d scratch");
    if (!blk || !b->acc) {
        tnn_free(blk);
        tnn_free(b->acc);
        tnn_free(b);
        return NULL;
    }
    b->mean = blk;
    b->invstd = blk + c;
    if (p.affine) {
        b->weight = blk + 2 * c;
        b->bias = blk + 3 * c;
        b->dweight = blk + 4 * c;
        b->dbias = blk + 5 * c;
        for (int j = 0; j < c; j++) b->weight[j] = 1.0f;
    }
    if (p.track_running_stats) {
        b->running_mean = blk + 6 * c;
        b->running_var = blk + 7 * c;
        for (int j = 0; j < c; j++) b->running_var[j] = 1.0f;
    }
    return &b->base;
}
