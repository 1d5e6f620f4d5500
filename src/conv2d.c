/* Conv2d: PyTorch's nn.Conv2d (groups 1, dilation 1, zero padding), as im2col and
 * products through the library's gemm wrapper.
 *
 * Layout. cols is the im2col matrix of the whole batch, [K x N*P] (K = in*k*k rows, one
 * per input channel and kernel offset; P = Hout*Wout columns per sample, sample s in
 * columns [s*P, (s+1)*P)), built by the forward and kept for the backward. With it:
 *   forward   y_s [out x P]  = W [out x K] cols_s [K x P] (+ b), sample by sample;
 *   backward  dW [out x K]  (+)= dyT [out x N*P] cols^T    one product over the batch,
 *             dcols_s [K x P] = W^T dy_s,                  sample by sample (dy_s read in
 *                                                          place), then col2im at once,
 *             db [out]      (+)= the sums of dyT's rows,     in double,
 * where dyT is dy [N x out x P] regrouped by channel (a copy, made only for dW and db). */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct tnn_conv2d {
    tnn_module base;
    int in, out, k, stride, pad;
    int kk;                    /* K = in * k * k: a column's length, the weight's row */
    float *weight, *bias;      /* [out x in x k x k], [out] (bias NULL when disabled) */
    float *dweight, *dbias;
    const float *x;            /* input of the last forward (borrowed; backward reads
                                  cols, but writes no dL/dx over it: tnn_pick_dx) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int n, h, w, ho, wo;       /* the last forward's batch, input and output sizes */
    bool grad_owed;            /* as Linear's (linear.c) */
    bool grad_none;
    tnn_tensor y, dx[2];       /* dL/dx: see tnn_pick_dx */
    tnn_tensor cols;           /* [K x N*P], the last forward's im2col */
    tnn_tensor dyt;            /* [out x N*P], dy regrouped by channel */
    tnn_tensor dcols;          /* [K x N*P], W^T dyT */
    tnn_tensor dw_new;         /* [out x K]: this backward's dW, added afterwards */
} tnn_conv2d;

static void conv_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_conv2d *c = (const tnn_conv2d *)m;
    snprintf(buf, len, "conv2d(%d->%d, k%d, s%d, p%d%s)", c->in, c->out, c->k, c->stride, c->pad,
             c->bias ? "" : ", no bias");
}

/* The output columns [*lo, *hi) whose input index o*stride - pad + off lies in [0, size). */
static void valid_range(int outsize, int size, int stride, int pad, int off, int *lo, int *hi)
{
    int a = pad - off, b = size + pad - off; /* o*stride in [a, b) */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride, h = b <= 0 ? 0 : (b - 1) / stride + 1;
    if (h > outsize) h = outsize;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* cols rows for one sample: x [in x h x w] -> dst[r * ld + oh * wo + ow], r = (ci*k + ki)*k + kj.
 * Per row: the output rows whose input row is padding are zeroed in one run; the valid
 * ones get their valid columns copied and the padded columns zeroed. With stride 1 and
 * w == wo (the usual "same" padding), the valid block is one shifted contiguous copy of
 * x, after which only the padded columns are zeroed. */
static void im2col(const tnn_conv2d *c, const float *x, float *dst, size_t ld)
{
    const int k = c->k, s = c->stride, h = c->h, w = c->w, ho = c->ho, wo = c->wo, pad = c->pad;
    for (int ci = 0; ci < c->in; ci++) {
        const float *xc = x + (size_t)ci * (size_t)h * (size_t)w;
        for (int ki = 0; ki < k; ki++) {
            int ohlo, ohhi; /* output rows whose input row oh*s - pad + ki is in [0, h) */
            valid_range(ho, h, s, pad, ki, &ohlo, &ohhi);
            for (int kj = 0; kj < k; kj++) {
                float *restrict d = dst + (size_t)((ci * k + ki) * k + kj) * ld;
                int lo, hi;
                valid_range(wo, w, s, pad, kj, &lo, &hi);
                const ptrdiff_t off = kj - pad;
                if (ohlo >= ohhi || lo >= hi) {
                    memset(d, 0, (size_t)ho * (size_t)wo * sizeof(float));
                    continue;
                }
                memset(d, 0, (size_t)ohlo * (size_t)wo * sizeof(float));
                memset(d + (size_t)ohhi * (size_t)wo, 0, (size_t)(ho - ohhi) * (size_t)wo * sizeof(float));
                if (s == 1 && w == wo) {
                    /* d[i] = xc[i + shift] over [ohlo*wo + lo, (ohhi-1)*wo + hi): both ends are
                     * valid entries, so every source index lies inside channel ci */
                    const ptrdiff_t shift = (ptrdiff_t)(ki - pad) * w + off;
                    const size_t b = (size_t)ohlo * (size_t)wo + (size_t)lo, e = (size_t)(ohhi - 1) * (size_t)wo + (size_t)hi;
                    memcpy(d + b, xc + (ptrdiff_t)b + shift, (e - b) * sizeof(float));
                    for (int oh = ohlo; oh < ohhi; oh++) { /* the padded columns (wrapped around) */
                        float *dr = d + (size_t)oh * (size_t)wo;
                        for (int ow = 0; ow < lo; ow++) dr[ow] = 0.0f;
                        for (int ow = hi; ow < wo; ow++) dr[ow] = 0.0f;
                    }
                    continue;
                }
                const int nv = hi - lo;
                for (int oh = ohlo; oh < ohhi; oh++) {
                    float *restrict dr = d + (size_t)oh * (size_t)wo;
                    /* input column lo*s + off onwards, s apart */
                    const float *restrict xr = xc + (size_t)(oh * s - pad + ki) * (size_t)w + ((ptrdiff_t)lo * s + off);
                    for (int ow = 0; ow < lo; ow++) dr[ow] = 0.0f;
                    if (s == 1) for (int i = 0; i < nv; i++) dr[lo + i] = xr[i];
                    else for (int i = 0; i < nv; i++) dr[lo + i] = xr[(ptrdiff_t)i * s];
                    for (int ow = hi; ow < wo; ow++) dr[ow] = 0.0f;
                }
            }
        }
    }
}

/* dx for one sample [in x h x w] = the sum of its cols rows put back where im2col took
 * them from: written afresh, rows in order (each dx element gets its terms in row order),
 * so in a fixed order on any thread. src is [K x P] with rows ld apart. */
static void col2im(const tnn_conv2d *c, const float *src, size_t ld, float *dx)
{
    const int k = c->k, s = c->stride, h = c->h, w = c->w, wo = c->wo, pad = c->pad;
    memset(dx, 0, (size_t)c->in * (size_t)h * (size_t)w * sizeof(float));
    for (int ci = 0; ci < c->in; ci++) {
        float *xc = dx + (size_t)ci * (size_t)h * (size_t)w;
        for (int ki = 0; ki < k; ki++) {
            int ohlo, ohhi;
            valid_range(c->ho, h, s, pad, ki, &ohlo, &ohhi);
            for (int kj = 0; kj < k; kj++) {
                const float *d = src + (size_t)((ci * k + ki) * k + kj) * ld;
                int lo, hi;
                valid_range(wo, w, s, pad, kj, &lo, &hi);
                const ptrdiff_t off = kj - pad;
                const int nv = hi - lo;
                if (nv <= 0) continue;
                for (int oh = ohlo; oh < ohhi; oh++) {
                    const float *restrict dr = d + (size_t)oh * (size_t)wo + lo;
                    float *restrict xr = xc + (size_t)(oh * s - pad + ki) * (size_t)w + ((ptrdiff_t)lo * s + off);
                    if (s == 1) for (int i = 0; i < nv; i++) xr[i] += dr[i];
                    else for (int i = 0; i < nv; i++) xr[(ptrdiff_t)i * s] += dr[i];
                }
            }
        }
    }
}

typedef struct fwd_job {
    tnn_conv2d *c;
    const float *x;
} fwd_job;

/* Sample s: its columns of cols, then y_s = b + W cols_s, one product on this thread
 * (tnn_gemm_whole): a sample's bits do not depend on the thread count or on which
 * thread runs it. */
static void forward_sample(void *ctx, int s)
{
    const fwd_job *j = ctx;
    tnn_conv2d *c = j->c;
    const int P = c->ho * c->wo;
    const size_t ld = (size_t)c->n * (size_t)P;
    float *cs = c->cols.data + (size_t)s * (size_t)P, *ys = c->y.data + (size_t)s * (size_t)c->out * (size_t)P;
    im2col(c, j->x + (size_t)s * (size_t)c->in * (size_t)c->h * (size_t)c->w, cs, ld);
    if (c->bias) /* y starts as the bias, and the product is added (beta 1) */
        for (int o = 0; o < c->out; o++)
            for (int p = 0; p < P; p++) ys[(size_t)o * (size_t)P + (size_t)p] = c->bias[o];
    const tnn_gemm_args g = {false, false, c->out, P, c->kk, 1.0f, c->weight, c->kk, cs, (int)ld,
                             c->bias ? 1.0f : 0.0f, ys, P, NULL};
    tnn_gemm_whole(&g);
}

static tnn_status conv_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    char s[64], d[64];
    if (x->ndim != 3 && x->ndim != 4)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x %d x H x W] (or one sample [%d x H x W])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), x->ndim, c->in,
                         c->in);
    const int b = x->ndim - 3; /* index of the channel dimension */
    const int n = b ? x->shape[0] : 1, ch = x->shape[b], h = x->shape[b + 1], w = x->shape[b + 2];
    if (ch != c->in)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has %d channels, expected %d ([batch x %d x H x W])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), ch, c->in, c->in);
    const long long hp = (long long)h + 2LL * c->pad, wp = (long long)w + 2LL * c->pad;
    if (hp < c->k || wp < c->k)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d x %d, %lld x %lld padded, smaller than the %d x %d kernel",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), h, w, hp, wp, c->k,
                         c->k);
    const long long ho = (hp - c->k) / c->stride + 1, wo = (wp - c->k) / c->stride + 1;
    if ((long long)n * ho * wo > INT_MAX || (long long)c->out * ho * wo > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s gives %lld x %lld outputs per channel for %d samples: more "
                         "than the products take (%d columns)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), ho, wo, n, INT_MAX);
    if (tnn_tensor_overlaps(x, &c->y)) return tnn_error_own_output(m);
    const int P = (int)(ho * wo);
    tnn_status st = tnn_tensor_ensure2(&c->cols, c->kk, n * P, "conv2d columns");
    if (st) return st;
    int yshape[4] = {n, c->out, (int)ho, (int)wo};
    st = tnn_tensor_resize(&c->y, x->ndim, b ? yshape : yshape + 1);
    if (st == TNN_ERR_NOMEM) return tnn_error(st, "conv2d output: out of memory for %zu floats", (size_t)n * c->out * P);
    if (st) return st;
    c->n = n;
    c->h = h;
    c->w = w;
    c->ho = (int)ho;
    c->wo = (int)wo;
    fwd_job j = {c, x->data};
    tnn_parallel_tasks(n, forward_sample, &j); /* samples are independent: any thread, same bits */
    c->x = x->data;
    c->x_ndim = x->ndim;
    memcpy(c->x_shape, x->shape, sizeof c->x_shape);
    *y = &c->y;
    return TNN_OK;
}

typedef struct bwd_job {
    tnn_conv2d *c;
    const float *dy;
    float *dx;
    bool add;
} bwd_job;

/* dyT [out x N*P] <- dy [N x out x P], sample s's rows. */
static void regroup_sample(void *ctx, int s)
{
    const bwd_job *j = ctx;
    const tnn_conv2d *c = j->c;
    const size_t P = (size_t)c->ho * (size_t)c->wo, ld = (size_t)c->n * P;
    for (int o = 0; o < c->out; o++)
        memcpy(c->dyt.data + (size_t)o * ld + (size_t)s * P, j->dy + ((size_t)s * (size_t)c->out + (size_t)o) * P,
               P * sizeof(float));
}

/* Sample s: dcols_s [K x P] = W^T dy_s (dy_s [out x P] read in place), one product on
 * this thread (tnn_gemm_whole), into the sample's own block of dcols, then col2im while
 * it is still in the caches: the sample's dx is written by this task alone, in a fixed
 * order, whatever the thread count. */
static void dx_sample(void *ctx, int s)
{
    const bwd_job *j = ctx;
    const tnn_conv2d *c = j->c;
    const int P = c->ho * c->wo;
    float *ds = c->dcols.data + (size_t)s * (size_t)c->kk * (size_t)P;
    const tnn_gemm_args g = {true, false, c->kk, P, c->out, 1.0f, c->weight, c->kk,
                             j->dy + (size_t)s * (size_t)c->out * (size_t)P, P, 0.0f, ds, P, NULL};
    tnn_gemm_whole(&g);
    col2im(c, ds, (size_t)P, j->dx + (size_t)s * (size_t)c->in * (size_t)c->h * (size_t)c->w);
}

/* db[o] (+)= the sum of dyT's row o: in double, in 8 lanes (lane i takes the elements
 * i mod 8 of the row, in order; the lanes are then added in a fixed tree), and rounded
 * once; the same on any thread. torch sums in float, in an order of its own. */
static void bias_channel(void *ctx, int o)
{
    const bwd_job *j = ctx;
    const tnn_conv2d *c = j->c;
    const size_t ld = (size_t)c->n * (size_t)c->ho * (size_t)c->wo;
    const float *r = c->dyt.data + (size_t)o * ld;
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= ld; i += 8)
        for (int l = 0; l < 8; l++) a[l] += r[i + (size_t)l];
    for (int l = 0; i < ld; i++, l++) a[l] += r[i];
    const double acc = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    c->dbias[o] = j->add ? c->dbias[o] + (float)acc : (float)acc;
}

/* Tasks run inline below this many elements: the pool's hand-over costs more. */
#define CONV_TASK_MIN 16384

static void run_tasks(int ntasks, size_t elements, tnn_task_fn fn, void *ctx)
{
    if (elements < CONV_TASK_MIN)
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
    else tnn_parallel_tasks(ntasks, fn, ctx);
}

static tnn_status conv_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    char d[64];
    if (!c->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    const int P = c->ho * c->wo, NP = c->n * P;
    if (dy->size != (size_t)c->out * (size_t)NP) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output [%d x %d x %d x %d]",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(dy, s, sizeof s), c->n, c->out, c->ho,
                         c->wo);
    }
    const bool grads = m->requires_grad;
    if (!grads && !dx) return TNN_OK;
    /* Every buffer before any gradient is written: a failure leaves the module as it was. */
    tnn_tensor *out = NULL;
    const size_t nx = (size_t)c->n * (size_t)c->in * (size_t)c->h * (size_t)c->w;
    tnn_status st = TNN_OK;
    if (dx) st = tnn_pick_dx(m, c->dx, c->x, nx, dy, c->x_ndim, c->x_shape, &out);
    if (!st && grads) st = tnn_tensor_ensure2(&c->dyt, c->out, NP, "conv2d dy by channel");
    if (!st && dx) st = tnn_tensor_ensure2(&c->dcols, c->kk, NP, "conv2d column gradient"); /* [N x K x P] */
    const bool add = grads && !c->grad_owed;
    if (!st && add) st = tnn_tensor_ensure2(&c->dw_new, c->out, c->kk, "conv2d weight gradient");
    if (st) return st;
    bwd_job j = {c, dy->data, out ? out->data : NULL, add};
    if (grads) {
        run_tasks(c->n, (size_t)c->out * (size_t)NP, regroup_sample, &j);
        /* dW = dyT cols^T over the whole batch */
        const tnn_gemm_args gw = {false, true, c->out, c->kk, NP, 1.0f, c->dyt.data, NP, c->cols.data, NP,
                                  0.0f, add ? c->dw_new.data : c->dweight, c->kk, NULL};
        c->grad_owed = c->grad_none = false;
        tnn_gemm_run(&gw);
        if (add) { /* as torch adds a new gradient to .grad: computed alone, then added */
            tnn_parallel_add(c->dweight, c->dw_new.data, (size_t)c->out * (size_t)c->kk);
        }
        if (c->bias) run_tasks(c->out, (size_t)c->out * (size_t)NP, bias_channel, &j);
    }
    if (dx) {
        run_tasks(c->n, (size_t)c->kk * (size_t)NP, dx_sample, &j);
        *dx = out;
    }
    return TNN_OK;
}

/* The next backward writes the gradients, or the next visit zeroes them (as Linear). */
static void conv_discard_grad(tnn_module *m)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    c->grad_owed = c->grad_none = true;
}

static tnn_status conv_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    const size_t nw = (size_t)c->out * (size_t)c->kk;
    if (c->grad_owed) { /* the gradients are about to be seen: make them read as zero */
        memset(c->dweight, 0, (nw + (c->bias ? (size_t)c->out : 0)) * sizeof(float));
        c->grad_owed = false;
    }
    const bool none = c->grad_none;
    tnn_status st = tnn_visit_param(prefix, "weight", c->weight, c->dweight, 4, (int[]){c->out, c->in, c->k, c->k}, none,
                                    fn, ctx);
    if (st == TNN_OK && c->bias) st = tnn_visit_param(prefix, "bias", c->bias, c->dbias, 1, (int[]){c->out}, none, fn, ctx);
    return st;
}

static void conv_free(tnn_module *m)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    tnn_free(c->weight); /* one block: weight, bias, dweight, dbias */
    tnn_tensor_release(&c->y);
    tnn_tensor_release(&c->dx[0]);
    tnn_tensor_release(&c->dx[1]);
    tnn_tensor_release(&c->cols);
    tnn_tensor_release(&c->dyt);
    tnn_tensor_release(&c->dcols);
    tnn_tensor_release(&c->dw_new);
    tnn_free(c);
}

static const tnn_module_vtable conv_vt = {
    .type_name = "conv2d",
    .forward = conv_forward,
    .backward = conv_backward,
    .visit = conv_visit,
    .describe = conv_describe,
    .free = conv_free,
    .discard_grad = conv_discard_grad,
};

const tnn_tensor *tnn_conv2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &conv_vt ? &((const tnn_conv2d *)m)->y : NULL;
}

tnn_module *tnn_conv2d_new(int in, int out, int k, int stride, int padding, bool bias, tnn_rng *rng)
{
    const char *bad = in < 1 ? "in_channels must be >= 1" : out < 1 ? "out_channels must be >= 1"
                      : k < 1 ? "kernel_size must be >= 1" : stride < 1 ? "stride must be >= 1"
                      : padding < 0 ? "padding must be >= 0" : NULL;
    if (bad) {
        tnn_error(TNN_ERR_ARG, "conv2d(%d->%d, k%d, s%d, p%d): %s", in, out, k, stride, padding, bad);
        return NULL;
    }
    const size_t kk = (size_t)in * (size_t)k * (size_t)k;
    if ((double)in * k * k > INT_MAX || (double)out * (double)kk > INT_MAX) {
        tnn_error(TNN_ERR_ARG, "conv2d(%d->%d, k%d, s%d, p%d): the weight [%d x %d x %d x %d] is too large", in, out, k,
                  stride, padding, out, in, k, k);
        return NULL;
    }
    tnn_conv2d *c = tnn_calloc(1, sizeof *c, "conv2d");
    if (!c) return NULL;
    tnn_module_init(&c->base, &conv_vt);
    c->in = in;
    c->out = out;
    c->k = k;
    c->stride = stride;
    c->pad = padding;
    c->kk = (int)kk;
    const size_t nw = (size_t)out * kk, nb = bias ? (size_t)out : 0;
    float *block = tnn_calloc(2 * nw + 2 * nb, sizeof(float), "conv2d parameters");
    if (!block) { tnn_free(c); return NULL; }
    c->weight = block;
    c->bias = bias ? block + nw : NULL;
    c->dweight = block + nw + nb;
    c->dbias = bias ? c->dweight + nw : NULL;
    tnn_tensor_init_empty(&c->y);
    tnn_tensor_init_empty(&c->dx[0]);
    tnn_tensor_init_empty(&c->dx[1]);
    tnn_tensor_init_empty(&c->cols);
    tnn_tensor_init_empty(&c->dyt);
    tnn_tensor_init_empty(&c->dcols);
    tnn_tensor_init_empty(&c->dw_new);
    if (rng) { /* torch's kaiming_uniform_(a=sqrt(5)) and bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
        float bound = (float)(1.0 / sqrt((double)kk));
        for (size_t i = 0; i < nw; i++) c->weight[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
        for (size_t i = 0; i < nb; i++) c->bias[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
    }
    return &c->base;
}
