/* Tests of examples/mnist_metrics.c (the numbers mnist_score prints) and of the
 * classifier's metadata (examples/classifier_model.c), label `unit`.
 *
 * Tolerances: exact-moment cases (no sampling) agree with the closed forms to 1e-9
 * relative (the Jacobi eigen-solver works to about 1e-15 of the matrix norm); the
 * distance of a singular Gaussian to itself is 0 to 1e-6 of the trace (the square root
 * of an eigenvalue that should be 0 but is rounding noise of 1e-16 is 1e-8); the
 * sampled-Gaussian case to 0.05 absolute on a distance of 2.67 (the estimate's standard
 * error from 100,000 samples is below 0.01). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_model.h"
#include "mnist_metrics.h"

static void assert_near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g, want %.17g (|diff| %.3g > %.3g)", what, got, want,
                                             fabs(got - want), tol);
}

/* A random orthogonal n x n matrix (Gram-Schmidt on a Gaussian matrix). */
static void random_orthogonal(double *q, int n, tnn_rng *r)
{
    for (int i = 0; i < n * n; i++) q[i] = tnn_rng_normal(r);
    for (int j = 0; j < n; j++) { /* columns */
        for (int k = 0; k < j; k++) {
            double dot = 0.0;
            for (int i = 0; i < n; i++) dot += q[i * n + j] * q[i * n + k];
            for (int i = 0; i < n; i++) q[i * n + j] -= dot * q[i * n + k];
        }
        double norm = 0.0;
        for (int i = 0; i < n; i++) norm += q[i * n + j] * q[i * n + j];
        for (int i = 0; i < n; i++) q[i * n + j] /= sqrt(norm);
    }
}

/* out = Q diag(d) Q^T */
static void rotate_diag(double *out, const double *q, const double *d, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < n; k++) s += q[i * n + k] * d[k] * q[j * n + k];
            out[i * n + j] = s;
        }
}

static void mean_cov_known(void **state)
{
    (void)state;
    const float x[] = {1, 2, 3, 4, 5, 0};
    double mean[2], cov[4];
    assert_int_equal(metrics_mean_cov(x, 3, 2, mean, cov), 0);
    assert_near(mean[0], 3.0, 1e-15, "mean[0]");
    assert_near(mean[1], 2.0, 1e-15, "mean[1]");
    assert_near(cov[0], 4.0, 1e-15, "var x (divided by n - 1)");
    assert_near(cov[3], 4.0, 1e-15, "var y");
    assert_near(cov[1], -2.0, 1e-15, "cov xy");
    assert_near(cov[2], -2.0, 1e-15, "cov yx");
    assert_int_equal(metrics_mean_cov(x, 1, 2, mean, cov), -1); /* one sample: no covariance */
}

static void sym_eigen_reconstructs(void **state)
{
    (void)state;
    enum { N = 48 };
    static double a[N * N], w[N * N], v[N * N], ev[N];
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) a[i * N + j] = a[j * N + i] = tnn_rng_normal(&r);
    memcpy(w, a, sizeof a);
    int sweeps = metrics_sym_eigen(w, N, ev, v);
    assert_true(sweeps > 0 && sweeps < 20);
    double norm = 0.0, worst = 0.0, worst_orth = 0.0;
    for (int i = 0; i < N * N; i++) norm += a[i] * a[i];
    norm = sqrt(norm);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0, o = 0.0;
            for (int k = 0; k < N; k++) {
                s += v[i * N + k] * ev[k] * v[j * N + k]; /* V diag V^T */
                o += v[k * N + i] * v[k * N + j];         /* V^T V */
            }
            worst = fmax(worst, fabs(s - a[i * N + j]));
            worst_orth = fmax(worst_orth, fabs(o - (i == j)));
        }
    assert_near(worst / norm, 0.0, 1e-13, "max |V diag(ev) V^T - A| / |A|");
    assert_near(worst_orth, 0.0, 1e-13, "max |V^T V - I|");
}

/* sqrtm(B^2) = B for symmetric positive definite B, non-diagonal. */
static void sqrtm_known_matrices(void **state)
{
    (void)state;
    const double a2[4] = {5, 4, 4, 5}, b2[4] = {2, 1, 1, 2};
    double out[9];
    assert_int_equal(metrics_sqrtm_psd(a2, 2, out), 0);
    for (int i = 0; i < 4; i++) assert_near(out[i], b2[i], 1e-12, "sqrtm([[5,4],[4,5]]) = [[2,1],[1,2]]");

    /* B tridiagonal 3, 1 (eigenvalues 3 and 3 +- sqrt(2), all positive); A = B^2. */
    const double b3[9] = {3, 1, 0, 1, 3, 1, 0, 1, 3};
    double a3[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            a3[i * 3 + j] = 0.0;
            for (int k = 0; k < 3; k++) a3[i * 3 + j] += b3[i * 3 + k] * b3[k * 3 + j];
        }
    assert_int_equal(metrics_sqrtm_psd(a3, 3, out), 0);
    for (int i = 0; i < 9; i++) assert_near(out[i], b3[i], 1e-12, "sqrtm(B^2) = B, B 3x3 tridiagonal");

    /* A singular PSD matrix: rank 1, v v^T with |v| = 1 is its own square root. */
    const double p[4] = {0.36, 0.48, 0.48, 0.64}; /* v = (0.6, 0.8) */
    assert_int_equal(metrics_sqrtm_psd(p, 2, out), 0);
    for (int i = 0; i < 4; i++) assert_near(out[i], p[i], 1e-8, "sqrtm of a projector is itself");
}

/* Tr((S1 S2)^{1/2}) for non-commuting 2 x 2 matrices: (sqrt(l1) + sqrt(l2))^2 =
 * tr(M) + 2 sqrt(det M) for M = S1 S2 with eigenvalues l1, l2 > 0. */
static void trace_sqrt_non_commuting(void **state)
{
    (void)state;
    const double s1[4] = {2, 1, 1, 3}, s2[4] = {1, -0.5, -0.5, 2};
    /* M = [[1.5, 1], [-0.5, 5.5]]: tr 7, det 8.75 */
    double want = sqrt(7.0 + 2.0 * sqrt(8.75));
    assert_near(metrics_trace_sqrt_product(s1, s2, 2), want, 1e-12, "Tr((S1 S2)^1/2), 2x2");
    assert_near(metrics_trace_sqrt_product(s2, s1, 2), want, 1e-12, "Tr((S2 S1)^1/2), 2x2");

    /* Larger, random and non-commuting: Tr((S1 S2)^1/2) = Tr((S2 S1)^1/2), although the
     * two routes square-root different matrices (S1^1/2 S2 S1^1/2, S2^1/2 S1 S2^1/2). */
    enum { N = 30, M = 40 };
    static double a[N * N], b[N * N], g[M * N];
    tnn_rng r;
    tnn_rng_seed(&r, 7);
    for (int k = 0; k < 2; k++) {
        double *s = k ? b : a; /* Wishart: G^T G / M */
        for (int i = 0; i < M * N; i++) g[i] = tnn_rng_normal(&r) * (k ? 2.0 : 0.5);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0.0;
                for (int t = 0; t < M; t++) sum += g[t * N + i] * g[t * N + j];
                s[i * N + j] = sum / M;
            }
    }
    double ab = metrics_trace_sqrt_product(a, b, N), ba = metrics_trace_sqrt_product(b, a, N);
    assert_true(ab > 0.0);
    assert_near(ab, ba, 1e-10 * ab, "Tr((AB)^1/2) = Tr((BA)^1/2), 30x30");
}

static double fid_closed_form_diag(const double *mu1, const double *d1, const double *mu2, const double *d2, int n)
{
    double f = 0.0;
    for (int i = 0; i < n; i++)
        f += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + (sqrt(d1[i]) - sqrt(d2[i])) * (sqrt(d1[i]) - sqrt(d2[i]));
    return f;
}

/* Exact moments: diagonal covariances, and the same rotated into a random basis (then
 * S1 and S2 are full but commute, and the closed form still holds). One variance is 0,
 * as for a dead ReLU feature. */
static void fid_closed_form(void **state)
{
    (void)state;
    enum { N = 24 };
    static double mu1[N], mu2[N], d1[N], d2[N], s1[N * N], s2[N * N], q[N * N], id[N * N];
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        mu1[i] = tnn_rng_normal(&r);
        mu2[i] = tnn_rng_normal(&r);
        d1[i] = 0.1 + 3.0 * tnn_rng_uniform(&r);
        d2[i] = 0.1 + 3.0 * tnn_rng_uniform(&r);
    }
    d1[7] = 0.0;
    double want = fid_closed_form_diag(mu1, d1, mu2, d2, N);
    for (int i = 0; i < N * N; i++) id[i] = (i % (N + 1)) == 0;
    rotate_diag(s1, id, d1, N);
    rotate_diag(s2, id, d2, N);
    assert_near(metrics_frechet_distance(mu1, s1, mu2, s2, N), want, 1e-9 * want, "FID, diagonal covariances");
    random_orthogonal(q, N, &r);
    rotate_diag(s1, q, d1, N);
    rotate_diag(s2, q, d2, N);
    assert_near(metrics_frechet_distance(mu1, s1, mu2, s2, N), want, 1e-9 * want, "FID, Q D1 Q^T against Q D2 Q^T");
    /* and a distribution against itself */
    double tr = 0.0;
    for (int i = 0; i < N; i++) tr += d1[i];
    /* S1 is singular: the eigenvalue 0 of S1^2 comes out as rounding noise of about
     * 1e-16 |S1|^2, whose square root is about 1e-8 |S1| - the sqrt(eps) accuracy every
     * matrix-square-root FID has on singular covariances. */
    assert_near(metrics_frechet_distance(mu1, s1, mu1, s1, N), 0.0, 1e-6 * tr, "FID of N(mu, S) with itself");
}

/* Sampled: 100,000 draws from each of two Gaussians, through metrics_mean_cov. */
static void fid_sampled_gaussians(void **state)
{
    (void)state;
    enum { D = 3, N = 100000 };
    const double mu1[D] = {0, 1, -1}, d1[D] = {1, 4, 0.25}, mu2[D] = {0.5, 1, 0}, d2[D] = {2, 1, 1};
    float *x = malloc(sizeof(float) * N * D), *y = malloc(sizeof(float) * N * D);
    double m1[D], c1[D * D], m2[D], c2[D * D];
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            x[i * D + j] = (float)(mu1[j] + sqrt(d1[j]) * tnn_rng_normal(&r));
            y[i * D + j] = (float)(mu2[j] + sqrt(d2[j]) * tnn_rng_normal(&r));
        }
    assert_int_equal(metrics_mean_cov(x, N, D, m1, c1), 0);
    assert_int_equal(metrics_mean_cov(y, N, D, m2, c2), 0);
    double want = fid_closed_form_diag(mu1, d1, mu2, d2, D); /* 2.6716 */
    assert_near(metrics_frechet_distance(m1, c1, m2, c2, D), want, 0.05, "FID of sampled Gaussians");
    assert_near(metrics_frechet_distance(m1, c1, m1, c1, D), 0.0, 1e-9, "FID of a sample with itself");
    free(x);
    free(y);
}

static void softmax_stable(void **state)
{
    (void)state;
    const float z[6] = {1000.0f, 1000.0f, 0.0f, -1.0f, 0.0f, 1.0f};
    double p[6];
    metrics_softmax(z, 2, 3, p);
    assert_near(p[0], 0.5, 1e-15, "softmax with large logits");
    assert_near(p[1], 0.5, 1e-15, "softmax with large logits");
    assert_near(p[2], 0.0, 1e-300, "softmax tail");
    double e = exp(1.0), s = exp(-1.0) + 1.0 + e;
    assert_near(p[5], e / s, 1e-15, "softmax");
    assert_int_equal(metrics_argmax(p + 3, 3), 2);
}

static void inception_score_known(void **state)
{
    (void)state;
    enum { K = 10 };
    static double p[40 * K];
    /* identical predictions: p(y|x) = p(y), KL 0, score 1 */
    for (int i = 0; i < 40; i++)
        for (int c = 0; c < K; c++) p[i * K + c] = c < 3 ? 0.2 : 0.4 / 7.0;
    assert_near(metrics_inception_score(p, 40, K), 1.0, 1e-12, "IS of identical predictions");
    /* one-hot predictions spread evenly over 4 of the 10 classes: score 4 */
    memset(p, 0, sizeof p);
    for (int i = 0; i < 40; i++) p[i * K + (i % 4) * 2] = 1.0;
    assert_near(metrics_inception_score(p, 40, K), 4.0, 1e-12, "IS of 4 equally used one-hot classes");
    memset(p, 0, sizeof p);
    for (int i = 0; i < 40; i++) p[i * K + i % K] = 1.0;
    assert_near(metrics_inception_score(p, 40, K), 10.0, 1e-12, "IS of 10 equally used one-hot classes");
    /* by hand: rows (1, 0) and (0.5, 0.5): p(y) = (0.75, 0.25),
     * KL = log(4/3) and 0.5 log(2/3) + 0.5 log 2; exp(mean) = 1.2408064788027995 */
    const double h[4] = {1.0, 0.0, 0.5, 0.5};
    assert_near(metrics_inception_score(h, 2, 2), 1.2408064788027995, 1e-14, "IS by hand");
}

static void coverage_counts(void **state)
{
    (void)state;
    enum { K = 10, N = 100 };
    static double p[N * K];
    int hist[K];
    /* 60 samples of class 0, 20 of class 1, 5 of class 2, 4 of class 3, 11 of class 4 */
    const int counts[5] = {60, 20, 5, 4, 11};
    for (int i = 0, c = 0, used = 0; i < N; i++) {
        while (used == counts[c]) c++, used = 0;
        used++;
        for (int j = 0; j < K; j++) p[i * K + j] = j == c ? 0.55 : 0.05;
    }
    assert_int_equal(metrics_class_coverage(p, N, K, 0.05, hist), 4); /* 5 of 100 is 5%: covered; 4 is not */
    const int want[K] = {60, 20, 5, 4, 11, 0, 0, 0, 0, 0};
    for (int c = 0; c < K; c++) assert_int_equal(hist[c], want[c]);
    assert_int_equal(metrics_class_coverage(p, N, K, 0.5, hist), 1);
    /* exactly 5% of 10,000, whatever 0.05 * 10000 rounds to */
    assert_true(metrics_is_covered(500, 10000, 0.05));
    assert_false(metrics_is_covered(499, 10000, 0.05));
    assert_true(metrics_is_covered(3, 60, 0.05));
    assert_false(metrics_is_covered(2, 60, 0.05));
}

static void classifier_metadata(void **state)
{
    (void)state;
    clf_config c = clf_config_defaults(), back;
    char err[512];
    assert_int_equal(clf_parse_hidden(&c, "300,100,50", err, sizeof err), 0);
    assert_int_equal(c.n_sizes, 5);
    assert_int_equal(c.sizes[3], 50);
    assert_int_equal(c.sizes[4], 10);
    assert_int_equal(clf_feature_child(&c), 7);
    assert_int_equal(clf_feature_dim(&c), 50);
    assert_int_equal(clf_parse_hidden(&c, "300,,1", err, sizeof err), -1);
    assert_int_equal(clf_parse_hidden(&c, "-3", err, sizeof err), -1);

    tnn_metadata *md = clf_config_to_metadata(&c);
    assert_non_null(md);
    assert_string_equal(tnn_metadata_get(md, "layers"), "784,300,100,50,10");
    assert_string_equal(tnn_metadata_get(md, "feature_layer"), "7");
    TU_ASSERT_OK(clf_config_from_metadata(md, "f.safetensors", &back, err, sizeof err));
    assert_int_equal(back.n_sizes, c.n_sizes);
    assert_memory_equal(back.sizes, c.sizes, sizeof c.sizes[0] * (size_t)c.n_sizes);
    assert_true(back.dropout == c.dropout);

    /* the network has the layout the metadata promises */
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *net = clf_new(&c, &r);
    assert_non_null(net);
    assert_int_equal(tnn_sequential_len(net), 3 * 3 + 1);
    char desc[64];
    tnn_module_describe(tnn_sequential_get(net, clf_feature_child(&c)), desc, sizeof desc);
    assert_non_null(strstr(desc, "relu"));
    tnn_tensor *x = tnn_tensor_new2(3, 784);
    const tnn_tensor *feat, *logits;
    tnn_module_train(net, false);
    TU_ASSERT_OK(clf_forward(net, &c, x, &feat, &logits));
    assert_int_equal(feat->shape[0], 3);
    assert_int_equal(feat->shape[1], 50);
    assert_int_equal(logits->shape[1], 10);
    tnn_tensor_free(x);
    tnn_module_free(net);

    /* a wrong or missing key is named */
    tnn_metadata_set(md, "feature_layer", "4");
    assert_int_equal(clf_config_from_metadata(md, "f.safetensors", &back, err, sizeof err), TNN_ERR_FORMAT);
    assert_non_null(strstr(err, "f.safetensors"));
    assert_non_null(strstr(err, "feature_layer"));
    tnn_metadata_free(md);
    md = tnn_metadata_new();
    assert_int_equal(clf_config_from_metadata(md, "g.safetensors", &back, err, sizeof err), TNN_ERR_FORMAT);
    assert_non_null(strstr(err, "no 'format'"));
    tnn_metadata_set(md, "format", CLF_FORMAT);
    tnn_metadata_set(md, "layers", "784,10");
    assert_int_equal(clf_config_from_metadata(md, "g.safetensors", &back, err, sizeof err), TNN_ERR_FORMAT);
    assert_non_null(strstr(err, "layers"));
    tnn_metadata_free(md);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(mean_cov_known),
    cmocka_unit_test(sym_eigen_reconstructs),
    cmocka_unit_test(sqrtm_known_matrices),
    cmocka_unit_test(trace_sqrt_non_commuting),
    cmocka_unit_test(fid_closed_form),
    cmocka_unit_test(fid_sampled_gaussians),
    cmocka_unit_test(softmax_stable),
    cmocka_unit_test(inception_score_known),
    cmocka_unit_test(coverage_counts),
    cmocka_unit_test(classifier_metadata),
};

TU_MAIN("mnist_metrics", tests)
