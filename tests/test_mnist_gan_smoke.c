/* End-to-end tests of examples/mnist_gan and examples/mnist_gan_sample, run as the
 * user runs them (the binaries' paths come from CMake):
 *   smoke_*  a few batches of training on a small IDX file the test writes itself
 *            (label `smoke`): losses finite, grids valid 152 x 152 PNGs, weights load
 *            back, the sampler writes a PNG and an IDX file; losses.csv agrees with the
 *            log, losses.png is a readable plot; --snapshot_epochs;
 *   cli_*    bad flags, folders and data: a non-zero exit before any work (2 for
 *            flags, missing files and data that does not fit, 1 for damaged files),
 *            with a message naming the flag or the file; the progress bar on a
 *            terminal (label `cli`).
 * Checkpoints, --resume, signals and divergence: test_mnist_gan_resume.c.
 * Usage: test_mnist_gan_smoke CASE path/to/mnist_gan path/to/mnist_gan_sample */
#define _XOPEN_SOURCE 700 /* posix_openpt, ptsname */
#include "testutil.h"
#include "test_mnist_gan_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "gan_models.h"


static void check_png(const char *path, int want_w, int want_h)
{
    int w = 0, h = 0, c = 0;
    uint8_t *img = tu_png_load(path, &w, &h, &c, 0);
    if (!img) fail_msg("%s: not a readable PNG (%s)", path, tu_png_error());
    assert_int_equal(w, want_w);
    assert_int_equal(h, want_h);
    assert_int_equal(c, 3);
    /* padding is black, and the images are not all one value */
    int distinct = 0;
    for (int i = 0; i < w * h * 3; i++) distinct |= img[i] != img[0];
    assert_int_equal(img[0], 0);
    assert_true(distinct);
    tu_png_free(img);
}

/* docs/mnist_gan.md's use_generator.c, built as doc_use_generator (argv[4]) */
static const char *g_doc_generator;

/* ---- smoke: train a few batches ---- */

static void smoke_train_and_sample(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 300, 11);
    char args[1024], *out, *err;
    snprintf(args, sizeof args,
             "--n_epochs 4 --batch_size 64 --sample_interval 2 --n_cpu 1 --seed 3 --data '%s' --out '%s' "
             "--n_epochs 1", /* a flag given twice takes its last value, as in argparse */
             gt_path("data"), gt_path("out"));
    int rc = gt_run(NULL, g_gan, args, &out, &err);
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
    check_png(gt_path("out/images/0.png"), 152, 152);
    check_png(gt_path("out/images/2.png"), 152, 152);
    check_png(gt_path("out/images/4.png"), 152, 152);
    assert_int_not_equal(access(gt_path("out/images/1.png"), F_OK), 0);

    /* the weights load back, strictly, into the seed's generator and discriminator */
    tnn_safetensors *st = tnn_safetensors_load(gt_path("out/generator.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    const tnn_metadata *md = tnn_safetensors_metadata(st);
    assert_string_equal(tnn_metadata_get(md, "latent_dim"), "100");
    assert_string_equal(tnn_metadata_get(md, "img_size"), "28");
    assert_string_equal(tnn_metadata_get(md, "channels"), "1");
    assert_string_equal(tnn_metadata_get(md, "bn_eps"), "0.8");
    assert_string_equal(tnn_metadata_get(md, "bn_momentum"), "0.1");
    assert_string_equal(tnn_metadata_get(md, "network"), "generator");
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
    tnn_metadata *dmd = NULL;
    TU_ASSERT_OK(tnn_module_load(d, GAN_PREFIX, gt_path("out/discriminator.safetensors"), true, &dmd));
    assert_string_equal(tnn_metadata_get(dmd, "network"), "discriminator");
    tnn_metadata_free(dmd);
    tnn_module_free(d);
    /* the sampler given the discriminator says which file it got */
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("out/discriminator.safetensors"),
             gt_path("d.png"));
    rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 2) fail_msg("mnist_gan_sample given the discriminator exited with %d:\n%s", rc, err);
    gt_assert_contains(err, "discriminator.safetensors: holds the discriminator (its metadata's network), not the "
                            "generator");
    assert_int_not_equal(access(gt_path("d.png"), F_OK), 0);
    free(out);
    free(err);

    /* the sampler: a 5 x 5 grid and a gzipped IDX of 30 images */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 30 --seed 1 --png '%s' --idx '%s'",
             gt_path("out/generator.safetensors"), gt_path("s.png"), gt_path("s-idx3-ubyte.gz"));
    rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    check_png(gt_path("s.png"), 152, 182); /* 30 images, 5 per row: 6 rows */
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_load(gt_path("s-idx3-ubyte.gz"), &idx));
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.dims[0], 30);
    assert_int_equal(idx.dims[1], 28);
    assert_int_equal(idx.dims[2], 28);
    tnn_idx_free(&idx);
    /* docs/mnist_gan.md's program draws the grid mnist_gan_sample draws by default */
    if (!g_doc_generator) fail_msg("the path to doc_use_generator was not given");
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("out/generator.safetensors"),
             gt_path("ref.png"));
    rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    snprintf(args, sizeof args, "'%s' '%s'", gt_path("out/generator.safetensors"), gt_path("doc.png"));
    rc = gt_run(NULL, g_doc_generator, args, &out, &err);
    if (rc != 0) fail_msg("doc_use_generator exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    gt_assert_same_file(gt_path("doc.png"), gt_path("ref.png"));
    /* eval mode works for a single image */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 1 --bn_mode eval --idx '%s'",
             gt_path("out/generator.safetensors"), gt_path("one-idx3-ubyte"));
    rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample --bn_mode eval exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    /* in train mode, 3 images in batches of at most 2 would leave a batch of one:
     * refused before any work, naming both flags */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 3 --batch_size 2 --png '%s'",
             gt_path("out/generator.safetensors"), gt_path("three.png"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "--n_samples 3 in batches of at most --batch_size 2 would leave a batch of one image");
    free(out);
    free(err);
    /* an output that is a FIFO is refused, and stays a FIFO */
    assert_int_equal(mkfifo(gt_path("fifo"), 0644), 0);
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("out/generator.safetensors"), gt_path("fifo"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "fifo exists and is not a regular file");
    struct stat sb;
    assert_int_equal(stat(gt_path("fifo"), &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    free(out);
    free(err);
    /* an output that is the weights file (here through another path), or both outputs
     * one file: refused, and the weights are unchanged */
    size_t wlen;
    char *wbefore = gt_slurp(gt_path("out/generator.safetensors"), &wlen);
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("out/generator.safetensors"),
             gt_path("out/../out/generator.safetensors"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "is the --weights file");
    free(out);
    free(err);
    snprintf(args, sizeof args, "--weights '%s' --idx '%s'", gt_path("out/generator.safetensors"),
             gt_path("out/generator.safetensors"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "--idx");
    gt_assert_contains(err, "is the --weights file");
    free(out);
    free(err);
    size_t wlen2;
    char *wafter = gt_slurp(gt_path("out/generator.safetensors"), &wlen2);
    assert_int_equal(wlen, wlen2);
    assert_memory_equal(wbefore, wafter, wlen);
    free(wbefore);
    free(wafter);
    snprintf(args, sizeof args, "--weights '%s' --png '%s' --idx '%s'", gt_path("out/generator.safetensors"),
             gt_path("both"), gt_path("both"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "--png and --idx are the same file");
    free(out);
    free(err);
    /* the same new file spelled two ways: refused too (the PNG was replaced by the IDX) */
    snprintf(args, sizeof args, "--weights '%s' --png '%s' --idx '%s/./both2'", gt_path("out/generator.safetensors"),
             gt_path("both2"), gt_path(""));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "--png and --idx are the same file");
    free(out);
    free(err);
    /* weights holding a NaN: refused, naming the file and the tensor */
    tnn_safetensors *gst = tnn_safetensors_load(gt_path("out/generator.safetensors"));
    assert_non_null(gst);
    gan_config gcfg = gan_config_defaults();
    char why[256];
    TU_ASSERT_OK(gan_config_from_metadata(tnn_safetensors_metadata(gst), "generator", &gcfg, why, sizeof why));
    tnn_module *gn = gan_generator_new(&gcfg, NULL);
    TU_ASSERT_OK(tnn_module_load(gn, GAN_PREFIX, gt_path("out/generator.safetensors"), true, NULL));
    tnn_tensor_list *gsd = tnn_module_state_dict(gn, GAN_PREFIX);
    ((float *)gsd->items[2].data)[5] = NAN;
    TU_ASSERT_OK(tnn_module_save(gn, GAN_PREFIX, gt_path("nan.safetensors"), tnn_safetensors_metadata(gst)));
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("nan.safetensors"), gt_path("nan.png"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 1); /* a damaged file, as for --resume */
    gt_assert_contains(err, "nan.safetensors");
    gt_assert_contains(err, "holds NaN at element 5");
    assert_int_not_equal(access(gt_path("nan.png"), F_OK), 0);
    free(out);
    free(err);
    /* a negative running variance: refused whatever the output (eval mode would give
     * NaN images, written to --idx as black ones) */
    ((float *)gsd->items[2].data)[5] = 0.5f;
    const tnn_named_tensor *rv = tnn_tensor_list_find(gsd, "model.3.running_var");
    assert_non_null(rv);
    ((float *)rv->data)[7] = -1.0f;
    TU_ASSERT_OK(tnn_module_save(gn, GAN_PREFIX, gt_path("negvar.safetensors"), tnn_safetensors_metadata(gst)));
    snprintf(args, sizeof args, "--weights '%s' --bn_mode eval --idx '%s'", gt_path("negvar.safetensors"),
             gt_path("negvar-idx3-ubyte"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 1);
    gt_assert_contains(err, "'model.3.running_var' is negative at element 7");
    assert_int_not_equal(access(gt_path("negvar-idx3-ubyte"), F_OK), 0);
    free(out);
    free(err);
    /* metadata promising a larger generator than the file holds: refused before the
     * network is built (4 channels of 1024 x 1024 would be 4.3 G values) */
    ((float *)rv->data)[7] = 1.0f;
    tnn_metadata *big = tnn_metadata_new();
    TU_ASSERT_OK(tnn_metadata_set(big, "img_size", "1024"));
    TU_ASSERT_OK(tnn_metadata_set(big, "channels", "4"));
    TU_ASSERT_OK(tnn_module_save(gn, GAN_PREFIX, gt_path("big.safetensors"), big));
    tnn_metadata_free(big);
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("big.safetensors"), gt_path("big.png"));
    assert_int_equal(gt_run(NULL, g_sample, args, &out, &err), 2);
    gt_assert_contains(err, "big.safetensors: its metadata's sizes (latent_dim 100, img_size 1024, channels 4) describe a "
                            "generator of 4299871619 values, the file holds 1513619");
    assert_int_not_equal(access(gt_path("big.png"), F_OK), 0);
    free(out);
    free(err);
    tnn_tensor_list_free(gsd);
    tnn_module_free(gn);
    tnn_safetensors_free(gst);

    /* 4-channel images train, and their grids are RGBA PNGs (save_image's) */
    mkdir(gt_path("d4"), 0777);
    uint8_t *px4 = malloc(64 * 28 * 28 * 4);
    for (int i = 0; i < 64 * 28 * 28 * 4; i++) px4[i] = (uint8_t)(i * 7 % 251);
    TU_ASSERT_OK(tnn_idx_save_u8(gt_path("d4/train-images-idx3-ubyte"), px4, 4, (int[]){64, 28, 28, 4}));
    free(px4);
    snprintf(args, sizeof args, "--channels 4 --n_epochs 1 --batch_size 32 --n_cpu 1 --data '%s' --out '%s'",
             gt_path("d4"), gt_path("o4"));
    rc = gt_run(NULL, g_gan, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan --channels 4 exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    int w4, h4, c4;
    uint8_t *img4 = tu_png_load(gt_path("o4/images/0.png"), &w4, &h4, &c4, 0);
    assert_non_null(img4);
    assert_int_equal(w4, 152);
    assert_int_equal(h4, 152);
    assert_int_equal(c4, 4);
    tu_png_free(img4);
}

/* A pixel of exactly this colour somewhere in the image. */
static bool has_colour(const uint8_t *img, int w, int h, int r, int g, int b)
{
    for (int i = 0; i < w * h; i++)
        if (img[3 * i] == r && img[3 * i + 1] == g && img[3 * i + 2] == b) return true;
    return false;
}

/* One tensor's bytes in two files are the same. */
static void assert_same_tensor(const tnn_safetensors *a, const tnn_safetensors *b, const char *name)
{
    const tnn_st_tensor *x = tnn_safetensors_find(a, name), *y = tnn_safetensors_find(b, name);
    if (!x || !y) fail_msg("tensor %s missing", name);
    assert_int_equal(x->nbytes, y->nbytes);
    assert_memory_equal(x->data, y->data, x->nbytes);
}

static void smoke_losses_and_snapshots(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 300, 11);
    char args[1024], *out, *err;
    snprintf(args, sizeof args,
             "--n_epochs 2 --batch_size 64 --sample_interval 3 --n_cpu 1 --snapshot_epochs 2,1,7 --data '%s' --out '%s'",
             gt_path("data"), gt_path("out"));
    int rc = gt_run(NULL, g_gan, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan exited with %d:\n%s", rc, err);

    /* losses.csv: a header and one row per batch whose losses are the log's, as printed */
    char *csv = gt_slurp(gt_path("out/losses.csv"), NULL);
    const char *header = "epoch,batch,d_loss,g_loss,d_x,d_g_z\n";
    assert_true(strncmp(csv, header, strlen(header)) == 0);
    char *save_csv, *save_log;
    char *row = strtok_r(csv + strlen(header), "\n", &save_csv);
    char *line = strtok_r(out, "\n", &save_log);
    int rows = 0;
    for (; row; row = strtok_r(NULL, "\n", &save_csv), rows++) {
        int e, b;
        char dl[32], gl[32];
        double dx, dgz;
        assert_int_equal(sscanf(row, "%d,%d,%31[^,],%31[^,],%lf,%lf", &e, &b, dl, gl, &dx, &dgz), 6);
        assert_int_equal(e, rows / 5);
        assert_int_equal(b, rows % 5);
        assert_true(dx > 0.0 && dx < 1.0 && dgz > 0.0 && dgz < 1.0);
        while (line && strncmp(line, "[Epoch", 6) != 0) line = strtok_r(NULL, "\n", &save_log);
        assert_non_null(line);
        char want[128];
        snprintf(want, sizeof want, "[Epoch %d/2] [Batch %d/5] [D loss: %s] [G loss: %s]", e, b, dl, gl);
        assert_string_equal(line, want);
        line = strtok_r(NULL, "\n", &save_log);
    }
    assert_int_equal(rows, 10);
    free(csv);
    free(out);
    free(err);

    /* losses.png: a plot with both curves in their colours and black text */
    int w = 0, h = 0, c = 0;
    uint8_t *img = tu_png_load(gt_path("out/losses.png"), &w, &h, &c, 3);
    if (!img) fail_msg("losses.png: not a readable PNG (%s)", tu_png_error());
    assert_int_equal(w, 800);
    assert_int_equal(h, 450);
    assert_true(has_colour(img, w, h, 31, 119, 180));  /* D */
    assert_true(has_colour(img, w, h, 255, 127, 14));  /* G */
    assert_true(has_colour(img, w, h, 0, 0, 0));       /* title, frame */
    tu_png_free(img);

    /* snapshots after epochs 1 and 2 (7 is never reached); the last equals the final weights */
    tnn_safetensors *s2 = tnn_safetensors_load(gt_path("out/generator_epoch2.safetensors"));
    tnn_safetensors *g = tnn_safetensors_load(gt_path("out/generator.safetensors"));
    if (!s2 || !g) fail_msg("%s", tnn_last_error());
    assert_int_equal(tnn_safetensors_count(s2), tnn_safetensors_count(g));
    for (int i = 0; i < tnn_safetensors_count(g); i++) assert_same_tensor(s2, g, tnn_safetensors_get(g, i)->name);
    assert_string_equal(tnn_metadata_get(tnn_safetensors_metadata(s2), "epoch"), "2");
    assert_string_equal(tnn_metadata_get(tnn_safetensors_metadata(s2), "bn_eps"), "0.8");
    tnn_safetensors_free(s2);
    tnn_safetensors_free(g);
    assert_int_equal(access(gt_path("out/generator_epoch1.safetensors"), F_OK), 0);
    assert_int_not_equal(access(gt_path("out/generator_epoch7.safetensors"), F_OK), 0);
    /* the sampler reads a snapshot like any generator file */
    snprintf(args, sizeof args, "--weights '%s' --n_samples 4 --png '%s'", gt_path("out/generator_epoch1.safetensors"),
             gt_path("s.png"));
    rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample exited with %d:\n%s", rc, err);
    free(out);
    free(err);
    /* and the generator inside the final checkpoint is the final generator */
    const char *from[2] = {"out/checkpoint.safetensors", "out/generator.safetensors"};
    const char *to[2] = {"c.png", "g.png"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "--weights '%s' --n_samples 9 --png '%s'", gt_path(from[k]), gt_path(to[k]));
        rc = gt_run(NULL, g_sample, args, &out, &err);
        if (rc != 0) fail_msg("mnist_gan_sample --weights %s exited with %d:\n%s", from[k], rc, err);
        free(out);
        free(err);
    }
    gt_assert_same_file(gt_path("c.png"), gt_path("g.png"));
}

/* ---- cli: every bad invocation fails before any work, naming the flag ---- */

/* Run mnist_gan with args (a valid small --data and --out are added unless the args
 * give their own) and expect exit status `want_rc` with each fragment in stderr. */
/* Physical memory in bytes, 0 if unknown: cases that ask for more than the machine has
 * run only where that is more than they ask for. */
static double machine_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}

static void expect_fail(const char *prog, const char *args, int want_rc, const char *frag1, const char *frag2)
{
    char full[1024], *out, *err;
    bool own_data = strstr(args, "--data") != NULL, own_out = strstr(args, "--out") != NULL;
    if (prog == g_gan) {
        if (access(gt_path("data/train-images-idx3-ubyte.gz"), F_OK) != 0) gt_write_dataset(gt_path("data"), 10, 11);
        snprintf(full, sizeof full, "%s%s%s%s%s%s", args, own_data ? "" : " --data '", own_data ? "" : gt_path("data"),
                 own_data ? "" : "'", own_out ? "" : " --out ", own_out ? "" : gt_path("out"));
    } else {
        snprintf(full, sizeof full, "%s", args);
    }
    int rc = gt_run(NULL, prog, full, &out, &err);
    if (rc != want_rc) fail_msg("%s %s: exit status %d, expected %d; stderr:\n%s", prog, full, rc, want_rc, err);
    if (frag1) gt_assert_contains(err, frag1);
    if (frag2) gt_assert_contains(err, frag2);
    assert_true(strstr(out, "[Epoch") == NULL); /* no training happened */
    free(out);
    free(err);
    /* nothing was written for a failed start */
    assert_int_not_equal(access(gt_path("out/generator.safetensors"), F_OK), 0);
}

static void cli_unknown_flag(void **state)
{
    (void)state;
    expect_fail(g_gan, "--n_epoch 3", 2, "unknown flag '--n_epoch'", NULL);
    expect_fail(g_gan, "--help=1", 2, "--help takes no value", NULL);
    expect_fail(g_gan, "stray", 2, "unexpected argument 'stray'", NULL);
    expect_fail(g_sample, "--weights x --pngg y", 2, "unknown flag '--pngg'", NULL);
}

static void cli_bad_numbers(void **state)
{
    (void)state;
    expect_fail(g_gan, "--batch_size 0", 2, "--batch_size: '0' is not an integer >= 2", NULL);
    expect_fail(g_gan, "--batch_size 0 --batch_size 64", 2, "--batch_size: '0'", NULL); /* each value is checked */
    expect_fail(g_gan, "--batch_size -5", 2, "--batch_size: '-5' is not an integer >= 2", NULL);
    expect_fail(g_gan, "--batch_size 12x", 2, "--batch_size: '12x' is not an integer >= 2", NULL);
    expect_fail(g_gan, "--batch_size ' 12'", 2, "--batch_size: ' 12' is not an integer >= 2", NULL);
    expect_fail(g_gan, "--lr abc", 2, "--lr: 'abc' is not a positive number", NULL);
    expect_fail(g_gan, "--lr 0", 2, "--lr: '0' is not a positive number", NULL);
    expect_fail(g_gan, "--lr nan", 2, "--lr: 'nan' is not a positive number", NULL);
    expect_fail(g_gan, "--lr 1e999", 2, "--lr: '1e999' is not a positive number", NULL);
    expect_fail(g_gan, "--b1 1", 2, "--b1: '1' is not a number in [0, 1)", NULL);
    expect_fail(g_gan, "--n_epochs 99999999999999999999", 2, "--n_epochs: '99999999999999999999' is too large: at most 2147483647", NULL);
    expect_fail(g_gan, "--n_epochs 2147483648", 2, "--n_epochs: '2147483648'", NULL);
    expect_fail(g_gan, "--sample_interval=0", 2, "--sample_interval: '0' is not a positive integer", NULL);
    expect_fail(g_gan, "--lr 1e300", 2, "--lr: '1e300' is not a positive number in float, 1.4e-45 to 3.4e38", NULL);
    /* networks whose parameters, gradients and moments alone exceed the machine's memory
     * (1024 x 1024 x 4 images: about 100 GB) are refused before any allocation */
    double mem = machine_memory();
    if (mem > 0.0 && mem < 90e9)
        expect_fail(g_gan, "--img_size 1024 --channels 4", 2, "--img_size 1024", "more than this machine's");
    /* a batch whose activations and gradients alone exceed the memory (60,000 images of
     * 256 x 256: at least 64 GB) is refused once the data is known, before the networks
     * are built; it was reserved (overcommit) and the process killed when it trained */
    if (mem > 0.0 && mem < 60e9) {
        static uint8_t px[60000]; /* 1 x 1 pixel images: resized to 256 x 256, as MNIST's are to 28 x 28 */
        mkdir(gt_path("many"), 0777);
        TU_ASSERT_OK(tnn_idx_save_u8(gt_path("many/train-images-idx3-ubyte"), px, 3, (int[]){60000, 1, 1}));
        char args[512];
        snprintf(args, sizeof args, "--img_size 256 --batch_size 60000 --data '%s'", gt_path("many"));
        expect_fail(g_gan, args, 2, "--batch_size 60000 with --img_size 256", "choose a smaller batch");
    }
    /* a rate that rounds to 0 in float would train nothing */
    expect_fail(g_gan, "--lr 1e-50", 2, "--lr: '1e-50' is not a positive number in float", NULL);
    expect_fail(g_gan, "--seed -1", 2, "--seed: '-1' is not a non-negative integer", NULL);
    expect_fail(g_gan, "--bn_eps -0.1", 2, "--bn_eps: '-0.1' is not a non-negative number", NULL);
    expect_fail(g_gan, "--lr", 2, "--lr: missing value", NULL);
    expect_fail(g_gan, "--checkpoint_interval -1", 2, "--checkpoint_interval: '-1' is not a non-negative integer", NULL);
    expect_fail(g_gan, "--progress fancy", 2, "--progress: 'fancy' is not one of auto, bar, lines", NULL);
    /* over a bound: the bound is named; decimal numbers only, as for the integers */
    expect_fail(g_gan, "--n_cpu 4097", 2, "--n_cpu: '4097' is too large: at most 4096", NULL);
    expect_fail(g_gan, "--batch_size 1048577", 2, "--batch_size: '1048577' is too large: at most 1048576", NULL);
    expect_fail(g_gan, "--lr 0x1p-3", 2, "--lr: '0x1p-3' is not a positive number", NULL);
    expect_fail(g_gan, "--b1 +0.5", 2, "--b1: '+0.5' is not a number in [0, 1)", NULL);
    const char *lists[] = {"0", "1,,2", "a", "1,", ",1", "-1", "1 2", "99999999999"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char args[128], want[160];
        snprintf(args, sizeof args, "--snapshot_epochs '%s'", lists[i]);
        snprintf(want, sizeof want, "--snapshot_epochs: '%s' is not a comma-separated list of positive integers",
                 lists[i]);
        expect_fail(g_gan, args, 2, want, NULL);
    }
    expect_fail(g_gan, "--batch_size 1", 2, "--batch_size: '1' is not an integer >= 2", "BatchNorm1d");
    expect_fail(g_sample, "--weights x --png y --bn_mode test", 2, "--bn_mode: 'test' is not one of train, eval", NULL);
    expect_fail(g_sample, "--png y", 2, "--weights FILE is required", NULL);
}

static void cli_bad_folders(void **state)
{
    (void)state;
    expect_fail(g_gan, "--out /proc/x", 2, "--out /proc/x", NULL);
    expect_fail(g_gan, "--out /dev/null/x", 2, "--out /dev/null/x", NULL);
    expect_fail(g_gan, "--data /nonexistent-tinynn-data", 2, "--data /nonexistent-tinynn-data", "No such file");
    /* a losses.csv it may not write (not as root, who writes anything): refused before
     * any work, not after the notes about what the run replaces (checked by hand as
     * nobody for 0.4.1, since CI runs as root) */
    if (geteuid() != 0) {
        mkdir(gt_path("ro"), 0777);
        FILE *f = fopen(gt_path("ro/losses.csv"), "w");
        assert_non_null(f);
        fclose(f);
        assert_int_equal(chmod(gt_path("ro/losses.csv"), 0444), 0);
        char a[512];
        snprintf(a, sizeof a, "--out '%s'", gt_path("ro"));
        expect_fail(g_gan, a, 2, "losses.csv cannot be written", NULL);
    }
    mkdir(gt_path("empty"), 0777);
    char args[512];
    snprintf(args, sizeof args, "--data '%s'", gt_path("empty"));
    expect_fail(g_gan, args, 2, "holds neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte", NULL);
    /* TINYNN_DATA is used when --data is absent, and named in the message */
    char *out, *err, env[512];
    snprintf(env, sizeof env, "TINYNN_DATA='%s'", gt_path("empty"));
    snprintf(args, sizeof args, "--out '%s'", gt_path("out"));
    assert_int_equal(gt_run(env, g_gan, args, &out, &err), 2);
    gt_assert_contains(err, "TINYNN_DATA");
    free(out);
    free(err);
    /* an --out whose images/ cannot be created, or whose outputs are not files, is
     * refused before training (running as root, permissions cannot make a folder
     * unwritable: these and /proc stand in) */
    mkdir(gt_path("o1"), 0777);
    FILE *f = fopen(gt_path("o1/images"), "w");
    fclose(f);
    snprintf(args, sizeof args, "--out '%s'", gt_path("o1"));
    expect_fail(g_gan, args, 2, "cannot write the sample grids into", "o1/images: Not a directory");
    mkdir(gt_path("o2"), 0777);
    mkdir(gt_path("o2/checkpoint.safetensors"), 0777);
    snprintf(args, sizeof args, "--out '%s'", gt_path("o2"));
    expect_fail(g_gan, args, 2, "checkpoint.safetensors exists and is not a regular file", NULL);
    /* a snapshot that could not be written is found before training, not after an epoch */
    mkdir(gt_path("o3"), 0777);
    mkdir(gt_path("o3/generator_epoch1.safetensors"), 0777);
    snprintf(args, sizeof args, "--snapshot_epochs 1 --out '%s'", gt_path("o3"));
    expect_fail(g_gan, args, 2, "--snapshot_epochs", "generator_epoch1.safetensors exists and is not a regular file");
    /* a run refused for its data (exit 2: nothing done) creates no --out folder */
    snprintf(args, sizeof args, "--channels 3 --out '%s'", gt_path("o4/new"));
    expect_fail(g_gan, args, 2, "--channels 3", NULL);
    struct stat sb;
    assert_int_not_equal(stat(gt_path("o4"), &sb), 0);
}

/* A file holding text, made read-only (chmod 0444). */
static void write_read_only(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0444), 0);
}

/* Outputs their owner made read-only (chmod a-w), which the library's saves refuse to
 * replace: refused before training, naming the file, which stays as it was. Root may
 * write anything, so as root the programs run as nobody (setpriv), in a folder of their
 * own that nobody can use; skipped where nobody cannot run this build. */
static void cli_write_protected_outputs(void **state)
{
    (void)state;
    char dir[64] = "/tmp/tnn_cli_read_only_XXXXXX", p[160], data[96], out[96], args[1024];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    snprintf(data, sizeof data, "%s/data", dir);
    gt_write_dataset(data, 10, 11);
    snprintf(out, sizeof out, "%s/out", dir);
    assert_int_equal(mkdir(out, 0777), 0);
    assert_int_equal(chmod(out, 0777), 0);
    const char *as = "";
    if (geteuid() == 0) {
        as = "setpriv --reuid=65534 --regid=65534 --clear-groups";
        snprintf(args, sizeof args, "%s sh -c 'test -x \"$0\" && test -r \"$1\" && test -w \"$2\"' '%s' "
                 "'%s/train-images-idx3-ubyte.gz' '%s' 2>/dev/null", as, g_gan, data, out);
        if (system(args) != 0) {
            print_message("  skipped: user nobody cannot run %s here\n", g_gan);
            snprintf(args, sizeof args, "rm -rf '%s'", dir);
            assert_int_equal(system(args), 0);
            skip();
        }
    }
    /* (10 images in batches of 128: one batch per epoch, so a 1-epoch run writes images/0.png
     * and no other grid; an earlier images/400.png is none of its business) */
    const char *names[4] = {"generator.safetensors", "losses.csv", "checkpoint.safetensors", "images/0.png"};
    snprintf(p, sizeof p, "%s/images", out);
    assert_int_equal(mkdir(p, 0777), 0);
    assert_int_equal(chmod(p, 0777), 0);
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/%s", out, names[k]);
        write_read_only(p, "keep me");
        char *o, *e;
        snprintf(args, sizeof args, "--n_epochs 1 --data '%s' --out '%s'", data, out);
        int rc = gt_run(as, g_gan, args, &o, &e);
        if (rc != 2) fail_msg("%s as '%s': exit status %d, expected 2; stderr:\n%s", names[k], as, rc, e);
        gt_assert_contains(e, names[k]);
        gt_assert_contains(e, "is write-protected");
        assert_null(strstr(o, "[Epoch"));
        free(o);
        free(e);
        size_t n;
        char *kept = gt_slurp(p, &n);
        assert_true(kept && n == 7 && memcmp(kept, "keep me", 7) == 0);
        free(kept);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/images/400.png", out);
    write_read_only(p, "");
    {
        char *o, *e;
        snprintf(args, sizeof args, "--n_epochs 1 --data '%s' --out '%s'", data, out);
        int rc = gt_run(as, g_gan, args, &o, &e);
        if (rc != 0) fail_msg("a run beside a protected grid it does not write: exit status %d; stderr:\n%s", rc, e);
        free(o);
        free(e);
    }
    /* mnist_gan_sample's --png: checked with the other flags, before the weights are read */
    snprintf(p, sizeof p, "%s/grid.png", out);
    write_read_only(p, "");
    char *o, *e;
    snprintf(args, sizeof args, "--weights '%s/none.safetensors' --png '%s'", out, p);
    int rc = gt_run(as, g_sample, args, &o, &e);
    if (rc != 2) fail_msg("mnist_gan_sample: exit status %d, expected 2; stderr:\n%s", rc, e);
    gt_assert_contains(e, "--png");
    gt_assert_contains(e, "is write-protected");
    free(o);
    free(e);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    assert_int_equal(system(args), 0);
}

static void cli_bad_data(void **state)
{
    (void)state;
    mkdir(gt_path("bad"), 0777);
    FILE *f = fopen(gt_path("bad/train-images-idx3-ubyte.gz"), "wb");
    fputs("this is not an IDX file", f);
    fclose(f);
    char args[512];
    snprintf(args, sizeof args, "--data '%s'", gt_path("bad"));
    expect_fail(g_gan, args, 1, "train-images-idx3-ubyte.gz", "not an IDX file");
    /* --channels must match the data */
    expect_fail(g_gan, "--channels 3", 2, "--channels 3", "1 channel");
    /* valid IDX that holds no images (one dimension), and images that are a folder:
     * the data does not fit the job, status 2 */
    mkdir(gt_path("flat"), 0777);
    uint8_t bytes[16] = {0};
    TU_ASSERT_OK(tnn_idx_save_u8(gt_path("flat/train-images-idx3-ubyte"), bytes, 1, (int[]){16}));
    snprintf(args, sizeof args, "--data '%s'", gt_path("flat"));
    expect_fail(g_gan, args, 2, "train-images-idx3-ubyte", "1 dimensions; images need");
    mkdir(gt_path("dir"), 0777);
    mkdir(gt_path("dir/train-images-idx3-ubyte.gz"), 0777);
    snprintf(args, sizeof args, "--data '%s'", gt_path("dir"));
    expect_fail(g_gan, args, 2, "--data", "train-images-idx3-ubyte.gz: a folder, not a file");
    /* a weights file that is not safetensors */
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("bad/train-images-idx3-ubyte.gz"), gt_path("x.png"));
    expect_fail(g_sample, args, 1, "train-images-idx3-ubyte.gz", NULL);
}

/* mnist_gan_sample's --weights: missing or a folder is a bad flag value and metadata
 * it cannot use does not fit (status 2); a file cut short or not safetensors at all is
 * damaged (status 1). Each message names the flag or the file; nothing is written. */
static void cli_sample_weights_files(void **state)
{
    (void)state;
    char args[1024];
    gan_config c = gan_config_defaults();
    tnn_module *g = gan_generator_new(&c, NULL);
    assert_non_null(g);
    TU_ASSERT_OK(tnn_module_save(g, GAN_PREFIX, gt_path("g.safetensors"), NULL));
    tnn_metadata *md = tnn_metadata_new();
    TU_ASSERT_OK(tnn_metadata_set(md, "latent_dim", "0"));
    TU_ASSERT_OK(tnn_module_save(g, GAN_PREFIX, gt_path("dim0.safetensors"), md));
    tnn_metadata_free(md);
    tnn_module_free(g);
    size_t len;
    char *bytes = gt_slurp(gt_path("g.safetensors"), &len);
    FILE *f = fopen(gt_path("cut.safetensors"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len / 2, f), len / 2);
    assert_int_equal(fclose(f), 0);
    free(bytes);

    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("none.safetensors"), gt_path("x.png"));
    expect_fail(g_sample, args, 2, "--weights", "none.safetensors: No such file or directory");
    /* another network's weights (no generator tensors): said so, not blamed on metadata it lacks */
    {
        tnn_rng r2;
        tnn_rng_seed(&r2, 4);
        tnn_module *other = tnn_linear_new(784, 10, true, &r2);
        TU_ASSERT_OK(tnn_module_save(other, "0.", gt_path("other.safetensors"), NULL));
        tnn_module_free(other);
        snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("other.safetensors"), gt_path("x.png"));
        expect_fail(g_sample, args, 2, "other.safetensors: holds no generator tensors (none named model....)",
                    "give a generator's weights");
    }
    /* a file-size limit (ulimit -f, 10 blocks) that the grid exceeds: the write fails
     * (status 1, the old file kept, no temporary file), the signal does not end the
     * program halfway through */
    {
        FILE *old = fopen(gt_path("big.png"), "w");
        fputs("old", old);
        fclose(old);
        char *o, *e;
        snprintf(args, sizeof args, "--weights '%s' --n_samples 2000 --png '%s'", gt_path("g.safetensors"),
                 gt_path("big.png"));
        int rc = gt_run("ulimit -f 10;", g_sample, args, &o, &e);
        if (rc != 1) fail_msg("under ulimit -f: exit status %d, expected 1; stderr:\n%s", rc, e);
        gt_assert_contains(e, "File too large");
        size_t n;
        char *kept = gt_slurp(gt_path("big.png"), &n);
        assert_true(kept && n == 3 && memcmp(kept, "old", 3) == 0);
        free(kept);
        free(o);
        free(e);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp-'", gt_path(""));
        assert_int_not_equal(system(cmd), 0); /* no temporary file left */
    }
    /* a signal while an output is written ends the program once the file is complete:
     * killed by that signal, the file whole, no temporary file left; a second signal
     * ends it at once; a signal ignored from the start (nohup) stays ignored */
    {
        char *o, *e;
        snprintf(args, sizeof args, "--weights '%s' --n_samples 300 --png '%s' --idx '%s'", gt_path("g.safetensors"),
                 gt_path("calm.png"), gt_path("calm.idx"));
        int rc = gt_run(NULL, g_sample, args, &o, &e);
        if (rc != 0) fail_msg("mnist_gan_sample %s: exit status %d:\n%s", args, rc, e);
        free(o);
        free(e);
        /* env, flag, output, expected status, the calm run's file it must equal (NULL:
         * the output must not exist) */
        const struct {
            const char *env, *flag, *out;
            int want;
            const char *same_as;
        } cases[] = {
            {"TINYNN_DEBUG_SIGNAL_IN_WRITE=TERM", "--png", "sig.png", 128 + SIGTERM, "calm.png"},
            {"TINYNN_DEBUG_SIGNAL_IN_WRITE=INT", "--idx", "sig.idx", 128 + SIGINT, "calm.idx"},
            {"TINYNN_DEBUG_SIGNAL_IN_WRITE=TERM2", "--png", "sig2.png", 128 + SIGTERM, NULL},
            {"trap '' HUP; TINYNN_DEBUG_SIGNAL_IN_WRITE=HUP", "--png", "sig2.png", 0, "calm.png"},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            snprintf(args, sizeof args, "--weights '%s' --n_samples 300 %s '%s'", gt_path("g.safetensors"),
                     cases[k].flag, gt_path(cases[k].out));
            rc = gt_run(cases[k].env, g_sample, args, &o, &e);
            if (rc != cases[k].want)
                fail_msg("%s mnist_gan_sample %s: exit status %d, expected %d; stderr:\n%s", cases[k].env, args, rc,
                         cases[k].want, e);
            if (cases[k].same_as) gt_assert_same_file(gt_path(cases[k].out), gt_path(cases[k].same_as));
            else assert_int_not_equal(access(gt_path(cases[k].out), F_OK), 0);
            free(o);
            free(e);
        }
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp-'", gt_path(""));
        assert_int_not_equal(system(cmd), 0); /* no temporary file left */
    }
    mkdir(gt_path("folder"), 0777);
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("folder"), gt_path("x.png"));
    expect_fail(g_sample, args, 2, "--weights", "folder: a folder, not a file");
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("dim0.safetensors"), gt_path("x.png"));
    expect_fail(g_sample, args, 2, "dim0.safetensors: metadata latent_dim = '0' is not an integer in [1, 65536]",
                NULL);
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("cut.safetensors"), gt_path("x.png"));
    expect_fail(g_sample, args, 1, "cut.safetensors", NULL);
    assert_int_not_equal(access(gt_path("x.png"), F_OK), 0);
    /* outputs that cannot be written, found before any work (status 2, the flag named):
     * a missing folder, and a grid larger than a PNG can be; --idx is then not written */
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("g.safetensors"), gt_path("nodir/x.png"));
    expect_fail(g_sample, args, 2, "--png", "nodir/x.png: cannot write in its folder");
    snprintf(args, sizeof args, "--weights '%s' --idx '%s'", gt_path("g.safetensors"), gt_path("nodir/s.idx"));
    expect_fail(g_sample, args, 2, "--idx", "nodir/s.idx: cannot write in its folder");
    snprintf(args, sizeof args, "--weights '%s' --n_samples 20000 --bn_mode eval --png '%s' --idx '%s'",
             gt_path("g.safetensors"), gt_path("big.png"), gt_path("big.idx"));
    expect_fail(g_sample, args, 2, "--png: 20000 images of 28 x 28, 5 per row", "too large");
    /* samples that cannot fit in memory (16 M images: at least 63 GB as floats and bytes)
     * are refused before generating; malloc granted them (overcommit) and filling them
     * ended the process */
    if (machine_memory() > 0.0 && machine_memory() < 60e9) {
        snprintf(args, sizeof args, "--weights '%s' --n_samples 16000000 --bn_mode eval --idx '%s'",
                 gt_path("g.safetensors"), gt_path("many.idx"));
        expect_fail(g_sample, args, 2, "--n_samples 16000000 of 28 x 28", "more than this machine's");
        assert_int_not_equal(access(gt_path("many.idx"), F_OK), 0);
    }
    assert_int_not_equal(access(gt_path("big.idx"), F_OK), 0);
    /* and the whole file works */
    char *out, *err;
    snprintf(args, sizeof args, "--weights '%s' --png '%s'", gt_path("g.safetensors"), gt_path("x.png"));
    int rc = gt_run(NULL, g_sample, args, &out, &err);
    if (rc != 0) fail_msg("mnist_gan_sample %s: exit status %d:\n%s", args, rc, err);
    free(out);
    free(err);
}

static void cli_help(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(gt_run(NULL, g_gan, "--help", &out, &err), 0);
    const char *flags[] = {"--n_epochs", "--batch_size", "--lr", "--b1", "--b2", "--n_cpu", "--latent_dim",
                           "--img_size", "--channels", "--sample_interval", "--data", "--out", "--seed",
                           "--bn_eps", "--bn_momentum", "--log_interval", "--checkpoint_interval",
                           "--snapshot_epochs LIST", "--resume FILE", "--progress auto|bar|lines",
                           "(default: 0.0002; a positive number in float, 1.4e-45 to 3.4e38)", "(default: 128; 2 to 1048576)"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) gt_assert_contains(out, flags[i]);
    free(out);
    free(err);
    assert_int_equal(gt_run(NULL, g_sample, "-h", &out, &err), 0);
    gt_assert_contains(out, "--bn_mode train|eval");
    free(out);
    free(err);
}

/* On a terminal (here a pseudo-terminal) mnist_gan draws a progress bar per epoch
 * instead of the per-batch lines. */
static void cli_progress_bar_on_terminal(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 128, 11);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    const char *slave_name = ptsname(master);
    assert_non_null(slave_name);
    char slave_path[256];
    snprintf(slave_path, sizeof slave_path, "%s", slave_name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid();
        int slave = open(slave_path, O_RDWR);
        int errfd = open(gt_path("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (slave < 0 || errfd < 0) _exit(120);
        dup2(slave, STDOUT_FILENO);
        dup2(errfd, STDERR_FILENO);
        close(master);
        execl(g_gan, g_gan, "--n_epochs", "2", "--batch_size", "32", "--n_cpu", "1", "--data", gt_path("data"),
              "--out", gt_path("out"), (char *)NULL);
        _exit(121);
    }
    /* read everything the child writes until its side closes (EIO on Linux) */
    size_t cap = 1 << 16, n = 0;
    char *text = calloc(cap, 1);
    for (;;) {
        ssize_t k = read(master, text + n, cap - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        if (n + 1 >= cap) break;
    }
    text[n] = '\0';
    int ws;
    waitpid(pid, &ws, 0);
    close(master);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char *err = gt_slurp(gt_path("stderr.txt"), NULL);
        fail_msg("mnist_gan on a terminal: status %d\n%s\n%s", ws, text, err);
    }
    gt_assert_contains(text, "Namespace(");
    gt_assert_contains(text, "\r[Epoch 0/2] [");      /* redrawn in place */
    gt_assert_contains(text, "4/4 100%");
    gt_assert_contains(text, "img/s ETA ");
    gt_assert_contains(text, "\r[Epoch 1/2] [");
    gt_assert_contains(text, "\033[K");
    assert_null(strstr(text, "[D loss:"));           /* no per-batch lines */
    free(text);
    /* --progress bar draws the bar where stdout is not a terminal too */
    char args[512], *out, *err;
    snprintf(args, sizeof args, "--n_epochs 1 --batch_size 32 --n_cpu 1 --progress bar --data '%s' --out '%s'",
             gt_path("data"), gt_path("out"));
    assert_int_equal(gt_run(NULL, g_gan, args, &out, &err), 0);
    gt_assert_contains(out, "\r[Epoch 0/1] [");
    assert_null(strstr(out, "[D loss:"));
    free(out);
    free(err);
    assert_int_equal(access(gt_path("out/losses.csv"), F_OK), 0);
}

/* Every allocation the library makes for a short run, failed in turn (a spread of them:
 * the first 24, then about 40 across the rest), through the testing hook: the program
 * reports it and exits with status 1 (or copes and exits 0), never crashes, and under
 * ASan never leaks. */
static void cli_allocation_failures(void **state)
{
    (void)state;
    gt_write_dataset(gt_path("data"), 8, 11);
    char args[512], env[64], *out, *err;
    snprintf(args, sizeof args, "--n_epochs 1 --batch_size 4 --n_cpu 1 --sample_interval 1 --data '%s' --out '%s'",
             gt_path("data"), gt_path("out"));
    /* how many there are */
    assert_int_equal(gt_run("TINYNN_DEBUG_FAIL_ALLOC=100000000", g_gan, args, &out, &err), 0);
    const char *p = strstr(err, "TINYNN_DEBUG_FAIL_ALLOC: ");
    assert_non_null(p);
    long total = strtol(p + strlen("TINYNN_DEBUG_FAIL_ALLOC: "), NULL, 10);
    free(out);
    free(err);
    assert_true(total > 100);
    long stride = (total - 24) / 40 + 1;
    int failed = 0;
    for (long n = 0; n < total; n = n < 24 ? n + 1 : n + stride) {
        snprintf(env, sizeof env, "TINYNN_DEBUG_FAIL_ALLOC=%ld", n);
        int rc = gt_run(env, g_gan, args, &out, &err);
        if (rc != 0 && rc != 1) fail_msg("allocation %ld of %ld failed: exit status %d\n%s", n, total, rc, err);
        if (rc == 1) {
            if (!strstr(err, "memory")) fail_msg("allocation %ld of %ld failed: no 'memory' in:\n%s", n, total, err);
            failed++;
        }
        free(out);
        free(err);
    }
    assert_true(failed > 40);
    snprintf(args, sizeof args, "--n_epochs 1 --data '%s' --out '%s'", gt_path("data"), gt_path("out"));
    assert_int_equal(gt_run("TINYNN_DEBUG_FAIL_ALLOC=x", g_gan, args, &out, &err), 2);
    gt_assert_contains(err, "TINYNN_DEBUG_FAIL_ALLOC='x'");
    free(out);
    free(err);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(smoke_train_and_sample, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(smoke_losses_and_snapshots, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_progress_bar_on_terminal, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_unknown_flag, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_bad_numbers, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_bad_folders, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_bad_data, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_sample_weights_files, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_write_protected_outputs, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_help, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_allocation_failures, tu_tmpdir_make, tu_tmpdir_remove),
};

int main(int argc, char **argv)
{
    if (argc >= 4) {
        g_gan = argv[2];
        g_sample = argv[3];
    }
    if (argc >= 5) g_doc_generator = argv[4];
    return tu_main(argc < 2 ? 1 : 2, argv, "mnist_gan", tests, sizeof tests / sizeof tests[0]);
}
