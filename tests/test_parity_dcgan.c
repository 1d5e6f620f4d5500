/*
 * parity_dcgan: PyTorch-GAN's dcgan.py (img_size 16, channels 1, latent_dim 100) trained
 * by tinynn against the same training in PyTorch (tests/data/parity/dcgan_*.golden).
 *
 * The networks, as the plain nn.Sequentials of gen_goldens.py's dcgan_generator() and
 * dcgan_discriminator() (so that the state_dict names are the same in both libraries):
 *   G: Linear(100, 2048), Unflatten(1, (128, 4, 4)), BatchNorm2d(128) (eps 1e-5),
 *      Upsample(2), Conv2d(128, 128, 3, 1, 1), BatchNorm2d(128, eps 0.8), LeakyReLU(0.2),
 *      Upsample(2), Conv2d(128, 64, 3, 1, 1), BatchNorm2d(64, eps 0.8), LeakyReLU(0.2),
 *      Conv2d(64, 1, 3, 1, 1), Tanh
 *   D: Conv2d(1, 16, 3, 2, 1), LeakyReLU(0.2), then three times Conv2d(c, 2c, 3, 2, 1),
 *      LeakyReLU(0.2), BatchNorm2d(2c, eps 0.8) (c = 16, 32, 64), Flatten,
 *      Linear(128, 1), Sigmoid
 * dcgan.py's discriminator also has a Dropout2d(0.25) after each LeakyReLU. They are left
 * out of both networks: their masks come from each library's own random generator, so
 * no parity is possible with them.
 *
 * Both networks start from the weights in dcgan_init.golden (torch's initialisation,
 * torch.manual_seed(1000), then dcgan.py's weights_init_normal: Conv weights N(0, 0.02),
 * BatchNorm weights N(1, 0.02), BatchNorm biases 0; rounded to float16 values and stored
 * as float16 to halve the file, torch training from the rounded values too), loaded by
 * name. Each of the three iterations uses the stored z [16 x 100] and real batch
 * [16 x 1 x 16 x 16] (synthetic digits in [-1, 1]) and is dcgan.py's: the generator step (zero_grad, gen = G(z),
 * g_loss = BCE(D(gen), 1), backward, Adam step) then the discriminator step (zero_grad,
 * real_loss = BCE(D(real), 1), fake_loss = BCE(D(gen.detach()), 0), d_loss =
 * (real_loss + fake_loss) / 2, backward, Adam step), Adam(lr 2e-4, betas (0.5, 0.999)).
 * As in test_parity_gan.c, D is frozen with tnn_module_set_requires_grad during the
 * generator step (torch accumulates D's gradients there and the D step's zero_grad
 * discards them: the same parameters either way). All BatchNorms are in training mode
 * throughout, as in dcgan.py, so D's running statistics move three times per iteration.
 *
 * Compared: the four losses and D's three output vectors of every iteration, the
 * gradients Adam is given in iteration 1 (G's from the G step, D's from the D step), and
 * every parameter and BatchNorm buffer of both networks after iterations 1 and 3 (tensors
 * of more than 4096 elements at every 11th element, see docs/parity.md).
 *
 * Tolerances (measured errors in docs/parity.md). Unlike the seed GAN, this iteration is
 * not bit-identical to torch's: torch 1.13 runs Conv2d through oneDNN or its own
 * slow_conv2d, not through OpenBLAS on im2col columns as tinynn does, so every
 * convolution's output and gradients differ in their last bits (parity_conv2d), besides
 * the ulps of SLEEF's tanh and exp (test_parity_gan.c). And at this initialisation D is
 * nearly constant: the BatchNorms' eps 0.8 dwarfs the variance of the N(0, 0.02)
 * convolutions' outputs, so D's 16 outputs differ by about 3e-5 around 0.496, and every
 * gradient but those of D's last BatchNorm bias and Linear bias is a small difference
 * (1e-20 .. 1e-9, below Adam's eps = 1e-8; measured in torch). Adam's step is then
 * lr * g / eps, proportional to g, and the last-bit differences of the convolutions are
 * a visible fraction of g. Hence:
 *   - Losses and D's outputs: rtol 1e-5 (measured: <= 6e-7 relative, 10 ulps).
 *   - Parameters and BatchNorm buffers: atol 0.1 times the largest change of that
 *     tensor since the initial state (in the golden: torch's), rtol 1e-6 (measured:
 *     <= 1.8% of the largest change).
 *   - D's 7.bias, 8.bias, 10.weight, 12.weight and G's 11.bias: D's get their gradients
 *     only through the differences between D's outputs, cancelled further by D's last
 *     BatchNorm (8.bias: a 1 x 1 convolution output, a LeakyReLU that is linear on most
 *     channels' batch, then the BatchNorm that removes the channel's mean); G's 11.bias
 *     is one value, a sum over every output pixel that cancels to about 3e-11. Their
 *     errors reach 30% of their own changes: atol 1 lr per iteration (measured: <= 0.21
 *     lr after iteration 1, 0.66 lr after iteration 3; tol_used <= 0.22).
 *   - The biases of the convolutions that feed a BatchNorm2d (G's 4.bias, 8.bias): their
 *     gradient is analytically zero, so Adam's step follows rounding noise (as the
 *     pre-BatchNorm biases of test_parity_gan.c): atol 0.1 lr per iteration (measured:
 *     bit-identical here), and the running_mean of the BatchNorm after them adds
 *     momentum (0.1) times that.
 *   - num_batches_tracked: exactly.
 *   - Gradients of iteration 1: atol 0.05 times the tensor's largest |gradient|, rtol
 *     1e-5 (measured: <= 1% of it, tol_used <= 0.19; every gradient is a difference of
 *     nearly equal terms, so the ulps of D's outputs become per cent). The five tensors
 *     above get atol 1 times their largest |gradient| (measured: tol_used <= 0.29): only
 *     their magnitude is checked. G's 4.bias and 8.bias (analytically zero, about 1e-17)
 *     must stay below 0.05 times their layer's largest weight gradient (measured: 1e-5
 *     of it).
 * What this cannot show: a backward that is 1% wrong (the ulps of D's outputs already
 * move gradients by up to 1% of their tensor's largest); 10% is caught (docs/parity.md,
 * "Checking that the tests can fail"). The losses and D's outputs, at rtol 1e-5, are
 * what catch a wrong forward.
 */
#include "parity/parity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 16
#define LATENT 100
#define SIZE 16
#define ITERS 3
#define LR 0.0002 /* Adam(lr=0.0002, betas=(0.5, 0.999)) for both networks */

#define OK(expr) assert_int_equal((expr), TNN_OK)

typedef struct dcgan {
    tnn_module *G, *D;
    tnn_optimizer *opt_g, *opt_d;
    tnn_tensor *valid, *fake, *grad;
    float validity[3][BATCH]; /* D(G(z)) in the G step, D(real), D(G(z)) in the D step */
} dcgan;

static tnn_batchnorm_params bn_eps(double eps)
{
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    return p;
}

static tnn_module *make_generator(void)
{
    tnn_module *G = tnn_sequential_new();
    assert_non_null(G);
    const int shape[3] = {128, 4, 4};
    tnn_status st = TNN_OK;
    st |= tnn_sequential_add(G, tnn_linear_new(LATENT, 128 * 4 * 4, true, NULL));
    st |= tnn_sequential_add(G, tnn_unflatten_new(3, shape));
    st |= tnn_sequential_add(G, tnn_batchnorm2d_new(128, bn_eps(1e-5)));
    st |= tnn_sequential_add(G, tnn_upsample_nearest2d_new(2));
    st |= tnn_sequential_add(G, tnn_conv2d_new(128, 128, 3, 1, 1, true, NULL));
    st |= tnn_sequential_add(G, tnn_batchnorm2d_new(128, bn_eps(0.8)));
    st |= tnn_sequential_add(G, tnn_leaky_relu_new(0.2f));
    st |= tnn_sequential_add(G, tnn_upsample_nearest2d_new(2));
    st |= tnn_sequential_add(G, tnn_conv2d_new(128, 64, 3, 1, 1, true, NULL));
    st |= tnn_sequential_add(G, tnn_batchnorm2d_new(64, bn_eps(0.8)));
    st |= tnn_sequential_add(G, tnn_leaky_relu_new(0.2f));
    st |= tnn_sequential_add(G, tnn_conv2d_new(64, 1, 3, 1, 1, true, NULL));
    st |= tnn_sequential_add(G, tnn_tanh_new());
    assert_int_equal(st, TNN_OK);
    return G;
}

static tnn_module *make_discriminator(void)
{
    tnn_module *D = tnn_sequential_new();
    assert_non_null(D);
    tnn_status st = TNN_OK;
    int c = 1;
    for (int out = 16; out <= 128; out *= 2) {
        st |= tnn_sequential_add(D, tnn_conv2d_new(c, out, 3, 2, 1, true, NULL));
        st |= tnn_sequential_add(D, tnn_leaky_relu_new(0.2f));
        if (out > 16) st |= tnn_sequential_add(D, tnn_batchnorm2d_new(out, bn_eps(0.8)));
        c = out;
    }
    st |= tnn_sequential_add(D, tnn_flatten_new());
    st |= tnn_sequential_add(D, tnn_linear_new(128, 1, true, NULL));
    st |= tnn_sequential_add(D, tnn_sigmoid_new());
    assert_int_equal(st, TNN_OK);
    return D;
}

static void dcgan_init(dcgan *s, const golden_file *init)
{
    memset(s, 0, sizeof *s);
    s->G = make_generator();
    s->D = make_discriminator();
    golden_load_state(init, "G.", s->G);
    golden_load_state(init, "D.", s->D);
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = LR;
    p.beta1 = 0.5;
    p.beta2 = 0.999;
    s->opt_g = tnn_adam_new(s->G, p);
    s->opt_d = tnn_adam_new(s->D, p);
    s->valid = tnn_tensor_new2(BATCH, 1);
    s->fake = tnn_tensor_new2(BATCH, 1);
    s->grad = tnn_tensor_new2(BATCH, 1);
    assert_true(s->opt_g && s->opt_d && s->valid && s->fake && s->grad);
    tnn_tensor_fill(s->valid, 1.0f);
}

static void dcgan_free(dcgan *s)
{
    tnn_optimizer_free(s->opt_g);
    tnn_optimizer_free(s->opt_d);
    tnn_module_free(s->G);
    tnn_module_free(s->D);
    tnn_tensor_free(s->valid);
    tnn_tensor_free(s->fake);
    tnn_tensor_free(s->grad);
}

/* One iteration of dcgan.py; losses: g_loss, real_loss, fake_loss, d_loss. */
static void dcgan_iteration(dcgan *s, const tnn_tensor *z, const tnn_tensor *real, float losses[4])
{
    const tnn_tensor *gen = NULL, *v = NULL, *dgen = NULL;

    /* Generator step. */
    tnn_optimizer_zero_grad(s->opt_g);
    OK(tnn_module_forward(s->G, z, &gen));
    tnn_module_set_requires_grad(s->D, false);
    OK(tnn_module_forward(s->D, gen, &v));
    memcpy(s->validity[0], v->data, sizeof s->validity[0]);
    OK(tnn_bce_loss(v, s->valid, &losses[0], s->grad));
    OK(tnn_module_backward(s->D, s->grad, &dgen));
    OK(tnn_module_backward(s->G, dgen, NULL));
    tnn_module_set_requires_grad(s->D, true);
    OK(tnn_optimizer_step(s->opt_g));

    /* Discriminator step; gen (G's output, unchanged until G's next forward) plays
     * gen_imgs.detach(). d_loss = (real_loss + fake_loss) / 2 sends 1/2 to each. */
    tnn_optimizer_zero_grad(s->opt_d);
    OK(tnn_module_forward(s->D, real, &v));
    memcpy(s->validity[1], v->data, sizeof s->validity[1]);
    OK(tnn_bce_loss(v, s->valid, &losses[1], s->grad));
    tnn_tensor_scale(s->grad, 0.5f);
    OK(tnn_module_backward(s->D, s->grad, NULL));
    OK(tnn_module_forward(s->D, gen, &v));
    memcpy(s->validity[2], v->data, sizeof s->validity[2]);
    OK(tnn_bce_loss(v, s->fake, &losses[2], s->grad));
    tnn_tensor_scale(s->grad, 0.5f);
    OK(tnn_module_backward(s->D, s->grad, NULL));
    OK(tnn_optimizer_step(s->opt_d));
    losses[3] = (losses[1] + losses[2]) / 2.0f;
}

#define LOSS_RTOL 1e-5
#define BN_MOMENTUM_NOISE 0.1 /* momentum times the noise of a bias */
#define UPDATE_FRAC 0.1 /* of the tensor's largest change since the initial state */
#define STATE_RTOL 1e-6   /* a few ulps of the value itself */
#define NOISE_ATOL_PER_ITER (0.1 * LR)
#define ILL_ATOL_PER_ITER (1.0 * LR)
#define GRAD_FRAC 0.05
#define GRAD_ILL_FRAC 1.0
#define GRAD_RTOL 1e-5

typedef struct tol_ctx {
    const golden_file *init, *want;
    int iterations;
    char noise[8][16];    /* "G.<i>.bias" of the convolutions that feed a BatchNorm2d */
    char bn_noise[8][24]; /* "G.<i+1>.running_mean" of those BatchNorm2ds */
    int n_noise;
} tol_ctx;

/* Finds the Conv2d layers of Sequential m that a BatchNorm2d follows. */
static void find_noise_biases(tol_ctx *c, tnn_module *m, const char *prefix)
{
    int n = tnn_sequential_len(m);
    for (int i = 0; i + 1 < n; i++) {
        tnn_module *a = tnn_sequential_get(m, i), *b = tnn_sequential_get(m, i + 1);
        if (strcmp(a->vt->type_name, "conv2d") == 0 && strcmp(b->vt->type_name, "batchnorm2d") == 0 &&
            c->n_noise < 8) {
            snprintf(c->noise[c->n_noise], sizeof c->noise[0], "%s%d.bias", prefix, i);
            snprintf(c->bn_noise[c->n_noise++], sizeof c->bn_noise[0], "%s%d.running_mean", prefix, i + 1);
        }
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The largest |want - initial| over the elements the golden holds of tensor t (named
 * "iter<k>.G.<...>"; the golden of the state stores it whole or as "<name>@<stride>",
 * the initial state under "G.<...>"; a BatchNorm's buffers start at 0 and 1). */
static double largest_update(const tol_ctx *c, const tnn_named_tensor *t)
{
    const char *base = strchr(t->name, '.') + 1; /* skip "iter<k>." */
    const golden_tensor *w = golden_find(c->want, "%s", t->name);
    size_t stride = 1;
    for (int k = 2; !w && k <= 64; k++)
        if ((w = golden_find(c->want, "%s@%d", t->name, k)) != NULL) stride = (size_t)k;
    const golden_tensor *i0 = golden_find(c->init, "%s", base);
    if (!w || !i0 || w->dtype != GOLDEN_F32 || i0->count != t->count) return 0.0;
    const float *wv = w->data, *iv = i0->data;
    double m = 0.0;
    for (size_t j = 0; j < w->count && j * stride < t->count; j++) {
        double d = fabs((double)wv[j] - iv[j * stride]);
        if (d > m) m = d;
    }
    return m;
}

/* Parameters whose gradient is a difference of nearly equal terms even by this test's
 * standards (see the header): D's, which get it only through the sample-to-sample
 * differences of D's nearly constant output and its last BatchNorm, and G's last bias. */
static const char *const ill_conditioned[] = {"D.7.bias", "D.8.bias", "D.10.weight", "D.12.weight", "G.11.bias"};

static parity_tol dcgan_tol(const tnn_named_tensor *t, void *ctx)
{
    const tol_ctx *c = ctx;
    double noise = NOISE_ATOL_PER_ITER * c->iterations;
    for (size_t i = 0; i < sizeof ill_conditioned / sizeof ill_conditioned[0]; i++)
        if (ends_with(t->name, ill_conditioned[i])) return (parity_tol){ILL_ATOL_PER_ITER * c->iterations, STATE_RTOL};
    for (int i = 0; i < c->n_noise; i++) {
        if (ends_with(t->name, c->noise[i])) return (parity_tol){noise, STATE_RTOL};
        if (ends_with(t->name, c->bn_noise[i]))
            return (parity_tol){UPDATE_FRAC * largest_update(c, t) + BN_MOMENTUM_NOISE * noise,
                                STATE_RTOL};
    }
    return (parity_tol){UPDATE_FRAC * largest_update(c, t), STATE_RTOL};
}

static bool check_iteration(const golden_file *g, int iter, const float losses[4], const dcgan *s)
{
    static const char *loss_names[4] = {"g_loss", "real_loss", "fake_loss", "d_loss"};
    static const char *out_names[3] = {"g_validity", "real_validity", "fake_validity"};
    bool ok = true;
    char nm[64];
    for (int k = 0; k < 4; k++) {
        snprintf(nm, sizeof nm, "iter%d.%s", iter, loss_names[k]);
        ok &= parity_check_scalar(g, nm, losses[k], 0.0, LOSS_RTOL);
    }
    for (int k = 0; k < 3; k++) {
        snprintf(nm, sizeof nm, "iter%d.%s", iter, out_names[k]);
        ok &= parity_check(g, nm, s->validity[k], BATCH, 0.0, LOSS_RTOL);
    }
    return ok;
}

static bool check_state(const golden_file *g, const golden_file *init, int iter, dcgan *s)
{
    tol_ctx tc = {.init = init, .want = g, .iterations = iter};
    find_noise_biases(&tc, s->G, "G.");
    find_noise_biases(&tc, s->D, "D.");
    assert_int_equal(tc.n_noise, 2); /* G.4.bias, G.8.bias */
    char pg[32], pd[32];
    snprintf(pg, sizeof pg, "iter%d.G.", iter);
    snprintf(pd, sizeof pd, "iter%d.D.", iter);
    size_t ng = 0, nd = 0;
    bool ok = parity_check_state(g, pg, s->G, dcgan_tol, &tc, &ng);
    ok &= parity_check_state(g, pd, s->D, dcgan_tol, &tc, &nd);
    print_message("compared %zu generator and %zu discriminator values after iteration %d\n", ng, nd, iter);
    return ok;
}

/* Every parameter gradient of m (state_dict names "<prefix><name>") against the golden's
 * "<prefix><name>" or "<prefix><name>@<stride>": atol GRAD_FRAC times the tensor's
 * largest |gradient| (as the convolution tests scale theirs by the products' size),
 * rtol GRAD_RTOL; the tensors of ill_conditioned[] get GRAD_ILL_FRAC. */
static bool check_grads(const golden_file *g, const char *prefix, tnn_module *m, const tol_ctx *tc,
                        size_t *checked)
{
    double weight_big = 0.0; /* the largest |gradient| of the last weight seen */
    tnn_tensor_list *l = tnn_module_state_dict(m, prefix);
    assert_non_null(l);
    bool ok = true;
    for (int i = 0; i < l->count; i++) {
        const tnn_named_tensor *e = &l->items[i];
        if (!e->is_param) continue;
        const golden_tensor *w = golden_find(g, "%s", e->name);
        size_t stride = 1;
        for (int k = 2; !w && k <= 64; k++)
            if ((w = golden_find(g, "%s@%d", e->name, k)) != NULL) stride = (size_t)k;
        if (!w || w->dtype != GOLDEN_F32 || w->count != (e->count + stride - 1) / stride || !e->grad) {
            print_error("parity FAIL %s: no matching golden gradient\n", e->name);
            ok = false;
            continue;
        }
        float *got = malloc(w->count * sizeof *got);
        assert_non_null(got);
        const float *want = w->data;
        double big = 0.0;
        for (size_t j = 0; j < w->count; j++) {
            got[j] = e->grad[j * stride];
            if (fabs(want[j]) > big) big = fabs(want[j]);
        }
        double frac = GRAD_FRAC;
        for (size_t k = 0; k < sizeof ill_conditioned / sizeof ill_conditioned[0]; k++)
            if (ends_with(e->name, ill_conditioned[k])) frac = GRAD_ILL_FRAC;
        bool noise = false;
        for (int k = 0; k < tc->n_noise; k++) noise |= ends_with(e->name, tc->noise[k]);
        if (noise) big = weight_big; /* analytically zero: must stay small beside the weight's */
        if (ends_with(e->name, ".weight")) weight_big = big;
        int shape[1] = {(int)w->count};
        char what[96];
        snprintf(what, sizeof what, "%s (gradient)", e->name);
        ok &= parity_close(what, got, want, w->count, shape, 1, frac * big, GRAD_RTOL);
        *checked += w->count;
        free(got);
    }
    tnn_tensor_list_free(l);
    return ok;
}

static void test_dcgan(void **state)
{
    (void)state;
    golden_file *init = golden_load("dcgan_init.golden");
    golden_file *want = golden_load("dcgan_train.golden");
    dcgan s;
    dcgan_init(&s, init);
    bool ok = true;
    for (int it = 1; it <= ITERS; it++) {
        tnn_tensor *z = golden_tensor_new(init, "iter%d.z", it), *real = golden_tensor_new(init, "iter%d.real", it);
        assert_int_equal(real->ndim, 4);
        assert_int_equal(real->shape[2], SIZE);
        float losses[4];
        dcgan_iteration(&s, z, real, losses);
        ok &= check_iteration(want, it, losses, &s);
        if (it == 1) {
            /* The gradients Adam saw: G's from the G step (the D step leaves them), D's
             * from the D step. */
            size_t n = 0;
            tol_ctx tc = {0};
            find_noise_biases(&tc, s.G, "G.");
            ok &= check_grads(want, "iter1.grad.G.", s.G, &tc, &n);
            ok &= check_grads(want, "iter1.grad.D.", s.D, &tc, &n);
            print_message("compared %zu gradient values after iteration 1\n", n);
        }
        if (it == 1 || it == ITERS) ok &= check_state(want, init, it, &s);
        tnn_tensor_free(z);
        tnn_tensor_free(real);
    }
    assert_int_equal(tnn_adam_step_count(s.opt_g), ITERS);
    assert_int_equal(tnn_adam_step_count(s.opt_d), ITERS);
    dcgan_free(&s);
    golden_free(init);
    golden_free(want);
    assert_true(ok);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"dcgan", test_dcgan, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_dcgan", tests, sizeof tests / sizeof tests[0]);
}
