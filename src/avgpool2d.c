/* AvgPool2d: PyTorch's nn.AvgPool2d with a square window, ceil_mode and
 * divisor_override included, computed as torch 1.13's CPU kernel (cpu_avg_pool, NCHW,
 * aten/src/ATen/native/cpu/AvgPoolKernel.cpp) computes it, bit for bit.
 *
 * Each (sample, channel) plane [H x W] is pooled on its own. Output element (oh, ow)
 * covers input rows [oh*s - p, oh*s - p + k) and columns likewise; the padding holds
 * zeros. torch sums the window's elements inside the plane in float, row by row from
 * 0.0f, divides the sum by the divide factor converted to float (divisor_override when
 * set; else with count_include_pad the window's size clipped to the padded plane only,
 * which is k*k but for a window that runs past the padding under ceil_mode; else the
 * number of elements inside the plane), and adds that quotient to 0.0f (so a quotient
 * of -0 comes out +0). ceil_mode changes the number of outputs (tnn_pool_window_out)
 * and, through that last clipping, the divisor of the windows that run past the edge. The backward zeroes dL/dx, then,
 * output by output in order, adds dy / divide factor (in float) into every element of
 * the window inside the plane: where windows overlap (stride < kernel) the additions
 * come in torch's order, so the results are torch's bits.
 *
 * Speed: the outputs of a row whose windows need no clipping across are summed
 * together, one window element at a time for the whole row (row_inside), so the loop
 * vectorizes; each output still adds its elements in the scalar loop's order. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <string.h>

typedef struct tnn_avg_pool2d {
    tnn_module base;
    int k, stride, pad;
    bool ceil_mode, count_include_pad;
    int divisor_override;      /* 0: none */
    tnn_plane_io io;           /* input (never read by the backward), geometry, output, dL/dx */
} tnn_avg_pool2d;

static void pool_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_avg_pool2d *p = (const tnn_avg_pool2d *)m;
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = p->stride;
    set.padding = p->pad;
    set.ceil_mode = p->ceil_mode;
    set.count_include_pad = p->count_include_pad;
    set.divisor_override = p->divisor_override;
    tnn_pool2d_text(buf, len, "avg_pool2d", p->k, &set);
}

/* The window of output index o along a dimension of `size`: clipped to the plane,
 * [*lo, *hi), and its length clipped to the padded plane only (*padded: torch's
 * pool_size factor, k but for the last window with ceil_mode). */
static void window(const tnn_avg_pool2d *p, int o, int size, int *lo, int *hi, int *padded)
{
    const long long a = (long long)o * p->stride - p->pad;
    long long b = a + p->k;
    if (b > (long long)size + p->pad) b = (long long)size + p->pad;
    *padded = (int)(b - a);
    *lo = a < 0 ? 0 : (int)a;
    *hi = b > size ? size : (int)b;
}

/* The divide factor of a window of rows [h0, h1) (padded length ph) and columns
 * [w0, w1) (pw), as torch converts it: int64 to float. */
static inline float divisor(const tnn_avg_pool2d *p, int h0, int h1, int ph, int w0, int w1, int pw)
{
    const long long n = p->divisor_override ? p->divisor_override
                        : p->count_include_pad ? (long long)ph * pw : (long long)(h1 - h0) * (w1 - w0);
    return (float)n;
}

/* The outputs [lo, hi) of each row whose windows lie wholly inside the plane across,
 * along a dimension of `size` (w + pad - k and the stride are within int: the forward
 * refuses the rest). */
static void inside_range(const tnn_avg_pool2d *p, int size, int n_out, int *lo, int *hi)
{
    const long long s = p->stride;
    long long l = (p->pad + s - 1) / s, top = (long long)size + p->pad - p->k;
    long long h = top < 0 ? 0 : top / s + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = (int)l;
    *hi = (int)h;
}

typedef struct pool_job {
    tnn_avg_pool2d *p;
    const float *x, *dy;
    float *dx;
} pool_job;

/* The sums of output row oh's columns [lo, hi), whose windows lie inside the plane
 * across (rows [h0, h1)): each output's window elements added to 0.0f in the scalar
 * loop's order (row by row, left to right), all the row's outputs together. */
static inline void row_inside(const float *restrict xc, int w, int pad, int k, int s, int h0, int h1, int lo, int hi,
                              float *restrict yr)
{
    for (int ow = lo; ow < hi; ow++) yr[ow] = 0.0f;
    for (int ih = h0; ih < h1; ih++)
        for (int kw = 0; kw < k; kw++) {
            /* element kw of row ih of output ow's window: column ow*s - pad + kw >= 0 */
            const float *restrict xr = xc + (size_t)ih * (size_t)w + (size_t)(lo * s - pad + kw);
            for (int ow = lo; ow < hi; ow++) yr[ow] += xr[(size_t)(ow - lo) * (size_t)s];
        }
}

/* Output (oh, ow): its window clipped to the plane (rows [h0, h1), ph rows padded). */
static float clipped_output(const tnn_avg_pool2d *p, const float *xc, int h0, int h1, int ph, int ow)
{
    int w0, w1, pw;
    window(p, ow, p->io.w, &w0, &w1, &pw);
    float sum = 0.0f;
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) sum += xc[(size_t)ih * (size_t)p->io.w + (size_t)iw];
    return 0.0f + sum / divisor(p, h0, h1, ph, w0, w1, pw);
}

/* Planes [b, e) of y. */
static void forward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    const tnn_avg_pool2d *p = j->p;
    const int h = p->io.h, w = p->io.w, ho = p->io.ho, wo = p->io.wo;
    const size_t in_plane = (size_t)h * (size_t)w, out_plane = (size_t)ho * (size_t)wo;
    int lo, hi;
    inside_range(p, w, wo, &lo, &hi);
    for (size_t c = b; c < e; c++) {
        const float *xc = j->x + c * in_plane;
        float *yc = p->io.y.data + c * out_plane;
        for (int oh = 0; oh < ho; oh++) {
            int h0, h1, ph;
            window(p, oh, h, &h0, &h1, &ph);
            float *yr = yc + (size_t)oh * (size_t)wo;
            for (int ow = 0; ow < lo; ow++) yr[ow] = clipped_output(p, xc, h0, h1, ph, ow);
            if (lo < hi) {
                if (p->stride == 1) row_inside(xc, w, p->pad, p->k, 1, h0, h1, lo, hi, yr);
                else if (p->stride == 2) row_inside(xc, w, p->pad, p->k, 2, h0, h1, lo, hi, yr);
                else row_inside(xc, w, p->pad, p->k, p->stride, h0, h1, lo, hi, yr);
                /* the same factor for all of them: k columns inside, k padded */
                const float d = divisor(p, h0, h1, ph, 0, p->k, p->k);
                for (int ow = lo; ow < hi; ow++) yr[ow] = 0.0f + yr[ow] / d;
            }
            for (int ow = hi; ow < wo; ow++) yr[ow] = clipped_output(p, xc, h0, h1, ph, ow);
        }
    }
}

/* Planes [b, e) of dL/dx: zeroed, then each output's dy / divide factor added into its
 * window, outputs in order (torch's). */
static void backward_planes(void *ctx, size_t b, size_t e)
{
    const pool_job *j = ctx;
    const tnn_avg_pool2d *p = j->p;
    const int w = p->io.w;
    const size_t in_plane = (size_t)p->io.h * (size_t)w, out_plane = (size_t)p->io.ho * (size_t)p->io.wo;
    memset(j->dx + b * in_plane, 0, (e - b) * in_plane * sizeof(float));
    for (size_t c = b; c < e; c++) {
        float *dxc = j->dx + c * in_plane;
        const float *dyc = j->dy + c * out_plane;
        for (int oh = 0; oh < p->io.ho; oh++) {
            int h0, h1, ph;
            window(p, oh, p->io.h, &h0, &h1, &ph);
            for (int ow = 0; ow < p->io.wo; ow++) {
                int w0, w1, pw;
                window(p, ow, w, &w0, &w1, &pw);
                const float g = dyc[(size_t)oh * (size_t)p->io.wo + (size_t)ow] / divisor(p, h0, h1, ph, w0, w1, pw);
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
    tnn_avg_pool2d *p = (tnn_avg_pool2d *)m;
    char s[64], d[96];
    long long planes;
    int h, w;
    tnn_status st = tnn_plane_io_planes(m, x, &planes, &h, &w);
    if (st) return st;
    long long ho, wo;
    st = tnn_pool_window_out(m, x, h, w, p->k, p->stride, p->pad, p->ceil_mode, &ho, &wo);
    if (st) return st;
    if (planes > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more than %d planes", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    if (tnn_tensor_overlaps(x, &p->io.y)) return tnn_error_own_output(m);
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
    tnn_avg_pool2d *p = (tnn_avg_pool2d *)m;
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
    tnn_avg_pool2d *p = (tnn_avg_pool2d *)m;
    tnn_plane_io_release(&p->io);
    tnn_free(p);
}

static const tnn_module_vtable pool_vt = {
    .type_name = "avg_pool2d",
    .forward = pool_forward,
    .backward = pool_backward,
    .describe = pool_describe,
    .free = pool_free,
};

const tnn_tensor *tnn_avg_pool2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &pool_vt ? &((const tnn_avg_pool2d *)m)->io.y : NULL;
}

tnn_module *tnn_avg_pool2d_new_with(int kernel_size, tnn_pool2d_params set)
{
    if (tnn_settings_refused(set.tag, "avg_pool2d", "tnn_pool2d_defaults")) return NULL;
    const char *bad = tnn_pool2d_bad(kernel_size, &set, true);
    if (bad) {
        char d[128];
        tnn_pool2d_text(d, sizeof d, "avg_pool2d", kernel_size, &set);
        tnn_error(TNN_ERR_ARG, "%s: %s", d, bad);
        return NULL;
    }
    tnn_avg_pool2d *p = tnn_calloc(1, sizeof *p, "avg_pool2d");
    if (!p) return NULL;
    tnn_module_init(&p->base, &pool_vt);
    p->k = kernel_size;
    p->stride = set.stride ? set.stride : kernel_size;
    p->pad = set.padding;
    p->ceil_mode = set.ceil_mode;
    p->count_include_pad = set.count_include_pad;
    p->divisor_override = set.divisor_override;
    tnn_tensor_init_empty(&p->io.y);
    tnn_tensor_init_empty(&p->io.dx[0]);
    tnn_tensor_init_empty(&p->io.dx[1]);
    return &p->base;
}

tnn_module *tnn_avg_pool2d_new(int kernel_size, int stride, int padding, bool count_include_pad)
{
    tnn_pool2d_params set = tnn_pool2d_defaults();
    set.stride = stride;
    set.padding = padding;
    set.count_include_pad = count_include_pad;
    return tnn_avg_pool2d_new_with(kernel_size, set);
}
