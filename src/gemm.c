/* The one matrix-product wrapper (OpenBLAS) and its naive reference.
 *
 * With one thread a product is one cblas_sgemm call. With more (tnn_set_num_threads),
 * OpenBLAS runs single-threaded and the library's pool splits each large product into
 * blocks of rows of C (or of columns, for a short wide C), one single-threaded call per
 * thread, and runs independent products side by side (tnn_gemm2); a product of one or
 * two rows is run as matrix-vector products instead (see tnn_gemm_run). On the seed GAN's
 * products (batch 128, 100 to 1024 features) that is about 7% faster on 2 cores than
 * OpenBLAS's own threading, and it leaves no OpenBLAS threads spinning on the cores
 * while the pool runs element-wise work. */
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <cblas.h>
#include <string.h>

/* Products smaller than this many multiply-adds run on one thread: splitting them costs
 * more than it saves. */
#define TNN_GEMM_SPLIT_MIN_MACS (1 << 18)
/* Blocks are whole multiples of this many rows (or columns): OpenBLAS's register tiles. */
#define TNN_GEMM_BLOCK 16

static void sgemm(const tnn_gemm_args *g)
{
    if (g->bias) /* C's rows start as the bias, then C += op(A) op(B) */
        for (int i = 0; i < g->M; i++) memcpy(g->C + (size_t)i * (size_t)g->ldc, g->bias, (size_t)g->N * sizeof(float));
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->M, g->N, g->K,
                g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
}

typedef struct split_job {
    const tnn_gemm_args *g;
    int parts;
    bool by_rows;
    int step; /* rows (or columns) per block, a multiple of TNN_GEMM_BLOCK */
} split_job;

static void split_task(void *ctx, int task)
{
    const split_job *s = ctx;
    tnn_gemm_args a = *s->g;
    int total = s->by_rows ? a.M : a.N, lo = task * s->step, hi = lo + s->step;
    if (hi > total) hi = total;
    if (lo >= hi) return;
    if (s->by_rows) { /* rows [lo, hi) of C = rows [lo, hi) of op(A) times op(B) */
        a.M = hi - lo;
        a.A = a.ta ? a.A + lo : a.A + (size_t)lo * (size_t)a.lda;
        a.C = a.C + (size_t)lo * (size_t)a.ldc;
    } else {          /* columns [lo, hi) of C = op(A) times columns [lo, hi) of op(B) */
        a.N = hi - lo;
        a.B = a.tb ? a.B + (size_t)lo * (size_t)a.ldb : a.B + lo;
        a.C = a.C + lo;
        if (a.bias) a.bias += lo;
    }
    sgemm(&a);
}

/* How to split g over `threads`: false if it is better run whole. */
static bool plan_split(const tnn_gemm_args *g, int threads, split_job *s)
{
    if (threads < 2 || (double)g->M * (double)g->N * (double)g->K < TNN_GEMM_SPLIT_MIN_MACS) return false;
    s->g = g;
    s->by_rows = g->M >= TNN_GEMM_BLOCK * 2; /* rows when there are enough: measured faster */
    int total = s->by_rows ? g->M : g->N;
    if (total / TNN_GEMM_BLOCK < 2) return false;
    s->step = tnn_rows_per_part(total, threads); /* the split tnn_parallel_rows uses */
    s->parts = (total + s->step - 1) / s->step;
    return s->parts >= 2;
}

/* A product with at most this many rows of C (a batch of one or two) and op(A) not
 * transposed runs, with more than one thread, as one matrix-vector product per row,
 * its columns split over the threads. OpenBLAS 0.3.21's sgemm packs all of op(B) (the
 * weights) at every call, which for one row costs several times the single pass over
 * them that sgemv makes: the seed generator's five products for one image take 0.47 ms
 * through sgemm and 0.08 through sgemv. sgemv adds in another order than sgemm, so one thread
 * keeps sgemm, whose bits are PyTorch's (it calls the same sgemm); with more threads the
 * results depend on the thread count already (the split), and stay fixed for it. */
#define TNN_GEMV_MAX_ROWS 2

/* Columns [lo, hi) of every row of C (a tnn_range_fn over the columns; ctx is the
 * product's tnn_gemm_args). */
static void gemv_cols(void *ctx, size_t lo, size_t hi)
{
    const tnn_gemm_args *g = ctx;
    const int n = (int)(hi - lo);
    for (int i = 0; i < g->M; i++) {
        float *c = g->C + (size_t)i * (size_t)g->ldc + lo;
        const float *a = g->A + (size_t)i * (size_t)g->lda;
        if (g->bias) memcpy(c, g->bias + lo, (size_t)n * sizeof(float));
        else if (g->beta == 0.0f) memset(c, 0, (size_t)n * sizeof(float)); /* beta 0 ignores C (a NaN too), as sgemm does */
        if (g->tb) /* row i of C = B[lo:hi, :] a_i, B being [N x K] */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n, g->K, g->alpha, g->B + lo * (size_t)g->ldb, g->ldb, a, 1,
                        g->beta, c, 1);
        else       /* row i of C = a_i B[:, lo:hi], B being [K x N] */
            cblas_sgemv(CblasRowMajor, CblasTrans, g->K, n, g->alpha, g->B + lo, g->ldb, a, 1, g->beta, c, 1);
    }
}

void tnn_gemm_run(const tnn_gemm_args *g)
{
    const int threads = tnn_parallel_threads();
    /* (K = 0 stays sgemm, which scales C by beta; sgemv returns at once, as BLAS does) */
    if (threads > 1 && g->M <= TNN_GEMV_MAX_ROWS && !g->ta && g->K > 0) {
        /* the columns split as a product's rows are (whole when under a quarter of the
         * products' split threshold, or fewer than 32) */
        tnn_parallel_rows(g->N, (size_t)g->M * (size_t)g->K, TNN_GEMM_SPLIT_MIN_MACS / 8, gemv_cols, (void *)g);
        return;
    }
    split_job s;
    if (plan_split(g, threads, &s)) tnn_parallel_tasks(s.parts, split_task, &s);
    else sgemm(g);
}

void tnn_gemm_whole(const tnn_gemm_args *g) { sgemm(g); }

void tnn_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const tnn_gemm_args g = {trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL};
    tnn_gemm_run(&g);
}

static void pair_task(void *ctx, int task) { sgemm(&((const tnn_gemm_args *)ctx)[task]); }

void tnn_gemm2(const tnn_gemm_args *a, const tnn_gemm_args *b)
{
    /* Two threads: one product each, whole (no split, no second pass over the shared
     * operand). Otherwise one after the other, each split over the threads. */
    if (tnn_parallel_threads() == 2) {
        const tnn_gemm_args both[2] = {*a, *b};
        tnn_parallel_tasks(2, pair_task, (void *)both);
        return;
    }
    tnn_gemm_run(a);
    tnn_gemm_run(b);
}

void tnn_gemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * (double)b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
        }
    }
}
