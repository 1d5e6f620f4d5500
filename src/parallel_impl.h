/* The library's own parallel loops (private).
 *
 * One small persistent pool runs all of the library's parallel work: matrix products
 * (tnn_gemm splits a product into blocks of rows, each a single-threaded OpenBLAS
 * call, and Linear's backward runs its two products side by side) and the element-wise
 * loops (Adam). tnn_set_num_threads(n) sizes it and sets OpenBLAS to one thread, so
 * that no second set of threads competes for the cores. Element-wise work is split into
 * contiguous ranges (one per thread, or for the optimizers runs of chunks that idle
 * threads may take over), so its results do not depend on the thread count; a
 * product's blocks do depend on it (fixed for a given count, so runs repeat exactly). */
#ifndef TINYNN_PARALLEL_IMPL_H
#define TINYNN_PARALLEL_IMPL_H

#include <stddef.h>

/* Calls fn(ctx, begin, end) over [0, n) split into at most the pool's thread count
 * ranges, each a multiple of 64 elements and at least min_chunk long (but the last,
 * which may be shorter);
 * returns when all have finished. Runs inline when n is small or the pool has one
 * thread, or if a worker thread cannot be started. */
typedef void (*tnn_range_fn)(void *ctx, size_t begin, size_t end);
void tnn_parallel_for(size_t n, size_t min_chunk, tnn_range_fn fn, void *ctx);

/* Calls fn(ctx, begin, end) over [0, n) in chunks of `chunk` elements (rounded up to a
 * multiple of 64, at least 64; the last may be shorter). Each thread takes one run of
 * consecutive chunks (usually the same at every call with the same n: the caller the
 * first) and works through it in order; a thread that has finished its run takes chunks
 * still left in the others. So a thread keeps working on data that stays in the caches
 * near its core, and a core slowed by the host (or a late start) does not hold the
 * others up for long. For
 * element-wise work whose results do not depend on which thread computes a chunk
 * (Adam, SGD). Runs inline when n fits in one chunk or the pool has one thread. */
void tnn_parallel_chunks(size_t n, size_t chunk, tnn_range_fn fn, void *ctx);
/* dst[i] += src[i] for i in [0, n), in chunks of 16,384 over the threads
 * (tnn_parallel_chunks): a layer adding a gradient computed alone into the kept one. */
void tnn_parallel_add(float *dst, const float *src, size_t n);

/* Calls fn(ctx, task) for every task in [0, ntasks), each on whichever of the pool's
 * threads claims it first (usually the caller task 0; each thread then takes the next
 * unclaimed one), and returns when all have finished. Everything runs on the caller
 * when the pool has one thread, another caller is using it, or ntasks exceeds 65535.
 * Tasks must be independent, and a task's result must not depend on the thread that
 * runs it. */
typedef void (*tnn_task_fn)(void *ctx, int task);
void tnn_parallel_tasks(int ntasks, tnn_task_fn fn, void *ctx);

/* Calls fn(ctx, begin, end) over the rows [0, rows) of a row-major matrix, split as
 * tnn_gemm splits a product's rows (blocks of 16 rows, equal parts, the caller usually
 * taking the first), so that a thread mostly touches the rows its part of the product
 * wrote. Runs
 * inline when rows * row_len < 2 * min_elems, rows < 32 or the pool has one thread. */
void tnn_parallel_rows(int rows, size_t row_len, size_t min_elems, tnn_range_fn fn, void *ctx);
/* Rows per part when `rows` rows are split over `parts` threads (a multiple of 16 but
 * for a single part). */
int tnn_rows_per_part(int rows, int parts);

/* Threads the pool uses (1 = the calling thread only). */
void tnn_parallel_set_threads(int n);
int tnn_parallel_threads(void);

#endif
