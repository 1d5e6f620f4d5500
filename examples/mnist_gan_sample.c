/*
 * mnist_gan_sample - load a generator saved by mnist_gan (or by PyTorch, under the
 * seed's state_dict names) and write new images: a PNG grid and/or an IDX file that
 * other tools can score.
 *
 *   build/examples/mnist_gan_sample --weights out/generator.safetensors --png grid.png
 *   build/examples/mnist_gan_sample --weights out/generator.safetensors --n_samples 10000 \
 *       --idx samples-idx3-ubyte.gz
 *
 * The generator is built from the file's __metadata__ (latent_dim, img_size, channels,
 * bn_eps, bn_momentum, as mnist_gan records them); keys a file lacks take the seed's
 * defaults, so a state_dict saved from the seed's PyTorch Generator loads too. A
 * training checkpoint (<out>/checkpoint.safetensors) works as well: its generator is
 * read from the "generator.model.*" tensors.
 *
 * Exit status: 0 written; 1 an error (a --weights file that is not valid safetensors,
 * lacks a tensor or holds values no training writes: NaN, an infinity, a negative
 * variance; out of memory, a failed write); 2 bad flags, a --weights file that is
 * missing or cannot be read, or weights whose metadata cannot make a generator
 * (docs/mnist_gan.md).
 */
#include <tinynn/tinynn.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "gan_checkpoint.h"
#include "gan_models.h"

static const char *const PROG = "mnist_gan_sample";

/* tanh output in [-1, 1] to a byte: v = (x + 1) / 2 clamped to [0, 1], then the PNG
 * path's rounding, (uint8) clamp(v * 255 + 0.5, 0, 255). No min-max normalisation. */
static uint8_t to_byte(float x)
{
    float v = (x + 1.0f) / 2.0f;
    v = v >= 0.0f ? (v <= 1.0f ? v : 1.0f) : 0.0f; /* NaN -> 0 */
    float t = v * 255.0f;
    t += 0.5f;
    return (uint8_t)(t <= 255.0f ? t : 255.0f);
}

int main(int argc, char **argv)
{
    const char *weights = NULL, *png = NULL, *idx_path = NULL, *bn_mode = "train";
    flags_program_start();
    int n_samples = 25, nrow = 5, batch_size = 128;
    uint64_t seed = 0;
    static const char *const modes[] = {"train", "eval", NULL};
    const flag_spec specs[] = {
        FLAG_STRING("weights", &weights, "FILE",
                    "generator weights (safetensors) written by mnist_gan, or its checkpoint; required"),
        FLAG_INT("n_samples", &n_samples, 1, 1 << 24, "a positive integer", "number of images to generate"),
        FLAG_U64("seed", &seed, "a non-negative integer", "random seed for the latent vectors"),
        FLAG_STRING("png", &png, "FILE", "write the images as one PNG grid (normalised as save_image does)"),
        FLAG_INT("nrow", &nrow, 1, 4096, "a positive integer", "images per row of the PNG grid"),
        FLAG_STRING("idx", &idx_path, "FILE", "write all images as uint8 IDX (gzipped if FILE ends in .gz)"),
        FLAG_CHOICE("bn_mode", &bn_mode, modes, "MODE",
                    "BatchNorm statistics: train = each batch's own (as the seed samples), eval = the running ones"),
        FLAG_INT("batch_size", &batch_size, 2, 1 << 20, "an integer >= 2",
                 "images generated together (train mode normalises over each batch)"),
    };
    const char *summary =
        "Generate images with a generator trained by mnist_gan. Give --png and/or --idx.\n"
        "In train mode the samples are generated in ceil(n_samples / batch_size) batches of\n"
        "nearly equal size, each normalised with its own BatchNorm statistics.";
    int r = flags_parse(PROG, summary, specs, (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (r == FLAGS_HELP) return 0;
    if (r) return 2;
    if (!weights) {
        fprintf(stderr, "%s: --weights FILE is required\n", PROG);
        return 2;
    }
    if (!png && !idx_path) {
        fprintf(stderr, "%s: nothing to write: give --png FILE and/or --idx FILE\n", PROG);
        return 2;
    }
    bool train = strcmp(bn_mode, "train") == 0;
    if (train && n_samples < 2) {
        fprintf(stderr, "%s: --n_samples 1 with --bn_mode train: BatchNorm needs at least 2 images; use --bn_mode eval\n",
                PROG);
        return 2;
    }

    if (train && 2 * ((n_samples + batch_size - 1) / batch_size) > n_samples) {
        /* ceil(n / batch_size) nearly equal batches: one of them would hold one image */
        fprintf(stderr, "%s: --n_samples %d in batches of at most --batch_size %d would leave a batch of one image, "
                "which BatchNorm cannot normalise (--bn_mode train); use an even --n_samples, a --batch_size of 3 or "
                "more, or --bn_mode eval\n", PROG, n_samples, batch_size);
        return 2;
    }
    const char *outs[2][2] = {{"png", png}, {"idx", idx_path}};
    for (int k = 0; k < 2; k++) {
        if (outs[k][1] && flags_check_output(PROG, outs[k][0], outs[k][1])) return 2;
        /* writing over the weights being read would lose them */
        if (outs[k][1] && flags_same_file(outs[k][1], weights)) {
            fprintf(stderr, "%s: --%s %s is the --weights file; give another output file\n", PROG, outs[k][0],
                    outs[k][1]);
            return 2;
        }
    }
    if (png && idx_path && flags_same_file(png, idx_path)) {
        fprintf(stderr, "%s: --png and --idx are the same file (%s); the second would replace the first\n", PROG, png);
        return 2;
    }
    const char *why = flags_input_problem(weights, true); /* damaged contents are status 1, below */
    if (why) {
        fprintf(stderr, "%s: --weights %s: %s\n", PROG, weights, why);
        return 2;
    }

    int status = 1;
    tnn_module *g = NULL;
    tnn_tensor_list *sd = NULL;
    tnn_tensor *z = NULL, *all = NULL;
    uint8_t *bytes = NULL;
    tnn_safetensors *st = tnn_safetensors_load(weights);
    if (!st) {
        fprintf(stderr, "%s: --weights: %s\n", PROG, tnn_last_error());
        return 1;
    }
    gan_config gc = gan_config_defaults();
    char err[512];
    if (gan_config_from_metadata(tnn_safetensors_metadata(st), weights, &gc, err, sizeof err) != TNN_OK) {
        fprintf(stderr, "%s: --weights %s\n", PROG, err);
        status = 2;
        goto done;
    }
    /* a checkpoint holds more than the generator: take its generator.model.* tensors,
     * every one of which must be there */
    const char *fmt = tnn_metadata_get(tnn_safetensors_metadata(st), "format");
    bool checkpoint = fmt && strcmp(fmt, GAN_CHECKPOINT_FORMAT) == 0;
    /* mnist_gan's weights say which network they hold (files without the key, written
     * by PyTorch or by mnist_gan before 0.9, are judged by their tensors below) */
    const char *network = checkpoint ? NULL : tnn_metadata_get(tnn_safetensors_metadata(st), "network");
    if (network && strcmp(network, "generator") != 0) {
        fprintf(stderr, "%s: --weights %s: holds the %s (its metadata's network), not the generator; give "
                "generator.safetensors, a generator_epoch<E>.safetensors snapshot or a checkpoint\n", PROG, weights,
                network);
        status = 2;
        goto done;
    }
    const char *prefix = checkpoint ? GAN_CHECKPOINT_GENERATOR : GAN_PREFIX;
    /* Metadata that promises a larger generator than the file holds is refused before
     * the network is built: made-up sizes would reserve gigabytes for nothing. */
    uint64_t want = gan_generator_values(&gc), have = gan_values_in_file(st, prefix);
    if (want > have && have == 0) { /* another program's weights, say: no sizes to speak of */
        fprintf(stderr, "%s: --weights %s: holds no generator tensors (none named %s...)%s%s%s; give a generator's "
                "weights or a mnist_gan checkpoint\n", PROG, weights, prefix, fmt ? ": its format is '" : "",
                fmt ? fmt : "", fmt ? "'" : "");
        status = 2;
        goto done;
    }
    if (want > have) {
        const tnn_metadata *md = tnn_safetensors_metadata(st);
        const bool sized = tnn_metadata_get(md, "latent_dim") || tnn_metadata_get(md, "img_size") ||
                           tnn_metadata_get(md, "channels");
        fprintf(stderr,
                "%s: --weights %s: %s (latent_dim %d, img_size %d, channels %d) describe a generator of "
                "%llu values, the file holds %llu\n",
                PROG, weights, sized ? "its metadata's sizes" : "the default sizes (the file's metadata gives none)",
                gc.latent_dim, gc.img_size, gc.channels, (unsigned long long)want, (unsigned long long)have);
        status = 2;
        goto done;
    }
    if (!(g = gan_generator_new(&gc, NULL)) ||
        !(sd = tnn_module_state_dict(g, prefix))) {
        fprintf(stderr, "%s: %s: %s\n", PROG, weights, tnn_last_error());
        goto done;
    }
    for (int i = 0; checkpoint && i < sd->count; i++) {
        if (!tnn_safetensors_find(st, sd->items[i].name)) {
            fprintf(stderr, "%s: %s: the checkpoint has no '%s'\n", PROG, weights, sd->items[i].name);
            goto done;
        }
    }
    if (tnn_safetensors_copy_into(st, sd, !checkpoint) != TNN_OK) {
        fprintf(stderr, "%s: %s: %s\n", PROG, weights, tnn_last_error());
        goto done;
    }
    char bad[300];
    size_t at;
    float v;
    if (gan_module_find_nonfinite(g, prefix, bad, sizeof bad, &at, &v)) { /* NaN weights: NaN images, or none */
        fprintf(stderr, "%s: --weights %s: '%s' holds %s at element %zu\n", PROG, weights, bad,
                isnan(v) ? "NaN" : "an infinity", at);
        goto done; /* a damaged file (status 1), as mnist_gan --resume says of a checkpoint */
    }
    if (gan_module_find_negative(g, prefix, bad, sizeof bad, &at)) { /* eval mode: NaN images */
        fprintf(stderr, "%s: --weights %s: '%s' is negative at element %zu, which no training writes\n", PROG, weights,
                bad, at);
        goto done; /* damaged: status 1 */
    }
    tnn_module_train(g, train);
    int gw, gh; /* the grid's size is known now: refused before generating, not after */
    if (png && tnn_image_grid_size(n_samples, gc.img_size, gc.img_size, nrow, 2, &gw, &gh) != TNN_OK) {
        fprintf(stderr, "%s: --png: %d images of %d x %d, %d per row (--n_samples, --nrow): %s\n", PROG, n_samples,
                gc.img_size, gc.img_size, nrow, tnn_last_error());
        status = 2;
        goto done;
    }

    int feat = gan_img_features(&gc), hw = gc.img_size * gc.img_size;
    int nb = (n_samples + batch_size - 1) / batch_size;
    int maxb = (n_samples + nb - 1) / nb;
    /* What the run keeps at least: the generator's weights, a batch's activations (a float
     * per feature per image), every sample as floats and, for --idx, as bytes. More than
     * the machine's memory is refused before generating: Linux's overcommit lets such a
     * request through and the OOM killer ends the process when it is filled. */
    double mem = flags_memory_bytes();
    double need = 4.0 * (double)want + 4.0 * (double)maxb * (double)gan_generator_features(&gc) +
                  (idx_path ? 5.0 : 4.0) * (double)n_samples * (double)feat;
    if (mem > 0.0 && need > mem) {
        fprintf(stderr, "%s: --n_samples %d of %d x %d (--batch_size %d): the samples and the generator take at least "
                "%.1f GB, more than this machine's %.1f GB of memory; generate them in several runs (--seed)\n", PROG,
                n_samples, gc.img_size, gc.img_size, batch_size, need / 1e9, mem / 1e9);
        status = 2;
        goto done;
    }
    tnn_rng rng;
    tnn_rng_seed(&rng, seed);
    if (!(z = tnn_tensor_new2(maxb, gc.latent_dim)) || !(all = tnn_tensor_new2(n_samples, feat))) {
        fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
        goto done;
    }
    for (int k = 0, done_n = 0; k < nb; k++) {
        int b = n_samples / nb + (k < n_samples % nb); /* nearly equal batches, none of 1 */
        const tnn_tensor *out;
        if (tnn_tensor_resize(z, 2, (int[]){b, gc.latent_dim}) != TNN_OK) goto fail_msg;
        tnn_tensor_normal(z, &rng, 0.0f, 1.0f);
        if (tnn_module_forward(g, z, &out) != TNN_OK) goto fail_msg;
        memcpy(all->data + (size_t)done_n * (size_t)feat, out->data, (size_t)b * (size_t)feat * sizeof(float));
        done_n += b;
    }

    if (png) {
        flags_writing(true);
        tnn_status wst = tnn_save_image_grid(png, all, n_samples, gc.channels, gc.img_size, gc.img_size, nrow, 2, true);
        flags_writing(false);
        if (wst != TNN_OK) goto fail_msg;
        if (n_samples == 1) printf("%s: 1 image\n", png);
        else printf("%s: %d images, %d per row\n", png, n_samples, nrow < n_samples ? nrow : n_samples);
    }
    if (idx_path) {
        /* IDX holds [N x H x W] (one channel) or [N x H x W x C] (interleaved). */
        size_t count = (size_t)n_samples * (size_t)feat;
        if (!(bytes = malloc(count))) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            goto done;
        }
        for (int i = 0; i < n_samples; i++) {
            const float *src = all->data + (size_t)i * (size_t)feat;
            uint8_t *dst = bytes + (size_t)i * (size_t)feat;
            for (int c = 0; c < gc.channels; c++)
                for (int p = 0; p < hw; p++) dst[(size_t)p * gc.channels + c] = to_byte(src[(size_t)c * hw + p]);
        }
        int dims[4] = {n_samples, gc.img_size, gc.img_size, gc.channels};
        flags_writing(true);
        tnn_status wst = tnn_idx_save_u8(idx_path, bytes, gc.channels == 1 ? 3 : 4, dims);
        flags_writing(false);
        if (wst != TNN_OK) goto fail_msg;
        printf("%s: %d images of %d x %d%s\n", idx_path, n_samples, gc.img_size, gc.img_size,
               gc.channels == 1 ? "" : " (channels last)");
    }
    status = 0;
    goto done;

fail_msg:
    fprintf(stderr, "%s: %s\n", PROG, tnn_last_error());
done:
    free(bytes);
    tnn_tensor_free(z);
    tnn_tensor_free(all);
    tnn_tensor_list_free(sd);
    tnn_module_free(g);
    tnn_safetensors_free(st);
    return status;
}
