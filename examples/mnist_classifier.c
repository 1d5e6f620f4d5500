/*
 * mnist_classifier - train the MNIST classifier that mnist_score uses to judge generated
 * digits: an MLP (784-256-128-10, ReLU, Dropout) with CrossEntropyLoss and Adam on the
 * 60,000 training images, tested on the 10,000 t10k images after every epoch.
 *
 *   build/examples/mnist_classifier                       # 20 epochs, under a minute on 2 cores
 *   build/examples/mnist_classifier --epochs 1 --out /tmp/clf.safetensors
 *
 * The weights go to --out as safetensors (nn.Sequential's state_dict names), with
 * __metadata__ describing the network (classifier_model.h), so mnist_score can rebuild
 * it, plus the training settings and the final test accuracy.
 *
 * Exit status: 0 trained and saved; 1 an error (a data file that is not valid IDX, out
 * of memory, a failed write); 2 bad flags, a data file that is missing or cannot be
 * read, or data that does not fit the network; 3 training diverged (NaN/Inf).
 */
#define _POSIX_C_SOURCE 200809L
#include <tinynn/tinynn.h>

#include <errno.h>
#include <limits.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "classifier_model.h"
#include "flags.h"
#include "gan_checkpoint.h" /* gan_module_find_nonfinite */

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

static const char *const PROG = "mnist_classifier";

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One split of MNIST: images [n x h x w] and their labels, checked against each other
 * and against the network's input and classes. */
typedef struct split {
    tnn_idx images, labels;
    int n;
    char images_path[PATH_MAX], labels_path[PATH_MAX];
} split;

/* Returns 0; 2 for a file that is missing or cannot be read, or data that does not fit
 * the network; 1 for a file that is not valid IDX, or out of memory. The message is
 * printed. */
static int load_split(split *s, const char *dir, const char *from, const char *prefix, const clf_config *c)
{
    char iname[64], lname[64];
    snprintf(iname, sizeof iname, "%s-images-idx3-ubyte", prefix);
    snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte", prefix);
    char err[PATH_MAX + 128];
    if (flags_find_data_file(dir, from, iname, s->images_path, sizeof s->images_path, err, sizeof err) ||
        flags_find_data_file(dir, from, lname, s->labels_path, sizeof s->labels_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 2;
    }
    if (tnn_idx_load(s->images_path, &s->images) || tnn_idx_load(s->labels_path, &s->labels)) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return 1;
    }
    int h, w, ch;
    if (tnn_idx_image_shape(&s->images, s->images_path, &s->n, &h, &w, &ch)) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return 2;
    }
    if (h != c->img_h || w != c->img_w || ch != 1) {
        fprintf(stderr, "%s: %s: images are %d x %d x %d, the classifier takes %d x %d x 1\n", PROG, s->images_path, h,
                w, ch, c->img_h, c->img_w);
        return 2;
    }
    if (s->labels.ndim != 1 || s->labels.dims[0] != s->n) {
        fprintf(stderr, "%s: %s: expected %d labels (one per image of %s), found %d-dimensional data of %zu bytes\n",
                PROG, s->labels_path, s->n, s->images_path, s->labels.ndim, s->labels.count);
        return 2;
    }
    for (int i = 0; i < s->n; i++)
        if (s->labels.data[i] >= clf_classes(c)) {
            fprintf(stderr, "%s: %s: label %d of image %d is not in [0, %d)\n", PROG, s->labels_path,
                    s->labels.data[i], i, clf_classes(c));
            return 2;
        }
    return 0;
}

static void free_split(split *s)
{
    tnn_idx_free(&s->images);
    tnn_idx_free(&s->labels);
}

/* Number of rows of logits [b x k] whose argmax is labels[order[first + i]]. */
static int count_correct(const tnn_tensor *logits, const uint8_t *labels, const int *order, int first)
{
    int b = logits->shape[0], k = logits->shape[1], correct = 0;
    for (int i = 0; i < b; i++) {
        const float *z = logits->data + (size_t)i * (size_t)k;
        int best = 0;
        for (int c = 1; c < k; c++)
            if (z[c] > z[best]) best = c;
        correct += best == labels[order ? order[first + i] : first + i];
    }
    return correct;
}

/* Test accuracy in eval mode (batches of 1000); the network is left in eval mode. */
static tnn_status evaluate(tnn_module *net, const clf_config *c, const split *s, tnn_tensor *x, int *correct)
{
    tnn_module_eval(net);
    *correct = 0;
    for (int first = 0; first < s->n; first += 1000) {
        int b = s->n - first < 1000 ? s->n - first : 1000;
        const tnn_tensor *logits;
        tnn_status st = tnn_idx_images_to_tensor(&s->images, NULL, first, b, c->img_h, c->img_w, x);
        if (!st) st = clf_forward(net, c, x, NULL, &logits);
        if (st) return st;
        *correct += count_correct(logits, s->labels.data, NULL, first);
    }
    return TNN_OK;
}

int main(int argc, char **argv)
{
    int epochs = 20, batch_size = 64, n_cpu = 2;
    flags_program_start();
    double lr = 1e-3, gamma = 0.85, dropout = 0.1;
    uint64_t seed = 0;
    const char *data = NULL, *out = "mnist_classifier.safetensors", *hidden = "256,128";
    const flag_spec specs[] = {
        FLAG_INT("epochs", &epochs, 1, 100000, "a positive integer", "passes over the training set"),
        FLAG_INT("batch_size", &batch_size, 1, 1 << 20, "a positive integer", "images per step"),
        FLAG_DOUBLE("lr", &lr, FLT_TRUE_MIN, FLT_MAX, FLAG_CLOSED, "a positive number in float, 1.4e-45 to 3.4e38",
                    "Adam's learning rate"),
        FLAG_DOUBLE("gamma", &gamma, 0.0, 1.0, FLAG_LO_OPEN, "a number in (0, 1]",
                    "learning-rate decay: after each epoch lr *= gamma (StepLR, step_size 1)"),
        FLAG_DOUBLE("dropout", &dropout, 0.0, 1.0, FLAG_HI_OPEN, "a number in [0, 1)",
                    "dropout after each hidden ReLU"),
        FLAG_STRING("hidden", &hidden, "LIST", "hidden layer widths; the last one is the feature layer"),
        FLAG_U64("seed", &seed, "a non-negative integer", "random seed (weights, data order, dropout)"),
        FLAG_INT("n_cpu", &n_cpu, 1, 4096, "a positive integer", "compute threads (capped at the cores present)"),
        FLAG_STRING("data", &data, "DIR",
                    "folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (default: $TINYNN_DATA, else the "
                    "bundled data/mnist)"),
        FLAG_STRING("out", &out, "FILE", "where the weights go (safetensors)"),
    };
    const char *summary =
        "Train an MNIST classifier (an MLP with ReLU and Dropout, CrossEntropyLoss, Adam) for\n"
        "mnist_score: one line per epoch with the training loss and the test accuracy, then\n"
        "the weights and the network's description in --out.";
    int r = flags_parse(PROG, summary, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r == FLAGS_HELP) return 0;
    if (r) return 2;

    clf_config cfg = clf_config_defaults();
    cfg.dropout = dropout;
    char err[256];
    if (clf_parse_hidden(&cfg, hidden, err, sizeof err)) {
        fprintf(stderr, "%s: --hidden: %s\n", PROG, err);
        return 2;
    }
    const char *data_from, *data_dir = flags_data_dir(data, TNN_DEFAULT_DATA_DIR, &data_from);
    if (flags_check_output(PROG, "out", out)) return 2;
    /* writing the weights over a data file would lose it (the next run finds no images) */
    static const char *const parts[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                         "t10k-labels-idx1-ubyte"};
    for (int k = 0; k < 8; k++) {
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s%s", data_dir, parts[k / 2], k % 2 ? ".gz" : "") < (int)sizeof p &&
            flags_same_file(out, p)) {
            fprintf(stderr, "%s: --out %s is the data file %s; give another output file\n", PROG, out, p);
            return 2;
        }
    }

    int status = 1;
    split train = {0}, test = {0};
    tnn_module *net = NULL;
    tnn_optimizer *opt = NULL;
    tnn_tensor *x = NULL, *dlogits = NULL;
    int *order = NULL, *targets = NULL;
    tnn_metadata *md = NULL;
    if ((status = load_split(&train, data_dir, data_from, "train", &cfg)) ||
        (status = load_split(&test, data_dir, data_from, "t10k", &cfg)))
        goto done;
    status = 1;

    /* Refused before the network is reserved (overcommit would let malloc grant it and
     * the OOM killer end the run): the parameters, their gradients and Adam's moments
     * (16 bytes a value) and a batch's activations and gradients (at least 8 bytes per
     * layer width per image) must fit in the machine's memory. */
    double values = 0.0, widths = 0.0, mem = flags_memory_bytes();
    for (int k = 0; k < cfg.n_sizes; k++) {
        widths += cfg.sizes[k];
        if (k) values += ((double)cfg.sizes[k - 1] + 1.0) * (double)cfg.sizes[k];
    }
    int maxb = batch_size < train.n ? batch_size : train.n;
    double need = 16.0 * values + 8.0 * (double)maxb * widths;
    if (mem > 0.0 && need > mem) {
        fprintf(stderr, "%s: --hidden %s with --batch_size %d: the network's parameters, gradients and Adam's moments "
                "and a batch's activations take at least %.1f GB, more than this machine's %.1f GB of memory\n", PROG,
                hidden, batch_size, need / 1e9, mem / 1e9);
        status = 2;
        goto done;
    }
    tnn_set_num_threads(n_cpu);
    tnn_rng rng;
    tnn_rng_seed(&rng, seed);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = lr;
    if (!(net = clf_new(&cfg, &rng)) || !(opt = tnn_adam_new(net, ap)) || !(x = tnn_tensor_new2(maxb, cfg.sizes[0])) ||
        !(dlogits = tnn_tensor_new2(maxb, clf_classes(&cfg))) || !(md = clf_config_to_metadata(&cfg))) {
        fprintf(stderr, "%s: setting up the network failed: %s\n", PROG, tnn_last_error());
        goto done;
    }
    if (!(order = malloc((size_t)train.n * sizeof *order)) || !(targets = malloc((size_t)maxb * sizeof *targets))) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        goto done;
    }
    for (int i = 0; i < train.n; i++) order[i] = i;
    char arch[512];
    snprintf(arch, sizeof arch, "%s", tnn_metadata_get(md, "architecture"));
    printf("%s: %s, %zu parameters; %d training images (%s), %d test images\n", PROG, arch,
           tnn_module_num_params(net), train.n, train.images_path, test.n);
    fflush(stdout);

    double t_start = now_seconds();
    int correct = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double t0 = now_seconds(), loss_sum = 0.0;
        if (epoch > 0 && gamma != 1.0) { /* StepLR(step_size=1, gamma) */
            ap.lr *= gamma;
            if (tnn_optimizer_set_lr(opt, ap.lr) != TNN_OK) {
                fprintf(stderr, "%s: epoch %d: changing the learning rate failed: %s\n", PROG, epoch + 1,
                        tnn_last_error());
                goto done;
            }
        }
        int train_correct = 0;
        tnn_module_train(net, true);
        tnn_rng_shuffle(&rng, order, train.n); /* a new order every epoch */
        for (int first = 0; first < train.n; first += batch_size) {
            int b = train.n - first < batch_size ? train.n - first : batch_size;
            const tnn_tensor *logits;
            float loss;
            for (int i = 0; i < b; i++) targets[i] = train.labels.data[order[first + i]];
            tnn_optimizer_zero_grad(opt);
            if (tnn_idx_images_to_tensor(&train.images, order, first, b, cfg.img_h, cfg.img_w, x) ||
                tnn_module_forward(net, x, &logits) || tnn_cross_entropy_loss(logits, targets, &loss, dlogits) ||
                tnn_module_backward(net, dlogits, NULL) || tnn_optimizer_step(opt)) {
                fprintf(stderr, "%s: epoch %d, images %d..%d: %s\n", PROG, epoch + 1, first, first + b - 1,
                        tnn_last_error());
                goto done;
            }
            if (!isfinite(loss)) { /* NaN or inf weights would be saved and scored as garbage */
                fprintf(stderr, "%s: training diverged at epoch %d, images %d..%d: the loss is %s (try a smaller --lr); "
                        "%s was not written\n", PROG, epoch + 1, first, first + b - 1, isnan(loss) ? "NaN" : "infinite",
                        out);
                status = 3;
                goto done;
            }
            loss_sum += (double)loss * b;
            train_correct += count_correct(logits, train.labels.data, order, first);
        }
        double t_train = now_seconds() - t0;
        if (evaluate(net, &cfg, &test, x, &correct)) {
            fprintf(stderr, "%s: testing: %s\n", PROG, tnn_last_error());
            goto done;
        }
        printf("epoch %d/%d: lr %.3g, loss %.4f, train accuracy %.2f%% (dropout on), test accuracy %.2f%%, %.1f s\n",
               epoch + 1, epochs, ap.lr, loss_sum / train.n, 100.0 * train_correct / train.n, 100.0 * correct / test.n,
               t_train);
        fflush(stdout);
    }
    double t_total = now_seconds() - t_start;
    int threads = tnn_get_num_threads();
    printf("test accuracy %.2f%% (%d/%d) after %d epoch%s, %.1f s of training and testing, %d thread%s\n",
           100.0 * correct / test.n, correct, test.n, epochs, epochs == 1 ? "" : "s", t_total, threads,
           threads == 1 ? "" : "s");

    /* The last step may have made a weight NaN or infinite after the last loss was
     * seen: such weights are not written either. */
    char bad[256];
    size_t at;
    if (gan_module_find_nonfinite(net, "", bad, sizeof bad, &at, NULL)) {
        fprintf(stderr, "%s: training diverged in the last step: %s[%zu] is not finite (try a smaller --lr); %s was "
                "not written\n", PROG, bad, at, out);
        status = 3;
        goto done;
    }

    /* What was trained and how well, next to the architecture. */
    char buf[64];
    snprintf(buf, sizeof buf, "%.4f", (double)correct / test.n);
    tnn_status st = tnn_metadata_set(md, "test_accuracy", buf);
    snprintf(buf, sizeof buf, "%d", epochs);
    if (!st) st = tnn_metadata_set(md, "epochs", buf);
    snprintf(buf, sizeof buf, "%d", batch_size);
    if (!st) st = tnn_metadata_set(md, "batch_size", buf);
    flags_format_double(buf, sizeof buf, lr);
    if (!st) st = tnn_metadata_set(md, "lr", buf);
    flags_format_double(buf, sizeof buf, gamma);
    if (!st) st = tnn_metadata_set(md, "gamma", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    if (!st) st = tnn_metadata_set(md, "seed", buf);
    if (!st) {
        flags_writing(true);
        st = tnn_module_save(net, "", out, md);
        flags_writing(false);
    }
    if (st) {
        fprintf(stderr, "%s: --out %s: %s\n", PROG, out, tnn_last_error());
        goto done;
    }
    printf("%s: weights written\n", out);
    status = 0;

done:
    tnn_metadata_free(md);
    free(order);
    free(targets);
    tnn_tensor_free(x);
    tnn_tensor_free(dlogits);
    tnn_optimizer_free(opt);
    tnn_module_free(net);
    free_split(&train);
    free_split(&test);
    return status;
}
