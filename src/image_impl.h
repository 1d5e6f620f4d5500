/* Private helpers shared by idx.c and image.c. Never installed. */
#ifndef TINYNN_IMAGE_IMPL_H
#define TINYNN_IMAGE_IMPL_H

#include "tnn_impl.h"

/* Write len bytes to path atomically: a temporary file in the same folder, written,
 * flushed and fsynced, then renamed over path (and the folder fsynced). On failure the
 * temporary file is removed, any previous file at path is left intact, and the
 * message names path. */
tnn_status tnn_img_write_atomic(const char *path, const void *buf, size_t len);

#endif
