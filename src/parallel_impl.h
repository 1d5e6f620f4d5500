/* The library's own parallel loops (private).
 *
 * OpenBLAS parallelises the matrix products; the element-wise work that remains
 * (Adam, large activations) is split over the same number of threads by a small
 * persistent pool: tnn_set_num_threads(n) sizes both. Work is split into contiguous,
 * static ranges, and every kernel run through it is element-wise, so results do not
 * depend on the thread count. */
#ifndef TINYNN_PARALLEL_IMPL_H
#define TINYNN_PARALLEL_IMPL_H

#include <stddef.h>

/* Calls fn(ctx, begin, end) over [0, n) split into at most the pool's thread count
 * ranges, each a multiple of 64 elements (but the last) and at least min_chunk long;
 * returns when all have finished. Runs inline when n is small or the pool has one
 * thread, or if a worker thread cannot be started. */
typedef void (*tnn_range_fn)(void *ctx, size_t begin, size_t end);
void tnn_parallel_for(size_t n, size_t min_chunk, tnn_range_fn fn, void *ctx);

/* Threads the pool uses (1 = the calling thread only). */
void tnn_parallel_set_threads(int n);
int tnn_parallel_threads(void);

#endif
