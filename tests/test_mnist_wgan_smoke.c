/* End-to-end tests of examples/mnist_wgan, run as the user runs it (the binaries'
 * paths come from CMake):
 *   wgan_smoke_train   a few batches on the bundled MNIST (label `smoke`): the log
 *                      lines, the grids written and not written, the generator loads
 *                      into gan_generator_new's network by name (and mnist_gan_sample
 *                      samples from it), every critic parameter lies in [-clip, clip]
 *                      and the clip was reached, a second run with the same seed prints
 *                      the same log;
 *   wgan_first_step_losses  the first batch's D and G losses as printed, and the
 *                      generator after it, recomputed from wgan.py's definitions
 *                      (label `smoke`);
 *   wgan_cli_*         bad flags and folders: exit status 2 before any work, with a
 *                      message naming the flag (label `cli`).
 * Usage: test_mnist_wgan_smoke CASE path/to/mnist_wgan path/to/mnist_gan_sample */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "testutil.h"
#include "test_mnist_gan_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gan_models.h"

static const char *g_wgan = "mnist_wgan";

/* Training on the bundled data (TINYNN_DATA emptied: the default folder is used). */
static char *run_wgan(const char *extra, const char *out_dir)
{
    char args[1024], *out, *err;
    snprintf(args, sizeof args,
             "--max_batches 7 --batch_size 8 --n_critic 3 --sample_interval 4 --clip_value 0.02 --n_cpu 1 --seed 5 "
             "--out '%s'%s", out_dir, extra);
    int rc = gt_run("TINYNN_DATA=", g_wgan, args, &out, &err);
    if (rc != 0) fail_msg("mnist_wgan %s exited with %d:\n%s", args, rc, err);
    free(err);
    return out;
}

static void wgan_smoke_train(void **state)
{
    (void)state;
    char *out = run_wgan("", gt_path("out"));

    /* 7 batches, a generator step on batches 0, 3 and 6 (n_critic 3): three lines, the
     * "Batch" being batches_done (one per batch) modulo 7500 = 60000 / 8. */
    gt_assert_contains(out, "Namespace(batch_size=8, channels=1, clip_value=0.02,");
    int lines = 0;
    char *copy = strdup(out);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        int e, E, b, B, n = 0;
        double dl, gl;
        if (strncmp(line, "[Epoch", 6) != 0) continue;
        if (sscanf(line, "[Epoch %d/%d] [Batch %d/%d] [D loss: %lf] [G loss: %lf]%n", &e, &E, &b, &B, &dl, &gl, &n) !=
                6 || line[n] != '\0')
            fail_msg("not a log line: '%s'", line);
        assert_int_equal(e, 0);
        assert_int_equal(E, 200);
        assert_int_equal(b, 3 * lines);
        assert_int_equal(B, 7500);
        assert_true(isfinite(dl) && isfinite(gl));
        lines++;
    }
    assert_int_equal(lines, 3);
    free(copy);

    /* grids at batches_done 0 and 4 (sample_interval 4), as wgan.py saves them: on any
     * batch whose count is a multiple of the interval, from the last generator step's
     * images (batch 3's for 4.png); none at 3 or 6. The batch's 8 images of 28 pixels,
     * 5 per row, 2 pixels of padding. */
    const char *pngs[] = {"out/0.png", "out/4.png"};
    for (int k = 0; k < 2; k++) {
        int w = 0, h = 0, c = 0;
        unsigned char *img = tu_png_load(gt_path(pngs[k]), &w, &h, &c, 0);
        if (!img) fail_msg("%s: not a readable PNG (%s)", pngs[k], tu_png_error());
        assert_int_equal(w, 152);
        assert_int_equal(h, 62);
        tu_png_free(img);
    }
    assert_int_not_equal(access(gt_path("out/3.png"), F_OK), 0);
    assert_int_not_equal(access(gt_path("out/6.png"), F_OK), 0);

    /* the generator loads strictly, by name, into gan_generator_new's network */
    gan_config gc = gan_config_defaults();
    tnn_module *g = gan_generator_new(&gc, NULL);
    tnn_metadata *md = NULL;
    TU_ASSERT_OK(tnn_module_load(g, GAN_PREFIX, gt_path("out/generator.safetensors"), true, &md));
    assert_string_equal(tnn_metadata_get(md, "network"), "generator");
    tnn_metadata_free(md);
    tnn_module_free(g);
    /* and mnist_gan_sample draws from it */
    char args[1024], *sout, *serr;
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("out/generator.safetensors"), gt_path("s.png"));
    int rc = gt_run(NULL, g_sample, args, &sout, &serr);
    if (rc != 0) fail_msg("mnist_gan_sample exited with %d:\n%s", rc, serr);
    free(sout);
    free(serr);

    /* the critic: three Linears (784-512-256-1, no Sigmoid), every weight and bias in
     * [-0.02, 0.02] after the last clip, and the clip reached (torch.nn.Linear's
     * initial bound for 784 inputs is 1/28 > 0.02) */
    tnn_safetensors *st = tnn_safetensors_load(gt_path("out/critic.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    const char *names[] = {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias", "model.4.weight",
                           "model.4.bias"};
    const size_t counts[] = {512 * 784, 512, 256 * 512, 256, 256, 1};
    assert_int_equal(tnn_safetensors_count(st), 6);
    bool reached = false;
    for (int k = 0; k < 6; k++) {
        const tnn_st_tensor *t = tnn_safetensors_find(st, names[k]);
        if (!t) fail_msg("critic.safetensors lacks %s", names[k]);
        assert_int_equal(t->dtype, TNN_F32);
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
        assert_int_equal(n, counts[k]);
        for (size_t i = 0; i < n; i++) {
            float v;
            memcpy(&v, (const char *)t->data + 4 * i, 4);
            if (!(v >= -0.02f && v <= 0.02f)) fail_msg("%s[%zu] = %g lies outside [-0.02, 0.02]", names[k], i, v);
            reached |= fabsf(v) == 0.02f;
        }
    }
    assert_true(reached);
    tnn_safetensors_free(st);

    /* the same seed gives the same run */
    char *again = run_wgan("", gt_path("out2"));
    assert_string_equal(strstr(out, "[Epoch"), strstr(again, "[Epoch"));
    free(again);
    free(out);
}

/* The first batch's two losses, recomputed here from wgan.py's definitions with the
 * library: the same seeded stream draws the generator's weights, the critic's (three
 * torch.nn.Linear layers, no Sigmoid), the epoch's order and z. D loss is
 * -mean(D(x)) + mean(D(G(z))) with the initial critic; G loss is -mean(D'(G(z))) with
 * D' the critic after one RMSprop(5e-5) step and the clip (G, unchanged in between, gives
 * the same images for the same z). Then the saved generator: one generator step later. */
static void wgan_first_step_losses(void **state)
{
    (void)state;
    const int b = 16;
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "--max_batches 1 --batch_size %d --n_cpu 1 --seed 9 --out '%s'", b, gt_path("out"));
    int rc = gt_run("TINYNN_DATA=", g_wgan, args, &out, &err);
    if (rc != 0) fail_msg("mnist_wgan exited with %d:\n%s", rc, err);
    double printed_d, printed_g;
    const char *line = strstr(out, "[Epoch 0/200] [Batch 0/3750] [D loss: ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "[Epoch 0/200] [Batch 0/3750] [D loss: %lf] [G loss: %lf]", &printed_d, &printed_g), 2);
    assert_null(strstr(line + 1, "[Epoch")); /* one generator step */
    free(out);
    free(err);

    tnn_set_num_threads(1);
    tnn_rng rng;
    tnn_rng_seed(&rng, 9);
    gan_config gc = gan_config_defaults();
    tnn_module *g = gan_generator_new(&gc, &rng), *d = tnn_sequential_new();
    assert_non_null(g);
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_linear_new(784, 512, true, &rng)));
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_linear_new(512, 256, true, &rng)));
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(d, tnn_linear_new(256, 1, true, &rng)));
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_load(TNN_MNIST_DIR "/train-images-idx3-ubyte.gz", &idx));
    static int order[60000];
    for (int k = 0; k < 60000; k++) order[k] = k;
    tnn_rng_shuffle(&rng, order, 60000);
    tnn_tensor *real = tnn_tensor_new2(b, 784), *z = tnn_tensor_new2(b, 100), *dy = tnn_tensor_new2(b, 1);
    TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, order, 0, b, 28, 28, real));
    tnn_tensor_normal(z, &rng, 0.0f, 1.0f);
    const tnn_tensor *fake, *score;
    TU_ASSERT_OK(tnn_module_forward(g, z, &fake));

    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    p.lr = 5e-5;
    tnn_optimizer *opt = tnn_rmsprop_new(d, p);
    tnn_module_zero_grad(d);
    double mean_real = 0.0, mean_fake = 0.0;
    TU_ASSERT_OK(tnn_module_forward(d, real, &score));
    for (int k = 0; k < b; k++) mean_real += score->data[k] / (double)b;
    tnn_tensor_fill(dy, -1.0f / (float)b);
    TU_ASSERT_OK(tnn_module_backward(d, dy, NULL));
    TU_ASSERT_OK(tnn_module_forward(d, fake, &score));
    for (int k = 0; k < b; k++) mean_fake += score->data[k] / (double)b;
    tnn_tensor_fill(dy, 1.0f / (float)b);
    TU_ASSERT_OK(tnn_module_backward(d, dy, NULL));
    assert_true(fabs(printed_d - (-mean_real + mean_fake)) < 2e-6);

    TU_ASSERT_OK(tnn_optimizer_step(opt));
    tnn_tensor_list *params = tnn_module_parameters(d, NULL);
    for (int i = 0; i < params->count; i++) {
        float *v = params->items[i].data;
        for (size_t k = 0; k < params->items[i].count; k++) v[k] = fminf(fmaxf(v[k], -0.01f), 0.01f);
    }
    tnn_tensor_list_free(params);
    double mean_gen = 0.0;
    TU_ASSERT_OK(tnn_module_forward(d, fake, &score));
    for (int k = 0; k < b; k++) mean_gen += score->data[k] / (double)b;
    assert_true(fabs(printed_g - -mean_gen) < 2e-6);

    /* The generator step: G runs again on the same z (its BatchNorms' running statistics
     * move a second time), dL/dgen through the updated critic, one RMSprop step on G.
     * The saved generator must hold these values, bit for bit (the same operations on
     * one thread). */
    TU_ASSERT_OK(tnn_module_forward(g, z, &fake));
    tnn_module_set_requires_grad(d, false);
    TU_ASSERT_OK(tnn_module_forward(d, fake, &score));
    tnn_tensor_fill(dy, -1.0f / (float)b);
    const tnn_tensor *dgen;
    TU_ASSERT_OK(tnn_module_backward(d, dy, &dgen));
    tnn_optimizer *opt_g = tnn_rmsprop_new(g, p);
    tnn_module_zero_grad(g);
    TU_ASSERT_OK(tnn_module_backward(g, dgen, NULL));
    TU_ASSERT_OK(tnn_optimizer_step(opt_g));
    tnn_safetensors *st = tnn_safetensors_load(gt_path("out/generator.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    tnn_tensor_list *sd = tnn_module_state_dict(g, "model.");
    assert_int_equal(tnn_safetensors_count(st), sd->count);
    for (int i = 0; i < sd->count; i++) {
        const tnn_st_tensor *t = tnn_safetensors_find(st, sd->items[i].name);
        if (!t) fail_msg("generator.safetensors lacks %s", sd->items[i].name);
        size_t bytes = sd->items[i].count * tnn_dtype_size(sd->items[i].dtype);
        assert_int_equal(t->nbytes, bytes);
        if (memcmp(t->data, sd->items[i].data, bytes) != 0) fail_msg("%s differs", sd->items[i].name);
    }
    tnn_tensor_list_free(sd);
    tnn_safetensors_free(st);
    tnn_optimizer_free(opt_g);

    tnn_optimizer_free(opt);
    tnn_tensor_free(real);
    tnn_tensor_free(z);
    tnn_tensor_free(dy);
    tnn_idx_free(&idx);
    tnn_module_free(g);
    tnn_module_free(d);
}

/* A start refused with status 2, a message holding frag, nothing trained or written. */
static void expect_refused(const char *args, const char *frag)
{
    char full[1024], *out, *err;
    snprintf(full, sizeof full, "%s --max_batches 1 --out '%s'", args, gt_path("out"));
    int rc = gt_run(NULL, g_wgan, full, &out, &err);
    if (rc != 2) fail_msg("mnist_wgan %s: exit status %d, expected 2; stderr:\n%s", full, rc, err);
    gt_assert_contains(err, frag);
    assert_null(strstr(out, "[Epoch"));
    assert_int_not_equal(access(gt_path("out/generator.safetensors"), F_OK), 0);
    free(out);
    free(err);
}

static void wgan_cli_bad_flags(void **state)
{
    (void)state;
    expect_refused("--n_critic 0", "mnist_wgan: --n_critic: '0' is not a positive integer");
    expect_refused("--clip_value -1", "mnist_wgan: --clip_value: '-1' is not a positive number");
    expect_refused("--clip_value 0", "--clip_value: '0'");
    expect_refused("--clip_value nan", "--clip_value: 'nan'");
    expect_refused("--lr 0", "--lr: '0' is not a positive number");
    expect_refused("--batch_size 1", "--batch_size: '1' is not an integer >= 2");
    expect_refused("--max_batches -3", "--max_batches: '-3' is not a non-negative integer");
    expect_refused("--n_critc 5", "unknown flag '--n_critc'");
    expect_refused("--data /nonexistent/wgan", "/nonexistent/wgan");
    /* 9 images in batches of 8: the last one would hold 1 image */
    gt_write_dataset(gt_path("nine"), 9, 1);
    char args[512];
    snprintf(args, sizeof args, "--batch_size 8 --data '%s'", gt_path("nine"));
    expect_refused(args, "--batch_size 8: the last of");
}

static void wgan_cli_bad_out(void **state)
{
    (void)state;
    FILE *f = fopen(gt_path("file"), "w");
    assert_non_null(f);
    fclose(f);
    char args[512], *out, *err;
    snprintf(args, sizeof args, "--max_batches 1 --out '%s/sub'", gt_path("file"));
    int rc = gt_run(NULL, g_wgan, args, &out, &err);
    if (rc != 2) fail_msg("exit status %d, expected 2; stderr:\n%s", rc, err);
    gt_assert_contains(err, "mnist_wgan: --out ");
    free(out);
    free(err);
    rc = gt_run(NULL, g_wgan, "--help", &out, &err);
    assert_int_equal(rc, 0);
    gt_assert_contains(out, "--n_critic");
    gt_assert_contains(out, "--clip_value");
    free(out);
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(wgan_smoke_train, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(wgan_first_step_losses, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(wgan_cli_bad_flags, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(wgan_cli_bad_out, tu_tmpdir_make, tu_tmpdir_remove),
};

int main(int argc, char **argv)
{
    if (argc >= 4) {
        g_wgan = argv[2];
        g_sample = argv[3];
    }
    return tu_main(argc < 2 ? 1 : 2, argv, "mnist_wgan", tests, sizeof tests / sizeof tests[0]);
}
