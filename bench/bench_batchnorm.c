/* bench_batchnorm: one BatchNorm1d (the seed generator's eps 0.8, training mode) on a
 * [batch x features] input, forward and backward, with its data in cache: how long the
 * layer's own passes take, apart from the memory traffic of a full iteration (compare
 * bench_gan --phases on). The medians of --repeats blocks of --iters calls are printed
 * as one line of JSON. A benchmark, not a test. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include "flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <tinynn/tinynn.h>

int main(int argc, char **argv)
{
    int features = 1024, batch = 128, iters = 2000, repeats = 5, n_cpu = 2;
    const flag_spec specs[] = {
        FLAG_INT("features", &features, 1, 1 << 20, "a positive integer", "features of the layer"),
        FLAG_INT("batch_size", &batch, 2, 1 << 20, "an integer >= 2", "rows of the input"),
        FLAG_INT("iters", &iters, 1, 100000000, "a positive integer", "forward + backward calls per timed block"),
        FLAG_INT("repeats", &repeats, 1, 1000, "a positive integer", "timed blocks; the median is reported"),
        FLAG_INT("n_cpu", &n_cpu, 1, 1024, "a positive integer", "compute threads (capped at the cores)"),
    };
    int pr = flags_parse("bench_batchnorm", "Time one BatchNorm1d's forward and backward, data in cache.", specs,
                         (int)(sizeof specs / sizeof specs[0]), argc, argv);
    if (pr == FLAGS_HELP) return 0;
    if (pr != FLAGS_OK) return 2;
    int threads = tnn_set_num_threads(n_cpu);

    tnn_rng rng;
    tnn_rng_seed(&rng, 0);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.8;
    tnn_module *bn = tnn_batchnorm1d_new(features, p);
    tnn_tensor *x = tnn_tensor_new2(batch, features), *dy = tnn_tensor_new2(batch, features);
    double *fwd = malloc((size_t)repeats * sizeof *fwd), *bwd = malloc((size_t)repeats * sizeof *bwd);
    if (!bn || !x || !dy || !fwd || !bwd) {
        fprintf(stderr, "bench_batchnorm: %s\n", tnn_last_error());
        return 1;
    }
    tnn_tensor_normal(x, &rng, 0.0f, 1.0f);
    tnn_tensor_normal(dy, &rng, 0.0f, 1.0f);
    const tnn_tensor *y, *dx;
    for (int r = -1; r < repeats; r++) { /* r = -1: warm-up */
        double tf = 0.0, tb = 0.0;
        for (int i = 0; i < iters; i++) {
            double t0 = now_s();
            if (tnn_module_forward(bn, x, &y)) return 1;
            double t1 = now_s();
            tnn_module_discard_grad(bn);
            if (tnn_module_backward(bn, dy, &dx)) return 1;
            tb += now_s() - t1;
            tf += t1 - t0;
        }
        if (r >= 0) {
            fwd[r] = 1e6 * tf / iters;
            bwd[r] = 1e6 * tb / iters;
        }
    }
    printf("{\"bench\": \"batchnorm1d\", \"features\": %d, \"batch_size\": %d, \"threads\": %d, \"iters\": %d, "
           "\"repeats\": %d, \"forward_us\": %.2f, \"backward_us\": %.2f}\n",
           features, batch, threads, iters, repeats, median(fwd, repeats), median(bwd, repeats));
    tnn_module_free(bn);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    free(fwd);
    free(bwd);
    return 0;
}
