/* bench_forward: the seed generator in evaluation mode (running statistics, as
 * mnist_gan_sample --bn_mode eval), forward only, on a batch of --batch_size noise
 * vectors: what a program that runs a trained generator pays per call. Beside it, the
 * same five products as one cblas_sgemm each on one OpenBLAS thread, and as one
 * cblas_sgemv per row, with the data in cache. The medians of --repeats blocks of
 * --iters forwards are printed as one line of JSON, with a checksum of the output (its
 * bits, to compare builds). A benchmark, not a test. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include "flags.h"
#include "gan_models.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tinynn/tinynn.h>

enum { LAYERS = 5 };
static const int k_width[LAYERS + 1] = {100, 128, 256, 512, 1024, 784};

/* The generator's five products alone, as its Linear layers compute them (y = x W^T). */
static double products_ms(float *const *w, float *const *act, int batch, int iters, int repeats, bool gemv)
{
    double *t = malloc((size_t)repeats * sizeof *t);
    for (int r = -1; r < repeats; r++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++)
            for (int l = 0; l < LAYERS; l++) {
                int in = k_width[l], out = k_width[l + 1];
                if (!gemv)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.0f, act[l], in, w[l], in,
                                0.0f, act[l + 1], out);
                else
                    for (int b = 0; b < batch; b++)
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w[l], in, act[l] + (size_t)b * in, 1,
                                    0.0f, act[l + 1] + (size_t)b * out, 1);
            }
        if (r >= 0) t[r] = 1e3 * (now_s() - t0) / iters;
    }
    double m = median(t, repeats);
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int batch = 1, iters = 500, repeats = 5, n_cpu = 2;
    const flag_spec specs[] = {
        FLAG_INT("batch_size", &batch, 1, 1 << 16, "a positive integer", "noise vectors per forward"),
        FLAG_INT("iters", &iters, 1, 100000000, "a positive integer", "forwards per timed block"),
        FLAG_INT("repeats", &repeats, 1, 1000, "a positive integer", "timed blocks; the median is reported"),
        FLAG_INT("n_cpu", &n_cpu, 1, 1024, "a positive integer", "compute threads (capped at the cores)"),
    };
    int pr = flags_parse("bench_forward", "Time the seed generator's evaluation-mode forward.", specs,
                         (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (pr == FLAGS_HELP) return 0;
    if (pr != FLAGS_OK) return 2;

    tnn_rng rng;
    tnn_rng_seed(&rng, 0);
    gan_config c = gan_config_defaults();
    tnn_module *g = gan_generator_new(&c, &rng);
    tnn_tensor *z = tnn_tensor_new2(batch, c.latent_dim);
    double *t = malloc((size_t)repeats * sizeof *t);
    float *w[LAYERS], *act[LAYERS + 1];
    bool ok = g && z && t;
    for (int l = 0; l < LAYERS; l++) ok &= (w[l] = malloc(sizeof(float) * (size_t)k_width[l] * k_width[l + 1])) != NULL;
    for (int l = 0; l <= LAYERS; l++) ok &= (act[l] = calloc((size_t)batch * k_width[l], sizeof(float))) != NULL;
    if (!ok) {
        fprintf(stderr, "bench_forward: %s\n", tnn_last_error()[0] ? tnn_last_error() : "out of memory");
        return 1;
    }
    /* Products alone first, on one OpenBLAS thread, before the library's pool exists. */
    tnn_set_num_threads(1);
    for (int l = 0; l < LAYERS; l++)
        for (size_t i = 0; i < (size_t)k_width[l] * k_width[l + 1]; i++) w[l][i] = 0.01f * tnn_rng_uniform(&rng);
    for (size_t i = 0; i < (size_t)batch * k_width[0]; i++) act[0][i] = tnn_rng_uniform(&rng);
    double sgemm_ms = products_ms(w, act, batch, iters, repeats, false);
    double sgemv_ms = products_ms(w, act, batch, iters, repeats, true);

    int threads = tnn_set_num_threads(n_cpu);
    tnn_module_eval(g);
    tnn_tensor_normal(z, &rng, 0.0f, 1.0f);
    const tnn_tensor *y = NULL;
    for (int r = -1; r < repeats; r++) { /* r = -1: warm-up */
        double t0 = now_s();
        for (int i = 0; i < iters; i++)
            if (tnn_module_forward(g, z, &y)) {
                fprintf(stderr, "bench_forward: %s\n", tnn_last_error());
                return 1;
            }
        if (r >= 0) t[r] = 1e3 * (now_s() - t0) / iters;
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the output's bytes */
    const unsigned char *p = (const unsigned char *)y->data;
    for (size_t i = 0; i < y->size * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    printf("{\"bench\": \"forward\", \"net\": \"generator\", \"mode\": \"eval\", \"batch_size\": %d, \"threads\": %d, "
           "\"iters\": %d, \"repeats\": %d, \"ms_per_forward\": %.4f, \"sgemm_ms\": %.4f, \"sgemv_ms\": %.4f, "
           "\"output_fnv1a\": \"%016llx\"}\n",
           batch, threads, iters, repeats, median(t, repeats), sgemm_ms, sgemv_ms, (unsigned long long)h);
    for (int l = 0; l < LAYERS; l++) free(w[l]);
    for (int l = 0; l <= LAYERS; l++) free(act[l]);
    free(t);
    tnn_tensor_free(z);
    tnn_module_free(g);
    return 0;
}
