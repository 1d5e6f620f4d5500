/**
 * @file tinynn/loss.h
 * @brief Loss functions with mean reduction, as PyTorch's of the same name.
 *
 * Each returns the loss in *loss (loss may be NULL) and, if grad is not NULL, writes
 * dL/dinput into grad and gives grad the input's shape (tnn_tensor_resize: an owned
 * tensor grows as needed, a view must hold at least as many elements as the input).
 * An input and a target whose shapes differ other than in dimensions of size 1 return
 * TNN_ERR_SHAPE naming both shapes (also with equal counts: a [4 x 2] target for a
 * [2 x 4] input, transposed by mistake); [batch x 1] and [batch] are accepted, element i
 * matching element i. PyTorch differs
 * here: its BCELoss and BCEWithLogitsLoss refuse a target shaped unlike the input, and its
 * MSELoss broadcasts a [batch x 1] input against a [batch] target to [batch x batch]
 * (with a warning), which is rarely what was meant.
 * Gradients are overwritten, not accumulated; scale them yourself for weighted sums
 * (tnn_tensor_scale). A call that fails writes neither *loss nor grad's values (grad
 * may have taken the input's shape). Targets are not checked: as in PyTorch, a BCE
 * target outside [0, 1] gives whatever the formula gives.
 */
#ifndef TINYNN_LOSS_H
#define TINYNN_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** BCELoss: -mean(t*log(p) + (1-t)*log(1-p)), each log clamped at -100 as PyTorch
 * does, so p = 0 or 1 gives a finite loss; 1 - p is rounded to float before its log, as
 * PyTorch 1.13 computes it. p must lie in [0, 1]: any other value
 * (NaN included) returns TNN_ERR_ARG naming the element.
 * @param pred    predictions p, probabilities (the output of a Sigmoid)
 * @param target  targets t, usually 0 or 1, as many elements as pred
 * @param loss    receives the mean loss (may be NULL)
 * @param grad    receives dL/dpred (may be NULL)
 * @return TNN_OK; TNN_ERR_SHAPE or TNN_ERR_ARG as above; TNN_ERR_NOMEM if grad cannot be resized */
TNN_API tnn_status tnn_bce_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/** BCEWithLogitsLoss: BCE on sigmoid(x), computed in the stable form
 * (1-t)*x + max(-x,0) + log(1 + exp(-|x|)), PyTorch's terms in its order (an infinite
 * logit gives its inf or NaN). */
TNN_API tnn_status tnn_bce_with_logits_loss(const tnn_tensor *logits, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/** MSELoss: mean((p - t)^2). */
TNN_API tnn_status tnn_mse_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/** CrossEntropyLoss: log-softmax over the last dimension of [batch x classes] logits
 * and NLL against integer class indices targets[batch] in [0, classes). Logits that are
 * not 2-D return TNN_ERR_SHAPE; a target outside [0, classes) returns TNN_ERR_ARG.
 * targets must hold `batch` entries (logits->shape[0]): the array carries no length, so
 * a shorter one (the labels of a last, smaller batch given with logits of a full one)
 * is read past its end, which no check here can see. */
TNN_API tnn_status tnn_cross_entropy_loss(const tnn_tensor *logits, const int *targets, float *loss, tnn_tensor *grad);

/** NLLLoss: -mean(log_probs[i, targets[i]]) over the batch, for [batch x classes] log
 * probabilities (LogSoftmax's output; tnn_cross_entropy_loss is the two in one, on
 * logits). grad, if given, is -1/batch at each row's target and 0 elsewhere. Input that
 * is not 2-D returns TNN_ERR_SHAPE; a target outside [0, classes) returns TNN_ERR_ARG,
 * with grad left as it was. targets must hold `batch` entries, as for
 * tnn_cross_entropy_loss. */
TNN_API tnn_status tnn_nll_loss(const tnn_tensor *log_probs, const int *targets, float *loss, tnn_tensor *grad);

/** t *= s, element by element (NULL t, or one without data: no-op). */
TNN_API void tnn_tensor_scale(tnn_tensor *t, float s);

#ifdef __cplusplus
}
#endif
#endif
