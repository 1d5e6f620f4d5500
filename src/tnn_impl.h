/* Private helpers shared by the library's sources. Never installed. */
#ifndef TINYNN_IMPL_H
#define TINYNN_IMPL_H

#include "tinynn/tinynn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__) || defined(__clang__)
#define TNN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TNN_PRINTF(a, b)
#endif

/* Record a message for tnn_last_error() and return the status, so that error paths
 * read `return tnn_error(TNN_ERR_SHAPE, "linear(%d->%d): ...", ...);`. */
tnn_status tnn_error(tnn_status st, const char *fmt, ...) TNN_PRINTF(2, 3);
/* Changes whenever a message is set on the calling thread (tnn_error, tnn_set_error):
 * lets a wrapper tell whether a call it made left a message of its own. */
unsigned tnn_error_seq(void);
/* Record y's shape as m's last output (tnn_module_forward does; so does a container
 * that runs a child's forward another way). */
void tnn_module_note_output(tnn_module *m, const tnn_tensor *y);
/* Mark m's model (its outermost container) as used by this thread for a call (what:
 * "forward", "save", ...): TNN_ERR_STATE, with the message, while another thread is
 * inside it. On TNN_OK *held is the module marked, to pass to tnn_module_leave once
 * (not m's outermost container at that time: an add in between changes it). Calls
 * nest on one thread. */
tnn_status tnn_module_enter(tnn_module *m, const char *what, tnn_module **held);
void tnn_module_leave(tnn_module *held);
/* "[2 x 3]" for a shape; returns buf. */
char *tnn_shape_str(int ndim, const int *shape, char *buf, size_t len);
/* Set the children of Sequential m to m's training mode (if training_changed) and/or
 * m's requires_grad (if grad_changed), through nested Sequentials. The flags say which
 * mode changed, not its new value, which is m's. */
void tnn_sequential_pass_on(tnn_module *m, bool training_changed, bool grad_changed);
/* After m's training mode (training_changed) and/or requires_grad (grad_changed) was
 * set: a Sequential passes on those (and only those) to its children; any other module
 * hears of it through its on_mode_change. */
void tnn_module_modes_set(tnn_module *m, bool training_changed, bool grad_changed);
/* Log through the user's callback, if any. */
void tnn_log(const char *fmt, ...) TNN_PRINTF(1, 2);

/* Internal invariants only (never for bad user input). */
#define TNN_ASSERT(c) do { if (!(c)) { fprintf(stderr, "tinynn: internal error %s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* Allocation through the user's hooks. tnn_malloc/tnn_calloc set TNN_ERR_NOMEM's
 * message on failure, naming `what`. */
void *tnn_malloc(size_t n, const char *what);
void *tnn_calloc(size_t count, size_t size, const char *what);
void *tnn_realloc(void *p, size_t n, const char *what);
void tnn_free(void *p);
char *tnn_strdup(const char *s);

/* Whether the na floats from a and the nb floats from b share memory. */
static inline bool tnn_spans_overlap(const float *a, size_t na, const float *b, size_t nb)
{
    if (!a || !b || !na || !nb) return false;
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + nb * sizeof(float) && pb < pa + na * sizeof(float);
}
/* Whether x's elements share memory with own's (a module's output buffer): a forward
 * whose input is its own last output would overwrite the input as it reads it. */
static inline bool tnn_tensor_overlaps(const tnn_tensor *x, const tnn_tensor *own)
{
    return tnn_spans_overlap(x->data, x->size, own->data, own->size);
}
tnn_status tnn_error_own_output(const tnn_module *m);
/* Whether shapes a and b are equal once their dimensions of size 1 are dropped
 * ([128] and [128 x 1]): what backward's dy and the losses' targets may differ by. */
bool tnn_same_but_ones(int na, const int *a, int nb, const int *b);
/* Why m (not NULL) cannot be used as a module: no vtable, or one without forward,
 * backward or free; NULL if it can. */
const char *tnn_module_vt_problem(const tnn_module *m);
/* A module's dL/dx buffers: two, so that a backward never writes dL/dx over what it
 * reads. The input kept from forward, or dy, may be the dL/dx an earlier backward
 * returned (power iteration feeds a Linear its own dx; torch allows it), so backward
 * writes into the buffer that overlaps neither (resized to ndim/shape; *out), nor a
 * span guarded by tnn_span_guard_push: the dy of every tnn_module_backward running on
 * this thread (the caller's dy may be a Sequential's first child's dx from the last
 * backward, which the caller still holds) and a Sequential's input (which its first
 * child still reads and which may be a later child's dx). x is the kept input's first element and nx its
 * count. TNN_ERR_ARG, naming m, if all are taken (a view spanning both buffers);
 * TNN_ERR_NOMEM. */
/* A span of floats no dL/dx may be written over while it is pushed (this thread's
 * backwards; a list through the callers' stack frames, popped in reverse order). */
typedef struct tnn_span_guard {
    const float *data;
    size_t n;
    struct tnn_span_guard *prev;
} tnn_span_guard;
void tnn_span_guard_push(tnn_span_guard *g, const float *data, size_t n);
void tnn_span_guard_pop(tnn_span_guard *g);
tnn_status tnn_pick_dx(const tnn_module *m, tnn_tensor dx[2], const float *x, size_t nx, const tnn_tensor *dy,
                       int ndim, const int *shape, tnn_tensor **out);

/* torch 1.13's cascade sum (SumKernel.cpp's multi_row_sum) of `cols` (1..TNN_CASCADE_COLS)
 * adjacent columns of `size` rows `stride` floats apart, the same additions in the same
 * order for each column; out[c] receives column c's sum (src/linear.c: Linear's bias
 * gradient, AdaptiveAvgPool2d's global mean). */
#define TNN_CASCADE_COLS 32
void tnn_cascade_sum_cols(float *restrict out, const float *restrict x, size_t stride, int64_t size, int cols);

/* The state of a layer that works plane by plane on [N x C x H x W] (or one sample
 * [C x H x W]): MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Upsample (src/plane_io.c). */
typedef struct tnn_plane_io {
    const float *x;                   /* input of the last forward (borrowed; no dL/dx is
                                         written over it: tnn_pick_dx) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int planes, h, w, ho, wo;         /* the last forward's N*C planes, input and output sizes */
    tnn_tensor y, dx[2];              /* the output; dL/dx (tnn_pick_dx) */
} tnn_plane_io;
/* x as *planes planes of *h x *w: [N x C x H x W], or one sample [C x H x W];
 * TNN_ERR_SHAPE naming m for another rank. */
tnn_status tnn_plane_io_planes(const tnn_module *m, const tnn_tensor *x, long long *planes, int *h, int *w);
/* The output size of a k x k window moving by stride over h x w padded by pad on each
 * side (MaxPool2d, AvgPool2d), rounded down, or up with ceil_mode (torch's
 * pooling_output_shape); TNN_ERR_SHAPE naming m when it would be empty, or when the
 * padded size plus the stride leaves int (the windows' arithmetic is int's). */
tnn_status tnn_pool_window_out(const tnn_module *m, const tnn_tensor *x, int h, int w, int k, int stride, int pad,
                               bool ceil_mode, long long *ho, long long *wo);
/* What is wrong with the settings of a MaxPool2d (avg false) or AvgPool2d of window k
 * (the tag aside): a constant text naming the argument, or NULL if they can be taken. */
const char *tnn_pool2d_bad(int k, const tnn_pool2d_params *p, bool avg);
/* The pools' description, "name(kK, sS, pP)" and the settings that are not their
 * defaults, in torch's order: ", ceil_mode=true", ", count_include_pad=false",
 * ", divisor_override=D". stride as given (0 in a refused constructor's message). */
void tnn_pool2d_text(char *buf, size_t len, const char *name, int k, const tnn_pool2d_params *p);
/* Sizes y as [N x C x ho x wo] (x's rank) and records the geometry; TNN_ERR_NOMEM names m. */
tnn_status tnn_plane_io_output(const tnn_module *m, tnn_plane_io *io, const tnn_tensor *x, int planes, int h, int w,
                               int ho, int wo);
/* After the forward's work: keeps x for the backward and hands out y. */
void tnn_plane_io_keep(tnn_plane_io *io, const tnn_tensor *x, const tnn_tensor **y);
/* The backward's checks (a forward first, dy of the output's size) and, with want_dx,
 * the dL/dx buffer in *out; *out stays NULL without want_dx (nothing else to do). */
tnn_status tnn_plane_io_dx(const tnn_module *m, tnn_plane_io *io, const tnn_tensor *dy, bool want_dx, tnn_tensor **out);
void tnn_plane_io_release(tnn_plane_io *io);
/* What is wrong with a tensor record's dtype, dimensions, count (against its shape)
 * or data, written into why ("has count 3, but its shape holds 2 elements"); false if
 * nothing is. Shared by the checks of module visits and of safetensors saves. */
bool tnn_record_problem(const tnn_named_tensor *t, char *why, size_t len);
/* m's parameters (params_only) or state_dict, each record checked (tnn_record_problem,
 * plus a name, F32 and a gradient buffer for a parameter) wherever a module's records
 * are taken: an optimizer, a parameter list, a state_dict, a save or load. *out is NULL
 * on failure, with the visit's status and message. */
tnn_status tnn_module_collect(tnn_module *m, const char *prefix, bool params_only, tnn_tensor_list **out);
/* The check tnn_module_collect makes of each record, for a visitor that works through
 * a module's records without collecting them (gradient clipping). */
tnn_status tnn_check_visited(const tnn_named_tensor *t);
/* What is wrong with a tensor header a caller passed in (one filled in by hand can
 * disagree with itself): its dimensions (1 to TNN_MAX_DIMS, each at least 1), its size
 * against its shape, or its data, written into why ("has size 64, but its shape [4 x 3]
 * holds 12 elements"); false if nothing is. */
bool tnn_tensor_problem(const tnn_tensor *t, char *why, size_t len);
/* Initialise an embedded (not heap-allocated) owned tensor header with no data. */
void tnn_tensor_init_empty(tnn_tensor *t);
/* Free the data of an embedded tensor header. */
void tnn_tensor_release(tnn_tensor *t);
/* Resize an embedded tensor to [rows x cols], growing storage; `what` names the owner
 * for the out-of-memory message. */
tnn_status tnn_tensor_ensure2(tnn_tensor *t, int rows, int cols, const char *what);
tnn_status tnn_tensor_ensure_like(tnn_tensor *t, const tnn_tensor *like, const char *what);

/* Row-major C = alpha * op(A) * op(B) + beta * C, op(A): [M x K], op(B): [K x N].
 * All matrix products of the library go through tnn_gemm (OpenBLAS cblas_sgemm);
 * tnn_gemm_ref is a naive triple loop (double accumulation) used as a test oracle. */
void tnn_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void tnn_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* The arguments of one product, for running products side by side. */
typedef struct tnn_gemm_args {
    bool ta, tb;
    int M, N, K;
    float alpha;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float beta;
    float *C;
    int ldc;
    const float *bias; /* if not NULL: C's rows are set to this [N] vector first (beta must be 1) */
} tnn_gemm_args;
void tnn_gemm_run(const tnn_gemm_args *g);
/* g as one OpenBLAS call on the calling thread, never split: for products that their
 * caller already spreads over the threads (Conv2d's, group by group), whose bits then
 * do not depend on the thread count. */
void tnn_gemm_whole(const tnn_gemm_args *g);
/* Two independent products (no operand of one is written by the other); with two
 * threads they run side by side, otherwise one after the other. */
void tnn_gemm2(const tnn_gemm_args *a, const tnn_gemm_args *b);

/* Batch rows and features per row of a [batch x ...] tensor (in size_t: [1 x 65536 x
 * 65537] has more than an int holds). */
/* The tag every settings struct's defaults function sets (tnn_adam_defaults, ...) and
 * every function taking the struct checks (tnn_settings_refused): a struct written as
 * {.lr = 0.01} has it 0, and with it every field it does not name (betas 0, an
 * ignore_index of 0, a BatchNorm without parameters), which would otherwise be taken. */
#define TNN_SETTINGS_TAG 0x746e6e73u
/* TNN_ERR_ARG naming the function `who` and the defaults function `defaults` when tag
 * is not TNN_SETTINGS_TAG; TNN_OK otherwise. */
tnn_status tnn_settings_refused(unsigned tag, const char *who, const char *defaults);

static inline int tnn_rows(const tnn_tensor *t) { return t->shape[0]; }
static inline size_t tnn_row_size(const tnn_tensor *t) { return t->size / (size_t)t->shape[0]; }

/* Helper for visitors: fill a named tensor and call fn. name is prefix + local. */
tnn_status tnn_visit_one(const char *prefix, const char *local, tnn_dtype dt, void *data, float *grad,
                         int ndim, const int *shape, bool is_param, tnn_visit_fn fn, void *ctx);
/* The same for a float32 parameter, with its no_grad flag (tnn_named_tensor). */
tnn_status tnn_visit_param(const char *prefix, const char *local, float *data, float *grad, int ndim, const int *shape,
                           bool no_grad, tnn_visit_fn fn, void *ctx);

/* Layer types, for tnn_sequential's in-place activations. The output and dL/dx of a
 * Linear, BatchNorm1d/2d, Conv2d, ConvTranspose2d, MaxPool2d or Upsample are buffers of
 * its own that nothing of it reads again once returned (their backward passes read the
 * input, weights, saved statistics or indices, never the output; sequential.c lists
 * what each reads). */
bool tnn_is_linear(const tnn_module *m);
bool tnn_is_batchnorm1d(const tnn_module *m);
bool tnn_is_activation(const tnn_module *m);
bool tnn_is_dropout(const tnn_module *m);
bool tnn_is_softmax(const tnn_module *m); /* Softmax or LogSoftmax */
/* The buffer a built-in module writes its output into (empty before its first forward):
 * the Sequential checks its input against its children's. */
const tnn_tensor *tnn_linear_output_buffer(const tnn_module *m);
const tnn_tensor *tnn_softmax_output_buffer(const tnn_module *m);
const tnn_tensor *tnn_batchnorm1d_output_buffer(const tnn_module *m);
const tnn_tensor *tnn_activation_output_buffer(const tnn_module *m);
const tnn_tensor *tnn_dropout_output_buffer(const tnn_module *m);
/* A Conv2d's output buffer; NULL if m is not a Conv2d. */
const tnn_tensor *tnn_conv2d_output_buffer(const tnn_module *m);
/* A ConvTranspose2d's output buffer; NULL if m is not a ConvTranspose2d. */
const tnn_tensor *tnn_conv_transpose2d_output_buffer(const tnn_module *m);
/* A MaxPool2d's output buffer; NULL if m is not a MaxPool2d. */
const tnn_tensor *tnn_max_pool2d_output_buffer(const tnn_module *m);
/* An AvgPool2d's output buffer; NULL if m is not an AvgPool2d. */
const tnn_tensor *tnn_avg_pool2d_output_buffer(const tnn_module *m);
/* An AdaptiveAvgPool2d's output buffer; NULL if m is not an AdaptiveAvgPool2d. */
const tnn_tensor *tnn_adaptive_avg_pool2d_output_buffer(const tnn_module *m);
/* An Upsample's output buffer; NULL if m is not an Upsample. */
const tnn_tensor *tnn_upsample_output_buffer(const tnn_module *m);
/* A Dropout2d's output buffer; NULL if m is not a Dropout2d. */
const tnn_tensor *tnn_dropout2d_output_buffer(const tnn_module *m);
/* A BatchNorm2d's output buffer; NULL if m is not a BatchNorm2d. */
const tnn_tensor *tnn_batchnorm2d_output_buffer(const tnn_module *m);
/* A LayerNorm's output buffer; NULL if m is not a LayerNorm. */
const tnn_tensor *tnn_layernorm_output_buffer(const tnn_module *m);
/* A built-in activation that may compute its output over its input (every one but
 * LeakyReLU with a negative slope, whose backward needs the input's signs). */
bool tnn_activation_forward_may_overwrite(const tnn_module *m);
/* y = f(x) written over xy (the output of the layer before, owned by it); the module
 * keeps reading xy in backward, which stays valid until that layer's next forward. */
tnn_status tnn_activation_forward_inplace(tnn_module *m, tnn_tensor *xy);
/* dL/dx written over g, the dL/dy the layer after produced in its own buffer. */
tnn_status tnn_activation_backward_inplace(tnn_module *m, tnn_tensor *g);

#endif
