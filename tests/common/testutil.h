/*
 * testutil.h - small helpers shared by libtinynn's cmocka tests.
 *
 *   tu_main          run a test executable's cmocka tests, or only the one named on the
 *                    command line (so one executable can back several ctest tests)
 *   TU_ASSERT_OK     assert a tnn_status is TNN_OK, printing tnn_last_error() if not
 *   TU_ASSERT_ERR    assert a call fails with a given status and that the message
 *                    contains given substrings (module names, shapes)
 *   tu_assert_close  compare arrays by relative error, printing the worst element
 *   tu_rand_tensor   random tensors, optionally kept away from a kink at zero
 *   tu_alloc_*       an allocator (installed with tnn_set_allocator) that counts live
 *                    blocks and can fail the n-th allocation
 */
#ifndef TINYNN_TESTUTIL_H
#define TINYNN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <tinynn/tinynn.h>

/* Runs every test in `tests`, or, when argv[1] is given, only the test whose name is
 * exactly argv[1]. An unknown name is a failure (a ctest test that runs nothing would
 * pass silently). */
int tu_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n);
#define TU_MAIN(group, tests) \
    int main(int argc, char **argv) { return tu_main(argc, argv, group, tests, sizeof(tests) / sizeof((tests)[0])); }

void tu_assert_ok_(tnn_status st, const char *expr, const char *file, int line);
#define TU_ASSERT_OK(expr) tu_assert_ok_((expr), #expr, __FILE__, __LINE__)

/* Asserts `expr` returns `status` and that tnn_last_error() contains each of the
 * strings in the NULL-terminated list that follows. */
void tu_assert_err_(tnn_status got, tnn_status want, const char *expr, const char *file, int line, ...);
#define TU_ASSERT_ERR(expr, want, ...) tu_assert_err_((expr), (want), #expr, __FILE__, __LINE__, __VA_ARGS__)
/* Asserts tnn_last_error() contains each of the NULL-terminated strings. */
void tu_assert_msg_(const char *file, int line, ...);
#define TU_ASSERT_MSG(...) tu_assert_msg_(__FILE__, __LINE__, __VA_ARGS__)

/* |got - want| / max(|got|, |want|, floor) <= tol for every element; on failure prints
 * the worst element with both values and fails the test. */
void tu_assert_close_(const float *got, const double *want, size_t n, double tol, double floor, const char *what,
                      const char *file, int line);
#define tu_assert_close(got, want, n, tol, floor, what) tu_assert_close_((got), (want), (n), (tol), (floor), (what), __FILE__, __LINE__)
/* The same for one value. */
#define tu_assert_close1(got, want, tol, floor, what) \
    do { float g_ = (float)(got); double w_ = (double)(want); tu_assert_close_(&g_, &w_, 1, (tol), (floor), (what), __FILE__, __LINE__); } while (0)

/* New [d0 x d1] tensor with elements U(lo, hi). */
tnn_tensor *tu_rand_tensor(tnn_rng *r, int d0, int d1, float lo, float hi);
/* MaxPool2d's and AvgPool2d's number of windows along a dimension of `size` (a test
 * oracle), in the terms of torch's rules rather than its formula: rounded down, the
 * windows that end inside the padded input; with ceil_mode, each window whose
 * predecessor ends before the padded input's end (so the last one may run past it), as
 * long as it starts inside the input or its left padding. */
int tu_pool_windows(int size, int k, int s, int p, bool ceil_mode);
/* Fill t with values of magnitude in [margin, hi] and random sign: inputs kept at
 * least `margin` away from a kink at zero (ReLU, LeakyReLU). */
void tu_fill_away_from_zero(tnn_tensor *t, tnn_rng *r, float margin, float hi);

/* Counting allocator. tu_alloc_install(fail_at): the fail_at-th allocation from now
 * (0-based) fails, the others succeed; fail_at < 0 never fails. tu_alloc_live() is
 * the number of blocks currently allocated through it, tu_alloc_count() the number of
 * allocation attempts since install. tu_alloc_uninstall() restores malloc/free. */
void tu_alloc_install(long fail_at);
void tu_alloc_uninstall(void);
long tu_alloc_live(void);
long tu_alloc_count(void);

/* A scratch folder per test: tu_tmpdir_make and tu_tmpdir_remove are cmocka setup and
 * teardown functions; tu_dir holds the folder's path in between. */
extern char tu_dir[64];
int tu_tmpdir_make(void **state);
int tu_tmpdir_remove(void **state);

/* Read a PNG (stb_image, compiled once in testutil.c): pixels with `want` channels
 * (0: as stored), size and stored channels in *w, *h, *c; NULL if unreadable. Free
 * with tu_png_free. */
unsigned char *tu_png_load(const char *path, int *w, int *h, int *c, int want);
void tu_png_free(unsigned char *pixels);
/* Why the last tu_png_load failed. */
const char *tu_png_error(void);

#endif
