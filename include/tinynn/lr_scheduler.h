/**
 * @file tinynn/lr_scheduler.h
 * @brief Learning-rate schedulers: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
 * LinearLR and ReduceLROnPlateau of torch.optim.lr_scheduler (torch 1.13).
 *
 * A scheduler changes the learning rate of one optimizer (borrowed: it must outlive the
 * scheduler, which never frees it) through tnn_optimizer_set_lr(). Call
 * tnn_lr_scheduler_step() once per epoch, after the epoch's optimizer steps, as in
 * PyTorch; ReduceLROnPlateau is stepped with a metric (tnn_lr_scheduler_step_metric()).
 *
 * The learning rates are PyTorch's to the bit: each step computes the new rate from the
 * optimizer's current one with torch's own recursive ("chainable") formula of its
 * get_lr(), in double as Python does (the cosine with the C library's cos(), which is
 * Python's math.cos). Being recursive, a schedule goes on from a rate changed by hand
 * (tnn_optimizer_set_lr()) between steps, as PyTorch's does. As in PyTorch, creating a
 * scheduler other than ReduceLROnPlateau takes its first step at once (last_epoch -1 to
 * 0): LinearLR then multiplies the rate by start_factor, and a MultiStepLR milestone 0
 * applies; the rate at creation is the scheduler's base_lr (PyTorch's initial_lr; torch
 * keeps the first scheduler's initial_lr when several are created over one optimizer,
 * here each records the rate it finds).
 *
 * Checkpoints: tnn_tensor_list_add_lr_scheduler() (safetensors.h) adds the scheduler's
 * state to a checkpoint list; after tnn_safetensors_copy_into() has loaded it, call
 * tnn_lr_scheduler_resume(), which checks the loaded state and gives the optimizer the
 * rate saved (the optimizer's own state does not hold its rate). A run saved after k
 * steps and resumed so gives the same rates, bit for bit, as one that never stopped.
 */
#ifndef TINYNN_LR_SCHEDULER_H
#define TINYNN_LR_SCHEDULER_H

#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A learning-rate scheduler over one optimizer. Opaque; free with tnn_lr_scheduler_free(). */
typedef struct tnn_lr_scheduler tnn_lr_scheduler;

/** StepLR(optimizer, step_size, gamma): every step_size-th step multiplies the rate by
 * gamma (lr * gamma when last_epoch is a multiple of step_size, else lr unchanged).
 * NULL (TNN_ERR_ARG, naming the argument) if o is NULL or has no learning rate
 * (set_lr/get_lr), step_size < 1 (torch divides by it), or gamma is negative or not
 * finite. NULL with the optimizer's message if the first rate is refused by it. */
TNN_API tnn_lr_scheduler *tnn_step_lr_new(tnn_optimizer *o, int step_size, double gamma);

/** MultiStepLR(optimizer, milestones, gamma): at a step whose last_epoch is a milestone the
 * rate is multiplied by gamma ** (the number of times it is listed), pow() as Python's
 * float ** int. The n milestones are copied and sorted; repeats count, as torch's
 * Counter does; milestone 0 applies at creation; n may be 0 (milestones then may be
 * NULL: the rate never changes). NULL (TNN_ERR_ARG) as tnn_step_lr_new() for o and gamma,
 * and if n < 0, milestones is NULL with n > 0, or a milestone is negative (never reached). */
TNN_API tnn_lr_scheduler *tnn_multistep_lr_new(tnn_optimizer *o, const int *milestones, int n, double gamma);

/** ExponentialLR(optimizer, gamma): every step after the first multiplies the rate by
 * gamma. NULL (TNN_ERR_ARG) as tnn_step_lr_new() for o and gamma. */
TNN_API tnn_lr_scheduler *tnn_exponential_lr_new(tnn_optimizer *o, double gamma);

/** CosineAnnealingLR(optimizer, T_max, eta_min), with torch's recursive formula:
 * lr' = (1 + cos(pi e / T_max)) / (1 + cos(pi (e - 1) / T_max)) * (lr - eta_min) + eta_min
 * at step e, and lr' = lr + (base_lr - eta_min) (1 - cos(pi / T_max)) / 2 when
 * e - 1 - T_max is a multiple of 2 T_max; past T_max the rate climbs back, as torch's
 * does (no restart). NULL (TNN_ERR_ARG) as tnn_step_lr_new() for o, and if T_max < 1 or
 * eta_min is negative or not finite in float. */
TNN_API tnn_lr_scheduler *tnn_cosine_annealing_lr_new(tnn_optimizer *o, int T_max, double eta_min);

/** LinearLR(optimizer, start_factor, end_factor, total_iters): the rate is multiplied by
 * start_factor at creation, then at step e <= total_iters by
 * 1 + (end - start) / (total_iters start + (e - 1) (end - start)); after total_iters it
 * stays. NULL (TNN_ERR_ARG) as tnn_step_lr_new() for o, if start_factor is not in (0, 1]
 * (torch raises outside [0, 1], and divides by zero at step 1 with 0), end_factor not in
 * [0, 1], or total_iters < 0. */
TNN_API tnn_lr_scheduler *tnn_linear_lr_new(tnn_optimizer *o, double start_factor, double end_factor, int total_iters);

/** What ReduceLROnPlateau watches for. */
typedef enum tnn_plateau_mode {
    TNN_PLATEAU_MIN = 0, /**< "min": the metric should go down (a loss) */
    TNN_PLATEAU_MAX = 1  /**< "max": the metric should go up (an accuracy) */
} tnn_plateau_mode;

/** How ReduceLROnPlateau's threshold is applied. */
typedef enum tnn_threshold_mode {
    TNN_THRESHOLD_REL = 0, /**< "rel": better than best * (1 -/+ threshold) */
    TNN_THRESHOLD_ABS = 1  /**< "abs": better than best -/+ threshold */
} tnn_threshold_mode;

/** Settings of ReduceLROnPlateau; start from tnn_plateau_defaults(). */
typedef struct tnn_plateau_params {
    tnn_plateau_mode mode;               /**< default TNN_PLATEAU_MIN */
    double factor;                       /**< new lr = lr * factor; in [0, 1); default 0.1 */
    int patience;                        /**< bad steps tolerated before a reduction; >= 0; default 10 */
    double threshold;                    /**< >= 0, finite; default 1e-4 (below 1 with min and rel) */
    tnn_threshold_mode threshold_mode;   /**< default TNN_THRESHOLD_REL */
    int cooldown;                        /**< steps after a reduction in which bad steps are not counted; >= 0; default 0 */
    double min_lr;                       /**< lower bound of the rate; >= 0, finite in float; default 0 */
    double eps;                          /**< a reduction smaller than this (or equal) is skipped; >= 0, finite; default 1e-8 */
    /** Set by tnn_plateau_defaults(); leave it. Settings not started from it are refused
     * (TNN_ERR_ARG). */
    unsigned tag;
} tnn_plateau_params;

/** torch.optim.lr_scheduler.ReduceLROnPlateau's defaults: mode min, factor 0.1, patience
 * 10, threshold 1e-4 rel, cooldown 0, min_lr 0, eps 1e-8. */
TNN_API tnn_plateau_params tnn_plateau_defaults(void);

/** ReduceLROnPlateau(optimizer, ...): stepped with a metric, it multiplies the rate by
 * factor (not below min_lr, and only by more than eps) once the metric has not improved
 * on its best for more than patience steps, then waits cooldown steps. Unlike the
 * others it takes no step at creation (last_epoch 0, the rate unchanged). NULL
 * (TNN_ERR_ARG, naming the setting) as tnn_step_lr_new() for o, for settings not from
 * tnn_plateau_defaults(), an unknown mode or threshold_mode, and a setting outside the
 * ranges of tnn_plateau_params (torch raises for factor >= 1 and unknown modes; the
 * others it would take and compute nonsense with). */
TNN_API tnn_lr_scheduler *tnn_reduce_lr_on_plateau_new(tnn_optimizer *o, tnn_plateau_params p);

/** One step of a scheduler other than ReduceLROnPlateau: last_epoch + 1, then the new
 * rate from the optimizer's current one, set with tnn_optimizer_set_lr(). TNN_ERR_ARG
 * for NULL or a ReduceLROnPlateau (it needs tnn_lr_scheduler_step_metric()); TNN_ERR_STATE
 * if the state was loaded and tnn_lr_scheduler_resume() not called, or last_epoch
 * cannot grow; the optimizer's error (TNN_ERR_ARG) if it refuses the new rate (beyond
 * FLT_MAX after growing by gamma > 1). Nothing changes on an error. */
TNN_API tnn_status tnn_lr_scheduler_step(tnn_lr_scheduler *s);

/** One step of ReduceLROnPlateau with the metric of the epoch (torch's step(metrics)).
 * A NaN metric is taken as torch takes it: it is never better than the best, so it
 * counts as a bad step; an infinity is compared as torch compares it. TNN_ERR_ARG for
 * NULL or another kind of scheduler; TNN_ERR_STATE as tnn_lr_scheduler_step(). Nothing
 * changes on an error. */
TNN_API tnn_status tnn_lr_scheduler_step_metric(tnn_lr_scheduler *s, double metric);

/** The rate the last step set (torch's get_last_lr()[0]); for a ReduceLROnPlateau not
 * yet stepped, the optimizer's rate at creation. NaN for NULL. */
TNN_API double tnn_lr_scheduler_get_last_lr(const tnn_lr_scheduler *s);

/** The steps taken: 0 after creation (the first step of creation counted, as in torch),
 * +1 per step. -1 for NULL. */
TNN_API int64_t tnn_lr_scheduler_last_epoch(const tnn_lr_scheduler *s);

/** The kind: "step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr",
 * "linear_lr" or "reduce_lr_on_plateau" (the first part of its state's names); NULL for NULL. */
TNN_API const char *tnn_lr_scheduler_kind(const tnn_lr_scheduler *s);

/** Enumerate the scheduler's state (checkpoints) with names prefixed by `prefix` (NULL:
 * none), all I64 scalars under "<kind>.": "last_epoch", "base_lr", "last_lr" (the two
 * rates hold the bits of the double, which no other dtype of the format keeps); a
 * ReduceLROnPlateau has "last_epoch", "last_lr", "best" (a double's bits, inf or -inf
 * before any step), "num_bad_epochs" and "cooldown_counter". Read and written in place;
 * after writing, call tnn_lr_scheduler_resume(). The hyper-parameters are not state:
 * they come from the constructor, as an optimizer's do. TNN_ERR_ARG for NULL s or fn. */
TNN_API tnn_status tnn_lr_scheduler_visit_state(tnn_lr_scheduler *s, const char *prefix, tnn_visit_fn fn, void *ctx);

/** Take up a state loaded into the scheduler (tnn_safetensors_copy_into() over a list
 * with tnn_tensor_list_add_lr_scheduler()): checks it and sets the optimizer's rate to
 * the loaded last_lr, so that the optimizer's next steps use the rate they had when the
 * checkpoint was saved. Nothing to do (TNN_OK) if nothing was loaded. A loaded state
 * that no run gives (a negative last_epoch or count, a NaN best, a rate the optimizer
 * refuses) is refused with TNN_ERR_FORMAT naming the entry; the scheduler then goes
 * back to the state it had before the load, and the optimizer is unchanged. TNN_ERR_ARG
 * for NULL. The rate restored is the scheduler's last one: a rate set by hand
 * (tnn_optimizer_set_lr()) after the last step before the save is not in the checkpoint,
 * where PyTorch's optimizer state_dict would keep it. */
TNN_API tnn_status tnn_lr_scheduler_resume(tnn_lr_scheduler *s);

/** Free the scheduler (never the optimizer). NULL is a no-op. */
TNN_API void tnn_lr_scheduler_free(tnn_lr_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
