/* The library used from several threads of the program at once (design.md, "Threads
 * of your own"): separate models trained on separate threads at the same time give the
 * same bits as the same trainings one after the other, whichever thread holds the
 * library's pool; error messages stay with the thread that caused them. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A model big enough that, when the pool is free, its products are split into blocks,
 * its BatchNorm's passes and LeakyReLU split by rows and Adam's update into chunks (the
 * seed GAN's batch of 128). */
enum { BATCH = 128, IN = 64, HIDDEN = 256, STEPS = 3, RUNS = 3 };

typedef struct run {
    pthread_barrier_t *start; /* all threads start training together (NULL: alone) */
    uint64_t seed;
    unsigned char *state; /* every parameter and buffer after training, in state_dict order */
    size_t bytes;
    float loss;
    tnn_status status;
    char error[256];
} run;

static tnn_status train(run *r)
{
    tnn_rng rng;
    tnn_rng_seed(&rng, r->seed);
    tnn_module *net = tnn_sequential_new();
    tnn_sequential_add(net, tnn_linear_new(IN, HIDDEN, true, &rng));
    tnn_sequential_add(net, tnn_batchnorm1d_new(HIDDEN, tnn_batchnorm_defaults()));
    tnn_sequential_add(net, tnn_leaky_relu_new(0.2f));
    tnn_sequential_add(net, tnn_linear_new(HIDDEN, HIDDEN, true, &rng));
    tnn_sequential_add(net, tnn_tanh_new());
    tnn_sequential_add(net, tnn_linear_new(HIDDEN, 1, true, &rng));
    tnn_tensor *x = tnn_tensor_new2(BATCH, IN), *t = tnn_tensor_new2(BATCH, 1), *dy = tnn_tensor_new2(BATCH, 1);
    tnn_optimizer *opt = net ? tnn_adam_new(net, tnn_adam_defaults()) : NULL;
    tnn_status st = (net && x && t && dy && opt) ? TNN_OK : TNN_ERR_NOMEM;
    for (int step = 0; step < STEPS && st == TNN_OK; step++) {
        tnn_tensor_normal(x, &rng, 0.0f, 1.0f);
        for (int i = 0; i < BATCH; i++) t->data[i] = (float)tnn_rng_below(&rng, 2);
        const tnn_tensor *y;
        tnn_optimizer_discard_grad(opt);
        st = tnn_module_forward(net, x, &y);
        if (st == TNN_OK) st = tnn_bce_with_logits_loss(y, t, &r->loss, dy);
        if (st == TNN_OK) st = tnn_module_backward(net, dy, NULL);
        if (st == TNN_OK) st = tnn_optimizer_step(opt);
    }
    tnn_tensor_list *sd = st == TNN_OK ? tnn_module_state_dict(net, "") : NULL;
    if (st == TNN_OK && !sd) st = TNN_ERR_NOMEM;
    if (sd) {
        size_t size[64];
        r->bytes = 0;
        for (int k = 0; k < sd->count && k < 64; k++) {
            size[k] = sd->items[k].count * (sd->items[k].dtype == TNN_I64 ? sizeof(int64_t) : sizeof(float));
            r->bytes += size[k];
        }
        r->state = sd->count <= 64 ? malloc(r->bytes) : NULL;
        if (!r->state) st = TNN_ERR_NOMEM;
        for (int k = 0, at = 0; r->state && k < sd->count; k++) {
            memcpy(r->state + at, sd->items[k].data, size[k]);
            at += (int)size[k];
        }
        tnn_tensor_list_free(sd);
    }
    if (st != TNN_OK) snprintf(r->error, sizeof r->error, "%s", tnn_last_error());
    tnn_optimizer_free(opt);
    tnn_module_free(net);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
    tnn_tensor_free(dy);
    return r->status = st;
}

static void *train_thread(void *arg)
{
    run *r = arg;
    pthread_barrier_wait(r->start);
    train(r);
    return NULL;
}

static void assert_same_run(const run *a, const run *b)
{
    assert_int_equal(a->status, TNN_OK);
    assert_int_equal(b->status, TNN_OK);
    assert_int_equal(a->bytes, b->bytes);
    if (memcmp(a->state, b->state, a->bytes) != 0) {
        size_t i = 0;
        while (a->state[i] == b->state[i]) i++;
        fail_msg("seed %llu: the trained state differs from byte %zu of %zu between the runs one after the other "
                 "and on concurrent threads", (unsigned long long)a->seed, i, a->bytes);
    }
    assert_memory_equal(&a->loss, &b->loss, sizeof a->loss);
}

/* RUNS trainings with different seeds, first one after the other, then on RUNS threads
 * of the program at once, started together (twice, so that different threads may get
 * the pool): every parameter and running statistic the same bits. With the pool held by
 * one of them the others run their parallel loops on their own thread, over the same
 * blocks. A wrong result here means state shared between threads (ThreadSanitizer's
 * stage looks for the races themselves). */
static void separate_models_on_concurrent_threads(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        tnn_set_num_threads(threads); /* the public call (capped at the cores present) */
        run alone[RUNS] = {{0}};
        for (int i = 0; i < RUNS; i++) {
            alone[i].seed = 100 + (uint64_t)i;
            if (train(&alone[i]) != TNN_OK) fail_msg("seed %d: %s", 100 + i, alone[i].error);
        }
        for (int round = 0; round < 2; round++) {
            run together[RUNS] = {{0}};
            pthread_t th[RUNS];
            pthread_barrier_t start;
            assert_int_equal(pthread_barrier_init(&start, NULL, RUNS), 0);
            int started = 0;
            for (int i = 0; i < RUNS; i++) {
                together[i].seed = alone[i].seed;
                together[i].start = &start;
                if (pthread_create(&th[i], NULL, train_thread, &together[i]) != 0) break;
                started++;
            }
            if (started < RUNS) { /* cannot happen on a sane system; do not leave threads waiting */
                fprintf(stderr, "test_threads: could not start %d threads\n", RUNS);
                exit(1);
            }
            for (int i = 0; i < RUNS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
            pthread_barrier_destroy(&start);
            for (int i = 0; i < RUNS; i++) {
                if (together[i].status != TNN_OK) fail_msg("seed %d: %s", 100 + i, together[i].error);
                assert_same_run(&alone[i], &together[i]);
                free(together[i].state);
            }
        }
        for (int i = 0; i < RUNS; i++) free(alone[i].state);
    }
    tnn_set_num_threads(1);
}

/* A core kept busy by another thread of the program (not the library's): the pool's
 * worker may then wait for its core, and the caller takes over the worker's tasks
 * (changes.md, "Two threads no longer run 3-4x slower than one when a core is busy").
 * Whichever thread runs a task, the result is the same bits as on an idle machine. The
 * spinner keeps going until the training is done; nothing here is timed. */
static void *spin_thread(void *arg)
{
    atomic_int *stop = arg;
    volatile unsigned long n = 0;
    while (!atomic_load_explicit(stop, memory_order_relaxed)) n++;
    return NULL;
}

static void same_bits_beside_a_busy_core(void **state)
{
    (void)state;
    tnn_set_num_threads(2);
    run idle = {.seed = 7}, busy = {.seed = 7};
    if (train(&idle) != TNN_OK) fail_msg("%s", idle.error);
    atomic_int stop = 0;
    pthread_t spinner[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&spinner[i], NULL, spin_thread, &stop), 0);
    tnn_status st = train(&busy);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(spinner[i], NULL), 0);
    if (st != TNN_OK) fail_msg("%s", busy.error);
    assert_same_run(&idle, &busy);
    free(idle.state);
    free(busy.state);
    tnn_set_num_threads(1);
}

/* A worker thread that cannot start (here: a limit of 0 processes for the user, in a
 * child that has become nobody when run as root) is said once through the log, not
 * tried again at every job, until the thread count is set again; the jobs run on the
 * caller with the bits of a two-thread run. */
static int g_start_failures;
static void count_start_failures(void *user, const char *msg)
{
    (void)user;
    if (strstr(msg, "could not start worker thread 2 of 2") && strstr(msg, "running on 1 thread until")) g_start_failures++;
    else fprintf(stderr, "log: %s\n", msg);
}

static void *idle_thread(void *arg) { return arg; }

static void set_threads_again(void *user, const char *msg)
{
    count_start_failures(user, msg);
    tnn_set_num_threads(2);
}

static void a_worker_that_cannot_start(void **state)
{
    (void)state;
    if (tnn_set_num_threads(2) < 2) {
        print_message("  skipped: one core\n");
        skip();
    }
    run ref = {.seed = 11};
    if (train(&ref) != TNN_OK) fail_msg("%s", ref.error);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(10);
        struct rlimit none = {0, 0};
        if (setrlimit(RLIMIT_NPROC, &none) != 0) _exit(11);
        pthread_t probe;
        if (pthread_create(&probe, NULL, idle_thread, NULL) == 0) _exit(15); /* the limit does not hold here */
        tnn_set_log(count_start_failures, NULL);
        run a = {.seed = 11}, b = {.seed = 11}, c = {.seed = 11};
        if (train(&a) != TNN_OK) _exit(14);
        if (train(&b) != TNN_OK) _exit(14);
        if (g_start_failures != 1) {
            fprintf(stderr, "%d messages over two trainings, expected 1\n", g_start_failures);
            _exit(12);
        }
        tnn_set_num_threads(2); /* tried again */
        if (train(&c) != TNN_OK) _exit(14);
        if (g_start_failures != 2) {
            fprintf(stderr, "%d messages after setting the count again, expected 2\n", g_start_failures);
            _exit(12);
        }
        for (int i = 0; i < 3; i++) {
            const run *r = i == 0 ? &a : i == 1 ? &b : &c;
            if (r->bytes != ref.bytes || memcmp(r->state, ref.state, ref.bytes) != 0) _exit(13);
        }
        /* a log callback that calls back into the library (here: sets the count again,
         * as the message suggests) runs outside the pool's lock: no hang */
        tnn_set_log(set_threads_again, NULL);
        tnn_set_num_threads(2);
        run d = {.seed = 11};
        if (train(&d) != TNN_OK) _exit(14);
        if (g_start_failures < 3) _exit(16);
        fflush(NULL);
        _exit(0);
    }
    int status = 0;
    pid_t got = 0;
    for (int waited = 0; waited < 600 && (got = waitpid(pid, &status, WNOHANG)) == 0; waited++)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child hung for 60 s (a log callback calling tnn_set_num_threads inside the pool's lock?)");
    }
    assert_int_equal(got, pid);
    free(ref.state);
    tnn_set_num_threads(1);
    if (WIFSIGNALED(status)) /* OpenBLAS 0.3.21 restarting its own threads in the child under the limit */
        fail_msg("the child was killed by signal %d (run with OPENBLAS_NUM_THREADS=1, as ctest does)", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    int rc = WEXITSTATUS(status);
    if (rc == 10 || rc == 11 || rc == 15) {
        print_message("  skipped: cannot limit the threads of user nobody here (step %d)\n", rc);
        skip();
    }
    if (rc != 0) fail_msg("the child failed at step %d", rc);
}

/* An error on one thread leaves the other thread's message alone. */
typedef struct err_job {
    pthread_barrier_t *bar;
    bool fail;
    char seen[256];
    tnn_status status; /* tnn_last_status() at the end */
} err_job;

static void *error_thread(void *arg)
{
    err_job *j = arg;
    tnn_clear_error();
    pthread_barrier_wait(j->bar); /* both threads have a clean message */
    if (j->fail) {
        tnn_module *lin = tnn_linear_new(3, 2, true, NULL);
        tnn_tensor *x = tnn_tensor_new2(4, 5);
        const tnn_tensor *y;
        tnn_status st = tnn_module_forward(lin, x, &y); /* 5 features into a 3-input Linear */
        tnn_tensor_free(x);
        tnn_module_free(lin);
        if (st == TNN_OK) snprintf(j->seen, sizeof j->seen, "forward did not fail");
    }
    pthread_barrier_wait(j->bar); /* the failing thread has set its message */
    if (!j->fail || j->seen[0] == '\0') snprintf(j->seen, sizeof j->seen, "%s", tnn_last_error());
    j->status = tnn_last_status();
    return NULL;
}

static void error_messages_are_per_thread(void **state)
{
    (void)state;
    pthread_barrier_t bar;
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    err_job a = {.bar = &bar, .fail = true}, b = {.bar = &bar, .fail = false};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, error_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, error_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&bar);
    assert_non_null(strstr(a.seen, "linear"));
    assert_string_equal(b.seen, "");
    assert_int_equal(a.status, TNN_ERR_SHAPE); /* the status too is the thread's own */
    assert_int_equal(b.status, TNN_OK);
}

/* A model used by two threads at once: the second thread's calls are refused, naming
 * the problem, before they touch anything (a model is one thread's at a time). A gate
 * module holds the first thread inside the model's forward while the second tries. */
typedef struct gate_module {
    tnn_module base;
    sem_t *entered, *release; /* forward holds its thread while set */
    sem_t *visit_entered, *visit_release; /* visit (save, load, ...) likewise */
    int depth_seen; /* the model's nesting of calls, seen from inside the forward */
} gate_module;

static void gate_hold(sem_t *entered, sem_t *release)
{
    sem_post(entered);
    while (sem_wait(release) != 0) continue;
}

static tnn_status gate_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    gate_module *g = (gate_module *)m;
    const tnn_module *top = m;
    while (top->container) top = top->container;
    g->depth_seen = top->busy_depth;
    if (g->entered) gate_hold(g->entered, g->release);
    *y = x;
    return TNN_OK;
}

static tnn_status gate_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    gate_module *g = (gate_module *)m;
    (void)prefix, (void)fn, (void)ctx;
    if (g->visit_entered) gate_hold(g->visit_entered, g->visit_release);
    return TNN_OK;
}

static tnn_status gate_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    (void)m;
    if (dx) *dx = dy;
    return TNN_OK;
}

static void gate_free(tnn_module *m) { free(m); }

static const tnn_module_vtable gate_vt = {
    .type_name = "gate", .forward = gate_forward, .backward = gate_backward, .visit = gate_visit, .free = gate_free};

typedef struct forward_job {
    tnn_module *net;
    const tnn_tensor *x;
    tnn_status status;
} forward_job;

static void *forward_thread(void *arg)
{
    forward_job *j = arg;
    const tnn_tensor *y;
    j->status = tnn_module_forward(j->net, j->x, &y);
    return NULL;
}

typedef struct save_job {
    tnn_module *net;
    const char *path;
    tnn_status status;
} save_job;

static void *save_thread(void *arg)
{
    save_job *j = arg;
    j->status = tnn_module_save(j->net, "", j->path, NULL);
    return NULL;
}

/* An optimizer of one's own whose step holds its thread. */
typedef struct gate_opt {
    tnn_optimizer base;
    sem_t *entered, *release;
} gate_opt;

static tnn_status gate_opt_step(tnn_optimizer *o)
{
    gate_opt *g = (gate_opt *)o;
    gate_hold(g->entered, g->release);
    return TNN_OK;
}

static void gate_opt_free(tnn_optimizer *o) { (void)o; }

static const tnn_optimizer_vtable gate_opt_vt = {.type_name = "gate", .step = gate_opt_step, .free = gate_opt_free};

typedef struct step_job {
    tnn_optimizer *opt;
    tnn_status status;
} step_job;

static void *step_thread(void *arg)
{
    step_job *j = arg;
    j->status = tnn_optimizer_step(j->opt);
    return NULL;
}

static void one_model_on_two_threads_is_refused(void **state)
{
    (void)state;
    tnn_rng rng;
    tnn_rng_seed(&rng, 7);
    sem_t entered, release;
    assert_int_equal(sem_init(&entered, 0, 0), 0);
    assert_int_equal(sem_init(&release, 0, 0), 0);
    tnn_module *net = tnn_sequential_new();
    tnn_module *lin = tnn_linear_new(4, 3, true, &rng);
    gate_module *gate = calloc(1, sizeof *gate);
    assert_non_null(gate);
    tnn_module_init(&gate->base, &gate_vt);
    assert_int_equal(tnn_sequential_add(net, lin), TNN_OK);
    assert_int_equal(tnn_sequential_add(net, &gate->base), TNN_OK);
    tnn_optimizer *opt = tnn_adam_new(net, tnn_adam_defaults());
    tnn_tensor *x = tnn_tensor_new2(2, 4), *dy = tnn_tensor_new2(2, 3);
    assert_non_null(opt);
    assert_non_null(x);
    assert_non_null(dy);
    for (size_t i = 0; i < x->size; i++) x->data[i] = 0.25f * (float)i;
    for (size_t i = 0; i < dy->size; i++) dy->data[i] = 1.0f;
    const tnn_tensor *y, *dx;
    assert_int_equal(tnn_module_forward(net, x, &y), TNN_OK); /* this thread's first: a forward to refuse a backward after */
    assert_int_equal(tnn_module_backward(net, dy, &dx), TNN_OK);
    tnn_tensor_list *params = tnn_module_parameters(net, "");
    assert_non_null(params);
    float *w = params->items[0].data; /* 0.weight */
    float w0 = w[0];

    gate->entered = &entered;
    gate->release = &release;
    forward_job job = {.net = net, .x = x, .status = TNN_ERR_STATE};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, forward_thread, &job), 0);
    while (sem_wait(&entered) != 0) continue; /* the other thread is inside net's forward */
    gate->entered = NULL;
    /* inside the Sequential's forward and the gate's own: two nested calls, after the
     * Linear's, which left the count at 1, not 0 (the mark would be gone) */
    assert_int_equal(gate->depth_seen, 2);

    TU_ASSERT_ERR(tnn_module_forward(net, x, &y), TNN_ERR_STATE, "sequential", "forward", "in use by another thread", NULL);
    assert_null(y);
    TU_ASSERT_ERR(tnn_module_backward(net, dy, &dx), TNN_ERR_STATE, "backward", "in use by another thread", NULL);
    /* a child of the model, run on its own, is the model's too */
    TU_ASSERT_ERR(tnn_module_forward(lin, x, &y), TNN_ERR_STATE, "linear(4->3)", "in use by another thread", NULL);
    TU_ASSERT_ERR(tnn_optimizer_step(opt), TNN_ERR_STATE, "optimizer step", "in use by another thread", NULL);
    assert_float_equal(w[0], w0, 0.0f); /* no step was taken */
    const char *path = "threads_refused.safetensors";
    remove(path);
    TU_ASSERT_ERR(tnn_module_save(net, "", path, NULL), TNN_ERR_STATE, "save", "in use by another thread", NULL);
    assert_int_equal(access(path, F_OK), -1); /* nothing written */
    TU_ASSERT_ERR(tnn_module_load(net, "", path, true, NULL), TNN_ERR_STATE, "load", "in use by another thread", NULL);
    char buf[256];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    TU_ASSERT_ERR(tnn_module_summary(net, f), TNN_ERR_STATE, "summary", "in use by another thread", NULL);
    fclose(f);
    tnn_module *relu = tnn_relu_new();
    TU_ASSERT_ERR(tnn_sequential_add(net, relu), TNN_ERR_STATE, "sequential_add", "in use by another thread",
                  "the child was not freed", NULL);
    assert_null(relu->container);
    tnn_module_free(relu); /* still ours */
    assert_int_equal(tnn_sequential_len(net), 2);

    sem_post(&release); /* the other thread finishes its forward */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(job.status, TNN_OK);
    /* handed over: this thread may use the model again, from the other thread's forward */
    assert_int_equal(tnn_module_backward(net, dy, &dx), TNN_OK);
    assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
    assert_true(w[0] != w0);
    assert_int_equal(tnn_module_save(net, "", path, NULL), TNN_OK);
    assert_int_equal(tnn_module_load(net, "", path, true, NULL), TNN_OK);
    remove(path);

    assert_null(net->busy_thread);
    assert_int_equal(net->busy_depth, 0);

    /* Held inside a save (in the model's visit): the forward and the step are refused. */
    gate->visit_entered = &entered;
    gate->visit_release = &release;
    save_job sj = {.net = net, .path = path, .status = TNN_ERR_STATE};
    assert_int_equal(pthread_create(&th, NULL, save_thread, &sj), 0);
    while (sem_wait(&entered) != 0) continue;
    gate->visit_entered = NULL;
    TU_ASSERT_ERR(tnn_module_forward(net, x, &y), TNN_ERR_STATE, "forward", "in use by another thread", NULL);
    TU_ASSERT_ERR(tnn_optimizer_step(opt), TNN_ERR_STATE, "optimizer step", "in use by another thread", NULL);
    sem_post(&release);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(sj.status, TNN_OK);
    remove(path);

    /* Held inside an optimizer's step: the forward and the save are refused. */
    gate_opt gopt = {.entered = &entered, .release = &release};
    assert_int_equal(tnn_optimizer_init(&gopt.base, &gate_opt_vt, net), TNN_OK);
    step_job stj = {.opt = &gopt.base, .status = TNN_ERR_STATE};
    assert_int_equal(pthread_create(&th, NULL, step_thread, &stj), 0);
    while (sem_wait(&entered) != 0) continue;
    TU_ASSERT_ERR(tnn_module_forward(net, x, &y), TNN_ERR_STATE, "forward", "in use by another thread", NULL);
    TU_ASSERT_ERR(tnn_module_save(net, "", path, NULL), TNN_ERR_STATE, "save", "in use by another thread", NULL);
    assert_int_equal(access(path, F_OK), -1);
    sem_post(&release);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(stj.status, TNN_OK);
    tnn_tensor_list_free(gopt.base.params);

    /* A child another thread is running on its own is not added to a Sequential (its
     * mark is on itself, not on the Sequential). */
    tnn_module *lone_gate = NULL;
    {
        gate_module *g2 = calloc(1, sizeof *g2);
        assert_non_null(g2);
        tnn_module_init(&g2->base, &gate_vt);
        g2->entered = &entered;
        g2->release = &release;
        lone_gate = &g2->base;
        forward_job j2 = {.net = lone_gate, .x = x, .status = TNN_ERR_STATE};
        assert_int_equal(pthread_create(&th, NULL, forward_thread, &j2), 0);
        while (sem_wait(&entered) != 0) continue;
        g2->entered = NULL;
        tnn_module *other = tnn_sequential_new();
        assert_non_null(other);
        TU_ASSERT_ERR(tnn_sequential_add(other, lone_gate), TNN_ERR_STATE, "sequential_add",
                      "in use by another thread", "the child was not freed", NULL);
        assert_null(lone_gate->container);
        sem_post(&release);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(j2.status, TNN_OK);
        assert_null(lone_gate->busy_thread); /* its own mark, released on itself */
        assert_int_equal(tnn_sequential_add(other, lone_gate), TNN_OK); /* handed over: now it may */
        tnn_module_free(other);
    }

    tnn_tensor_list_free(params);
    tnn_optimizer_free(opt);
    tnn_module_free(net);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    sem_destroy(&entered);
    sem_destroy(&release);
}

/* Two threads training one model with different batch sizes, with nothing ordering
 * them: before the guard this crashed one run in three. Now each call runs whole or is
 * refused; a thread may still see the other's forward between its own forward and
 * backward (a shape error, or gradients of the other batch), which is ordered use, not
 * a race, and not detectable. */
typedef struct hammer_job {
    tnn_module *net;
    tnn_optimizer *opt;
    int batch;
    int ok, refused, other;
} hammer_job;

static void *hammer_thread(void *arg)
{
    hammer_job *j = arg;
    tnn_tensor *x = tnn_tensor_new2(j->batch, 16), *dy = tnn_tensor_new2(j->batch, 8);
    if (!x || !dy) {
        j->other = -1;
        goto out;
    }
    for (size_t i = 0; i < x->size; i++) x->data[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < dy->size; i++) dy->data[i] = 0.01f;
    for (int it = 0; it < 300; it++) {
        const tnn_tensor *y, *dx;
        tnn_status st = tnn_module_forward(j->net, x, &y);
        if (st == TNN_OK) st = tnn_module_backward(j->net, dy, &dx);
        if (st == TNN_OK) st = tnn_optimizer_step(j->opt);
        if (st == TNN_OK) j->ok++;
        else if (st == TNN_ERR_STATE && strstr(tnn_last_error(), "in use by another thread")) {
            j->refused++;
            nanosleep(&(struct timespec){0, 20000}, NULL); /* let the other thread finish its call */
        }
        else if (st == TNN_ERR_SHAPE) j->other++; /* dy against the other thread's forward */
        else {
            j->other = -1000000;
            break;
        }
    }
out:
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    return NULL;
}

static void one_model_hammered_by_two_threads(void **state)
{
    (void)state;
    tnn_rng rng;
    tnn_rng_seed(&rng, 11);
    tnn_module *net = tnn_sequential_new();
    assert_int_equal(tnn_sequential_add(net, tnn_linear_new(16, 64, true, &rng)), TNN_OK);
    assert_int_equal(tnn_sequential_add(net, tnn_batchnorm1d_new(64, tnn_batchnorm_defaults())), TNN_OK);
    assert_int_equal(tnn_sequential_add(net, tnn_relu_new()), TNN_OK);
    assert_int_equal(tnn_sequential_add(net, tnn_linear_new(64, 8, true, &rng)), TNN_OK);
    tnn_optimizer *opt = tnn_adam_new(net, tnn_adam_defaults());
    assert_non_null(opt);
    hammer_job a = {net, opt, 64, 0, 0, 0}, b = {net, opt, 24, 0, 0, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, hammer_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, hammer_thread, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_true(a.other >= 0 && b.other >= 0); /* only the three outcomes above */
    assert_int_equal(a.ok + a.refused + a.other, 300);
    assert_int_equal(b.ok + b.refused + b.other, 300);
    tnn_optimizer_free(opt);
    tnn_module_free(net);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(separate_models_on_concurrent_threads),
    cmocka_unit_test(error_messages_are_per_thread),
    cmocka_unit_test(same_bits_beside_a_busy_core),
    cmocka_unit_test(a_worker_that_cannot_start),
    cmocka_unit_test(one_model_on_two_threads_is_refused),
    cmocka_unit_test(one_model_hammered_by_two_threads),
};

TU_MAIN("threads", tests)
