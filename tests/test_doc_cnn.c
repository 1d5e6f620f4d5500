/* test_doc_cnn: docs/tutorial.md's convolutional network (extracted by tests/docs.cmake
 * into doc_cnn.c, included here after the tutorial's load_mnist, doc_mnist.c) on the
 * repository's copy of MNIST: its state_dict carries nn.Sequential's names and shapes;
 * three epochs on the first 12,000 training images (batch 64, Adam at lr 0.001, one
 * thread) lower the loss, and the model then classifies at least 90% of the first 2,000
 * test images. Usage: test_doc_cnn <data folder>. */
#include "doc_mnist.c"
#include "doc_cnn.c"

#define TRAIN 12000
#define TEST 2000
#define BATCH 64

static int fail(const char *what)
{
    fprintf(stderr, "test_doc_cnn: %s (%s)\n", what, tnn_last_error());
    return 1;
}

/* The parameters nn.Sequential(Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
 * Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(784, 10)) has. */
static int names_match(tnn_module *m)
{
    static const struct {
        const char *name;
        int ndim, shape[4];
    } want[] = {{"0.weight", 4, {8, 1, 3, 3}},  {"0.bias", 1, {8}},  {"3.weight", 4, {16, 8, 3, 3}},
                {"3.bias", 1, {16}},            {"7.weight", 2, {10, 784}}, {"7.bias", 1, {10}}};
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    int ok = l && l->count == (int)(sizeof want / sizeof want[0]);
    for (int i = 0; ok && i < l->count; i++) {
        const tnn_named_tensor *t = &l->items[i];
        ok = strcmp(t->name, want[i].name) == 0 && t->ndim == want[i].ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want[i].shape[d];
    }
    tnn_tensor_list_free(l);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) return fail("usage: test_doc_cnn <data folder>");
    tnn_set_num_threads(1);
    tnn_tensor *x, *tx;
    int *labels, *tlabels;
    if (load_mnist(argv[1], "train", &x, &labels) != TNN_OK) return fail("load_mnist train failed");
    if (load_mnist(argv[1], "t10k", &tx, &tlabels) != TNN_OK) return fail("load_mnist t10k failed");
    tnn_rng rng;
    tnn_rng_seed(&rng, 7);
    tnn_module *m = make_cnn(&rng);
    if (!m) return fail("make_cnn failed");
    if (!names_match(m)) return fail("the state_dict is not nn.Sequential's");
    tnn_adam_params ap = tnn_adam_defaults(); /* lr 0.001 */
    tnn_optimizer *opt = tnn_adam_new(m, ap);
    tnn_tensor *xb = tnn_tensor_new4(BATCH, 1, 28, 28), *dlb = tnn_tensor_new2(BATCH, 10);
    static int order[TRAIN], yb[BATCH];
    if (!opt || !xb || !dlb) return fail("allocation failed");
    for (int i = 0; i < TRAIN; i++) order[i] = i;
    float first = 0.0f, loss = 0.0f;
    for (int epoch = 0; epoch < 3; epoch++) {
        loss = train_cnn_epoch(m, opt, x, labels, TRAIN, order, BATCH, xb, yb, dlb, &rng);
        if (loss < 0.0f) return fail("train_cnn_epoch failed");
        if (epoch == 0) first = loss;
        printf("epoch %d  loss %.4f\n", epoch, loss);
    }
    float acc = cnn_accuracy(m, tx, tlabels, TEST, BATCH, xb);
    if (acc < 0.0f) return fail("cnn_accuracy failed");
    printf("test accuracy %.1f%% on %d images\n", 100.0f * acc, TEST);
    if (!(loss < first)) return fail("the loss did not fall");
    if (acc < 0.9f) return fail("the model classifies fewer than 90% of the test images");
    tnn_optimizer_free(opt);
    tnn_module_free(m);
    tnn_tensor_free(xb);
    tnn_tensor_free(dlb);
    tnn_tensor_free(x);
    tnn_tensor_free(tx);
    free(labels);
    free(tlabels);
    return 0;
}
