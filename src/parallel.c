/* A small persistent thread pool for the library's matrix products and element-wise loops.
 *
 * Jobs are short (tens of microseconds to a millisecond) and come back to back during
 * training, so a sleeping worker's wake-up (a futex round trip, 10-50 us on a VM) would
 * cost as much as the work. Workers therefore spin on the job counter for a while after
 * each job (TNN_POOL_SPIN_US), then sleep on a condition variable; the caller spins
 * while it waits for the workers. */
#define _POSIX_C_SOURCE 200809L
#include "parallel_impl.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define TNN_POOL_MAX 64
#define TNN_POOL_SPIN_US 2000 /* how long an idle worker spins before it sleeps */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e6 * (double)ts.tv_sec + 1e-3 * (double)ts.tv_nsec;
}

static struct {
    pthread_mutex_t run;        /* held by the one caller using the pool */
    pthread_mutex_t mu;         /* with `work`: sleeping workers */
    pthread_cond_t work;
    int threads;                /* wanted threads, caller included */
    int started;                /* worker threads running */
    atomic_uint gen;            /* job generation, bumped per job */
    atomic_int pending;         /* workers that have not finished the current job */
    atomic_int sleepers;        /* workers waiting on `work` */
    atomic_bool quit;           /* set at exit: workers return */
    tnn_task_fn fn;             /* the current job: fn(ctx, task) for task < ntasks */
    void *ctx;
    int ntasks;
    int stride;                 /* threads taking tasks: thread i runs i, i + stride, ... */
    unsigned start_gen[TNN_POOL_MAX]; /* generation current when worker i was created */
    pthread_t thread[TNN_POOL_MAX];   /* thread[i] runs worker i (1..started) */
} pool = {.run = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
          .threads = 1};

/* Wait until the job generation differs from `seen` (or quit): spin, then sleep. */
static unsigned wait_for_job(unsigned seen)
{
    unsigned g;
    double start = now_us();
    for (int spins = 1;; spins++) {
        g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool.quit, memory_order_relaxed)) return g;
        cpu_relax();
        if ((spins & 255) == 0 && now_us() - start > TNN_POOL_SPIN_US) break;
    }
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.sleepers, 1); /* seq_cst: pairs with the poster's gen store */
    while ((g = atomic_load(&pool.gen)) == seen && !atomic_load(&pool.quit)) pthread_cond_wait(&pool.work, &pool.mu);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

static void *worker(void *arg)
{
    int id = (int)(size_t)arg; /* 1.. ; task 0 belongs to the caller */
    unsigned seen = pool.start_gen[id];
    for (;;) {
        seen = wait_for_job(seen);
        if (atomic_load(&pool.quit)) break;
        /* Every worker acknowledges every job, with or without a task of its own, so
         * that none can lag a generation behind and read the next job's fields. */
        for (int t = id; id < pool.stride && t < pool.ntasks; t += pool.stride) pool.fn(pool.ctx, t);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel);
    }
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
    atomic_store(&pool.quit, true);
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

/* In a child of fork() only the forking thread exists: forget the parent's workers
 * (the child starts its own when it needs them) and the locks they might have held. */
static void pool_after_fork_in_child(void)
{
    pthread_mutex_init(&pool.run, NULL);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.work, NULL);
    pool.started = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.pending, 0);
}

/* Start workers up to threads - 1 (called with pool.run held, no job running). */
static int ensure_workers(int want)
{
    static bool atfork_registered;
    if (!atfork_registered && want > 1) {
        atfork_registered = pthread_atfork(NULL, NULL, pool_after_fork_in_child) == 0;
    }
    while (pool.started < want - 1 && pool.started < TNN_POOL_MAX - 1) {
        int id = pool.started + 1;
        pool.start_gen[id] = atomic_load(&pool.gen);
        if (pthread_create(&pool.thread[id], NULL, worker, (void *)(size_t)id) != 0) break;
        pool.started++;
    }
    return pool.started + 1;
}

/* Run tasks [0, ntasks) over `stride` threads, the caller's first, with pool.run held. */
static void run_job(int ntasks, int stride, tnn_task_fn fn, void *ctx)
{
    pool.fn = fn;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.stride = stride;
    atomic_store_explicit(&pool.pending, pool.started, memory_order_relaxed);
    atomic_fetch_add(&pool.gen, 1); /* seq_cst: publishes the job, pairs with `sleepers` */
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mu);
        pthread_cond_broadcast(&pool.work);
        pthread_mutex_unlock(&pool.mu);
    }
    for (int t = 0; t < ntasks; t += stride) fn(ctx, t);
    for (int spins = 1; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; spins++) {
        if (spins & 1023) cpu_relax();
        else sched_yield(); /* a worker may be waiting for a core (more threads than cores, valgrind) */
    }
}

void tnn_parallel_tasks(int ntasks, tnn_task_fn fn, void *ctx)
{
    if (ntasks <= 0) return;
    /* The pool, unless it has one thread, another caller holds it, or it was shut down
     * at exit; then everything runs here. */
    bool held = ntasks > 1 && pool.threads > 1 && pthread_mutex_trylock(&pool.run) == 0;
    int stride = 1;
    if (held && !atomic_load(&pool.quit)) {
        int have = ensure_workers(pool.threads); /* fewer if a thread could not be started */
        stride = have < pool.threads ? have : pool.threads;
        if (stride > ntasks) stride = ntasks;
    }
    if (stride > 1) run_job(ntasks, stride, fn, ctx);
    else
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
    if (held) pthread_mutex_unlock(&pool.run);
}

/* [0, n) cut into pieces of `step`, piece i being task i. */
typedef struct range_job {
    tnn_range_fn fn;
    void *ctx;
    size_t n, step;
} range_job;

static void range_task(void *ctx, int task)
{
    const range_job *r = ctx;
    size_t b = (size_t)task * r->step, e = b + r->step;
    if (e > r->n) e = r->n;
    if (b < e) r->fn(r->ctx, b, e);
}

static void run_ranges(size_t n, size_t step, tnn_range_fn fn, void *ctx)
{
    range_job r = {fn, ctx, n, step};
    tnn_parallel_tasks((int)((n + step - 1) / step), range_task, &r);
}

void tnn_parallel_for(size_t n, size_t min_chunk, tnn_range_fn fn, void *ctx)
{
    if (n == 0) return;
    if (min_chunk < 64) min_chunk = 64;
    size_t parts = (size_t)pool.threads;
    if (parts > n / min_chunk) parts = n / min_chunk;
    if (parts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    /* Equal ranges, boundaries on multiples of 64 elements (whole cache lines). */
    run_ranges(n, (n / parts + 63) / 64 * 64, fn, ctx);
}

int tnn_rows_per_part(int rows, int parts)
{
    int blocks = (rows + 15) / 16;
    if (parts < 1) parts = 1;
    if (parts > blocks) parts = blocks;
    if (parts <= 1) return rows;
    return (blocks + parts - 1) / parts * 16;
}

void tnn_parallel_rows(int rows, size_t row_len, size_t min_elems, tnn_range_fn fn, void *ctx)
{
    if (rows <= 0) return;
    int parts = pool.threads;
    if ((size_t)rows * row_len < 2 * min_elems || parts <= 1 || rows < 32) {
        fn(ctx, 0, (size_t)rows);
        return;
    }
    run_ranges((size_t)rows, (size_t)tnn_rows_per_part(rows, parts), fn, ctx);
}

/* Chunks dealt out as one run of consecutive chunks per thread, each run with its own
 * counter: a thread takes the chunks of its own run, in order, then those still left
 * in the other runs. While the threads keep pace each does its own run, the same one at
 * every call (its data stays in the caches near its core); one that falls behind has
 * its last chunks taken by the others. */
typedef struct chunk_job {
    tnn_range_fn fn;
    void *ctx;
    size_t n, chunk;
    int runs;
    struct {
        _Alignas(64) atomic_size_t next; /* next chunk of the run; one cache line each */
        size_t end;                      /* one past its last chunk */
    } run[TNN_POOL_MAX];
} chunk_job;

static void chunk_task(void *ctx, int task)
{
    chunk_job *c = ctx;
    for (int q = 0; q < c->runs; q++) {
        int r = (task + q) % c->runs;
        for (;;) {
            size_t k = atomic_fetch_add_explicit(&c->run[r].next, 1, memory_order_relaxed);
            if (k >= c->run[r].end) break;
            size_t b = k * c->chunk, e = b + c->chunk < c->n ? b + c->chunk : c->n;
            c->fn(c->ctx, b, e);
        }
    }
}

void tnn_parallel_chunks(size_t n, size_t chunk, tnn_range_fn fn, void *ctx)
{
    if (n == 0) return;
    chunk = chunk < 64 ? 64 : (chunk + 63) / 64 * 64;
    size_t nchunks = (n + chunk - 1) / chunk;
    if (nchunks < 2 || pool.threads < 2) {
        fn(ctx, 0, n);
        return;
    }
    chunk_job c = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk}; /* 4 KB: a cache line per run */
    c.runs = (size_t)pool.threads < nchunks ? pool.threads : (int)nchunks;
    for (int r = 0; r < c.runs; r++) { /* equal runs (to a chunk) */
        size_t lo = nchunks * (size_t)r / (size_t)c.runs;
        atomic_init(&c.run[r].next, lo);
        c.run[r].end = nchunks * (size_t)(r + 1) / (size_t)c.runs;
    }
    tnn_parallel_tasks(c.runs, chunk_task, &c);
}
