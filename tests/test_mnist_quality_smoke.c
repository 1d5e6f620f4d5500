/* End-to-end tests of examples/mnist_classifier and examples/mnist_score, run as the
 * user runs them, on small IDX files the test writes itself:
 *   smoke_*  train a small classifier for 2 epochs, score images with it, parse the
 *            JSON line: every figure finite, counts right (label `smoke`);
 *   cli_*    missing flags and files, images of the wrong size, a weights file that is
 *            not a classifier: exit status 2; files whose contents are damaged (not
 *            IDX, not safetensors, truncated): exit status 1; each with a message
 *            naming the flag or file (label `cli`).
 * Usage: test_mnist_quality_smoke CASE path/to/mnist_classifier path/to/mnist_score */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "classifier_model.h"
#include "json_impl.h"

static const char *g_clf = "mnist_classifier", *g_score = "mnist_score";

static char *path_in(const char *name)
{
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tu_dir, name);
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

/* Run `prog args` with stdout and stderr captured; returns the exit status. */
static int run(const char *prog, const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", prog, args, path_in("stdout.txt"), path_in("stderr.txt"));
    int rc = system(cmd);
    *out = slurp(path_in("stdout.txt"));
    *err = slurp(path_in("stderr.txt"));
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("expected \"%s\" in:\n%s", want, text);
}

/* n images of size x size and their labels, as <dir>/<prefix>-{images-idx3,labels-idx1}-ubyte
 * (gzipped when gz). Class c is a bright horizontal bar in row band c, at a random
 * column offset, plus some noise: learnable in a few steps. */
static void write_split(const char *dir, const char *prefix, int n, int size, bool gz, uint64_t seed)
{
    mkdir(dir, 0777);
    uint8_t *px = calloc((size_t)n * (size_t)size * (size_t)size, 1), *lab = malloc((size_t)n);
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    for (int k = 0; k < n; k++) {
        int c = k % 10, row = 2 + c * (size - 4) / 10, x0 = (int)tnn_rng_below(&r, (uint32_t)(size / 3));
        lab[k] = (uint8_t)c;
        uint8_t *img = px + (size_t)k * (size_t)size * (size_t)size;
        for (int i = 0; i < size * size; i++) img[i] = (uint8_t)tnn_rng_below(&r, 40);
        for (int x = x0; x < x0 + size / 2; x++) img[row * size + x] = img[(row + 1) * size + x] = 255;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    TU_ASSERT_OK(tnn_idx_save_u8(path, px, 3, (int[]){n, size, size}));
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    TU_ASSERT_OK(tnn_idx_save_u8(path, lab, 1, (int[]){n}));
    free(px);
    free(lab);
}

/* The last line of text (which must end with a newline). */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    assert_true(n > 1 && text[n - 1] == '\n');
    text[n - 1] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* The number following "key": in line (the JSON parser keeps only integer values). */
static double json_number(const tnn_json_doc *doc, const char *line, const char *key)
{
    const tnn_json *v = tnn_json_get(doc, tnn_json_root(doc), key);
    if (!v || v->type != TNN_JSON_NUMBER) fail_msg("no number \"%s\" in %s", key, line);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    assert_non_null(p);
    return strtod(p + strlen(pat), NULL);
}

typedef struct score_json {
    double fid, is, is_ref;
    int covered, n, n_ref, hist_sum;
} score_json;

/* Run mnist_score with args; it must succeed and end with a valid JSON line. */
static score_json score(const char *args)
{
    char *out, *err, msg[256];
    int rc = run(g_score, args, &out, &err);
    if (rc != 0) fail_msg("mnist_score %s: exit status %d:\n%s", args, rc, err);
    const char *line = last_line(out);
    tnn_json_doc doc;
    tnn_json_limits lim = {.max_depth = 4, .max_nodes = 1000, .reject_duplicate_keys = true};
    if (tnn_json_parse(line, strlen(line), lim, &doc, msg, sizeof msg)) fail_msg("not JSON (%s): %s", msg, line);
    assert_int_equal(tnn_json_root(&doc)->type, TNN_JSON_OBJECT);
    score_json s = {
        .fid = json_number(&doc, line, "fid"),
        .is = json_number(&doc, line, "inception_score"),
        .is_ref = json_number(&doc, line, "inception_score_ref"),
        .covered = (int)json_number(&doc, line, "classes_covered"),
        .n = (int)json_number(&doc, line, "n"),
        .n_ref = (int)json_number(&doc, line, "n_ref"),
    };
    const tnn_json *h = tnn_json_get(&doc, tnn_json_root(&doc), "class_histogram");
    assert_non_null(h);
    assert_int_equal(h->type, TNN_JSON_ARRAY);
    assert_int_equal(h->count, 10);
    for (const tnn_json *c = tnn_json_first(&doc, h); c; c = tnn_json_sibling(&doc, h, c)) {
        uint64_t u;
        assert_true(tnn_json_u64(c, &u));
        s.hist_sum += (int)u;
    }
    assert_true(isfinite(s.fid) && s.fid >= 0.0);
    assert_true(isfinite(s.is) && s.is >= 1.0 - 1e-9 && s.is <= 10.0 + 1e-9);
    assert_true(s.covered >= 0 && s.covered <= 10);
    assert_int_equal(s.hist_sum, s.n);
    tnn_json_free(&doc);
    free(out);
    free(err);
    return s;
}

/* ---- smoke ---- */

static void smoke_train_and_score(void **state)
{
    (void)state;
    write_split(path_in("data"), "train", 400, 28, true, 1);
    write_split(path_in("data"), "t10k", 100, 28, false, 2);
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "--epochs 2 --batch_size 50 --hidden 32,16 --n_cpu 1 --seed 4 --data '%s' --out '%s'",
             path_in("data"), path_in("clf.safetensors"));
    int rc = run(g_clf, args, &out, &err);
    if (rc != 0) fail_msg("mnist_classifier exited with %d:\n%s", rc, err);
    assert_contains(out, "epoch 2/2: lr 0.00085, loss ");
    double acc = -1.0;
    const char *p = strstr(out, "\ntest accuracy ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\ntest accuracy %lf%%", &acc), 1);
    assert_true(acc >= 0.0 && acc <= 100.0);
    assert_contains(p, "after 2 epochs, ");
    assert_contains(p, " testing, 1 thread\n");
    free(out);
    free(err);

    /* the file rebuilds the network it describes */
    tnn_safetensors *st = tnn_safetensors_load(path_in("clf.safetensors"));
    if (!st) fail_msg("%s", tnn_last_error());
    const tnn_metadata *md = tnn_safetensors_metadata(st);
    assert_string_equal(tnn_metadata_get(md, "layers"), "784,32,16,10");
    assert_string_equal(tnn_metadata_get(md, "feature_layer"), "4");
    assert_string_equal(tnn_metadata_get(md, "input_scaling"), CLF_INPUT_SCALING);
    assert_non_null(tnn_metadata_get(md, "test_accuracy"));
    tnn_safetensors_free(st);

    /* test images against training images */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s' --max 300 --n_cpu 1",
             path_in("clf.safetensors"), path_in("data/t10k-images-idx3-ubyte"),
             path_in("data/train-images-idx3-ubyte.gz"));
    score_json s = score(args);
    assert_int_equal(s.n, 100);
    assert_int_equal(s.n_ref, 400); /* --max limits the samples only */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s' --max 30 --n_cpu 1",
             path_in("clf.safetensors"), path_in("data/train-images-idx3-ubyte.gz"),
             path_in("data/t10k-images-idx3-ubyte"));
    s = score(args);
    assert_int_equal(s.n, 30);
    assert_int_equal(s.n_ref, 100);
    /* a set against itself: distance 0, same score (in uneven batches) */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s' --batch_size 7",
             path_in("clf.safetensors"), path_in("data/t10k-images-idx3-ubyte"), path_in("data/t10k-images-idx3-ubyte"));
    s = score(args);
    assert_int_equal(s.n, 100);
    assert_true(s.fid < 1e-6);
    assert_true(fabs(s.is - s.is_ref) < 1e-9);
}

/* ---- cli ---- */

/* Run `prog args` and expect exit status want_rc, each fragment in stderr and no score. */
static void expect_fail(const char *prog, const char *args, int want_rc, const char *frag1, const char *frag2)
{
    char *out, *err;
    int rc = run(prog, args, &out, &err);
    if (rc != want_rc) fail_msg("%s %s: exit status %d, expected %d; stderr:\n%s", prog, args, rc, want_rc, err);
    if (frag1) assert_contains(err, frag1);
    if (frag2) assert_contains(err, frag2);
    assert_true(strstr(out, "\"fid\"") == NULL);
    free(out);
    free(err);
}

/* A classifier file written directly (no training): enough for mnist_score to load;
 * without the metadata, or with one value of it replaced (key NULL: none). */
/* The classifier's tensors saved under the prefix `prefix` ("" as mnist_classifier does). */
static void write_classifier_prefixed(const char *path, bool with_metadata, const char *key, const char *value,
                                      const char *prefix)
{
    clf_config c = clf_config_defaults();
    char err[128];
    assert_int_equal(clf_parse_hidden(&c, "8,4", err, sizeof err), 0);
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *net = clf_new(&c, &r);
    tnn_metadata *md = with_metadata ? clf_config_to_metadata(&c) : NULL;
    if (md && key) TU_ASSERT_OK(tnn_metadata_set(md, key, value));
    TU_ASSERT_OK(tnn_module_save(net, prefix, path, md));
    tnn_metadata_free(md);
    tnn_module_free(net);
}

static void write_classifier(const char *path, bool with_metadata, const char *key, const char *value)
{
    write_classifier_prefixed(path, with_metadata, key, value, "");
}

/* The first half of file `from`, as `to`: a file cut short. */
static void write_truncated(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 1 && n < sizeof buf);
    f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n / 2, f), n / 2);
    assert_int_equal(fclose(f), 0);
}

/* A file that is not IDX (its first bytes are no IDX magic). */
static void write_not_idx(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("this is not an IDX file", f);
    assert_int_equal(fclose(f), 0);
}

static void cli_score_bad_input(void **state)
{
    (void)state;
    char args[1024];
    write_split(path_in("small"), "t10k", 20, 28, false, 3);
    write_split(path_in("small"), "big", 20, 16, false, 3);
    write_classifier(path_in("clf.safetensors"), true, NULL, NULL);
    write_classifier(path_in("plain.safetensors"), false, NULL, NULL);
    char imgs[256]; /* path_in's buffers rotate */
    snprintf(imgs, sizeof imgs, "%s", path_in("small/t10k-images-idx3-ubyte"));

    expect_fail(g_score, "--idx x", 2, "--classifier FILE is required", NULL);
    snprintf(args, sizeof args, "--classifier '%s'", path_in("clf.safetensors"));
    expect_fail(g_score, args, 2, "--idx FILE is required", NULL);
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --max 1", path_in("clf.safetensors"), imgs);
    expect_fail(g_score, args, 2, "--max: '1' is not an integer >= 2", NULL);
    expect_fail(g_score, "--classifier x --idx y --max 3000000000", 2, "--max: '3000000000' is too large: at most 2147483647",
                NULL);
    expect_fail(g_score, "--classifier x --idx y --max 99999999999999999999999", 2, "--max", "is too large");
    char *hout, *herr; /* and --help gives the bound */
    assert_int_equal(run(g_score, "--help", &hout, &herr), 0);
    assert_contains(hout, "(default: 10000; at least 2)");
    free(hout);
    free(herr);
    /* missing files, named with their flag */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s'", path_in("nope.safetensors"), imgs);
    expect_fail(g_score, args, 2, "--classifier", "nope.safetensors");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"),
             path_in("missing-idx3-ubyte"), imgs);
    expect_fail(g_score, args, 2, "--idx", "missing-idx3-ubyte");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"), imgs,
             path_in("gone-idx3-ubyte"));
    expect_fail(g_score, args, 2, "--ref", "gone-idx3-ubyte");
    /* images of the wrong size */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"),
             path_in("small/big-images-idx3-ubyte"), imgs);
    expect_fail(g_score, args, 2, "big-images-idx3-ubyte: images are 16 x 16", "takes 28 x 28");
    /* a labels file is not an image file */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"),
             path_in("small/t10k-labels-idx1-ubyte"), imgs);
    expect_fail(g_score, args, 2, "--idx", "t10k-labels-idx1-ubyte");
    /* weights without the classifier's metadata (status 2), and a file that is not
     * safetensors: a damaged weights file, status 1 */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("plain.safetensors"), imgs, imgs);
    expect_fail(g_score, args, 2, "plain.safetensors: no 'format' in the file's metadata", "mnist_classifier");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", imgs, imgs, imgs);
    expect_fail(g_score, args, 1, "--classifier", "t10k-images-idx3-ubyte");
    /* an image size whose area overflows an int */
    write_classifier(path_in("huge.safetensors"), true, "image_size", "99999x99999");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("huge.safetensors"), imgs, imgs);
    expect_fail(g_score, args, 2, "image_size", "99999x99999");
    /* widths that promise more parameters than the file holds: refused before the
     * network is built (a first hidden layer of 65536 would take 206 MB) */
    write_classifier(path_in("wide.safetensors"), true, "layers", "784,65536,4,10");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("wide.safetensors"), imgs, imgs);
    expect_fail(g_score, args, 2, "the metadata's layers need 51707958 parameters", "holds 6366 values");
    /* the metadata's network, but its tensors under other names: a damaged file, status 1 */
    write_classifier_prefixed(path_in("renamed.safetensors"), true, NULL, NULL, "x.");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("renamed.safetensors"), imgs, imgs);
    expect_fail(g_score, args, 1, "renamed.safetensors", "0.weight");
    /* and the good file works with the same images */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"), imgs, imgs);
    score(args);
    /* ... unless its result, the JSON line, cannot be written (a full disk): status 1 */
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' %s >/dev/full 2>'%s'", g_score, args, path_in("stderr.txt"));
        int rc = system(cmd);
        assert_true(WIFEXITED(rc));
        assert_int_equal(WEXITSTATUS(rc), 1);
        char *e = slurp(path_in("stderr.txt"));
        assert_contains(e, "cannot write to standard output");
        free(e);
    }
    /* a file name that is not UTF-8 still gives a JSON line (score() parses it), the
     * byte written as U+FFFD */
    char latin1[256];
    snprintf(latin1, sizeof latin1, "%s", path_in("small/caf\xe9-idx3-ubyte"));
    assert_int_equal(link(imgs, latin1), 0);
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("clf.safetensors"), latin1, imgs);
    score(args);
    char *out, *err;
    assert_int_equal(run(g_score, args, &out, &err), 0);
    assert_contains(out, "caf\\ufffd-idx3-ubyte");
    free(out);
    free(err);
}

static void cli_classifier_bad_input(void **state)
{
    (void)state;
    char args[1024];
    snprintf(args, sizeof args, "--data '%s'", path_in("no_such_dir"));
    expect_fail(g_clf, args, 2, "--data", "no_such_dir");
    write_split(path_in("half"), "train", 20, 28, false, 5); /* no t10k files */
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("half"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 2, "holds neither t10k-images-idx3-ubyte.gz nor t10k-images-idx3-ubyte", NULL);
    write_split(path_in("wrong"), "train", 20, 16, false, 5);
    write_split(path_in("wrong"), "t10k", 20, 16, false, 5);
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("wrong"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 2, "images are 16 x 16", "28 x 28");
    expect_fail(g_clf, "--hidden 256,x", 2, "--hidden: '256,x' is not a list", NULL);
    expect_fail(g_clf, "--gamma 0", 2, "--gamma: '0' is not a number in (0, 1]", NULL);
    snprintf(args, sizeof args, "--out '%s'", path_in("no_such_dir/c.safetensors"));
    expect_fail(g_clf, args, 2, "--out", "cannot write");
    assert_int_not_equal(access(path_in("c.safetensors"), F_OK), 0);
    /* a file name longer than the folder allows: refused before training, not at the save */
    char longname[400];
    memset(longname, 'a', 300);
    snprintf(longname + 300, sizeof longname - 300, ".safetensors");
    snprintf(args, sizeof args, "--out '%s/%s'", tu_dir, longname);
    expect_fail(g_clf, args, 2, "--out", "file name longer than its folder allows");
    /* an --out that is a folder (or a FIFO, a device) is refused before training */
    mkdir(path_in("a_folder"), 0755);
    snprintf(args, sizeof args, "--out '%s'", path_in("a_folder"));
    expect_fail(g_clf, args, 2, "--out", "exists and is not a regular file");
    /* a learning rate that blows the loss up: status 3, no weights written */
    write_split(path_in("ok"), "train", 40, 28, false, 5);
    write_split(path_in("ok"), "t10k", 20, 28, false, 6);
    /* a network that cannot fit in memory (five 65536 x 65536 layers with their
     * gradients and moments: 344 GB) is refused before it is built, naming --hidden */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0 && (double)pages * (double)page < 300e9) {
        snprintf(args, sizeof args, "--data '%s' --epochs 1 --hidden 65536,65536,65536,65536,65536,65536 --out '%s'",
                 path_in("ok"), path_in("c.safetensors"));
        expect_fail(g_clf, args, 2, "--hidden 65536,65536", "more than this machine's");
    }
    /* an --out that is one of the data files, however spelled: refused, the file kept */
    struct stat st0, st1;
    assert_int_equal(stat(path_in("ok/train-images-idx3-ubyte"), &st0), 0);
    char *before = slurp(path_in("ok/train-images-idx3-ubyte"));
    snprintf(args, sizeof args, "--data '%s' --epochs 1 --out '%s/./train-images-idx3-ubyte'", path_in("ok"),
             path_in("ok"));
    expect_fail(g_clf, args, 2, "is the data file", "give another output file");
    assert_int_equal(stat(path_in("ok/train-images-idx3-ubyte"), &st1), 0);
    char *after = slurp(path_in("ok/train-images-idx3-ubyte"));
    assert_true(st0.st_size == st1.st_size && memcmp(before, after, (size_t)st0.st_size) == 0);
    free(before);
    free(after);
    snprintf(args, sizeof args, "--data '%s' --epochs 1 --batch_size 10 --lr 1e30 --out '%s'", path_in("ok"),
             path_in("c.safetensors"));
    char *out, *err;
    int rc = run(g_clf, args, &out, &err);
    if (rc != 3) fail_msg("mnist_classifier %s: exit status %d, expected 3; stderr:\n%s", args, rc, err);
    assert_contains(err, "training diverged at epoch 1");
    assert_contains(err, "was not written");
    free(out);
    free(err);
    assert_int_not_equal(access(path_in("c.safetensors"), F_OK), 0);
}

/* Files whose contents are damaged (not IDX, cut short, not safetensors) stop
 * mnist_score with status 1, naming the flag and the file; a missing file or a folder
 * is a bad flag value (status 2). */
static void cli_score_damaged_files(void **state)
{
    (void)state;
    char args[1024], imgs[256], clf[256];
    write_split(path_in("small"), "t10k", 20, 28, false, 3);
    write_split(path_in("gz"), "t10k", 20, 28, true, 4);
    write_classifier(path_in("clf.safetensors"), true, NULL, NULL);
    snprintf(imgs, sizeof imgs, "%s", path_in("small/t10k-images-idx3-ubyte"));
    snprintf(clf, sizeof clf, "%s", path_in("clf.safetensors"));

    /* bad magic */
    write_not_idx(path_in("magic-idx3-ubyte"));
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", clf, path_in("magic-idx3-ubyte"), imgs);
    expect_fail(g_score, args, 1, "--idx", "magic-idx3-ubyte: not an IDX file");
    /* a plain IDX file cut short, and a gzipped one */
    write_truncated(imgs, path_in("cut-idx3-ubyte"));
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", clf, path_in("cut-idx3-ubyte"), imgs);
    expect_fail(g_score, args, 1, "--idx", "cut-idx3-ubyte: truncated");
    write_truncated(path_in("gz/t10k-images-idx3-ubyte.gz"), path_in("cut-idx3-ubyte.gz"));
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", clf, imgs, path_in("cut-idx3-ubyte.gz"));
    expect_fail(g_score, args, 1, "--ref", "cut-idx3-ubyte.gz: truncated gzip stream");
    /* the default reference, found in $TINYNN_DATA, named as such */
    assert_int_equal(mkdir(path_in("bad_ref"), 0777), 0);
    write_not_idx(path_in("bad_ref/t10k-images-idx3-ubyte.gz"));
    assert_int_equal(setenv("TINYNN_DATA", path_in("bad_ref"), 1), 0);
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s'", clf, imgs);
    expect_fail(g_score, args, 1, "reference", "bad_ref/t10k-images-idx3-ubyte.gz: not an IDX file");
    assert_int_equal(unsetenv("TINYNN_DATA"), 0);
    /* a classifier file cut short */
    write_truncated(clf, path_in("cut.safetensors"));
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("cut.safetensors"), imgs, imgs);
    expect_fail(g_score, args, 1, "--classifier", "cut.safetensors");
    /* missing, or a folder: status 2 */
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", clf, path_in("none-idx3-ubyte"), imgs);
    expect_fail(g_score, args, 2, "--idx", "none-idx3-ubyte: No such file or directory");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", clf, imgs, path_in("small"));
    expect_fail(g_score, args, 2, "--ref", "small: a folder, not a file");
    snprintf(args, sizeof args, "--classifier '%s' --idx '%s' --ref '%s'", path_in("small"), imgs, imgs);
    expect_fail(g_score, args, 2, "--classifier", "small: a folder, not a file");
}

/* A damaged data file stops mnist_classifier with status 1, naming the file; one that
 * is missing, or a folder, with status 2. Nothing is trained and --out is not written. */
static void cli_classifier_damaged_files(void **state)
{
    (void)state;
    char args[1024];
    /* bad magic in the training images */
    write_split(path_in("magic"), "train", 20, 28, false, 5);
    write_split(path_in("magic"), "t10k", 20, 28, false, 6);
    write_not_idx(path_in("magic/train-images-idx3-ubyte"));
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("magic"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 1, "magic/train-images-idx3-ubyte: not an IDX file", NULL);
    /* test labels cut short (gzipped) */
    write_split(path_in("cut"), "train", 20, 28, false, 5);
    write_split(path_in("cut"), "t10k", 20, 28, true, 6);
    write_truncated(path_in("cut/t10k-labels-idx1-ubyte.gz"), path_in("cut/short.gz"));
    assert_int_equal(rename(path_in("cut/short.gz"), path_in("cut/t10k-labels-idx1-ubyte.gz")), 0);
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("cut"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 1, "cut/t10k-labels-idx1-ubyte.gz: truncated gzip stream", NULL);
    /* missing test images, and training labels that are a folder: status 2, naming --data */
    write_split(path_in("half"), "train", 20, 28, false, 5);
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("half"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 2, "--data", "holds neither t10k-images-idx3-ubyte.gz nor t10k-images-idx3-ubyte");
    write_split(path_in("dir"), "t10k", 20, 28, false, 6);
    write_split(path_in("dir"), "train", 20, 28, false, 5);
    assert_int_equal(mkdir(path_in("dir/train-labels-idx1-ubyte.gz"), 0777), 0);
    snprintf(args, sizeof args, "--data '%s' --out '%s'", path_in("dir"), path_in("c.safetensors"));
    expect_fail(g_clf, args, 2, "--data", "train-labels-idx1-ubyte.gz: a folder, not a file");
    assert_int_not_equal(access(path_in("c.safetensors"), F_OK), 0);
}

/* A signal while the weights are written ends mnist_classifier once the file is
 * complete: killed by that signal, the file the same as a calm run's, no temporary
 * file left. */
static void cli_classifier_signal_in_write(void **state)
{
    (void)state;
    write_split(path_in("data"), "train", 200, 28, true, 5);
    write_split(path_in("data"), "t10k", 50, 28, false, 6);
    char args[1024], cmd[2048];
    const char *outs[2] = {"calm.safetensors", "sig.safetensors"};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "--epochs 1 --batch_size 50 --hidden 16 --n_cpu 1 --seed 3 --data '%s' --out '%s'",
                 path_in("data"), path_in(outs[k]));
        snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", k ? "TINYNN_DEBUG_SIGNAL_IN_WRITE=TERM" : "", g_clf,
                 args, path_in("stdout.txt"), path_in("stderr.txt"));
        int rc = system(cmd);
        int status = WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        char *err = slurp(path_in("stderr.txt"));
        if (status != (k ? 128 + SIGTERM : 0)) fail_msg("mnist_classifier %s: exit status %d; stderr:\n%s", args, status, err);
        free(err);
    }
    char *a = slurp(path_in(outs[0])), *b = slurp(path_in(outs[1]));
    struct stat sa, sb;
    assert_int_equal(stat(path_in(outs[0]), &sa), 0);
    assert_int_equal(stat(path_in(outs[1]), &sb), 0);
    assert_true(sa.st_size > 0 && sa.st_size == sb.st_size && memcmp(a, b, (size_t)sa.st_size) == 0);
    free(a);
    free(b);
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp-'", tu_dir);
    assert_int_not_equal(system(cmd), 0); /* no temporary file left */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(smoke_train_and_score, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_score_bad_input, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_classifier_bad_input, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_score_damaged_files, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_classifier_damaged_files, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(cli_classifier_signal_in_write, tu_tmpdir_make, tu_tmpdir_remove),
};

int main(int argc, char **argv)
{
    if (argc >= 4) {
        g_clf = argv[2];
        g_score = argv[3];
    }
    return tu_main(argc < 2 ? 1 : 2, argv, "mnist_quality_smoke", tests, sizeof tests / sizeof tests[0]);
}
