/* The vectorisable math (src/vmath_impl.h) and the parallel loop (src/parallel.c). */
#define _POSIX_C_SOURCE 200809L
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include "parallel_impl.h"
#include "tinynn/tinynn.h"
#include "vmath_impl.h"

/* Running under valgrind's memcheck (its preload library is in LD_PRELOAD). */
static bool under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload");
}

static int32_t ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if ((ia < 0) != (ib < 0)) return (a == b) ? 0 : INT32_MAX;
    return ia > ib ? ia - ib : ib - ia;
}

/* Every 97th positive float (and its negation): ~21 million values per function. */
static void test_tanh_matches_double_reference(void **state)
{
    (void)state;
    long worst = 0, off = 0;
    float worst_x = 0.0f;
    for (uint32_t u = 0; u < 0x7f800000u; u += 97) {
        float f;
        memcpy(&f, &u, 4);
        for (int s = 0; s < 2; s++) {
            float x = s ? -f : f;
            int32_t d = ulps(tnn_tanhf(x), (float)tanh((double)x));
            if (d) off++;
            if (d > worst) { worst = d; worst_x = x; }
        }
    }
    printf("tanh: worst %ld ulp (at %.9g), %ld values off by any\n", worst, (double)worst_x, off);
    assert_true(worst <= 1);
}

static void test_sigmoid_matches_double_reference(void **state)
{
    (void)state;
    long worst = 0;
    float worst_x = 0.0f;
    for (uint32_t u = 0; u < 0x7f800000u; u += 97) {
        float f;
        memcpy(&f, &u, 4);
        for (int s = 0; s < 2; s++) {
            float x = s ? -f : f;
            float ref = (float)(1.0 / (1.0 + exp(-(double)x)));
            int32_t d = ulps(tnn_sigmoidf(x), ref);
            if (d > worst) { worst = d; worst_x = x; }
        }
    }
    printf("sigmoid: worst %ld ulp (at %.9g)\n", worst, (double)worst_x);
    assert_true(worst <= 1);
}

static void test_special_values(void **state)
{
    (void)state;
    assert_true(isnan(tnn_tanhf(NAN)));
    assert_true(isnan(tnn_sigmoidf(NAN)));
    assert_true(tnn_tanhf(INFINITY) == 1.0f && tnn_tanhf(-INFINITY) == -1.0f);
    assert_true(tnn_sigmoidf(INFINITY) == 1.0f && tnn_sigmoidf(-INFINITY) == 0.0f);
    assert_true(tnn_tanhf(0.0f) == 0.0f && !signbit(tnn_tanhf(0.0f)));
    assert_true(tnn_tanhf(-0.0f) == 0.0f && signbit(tnn_tanhf(-0.0f)));
    assert_true(tnn_sigmoidf(0.0f) == 0.5f);
    assert_true(tnn_tanhf(1e-30f) == 1e-30f);
    assert_true(tnn_exp_nonpos(0.0) == 1.0);
    for (double y = -700.0; y <= 0.0; y += 0.37)
        assert_true(fabs(tnn_exp_nonpos(y) - exp(y)) <= 1e-15 * exp(y));
    assert_true(tnn_exp_nonpos(-1e6) >= 0.0 && tnn_exp_nonpos(-1e6) < 1e-300);
}

static int64_t ulps_double(double a, double b)
{
    int64_t ia, ib;
    memcpy(&ia, &a, 8);
    memcpy(&ib, &b, 8);
    if ((ia < 0) != (ib < 0)) return (a == b) ? 0 : INT64_MAX;
    return ia > ib ? ia - ib : ib - ia;
}

/* Every input the normal generator can give them (src/rng.c): log at k / 2^24 for k in
 * [1, 2^24], sin and cos at 2 pi j / 2^24 (rounded to double as the generator does) for
 * j in [0, 2^24). Within one ulp of glibc's. */
static void test_log_sincos_match_libm(void **state)
{
    (void)state;
    int64_t worst_log = 0, worst_sin = 0, worst_cos = 0;
    for (uint32_t k = 1; k <= (1u << 24); k++) {
        double u = (double)k * (1.0 / 16777216.0);
        int64_t d = ulps_double(tnn_log_pos(u), log(u));
        if (d > worst_log) worst_log = d;
    }
    for (uint32_t j = 0; j < (1u << 24); j++) {
        double t = 6.283185307179586476925 * ((double)j * (1.0 / 16777216.0)), sn, cs;
        tnn_sincos_small(t, &sn, &cs);
        int64_t ds = ulps_double(sn, sin(t)), dc = ulps_double(cs, cos(t));
        if (ds > worst_sin) worst_sin = ds;
        if (dc > worst_cos) worst_cos = dc;
    }
    printf("log: worst %lld ulp; sin: %lld; cos: %lld\n", (long long)worst_log, (long long)worst_sin,
           (long long)worst_cos);
    assert_true(worst_log <= 1 && worst_sin <= 1 && worst_cos <= 1);
}

/* The same functions on a few thousand inputs, the ends and the quadrant points. */
static void test_log_sincos_sample(void **state)
{
    (void)state;
    assert_true(tnn_log_pos(1.0) == 0.0 && !signbit(tnn_log_pos(1.0)));
    assert_true(tnn_log_pos(0.5) == log(0.5) && tnn_log_pos(0x1p-24) == log(0x1p-24));
    double sn, cs;
    tnn_sincos_small(0.0, &sn, &cs);
    assert_true(sn == 0.0 && cs == 1.0);
    for (int q = 1; q < 4; q++) { /* the generator's angles nearest the axes: 2 pi (q / 4) */
        double t = 6.283185307179586476925 * (0.25 * q);
        tnn_sincos_small(t, &sn, &cs);
        assert_true(ulps_double(sn, sin(t)) <= 1 && ulps_double(cs, cos(t)) <= 1);
    }
    for (uint32_t k = 1; k <= (1u << 24); k += 4099) {
        double u = (double)k * (1.0 / 16777216.0), t = 6.283185307179586476925 * (u - 0x1p-24);
        tnn_sincos_small(t, &sn, &cs);
        assert_true(ulps_double(tnn_log_pos(u), log(u)) <= 1);
        assert_true(ulps_double(sn, sin(t)) <= 1 && ulps_double(cs, cos(t)) <= 1);
    }
}

/* Each element of [0, n) is visited exactly once, whatever the thread count, by
 * tnn_parallel_for and by tnn_parallel_chunks (whose ranges are whole chunks). */
typedef struct visit_ctx {
    unsigned char *hits;
    size_t chunk, n;  /* the chunk size expected by mark_chunk (0: not checked), n */
    atomic_int wrong; /* ranges mark_chunk found wrong (counted: it may run on a worker) */
} visit_ctx;

static void mark(void *ctx, size_t b, size_t e)
{
    visit_ctx *v = ctx;
    for (size_t i = b; i < e; i++) v->hits[i]++;
}

/* As mark, and each range is one whole chunk of tnn_parallel_chunks (or the last). */
static void mark_chunk(void *ctx, size_t b, size_t e)
{
    visit_ctx *v = ctx;
    if (b >= e || e > v->n || (v->chunk && (b % v->chunk != 0 || (e - b != v->chunk && e != v->n))))
        atomic_fetch_add(&v->wrong, 1);
    mark(ctx, b, e);
}

static void test_parallel_for_covers_once(void **state)
{
    (void)state;
    size_t sizes[] = {1, 63, 64, 65, 127, 128, 1000, 4097, 100003};
    for (int threads = 1; threads <= 4; threads++) {
        tnn_parallel_set_threads(threads);
        assert_int_equal(tnn_parallel_threads(), threads);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            unsigned char *hits = calloc(n, 1);
            visit_ctx v = {.hits = hits};
            for (int rep = 0; rep < 20; rep++) tnn_parallel_for(n, 64, mark, &v);
            for (size_t i = 0; i < n; i++) assert_int_equal(hits[i], 20);
            /* chunks: 0 is taken as 64, 1000 rounded up to 1024 */
            const size_t chunks[][2] = {{0, 64}, {64, 64}, {1000, 1024}}; /* asked, used */
            for (int c = 0; c < 3; c++) {
                v.chunk = n > chunks[c][1] && threads > 1 ? chunks[c][1] : 0; /* else one inline call */
                v.n = n;
                for (int rep = 0; rep < 20; rep++) tnn_parallel_chunks(n, chunks[c][0], mark_chunk, &v);
            }
            assert_int_equal(atomic_load(&v.wrong), 0);
            for (size_t i = 0; i < n; i++) assert_int_equal(hits[i], 80);
            free(hits);
        }
    }
    tnn_parallel_set_threads(1);
}

/* A thread that has done its own run of chunks takes over the chunks left in a slower
 * thread's run. The caller owns the first run and is made slow. */
typedef struct slow_ctx {
    pthread_t caller;
    size_t chunk, n;
    atomic_int by_caller, by_other; /* chunks of the caller's run done by each side */
    unsigned char *hits;
} slow_ctx;

static void slow_on_caller(void *ctx, size_t b, size_t e)
{
    slow_ctx *s = ctx;
    for (size_t i = b; i < e; i++) s->hits[i]++;
    bool first_run = b < s->n / 2;
    if (pthread_equal(pthread_self(), s->caller)) {
        if (first_run) atomic_fetch_add(&s->by_caller, 1);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    } else if (first_run) {
        atomic_fetch_add(&s->by_other, 1);
    }
}

static void test_parallel_chunks_idle_thread_takes_over(void **state)
{
    (void)state;
    tnn_parallel_set_threads(2);
    slow_ctx s = {.caller = pthread_self(), .chunk = 64, .n = 64 * 40};
    s.hits = calloc(s.n, 1);
    tnn_parallel_chunks(s.n, s.chunk, slow_on_caller, &s);
    for (size_t i = 0; i < s.n; i++) assert_int_equal(s.hits[i], 1);
    assert_int_equal(atomic_load(&s.by_caller) + atomic_load(&s.by_other), 20);
    assert_true(atomic_load(&s.by_other) > 0); /* 20 chunks of 2 ms each: the worker is done long before */
    free(s.hits);
    tnn_parallel_set_threads(1);
}

/* Two user threads may call into the pool at once: one of them runs inline. */
static void *hammer(void *arg)
{
    size_t n = 50000;
    unsigned char *hits = calloc(n, 1);
    visit_ctx v = {.hits = hits};
    for (int rep = 0; rep < 200; rep++) tnn_parallel_for(n, 64, mark, &v);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= hits[i] == 200;
    free(hits);
    *(int *)arg = ok;
    return NULL;
}

static void test_parallel_for_concurrent_callers(void **state)
{
    (void)state;
    tnn_parallel_set_threads(2);
    pthread_t a, b;
    int ok_a = 0, ok_b = 0;
    assert_int_equal(pthread_create(&a, NULL, hammer, &ok_a), 0);
    assert_int_equal(pthread_create(&b, NULL, hammer, &ok_b), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_true(ok_a && ok_b);
    tnn_parallel_set_threads(1);
}

/* Tasks record the thread that ran them; jobs of 6 tasks that each take a moment, so
 * that every idle worker has the time to claim one. */
typedef struct who_ran {
    pthread_t thread[6];
} who_ran;

static void record_thread(void *ctx, int task)
{
    who_ran *w = ctx;
    w->thread[task] = pthread_self();
    volatile double x = 0; /* some work, so that one thread does not take them all at once */
    for (int i = 0; i < 20000; i++) x += i;
    (void)x;
}

static int threads_used(const who_ran *w)
{
    int n = 0;
    for (int i = 0; i < 6; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= pthread_equal(w->thread[i], w->thread[j]);
        n += !seen;
    }
    return n;
}

/* After the thread count is lowered, the workers started for the higher count take no
 * tasks: a job never runs on more threads than asked for. */
static void test_parallel_tasks_respect_a_lowered_thread_count(void **state)
{
    (void)state;
    tnn_parallel_set_threads(3);
    who_ran w;
    int most = 0;
    for (int rep = 0; rep < 50; rep++) {
        tnn_parallel_tasks(6, record_thread, &w);
        if (threads_used(&w) > most) most = threads_used(&w);
    }
    assert_true(most >= 1 && most <= 3);
    tnn_parallel_set_threads(2);
    for (int rep = 0; rep < 200; rep++) {
        tnn_parallel_tasks(6, record_thread, &w);
        assert_true(threads_used(&w) <= 2);
    }
    tnn_parallel_set_threads(1);
    tnn_parallel_tasks(6, record_thread, &w);
    assert_int_equal(threads_used(&w), 1);
    assert_true(pthread_equal(w.thread[0], pthread_self()));
}

/* Every task of a job runs exactly once, whatever the thread count and the number of
 * tasks: fewer tasks than threads, as many, and many more. */
typedef struct count_ctx {
    atomic_int hits[100];
} count_ctx;

static void count_task(void *ctx, int task) { atomic_fetch_add(&((count_ctx *)ctx)->hits[task], 1); }

static void test_parallel_tasks_run_each_once(void **state)
{
    (void)state;
    const int threads[] = {1, 2, 3, 17, 20}, ntasks[] = {1, 2, 3, 15, 16, 17, 40, 100};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        tnn_parallel_set_threads(threads[t]);
        for (size_t k = 0; k < sizeof ntasks / sizeof ntasks[0]; k++) {
            count_ctx c;
            for (int i = 0; i < 100; i++) atomic_init(&c.hits[i], 0);
            for (int rep = 0; rep < 20; rep++) tnn_parallel_tasks(ntasks[k], count_task, &c);
            for (int i = 0; i < 100; i++) assert_int_equal(atomic_load(&c.hits[i]), i < ntasks[k] ? 20 : 0);
        }
    }
    tnn_parallel_set_threads(1);
}

/* The workers compute in the floating-point mode of the thread that calls the library,
 * as it is at each call: a rounding mode or flush-to-zero set after the workers were
 * started reaches every task, so that a result does not depend on which thread ran it. */
typedef struct fp_ctx {
    const float *a;
    float *sum, *half;
    pthread_t caller;
    atomic_int by_worker; /* ranges a worker ran */
} fp_ctx;

static void fp_ops(void *ctx, size_t b, size_t e)
{
    fp_ctx *c = ctx;
    if (!pthread_equal(pthread_self(), c->caller)) atomic_fetch_add(&c->by_worker, 1);
    for (size_t i = b; i < e; i++) {
        c->sum[i] = 1.0f + c->a[i]; /* 1 + 2^-25: 1 to nearest, 1 + 2^-23 upward */
        c->half[i] = FLT_MIN * (c->a[i] * 0x1p24f); /* FLT_MIN / 2: subnormal, or 0 with flush-to-zero */
    }
}

static void test_parallel_tasks_run_in_the_callers_fp_mode(void **state)
{
    (void)state;
    if (under_valgrind()) skip(); /* valgrind emulates neither mode */
    enum { N = 1 << 18 }; /* ranges long enough for the worker to claim one */
    static float a[N], sum[N], half[N];
    for (int i = 0; i < N; i++) a[i] = 0x1p-25f;
    fp_ctx c = {.a = a, .sum = sum, .half = half, .caller = pthread_self()};
    tnn_parallel_set_threads(2);
    for (int rep = 0; rep < 20; rep++) tnn_parallel_for(N, 64, fp_ops, &c); /* the worker starts, in the default mode */
    for (int i = 0; i < N; i++) assert_true(sum[i] == 1.0f && half[i] == FLT_MIN / 2);
    /* In each mode, jobs until the worker has run a range of one (it may be asleep). */
    assert_int_equal(fesetround(FE_UPWARD), 0);
    atomic_store(&c.by_worker, 0);
    for (int rep = 0; rep < 1000 && !atomic_load(&c.by_worker); rep++) tnn_parallel_for(N, 64, fp_ops, &c);
    assert_int_equal(fesetround(FE_TONEAREST), 0);
    assert_true(atomic_load(&c.by_worker) > 0);
    for (int i = 0; i < N; i++) assert_true(sum[i] == 1.0f + 0x1p-23f);
#if defined(__SSE2__)
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* flush-to-zero and denormals-are-zero */
    atomic_store(&c.by_worker, 0);
    for (int rep = 0; rep < 1000 && !atomic_load(&c.by_worker); rep++) tnn_parallel_for(N, 64, fp_ops, &c);
    _mm_setcsr(csr);
    assert_true(atomic_load(&c.by_worker) > 0);
    for (int i = 0; i < N; i++) assert_true(half[i] == 0.0f);
#endif
    atomic_store(&c.by_worker, 0); /* and back */
    for (int rep = 0; rep < 1000 && !atomic_load(&c.by_worker); rep++) tnn_parallel_for(N, 64, fp_ops, &c);
    assert_true(atomic_load(&c.by_worker) > 0);
    for (int i = 0; i < N; i++) assert_true(sum[i] == 1.0f && half[i] == FLT_MIN / 2);
    tnn_parallel_set_threads(1);
}

/* A child of fork() may use the pool although the parent's workers do not exist in it:
 * it must not wait for them (it would hang), and must still cover every element. */
static void test_parallel_for_after_fork(void **state)
{
    (void)state;
    /* Under valgrind the child inherits the parent's worker's thread-local block, which
     * no thread owns any more: memcheck reports it as "possibly lost" in the child. The
     * release and sanitizer stages run this test. */
    if (under_valgrind()) skip();
    tnn_parallel_set_threads(2);
    size_t n = 100000;
    unsigned char *hits = calloc(n, 1);
    visit_ctx v = {.hits = hits};
    tnn_parallel_for(n, 64, mark, &v); /* the parent's worker is started */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20); /* a hang fails the test instead of blocking it */
        memset(hits, 0, n);
        for (int rep = 0; rep < 50; rep++) tnn_parallel_for(n, 64, mark, &v);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= hits[i] == 50;
        free(hits); /* valgrind follows the child: no leak to report */
        /* no tnn_parallel_set_threads(1), which would join the child's worker: under
         * ThreadSanitizer, whose registry still holds the parent's worker, the child's
         * (on the parent's reclaimed stack: the same pthread_t) is then a "dup thread" */
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(hits);
    tnn_parallel_set_threads(1);
}

/* The process's threads (Linux: /proc/self/task), up to 64 of their ids into ids. */
static int process_threads(long *ids)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            if (ids && n < 64) ids[n] = atol(e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* Waits (up to 2 s) for the process to have `want` threads: a joined thread may still be
 * listed for a moment after pthread_join returns. */
static int wait_for_threads(int want)
{
    int n = process_threads(NULL);
    for (int i = 0; i < 200 && n != want; i++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        n = process_threads(NULL);
    }
    return n;
}

/* Whether thread tid blocks signal sig (its SigBlk in /proc). */
static bool thread_blocks(long tid, int sig)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    unsigned long long mask = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &mask) == 1) break;
    fclose(f);
    return (mask >> (sig - 1)) & 1;
}

/* Lowering the thread count ends the workers above it (they neither spin nor wake for
 * later jobs), and the workers block every asynchronous signal, whatever the mask of
 * the thread that started them: a program that blocks SIGTERM to sigwait() for it must
 * not have it delivered to a worker. */
static void test_pool_workers_retire_and_take_no_signals(void **state)
{
    (void)state;
    if (process_threads(NULL) < 1) skip(); /* no /proc */
    tnn_parallel_set_threads(1);
    long before[64], after[64];
    int base = process_threads(before);
    assert_true(base >= 1 && base <= 60);
    tnn_parallel_set_threads(3);
    count_ctx c;
    for (int i = 0; i < 100; i++) atomic_init(&c.hits[i], 0);
    tnn_parallel_tasks(6, count_task, &c);
    assert_int_equal(wait_for_threads(base + 2), base + 2);
    int now = process_threads(after), workers = 0;
    for (int i = 0; i < now; i++) {
        bool old = false;
        for (int j = 0; j < base; j++) old |= after[i] == before[j];
        if (old) continue;
        workers++;
        assert_true(thread_blocks(after[i], SIGTERM));
        assert_true(thread_blocks(after[i], SIGUSR1));
        assert_true(thread_blocks(after[i], SIGINT));
    }
    assert_int_equal(workers, 2);
    assert_false(thread_blocks(before[0], SIGUSR1)); /* the caller's own mask is as it was */
    tnn_parallel_set_threads(2);
    assert_int_equal(wait_for_threads(base + 1), base + 1);
    tnn_parallel_tasks(6, count_task, &c);
    assert_int_equal(wait_for_threads(base + 1), base + 1);
    tnn_parallel_set_threads(1);
    assert_int_equal(wait_for_threads(base), base);
    for (int i = 0; i < 6; i++) assert_int_equal(atomic_load(&c.hits[i]), 2);
}

/* exit() called from inside a job on the thread that posted it (a signal handler's
 * exit(), say) ends the process: the pool's exit-time shutdown does not wait for the
 * job it interrupted (it waited forever, for the lock this thread held). */
static pthread_t exit_thread;

static void exit_task(void *ctx, int task)
{
    (void)ctx;
    (void)task;
    if (pthread_equal(pthread_self(), exit_thread)) exit(3);
    nanosleep(&(struct timespec){0, 1000000}, NULL);
}

static void test_exit_inside_a_job_ends_the_process(void **state)
{
    (void)state;
    /* Under valgrind the child's worker, alive at its exit, leaves its thread-local block
     * "possibly lost" (as in test_parallel_for_after_fork); the other stages run it. */
    if (under_valgrind()) skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        exit_thread = pthread_self();
        tnn_parallel_set_threads(2);
        tnn_parallel_tasks(64, exit_task, NULL);
        _exit(0); /* not reached: the caller runs at least one of the 64 tasks */
    }
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1000 && got == 0; i++) { /* up to 10 s */
        got = waitpid(pid, &status, WNOHANG);
        if (got == 0) nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("exit() inside a job did not end the process within 10 s");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
}

/* `test_vmath sweep`: the ~92 million-value accuracy sweeps (seconds natively, too slow
 * under valgrind); `test_vmath`: everything else. */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sweep") == 0) {
        const struct CMUnitTest sweeps[] = {
            cmocka_unit_test(test_tanh_matches_double_reference),
            cmocka_unit_test(test_sigmoid_matches_double_reference),
            cmocka_unit_test(test_log_sincos_match_libm),
        };
        return cmocka_run_group_tests(sweeps, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_log_sincos_sample),
        cmocka_unit_test(test_parallel_for_covers_once),
        cmocka_unit_test(test_parallel_chunks_idle_thread_takes_over),
        cmocka_unit_test(test_parallel_for_concurrent_callers),
        cmocka_unit_test(test_parallel_tasks_respect_a_lowered_thread_count),
        cmocka_unit_test(test_parallel_tasks_run_each_once),
        cmocka_unit_test(test_parallel_tasks_run_in_the_callers_fp_mode),
        cmocka_unit_test(test_parallel_for_after_fork),
        cmocka_unit_test(test_pool_workers_retire_and_take_no_signals),
        cmocka_unit_test(test_exit_inside_a_job_ends_the_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
