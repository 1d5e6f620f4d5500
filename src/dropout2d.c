/* Dropout2d: channel-wise dropout (torch.nn.Dropout2d), training only. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <limits.h>
#include <string.h>

typedef struct tnn_dropout2d {
    tnn_module base;
    float p;
    tnn_rng *rng;         /* borrowed; NULL: for evaluation only */
    tnn_tensor mask;      /* [N x C]: 0 or 1/(1-p) per channel of each sample, last training forward */
    tnn_tensor y, dx[2];  /* dL/dx: see tnn_pick_dx */
    const float *x;       /* the last forward's input: not read by backward, not written either */
    size_t nx;
    int planes;           /* N * C of the last forward */
    size_t plane;         /* elements per channel: H * W (or L) */
    bool applied;         /* last forward used the mask */
    bool ran;
} tnn_dropout2d;

static void dropout2d_describe(const tnn_module *m, char *buf, size_t len)
{
    snprintf(buf, len, "dropout2d(p=%g)", (double)((const tnn_dropout2d *)m)->p);
}

/* The channels are split over the library's threads (tnn_parallel_rows), or run inline
 * below about twice this many elements. Each element is one multiplication by its
 * channel's factor, so any split gives the same bits. */
#define DROPOUT2D_PARALLEL_MIN 16384

typedef struct {
    const float *mask, *in;
    float *out;
    size_t plane;
} scale_job;

static void scale_planes(void *ctx, size_t begin, size_t end)
{
    const scale_job *j = ctx;
    for (size_t c = begin; c < end; c++) {
        const float f = j->mask[c];
        const float *in = j->in + c * j->plane;
        float *out = j->out + c * j->plane;
        for (size_t i = 0; i < j->plane; i++) out[i] = in[i] * f;
    }
}

static tnn_status dropout2d_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_dropout2d *d = (tnn_dropout2d *)m;
    char s[64], dd[64];
    d->ran = false;
    /* torch 1.13 takes a 3-D input as [N x C x L] (with a warning that a later release
     * will read it as one unbatched sample [C x H x W]); other ranks it deprecates */
    if (x->ndim != 3 && x->ndim != 4)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x channels x H x W] (or [batch x "
                         "channels x L], as torch 1.13's Dropout2d takes a 3-D input); element-wise dropout is "
                         "tnn_dropout_new", tnn_module_describe(m, dd, sizeof dd), tnn_tensor_shape_str(x, s, sizeof s),
                         x->ndim);
    if ((long long)x->shape[0] * x->shape[1] > INT_MAX)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has more than %d channels in all",
                         tnn_module_describe(m, dd, sizeof dd), tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    /* Exactly over its own output (element i over element i) is harmless; any other
     * overlap would read elements already written. */
    bool exact = x->data == d->y.data;
    if (!exact && tnn_tensor_overlaps(x, &d->y)) return tnn_error_own_output(m);
    if (m->training && d->p > 0.0f && !d->rng)
        return tnn_error(TNN_ERR_STATE, "%s forward: training needs random masks, and this module was created "
                         "without an rng (for evaluation only: tnn_module_eval)", tnn_module_describe(m, dd, sizeof dd));
    tnn_status st = tnn_tensor_ensure_like(&d->y, x, "dropout2d");
    if (st) return st;
    const int n = x->shape[0], c = x->shape[1];
    const size_t plane = c && n ? x->size / ((size_t)n * (size_t)c) : 0;
    d->applied = m->training && d->p > 0.0f;
    if (d->applied) {
        st = tnn_tensor_ensure2(&d->mask, n, c, "dropout2d mask");
        if (st) return st;
        /* torch's _feature_dropout: noise [N x C x 1 x 1], bernoulli_(1 - p), then
         * noise.div_(1 - p) (1 - p taken in double, rounded to float, the division in
         * float) and input * noise; p = 1 multiplies by 0. One draw per (sample,
         * channel), in that order, on the calling thread: the same masks on any number
         * of threads. */
        const double p1m = 1.0 - (double)d->p;
        const float scale = p1m == 0.0 ? 0.0f : 1.0f / (float)p1m;
        const size_t planes = (size_t)n * (size_t)c;
        for (size_t i = 0; i < planes; i++) d->mask.data[i] = tnn_rng_uniform(d->rng) >= d->p ? scale : 0.0f;
        scale_job j = {d->mask.data, x->data, d->y.data, plane};
        tnn_parallel_rows(n * c, plane, DROPOUT2D_PARALLEL_MIN, scale_planes, &j);
    } else {
        if (!exact) memcpy(d->y.data, x->data, x->size * sizeof(float));
    }
    d->planes = n * c;
    d->plane = plane;
    d->x = x->data;
    d->nx = x->size;
    d->ran = true;
    *y = &d->y;
    return TNN_OK;
}

static tnn_status dropout2d_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_dropout2d *d = (tnn_dropout2d *)m;
    char dd[64];
    if (!d->ran)
        return tnn_error(TNN_ERR_STATE, "%s: backward called before forward (or after a forward that failed)",
                         tnn_module_describe(m, dd, sizeof dd));
    if (dy->size != d->y.size) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", tnn_module_describe(m, dd, sizeof dd),
                         tnn_tensor_shape_str(dy, s1, sizeof s1), tnn_tensor_shape_str(&d->y, s2, sizeof s2));
    }
    if (!dx) return TNN_OK;
    tnn_tensor *out; /* not over dy or the input: either may be this module's dx from the last backward */
    tnn_status st = tnn_pick_dx(m, d->dx, d->x, d->nx, dy, d->y.ndim, d->y.shape, &out);
    if (st) return st;
    if (d->applied) { /* torch's mul backward: dy * noise, per channel */
        scale_job j = {d->mask.data, dy->data, out->data, d->plane};
        tnn_parallel_rows(d->planes, d->plane, DROPOUT2D_PARALLEL_MIN, scale_planes, &j);
    } else {
        memcpy(out->data, dy->data, dy->size * sizeof(float));
    }
    *dx = out;
    return TNN_OK;
}

static void dropout2d_free(tnn_module *m)
{
    tnn_dropout2d *d = (tnn_dropout2d *)m;
    tnn_tensor_release(&d->mask);
    tnn_tensor_release(&d->y);
    tnn_tensor_release(&d->dx[0]);
    tnn_tensor_release(&d->dx[1]);
    tnn_free(d);
}

static const tnn_module_vtable dropout2d_vt = {
    .type_name = "dropout2d",
    .forward = dropout2d_forward,
    .backward = dropout2d_backward,
    .describe = dropout2d_describe,
    .free = dropout2d_free,
};

const tnn_tensor *tnn_dropout2d_output_buffer(const tnn_module *m)
{
    return m && m->vt == &dropout2d_vt ? &((const tnn_dropout2d *)m)->y : NULL;
}

tnn_module *tnn_dropout2d_new(float p, tnn_rng *rng)
{
    if (!(p >= 0.0f && p <= 1.0f)) {
        tnn_error(TNN_ERR_ARG, "dropout2d: p must be in [0, 1], got %g", (double)p);
        return NULL;
    }
    tnn_dropout2d *d = tnn_calloc(1, sizeof *d, "dropout2d");
    if (!d) return NULL;
    tnn_module_init(&d->base, &dropout2d_vt);
    d->p = p;
    d->rng = rng;
    tnn_tensor_init_empty(&d->mask);
    tnn_tensor_init_empty(&d->y);
    tnn_tensor_init_empty(&d->dx[0]);
    tnn_tensor_init_empty(&d->dx[1]);
    return &d->base;
}
