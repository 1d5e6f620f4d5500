/* The machinery Conv2d (conv2d.c) and ConvTranspose2d (conv_transpose2d.c) share
 * (private): im2col and col2im over one sample, the grouping of a batch's samples into
 * products, the per-task scratch slots, the bias gradient's double sums and the sum of
 * the backward's per-run weight gradients. conv2d.c's opening comment describes how
 * they fit together (Layout, Bits); conv_transpose2d.c's, how the transposed
 * convolution uses them the other way round. */
#ifndef TINYNN_CONV_IMPL_H
#define TINYNN_CONV_IMPL_H

#include "tnn_impl.h"
#include "parallel_impl.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Columns per group (tnn_conv_group_size): see conv2d.c, Layout. */
#define CONV_GROUP_COLS 512
/* A batch is cut into at least this many groups when it has as many samples, for the
 * threads to share. */
#define CONV_MIN_GROUPS 8
/* The backward's tasks: at most this many runs of consecutive groups, each adding its
 * own dW_r and db_r. */
#define CONV_RUNS 8

/* The geometry of a convolution's columns, in Conv2d's terms: an image of `ch` channels
 * of h x w, and the ho x wo grid of kernel positions (Conv2d's output) moved by stride
 * over the image padded with `pad` zeros. A column holds ch*k*k values, row
 * (c*k + ki)*k + kj taking image element (oh*stride - pad + ki, ow*stride - pad + kj)
 * of channel c (zero in the padding). For Conv2d the image is the input; for
 * ConvTranspose2d the output (and ho x wo its input's size). */
typedef struct tnn_conv_geom {
    int ch, k, stride, pad;
    int h, w;   /* the image */
    int ho, wo; /* the grid of columns */
} tnn_conv_geom;

/* The columns of one sample: image x [ch x h x w] -> dst[r * ld + oh * wo + ow]. */
void tnn_conv_im2col(const tnn_conv_geom *g, const float *x, float *dst, size_t ld);
/* The image [ch x h x w] written afresh as the sum of the columns src [K x ho*wo] (rows
 * ld apart) put back where im2col takes them from, rows in order (each image element
 * gets its terms in row order): the same bits on any thread. src is scratch: the
 * entries of padded columns may be zeroed in it. */
void tnn_conv_col2im(const tnn_conv_geom *g, float *src, size_t ld, float *x);

/* Samples per group: enough for about CONV_GROUP_COLS columns of P each, but no more
 * than n / CONV_MIN_GROUPS (at least 1). The shape alone decides it. */
int tnn_conv_group_size(int n, int P);

/* The sum of r[0..n) in double, in a fixed order (8 lanes, a fixed tree). */
double tnn_conv_row_sum(const float *r, size_t n);

/* Runs fn over ntasks tasks: inline below CONV_TASK_MIN elements of work (the pool's
 * hand-over costs more), otherwise on the pool. */
#define CONV_TASK_MIN 16384
void tnn_conv_run_tasks(int ntasks, size_t elements, tnn_task_fn fn, void *ctx);

/* Scratch split in slots, one per task that can run at a time: a task takes a free
 * slot (tnn_conv_slot_take) and gives it back when done, so that the slot it runs next
 * reuses the same memory while it is in the caches. */
typedef struct tnn_conv_slots {
    tnn_tensor buf;        /* [n x rows x cols] */
    int n;                 /* slots for the running job */
    _Atomic uint64_t busy; /* slot i taken: bit i */
} tnn_conv_slots;
void tnn_conv_slots_init(tnn_conv_slots *s);
void tnn_conv_slots_release(tnn_conv_slots *s);
/* Sizes the slots for a job of ntasks tasks, each slot [rows x cols]: one slot per task
 * that can run at a time (at most 64, busy's bits: the pool's maximum). TNN_ERR_NOMEM
 * with a message starting with `what`. */
tnn_status tnn_conv_slots_ensure(tnn_conv_slots *s, int ntasks, int rows, int cols, const char *what);
/* A free slot for the calling task, until tnn_conv_slot_give. */
int tnn_conv_slot_take(tnn_conv_slots *s);
void tnn_conv_slot_give(tnn_conv_slots *s, int i);

/* dst[i] (+)= runs[0][i] + runs[1][i] + ... (nruns blocks of n floats, n apart), the
 * runs in order, then added to dst when add (as torch adds a new gradient to .grad:
 * computed alone, then added); over the threads, the same bits on any. */
void tnn_conv_sum_runs(const float *runs, int nruns, size_t n, float *dst, bool add);
/* db[o] (+)= (float)(runs[0][o] + runs[1][o] + ...), in double, runs in order. */
void tnn_conv_sum_bias_runs(const double *runs, int nruns, int n, float *db, bool add);

/* What Conv2d and ConvTranspose2d hold alike: the weight and bias and their gradients
 * in one block (bias and dbias NULL without a bias), each backward run's gradients, the
 * output and dL/dx buffers (tnn_pick_dx), the scratch slots, and the gradient flags
 * (grad_owed, grad_none: as Linear's, linear.c). */
typedef struct tnn_conv_params {
    float *weight, *bias, *dweight, *dbias;
    size_t nw;                 /* weight scalars */
    int out;                   /* bias scalars (when there is a bias) */
    double *db_runs;           /* [CONV_RUNS x out]: each run's bias gradient (with bias) */
    tnn_tensor dw_runs;        /* [runs x nw]: each run's weight gradient */
    tnn_tensor y, dx[2];
    tnn_conv_slots scratch;
    bool grad_owed, grad_none;
} tnn_conv_params;
/* Allocate p's block (zeros) and, with rng, draw the weight then the bias from
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's initialisation of both layers. TNN_OK or
 * TNN_ERR_NOMEM naming `what`. */
tnn_status tnn_conv_params_init(tnn_conv_params *p, size_t nw, int out, bool bias, size_t fan_in, tnn_rng *rng,
                                const char *what);
void tnn_conv_params_release(tnn_conv_params *p);
/* After a backward with parameter gradients over `runs` runs: dW (+)= dW_0 + dW_1 + ...,
 * db likewise in double, the runs in order (written if the gradients were discarded). */
void tnn_conv_params_sum_grads(tnn_conv_params *p, int runs);
/* The visit of "weight" (shaped wshape) and "bias", zeroing discarded gradients first. */
tnn_status tnn_conv_params_visit(tnn_conv_params *p, const char *prefix, const int wshape[4], tnn_visit_fn fn,
                                 void *ctx);

#endif
