/**
 * @file tinynn/layers.h
 * @brief The built-in layers.
 *
 * Each constructor returns a new module (free it with tnn_module_free, or hand it to a
 * Sequential that then owns it), or NULL with tnn_last_error() set.
 *
 * Inputs are [batch x features] (Linear and Flatten also accept [batch x ...], taking
 * the trailing dimensions as features; the element-wise layers, Softmax and LogSoftmax
 * accept any shape; Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
 * Upsample, BatchNorm2d and Dropout2d take [batch x channels x H x W], Unflatten [batch
 * x features] to [batch x ...], LayerNorm any input that ends in its normalized_shape).
 * Semantics, names and initialisation follow PyTorch's layers of the same name, with
 * one difference: PyTorch's Linear maps the last dimension of a [batch x ... x in]
 * input and keeps the others, where this Linear takes all the dimensions after the
 * first as one row of features (an image batch [N x 1 x 28 x 28] goes straight into
 * Linear(784, ...), as after PyTorch's view(N, -1)). The output is [batch x out].
 * NULL rng: Linear's weights stay zero (a target to load into, not a model to train).
 */
#ifndef TINYNN_LAYERS_H
#define TINYNN_LAYERS_H

#include "module.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Linear layer: y = x W^T + b, W: [out x in] ("weight"), b: [out] ("bias", omitted when !bias).
 * x is [batch x in_features]; an input of more dimensions [batch x d1 x ...] is taken as
 * rows of d1*... features (an implicit Flatten), where torch's Linear would work on the
 * last dimension alone: a [B x T x F] input is refused unless T*F is in_features.
 * Initialised as torch.nn.Linear: W, b ~ U(-1/sqrt(in), 1/sqrt(in)) drawn from rng
 * (weight first, then bias). rng may be NULL to leave everything zero.
 * NULL (TNN_ERR_ARG) if in_features or out_features is below 1. */
TNN_API tnn_module *tnn_linear_new(int in_features, int out_features, bool bias, tnn_rng *rng);

/** Settings of BatchNorm1d and BatchNorm2d (torch.nn.BatchNorm1d's and BatchNorm2d's arguments); start from
 * tnn_batchnorm_defaults(). */
typedef struct tnn_batchnorm_params {
    double eps;       /**< added to the variance inside the square root; default 1e-5 */
    double momentum;  /**< running = (1-momentum)*running + momentum*batch; default 0.1 */
    bool affine;      /**< learnable "weight" (gamma, init 1) and "bias" (beta, init 0); default true */
    bool track_running_stats; /**< keep "running_mean" (init 0), "running_var" (init 1),
                                 "num_batches_tracked" (I64) and use them in eval mode; default true */
    /** Set by tnn_batchnorm_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.eps = 0.8} has momentum 0, no affine
     * parameters and no running statistics. */
    unsigned tag;
} tnn_batchnorm_params;
/** PyTorch's defaults: eps 1e-5, momentum 0.1, affine, track_running_stats. */
TNN_API tnn_batchnorm_params tnn_batchnorm_defaults(void);

/** BatchNorm1d over [batch x features]. Training mode normalises with the batch mean
 * and biased variance and updates the running statistics with the unbiased variance
 * (batch >= 2 required, as in PyTorch); eval mode uses the running statistics (or,
 * without track_running_stats, the batch's, as PyTorch does). A training forward
 * refuses a num_batches_tracked that a loaded state set negative or to 2^63 - 1, which
 * cannot be counted on (TNN_ERR_STATE).
 * NULL (TNN_ERR_ARG) if num_features < 1, eps is negative or not finite, or momentum
 * is outside [0, 1]. */
TNN_API tnn_module *tnn_batchnorm1d_new(int num_features, tnn_batchnorm_params p);

/** BatchNorm2d over [batch x channels x H x W], torch.nn.BatchNorm2d: BatchNorm1d's
 * normalisation per channel, over the batch and the H x W positions (N*H*W values per
 * channel). Training mode normalises with the batch mean and biased variance and
 * updates "running_mean" and "running_var" (with the unbiased variance) and
 * "num_batches_tracked"; eval mode uses the running statistics (or, without
 * track_running_stats, the batch's, as PyTorch does). The same parameters, state_dict
 * names and settings as BatchNorm1d (tnn_batchnorm_params). The output has the input's
 * shape. Refused (TNN_ERR_SHAPE, naming the module and the shape): an input that is not
 * 4-D (as torch's), one with another channel count, and in training a batch with a
 * single value per channel ([1 x C x 1 x 1]); a training forward refuses a
 * num_batches_tracked that cannot be counted on (TNN_ERR_STATE), as BatchNorm1d's.
 * The arithmetic is torch's CPU kernel's, operation by operation (double sums per
 * channel for the statistics; see docs/parity.md), and each channel is computed on its
 * own by one of the library's threads: the same bits on any thread count. The
 * backward reads x again: it must be unchanged since the forward.
 * NULL (TNN_ERR_ARG) if num_features < 1, eps is negative or not finite, or momentum
 * is outside [0, 1]. */
TNN_API tnn_module *tnn_batchnorm2d_new(int num_features, tnn_batchnorm_params p);

/** Settings of LayerNorm (torch.nn.LayerNorm's arguments); start from tnn_layernorm_defaults(). */
typedef struct tnn_layernorm_params {
    double eps;              /**< added to the variance inside the square root (as a float); default 1e-5 */
    bool elementwise_affine; /**< learnable "weight" (init 1) and "bias" (init 0) of normalized_shape; default true */
    /** Set by tnn_layernorm_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.eps = 1e-6} has no affine parameters. */
    unsigned tag;
} tnn_layernorm_params;
/** PyTorch's defaults: eps 1e-5, elementwise_affine. */
TNN_API tnn_layernorm_params tnn_layernorm_defaults(void);

/** LayerNorm, torch.nn.LayerNorm(normalized_shape): normalises over the last `ndim`
 * dimensions of the input, which must be normalized_shape (its `ndim` sizes): each such
 * block of N values (N the product of normalized_shape; a [batch x seq x features]
 * input with normalized_shape [features] has batch*seq rows of N) becomes
 * (x - mean) / sqrt(var + eps) * weight + bias, with the block's mean and biased
 * variance. The same in training and eval mode (no running statistics, no buffers).
 * "weight" and "bias" have the shape normalized_shape; the output has the input's. An
 * input of exactly normalized_shape is one row. Refused (TNN_ERR_SHAPE, naming the
 * module and both shapes): an input whose last dimensions are not normalized_shape.
 * The arithmetic is torch's CPU kernel's, operation by operation (its Welford and
 * cascade sums of the mean and variance in float; see docs/parity.md), the rows split
 * over the library's threads and the parameter gradients summed per column in row
 * order: the same bits on any thread count. The backward reads x again: it must be
 * unchanged since the forward.
 * NULL (TNN_ERR_ARG) if ndim is not 1 to TNN_MAX_DIMS, normalized_shape is NULL or has
 * a size below 1 (or holds more than 2^31 - 1 values), or eps is negative or not finite. */
TNN_API tnn_module *tnn_layernorm_new(int ndim, const int *normalized_shape, tnn_layernorm_params p);

/** Element-wise LeakyReLU: x > 0 ? x : slope*x. NULL if negative_slope is not finite. */
TNN_API tnn_module *tnn_leaky_relu_new(float negative_slope);
/** Element-wise ReLU: max(x, 0). */
TNN_API tnn_module *tnn_relu_new(void);
/** Element-wise Tanh. */
TNN_API tnn_module *tnn_tanh_new(void);
/** Element-wise Sigmoid: 1 / (1 + exp(-x)). */
TNN_API tnn_module *tnn_sigmoid_new(void);
/** Element-wise ELU, torch.nn.ELU(alpha): x > 0 ? x : alpha * (exp(x) - 1), any shape.
 * The output is within an ulp of the exact value (exp(x) - 1 without cancellation near
 * 0, where torch's float exp(x) - 1 gives 0 for -3e-8 < x < 0). dL/dx is torch's
 * backward from the output, y > 0 ? dy : dy * (y + alpha) (its ELU(inplace=True)), so
 * that in a Sequential it may work in place; with a negative alpha (whose output has
 * the other sign) it is computed from x, dy * alpha * exp(x), and the module keeps its
 * own output. NULL (TNN_ERR_ARG) if alpha is not finite. */
TNN_API tnn_module *tnn_elu_new(float alpha);
/** Element-wise SiLU (swish), torch.nn.SiLU: x * sigmoid(x) = x / (1 + exp(-x)); dL/dx =
 * dy * s * (1 + x * (1 - s)), s = sigmoid(x). Within an ulp of the exact values; as in
 * torch, -inf gives NaN (-inf * 0), and so does the gradient at +-inf. The backward
 * reads x: the input must be unchanged since the forward. */
TNN_API tnn_module *tnn_silu_new(void);
/** Element-wise GELU, torch.nn.GELU(approximate='none') or, with tanh_approximation,
 * GELU(approximate='tanh'): x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))), or 0.5 * x *
 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))); dL/dx = dy * (Phi(x) + x * phi(x)), or
 * that formula's derivative. Within an ulp of the exact values (torch's float
 * 1 + erf(x/sqrt2) loses most digits below x = -3); as in torch, -inf gives NaN, and so
 * does the gradient at +-inf. The backward reads x: the input must be unchanged since
 * the forward. Described as "gelu" or "gelu(approximate='tanh')". */
TNN_API tnn_module *tnn_gelu_new(bool tanh_approximation);

/** Softmax over the last dimension, torch.nn.Softmax(dim=-1): the input is taken as rows
 * of its last dimension (a [batch x classes] input has batch rows, a 1-D input is one
 * row, [N x C x L] has N*C rows of L) and each row becomes exp(x - max) / sum(exp(x - max)),
 * computed in double and rounded once. The output has the input's shape. As in PyTorch,
 * a row that holds NaN or +inf, or only -inf, comes out all NaN; an element of -inf among
 * finite ones gives 0. Backward: dL/dx = y * (dy - sum(dy * y)) per row. Not even the
 * module's own output, exactly, is accepted as its input (TNN_ERR_ARG; module.h). */
TNN_API tnn_module *tnn_softmax_new(void);
/** LogSoftmax over the last dimension, torch.nn.LogSoftmax(dim=-1): each row becomes
 * (x - max) - log(sum(exp(x - max))), in double and rounded once, with Softmax's rows
 * and special values (an element of -inf among finite ones gives -inf). Backward:
 * dL/dx = dy - exp(y) * sum(dy) per row. */
TNN_API tnn_module *tnn_log_softmax_new(void);

/** Dropout: in training, zeroes each element with probability p and scales the rest by
 * 1/(1-p), as PyTorch's CPU dropout computes it (1 - p rounded to float, then a float
 * division; p = 1 gives zeros). p is a float: where float cannot hold p exactly (0.42)
 * the scale can be an ulp from PyTorch's for the same decimal p. Identity in eval
 * mode. Masks are drawn from rng, which is borrowed and must outlive the module. A
 * module created with rng NULL is for evaluation (a model built to load weights and
 * predict): its forward in training mode with p > 0 returns TNN_ERR_STATE. 0 <= p <= 1. */
TNN_API tnn_module *tnn_dropout_new(float p, tnn_rng *rng);

/** Dropout2d, torch.nn.Dropout2d (the DCGAN discriminator's Dropout2d(0.25)): in training,
 * each whole channel of each sample of [batch x channels x H x W] is zeroed with
 * probability p and the kept channels are scaled by 1/(1-p), computed as PyTorch's
 * _feature_dropout computes it (a factor per (sample, channel): 1 - p rounded to float,
 * then a float division, 1.0f / (float)(1 - p); the output is x * factor, the same bits as
 * torch's on a kept channel; p = 1 multiplies by 0, giving zeros, and NaN for a NaN or
 * infinite input, as torch). A 3-D input is taken as [batch x channels x L], as torch
 * 1.13 takes it (with a warning that a later release will read it as one sample
 * [C x H x W]); any other rank is refused (TNN_ERR_SHAPE; torch 1.13 deprecates them).
 * Backward: dL/dx = dy * the same factor. Identity in eval mode, and for p = 0. The masks
 * are drawn from rng, one uniform number per (sample, channel) in that order, on the
 * calling thread: the same results on any thread count (but not torch's masks, which
 * come from torch's generator). rng is borrowed and must outlive the module. A module
 * created with rng NULL is for evaluation: its forward in training mode with p > 0
 * returns TNN_ERR_STATE. As Dropout, it accepts exactly its own last output as input
 * (element over element), and p is a float (where float cannot hold p exactly, the
 * factor can be an ulp from PyTorch's for the same decimal p). NULL (TNN_ERR_ARG,
 * naming p) unless 0 <= p <= 1 (NaN refused). */
TNN_API tnn_module *tnn_dropout2d_new(float p, tnn_rng *rng);

/** Flatten [batch x d1 x ... ] to [batch x d1*...] (a view; no copy). A 1-D input is
 * refused with TNN_ERR_SHAPE, as by torch's Flatten: one sample is [1 x ...]. */
TNN_API tnn_module *tnn_flatten_new(void);

/** Unflatten, torch.nn.Unflatten(1, shape): dimension 1 of the input becomes the `ndim`
 * dimensions of shape, [batch x prod(shape)] -> [batch x shape...] (the inverse of
 * Flatten; a Linear's output into the [N x C x H x W] a Conv2d takes). As torch's, it
 * also takes [batch x prod(shape) x rest...] to [batch x shape... x rest...], where the
 * result has at most TNN_MAX_DIMS dimensions. One size may be -1, as torch's: it is
 * inferred at each forward as dimension 1 of the input divided by the product of the
 * other sizes (Unflatten(1, {-1, 2, 2}) takes [3 x 12] to [3 x 3 x 2 x 2], [5 x 8] to
 * [5 x 2 x 2 x 2]). A view of the input (no copy), as Flatten; the backward returns dy
 * under the input's shape, a view of dy. No parameters. An input that is 1-D, whose
 * dimension 1 is not prod(shape) (with a -1: not a multiple of the other sizes'
 * product), or that would pass TNN_MAX_DIMS dimensions is refused (TNN_ERR_SHAPE,
 * naming the module and both shapes). shape is copied. NULL (TNN_ERR_ARG, naming the
 * argument) if ndim is not 1..TNN_MAX_DIMS - 1, shape is NULL, more than one size is
 * -1, a size other than a -1 is below 1, or the product of the sizes passes INT_MAX. */
TNN_API tnn_module *tnn_unflatten_new(int ndim, const int *shape);

/** 2-D convolution over [batch x in_channels x H x W] (or one sample [in_channels x H x W]),
 * torch.nn.Conv2d with groups 1, dilation 1 and zero padding: a square kernel_size x
 * kernel_size kernel moved by stride over the input padded with `padding` zeros on every
 * side. The output is [batch x out_channels x Hout x Wout] ([out_channels x Hout x Wout]
 * for one sample), Hout = (H + 2*padding - kernel_size) / stride + 1 (likewise Wout); an
 * input smaller than the kernel once padded is refused (TNN_ERR_SHAPE), as is one with
 * another channel count or whose padded size plus the stride passes INT_MAX. Parameters "weight" [out x in x k x k] and "bias" [out]
 * (omitted when !bias), initialised as torch.nn.Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * with fan_in = in_channels * k * k, drawn from rng as Linear draws (weight first, then
 * bias); rng may be NULL to leave everything zero. The batch is cut into groups of
 * samples by its shape alone, and each group's products run whole on one of the
 * library's threads, so the output and every gradient have the same bits on any thread
 * count (a sample's output may differ in its last bits with the batch size, as
 * torch's does). The backward reads x again: it must be unchanged since the forward.
 * The bias gradient is summed in double. NULL (TNN_ERR_ARG, naming the argument) if a channel count, kernel_size or
 * stride is below 1 or padding below 0. */
TNN_API tnn_module *tnn_conv2d_new(int in_channels, int out_channels, int kernel_size, int stride, int padding,
                                   bool bias, tnn_rng *rng);

/** 2-D transposed convolution over [batch x in_channels x H x W] (or one sample
 * [in_channels x H x W]), torch.nn.ConvTranspose2d with groups 1, dilation 1 and zero
 * padding: the gradient of a Conv2d(out_channels -> in_channels, kernel_size, stride,
 * padding) with respect to its input, as a layer (the DCGAN generator's upsampling).
 * Each input element adds its value times the k x k kernel into the output at stride
 * steps; `padding` rows and columns are then cut from every side. The output is [batch x
 * out_channels x Hout x Wout] ([out_channels x Hout x Wout] for one sample), Hout = (H -
 * 1)*stride - 2*padding + kernel_size + output_padding (likewise Wout): output_padding
 * adds rows and columns at the bottom and right (some of them may get only the bias).
 * An input whose output would have no rows or columns is refused (TNN_ERR_SHAPE, torch's
 * "Output size is too small"), as is one with another channel count, or whose output
 * padded plus the stride passes INT_MAX. Parameters "weight" [in x out x k x k] (torch's
 * layout for a transposed convolution: in_channels first) and "bias" [out] (omitted
 * when !bias), initialised as torch.nn.ConvTranspose2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * with fan_in = out_channels * k * k (torch takes it from the weight's dimension 1),
 * drawn from rng as Linear draws (weight first, then bias); rng may be NULL to leave
 * everything zero. Computed with Conv2d's columns and products run the other way round
 * (a product per group of samples, then col2im), so the output and every gradient have
 * the same bits on any thread count, as Conv2d's. The backward reads x again: it must be
 * unchanged since the forward. The bias gradient is summed in double. NULL
 * (TNN_ERR_ARG, naming the argument) if a channel count, kernel_size or stride is below
 * 1, padding or output_padding below 0, or output_padding not smaller than stride (torch
 * refuses that at its forward). */
TNN_API tnn_module *tnn_conv_transpose2d_new(int in_channels, int out_channels, int kernel_size, int stride,
                                             int padding, int output_padding, bool bias, tnn_rng *rng);

/** Settings of MaxPool2d and AvgPool2d besides the window size (torch.nn.MaxPool2d's and
 * torch.nn.AvgPool2d's other arguments), for tnn_max_pool2d_new_with and
 * tnn_avg_pool2d_new_with; start from tnn_pool2d_defaults(). One struct serves both
 * pools, as tnn_batchnorm_params serves both BatchNorms: count_include_pad and
 * divisor_override are AvgPool2d's alone, and MaxPool2d refuses them changed from their
 * defaults (as tnn_nll_loss_with refuses label smoothing). kernel_size is not a field:
 * torch gives it no default, so the constructors take it as an argument, as BatchNorm
 * takes num_features. */
typedef struct tnn_pool2d_params {
    int stride;             /**< the windows' step; 0 (the default) means kernel_size, torch's stride=None */
    int padding;            /**< added on every side (-inf for MaxPool2d, zeros for AvgPool2d), at most
                                 kernel_size / 2 (torch's rule); default 0 */
    /** The output size rounded up instead of down (torch's ceil_mode): Hout =
     * ceil((H + 2*padding - kernel_size) / stride) + 1 (likewise Wout), so that a last
     * window that runs past the padded input's bottom or right edge is kept (its part
     * past the edge holds nothing); less one when that last window would start in the
     * right padding or beyond, (Hout - 1)*stride >= H + padding (torch's
     * pooling_output_shape: every window starts inside the input or its left padding,
     * so every window holds an input element). Default false: rounded down, the windows
     * that fit. */
    bool ceil_mode;
    /** AvgPool2d: divide each window's sum by its size counted in the padded input (the
     * padding's zeros included), min(hstart + kernel_size, H + padding) - hstart rows
     * times the same for the columns, hstart = oh*stride - padding (the
     * kernel_size^2 of every window but those that run past the padded input with
     * ceil_mode, as torch's pool_size); false: by the number of the window's elements
     * inside the input. Default true, torch's. MaxPool2d: must stay true. */
    bool count_include_pad;
    /** AvgPool2d: when above 0, every window's sum is divided by it instead (torch's
     * divisor_override; count_include_pad then changes nothing). 0 (the default) means
     * none, torch's None (torch refuses a divisor_override of 0). Negative values are
     * refused (torch takes them and flips the outputs' signs). MaxPool2d: must stay 0. */
    int divisor_override;
    /** Set by tnn_pool2d_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.ceil_mode = true} has count_include_pad
     * false. */
    unsigned tag;
} tnn_pool2d_params;
/** PyTorch's defaults: stride kernel_size (0), padding 0, ceil_mode false,
 * count_include_pad true, no divisor_override (0). */
TNN_API tnn_pool2d_params tnn_pool2d_defaults(void);

/** 2-D max pooling over [batch x channels x H x W] (or one sample [channels x H x W]),
 * torch.nn.MaxPool2d with dilation 1 and ceil_mode False: each channel of each sample
 * on its own, every kernel_size x kernel_size window moved by stride over the input
 * padded with `padding` elements of -inf on every side (padding never wins) gives its
 * maximum. stride 0 means stride = kernel_size, torch's default (stride=None). The
 * output is [batch x channels x Hout x Wout] ([channels x Hout x Wout] for one sample),
 * Hout = (H + 2*padding - kernel_size) / stride + 1 (likewise Wout); an input smaller
 * than the window once padded (no output) is refused (TNN_ERR_SHAPE), as is one whose
 * padded size plus the stride passes INT_MAX. As torch's CPU
 * kernel: the window is scanned row by row, a tie keeps the first maximum, a NaN is
 * the maximum (the last NaN of the window), and the output is that element, bit for
 * bit. Backward: dL/dx is zero but where a window's maximum was, which receives that
 * output's dy; where windows overlap (stride < kernel_size) an element that is the
 * maximum of several adds their dy (in output order, as torch does: the same bits).
 * No parameters. The forward keeps an int32 index per output (allocated once per
 * shape, as the other buffers). The planes run on the library's threads; each is
 * computed alone, so the results do not depend on the thread count. NULL (TNN_ERR_ARG,
 * naming the argument) if kernel_size is below 1, stride or padding below 0, or
 * padding above kernel_size / 2 (torch's rule). The same module as
 * tnn_max_pool2d_new_with with tnn_pool2d_defaults()'s stride and padding set;
 * ceil_mode needs that form. */
TNN_API tnn_module *tnn_max_pool2d_new(int kernel_size, int stride, int padding);

/** MaxPool2d with torch.nn.MaxPool2d's other settings (tnn_pool2d_params: stride,
 * padding, ceil_mode; dilation stays 1): tnn_max_pool2d_new's layer, its windows, ties,
 * NaN and backward, with the output size rounded up under ceil_mode. A window that runs
 * past the input (ceil_mode) takes the maximum of its elements inside, as a padded one
 * does: its part outside never wins, and its gradient goes to the element that won.
 * With ceil_mode an input smaller than the window once padded can still give an output
 * (as in torch: 1 x 1 with kernel_size 4, stride 2 and padding 1 gives 1 x 1); only an
 * empty output is refused (TNN_ERR_SHAPE). The name: the constructor's `_with` form, as
 * tnn_cross_entropy_loss_with is tnn_cross_entropy_loss's. NULL (TNN_ERR_ARG, naming
 * the argument) for the settings tnn_max_pool2d_new refuses, settings not started from
 * tnn_pool2d_defaults(), count_include_pad false or a divisor_override (AvgPool2d's
 * settings). */
TNN_API tnn_module *tnn_max_pool2d_new_with(int kernel_size, tnn_pool2d_params p);

/** 2-D average pooling over [batch x channels x H x W] (or one sample [channels x H x W]),
 * torch.nn.AvgPool2d with ceil_mode False and no divisor_override: each channel of each
 * sample on its own, every kernel_size x kernel_size window moved by stride over the
 * input padded with `padding` zeros on every side gives the mean of its elements.
 * count_include_pad true (torch's default) divides every window's sum by
 * kernel_size * kernel_size, padding included; false divides by the number of its
 * elements inside the input. stride 0 means stride = kernel_size, torch's default
 * (stride=None). The output is [batch x channels x Hout x Wout] ([channels x Hout x
 * Wout] for one sample), Hout = (H + 2*padding - kernel_size) / stride + 1 (likewise
 * Wout); an input smaller than the window once padded (no output) is refused
 * (TNN_ERR_SHAPE), as is one whose padded size plus the stride passes INT_MAX. As
 * torch 1.13's CPU kernel, bit for bit: the window's elements are added in float, row
 * by row, and the sum divided by the divisor converted to float. Backward: each
 * output's dy divided by its divisor is added into every input element of its window
 * (where windows overlap, in output order, as torch does: the same bits). No
 * parameters. The planes run on the library's threads; each is computed alone, so the
 * results do not depend on the thread count. NULL (TNN_ERR_ARG, naming the argument)
 * if kernel_size is below 1, stride or padding below 0, or padding above
 * kernel_size / 2 (torch's rule). The same module as tnn_avg_pool2d_new_with with
 * tnn_pool2d_defaults()'s stride, padding and count_include_pad set; ceil_mode and
 * divisor_override need that form. */
TNN_API tnn_module *tnn_avg_pool2d_new(int kernel_size, int stride, int padding, bool count_include_pad);

/** AvgPool2d with all of torch.nn.AvgPool2d's settings (tnn_pool2d_params: stride,
 * padding, ceil_mode, count_include_pad, divisor_override): tnn_avg_pool2d_new's layer,
 * with the output size rounded up under ceil_mode, and each window's divisor torch
 * 1.13's: divisor_override when set; else with count_include_pad the window's size in
 * the padded input (kernel_size^2 but for a window that runs past it with ceil_mode:
 * there only its rows and columns up to H + padding and W + padding count); else its
 * elements inside the input. As torch's CPU kernel, bit for bit: the sum in float row
 * by row, divided by the divisor converted to float, the quotient added to 0.0f;
 * backward: dy / divisor (in float) added into the window's elements inside the input,
 * outputs in order. With ceil_mode an input smaller than the window once padded can
 * still give an output, as for tnn_max_pool2d_new_with; only an empty output is refused
 * (TNN_ERR_SHAPE). NULL (TNN_ERR_ARG, naming the argument) for the settings
 * tnn_avg_pool2d_new refuses, settings not started from tnn_pool2d_defaults(), and a
 * negative divisor_override. */
TNN_API tnn_module *tnn_avg_pool2d_new_with(int kernel_size, tnn_pool2d_params p);

/** Adaptive 2-D average pooling over [batch x channels x H x W] (or one sample
 * [channels x H x W]) to [batch x channels x out_h x out_w], torch.nn.AdaptiveAvgPool2d(
 * (out_h, out_w)): output row oh averages input rows [floor(oh*H/out_h),
 * ceil((oh+1)*H/out_h)), columns likewise (windows may overlap; out_h above H repeats
 * rows). AdaptiveAvgPool2d(1, 1) is global average pooling. Bit for bit as torch 1.13
 * on the CPU, which has two paths: for 1 x 1, the mean of each plane (torch's cascade
 * sum in float, divided by H*W; backward: dy / (H*W) for every element); otherwise each
 * window summed in float row by row and divided by its height, then by its width
 * (backward: dy / height / width added into the window, outputs in order). No
 * parameters. The planes run on the library's threads; each is computed alone, so the
 * results do not depend on the thread count. NULL (TNN_ERR_ARG, naming the argument)
 * if out_h or out_w is below 1 (torch accepts 0 and returns an empty tensor). */
TNN_API tnn_module *tnn_adaptive_avg_pool2d_new(int out_h, int out_w);

/** Nearest-neighbour upsampling of [batch x channels x H x W] by an integer factor,
 * torch.nn.Upsample(scale_factor=scale_factor, mode='nearest'): the output is
 * [batch x channels x H*k x W*k] (k = scale_factor), output (oh, ow) the input element
 * (src(oh), src(ow)), with torch 1.13's index rule: oh itself for k = 1, oh / 2 for
 * k = 2, else min(floor(oh * (float)(1.0 / k)), H - 1) computed in float, which is oh / k
 * for most k but not all (for k = 41, output row 41 reads input row 0, as in torch).
 * Only 4-D input: torch takes a 3-D input as [batch x channels x L] and upsamples it in
 * one dimension, so [C x H x W] is refused (TNN_ERR_SHAPE; one sample is [1 x C x H x W]),
 * as is an output with a dimension above INT_MAX or more elements than memory can
 * address. Backward: each input element's gradient is the sum of the dy of the outputs
 * it was copied to, added in float from +0 in torch's order (output rows in order, each
 * row's columns in order), so the results are torch's bits. No parameters. The planes
 * run on the library's threads, each alone, so the results do not depend on the thread
 * count; a table of source indices is made once per input size. NULL (TNN_ERR_ARG,
 * naming the argument) if scale_factor is below 1. */
TNN_API tnn_module *tnn_upsample_nearest2d_new(int scale_factor);

#ifdef __cplusplus
}
#endif
#endif
