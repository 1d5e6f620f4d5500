/* Helpers for the mnist_gan end-to-end tests (see test_mnist_gan_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "test_mnist_gan_util.h"

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

const char *g_gan = "mnist_gan", *g_sample = "mnist_gan_sample";

char *gt_path(const char *name)
{
    static char p[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tu_dir, name);
    return p[k];
}

char *gt_slurp(const char *path, size_t *len)
{
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    if (len) *len = (size_t)(n > 0 ? n : 0);
    return b;
}

int gt_run(const char *env, const char *prog, const char *args, char **out, char **err)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", env ? env : "", prog, args, gt_path("stdout.txt"),
             gt_path("stderr.txt"));
    int rc = system(cmd);
    *out = gt_slurp(gt_path("stdout.txt"), NULL);
    *err = gt_slurp(gt_path("stderr.txt"), NULL);
    if (WIFSIGNALED(rc)) return 128 + WTERMSIG(rc);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
}

void gt_write_dataset(const char *dir, int n, uint64_t seed)
{
    mkdir(dir, 0777);
    uint8_t *px = calloc((size_t)n, 784);
    tnn_rng r;
    tnn_rng_seed(&r, seed);
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

void gt_assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want)) fail_msg("expected \"%s\" in:\n%s", want, text);
}

void gt_assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = gt_slurp(a, &na), *y = gt_slurp(b, &nb);
    size_t i = 0;
    while (i < na && i < nb && x[i] == y[i]) i++;
    bool same = na == nb && i == na && na > 0;
    free(x);
    free(y);
    if (!same) fail_msg("%s (%zu bytes) and %s (%zu bytes) differ at byte %zu", a, na, b, nb, i);
}
