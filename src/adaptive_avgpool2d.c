/* AdaptiveAvgPool2d: PyTorch's nn.AdaptiveAvgPool2d((out_h, out_w)), computed as torch
 * 1.13 computes it on the CPU for contiguous NCHW input, bit for bit.
 *
 * Each (sample, channel) plane [H x W] is pooled on its own. Output row oh averages
 * input rows [floor(oh*H/out_h), ceil((oh+1)*H/out_h)), columns likewise (windows may
 * overlap, and repeat rows when out_h > H). Two paths, as torch's at::adaptive_avg_pool2d:
 *
 * - out_h = out_w = 1 (global average pooling) is input.mean({-1, -2}): torch's cascade
 *   sum of the plane's H*W contiguous values (SumKernel.cpp's vectorized_inner_sum, one
 *   thread, 8-float vectors: the sum order of src/linear.c's contiguous bias column),
 *   divided by H*W in float. Its backward sets every element of the plane to dy / (H*W)
 *   (a -0 stays -0).
 * - otherwise cpu_adaptive_avg_pool (AdaptiveAvgPoolKernel.cpp): the window summed in
 *   float from 0.0f row by row, then divided by its height and then by its width (two
 *   float divisions). Its backward zeroes dL/dx and adds dy / height / width into every
 *   element of the window, outputs in order. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <string.h>

typedef struct tnn_adaptive_avg_pool2d {
    tnn_module base;
    int out_h, out_w;
    const float *x;            /* input of the last forward (borrowed; never read by the
                                  backward, but no dL/dx is written over it: tnn_pick_dx) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int planes, h, w;          /* the last forward's N*C planes and input size */
    tnn_tensor y, dx[2];       /* dL/dx: see tnn_pick_dx */
} tnn_adaptive_avg_pool2d;

static void pool_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_adaptive_avg_pool2d *p = (const tnn_adaptive_avg_pool2d *)m;
    snprintf(buf, len, "adaptive_avg_pool2d(%d x %d)", p->out_h, p->out_w);
}

/* torch's start_index and end_index: [floor(o*in/out), ceil((o+1)*in/out)); in and out
 * are ints, so the products fit in long long. */
static inline void range(int o, int out, int in, int *lo, int *hi)
{
    *lo = (int)((long long)o * in / out);
    *hi = (int)(((long long)(o + 1) * in + out - 1) / out);
}

/* ---- the cascade sum of a contiguous run (global average pooling) ---- */

/* SumKernel's multi_row_sum, for `cols` (1..32) adjacent columns of rows `stride` apart:
 * runs of 2^p rows (p = max(4, ceil(log2 size) / 4)) go into level 0, flushed into
 * level 1 after every run, level 1 into level 2 every 2^p runs, and so on over 4
 * levels; the levels are added at the end. out[c] receives column c's sum. */
#define CASCADE_COLS 32
static void cascade_cols(float *restrict out, const float *restrict x, size_t stride, long long size, int cols)
{
    long long lg = 0;
    while (size > 2 && (1LL << lg) < size) lg++; /* utils::CeilLog2 (1 for size <= 2) */
    if (size <= 2) lg = 1;
    const long long power = lg / 4 > 4 ? lg / 4 : 4, step = 1LL << power, mask = step - 1;
    float acc[4][CASCADE_COLS];
    memset(acc, 0, sizeof acc);
    long long i = 0;
    while (i + step <= size) {
        for (long long j = 0; j < step; j++, i++) {
            const float *r = x + (size_t)i * stride;
            for (int c = 0; c < cols; c++) acc[0][c] += r[c];
        }
        for (int j = 1; j < 4; j++) {
            for (int c = 0; c < cols; c++) {
                acc[j][c] += acc[j - 1][c];
                acc[j - 1][c] = 0.0f;
            }
            if ((i & (mask << (j * power))) != 0) break;
        }
    }
    for (; i < size; i++) {
        const float *r = x + (size_t)i * stride;
        for (int c = 0; c < cols; c++) acc[0][c] += r[c];
    }
    for (int j = 1; j < 4; j++)
        for (int c = 0; c < cols; c++) acc[0][c] += acc[j][c];
    memcpy(out, acc[0], (size_t)cols * sizeof(float));
}

/* torch's sum of n contiguous floats (SumKernel.cpp): below 8, row_sum (four interleaved
 * cascades over elements 4i+k, the leftovers added to the first, then the four in
 * order); from 8 on, vectorized_inner_sum: the n/8 vectors of 8 go through row_sum lane
 * by lane (lane l of vector 4i+k into accumulator (k, l): 32 cascaded columns of rows
 * 32 floats apart), the scalar tail is summed from 0 first, then the 8 lanes' sums are
 * added to it in order. */
static float torch_sum(const float *x, long long n)
{
    if (n < 8) {
        float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        const long long rows = n / 4;
        for (int k = 0; k < 4; k++) cascade_cols(&part[k], x + k, 4, rows, 1);
        for (long long i = rows * 4; i < n; i++) part[0] += x[i];
        return part[0] + part[1] + part[2] + part[3];
    }
    const long long nvec = n / 8, rows = nvec / 4;
    float part[CASCADE_COLS]; /* part[8k + l]: accumulator k of lane l */
    cascade_cols(part, x, CASCADE_COLS, rows, CASCADE_COLS);
    for (long long v = rows * 4; v < nvec; v++)
        for (int l = 0; l < 8; l++) part[l] += x[v * 8 + l];
    float total = 0.0f;
    for (long long i = nvec * 8; i < n; i++) total += x[i];
    for (int l = 0; l < 8; l++) total += part[l] + part[8 + l] + part[16 + l] + part[24 + l];
    return total;
}

typedef struct pool_job {
    tnn_adaptive_avg_pool2d *p;
    const float *x, *dy;
    float *dx;
} pool_job;

/* Planes [b, e) of y. */
static void forward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    const tnn_adaptive_avg_pool2d *p = j->p;
    const int h = p->h, w = p->w, oh_n = p->out_h, ow_n = p->out_w;
    const size_t in_plane = (size_t)h * (size_t)w, out_plane = (size_t)oh_n * (size_t)ow_n;
    for (size_t c = b; c < e; c++) {
        const float *xc = j->x + c * in_plane;
        float *yc = p->y.data + c * out_plane;
        if (oh_n == 1 && ow_n == 1) { /* mean over the plane: sum, then / (H*W) */
            yc[0] = torch_sum(xc, (long long)in_plane) / (float)(long long)in_plane;
            continue;
        }
        for (int oh = 0; oh < oh_n; oh++) {
            int h0, h1;
            range(oh, oh_n, h, &h0, &h1);
            for (int ow = 0; ow < ow_n; ow++) {
                int w0, w1;
                range(ow, ow_n, w, &w0, &w1);
                float sum = 0.0f;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) sum += xc[(size_t)ih * (size_t)w + (size_t)iw];
                yc[(size_t)oh * (size_t)ow_n + (size_t)ow] = sum / (float)(h1 - h0) / (float)(w1 - w0);
            }
        }
    }
}

/* Planes [b, e) of dL/dx. */
static void backward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    const tnn_adaptive_avg_pool2d *p = j->p;
    const int h = p->h, w = p->w, oh_n = p->out_h, ow_n = p->out_w;
    const size_t in_plane = (size_t)h * (size_t)w, out_plane = (size_t)oh_n * (size_t)ow_n;
    if (oh_n == 1 && ow_n == 1) { /* mean's backward: dy / (H*W) everywhere */
        for (size_t c = b; c < e; c++) {
            const float g = j->dy[c] / (float)(long long)in_plane;
            float *dxc = j->dx + c * in_plane;
            for (size_t i = 0; i < in_plane; i++) dxc[i] = g;
        }
        return;
    }
    memset(j->dx + b * in_plane, 0, (e - b) * in_plane * sizeof(float));
    for (size_t c = b; c < e; c++) {
        float *dxc = j->dx + c * in_plane;
        const float *dyc = j->dy + c * out_plane;
        for (int oh = 0; oh < oh_n; oh++) {
            int h0, h1;
            range(oh, oh_n, h, &h0, &h1);
            for (int ow = 0; ow < ow_n; ow++) {
                int w0, w1;
                range(ow, ow_n, w, &w0, &w1);
                const float g = dyc[(size_t)oh * (size_t)ow_n + (size_t)ow] / (float)(h1 - h0) / (float)(w1 - w0);
                for (int ih = h0; ih < h1; ih++) {
                    float *dr = dxc + (size_t)ih * (size_t)w;
                    for (int iw = w0; iw < w1; iw++) dr[iw] += g;
                }
            }
        }
    }
}

/* The planes are split over the library's threads (tnn_parallel_rows: equal runs of
 * planes), or run inline below about twice this many input elements. */
#define POOL_PARALLEL_MIN 16384

static tnn_status pool_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_adaptive_avg_pool2d *p = (tnn_adaptive_avg_pool2d *)m;
    char s[64], d[96];
    if (x->ndim != 3 && x->ndim != 4)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x channels x H x W] (or one sample "
                         "[channels x H x W])", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s),
                         x->ndim);
    const int b = x->ndim - 3; /* index of the channel dimension */
    const long long planes = (long long)(b ? x->shape[0] : 1) * x->shape[b];
    const int h = x->shape[b + 1], w = x->shape[b + 2];
    if (planes > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more than %d planes", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    if (tnn_tensor_overlaps(x, &p->y)) return tnn_error_own_output(m);
    int yshape[4] = {b ? x->shape[0] : 1, x->shape[b], p->out_h, p->out_w};
    tnn_status st = tnn_tensor_resize(&p->y, x->ndim, b ? yshape : yshape + 1);
    if (st == TNN_ERR_NOMEM)
        return tnn_error(st, "adaptive_avg_pool2d output: out of memory for %lld x %d x %d floats", planes, p->out_h,
                         p->out_w);
    if (st) return st;
    p->planes = (int)planes;
    p->h = h;
    p->w = w;
    pool_job j = {p, x->data, NULL, NULL};
    /* planes are independent: any split, the same bits */
    tnn_parallel_rows(p->planes, (size_t)h * (size_t)w, POOL_PARALLEL_MIN, forward_planes, &j);
    p->x = x->data;
    p->x_ndim = x->ndim;
    memcpy(p->x_shape, x->shape, sizeof p->x_shape);
    *y = &p->y;
    return TNN_OK;
}

static tnn_status pool_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_adaptive_avg_pool2d *p = (tnn_adaptive_avg_pool2d *)m;
    char d[96];
    if (!p->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    const size_t nout = (size_t)p->planes * (size_t)p->out_h * (size_t)p->out_w;
    if (dy->size != nout) {
        char s[64], o[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(dy, s, sizeof s), tnn_tensor_shape_str(&p->y, o, sizeof o));
    }
    if (!dx) return TNN_OK; /* no parameters: without dx nothing else to do */
    tnn_tensor *out;
    const size_t nx = (size_t)p->planes * (size_t)p->h * (size_t)p->w;
    tnn_status st = tnn_pick_dx(m, p->dx, p->x, nx, dy, p->x_ndim, p->x_shape, &out);
    if (st) return st;
    pool_job j = {p, NULL, dy->data, out->data};
    tnn_parallel_rows(p->planes, (size_t)p->h * (size_t)p->w, POOL_PARALLEL_MIN, backward_planes, &j);
    *dx = out;
    return TNN_OK;
}

static void pool_free(tnn_module *m)
{
    tnn_adaptive_avg_pool2d *p = (tnn_adaptive_avg_pool2d *)m;
    tnn_tensor_release(&p->y);
    tnn_tensor_release(&p->dx[0]);
    tnn_tensor_release(&p->dx[1]);
    tnn_free(p);
}

static const tnn_module_vtable pool_vt = {
    .type_name = "adaptive_avg_pool2d",
    .forward = pool_forward,
    .backward = pool_backward,
    .describe = pool_describe,
    .free = pool_free,
};

const tnn_tensor *tnn_adaptive_avg_pool2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &pool_vt ? &((const tnn_adaptive_avg_pool2d *)m)->y : NULL;
}

tnn_module *tnn_adaptive_avg_pool2d_new(int out_h, int out_w)
{
    const char *bad = out_h < 1 ? "out_h must be >= 1" : out_w < 1 ? "out_w must be >= 1" : NULL;
    if (bad) {
        tnn_error(TNN_ERR_ARG, "adaptive_avg_pool2d(%d x %d): %s", out_h, out_w, bad);
        return NULL;
    }
    tnn_adaptive_avg_pool2d *p = tnn_calloc(1, sizeof *p, "adaptive_avg_pool2d");
    if (!p) return NULL;
    tnn_module_init(&p->base, &pool_vt);
    p->out_h = out_h;
    p->out_w = out_w;
    tnn_tensor_init_empty(&p->y);
    tnn_tensor_init_empty(&p->dx[0]);
    tnn_tensor_init_empty(&p->dx[1]);
    return &p->base;
}
