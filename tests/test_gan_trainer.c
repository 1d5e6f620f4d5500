/* The GAN training step of examples/gan_models.c against the seed's procedure done
 * naively: same networks, same noise, same real batches. The trainer freezes D during
 * the generator step and reuses D's forward pass on the fake batch; the naive version
 * computes D's parameter gradients in the generator step (then zeroes them, as the
 * seed's optimizer_D.zero_grad() does) and runs D three times per iteration. On one
 * thread both give the same losses and weights, bit for bit: the reused forward is the
 * same arithmetic, and D's two halves' gradients, added in the other order, are one
 * addition of two numbers (a + b = b + a exactly) while the batch fits in one of
 * OpenBLAS's blocks of the dW product's inner dimension (320 with the Haswell kernels;
 * at 321 and up the weights differ in the last bit). On two threads a frozen Linear's
 * dL/dx product is split over the threads instead of running whole beside dW, which
 * OpenBLAS rounds differently in the last bits; this test runs on one. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gan_checkpoint.h"
#include "gan_models.h"

#include <unistd.h>

typedef struct naive {
    tnn_module *g, *d;
    tnn_optimizer *og, *od;
    tnn_tensor *z, *ones, *zeros, *dp;
} naive;

/* The seed, line by line (gan.py's training loop body). */
static void naive_step(naive *n, const tnn_tensor *real, tnn_rng *rng, float *g_loss, float *d_loss)
{
    int b = real->shape[0];
    const tnn_tensor *gen, *p, *dgen;
    TU_ASSERT_OK(tnn_tensor_resize(n->z, 2, (int[]){b, n->z->shape[1]}));
    TU_ASSERT_OK(tnn_tensor_resize(n->ones, 2, (int[]){b, 1}));
    TU_ASSERT_OK(tnn_tensor_resize(n->zeros, 2, (int[]){b, 1}));
    tnn_tensor_fill(n->ones, 1.0f);
    tnn_tensor_fill(n->zeros, 0.0f);
    /* optimizer_G.zero_grad(); z = N(0,1); gen_imgs = generator(z) */
    tnn_optimizer_zero_grad(n->og);
    tnn_tensor_normal(n->z, rng, 0.0f, 1.0f);
    TU_ASSERT_OK(tnn_module_forward(n->g, n->z, &gen));
    /* g_loss = adversarial_loss(discriminator(gen_imgs), valid); g_loss.backward() --
     * which also fills D's gradients */
    TU_ASSERT_OK(tnn_module_forward(n->d, gen, &p));
    TU_ASSERT_OK(tnn_bce_loss(p, n->ones, g_loss, n->dp));
    TU_ASSERT_OK(tnn_module_backward(n->d, n->dp, &dgen));
    TU_ASSERT_OK(tnn_module_backward(n->g, dgen, NULL));
    TU_ASSERT_OK(tnn_optimizer_step(n->og));
    /* optimizer_D.zero_grad(); real_loss; fake_loss on gen_imgs.detach() */
    tnn_optimizer_zero_grad(n->od);
    float real_loss, fake_loss;
    TU_ASSERT_OK(tnn_module_forward(n->d, real, &p));
    TU_ASSERT_OK(tnn_bce_loss(p, n->ones, &real_loss, n->dp));
    tnn_tensor_scale(n->dp, 0.5f);
    TU_ASSERT_OK(tnn_module_backward(n->d, n->dp, NULL));
    TU_ASSERT_OK(tnn_module_forward(n->d, gen, &p));
    TU_ASSERT_OK(tnn_bce_loss(p, n->zeros, &fake_loss, n->dp));
    tnn_tensor_scale(n->dp, 0.5f);
    TU_ASSERT_OK(tnn_module_backward(n->d, n->dp, NULL));
    TU_ASSERT_OK(tnn_optimizer_step(n->od));
    float s = real_loss + fake_loss;
    *d_loss = s / 2.0f;
}

/* Every float and integer of two modules' state_dicts, bit for bit. */
static void compare_modules(tnn_module *a, tnn_module *b)
{
    tnn_tensor_list *la = tnn_module_state_dict(a, GAN_PREFIX), *lb = tnn_module_state_dict(b, GAN_PREFIX);
    assert_int_equal(la->count, lb->count);
    for (int i = 0; i < la->count; i++) {
        assert_string_equal(la->items[i].name, lb->items[i].name);
        size_t bytes = la->items[i].count * (la->items[i].dtype == TNN_I64 ? sizeof(int64_t) : sizeof(float));
        assert_memory_equal(la->items[i].data, lb->items[i].data, bytes);
    }
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);
}

static void gan_step_matches_seed_procedure(void **state)
{
    (void)state;
    tnn_set_num_threads(1);
    gan_config c = gan_config_defaults();
    c.latent_dim = 16;
    c.img_size = 8; /* 64 features: small and fast, same structure */
    tnn_adam_params a = tnn_adam_defaults();
    a.lr = 2e-4;
    a.beta1 = 0.5;
    a.beta2 = 0.999;
    tnn_rng init1, init2;
    tnn_rng_seed(&init1, 123);
    tnn_rng_seed(&init2, 123);
    gan_trainer *t = gan_trainer_new(&c, a, a, 16, &init1);
    assert_non_null(t);
    naive n = {0};
    n.g = gan_generator_new(&c, &init2);
    n.d = gan_discriminator_new(&c, &init2);
    n.og = tnn_adam_new(n.g, a);
    n.od = tnn_adam_new(n.d, a);
    n.z = tnn_tensor_new2(16, c.latent_dim);
    n.ones = tnn_tensor_new2(16, 1);
    n.zeros = tnn_tensor_new2(16, 1);
    n.dp = tnn_tensor_new2(16, 1);
    compare_modules(t->generator, n.g);
    compare_modules(t->discriminator, n.d);

    tnn_rng noise1, noise2, data;
    tnn_rng_seed(&noise1, 7);
    tnn_rng_seed(&noise2, 7);
    tnn_rng_seed(&data, 8);
    const int sizes[3] = {16, 16, 5}; /* ending with a partial batch */
    for (int it = 0; it < 3; it++) {
        tnn_tensor *real = tu_rand_tensor(&data, sizes[it], 64, -1.0f, 1.0f);
        float gl, dl;
        TU_ASSERT_OK(gan_trainer_step(t, real, &noise1));
        naive_step(&n, real, &noise2, &gl, &dl);
        assert_true(t->g_loss == gl);
        assert_true(t->d_loss == dl);
        assert_true(t->d_real_mean > 0.0f && t->d_real_mean < 1.0f);
        assert_true(t->d_fake_mean > 0.0f && t->d_fake_mean < 1.0f);
        assert_int_equal(t->gen_imgs->shape[0], sizes[it]);
        assert_int_equal(t->gen_imgs->shape[1], 64);
        tnn_tensor_free(real);
    }
    compare_modules(t->generator, n.g);
    compare_modules(t->discriminator, n.d);
    assert_int_equal(tnn_adam_step_count(t->opt_g), 3);
    assert_int_equal(tnn_adam_step_count(t->opt_d), 3);

    gan_trainer_free(t);
    tnn_module_free(n.g);
    tnn_module_free(n.d);
    tnn_optimizer_free(n.og);
    tnn_optimizer_free(n.od);
    tnn_tensor_free(n.z);
    tnn_tensor_free(n.ones);
    tnn_tensor_free(n.zeros);
    tnn_tensor_free(n.dp);
}

/* The networks carry the seed's state_dict names and shapes. */
static void gan_models_names(void **state)
{
    (void)state;
    gan_config c = gan_config_defaults();
    tnn_module *g = gan_generator_new(&c, NULL), *d = gan_discriminator_new(&c, NULL);
    assert_int_equal(tnn_sequential_len(g), 13);
    assert_int_equal(tnn_sequential_len(d), 6);
    tnn_tensor_list *lg = tnn_module_state_dict(g, GAN_PREFIX), *ld = tnn_module_state_dict(d, GAN_PREFIX);
    const char *gnames[] = {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.3.weight",
                            "model.3.bias", "model.3.running_mean", "model.3.running_var", "model.3.num_batches_tracked",
                            "model.5.weight", "model.5.bias", "model.6.weight", "model.6.bias",
                            "model.6.running_mean", "model.6.running_var", "model.6.num_batches_tracked",
                            "model.8.weight", "model.8.bias", "model.9.weight", "model.9.bias",
                            "model.9.running_mean", "model.9.running_var", "model.9.num_batches_tracked",
                            "model.11.weight", "model.11.bias"};
    assert_int_equal(lg->count, 25);
    for (int i = 0; i < 25; i++) assert_string_equal(lg->items[i].name, gnames[i]);
    assert_int_equal(lg->items[0].shape[0], 128);
    assert_int_equal(lg->items[0].shape[1], 100);
    assert_int_equal(lg->items[23].shape[0], 784);
    assert_int_equal(lg->items[23].shape[1], 1024);
    const char *dnames[] = {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.4.weight",
                            "model.4.bias"};
    assert_int_equal(ld->count, 6);
    for (int i = 0; i < 6; i++) assert_string_equal(ld->items[i].name, dnames[i]);
    assert_int_equal(ld->items[0].shape[1], 784);
    assert_int_equal(ld->items[4].shape[0], 1);
    char buf[96];
    assert_string_equal(tnn_module_describe(tnn_sequential_get(g, 3), buf, sizeof buf),
                        "batchnorm1d(256, eps=0.8, momentum=0.1)");
    /* gan_generator_values counts what the state_dict holds, for other sizes too */
    size_t n = 0;
    for (int i = 0; i < lg->count; i++) n += lg->items[i].count;
    assert_int_equal(gan_generator_values(&c), n);
    gan_config c2 = c;
    c2.latent_dim = 7;
    c2.img_size = 5;
    c2.channels = 3;
    tnn_module *g2 = gan_generator_new(&c2, NULL);
    tnn_tensor_list *l2 = tnn_module_state_dict(g2, "");
    n = 0;
    for (int i = 0; i < l2->count; i++) n += l2->items[i].count;
    assert_int_equal(gan_generator_values(&c2), n);
    tnn_tensor_list_free(l2);
    tnn_module_free(g2);
    c2.img_size = GAN_MAX_IMG_SIZE + 1;
    assert_int_equal(gan_generator_values(&c2), 0);
    /* The config round-trips through safetensors metadata, exactly. */
    c.bn_eps = 1e-5;
    c.latent_dim = 64;
    tnn_metadata *md = gan_config_to_metadata(&c);
    assert_string_equal(tnn_metadata_get(md, "bn_eps"), "1e-05");
    gan_config back = gan_config_defaults();
    char err[256];
    assert_int_equal(gan_config_from_metadata(md, "x", &back, err, sizeof err), TNN_OK);
    assert_true(back.bn_eps == 1e-5 && back.latent_dim == 64 && back.img_size == 28);
    tnn_metadata_set(md, "img_size", "28x");
    assert_int_not_equal(gan_config_from_metadata(md, "weights.st", &back, err, sizeof err), TNN_OK);
    assert_non_null(strstr(err, "weights.st: metadata img_size = '28x'"));
    tnn_metadata_free(md);
    tnn_tensor_list_free(lg);
    tnn_tensor_list_free(ld);
    tnn_module_free(g);
    tnn_module_free(d);
}

/* Every float and integer of two trainers' states (both networks' state_dicts, both
 * optimizers' states), bit for bit. */
static void assert_same_state(gan_trainer *a, gan_trainer *b)
{
    tnn_tensor_list *la = tnn_tensor_list_new(), *lb = tnn_tensor_list_new();
    gan_trainer *t[2] = {a, b};
    tnn_tensor_list *l[2] = {la, lb};
    for (int k = 0; k < 2; k++) {
        TU_ASSERT_OK(tnn_tensor_list_add_module(l[k], t[k]->generator, "g."));
        TU_ASSERT_OK(tnn_tensor_list_add_module(l[k], t[k]->discriminator, "d."));
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(l[k], t[k]->opt_g, "og."));
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(l[k], t[k]->opt_d, "od."));
    }
    assert_int_equal(la->count, lb->count);
    for (int i = 0; i < la->count; i++) {
        assert_string_equal(la->items[i].name, lb->items[i].name);
        size_t bytes = la->items[i].count * tnn_dtype_size(la->items[i].dtype);
        if (memcmp(la->items[i].data, lb->items[i].data, bytes) != 0) fail_msg("%s differs", la->items[i].name);
    }
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);
}

/* One step of a run over 12 images in batches of 6, as mnist_gan's loop does it. */
static void run_step(gan_train_state *s, const tnn_tensor *images)
{
    if (s->batch == 0) tnn_rng_shuffle(&s->rng, s->order, s->n_images);
    tnn_tensor *real = tnn_tensor_new2(6, images->shape[1]);
    for (int r = 0; r < 6; r++)
        memcpy(real->data + r * images->shape[1], images->data + s->order[s->batch * 6 + r] * images->shape[1],
               sizeof(float) * (size_t)images->shape[1]);
    TU_ASSERT_OK(gan_train_state_reserve(s, s->n_hist + 1));
    TU_ASSERT_OK(gan_trainer_step(s->tr, real, &s->rng));
    gan_train_state_record(s);
    if (++s->batch == s->batches) {
        s->batch = 0;
        s->epoch++;
    }
    tnn_tensor_free(real);
}

/* A checkpoint restored into a trainer built from another seed continues exactly as
 * the original: same losses, same weights and optimizer moments, bit for bit. */
static void gan_checkpoint_continues_exactly(void **state)
{
    (void)state;
    tnn_set_num_threads(1);
    gan_config c = gan_config_defaults();
    c.latent_dim = 8;
    c.img_size = 4; /* 16 features */
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 2e-4;
    ap.beta1 = 0.5;
    tnn_rng r1, r2, data;
    tnn_rng_seed(&r1, 5);
    tnn_rng_seed(&r2, 6);
    tnn_rng_seed(&data, 9);
    tnn_tensor *images = tu_rand_tensor(&data, 12, 16, -1.0f, 1.0f);
    gan_trainer *a = gan_trainer_new(&c, ap, ap, 6, &r1), *b = gan_trainer_new(&c, ap, ap, 6, &r2);
    gan_train_state sa, sb;
    TU_ASSERT_OK(gan_train_state_init(&sa, a, 12, 2));
    TU_ASSERT_OK(gan_train_state_init(&sb, b, 12, 2));
    sa.rng = r1;
    sb.rng = r2;
    for (int k = 0; k < 3; k++) run_step(&sa, images); /* stop in the middle of epoch 1 */
    assert_true(sa.epoch == 1 && sa.batch == 1);
    (void)tnn_rng_normal(&sa.rng); /* leave a spare Box-Muller value in the state */
    assert_int_equal(sa.rng.has_spare, 1);

    char path[64], err[1024];
    snprintf(path, sizeof path, "/tmp/tinynn_test_ckpt_%ld.safetensors", (long)getpid());
    tnn_metadata *md = tnn_metadata_new();
    TU_ASSERT_OK(tnn_metadata_set(md, "format", "test"));
    TU_ASSERT_OK(gan_checkpoint_save(path, &sa, md, err, sizeof err));
    tnn_metadata_free(md);
    tnn_safetensors *st = tnn_safetensors_load(path);
    unlink(path);
    if (!st) fail_msg("%s", tnn_last_error());
    assert_string_equal(tnn_metadata_get(tnn_safetensors_metadata(st), "format"), "test");
    assert_non_null(tnn_safetensors_find(st, "generator.model.3.running_var"));
    assert_non_null(tnn_safetensors_find(st, "optimizer_d.4.weight.exp_avg_sq"));

    /* a state of another shape is refused, naming what does not fit, and left alone */
    gan_train_state sc;
    TU_ASSERT_OK(gan_train_state_init(&sc, b, 13, 2));
    assert_int_not_equal(gan_checkpoint_restore(st, "ck", &sc, err, sizeof err), TNN_OK);
    assert_non_null(strstr(err, "train.order"));
    assert_true(sc.epoch == 0 && sc.batch == 0 && sc.n_hist == 0);
    gan_train_state_free(&sc);

    TU_ASSERT_OK(gan_checkpoint_restore(st, "ck", &sb, err, sizeof err));
    tnn_safetensors_free(st);
    assert_true(sb.epoch == 1 && sb.batch == 1 && sb.n_hist == 3);
    assert_memory_equal(&sa.rng, &sb.rng, sizeof sa.rng);
    assert_memory_equal(sa.order, sb.order, sizeof(int) * 12);
    assert_memory_equal(sa.hist, sb.hist, sizeof(float) * 3 * GAN_HIST_COLS);
    assert_same_state(a, b);
    for (int k = 0; k < 4; k++) { /* through an epoch boundary and its shuffle */
        run_step(&sa, images);
        run_step(&sb, images);
        assert_true(memcmp(&a->g_loss, &b->g_loss, sizeof(float)) == 0);
        assert_true(memcmp(&a->d_loss, &b->d_loss, sizeof(float)) == 0);
    }
    assert_same_state(a, b);
    assert_memory_equal(sa.hist, sb.hist, sizeof(float) * 7 * GAN_HIST_COLS);

    /* the finiteness check names the first bad tensor and element */
    char name[128];
    size_t index = 99;
    assert_false(gan_trainer_find_nonfinite(a, name, sizeof name, &index));
    const tnn_tensor_list *pd = a->opt_d->params;
    ((float *)pd->items[2].data)[5] = INFINITY;
    assert_true(gan_trainer_find_nonfinite(a, name, sizeof name, &index));
    assert_string_equal(name, "discriminator.model.2.weight");
    assert_int_equal(index, 5);

    gan_train_state_free(&sa);
    gan_train_state_free(&sb);
    gan_trainer_free(a);
    gan_trainer_free(b);
    tnn_tensor_free(images);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gan_step_matches_seed_procedure),
    cmocka_unit_test(gan_models_names),
    cmocka_unit_test(gan_checkpoint_continues_exactly),
};

TU_MAIN("gan_trainer", tests)
