/**
 * @file tinynn/sequential.h
 * @brief A container that runs its children in order.
 *
 * The container owns its children. Parameters and buffers are named as PyTorch's
 * nn.Sequential names them: `"<index>.<name>"`, with the index counting every child
 * (activations included), e.g. "0.weight", "3.running_mean". A prefix passed to
 * tnn_module_state_dict() goes in front ("model.0.weight"); containers nest.
 *
 * Built-in activations work in place inside a Sequential, as PyTorch's `inplace=True`
 * does: in forward (LeakyReLU and ELU with a slope or alpha >= 0, ReLU, Tanh, Sigmoid)
 * over the output of a Linear, BatchNorm1d, BatchNorm2d, LayerNorm, Conv2d,
 * ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample, Dropout or
 * Dropout2d just before them, in backward (every built-in activation) over the dL/dy that such a
 * layer just after them returned (and only when a child before them writes its dL/dx
 * into a buffer of its own, so the Sequential's dx is never a later child's). None of
 * these layers reads its output or dL/dx again once returned. Those buffers belong
 * to the layers and are handed only to the Sequential, so nothing visible changes: the results are the same
 * bits, the Sequential's input and the dy given to its backward are never written, and
 * the output stays valid until the next forward. It saves a pass over memory and two
 * buffers per activation.
 *
 * A child's output is the next child's input, kept for the backward. A child run on its
 * own (through tnn_sequential_get) between the Sequential's forward and backward
 * replaces what the chain kept, so the Sequential's backward refuses with
 * TNN_ERR_STATE, naming the child (by its path in nested Sequentials, such as "0.1"),
 * until the Sequential's forward runs again. The whole nest is checked before any
 * child's backward runs: a refused backward changes no gradient. (Children run by hand
 * in order count as run on their own: go back through them by hand too.) Adding a
 * child voids the last forward (a backward then needs a new one).
 *
 * The input of the Sequential's forward may not be (part of) a buffer that a child
 * writes on the way: the Sequential's output, or the output buffer of any built-in child
 * at any depth, including one run on its own or added since the last forward. The forward
 * refuses it with TNN_ERR_ARG, naming the child, before any child runs; pass a copy
 * (tnn_tensor_clone). (The output buffers of modules of your own are known to the
 * Sequential only once a forward of it has returned them.) An output that is (part of)
 * the child's own input, as a Flatten's view or a module of yours that passes its input
 * through (nn.Identity), is no buffer of the child's: the same input may be given again.
 *
 * When a child's forward or backward fails, the Sequential passes its status on and puts
 * the child's position in front of its message: "child 2: batchnorm1d(8): ...", and in
 * nested Sequentials "child 1: child 2: ...". A backward runs the children last to first,
 * and each adds its parameter gradients as it goes: if one fails after children behind it
 * have added theirs (out of memory for its dL/dx, or a dy it refuses), the message ends
 * by saying from which child on the gradients went in. Zero the gradients before running
 * the backward again, or they count twice. A failure with no such words changed no
 * gradient.
 */
#ifndef TINYNN_SEQUENTIAL_H
#define TINYNN_SEQUENTIAL_H

#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/** New empty Sequential (torch.nn.Sequential); NULL on failure. Free with tnn_module_free. */
TNN_API tnn_module *tnn_sequential_new(void);

/** Append child; the container takes ownership, and on failure the child is freed,
 * except for a module refused because it already has a place (below) or is seq itself,
 * or a module of your own without a vtable (or one lacking forward, backward or free)
 * added to a Sequential, which stay as they were. The message says which ("the child was
 * freed", "it was not freed", "it was left where it is"). So never free a child after a
 * failed add: `if (tnn_sequential_add(seq, lin)) tnn_module_free(lin);` frees it twice
 * when the add had freed it already. A NULL child (a failed constructor) is reported as an error
 * whose message gives the constructor's (a message set on this thread since seq's
 * creation or its last add; an older one is not quoted), so calls can be chained:
 * `if (st == TNN_OK) st = tnn_sequential_add(seq, tnn_linear_new(...));` stops at the
 * first failure, and tnn_last_error() names it. (Combine statuses only this way: ORing
 * two negative codes gives a third.)
 * A module that already has a place is refused with TNN_ERR_ARG and stays where it is:
 * a child of seq, a child of another Sequential, or a container that holds seq (at any
 * depth: forward would recurse without end). One module cannot hold two positions: its
 * buffers and its freeing are its own; create one module per position. (Only
 * Sequentials are checked: a module held by a container of your own is not known to be
 * placed.) The child takes on the container's training mode, and is frozen if the
 * container is (a frozen child stays frozen); child->container is set to seq
 * (tnn_module_free on the child alone is then a no-op, reported through tnn_set_log,
 * for as long as seq lives: once seq is freed, so is the child, and a pointer you kept
 * to it dangles). Later, tnn_module_train and
 * tnn_module_set_requires_grad on the container set that one mode in every child (so
 * evaluation and back does not unfreeze a child frozen on its own). While another
 * thread is inside a call on seq's model or on the child's, TNN_ERR_STATE, and the
 * child is not freed. */
TNN_API tnn_status tnn_sequential_add(tnn_module *seq, tnn_module *child);

/** Number of children; -1 if seq is not a Sequential. */
TNN_API int tnn_sequential_len(const tnn_module *seq);
/** Child i (borrowed), or NULL. */
TNN_API tnn_module *tnn_sequential_get(tnn_module *seq, int i);
/** True if m is a Sequential container. */
TNN_API bool tnn_is_sequential(const tnn_module *m);

#ifdef __cplusplus
}
#endif
#endif
