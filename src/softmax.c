/* Softmax and LogSoftmax over the last dimension (PyTorch's nn.Softmax(dim=-1) and
 * nn.LogSoftmax(dim=-1)). */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <limits.h>
#include <math.h>

typedef struct tnn_softmax {
    tnn_module base;
    bool log;             /* LogSoftmax */
    const float *x;       /* input of the last forward (borrowed): backward reads only y,
                           * but writes no dL/dx over the input either (tnn_pick_dx) */
    size_t nx;            /* its elements */
    size_t rows;          /* rows of the last forward: the elements over the last dimension's */
    int cols;             /* the last dimension */
    tnn_tensor y, dx[2];  /* dL/dx: see tnn_pick_dx */
} tnn_softmax;

static void sm_describe(const tnn_module *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s(dim=-1)", m->vt->type_name);
}

/* The row kernels. torch 1.13 computes in float with SLEEF's vectorised expf and logf
 * and sums in eight float lanes (SoftMaxKernel.cpp, _vec_softmax_lastdim,
 * _vec_log_softmax_lastdim, _vec_host_softmax_backward_lastdim); these compute the same
 * formulas in double, summing in 8 fixed lanes, and round each result once, as tnn_tanhf does
 * (docs/parity.md gives the differences). Each row's result depends on that row alone,
 * so the split over threads and the clone (TNN_CLONES) change no bit. */

/* The largest element of a row, or NaN if one is NaN (torch's maximum propagates NaN). */
static inline double sm_max(const float *x, int n)
{
    float mx = x[0];
    for (int j = 1; j < n; j++) mx = x[j] > mx || x[j] != x[j] ? x[j] : mx;
    return mx;
}

/* The row sums are taken in SM_LANES double accumulators, element j into lane j % 8,
 * added in a fixed tree at the end: a chain the compiler can vectorise, and an order
 * that depends on the row alone (so on no thread count). In double, with at most 2^31
 * terms, the result differs from an exact sum by far less than the float rounding
 * after it. */
enum { SM_LANES = 8 };
static inline __attribute__((always_inline)) double sm_lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* sum_j exp(x[j] - mx) in double (at least 1, the largest element's term, unless mx is
 * NaN: a row with NaN, with +inf (inf - inf) or only -inf). An x[j] - mx below -708
 * counts as exp(-708), ~3e-308: nothing next to the 1. The exponentials are taken
 * SM_KEEP at a time into e (a loop that vectorises; computed inside the sum's loop they
 * are not), then added into the lanes; when the whole row fits, e keeps them for the
 * division after. Inlined into each clone of the row kernels, so that it is vectorised
 * with them. */
enum { SM_KEEP = 2048 }; /* a multiple of SM_LANES: 16 KB of stack */
static inline __attribute__((always_inline)) double sm_sum_exp(const float *x, int n, double mx, double *e)
{
    double a[SM_LANES] = {0};
    for (size_t j0 = 0, nn = (size_t)n; j0 < nn; j0 += SM_KEEP) {
        size_t m = nn - j0 < SM_KEEP ? nn - j0 : SM_KEEP, j = 0;
        for (size_t i = 0; i < m; i++) e[i] = tnn_exp_nonpos((double)x[j0 + i] - mx);
        for (; j + SM_LANES <= m; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++) a[k] += e[j + k];
        for (int k = 0; j < m; j++, k++) a[k] += e[j];
    }
    return sm_lanes_total(a);
}

/* sum_j g[j] (and, with y, sum_j g[j] * y[j]: each product exact in double) in lanes. */
static inline __attribute__((always_inline)) double sm_sum(const float *g, const float *y, int n)
{
    double a[SM_LANES] = {0};
    size_t j = 0, nn = (size_t)n;
    if (y) {
        for (; j + SM_LANES <= nn; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++) a[k] += (double)g[j + k] * y[j + k];
        for (int k = 0; j < nn; j++, k++) a[k] += (double)g[j] * y[j];
    } else {
        for (; j + SM_LANES <= nn; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++) a[k] += g[j + k];
        for (int k = 0; j < nn; j++, k++) a[k] += g[j];
    }
    return sm_lanes_total(a);
}

/* Rows [r0, r1) of a [rows x n] input:
 *   softmax:     y = exp(x - max) / sum(exp(x - max))
 *   log_softmax: y = (x - max) - log(sum(exp(x - max))), the terms in torch's order (with
 *                max + log(sum) first, large logits would lose the log). */
TNN_CLONES static void sm_forward_rows(bool log_softmax, float *restrict y, const float *restrict x, int n, size_t r0,
                                       size_t r1)
{
    for (size_t i = r0; i < r1; i++) {
        const float *xr = x + i * (size_t)n;
        float *yr = y + i * (size_t)n;
        double mx = sm_max(xr, n), e[SM_KEEP], s = sm_sum_exp(xr, n, mx, e);
        if (log_softmax) {
            double ls = log(s);
            for (int j = 0; j < n; j++) yr[j] = (float)(((double)xr[j] - mx) - ls);
        } else if (n <= SM_KEEP) { /* e holds the row's exponentials */
            for (int j = 0; j < n; j++) yr[j] = (float)(e[j] / s);
        } else {
            for (int j = 0; j < n; j++) yr[j] = (float)(tnn_exp_nonpos((double)xr[j] - mx) / s);
        }
    }
}

/* dL/dx of rows [r0, r1) from g = dL/dy and the forward's output y (torch's formulas):
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 * dx is neither g nor y; g may be y (reading both is harmless). */
TNN_CLONES static void sm_backward_rows(bool log_softmax, float *restrict dx, const float *restrict g,
                                        const float *restrict y, int n, size_t r0, size_t r1)
{
    for (size_t i = r0; i < r1; i++) {
        const float *gr = g + i * (size_t)n, *yr = y + i * (size_t)n;
        float *dr = dx + i * (size_t)n;
        if (log_softmax) {
            double s = sm_sum(gr, NULL, n), e[SM_KEEP];
            /* y <= 0 (x - max <= 0 and the log of a sum >= 1), or NaN; the exponentials
             * a block at a time, as in sm_sum_exp, so that they vectorise */
            for (size_t j0 = 0, nn = (size_t)n; j0 < nn; j0 += SM_KEEP) {
                size_t m = nn - j0 < SM_KEEP ? nn - j0 : SM_KEEP;
                for (size_t k = 0; k < m; k++) e[k] = tnn_exp_nonpos(yr[j0 + k]);
                for (size_t k = 0; k < m; k++) dr[j0 + k] = (float)((double)gr[j0 + k] - e[k] * s);
            }
        } else {
            double s = sm_sum(gr, yr, n);
            for (int j = 0; j < n; j++) dr[j] = (float)(((double)gr[j] - s) * yr[j]);
        }
    }
}

/* The kernels over ranges of rows, split over the library's threads as tnn_gemm splits
 * the rows of the product that (in a classifier) wrote the input. */
typedef struct sm_job {
    const tnn_softmax *s;
    float *out;
    const float *in, *y;
} sm_job;

enum { SM_MIN_SPLIT = 8192 }; /* elements per thread at least: two exponentials each */

static void sm_forward_range(void *ctx, size_t b, size_t e)
{
    const sm_job *j = ctx;
    sm_forward_rows(j->s->log, j->out, j->in, j->s->cols, b, e);
}

static void sm_backward_range(void *ctx, size_t b, size_t e)
{
    const sm_job *j = ctx;
    sm_backward_rows(j->s->log, j->out, j->in, j->y, j->s->cols, b, e);
}

static void sm_run(const tnn_softmax *s, tnn_range_fn fn, sm_job *job)
{
    if (s->rows > INT_MAX) fn(job, 0, s->rows); /* more rows than tnn_parallel_rows counts: one thread */
    else tnn_parallel_rows((int)s->rows, (size_t)s->cols, SM_MIN_SPLIT, fn, job);
}

static tnn_status sm_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_softmax *s = (tnn_softmax *)m;
    /* Unlike the activations, not even exactly over its own output: a row's every
     * element is read again after the first is written. (tnn_module_forward has refused
     * an input without dimensions.) */
    if (tnn_tensor_overlaps(x, &s->y)) return tnn_error_own_output(m);
    tnn_status st = tnn_tensor_ensure_like(&s->y, x, m->vt->type_name);
    if (st) return st;
    s->cols = x->shape[x->ndim - 1];
    s->rows = x->size / (size_t)s->cols;
    s->x = x->data;
    s->nx = x->size;
    sm_job job = {.s = s, .out = s->y.data, .in = x->data};
    sm_run(s, sm_forward_range, &job);
    *y = &s->y;
    return TNN_OK;
}

static tnn_status sm_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_softmax *s = (tnn_softmax *)m;
    const char *name = m->vt->type_name;
    if (!s->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", name);
    if (dy->size != s->y.size) {
        char s1[64], s2[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", name,
                         tnn_tensor_shape_str(dy, s1, sizeof s1), tnn_tensor_shape_str(&s->y, s2, sizeof s2));
    }
    if (!dx) return TNN_OK; /* no parameters: without dx nothing else to do */
    tnn_tensor *out; /* not over dy or the input: either may be this module's dx from the last backward */
    tnn_status st = tnn_pick_dx(m, s->dx, s->x, s->nx, dy, s->y.ndim, s->y.shape, &out);
    if (st) return st;
    sm_job job = {.s = s, .out = out->data, .in = dy->data, .y = s->y.data};
    sm_run(s, sm_backward_range, &job);
    *dx = out;
    return TNN_OK;
}

static void sm_free(tnn_module *m)
{
    tnn_softmax *s = (tnn_softmax *)m;
    tnn_tensor_release(&s->y);
    tnn_tensor_release(&s->dx[0]);
    tnn_tensor_release(&s->dx[1]);
    tnn_free(s);
}

#define SM_VTABLE(var, nm) \
    static const tnn_module_vtable var = { \
        .type_name = nm, .forward = sm_forward, .backward = sm_backward, \
        .describe = sm_describe, .free = sm_free, }
SM_VTABLE(softmax_vt, "softmax");
SM_VTABLE(log_softmax_vt, "log_softmax");

static tnn_module *sm_new(const tnn_module_vtable *vt, bool log_softmax)
{
    tnn_softmax *s = tnn_calloc(1, sizeof *s, vt->type_name);
    if (!s) return NULL;
    tnn_module_init(&s->base, vt);
    s->log = log_softmax;
    tnn_tensor_init_empty(&s->y);
    tnn_tensor_init_empty(&s->dx[0]);
    tnn_tensor_init_empty(&s->dx[1]);
    return &s->base;
}

bool tnn_is_softmax(const tnn_module *m) { return m && (m->vt == &softmax_vt || m->vt == &log_softmax_vt); }
const tnn_tensor *tnn_softmax_output_buffer(const tnn_module *m) { return &((const tnn_softmax *)m)->y; }

tnn_module *tnn_softmax_new(void) { return sm_new(&softmax_vt, false); }
tnn_module *tnn_log_softmax_new(void) { return sm_new(&log_softmax_vt, true); }
