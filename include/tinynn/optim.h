/*
 * tinynn/optim.h - the optimizer interface, with SGD and Adam.
 *
 * An optimizer is created over a module's parameters (tnn_module_parameters); its state
 * (moments, step count) is sized once, at creation. tnn_optimizer_step() applies one
 * update from the accumulated gradients; tnn_optimizer_zero_grad() clears them. The
 * updates are PyTorch's (torch.optim.SGD / torch.optim.Adam, non-fused), computed in
 * float32 with the hyper-parameters kept in double as Python keeps them.
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

typedef struct tnn_optimizer tnn_optimizer;

typedef struct tnn_optimizer_vtable {
    const char *type_name;
    tnn_status (*step)(tnn_optimizer *o);
    /* Enumerate the optimizer's state tensors (for checkpoints) with names prefixed by
     * `prefix`. May be NULL (stateless). */
    tnn_status (*visit_state)(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx);
    /* Free the derived struct's own resources and the struct itself. Required. */
    void (*free)(tnn_optimizer *o);
} tnn_optimizer_vtable;

struct tnn_optimizer {
    const tnn_optimizer_vtable *vt;
    tnn_tensor_list *params; /* owned; parameters of the module given at creation */
};

/* Fill the base: collects m's parameters. */
tnn_status tnn_optimizer_init(tnn_optimizer *o, const tnn_optimizer_vtable *vt, tnn_module *m);
tnn_status tnn_optimizer_step(tnn_optimizer *o);
void tnn_optimizer_zero_grad(tnn_optimizer *o);
tnn_status tnn_optimizer_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx);
void tnn_optimizer_free(tnn_optimizer *o); /* NULL is a no-op */

/* torch.optim.SGD */
typedef struct tnn_sgd_params {
    double lr;            /* default 0.01 */
    double momentum;      /* default 0 */
    double dampening;     /* default 0 */
    double weight_decay;  /* default 0 (L2 added to the gradient) */
    bool nesterov;        /* default false; needs momentum > 0 and dampening 0 */
} tnn_sgd_params;
tnn_sgd_params tnn_sgd_defaults(void);
tnn_optimizer *tnn_sgd_new(tnn_module *m, tnn_sgd_params p);

/* torch.optim.Adam (amsgrad off): bias-corrected moments, eps added outside the
 * square root, weight decay as L2 added to the gradient. */
typedef struct tnn_adam_params {
    double lr;            /* default 1e-3 */
    double beta1, beta2;  /* default 0.9, 0.999 */
    double eps;           /* default 1e-8 */
    double weight_decay;  /* default 0 */
} tnn_adam_params;
tnn_adam_params tnn_adam_defaults(void);
tnn_optimizer *tnn_adam_new(tnn_module *m, tnn_adam_params p);

/* Adam's step count (0 before the first step), -1 if o is not Adam. */
int64_t tnn_adam_step_count(const tnn_optimizer *o);

#ifdef __cplusplus
}
#endif
#endif
