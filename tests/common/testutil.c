/* Shared helpers of the cmocka tests: see testutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tu_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n)
{
    if (argc < 2) return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0) return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "%s: no test called '%s'; the tests are:\n", group, argv[1]);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "  %s\n", tests[i].name);
    return 1;
}

void tu_assert_ok_(tnn_status st, const char *expr, const char *file, int line)
{
    if (st == TNN_OK) return;
    print_error("%s returned %s: %s\n", expr, tnn_status_name(st), tnn_last_error());
    _fail(file, line);
}

static void check_msg(const char *file, int line, va_list ap)
{
    const char *msg = tnn_last_error();
    for (const char *want = va_arg(ap, const char *); want; want = va_arg(ap, const char *)) {
        if (!strstr(msg, want)) {
            print_error("error message \"%s\" does not mention \"%s\"\n", msg, want);
            _fail(file, line);
        }
    }
}

void tu_assert_err_(tnn_status got, tnn_status want, const char *expr, const char *file, int line, ...)
{
    if (got != want) {
        print_error("%s returned %s, expected %s (message: \"%s\")\n", expr, tnn_status_name(got),
                    tnn_status_name(want), tnn_last_error());
        _fail(file, line);
    }
    va_list ap;
    va_start(ap, line);
    check_msg(file, line, ap);
    va_end(ap);
}

void tu_assert_msg_(const char *file, int line, ...)
{
    va_list ap;
    va_start(ap, line);
    check_msg(file, line, ap);
    va_end(ap);
}

void tu_assert_close_(const float *got, const double *want, size_t n, double tol, double floor, const char *what,
                      const char *file, int line)
{
    double worst = -1.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        double den = fmax(fmax(fabs(a), fabs(b)), floor);
        double err = fabs(a - b) / den;
        if (!(err <= worst)) { /* also catches NaN */
            worst = err;
            wi = i;
            if (isnan(err)) break;
        }
    }
    if (n == 0 || worst <= tol) return;
    print_error("%s: element %zu of %zu: got %.9g, expected %.9g, relative error %.3g > %.3g\n", what, wi, n,
                (double)got[wi], want[wi], worst, tol);
    _fail(file, line);
}

tnn_tensor *tu_rand_tensor(tnn_rng *r, int d0, int d1, float lo, float hi)
{
    tnn_tensor *t = tnn_tensor_new2(d0, d1);
    if (t) tnn_tensor_uniform(t, r, lo, hi);
    return t;
}

int tu_pool_windows(int size, int k, int s, int p, bool ceil_mode)
{
    int n = 0;
    for (;; n++) {
        const long long start = (long long)n * s - p;
        const bool last = ceil_mode ? start - s + k >= (long long)size + p || start >= size
                                    : start + k > (long long)size + p;
        if (last) return n;
    }
}

void tu_fill_away_from_zero(tnn_tensor *t, tnn_rng *r, float margin, float hi)
{
    for (size_t i = 0; i < t->size; i++) {
        float mag = margin + (hi - margin) * tnn_rng_uniform(r);
        t->data[i] = tnn_rng_uniform(r) < 0.5f ? -mag : mag;
    }
}

/* ---- counting, failing allocator ---- */

static long g_live, g_count, g_fail_at = -1;

static void *count_malloc(void *u, size_t n)
{
    (void)u;
    if (g_count++ == g_fail_at) return NULL;
    void *p = malloc(n);
    if (p) g_live++;
    return p;
}

static void *count_realloc(void *u, void *p, size_t n)
{
    (void)u;
    if (g_count++ == g_fail_at) return NULL;
    void *q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}

static void count_free(void *u, void *p)
{
    (void)u;
    if (p) g_live--;
    free(p);
}

void tu_alloc_install(long fail_at)
{
    g_live = 0;
    g_count = 0;
    g_fail_at = fail_at;
    tnn_set_allocator(&(tnn_allocator){count_malloc, count_realloc, count_free, NULL});
}

void tu_alloc_uninstall(void)
{
    tnn_set_allocator(NULL);
    g_fail_at = -1;
}

long tu_alloc_live(void) { return g_live; }
long tu_alloc_count(void) { return g_count; }

char tu_dir[64];

int tu_tmpdir_make(void **state)
{
    (void)state;
    snprintf(tu_dir, sizeof tu_dir, "/tmp/tinynn_test_XXXXXX");
    return mkdtemp(tu_dir) ? 0 : -1;
}

int tu_tmpdir_remove(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* stb_image's PNG reader, for checking what the library writes. Its unused functions
 * are reported at the end of the file, hence the file-wide -Wunused-function. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

unsigned char *tu_png_load(const char *path, int *w, int *h, int *c, int want)
{
    return stbi_load(path, w, h, c, want);
}

void tu_png_free(unsigned char *pixels) { stbi_image_free(pixels); }

const char *tu_png_error(void) { return stbi_failure_reason(); }
