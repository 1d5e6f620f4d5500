/**
 * @file tinynn/module.h
 * @brief The module interface every layer implements.
 *
 * A module is a struct whose first member is a tnn_module, whose first member in turn
 * points to a static const tnn_module_vtable. You can write your own module against
 * this header (docs/custom_module.md walks through one).
 *
 * Two rules every module follows:
 *   1. forward() keeps what backward() needs (e.g. BatchNorm's mean and 1/std, a
 *      pointer to the input). The output it returns is owned by the module and stays
 *      valid, unchanged, until the module's next forward(). The input must stay alive
 *      and unchanged until the matching backward(): do not free it or fill it with the
 *      next batch before then. Nothing can check this one; the gradients come out wrong
 *      (and even AddressSanitizer misses a freed input, which OpenBLAS reads). So a module's own output (or a
 *      part of it) is not its next input: the built-in modules and Sequential refuse
 *      it (TNN_ERR_ARG; pass a copy, tnn_tensor_clone; a Sequential refuses its
 *      children's output buffers as well: sequential.h), except that Dropout, Dropout2d and the
 *      activations which can work in place (all but a LeakyReLU with a negative
 *      slope) accept exactly their whole output, element over element, and Flatten,
 *      whose output is a view of its input, takes anything. A module's own dL/dx
 *      from its last backward may be fed back to it, as its next input or as dy (power
 *      iteration does): the built-in modules then write the new dL/dx into a second
 *      buffer, never over what they read.
 *   2. backward() takes dL/dy and computes dL/dx (returned, owned by the module, valid
 *      until its next backward()); pass dx = NULL when dL/dx is not needed. Parameter
 *      gradients are ACCUMULATED with += until tnn_module_zero_grad() (or written
 *      afresh after tnn_module_discard_grad()), and are skipped
 *      entirely while requires_grad is false (tnn_module_set_requires_grad).
 *
 * A new batch size reallocates the module's buffers (they grow, never shrink), it
 * never exits. Mis-shaped input returns TNN_ERR_SHAPE with both shapes in the message.
 */
#ifndef TINYNN_MODULE_H
#define TINYNN_MODULE_H

#include "tensor.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A module (layer or container); see struct tnn_module. */
typedef struct tnn_module tnn_module;

/** One named parameter or buffer, as enumerated by a module. */
typedef struct tnn_named_tensor {
    const char *name;           /**< full state_dict name, such as "model.3.running_mean" */
    tnn_dtype dtype;            /**< TNN_F32, or TNN_I64 for num_batches_tracked */
    void *data;                 /**< float * (F32) or int64_t * (I64) */
    float *grad;                /**< gradient of a parameter; NULL for buffers */
    int ndim;                   /**< number of dimensions, 0 (a scalar) to TNN_MAX_DIMS */
    int shape[TNN_MAX_DIMS];    /**< shape[0..ndim); unused trailing entries are 1 */
    size_t count;               /**< number of elements */
    bool is_param;              /**< trainable parameter (true) or buffer (false) */
    /** A parameter without a gradient, PyTorch's `.grad is None`: its gradients were
     * discarded (tnn_module_discard_grad) and no backward has written them since (a
     * frozen module's backward writes none). Optimizers leave such a parameter, and
     * their state for it, unchanged. false for buffers, and for modules that do not
     * track it (a module written outside the library should zero the whole struct, as
     * a designated initializer does, and may leave it false). */
    bool no_grad;
} tnn_named_tensor;

/** Visitor called once per parameter/buffer. Returning non-TNN_OK stops the walk and
 * the status is passed back to the caller of visit. t (and its name) is valid only
 * during the call. */
typedef tnn_status (*tnn_visit_fn)(void *ctx, const tnn_named_tensor *t);

/** The operations of a module type; one static const instance per type. */
typedef struct tnn_module_vtable {
    const char *type_name; /**< "linear", "batchnorm1d", ... */
    /** y <- f(x); *y is owned by the module. Required. */
    tnn_status (*forward)(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y);
    /** dx <- dL/dx given dy = dL/dy; dx may be NULL. Required. */
    tnn_status (*backward)(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx);
    /** Enumerate parameters and buffers, names prefixed by `prefix`. May be NULL
     * (no parameters). */
    tnn_status (*visit)(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx);
    /** Called after m->training / m->requires_grad changed (containers propagate to
     * children). May be NULL. */
    void (*on_mode_change)(tnn_module *m);
    /** Writes a one-line description such as "linear(784->512)". May be NULL. */
    void (*describe)(const tnn_module *m, char *buf, size_t len);
    /** Release everything the module owns, including the module itself. Required. */
    void (*free)(tnn_module *m);
    /** Discard the module's parameter gradients (tnn_module_discard_grad): the next
     * backward writes them instead of adding to them, and visit, if it comes first,
     * writes zeros into them before exposing them. May be NULL: tnn_module_discard_grad()
     * then zeroes the gradients through visit. */
    void (*discard_grad)(tnn_module *m);
} tnn_module_vtable;

/** The base of every module: embed it as the first member of your module's struct. */
struct tnn_module {
    const tnn_module_vtable *vt; /**< the module's type; never NULL */
    /** true after creation (as in PyTorch). Read it; set it with tnn_module_train or
     * tnn_module_eval, which also reach a container's children (writing the field
     * does not). */
    bool training;
    /** false: backward skips parameter gradients. Read it; set it with
     * tnn_module_set_requires_grad, which also reaches a container's children. */
    bool requires_grad;
    /* The rest is kept by the library (tnn_module_init sets it); read it, never write it. */
    bool has_output;     /**< a forward has succeeded since creation */
    /** Its last forward was run by its container as part of the container's own forward
     * (set by the Sequential after each child; cleared by any other tnn_module_forward),
     * so the container's backward can tell a child run on its own since. */
    bool chained;
    int out_ndim;        /**< number of dimensions of the last forward's output */
    int out_shape[TNN_MAX_DIMS]; /**< shape of the last forward's output, which backward's dy must have */
    tnn_module *container; /**< the Sequential this module is a child of, or NULL */
    /** The thread inside a call on this model (forward, backward, an optimizer's step,
     * save, load, ...), or NULL: kept on the model's outermost container, where a call
     * from another thread at the same time is refused with TNN_ERR_STATE instead of
     * racing (see docs/design.md, "Threads of your own"). */
    void *busy_thread;
    int busy_depth; /**< nested calls of busy_thread (a Sequential calls its children) */
};

/** Initialise the base of a user-defined module (training on, requires_grad on, no
 * forward yet, in no container). */
TNN_API void tnn_module_init(tnn_module *m, const tnn_module_vtable *vt);

/** Run m's forward: checked wrapper around the vtable. It validates the arguments, keeps
 * the output's shape for the backward check, and gives a failure that the module left
 * without a message a generic one naming the module.
 * @param m  the module
 * @param x  input; must stay alive and unchanged until the matching backward
 * @param y  receives the output, owned by m and valid until m's next forward
 * @return TNN_OK, or an error with tnn_last_error() set (TNN_ERR_SHAPE for mis-shaped input,
 *         TNN_ERR_ARG for a layer's own last output as input, rule 1; TNN_ERR_STATE while
 *         another thread is inside a call on m's model, which this call then leaves
 *         untouched: docs/design.md, "Threads of your own") */
TNN_API tnn_status tnn_module_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y);
/** Run m's backward: checked wrapper around the vtable. Before calling the module it
 * refuses a backward before any forward (TNN_ERR_STATE) and a dy whose shape differs from
 * the last forward's output other than in dimensions of 1 (TNN_ERR_SHAPE, both shapes in
 * the message); a dy that differs only there ([N] for [N x 1]) is passed on viewed in the
 * output's shape, so the module's own backward can rely on dy having exactly that
 * shape. Accumulates parameter gradients (+=) unless requires_grad is false. A
 * module's own backward that returns TNN_OK without setting *dx, when dx was asked for,
 * is refused (TNN_ERR_STATE, naming the module); one that passes dy through (an empty
 * Sequential) gives back the dy the caller passed. dy is never written, by the
 * built-in modules and a Sequential of them, even when it is m's own dx from the last
 * backward: no module inside writes its dL/dx over it.
 * One forward may be followed by several backwards (with different dy, say): each adds
 * its gradients, as PyTorch's backward(retain_graph=True) does; PyTorch without
 * retain_graph refuses the second one. Zero or discard the gradients in between to get
 * each backward's own.
 * @param m   the module, after a forward
 * @param dy  dL/dy, in the shape of the last forward's output (or that shape with
 *            dimensions of 1 added or left out)
 * @param dx  receives dL/dx (owned by m, valid until its next backward); NULL skips computing it
 * @return TNN_OK, or an error (TNN_ERR_STATE before any forward or after one that failed,
 *         or while another thread is inside a call on m's model; TNN_ERR_SHAPE for a
 *         mis-shaped dy) */
TNN_API tnn_status tnn_module_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx);
/** Call fn once per parameter and buffer of m, in state_dict order, with names prefixed by
 * `prefix` (NULL: none). Checked wrapper around the vtable; a module without a visit
 * function has nothing to enumerate. */
TNN_API tnn_status tnn_module_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx);
/** Free m and everything it owns (a container frees its children). NULL is a no-op, and
 * so is a module that is a child of a Sequential (its container frees it; the call is
 * reported through tnn_set_log()). */
TNN_API void tnn_module_free(tnn_module *m);

/** Training (batch statistics, dropout active) vs evaluation mode; containers propagate it.
 * New modules are in training mode, as PyTorch's are. NULL is a no-op. */
TNN_API void tnn_module_train(tnn_module *m, bool training);
/** Evaluation mode: tnn_module_train(m, false), PyTorch's model.eval(). NULL is a no-op. */
TNN_API void tnn_module_eval(tnn_module *m);
/** Freeze (false) or unfreeze (true) the parameters: a frozen module still passes
 * dL/dx through backward but leaves parameter gradients untouched. Containers propagate it.
 * Backward leaves a frozen module's gradients as they were: after
 * tnn_module_discard_grad() they stay discarded (no_grad, PyTorch's `.grad is None`) and
 * an optimizer step leaves the parameters and their optimizer state unchanged; after
 * tnn_module_zero_grad() they are zeros, and an optimizer step still moves them by their
 * momentum, as in PyTorch. */
TNN_API void tnn_module_set_requires_grad(tnn_module *m, bool requires_grad);

/** Zero every parameter gradient (writes the zeros now). */
TNN_API void tnn_module_zero_grad(tnn_module *m);
/** Discard every parameter gradient without writing zeros: the next backward writes the
 * gradients instead of adding to them, which saves a pass over all the gradients per
 * training step (PyTorch's zero_grad(set_to_none=True)). Until a backward writes them
 * the parameters count as having no gradient (no_grad), and an optimizer step leaves
 * them and their optimizer state unchanged, as PyTorch skips a .grad of None; a later
 * tnn_module_zero_grad() does not change that (nor does PyTorch's zero_grad() on a None
 * .grad). The gradients read as zero
 * through tnn_module_visit(), tnn_module_parameters(), tnn_module_state_dict() and
 * tnn_optimizer_step(), each of which writes the zeros still owed; but a grad pointer
 * kept from an earlier call holds stale values until the next backward (or one of those
 * calls). Use tnn_module_zero_grad() where you read gradients through such pointers.
 * Layers without a discard_grad operation are zeroed at once. */
TNN_API void tnn_module_discard_grad(tnn_module *m);
/** Write the zeros that a tnn_module_discard_grad() still owes to layers that have had
 * no backward since (the functions listed there call it themselves). */
TNN_API tnn_status tnn_module_settle_grad(tnn_module *m);
/** Number of parameter scalars, frozen ones included (PyTorch's
 * `sum(p.numel() for p in m.parameters())`); buffers such as running statistics are not
 * counted. */
TNN_API size_t tnn_module_num_params(tnn_module *m);
/** Writes a one-line description ("linear(784->512)" etc.) into buf; returns buf. */
TNN_API char *tnn_module_describe(const tnn_module *m, char *buf, size_t len);
/** Print a table of m to f (NULL: stdout), PyTorch's print(model) with counts: a line
 * for m, then, if m is a Sequential, one per child (indented, nested Sequentials too),
 * each with its index (the first part of its state_dict names), its description, its
 * parameter and buffer element counts; "frozen" or "trainable" marks a module whose
 * requires_grad differs from its container's ("frozen" at the top when it is false),
 * and the mode is shown for the top module and for a child whose mode differs from its
 * container's. A last line gives the
 * totals: parameters (of which trainable), buffer elements, and the bytes they hold.
 * Like tnn_module_num_params it enumerates through visit, so it writes the zeros that
 * a tnn_module_discard_grad() still owes. A module of your own that holds other
 * modules is one line (its counts include what its visit reports).
 * @return TNN_OK; TNN_ERR_ARG for a NULL or unusable module; TNN_ERR_IO if writing to f
 *         failed; TNN_ERR_STATE while another thread is inside a call on m's model; or
 *         the status of a visit that failed. */
TNN_API tnn_status tnn_module_summary(tnn_module *m, FILE *f);

/** A list of named tensors: a snapshot of pointers into the module (no data copied;
 * the names are copies owned by the list). Valid while the module lives. */
typedef struct tnn_tensor_list {
    tnn_named_tensor *items;  /**< count entries */
    int count;                /**< number of entries */
} tnn_tensor_list;

/** Parameters only (for optimizers), named with `prefix` (may be NULL or "").
 * Free with tnn_tensor_list_free; NULL on failure. */
TNN_API tnn_tensor_list *tnn_module_parameters(tnn_module *m, const char *prefix);
/** Parameters and buffers in PyTorch state_dict order, named with `prefix`.
 * Free with tnn_tensor_list_free; NULL on failure. A name, prefix included, is at most
 * 255 bytes (a longer one fails the visit with TNN_ERR_ARG); an Adam checkpoint adds
 * ".exp_avg_sq" (".max_exp_avg_sq" with amsgrad) to each parameter's name and its own
 * prefix. */
TNN_API tnn_tensor_list *tnn_module_state_dict(tnn_module *m, const char *prefix);
/** Entry called `name`, or NULL. */
TNN_API const tnn_named_tensor *tnn_tensor_list_find(const tnn_tensor_list *l, const char *name);
/** Free the list and its names (never the tensors' data). NULL is a no-op. */
TNN_API void tnn_tensor_list_free(tnn_tensor_list *l);

#ifdef __cplusplus
}
#endif
#endif
