/*
 * tinynn/data.h - IDX files (the MNIST format), plain or gzipped.
 *
 * IDX: magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 dimensions, then the
 * data. libtinynn reads unsigned-byte IDX (type 0x08), which MNIST images and labels
 * use. Every size in the header is checked against the data actually present before
 * anything is allocated.
 */
#ifndef TINYNN_DATA_H
#define TINYNN_DATA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tnn_idx {
    uint8_t *data;      /* dims[0] * ... * dims[ndim-1] bytes */
    int ndim;           /* 1..4 */
    int dims[4];
    size_t count;       /* number of bytes in data */
} tnn_idx;

/* Read path (gzipped when it starts with the gzip magic, whatever its name). On error
 * returns non-OK with tnn_last_error() naming the file and the problem; *out is then
 * empty. */
tnn_status tnn_idx_load(const char *path, tnn_idx *out);
/* Same from memory (for fuzzing); `what` names the source in messages. */
tnn_status tnn_idx_parse(const void *buf, size_t len, const char *what, tnn_idx *out);
void tnn_idx_free(tnn_idx *idx);

/* Write unsigned-byte IDX, gzipped when path ends in ".gz"; atomic (temp + rename). */
tnn_status tnn_idx_save_u8(const char *path, const uint8_t *data, int ndim, const int *dims);

/* Convert images [first, first+n) selected by idx_order (NULL: in file order) from an
 * [N x H x W] uint8 IDX into floats scaled to [-1, 1] (x/127.5 - 1, as ToTensor +
 * Normalize(0.5, 0.5)), resized bilinearly to out_h x out_w when those differ from
 * H x W (torchvision's Resize). dst receives [n x out_h*out_w]. */
tnn_status tnn_idx_images_to_tensor(const tnn_idx *images, const int *order, int first, int n,
                                    int out_h, int out_w, tnn_tensor *dst);

#ifdef __cplusplus
}
#endif
#endif
