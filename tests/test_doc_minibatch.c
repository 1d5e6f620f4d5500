/* test_doc_minibatch: docs/tutorial.md's train_epoch (extracted by tests/docs.cmake into
 * doc_minibatch.c, included here) trains the tutorial's spirals in shuffled batches of
 * 64, the last of 24: the mean loss falls and the model classifies the points; every
 * epoch visits each point once (order stays a permutation). Then the tutorial's loop
 * that calls it (doc_minibatch_loop.c, included inside main as spiral.c's step 3) trains
 * a fresh model as well. Last, the tutorial's checkpoints (doc_checkpoint.c, and the loop
 * doc_checkpoint_loop.c): a run stopped after 3 epochs and resumed by that loop in a
 * fresh model, optimizer and generator ends with the weights of the loop run through
 * without a stop, bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc_minibatch.c"
#include "doc_checkpoint.c"

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

/* The tutorial's resumable loop (60 epochs, spiral.ckpt in the current folder). 0, or 1
 * with the message printed. */
static int checkpoint_loop(tnn_module *model, tnn_optimizer *opt, const tnn_tensor *x, const int *labels, int *order,
                           tnn_tensor *xb, int *yb, tnn_tensor *dlb, tnn_rng rng)
{
    float loss = 0.0f;
#include "doc_checkpoint_loop.c"
    (void)loss;
    return 0;
}

/* The tutorial's epochs under its StepLR (step_size 20, gamma 0.5). 0 if they train and
 * leave the optimizer's rate halved three times (epochs 20, 40, 60), or 1 with the
 * message printed. */
static int schedule_loop(tnn_module *model, tnn_optimizer *opt, const tnn_tensor *x, const int *labels, int *order,
                         tnn_tensor *xb, int *yb, tnn_tensor *dlb, tnn_rng rng)
{
    float loss = 0.0f;
    double lr0 = tnn_optimizer_get_lr(opt);
#include "doc_lr_schedule_loop.c"
    (void)loss;
    if (tnn_optimizer_get_lr(opt) != lr0 * 0.125) {
        fprintf(stderr, "the tutorial's schedule leaves the rate at %g, expected %g\n", tnn_optimizer_get_lr(opt),
                lr0 * 0.125);
        return 1;
    }
    return 0;
}

/* Every parameter and buffer of a and b, bit for bit. */
static bool same_state(tnn_module *a, tnn_module *b)
{
    tnn_tensor_list *la = tnn_module_state_dict(a, ""), *lb = tnn_module_state_dict(b, "");
    bool same = la && lb && la->count == lb->count;
    for (int i = 0; same && i < la->count; i++)
        same = la->items[i].count == lb->items[i].count &&
               !memcmp(la->items[i].data, lb->items[i].data, la->items[i].count * tnn_dtype_size(la->items[i].dtype));
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);
    return same;
}

/* The summary table tutorial.md shows for this model, as tnn_module_summary prints it. 0
 * if they agree. (tnn_doc_code writes the block with one more newline.) */
static int summary_as_shown(tnn_module *m)
{
    char want[2048] = "", got[2048] = "";
    FILE *f = fopen(DOC_SUMMARY, "r"), *t = tmpfile();
    size_t nw = f ? fread(want, 1, sizeof want - 1, f) : 0, ng = 0;
    if (f) fclose(f);
    if (t && tnn_module_summary(m, t) == TNN_OK) {
        rewind(t);
        ng = fread(got, 1, sizeof got - 1, t);
    }
    if (t) fclose(t);
    want[nw] = got[ng] = '\0';
    if (nw && want[nw - 1] == '\n' && nw >= 2 && want[nw - 2] == '\n') want[nw - 1] = '\0';
    int bad = !ng || strcmp(want, got) != 0;
    if (bad) fprintf(stderr, "tutorial.md shows the summary\n%s\nbut tnn_module_summary prints\n%s\n", want, got);
    else printf("tutorial.md's summary table is what tnn_module_summary prints\n");
    return bad;
}

/* A checkpoint of model m whose loop state is w (written as given), then loaded into a
 * fresh model: refused, with `says` in the message, the model, generator and order left
 * as they were. 0 if so. */
static int refused(tnn_module *m, tnn_optimizer *o, const int64_t *w, const char *says)
{
    int64_t copy[N + 5];
    memcpy(copy, w, sizeof copy);
    tnn_tensor_list *l = o ? checkpoint_list(m, o, copy, N) : tnn_tensor_list_new();
    bool saved = l && (o || (tnn_tensor_list_add_module(l, m, "model.") == TNN_OK && /* without the optimizer's */
                             add_loop_state(l, copy, N) == TNN_OK)) &&               /* tensors: for the strict */
                 tnn_safetensors_save("bad.ckpt", l, NULL) == TNN_OK;                 /* load to refuse */
    tnn_tensor_list_free(l);
    if (!saved) return 1;
    tnn_rng r;
    tnn_optimizer *o2 = NULL, *o3 = NULL;
    tnn_rng_seed(&r, 5);
    tnn_module *m2 = make_model(&r, &o2);
    tnn_rng_seed(&r, 5);
    tnn_module *m3 = make_model(&r, &o3); /* m2's twin, never loaded into */
    int order[N], got = -1;
    for (int i = 0; i < N; i++) order[i] = i;
    tnn_rng keep = r;
    if (m2 && m3) got = load_checkpoint("bad.ckpt", m2, o2, &r, order, N);
    int bad = got != -1 || !strstr(tnn_last_error(), says) || !m2 || !same_state(m2, m3) ||
              memcmp(&r, &keep, sizeof r) != 0;
    for (int i = 0; i < N; i++) bad |= order[i] != i;
    printf("checkpoint with %s: %s (%s)\n", says, bad ? "NOT REFUSED CLEANLY" : "refused, nothing changed",
           tnn_last_error());
    tnn_optimizer_free(o2);
    tnn_optimizer_free(o3);
    tnn_module_free(m2);
    tnn_module_free(m3);
    remove("bad.ckpt");
    return bad;
}

/* The refusals the tutorial promises: an order entry out of range, a repeated one, a
 * generator no generator can be, a negative epoch; and, by the strict load, a
 * checkpoint without the optimizer's tensors. */
static int refusals(tnn_module *m, tnn_optimizer *o, const tnn_tensor *x, const int *labels)
{
    (void)x;
    (void)labels;
    int64_t w[N + 5];
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_rng_get_state(&r, w);
    w[4] = 3;
    for (int i = 0; i < N; i++) w[5 + i] = i;
    int bad = 0;
    w[5 + 7] = 100000000;
    bad |= refused(m, o, w, "order[7] = 100000000");
    w[5 + 7] = 8;
    bad |= refused(m, o, w, "order[8] = 8; the order is not a permutation");
    w[5 + 7] = 7;
    w[1] = 2;
    bad |= refused(m, o, w, "increment) is even");
    tnn_rng_get_state(&r, w);
    w[4] = -1;
    bad |= refused(m, o, w, "checkpoint: epoch -1");
    w[4] = 3;
    bad |= refused(m, NULL, w, "missing 'optimizer.");
    return bad;
}

/* The checkpoint section: 60 epochs through, against 3 epochs, a checkpoint, and the
 * loop resuming in new objects (its generator seeded otherwise: the checkpoint sets
 * it). 0 when the weights agree. */
static int resume_matches(const tnn_tensor *x, const int *labels)
{
    int order[N], yb[64], fail = 1;
    tnn_tensor *xb = tnn_tensor_new2(64, 2), *dlb = tnn_tensor_new2(64, K);
    tnn_rng rng;
    tnn_rng_seed(&rng, 99);
    tnn_optimizer *oa = NULL, *ob = NULL;
    tnn_module *a = make_model(&rng, &oa);
    tnn_rng_seed(&rng, 99);
    tnn_module *b = make_model(&rng, &ob);
    remove("spiral.ckpt");
    for (int i = 0; i < N; i++) order[i] = i;
    tnn_rng run = rng; /* the generator both runs start from */
    if (!xb || !dlb || !a || !b || checkpoint_loop(a, oa, x, labels, order, xb, yb, dlb, run)) goto out;
    remove("spiral.ckpt");
    for (int i = 0; i < N; i++) order[i] = i;
    for (int epoch = 0; epoch < 3; epoch++)
        if (train_epoch(b, ob, x, labels, order, 64, xb, yb, dlb, &run) < 0.0f ||
            save_checkpoint("spiral.ckpt", b, ob, &run, order, N, epoch + 1) != TNN_OK)
            goto out;
    tnn_optimizer_free(ob);
    tnn_module_free(b);
    tnn_rng other;
    tnn_rng_seed(&other, 12345);
    if (!(b = make_model(&other, &ob))) goto out;
    for (int i = 0; i < N; i++) order[i] = N - 1 - i; /* the checkpoint sets it */
    tnn_rng_seed(&other, 777);
    if (checkpoint_loop(b, ob, x, labels, order, xb, yb, dlb, other)) goto out;
    fail = !same_state(a, b);
    printf("checkpoint: stopped after 3 epochs and resumed, the weights after 60 %s those of a run without a stop\n",
           fail ? "DIFFER from" : "equal");
    if (!fail) fail = refusals(a, oa, x, labels);
    if (!fail) fail = summary_as_shown(a);
out:
    if (fail && tnn_last_error()[0]) fprintf(stderr, "checkpoint: %s\n", tnn_last_error());
    remove("spiral.ckpt");
    tnn_optimizer_free(oa);
    tnn_optimizer_free(ob);
    tnn_module_free(a);
    tnn_module_free(b);
    tnn_tensor_free(xb);
    tnn_tensor_free(dlb);
    return fail;
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

    /* the same epochs under the tutorial's learning-rate schedule */
    if (!(m = make_model(&rng, &opt)) || !(xb = tnn_tensor_new2(64, 2)) || !(dlb = tnn_tensor_new2(64, K))) {
        fprintf(stderr, "setup: %s\n", tnn_last_error());
        return 1;
    }
    for (int i = 0; i < N; i++) order[i] = i;
    if (schedule_loop(m, opt, x, labels, order, xb, yb, dlb, rng)) return 1;
    ok = correct(m, x, labels);
    printf("the tutorial's loop under StepLR: accuracy %.1f%%\n", 100.0 * ok / N);
    pass = pass && ok > 0.95 * N;
    tnn_tensor_free(xb);
    tnn_tensor_free(dlb);
    tnn_optimizer_free(opt);
    tnn_module_free(m);
    pass = pass && !resume_matches(x, labels);
    tnn_tensor_free(x);
    return pass ? 0 : 1;
}
