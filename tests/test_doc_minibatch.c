/* test_doc_minibatch: docs/tutorial.md's train_epoch (extracted by tests/docs.cmake into
 * doc_minibatch.c, included here) trains the tutorial's spirals in shuffled batches of
 * 64, the last of 24: the mean loss falls and the model classifies the points; every
 * epoch visits each point once (order stays a permutation). Then the tutorial's loop
 * that calls it (doc_minibatch_loop.c, included inside main as spiral.c's step 3) trains
 * a fresh model as well. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "doc_minibatch.c"

#define N 600
#define K 3

/* The tutorial's model, with Adam at lr 0.01; NULL on failure. */
static tnn_module *make_model(tnn_rng *rng, tnn_optimizer **opt)
{
    tnn_module *m = tnn_sequential_new();
    tnn_status st = tnn_sequential_add(m, tnn_linear_new(2, 64, true, rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, 64, true, rng));
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_relu_new());
    if (st == TNN_OK) st = tnn_sequential_add(m, tnn_linear_new(64, K, true, rng));
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.01;
    *opt = st == TNN_OK ? tnn_adam_new(m, ap) : NULL;
    if (!*opt) {
        tnn_module_free(m);
        return NULL;
    }
    return m;
}

/* Points of x the model classifies correctly (eval mode), or -1. */
static int correct(tnn_module *m, const tnn_tensor *x, const int *labels)
{
    const tnn_tensor *logits;
    tnn_module_eval(m);
    if (tnn_module_forward(m, x, &logits) != TNN_OK) return -1;
    int ok = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (*tnn_at2(logits, i, k) > *tnn_at2(logits, i, best)) best = k;
        ok += best == labels[i];
    }
    return ok;
}

/* spiral.c's step 3 as the tutorial writes it with train_epoch (its own copy of the
 * generator). 0, or 1 with the message printed. */
static int tutorial_loop(tnn_module *model, tnn_optimizer *opt, const tnn_tensor *x, const int *labels, tnn_rng rng)
{
    float loss = 0.0f;
#include "doc_minibatch_loop.c"
    return 0;
}

int main(void)
{
    tnn_set_num_threads(1);
    tnn_rng rng;
    tnn_rng_seed(&rng, 2024);
    tnn_tensor *x = tnn_tensor_new2(N, 2);
    int labels[N], order[N], yb[64];
    for (int i = 0; i < N && x; i++) { /* the tutorial's spirals */
        int k = i % K;
        float r = (float)(i / K) / (N / K);
        float a = 4.0f * r + 2.0944f * k + 0.2f * tnn_rng_normal(&rng);
        *tnn_at2(x, i, 0) = r * cosf(a);
        *tnn_at2(x, i, 1) = r * sinf(a);
        labels[i] = k;
        order[i] = i;
    }
    tnn_optimizer *opt = NULL;
    tnn_module *m = x ? make_model(&rng, &opt) : NULL;
    tnn_tensor *xb = tnn_tensor_new2(64, 2), *dlb = tnn_tensor_new2(64, K);
    if (!m || !xb || !dlb) {
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
    int ok = correct(m, x, labels);
    printf("train_epoch: mean loss epoch 1 %.4f, epoch 60 %.4f; accuracy %.1f%%\n", first, mean, 100.0 * ok / N);
    int pass = mean < 0.5f * first && mean < 0.1f && ok > 0.95 * N;
    tnn_tensor_free(xb);
    tnn_tensor_free(dlb);
    tnn_optimizer_free(opt);
    tnn_module_free(m);

    /* the tutorial's loop around it, on a fresh model */
    if (!(m = make_model(&rng, &opt))) {
        fprintf(stderr, "setup: %s\n", tnn_last_error());
        return 1;
    }
    if (tutorial_loop(m, opt, x, labels, rng)) return 1;
    ok = correct(m, x, labels);
    printf("the tutorial's loop: accuracy %.1f%%\n", 100.0 * ok / N);
    pass = pass && ok > 0.95 * N;
    tnn_optimizer_free(opt);
    tnn_module_free(m);
    tnn_tensor_free(x);
    return pass ? 0 : 1;
}
