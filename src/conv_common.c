/* The machinery Conv2d and ConvTranspose2d share (conv_impl.h): im2col and col2im, the
 * grouping of samples, the scratch slots and the gradient sums. Moved here from
 * conv2d.c unchanged in what they compute: Conv2d's results keep their bits. */
#include "conv_impl.h"

#include <math.h>
#include <sched.h>
#include <string.h>

/* The grid positions [*lo, *hi) whose image index o*stride - pad + off lies in [0, size). */
static void valid_range(int outsize, int size, int stride, int pad, int off, int *lo, int *hi)
{
    int a = pad - off, b = size + pad - off; /* o*stride in [a, b) */
    int l = a <= 0 ? 0 : (a + stride - 1) / stride, h = b <= 0 ? 0 : (b - 1) / stride + 1;
    if (h > outsize) h = outsize;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Zeroes the columns [0, lo) and [hi, wo) of the rows [r0, r1) of a [.. x wo] block d:
 * column by column, a few strided stores, which the compiler does not turn into one
 * memset call per row of one or two floats (as it does a loop along a row: such calls
 * took about 6% of Conv2d's forward time on [128 x 16 x 14 x 14] -> 32, 3 x 3, padding 1). */
static void zero_edges(float *d, int wo, int r0, int r1, int lo, int hi)
{
    for (int ow = 0; ow < lo; ow++)
        for (int r = r0; r < r1; r++) d[(size_t)r * (size_t)wo + (size_t)ow] = 0.0f;
    for (int ow = hi; ow < wo; ow++)
        for (int r = r0; r < r1; r++) d[(size_t)r * (size_t)wo + (size_t)ow] = 0.0f;
}

/* Per row: the grid rows whose image row is padding are zeroed in one run; the valid
 * ones get their valid columns copied and the padded columns zeroed. With stride 1 and
 * w == wo (the usual "same" padding), the valid block is one shifted contiguous copy of
 * x, whose entries in padded columns (wrapped around from the next or previous image
 * row) are then zeroed. */
void tnn_conv_im2col(const tnn_conv_geom *g, const float *x, float *dst, size_t ld)
{
    const int k = g->k, s = g->stride, h = g->h, w = g->w, ho = g->ho, wo = g->wo, pad = g->pad;
    for (int ci = 0; ci < g->ch; ci++) {
        const float *xc = x + (size_t)ci * (size_t)h * (size_t)w;
        for (int ki = 0; ki < k; ki++) {
            int ohlo, ohhi; /* grid rows whose image row oh*s - pad + ki is in [0, h) */
            valid_range(ho, h, s, pad, ki, &ohlo, &ohhi);
            for (int kj = 0; kj < k; kj++) {
                float *restrict d = dst + (size_t)((ci * k + ki) * k + kj) * ld;
                int lo, hi;
                valid_range(wo, w, s, pad, kj, &lo, &hi);
                const ptrdiff_t off = kj - pad;
                if (ohlo >= ohhi || lo >= hi) {
                    memset(d, 0, (size_t)ho * (size_t)wo * sizeof(float));
                    continue;
                }
                memset(d, 0, (size_t)ohlo * (size_t)wo * sizeof(float));
                memset(d + (size_t)ohhi * (size_t)wo, 0, (size_t)(ho - ohhi) * (size_t)wo * sizeof(float));
                if (s == 1 && w == wo) {
                    /* d[i] = xc[i + shift] over [ohlo*wo + lo, (ohhi-1)*wo + hi): both ends are
                     * valid entries, so every source index lies inside channel ci */
                    const ptrdiff_t shift = (ptrdiff_t)(ki - pad) * w + off;
                    const size_t b = (size_t)ohlo * (size_t)wo + (size_t)lo, e = (size_t)(ohhi - 1) * (size_t)wo + (size_t)hi;
                    memcpy(d + b, xc + (ptrdiff_t)b + shift, (e - b) * sizeof(float));
                } else {
                    const int nv = hi - lo;
                    for (int oh = ohlo; oh < ohhi; oh++) {
                        float *restrict dr = d + (size_t)oh * (size_t)wo + lo;
                        /* image column lo*s + off onwards, s apart */
                        const float *restrict xr = xc + (size_t)(oh * s - pad + ki) * (size_t)w + ((ptrdiff_t)lo * s + off);
                        if (s == 1) memcpy(dr, xr, (size_t)nv * sizeof(float));
                        else for (int i = 0; i < nv; i++) dr[i] = xr[(ptrdiff_t)i * s];
                    }
                }
                zero_edges(d, wo, ohlo, ohhi, lo, hi);
            }
        }
    }
}

/* With stride 1 and w == wo, a row's valid block is added to the image as one shifted
 * contiguous run (im2col's copy backwards), after its entries in padded columns are
 * zeroed in src (which is scratch): they add 0 to the wrapped-around image elements,
 * which changes none (but a -0 to +0), and the one long run takes about a quarter less
 * time than a run per grid row (16 channels of 14 x 14, 3 x 3, padding 1). */
void tnn_conv_col2im(const tnn_conv_geom *g, float *src, size_t ld, float *dx)
{
    const int k = g->k, s = g->stride, h = g->h, w = g->w, wo = g->wo, pad = g->pad;
    memset(dx, 0, (size_t)g->ch * (size_t)h * (size_t)w * sizeof(float));
    for (int ci = 0; ci < g->ch; ci++) {
        float *xc = dx + (size_t)ci * (size_t)h * (size_t)w;
        for (int ki = 0; ki < k; ki++) {
            int ohlo, ohhi;
            valid_range(g->ho, h, s, pad, ki, &ohlo, &ohhi);
            for (int kj = 0; kj < k; kj++) {
                float *d = src + (size_t)((ci * k + ki) * k + kj) * ld;
                int lo, hi;
                valid_range(wo, w, s, pad, kj, &lo, &hi);
                const ptrdiff_t off = kj - pad;
                const int nv = hi - lo;
                if (nv <= 0 || ohlo >= ohhi) continue;
                if (s == 1 && w == wo) {
                    zero_edges(d, wo, ohlo, ohhi, lo, hi);
                    const ptrdiff_t shift = (ptrdiff_t)(ki - pad) * w + off;
                    const size_t b = (size_t)ohlo * (size_t)wo + (size_t)lo, e = (size_t)(ohhi - 1) * (size_t)wo + (size_t)hi;
                    const float *restrict dr = d + b;
                    float *restrict xr = xc + (ptrdiff_t)b + shift;
                    for (size_t i = 0; i < e - b; i++) xr[i] += dr[i];
                    continue;
                }
                for (int oh = ohlo; oh < ohhi; oh++) {
                    const float *restrict dr = d + (size_t)oh * (size_t)wo + lo;
                    float *restrict xr = xc + (size_t)(oh * s - pad + ki) * (size_t)w + ((ptrdiff_t)lo * s + off);
                    if (s == 1) for (int i = 0; i < nv; i++) xr[i] += dr[i];
                    else for (int i = 0; i < nv; i++) xr[(ptrdiff_t)i * s] += dr[i];
                }
            }
        }
    }
}

int tnn_conv_group_size(int n, int P)
{
    int g = P >= CONV_GROUP_COLS ? 1 : (CONV_GROUP_COLS + P - 1) / P;
    if (g > n / CONV_MIN_GROUPS) g = n / CONV_MIN_GROUPS;
    return g < 1 ? 1 : g;
}

/* 8 lanes (lane i takes the elements i mod 8, in order), added in a fixed tree. */
double tnn_conv_row_sum(const float *r, size_t n)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) a[l] += r[i + (size_t)l];
    for (int l = 0; i < n; i++, l++) a[l] += r[i];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

void tnn_conv_run_tasks(int ntasks, size_t elements, tnn_task_fn fn, void *ctx)
{
    if (elements < CONV_TASK_MIN)
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
    else tnn_parallel_tasks(ntasks, fn, ctx);
}

void tnn_conv_slots_init(tnn_conv_slots *s)
{
    tnn_tensor_init_empty(&s->buf);
    s->n = 0;
    atomic_init(&s->busy, 0);
}

void tnn_conv_slots_release(tnn_conv_slots *s) { tnn_tensor_release(&s->buf); }

tnn_status tnn_conv_slots_ensure(tnn_conv_slots *s, int ntasks, int rows, int cols, const char *what)
{
    const int threads = tnn_parallel_threads() < 64 ? tnn_parallel_threads() : 64;
    const int slots = threads < ntasks ? threads : ntasks;
    tnn_status st = tnn_tensor_resize(&s->buf, 3, (int[]){slots, rows, cols});
    if (st == TNN_ERR_NOMEM)
        return tnn_error(st, "%s scratch: out of memory for %d slots of [%d x %d]", what, slots, rows, cols);
    if (!st) s->n = slots;
    return st;
}

/* At most s->n tasks run at once (the pool's threads, or fewer tasks), and a task gives
 * its slot back before its thread claims the next, so one is free (the loop only guards
 * against the thread count being changed from another thread meanwhile). The pool does
 * not tell a task which thread runs it, hence the claim. */
int tnn_conv_slot_take(tnn_conv_slots *s)
{
    for (;;) {
        for (int i = 0; i < s->n; i++) {
            const uint64_t bit = (uint64_t)1 << i;
            if (!(atomic_fetch_or(&s->busy, bit) & bit)) return i;
        }
        sched_yield(); /* all taken: the tasks holding them need a core to finish */
    }
}

void tnn_conv_slot_give(tnn_conv_slots *s, int i) { atomic_fetch_and(&s->busy, ~((uint64_t)1 << i)); }

typedef struct sum_job {
    const float *runs;
    int nruns;
    size_t n;
    float *dst;
    bool add;
} sum_job;

static void sum_range(void *ctx, size_t lo, size_t hi)
{
    const sum_job *j = ctx;
    for (size_t i = lo; i < hi; i++) {
        float v = j->runs[i];
        for (int r = 1; r < j->nruns; r++) v += j->runs[(size_t)r * j->n + i];
        j->dst[i] = j->add ? j->dst[i] + v : v;
    }
}

void tnn_conv_sum_runs(const float *runs, int nruns, size_t n, float *dst, bool add)
{
    sum_job j = {runs, nruns, n, dst, add};
    tnn_parallel_for(n, 16384, sum_range, &j);
}

void tnn_conv_sum_bias_runs(const double *runs, int nruns, int n, float *db, bool add)
{
    for (int o = 0; o < n; o++) {
        double acc = 0.0;
        for (int r = 0; r < nruns; r++) acc += runs[(size_t)r * (size_t)n + (size_t)o];
        db[o] = add ? db[o] + (float)acc : (float)acc;
    }
}

tnn_status tnn_conv_params_init(tnn_conv_params *p, size_t nw, int out, bool bias, size_t fan_in, tnn_rng *rng,
                                const char *what)
{
    const size_t nb = bias ? (size_t)out : 0;
    p->nw = nw;
    p->out = out;
    tnn_tensor_init_empty(&p->y);
    tnn_tensor_init_empty(&p->dx[0]);
    tnn_tensor_init_empty(&p->dx[1]);
    tnn_conv_slots_init(&p->scratch);
    tnn_tensor_init_empty(&p->dw_runs);
    float *block = tnn_calloc(2 * nw + 2 * nb, sizeof(float), what);
    if (!block) return TNN_ERR_NOMEM;
    p->weight = block;
    p->bias = bias ? block + nw : NULL;
    p->dweight = block + nw + nb;
    p->dbias = bias ? p->dweight + nw : NULL;
    if (bias && !(p->db_runs = tnn_malloc((size_t)CONV_RUNS * (size_t)out * sizeof(double), what))) {
        tnn_free(block);
        p->weight = NULL;
        return TNN_ERR_NOMEM;
    }
    if (rng) { /* torch's kaiming_uniform_(a=sqrt(5)) and bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
        const float bound = (float)(1.0 / sqrt((double)fan_in));
        for (size_t i = 0; i < nw; i++) p->weight[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
        for (size_t i = 0; i < nb; i++) p->bias[i] = -bound + 2.0f * bound * tnn_rng_uniform(rng);
    }
    return TNN_OK;
}

void tnn_conv_params_release(tnn_conv_params *p)
{
    tnn_free(p->weight); /* one block: weight, bias, dweight, dbias */
    tnn_tensor_release(&p->y);
    tnn_tensor_release(&p->dx[0]);
    tnn_tensor_release(&p->dx[1]);
    tnn_conv_slots_release(&p->scratch);
    tnn_tensor_release(&p->dw_runs);
    tnn_free(p->db_runs);
}

void tnn_conv_params_sum_grads(tnn_conv_params *p, int runs)
{
    tnn_conv_sum_runs(p->dw_runs.data, runs, p->nw, p->dweight, !p->grad_owed);
    if (p->bias) tnn_conv_sum_bias_runs(p->db_runs, runs, p->out, p->dbias, !p->grad_owed);
    p->grad_owed = p->grad_none = false;
}

tnn_status tnn_conv_params_visit(tnn_conv_params *p, const char *prefix, const int wshape[4], tnn_visit_fn fn,
                                 void *ctx)
{
    if (p->grad_owed) { /* the gradients are about to be seen: make them read as zero */
        memset(p->dweight, 0, (p->nw + (p->bias ? (size_t)p->out : 0)) * sizeof(float));
        p->grad_owed = false;
    }
    const bool none = p->grad_none;
    tnn_status st = tnn_visit_param(prefix, "weight", p->weight, p->dweight, 4, wshape, none, fn, ctx);
    if (st == TNN_OK && p->bias) st = tnn_visit_param(prefix, "bias", p->bias, p->dbias, 1, (int[]){p->out}, none, fn, ctx);
    return st;
}
