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
    tnn_plane_io io;           /* input (never read by the backward), geometry (ho, wo are
                                  out_h, out_w), output, dL/dx */
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
        for (int k = 0; k < 4; k++) tnn_cascade_sum_cols(&part[k], x + k, 4, rows, 1);
        for (long long i = rows * 4; i < n; i++) part[0] += x[i];
        return part[0] + part[1] + part[2] + part[3];
    }
    const long long nvec = n / 8, rows = nvec / 4;
    float part[TNN_CASCADE_COLS]; /* part[8k + l]: accumulator k of lane l */
    tnn_cascade_sum_cols(part, x, TNN_CASCADE_COLS, rows, TNN_CASCADE_COLS);
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
    const int h = p->io.h, w = p->io.w, oh_n = p->out_h, ow_n = p->out_w;
    const size_t in_plane = (size_t)h * (size_t)w, out_plane = (size_t)oh_n * (size_t)ow_n;
    for (size_t c = b; c < e; c++) {
        const float *xc = j->x + c * in_plane;
        float *yc = p->io.y.data + c * out_plane;
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
    const int h = p->io.h, w = p->io.w, oh_n = p->out_h, ow_n = p->out_w;
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
    long long planes;
    int h, w;
    tnn_status st = tnn_plane_io_planes(m, x, &planes, &h, &w);
    if (st) return st;
    if (planes > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more than %d planes", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    if (tnn_tensor_overlaps(x, &p->io.y)) return tnn_error_own_output(m);
    st = tnn_plane_io_output(m, &p->io, x, (int)planes, h, w, p->out_h, p->out_w);
    if (st) return st;
    pool_job j = {p, x->data, NULL, NULL};
    /* planes are independent: any split, the same bits */
    tnn_parallel_rows(p->io.planes, (size_t)h * (size_t)w, POOL_PARALLEL_MIN, forward_planes, &j);
    tnn_plane_io_keep(&p->io, x, y);
    return TNN_OK;
}

static tnn_status pool_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_adaptive_avg_pool2d *p = (tnn_adaptive_avg_pool2d *)m;
    tnn_tensor *out;
    tnn_status st = tnn_plane_io_dx(m, &p->io, dy, dx != NULL, &out);
    if (st || !out) return st;
    pool_job j = {p, NULL, dy->data, out->data};
    tnn_parallel_rows(p->io.planes, (size_t)p->io.h * (size_t)p->io.w, POOL_PARALLEL_MIN, backward_planes, &j);
    *dx = out;
    return TNN_OK;
}

static void pool_free(tnn_module *m)
{
    tnn_adaptive_avg_pool2d *p = (tnn_adaptive_avg_pool2d *)m;
    tnn_plane_io_release(&p->io);
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
    return m && m->vt == &pool_vt ? &((const tnn_adaptive_avg_pool2d *)m)->io.y : NULL;
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
    tnn_tensor_init_empty(&p->io.y);
    tnn_tensor_init_empty(&p->io.dx[0]);
    tnn_tensor_init_empty(&p->io.dx[1]);
    return &p->base;
}
