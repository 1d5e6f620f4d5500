/*
 * tinynn/loss.h - loss functions with mean reduction, as PyTorch's of the same name.
 *
 * Each returns the loss in *loss and, if grad is not NULL, writes dL/dinput into grad,
 * which must have as many elements as the input (for owned tensors it is resized to
 * the input's shape). Mismatched shapes return TNN_ERR_SHAPE naming both shapes.
 * Gradients are overwritten, not accumulated; scale them yourself for weighted sums
 * (tnn_tensor_scale).
 */
#ifndef TINYNN_LOSS_H
#define TINYNN_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* BCELoss: -mean(t*log(p) + (1-t)*log(1-p)), each log clamped at -100 as PyTorch
 * does, so p = 0 or 1 gives a finite loss. p must lie in [0, 1]. */
tnn_status tnn_bce_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/* BCEWithLogitsLoss: BCE on sigmoid(x), computed in the stable form
 * max(x,0) - x*t + log(1 + exp(-|x|)). */
tnn_status tnn_bce_with_logits_loss(const tnn_tensor *logits, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/* MSELoss: mean((p - t)^2). */
tnn_status tnn_mse_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/* CrossEntropyLoss: log-softmax over the last dimension of [batch x classes] logits
 * and NLL against integer class indices targets[batch] in [0, classes). */
tnn_status tnn_cross_entropy_loss(const tnn_tensor *logits, const int *targets, float *loss, tnn_tensor *grad);

/* t *= s. */
void tnn_tensor_scale(tnn_tensor *t, float s);

#ifdef __cplusplus
}
#endif
#endif
