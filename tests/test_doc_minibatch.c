/* test_doc_minibatch: docs/tutorial.md's train_epoch (extracted by tests/docs.cmake into
 * doc_minibatch.c, included here) trains the tutorial's spirals in shuffled batches of
 * 64, the last of 24: the mean loss falls and the model classifies the points; every
 * epoch visits each point once (order stays a permutation). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "doc_minibatch.c"

#define N 600
#define K 3

int main(void)
{
    tnn_set_num_threads(1);
    tnn_rng rng;
    tnn_rng_seed(&rng, 2024);
    tnn_tensor *x = tnn_tensor_new2(N, 2);
    int labels[N], order[N], yb[64];
    for (int i = 0; i < N; i++) { /* the tutorial's spirals */
        int k = i % K;
        float r = (float)(i / K) / (N / K);
        float a = 4.0f * r + 2.0944f * k + 0.2f * tnn_rng_normal(&rng);
        *tnn_at2(x, i, 0) = r * cosf(a);
        *tnn_at2(x, i, 1) = r * sinf(a);
        labels[i] = k;
        order[i] = i;
    }
    tnn_module *m = tnn_sequential_new();
    tnn_status st = tnn_sequential_add(m, tnn_linear_new(2, 64, true, &rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, 64, true, &rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, K, true, &rng));
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.01;
    tnn_optimizer *opt = st == TNN_OK ? tnn_adam_new(m, ap) : NULL;
    tnn_tensor *xb = tnn_tensor_new2(64, 2), *dlb = tnn_tensor_new2(64, K);
    if (!x || !opt || !xb || !dlb) {
        fprintf(stderr, "setup: %s\n", tnn_last_error());
        return 1;
    }
    float first = 0.0f, mean = 0.0f;
    for (int epoch = 0; epoch < 60; epoch++) {
        mean = train_epoch(m, opt, x, labels, order, 64, xb, yb, dlb, &rng);
        if (mean < 0.0f) {
            fprintf(stderr, "epoch %d: %s\n", epoch, tnn_last_error());
            return 1;
        }
        if (epoch == 0) first = mean;
        char seen[N] = {0};
        for (int i = 0; i < N; i++) {
            if (order[i] < 0 || order[i] >= N || seen[order[i]]++) {
                fprintf(stderr, "epoch %d: order is not a permutation of 0..%d\n", epoch, N - 1);
                return 1;
            }
        }
    }
    tnn_module_eval(m);
    const tnn_tensor *logits;
    if (tnn_module_forward(m, x, &logits) != TNN_OK) {
        fprintf(stderr, "forward: %s\n", tnn_last_error());
        return 1;
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (*tnn_at2(logits, i, k) > *tnn_at2(logits, i, best)) best = k;
        ok += best == labels[i];
    }
    printf("mean loss: epoch 1 %.4f, epoch 60 %.4f; accuracy %.1f%%\n", first, mean, 100.0 * ok / N);
    int pass = mean < 0.5f * first && mean < 0.1f && ok > 0.95 * N;
    tnn_tensor_free(xb);
    tnn_tensor_free(dlb);
    tnn_optimizer_free(opt);
    tnn_module_free(m);
    tnn_tensor_free(x);
    return pass ? 0 : 1;
}
