/* The matrix-product wrapper tnn_gemm (OpenBLAS) against the naive reference
 * tnn_gemm_ref, for all four transpose combinations, with leading dimensions larger
 * than the rows, alpha and beta. */
#include "testutil.h"
#include "tnn_impl.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ta, bool tb, int M, int N, int K, float alpha, float beta)
{
    tnn_rng r;
    tnn_rng_seed(&r, (uint64_t)(M * 1000 + N * 10 + K) + (ta ? 7 : 0) + (tb ? 13 : 0));
    /* Stored shapes: A is [M x K] or, transposed, [K x M]; likewise B. Pad rows by 3. */
    int arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
    int lda = acols + 3, ldb = bcols + 3, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)arows * lda);
    float *B = malloc(sizeof(float) * (size_t)brows * ldb);
    float *C = malloc(sizeof(float) * (size_t)M * ldc), *R = malloc(sizeof(float) * (size_t)M * ldc);
    double *want = malloc(sizeof(double) * (size_t)M * ldc);
    assert_true(A && B && C && R && want);
    for (int i = 0; i < arows * lda; i++) A[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < brows * ldb; i++) B[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < M * ldc; i++) C[i] = R[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    if (beta == 0.0f) /* C is ignored then, a NaN in it too */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    tnn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    tnn_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (int i = 0; i < M * ldc; i++) want[i] = R[i];
    /* float32 sums of K products of |.| <= 1: error ~ K * 2^-24 in the worst case. */
    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d M=%d N=%d K=%d", ta, tb, M, N, K);
    tu_assert_close(C, want, (size_t)M * ldc, fmax(1e-5, 2.0 * K * 0x1p-24), 1.0, what);
    /* The padding columns of C are untouched. */
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) assert_true(C[(size_t)i * ldc + j] == R[(size_t)i * ldc + j]);
    free(A);
    free(B);
    free(C);
    free(R);
    free(want);
}

static void gemm_all_transposes(void **state)
{
    (void)state;
    const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 48, 80}, {5, 130, 2}};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            check(t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f);
}

static void gemm_alpha_beta(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        check(t & 1, t & 2, 7, 11, 13, 0.5f, 1.0f);
        check(t & 1, t & 2, 7, 11, 13, -2.0f, 0.25f);
    }
}

/* The reference itself on a hand-computed product: [1 2; 3 4] * [5 6; 7 8]. */
static void gemm_ref_by_hand(void **state)
{
    (void)state;
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float C[4] = {1, 1, 1, 1};
    tnn_gemm_ref(false, false, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2);
    const double want[4] = {19, 22, 43, 50};
    tu_assert_close(C, want, 4, 0.0, 1.0, "A*B");
    tnn_gemm_ref(true, false, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2); /* A^T B */
    const double want_t[4] = {26, 30, 38, 44};
    tu_assert_close(C, want_t, 4, 0.0, 1.0, "A^T*B");
    tnn_gemm_ref(false, true, 2, 2, 2, 2.0f, A, 2, B, 2, 1.0f, C, 2); /* 2 A B^T + C */
    const double want_bt[4] = {26 + 34, 30 + 46, 38 + 78, 44 + 106};
    tu_assert_close(C, want_bt, 4, 0.0, 1.0, "2*A*B^T + C");
}

/* One or two rows of C on two threads run as matrix-vector products, columns split
 * over the threads (tnn_gemm_run): right against the reference, with beta 0 ignoring a
 * NaN already in C as sgemm does, with a bias, and the same bits every time. */
static void gemm_one_or_two_rows_on_threads(void **state)
{
    (void)state;
    tnn_parallel_set_threads(2);
    const int sizes[][2] = {{1024, 512}, {784, 1024}, {20, 7}, {33, 1}};
    const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-2.0f, 0.25f}};
    for (int tb = 0; tb < 2; tb++)
        for (int M = 1; M <= 2; M++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (size_t k = 0; k < sizeof ab / sizeof ab[0]; k++)
                    check(false, tb, M, sizes[s][0], sizes[s][1], ab[k][0], ab[k][1]);
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    const int M = 2, N = 784, K = 1024;
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * (size_t)N * K), *bias = malloc(sizeof(float) * N);
    float *C = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
    assert_true(A && B && bias && C && C2 && R);
    for (int i = 0; i < M * K; i++) A[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < N * K; i++) B[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < N; i++) bias[i] = 2.0f * tnn_rng_uniform(&r) - 1.0f;
    for (int rep = 0; rep < 2; rep++) {
        float *out = rep ? C2 : C;
        for (int i = 0; i < M * N; i++) out[i] = NAN; /* the bias replaces C */
        /* a Linear's forward: C = bias + A B^T, B being [N x K] */
        const tnn_gemm_args g = {false, true, M, N, K, 1.0f, A, K, B, K, 1.0f, out, N, bias};
        tnn_gemm_run(&g);
    }
    for (int i = 0; i < M; i++) memcpy(R + (size_t)i * N, bias, sizeof(float) * N);
    tnn_gemm_ref(false, true, M, N, K, 1.0f, A, K, B, K, 1.0f, R, N);
    double *want = malloc(sizeof(double) * M * N);
    for (int i = 0; i < M * N; i++) want[i] = R[i];
    tu_assert_close(C, want, (size_t)M * N, 2.0 * K * 0x1p-24, 1.0, "bias + A B^T, two rows, two threads");
    assert_memory_equal(C, C2, sizeof(float) * M * N);
    free(want);
    free(A);
    free(B);
    free(bias);
    free(C);
    free(C2);
    free(R);
    tnn_parallel_set_threads(1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gemm_ref_by_hand),
    cmocka_unit_test(gemm_all_transposes),
    cmocka_unit_test(gemm_alpha_beta),
    cmocka_unit_test(gemm_one_or_two_rows_on_threads),
};

TU_MAIN("gemm", tests)
