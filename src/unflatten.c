/* Unflatten: PyTorch's nn.Unflatten(1, shape), the inverse of Flatten. Dimension 1 of
 * the input, which must hold prod(shape) elements, becomes the dimensions of shape; the
 * others stay: [N x F] -> [N x shape...], and [N x F x rest...] -> [N x shape... x
 * rest...] as torch does, as long as the result has at most TNN_MAX_DIMS dimensions.
 * One size may be -1, as torch's: inferred at each forward as dimension 1 of the input
 * divided by the product of the other sizes (torch's Tensor.unflatten; an input whose
 * dimension 1 that product does not divide is refused, as torch refuses it).
 * Like Flatten, a view of the input (no copy): the backward returns dy under the
 * input's shape, a view of dy. A Sequential sees that the output lies inside the
 * input (within() in sequential.c) and keeps no buffer of it. */
#include "tnn_impl.h"

#include <limits.h>
#include <string.h>

typedef struct tnn_unflatten {
    tnn_module base;
    int ndim, shape[TNN_MAX_DIMS - 1]; /* the sizes dimension 1 becomes, as given (one may be -1) */
    int infer;                         /* the index of the -1 in shape, or -1 if none */
    int features;                      /* the product of the sizes other than the -1 */
    tnn_tensor y, dx;                  /* views (not owned) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    bool ran;
} tnn_unflatten;

static void unflatten_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_unflatten *u = (const tnn_unflatten *)m;
    char s[64];
    snprintf(buf, len, "unflatten(1, %s)", tnn_shape_str(u->ndim, u->shape, s, sizeof s));
}

static tnn_status unflatten_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_unflatten *u = (tnn_unflatten *)m;
    char d[96], s[64];
    u->ran = false;
    if (x->ndim < 2 && u->infer < 0) /* torch: dimension 1 out of range */
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is 1-D, expected [batch x %d] (one sample is [1 x %d])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), u->features,
                         u->features);
    if (x->ndim < 2)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is 1-D, expected [batch x a multiple of %d] (one sample is "
                         "[1 x ...])", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s),
                         u->features);
    if (u->infer < 0 && x->shape[1] != u->features)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has %d elements in dimension 1, the shape holds %d",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), x->shape[1],
                         u->features);
    if (u->infer >= 0 && x->shape[1] % u->features != 0)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has %d elements in dimension 1, not a multiple of %d (the "
                         "product of the shape's sizes other than the -1), so no size can be inferred",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), x->shape[1],
                         u->features);
    const int ndim = x->ndim - 1 + u->ndim;
    if (ndim > TNN_MAX_DIMS)
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s would become %d-D, more than the %d dimensions a tensor holds",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), ndim, TNN_MAX_DIMS);
    int shape[TNN_MAX_DIMS];
    shape[0] = x->shape[0];
    memcpy(shape + 1, u->shape, (size_t)u->ndim * sizeof(int));
    if (u->infer >= 0) shape[1 + u->infer] = x->shape[1] / u->features;
    for (int i = 2; i < x->ndim; i++) shape[u->ndim + i - 1] = x->shape[i];
    u->x_ndim = x->ndim;
    memcpy(u->x_shape, x->shape, sizeof u->x_shape);
    u->y = *x;
    u->y.owns = false;
    tnn_status st = tnn_tensor_reshape(&u->y, ndim, shape);
    if (st) return st;
    u->ran = true;
    *y = &u->y;
    return TNN_OK;
}

static tnn_status unflatten_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_unflatten *u = (tnn_unflatten *)m;
    char d[96];
    if (!u->ran) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    if (dy->size != u->y.size) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(dy, s1, sizeof s1), tnn_tensor_shape_str(&u->y, s2, sizeof s2));
    }
    if (!dx) return TNN_OK;
    u->dx = *dy;
    u->dx.owns = false;
    tnn_status st = tnn_tensor_reshape(&u->dx, u->x_ndim, u->x_shape);
    if (st) return st;
    *dx = &u->dx;
    return TNN_OK;
}

static void unflatten_free(tnn_module *m) { tnn_free(m); }

static const tnn_module_vtable unflatten_vt = {
    .type_name = "unflatten",
    .forward = unflatten_forward,
    .backward = unflatten_backward,
    .describe = unflatten_describe,
    .free = unflatten_free,
};

tnn_module *tnn_unflatten_new(int ndim, const int *shape)
{
    if (ndim < 1 || ndim > TNN_MAX_DIMS - 1) {
        tnn_error(TNN_ERR_ARG, "unflatten: ndim is %d, must be 1..%d (the batch dimension and the shape's fit in a "
                  "tensor's %d)", ndim, TNN_MAX_DIMS - 1, TNN_MAX_DIMS);
        return NULL;
    }
    if (!shape) {
        tnn_error(TNN_ERR_ARG, "unflatten: shape is NULL");
        return NULL;
    }
    long long features = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1 && infer >= 0) {
            tnn_error(TNN_ERR_ARG, "unflatten: shape[%d] and shape[%d] are both -1; only one size can be inferred",
                      infer, i);
            return NULL;
        }
        if (shape[i] == -1) {
            infer = i;
            continue;
        }
        if (shape[i] < 1) {
            tnn_error(TNN_ERR_ARG, "unflatten: shape[%d] is %d, must be >= 1, or -1 for one size inferred from "
                      "the input", i, shape[i]);
            return NULL;
        }
        features *= shape[i];
        if (features > INT_MAX) {
            tnn_error(TNN_ERR_ARG, "unflatten: the product of shape's sizes exceeds %d (dimension 1 of the input "
                      "is an int)", INT_MAX);
            return NULL;
        }
    }
    tnn_unflatten *u = tnn_calloc(1, sizeof *u, "unflatten");
    if (!u) return NULL;
    tnn_module_init(&u->base, &unflatten_vt);
    u->ndim = ndim;
    u->infer = infer;
    memcpy(u->shape, shape, (size_t)ndim * sizeof(int));
    u->features = (int)features;
    return &u->base;
}
