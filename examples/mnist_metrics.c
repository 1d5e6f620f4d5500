/* Frechet distance, Inception-style score and class coverage (see mnist_metrics.h). */
#include "mnist_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int metrics_mean_cov(const float *x, int n, int d, double *mean, double *cov)
{
    if (n < 2 || d < 1) return -1;
    size_t ud = (size_t)d;
    double *c = malloc(ud * sizeof *c); /* one centred row */
    if (!c) return -1;
    memset(mean, 0, ud * sizeof *mean);
    memset(cov, 0, ud * ud * sizeof *cov);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < ud; j++) mean[j] += x[(size_t)i * ud + j];
    for (size_t j = 0; j < ud; j++) mean[j] /= n;
    /* Upper triangle of sum (x - mean)(x - mean)^T, then mirrored. */
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < ud; j++) c[j] = x[(size_t)i * ud + j] - mean[j];
        for (size_t j = 0; j < ud; j++) {
            double cj = c[j];
            double *row = cov + j * ud;
            for (size_t k = j; k < ud; k++) row[k] += cj * c[k];
        }
    }
    for (size_t j = 0; j < ud; j++)
        for (size_t k = j; k < ud; k++) {
            cov[j * ud + k] /= (n - 1);
            cov[k * ud + j] = cov[j * ud + k];
        }
    free(c);
    return 0;
}

int metrics_sym_eigen(double *a, int n, double *evals, double *evecs)
{
    size_t un = (size_t)n;
    if (evecs) {
        memset(evecs, 0, un * un * sizeof *evecs);
        for (size_t i = 0; i < un; i++) evecs[i * un + i] = 1.0;
    }
    double norm2 = 0.0;
    for (size_t i = 0; i < un * un; i++) norm2 += a[i] * a[i];
    for (int sweep = 0; sweep <= 100; sweep++) {
        double off = 0.0;
        for (size_t p = 0; p < un; p++)
            for (size_t q = p + 1; q < un; q++) off += 2.0 * a[p * un + q] * a[p * un + q];
        if (off <= 1e-30 * norm2) {
            for (size_t i = 0; i < un; i++) evals[i] = a[i * un + i];
            return sweep;
        }
        if (sweep == 100) break;
        for (size_t p = 0; p < un; p++) {
            for (size_t q = p + 1; q < un; q++) {
                double apq = a[p * un + q];
                if (apq == 0.0) continue;
                /* The rotation J (J_pp = J_qq = c, J_pq = s, J_qp = -s) for which
                 * (J^T A J)_pq = 0 (Golub and Van Loan, sym.schur2), the smaller angle. */
                double tau = (a[q * un + q] - a[p * un + p]) / (2.0 * apq);
                double t = (tau >= 0.0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1.0 + tau * tau));
                double c = 1.0 / sqrt(1.0 + t * t), s = t * c;
                for (size_t k = 0; k < un; k++) { /* A <- A J */
                    double akp = a[k * un + p], akq = a[k * un + q];
                    a[k * un + p] = c * akp - s * akq;
                    a[k * un + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < un; k++) { /* A <- J^T A */
                    double apk = a[p * un + k], aqk = a[q * un + k];
                    a[p * un + k] = c * apk - s * aqk;
                    a[q * un + k] = s * apk + c * aqk;
                }
                a[p * un + q] = a[q * un + p] = 0.0; /* zero by construction; drop the rounding */
                if (evecs)
                    for (size_t k = 0; k < un; k++) { /* V <- V J */
                        double vkp = evecs[k * un + p], vkq = evecs[k * un + q];
                        evecs[k * un + p] = c * vkp - s * vkq;
                        evecs[k * un + q] = s * vkp + c * vkq;
                    }
            }
        }
    }
    return -1;
}

int metrics_sqrtm_psd(const double *a, int n, double *out)
{
    size_t un = (size_t)n;
    double *w = malloc(un * un * sizeof *w), *v = malloc(un * un * sizeof *v), *ev = malloc(un * sizeof *ev);
    int r = -1;
    if (!w || !v || !ev) goto done;
    memcpy(w, a, un * un * sizeof *w);
    if (metrics_sym_eigen(w, n, ev, v) < 0) goto done;
    for (size_t k = 0; k < un; k++) ev[k] = ev[k] > 0.0 ? sqrt(ev[k]) : 0.0;
    /* out = V diag(sqrt(ev)) V^T */
    for (size_t i = 0; i < un; i++)
        for (size_t j = i; j < un; j++) {
            double sum = 0.0;
            for (size_t k = 0; k < un; k++) sum += v[i * un + k] * ev[k] * v[j * un + k];
            out[i * un + j] = out[j * un + i] = sum;
        }
    r = 0;
done:
    free(w);
    free(v);
    free(ev);
    return r;
}

/* c = a b for n x n matrices. */
static void matmul(double *c, const double *a, const double *b, size_t n)
{
    memset(c, 0, n * n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (size_t j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
        }
}

double metrics_trace_sqrt_product(const double *s1, const double *s2, int n)
{
    size_t un = (size_t)n;
    double *r = malloc(un * un * sizeof *r), *t = malloc(un * un * sizeof *t), *m = malloc(un * un * sizeof *m),
           *ev = malloc(un * sizeof *ev);
    double tr = NAN;
    if (!r || !t || !m || !ev || metrics_sqrtm_psd(s1, n, r) != 0) goto done;
    matmul(t, s2, r, un); /* S2 R */
    matmul(m, r, t, un);  /* R S2 R */
    for (size_t i = 0; i < un; i++) /* symmetric in exact arithmetic; make it so */
        for (size_t j = i + 1; j < un; j++) m[i * un + j] = m[j * un + i] = 0.5 * (m[i * un + j] + m[j * un + i]);
    if (metrics_sym_eigen(m, n, ev, NULL) < 0) goto done;
    tr = 0.0;
    for (size_t k = 0; k < un; k++) tr += ev[k] > 0.0 ? sqrt(ev[k]) : 0.0;
done:
    free(r);
    free(t);
    free(m);
    free(ev);
    return tr;
}

double metrics_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int d)
{
    size_t ud = (size_t)d;
    double dm = 0.0, tr = 0.0;
    for (size_t i = 0; i < ud; i++) {
        dm += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
        tr += s1[i * ud + i] + s2[i * ud + i];
    }
    double cross = metrics_trace_sqrt_product(s1, s2, d);
    return dm + tr - 2.0 * cross; /* NAN propagates */
}

void metrics_softmax(const float *logits, int n, int k, double *probs)
{
    for (size_t i = 0; i < (size_t)n; i++) {
        const float *z = logits + i * (size_t)k;
        double *p = probs + i * (size_t)k, mx = z[0], sum = 0.0;
        for (int c = 1; c < k; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < k; c++) sum += p[c] = exp((double)z[c] - mx);
        for (int c = 0; c < k; c++) p[c] /= sum;
    }
}

int metrics_argmax(const double *x, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (x[c] > x[best]) best = c;
    return best;
}

double metrics_inception_score(const double *probs, int n, int k)
{
    double *py = calloc((size_t)k, sizeof *py);
    if (!py || n < 1) {
        free(py);
        return NAN;
    }
    for (size_t i = 0; i < (size_t)n; i++)
        for (int c = 0; c < k; c++) py[c] += probs[i * (size_t)k + c];
    for (int c = 0; c < k; c++) py[c] /= n;
    double kl = 0.0;
    for (size_t i = 0; i < (size_t)n; i++)
        for (int c = 0; c < k; c++) {
            double p = probs[i * (size_t)k + c];
            if (p > 0.0) kl += p * (log(p) - log(py[c])); /* p > 0 implies py[c] > 0 */
        }
    free(py);
    return exp(kl / n);
}

int metrics_is_covered(int count, int n, double min_frac) { return count >= min_frac * n * (1.0 - 1e-9); }

int metrics_class_coverage(const double *probs, int n, int k, double min_frac, int *hist)
{
    memset(hist, 0, (size_t)k * sizeof *hist);
    for (size_t i = 0; i < (size_t)n; i++) hist[metrics_argmax(probs + i * (size_t)k, k)]++;
    int covered = 0;
    for (int c = 0; c < k; c++) covered += metrics_is_covered(hist[c], n, min_frac);
    return covered;
}
