/*
 * mnist_score - judge images (e.g. a GAN's samples) with the classifier mnist_classifier
 * trained:
 *
 *   build/examples/mnist_gan_sample --weights out/generator.safetensors --n_samples 10000 \
 *       --idx samples-idx3-ubyte.gz
 *   build/examples/mnist_score --classifier data/models/mnist_classifier.safetensors \
 *       --idx samples-idx3-ubyte.gz
 *
 * For the first --max images of --idx against all the images of --ref (the MNIST test
 * set by default), in eval mode:
 *   - the Frechet distance between Gaussians fitted to the classifier's penultimate
 *     features (the last hidden ReLU) of the two sets - FID's formula on an MNIST
 *     network instead of Inception;
 *   - the Inception-style score exp(E_x KL(p(y|x) || p(y))) of the samples' softmax;
 *   - mode coverage: the classes holding at least 5% (--coverage) of the samples'
 *     argmax predictions, with the per-class histogram.
 * The last line of stdout is one JSON object with the figures, for other tools:
 *   {"fid": ..., "inception_score": ..., "classes_covered": ..., "n": ..., ...}
 * mnist_metrics.h has the formulas; docs/quality.md the figures.
 *
 * Exit status: 0 scored; 1 an error (a file that is not valid IDX or safetensors, a
 * classifier file without the tensors its metadata's network has, out of memory); 2 bad
 * flags, a file that is missing or cannot be read, images that do not fit the
 * classifier, or classifier metadata that cannot describe the file (no classifier
 * metadata, sizes the file's values cannot fill).
 */
#define _POSIX_C_SOURCE 200809L
#include <tinynn/tinynn.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier_model.h"
#include "flags.h"
#include "mnist_metrics.h"

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

static const char *const PROG = "mnist_score";

/* What the classifier makes of one image set. */
typedef struct scored {
    const char *path, *flag;
    int n;
    float *features;  /* [n x feature_dim] */
    double *probs;    /* [n x classes] */
    double *mean, *cov;
} scored;

static void scored_free(scored *s)
{
    free(s->features);
    free(s->probs);
    free(s->mean);
    free(s->cov);
}

/* Load s->path, check its image size against the classifier, run the first min(N, max)
 * images through it and fit the feature Gaussian. Returns 0; 2 for images that do not
 * fit the classifier (or fewer than 2); 1 for a file that is not valid IDX (main has
 * checked that it can be read), out of memory or another failure. The message is
 * printed. */
static int score_file(scored *s, int max, tnn_module *net, const clf_config *c, int batch_size)
{
    tnn_idx idx;
    int n, h, w, ch, status = 1;
    tnn_tensor *x = NULL;
    if (tnn_idx_load(s->path, &idx)) {
        fprintf(stderr, "%s: %s %s\n", PROG, s->flag, tnn_last_error());
        return 1;
    }
    if (tnn_idx_image_shape(&idx, s->path, &n, &h, &w, &ch)) {
        fprintf(stderr, "%s: %s %s\n", PROG, s->flag, tnn_last_error());
        status = 2;
        goto done;
    }
    if (h != c->img_h || w != c->img_w || ch != 1) {
        fprintf(stderr, "%s: %s %s: images are %d x %d%s, the classifier takes %d x %d with one channel\n", PROG,
                s->flag, s->path, h, w, ch == 1 ? "" : ch == 3 ? " x 3 channels" : " x several channels", c->img_h,
                c->img_w);
        status = 2;
        goto done;
    }
    s->n = n < max ? n : max;
    if (s->n < 2) {
        fprintf(stderr, "%s: %s %s: %d image%s; the Frechet distance needs at least 2\n", PROG, s->flag, s->path,
                s->n, s->n == 1 ? "" : "s");
        status = 2;
        goto done;
    }
    size_t d = (size_t)clf_feature_dim(c), k = (size_t)clf_classes(c);
    s->features = malloc((size_t)s->n * d * sizeof *s->features);
    s->probs = malloc((size_t)s->n * k * sizeof *s->probs);
    s->mean = malloc(d * sizeof *s->mean);
    s->cov = malloc(d * d * sizeof *s->cov);
    if (!s->features || !s->probs || !s->mean || !s->cov || !(x = tnn_tensor_new2(1, c->sizes[0]))) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        goto done;
    }
    for (int first = 0; first < s->n; first += batch_size) {
        int b = s->n - first < batch_size ? s->n - first : batch_size;
        const tnn_tensor *feat, *logits;
        if (tnn_idx_images_to_tensor(&idx, NULL, first, b, c->img_h, c->img_w, x) ||
            clf_forward(net, c, x, &feat, &logits)) {
            fprintf(stderr, "%s: %s %s: %s\n", PROG, s->flag, s->path, tnn_last_error());
            goto done;
        }
        memcpy(s->features + (size_t)first * d, feat->data, (size_t)b * d * sizeof *s->features);
        metrics_softmax(logits->data, b, (int)k, s->probs + (size_t)first * k);
    }
    if (metrics_mean_cov(s->features, s->n, (int)d, s->mean, s->cov)) goto done;
    status = 0;
done:
    tnn_tensor_free(x);
    tnn_idx_free(&idx);
    return status;
}

/* Length of the well-formed UTF-8 sequence at p (1 to 4), or 0 if it is not one
 * (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, cut short). */
static int utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n) return 0;
    unsigned lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if (p[k] < 0x80 || p[k] > 0xBF) return 0;
    return n;
}

/* s as a JSON string: quotes, backslashes and control characters escaped, and a byte
 * that is not UTF-8 (a file name in another encoding) as U+FFFD, so that the line stays
 * valid JSON. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_seq(p);
        if (n == 0) fputs("\\ufffd", f), n = 1;
        else if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fwrite(p, 1, (size_t)n, f);
        p += n;
    }
    fputc('"', f);
}

int main(int argc, char **argv)
{
    const char *clf_path = NULL, *idx_path = NULL, *ref_path = NULL;
    flags_program_start();
    int max = 10000, batch_size = 1000, n_cpu = 2;
    double coverage = 0.05;
    const flag_spec specs[] = {
        FLAG_STRING("classifier", &clf_path, "FILE", "classifier weights written by mnist_classifier; required"),
        FLAG_STRING("idx", &idx_path, "FILE", "the images to score: uint8 IDX [N x 28 x 28], plain or gzipped; required"),
        FLAG_STRING("ref", &ref_path, "FILE",
                    "reference images (default: t10k-images-idx3-ubyte[.gz] in $TINYNN_DATA, else the bundled MNIST test "
                    "set)"),
        FLAG_INT("max", &max, 2, INT_MAX, "an integer >= 2",
                 "score at most this many images of --idx (the first ones); the reference is used whole"),
        FLAG_DOUBLE("coverage", &coverage, 0.0, 1.0, FLAG_LO_OPEN, "a number in (0, 1]",
                    "a class is covered when it holds at least this share of the samples"),
        FLAG_INT("batch_size", &batch_size, 1, 1 << 20, "a positive integer", "images per forward pass"),
        FLAG_INT("n_cpu", &n_cpu, 1, 4096, "a positive integer", "compute threads (capped at the cores present)"),
    };
    const char *summary =
        "Score images with an MNIST classifier trained by mnist_classifier: the Frechet distance of\n"
        "its penultimate-layer features to the reference set's, an Inception-style score and the\n"
        "classes covered. The last line is the same as JSON.";
    int r = flags_parse(PROG, summary, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r == FLAGS_HELP) return 0;
    if (r) return 2;
    if (!clf_path || !idx_path) {
        fprintf(stderr, "%s: %s is required (see --help)\n", PROG, !clf_path ? "--classifier FILE" : "--idx FILE");
        return 2;
    }
    char ref_buf[PATH_MAX], err[PATH_MAX + 256];
    const char *ref_flag = "--ref";
    if (!ref_path) {
        const char *from, *dir = flags_data_dir(NULL, TNN_DEFAULT_DATA_DIR, &from);
        if (flags_find_data_file(dir, from, "t10k-images-idx3-ubyte", ref_buf, sizeof ref_buf, err, sizeof err)) {
            fprintf(stderr, "%s: the reference images (give --ref FILE): %s\n", PROG, err);
            return 2;
        }
        ref_path = ref_buf;
        ref_flag = "reference";
    }
    /* A file that cannot be read is a bad flag value, found before any work; one whose
     * contents turn out to be damaged is an error (status 1). */
    const char *inputs[3][2] = {{"--classifier", clf_path}, {"--idx", idx_path}, {ref_flag, ref_path}};
    for (int k = 0; k < 3; k++) {
        const char *why = flags_input_problem(inputs[k][1], k == 0); /* safetensors: a regular file */
        if (why) {
            fprintf(stderr, "%s: %s %s: %s\n", PROG, inputs[k][0], inputs[k][1], why);
            return 2;
        }
    }

    int status = 1;
    tnn_module *net = NULL;
    tnn_tensor_list *sd = NULL;
    scored smp = {.path = idx_path, .flag = "--idx"}, ref = {.path = ref_path, .flag = ref_flag};
    int *hist = NULL, *hist_ref = NULL;
    tnn_safetensors *st = tnn_safetensors_load(clf_path);
    if (!st) {
        fprintf(stderr, "%s: --classifier: %s\n", PROG, tnn_last_error());
        return 1;
    }
    clf_config cfg;
    if (clf_config_from_metadata(tnn_safetensors_metadata(st), clf_path, &cfg, err, sizeof err)) {
        fprintf(stderr, "%s: --classifier: %s\n", PROG, err);
        status = 2;
        goto done;
    }
    /* The network the metadata describes must be the one the file holds, checked before
     * it is built: widths that promise more than the file has would allocate for nothing
     * (gigabytes, for a few made-up numbers). */
    uint64_t want = 0, have = 0;
    for (int k = 0; k + 1 < cfg.n_sizes; k++) want += ((uint64_t)cfg.sizes[k] + 1) * (uint64_t)cfg.sizes[k + 1];
    for (int i = 0; i < tnn_safetensors_count(st); i++) have += tnn_safetensors_get(st, i)->count;
    if (want != have) {
        fprintf(stderr, "%s: --classifier %s: the metadata's layers need %llu parameters, the file holds %llu values\n",
                PROG, clf_path, (unsigned long long)want, (unsigned long long)have);
        status = 2;
        goto done;
    }
    tnn_rng rng; /* the weights are loaded over the initial ones; dropout is off in eval mode */
    tnn_rng_seed(&rng, 0);
    if (!(net = clf_new(&cfg, &rng)) || !(sd = tnn_module_state_dict(net, ""))) { /* out of memory */
        fprintf(stderr, "%s: --classifier %s: %s\n", PROG, clf_path, tnn_last_error());
        goto done;
    }
    if (tnn_safetensors_copy_into(st, sd, true)) { /* tensors other than the metadata's network has: damaged */
        fprintf(stderr, "%s: --classifier %s: %s\n", PROG, clf_path, tnn_last_error());
        goto done;
    }
    tnn_module_eval(net);
    tnn_set_num_threads(n_cpu);

    if ((r = score_file(&smp, max, net, &cfg, batch_size)) || (r = score_file(&ref, INT_MAX, net, &cfg, batch_size))) {
        status = r;
        goto done;
    }
    int d = clf_feature_dim(&cfg), k = clf_classes(&cfg);
    if (!(hist = calloc((size_t)k, sizeof *hist)) || !(hist_ref = calloc((size_t)k, sizeof *hist_ref))) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        goto done;
    }
    double fid = metrics_frechet_distance(smp.mean, smp.cov, ref.mean, ref.cov, d);
    double is = metrics_inception_score(smp.probs, smp.n, k), is_ref = metrics_inception_score(ref.probs, ref.n, k);
    if (fid < 0.0) fid = 0.0; /* a distance: below 0 only by rounding (e.g. a set against itself) */
    int covered = metrics_class_coverage(smp.probs, smp.n, k, coverage, hist);
    int covered_ref = metrics_class_coverage(ref.probs, ref.n, k, coverage, hist_ref);
    if (!isfinite(fid) || !isfinite(is) || !isfinite(is_ref)) {
        fprintf(stderr, "%s: the figures are not finite (fid %g, inception score %g): the eigen-decomposition failed "
                "or the classifier produced NaN\n", PROG, fid, is);
        goto done;
    }

    printf("classifier: %s (%s, test accuracy %s)\n", clf_path, tnn_metadata_get(tnn_safetensors_metadata(st), "layers"),
           tnn_metadata_get(tnn_safetensors_metadata(st), "test_accuracy")
               ? tnn_metadata_get(tnn_safetensors_metadata(st), "test_accuracy")
               : "unknown");
    printf("samples:    %d images from %s\n", smp.n, smp.path);
    printf("reference:  %d images from %s\n", ref.n, ref.path);
    printf("predicted classes of the samples (reference in brackets):\n");
    for (int c = 0; c < k; c++)
        printf("  %2d: %6d  %5.1f%%   (%5.1f%%)%s\n", c, hist[c], 100.0 * hist[c] / smp.n, 100.0 * hist_ref[c] / ref.n,
               metrics_is_covered(hist[c], smp.n, coverage) ? "" : "   below the coverage share");
    char cov[32];
    flags_format_double(cov, sizeof cov, 100.0 * coverage);
    printf("classes covered (>= %s%% of the samples): %d of %d (reference: %d)\n", cov, covered, k, covered_ref);
    printf("Inception-style score: %.4f (reference: %.4f; at most %d)\n", is, is_ref, k);
    printf("Frechet distance of the %d-d features to the reference: %.4f\n", d, fid);
    printf("{\"fid\": %.6g, \"inception_score\": %.6g, \"classes_covered\": %d, \"n\": %d, \"n_ref\": %d, "
           "\"inception_score_ref\": %.6g, \"coverage_threshold\": %.6g, \"class_histogram\": [",
           fid, is, covered, smp.n, ref.n, is_ref, coverage);
    for (int c = 0; c < k; c++) printf(c ? ", %d" : "%d", hist[c]);
    printf("], \"samples\": ");
    json_string(stdout, smp.path);
    printf(", \"ref\": ");
    json_string(stdout, ref.path);
    printf(", \"classifier\": ");
    json_string(stdout, clf_path);
    printf("}\n");
    status = 0;

done:
    free(hist);
    free(hist_ref);
    scored_free(&smp);
    scored_free(&ref);
    tnn_tensor_list_free(sd);
    tnn_module_free(net);
    tnn_safetensors_free(st);
    return flags_finish_stdout(PROG, status); /* the JSON line is the result */
}
