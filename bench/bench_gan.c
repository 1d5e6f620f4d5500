/*
 * bench_gan - time full training iterations of the seed GAN (generator step +
 * discriminator step, the seed's models, real MNIST batches) and, side by side, the
 * matrix products such an iteration needs, timed alone. Prints one line of JSON.
 *
 *   build/bench/bench_gan --iters 200 --n_cpu 2 --batch_size 128
 *
 * ms_per_iter is the median over --repeats blocks of --iters iterations, after
 * --warmup iterations; gemm_ms_per_iter is the median time of the same list of
 * products (same shapes, same transposes) run as the step runs them: through the
 * library's gemm, split over the threads, each layer's dW and dx side by side.
 * gemm_openblas_threads_ms_per_iter times the same products once more under OpenBLAS's
 * own threading (one cblas_sgemm call each), for reference; blas_core names the
 * OpenBLAS kernels in use (OPENBLAS_CORETYPE selects them).
 * --phases adds, per phase of the step (gan_models.h), the mean wall time in the
 * iteration and the time of that phase's products alone: where the rest goes; "batch"
 * is the conversion of the batch's images to floats, before the step.
 */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"
#include "blas_note.h"
#include "flags.h"
#include "gan_models.h"
#include "parallel_impl.h"
#include "tnn_impl.h" /* tnn_gemm: the library's one product wrapper */

#include <cblas.h>

#ifndef TNN_DEFAULT_DATA_DIR
#define TNN_DEFAULT_DATA_DIR "data/mnist"
#endif

/* One matrix product of the iteration: C[M x N] = op(A)[M x K] op(B)[K x N]. */
typedef struct product {
    int phase; /* GAN_PHASE_* */
    bool paired; /* runs side by side with the next product, as Linear's backward runs dW and dx */
    bool ta, tb;
    int M, N, K;
    float *A, *B, *C;
} product;

typedef struct product_list {
    product p[64];
    int n;
    int phase; /* phase of the products being added */
    double flops;
} product_list;

static void add_product(product_list *l, bool ta, bool tb, int M, int N, int K)
{
    product *p = &l->p[l->n++];
    p->phase = l->phase;
    p->paired = false;
    p->ta = ta; p->tb = tb; p->M = M; p->N = N; p->K = K;
    l->flops += 2.0 * M * N * K;
}

/* Products of one Linear layer (in -> out) on a batch b: forward y = x W^T,
 * backward dW += dy^T x and dx = dy W. */
static void linear_fwd(product_list *l, int b, int in, int out) { add_product(l, false, true, b, out, in); }
static void linear_dw(product_list *l, int b, int in, int out) { add_product(l, true, false, out, in, b); }
static void linear_dx(product_list *l, int b, int in, int out) { add_product(l, false, false, b, in, out); }
/* dW and dx of one backward: independent, run side by side (tnn_gemm2) */
static void linear_dw_dx(product_list *l, int b, int in, int out)
{
    linear_dw(l, b, in, out);
    l->p[l->n - 1].paired = true;
    linear_dx(l, b, in, out);
}

/* The products one gan_trainer_step performs (see gan_models.h). */
static void gan_products(product_list *l, const gan_config *c, int b)
{
    int g[6] = {c->latent_dim, 128, 256, 512, 1024, gan_img_features(c)};
    int d[4] = {gan_img_features(c), 512, 256, 1};
    /* generator step: G forward, D forward, D backward (dx only), G backward (dW all, dx but the first) */
    l->phase = GAN_PHASE_G_FORWARD;
    for (int i = 0; i < 5; i++) linear_fwd(l, b, g[i], g[i + 1]);
    l->phase = GAN_PHASE_D_FORWARD_FAKE;
    for (int i = 0; i < 3; i++) linear_fwd(l, b, d[i], d[i + 1]);
    l->phase = GAN_PHASE_D_BACKWARD_DX;
    for (int i = 2; i >= 0; i--) linear_dx(l, b, d[i], d[i + 1]);
    l->phase = GAN_PHASE_G_BACKWARD;
    for (int i = 4; i >= 0; i--) {
        if (i > 0) linear_dw_dx(l, b, g[i], g[i + 1]);
        else linear_dw(l, b, g[i], g[i + 1]);
    }
    /* discriminator step: backward on the kept fake activations, forward + backward on real */
    for (int pass = 0; pass < 2; pass++) {
        l->phase = GAN_PHASE_D_BACKWARD_FAKE;
        if (pass == 1) {
            l->phase = GAN_PHASE_D_FORWARD_REAL;
            for (int i = 0; i < 3; i++) linear_fwd(l, b, d[i], d[i + 1]);
            l->phase = GAN_PHASE_D_BACKWARD_REAL;
        }
        for (int i = 2; i >= 0; i--) {
            if (i > 0) linear_dw_dx(l, b, d[i], d[i + 1]);
            else linear_dw(l, b, d[i], d[i + 1]);
        }
    }
}

static int alloc_products(product_list *l, tnn_rng *rng)
{
    for (int i = 0; i < l->n; i++) {
        product *p = &l->p[i];
        size_t na = (size_t)p->M * p->K, nb = (size_t)p->K * p->N, nc = (size_t)p->M * p->N;
        p->A = malloc(na * sizeof(float));
        p->B = malloc(nb * sizeof(float));
        p->C = calloc(nc, sizeof(float));
        if (!p->A || !p->B || !p->C) return -1;
        for (size_t k = 0; k < na; k++) p->A[k] = tnn_rng_uniform(rng) - 0.5f;
        for (size_t k = 0; k < nb; k++) p->B[k] = tnn_rng_uniform(rng) - 0.5f;
    }
    return 0;
}

static tnn_gemm_args args_of(const product *p)
{
    int lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
    /* dW products accumulate (beta 1), as the layers do; the rest overwrite. */
    return (tnn_gemm_args){p->ta, p->tb, p->M, p->N, p->K, 1.0f, p->A, lda, p->B, ldb, p->ta ? 1.0f : 0.0f, p->C, p->N, NULL};
}

/* Run the list once, as the step runs it (each product through the library's gemm, a
 * layer's dW and dx side by side); with phase_ms, add each product's time to its phase. */
static void run_products(const product_list *l, double *phase_ms)
{
    for (int i = 0; i < l->n; i++) {
        const product *p = &l->p[i];
        double t0 = phase_ms ? now_s() : 0.0;
        tnn_gemm_args a = args_of(p);
        if (p->paired && i + 1 < l->n) {
            tnn_gemm_args b = args_of(&l->p[++i]);
            tnn_gemm2(&a, &b);
        } else {
            tnn_gemm_run(&a);
        }
        if (phase_ms) phase_ms[p->phase] += 1e3 * (now_s() - t0);
    }
}

/* The same products as OpenBLAS's own threading runs them: one cblas call each, with
 * OpenBLAS set to `threads` threads and the library's pool to one. */
static double time_products_openblas(const product_list *l, int threads, int iters)
{
    openblas_set_num_threads(threads);
    tnn_parallel_set_threads(1);
    for (int w = 0; w < 3; w++) run_products(l, NULL);
    double t0 = now_s();
    for (int k = 0; k < iters; k++) run_products(l, NULL);
    double ms = 1e3 * (now_s() - t0) / iters;
    tnn_set_num_threads(threads);
    return ms;
}

static void free_products(product_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->p[i].A);
        free(l->p[i].B);
        free(l->p[i].C);
    }
}

int main(int argc, char **argv)
{
    int iters = 100, warmup = 10, repeats = 5, batch = 128, n_cpu = 2;
    uint64_t seed = 0;
    const char *data_dir = NULL, *phases = "off";
    static const char *const on_off[] = {"off", "on", NULL};
    const flag_spec specs[] = {
        FLAG_INT("iters", &iters, 1, 1000000, "a positive integer", "iterations per timed block"),
        FLAG_INT("warmup", &warmup, 0, 1000000, "a non-negative integer", "untimed iterations first"),
        FLAG_INT("repeats", &repeats, 1, 1000, "a positive integer", "timed blocks; the median is reported"),
        FLAG_INT("batch_size", &batch, 2, 65536, "an integer >= 2", "images per batch"),
        FLAG_INT("n_cpu", &n_cpu, 1, 1024, "a positive integer", "compute threads (capped at the cores)"),
        FLAG_U64("seed", &seed, "a non-negative integer", "random seed"),
        FLAG_STRING("data", &data_dir, "DIR", "folder with train-images-idx3-ubyte(.gz) (default: the bundled MNIST)"),
        FLAG_CHOICE("phases", &phases, on_off, "off|on", "also time each phase of the step, and its products alone"),
    };
    int nspecs = (int)(sizeof specs / sizeof specs[0]);
    int pr = flags_parse("bench_gan", "Time the seed GAN's training iteration against its matrix products.", specs, nspecs,
                         argc, argv);
    if (pr == FLAGS_HELP) return 0;
    if (pr != FLAGS_OK) return 2;
    if (!data_dir) data_dir = getenv("TINYNN_DATA");
    if (!data_dir) data_dir = TNN_DEFAULT_DATA_DIR;
    int threads = tnn_set_num_threads(n_cpu);

    /* Real MNIST images, converted per batch as the example does. */
    char path[4096];
    tnn_idx idx;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data_dir);
    if (tnn_idx_load(path, &idx) != TNN_OK) {
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", data_dir);
        if (tnn_idx_load(path, &idx) != TNN_OK) {
            fprintf(stderr, "bench_gan: %s\n", tnn_last_error());
            return 1;
        }
    }
    int n_images = idx.dims[0];
    if (n_images < batch) {
        fprintf(stderr, "bench_gan: %s holds %d images, fewer than --batch_size %d\n", path, n_images, batch);
        return 1;
    }

    tnn_rng rng;
    tnn_rng_seed(&rng, seed);
    gan_config cfg = gan_config_defaults();
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.0002;
    ap.beta1 = 0.5;
    ap.beta2 = 0.999;
    gan_trainer *t = gan_trainer_new(&cfg, ap, ap, batch, &rng);
    tnn_tensor *real = tnn_tensor_new2(batch, gan_img_features(&cfg));
    int *order = malloc((size_t)n_images * sizeof *order);
    if (!t || !real || !order) {
        fprintf(stderr, "bench_gan: %s\n", tnn_last_error());
        return 1;
    }
    for (int i = 0; i < n_images; i++) order[i] = i;
    tnn_rng_shuffle(&rng, order, n_images);
    int batches = n_images / batch, next = 0;

    /* Matrix products alone: the same list, timed the same way. */
    product_list pl = {.n = 0};
    gan_products(&pl, &cfg, batch);
    if (alloc_products(&pl, &rng)) {
        fprintf(stderr, "bench_gan: out of memory for the product buffers\n");
        return 1;
    }

    double *iter_ms = malloc((size_t)repeats * sizeof(double)), *gemm_ms = malloc((size_t)repeats * sizeof(double));
    if (!iter_ms || !gemm_ms) return 1;
    for (int w = 0; w < warmup; w++) run_products(&pl, NULL);
    for (int w = 0; w < warmup + repeats * iters; w++) {
        bool timed = w >= warmup;
        int r = timed ? (w - warmup) / iters : 0;
        if (timed && (w - warmup) % iters == 0) {
            /* Alternate: a block of products, then a block of iterations, so both see the
             * same machine state. */
            double t0 = now_s();
            for (int k = 0; k < iters; k++) run_products(&pl, NULL);
            gemm_ms[r] = 1e3 * (now_s() - t0) / iters;
            iter_ms[r] = 0.0;
        }
        double t0 = now_s();
        if (tnn_idx_images_to_tensor(&idx, order, (next % batches) * batch, batch, cfg.img_size, cfg.img_size, real) != TNN_OK ||
            gan_trainer_step(t, real, &rng) != TNN_OK) {
            fprintf(stderr, "bench_gan: %s\n", tnn_last_error());
            return 1;
        }
        next++;
        if (timed) iter_ms[r] += 1e3 * (now_s() - t0) / iters;
    }
    double ms = median(iter_ms, repeats), gms = median(gemm_ms, repeats);
    /* For reference: the same products under OpenBLAS's own threading (the library's
     * split and pairing off), the way a plain OpenBLAS program would run them. */
    double obms = time_products_openblas(&pl, threads, iters);

    /* Per-phase breakdown: separate runs, so that the clock reads above stay out of it. */
    double phase_iter[GAN_PHASES] = {0}, phase_gemm[GAN_PHASES] = {0}, batch_ms = 0.0;
    bool profile = strcmp(phases, "on") == 0;
    if (profile) {
        t->phase_ms = phase_iter;
        for (int k = 0; k < iters; k++) {
            double t0 = now_s();
            tnn_status st = tnn_idx_images_to_tensor(&idx, order, (next++ % batches) * batch, batch, cfg.img_size,
                                                     cfg.img_size, real);
            batch_ms += 1e3 * (now_s() - t0);
            if (st != TNN_OK || gan_trainer_step(t, real, &rng) != TNN_OK) {
                fprintf(stderr, "bench_gan: %s\n", tnn_last_error());
                return 1;
            }
            run_products(&pl, phase_gemm);
        }
        t->phase_ms = NULL;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"bench\": \"gan_iteration\", \"batch_size\": %d, \"threads\": %d, \"iters\": %d, \"repeats\": %d, "
           "\"ms_per_iter\": %.3f, \"images_per_s\": %.0f, \"s_per_epoch\": %.2f, "
           "\"gemm_ms_per_iter\": %.3f, \"gemm_gflop_per_iter\": %.3f, \"gemm_gflops\": %.1f, \"iter_over_gemm\": %.3f, "
           "\"gemm_openblas_threads_ms_per_iter\": %.3f, \"blas_core\": \"%s\", "
           "\"g_loss\": %.4f, \"d_loss\": %.4f, \"peak_rss_mb\": %.1f",
           batch, threads, iters, repeats, ms, 1e3 * batch / ms, 60000.0 / (1e3 * batch / ms), gms, pl.flops * 1e-9,
           pl.flops * 1e-6 / gms, ms / gms, obms, blas_core(), (double)t->g_loss, (double)t->d_loss, ru.ru_maxrss / 1024.0);
    if (profile) {
        /* "phase": [ms in the iteration, ms of its products alone] */
        printf(", \"phases_ms\": {\"batch\": [%.3f, 0.000]", batch_ms / iters); /* images to floats */
        for (int p = 0; p < GAN_PHASES; p++)
            printf(", \"%s\": [%.3f, %.3f]", gan_phase_names[p], phase_iter[p] / iters, phase_gemm[p] / iters);
        printf("}");
    }
    printf("}\n");

    free(iter_ms);
    free(gemm_ms);
    free_products(&pl);
    free(order);
    tnn_tensor_free(real);
    gan_trainer_free(t);
    tnn_idx_free(&idx);
    return 0;
}
