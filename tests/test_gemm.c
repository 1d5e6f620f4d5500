/* The matrix-product wrapper tnn_gemm (OpenBLAS) against the naive reference
 * tnn_gemm_ref, for all four transpose combinations, with leading dimensions larger
 * than the rows, alpha and beta. */
#include "testutil.h"
#include "tnn_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
    tnn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    tnn_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    for (int i = 0; i < M * ldc; i++) want[i] = R[i];
    /* float32 sums of K products of |.| <= 1: error ~ K * 2^-24 in the worst case. */
    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d M=%d N=%d K=%d", ta, tb, M, N, K);
    tu_assert_close(C, want, (size_t)M * ldc, 1e-5, 1.0, what);
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gemm_ref_by_hand),
    cmocka_unit_test(gemm_all_transposes),
    cmocka_unit_test(gemm_alpha_beta),
};

TU_MAIN("gemm", tests)
