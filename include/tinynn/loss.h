/**
 * @file tinynn/loss.h
 * @brief Loss functions with mean reduction, as PyTorch's of the same name; the
 * losses over class indices also with PyTorch's options (tnn_class_loss_params).
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

/** L1Loss: mean(|p - t|). dL/dp is sign(p - t) / n, and 0 where p - t is 0 or NaN (as
 * torch's sign gives 0 there; the loss is NaN then). */
TNN_API tnn_status tnn_l1_loss(const tnn_tensor *pred, const tnn_tensor *target, float *loss, tnn_tensor *grad);

/** SmoothL1Loss(beta) (torch.nn.SmoothL1Loss, PyTorch's default beta = 1.0): per element,
 * with z = |p - t|, 0.5 z^2 / beta where z < beta and z - 0.5 beta elsewhere; the mean of
 * those. dL/dp is (p - t) / beta / n inside, +-1 / n outside. beta = 0 is L1Loss except
 * where p - t is +-0, whose gradient torch's kernel makes -1 / n (so does this one).
 * beta must be >= 0 and at most FLT_MAX (TNN_ERR_ARG naming it otherwise; torch refuses
 * a negative beta too). The gradient is torch 1.13's bits, whose kernel rounds the last
 * n mod 16 elements a little differently from the others (docs/parity.md). */
TNN_API tnn_status tnn_smooth_l1_loss(const tnn_tensor *pred, const tnn_tensor *target, double beta, float *loss,
                                      tnn_tensor *grad);

/** HuberLoss(delta) (torch.nn.HuberLoss, PyTorch's default delta = 1.0): per element,
 * with z = |p - t|, 0.5 z^2 where z < delta and delta (z - 0.5 delta) elsewhere; the mean
 * of those. It is delta times SmoothL1Loss(beta = delta). dL/dp is (p - t) / n inside,
 * +-delta / n outside. delta must be > 0 and at most FLT_MAX (TNN_ERR_ARG naming it
 * otherwise, as torch refuses a delta <= 0). Gradient bits as for tnn_smooth_l1_loss. */
TNN_API tnn_status tnn_huber_loss(const tnn_tensor *pred, const tnn_tensor *target, double delta, float *loss,
                                  tnn_tensor *grad);

/** CrossEntropyLoss: log-softmax over the last dimension of [batch x classes] logits
 * and NLL against integer class indices targets[batch] in [0, classes). Logits that are
 * not 2-D return TNN_ERR_SHAPE; a target outside [0, classes) returns TNN_ERR_ARG.
 * targets must hold `batch` entries (logits->shape[0]): the array carries no length, so
 * a shorter one (the labels of a last, smaller batch given with logits of a full one)
 * is read past its end, which no check here can see. grad may be the logits themselves
 * (computed in place); a grad that overlaps the targets, or starts inside the logits,
 * returns TNN_ERR_ARG with nothing changed. Class weights, ignore_index, label
 * smoothing and the sum and none reductions: tnn_cross_entropy_loss_with. */
TNN_API tnn_status tnn_cross_entropy_loss(const tnn_tensor *logits, const int *targets, float *loss, tnn_tensor *grad);

/** NLLLoss: -mean(log_probs[i, targets[i]]) over the batch, for [batch x classes] log
 * probabilities (LogSoftmax's output; tnn_cross_entropy_loss is the two in one, on
 * logits). grad, if given, is -1/batch at each row's target and 0 elsewhere. Input that
 * is not 2-D returns TNN_ERR_SHAPE; a target outside [0, classes) returns TNN_ERR_ARG,
 * with grad left as it was. targets must hold `batch` entries, as for
 * tnn_cross_entropy_loss, and grad may overlap them only as there. Class weights,
 * ignore_index and the sum and none reductions: tnn_nll_loss_with. */
TNN_API tnn_status tnn_nll_loss(const tnn_tensor *log_probs, const int *targets, float *loss, tnn_tensor *grad);

/** How a loss over a batch is reduced, PyTorch's `reduction`. */
typedef enum tnn_reduction {
    TNN_REDUCTION_MEAN = 0, /**< 'mean': the sum over the samples divided by the sum of their targets' weights
                                 (by the count of samples not ignored, without class weights) */
    TNN_REDUCTION_SUM = 1,  /**< 'sum': the sum over the samples */
    TNN_REDUCTION_NONE = 2  /**< 'none': one loss per sample, into tnn_class_loss_params.losses */
} tnn_reduction;

/** Settings of the losses over class indices (tnn_cross_entropy_loss_with,
 * tnn_nll_loss_with), as PyTorch's CrossEntropyLoss and NLLLoss take them; start from
 * tnn_class_loss_defaults(). */
typedef struct tnn_class_loss_params {
    /** NULL (every class weighs 1), or PyTorch's `weight`: a 1-D tensor of one weight per
     * class, [classes]; another shape returns TNN_ERR_SHAPE. Sample i's loss is
     * multiplied by weight[targets[i]], and the mean divides by the sum of those weights.
     * Negative and zero weights are taken, as PyTorch takes them; a mean whose targets'
     * weights sum to 0 gives PyTorch 1.13's NaNs and infinities, in the loss and in each
     * gradient element, with and without label smoothing (its terms over 0 one by one:
     * NaN where one is 0 / 0 or two infinities cancel). NaN and infinite weights return
     * TNN_ERR_ARG naming the class (PyTorch computes with them: a NaN loss). */
    const tnn_tensor *weight;
    /** Samples whose target equals it count for nothing: loss 0, gradient 0, left out of
     * the mean's denominator (all of them ignored: the mean is NaN, as in PyTorch). As in
     * PyTorch, an ignored row's cross-entropy gradient is NaN throughout when its
     * log-softmax is NaN (a NaN or +inf logit, or every logit -inf); NLLLoss's stays 0. It
     * may lie outside [0, classes); every other target must be a class. Default -100,
     * PyTorch's. */
    int ignore_index;
    /** Cross-entropy only (NLLLoss has none: nonzero returns TNN_ERR_ARG): in [0, 1],
     * else TNN_ERR_ARG (PyTorch refuses above 1 and ignores a negative value). The
     * target becomes (1 - s) one-hot + s / classes: sample i's loss is
     * (1 - s) w[t] (-log p[t]) + (s / classes) sum_j w[j] (-log p[j]), with w the class
     * weights (all 1 without), and the mean divides by the sum of w[t] as without
     * smoothing, PyTorch 1.13's formula. Default 0. */
    double label_smoothing;
    tnn_reduction reduction; /**< default TNN_REDUCTION_MEAN */
    /** With TNN_REDUCTION_NONE (required then, and NULL with the others): receives the
     * per-sample losses, ignored samples 0, resized to [batch] as grad is (an owned tensor
     * grows, a view must hold batch elements). Default NULL. */
    tnn_tensor *losses;
    /** Set by tnn_class_loss_defaults(); leave it. Settings not started from it are
     * refused (TNN_ERR_ARG): a struct written as {.label_smoothing = 0.1} has
     * ignore_index 0, which would leave every sample of class 0 out of the loss. */
    unsigned tag;
} tnn_class_loss_params;

/** PyTorch's defaults: no class weights, ignore_index -100, no label smoothing, mean
 * reduction, no per-sample output. */
TNN_API tnn_class_loss_params tnn_class_loss_defaults(void);

/** CrossEntropyLoss with PyTorch's options (tnn_class_loss_params): class weights,
 * ignore_index, label_smoothing and reduction, as torch.nn.functional.cross_entropy on
 * [batch x classes] logits and class indices. *loss receives the reduced loss (with
 * TNN_REDUCTION_NONE the sum of p.losses) and grad its gradient, so with
 * TNN_REDUCTION_NONE row i of grad is the gradient of sample i's loss; ignored rows
 * are 0 (but see ignore_index). With tnn_class_loss_defaults() the results are
 * tnn_cross_entropy_loss()'s, bit for bit, except that a target of -100 is ignored rather
 * than refused. Refused before any tensor is changed, shape included (TNN_ERR_ARG unless
 * said): logits or targets NULL, logits not 2-D
 * (TNN_ERR_SHAPE), a reduction that is none of the three, label_smoothing outside
 * [0, 1], a weight that is not [classes] (TNN_ERR_SHAPE) or not finite, p.losses given
 * or missing against the reduction, a view too small for grad or p.losses
 * (TNN_ERR_SHAPE), an output that is or shares memory with another argument (naming
 * the two: grad or p.losses with p.weight or the targets array's `batch` ints, p.losses
 * with the logits or grad, grad starting inside the logits; grad may be the logits
 * themselves, computed in place; an owned output that must grow counts with its whole
 * old buffer, which is freed), and a target that is neither a class nor ignore_index
 * (naming it). Only running out of memory can leave grad resized to the input's shape.
 * targets must hold `batch` entries, as for tnn_cross_entropy_loss. */
TNN_API tnn_status tnn_cross_entropy_loss_with(const tnn_tensor *logits, const int *targets, tnn_class_loss_params p,
                                               float *loss, tnn_tensor *grad);

/** NLLLoss with PyTorch's options: class weights, ignore_index and reduction, as
 * torch.nn.functional.nll_loss on [batch x classes] log probabilities. Sample i's loss
 * is -w[t] log_probs[i, t] (t = targets[i]); grad is -w[t] / (the mean's denominator,
 * 1 for sum and none) at each counted row's target and 0 elsewhere. label_smoothing
 * must be 0. Otherwise as tnn_cross_entropy_loss_with; with tnn_class_loss_defaults()
 * the results are tnn_nll_loss()'s, bit for bit (a target of -100 ignored). */
TNN_API tnn_status tnn_nll_loss_with(const tnn_tensor *log_probs, const int *targets, tnn_class_loss_params p,
                                     float *loss, tnn_tensor *grad);

/** t *= s, element by element (NULL t, or one without data: no-op). */
TNN_API void tnn_tensor_scale(tnn_tensor *t, float s);

#ifdef __cplusplus
}
#endif
#endif
