/*
 * gan_models.h - the seed GAN's two networks (PyTorch-GAN's implementations/gan/gan.py),
 * shared by examples/mnist_gan, examples/mnist_gan_sample, bench/ and the tests
 * (CMake target `tinynn_gan`).
 *
 * Both are Sequentials whose children follow the seed's nn.Sequential, activations
 * included, so that with the prefix "model." their state_dict names are the seed's:
 *
 *   generator     model.0  Linear(latent, 128)        model.1  LeakyReLU(0.2)
 *                 model.2  Linear(128, 256)           model.3  BatchNorm1d(256, eps, momentum)
 *                 model.4  LeakyReLU(0.2)             model.5  Linear(256, 512)
 *                 model.6  BatchNorm1d(512)           model.7  LeakyReLU(0.2)
 *                 model.8  Linear(512, 1024)          model.9  BatchNorm1d(1024)
 *                 model.10 LeakyReLU(0.2)             model.11 Linear(1024, C*H*W)
 *                 model.12 Tanh
 *   discriminator model.0  Linear(C*H*W, 512)         model.1  LeakyReLU(0.2)
 *                 model.2  Linear(512, 256)           model.3  LeakyReLU(0.2)
 *                 model.4  Linear(256, 1)             model.5  Sigmoid
 *
 * The seed writes BatchNorm1d(out_feat, 0.8): 0.8 is the eps (bn_eps), momentum stays
 * PyTorch's 0.1. The discriminator's flatten is implicit: it takes [batch x C*H*W].
 */
#ifndef TINYNN_EXAMPLES_GAN_MODELS_H
#define TINYNN_EXAMPLES_GAN_MODELS_H

#include <tinynn/tinynn.h>

#include <stdint.h>

/* Limits that keep every size in an int (checked by the examples' flags and by
 * gan_config_from_metadata). */
#define GAN_MAX_LATENT 65536
#define GAN_MAX_IMG_SIZE 1024
#define GAN_MAX_CHANNELS 4

/* The hyper-parameters that shape the networks. */
typedef struct gan_config {
    int latent_dim;      /* 100 */
    int img_size;        /* 28 */
    int channels;        /* 1 */
    double bn_eps;       /* 0.8, the seed's */
    double bn_momentum;  /* 0.1 */
} gan_config;

gan_config gan_config_defaults(void);

/* Features of one image: channels * img_size^2 (784 for MNIST). */
int gan_img_features(const gan_config *c);

/* The networks, initialised from rng as torch.nn.Linear does (NULL rng: zeros, for
 * loading weights afterwards). NULL with tnn_last_error() on failure. */
tnn_module *gan_generator_new(const gan_config *c, tnn_rng *rng);
tnn_module *gan_discriminator_new(const gan_config *c, tnn_rng *rng);
/* The number of values (floats and integers) in the generator's state_dict for c, 0 for
 * a config gan_generator_new refuses: known before the network is built, so that a file
 * whose metadata promises a larger network than it holds is refused without allocating. */
uint64_t gan_generator_values(const gan_config *c);
/* The same for the discriminator (its parameters). */
uint64_t gan_discriminator_values(const gan_config *c);
/* The features one image passes through in each network: the inputs and outputs of its
 * layers (the generator: latent_dim + 128 + 256 + 512 + 1024 + the image's features;
 * the discriminator: the image's features + 512 + 256 + 1); 0 for a config the networks
 * refuse. A forward pass keeps at least one float per feature per image, and a training
 * step at least two (activations and gradients): lower bounds of what a batch needs. */
uint64_t gan_generator_features(const gan_config *c);
uint64_t gan_discriminator_features(const gan_config *c);
/* The values a safetensors file holds under the names that start with prefix. */
uint64_t gan_values_in_file(const tnn_safetensors *st, const char *prefix);

/* The state_dict prefix of both networks: the seed's attribute name. */
#define GAN_PREFIX "model."

/* The config as safetensors __metadata__ (keys latent_dim, img_size, channels, bn_eps,
 * bn_momentum, plus "format": "tinynn-gan") and back. Doubles are written so that they
 * read back exactly. from_metadata checks each value; on failure it writes a message
 * naming the file (`what`) and the key into err. Keys absent from md (a file saved by
 * PyTorch has none) keep the value already in *c, so start from the defaults. */
tnn_metadata *gan_config_to_metadata(const gan_config *c);
tnn_status gan_config_from_metadata(const tnn_metadata *md, const char *what, gan_config *c, char *err, size_t errlen);

/*
 * One training iteration of the seed, on preallocated buffers:
 *
 *   generator step:      z ~ N(0, 1) [batch x latent]; gen = G(z);
 *                        g_loss = BCE(D(gen), 1); backward into G only; Adam step on G
 *   discriminator step:  d_loss = (BCE(D(real), 1) + BCE(D(gen.detach()), 0)) / 2;
 *                        backward into D; Adam step on D
 *
 * with every gradient zeroed at the start of its step, as the seed does. Two products
 * the seed computes and throws away are skipped, without changing the result:
 *   - D's parameter gradients during the generator step (D is frozen with
 *     tnn_module_set_requires_grad: only dL/dgen flows through it; the seed clears them
 *     with optimizer_D.zero_grad() before using D's gradients);
 *   - the discriminator's second forward pass on the fake batch: D does not change
 *     between the two steps, so D(gen) of the generator step is D(gen.detach()) of the
 *     discriminator step. The fake half of the D step therefore runs first, backward
 *     through the activations D still holds from the generator step (module.h: an
 *     output stays valid until the module's next forward, and backward never
 *     overwrites it; gen itself, D's input, is the generator's output and is untouched
 *     by the generator's backward and Adam step). Then D runs forward on the real batch.
 */
typedef struct gan_trainer {
    gan_config cfg;
    tnn_module *generator, *discriminator;   /* owned */
    tnn_optimizer *opt_g, *opt_d;            /* owned */
    tnn_tensor *z, *valid, *fake, *dpred;    /* owned buffers, sized for max_batch */
    const tnn_tensor *gen_imgs;  /* the last step's generated batch [batch x C*H*W],
                                    borrowed from the generator: valid until its next forward */
    float g_loss, d_loss;        /* the last step's losses, as the seed prints them */
    float d_real_mean, d_fake_mean; /* mean D(x) and mean D(G(z)) of the last step */
    const char *nonfinite;       /* after TNN_ERR_NUMERIC: "D(G(z))" or "D(x)", the output
                                    found to hold NaN; NULL otherwise */
    double *phase_ms;            /* NULL (default), or GAN_PHASES accumulators: each step then
                                    adds the wall time of its phases (bench_gan --phases) */
    double phase_mark;
} gan_trainer;

/* The phases of gan_trainer_step, in order, for profiling. */
enum {
    GAN_PHASE_G_FORWARD,      /* zero G's grads, draw z, G(z) */
    GAN_PHASE_D_FORWARD_FAKE, /* D(G(z)) */
    GAN_PHASE_D_BACKWARD_DX,  /* g_loss, D backward to dL/dgen (D frozen) */
    GAN_PHASE_G_BACKWARD,     /* G backward */
    GAN_PHASE_G_ADAM,         /* Adam step on G */
    GAN_PHASE_D_BACKWARD_FAKE,/* zero D's grads, fake half of d_loss, D backward */
    GAN_PHASE_D_FORWARD_REAL, /* D(x) */
    GAN_PHASE_D_BACKWARD_REAL,/* real half of d_loss, D backward */
    GAN_PHASE_D_ADAM,         /* Adam step on D */
    GAN_PHASES
};
extern const char *const gan_phase_names[GAN_PHASES];

/* Build both networks (generator first, then discriminator, both initialised from rng)
 * and their Adam optimizers. max_batch sizes the buffers; larger batches still work
 * (the buffers grow once). NULL with tnn_last_error() on failure. */
gan_trainer *gan_trainer_new(const gan_config *c, tnn_adam_params adam_g, tnn_adam_params adam_d, int max_batch,
                             tnn_rng *rng);
/* One iteration on real = [batch x C*H*W] images in [-1, 1] (batch >= 2: BatchNorm
 * needs two samples, as in PyTorch). Noise is drawn from rng. On failure the message
 * is in tnn_last_error(), except for divergence: a NaN in D's output (a NaN somewhere
 * in either network reaches it, and most infinities do; one that saturates D's Sigmoid
 * to exactly 0 or 1 does not, and is caught by the scan before every checkpoint and
 * weight file) returns TNN_ERR_NUMERIC with
 * t->nonfinite naming the output, checked on the means the step computes anyway
 * (O(batch), before the loss would refuse the NaN). */
tnn_status gan_trainer_step(gan_trainer *t, const tnn_tensor *real, tnn_rng *rng);
void gan_trainer_free(gan_trainer *t);

#endif
