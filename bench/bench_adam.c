/* bench_adam: how long one Adam step over the seed GAN's generator (or discriminator)
 * takes with its data in cache and with its data evicted, as it is inside a training
 * iteration (between two steps of one optimizer the iteration touches about 40 MB:
 * the other network, activations, OpenBLAS's buffers).
 *
 * Each timed block runs --iters steps; "warm" steps follow each other, "cold" steps
 * each follow a sweep over --sweep_mb of memory (not timed). The medians of --repeats
 * blocks are printed as one line of JSON. A benchmark, not a test. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include "flags.h"
#include "gan_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int iters = 50, repeats = 5, n_cpu = 2, sweep_mb = 256;
    const char *net = "generator";
    static const char *const nets[] = {"generator", "discriminator", NULL};
    const flag_spec specs[] = {
        FLAG_CHOICE("net", &net, nets, "generator|discriminator", "whose parameters Adam updates"),
        FLAG_INT("iters", &iters, 1, 1000000, "a positive integer", "steps per timed block"),
        FLAG_INT("repeats", &repeats, 1, 1000, "a positive integer", "timed blocks; the median is reported"),
        FLAG_INT("n_cpu", &n_cpu, 1, 1024, "a positive integer", "compute threads (capped at the cores)"),
        FLAG_INT("sweep_mb", &sweep_mb, 1, 65536, "a positive integer", "memory swept before each cold step, MB"),
    };
    int pr = flags_parse("bench_adam", "Time one Adam step over the seed GAN's parameters, warm and cold.", specs,
                         (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (pr == FLAGS_HELP) return 0;
    if (pr != FLAGS_OK) return 2;
    int threads = tnn_set_num_threads(n_cpu);

    tnn_rng rng;
    tnn_rng_seed(&rng, 0);
    gan_config cfg = gan_config_defaults();
    tnn_module *m = strcmp(net, "generator") == 0 ? gan_generator_new(&cfg, &rng) : gan_discriminator_new(&cfg, &rng);
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.0002;
    ap.beta1 = 0.5;
    tnn_optimizer *opt = m ? tnn_adam_new(m, ap) : NULL;
    size_t sweep_bytes = (size_t)sweep_mb << 20;
    volatile unsigned char *sweep = malloc(sweep_bytes);
    double *warm = malloc((size_t)repeats * sizeof *warm), *cold = malloc((size_t)repeats * sizeof *cold);
    if (!opt || !sweep || !warm || !cold) {
        fprintf(stderr, "bench_adam: %s\n", opt ? "out of memory" : tnn_last_error());
        return 1;
    }
    memset((void *)sweep, 1, sweep_bytes);
    /* Gradients of the size a training step produces. */
    size_t n = 0;
    for (int k = 0; k < opt->params->count; k++) {
        tnn_named_tensor *t = &opt->params->items[k];
        for (size_t i = 0; i < t->count; i++) t->grad[i] = 1e-3f * tnn_rng_normal(&rng);
        n += t->count;
    }
    for (int i = 0; i < 5; i++) tnn_optimizer_step(opt);

    for (int r = 0; r < repeats; r++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++) tnn_optimizer_step(opt);
        warm[r] = 1e3 * (now_s() - t0) / iters;
        double total = 0.0;
        for (int i = 0; i < iters; i++) {
            for (size_t b = 0; b < sweep_bytes; b += 64) sweep[b]++;
            double t1 = now_s();
            tnn_optimizer_step(opt);
            total += now_s() - t1;
        }
        cold[r] = 1e3 * total / iters;
    }
    /* 28 bytes per parameter: weight, gradient and both moments read, three written. */
    double wm = median(warm, repeats), cm = median(cold, repeats), mb = 28.0 * (double)n / 1e6;
    printf("{\"bench\": \"adam_step\", \"net\": \"%s\", \"params\": %zu, \"threads\": %d, \"iters\": %d, "
           "\"repeats\": %d, \"warm_ms\": %.3f, \"cold_ms\": %.3f, \"traffic_mb\": %.1f, \"warm_gb_s\": %.1f, "
           "\"cold_gb_s\": %.1f}\n",
           net, n, threads, iters, repeats, wm, cm, mb, mb / wm, mb / cm);
    tnn_optimizer_free(opt);
    tnn_module_free(m);
    free((void *)sweep);
    free(warm);
    free(cold);
    return 0;
}
