/*
 * tinynn/layers.h - the built-in layers. Each constructor returns a new module (free
 * it with tnn_module_free, or hand it to a Sequential that then owns it), or NULL with
 * tnn_last_error() set.
 *
 * Inputs are [batch x features] (Linear and Flatten also accept [batch x ...], taking
 * the trailing dimensions as features). Semantics, names and initialisation follow
 * PyTorch's layers of the same name.
 */
#ifndef TINYNN_LAYERS_H
#define TINYNN_LAYERS_H

#include "module.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = x W^T + b, W: [out x in] ("weight"), b: [out] ("bias", omitted when !bias).
 * Initialised as torch.nn.Linear: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) drawn from rng
 * (weight first, then bias). rng may be NULL to leave everything zero. */
tnn_module *tnn_linear_new(int in_features, int out_features, bool bias, tnn_rng *rng);

/* Settings of BatchNorm1d (torch.nn.BatchNorm1d's arguments). */
typedef struct tnn_batchnorm_params {
    double eps;       /* added to the variance inside the square root; default 1e-5 */
    double momentum;  /* running = (1-momentum)*running + momentum*batch; default 0.1 */
    bool affine;      /* learnable "weight" (gamma, init 1) and "bias" (beta, init 0) */
    bool track_running_stats; /* keep "running_mean" (init 0), "running_var" (init 1),
                                 "num_batches_tracked" (I64) and use them in eval mode */
} tnn_batchnorm_params;
tnn_batchnorm_params tnn_batchnorm_defaults(void);

/* BatchNorm1d over [batch x features]. Training mode normalises with the batch mean
 * and biased variance and updates the running statistics with the unbiased variance
 * (batch >= 2 required, as in PyTorch); eval mode uses the running statistics. */
tnn_module *tnn_batchnorm1d_new(int num_features, tnn_batchnorm_params p);

/* Element-wise activations. */
tnn_module *tnn_leaky_relu_new(float negative_slope); /* x > 0 ? x : slope*x */
tnn_module *tnn_relu_new(void);
tnn_module *tnn_tanh_new(void);
tnn_module *tnn_sigmoid_new(void);

/* Dropout: in training, zeroes each element with probability p and scales the rest by
 * 1/(1-p); identity in eval mode. Masks are drawn from rng, which is borrowed and must
 * outlive the module. 0 <= p < 1. */
tnn_module *tnn_dropout_new(float p, tnn_rng *rng);

/* Flatten [batch x d1 x ... ] to [batch x d1*...] (a view; no copy). */
tnn_module *tnn_flatten_new(void);

#ifdef __cplusplus
}
#endif
#endif
