/* Upsample: PyTorch's nn.Upsample(scale_factor=k, mode='nearest') for an integer k on
 * [N x C x H x W], computed as torch 1.13's CPU kernels compute it.
 *
 * Output row oh reads input row src(oh), column ow input column src(ow), with torch's
 * nearest_idx (aten/src/ATen/native/UpSample.h): the index itself when the output size
 * equals the input size (k = 1), oh >> 1 when it is twice it (k = 2), and otherwise
 * min(floor((float)oh * (float)(1.0 / k)), H - 1), in float as torch computes it. That
 * is oh / k for most k and sizes, but not for all: with k = 41, (float)41 * (float)(1/41)
 * rounds below 1, so output row 41 reads input row 0, in torch as here (42 output rows
 * come from input row 0, 40 from row 1). The sources are a table of ho + wo indices,
 * made once per input size.
 *
 * The forward writes an output row from its source row (each element k times when the
 * columns' sources are plainly ow / k, else through the table) and copies it to the
 * following output rows of the same source row. The backward is torch's
 * cpu_upsample_nearest_backward: dL/dx zeroed, then for each plane, output rows in
 * order and each row's columns in order, dx[src(oh)][src(ow)] += dy[oh][ow] in float
 * (torch's scalar_t; no wider accumulator). So each input element's gradient is
 * ((0 + dy[first]) + dy[next]) + ... over its k x k outputs row by row, from +0 (a
 * block of -0 gives +0), torch's bits. Planes are independent: on any thread count the
 * same bits. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct tnn_upsample {
    tnn_module base;
    int k;
    tnn_plane_io io;           /* input (the backward reads only its shape), geometry,
                                  output, dL/dx */
    int32_t *src;              /* [ho + wo]: the source row of each output row, then the
                                  source column of each output column */
    size_t src_cap;            /* entries allocated (grows, never shrinks) */
    int src_h, src_w;          /* the input size the table is for (0: none) */
    bool plain;                /* src(ow) == ow / k for every output column */
} tnn_upsample;

static void upsample_describe(const tnn_module *m, char *buf, size_t len)
{
    snprintf(buf, len, "upsample(scale_factor=%d, nearest)", ((const tnn_upsample *)m)->k);
}

/* torch's nearest_idx for output index o of a dimension of input size `in` and output
 * size `out` = in * k, with scale_factor k. */
static int32_t nearest_idx(long long o, long long in, long long out, int k)
{
    if (out == in) return (int32_t)o;
    if (out == 2 * in) return (int32_t)(o >> 1);
    const float scale = (float)(1.0 / (double)k); /* compute_scales_value<float> */
    const long long s = (long long)floorf((float)o * scale);
    return (int32_t)(s < in - 1 ? s : in - 1);
}

typedef struct up_job {
    const tnn_upsample *p;
    const float *x, *dy;
    float *y, *dx;
} up_job;

/* Output row yr (wo elements) from input row xr. */
static inline void build_row(const tnn_upsample *p, const float *restrict xr, float *restrict yr)
{
    const int k = p->k, w = p->io.w, wo = p->io.wo;
    const int32_t *sw = p->src + p->io.ho;
    if (!p->plain) {
        for (int ow = 0; ow < wo; ow++) yr[ow] = xr[sw[ow]];
    } else if (k == 1) {
        memcpy(yr, xr, (size_t)w * sizeof(float));
    } else if (k == 2) {
        for (int iw = 0; iw < w; iw++) {
            const float v = xr[iw];
            yr[2 * iw] = v;
            yr[2 * iw + 1] = v;
        }
    } else {
        for (int iw = 0; iw < w; iw++) {
            const float v = xr[iw];
            float *o = yr + (size_t)iw * (size_t)k;
            for (int j = 0; j < k; j++) o[j] = v;
        }
    }
}

/* Planes [b, e): each output row built from its source row, or copied from the row
 * above when that has the same source. */
static void forward_planes(void *ctx, size_t b, size_t e)
{
    const up_job *j = ctx;
    const tnn_upsample *p = j->p;
    const size_t w = (size_t)p->io.w, wo = (size_t)p->io.wo, in_plane = (size_t)p->io.h * w, out_plane = (size_t)p->io.ho * wo;
    const int32_t *sh = p->src;
    for (size_t c = b; c < e; c++) {
        const float *xc = j->x + c * in_plane;
        float *yc = j->y + c * out_plane;
        for (int oh = 0; oh < p->io.ho; oh++) {
            float *yr = yc + (size_t)oh * wo;
            if (oh > 0 && sh[oh] == sh[oh - 1]) memcpy(yr, yr - wo, wo * sizeof(float));
            else build_row(p, xc + (size_t)sh[oh] * w, yr);
        }
    }
}

/* Planes [b, e): dx zeroed, then every dy added into its source element, output rows in
 * order and each row's columns in order (torch's order, in float). */
static void backward_planes(void *ctx, size_t b, size_t e)
{
    const up_job *j = ctx;
    const tnn_upsample *p = j->p;
    const int k = p->k, w = p->io.w, wo = p->io.wo;
    const size_t in_plane = (size_t)p->io.h * (size_t)w, out_plane = (size_t)p->io.ho * (size_t)wo;
    const int32_t *sh = p->src, *sw = p->src + p->io.ho;
    memset(j->dx + b * in_plane, 0, (e - b) * in_plane * sizeof(float));
    for (size_t c = b; c < e; c++) {
        float *dxc = j->dx + c * in_plane;
        const float *dyc = j->dy + c * out_plane;
        for (int oh = 0; oh < p->io.ho; oh++) {
            float *restrict dxr = dxc + (size_t)sh[oh] * (size_t)w;
            const float *restrict dyr = dyc + (size_t)oh * (size_t)wo;
            if (!p->plain) {
                for (int ow = 0; ow < wo; ow++) dxr[sw[ow]] += dyr[ow];
            } else if (k == 2) {
                for (int iw = 0; iw < w; iw++) dxr[iw] = (dxr[iw] + dyr[2 * iw]) + dyr[2 * iw + 1];
            } else {
                for (int iw = 0; iw < w; iw++) {
                    float acc = dxr[iw];
                    const float *d = dyr + (size_t)iw * (size_t)k;
                    for (int q = 0; q < k; q++) acc += d[q];
                    dxr[iw] = acc;
                }
            }
        }
    }
}

/* The planes are split over the library's threads (tnn_parallel_rows), or run inline
 * below about twice this many output elements. */
#define UPSAMPLE_PARALLEL_MIN 32768

static tnn_status upsample_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_upsample *p = (tnn_upsample *)m;
    char s[64], d[64];
    if (x->ndim != 4)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x channels x H x W] (4-D: torch's "
                         "Upsample takes a 3-D input as [batch x channels x L], a 1-D upsampling; one sample is "
                         "[1 x C x H x W])", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s),
                         x->ndim);
    const long long planes = (long long)x->shape[0] * x->shape[1];
    const int h = x->shape[2], w = x->shape[3];
    const long long ho = (long long)h * p->k, wo = (long long)w * p->k;
    if (ho > INT_MAX || wo > INT_MAX || planes > INT_MAX ||
        (unsigned long long)ho * (unsigned long long)wo > SIZE_MAX / sizeof(float) / (unsigned long long)planes)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s: the output [%d x %d x %lld x %lld] is larger than a tensor "
                         "holds (each dimension at most %d)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), x->shape[0], x->shape[1], ho, wo, INT_MAX);
    if (tnn_tensor_overlaps(x, &p->io.y)) return tnn_error_own_output(m);
    /* The output first: an output too large for memory is refused before the table of
     * source indices (ho + wo entries) is built for it. */
    tnn_status st = tnn_plane_io_output(m, &p->io, x, (int)planes, h, w, (int)ho, (int)wo);
    if (st) return st;
    if (h != p->src_h || w != p->src_w) {
        const size_t n = (size_t)ho + (size_t)wo;
        if (n > p->src_cap) { /* grows only: the same size (or a smaller one) allocates nothing */
            int32_t *grown = tnn_malloc(n * sizeof *p->src, "upsample source indices");
            if (!grown) return TNN_ERR_NOMEM; /* the old table stays, for the last forward's backward */
            tnn_free(p->src);
            p->src = grown;
            p->src_cap = n;
        }
        for (long long o = 0; o < ho; o++) p->src[o] = nearest_idx(o, h, ho, p->k);
        bool plain = true;
        for (long long o = 0; o < wo; o++) {
            p->src[ho + o] = nearest_idx(o, w, wo, p->k);
            plain &= p->src[ho + o] == o / p->k;
        }
        p->plain = plain;
        p->src_h = h;
        p->src_w = w;
    }
    up_job j = {p, x->data, NULL, p->io.y.data, NULL};
    /* planes are independent: any split, the same bits */
    tnn_parallel_rows(p->io.planes, (size_t)ho * (size_t)wo, UPSAMPLE_PARALLEL_MIN, forward_planes, &j);
    tnn_plane_io_keep(&p->io, x, y);
    return TNN_OK;
}

static tnn_status upsample_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_upsample *p = (tnn_upsample *)m;
    tnn_tensor *out;
    tnn_status st = tnn_plane_io_dx(m, &p->io, dy, dx != NULL, &out);
    if (st || !out) return st;
    up_job j = {p, NULL, dy->data, NULL, out->data};
    tnn_parallel_rows(p->io.planes, (size_t)p->io.ho * (size_t)p->io.wo, UPSAMPLE_PARALLEL_MIN, backward_planes, &j);
    *dx = out;
    return TNN_OK;
}

static void upsample_free(tnn_module *m)
{
    tnn_upsample *p = (tnn_upsample *)m;
    tnn_plane_io_release(&p->io);
    tnn_free(p->src);
    tnn_free(p);
}

static const tnn_module_vtable upsample_vt = {
    .type_name = "upsample",
    .forward = upsample_forward,
    .backward = upsample_backward,
    .describe = upsample_describe,
    .free = upsample_free,
};

const tnn_tensor *tnn_upsample_output_buffer(const tnn_module *m)
{
    return m && m->vt == &upsample_vt ? &((const tnn_upsample *)m)->io.y : NULL;
}

tnn_module *tnn_upsample_nearest2d_new(int scale_factor)
{
    if (scale_factor < 1) {
        tnn_error(TNN_ERR_ARG, "upsample(scale_factor=%d, nearest): scale_factor must be >= 1", scale_factor);
        return NULL;
    }
    tnn_upsample *p = tnn_calloc(1, sizeof *p, "upsample");
    if (!p) return NULL;
    tnn_module_init(&p->base, &upsample_vt);
    p->k = scale_factor;
    tnn_tensor_init_empty(&p->io.y);
    tnn_tensor_init_empty(&p->io.dx[0]);
    tnn_tensor_init_empty(&p->io.dx[1]);
    return &p->base;
}
