/*
 * mnist_wgan - PyTorch-GAN's Wasserstein GAN (implementations/wgan/wgan.py) on MNIST,
 * in C on libtinynn's public API. A smaller companion to mnist_gan, meant to be read
 * from top to bottom.
 *
 *   build/examples/mnist_wgan --n_epochs 1 --out /tmp/wgan
 *
 * What changes from the vanilla GAN (mnist_gan, gan.py):
 *   - the discriminator is a critic: no Sigmoid at the end, its output is a score, not
 *     a probability, and the losses are plain means of scores instead of BCE:
 *         loss_D = -mean(D(real)) + mean(D(G(z)))      loss_G = -mean(D(G(z)))
 *   - after every critic step each critic parameter is clipped to [-clip, clip], a crude
 *     way to keep the critic Lipschitz, which the Wasserstein distance needs;
 *   - the critic trains on every batch, the generator on every n_critic-th only;
 *   - both networks use RMSprop instead of Adam (momentum-based optimizers were found
 *     unstable with weight clipping in the WGAN paper).
 *
 * Output, as wgan.py's: the flags (argparse's Namespace), then on every generator step
 * "[Epoch e/E] [Batch b/B] [D loss: x] [G loss: y]"; a 5x5 grid of generated images
 * <out>/<batches_done>.png every --sample_interval batches. Beyond wgan.py, at the end:
 * <out>/generator.safetensors (PyTorch's state_dict names, "model.0.weight", ...;
 * mnist_gan_sample --weights reads it) and <out>/critic.safetensors.
 * docs/mnist_wgan.md lists the flags.
 *
 * Exit status: 0 trained and saved; 1 an error (damaged data, memory, a failed write);
 * 2 bad flags, or data or an output folder that cannot be used.
 */
#define _POSIX_C_SOURCE 200809L
#include <tinynn/tinynn.h>

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flags.h"
#include "gan_models.h"

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

static const char *const PROG = "mnist_wgan";
enum { EXIT_ERROR = 1, EXIT_USAGE = 2 };

/* wgan.py's flags, plus --data, --out, --seed and --max_batches. */
typedef struct options {
    int n_epochs, batch_size;
    double lr;
    int n_cpu, latent_dim, img_size, channels, n_critic;
    double clip_value;
    int sample_interval, max_batches;
    const char *data, *out;
    uint64_t seed;
} options;

/* Everything the training loop touches. */
typedef struct run {
    options o;
    gan_config gc;
    tnn_idx idx;               /* the training images, as bytes */
    int n_images, batches;     /* images in the file; batches per epoch (last one partial) */
    int *order;                /* the image order, reshuffled every epoch */
    tnn_rng rng;               /* one stream: weights, then data order and noise */
    tnn_module *generator, *critic;
    tnn_optimizer *opt_g, *opt_d;
    tnn_tensor *real, *z, *dy; /* the batch, the noise, dL/d(score) */
    /* The first 25 images of the last generator step (wgan.py's gen_imgs, which its
     * sampling reads on any batch; G's own output is overwritten by the next critic
     * step's forward) and how many there are. */
    tnn_tensor *sample;
    int sample_n;
    char out_dir[PATH_MAX];
} run;

/* ---------------- the networks ---------------- */

/* The critic: 784 -> Linear 512 -> LeakyReLU(0.2) -> Linear 256 -> LeakyReLU(0.2) ->
 * Linear 1. gan.py's discriminator without its Sigmoid, so its state_dict names are
 * the same: model.0, model.2, model.4. Each Linear starts as torch.nn.Linear does
 * (weight and bias uniform in +-1/sqrt(in_features)). NULL with tnn_last_error(). */
static tnn_module *critic_new(int in_features, tnn_rng *rng)
{
    tnn_module *d = tnn_sequential_new();
    if (!d) return NULL;
    /* tnn_sequential_add takes a NULL child as the failure of its constructor */
    tnn_status st = tnn_sequential_add(d, tnn_linear_new(in_features, 512, true, rng));
    if (!st) st = tnn_sequential_add(d, tnn_leaky_relu_new(0.2f));
    if (!st) st = tnn_sequential_add(d, tnn_linear_new(512, 256, true, rng));
    if (!st) st = tnn_sequential_add(d, tnn_leaky_relu_new(0.2f));
    if (!st) st = tnn_sequential_add(d, tnn_linear_new(256, 1, true, rng));
    if (st) {
        tnn_module_free(d);
        return NULL;
    }
    return d;
}

/* wgan.py's `p.data.clamp_(-clip, clip)` over every critic parameter: those the
 * critic's optimizer holds (opt->params, collected once when it was made, so nothing is
 * allocated per batch). The comparisons leave a NaN as it is, as clamp_ does. */
static void clip_parameters(const tnn_optimizer *opt, float clip)
{
    const tnn_tensor_list *params = opt->params;
    for (int i = 0; i < params->count; i++) {
        float *p = params->items[i].data;
        for (size_t k = 0; k < params->items[i].count; k++) {
            if (p[k] < -clip) p[k] = -clip;
            else if (p[k] > clip) p[k] = clip;
        }
    }
}

/* ---------------- one batch ---------------- */

/* The mean of a [b x 1] score tensor, in double. */
static double mean_score(const tnn_tensor *s)
{
    double sum = 0.0;
    for (size_t k = 0; k < s->size; k++) sum += s->data[k];
    return sum / (double)s->size;
}

/* Run m on x, then backward with every dL/dscore = g (the derivative of +-mean is
 * +-1/b per score), parameter gradients accumulating; the mean score goes to *mean and
 * dL/dx to *dx when dx is not NULL. */
static tnn_status score_and_backward(run *r, tnn_module *m, const tnn_tensor *x, float g, double *mean,
                                     const tnn_tensor **dx)
{
    const tnn_tensor *score;
    tnn_status st = tnn_module_forward(m, x, &score);
    if (st) return st;
    *mean = mean_score(score);
    if ((st = tnn_tensor_resize(r->dy, score->ndim, score->shape))) return st;
    tnn_tensor_fill(r->dy, g);
    return tnn_module_backward(m, r->dy, dx);
}

/* The critic step of wgan.py's iteration, on r->real (b images):
 *   z ~ N(0, 1); fake = G(z).detach()
 *   loss_D = -mean(D(real)) + mean(D(fake)); backward; RMSprop step; clip D's weights.
 * The critic keeps the activations of one forward only, so each half runs forward and
 * backward in turn; the gradients add up as the one backward of their sum would. The
 * fake batch is only D's input: G's backward is never called, so no gradient reaches G
 * (the detach). G runs in training mode: its BatchNorms use the batch's statistics and
 * update their running ones, as in wgan.py. */
static tnn_status critic_step(run *r, int b, float *loss_d)
{
    tnn_tensor_normal(r->z, &r->rng, 0.0f, 1.0f);
    const tnn_tensor *fake;
    tnn_status st = tnn_module_forward(r->generator, r->z, &fake);
    if (st) return st;
    double real_mean, fake_mean;
    tnn_optimizer_discard_grad(r->opt_d); /* optimizer_D.zero_grad(): the next backward writes them */
    st = score_and_backward(r, r->critic, r->real, -1.0f / (float)b, &real_mean, NULL);
    if (!st) st = score_and_backward(r, r->critic, fake, 1.0f / (float)b, &fake_mean, NULL);
    if (!st) st = tnn_optimizer_step(r->opt_d);
    if (!st) clip_parameters(r->opt_d, (float)r->o.clip_value);
    *loss_d = (float)(-real_mean + fake_mean);
    return st;
}

/* The generator step, every n_critic batches, with the same z as the critic step:
 *   gen_imgs = G(z); loss_G = -mean(D(gen_imgs)); backward into G; RMSprop step on G.
 * The critic is frozen meanwhile: dL/dgen_imgs flows through it, its own parameter
 * gradients (which wgan.py computes and the next critic step clears) are not computed.
 * *gen is G's output, valid until G's next forward. */
static tnn_status generator_step(run *r, float *loss_g, const tnn_tensor **gen)
{
    tnn_optimizer_discard_grad(r->opt_g);
    tnn_status st = tnn_module_forward(r->generator, r->z, gen);
    if (st) return st;
    const tnn_tensor *dgen;
    double mean;
    tnn_module_set_requires_grad(r->critic, false);
    st = score_and_backward(r, r->critic, *gen, -1.0f / (float)(*gen)->shape[0], &mean, &dgen);
    tnn_module_set_requires_grad(r->critic, true);
    if (!st) st = tnn_module_backward(r->generator, dgen, NULL);
    if (!st) st = tnn_optimizer_step(r->opt_g);
    *loss_g = (float)-mean;
    return st;
}

/* ---------------- outputs ---------------- */

/* save_image(gen_imgs.data[:25], "images/%d.png" % batches_done, nrow=5, normalize=True):
 * the last generator step's first 25 images (fewer in a smaller batch), min-max scaled
 * to [0, 255]. */
static int save_sample(const run *r, int64_t batches_done)
{
    const options *o = &r->o;
    char png[PATH_MAX + 32];
    snprintf(png, sizeof png, "%s/%" PRId64 ".png", r->out_dir, batches_done);
    flags_writing(true); /* a SIGINT waits for the file to be whole */
    tnn_status st = tnn_save_image_grid(png, r->sample, r->sample_n, o->channels, o->img_size, o->img_size, 5, 2, true);
    flags_writing(false);
    if (st) fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
    return st ? EXIT_ERROR : 0;
}

/* <out>/<name>.safetensors under the state_dict names "model.*", with the networks'
 * sizes as metadata and "network": name. */
static int save_network(const run *r, tnn_module *m, const char *name)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s.safetensors", r->out_dir, name);
    tnn_metadata *md = gan_config_to_metadata(&r->gc);
    tnn_status st = md ? tnn_metadata_set(md, "network", name) : tnn_last_status();
    flags_writing(true);
    if (!st) st = tnn_module_save(m, GAN_PREFIX, path, md);
    flags_writing(false);
    tnn_metadata_free(md);
    if (st) fprintf(stderr, "%s: saving the %s: %s\n", PROG, name, tnn_last_error());
    return st ? EXIT_ERROR : 0;
}

/* ---------------- the training loop ---------------- */

/* wgan.py's two loops. batches_done counts every batch, so the "Batch" it prints
 * (batches_done modulo the batches per epoch) is the batch's index; a line is printed
 * on generator steps only, while the grid is written on any batch whose count is a
 * multiple of --sample_interval, from the last generator step's images, as wgan.py
 * saves its gen_imgs. 0, or the exit status. */
static int train(run *r)
{
    const options *o = &r->o;
    int64_t batches_done = 0, ran = 0;
    float loss_d = 0.0f, loss_g = 0.0f;
    for (int epoch = 0; epoch < o->n_epochs; epoch++) {
        tnn_rng_shuffle(&r->rng, r->order, r->n_images); /* DataLoader(shuffle=True) */
        for (int i = 0; i < r->batches; i++) {
            if (o->max_batches > 0 && ran++ == o->max_batches) return 0;
            int first = i * o->batch_size;
            int b = r->n_images - first < o->batch_size ? r->n_images - first : o->batch_size;
            tnn_status st = tnn_idx_images_to_tensor(&r->idx, r->order, first, b, o->img_size, o->img_size, r->real);
            if (!st) st = tnn_tensor_resize(r->z, 2, (int[]){b, o->latent_dim});
            if (!st) st = critic_step(r, b, &loss_d);
            const tnn_tensor *gen = NULL;
            if (!st && i % o->n_critic == 0) st = generator_step(r, &loss_g, &gen);
            if (st) {
                fprintf(stderr, "%s: [Epoch %d/%d] [Batch %d/%d]: %s\n", PROG, epoch, o->n_epochs, i, r->batches,
                        tnn_last_error());
                return EXIT_ERROR;
            }
            if (gen) { /* wgan.py prints on generator steps only */
                printf("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]\n", epoch, o->n_epochs,
                       (int)(batches_done % r->batches), r->batches, (double)loss_d, (double)loss_g);
                fflush(stdout);
                r->sample_n = gen->shape[0] < 25 ? gen->shape[0] : 25;
                memcpy(r->sample->data, gen->data, (size_t)r->sample_n * (size_t)gan_img_features(&r->gc) * sizeof(float));
            }
            int status;
            /* the first batch is a generator step, so a sample exists whenever this saves */
            if (batches_done % o->sample_interval == 0 && (status = save_sample(r, batches_done))) return status;
            batches_done++;
        }
    }
    return 0;
}

/* ---------------- setup ---------------- */

/* mkdir -p dir (os.makedirs(exist_ok=True), as wgan.py makes "images"). 0 or errno. */
static int make_dirs(const char *dir)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return ENAMETOOLONG;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        struct stat sb;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) return errno;
        if (stat(p, &sb) != 0) return errno;
        if (!S_ISDIR(sb.st_mode)) return ENOTDIR;
        if (!(*s = c)) return 0;
    }
}

/* The training images (--data, else $TINYNN_DATA, else the bundled data/mnist), as
 * mnist_gan finds and checks them. 0, or the exit status. */
static int open_data(run *r)
{
    const options *o = &r->o;
    const char *from, *dir = flags_data_dir(o->data, TNN_DEFAULT_DATA_DIR, &from);
    char path[PATH_MAX], err[PATH_MAX + 256];
    if (flags_find_data_file(dir, from, "train-images-idx3-ubyte", path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return EXIT_USAGE;
    }
    if (tnn_idx_load(path, &r->idx)) { /* damaged, or out of memory */
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_ERROR;
    }
    int h, w, c;
    if (tnn_idx_image_shape(&r->idx, path, &r->n_images, &h, &w, &c)) { /* IDX, but not images */
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        return EXIT_USAGE;
    }
    if (c != o->channels) {
        fprintf(stderr, "%s: --channels %d: the images in %s have %d channel%s\n", PROG, o->channels, path, c,
                c == 1 ? "" : "s");
        return EXIT_USAGE;
    }
    /* The generator's BatchNorm1d needs 2 images in every batch, the last one too. */
    if (r->n_images % o->batch_size == 1) {
        fprintf(stderr, "%s: --batch_size %d: the last of %s's %d images would be a batch of 1, and BatchNorm1d "
                "needs 2; choose another batch size\n", PROG, o->batch_size, path, r->n_images);
        return EXIT_USAGE;
    }
    r->batches = (int)(((int64_t)r->n_images + o->batch_size - 1) / o->batch_size);
    if (!(r->order = malloc((size_t)r->n_images * sizeof *r->order))) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_ERROR;
    }
    for (int k = 0; k < r->n_images; k++) r->order[k] = k;
    return 0;
}

/* Refuse, before reserving it, what cannot fit in memory (Linux would grant it and
 * end the process later): parameters, gradients and RMSprop's averages of both
 * networks, and at least two floats per feature per image of a batch. */
static int check_memory(const run *r)
{
    const gan_config *gc = &r->gc;
    double nets = 12.0 * (double)(gan_generator_values(gc) + gan_discriminator_values(gc));
    double batch = 8.0 * r->o.batch_size * (double)(gan_generator_features(gc) + gan_discriminator_features(gc));
    double mem = flags_memory_bytes();
    if (mem > 0.0 && nets + batch + (double)r->idx.count > mem) {
        fprintf(stderr, "%s: --batch_size %d, --img_size %d, --latent_dim %d: the networks and a batch need more "
                "than this machine's %.1f GB of memory\n", PROG, r->o.batch_size, r->o.img_size, r->o.latent_dim,
                mem / 1e9);
        return EXIT_USAGE;
    }
    return 0;
}

/* The networks (generator first, then critic, from one seeded stream), their RMSprop
 * optimizers and the batch buffers. 0, or the exit status. */
static int build(run *r)
{
    const options *o = &r->o;
    tnn_set_num_threads(o->n_cpu); /* capped at the cores present */
    tnn_rng_seed(&r->rng, o->seed);
    tnn_rmsprop_params rms = tnn_rmsprop_defaults(); /* torch's: alpha 0.99, eps 1e-8 */
    rms.lr = o->lr;
    if ((r->generator = gan_generator_new(&r->gc, &r->rng)) &&
        (r->critic = critic_new(gan_img_features(&r->gc), &r->rng)) &&
        (r->opt_g = tnn_rmsprop_new(r->generator, rms)) && (r->opt_d = tnn_rmsprop_new(r->critic, rms)) &&
        (r->real = tnn_tensor_new2(o->batch_size, gan_img_features(&r->gc))) &&
        (r->z = tnn_tensor_new2(o->batch_size, o->latent_dim)) && (r->dy = tnn_tensor_new2(o->batch_size, 1)) &&
        (r->sample = tnn_tensor_new2(25, gan_img_features(&r->gc))))
        return 0;
    fprintf(stderr, "%s: setting up the networks failed: %s\n", PROG, tnn_last_error());
    return EXIT_ERROR;
}

int main(int argc, char **argv)
{
    flags_program_start();
    static run R; /* zeroed */
    run *r = &R;
    options *o = &r->o;
    r->gc = gan_config_defaults(); /* latent 100, 28 x 28 x 1, BatchNorm1d eps 0.8 */
    *o = (options){.n_epochs = 200, .batch_size = 64, .lr = 0.00005, .n_cpu = 8, .latent_dim = r->gc.latent_dim,
                   .img_size = r->gc.img_size, .channels = r->gc.channels, .n_critic = 5, .clip_value = 0.01,
                   .sample_interval = 400, .max_batches = 0, .data = NULL, .out = "images", .seed = 0};
    const flag_spec specs[] = {
        FLAG_INT("n_epochs", &o->n_epochs, 1, INT_MAX, "a positive integer", "number of epochs of training"),
        FLAG_INT("batch_size", &o->batch_size, 2, 1 << 20, "an integer >= 2 (BatchNorm1d needs 2 images per batch)",
                 "size of the batches"),
        FLAG_DOUBLE("lr", &o->lr, FLT_TRUE_MIN, FLT_MAX, FLAG_CLOSED, "a positive number in float, 1.4e-45 to 3.4e38",
                    "learning rate (RMSprop)"),
        FLAG_INT("n_cpu", &o->n_cpu, 1, 4096, "a positive integer",
                 "compute threads (wgan.py: data-loading workers); capped at the cores present"),
        FLAG_INT("latent_dim", &o->latent_dim, 1, GAN_MAX_LATENT, "an integer in [1, 65536]",
                 "dimensionality of the latent space"),
        FLAG_INT("img_size", &o->img_size, 1, GAN_MAX_IMG_SIZE, "an integer in [1, 1024]",
                 "size of each image dimension (MNIST is resized bilinearly, as wgan.py does)"),
        FLAG_INT("channels", &o->channels, 1, GAN_MAX_CHANNELS, "an integer in [1, 4]",
                 "number of image channels (must match the data)"),
        FLAG_INT("n_critic", &o->n_critic, 1, INT_MAX, "a positive integer",
                 "number of training steps for discriminator per iter"),
        FLAG_DOUBLE("clip_value", &o->clip_value, 0.0, FLT_MAX, FLAG_LO_OPEN, "a positive number in float",
                    "lower and upper clip value for disc. weights"),
        FLAG_INT("sample_interval", &o->sample_interval, 1, INT_MAX, "a positive integer",
                 "interval between image samples"),
        FLAG_INT("max_batches", &o->max_batches, 0, INT_MAX, "a non-negative integer",
                 "stop after this many batches in all (0: train every epoch)"),
        FLAG_STRING("data", &o->data, "DIR",
                    "folder with train-images-idx3-ubyte[.gz] (default: $TINYNN_DATA, else the bundled data/mnist)"),
        FLAG_STRING("out", &o->out, "DIR", "output folder for the image grids and the weights"),
        FLAG_U64("seed", &o->seed, "a non-negative integer", "random seed (weights, data order, noise)"),
    };
    const int n_specs = (int)(sizeof specs / sizeof specs[0]);
    const char *summary =
        "Train the Wasserstein GAN of PyTorch-GAN's wgan.py on MNIST (or any IDX image set).\n"
        "Prints a line per generator step, writes <out>/<batches_done>.png every --sample_interval\n"
        "batches and <out>/generator.safetensors and <out>/critic.safetensors at the end.";
    int status = flags_parse(PROG, summary, specs, n_specs, argc, argv);
    if (status == FLAGS_HELP) return 0;
    if (status) return EXIT_USAGE;
    r->gc.latent_dim = o->latent_dim;
    r->gc.img_size = o->img_size;
    r->gc.channels = o->channels;

    /* everything that can be checked is checked before training */
    char probe[PATH_MAX + 32];
    int err = make_dirs(o->out);
    if (err) {
        fprintf(stderr, "%s: --out %s: %s\n", PROG, o->out, strerror(err));
        return EXIT_USAGE;
    }
    snprintf(r->out_dir, sizeof r->out_dir, "%s", o->out);
    snprintf(probe, sizeof probe, "%s/generator.safetensors", o->out);
    if (flags_check_output(PROG, "out", probe)) return EXIT_USAGE;
    status = open_data(r);
    if (!status) status = check_memory(r);
    if (!status) status = build(r);
    if (!status) {
        flags_print_namespace(stdout, specs, n_specs); /* wgan.py's print(opt) */
        status = train(r);
    }
    if (!status) status = save_network(r, r->generator, "generator");
    if (!status) status = save_network(r, r->critic, "critic");

    tnn_optimizer_free(r->opt_g);
    tnn_optimizer_free(r->opt_d);
    tnn_module_free(r->generator);
    tnn_module_free(r->critic);
    tnn_tensor_free(r->real);
    tnn_tensor_free(r->z);
    tnn_tensor_free(r->dy);
    tnn_tensor_free(r->sample);
    free(r->order);
    tnn_idx_free(&r->idx);
    return flags_finish_stdout(PROG, status);
}
