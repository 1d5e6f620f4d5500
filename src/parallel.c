/* A small persistent thread pool for the library's matrix products and element-wise loops.
 *
 * Jobs are short (tens of microseconds to a millisecond) and come back to back during
 * training, so a sleeping worker's wake-up (a futex round trip, 10-50 us on a VM) would
 * cost as much as the work. Workers therefore spin on the job counter for a while after
 * each job (TNN_POOL_SPIN_US), then sleep on a condition variable.
 *
 * A job's tasks are claimed, not dealt: the caller and the workers take the next
 * unclaimed task until none is left, and the caller then waits only for tasks already
 * running. A worker that the system has not scheduled (another program, or another
 * thread of the caller's program, busy on its core) so costs nothing: the caller does
 * its tasks too. Which thread runs a task never changes its result: every task is a
 * fixed piece of work (a block of a product, a range of elements), and a worker runs it
 * in the caller's floating-point mode (rounding, flush-to-zero), which each job carries. */
#define _POSIX_C_SOURCE 200809L
#include "parallel_impl.h"
#include "tnn_impl.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#else
#include <fenv.h>
#endif

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

/* The floating-point mode a job runs in: the caller's at the time it posts the job. On
 * x86 the control bits of MXCSR, which the float and double arithmetic obeys (rounding,
 * flush-to-zero, denormals-are-zero, exception masks), without the sticky exception
 * flags; elsewhere the rounding mode. */
#if defined(__SSE2__)
typedef unsigned fp_mode;
#define FP_FLAGS 0x3fu /* MXCSR's exception flags: not part of the mode */
static fp_mode fp_mode_get(void) { return _mm_getcsr() & ~FP_FLAGS; }
static void fp_mode_set(fp_mode m) { _mm_setcsr((_mm_getcsr() & FP_FLAGS) | m); }
#else
typedef int fp_mode;
static fp_mode fp_mode_get(void) { return fegetround(); }
static void fp_mode_set(fp_mode m) { fesetround(m); }
#endif

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
    atomic_int threads;         /* wanted threads, caller included (set under `run`) */
    int started;                /* worker threads running */
    bool start_failed;          /* a worker could not start: none is tried again until the
                                   thread count is set again (set and read under `run`) */
    atomic_uint gen;            /* job generation, bumped per job */
    /* The current job's claims: generation << 32 | ntasks << 16 | next unclaimed task.
     * A thread runs a task only after claiming it under the generation it was woken
     * for, so one that wakes late finds nothing of a finished job to run. */
    _Alignas(64) _Atomic uint64_t claim;
    _Alignas(64) atomic_int done; /* tasks of the current job finished */
    /* Workers 1..active take tasks of the current job. */
    atomic_int active;
    /* Workers 1..keep may run: tnn_parallel_set_threads lowers it and joins the others,
     * so that a lowered thread count leaves no thread spinning or waking for jobs. */
    atomic_int keep;
    atomic_int sleepers;        /* workers waiting on `work` */
    atomic_bool quit;           /* set at exit: workers return */
    tnn_task_fn fn;             /* the current job: fn(ctx, task) for task < ntasks */
    void *ctx;
    fp_mode mode;               /* ... run in the caller's floating-point mode */
    unsigned start_gen[TNN_POOL_MAX]; /* generation current when worker i was created */
    pthread_t thread[TNN_POOL_MAX];   /* thread[i] runs worker i (1..started) */
} pool = {.run = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
          .threads = 1, .keep = TNN_POOL_MAX};

/* Set while this thread holds pool.run for a job: exit() called from inside one (a
 * signal handler's, say) must not wait for that job to finish. */
static _Thread_local bool in_job;

/* Whether worker id is to return: the process is exiting, or the thread count was
 * lowered below it. */
static bool retired(int id)
{
    return atomic_load_explicit(&pool.quit, memory_order_relaxed) ||
           id > atomic_load_explicit(&pool.keep, memory_order_relaxed);
}

/* Wait until the job generation differs from `seen` (or worker id is retired): spin,
 * then sleep. */
static unsigned wait_for_job(int id, unsigned seen)
{
    unsigned g;
    double start = now_us();
    for (int spins = 1;; spins++) {
        g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen || retired(id)) return g;
        cpu_relax();
        if ((spins & 255) == 0 && now_us() - start > TNN_POOL_SPIN_US) break;
        if ((spins & 1023) == 0) sched_yield(); /* a thread with work (the caller, say) may be waiting for this core */
    }
    pthread_mutex_lock(&pool.mu);
    atomic_fetch_add(&pool.sleepers, 1); /* seq_cst: pairs with the poster's gen store */
    while ((g = atomic_load(&pool.gen)) == seen && !retired(id)) pthread_cond_wait(&pool.work, &pool.mu);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.mu);
    return g;
}

#define TNN_POOL_MAX_TASKS 0xffff

/* Claim and run tasks of job g until none is left unclaimed (or the job is no longer
 * g). The job's fields are read only after a claim succeeds: the caller changes them
 * only once every task of g has finished, and this one has not. mode: a worker's
 * floating-point mode, set to the job's before its first task (NULL: the caller's own). */
static void run_claimed(unsigned g, fp_mode *mode)
{
    uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        unsigned next = (unsigned)(c & 0xffff), ntasks = (unsigned)((c >> 16) & 0xffff);
        if ((unsigned)(c >> 32) != g || next >= ntasks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        if (mode && *mode != pool.mode) fp_mode_set(*mode = pool.mode);
        pool.fn(pool.ctx, (int)next);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    }
}

static void *worker(void *arg)
{
    int id = (int)(size_t)arg;
    unsigned seen = pool.start_gen[id];
    fp_mode mode = fp_mode_get();
    for (;;) {
        seen = wait_for_job(id, seen);
        if (retired(id)) break;
        if (id <= atomic_load_explicit(&pool.active, memory_order_relaxed)) run_claimed(seen, &mode);
    }
    return NULL;
}

/* Wake every sleeping worker to look at quit, keep or a new job. */
static void wake_all(void)
{
    pthread_mutex_lock(&pool.mu);
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.mu);
}

/* At exit, stop and join the workers, so that the process ends with no thread of ours
 * running and nothing of theirs allocated (valgrind and leak checkers stay quiet). A
 * job still running on another thread is waited for, up to 2 seconds; if exit() was
 * called from inside a job on this thread (from a signal handler), or the wait runs
 * out, the workers are left as they are to the process's end: waiting for them could
 * never end. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((destructor))
#endif
static void pool_shutdown(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    if (in_job || pthread_mutex_timedlock(&pool.run, &until) != 0) return; /* no job runs after this lock */
    atomic_store(&pool.quit, true);
    wake_all();
    for (int i = 1; i <= pool.started; i++) pthread_join(pool.thread[i], NULL);
    pool.started = 0;
    pthread_mutex_unlock(&pool.run);
}

void tnn_parallel_set_threads(int n)
{
    if (n < 1) n = 1;
    if (n > TNN_POOL_MAX) n = TNN_POOL_MAX;
    pthread_mutex_lock(&pool.run); /* no job is running */
    atomic_store_explicit(&pool.threads, n, memory_order_relaxed);
    atomic_store(&pool.keep, n - 1);
    pool.start_failed = false; /* try again */
    if (pool.started > n - 1) { /* the workers beyond n - 1 return and are joined */
        wake_all();
        for (int i = n; i <= pool.started; i++) pthread_join(pool.thread[i], NULL);
        pool.started = n - 1;
    }
    pthread_mutex_unlock(&pool.run);
}

int tnn_parallel_threads(void) { return atomic_load_explicit(&pool.threads, memory_order_relaxed); }

/* In a child of fork() only the forking thread exists: forget the parent's workers
 * (the child starts its own when it needs them) and the locks they might have held. */
static void pool_after_fork_in_child(void)
{
    pthread_mutex_init(&pool.run, NULL);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.work, NULL);
    pool.started = 0;
    pool.start_failed = false;
    atomic_store(&pool.sleepers, 0);
}

/* Start workers up to threads - 1 (called with pool.run held, no job running). A
 * worker that could not start leaves its id and the error in *fail (logged by the
 * caller once the lock is released and the signal mask restored: the log callback may
 * call back into the library). */
typedef struct start_failure {
    int id, err;
} start_failure;

static int ensure_workers(int want, start_failure *fail)
{
    static bool atfork_registered;
    if (!atfork_registered && want > 1) {
        atfork_registered = pthread_atfork(NULL, NULL, pool_after_fork_in_child) == 0;
    }
    if (pool.started >= want - 1 || pool.started >= TNN_POOL_MAX - 1 || pool.start_failed) return pool.started + 1;
    /* Workers take no asynchronous signals: a program that blocks SIGTERM to sigwait()
     * for it, say, must not have it delivered to a worker (the default action ends the
     * process). They start with every signal blocked, as the creating thread's mask is
     * inherited; the caller's own mask is put back. */
    sigset_t all, old;
    sigfillset(&all);
    bool masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    while (pool.started < want - 1 && pool.started < TNN_POOL_MAX - 1) {
        int id = pool.started + 1;
        pool.start_gen[id] = atomic_load(&pool.gen);
        int e = pthread_create(&pool.thread[id], NULL, worker, (void *)(size_t)id);
        if (e != 0) {
            /* Said once, not tried again at every job (a system call each): the jobs run
             * on the threads there are, with the same results, since a job's split
             * follows the thread count asked for. */
            pool.start_failed = true;
            fail->id = id;
            fail->err = e;
            break;
        }
        pool.started++;
    }
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pool.started + 1;
}

/* Run tasks [0, ntasks) on the caller and whichever workers claim them, with pool.run
 * held; returns when all have finished. */
static void run_job(int ntasks, tnn_task_fn fn, void *ctx)
{
    pool.fn = fn;
    pool.ctx = ctx;
    pool.mode = fp_mode_get();
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    const unsigned g = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool.claim, (uint64_t)g << 32 | (uint64_t)ntasks << 16, memory_order_release);
    atomic_store(&pool.gen, g); /* seq_cst: publishes the job, pairs with `sleepers` */
    if (atomic_load(&pool.sleepers) > 0) wake_all();
    run_claimed(g, NULL);
    for (int spins = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < ntasks; spins++) {
        if (spins & 1023) cpu_relax();
        else sched_yield(); /* the worker running the last task may be waiting for a core */
    }
}

void tnn_parallel_tasks(int ntasks, tnn_task_fn fn, void *ctx)
{
    if (ntasks <= 0) return;
    /* The pool, unless it has one thread, another caller holds it, or it was shut down
     * at exit; then everything runs here. */
    bool held = ntasks > 1 && ntasks <= TNN_POOL_MAX_TASKS && tnn_parallel_threads() > 1 &&
                pthread_mutex_trylock(&pool.run) == 0;
    int have = 1, threads = tnn_parallel_threads();
    start_failure fail = {0, 0};
    if (held && !atomic_load(&pool.quit)) have = ensure_workers(threads, &fail); /* fewer if one could not start */
    if (have > 1) {
        atomic_store_explicit(&pool.active, (have < threads ? have : threads) - 1, memory_order_relaxed);
        in_job = true;
        run_job(ntasks, fn, ctx);
        in_job = false;
    }
    else
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
    if (held) pthread_mutex_unlock(&pool.run);
    if (fail.err) /* said once: no worker is tried again until the thread count is set again */
        tnn_log("could not start worker thread %d of %d (%s): running on %d thread%s until the thread count is set "
                "again", fail.id + 1, threads, strerror(fail.err), fail.id, fail.id == 1 ? "" : "s");
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
    size_t parts = (size_t)tnn_parallel_threads();
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
    int parts = tnn_parallel_threads();
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
    const int threads = tnn_parallel_threads();
    if (nchunks < 2 || threads < 2) {
        fn(ctx, 0, n);
        return;
    }
    chunk_job c = {.fn = fn, .ctx = ctx, .n = n, .chunk = chunk}; /* 4 KB: a cache line per run */
    c.runs = (size_t)threads < nchunks ? threads : (int)nchunks;
    for (int r = 0; r < c.runs; r++) { /* equal runs (to a chunk) */
        size_t lo = nchunks * (size_t)r / (size_t)c.runs;
        atomic_init(&c.run[r].next, lo);
        c.run[r].end = nchunks * (size_t)(r + 1) / (size_t)c.runs;
    }
    tnn_parallel_tasks(c.runs, chunk_task, &c);
}

typedef struct add_job {
    float *dst;
    const float *src;
} add_job;

static void add_range(void *ctx, size_t b, size_t e)
{
    const add_job *a = ctx;
    for (size_t i = b; i < e; i++) a->dst[i] += a->src[i];
}

void tnn_parallel_add(float *dst, const float *src, size_t n)
{
    add_job a = {dst, src};
    tnn_parallel_chunks(n, 16384, add_range, &a);
}
