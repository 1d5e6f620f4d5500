/* BatchNorm1d over [batch x features], PyTorch's nn.BatchNorm1d.
 *
 * Training: y = (x - mean) / sqrt(var + eps) * weight + bias with the batch mean and
 * the biased batch variance; running_mean/var move towards the batch mean and the
 * unbiased variance by `momentum`; num_batches_tracked counts the updates.
 * Eval: the same with the running statistics. Statistics are accumulated in double. */
#include "tnn_impl.h"

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
    double *acc;                              /* scratch: 2*c doubles */
    const float *x;
    int rows;
    bool used_batch_stats;                    /* last forward normalised with batch stats */
    tnn_tensor y, dx;
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
    tnn_status st = tnn_tensor_ensure2(&b->y, n, c, "batchnorm1d output");
    if (st) return st;
    const float *xd = x->data;
    if (batch_stats) {
        double *sum = b->acc, *sq = b->acc + c;
        for (int j = 0; j < c; j++) sum[j] = sq[j] = 0.0;
        for (int i = 0; i < n; i++) {
            const float *r = xd + (size_t)i * c;
            for (int j = 0; j < c; j++) sum[j] += r[j];
        }
        for (int j = 0; j < c; j++) sum[j] /= n;
        for (int i = 0; i < n; i++) {
            const float *r = xd + (size_t)i * c;
            for (int j = 0; j < c; j++) {
                double d = (double)r[j] - sum[j];
                sq[j] += d * d;
            }
        }
        for (int j = 0; j < c; j++) {
            double var = sq[j] / n;
            b->mean[j] = (float)sum[j];
            b->invstd[j] = (float)(1.0 / sqrt(var + b->p.eps));
            if (b->p.track_running_stats) {
                double mom = b->p.momentum, unbiased = sq[j] / (n - 1);
                b->running_mean[j] = (float)((1.0 - mom) * b->running_mean[j] + mom * sum[j]);
                b->running_var[j] = (float)((1.0 - mom) * b->running_var[j] + mom * unbiased);
            }
        }
        if (b->p.track_running_stats) b->num_batches_tracked++;
    } else {
        for (int j = 0; j < c; j++) {
            b->mean[j] = b->running_mean[j];
            b->invstd[j] = (float)(1.0 / sqrt((double)b->running_var[j] + b->p.eps));
        }
    }
    /* y = (x - mean) * invstd * w + b */
    float *yd = b->y.data;
    for (int i = 0; i < n; i++) {
        const float *r = xd + (size_t)i * c;
        float *o = yd + (size_t)i * c;
        if (b->weight) {
            for (int j = 0; j < c; j++) o[j] = (r[j] - b->mean[j]) * b->invstd[j] * b->weight[j] + b->bias[j];
        } else {
            for (int j = 0; j < c; j++) o[j] = (r[j] - b->mean[j]) * b->invstd[j];
        }
    }
    b->x = xd;
    b->rows = n;
    b->used_batch_stats = batch_stats;
    *y = &b->y;
    return TNN_OK;
}

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
    /* sum_dy[j] = sum_i dy, dot[j] = sum_i dy * (x - mean) */
    double *sum_dy = b->acc, *dot = b->acc + c;
    for (int j = 0; j < c; j++) sum_dy[j] = dot[j] = 0.0;
    const float *g = dy->data, *xd = b->x;
    for (int i = 0; i < n; i++) {
        const float *gr = g + (size_t)i * c, *xr = xd + (size_t)i * c;
        for (int j = 0; j < c; j++) {
            sum_dy[j] += gr[j];
            dot[j] += (double)gr[j] * ((double)xr[j] - b->mean[j]);
        }
    }
    if (m->requires_grad && b->weight) {
        for (int j = 0; j < c; j++) {
            b->dweight[j] += (float)(dot[j] * b->invstd[j]);
            b->dbias[j] += (float)sum_dy[j];
        }
    }
    if (!dx) return TNN_OK;
    tnn_status st = tnn_tensor_ensure2(&b->dx, n, c, "batchnorm1d dx");
    if (st) return st;
    float *out = b->dx.data;
    if (b->used_batch_stats) {
        /* dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean))) * invstd * w */
        for (int j = 0; j < c; j++) {
            double is = b->invstd[j];
            dot[j] = dot[j] * is * is / n;  /* k */
            sum_dy[j] /= n;                 /* mean of dy */
        }
        for (int i = 0; i < n; i++) {
            const float *gr = g + (size_t)i * c, *xr = xd + (size_t)i * c;
            float *o = out + (size_t)i * c;
            for (int j = 0; j < c; j++) {
                double w = b->weight ? b->weight[j] : 1.0;
                double v = ((double)gr[j] - sum_dy[j] - ((double)xr[j] - b->mean[j]) * dot[j]) * b->invstd[j] * w;
                o[j] = (float)v;
            }
        }
    } else {
        for (int i = 0; i < n; i++) {
            const float *gr = g + (size_t)i * c;
            float *o = out + (size_t)i * c;
            for (int j = 0; j < c; j++) o[j] = gr[j] * b->invstd[j] * (b->weight ? b->weight[j] : 1.0f);
        }
    }
    *dx = &b->dx;
    return TNN_OK;
}

static tnn_status bn_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_batchnorm1d *b = (tnn_batchnorm1d *)m;
    int shape[1] = {b->c};
    tnn_status st = TNN_OK;
    if (b->weight) {
        st = tnn_visit_one(prefix, "weight", TNN_F32, b->weight, b->dweight, 1, shape, true, fn, ctx);
        if (!st) st = tnn_visit_one(prefix, "bias", TNN_F32, b->bias, b->dbias, 1, shape, true, fn, ctx);
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
    tnn_tensor_release(&b->dx);
    tnn_free(b);
}

static const tnn_module_vtable bn_vt = {
    .type_name = "batchnorm1d",
    .forward = bn_forward,
    .backward = bn_backward,
    .visit = bn_visit,
    .describe = bn_describe,
    .free = bn_free,
};

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
    tnn_tensor_init_empty(&b->dx);
    float *blk = tnn_calloc((size_t)c * 8, sizeof(float), "batchnorm1d parameters");
    b->acc = tnn_calloc((size_t)c * 2, sizeof(double), "batchnorm1d scratch");
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
