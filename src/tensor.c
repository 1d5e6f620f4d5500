/* Tensors: creation, views, reshapes, fills, shape strings. */
#include "tnn_impl.h"

#include <stdlib.h>
#include <string.h>

static tnn_status check_shape(int ndim, const int *shape, size_t *size_out)
{
    if (ndim < 1 || ndim > TNN_MAX_DIMS)
        return tnn_error(TNN_ERR_ARG, "tensor: %d dimensions requested, supported 1..%d", ndim, TNN_MAX_DIMS);
    if (!shape) return tnn_error(TNN_ERR_ARG, "tensor: shape is NULL");
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return tnn_error(TNN_ERR_ARG, "tensor: dimension %d is %d, must be >= 1", i, shape[i]);
        if (size > SIZE_MAX / sizeof(float) / (size_t)shape[i])
            return tnn_error(TNN_ERR_ARG, "tensor: shape too large (overflows)");
        size *= (size_t)shape[i];
    }
    *size_out = size;
    return TNN_OK;
}

static void set_shape(tnn_tensor *t, int ndim, const int *shape, size_t size)
{
    t->ndim = ndim;
    for (int i = 0; i < TNN_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->size = size;
}

void tnn_tensor_init_empty(tnn_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->ndim = 1;
    for (int i = 0; i < TNN_MAX_DIMS; i++) t->shape[i] = 1;
    t->size = 0;
    t->owns = true;
}

void tnn_tensor_release(tnn_tensor *t)
{
    if (t && t->owns) tnn_free(t->data);
    if (t) { t->data = NULL; t->capacity = 0; t->size = 0; }
}

tnn_tensor *tnn_tensor_new(int ndim, const int *shape)
{
    size_t size;
    if (check_shape(ndim, shape, &size) != TNN_OK) return NULL;
    tnn_tensor *t = tnn_malloc(sizeof *t, "tensor header");
    if (!t) return NULL;
    tnn_tensor_init_empty(t);
    t->data = tnn_calloc(size, sizeof(float), "tensor data");
    if (!t->data) { tnn_free(t); return NULL; }
    t->capacity = size;
    set_shape(t, ndim, shape, size);
    return t;
}

tnn_tensor *tnn_tensor_new1(int d0) { return tnn_tensor_new(1, (int[]){d0}); }
tnn_tensor *tnn_tensor_new2(int d0, int d1) { return tnn_tensor_new(2, (int[]){d0, d1}); }
tnn_tensor *tnn_tensor_new3(int d0, int d1, int d2) { return tnn_tensor_new(3, (int[]){d0, d1, d2}); }
tnn_tensor *tnn_tensor_new4(int d0, int d1, int d2, int d3) { return tnn_tensor_new(4, (int[]){d0, d1, d2, d3}); }

tnn_tensor *tnn_tensor_view(float *data, int ndim, const int *shape)
{
    size_t size;
    if (!data) { tnn_error(TNN_ERR_ARG, "tensor view: data is NULL"); return NULL; }
    if (check_shape(ndim, shape, &size) != TNN_OK) return NULL;
    tnn_tensor *t = tnn_malloc(sizeof *t, "tensor header");
    if (!t) return NULL;
    tnn_tensor_init_empty(t);
    t->data = data;
    t->owns = false;
    t->capacity = size;
    set_shape(t, ndim, shape, size);
    return t;
}

tnn_tensor *tnn_tensor_reshape_view(const tnn_tensor *src, int ndim, const int *shape)
{
    if (!src) { tnn_error(TNN_ERR_ARG, "tensor reshape: tensor is NULL"); return NULL; }
    size_t size;
    if (check_shape(ndim, shape, &size) != TNN_OK) return NULL;
    if (size != src->size) {
        char a[64], b[64];
        tnn_tensor tmp;
        tnn_tensor_init_empty(&tmp);
        set_shape(&tmp, ndim, shape, size);
        tnn_error(TNN_ERR_SHAPE, "tensor reshape: cannot view %s (%zu elements) as %s (%zu elements)",
                  tnn_tensor_shape_str(src, a, sizeof a), src->size, tnn_tensor_shape_str(&tmp, b, sizeof b), size);
        return NULL;
    }
    return tnn_tensor_view(src->data, ndim, shape);
}

tnn_status tnn_tensor_reshape(tnn_tensor *t, int ndim, const int *shape)
{
    if (!t) return tnn_error(TNN_ERR_ARG, "tensor reshape: tensor is NULL");
    size_t size;
    tnn_status st = check_shape(ndim, shape, &size);
    if (st) return st;
    if (size != t->size) {
        char a[64];
        return tnn_error(TNN_ERR_SHAPE, "tensor reshape: %s has %zu elements, new shape has %zu",
                         tnn_tensor_shape_str(t, a, sizeof a), t->size, size);
    }
    set_shape(t, ndim, shape, size);
    return TNN_OK;
}

tnn_status tnn_tensor_resize(tnn_tensor *t, int ndim, const int *shape)
{
    if (!t) return tnn_error(TNN_ERR_ARG, "tensor resize: tensor is NULL");
    size_t size;
    tnn_status st = check_shape(ndim, shape, &size);
    if (st) return st;
    if (size > t->capacity) {
        if (!t->owns)
            return tnn_error(TNN_ERR_SHAPE, "tensor resize: a view of %zu elements cannot grow to %zu", t->capacity, size);
        float *d = tnn_realloc(t->data, size * sizeof(float), "tensor data");
        if (!d) return TNN_ERR_NOMEM;
        t->data = d;
        t->capacity = size;
    }
    set_shape(t, ndim, shape, size);
    return TNN_OK;
}

tnn_status tnn_tensor_ensure2(tnn_tensor *t, int rows, int cols, const char *what)
{
    tnn_status st = tnn_tensor_resize(t, 2, (int[]){rows, cols});
    if (st == TNN_ERR_NOMEM) return tnn_error(st, "%s: out of memory for a [%d x %d] buffer", what, rows, cols);
    return st;
}

tnn_status tnn_tensor_ensure_like(tnn_tensor *t, const tnn_tensor *like, const char *what)
{
    tnn_status st = tnn_tensor_resize(t, like->ndim, like->shape);
    if (st == TNN_ERR_NOMEM) return tnn_error(st, "%s: out of memory for a buffer of %zu floats", what, like->size);
    return st;
}

tnn_tensor *tnn_tensor_clone(const tnn_tensor *src)
{
    if (!src) { tnn_error(TNN_ERR_ARG, "tensor clone: tensor is NULL"); return NULL; }
    char why[128];
    if (tnn_tensor_problem(src, why, sizeof why)) { /* a header filled in by hand */
        tnn_error(TNN_ERR_ARG, "tensor clone: the tensor %s", why);
        return NULL;
    }
    tnn_tensor *t = tnn_tensor_new(src->ndim, src->shape);
    if (t) memcpy(t->data, src->data, src->size * sizeof(float));
    return t;
}

void tnn_tensor_free(tnn_tensor *t)
{
    if (!t) return;
    tnn_tensor_release(t);
    tnn_free(t);
}

void tnn_tensor_zero(tnn_tensor *t)
{
    if (t && t->data) memset(t->data, 0, t->size * sizeof(float));
}

void tnn_tensor_fill(tnn_tensor *t, float v)
{
    if (!t || !t->data) return;
    for (size_t i = 0; i < t->size; i++) t->data[i] = v;
}

tnn_status tnn_tensor_copy(tnn_tensor *dst, const tnn_tensor *src)
{
    if (!dst || !src) return tnn_error(TNN_ERR_ARG, "tensor copy: NULL tensor");
    if (dst->size != src->size) {
        char a[64], b[64];
        return tnn_error(TNN_ERR_SHAPE, "tensor copy: destination %s and source %s differ in size",
                         tnn_tensor_shape_str(dst, a, sizeof a), tnn_tensor_shape_str(src, b, sizeof b));
    }
    if (src->size && (!dst->data || !src->data))
        return tnn_error(TNN_ERR_ARG, "tensor copy: the %s has no data", !dst->data ? "destination" : "source");
    if (src->size) memmove(dst->data, src->data, src->size * sizeof(float));
    return TNN_OK;
}

int tnn_tensor_dim(const tnn_tensor *t, int i)
{
    if (!t || i < 0 || i >= TNN_MAX_DIMS) return 1;
    return t->shape[i];
}

bool tnn_tensor_same_shape(const tnn_tensor *a, const tnn_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *tnn_shape_str(int ndim, const int *shape, char *buf, size_t len)
{
    if (!buf || len == 0) return buf;
    size_t n = 0;
    n += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && n < len; i++) n += (size_t)snprintf(buf + n, len - n, i ? " x %d" : "%d", shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

char *tnn_tensor_shape_str(const tnn_tensor *t, char *buf, size_t len)
{
    if (!buf || len == 0) return buf;
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    if (t->ndim < 1 || t->ndim > TNN_MAX_DIMS) { /* a header filled in by hand */
        snprintf(buf, len, "(%d dimensions)", t->ndim);
        return buf;
    }
    return tnn_shape_str(t->ndim, t->shape, buf, len);
}

bool tnn_tensor_problem(const tnn_tensor *t, char *why, size_t len)
{
    if (t->ndim < 1 || t->ndim > TNN_MAX_DIMS)
        return snprintf(why, len, "has %d dimensions (1 to %d)", t->ndim, TNN_MAX_DIMS), true;
    size_t count = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 1) return snprintf(why, len, "has dimension %d = %d (each is at least 1)", k, t->shape[k]), true;
        if (count > SIZE_MAX / sizeof(float) / (size_t)t->shape[k]) return snprintf(why, len, "is too large"), true;
        count *= (size_t)t->shape[k];
    }
    if (count != t->size) {
        char s[64];
        return snprintf(why, len, "has size %zu, but its shape %s holds %zu elements", t->size,
                        tnn_tensor_shape_str(t, s, sizeof s), count), true;
    }
    if (!t->data) return snprintf(why, len, "has no data"), true;
    return false;
}

void tnn_tensor_scale(tnn_tensor *t, float s)
{
    if (!t || !t->data) return;
    for (size_t i = 0; i < t->size; i++) t->data[i] *= s;
}
