/*
 * tinynn/image.h - write a batch of images as one PNG grid, as torchvision's
 * save_image(images, path, nrow=..., padding=2, normalize=True) does.
 */
#ifndef TINYNN_IMAGE_H
#define TINYNN_IMAGE_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* images: [n x channels*h*w] (or [n x c x h x w]) floats; channels 1 or 3. The first
 * `count` images (<= n) are laid out `nrow` per row with `padding` pixels between and
 * around them (filled with 0). normalize: min-max over the whole grid to [0, 1];
 * otherwise values are clamped to [0, 1]. Written atomically with stb_image_write. */
tnn_status tnn_save_image_grid(const char *path, const tnn_tensor *images, int count, int channels, int h, int w,
                               int nrow, int padding, bool normalize);

#ifdef __cplusplus
}
#endif
#endif
