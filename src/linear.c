/* Linear: y = x W^T + b, PyTorch's nn.Linear. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

typedef struct tnn_linear {
    tnn_module base;
    int in, out;
    float *weight, *bias;      /* [out x in], [out] (bias NULL when disabled) */
    float *dweight, *dbias;
    const float *x;            /* input of the last forward (borrowed) */
    int x_ndim, x_shape[TNN_MAX_DIMS];
    int rows;                  /* batch of the last forward */
    bool grad_owed;            /* discarded: dweight/dbias hold stale values that read as
                                  zero; the next backward writes them (beta 0) */
    bool grad_none;            /* discarded and not written since (PyTorch: .grad is None);
                                  unlike grad_owed, reading the zeros does not clear it */
    tnn_tensor y, dx[2]; /* dL/dx: see tnn_pick_dx */
    tnn_tensor dw_new;   /* [out x in]: this backward's dW, when it is added afterwards
                            (see TNN_ACC_IN_GEMM_MAX); allocated on first use */
} tnn_linear;

/* A backward that adds to gradients already there: torch computes dy^T x on its own and
 * then adds it to .grad, element by element. Adding inside the product (beta 1) gives
 * the same bits only while OpenBLAS sums the batch in one block (its K-blocking: 320
 * rows with the Haswell/Zen kernels, at least 128 on the others); beyond this many rows
 * the product goes to dw_new first and is added after, as torch does. */
#define TNN_ACC_IN_GEMM_MAX 128

static void linear_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_linear *l = (const tnn_linear *)m;
    snprintf(buf, len, "linear(%d->%d%s)", l->in, l->out, l->bias ? "" : ", no bias");
}

static tnn_status linear_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_linear *l = (tnn_linear *)m;
    int n = tnn_rows(x);
    if (x->ndim < 2) {
        char s[64], d[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is 1-D, expected [batch x %d] (one sample is [1 x %d])",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), l->in, l->in);
    }
    size_t features = tnn_row_size(x);
    if (features != (size_t)l->in) {
        char s[64], d[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s has %zu features per row, expected [batch x %d]",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), features, l->in);
    }
    if (tnn_tensor_overlaps(x, &l->y)) return tnn_error_own_output(m);
    tnn_status st = tnn_tensor_ensure2(&l->y, n, l->out, "linear output");
    if (st) return st;
    /* y = b + x W^T: each thread's rows of y start as the bias, then the product is
     * added (beta 1), so the bias is added exactly as torch's addmm adds it */
    const tnn_gemm_args g = {false, true, n, l->out, l->in, 1.0f, x->data, l->in, l->weight, l->in,
                             l->bias ? 1.0f : 0.0f, l->y.data, l->out, l->bias};
    tnn_gemm_run(&g);
    l->x = x->data;
    l->x_ndim = x->ndim;
    memcpy(l->x_shape, x->shape, sizeof l->x_shape);
    l->rows = n;
    *y = &l->y;
    return TNN_OK;
}

/*
 * The bias gradient is a column sum of dy. PyTorch computes it as dy.sum(0) with its
 * cascade sum (aten/src/ATen/native/cpu/SumKernel.cpp, torch 1.13, one thread, 8-float
 * AVX2 vectors), which adds in a fixed pattern of partial sums; tinynn adds in the same
 * order, so that the gradient matches torch's bit for bit rather than to an ulp or two.
 *
 * tnn_cascade_sum_cols is SumKernel's multi_row_sum, column by column: runs of 2^p elements
 * (p = max(4, ceil(log2 size) / 4)) go into level 0, which is flushed into level 1 after
 * every run, level 1 into level 2 every 2^p runs, and so on over 4 levels.
 */
/* cascade_sum of `cols` (1..CASCADE_COLS) adjacent columns at once: the same additions
 * in the same order for each column (so the same bits whichever way columns are
 * grouped), with the inner loops running across columns so that they vectorise, as
 * torch's vectorized_outer_sum does. out[c] receives column c's sum. */
#define CASCADE_COLS TNN_CASCADE_COLS
void tnn_cascade_sum_cols(float *restrict out, const float *restrict x, size_t stride, int64_t size, int cols)
{
    int64_t lg = 0;
    while (size > 2 && ((int64_t)1 << lg) < size) lg++; /* utils::CeilLog2 (1 for size <= 2) */
    if (size <= 2) lg = 1;
    const int64_t power = lg / 4 > 4 ? lg / 4 : 4, step = (int64_t)1 << power, mask = step - 1;
    float acc[4][CASCADE_COLS];
    memset(acc, 0, sizeof acc);
    int64_t i = 0;
    while (i + step <= size) {
        for (int64_t j = 0; j < step; j++, i++) {
            const float *r = x + (size_t)i * stride;
            for (int c = 0; c < cols; c++) acc[0][c] += r[c];
        }
        for (int j = 1; j < 4; j++) {
            for (int c = 0; c < cols; c++) {
                acc[j][c] += acc[j - 1][c];
                acc[j - 1][c] = 0.0f;
            }
            if ((i & (mask << (j * power))) != 0) break;
        }
    }
    for (; i < size; i++) {
        const float *r = x + (size_t)i * stride;
        for (int c = 0; c < cols; c++) acc[0][c] += r[c];
    }
    for (int j = 1; j < 4; j++)
        for (int c = 0; c < cols; c++) acc[0][c] += acc[j][c];
    memcpy(out, acc[0], (size_t)cols * sizeof(float));
}

/* One column (elements x[i * stride]). */
static float cascade_sum(const float *x, size_t stride, int64_t size)
{
    float s;
    tnn_cascade_sum_cols(&s, x, stride, size, 1);
    return s;
}

/* SumKernel's row_sum: four interleaved cascade sums (elements 4i+k), the elements
 * left over added to the first, then the four added in order. */
static float ilp_sum(const float *x, size_t stride, int64_t size)
{
    const int64_t rows = size / 4;
    float part[4];
    for (int k = 0; k < 4; k++) part[k] = cascade_sum(x + (size_t)k * stride, 4 * stride, rows);
    for (int64_t i = rows * 4; i < size; i++) part[0] += x[(size_t)i * stride];
    return part[0] + part[1] + part[2] + part[3];
}

/* Sum over the n rows of column j of a row-major [n x c] matrix, in torch's order. */
static float torch_column_sum(const float *dy, int n, int c, int j)
{
    if (c == 1) {
        /* A contiguous column: vectorized_inner_sum. Vectors of 8 consecutive values
         * are summed as in ilp_sum, lane by lane; the scalar tail comes first, then
         * the 8 lanes in order. */
        if (n < 8) return ilp_sum(dy, 1, n);
        const int64_t nvec = n / 8;
        float total = 0.0f;
        for (int64_t i = nvec * 8; i < n; i++) total += dy[i];
        for (int lane = 0; lane < 8; lane++) total += ilp_sum(dy + lane, 8, nvec);
        return total;
    }
    /* vectorized_outer_sum (c >= 8) takes columns 32 at a time through cascade_sum and
     * the rest through ilp_sum; scalar_outer_sum (c < 8) does the same 4 at a time. */
    const int group = c >= 8 ? 32 : 4;
    if (j < c / group * group) return cascade_sum(dy + j, (size_t)c, n);
    return ilp_sum(dy + j, (size_t)c, n);
}

/* db (+)= the column sums of dy [n x out], columns [j0, j1); j0 is a multiple of
 * CASCADE_COLS, and so is j1 unless it is `out`. Whole groups of 32 columns are summed
 * together, vectorised, the rest one by one: as torch groups them over all `out`
 * columns, so the same bits whichever part of the columns one call covers. */
typedef struct bias_job {
    const float *dy;
    float *db;
    int n, out, step; /* step: columns per part, a multiple of CASCADE_COLS */
    bool add;
} bias_job;

TNN_CLONES static void bias_cols(const bias_job *b, int j0, int j1)
{
    int j = j0;
    if (b->out >= 8) { /* whole groups of 32 columns, vectorised */
        float sums[CASCADE_COLS];
        for (; j + CASCADE_COLS <= j1; j += CASCADE_COLS) {
            tnn_cascade_sum_cols(sums, b->dy + j, (size_t)b->out, b->n, CASCADE_COLS);
            for (int c = 0; c < CASCADE_COLS; c++) b->db[j + c] = b->add ? b->db[j + c] + sums[c] : sums[c];
        }
    }
    for (; j < j1; j++) {
        float s = torch_column_sum(b->dy, b->n, b->out, j);
        b->db[j] = b->add ? b->db[j] + s : s;
    }
}

static void bias_task(void *ctx, int task)
{
    const bias_job *b = ctx;
    int j0 = task * b->step, j1 = j0 + b->step < b->out ? j0 + b->step : b->out;
    if (j0 < j1) bias_cols(b, j0, j1);
}

/* Column sums of at least this many values are split over the threads by columns
 * (after the products, which read all of dy on every thread, dy is in each core's cache). */
#define BIAS_SPLIT_MIN 16384

static void bias_grad(const float *dy, int n, int out, float *db, bool add)
{
    bias_job b = {dy, db, n, out, out, add};
    int groups = (out + CASCADE_COLS - 1) / CASCADE_COLS, parts = tnn_parallel_threads();
    if (parts > groups) parts = groups;
    if (parts < 2 || (size_t)n * (size_t)out < BIAS_SPLIT_MIN) {
        bias_cols(&b, 0, out);
        return;
    }
    b.step = (groups + parts - 1) / parts * CASCADE_COLS;
    tnn_parallel_tasks((out + b.step - 1) / b.step, bias_task, &b);
}

TNN_CLONES static tnn_status linear_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_linear *l = (tnn_linear *)m;
    char d[64];
    if (!l->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    if (dy->size != (size_t)l->rows * (size_t)l->out) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output [%d x %d]", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(dy, s, sizeof s), l->rows, l->out);
    }
    int n = l->rows;
    tnn_tensor *out = NULL;
    if (dx) { /* before any gradient is written: a failure leaves the module as it was */
        tnn_status st = tnn_pick_dx(m, l->dx, l->x, (size_t)n * (size_t)l->in, dy, l->x_ndim, l->x_shape, &out);
        if (st) return st;
    }
    /* dx[n x in] = dy W */
    const tnn_gemm_args gx = {false, false, n, l->in, l->out, 1.0f, dy->data, l->out, l->weight, l->in,
                              0.0f, out ? out->data : NULL, l->in, NULL};
    if (m->requires_grad) {
        /* dW[out x in] += dy^T x ; db += column sums of dy (torch's summation order).
         * After discard_grad the gradients are written instead (0 + s == s). */
        const bool add = !l->grad_owed, add_after = add && n > TNN_ACC_IN_GEMM_MAX;
        if (add_after) { /* before any gradient is written, as the dx above */
            tnn_status st = tnn_tensor_ensure2(&l->dw_new, l->out, l->in, "linear weight gradient");
            if (st) return st;
        }
        l->grad_owed = l->grad_none = false;
        const tnn_gemm_args gw = {true, false, l->out, l->in, n, 1.0f, dy->data, l->out, l->x, l->in,
                                  add && !add_after ? 1.0f : 0.0f, add_after ? l->dw_new.data : l->dweight, l->in,
                                  NULL};
        if (dx) tnn_gemm2(&gw, &gx); /* independent: side by side on two threads */
        else tnn_gemm_run(&gw);
        if (add_after) {
            tnn_parallel_add(l->dweight, l->dw_new.data, (size_t)l->in * (size_t)l->out);
        }
        if (l->bias) bias_grad(dy->data, n, l->out, l->dbias, add);
    } else if (dx) {
        tnn_gemm_run(&gx);
    }
    if (dx) *dx = out;
    return TNN_OK;
}

/* The next backward writes the gradients, or the next visit zeroes them. */
static void linear_discard_grad(tnn_module *m)
{
    tnn_linear *l = (tnn_linear *)m;
    l->grad_owed = l->grad_none = true;
}

static tnn_status linear_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_linear *l = (tnn_linear *)m;
    if (l->grad_owed) { /* the gradients are about to be seen: make them read as zero */
        memset(l->dweight, 0, ((size_t)l->in * (size_t)l->out + (l->bias ? (size_t)l->out : 0)) * sizeof(float));
        l->grad_owed = false;
    }
    const bool none = l->grad_none; /* as PyTorch's .grad is None: not "frozen" */
    tnn_status st = tnn_visit_param(prefix, "weight", l->weight, l->dweight, 2, (int[]){l->out, l->in}, none, fn, ctx);
    if (st == TNN_OK && l->bias) st = tnn_visit_param(prefix, "bias", l->bias, l->dbias, 1, (int[]){l->out}, none, fn, ctx);
    return st;
}

static void linear_free(tnn_module *m)
{
    tnn_linear *l = (tnn_linear *)m;
    tnn_free(l->weight); /* one block: weight, bias, dweight, dbias */
    tnn_tensor_release(&l->y);
    tnn_tensor_release(&l->dx[0]);
    tnn_tensor_release(&l->dx[1]);
    tnn_tensor_release(&l->dw_new);
    tnn_free(l);
}

static const tnn_module_vtable linear_vt = {
    .type_name = "linear",
    .forward = linear_forward,
    .backward = linear_backward,
    .visit = linear_visit,
    .describe = linear_describe,
    .free = linear_free,
    .discard_grad = linear_discard_grad,
};

bool tnn_is_linear(const tnn_module *m) { return m && m->vt == &linear_vt; }
const tnn_tensor *tnn_linear_output_buffer(const tnn_module *m) { return &((const tnn_linear *)m)->y; }

tnn_module *tnn_linear_new(int in, int out, bool bias, tnn_rng *rng)
{
    if (in < 1 || out < 1) {
        tnn_error(TNN_ERR_ARG, "linear(%d->%d): feature counts must be >= 1", in, out);
        return NULL;
    }
    tnn_linear *l = tnn_calloc(1, sizeof *l, "linear");
    if (!l) return NULL;
    tnn_module_init(&l->base, &linear_vt);
    l->in = in;
    l->out = out;
    size_t nw = (size_t)in * (size_t)out, nb = bias ? (size_t)out : 0;
    float *block = tnn_calloc(2 * (nw + nb), sizeof(float), "linear parameters");
    if (!block) { tnn_free(l); return NULL; }
    l->weight = block;
    l->bias = bias ? block + nw : NULL;
    l->dweight = block + nw + nb;
    l->dbias = bias ? l->dweight + nw : NULL;
    tnn_tensor_init_empty(&l->y);
    tnn_tensor_init_empty(&l->dx[0]);
    tnn_tensor_init_empty(&l->dx[1]);
    tnn_tensor_init_empty(&l->dw_new);
    if (rng) {
        float bound = (float)(1.0 / sqrt((double)in));
        for (size_t i = 0; i < nw; i++) l->weight[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
        for (size_t i = 0; i < nb; i++) l->bias[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
    }
    return &l->base;
}
