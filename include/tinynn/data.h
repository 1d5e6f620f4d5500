/**
 * @file tinynn/data.h
 * @brief IDX files (the MNIST format), plain or gzipped.
 *
 * IDX: magic 0x00 0x00 `<type>` `<ndim>`, ndim big-endian uint32 dimensions, then the
 * data, row-major. libtinynn reads unsigned-byte IDX (type 0x08), which MNIST images
 * and labels use. Every dimension must be at least 1, and the size the header claims
 * (the product of the dimensions) must equal the bytes actually present. For a plain
 * file this is checked before the claimed size is allocated; a gzipped file is inflated
 * into a buffer that grows with the bytes it yields (allocated at once only when the
 * compressed size could back the claim, at most 1,100 times it). Either way a header
 * claiming 2^32 images in a small file fails cleanly without allocating anything large.
 * Gzipped files are recognised by their first two bytes (0x1f 0x8b), whatever their
 * name; a corrupt stream is an error.
 */
#ifndef TINYNN_DATA_H
#define TINYNN_DATA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The contents of an unsigned-byte IDX file. Fill it with tnn_idx_load or tnn_idx_parse;
 * free it with tnn_idx_free. */
typedef struct tnn_idx {
    uint8_t *data;      /**< dims[0] * ... * dims[ndim-1] bytes */
    int ndim;           /**< 1..4 */
    int dims[4];        /**< each >= 1; unused entries are 1 */
    size_t count;       /**< number of bytes in data */
} tnn_idx;

/** Read path (gzipped when it starts with the gzip magic, whatever its name). *out is
 * overwritten, not freed first (it may be uninitialised): to load into a tnn_idx that
 * holds a file, tnn_idx_free it before. On error
 * returns non-OK with tnn_last_error() naming the file and the problem; *out is then
 * empty (tnn_idx_free on it is harmless). On Linux, data of 4 MB or more is offered to
 * transparent huge pages (madvise on the 2 MB-aligned inside of its block), because
 * shuffled batches read it at random; this changes only speed. A pipe or device is read
 * only until its bytes cannot become a valid file (no gzip or IDX magic, or plain IDX
 * longer than its header declares), so /dev/zero or an endless stream fails at once. */
TNN_API tnn_status tnn_idx_load(const char *path, tnn_idx *out);
/** Same from memory (for fuzzing); `what` names the source in messages. */
TNN_API tnn_status tnn_idx_parse(const void *buf, size_t len, const char *what, tnn_idx *out);
/** Free the data and empty *idx. NULL and an empty tnn_idx are fine. */
TNN_API void tnn_idx_free(tnn_idx *idx);

/** Write unsigned-byte IDX, gzipped when path ends in ".gz"; atomic (temporary file in
 * the same folder, fsynced, renamed over path). ndim 1..4, every dims[i] >= 1. */
TNN_API tnn_status tnn_idx_save_u8(const char *path, const uint8_t *data, int ndim, const int *dims);

/** The float a pixel byte becomes under torchvision's ToTensor() followed by
 * Normalize(0.5, 0.5), computed as they do in float32: (x / 255 - 0.5) / 0.5. The
 * result lies in [-1, 1]. */
TNN_API float tnn_pixel_to_unit(uint8_t x);

/** Image geometry of an IDX image file: [N x H x W] (one channel) or [N x H x W x C]
 * (C interleaved channels). Fills what is not NULL; TNN_ERR_FORMAT (naming `what`) if
 * the file has another number of dimensions. */
TNN_API tnn_status tnn_idx_image_shape(const tnn_idx *images, const char *what, int *n, int *h, int *w, int *channels);

/** Convert a batch of IDX images into a float tensor, as the seed's transforms do.
 * Images order[first .. first+n) (order NULL: images first .. first+n in file
 * order) become dst = [n x C*out_h*out_w] floats (a destination of another shape is
 * reshaped to that; for a Conv2d reshape it to [n x C x out_h x out_w] afterwards with
 * tnn_tensor_reshape), channel-planar (C x out_h x out_w per row, as a PyTorch image tensor), each pixel mapped by tnn_pixel_to_unit. When
 * out_h x out_w differs from H x W, each channel is first resized to out_h x out_w as
 * the seed's transforms.Resize does on MNIST's PIL images: PIL's bilinear filter on
 * 8-bit pixels (see tnn_image_resize_u8 in image.h). dst is resized when needed
 * (owned tensors); no other allocation happens without resizing. One-channel images
 * at their own size are converted on the library's threads (tnn_set_num_threads). An
 * index outside the file returns TNN_ERR_ARG. */
TNN_API tnn_status tnn_idx_images_to_tensor(const tnn_idx *images, const int *order, int first, int n,
                                    int out_h, int out_w, tnn_tensor *dst);

#ifdef __cplusplus
}
#endif
#endif
