/* Dropout (training only) and Flatten. */
#include "tnn_impl.h"

#include <math.h>
#include <limits.h>
#include <string.h>

typedef struct tnn_dropout {
    tnn_module base;
    float p;
    tnn_rng *rng;         /* borrowed; NULL: for evaluation only */
    tnn_tensor mask;      /* 0 or 1/(1-p) per element of the last training forward */
    tnn_tensor y, dx[2];  /* dL/dx: see tnn_pick_dx */
    const float *x;       /* the last forward's input: not read by backward, not written either */
    size_t nx;
    bool applied;         /* last forward used the mask */
    bool ran;
} tnn_dropout;

static void dropout_describe(const tnn_module *m, char *buf, size_t len)
{
    snprintf(buf, len, "dropout(p=%g)", (double)((const tnn_dropout *)m)->p);
}

static tnn_status dropout_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_dropout *d = (tnn_dropout *)m;
    /* Exactly over its own output (element i over element i) is harmless; any other
     * overlap would read elements already written. */
    bool exact = x->data == d->y.data;
    if (!exact && tnn_tensor_overlaps(x, &d->y)) return tnn_error_own_output(m);
    if (m->training && d->p > 0.0f && !d->rng)
        return tnn_error(TNN_ERR_STATE, "dropout(p=%g) forward: training needs random masks, and this module was "
                         "created without an rng (for evaluation only: tnn_module_eval)", (double)d->p);
    tnn_status st = tnn_tensor_ensure_like(&d->y, x, "dropout");
    if (st) return st;
    d->applied = m->training && d->p > 0.0f;
    if (d->applied) {
        st = tnn_tensor_ensure_like(&d->mask, x, "dropout mask");
        if (st) return st;
        /* torch's CPU dropout: noise.div_(1 - p), 1 - p taken in double (Python's) and
         * rounded to float, the division in float; p = 1 multiplies by 0 */
        const double p1m = 1.0 - (double)d->p;
        const float scale = p1m == 0.0 ? 0.0f : 1.0f / (float)p1m;
        for (size_t i = 0; i < x->size; i++) {
            float keep = tnn_rng_uniform(d->rng) >= d->p ? scale : 0.0f;
            d->mask.data[i] = keep;
            d->y.data[i] = x->data[i] * keep;
        }
    } else {
        if (!exact) memcpy(d->y.data, x->data, x->size * sizeof(float));
    }
    d->x = x->data;
    d->nx = x->size;
    d->ran = true;
    *y = &d->y;
    return TNN_OK;
}

static tnn_status dropout_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_dropout *d = (tnn_dropout *)m;
    if (!d->ran) return tnn_error(TNN_ERR_STATE, "dropout: backward called before forward");
    if (dy->size != d->y.size) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "dropout: dy %s does not match the output %s",
                         tnn_tensor_shape_str(dy, s1, sizeof s1), tnn_tensor_shape_str(&d->y, s2, sizeof s2));
    }
    if (!dx) return TNN_OK;
    tnn_tensor *out; /* not over dy or the input: either may be this module's dx from the last backward */
    tnn_status st = tnn_pick_dx(m, d->dx, d->x, d->nx, dy, d->y.ndim, d->y.shape, &out);
    if (st) return st;
    for (size_t i = 0; i < dy->size; i++) out->data[i] = d->applied ? dy->data[i] * d->mask.data[i] : dy->data[i];
    *dx = out;
    return TNN_OK;
}

static void dropout_free(tnn_module *m)
{
    tnn_dropout *d = (tnn_dropout *)m;
    tnn_tensor_release(&d->mask);
    tnn_tensor_release(&d->y);
    tnn_tensor_release(&d->dx[0]);
    tnn_tensor_release(&d->dx[1]);
    tnn_free(d);
}

static const tnn_module_vtable dropout_vt = {
    .type_name = "dropout",
    .forward = dropout_forward,
    .backward = dropout_backward,
    .describe = dropout_describe,
    .free = dropout_free,
};

tnn_module *tnn_dropout_new(float p, tnn_rng *rng)
{
    if (!(p >= 0.0f && p <= 1.0f)) {
        tnn_error(TNN_ERR_ARG, "dropout: p must be in [0, 1], got %g", (double)p);
        return NULL;
    }
    tnn_dropout *d = tnn_calloc(1, sizeof *d, "dropout");
    if (!d) return NULL;
    tnn_module_init(&d->base, &dropout_vt);
    d->p = p;
    d->rng = rng;
    tnn_tensor_init_empty(&d->mask);
    tnn_tensor_init_empty(&d->y);
    tnn_tensor_init_empty(&d->dx[0]);
    tnn_tensor_init_empty(&d->dx[1]);
    return &d->base;
}

/* ---- Flatten: a view with shape [batch x rest] ---- */

typedef struct tnn_flatten {
    tnn_module base;
    tnn_tensor y, dx;     /* views (not owned) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    bool ran;
} tnn_flatten;

static tnn_status flatten_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_flatten *f = (tnn_flatten *)m;
    f->ran = false;
    if (x->ndim < 2) { /* torch's Flatten refuses it too: a sample without its batch */
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "flatten: input %s is 1-D, expected [batch x d1 x ...] (one sample is [1 x ...])",
                         tnn_tensor_shape_str(x, s, sizeof s));
    }
    f->x_ndim = x->ndim;
    memcpy(f->x_shape, x->shape, sizeof f->x_shape);
    size_t features = tnn_row_size(x);
    if (features > INT_MAX) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "flatten: input %s has %zu features per row, more than a dimension can hold",
                         tnn_tensor_shape_str(x, s, sizeof s), features);
    }
    f->y = *x;
    f->y.owns = false;
    int shape[2] = {x->shape[0], (int)features};
    tnn_status st = tnn_tensor_reshape(&f->y, 2, shape);
    if (st) return st;
    f->ran = true;
    *y = &f->y;
    return TNN_OK;
}

static tnn_status flatten_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_flatten *f = (tnn_flatten *)m;
    if (!f->ran) return tnn_error(TNN_ERR_STATE, "flatten: backward called before forward");
    if (dy->size != f->y.size) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "flatten: dy %s does not match the output %s",
                         tnn_tensor_shape_str(dy, s1, sizeof s1), tnn_tensor_shape_str(&f->y, s2, sizeof s2));
    }
    if (!dx) return TNN_OK;
    f->dx = *dy;
    f->dx.owns = false;
    tnn_status st = tnn_tensor_reshape(&f->dx, f->x_ndim, f->x_shape);
    if (st) return st;
    *dx = &f->dx;
    return TNN_OK;
}

static void flatten_free(tnn_module *m) { tnn_free(m); }

static const tnn_module_vtable flatten_vt = {
    .type_name = "flatten",
    .forward = flatten_forward,
    .backward = flatten_backward,
    .free = flatten_free,
};

bool tnn_is_dropout(const tnn_module *m) { return m && m->vt == &dropout_vt; }
const tnn_tensor *tnn_dropout_output_buffer(const tnn_module *m) { return &((const tnn_dropout *)m)->y; }

tnn_module *tnn_flatten_new(void)
{
    tnn_flatten *f = tnn_calloc(1, sizeof *f, "flatten");
    if (!f) return NULL;
    tnn_module_init(&f->base, &flatten_vt);
    return &f->base;
}
