/**
 * @file tinynn/optim.h
 * @brief The optimizer interface, with SGD, Adam, AdamW and RMSprop.
 *
 * An optimizer is created over a module's parameters (tnn_module_parameters); its state
 * (moments, step count) is sized once, at creation. tnn_optimizer_step() applies one
 * update from the accumulated gradients, leaving alone the parameters that have none
 * (discarded, no backward since; PyTorch skips a .grad of None); tnn_optimizer_zero_grad() clears them.
 * A new layer's gradients are zeros that count (so that they can be written by hand):
 * a step before any backward counts for Adam, AdamW and RMSprop and applies weight decay, where PyTorch's
 * new parameters (.grad None) are skipped; discard the gradients once after building
 * the model for PyTorch's start (docs/parity.md, "Known differences"). The
 * updates are PyTorch's (torch.optim.SGD / Adam / AdamW / RMSprop, non-fused), computed in
 * float32 with the hyper-parameters kept in double as Python keeps them. The
 * built-in optimizers spread an update over the library's threads
 * (tnn_set_num_threads); every scalar's update is computed the same way on any
 * thread, so the results do not depend on the thread count.
 *
 * A user-defined optimizer embeds tnn_optimizer as its first member, fills it with
 * tnn_optimizer_init() and provides a vtable.
 */
#ifndef TINYNN_OPTIM_H
#define TINYNN_OPTIM_H

#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An optimizer; see struct tnn_optimizer. */
typedef struct tnn_optimizer tnn_optimizer;

/** The operations of an optimizer type; one static const instance per type. */
typedef struct tnn_optimizer_vtable {
    const char *type_name; /**< "sgd", "adam", ... */
    /** Apply one update to o->params from their accumulated gradients. Required. */
    tnn_status (*step)(tnn_optimizer *o);
    /** Enumerate the optimizer's state tensors (for checkpoints) with names prefixed by
     * `prefix`. May be NULL (stateless). */
    tnn_status (*visit_state)(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx);
    /** Free the derived struct's own resources, o->params (tnn_tensor_list_free) and the
     * struct itself: tnn_optimizer_free() calls only this. Required. */
    void (*free)(tnn_optimizer *o);
    /** Change the learning rate (for schedules); the state is kept. May be NULL: then
     * tnn_optimizer_set_lr() reports that the optimizer has no learning rate to set. */
    tnn_status (*set_lr)(tnn_optimizer *o, double lr);
    /** The current learning rate. May be NULL (tnn_optimizer_get_lr() returns NaN). */
    double (*get_lr)(const tnn_optimizer *o);
} tnn_optimizer_vtable;

/** The base of every optimizer: embed it as the first member of your optimizer's struct. */
struct tnn_optimizer {
    const tnn_optimizer_vtable *vt; /**< the optimizer's type */
    tnn_tensor_list *params; /**< owned; parameters of the module given at creation */
    tnn_module *module;      /**< the module given at creation (borrowed; must outlive o) */
};

/** Fill the base: collects m's parameters (names without prefix) into o->params and
 * keeps m in o->module. TNN_ERR_ARG if m has no parameters. */
TNN_API tnn_status tnn_optimizer_init(tnn_optimizer *o, const tnn_optimizer_vtable *vt, tnn_module *m);
/** Apply one update from the accumulated gradients. First it visits the module: that
 * writes any zeros tnn_optimizer_discard_grad() still owes, and refreshes each entry's
 * no_grad in o->params (gradients discarded with no backward since),
 * which the built-in optimizers skip and a user-defined vt->step should skip too.
 * TNN_ERR_STATE if the module's parameters are no longer those the optimizer was
 * created over (a layer added since), and, changing nothing, while another thread is
 * inside a call on the module's model (docs/design.md, "Threads of your own"). */
TNN_API tnn_status tnn_optimizer_step(tnn_optimizer *o);
/** Zero the gradients of the optimizer's parameters (writes the zeros now). NULL is a no-op. */
TNN_API void tnn_optimizer_zero_grad(tnn_optimizer *o);
/** tnn_module_discard_grad() on the module given at creation: the next backward writes
 * the gradients instead of adding to them, with no pass over memory now. The usual
 * choice in a training loop (zero_grad, forward, backward, step); see
 * tnn_module_discard_grad() for what may and may not be read in between. NULL is a no-op. */
TNN_API void tnn_optimizer_discard_grad(tnn_optimizer *o);
/** Enumerate the optimizer's state tensors with names prefixed by `prefix` (NULL: none):
 * SGD with momentum gives `"<param>.momentum_buffer"` per parameter; Adam "step" (I64
 * scalar: the steps taken), then per parameter `"<param>.step"` (I64 scalar: the
 * updates of that parameter, PyTorch's state['step']), `"<param>.exp_avg"`,
 * `"<param>.exp_avg_sq"` and, with amsgrad only, `"<param>.max_exp_avg_sq"`; AdamW the
 * same names under "adamw." (`"adamw.step"`, `"adamw.<param>.step"`,
 * `"adamw.<param>.exp_avg"`, ...), so that an Adam checkpoint and an AdamW one never
 * load into each other; RMSprop per parameter `"rmsprop.<param>.step"`,
 * `"rmsprop.<param>.square_avg"`, with momentum `"rmsprop.<param>.momentum_buffer"` and
 * when centered `"rmsprop.<param>.grad_avg"` (under "rmsprop." for the same reason: its
 * `.step` is Adam's name and its `.momentum_buffer` SGD's). The tensors are the
 * optimizer's own, read and written in place (checkpoints). */
TNN_API tnn_status tnn_optimizer_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx);
/** Free the optimizer and its state (never the module). NULL is a no-op. */
TNN_API void tnn_optimizer_free(tnn_optimizer *o);

/** Set the learning rate of o from the next step on (a learning-rate schedule such as
 * StepLR multiplies it between epochs); moments, buffers and step counts are kept.
 * lr must be >= 0 and finite in float (at most FLT_MAX). TNN_ERR_ARG if o has no set_lr. */
TNN_API tnn_status tnn_optimizer_set_lr(tnn_optimizer *o, double lr);

/** The learning rate o will use at its next step; NaN if o is NULL or has no get_lr. */
TNN_API double tnn_optimizer_get_lr(const tnn_optimizer *o);

/** Settings of torch.optim.SGD; start from tnn_sgd_defaults(). */
typedef struct tnn_sgd_params {
    double lr;            /**< default 0.01 */
    double momentum;      /**< default 0 */
    double dampening;     /**< default 0 */
    double weight_decay;  /**< default 0 (L2 added to the gradient) */
    bool nesterov;        /**< default false; needs momentum > 0 and dampening 0 */
    /** Set by tnn_sgd_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.lr = 0.1} has every other field 0. */
    unsigned tag;
} tnn_sgd_params;
/** lr 0.01 and everything else off (momentum, dampening, weight_decay, nesterov), as
 * torch.optim.SGD's defaults; torch 1.13 has no default lr (SGD(params) raises), so 0.01
 * is this library's choice: set it. */
TNN_API tnn_sgd_params tnn_sgd_defaults(void);
/** SGD over m's parameters (torch.optim.SGD); m must outlive the optimizer. NULL
 * (TNN_ERR_ARG) if lr, momentum or weight_decay is negative, any setting is not finite
 * in float (NaN, an infinity, or beyond FLT_MAX, which the step would round to one),
 * nesterov is set without momentum > 0 and dampening 0, or m has no parameters. A step skips parameters without a gradient
 * (tnn_named_tensor.no_grad); each momentum buffer starts at its parameter's first
 * update, as a copy of the gradient, as PyTorch's does. A buffer loaded with values
 * (a resumed checkpoint: not all zeros) counts as started; an all-zero one does not,
 * which differs from PyTorch only with dampening, for a buffer that had started and is
 * exactly zero (after zero gradients, say). A buffer that has started stays started,
 * also when a state is loaded over it. */
TNN_API tnn_optimizer *tnn_sgd_new(tnn_module *m, tnn_sgd_params p);

/** Settings of torch.optim.Adam (maximize off): bias-corrected moments, eps added outside
 * the square root, weight decay as L2 added to the gradient, and optionally AMSGrad.
 * Start from tnn_adam_defaults(). */
typedef struct tnn_adam_params {
    double lr;            /**< default 1e-3 */
    /** @{ */
    double beta1, beta2;  /**< decay rates of the first and second moments; default 0.9, 0.999 */
    /** @} */
    double eps;           /**< default 1e-8 */
    double weight_decay;  /**< default 0 */
    /** default false. AMSGrad (torch's amsgrad=True): the optimizer keeps, per scalar, the
     * largest second moment so far, max_exp_avg_sq = maximum(max_exp_avg_sq, exp_avg_sq)
     * after the moments' update, and divides by sqrt(max_exp_avg_sq) / sqrt(1 - beta2^t)
     * + eps instead of the second moment's root. The maximum is torch.maximum's: NaN if
     * either side is NaN (a NaN stays in max_exp_avg_sq for good). That third state
     * arena (another float per parameter scalar) is allocated only with amsgrad. */
    bool amsgrad;
    /** Set by tnn_adam_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.lr = 0.01} has betas and eps 0. */
    unsigned tag;
} tnn_adam_params;
/** torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay,
 * amsgrad off. */
TNN_API tnn_adam_params tnn_adam_defaults(void);
/** Adam over m's parameters (torch.optim.Adam); m must outlive the optimizer. Its two
 * moments (three arrays with amsgrad: max_exp_avg_sq too) are one arena, zeroed. NULL
 * (TNN_ERR_ARG, naming the first bad setting) unless lr >= 0, betas in [0, 1),
 * eps >= 0 and weight_decay >= 0, lr, eps and weight_decay finite in float (at most
 * FLT_MAX), or if m has no parameters. A step skips parameters without a
 * gradient (tnn_named_tensor.no_grad). Each parameter counts its own updates and takes
 * its bias corrections from that count, as PyTorch does: a layer frozen for the first
 * k steps starts at step 1 when it is unfrozen. (libtinynn 0.2 kept one count for all
 * parameters. A state saved by 0.2 has no per-parameter counts; loaded non-strictly
 * into a new Adam, they stay 0. The next step sees steps taken, every parameter's
 * count 0 and moments that are not all zeros, which only such a state shows, and gives
 * every parameter the optimizer's count, so the run goes on as it would have in 0.2.) A count that a loaded state set negative, or to 2^63 - 1, which
 * cannot grow, is refused by the next step that would use it (TNN_ERR_STATE, naming the
 * parameter; nothing changes).
 *
 * amsgrad and checkpoints: the state has a "<param>.max_exp_avg_sq" per parameter only
 * with amsgrad, so a state saved with amsgrad and one saved without it do not match.
 * Loaded strictly (tnn_safetensors_copy_into), either way round is refused by name
 * ("missing '...max_exp_avg_sq'" or "unexpected '...max_exp_avg_sq'"), and nothing is
 * loaded. Loaded non-strictly, a state without the maxima into an amsgrad optimizer
 * leaves max_exp_avg_sq as it was (zeros in a new optimizer): the next update takes
 * the maximum of that and the new second moment, so AMSGrad starts from the loaded
 * moments and does not know the larger second moments of the saved run's past (torch
 * itself cannot load such a state: its step fails on the missing key). A state with
 * the maxima loaded non-strictly into an optimizer without amsgrad skips them, and the
 * run goes on as plain Adam from the loaded moments. A libtinynn 0.2 state (above) has
 * no maxima either, and is resumed as described there with max_exp_avg_sq at zero. */
TNN_API tnn_optimizer *tnn_adam_new(tnn_module *m, tnn_adam_params p);

/** Settings of torch.optim.AdamW (maximize off): Adam with decoupled weight decay, and
 * optionally AMSGrad. Start from tnn_adamw_defaults(). */
typedef struct tnn_adamw_params {
    double lr;            /**< default 1e-3 */
    /** @{ */
    double beta1, beta2;  /**< decay rates of the first and second moments; default 0.9, 0.999 */
    /** @} */
    double eps;           /**< default 1e-8 */
    /** default 1e-2. Decoupled: each update first multiplies the parameter by
     * 1 - lr * weight_decay (the gradient and the moments never see it) */
    double weight_decay;
    /** default false. AMSGrad (torch's amsgrad=True), as in tnn_adam_params::amsgrad:
     * the update divides by the root of the largest second moment so far, kept in a
     * third state arena ("adamw.<param>.max_exp_avg_sq") allocated only with amsgrad. */
    bool amsgrad;
    /** Set by tnn_adamw_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.lr = 0.01} has betas, eps and weight_decay 0. */
    unsigned tag;
} tnn_adamw_params;
/** torch.optim.AdamW's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2,
 * amsgrad off. */
TNN_API tnn_adamw_params tnn_adamw_defaults(void);
/** AdamW over m's parameters (torch.optim.AdamW of torch 1.13, single-tensor, maximize
 * off; amsgrad as the settings say); m must outlive the optimizer. An update of a parameter is
 * param *= 1 - lr * weight_decay, with the factor computed in double and rounded to
 * float once, as torch's param.mul_() of a Python float rounds it, then Adam's update
 * from the plain gradient (tnn_adam_new(), without its L2 term): the same moments, bias
 * corrections from the parameter's own count, thread split, and the same refusals (NULL,
 * TNN_ERR_ARG naming the first bad setting, unless lr >= 0, betas in [0, 1), eps >= 0
 * and weight_decay >= 0, lr, eps and weight_decay finite in float, or if m has no
 * parameters). A parameter without a gradient (tnn_named_tensor.no_grad) is skipped
 * whole, decay included, as torch skips a .grad of None; the lr of the step (after
 * tnn_optimizer_set_lr()) is the one in the decay. Its own type ("adamw"): its state is
 * named under "adamw." (tnn_optimizer_visit_state()), and there is no libtinynn 0.2
 * AdamW state to resume. With amsgrad, states saved with and without it are told
 * apart as Adam's are (tnn_adam_new()). */
TNN_API tnn_optimizer *tnn_adamw_new(tnn_module *m, tnn_adamw_params p);

/** Settings of torch.optim.RMSprop (maximize off): a running mean of the squared
 * gradients, optionally centered and with momentum. Start from tnn_rmsprop_defaults(). */
typedef struct tnn_rmsprop_params {
    double lr;            /**< default 1e-2 */
    double alpha;         /**< decay rate of the running means; default 0.99 */
    double eps;           /**< default 1e-8, added outside the square root */
    double weight_decay;  /**< default 0 (L2 added to the gradient) */
    /** default 0. Above 0, the update goes through a momentum buffer
     * (buf = momentum * buf + g / (sqrt(v) + eps), param -= lr * buf), a second state
     * arena allocated only then. */
    double momentum;
    /** default false. Centered RMSprop: the optimizer also keeps a running mean of the
     * gradients, grad_avg, and divides by the root of the estimated variance,
     * sqrt(square_avg - grad_avg^2) + eps, instead of sqrt(square_avg) + eps; a state
     * arena allocated only then. Where rounding leaves square_avg - grad_avg^2 below 0
     * (the same gradient step after step can), the root is NaN, as torch's is. */
    bool centered;
    /** Set by tnn_rmsprop_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG): a struct written as {.lr = 0.01} has alpha 0 and eps 0. */
    unsigned tag;
} tnn_rmsprop_params;
/** torch.optim.RMSprop's defaults: lr 1e-2, alpha 0.99, eps 1e-8, no weight decay, no
 * momentum, not centered. */
TNN_API tnn_rmsprop_params tnn_rmsprop_defaults(void);
/** RMSprop over m's parameters (torch.optim.RMSprop of torch 1.13, single-tensor,
 * maximize off); m must outlive the optimizer. An update of a parameter, with g its
 * gradient:
 *
 *     g += weight_decay * param                    (only if weight_decay != 0)
 *     square_avg = alpha * square_avg + (1 - alpha) * g^2
 *     centered:  grad_avg = alpha * grad_avg + (1 - alpha) * g
 *                avg = sqrt(square_avg - grad_avg^2) + eps
 *     otherwise: avg = sqrt(square_avg) + eps
 *     momentum > 0: buf = momentum * buf + g / avg;  param -= lr * buf
 *     otherwise:    param -= lr * g / avg
 *
 * in float, each operation rounded as torch's CPU kernels round it, with the settings
 * rounded to float where torch rounds them (1 - alpha computed in double first). The
 * state (square_avg, and momentum_buffer and grad_avg when the settings ask for them)
 * is one arena, zeroed, as torch's state starts at zeros. NULL (TNN_ERR_ARG, naming
 * the first bad setting in torch's order: lr, eps, momentum, weight_decay, alpha)
 * unless each of them is >= 0 and finite in float (at most FLT_MAX), or if m has no
 * parameters; torch takes any alpha >= 0, above 1 too, and so does this. A step skips
 * parameters without a gradient (tnn_named_tensor.no_grad), and each parameter counts
 * its own updates ("rmsprop.<param>.step", torch's state['step']; the update does not
 * use it). A count that a loaded state set negative, or to 2^63 - 1, which cannot
 * grow, is refused by the next step that would update the parameter (TNN_ERR_STATE,
 * naming it; nothing changes).
 *
 * Checkpoints: the state has "rmsprop.<param>.momentum_buffer" only with momentum > 0
 * and "rmsprop.<param>.grad_avg" only when centered, so states saved with other such
 * settings do not match. Loaded strictly (tnn_safetensors_copy_into), either way round
 * is refused by name ("missing '...grad_avg'", "unexpected '...momentum_buffer'") and
 * nothing is loaded. Loaded non-strictly, an entry the state lacks is left as it was
 * (zeros in a new optimizer): a momentum buffer then starts from zero, as a fresh
 * torch run's does, and a centered optimizer's grad_avg starts from zero beside the
 * loaded square_avg (the variance estimate is then too large until grad_avg catches
 * up; torch itself cannot load such a state: its step fails on the missing key).
 * Entries the optimizer does not keep are skipped, and the run goes on from the
 * loaded square_avg. */
TNN_API tnn_optimizer *tnn_rmsprop_new(tnn_module *m, tnn_rmsprop_params p);

/** Adam's or AdamW's count of tnn_optimizer_step calls (0 before the first), those that
 * updated no parameter included; each parameter's own count, which PyTorch keeps and
 * the update uses, is its "<param>.step" state. -1 if o is neither. */
TNN_API int64_t tnn_adam_step_count(const tnn_optimizer *o);

/** Scale the gradients of m's parameters down so that their total norm is at most
 * max_norm: torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm, norm_type,
 * error_if_nonfinite) of torch 1.13. Call it between backward and the optimizer step.
 *
 * The total norm is that of all the gradients taken as one vector: the largest |g| for
 * norm_type INFINITY, otherwise (sum of |g|^norm_type)^(1/norm_type). Every gradient is
 * then multiplied by min(max_norm / (total_norm + 1e-6), 1), computed in float as PyTorch
 * computes it (1 leaves the gradients as they are). A parameter without a gradient
 * (tnn_named_tensor.no_grad: discarded, no backward since, as a frozen module's stay) is
 * skipped, as PyTorch skips a .grad of None; a frozen module whose gradients were zeroed
 * or kept instead counts, as its parameters do in PyTorch's m.parameters(). If no
 * parameter has a gradient, the total norm is 0 and nothing changes.
 *
 * A call allocates nothing (it goes through m's visit) and runs on the library's
 * threads: a gradient of more than 65,536 scalars is summed in parts of that many, in an
 * order that follows from its length alone, so the results have the same bits on any
 * thread count.
 *
 * The norm is computed in double and rounded to float once. PyTorch sums in float, so
 * its total norm can be a few ulps away from this one (more on long gradients: on
 * 100,000 elements its 1-norm is off by about 1e-5, relatively), and the clipped
 * gradients then differ by as much as the two coefficients do; from the same total norm
 * the coefficient and the products are PyTorch's to the bit (tests/test_parity_clip.c). PyTorch's
 * norm also overflows to inf sooner: its 2-norm once the sum of squares passes FLT_MAX
 * (a norm of about 1.8e19), this one once the norm passes FLT_MAX, or, for a large
 * norm_type, once the sum of |g|^norm_type passes DBL_MAX (norm_type 1000 overflows
 * with gradients of about 2; PyTorch's float sum does at about 1.1).
 *
 * A total norm that is NaN or infinite (a NaN or an infinity among the gradients, or an
 * overflow as above): with error_if_nonfinite, TNN_ERR_NUMERIC, naming the first
 * parameter whose gradient is not finite, and no gradient changes. Without it the
 * gradients are scaled anyway, as PyTorch does, by max_norm / (norm + 1e-6) in float:
 * NaN for a NaN norm (every gradient becomes NaN); for an infinite norm 0 (the finite
 * gradients become zeros, the others NaN), but NaN if max_norm is INFINITY too (every
 * gradient becomes NaN).
 * @param m                   the module whose parameters' gradients are clipped in place
 * @param max_norm            the largest total norm let through; >= 0 (not NaN).
 *                            INFINITY clips nothing (while the norm is finite): a way to
 *                            only measure the norm
 * @param norm_type           the order of the norm: > 0, or INFINITY; PyTorch's default is
 *                            2 (PyTorch also takes 0, negative orders and -inf; refused here)
 * @param error_if_nonfinite  refuse a NaN or infinite total norm (PyTorch's default: false)
 * @param total_norm          receives the total norm before clipping (NULL: not wanted);
 *                            written on TNN_OK and on TNN_ERR_NUMERIC
 * @return TNN_OK; TNN_ERR_ARG for a NULL or unusable module (no vtable), a negative or
 *         NaN max_norm, or a norm_type that is not > 0; TNN_ERR_NUMERIC (above);
 *         TNN_ERR_STATE while another thread is inside a call on the model; or the
 *         failure of m's visit. Nothing changes on an error. */
TNN_API tnn_status tnn_clip_grad_norm(tnn_module *m, double max_norm, double norm_type, bool error_if_nonfinite,
                                      float *total_norm);

/** Clamp every gradient element of m's parameters to [-clip_value, clip_value]:
 * torch.nn.utils.clip_grad_value_(m.parameters(), clip_value) of torch 1.13. The bounds
 * are clip_value rounded to float; a NaN stays NaN and a zero keeps its sign, as with
 * PyTorch's clamp_. Parameters without a gradient (no_grad) are skipped, as in
 * tnn_clip_grad_norm(); like it, a call allocates nothing and runs on the library's threads.
 * @param m           the module whose parameters' gradients are clamped in place
 * @param clip_value  the largest |gradient| let through; >= 0 (not NaN); INFINITY clamps
 *                    nothing (PyTorch also takes a negative value; refused here)
 * @return TNN_OK; TNN_ERR_ARG for a NULL or unusable module (no vtable) or a negative or
 *         NaN clip_value; TNN_ERR_STATE while another thread is inside a call on the
 *         model; or the failure of m's visit. Nothing changes on an error. */
TNN_API tnn_status tnn_clip_grad_value(tnn_module *m, double clip_value);

#ifdef __cplusplus
}
#endif
#endif
