/*
 * mnist_metrics.h - the sample-quality numbers mnist_score prints, as plain functions on
 * arrays (no libtinynn types), so that tests can check them on known inputs
 * (CMake target `tinynn_quality`). Everything is computed in double.
 *
 *   Frechet distance   between two Gaussians fitted to feature vectors (FID's formula):
 *                        |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})
 *                      Tr((S1 S2)^{1/2}) is computed as Tr((A S2 A)^{1/2}) with
 *                      A = S1^{1/2}: A S2 A is symmetric positive semi-definite and has
 *                      the eigenvalues of S1 S2, so the trace is the sum of the square
 *                      roots of its eigenvalues (tiny negative ones, rounding noise,
 *                      count as 0). Both square roots come from a cyclic Jacobi
 *                      eigen-decomposition, which is accurate for symmetric matrices
 *                      and needs no LAPACK.
 *   Inception score    exp(E_x KL(p(y|x) || p(y))), p(y) the mean of the p(y|x), with
 *                      0 log 0 = 0. One split over all samples (the original IS averages
 *                      10 splits). 1 when every sample has the same prediction; K for
 *                      confident predictions spread evenly over K classes.
 *   Class coverage     classes whose share of the samples' argmax predictions is at
 *                      least min_frac (0.05 in mnist_score).
 */
#ifndef TINYNN_EXAMPLES_MNIST_METRICS_H
#define TINYNN_EXAMPLES_MNIST_METRICS_H

#include <stddef.h>

/* Mean [d] and covariance [d x d] (unbiased, divided by n - 1, as numpy.cov and
 * pytorch-fid) of n rows of d floats. Two passes, sums in double. Returns 0, or -1 if
 * n < 2 or d < 1. */
int metrics_mean_cov(const float *x, int n, int d, double *mean, double *cov);

/* Eigen-decomposition of the symmetric n x n matrix a (row-major; only symmetric input
 * is meaningful): a = V diag(evals) V^T, V's columns the eigenvectors (evecs, row-major
 * n x n, may be NULL). a is overwritten (its diagonal ends up holding the eigenvalues).
 * Cyclic Jacobi rotations until the off-diagonal part is below 1e-15 of the matrix's
 * norm. Returns the number of sweeps used, or -1 if it did not converge in 100 sweeps
 * (never seen on real covariances) or on an allocation failure. */
int metrics_sym_eigen(double *a, int n, double *evals, double *evecs);

/* out = a^{1/2}, the symmetric positive semi-definite square root of the symmetric
 * n x n matrix a (eigenvalues below 0 are taken as 0). Returns 0 or -1. */
int metrics_sqrtm_psd(const double *a, int n, double *out);

/* Tr((s1 s2)^{1/2}) for symmetric PSD s1, s2 (n x n), as described above. Returns NAN
 * on failure. */
double metrics_trace_sqrt_product(const double *s1, const double *s2, int n);

/* The Frechet distance between N(mu1, s1) and N(mu2, s2) in d dimensions; NAN on
 * failure. A tiny negative result from rounding is returned as is. */
double metrics_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int d);

/* Row-wise softmax of n x k logits into probs (in double, max subtracted first). */
void metrics_softmax(const float *logits, int n, int k, double *probs);

/* Index of the largest of x[0..k) (the first one on ties). */
int metrics_argmax(const double *x, int k);

/* exp(E_x KL(p(y|x) || p(y))) over n rows of k probabilities (each row sums to 1). */
double metrics_inception_score(const double *probs, int n, int k);

/* True if count of n samples is at least the share min_frac of them (with a relative
 * slack of 1e-9, so that 500 of 10,000 is 5% whatever the rounding of 0.05 * 10000). */
int metrics_is_covered(int count, int n, double min_frac);

/* hist[c] = number of rows whose argmax is c (c < k); returns the number of classes
 * covered (metrics_is_covered(hist[c], n, min_frac)). */
int metrics_class_coverage(const double *probs, int n, int k, double min_frac, int *hist);

#endif
