/* BatchNorm1d over [batch x features] and BatchNorm2d over [batch x channels x H x W],
 * PyTorch's nn.BatchNorm1d and nn.BatchNorm2d: one module type, two front ends.
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
 * tests/test_parity_batchnorm1d.c checks this against goldens made by PyTorch.
 *
 * BatchNorm2d: torch takes the same "channels last" path for an [N x C x 1 x 1] input
 * (image size 1), which here is the [N x C] code above. For a larger image torch's
 * "contiguous" kernel runs one channel at a time (its planes of H*W values in each
 * sample): the statistics are double sums in element order (mean = sum / count rounded
 * to float, var_sum = sum of the float (x - mean)^2), the backward's sums are per plane
 * a float reduction in torch's 8-lane AVX2 order (bn_lane_sum, bn_lane_dot) added into
 * a double. Each channel is computed alone, so the channels go to the library's
 * threads with the same bits on any count (as torch's own kernel does).
 * tests/test_parity_batchnorm2d.c checks this. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

typedef struct tnn_batchnorm {
    tnn_module base;
    const char *kind;                         /* "batchnorm1d" or "batchnorm2d", for messages */
    int c;
    tnn_batchnorm_params p;
    float *weight, *bias, *dweight, *dbias;   /* NULL when !affine */
    float *running_mean, *running_var;        /* NULL when !track_running_stats */
    int64_t num_batches_tracked;
    float *mean, *invstd;                     /* statistics used by the last forward */
    float *acc;                               /* scratch: 2*c floats */
    const float *x;
    int rows;                                 /* the last forward's batch */
    size_t hw;                                /* its values per channel per sample: H*W (1 for BatchNorm1d) */
    int x_ndim, x_shape[4];                   /* its input's shape */
    bool used_batch_stats;                    /* last forward normalised with batch stats */
    bool grad_none;                           /* discarded, no backward since (.grad is None) */
    tnn_tensor y, dx[2]; /* dL/dx: see tnn_pick_dx */
} tnn_batchnorm;

tnn_batchnorm_params tnn_batchnorm_defaults(void)
{
    return (tnn_batchnorm_params){.eps = 1e-5, .momentum = 0.1, .affine = true, .track_running_stats = true,
                                  .tag = TNN_SETTINGS_TAG};
}

static void bn_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_batchnorm *b = (const tnn_batchnorm *)m;
    snprintf(buf, len, "%s(%d, eps=%g, momentum=%g)", b->kind, b->c, b->p.eps, b->p.momentum);
}

/* The element-wise passes are split over threads when each part has this many values. */
#define BN_MIN_SPLIT 16384

/* The per-feature statistics are computed by one thread (a float sum over the batch in
 * batch order, as torch adds); the element-wise passes over [batch x features] are split
 * by rows over the library's threads, as the matrix products around them are, with the
 * same bits on any thread count. */
typedef struct bn_job {
    tnn_batchnorm *b;
    const float *x, *g; /* input; dL/dy (backward) */
    float *out;         /* y, or dL/dx (NULL: not wanted) */
    int n;
    bool batch_stats;
    bool grads;         /* BatchNorm2d backward: add the parameter gradients */
    size_t hw;          /* values per channel per sample (1: the [N x C] code) */
    int group;          /* BatchNorm2d: channels per task */
} bn_job;

/* From the batch's mean and var_sum (in b->mean and b->invstd) over n values per
 * feature: the running statistics' update and invstd; or, for eval, the running
 * statistics; then alpha and beta (b->acc). */
TNN_CLONES static void bn_finish(tnn_batchnorm *b, int64_t n, bool batch_stats)
{
    const int c = b->c;
    float *alpha = b->acc, *beta = b->acc + c;
    if (batch_stats) {
        float *mean = b->mean, *var_sum = b->invstd;
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

/* The batch statistics (and the running statistics' update), or the running ones in
 * eval mode, then alpha and beta. */
TNN_CLONES static void bn_stats(const bn_job *job)
{
    tnn_batchnorm *b = job->b;
    const int n = job->n, c = b->c;
    const float *xd = job->x;
    if (job->batch_stats) {
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
    }
    bn_finish(b, n, job->batch_stats);
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

/* ---- BatchNorm2d with an image larger than one value: torch's "contiguous" kernel,
 * one channel at a time (its N planes of hw values). */

/* The channels [c0, c1) of a task (job->group channels each). */
static void bn2d_task_channels(const bn_job *job, int task, int *c0, int *c1)
{
    *c0 = task * job->group;
    *c1 = job->b->c - *c0 < job->group ? job->b->c : *c0 + job->group;
}

/* Runs fn over the channels, in tasks of at least about BN_MIN_SPLIT values that go to
 * the library's threads (each channel is computed alone: the same bits on any count). */
static void bn2d_over_channels(bn_job *job, tnn_task_fn fn)
{
    const int c = job->b->c;
    const size_t per = (size_t)job->n * job->hw; /* values per channel */
    size_t group = per >= BN_MIN_SPLIT ? 1 : BN_MIN_SPLIT / per;
    if (group > (size_t)c) group = (size_t)c;
    job->group = (int)group;
    tnn_parallel_tasks((int)(((size_t)c + group - 1) / group), fn, job);
}

/* torch (batch_norm_cpu_collect_stats_contiguous_impl): per channel, the sum of its
 * values in memory order in double, mean = sum / count rounded to float, then var_sum =
 * the double sum of the float products (x - mean) * (x - mean), rounded to float. The
 * mean and var_sum go where bn_stats puts them (b->mean, b->invstd) for bn_finish. */
TNN_CLONES static void bn2d_stats_task(void *ctx, int task)
{
    const bn_job *job = ctx;
    tnn_batchnorm *b = job->b;
    const int n = job->n, c = b->c;
    const size_t hw = job->hw;
    const double count = (double)n * (double)hw;
    int c0, c1;
    bn2d_task_channels(job, task, &c0, &c1);
    for (int ch = c0; ch < c1; ch++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *p = job->x + ((size_t)i * (size_t)c + (size_t)ch) * hw;
            for (size_t k = 0; k < hw; k++) sum += p[k];
        }
        const float mean = (float)(sum / count);
        double var_sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *p = job->x + ((size_t)i * (size_t)c + (size_t)ch) * hw;
            for (size_t k = 0; k < hw; k++) {
                const float d = p[k] - mean;
                var_sum += (double)(d * d);
            }
        }
        b->mean[ch] = mean;
        b->invstd[ch] = (float)var_sum;
    }
}

/* y = x * alpha + beta (fused, as torch's kernel0) over a task's channels. */
TNN_CLONES static void bn2d_apply_task(void *ctx, int task)
{
    const bn_job *job = ctx;
    const int n = job->n, c = job->b->c;
    const size_t hw = job->hw;
    const float *alpha = job->b->acc, *beta = job->b->acc + c;
    int c0, c1;
    bn2d_task_channels(job, task, &c0, &c1);
    for (int ch = c0; ch < c1; ch++) {
        const float a = alpha[ch], be = beta[ch];
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * (size_t)c + (size_t)ch) * hw;
            const float *p = job->x + off;
            float *o = job->out + off;
            for (size_t k = 0; k < hw; k++) o[k] = fmaf(p[k], a, be);
        }
    }
}

static void bn2d_forward_run(bn_job *job)
{
    const int64_t count = (int64_t)job->n * (int64_t)job->hw;
    if (job->batch_stats) bn2d_over_channels(job, bn2d_stats_task);
    bn_finish(job->b, count, job->batch_stats);
    bn2d_over_channels(job, bn2d_apply_task);
}

/* torch's vec::reduce_all of a plane's n floats with + (AVX2, 8 lanes): fewer than 8
 * are added in order; otherwise lane l adds the elements l, l+8, l+16, ... (the last,
 * partial, vector into the first lanes), and the lanes are folded as
 * ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
static inline float bn_lane_fold(const float a[8])
{
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

static inline float bn_lane_sum(const float *v, size_t n)
{
    if (n < 8) {
        float s = v[0];
        for (size_t k = 1; k < n; k++) s += v[k];
        return s;
    }
    float a[8];
    for (int l = 0; l < 8; l++) a[l] = v[l];
    size_t d = 8;
    for (const size_t full = n - n % 8; d < full; d += 8)
        for (int l = 0; l < 8; l++) a[l] += v[d + l];
    for (size_t l = 0; d + l < n; l++) a[l] += v[d + l];
    return bn_lane_fold(a);
}

/* vec::map2_reduce_all of (x - mean) * dy with +: the same lanes; the first vector's
 * products are rounded, the later ones added with a fused multiply-add (as torch's
 * kernel, as compiled); below 8 elements rounded products added in order. */
static inline float bn_lane_dot(const float *x, const float *g, float mean, size_t n)
{
    if (n < 8) {
        float s = (x[0] - mean) * g[0];
        for (size_t k = 1; k < n; k++) s += (x[k] - mean) * g[k];
        return s;
    }
    float a[8];
    for (int l = 0; l < 8; l++) a[l] = (x[l] - mean) * g[l];
    size_t d = 8;
    for (const size_t full = n - n % 8; d < full; d += 8)
        for (int l = 0; l < 8; l++) a[l] = fmaf(x[d + l] - mean, g[d + l], a[l]);
    for (size_t l = 0; d + l < n; l++) a[l] = fmaf(x[d + l] - mean, g[d + l], a[l]);
    return bn_lane_fold(a);
}

/* torch (batch_norm_cpu_backward_contiguous_impl), per channel: sum = the double sum
 * over the samples of each plane's bn_lane_sum of dy, dotp likewise of bn_lane_dot;
 * dweight = dotp * invstd (double, rounded), dbias = sum; in training
 *     k = (float)dotp * invstd * invstd / count,  grad_mean = sum / count (double),
 *     dx = (dy - grad_mean - (x - mean) * k) * invstd * w   (the last product fused),
 * in eval dx = dy * invstd * w (invstd of the running variance, in double). */
TNN_CLONES static void bn2d_backward_task(void *ctx, int task)
{
    const bn_job *job = ctx;
    tnn_batchnorm *b = job->b;
    const int n = job->n, c = b->c;
    const size_t hw = job->hw;
    const double count = (double)n * (double)hw;
    int c0, c1;
    bn2d_task_channels(job, task, &c0, &c1);
    for (int ch = c0; ch < c1; ch++) {
        const float mean = b->used_batch_stats ? b->mean[ch] : b->running_mean[ch], invstd = b->invstd[ch];
        double sum = 0.0, dotp = 0.0;
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * (size_t)c + (size_t)ch) * hw;
            sum += bn_lane_sum(job->g + off, hw);
            dotp += bn_lane_dot(job->x + off, job->g + off, mean, hw);
        }
        if (job->grads) {
            b->dweight[ch] += (float)(dotp * invstd);
            b->dbias[ch] += (float)sum;
        }
        if (!job->out) continue;
        const float w = b->weight ? b->weight[ch] : 1.0f;
        if (b->used_batch_stats) {
            const float k = (float)dotp * invstd * invstd / (float)count, grad_mean = (float)(sum / count);
            for (int i = 0; i < n; i++) {
                const size_t off = ((size_t)i * (size_t)c + (size_t)ch) * hw;
                const float *xp = job->x + off, *gp = job->g + off;
                float *o = job->out + off;
                for (size_t j = 0; j < hw; j++) o[j] = fmaf(-(xp[j] - mean), k, gp[j] - grad_mean) * invstd * w;
            }
        } else {
            for (int i = 0; i < n; i++) {
                const size_t off = ((size_t)i * (size_t)c + (size_t)ch) * hw;
                const float *gp = job->g + off;
                float *o = job->out + off;
                for (size_t j = 0; j < hw; j++) o[j] = gp[j] * invstd * w;
            }
        }
    }
}

static bool bn_is_2d(const tnn_module *m);

static tnn_status bn_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_batchnorm *b = (tnn_batchnorm *)m;
    const int c = b->c;
    const bool two_d = bn_is_2d(m);
    char s[64];
    if (!two_d && (x->ndim != 2 || x->shape[1] != c))
        return tnn_error(TNN_ERR_SHAPE, "batchnorm1d(%d): input %s, expected [batch x %d]", c,
                         tnn_tensor_shape_str(x, s, sizeof s), c);
    if (two_d && (x->ndim != 4 || x->shape[1] != c))
        return tnn_error(TNN_ERR_SHAPE, "batchnorm2d(%d): input %s, expected [batch x %d x H x W]", c,
                         tnn_tensor_shape_str(x, s, sizeof s), c);
    const int n = x->shape[0];
    const size_t hw = two_d ? (size_t)x->shape[2] * (size_t)x->shape[3] : 1;
    bool batch_stats = m->training || !b->p.track_running_stats;
    if (batch_stats && (size_t)n * hw < 2) {
        if (!two_d)
            return tnn_error(TNN_ERR_SHAPE, "batchnorm1d(%d): training needs more than 1 value per feature, got input [%d x %d]", c, n, c);
        return tnn_error(TNN_ERR_SHAPE, "batchnorm2d(%d): training needs more than 1 value per channel, got input %s", c,
                         tnn_tensor_shape_str(x, s, sizeof s));
    }
    if (tnn_tensor_overlaps(x, &b->y)) return tnn_error_own_output(m);
    if (batch_stats && b->p.track_running_stats && (b->num_batches_tracked < 0 || b->num_batches_tracked == INT64_MAX))
        return tnn_error(TNN_ERR_STATE, "%s(%d): num_batches_tracked is %lld, which cannot be counted on "
                         "(a loaded state?); it must be 0 to 2^63 - 2", b->kind, c, (long long)b->num_batches_tracked);
    tnn_status st = two_d ? tnn_tensor_ensure_like(&b->y, x, "batchnorm2d output")
                          : tnn_tensor_ensure2(&b->y, n, c, "batchnorm1d output");
    if (st) return st;
    bn_job job = {.b = b, .x = x->data, .out = b->y.data, .n = n, .batch_stats = batch_stats, .hw = hw};
    if (hw == 1) /* [N x C], or [N x C x 1 x 1]: the same memory, and torch's same kernel */
        sums_then_rows(bn_stats, &job, bn_apply_rows);
    else
        bn2d_forward_run(&job);
    if (batch_stats && b->p.track_running_stats) b->num_batches_tracked++;
    b->x = x->data;
    b->rows = n;
    b->hw = hw;
    b->x_ndim = x->ndim;
    memcpy(b->x_shape, x->shape, (size_t)x->ndim * sizeof(int));
    b->used_batch_stats = batch_stats;
    *y = &b->y;
    return TNN_OK;
}

/* The backward sums over the batch, on one thread (see bn_stats): the parameter
 * gradients, and the per-feature factors of dL/dx. */
TNN_CLONES static void bn_backward_sums(const bn_job *job)
{
    tnn_batchnorm *b = job->b;
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
    const tnn_batchnorm *b = job->b;
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
    tnn_batchnorm *b = (tnn_batchnorm *)m;
    int n = b->rows, c = b->c;
    if (!b->x) return tnn_error(TNN_ERR_STATE, "%s(%d): backward called before forward", b->kind, c);
    const size_t nx = (size_t)n * (size_t)c * (size_t)b->hw;
    if (dy->size != nx) {
        char s[64], o[64];
        return tnn_error(TNN_ERR_SHAPE, "%s(%d): dy %s does not match the output %s", b->kind, c,
                         tnn_tensor_shape_str(dy, s, sizeof s), tnn_tensor_shape_str(&b->y, o, sizeof o));
    }
    tnn_tensor *out = NULL;
    if (dx) { /* before any gradient is added: a failure leaves the module as it was */
        tnn_status st = tnn_pick_dx(m, b->dx, b->x, nx, dy, b->x_ndim, b->x_shape, &out);
        if (st) return st;
    }
    bn_job job = {.b = b, .x = b->x, .g = dy->data, .out = out ? out->data : NULL, .n = n, .hw = b->hw};
    if (b->hw == 1) {
        sums_then_rows(bn_backward_sums, &job, bn_dx_rows);
    } else {
        if (!b->used_batch_stats) /* torch: 1 / sqrt(running_var + eps) in double, as bn_backward_sums */
            for (int j = 0; j < c; j++) b->invstd[j] = (float)(1.0 / sqrt((double)b->running_var[j] + b->p.eps));
        job.grads = b->base.requires_grad && b->weight;
        if (job.grads) b->grad_none = false;
        bn2d_over_channels(&job, bn2d_backward_task);
    }
    if (dx) *dx = out;
    return TNN_OK;
}

static tnn_status bn_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_batchnorm *b = (tnn_batchnorm *)m;
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
    tnn_batchnorm *b = (tnn_batchnorm *)m;
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
    tnn_batchnorm *b = (tnn_batchnorm *)m;
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

static const tnn_module_vtable bn2d_vt = {
    .type_name = "batchnorm2d",
    .forward = bn_forward,
    .backward = bn_backward,
    .visit = bn_visit,
    .describe = bn_describe,
    .free = bn_free,
    .discard_grad = bn_discard_grad,
};

static bool bn_is_2d(const tnn_module *m) { return m->vt == &bn2d_vt; }

bool tnn_is_batchnorm1d(const tnn_module *m) { return m && m->vt == &bn_vt; }
const tnn_tensor *tnn_batchnorm1d_output_buffer(const tnn_module *m) { return &((const tnn_batchnorm *)m)->y; }
const tnn_tensor *tnn_batchnorm2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &bn2d_vt ? &((const tnn_batchnorm *)m)->y : NULL;
}

static tnn_module *bn_new(const tnn_module_vtable *vt, int c, tnn_batchnorm_params p)
{
    const char *kind = vt->type_name;
    if (c < 1) {
        tnn_error(TNN_ERR_ARG, "%s(%d): num_features must be >= 1", kind, c);
        return NULL;
    }
    if (tnn_settings_refused(p.tag, kind, "tnn_batchnorm_defaults")) return NULL;
    if (!(p.eps >= 0.0) || !isfinite(p.eps) || !(p.momentum >= 0.0 && p.momentum <= 1.0)) {
        tnn_error(TNN_ERR_ARG, "%s(%d): eps must be finite and >= 0, momentum in [0, 1] (got eps=%g, momentum=%g)",
                  kind, c, p.eps, p.momentum);
        return NULL;
    }
    tnn_batchnorm *b = tnn_calloc(1, sizeof *b, kind);
    if (!b) return NULL;
    tnn_module_init(&b->base, vt);
    b->kind = kind;
    b->c = c;
    b->p = p;
    tnn_tensor_init_empty(&b->y);
    tnn_tensor_init_empty(&b->dx[0]);
    tnn_tensor_init_empty(&b->dx[1]);
    float *blk = tnn_calloc((size_t)c * 8, sizeof(float), vt == &bn_vt ? "batchnorm1d parameters" : "batchnorm2d parameters");
    b->acc = tnn_calloc((size_t)c * 2, sizeof(float), vt == &bn_vt ? "batchnorm1d scratch" : "batchnorm2d scratch");
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

tnn_module *tnn_batchnorm1d_new(int c, tnn_batchnorm_params p) { return bn_new(&bn_vt, c, p); }
tnn_module *tnn_batchnorm2d_new(int c, tnn_batchnorm_params p) { return bn_new(&bn2d_vt, c, p); }
