/* Conv2d: PyTorch's nn.Conv2d (groups 1, dilation 1, zero padding), as im2col and
 * products through the library's gemm wrapper.
 *
 * Layout. x is [N x in x H x W], y and dy [N x out x P] (P = Hout*Wout). The batch is
 * cut into groups of G consecutive samples (tnn_conv_group_size: about CONV_GROUP_COLS columns;
 * the last group may be shorter), and each group goes through the products whole:
 *   cols_g  [K x G*P]   im2col of the group (K = in*k*k rows, one per input channel and
 *                       kernel offset; sample s in columns [(s-s0)*P, (s-s0+1)*P))
 *   forward   Y_g [out x G*P] = W [out x K] cols_g,  then y_s = Y_g's columns of s + b;
 *   backward  dyT_g [out x G*P] = the group's dy regrouped by channel,
 *             dW_r [out x K] (+)= dyT_g cols_g^T      over the groups of run r, in order,
 *             dcols_g [K x G*P] = W^T dyT_g,  then dx_s = col2im(dcols_g's columns of s);
 *             dW (+)= dW_0 + dW_1 + ..., db (+)= the sums of dy's rows (in double, run by
 *             run), in order.
 * cols_g, Y_g, dyT_g and dcols_g only pass through: each task builds them in a slot of
 * its own (tnn_conv_slot_take), which the group it runs next reuses, so they stay in the caches.
 * Nothing of the size of the batch's im2col [K x N*P] is kept: the backward builds the
 * columns again from x (borrowed, as Linear's: it must be unchanged until the backward,
 * tnn_module_forward says so), which costs less than writing them out to memory in the
 * forward and reading them back: on [128 x 16 x 14 x 14] -> 32, where that matrix is
 * 14 MB, the forward took 18% less time and the backward as long as with it kept (on
 * [128 x 256 x 56 x 56] -> 256 it would be 3.7 GB). One product per group rather than
 * per sample packs W once per G samples and leaves fewer partial register tiles at the
 * ends of the blocks: a few percent (a sample per group was 3% slower there; groups of
 * 256 to 2048 columns were within the noise of each other).
 *
 * Bits. Each group's products run whole on one thread (tnn_gemm_whole), the backward's
 * runs (CONV_RUNS of them at most, consecutive groups each) likewise, and groups and runs
 * follow from the shape alone (N, P), never from the thread count: y, dx, dW and db have
 * the same bits on any number of threads. OpenBLAS's result for a column does depend
 * on where it lies in its product (its Haswell kernel computes the last columns, which
 * do not fill a whole register tile, in another order: the last 12 columns of a product
 * of 196 differ in the last bits from the same columns inside a longer one, measured
 * even with K = 9, far below its block of the inner dimension), so a sample's y and dx
 * also depend on its place in its group, and so on the batch size (torch's too: with
 * torch 1.13, a sample's output alone differs in the last bits from the same sample's in
 * a batch of 128). */
#include "conv_impl.h" /* im2col, col2im, groups, slots, sums: shared with ConvTranspose2d */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tnn_conv2d {
    tnn_module base;
    int in, out, k, stride, pad;
    int kk;                    /* K = in * k * k: a column's length, the weight's row */
    const float *x;            /* input of the last forward (borrowed; backward reads it
                                  again, and writes no dL/dx over it: tnn_pick_dx) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int n, h, w, ho, wo;       /* the last forward's batch, input and output sizes */
    int g, groups, runs;       /* samples per group (tnn_conv_group_size), groups, backward runs */
    tnn_conv_params p;         /* weight [out x in x k x k], bias [out]; scratch slots of
                                  (K + out) x G*P: per slot, cols_g (later dcols_g) and then
                                  Y_g or dyT_g; dw_runs [runs x out x K] */
} tnn_conv2d;

static void conv_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_conv2d *c = (const tnn_conv2d *)m;
    snprintf(buf, len, "conv2d(%d->%d, k%d, s%d, p%d%s)", c->in, c->out, c->k, c->stride, c->pad,
             c->p.bias ? "" : ", no bias");
}

/* The columns' geometry of the last forward: the input is the image (conv_impl.h). */
static tnn_conv_geom conv_geom(const tnn_conv2d *c)
{
    return (tnn_conv_geom){c->in, c->k, c->stride, c->pad, c->h, c->w, c->ho, c->wo};
}

/* The samples [*s0, *s1) of group gi. */
static void group_range(const tnn_conv2d *c, int gi, int *s0, int *s1)
{
    *s0 = gi * c->g;
    *s1 = *s0 + c->g < c->n ? *s0 + c->g : c->n;
}

/* Sizes scratch for a job of ntasks tasks over groups of gp columns (conv_impl.h). */
static tnn_status ensure_scratch(tnn_conv2d *c, int ntasks, int gp)
{
    return tnn_conv_slots_ensure(&c->p.scratch, ntasks, c->kk + c->out, gp, "conv2d");
}

/* The slot's two blocks for a group of gp columns: cols [K x gp] (or dcols), then
 * [out x gp] (Y_g or dyT_g). */
static float *slot_cols(const tnn_conv2d *c, int slot)
{
    return c->p.scratch.buf.data + (size_t)slot * (size_t)(c->kk + c->out) * (size_t)c->g * (size_t)c->ho * (size_t)c->wo;
}

/* cols_g of the group [s0, s1) into cols (rows gp apart). */
static void group_im2col(const tnn_conv2d *c, int s0, int s1, float *cols, size_t gp)
{
    const size_t P = (size_t)c->ho * (size_t)c->wo, xs = (size_t)c->in * (size_t)c->h * (size_t)c->w;
    const tnn_conv_geom geom = conv_geom(c);
    for (int s = s0; s < s1; s++) tnn_conv_im2col(&geom, c->x + (size_t)s * xs, cols + (size_t)(s - s0) * P, gp);
}

/* Group gi: cols_g, then Y_g = W cols_g, one product on this thread (tnn_gemm_whole),
 * then y_s = Y_g's columns of s + b, row by row. A group of one sample has Y_g in y_s's
 * own layout: the product goes there directly, over y_s set to the bias (a pass less,
 * which shows where the product is small: about 8% of the forward of [128 x 1 x 28 x
 * 28] -> 16, whose 784 columns per sample make groups of one; its y and dx then have
 * the bits they had with one product per sample). */
static void forward_group(void *ctx, int gi)
{
    tnn_conv2d *c = ctx;
    const size_t P = (size_t)c->ho * (size_t)c->wo;
    int s0, s1;
    group_range(c, gi, &s0, &s1);
    const size_t gp = (size_t)(s1 - s0) * P;
    const int slot = tnn_conv_slot_take(&c->p.scratch);
    float *cols = slot_cols(c, slot), *yg = cols + (size_t)c->kk * gp;
    group_im2col(c, s0, s1, cols, gp);
    const bool alone = s1 - s0 == 1;
    if (alone) {
        yg = c->p.y.data + (size_t)s0 * (size_t)c->out * P;
        for (int o = 0; c->p.bias && o < c->out; o++)
            for (size_t p = 0; p < P; p++) yg[(size_t)o * P + p] = c->p.bias[o];
    }
    const tnn_gemm_args g = {false, false, c->out, (int)gp, c->kk, 1.0f, c->p.weight, c->kk, cols, (int)gp,
                             alone && c->p.bias ? 1.0f : 0.0f, yg, (int)gp, NULL};
    tnn_gemm_whole(&g);
    if (alone) {
        tnn_conv_slot_give(&c->p.scratch, slot);
        return;
    }
    for (int s = s0; s < s1; s++)
        for (int o = 0; o < c->out; o++) {
            const float *restrict src = yg + (size_t)o * gp + (size_t)(s - s0) * P;
            float *restrict dst = c->p.y.data + ((size_t)s * (size_t)c->out + (size_t)o) * P;
            if (c->p.bias) {
                const float b = c->p.bias[o];
                for (size_t p = 0; p < P; p++) dst[p] = src[p] + b;
            } else {
                memcpy(dst, src, P * sizeof(float));
            }
        }
    tnn_conv_slot_give(&c->p.scratch, slot);
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
    if (hp + c->stride > INT_MAX || wp + c->stride > INT_MAX) /* im2col's index arithmetic is int's */
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s: its size padded plus the stride exceeds %d",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    const long long ho = (hp - c->k) / c->stride + 1, wo = (wp - c->k) / c->stride + 1;
    if (ho * wo > INT_MAX || (long long)n * ho * wo > INT_MAX || (long long)c->out * ho * wo > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s gives %lld x %lld outputs per channel for %d samples: more "
                         "than the products take (%d columns)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), ho, wo, n, INT_MAX);
    if (tnn_tensor_overlaps(x, &c->p.y)) return tnn_error_own_output(m);
    const int P = (int)(ho * wo), g = tnn_conv_group_size(n, P), groups = (n + g - 1) / g;
    tnn_status st = ensure_scratch(c, groups, g * P);
    if (st) return st;
    int yshape[4] = {n, c->out, (int)ho, (int)wo};
    st = tnn_tensor_resize(&c->p.y, x->ndim, b ? yshape : yshape + 1);
    if (st == TNN_ERR_NOMEM) return tnn_error(st, "conv2d output: out of memory for %zu floats", (size_t)n * c->out * P);
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
    tnn_conv_run_tasks(groups, (size_t)c->kk * (size_t)n * (size_t)P, forward_group, c); /* any thread, same bits */
    c->x_ndim = x->ndim;
    memcpy(c->x_shape, x->shape, sizeof c->x_shape);
    *y = &c->p.y;
    return TNN_OK;
}

typedef struct bwd_job {
    tnn_conv2d *c;
    const float *dy;
    float *dx;     /* NULL: no dL/dx */
    bool grads;    /* dW_r and db_r */
} bwd_job;

/* Run r: its groups in order, each in this task's slot: dyT_g (the group's dy by
 * channel; for a group of one sample, dy_s itself, read in place); with grads, cols_g
 * again, dW_r (+)= dyT_g cols_g^T and db_r += dy's rows; with dx, dcols_g = W^T dyT_g
 * (over cols_g, no longer needed), then col2im sample by sample while it is in the
 * caches. Every product runs whole on this thread, and each sample's dx is written by
 * this task alone: the same bits whatever the thread count. */
static void backward_run(void *ctx, int r)
{
    const bwd_job *j = ctx;
    tnn_conv2d *c = j->c;
    const size_t P = (size_t)c->ho * (size_t)c->wo, xs = (size_t)c->in * (size_t)c->h * (size_t)c->w;
    const int g0 = (int)((long long)r * c->groups / c->runs), g1 = (int)((long long)(r + 1) * c->groups / c->runs);
    float *dw = j->grads ? c->p.dw_runs.data + (size_t)r * (size_t)c->out * (size_t)c->kk : NULL;
    double *db = c->p.bias && j->grads ? c->p.db_runs + (size_t)r * (size_t)c->out : NULL;
    if (db) for (int o = 0; o < c->out; o++) db[o] = 0.0;
    const int slot = tnn_conv_slot_take(&c->p.scratch);
    for (int gi = g0; gi < g1; gi++) {
        int s0, s1;
        group_range(c, gi, &s0, &s1);
        const size_t gp = (size_t)(s1 - s0) * P;
        float *cols = slot_cols(c, slot);
        const bool alone = s1 - s0 == 1;
        float *dyt = alone ? NULL : cols + (size_t)c->kk * gp;
        for (int s = s0; s < s1; s++)
            for (int o = 0; o < c->out; o++) {
                const float *row = j->dy + ((size_t)s * (size_t)c->out + (size_t)o) * P;
                if (!alone) memcpy(dyt + (size_t)o * gp + (size_t)(s - s0) * P, row, P * sizeof(float));
                if (db) db[o] += tnn_conv_row_sum(row, P);
            }
        const float *dyg = alone ? j->dy + (size_t)s0 * (size_t)c->out * P : dyt;
        if (j->grads) {
            group_im2col(c, s0, s1, cols, gp);
            const tnn_gemm_args gw = {false, true, c->out, c->kk, (int)gp, 1.0f, dyg, (int)gp, cols, (int)gp,
                                      gi == g0 ? 0.0f : 1.0f, dw, c->kk, NULL};
            tnn_gemm_whole(&gw);
        }
        if (j->dx) {
            const tnn_gemm_args gx = {true, false, c->kk, (int)gp, c->out, 1.0f, c->p.weight, c->kk, dyg, (int)gp,
                                      0.0f, cols, (int)gp, NULL};
            tnn_gemm_whole(&gx);
            const tnn_conv_geom geom = conv_geom(c);
            for (int s = s0; s < s1; s++) tnn_conv_col2im(&geom, cols + (size_t)(s - s0) * P, gp, j->dx + (size_t)s * xs);
        }
    }
    tnn_conv_slot_give(&c->p.scratch, slot);
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
    if (dx) st = tnn_pick_dx(m, c->p.dx, c->x, nx, dy, c->x_ndim, c->x_shape, &out);
    if (!st && grads) {
        st = tnn_tensor_resize(&c->p.dw_runs, 3, (int[]){c->runs, c->out, c->kk});
        if (st == TNN_ERR_NOMEM)
            st = tnn_error(st, "conv2d weight gradients by run: out of memory for %d of [%d x %d]", c->runs, c->out,
                           c->kk);
    }
    if (!st) st = ensure_scratch(c, c->runs, c->g * P);
    if (st) return st;
    bwd_job j = {c, dy->data, out ? out->data : NULL, grads};
    tnn_conv_run_tasks(c->runs, (size_t)(c->kk + c->out) * (size_t)NP, backward_run, &j);
    if (grads) tnn_conv_params_sum_grads(&c->p, c->runs); /* dW (+)= dW_0 + dW_1 + ..., db likewise */
    if (dx) *dx = out;
    return TNN_OK;
}

/* The next backward writes the gradients, or the next visit zeroes them (as Linear). */
static void conv_discard_grad(tnn_module *m)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    c->p.grad_owed = c->p.grad_none = true;
}

static tnn_status conv_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    return tnn_conv_params_visit(&c->p, prefix, (int[]){c->out, c->in, c->k, c->k}, fn, ctx);
}

static void conv_free(tnn_module *m)
{
    tnn_conv2d *c = (tnn_conv2d *)m;
    tnn_conv_params_release(&c->p);
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
    return m && m->vt == &conv_vt ? &((const tnn_conv2d *)m)->p.y : NULL;
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
    if ((double)in * k * k > INT_MAX || (double)out * (double)kk + out > INT_MAX) { /* (K + out: a slot's rows) */
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
    if (tnn_conv_params_init(&c->p, (size_t)out * kk, out, bias, kk, rng, "conv2d parameters")) {
        tnn_conv_params_release(&c->p);
        tnn_free(c);
        return NULL;
    }
    return &c->base;
}
