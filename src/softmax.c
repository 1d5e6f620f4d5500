/* Softmax and LogSoftmax over the last dimension (PyTorch's nn.Softmax(dim=-1) and
 * nn.LogSoftmax(dim=-1)). */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

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
 * so the split over threads and the clone (TNN_CLONES) change no bit; nor does how the
 * rows are taken in groups below: every element's exponential is computed alone, and
 * every sum in its own row's order. */

/* The largest element of a row, or NaN if one is NaN (torch's maximum propagates NaN):
 * the first of the largest (of +0 and -0, whichever comes first), or the last NaN. */
static inline double sm_max_serial(const float *x, size_t n)
{
    float mx = x[0];
    for (size_t j = 1; j < n; j++) mx = x[j] > mx || x[j] != x[j] ? x[j] : mx;
    return mx;
}

/* The same, in SM_MAX_LANES lanes for a long row (the serial loop does not vectorise:
 * it was 40% of the forward's time on [4096 x 1000]). The largest value is the largest
 * of the lanes'; which element holds it matters only where it is zero (+0 or -0) or NaN
 * (its payload): those rows go to sm_max_serial, so the result is always its. */
enum { SM_MAX_LANES = 32 };
static inline __attribute__((always_inline)) double sm_max(const float *x, size_t n)
{
    if (n < SM_MAX_LANES) return sm_max_serial(x, n);
    float m[SM_MAX_LANES];
    int nan[SM_MAX_LANES];
    for (int k = 0; k < SM_MAX_LANES; k++) m[k] = -INFINITY, nan[k] = 0;
    size_t j = 0;
    for (; j + SM_MAX_LANES <= n; j += SM_MAX_LANES)
        for (int k = 0; k < SM_MAX_LANES; k++) {
            float v = x[j + k];
            m[k] = v > m[k] ? v : m[k];
            nan[k] |= v != v;
        }
    for (int k = 0; j < n; j++, k++) {
        float v = x[j];
        m[k] = v > m[k] ? v : m[k];
        nan[k] |= v != v;
    }
    float mx = m[0];
    int any_nan = nan[0];
    for (int k = 1; k < SM_MAX_LANES; k++) {
        mx = m[k] > mx ? m[k] : mx;
        any_nan |= nan[k];
    }
    return any_nan || mx == 0.0f ? sm_max_serial(x, n) : mx;
}

/* e[j] = tnn_exp_nonpos(e[j]) (vmath_impl.h) for j < m <= SM_EXP_BLOCK, in place, bit for
 * bit: its steps, with its constants, in its order, but each step taken over the whole
 * block before the next (test_softmax.c compares every bit). An exponential is a chain
 * of some 35 dependent operations, and a loop that takes a vector (or two) of 8 from
 * start to end leaves the core waiting on the chain (GCC 12 emits the chains of a few
 * vectors one after the other even where the source interleaves them). A step over a
 * block of 16 vectors keeps the core busy, the block staying in L1 between the steps:
 * 0.78 -> 0.48 ns an exponential with AVX-512, 1.5 -> 1.0 with AVX2, 3.2 -> 2.2 in the
 * baseline clone (on the machine of docs/benchmarks.md). */
enum { SM_EXP_BLOCK = 128 };
static inline __attribute__((always_inline)) void sm_exp_block(double *e, int m)
{
    const double *c = tnn_exp_taylor;
    double r[SM_EXP_BLOCK], p[SM_EXP_BLOCK];
    uint64_t sbits[SM_EXP_BLOCK];
    for (int j = 0; j < m; j++) {
        r[j] = tnn_exp_reduce(e[j], &sbits[j]);
        p[j] = c[0];
    }
    for (int i = 1; i + 1 < 14; i += 2) /* Horner's steps (tnn_horner's), two at a time */
        for (int j = 0; j < m; j++) p[j] = (p[j] * r[j] + c[i]) * r[j] + c[i + 1];
    for (int j = 0; j < m; j++) {
        double s;
        memcpy(&s, &sbits[j], sizeof s);
        e[j] = (p[j] * r[j] + c[13]) * s;
    }
}

/* Memory that will be read or written after the exponentials (up to 3 arrays of len
 * floats, NULL for none), asked for a part with each block, so that it arrives while they
 * are computed: without, a pass over a batch larger than the caches stops for each group
 * of rows' memory in turn (on [4096 x 1000] 0.2 ns an element more than in cache, with
 * 0.1). */
typedef struct sm_next {
    const float *in[2];
    float *out;
    size_t len;
} sm_next;

static const sm_next sm_nothing_next = {{NULL, NULL}, NULL, 0};

static inline __attribute__((always_inline)) void sm_prefetch(const sm_next *nx, size_t j0, size_t j1)
{
    j1 = j1 < nx->len ? j1 : nx->len;
    for (size_t j = j0; j < j1; j += 64 / sizeof(float)) { /* a cache line at a time */
        if (nx->in[0]) __builtin_prefetch(nx->in[0] + j);
        if (nx->in[1]) __builtin_prefetch(nx->in[1] + j);
        if (nx->out) __builtin_prefetch(nx->out + j, 1);
    }
}

/* e[j] = tnn_exp_nonpos(e[j]) for j < m: in blocks, the last a short one, but for a
 * remainder too short to be worth the steps; and nx prefetched meanwhile. */
enum { SM_EXP_MIN_BLOCK = 32 };
static inline __attribute__((always_inline)) void sm_exps(double *e, size_t m, const sm_next *nx)
{
    size_t j = 0;
    for (; j + SM_EXP_BLOCK <= m; j += SM_EXP_BLOCK) {
        sm_exp_block(e + j, SM_EXP_BLOCK);
        sm_prefetch(nx, j, j + SM_EXP_BLOCK);
    }
    if (m - j >= SM_EXP_MIN_BLOCK) sm_exp_block(e + j, (int)(m - j));
    else for (size_t k = j; k < m; k++) e[k] = tnn_exp_nonpos(e[k]);
    sm_prefetch(nx, j, nx->len);
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

/* a[j % 8] += e[j] for j < m, in order (m a multiple of 8 but at a row's end). */
static inline __attribute__((always_inline)) void sm_add_lanes(double *a, const double *e, size_t m)
{
    size_t j = 0;
    for (; j + SM_LANES <= m; j += SM_LANES)
        for (int k = 0; k < SM_LANES; k++) a[k] += e[j + k];
    for (int k = 0; j < m; j++, k++) a[k] += e[j];
}

/* sum_j g[j] (and, with y, sum_j g[j] * y[j]: each product exact in double) in lanes. */
static inline __attribute__((always_inline)) double sm_sum(const float *g, const float *y, size_t n)
{
    double a[SM_LANES] = {0};
    size_t j = 0;
    if (y) {
        for (; j + SM_LANES <= n; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++) a[k] += (double)g[j + k] * y[j + k];
        for (int k = 0; j < n; j++, k++) a[k] += (double)g[j] * y[j];
    } else {
        for (; j + SM_LANES <= n; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++) a[k] += g[j + k];
        for (int k = 0; j < n; j++, k++) a[k] += g[j];
    }
    return sm_lanes_total(a);
}

/* The exponentials are taken SM_KEEP at a time into a buffer: a group of rows at once
 * when they are short (up to SM_ROWS of them), so that the steps of sm_exp_block run
 * over many elements even for a classifier's 10 columns (and the rows' other work
 * overlaps), a longer row a part at a time. */
enum { SM_KEEP = 2048, SM_ROWS = 256 }; /* 16 KB and 2 KB of stack (and sm_exp_block's 3 KB) */

/* Rows [r0, r1) of a [rows x n] input:
 *   softmax:     y = exp(x - max) / sum(exp(x - max))
 *   log_softmax: y = (x - max) - log(sum(exp(x - max))), the terms in torch's order (with
 *                max + log(sum) first, large logits would lose the log).
 * The sum is at least 1, the largest element's term, unless max is NaN: a row with NaN,
 * with +inf (inf - inf) or only -inf. An x - max below -708 counts as exp(-708), ~3e-308:
 * nothing next to the 1. */
TNN_CLONES static void sm_forward_rows(bool log_softmax, float *restrict y, const float *restrict x, int n, size_t r0,
                                       size_t r1)
{
    double e[SM_KEEP], mx[SM_ROWS];
    const size_t nn = (size_t)n;
    if (nn <= SM_KEEP) {
        const size_t group = SM_KEEP / nn < SM_ROWS ? SM_KEEP / nn : SM_ROWS;
        for (size_t i0 = r0; i0 < r1; i0 += group) {
            const size_t q = r1 - i0 < group ? r1 - i0 : group;
            const float *xg = x + i0 * nn;
            float *yg = y + i0 * nn;
            for (size_t i = 0; i < q; i++) {
                mx[i] = sm_max(xg + i * nn, nn);
                for (size_t j = 0; j < nn; j++) e[i * nn + j] = (double)xg[i * nn + j] - mx[i];
            }
            const size_t next = (r1 - i0 - q < group ? r1 - i0 - q : group) * nn;
            sm_exps(e, q * nn, &(sm_next){{xg + q * nn, NULL}, yg + q * nn, next});
            for (size_t i = 0; i < q; i++) {
                const float *xr = xg + i * nn;
                const double *er = e + i * nn;
                float *yr = yg + i * nn;
                double a[SM_LANES] = {0};
                sm_add_lanes(a, er, nn);
                double s = sm_lanes_total(a);
                if (log_softmax) {
                    double ls = log(s);
                    for (size_t j = 0; j < nn; j++) yr[j] = (float)(((double)xr[j] - mx[i]) - ls);
                } else {
                    for (size_t j = 0; j < nn; j++) yr[j] = (float)(er[j] / s);
                }
            }
        }
        return;
    }
    for (size_t i = r0; i < r1; i++) { /* a row longer than the buffer, a part at a time */
        const float *xr = x + i * nn;
        float *yr = y + i * nn;
        double m = sm_max(xr, nn), a[SM_LANES] = {0};
        for (size_t j0 = 0; j0 < nn; j0 += SM_KEEP) {
            size_t len = nn - j0 < SM_KEEP ? nn - j0 : SM_KEEP;
            for (size_t j = 0; j < len; j++) e[j] = (double)xr[j0 + j] - m;
            sm_exps(e, len, &sm_nothing_next);
            sm_add_lanes(a, e, len); /* SM_KEEP is a multiple of 8: element j in lane j % 8 */
        }
        double s = sm_lanes_total(a);
        if (log_softmax) {
            double ls = log(s);
            for (size_t j = 0; j < nn; j++) yr[j] = (float)(((double)xr[j] - m) - ls);
        } else { /* the exponentials again */
            for (size_t j0 = 0; j0 < nn; j0 += SM_KEEP) {
                size_t len = nn - j0 < SM_KEEP ? nn - j0 : SM_KEEP;
                for (size_t j = 0; j < len; j++) e[j] = (double)xr[j0 + j] - m;
                sm_exps(e, len, &sm_nothing_next);
                for (size_t j = 0; j < len; j++) yr[j0 + j] = (float)(e[j] / s);
            }
        }
    }
}

/* dL/dx of rows [r0, r1) from g = dL/dy and the forward's output y (torch's formulas):
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 * dx is neither g nor y; g may be y (reading both is harmless). LogSoftmax's y is <= 0
 * (x - max <= 0 and the log of a sum >= 1), or NaN; its exponentials, SM_KEEP at a time
 * as in the forward. */
TNN_CLONES static void sm_backward_rows(bool log_softmax, float *restrict dx, const float *restrict g,
                                        const float *restrict y, int n, size_t r0, size_t r1)
{
    const size_t nn = (size_t)n;
    if (!log_softmax) {
        for (size_t i = r0; i < r1; i++) {
            const float *gr = g + i * nn, *yr = y + i * nn;
            float *dr = dx + i * nn;
            double s = sm_sum(gr, yr, nn);
            for (size_t j = 0; j < nn; j++) dr[j] = (float)(((double)gr[j] - s) * yr[j]);
        }
        return;
    }
    double e[SM_KEEP], s[SM_ROWS];
    if (nn <= SM_KEEP) {
        const size_t group = SM_KEEP / nn < SM_ROWS ? SM_KEEP / nn : SM_ROWS;
        for (size_t i0 = r0; i0 < r1; i0 += group) {
            const size_t q = r1 - i0 < group ? r1 - i0 : group;
            const float *gg = g + i0 * nn, *yg = y + i0 * nn;
            float *dg = dx + i0 * nn;
            /* the sums first: their chains of additions overlap the exponentials */
            for (size_t i = 0; i < q; i++) s[i] = sm_sum(gg + i * nn, NULL, nn);
            for (size_t k = 0; k < q * nn; k++) e[k] = yg[k];
            const size_t next = (r1 - i0 - q < group ? r1 - i0 - q : group) * nn;
            sm_exps(e, q * nn, &(sm_next){{gg + q * nn, yg + q * nn}, dg + q * nn, next});
            for (size_t i = 0; i < q; i++) {
                const float *gr = gg + i * nn;
                const double *er = e + i * nn;
                float *dr = dg + i * nn;
                for (size_t j = 0; j < nn; j++) dr[j] = (float)((double)gr[j] - er[j] * s[i]);
            }
        }
        return;
    }
    for (size_t i = r0; i < r1; i++) { /* a row longer than the buffer, a part at a time */
        const float *gr = g + i * nn, *yr = y + i * nn;
        float *dr = dx + i * nn;
        double sr = sm_sum(gr, NULL, nn);
        for (size_t j0 = 0; j0 < nn; j0 += SM_KEEP) {
            size_t len = nn - j0 < SM_KEEP ? nn - j0 : SM_KEEP, j1 = j0 + len;
            for (size_t j = 0; j < len; j++) e[j] = yr[j0 + j];
            sm_exps(e, len, &(sm_next){{yr + j1, NULL}, dr + j1, nn - j1 < SM_KEEP ? nn - j1 : SM_KEEP});
            for (size_t j = 0; j < len; j++) dr[j0 + j] = (float)((double)gr[j0 + j] - e[j] * sr);
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
