/* test_doc_dcgan: docs/tutorial.md's convolutional GAN (extracted by tests/docs.cmake into
 * doc_dcgan.c, included after the tutorial's load_mnist and CNN, doc_mnist.c and
 * doc_cnn.c, for gather_images). With ch = 128 both networks carry the names and shapes
 * of dcgan.py's models written as nn.Sequential; with ch = 16
 * they train for 100 iterations of 32 images of the repository's MNIST on one thread
 * (Adam lr 0.0002, betas 0.5 / 0.999, dcgan.py's initialisation): every loss stays
 * finite, G's images stay [32 x 1 x 28 x 28] in [-1, 1], and D, run on a fresh real
 * batch and a fresh generated one, gives the real images a higher mean output.
 * Usage: test_doc_dcgan <data folder>. */
#include "doc_mnist.c"
#include "doc_cnn.c"
#include <math.h>
#include <stdbool.h>
#include "doc_dcgan.c"

#define BATCH 32
#define ITERS 100

static int fail(const char *what)
{
    fprintf(stderr, "test_doc_dcgan: %s (%s)\n", what, tnn_last_error());
    return 1;
}

typedef struct want_entry {
    const char *name;
    int ndim, shape[4];
} want_entry;

static int names_match(tnn_module *m, const want_entry *want, int n)
{
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    int ok = l && l->count == n;
    for (int i = 0; ok && i < n; i++) {
        const tnn_named_tensor *t = &l->items[i];
        ok = strcmp(t->name, want[i].name) == 0 && t->ndim == want[i].ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want[i].shape[d];
        if (!ok) fprintf(stderr, "entry %d: %s, expected %s\n", i, t->name, want[i].name);
    }
    tnn_tensor_list_free(l);
    return ok;
}

/* nn.Sequential(Linear(100, 6272), Unflatten(1, (128, 7, 7)), BatchNorm2d(128),
 * Upsample(scale_factor=2), Conv2d(128, 128, 3, 1, 1), BatchNorm2d(128, 0.8),
 * LeakyReLU(0.2), Upsample(scale_factor=2), Conv2d(128, 64, 3, 1, 1),
 * BatchNorm2d(64, 0.8), LeakyReLU(0.2), Conv2d(64, 1, 3, 1, 1), Tanh()).state_dict() */
#define BN(i, c) {#i ".weight", 1, {c}}, {#i ".bias", 1, {c}}, {#i ".running_mean", 1, {c}}, \
    {#i ".running_var", 1, {c}}, {#i ".num_batches_tracked", 0, {0}}
static const want_entry want_g[] = {
    {"0.weight", 2, {6272, 100}}, {"0.bias", 1, {6272}}, BN(2, 128),
    {"4.weight", 4, {128, 128, 3, 3}}, {"4.bias", 1, {128}}, BN(5, 128),
    {"8.weight", 4, {64, 128, 3, 3}}, {"8.bias", 1, {64}}, BN(9, 64),
    {"11.weight", 4, {1, 64, 3, 3}}, {"11.bias", 1, {1}},
};
/* dcgan.py's discriminator (its model and adv_layer) as one nn.Sequential: blocks of
 * Conv2d, LeakyReLU, Dropout2d [, BatchNorm2d], then Flatten, Linear, Sigmoid. */
static const want_entry want_d[] = {
    {"0.weight", 4, {16, 1, 3, 3}}, {"0.bias", 1, {16}},
    {"3.weight", 4, {32, 16, 3, 3}}, {"3.bias", 1, {32}}, BN(6, 32),
    {"7.weight", 4, {64, 32, 3, 3}}, {"7.bias", 1, {64}}, BN(10, 64),
    {"11.weight", 4, {128, 64, 3, 3}}, {"11.bias", 1, {128}}, BN(14, 128),
    {"16.weight", 2, {1, 512}}, {"16.bias", 1, {1}},
};

static float mean_of(const tnn_tensor *t)
{
    double s = 0.0;
    for (size_t i = 0; i < t->size; i++) s += t->data[i];
    return (float)(s / (double)t->size);
}

int main(int argc, char **argv)
{
    if (argc != 2) return fail("usage: test_doc_dcgan <data folder>");
    tnn_set_num_threads(1);
    tnn_rng rng;
    tnn_rng_seed(&rng, 11);

    tnn_module *G = make_generator(128, &rng), *D = make_discriminator(&rng);
    if (!G || !D) return fail("building the networks with 128 channels failed");
    if (!names_match(G, want_g, (int)(sizeof want_g / sizeof want_g[0])))
        return fail("the generator's state_dict is not dcgan.py's");
    if (!names_match(D, want_d, (int)(sizeof want_d / sizeof want_d[0])))
        return fail("the discriminator's state_dict is not dcgan.py's");
    tnn_module_free(G);
    tnn_module_free(D);

    tnn_tensor *x;
    int *labels;
    if (load_mnist(argv[1], "train", &x, &labels) != TNN_OK) return fail("load_mnist train failed");
    G = make_generator(16, &rng);
    D = make_discriminator(&rng);
    if (!G || !D) return fail("building the networks with 16 channels failed");
    init_normal(G, &rng);
    init_normal(D, &rng);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.0002;
    ap.beta1 = 0.5;
    ap.beta2 = 0.999;
    tnn_optimizer *opt_g = tnn_adam_new(G, ap), *opt_d = tnn_adam_new(D, ap);
    tnn_tensor *real = tnn_tensor_new4(BATCH, 1, 28, 28), *z = tnn_tensor_new2(BATCH, 100);
    tnn_tensor *ones = tnn_tensor_new2(BATCH, 1), *zeros = tnn_tensor_new2(BATCH, 1), *dp = tnn_tensor_new2(BATCH, 1);
    if (!opt_g || !opt_d || !real || !z || !ones || !zeros || !dp) return fail("allocation failed");
    tnn_tensor_fill(ones, 1.0f);
    tnn_tensor_fill(zeros, 0.0f);
    float g_loss = 0.0f, d_loss = 0.0f;
    for (int it = 0; it < ITERS; it++) {
        if (gather_images(x, labels, NULL, it * BATCH, BATCH, real, NULL) != TNN_OK) return fail("gather_images failed");
        if (dcgan_step(G, D, opt_g, opt_d, real, z, ones, zeros, dp, &rng, &g_loss, &d_loss) != TNN_OK)
            return fail("dcgan_step failed");
        if (!isfinite(g_loss) || !isfinite(d_loss)) return fail("a loss is not finite");
        if (it % 20 == 0 || it == ITERS - 1) printf("iteration %3d  d_loss %.4f  g_loss %.4f\n", it, d_loss, g_loss);
    }
    /* D on a batch it has not seen and on a fresh generated one */
    const tnn_tensor *gen, *p;
    if (gather_images(x, labels, NULL, ITERS * BATCH, BATCH, real, NULL) != TNN_OK ||
        tnn_module_forward(D, real, &p) != TNN_OK)
        return fail("D on real images failed");
    const float on_real = mean_of(p);
    tnn_tensor_normal(z, &rng, 0.0f, 1.0f);
    if (tnn_module_forward(G, z, &gen) != TNN_OK) return fail("G failed");
    if (gen->ndim != 4 || gen->shape[0] != BATCH || gen->shape[1] != 1 || gen->shape[2] != 28 || gen->shape[3] != 28)
        return fail("G's output is not [32 x 1 x 28 x 28]");
    for (size_t i = 0; i < gen->size; i++)
        if (!(gen->data[i] >= -1.0f && gen->data[i] <= 1.0f)) return fail("G's output leaves [-1, 1]");
    if (tnn_module_forward(D, gen, &p) != TNN_OK) return fail("D on generated images failed");
    const float on_fake = mean_of(p);
    printf("D's mean output: %.3f on real images, %.3f on generated ones\n", on_real, on_fake);
    if (!(on_real > on_fake + 0.1f)) return fail("D does not tell real images from generated ones");
    tnn_optimizer_free(opt_g);
    tnn_optimizer_free(opt_d);
    tnn_module_free(G);
    tnn_module_free(D);
    tnn_tensor_free(real);
    tnn_tensor_free(z);
    tnn_tensor_free(ones);
    tnn_tensor_free(zeros);
    tnn_tensor_free(dp);
    tnn_tensor_free(x);
    free(labels);
    return 0;
}
