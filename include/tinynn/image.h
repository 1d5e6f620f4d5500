/**
 * @file tinynn/image.h
 * @brief Image grids as torchvision's save_image writes them, PNG output, and PIL's bilinear resize.
 *
 * The grids are those of save_image(images, path, nrow=..., padding=2, normalize=True).
 *
 * Grid layout (torchvision.utils.make_grid): min(nrow, count) images per row,
 * ceil(count / that) rows, `padding` pixels between and around the images filled with
 * 0; a single image gets no padding at all (make_grid returns it alone). 25 images of
 * 28 x 28 with nrow 5 and padding 2 give 5*(28+2)+2 = 152 x 152 pixels.
 *
 * Pixel values (float32, as torchvision computes them):
 *
 *     normalize: lo, hi = min and max over the `count` images (padding excluded);
 *                v = (clamp(x, lo, hi) - lo) / max(hi - lo, 1e-5)
 *     otherwise: v = x
 *     byte = (uint8) clamp(v * 255 + 0.5, 0, 255)      (i.e. round half up, saturated)
 *
 * Channels in the PNG: one channel is replicated to three (RGB, as make_grid does), two
 * are gray + alpha, three RGB and four RGBA; tnn_image_grid_rgb renders 1 or 3 channels.
 */
#ifndef TINYNN_IMAGE_H
#define TINYNN_IMAGE_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Width and height of the grid for `count` images of h x w (TNN_ERR_ARG on bad
 * sizes, or a grid wider or taller than 65535 pixels). */
TNN_API tnn_status tnn_image_grid_size(int count, int h, int w, int nrow, int padding, int *width, int *height);

/** Render the grid into rgb, which must hold 3 * width * height bytes (row-major,
 * interleaved RGB). images: [n x channels*h*w] floats (or any shape with n rows of
 * channels*h*w values, such as [n x channels x h x w]; a 1-D tensor holds whole images
 * one after another; a tensor of exactly one image may have any shape, such as [h x w]
 * or [channels x h x w]), channel-planar per image; channels 1 or 3; count <= n. Rows of
 * another length return TNN_ERR_SHAPE.
 * With normalize, a NaN or infinity among the images returns TNN_ERR_NUMERIC. */
TNN_API tnn_status tnn_image_grid_rgb(uint8_t *rgb, const tnn_tensor *images, int count, int channels, int h, int w,
                              int nrow, int padding, bool normalize);

/** Render the grid and write it as a PNG (stb_image_write), as torchvision's save_image
 * writes it: one channel as RGB (replicated, as make_grid does), 2 channels as gray +
 * alpha, 3 as RGB, 4 as RGBA (channels 1 to 4). Atomically: the PNG is written to a
 * temporary file in the same folder, fsynced and renamed over path. */
TNN_API tnn_status tnn_save_image_grid(const char *path, const tnn_tensor *images, int count, int channels, int h, int w,
                               int nrow, int padding, bool normalize);

/** Write 8-bit pixels (row-major, `channels` interleaved: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) as a
 * PNG, atomically as above. */
TNN_API tnn_status tnn_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels);

/** Resize an 8-bit image (h x w, `channels` interleaved) to out_h x out_w exactly as
 * PIL's Image.resize(size, Image.BILINEAR) does. That is what torchvision's
 * transforms.Resize applies to PIL images (MNIST's): a separable triangle filter whose
 * support widens with the downscaling factor (so shrinking is antialiased), fixed-point
 * coefficients with 22 fractional bits, a horizontal pass rounded to 8 bits, then a
 * vertical pass rounded to 8 bits (as in PIL, a pass along an axis whose size does not
 * change is skipped). Equal sizes copy the image. Sizes up to 65535, channels 1..4
 * (TNN_ERR_ARG otherwise). */
TNN_API tnn_status tnn_image_resize_u8(uint8_t *dst, int out_h, int out_w, const uint8_t *src, int h, int w, int channels);

#ifdef __cplusplus
}
#endif
#endif
