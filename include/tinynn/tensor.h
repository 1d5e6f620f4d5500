/**
 * @file tinynn/tensor.h
 * @brief float32 tensors: contiguous, row-major, up to 4 dimensions.
 *
 * A tensor either owns its data (tnn_tensor_new) or is a view of memory owned by
 * somebody else (tnn_tensor_view, tnn_tensor_reshape_view). Freeing a view never frees
 * the data it looks at. tnn_tensor_free(NULL) is a no-op.
 */
#ifndef TINYNN_TENSOR_H
#define TINYNN_TENSOR_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest number of dimensions of a tnn_tensor. */
#define TNN_MAX_DIMS 4

/** A float32 tensor: contiguous and row-major, owning its data or viewing someone else's. */
typedef struct tnn_tensor {
    float *data;                /**< row-major elements */
    int ndim;                   /**< 1..TNN_MAX_DIMS */
    int shape[TNN_MAX_DIMS];    /**< unused trailing entries are 1 */
    size_t size;                /**< product of shape[0..ndim) */
    size_t capacity;            /**< elements allocated (owned tensors); for a view, its size at creation */
    bool owns;                  /**< true if data is freed with the tensor */
} tnn_tensor;

/** New zero-filled tensor. ndim in 1..4, every dimension >= 1. NULL on failure. */
TNN_API tnn_tensor *tnn_tensor_new(int ndim, const int *shape);
/** New zero-filled 1-D tensor [d0]; NULL on failure. */
TNN_API tnn_tensor *tnn_tensor_new1(int d0);
/** New zero-filled 2-D tensor [d0 x d1]; NULL on failure. */
TNN_API tnn_tensor *tnn_tensor_new2(int d0, int d1);
/** New zero-filled 3-D tensor [d0 x d1 x d2]; NULL on failure. */
TNN_API tnn_tensor *tnn_tensor_new3(int d0, int d1, int d2);
/** New zero-filled 4-D tensor [d0 x d1 x d2 x d3]; NULL on failure. */
TNN_API tnn_tensor *tnn_tensor_new4(int d0, int d1, int d2, int d3);

/** A tensor header that looks at `data` (not copied, not owned). NULL if data is NULL
 * or the shape is invalid. Free the header with tnn_tensor_free; the data stays. */
TNN_API tnn_tensor *tnn_tensor_view(float *data, int ndim, const int *shape);

/** A view of t's data with another shape of the same size. NULL (and an error naming
 * both shapes) if the sizes differ. */
TNN_API tnn_tensor *tnn_tensor_reshape_view(const tnn_tensor *t, int ndim, const int *shape);

/** Change t's shape in place, keeping its data (sizes must match, else TNN_ERR_SHAPE). */
TNN_API tnn_status tnn_tensor_reshape(tnn_tensor *t, int ndim, const int *shape);

/** Give an owned tensor a new shape, growing its storage if needed. Contents are
 * unspecified afterwards. Views can only be resized within their capacity (the size
 * they were created with); beyond it TNN_ERR_SHAPE. */
TNN_API tnn_status tnn_tensor_resize(tnn_tensor *t, int ndim, const int *shape);

/** Deep copy (an owned tensor of the same shape); NULL on failure, or for a header
 * whose size, shape or data disagree (filled in by hand), with a message saying so. */
TNN_API tnn_tensor *tnn_tensor_clone(const tnn_tensor *t);

/** Free the tensor, and its data if it owns it. NULL is a no-op. */
TNN_API void tnn_tensor_free(tnn_tensor *t);

/** Set every element to 0. NULL, or a tensor without data, is a no-op. */
TNN_API void tnn_tensor_zero(tnn_tensor *t);
/** Set every element to value. NULL, or a tensor without data, is a no-op. */
TNN_API void tnn_tensor_fill(tnn_tensor *t, float value);
/** dst <- src; shapes must have the same size (TNN_ERR_SHAPE otherwise). */
TNN_API tnn_status tnn_tensor_copy(tnn_tensor *dst, const tnn_tensor *src);

/** Size of dimension i. tnn_tensor_dim(t, i) is 1 for i >= ndim, as trailing dims are 1. */
TNN_API int tnn_tensor_dim(const tnn_tensor *t, int i);
/** True if a and b have the same number of dimensions and the same shape (false if either is NULL). */
TNN_API bool tnn_tensor_same_shape(const tnn_tensor *a, const tnn_tensor *b);

/** Writes "[128 x 784]" into buf (always NUL-terminated) and returns buf. */
TNN_API char *tnn_tensor_shape_str(const tnn_tensor *t, char *buf, size_t len);

/** Element access for 2-D tensors: a pointer to element (i, j) (no bounds check; for readability in examples). */
static inline float *tnn_at2(const tnn_tensor *t, int i, int j) { return t->data + (size_t)i * (size_t)t->shape[1] + (size_t)j; }

#ifdef __cplusplus
}
#endif
#endif
