/*
 * mnist_gan - the seed's vanilla GAN (PyTorch-GAN, implementations/gan/gan.py) on
 * MNIST, in C on libtinynn's public API.
 *
 *   build/examples/mnist_gan --n_epochs 1 --out /tmp/gan
 *
 * Same models, losses, optimizers, flags and output as the seed: the per-batch line
 * "[Epoch e/E] [Batch i/B] [D loss: x] [G loss: y]" on stdout, a 5x5 grid of the
 * current batch's generated images every --sample_interval batches
 * (<out>/images/<batches_done>.png), and at the end the weights of both networks
 * (<out>/generator.safetensors, <out>/discriminator.safetensors) under the seed's
 * state_dict names. docs/mnist_gan.md describes every flag and output.
 */
#define _POSIX_C_SOURCE 200809L
#include <tinynn/tinynn.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"
#include "gan_models.h"

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

static const char *const PROG = "mnist_gan";

typedef struct options {
    int n_epochs, batch_size;
    double lr, b1, b2;
    int n_cpu, latent_dim, img_size, channels, sample_interval;
    const char *data, *out;
    uint64_t seed;
    double bn_eps, bn_momentum;
    int log_interval;
} options;

/* ---------------- setup checks (before any work) ---------------- */

/* mkdir -p. Returns 0 or an errno value. */
static int make_dirs(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return ENOMEM;
    memcpy(p, path, n + 1);
    int err = 0;
    for (size_t i = 1; i <= n && !err; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0) {
            if (errno != EEXIST) err = errno;
            else if (stat(p, &sb) != 0) err = errno;
            else if (!S_ISDIR(sb.st_mode)) err = ENOTDIR;
        }
        p[i] = c;
    }
    free(p);
    return err;
}

/* Create dir if needed and prove that files can be created in it. */
static int check_writable_dir(const char *dir)
{
    int err = make_dirs(dir);
    if (err) return err;
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.mnist_gan_probe.%ld", dir, (long)getpid()) >= (int)sizeof probe) return ENAMETOOLONG;
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return errno;
    close(fd);
    unlink(probe);
    return 0;
}

/* The training images: <dir>/train-images-idx3-ubyte.gz, else the uncompressed file.
 * Returns 0, an errno value about dir itself, or -1 if dir holds neither file. */
static int find_train_images(const char *dir, char *path, size_t len)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) return errno;
    if (!S_ISDIR(sb.st_mode)) return ENOTDIR;
    const char *names[2] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"};
    for (int i = 0; i < 2; i++) {
        if (snprintf(path, len, "%s/%s", dir, names[i]) >= (int)len) return ENAMETOOLONG;
        if (access(path, F_OK) == 0) return 0;
    }
    return -1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------- main ---------------- */

int main(int argc, char **argv)
{
    gan_config gc = gan_config_defaults();
    options o = {
        .n_epochs = 100, .batch_size = 128, .lr = 0.0002, .b1 = 0.5, .b2 = 0.999, .n_cpu = 8,
        .latent_dim = gc.latent_dim, .img_size = gc.img_size, .channels = gc.channels, .sample_interval = 400,
        .data = NULL, .out = ".", .seed = 0, .bn_eps = gc.bn_eps, .bn_momentum = gc.bn_momentum, .log_interval = 1,
    };
    const flag_spec specs[] = {
        FLAG_INT("n_epochs", &o.n_epochs, 1, INT_MAX, "a positive integer", "number of epochs of training"),
        FLAG_INT("batch_size", &o.batch_size, 1, 1 << 20, "a positive integer", "size of the batches"),
        FLAG_DOUBLE("lr", &o.lr, 0.0, HUGE_VAL, FLAG_LO_OPEN, "a positive number", "adam: learning rate"),
        FLAG_DOUBLE("b1", &o.b1, 0.0, 1.0, FLAG_HI_OPEN, "a number in [0, 1)",
                    "adam: decay of first order momentum of gradient"),
        FLAG_DOUBLE("b2", &o.b2, 0.0, 1.0, FLAG_HI_OPEN, "a number in [0, 1)",
                    "adam: decay of second order momentum of gradient"),
        FLAG_INT("n_cpu", &o.n_cpu, 1, 4096, "a positive integer",
                 "compute threads (the seed: data-loading workers); capped at the cores present"),
        FLAG_INT("latent_dim", &o.latent_dim, 1, GAN_MAX_LATENT, "an integer in [1, 65536]",
                 "dimensionality of the latent space"),
        FLAG_INT("img_size", &o.img_size, 1, GAN_MAX_IMG_SIZE, "an integer in [1, 1024]",
                 "size of each image dimension (MNIST is resized bilinearly, as the seed does)"),
        FLAG_INT("channels", &o.channels, 1, GAN_MAX_CHANNELS, "an integer in [1, 4]",
                 "number of image channels (must match the data)"),
        FLAG_INT("sample_interval", &o.sample_interval, 1, INT_MAX, "a positive integer",
                 "interval between image samples"),
        FLAG_STRING("data", &o.data, "DIR",
                    "folder with train-images-idx3-ubyte[.gz] (default: $TINYNN_DATA, else the bundled data/mnist)"),
        FLAG_STRING("out", &o.out, "DIR", "output folder for images/ and the weights"),
        FLAG_U64("seed", &o.seed, "a non-negative integer", "random seed (weights, data order, noise)"),
        FLAG_DOUBLE("bn_eps", &o.bn_eps, 0.0, HUGE_VAL, FLAG_CLOSED, "a non-negative number",
                    "generator BatchNorm1d eps (the seed's 0.8; PyTorch's default is 1e-5)"),
        FLAG_DOUBLE("bn_momentum", &o.bn_momentum, 0.0, 1.0, FLAG_CLOSED, "a number in [0, 1]",
                    "generator BatchNorm1d momentum"),
        FLAG_INT("log_interval", &o.log_interval, 1, INT_MAX, "a positive integer",
                 "print the loss line every this many batches"),
    };
    const char *summary =
        "Train the vanilla GAN of PyTorch-GAN's gan.py on MNIST (or any IDX image set).\n"
        "Prints one line per batch, writes <out>/images/<batches_done>.png every\n"
        "--sample_interval batches and <out>/{generator,discriminator}.safetensors at the end.";
    int r = flags_parse(PROG, summary, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r == FLAGS_HELP) return 0;
    if (r) return 2;

    /* ---- everything that can be checked is checked before training ---- */
    const char *data_dir = o.data, *data_from = "--data";
    if (!data_dir) {
        const char *env = getenv("TINYNN_DATA");
        if (env && *env) {
            data_dir = env;
            data_from = "TINYNN_DATA";
        } else {
            data_dir = TNN_DEFAULT_DATA_DIR;
            data_from = "the bundled data folder";
        }
    }
    char images_path[PATH_MAX];
    int err = find_train_images(data_dir, images_path, sizeof images_path);
    if (err) {
        if (err < 0)
            fprintf(stderr, "%s: %s %s: holds neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte\n", PROG,
                    data_from, data_dir);
        else
            fprintf(stderr, "%s: %s %s: %s\n", PROG, data_from, data_dir, strerror(err));
        return 2;
    }
    char images_dir[PATH_MAX];
    if (snprintf(images_dir, sizeof images_dir, "%s/images", o.out) >= (int)sizeof images_dir) {
        fprintf(stderr, "%s: --out %s: path too long\n", PROG, o.out);
        return 2;
    }
    if ((err = check_writable_dir(o.out)) || (err = check_writable_dir(images_dir))) {
        fprintf(stderr, "%s: --out %s: cannot write there: %s\n", PROG, o.out, strerror(err));
        return 2;
    }

    tnn_idx idx;
    if (tnn_idx_load(images_path, &idx) != TNN_OK) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return 1;
    }
    int n_images, h, w, c;
    if (tnn_idx_image_shape(&idx, images_path, &n_images, &h, &w, &c) != TNN_OK) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        tnn_idx_free(&idx);
        return 1;
    }
    if (c != o.channels) {
        fprintf(stderr, "%s: --channels %d: the images in %s have %d channel%s\n", PROG, o.channels, images_path, c,
                c == 1 ? "" : "s");
        tnn_idx_free(&idx);
        return 2;
    }
    int batches = (int)((n_images + (long long)o.batch_size - 1) / o.batch_size);
    if (o.batch_size == 1) {
        fprintf(stderr, "%s: --batch_size 1: BatchNorm1d needs at least 2 images per batch in training\n", PROG);
        tnn_idx_free(&idx);
        return 2;
    }
    if (n_images % o.batch_size == 1) {
        fprintf(stderr, "%s: --batch_size %d: the last batch of %d images would hold 1 image, and BatchNorm1d needs 2 "
                "in training (PyTorch fails the same way); choose another batch size\n", PROG, o.batch_size, n_images);
        tnn_idx_free(&idx);
        return 2;
    }

    /* ---- models, optimizers, buffers: everything allocated before the loop ---- */
    tnn_set_num_threads(o.n_cpu); /* capped at the cores present */
    gc.latent_dim = o.latent_dim;
    gc.img_size = o.img_size;
    gc.channels = o.channels;
    gc.bn_eps = o.bn_eps;
    gc.bn_momentum = o.bn_momentum;
    tnn_adam_params adam = tnn_adam_defaults();
    adam.lr = o.lr;
    adam.beta1 = o.b1;
    adam.beta2 = o.b2;
    tnn_rng rng;
    tnn_rng_seed(&rng, o.seed);
    int max_batch = o.batch_size < n_images ? o.batch_size : n_images;
    gan_trainer *tr = gan_trainer_new(&gc, adam, adam, max_batch, &rng);
    tnn_tensor *real = tnn_tensor_new2(max_batch, gan_img_features(&gc));
    int *order = malloc((size_t)n_images * sizeof *order);
    tnn_metadata *md = gan_config_to_metadata(&gc);
    int status = 1;
    if (!tr || !real || !order || !md) {
        fprintf(stderr, "%s: setting up the networks failed: %s\n", PROG, tnn_last_error());
        goto done;
    }
    for (int i = 0; i < n_images; i++) order[i] = i;

    /* The seed prints its options first (argparse's Namespace, sorted by name). */
    {
        char lr[32], b1[32], b2[32], eps[32], mom[32];
        flags_format_double(lr, sizeof lr, o.lr);
        flags_format_double(b1, sizeof b1, o.b1);
        flags_format_double(b2, sizeof b2, o.b2);
        flags_format_double(eps, sizeof eps, o.bn_eps);
        flags_format_double(mom, sizeof mom, o.bn_momentum);
        printf("Namespace(b1=%s, b2=%s, batch_size=%d, bn_eps=%s, bn_momentum=%s, channels=%d, data='%s', img_size=%d, "
               "latent_dim=%d, log_interval=%d, lr=%s, n_cpu=%d, n_epochs=%d, out='%s', sample_interval=%d, seed=%llu)\n",
               b1, b2, o.batch_size, eps, mom, o.channels, data_dir, o.img_size, o.latent_dim, o.log_interval, lr,
               o.n_cpu, o.n_epochs, o.out, o.sample_interval, (unsigned long long)o.seed);
        fflush(stdout);
    }

    /* ---- training ---- */
    for (int epoch = 0; epoch < o.n_epochs; epoch++) {
        double t0 = now_seconds();
        tnn_rng_shuffle(&rng, order, n_images); /* DataLoader(shuffle=True): a new order every epoch */
        for (int i = 0; i < batches; i++) {
            int first = i * o.batch_size;
            int b = n_images - first < o.batch_size ? n_images - first : o.batch_size; /* last batch kept */
            if (tnn_idx_images_to_tensor(&idx, order, first, b, o.img_size, o.img_size, real) != TNN_OK ||
                gan_trainer_step(tr, real, &rng) != TNN_OK) {
                fprintf(stderr, "%s: [Epoch %d/%d] [Batch %d/%d]: %s\n", PROG, epoch, o.n_epochs, i, batches,
                        tnn_last_error());
                goto done;
            }
            if (i % o.log_interval == 0)
                printf("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]\n", epoch, o.n_epochs, i, batches,
                       (double)tr->d_loss, (double)tr->g_loss);
            long long batches_done = (long long)epoch * batches + i;
            if (batches_done % o.sample_interval == 0) {
                char png[PATH_MAX];
                /* save_image(gen_imgs.data[:25], ..., nrow=5, normalize=True) */
                if (snprintf(png, sizeof png, "%s/%lld.png", images_dir, batches_done) >= (int)sizeof png ||
                    tnn_save_image_grid(png, tr->gen_imgs, b < 25 ? b : 25, o.channels, o.img_size, o.img_size, 5, 2,
                                        true) != TNN_OK) {
                    fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
                    goto done;
                }
            }
        }
        fflush(stdout);
        double dt = now_seconds() - t0; /* timing goes to stderr: stdout stays the seed's */
        fprintf(stderr, "%s: epoch %d/%d took %.1f s (%.0f images/s, %d threads)\n", PROG, epoch, o.n_epochs, dt,
                n_images / dt, tnn_get_num_threads());
    }

    /* ---- the trained weights, under the seed's state_dict names ---- */
    const char *names[2] = {"generator", "discriminator"};
    tnn_module *nets[2] = {tr->generator, tr->discriminator};
    for (int k = 0; k < 2; k++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s.safetensors", o.out, names[k]) >= (int)sizeof path ||
            tnn_module_save(nets[k], GAN_PREFIX, path, md) != TNN_OK) {
            fprintf(stderr, "%s: saving the %s: %s\n", PROG, names[k], tnn_last_error());
            goto done;
        }
    }
    status = 0;

done:
    fflush(stdout);
    tnn_metadata_free(md);
    free(order);
    tnn_tensor_free(real);
    gan_trainer_free(tr);
    tnn_idx_free(&idx);
    return status;
}
