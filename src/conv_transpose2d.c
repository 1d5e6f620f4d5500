/* ConvTranspose2d: PyTorch's nn.ConvTranspose2d (groups 1, dilation 1, zero padding),
 * the gradient of a Conv2d with respect to its input, run forward: Conv2d's machinery
 * (conv_impl.h) used the other way round.
 *
 * Geometry. x is [N x in x H x W], y and dy [N x out x Ho x Wo], Ho = (H-1)*stride -
 * 2*padding + k + output_padding (likewise Wo), the weight [in x out x k x k], torch's
 * layout: as a matrix W [in x Kt], Kt = out*k*k. Output element (oh, ow) of channel o
 * sums x[c, ih, iw] W[c, o, ki, kj] over oh = ih*stride - pad + ki, ow likewise. That is
 * a Conv2d from out to in channels with the same kernel, stride and padding, whose input
 * would be y's size and whose output x's (output_padding < stride makes the sizes
 * agree: (Ho + 2 pad - k) / stride + 1 = H), run backwards. In that Conv2d's terms
 * (tnn_conv_geom) the image is y or dy (out channels of Ho x Wo) and the grid of
 * columns x's H x W positions, P = H*W per sample:
 *   forward   X_g [in x G*P] = the group's x regrouped by channel,
 *             cols_g [Kt x G*P] = W^T X_g,  then y_s = col2im(cols_g's columns of s) + b;
 *   backward  cols_g = im2col of the group's dy,
 *             dW_r [in x Kt] (+)= X_g cols_g^T     over the groups of run r, in order,
 *             dX_g [in x G*P] = W cols_g,  then dx_s = dX_g's columns of s;
 *             dW (+)= dW_0 + dW_1 + ..., db (+)= the sums of dy's rows (in double, run by
 *             run), in order.
 * A group of one sample reads X_g (x_s) and writes dX_g (dx_s) in place. The groups,
 * slots and runs are Conv2d's (conv2d.c, Layout and Bits): the shape alone decides them
 * and every product runs whole on one thread, so y, dx, dW and db have the same bits on
 * any thread count. The backward reads x again (borrowed, as Conv2d's). */
#include "conv_impl.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tnn_conv_transpose2d {
    tnn_module base;
    int in, out, k, stride, pad, opad;
    int kt;                    /* Kt = out * k * k: a column's length, the weight's row */
    const float *x;            /* input of the last forward (borrowed; backward reads it
                                  again, and writes no dL/dx over it: tnn_pick_dx) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int n, h, w, ho, wo;       /* the last forward's batch, input and output sizes */
    int g, groups, runs;       /* samples per group (tnn_conv_group_size), groups, runs */
    tnn_conv_params p;         /* weight [in x out x k x k], bias [out]; scratch slots of
                                  (Kt + in) x G*P: per slot, cols_g, then X_g (or dX_g);
                                  dw_runs [runs x in x Kt] */
} tnn_conv_transpose2d;

static void convt_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_conv_transpose2d *c = (const tnn_conv_transpose2d *)m;
    snprintf(buf, len, "conv_transpose2d(%d->%d, k%d, s%d, p%d, op%d%s)", c->in, c->out, c->k, c->stride, c->pad,
             c->opad, c->p.bias ? "" : ", no bias");
}

/* The columns' geometry of the last forward: the image is the output (see above). */
static tnn_conv_geom convt_geom(const tnn_conv_transpose2d *c)
{
    return (tnn_conv_geom){c->out, c->k, c->stride, c->pad, c->ho, c->wo, c->h, c->w};
}

static void group_range(const tnn_conv_transpose2d *c, int gi, int *s0, int *s1)
{
    *s0 = gi * c->g;
    *s1 = *s0 + c->g < c->n ? *s0 + c->g : c->n;
}

/* The slot's two blocks for a group of gp columns: cols [Kt x gp], then [in x gp]. */
static float *slot_cols(const tnn_conv_transpose2d *c, int slot)
{
    return c->p.scratch.buf.data + (size_t)slot * (size_t)(c->kt + c->in) * (size_t)c->g * (size_t)c->h * (size_t)c->w;
}

/* X_g of the group [s0, s1): x's channel rows side by side, into xg (rows gp apart). */
static void group_x(const tnn_conv_transpose2d *c, int s0, int s1, float *xg, size_t gp)
{
    const size_t P = (size_t)c->h * (size_t)c->w;
    for (int s = s0; s < s1; s++)
        for (int ci = 0; ci < c->in; ci++)
            memcpy(xg + (size_t)ci * gp + (size_t)(s - s0) * P, c->x + ((size_t)s * (size_t)c->in + (size_t)ci) * P,
                   P * sizeof(float));
}

/* Group gi: X_g, cols_g = W^T X_g (one product on this thread), then each sample's y
 * is its columns put back (col2im, written afresh) plus the bias, channel by channel. */
static void forward_group(void *ctx, int gi)
{
    tnn_conv_transpose2d *c = ctx;
    const size_t P = (size_t)c->h * (size_t)c->w, Q = (size_t)c->ho * (size_t)c->wo;
    int s0, s1;
    group_range(c, gi, &s0, &s1);
    const size_t gp = (size_t)(s1 - s0) * P;
    const int slot = tnn_conv_slot_take(&c->p.scratch);
    float *cols = slot_cols(c, slot), *xg = cols + (size_t)c->kt * gp;
    const float *xin = c->x + (size_t)s0 * (size_t)c->in * P;
    if (s1 - s0 > 1) {
        group_x(c, s0, s1, xg, gp);
        xin = xg;
    }
    const tnn_gemm_args g = {true, false, c->kt, (int)gp, c->in, 1.0f, c->p.weight, c->kt, xin, (int)gp,
                             0.0f, cols, (int)gp, NULL};
    tnn_gemm_whole(&g);
    const tnn_conv_geom geom = convt_geom(c);
    for (int s = s0; s < s1; s++) {
        float *ys = c->p.y.data + (size_t)s * (size_t)c->out * Q;
        tnn_conv_col2im(&geom, cols + (size_t)(s - s0) * P, gp, ys);
        for (int o = 0; c->p.bias && o < c->out; o++) {
            float *restrict yr = ys + (size_t)o * Q;
            const float b = c->p.bias[o];
            for (size_t q = 0; q < Q; q++) yr[q] += b;
        }
    }
    tnn_conv_slot_give(&c->p.scratch, slot);
}

static tnn_status convt_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_conv_transpose2d *c = (tnn_conv_transpose2d *)m;
    char s[64], d[80];
    if (x->ndim != 3 && x->ndim != 4)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x %d x H x W] (or one sample [%d x H x W])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), x->ndim, c->in,
                         c->in);
    const int b = x->ndim - 3; /* index of the channel dimension */
    const int n = b ? x->shape[0] : 1, ch = x->shape[b], h = x->shape[b + 1], w = x->shape[b + 2];
    if (ch != c->in)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has %d channels, expected %d ([batch x %d x H x W])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), ch, c->in, c->in);
    const long long ho = ((long long)h - 1) * c->stride - 2LL * c->pad + c->k + c->opad;
    const long long wo = ((long long)w - 1) * c->stride - 2LL * c->pad + c->k + c->opad;
    if (ho < 1 || wo < 1) /* torch: "Output size is too small" */
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d x %d, which gives an output of %lld x %lld: too small",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), h, w, ho, wo);
    /* im2col's and col2im's index arithmetic is int's, over the output padded */
    if (ho + 2LL * c->pad + c->stride > INT_MAX || wo + 2LL * c->pad + c->stride > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s gives an output of %lld x %lld, which padded plus the stride "
                         "exceeds %d", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), ho, wo,
                         INT_MAX);
    if ((long long)n * h * w > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s holds %lld positions per channel over its %d samples: more "
                         "than the products take (%d columns)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), (long long)n * h * w, n, INT_MAX);
    /* the output's element count in size_t bytes: ho and wo are each below INT_MAX, but
     * with the channels and samples their product can pass 2^64 */
    const unsigned long long plane = (unsigned long long)ho * (unsigned long long)wo;
    if (plane > SIZE_MAX / sizeof(float) / (unsigned long long)n / (unsigned long long)c->out)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s gives an output [%d x %d x %lld x %lld], larger than memory "
                         "can address", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), n,
                         c->out, ho, wo);
    if (tnn_tensor_overlaps(x, &c->p.y)) return tnn_error_own_output(m);
    const int P = h * w, g = tnn_conv_group_size(n, P), groups = (n + g - 1) / g;
    tnn_status st = tnn_conv_slots_ensure(&c->p.scratch, groups, c->kt + c->in, g * P, "conv_transpose2d");
    if (st) return st;
    int yshape[4] = {n, c->out, (int)ho, (int)wo};
    st = tnn_tensor_resize(&c->p.y, x->ndim, b ? yshape : yshape + 1);
    if (st == TNN_ERR_NOMEM)
        return tnn_error(st, "conv_transpose2d output: out of memory for %zu floats",
                         (size_t)n * (size_t)c->out * (size_t)ho * (size_t)wo);
    if (st) return st;
    c->n = n;
    c->h = h;
    c->w = w;
    c->ho = (int)ho;
    c->wo = (int)wo;
    c->g = g;
    c->groups = groups;
    c->runs = groups < CONV_RUNS ? groups : CONV_RUNS;
    c->x = x->data;
    tnn_conv_run_tasks(groups, (size_t)c->kt * (size_t)n * (size_t)P, forward_group, c); /* any thread, same bits */
    c->x_ndim = x->ndim;
    memcpy(c->x_shape, x->shape, sizeof c->x_shape);
    *y = &c->p.y;
    return TNN_OK;
}

typedef struct bwd_job {
    tnn_conv_transpose2d *c;
    const float *dy;
    float *dx;  /* NULL: no dL/dx */
    bool grads; /* dW_r and db_r */
} bwd_job;

/* Run r: its groups in order, each in this task's slot: db_r += dy's rows and cols_g =
 * im2col of the group's dy; with grads, X_g and dW_r (+)= X_g cols_g^T; with dx, dX_g =
 * W cols_g (over X_g, no longer needed), then each sample's columns to its dx. Every
 * product runs whole on this thread, and each sample's dx is written by this task
 * alone: the same bits whatever the thread count. */
static void backward_run(void *ctx, int r)
{
    const bwd_job *j = ctx;
    tnn_conv_transpose2d *c = j->c;
    const size_t P = (size_t)c->h * (size_t)c->w, Q = (size_t)c->ho * (size_t)c->wo, xs = (size_t)c->in * P;
    const int g0 = (int)((long long)r * c->groups / c->runs), g1 = (int)((long long)(r + 1) * c->groups / c->runs);
    float *dw = j->grads ? c->p.dw_runs.data + (size_t)r * (size_t)c->in * (size_t)c->kt : NULL;
    double *db = c->p.bias && j->grads ? c->p.db_runs + (size_t)r * (size_t)c->out : NULL;
    if (db) for (int o = 0; o < c->out; o++) db[o] = 0.0;
    const tnn_conv_geom geom = convt_geom(c);
    const int slot = tnn_conv_slot_take(&c->p.scratch);
    for (int gi = g0; gi < g1; gi++) {
        int s0, s1;
        group_range(c, gi, &s0, &s1);
        const size_t gp = (size_t)(s1 - s0) * P;
        float *cols = slot_cols(c, slot), *xg = cols + (size_t)c->kt * gp;
        const bool alone = s1 - s0 == 1;
        for (int s = s0; s < s1; s++) {
            const float *dys = j->dy + (size_t)s * (size_t)c->out * Q;
            for (int o = 0; db && o < c->out; o++) db[o] += tnn_conv_row_sum(dys + (size_t)o * Q, Q);
            tnn_conv_im2col(&geom, dys, cols + (size_t)(s - s0) * P, gp);
        }
        if (j->grads) {
            const float *xin = c->x + (size_t)s0 * xs;
            if (!alone) {
                group_x(c, s0, s1, xg, gp);
                xin = xg;
            }
            const tnn_gemm_args gw = {false, true, c->in, c->kt, (int)gp, 1.0f, xin, (int)gp, cols, (int)gp,
                                      gi == g0 ? 0.0f : 1.0f, dw, c->kt, NULL};
            tnn_gemm_whole(&gw);
        }
        if (j->dx) {
            float *dst = alone ? j->dx + (size_t)s0 * xs : xg;
            const tnn_gemm_args gx = {false, false, c->in, (int)gp, c->kt, 1.0f, c->p.weight, c->kt, cols, (int)gp,
                                      0.0f, dst, (int)gp, NULL};
            tnn_gemm_whole(&gx);
            for (int s = s0; !alone && s < s1; s++)
                for (int ci = 0; ci < c->in; ci++)
                    memcpy(j->dx + (size_t)s * xs + (size_t)ci * P, xg + (size_t)ci * gp + (size_t)(s - s0) * P,
                           P * sizeof(float));
        }
    }
    tnn_conv_slot_give(&c->p.scratch, slot);
}

static tnn_status convt_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_conv_transpose2d *c = (tnn_conv_transpose2d *)m;
    char d[80];
    if (!c->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    const size_t P = (size_t)c->h * (size_t)c->w, Q = (size_t)c->ho * (size_t)c->wo;
    if (dy->size != (size_t)c->n * (size_t)c->out * Q) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output [%d x %d x %d x %d]",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(dy, s, sizeof s), c->n, c->out, c->ho,
                         c->wo);
    }
    const bool grads = m->requires_grad;
    if (!grads && !dx) return TNN_OK;
    /* Every buffer before any gradient is written: a failure leaves the module as it was. */
    tnn_tensor *out = NULL;
    const size_t nx = (size_t)c->n * (size_t)c->in * P;
    tnn_status st = TNN_OK;
    if (dx) st = tnn_pick_dx(m, c->p.dx, c->x, nx, dy, c->x_ndim, c->x_shape, &out);
    if (!st && grads) {
        st = tnn_tensor_resize(&c->p.dw_runs, 3, (int[]){c->runs, c->in, c->kt});
        if (st == TNN_ERR_NOMEM)
            st = tnn_error(st, "conv_transpose2d weight gradients by run: out of memory for %d of [%d x %d]", c->runs,
                           c->in, c->kt);
    }
    if (!st) st = tnn_conv_slots_ensure(&c->p.scratch, c->runs, c->kt + c->in, c->g * (int)P, "conv_transpose2d");
    if (st) return st;
    bwd_job j = {c, dy->data, out ? out->data : NULL, grads};
    tnn_conv_run_tasks(c->runs, (size_t)(c->kt + c->in) * (size_t)c->n * P, backward_run, &j);
    if (grads) tnn_conv_params_sum_grads(&c->p, c->runs); /* dW (+)= dW_0 + dW_1 + ..., db likewise */
    if (dx) *dx = out;
    return TNN_OK;
}

/* The next backward writes the gradients, or the next visit zeroes them (as Linear). */
static void convt_discard_grad(tnn_module *m)
{
    tnn_conv_transpose2d *c = (tnn_conv_transpose2d *)m;
    c->p.grad_owed = c->p.grad_none = true;
}

static tnn_status convt_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_conv_transpose2d *c = (tnn_conv_transpose2d *)m;
    return tnn_conv_params_visit(&c->p, prefix, (int[]){c->in, c->out, c->k, c->k}, fn, ctx);
}

static void convt_free(tnn_module *m)
{
    tnn_conv_transpose2d *c = (tnn_conv_transpose2d *)m;
    tnn_conv_params_release(&c->p);
    tnn_free(c);
}

static const tnn_module_vtable convt_vt = {
    .type_name = "conv_transpose2d",
    .forward = convt_forward,
    .backward = convt_backward,
    .visit = convt_visit,
    .describe = convt_describe,
    .free = convt_free,
    .discard_grad = convt_discard_grad,
};

const tnn_tensor *tnn_conv_transpose2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &convt_vt ? &((const tnn_conv_transpose2d *)m)->p.y : NULL;
}

tnn_module *tnn_conv_transpose2d_new(int in, int out, int k, int stride, int padding, int output_padding, bool bias,
                                     tnn_rng *rng)
{
    const char *bad = in < 1 ? "in_channels must be >= 1" : out < 1 ? "out_channels must be >= 1"
                      : k < 1 ? "kernel_size must be >= 1" : stride < 1 ? "stride must be >= 1"
                      : padding < 0 ? "padding must be >= 0" : output_padding < 0 ? "output_padding must be >= 0"
                      : output_padding >= stride ? "output_padding must be smaller than stride" : NULL;
    if (bad) {
        tnn_error(TNN_ERR_ARG, "conv_transpose2d(%d->%d, k%d, s%d, p%d, op%d): %s", in, out, k, stride, padding,
                  output_padding, bad);
        return NULL;
    }
    const size_t kt = (size_t)out * (size_t)k * (size_t)k;
    if ((double)out * k * k > INT_MAX || (double)in * (double)kt + in > INT_MAX) { /* (Kt + in: a slot's rows) */
        tnn_error(TNN_ERR_ARG, "conv_transpose2d(%d->%d, k%d, s%d, p%d, op%d): the weight [%d x %d x %d x %d] is too "
                  "large", in, out, k, stride, padding, output_padding, in, out, k, k);
        return NULL;
    }
    tnn_conv_transpose2d *c = tnn_calloc(1, sizeof *c, "conv_transpose2d");
    if (!c) return NULL;
    tnn_module_init(&c->base, &convt_vt);
    c->in = in;
    c->out = out;
    c->k = k;
    c->stride = stride;
    c->pad = padding;
    c->opad = output_padding;
    c->kt = (int)kt;
    /* torch takes fan_in from the weight's dimension 1: out_channels * k * k here */
    if (tnn_conv_params_init(&c->p, (size_t)in * kt, out, bias, kt, rng, "conv_transpose2d parameters")) {
        tnn_conv_params_release(&c->p);
        tnn_free(c);
        return NULL;
    }
    return &c->base;
}
