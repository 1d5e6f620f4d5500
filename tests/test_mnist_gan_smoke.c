/* End-to-end tests of examples/mnist_gan and examples/mnist_gan_sample, run as the
 * user runs them (the binaries' paths come from CMake):
 *   smoke_*  a few batches of training on a small IDX file the test writes itself
 *            (label `smoke`): losses finite, grids valid 152 x 152 PNGs, weights load
 *            back, the sampler writes a PNG and an IDX file;
 *   cli_*    bad flags, folders and data: a non-zero exit before any work, with a
 *            message naming the flag or the file (label `cli`).
 * Usage: test_mnist_gan_smoke CASE path/to/mnist_gan path/to/mnist_gan_sample */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gan_models.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

static const char *g_gan = "mnist_gan", *g_sample = "mnist_gan_sample";
static char g_dir[64];

static int make_tmp(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/tinynn_test_gan_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_in(const char *name)
{
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = '\0';
    fclose(f);
    return b;
}

/* Run `prog args` with stdout and stderr captured in the temporary folder; returns the
 * exit status. */
static int run(const char *prog, const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", prog, args, path_in("stdout.txt"), path_in("stderr.txt"));
    int rc = system(cmd);
    *out = slurp(path_in("stdout.txt"));
    *err = slurp(path_in("stderr.txt"));
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* A small IDX image set: n 28 x 28 "digits" (a bright bar at a random place and angle
 * on a dark background), gzipped. */
static void write_dataset(const char *dir, int n)
{
    mkdir(dir, 0777);
    uint8_t *px = calloc((size_t)n, 784);
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    for (int k = 0; k < n; k++) {
        int x0 = 6 + (int)tnn_rng_below(&r, 12), y0 = 4 + (int)tnn_rng_below(&r, 6), slope = (int)tnn_rng_below(&r, 3) - 1;
        for (int t = 0; t < 18; t++) {
            int y = y0 + t, x = x0 + slope * t / 3;
            for (int dx = 0; dx < 3; dx++)
                if (x + dx >= 0 && x + dx < 28 && y < 28) px[(size_t)k * 784 + (size_t)y * 28 + (size_t)(x + dx)] = 255;
        }
    }
    char path[256];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    TU_ASSERT_OK(tnn_idx_save_u8(path, px, 3, (int[]){n, 28, 28}));
    free(px);
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("expected \"%s\" in:\n%s", want, text);
}

static void check_png(const char *path, int want_w, int want_h)
{
    int w = 0, h = 0, c = 0;
    uint8_t *img = stbi_load(path, &w, &h, &c, 0);
    if (!img) fail_msg("%s: not a readable PNG (%s)", path, stbi_failure_reason());
    assert_int_equal(w, want_w);
    assert_int_equal(h, want_h);
    assert_int_equal(c, 3);
    /* padding is black, and the images are not all one value */
    int distinct = 0;
    for (int i = 0; i < w * h * 3; i++) distinct |= img[i] != img[0];
    assert_int_equal(img[0], 0);
    assert_true(distinct);
    stbi_image_free(img);
}

/* ---- smoke: train a few batches ---- */

static void smoke_train_and_sample(void **state)
{
    (void)state;
    write_dataset(path_in("data"), 300);
    char args[1024], *out, *err;
    snprintf(args, sizeof args,
             "--n_epochs 1 --batch_size 64 --sample_interval 2 --n_cpu 1 --seed 3 --data '%s' --out '%s'",
             path_in("data"), path_in("out"));
    int rc = run(g_gan, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan exited with %d:\n%s", rc, err);

    /* 300 images at 64 per batch: 5 batches, the last one partial (44), all logged. */
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int e, E, b, B;
        double dl, gl;
        if (sscanf(line, "[Epoch %d/%d] [Batch %d/%d] [D loss: %lf] [G loss: %lf]", &e, &E, &b, &B, &dl, &gl) != 6)
            continue;
        assert_int_equal(e, 0);
        assert_int_equal(E, 1);
        assert_int_equal(b, lines);
        assert_int_equal(B, 5);
        assert_true(isfinite(dl) && isfinite(gl) && dl > 0.0 && gl > 0.0);
        lines++;
    }
    assert_int_equal(lines, 5);
    free(out);
    free(err);

    /* grids at batches_done 0, 2, 4 */
    check_png(path_in("out/images/0.png"), 152, 152);
    check_png(path_in("out/images/2.png"), 152, 152);
    check_png(path_in("out/images/4.png"), 152, 152);
    assert_int_not_equal(access(path_in("out/images/1.png"), F_OK), 0);

    /* the weights load back, strictly, into the seed's generator and discriminator */
    tnn_safetensors *st = tnn_safetensors_load(path_in("out/generator.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    const tnn_metadata *md = tnn_safetensors_metadata(st);
    assert_string_equal(tnn_metadata_get(md, "latent_dim"), "100");
    assert_string_equal(tnn_metadata_get(md, "img_size"), "28");
    assert_string_equal(tnn_metadata_get(md, "channels"), "1");
    assert_string_equal(tnn_metadata_get(md, "bn_eps"), "0.8");
    assert_string_equal(tnn_metadata_get(md, "bn_momentum"), "0.1");
    gan_config c = gan_config_defaults();
    char msg[256];
    assert_int_equal(gan_config_from_metadata(md, "generator", &c, msg, sizeof msg), TNN_OK);
    tnn_module *g = gan_generator_new(&c, NULL);
    tnn_tensor_list *sd = tnn_module_state_dict(g, GAN_PREFIX);
    TU_ASSERT_OK(tnn_safetensors_copy_into(st, sd, true));
    const tnn_st_tensor *nbt = tnn_safetensors_find(st, "model.3.num_batches_tracked");
    assert_non_null(nbt);
    assert_int_equal(nbt->dtype, TNN_I64);
    int64_t batches;
    memcpy(&batches, nbt->data, sizeof batches);
    assert_int_equal(batches, 5);
    tnn_tensor_list_free(sd);
    tnn_module_free(g);
    tnn_safetensors_free(st);
    tnn_module *d = gan_discriminator_new(&c, NULL);
    TU_ASSERT_OK(tnn_module_load(d, GAN_PREFIX, path_in("out/discriminator.safetensors"), true, NULL));
    tnn_module_free(d);

    /* the sampler: a 5 x 5 grid and a gzipped IDX of 30 images */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 30 --seed 1 --png '%s' --idx '%s'",
             path_in("out/generator.safetensors"), path_in("s.png"), path_in("s-idx3-ubyte.gz"));
    rc = run(g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    check_png(path_in("s.png"), 152, 182); /* 30 images, 5 per row: 6 rows */
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_load(path_in("s-idx3-ubyte.gz"), &idx));
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.dims[0], 30);
    assert_int_equal(idx.dims[1], 28);
    assert_int_equal(idx.dims[2], 28);
    tnn_idx_free(&idx);
    /* eval mode works for a single image */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 1 --bn_mode eval --idx '%s'",
             path_in("out/generator.safetensors"), path_in("one-idx3-ubyte"));
    rc = run(g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample --bn_mode eval exited with %d:\n%s", rc, err);
    free(out);
    free(err);
}

/* ---- cli: every bad invocation fails before any work, naming the flag ---- */

/* Run mnist_gan with args (a valid small --data and --out are added unless the args
 * give their own) and expect exit status `want_rc` with each fragment in stderr. */
static void expect_fail(const char *prog, const char *args, int want_rc, const char *frag1, const char *frag2)
{
    char full[1024], *out, *err;
    bool own_data = strstr(args, "--data") != NULL, own_out = strstr(args, "--out") != NULL;
    if (prog == g_gan) {
        if (access(path_in("data/train-images-idx3-ubyte.gz"), F_OK) != 0) write_dataset(path_in("data"), 10);
        snprintf(full, sizeof full, "%s%s%s%s%s%s", args, own_data ? "" : " --data '", own_data ? "" : path_in("data"),
                 own_data ? "" : "'", own_out ? "" : " --out ", own_out ? "" : path_in("out"));
    } else {
        snprintf(full, sizeof full, "%s", args);
    }
    int rc = run(prog, full, &out, &err);
    if (rc != want_rc) fail_msg("%s %s: exit status %d, expected %d; stderr:\n%s", prog, full, rc, want_rc, err);
    if (frag1) assert_contains(err, frag1);
    if (frag2) assert_contains(err, frag2);
    assert_true(strstr(out, "[Epoch") == NULL); /* no training happened */
    free(out);
    free(err);
    /* nothing was written for a failed start */
    assert_int_not_equal(access(path_in("out/generator.safetensors"), F_OK), 0);
}

static void cli_unknown_flag(void **state)
{
    (void)state;
    expect_fail(g_gan, "--n_epoch 3", 2, "unknown flag '--n_epoch'", NULL);
    expect_fail(g_gan, "stray", 2, "unexpected argument 'stray'", NULL);
    expect_fail(g_sample, "--weights x --pngg y", 2, "unknown flag '--pngg'", NULL);
}

static void cli_bad_numbers(void **state)
{
    (void)state;
    expect_fail(g_gan, "--batch_size 0", 2, "--batch_size: '0' is not a positive integer", NULL);
    expect_fail(g_gan, "--batch_size -5", 2, "--batch_size: '-5' is not a positive integer", NULL);
    expect_fail(g_gan, "--batch_size 12x", 2, "--batch_size: '12x' is not a positive integer", NULL);
    expect_fail(g_gan, "--batch_size ' 12'", 2, "--batch_size: ' 12' is not a positive integer", NULL);
    expect_fail(g_gan, "--lr abc", 2, "--lr: 'abc' is not a positive number", NULL);
    expect_fail(g_gan, "--lr 0", 2, "--lr: '0' is not a positive number", NULL);
    expect_fail(g_gan, "--lr nan", 2, "--lr: 'nan' is not a positive number", NULL);
    expect_fail(g_gan, "--lr 1e999", 2, "--lr: '1e999' is not a positive number", NULL);
    expect_fail(g_gan, "--b1 1", 2, "--b1: '1' is not a number in [0, 1)", NULL);
    expect_fail(g_gan, "--n_epochs 99999999999999999999", 2, "--n_epochs: '99999999999999999999' is not a positive integer", NULL);
    expect_fail(g_gan, "--n_epochs 2147483648", 2, "--n_epochs: '2147483648'", NULL);
    expect_fail(g_gan, "--sample_interval=0", 2, "--sample_interval: '0' is not a positive integer", NULL);
    expect_fail(g_gan, "--seed -1", 2, "--seed: '-1' is not a non-negative integer", NULL);
    expect_fail(g_gan, "--bn_eps -0.1", 2, "--bn_eps: '-0.1' is not a non-negative number", NULL);
    expect_fail(g_gan, "--lr", 2, "--lr: missing value", NULL);
    expect_fail(g_gan, "--batch_size 1", 2, "--batch_size 1", "BatchNorm1d");
    expect_fail(g_sample, "--weights x --png y --bn_mode test", 2, "--bn_mode: 'test' is not one of train, eval", NULL);
    expect_fail(g_sample, "--png y", 2, "--weights FILE is required", NULL);
}

static void cli_bad_folders(void **state)
{
    (void)state;
    expect_fail(g_gan, "--out /proc/x", 2, "--out /proc/x", NULL);
    expect_fail(g_gan, "--out /dev/null/x", 2, "--out /dev/null/x", NULL);
    expect_fail(g_gan, "--data /nonexistent-tinynn-data", 2, "--data /nonexistent-tinynn-data", "No such file");
    mkdir(path_in("empty"), 0777);
    char args[512];
    snprintf(args, sizeof args, "--data '%s'", path_in("empty"));
    expect_fail(g_gan, args, 2, "holds neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte", NULL);
    /* TINYNN_DATA is used when --data is absent, and named in the message */
    char *out, *err;
    snprintf(args, sizeof args, "TINYNN_DATA='%s' '%s' --out '%s'", path_in("empty"), g_gan, path_in("out"));
    assert_int_equal(run("env", args, &out, &err), 2);
    assert_contains(err, "TINYNN_DATA");
    free(out);
    free(err);
}

static void cli_bad_data(void **state)
{
    (void)state;
    mkdir(path_in("bad"), 0777);
    FILE *f = fopen(path_in("bad/train-images-idx3-ubyte.gz"), "wb");
    fputs("this is not an IDX file", f);
    fclose(f);
    char args[512];
    snprintf(args, sizeof args, "--data '%s'", path_in("bad"));
    expect_fail(g_gan, args, 1, "train-images-idx3-ubyte.gz", "not an IDX file");
    /* --channels must match the data */
    expect_fail(g_gan, "--channels 3", 2, "--channels 3", "1 channel");
    /* a weights file that is not safetensors */
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", path_in("bad/train-images-idx3-ubyte.gz"), path_in("x.png"));
    expect_fail(g_sample, args, 1, "train-images-idx3-ubyte.gz", NULL);
}

static void cli_help(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(run(g_gan, "--help", &out, &err), 0);
    const char *flags[] = {"--n_epochs", "--batch_size", "--lr", "--b1", "--b2", "--n_cpu", "--latent_dim",
                           "--img_size", "--channels", "--sample_interval", "--data", "--out", "--seed",
                           "--bn_eps", "--bn_momentum", "--log_interval", "(default: 0.0002)"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) assert_contains(out, flags[i]);
    free(out);
    free(err);
    assert_int_equal(run(g_sample, "-h", &out, &err), 0);
    assert_contains(out, "--bn_mode train|eval");
    free(out);
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(smoke_train_and_sample, make_tmp, remove_tmp),
    cmocka_unit_test_setup_teardown(cli_unknown_flag, make_tmp, remove_tmp),
    cmocka_unit_test_setup_teardown(cli_bad_numbers, make_tmp, remove_tmp),
    cmocka_unit_test_setup_teardown(cli_bad_folders, make_tmp, remove_tmp),
    cmocka_unit_test_setup_teardown(cli_bad_data, make_tmp, remove_tmp),
    cmocka_unit_test_setup_teardown(cli_help, make_tmp, remove_tmp),
};

int main(int argc, char **argv)
{
    if (argc >= 4) {
        g_gan = argv[2];
        g_sample = argv[3];
    }
    return tu_main(argc < 2 ? 1 : 2, argv, "mnist_gan", tests, sizeof tests / sizeof tests[0]);
}
