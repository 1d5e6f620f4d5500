/* The seed GAN's generator and discriminator (see gan_models.h). */
#define _POSIX_C_SOURCE 200809L
#include "gan_models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

gan_config gan_config_defaults(void)
{
    return (gan_config){.latent_dim = 100, .img_size = 28, .channels = 1, .bn_eps = 0.8, .bn_momentum = 0.1};
}

int gan_img_features(const gan_config *c) { return c->channels * c->img_size * c->img_size; }

/* Image sizes whose feature count fits an int with room to spare. */
static bool size_ok(const gan_config *c)
{
    return c->img_size >= 1 && c->channels >= 1 && c->img_size <= GAN_MAX_IMG_SIZE && c->channels <= GAN_MAX_CHANNELS;
}

/* Linear -> [BatchNorm1d] -> LeakyReLU(0.2), the seed's block(in_feat, out_feat, normalize). */
static tnn_status add_block(tnn_module *seq, int in, int out, bool normalize, const gan_config *c, tnn_rng *rng)
{
    tnn_status st = tnn_sequential_add(seq, tnn_linear_new(in, out, true, rng));
    if (!st && normalize) {
        tnn_batchnorm_params p = tnn_batchnorm_defaults();
        p.eps = c->bn_eps;
        p.momentum = c->bn_momentum;
        st = tnn_sequential_add(seq, tnn_batchnorm1d_new(out, p));
    }
    if (!st) st = tnn_sequential_add(seq, tnn_leaky_relu_new(0.2f));
    return st;
}

/* The generator's hidden widths: block(latent_dim, 128, normalize=False), then
 * block(128, 256), block(256, 512), block(512, 1024) with BatchNorm1d. */
static const int G_HIDDEN[4] = {128, 256, 512, 1024};

tnn_module *gan_generator_new(const gan_config *c, tnn_rng *rng)
{
    /* Bad sizes make a layer constructor fail, which sets the message. */
    if (!size_ok(c)) return tnn_linear_new(c->latent_dim, 0, true, NULL);
    tnn_module *g = tnn_sequential_new();
    if (!g) return NULL;
    tnn_status st = TNN_OK;
    for (int k = 0, in = c->latent_dim; k < 4 && !st; in = G_HIDDEN[k++])
        st = add_block(g, in, G_HIDDEN[k], k > 0, c, rng);
    if (!st) st = tnn_sequential_add(g, tnn_linear_new(G_HIDDEN[3], gan_img_features(c), true, rng));
    if (!st) st = tnn_sequential_add(g, tnn_tanh_new());
    if (st) {
        tnn_module_free(g);
        return NULL;
    }
    return g;
}

uint64_t gan_generator_values(const gan_config *c)
{
    if (!size_ok(c) || c->latent_dim < 1) return 0;
    uint64_t n = 0, in = (uint64_t)c->latent_dim;
    for (int k = 0; k < 4; in = (uint64_t)G_HIDDEN[k++]) {
        n += (in + 1) * (uint64_t)G_HIDDEN[k];                /* Linear weight and bias */
        if (k > 0) n += 4 * (uint64_t)G_HIDDEN[k] + 1;       /* BatchNorm1d: weight, bias, running stats, count */
    }
    return n + (in + 1) * (uint64_t)gan_img_features(c);
}

uint64_t gan_discriminator_values(const gan_config *c)
{
    if (!size_ok(c)) return 0;
    return ((uint64_t)gan_img_features(c) + 1) * 512 + (512 + 1) * 256 + (256 + 1) * 1;
}

uint64_t gan_generator_features(const gan_config *c)
{
    if (!size_ok(c) || c->latent_dim < 1) return 0;
    uint64_t n = (uint64_t)c->latent_dim + (uint64_t)gan_img_features(c);
    for (int k = 0; k < 4; k++) n += (uint64_t)G_HIDDEN[k];
    return n;
}

uint64_t gan_discriminator_features(const gan_config *c)
{
    return size_ok(c) ? (uint64_t)gan_img_features(c) + 512 + 256 + 1 : 0;
}

uint64_t gan_values_in_file(const tnn_safetensors *st, const char *prefix)
{
    uint64_t n = 0;
    for (int i = 0; i < tnn_safetensors_count(st); i++) {
        const tnn_st_tensor *t = tnn_safetensors_get(st, i);
        if (strncmp(t->name, prefix, strlen(prefix)) == 0) n += t->count;
    }
    return n;
}

tnn_module *gan_discriminator_new(const gan_config *c, tnn_rng *rng)
{
    if (!size_ok(c)) return tnn_linear_new(0, 512, true, NULL);
    tnn_module *d = tnn_sequential_new();
    if (!d) return NULL;
    tnn_status st = add_block(d, gan_img_features(c), 512, false, c, rng);
    if (!st) st = add_block(d, 512, 256, false, c, rng);
    if (!st) st = tnn_sequential_add(d, tnn_linear_new(256, 1, true, rng));
    if (!st) st = tnn_sequential_add(d, tnn_sigmoid_new());
    if (st) {
        tnn_module_free(d);
        return NULL;
    }
    return d;
}

tnn_metadata *gan_config_to_metadata(const gan_config *c)
{
    tnn_metadata *md = tnn_metadata_new();
    if (!md) return NULL;
    char buf[5][40];
    snprintf(buf[0], sizeof buf[0], "%d", c->latent_dim);
    snprintf(buf[1], sizeof buf[1], "%d", c->img_size);
    snprintf(buf[2], sizeof buf[2], "%d", c->channels);
    snprintf(buf[3], sizeof buf[3], "%.17g", c->bn_eps);
    snprintf(buf[4], sizeof buf[4], "%.17g", c->bn_momentum);
    /* Shortest form that reads back exactly ("0.8", not "0.80000000000000004"). */
    const double vals[2] = {c->bn_eps, c->bn_momentum};
    for (int k = 0; k < 2; k++) {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf[3 + k], sizeof buf[3 + k], "%.*g", prec, vals[k]);
            if (strtod(buf[3 + k], NULL) == vals[k]) break;
        }
    }
    const char *keys[5] = {"latent_dim", "img_size", "channels", "bn_eps", "bn_momentum"};
    tnn_status st = tnn_metadata_set(md, "format", "tinynn-gan");
    for (int i = 0; i < 5 && !st; i++) st = tnn_metadata_set(md, keys[i], buf[i]);
    if (st) {
        tnn_metadata_free(md);
        return NULL;
    }
    return md;
}

static tnn_status md_int(const tnn_metadata *md, const char *what, const char *key, int lo, int hi, int *out,
                         char *err, size_t errlen)
{
    const char *v = tnn_metadata_get(md, key);
    if (!v) return TNN_OK;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        snprintf(err, errlen, "%s: metadata %s = '%s' is not an integer in [%d, %d]", what, key, v, lo, hi);
        return TNN_ERR_FORMAT;
    }
    *out = (int)x;
    return TNN_OK;
}

static tnn_status md_double(const tnn_metadata *md, const char *what, const char *key, double lo, double hi,
                            double *out, char *err, size_t errlen)
{
    const char *v = tnn_metadata_get(md, key);
    if (!v) return TNN_OK;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x < lo || x > hi) {
        snprintf(err, errlen, "%s: metadata %s = '%s' is not a number in [%g, %g]", what, key, v, lo, hi);
        return TNN_ERR_FORMAT;
    }
    *out = x;
    return TNN_OK;
}

tnn_status gan_config_from_metadata(const tnn_metadata *md, const char *what, gan_config *c, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    if (!md) return TNN_OK;
    gan_config t = *c;
    tnn_status st = md_int(md, what, "latent_dim", 1, GAN_MAX_LATENT, &t.latent_dim, err, errlen);
    if (!st) st = md_int(md, what, "img_size", 1, GAN_MAX_IMG_SIZE, &t.img_size, err, errlen);
    if (!st) st = md_int(md, what, "channels", 1, GAN_MAX_CHANNELS, &t.channels, err, errlen);
    if (!st) st = md_double(md, what, "bn_eps", 0.0, HUGE_VAL, &t.bn_eps, err, errlen);
    if (!st) st = md_double(md, what, "bn_momentum", 0.0, 1.0, &t.bn_momentum, err, errlen);
    if (!st) *c = t;
    return st;
}

/* ---------------- training ---------------- */

void gan_trainer_free(gan_trainer *t)
{
    if (!t) return;
    tnn_optimizer_free(t->opt_g);
    tnn_optimizer_free(t->opt_d);
    tnn_module_free(t->generator);
    tnn_module_free(t->discriminator);
    tnn_tensor_free(t->z);
    tnn_tensor_free(t->valid);
    tnn_tensor_free(t->fake);
    tnn_tensor_free(t->dpred);
    free(t);
}

gan_trainer *gan_trainer_new(const gan_config *c, tnn_adam_params adam_g, tnn_adam_params adam_d, int max_batch,
                             tnn_rng *rng)
{
    if (max_batch < 2) max_batch = 2;
    gan_trainer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = *c;
    if (!(t->generator = gan_generator_new(c, rng)) || !(t->discriminator = gan_discriminator_new(c, rng)) ||
        !(t->opt_g = tnn_adam_new(t->generator, adam_g)) || !(t->opt_d = tnn_adam_new(t->discriminator, adam_d)) ||
        !(t->z = tnn_tensor_new2(max_batch, c->latent_dim)) || !(t->valid = tnn_tensor_new2(max_batch, 1)) ||
        !(t->fake = tnn_tensor_new2(max_batch, 1)) || !(t->dpred = tnn_tensor_new2(max_batch, 1))) {
        gan_trainer_free(t);
        return NULL;
    }
    return t;
}

static float mean_of(const tnn_tensor *p)
{
    double s = 0.0;
    for (size_t i = 0; i < p->size; i++) s += p->data[i];
    return (float)(s / (double)p->size);
}

static tnn_status diverged(gan_trainer *t, const char *what)
{
    t->nonfinite = what;
    return TNN_ERR_NUMERIC;
}

const char *const gan_phase_names[GAN_PHASES] = {
    "g_forward", "d_forward_fake", "d_backward_dx", "g_backward", "g_adam",
    "d_backward_fake", "d_forward_real", "d_backward_real", "d_adam",
};

/* Profiling: add the time since the last mark to phase p (only when phase_ms is set). */
static void phase_done(gan_trainer *t, int p)
{
    if (!t->phase_ms) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
    if (p >= 0) t->phase_ms[p] += now - t->phase_mark;
    t->phase_mark = now;
}

/* One iteration of gan.py's loop; its lines are quoted beside the calls that do them.
 * Two of gan.py's passes are not repeated (docs/gan.md, "The reused forward pass"):
 * - gan.py runs D on the fake batch twice, in g_loss and in fake_loss. D changes only
 *   at optimizer_D.step(), after both, and gen_imgs.detach() changes no value, so the
 *   second run would give the same activations: the discriminator step goes back
 *   through the ones D kept from the generator step.
 * - g_loss.backward() computes D's parameter gradients too, which optimizer_D.zero_grad()
 *   throws away before they are used: D is frozen (requires_grad off) for that backward,
 *   which then computes only dL/dG(z), the gradient G needs. */
tnn_status gan_trainer_step(gan_trainer *t, const tnn_tensor *real, tnn_rng *rng)
{
    phase_done(t, -1);
    int b = real->shape[0];
    tnn_status st;
    /* Size the buffers for this batch (they grow only for a batch larger than any before). */
    if ((st = tnn_tensor_resize(t->z, 2, (int[]){b, t->cfg.latent_dim}))) return st;
    if ((st = tnn_tensor_resize(t->valid, 2, (int[]){b, 1}))) return st;
    if ((st = tnn_tensor_resize(t->fake, 2, (int[]){b, 1}))) return st;
    if ((st = tnn_tensor_resize(t->dpred, 2, (int[]){b, 1}))) return st;
    tnn_tensor_fill(t->valid, 1.0f); /* valid = Tensor(imgs.size(0), 1).fill_(1.0) */
    tnn_tensor_fill(t->fake, 0.0f);  /* fake = Tensor(imgs.size(0), 1).fill_(0.0) */

    /* ---- generator step ---- */
    const tnn_tensor *gen, *p_fake, *p_real, *dgen;
    tnn_optimizer_discard_grad(t->opt_g);  /* optimizer_G.zero_grad(): G's backward writes its gradients */
    tnn_tensor_normal(t->z, rng, 0.0f, 1.0f);                           /* z = np.random.normal(0, 1, ...) */
    if ((st = tnn_module_forward(t->generator, t->z, &gen))) return st; /* gen_imgs = generator(z) */
    phase_done(t, GAN_PHASE_G_FORWARD);
    tnn_module_set_requires_grad(t->discriminator, false); /* D frozen: its gradients would be thrown away */
    if ((st = tnn_module_forward(t->discriminator, gen, &p_fake))) return st; /* discriminator(gen_imgs) */
    phase_done(t, GAN_PHASE_D_FORWARD_FAKE);
    /* A NaN anywhere in G or D reaches D's output; say so before the loss refuses it. (An
     * infinity usually does too; one that saturates the Sigmoid to exactly 0 or 1 does
     * not, and the checks of every checkpoint and weight file catch it.) */
    t->nonfinite = NULL;
    t->d_fake_mean = mean_of(p_fake);
    if (isnan(t->d_fake_mean)) return diverged(t, "D(G(z))");
    /* g_loss = adversarial_loss(discriminator(gen_imgs), valid); g_loss.backward(), in
     * two calls: through D (frozen) to dL/dG(z), then through G */
    if ((st = tnn_bce_loss(p_fake, t->valid, &t->g_loss, t->dpred))) return st;
    if ((st = tnn_module_backward(t->discriminator, t->dpred, &dgen))) return st;
    phase_done(t, GAN_PHASE_D_BACKWARD_DX);
    if ((st = tnn_module_backward(t->generator, dgen, NULL))) return st;
    phase_done(t, GAN_PHASE_G_BACKWARD);
    if ((st = tnn_optimizer_step(t->opt_g))) return st; /* optimizer_G.step() */
    phase_done(t, GAN_PHASE_G_ADAM);
    t->gen_imgs = gen;

    /* ---- discriminator step ---- */
    float real_loss, fake_loss;
    tnn_optimizer_discard_grad(t->opt_d); /* optimizer_D.zero_grad(): the fake half writes, the real half adds */
    tnn_module_set_requires_grad(t->discriminator, true);
    /* fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake), on D's
     * activations kept from the generator step (the same values; see above). Taken
     * before the real half, so that those activations are still D's last forward. */
    if ((st = tnn_bce_loss(p_fake, t->fake, &fake_loss, t->dpred))) return st;
    tnn_tensor_scale(t->dpred, 0.5f); /* d_loss = (real_loss + fake_loss) / 2 */
    if ((st = tnn_module_backward(t->discriminator, t->dpred, NULL))) return st; /* no dx: G is detached */
    phase_done(t, GAN_PHASE_D_BACKWARD_FAKE);
    /* real_loss = adversarial_loss(discriminator(real_imgs), valid) */
    if ((st = tnn_module_forward(t->discriminator, real, &p_real))) return st;
    phase_done(t, GAN_PHASE_D_FORWARD_REAL);
    t->d_real_mean = mean_of(p_real);
    if (isnan(t->d_real_mean)) return diverged(t, "D(x)");
    if ((st = tnn_bce_loss(p_real, t->valid, &real_loss, t->dpred))) return st;
    tnn_tensor_scale(t->dpred, 0.5f);
    if ((st = tnn_module_backward(t->discriminator, t->dpred, NULL))) return st; /* d_loss.backward(), added up */
    phase_done(t, GAN_PHASE_D_BACKWARD_REAL);
    if ((st = tnn_optimizer_step(t->opt_d))) return st; /* optimizer_D.step() */
    phase_done(t, GAN_PHASE_D_ADAM);
    /* (real_loss + fake_loss) / 2 in float32, as the seed's tensors compute it */
    float sum = real_loss + fake_loss;
    t->d_loss = sum / 2.0f;
    return TNN_OK;
}
