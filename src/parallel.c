/* A small persistent thread pool for the library's element-wise loops. */
#define _POSIX_C_SOURCE 200809L
#include "parallel_impl.h"

#include <pthread.h>
#include <stdbool.h>

#define TNN_POOL_MAX 64

static struct {
    pthread_mutex_t run;        /* held by the one caller using the pool */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int threads;                /* wanted threads, caller included */
    int started;                /* worker threads running */
    unsigned gen;               /* job generation, bumped per job (under mu) */
    int pending;                /* ranges not yet finished by workers (under mu) */
    tnn_range_fn fn;
    void *ctx;
    size_t bounds[TNN_POOL_MAX + 1];
    int nranges;
    unsigned start_gen[TNN_POOL_MAX]; /* generation current when worker i was created */
    pthread_t thread[TNN_POOL_MAX];   /* thread[i] runs worker i (1..started) */
    bool quit;                        /* set at exit: workers return */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 1, 0, 0, 0, 0, 0, {0}, 0, {0}, {0}, false};

static void *worker(void *arg)
{
    int id = (int)(size_t)arg; /* 1.. ; range 0 belongs to the caller */
    pthread_mutex_lock(&pool.mu);
    /* Not pool.gen: a job may have been posted before this thread first ran. */
    unsigned seen = pool.start_gen[id];
    for (;;) {
        while (pool.gen == seen && !pool.quit) pthread_cond_wait(&pool.work, &pool.mu);
        if (pool.quit) break;
        seen = pool.gen;
        if (id < pool.nranges) {
            tnn_range_fn fn = pool.fn;
            void *ctx = pool.ctx;
            size_t b = pool.bounds[id], e = pool.bounds[id + 1];
            pthread_mutex_unlock(&pool.mu);
            fn(ctx, b, e);
            pthread_mutex_lock(&pool.mu);
            if (--pool.pending == 0) pthread_cond_signal(&pool.done);
        }
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* At exit, stop and join the workers, so that the process ends with no thread of ours
 * running and nothing of theirs allocated (valgrind and leak checkers stay quiet). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor))
#endif
static void pool_shutdown(void)
{
    pthread_mutex_lock(&pool.run); /* no job is running from here on */
    pthread_mutex_lock(&pool.mu);
    pool.quit = true;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 1; i <= pool.started; i++) pthread_join(pool.thread[i], NULL);
    pool.started = 0;
    pthread_mutex_unlock(&pool.run);
}

void tnn_parallel_set_threads(int n)
{
    if (n < 1) n = 1;
    if (n > TNN_POOL_MAX) n = TNN_POOL_MAX;
    pthread_mutex_lock(&pool.run);
    pool.threads = n;
    pthread_mutex_unlock(&pool.run);
}

int tnn_parallel_threads(void) { return pool.threads; }

/* Start workers up to threads - 1 (called with pool.run held). */
static int ensure_workers(int want)
{
    while (pool.started < want - 1 && pool.started < TNN_POOL_MAX - 1) {
        int id = pool.started + 1;
        pthread_mutex_lock(&pool.mu);
        pool.start_gen[id] = pool.gen;
        pthread_mutex_unlock(&pool.mu);
        if (pthread_create(&pool.thread[id], NULL, worker, (void *)(size_t)id) != 0) break;
        pool.started++;
    }
    return pool.started + 1;
}

void tnn_parallel_for(size_t n, size_t min_chunk, tnn_range_fn fn, void *ctx)
{
    if (n == 0) return;
    if (min_chunk < 64) min_chunk = 64;
    int want = pool.threads;
    if (want <= 1 || n < 2 * min_chunk || pthread_mutex_trylock(&pool.run) != 0) {
        fn(ctx, 0, n); /* small, single-threaded, or the pool is busy with another caller */
        return;
    }
    if (pool.quit) { /* called during exit, after the pool was shut down */
        pthread_mutex_unlock(&pool.run);
        fn(ctx, 0, n);
        return;
    }
    int have = ensure_workers(want);
    int parts = have < want ? have : want;
    if ((size_t)parts > n / min_chunk) parts = (int)(n / min_chunk);
    if (parts <= 1) {
        pthread_mutex_unlock(&pool.run);
        fn(ctx, 0, n);
        return;
    }
    /* Equal ranges, boundaries on multiples of 64 elements (whole cache lines). */
    size_t step = (n / (size_t)parts + 63) / 64 * 64;
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.nranges = parts;
    for (int i = 0; i <= parts; i++) {
        size_t b = (size_t)i * step;
        pool.bounds[i] = b < n ? b : n;
    }
    pool.bounds[parts] = n;
    pool.pending = parts - 1;
    pool.gen++;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.mu);

    fn(ctx, pool.bounds[0], pool.bounds[1]);

    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.run);
}
