/**
 * @file tinynn/base.h
 * @brief Status codes, error messages, version, allocator hooks, threads.
 *
 * Error convention (used by every public function of libtinynn):
 *   - Functions that can fail return tnn_status: TNN_OK (0) on success, a negative
 *     code otherwise. Constructors (tnn_*_new) return NULL on failure.
 *   - On failure a human-readable message is stored per thread and can be read with
 *     tnn_last_error(). It names the module or file involved and, for shape errors,
 *     both shapes, e.g.
 *     "linear(784->512): input [128 x 100] has 100 features per row, expected [batch x 784]".
 *   - The library never calls exit() or abort() on bad input and never prints unless a
 *     log callback is installed.
 */
#ifndef TINYNN_BASE_H
#define TINYNN_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Marks the functions the shared library exports: exactly those declared in the
 * headers of include/tinynn. The library is compiled with hidden visibility, so its
 * internal helpers cannot be linked against (or clash with a program's own symbols). */
#if defined(__GNUC__) || defined(__clang__)
#define TNN_API __attribute__((visibility("default")))
#else
#define TNN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Major version. libtinynn follows semantic versioning: MAJOR changes when the API or
 * ABI changes incompatibly (it is also the shared library's SONAME number,
 * libtinynn.so.MAJOR), MINOR when features are added compatibly, PATCH for fixes.
 * Before 1.0, MINOR takes MAJOR's role: 0.2 may break 0.1's API or ABI, and the
 * SONAME is libtinynn.so.0.MINOR. */
#define TINYNN_VERSION_MAJOR 0
/** Minor version: compatible additions (see TINYNN_VERSION_MAJOR; before 1.0, any change). */
#define TINYNN_VERSION_MINOR 12
/** Patch version: fixes that change no interface. */
#define TINYNN_VERSION_PATCH 0
/** The headers' version as "MAJOR.MINOR.PATCH"; tnn_version() gives the linked library's. */
#define TINYNN_VERSION_STRING "0.12.0"
/** The headers' version as one number, MAJOR * 10000 + MINOR * 100 + PATCH (400 for
 * 0.4.0), for `#if TINYNN_VERSION_NUMBER >= 400`; tnn_version_number() gives the
 * linked library's. */
#define TINYNN_VERSION_NUMBER (TINYNN_VERSION_MAJOR * 10000 + TINYNN_VERSION_MINOR * 100 + TINYNN_VERSION_PATCH)

/** Status codes. TNN_OK is zero; every error is negative. */
typedef enum tnn_status {
    TNN_OK = 0,           /**< success */
    TNN_ERR_ARG = -1,     /**< invalid argument: NULL, zero size, out-of-range value */
    TNN_ERR_SHAPE = -2,   /**< tensor shapes do not fit together */
    TNN_ERR_NOMEM = -3,   /**< an allocation failed */
    TNN_ERR_IO = -4,      /**< a file could not be opened, read or written */
    TNN_ERR_FORMAT = -5,  /**< a file's contents are malformed */
    TNN_ERR_STATE = -6,   /**< call out of order, for instance backward before forward */
    TNN_ERR_NUMERIC = -7  /**< a NaN or infinity where a finite value is required */
} tnn_status;

/** Version of the library actually linked, such as "0.4.0" (compare with TINYNN_VERSION_STRING). */
TNN_API const char *tnn_version(void);

/** Version of the library actually linked as one number, as TINYNN_VERSION_NUMBER
 * (400 for 0.4.0): a program can check at run time that the library it was loaded with
 * is the one its headers describe, or at least a given release. */
TNN_API int tnn_version_number(void);

/** Message of the last failure on the calling thread ("" if none). Valid until the
 * next failing call on that thread. Messages longer than 2 KiB are truncated. */
TNN_API const char *tnn_last_error(void);

/** Status of the last failure on the calling thread, set with its message (TNN_OK if
 * none, or after tnn_clear_error()). For the calls that return NULL on failure (the
 * constructors, tnn_safetensors_load, ...), it tells the reasons apart without reading
 * the message: TNN_ERR_NOMEM for memory, TNN_ERR_ARG for a bad argument, and so on. */
TNN_API tnn_status tnn_last_status(void);

/** Short name of a status code, such as "TNN_ERR_SHAPE"; "TNN_ERR_UNKNOWN" for a value
 * that is not a tnn_status. */
TNN_API const char *tnn_status_name(tnn_status s);

/** Clear the calling thread's last error message and status. */
TNN_API void tnn_clear_error(void);

/** Set the calling thread's error message (printf-style) and return `status`, for
 * modules and optimizers written outside the library, so that their failures read like
 * the library's own: `return tnn_set_error(TNN_ERR_SHAPE, "scale(%d): dy has %zu
 * elements, expected %zu", ...);`. A module's forward or backward that fails without
 * setting a message gets a generic one from tnn_module_forward/tnn_module_backward. */
TNN_API tnn_status tnn_set_error(tnn_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** Log callback: receives one line (no trailing newline) and the `user` pointer given
 * to tnn_set_log(). */
typedef void (*tnn_log_fn)(void *user, const char *msg);
/** Install an optional log callback for the (rare) informational messages; silent by
 * default. Pass NULL to silence it again. Process-wide, not per thread: set it before
 * other threads use the library; it may be called from several threads at once. */
TNN_API void tnn_set_log(tnn_log_fn fn, void *user);

/**
 * Allocator hooks. All of libtinynn's heap memory goes through these (zlib's state
 * for gzipped IDX files and PNGs included; OpenBLAS's work buffers are its own). Set
 * them before creating any object, and before other threads use the library; objects
 * must be freed with the allocator that created them. The hooks may be called from
 * several threads at once. Tests use this to inject failures.
 */
typedef struct tnn_allocator {
    void *(*malloc_fn)(void *user, size_t size);            /**< as malloc(size) */
    void *(*realloc_fn)(void *user, void *ptr, size_t size); /**< as realloc(ptr, size) */
    void (*free_fn)(void *user, void *ptr);                  /**< as free(ptr); never called with NULL */
    void *user;                                              /**< passed to every hook */
} tnn_allocator;
/** Install allocator hooks (copied). Passing NULL, or hooks with any of the three
 * functions NULL, restores malloc/realloc/free. Process-wide, not per thread. */
TNN_API void tnn_set_allocator(const tnn_allocator *a);

/** Set the compute threads of the library: its own pool runs the matrix products (each
 * large product split into blocks, one single-threaded OpenBLAS call per thread; a
 * layer's two backward products side by side) and the element-wise loops. OpenBLAS
 * itself is set to one thread, which also applies to OpenBLAS calls your program makes.
 * n <= 0 means "all cores"; larger values are capped at the cores present. Results with
 * a given thread count repeat exactly; with one thread they are OpenBLAS's
 * single-threaded results. Process-wide: call it before your own threads start using
 * the library, never while one is inside it. Several threads may then use the library
 * at once, each with its own models, optimizers and generators; one of them at a time
 * has the pool, the others run their loops on their own thread with the same results
 * (docs/design.md, "Threads of your own"). The pool's threads start at the first
 * parallel loop after a raise; a lower count ends those above it (they are joined
 * before this returns). They block every asynchronous signal, so signals go to your
 * threads, and inherit the CPU affinity of the thread that started them. A thread
 * the system refuses to start (a process limit) is said once through tnn_set_log() and
 * not tried again until the next call: the loops then run on the threads there are,
 * with the same results.
 * @return the number actually in effect. */
TNN_API int tnn_set_num_threads(int n);
/** Compute threads currently in effect: the pool's, or OpenBLAS's own count if
 * tnn_set_num_threads() has not been called. */
TNN_API int tnn_get_num_threads(void);

/** Element types used by parameters and buffers (safetensors names F32 and I64). */
typedef enum tnn_dtype {
    TNN_F32 = 0, /**< 32-bit float: parameters, gradients and most buffers */
    TNN_I64 = 1  /**< 64-bit signed integer: counters such as num_batches_tracked and Adam's step */
} tnn_dtype;

/** Size in bytes of one element of dtype, or 0 for an unknown dtype. */
TNN_API size_t tnn_dtype_size(tnn_dtype dt);

/** "F32" / "I64" (safetensors spelling), or NULL for an unknown dtype. */
TNN_API const char *tnn_dtype_name(tnn_dtype dt);

#ifdef __cplusplus
}
#endif
#endif
