/* Private helpers of image.c used by idx.c. Never installed. */
#ifndef TINYNN_IMAGE_IMPL_H
#define TINYNN_IMAGE_IMPL_H

#include "tnn_impl.h"

/* PIL's bilinear resize (tnn_image_resize_u8) split in two, so that a batch of images
 * of one size computes the filter coefficients and allocates its buffers once. A plan
 * holds a scratch buffer: one plan per thread. */
typedef struct tnn_resize_plan tnn_resize_plan;
tnn_status tnn_resize_plan_new(int h, int w, int out_h, int out_w, int channels, tnn_resize_plan **out);
/* Resize one image: src h x w, dst out_h x out_w, `channels` interleaved. */
void tnn_resize_plan_run(tnn_resize_plan *p, uint8_t *dst, const uint8_t *src);
void tnn_resize_plan_free(tnn_resize_plan *p);

#endif
