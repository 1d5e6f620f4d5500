/*
 * parity.h - helpers of the PyTorch parity tests: a reader for the golden files that
 * tests/parity/gen_goldens.py writes, comparisons that print the worst element, and
 * loading/checking a module's state by name.
 *
 * Golden file format (docs/parity.md): the magic "TNNGOLD1", a u32 record count, then
 * per record: u32 name length, the name (UTF-8, no NUL), u32 dtype (0 = float32,
 * 1 = int64, 2 = float16, which the reader turns into float32), u32 ndim, ndim x u32
 * dims, the row-major data. Everything little-endian, no padding.
 *
 * Failures are reported with cmocka's print_error and make the calling test fail;
 * comparisons return false instead of failing at once, so that a test can report every
 * mismatching tensor before it fails.
 */
#ifndef TINYNN_TESTS_PARITY_H
#define TINYNN_TESTS_PARITY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>

#include <cmocka.h>

#include <tinynn/tinynn.h>

#define GOLDEN_MAX_DIMS 8

typedef enum golden_dtype { GOLDEN_F32 = 0, GOLDEN_I64 = 1 } golden_dtype;
/* dtype 2 in a file: IEEE float16, held in memory as GOLDEN_F32 (exactly: every half is a
 * float). For large tensors whose values were made half-representable on purpose. */
#define GOLDEN_FILE_F16 2u

typedef struct golden_tensor {
    char *name;
    golden_dtype dtype;
    int ndim;                       /* 0 for a scalar */
    int shape[GOLDEN_MAX_DIMS];
    size_t count;                   /* product of shape (1 for a scalar) */
    void *data;                     /* float * or int64_t *, aligned, host byte order */
} golden_tensor;

typedef struct golden_file {
    char *path;
    golden_tensor *items;
    int count;
} golden_file;

/* Reads TNN_TEST_DATA_DIR/parity/<file>. Fails the test (and returns NULL) if the file
 * is missing or malformed. */
golden_file *golden_load(const char *file);
void golden_free(golden_file *g);

/* The tensor called name (printf-style), or NULL. */
const golden_tensor *golden_find(const golden_file *g, const char *fmt, ...);
/* Float32 data of `name`; fails the test if it is missing, not float32, or does not
 * hold `count` elements (count 0: any size). */
const float *golden_f32(const golden_file *g, size_t count, const char *fmt, ...);
/* A float32 scalar / an int64 scalar. */
float golden_scalar(const golden_file *g, const char *fmt, ...);
int64_t golden_i64(const golden_file *g, const char *fmt, ...);
/* A new tensor holding a copy of `name` (1..4 dimensions). */
tnn_tensor *golden_tensor_new(const golden_file *g, const char *fmt, ...);

/*
 * |got[i] - want[i]| <= atol + rtol * |want[i]| for every i (NaN only matches NaN,
 * infinities only themselves). On failure prints how many elements are outside, the
 * worst one (by how far it exceeds its bound) with its index, both values and its
 * absolute and relative error, and returns false. With TNN_PARITY_VERBOSE=1 in the
 * environment every comparison prints its largest absolute error, relative error,
 * distance in float32 ulps, and the largest |got - want| / (atol + rtol |want|)
 * ("tol_used", 1 = at the limit), which is how docs/parity.md's table is measured.
 */
bool parity_close(const char *what, const float *got, const float *want, size_t n, const int *shape, int ndim,
                  double atol, double rtol);
/* Tolerance `tol`, or 0 when TNN_PARITY_EXACT=1 is set. Tests pass their tolerances
 * for results that are bit-identical to torch's by construction (no BLAS, no libm
 * transcendental: BatchNorm, the optimizers, the bias gradient, BCE and MSE gradients)
 * through this, so that a build where they should be exact (x86-64, GCC or clang
 * without -ffp-contract=fast) can prove it; the default keeps a few ulps of slack for
 * compilers that contract a*b+c on their own (e.g. clang on aarch64). */
double parity_exact_or(double tol);

/* parity_close against golden tensor `name`, checking the element count first. */
bool parity_check(const golden_file *g, const char *name, const float *got, size_t n, double atol, double rtol);
/* One value. */
bool parity_check_scalar(const golden_file *g, const char *name, float got, double atol, double rtol);
/* Exact comparison of an int64 value. */
bool parity_check_i64(const golden_file *g, const char *name, int64_t got);

/* Copy every parameter and buffer of m from the golden tensors "<prefix><name>"
 * (names from tnn_module_state_dict, e.g. "G.3.running_mean"). Fails the test if one
 * is missing or has another shape. */
void golden_load_state(const golden_file *g, const char *prefix, tnn_module *m);

/* Tolerance for one named tensor of a state. */
typedef struct parity_tol { double atol, rtol; } parity_tol;
typedef parity_tol (*parity_tol_fn)(const tnn_named_tensor *t, void *ctx);

/* Compare every parameter and buffer of m with "<prefix><name>". A golden stored as
 * "<prefix><name>@<k>" holds every k-th element (flat index 0, k, 2k, ...) and is
 * compared with those elements. int64 buffers must match exactly. Returns false if
 * anything differs or is missing; `checked` (optional) receives the number of
 * elements compared. */
bool parity_check_state(const golden_file *g, const char *prefix, tnn_module *m, parity_tol_fn tol, void *ctx,
                        size_t *checked);

/* Run the cmocka tests of `group` whose name is argv[1], or all of them without an
 * argument. An unknown name fails (a ctest test that runs nothing must not pass). */
int parity_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n);

#endif
