/* MaxPool2d: PyTorch's nn.MaxPool2d with a square window, dilation 1 and ceil_mode
 * either way, computed as torch's CPU kernel (cpu_max_pool, NCHW) computes it.
 *
 * Each (sample, channel) plane [H x W] is pooled on its own. Output element (oh, ow)
 * looks at input rows [oh*s - p, oh*s - p + k) and columns likewise, clipped to the
 * plane (the padding is -inf: it never wins; with ceil_mode the last window may run
 * past the padding too, and its part there is left out just the same). ceil_mode
 * changes only the number of outputs (tnn_pool_window_out). Scanning the window row by row, the
 * maximum starts as -inf at the window's first element inside the plane and moves to a
 * later element v when v > max or v is NaN: ties keep the first maximum, a NaN takes the
 * place (the last NaN of the window), and a window of -inf points at its first element.
 * The forward keeps that argmax per output element (an int32 index into its plane);
 * the backward zeroes dL/dx and adds each dy into the element its output came from,
 * outputs in order, so windows that overlap (stride < kernel) add up in torch's order
 * and the results are torch's bits.
 *
 * Speed. The outputs of a row whose windows need no clipping across (all but the edges
 * when padded) are computed together, one window element at a time for the whole row,
 * with a select instead of a branch (row_inside): 4.4x faster than output by output on
 * random data, where the branch of the test is mispredicted half the time
 * (benchmarks.md, "MaxPool2d (0.7.0)"). */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct tnn_max_pool2d {
    tnn_module base;
    int k, stride, pad;
    bool ceil_mode;
    tnn_plane_io io;           /* input, geometry, output, dL/dx (the backward reads only
                                  the argmax, not the input) */
    int32_t *argmax;           /* [planes x ho x wo]: index ih*w + iw of each output's maximum */
    size_t argmax_cap;         /* elements allocated (grows, never shrinks) */
} tnn_max_pool2d;

static void pool_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_max_pool2d *p = (const tnn_max_pool2d *)m;
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = p->stride;
    set.padding = p->pad;
    set.ceil_mode = p->ceil_mode;
    tnn_pool2d_text(buf, len, "max_pool2d", p->k, &set);
}

/* The window of output index o along a dimension of `size`, clipped: [*lo, *hi). */
static void window(const tnn_max_pool2d *p, int o, int size, int *lo, int *hi)
{
    const long long a = (long long)o * p->stride - p->pad, b = a + p->k;
    *lo = a < 0 ? 0 : (int)a;
    *hi = b > size ? size : (int)b;
}

typedef struct pool_job {
    tnn_max_pool2d *p;
    const float *x, *dy;
    float *dx;
} pool_job;

/* Output row oh's columns [lo, hi) of plane xc, whose windows lie wholly inside the
 * plane across (rows [h0, h1)): forward_clipped's scan and test, run for all those
 * outputs at once, one window element at a time, so that the loop has no branch (a
 * select per output) and the compiler vectorizes it; s is the stride, a constant in
 * the calls below for the usual strides. Each output sees its window's elements in
 * the same order as in the scalar loop: the same maximum and argmax. */
static inline void row_inside(const float *restrict xc, int w, int pad, int k, int s, int h0, int h1, int lo, int hi,
                              float *restrict yr, int32_t *restrict ar)
{
    for (int ow = lo; ow < hi; ow++) {
        yr[ow] = -INFINITY;
        ar[ow] = h0 * w + ow * s - pad;
    }
    for (int ih = h0; ih < h1; ih++)
        for (int kw = 0; kw < k; kw++) {
            const int base = ih * w - pad + kw; /* this element of output 0's window (may be < 0) */
            for (int ow = lo; ow < hi; ow++) {
                const float v = xc[base + ow * s], m = yr[ow];
                const bool take = v > m || v != v; /* torch's test, as forward_clipped's */
                yr[ow] = take ? v : m;
                ar[ow] = take ? base + ow * s : ar[ow];
            }
        }
}

static inline void forward_row_inside(const tnn_max_pool2d *p, const float *xc, int h0, int h1, int lo, int hi, float *yr,
                                      int32_t *ar)
{
    if (p->stride == 1) row_inside(xc, p->io.w, p->pad, p->k, 1, h0, h1, lo, hi, yr, ar);
    else if (p->stride == 2) row_inside(xc, p->io.w, p->pad, p->k, 2, h0, h1, lo, hi, yr, ar);
    else row_inside(xc, p->io.w, p->pad, p->k, p->stride, h0, h1, lo, hi, yr, ar);
}

/* Output (oh, ow) of plane xc, its window clipped to the plane (rows [h0, h1)): the
 * scan row by row, from -inf at the window's first element inside the plane (every
 * window holds one: padding <= k/2, and with ceil_mode the last window starts inside
 * the plane or its left padding), moving to v when v > max or v is NaN (torch's
 * test: a NaN wins, the last one of the window). */
static void forward_clipped(const tnn_max_pool2d *p, const float *xc, int h0, int h1, int ow, float *yr, int32_t *ar)
{
    const int w = p->io.w;
    int w0, w1;
    window(p, ow, w, &w0, &w1);
    int32_t at = h0 * w + w0;
    float best = -INFINITY;
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) {
            const float v = xc[(size_t)ih * (size_t)w + (size_t)iw];
            if (v > best || isnan(v)) {
                best = v;
                at = ih * w + iw;
            }
        }
    yr[ow] = best;
    ar[ow] = at;
}

/* Planes [b, e): y and argmax, each row's unclipped outputs together (row_inside) and
 * the ones at its edges one by one. (Not compiled for AVX2/AVX-512 as the element-wise
 * kernels are, TNN_CLONES: their gathers made the strided loads of row_inside twice as
 * slow as the baseline's, 1.75 against 0.85 ms on [64 x 16 x 28 x 28], k2.) */
static void forward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    tnn_max_pool2d *p = j->p;
    const int h = p->io.h, w = p->io.w, ho = p->io.ho, wo = p->io.wo;
    const size_t in_plane = (size_t)h * (size_t)w, out_plane = (size_t)ho * (size_t)wo;
    /* the outputs [lo, hi) of a row whose windows need no clipping across */
    /* top < 0: no window fits across (C's division would round -1 / 2 up to 0) */
    const long long top = (long long)w + p->pad - p->k, h_end = top < 0 ? 0 : top / p->stride + 1;
    int lo = (p->pad + p->stride - 1) / p->stride, hi = h_end > wo ? wo : (int)h_end;
    if (lo > hi) lo = hi;
    for (size_t c = b; c < e; c++) {
        const float *xc = j->x + c * in_plane;
        float *yc = p->io.y.data + c * out_plane;
        int32_t *ac = p->argmax + c * out_plane;
        for (int oh = 0; oh < ho; oh++) {
            int h0, h1;
            window(p, oh, h, &h0, &h1);
            float *yr = yc + (size_t)oh * (size_t)wo;
            int32_t *ar = ac + (size_t)oh * (size_t)wo;
            for (int ow = 0; ow < lo; ow++) forward_clipped(p, xc, h0, h1, ow, yr, ar);
            forward_row_inside(p, xc, h0, h1, lo, hi, yr, ar);
            for (int ow = hi; ow < wo; ow++) forward_clipped(p, xc, h0, h1, ow, yr, ar);
        }
    }
}

/* Planes [b, e): dx zeroed, then each dy added where its output's maximum was, in
 * output order (torch's). */
static void backward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    const tnn_max_pool2d *p = j->p;
    const size_t in_plane = (size_t)p->io.h * (size_t)p->io.w, out_plane = (size_t)p->io.ho * (size_t)p->io.wo;
    memset(j->dx + b * in_plane, 0, (e - b) * in_plane * sizeof(float));
    for (size_t c = b; c < e; c++) {
        float *dxc = j->dx + c * in_plane;
        const float *dyc = j->dy + c * out_plane;
        const int32_t *ac = p->argmax + c * out_plane;
        for (size_t i = 0; i < out_plane; i++) dxc[ac[i]] += dyc[i];
    }
}

/* The planes are split over the library's threads (tnn_parallel_rows: equal runs of
 * planes), or run inline below about twice this many input elements. */
#define POOL_PARALLEL_MIN 16384

static tnn_status pool_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_max_pool2d *p = (tnn_max_pool2d *)m;
    char s[64], d[96];
    long long planes;
    int h, w;
    tnn_status st = tnn_plane_io_planes(m, x, &planes, &h, &w);
    if (st) return st;
    long long ho, wo;
    st = tnn_pool_window_out(m, x, h, w, p->k, p->stride, p->pad, p->ceil_mode, &ho, &wo);
    if (st) return st;
    if ((long long)h * w > INT32_MAX || planes > INT_MAX || ho > INT_MAX || wo > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more elements per plane (or planes) than its int32 argmax "
                         "indices hold", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s));
    if (tnn_tensor_overlaps(x, &p->io.y)) return tnn_error_own_output(m);
    const size_t nout = (size_t)planes * (size_t)ho * (size_t)wo;
    if (nout > p->argmax_cap) { /* grows only: the same shape (or a smaller one) allocates nothing */
        tnn_free(p->argmax);
        p->argmax_cap = 0;
        p->argmax = tnn_malloc(nout * sizeof *p->argmax, "max_pool2d argmax indices");
        if (!p->argmax) return TNN_ERR_NOMEM;
        p->argmax_cap = nout;
    }
    st = tnn_plane_io_output(m, &p->io, x, (int)planes, h, w, (int)ho, (int)wo);
    if (st) return st;
    pool_job j = {p, x->data, NULL, NULL};
    /* planes are independent: any split, the same bits */
    tnn_parallel_rows(p->io.planes, (size_t)h * (size_t)w, POOL_PARALLEL_MIN, forward_planes, &j);
    tnn_plane_io_keep(&p->io, x, y);
    return TNN_OK;
}

static tnn_status pool_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_max_pool2d *p = (tnn_max_pool2d *)m;
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
    tnn_max_pool2d *p = (tnn_max_pool2d *)m;
    tnn_plane_io_release(&p->io);
    tnn_free(p->argmax);
    tnn_free(p);
}

static const tnn_module_vtable pool_vt = {
    .type_name = "max_pool2d",
    .forward = pool_forward,
    .backward = pool_backward,
    .describe = pool_describe,
    .free = pool_free,
};

const tnn_tensor *tnn_max_pool2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &pool_vt ? &((const tnn_max_pool2d *)m)->io.y : NULL;
}

tnn_module *tnn_max_pool2d_new_with(int kernel_size, tnn_pool2d_params set)
{
    if (tnn_settings_refused(set.tag, "max_pool2d", "tnn_pool2d_defaults")) return NULL;
    const char *bad = tnn_pool2d_bad(kernel_size, &set, false);
    if (bad) {
        char d[96];
        tnn_pool2d_text(d, sizeof d, "max_pool2d", kernel_size, &set);
        tnn_error(TNN_ERR_ARG, "%s: %s", d, bad);
        return NULL;
    }
    tnn_max_pool2d *p = tnn_calloc(1, sizeof *p, "max_pool2d");
    if (!p) return NULL;
    tnn_module_init(&p->base, &pool_vt);
    p->k = kernel_size;
    p->stride = set.stride ? set.stride : kernel_size;
    p->pad = set.padding;
    p->ceil_mode = set.ceil_mode;
    tnn_tensor_init_empty(&p->io.y);
    tnn_tensor_init_empty(&p->io.dx[0]);
    tnn_tensor_init_empty(&p->io.dx[1]);
    return &p->base;
}

tnn_module *tnn_max_pool2d_new(int kernel_size, int stride, int padding)
{
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = stride;
    set.padding = padding;
    return tnn_max_pool2d_new_with(kernel_size, set);
}
