/* Helpers shared by the end-to-end tests of examples/mnist_gan and mnist_gan_sample
 * (test_mnist_gan_smoke.c, test_mnist_gan_resume.c): a temporary folder per test, a
 * tiny IDX data set written by the test, running the binaries with captured output. */
#ifndef TINYNN_TEST_MNIST_GAN_UTIL_H
#define TINYNN_TEST_MNIST_GAN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The binaries under test (set from argv by main). Each test's scratch folder is
 * testutil.h's tu_dir (setup tu_tmpdir_make, teardown tu_tmpdir_remove). */
extern const char *g_gan, *g_sample;

/* "<tu_dir>/<name>" (eight rotating static buffers). */
char *gt_path(const char *name);

/* A whole file, NUL-terminated (an empty string if unreadable); *len its size if not
 * NULL. Free with free(). */
char *gt_slurp(const char *path, size_t *len);

/* Run `prog args` through sh, with `env` (e.g. "A=1 B=2", or NULL) in its environment
 * and stdout and stderr captured into *out and *err (the caller frees both). Returns the exit status, or
 * 128 + the signal if it was killed. */
int gt_run(const char *env, const char *prog, const char *args, char **out, char **err);

/* n 28 x 28 "digits" (a bright bar at a random place on a dark background) as
 * <dir>/train-images-idx3-ubyte.gz; different seeds give different images. */
void gt_write_dataset(const char *dir, int n, uint64_t seed);

/* Fail with both texts unless `want` occurs in `text`. */
void gt_assert_contains(const char *text, const char *want);
/* Fail unless the two files hold the same bytes (naming both and the first difference). */
void gt_assert_same_file(const char *a, const char *b);

#endif
