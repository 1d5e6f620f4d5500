/* test_doc_weighted: docs/tutorial.md's "Weighted classes and clipped gradients", its
 * two pieces extracted by tests/docs.cmake (the settings into doc_weighted.c, the loop's
 * lines into doc_weighted_loop.c), run where the tutorial puts them: in the spiral
 * program's full-batch training loop. Every epoch:
 *   - the loss the piece computed must be the weighted, label-smoothed cross-entropy the
 *     text promises (class 1 counting twice, smoothing 0.05), computed here apart in
 *     double precision from the same logits;
 *   - the gradients left for the step must have been clipped to the 2-norm 0.1: their
 *     norm, recomputed here, is min(norm, 0.1) of the norm the piece reported, and some
 *     epochs must need clipping (else the check would show nothing).
 * At the end the model must still classify the spirals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tinynn/tinynn.h>

#define N 600
#define K 3
#define EPOCHS 400
#define MAX_NORM 0.1 /* the tutorial's */

#define TRY(call)                                                       \
    do {                                                                \
        if ((call) != TNN_OK) {                                         \
            fprintf(stderr, "%s: %s\n", #call, tnn_last_error());       \
            return 1;                                                   \
        }                                                               \
    } while (0)

static tnn_module *make_model(tnn_rng *rng)
{
    tnn_module *m = tnn_sequential_new();
    tnn_status st = tnn_sequential_add(m, tnn_linear_new(2, 64, true, rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, 64, true, rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, K, true, rng));
    if (st != TNN_OK) {
        tnn_module_free(m);
        return NULL;
    }
    return m;
}

/* torch's cross_entropy(logits, labels, weight=cw, label_smoothing=eps), mean reduction:
 * ((1 - eps) * sum_i cw[y_i] * -logp_i[y_i] + eps / K * sum_i sum_k cw[k] * -logp_i[k])
 * / sum_i cw[y_i]. */
static double expected_loss(const tnn_tensor *logits, const int *labels, const float *cw, double eps)
{
    double nll = 0.0, smooth = 0.0, wsum = 0.0;
    for (int i = 0; i < N; i++) {
        const float *z = logits->data + (size_t)i * K;
        double mx = z[0], s = 0.0;
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < K; k++) s += exp(z[k] - mx);
        double lse = mx + log(s);
        nll += cw[labels[i]] * (lse - z[labels[i]]);
        for (int k = 0; k < K; k++) smooth += cw[k] * (lse - z[k]);
        wsum += cw[labels[i]];
    }
    return ((1.0 - eps) * nll + eps / K * smooth) / wsum;
}

typedef struct sq_ctx {
    double sum;
} sq_ctx;

static tnn_status add_grad_squares(void *ctx, const tnn_named_tensor *t)
{
    sq_ctx *c = ctx;
    if (t->is_param && t->grad && !t->no_grad)
        for (size_t i = 0; i < t->count; i++) c->sum += (double)t->grad[i] * t->grad[i];
    return TNN_OK;
}

/* The 2-norm of the gradients, or NaN if the walk fails. */
static double grad_norm(tnn_module *m)
{
    sq_ctx c = {0.0};
    return tnn_module_visit(m, NULL, add_grad_squares, &c) == TNN_OK ? sqrt(c.sum) : NAN;
}

static int run(void)
{
    tnn_rng rng;
    tnn_rng_seed(&rng, 2024);
    tnn_tensor *x = tnn_tensor_new2(N, 2);
    static int labels[N];
    if (!x) return 1;
    for (int i = 0; i < N; i++) {
        int k = i % K;
        float r = (float)(i / K) / (N / K);
        float a = 4.0f * r + 2.0944f * k + 0.2f * tnn_rng_normal(&rng);
        *tnn_at2(x, i, 0) = r * cosf(a);
        *tnn_at2(x, i, 1) = r * sinf(a);
        labels[i] = k;
    }
    tnn_module *model = make_model(&rng);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.01;
    tnn_optimizer *opt = model ? tnn_adam_new(model, ap) : NULL;
    tnn_tensor *dlogits = tnn_tensor_new2(N, K);
    if (!model || !opt || !dlogits) {
        fprintf(stderr, "%s\n", tnn_last_error());
        return 1;
    }

#include "doc_weighted.c"

    const tnn_tensor *logits = NULL;
    float loss = 0.0f;
    int clipped = 0, failures = 0;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        tnn_optimizer_zero_grad(opt);
        TRY(tnn_module_forward(model, x, &logits));
        {
#include "doc_weighted_loop.c"
            /* The step has run; the gradients it read are still there. */
            double want = expected_loss(logits, labels, w, 0.05);
            double after = grad_norm(model), cap = norm > MAX_NORM ? MAX_NORM : (double)norm;
            if (!(fabs(loss - want) <= 1e-5 * fabs(want) + 1e-6) || !(fabs(after - cap) <= 1e-4 * cap + 1e-6)) {
                if (failures++ < 5)
                    fprintf(stderr, "epoch %d: loss %.7g, expected %.7g; gradient norm %.7g before clipping, "
                            "%.7g after, expected %.7g\n", epoch, loss, want, norm, after, cap);
            }
            clipped += norm > MAX_NORM;
        }
    }
    tnn_module_eval(model);
    TRY(tnn_module_forward(model, x, &logits));
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (*tnn_at2(logits, i, k) > *tnn_at2(logits, i, best)) best = k;
        ok += best == labels[i];
    }
    printf("final loss %.4f, %d of %d epochs clipped, training accuracy %.1f%%\n", loss, clipped, EPOCHS,
           100.0 * ok / N);
    tnn_tensor_free(weight);
    tnn_optimizer_free(opt);
    tnn_module_free(model);
    tnn_tensor_free(x);
    tnn_tensor_free(dlogits);
    if (failures) fprintf(stderr, "%d epochs differ from the tutorial's promise\n", failures);
    if (clipped == 0) fprintf(stderr, "no epoch's gradient was clipped: the test shows nothing about clipping\n");
    if (ok < 0.9 * N) fprintf(stderr, "the model classifies only %d of %d points\n", ok, N);
    return failures || clipped == 0 || ok < 0.9 * N;
}

int main(void)
{
    return run();
}
