/* The learning-rate schedulers (lr_scheduler.h): refusals, the rates they give the
 * optimizer, ReduceLROnPlateau's patience, cooldown, min_lr and eps, checkpoints (a run
 * saved and resumed gives the rates of one that never stopped, bit for bit; another
 * kind's state is refused; a loaded state no run gives is refused by resume), and
 * allocation failures. The rates are checked against torch's in test_parity_lr_scheduler.c. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/testutil.h"

/* A module and an SGD optimizer over it with learning rate lr. */
typedef struct rig {
    tnn_module *m;
    tnn_optimizer *o;
} rig;

static rig rig_new(double lr)
{
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    rig g;
    g.m = tnn_linear_new(2, 1, true, &r);
    assert_non_null(g.m);
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = lr;
    g.o = tnn_sgd_new(g.m, p);
    assert_non_null(g.o);
    return g;
}

static void rig_free(rig *g)
{
    tnn_optimizer_free(g->o);
    tnn_module_free(g->m);
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

#define ASSERT_SAME(got, want) \
    do { \
        double g_ = (got), w_ = (want); \
        if (bits(g_) != bits(w_)) fail_msg("%s is %.17g, expected %.17g", #got, g_, w_); \
    } while (0)

/* ---- refusals ---- */

static tnn_status no_step(tnn_optimizer *o) { (void)o; return TNN_OK; }
static void no_free(tnn_optimizer *o) { (void)o; }

static void refusals(void **state)
{
    (void)state;
    rig g = rig_new(0.1);
#define REFUSED(call, ...) \
    do { \
        tnn_lr_scheduler *s_ = (call); \
        assert_null(s_); \
        TU_ASSERT_ERR(tnn_last_status(), TNN_ERR_ARG, __VA_ARGS__, NULL); \
    } while (0)
    REFUSED(tnn_step_lr_new(NULL, 3, 0.1), "step_lr", "optimizer is NULL");
    REFUSED(tnn_step_lr_new(g.o, 0, 0.1), "step_lr", "step_size is 0");
    REFUSED(tnn_step_lr_new(g.o, -2, 0.1), "step_size is -2");
    REFUSED(tnn_step_lr_new(g.o, 3, -0.1), "step_lr", "gamma");
    REFUSED(tnn_step_lr_new(g.o, 3, NAN), "gamma");
    REFUSED(tnn_step_lr_new(g.o, 3, INFINITY), "gamma");
    int ms[] = {5, -1};
    REFUSED(tnn_multistep_lr_new(g.o, ms, 2, 0.1), "multistep_lr", "milestones[1] is -1");
    REFUSED(tnn_multistep_lr_new(g.o, NULL, 2, 0.1), "multistep_lr", "milestones NULL");
    REFUSED(tnn_multistep_lr_new(g.o, ms, -1, 0.1), "multistep_lr", "n = -1");
    REFUSED(tnn_multistep_lr_new(g.o, ms, 1, NAN), "multistep_lr", "gamma");
    REFUSED(tnn_exponential_lr_new(g.o, -1.0), "exponential_lr", "gamma");
    REFUSED(tnn_exponential_lr_new(g.o, INFINITY), "exponential_lr", "gamma");
    REFUSED(tnn_cosine_annealing_lr_new(g.o, 0, 0.0), "cosine_annealing_lr", "T_max is 0");
    REFUSED(tnn_cosine_annealing_lr_new(g.o, 10, -1e-3), "cosine_annealing_lr", "eta_min");
    REFUSED(tnn_cosine_annealing_lr_new(g.o, 10, NAN), "eta_min");
    REFUSED(tnn_cosine_annealing_lr_new(g.o, 10, 1e300), "eta_min");
    REFUSED(tnn_linear_lr_new(g.o, 0.0, 1.0, 5), "linear_lr", "start_factor is 0");
    REFUSED(tnn_linear_lr_new(g.o, 1.5, 1.0, 5), "start_factor");
    REFUSED(tnn_linear_lr_new(g.o, NAN, 1.0, 5), "start_factor");
    REFUSED(tnn_linear_lr_new(g.o, 0.5, -0.1, 5), "end_factor");
    REFUSED(tnn_linear_lr_new(g.o, 0.5, NAN, 5), "end_factor");
    REFUSED(tnn_linear_lr_new(g.o, 0.5, 1.0, -1), "total_iters is -1");

    tnn_plateau_params p = tnn_plateau_defaults(), q;
    q = p; q.tag = 0;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "reduce_lr_on_plateau", "tnn_plateau_defaults");
    REFUSED(tnn_reduce_lr_on_plateau_new(NULL, p), "reduce_lr_on_plateau", "optimizer is NULL");
    q = p; q.mode = (tnn_plateau_mode)7;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "mode 7 is unknown");
    q = p; q.threshold_mode = (tnn_threshold_mode)3;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "threshold_mode 3 is unknown");
    q = p; q.factor = 1.0;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "factor is 1");
    q = p; q.factor = -0.5;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "factor");
    q = p; q.factor = NAN;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "factor");
    q = p; q.threshold = -1e-4;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "threshold");
    q = p; q.threshold = INFINITY;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "threshold");
    q = p; q.threshold = 1.0;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "threshold is 1", "below 1");
    q = p; q.min_lr = -1.0;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "min_lr");
    q = p; q.eps = NAN;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "eps");
    q = p; q.patience = -1;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "patience is -1");
    q = p; q.cooldown = -3;
    REFUSED(tnn_reduce_lr_on_plateau_new(g.o, q), "cooldown is -3");
    /* Allowed: a threshold of 1 or more in mode max, or with abs. */
    q = p; q.mode = TNN_PLATEAU_MAX; q.threshold = 2.0;
    tnn_lr_scheduler *ok = tnn_reduce_lr_on_plateau_new(g.o, q);
    assert_non_null(ok);
    tnn_lr_scheduler_free(ok);

    /* An optimizer without a learning rate. */
    static const tnn_optimizer_vtable vt = {"norate", no_step, NULL, no_free, NULL, NULL};
    tnn_optimizer bare = {&vt, NULL, NULL};
    REFUSED(tnn_exponential_lr_new(&bare, 0.9), "exponential_lr", "no learning rate", "set_lr");

    /* Stepping the wrong way, NULL. */
    tnn_lr_scheduler *s = tnn_step_lr_new(g.o, 2, 0.5);
    tnn_lr_scheduler *pl = tnn_reduce_lr_on_plateau_new(g.o, p);
    assert_non_null(s);
    assert_non_null(pl);
    TU_ASSERT_ERR(tnn_lr_scheduler_step(pl), TNN_ERR_ARG, "reduce_lr_on_plateau", "tnn_lr_scheduler_step_metric", NULL);
    TU_ASSERT_ERR(tnn_lr_scheduler_step_metric(s, 1.0), TNN_ERR_ARG, "step_lr takes no metric", NULL);
    TU_ASSERT_ERR(tnn_lr_scheduler_step(NULL), TNN_ERR_ARG, "NULL", NULL);
    TU_ASSERT_ERR(tnn_lr_scheduler_step_metric(NULL, 1.0), TNN_ERR_ARG, "NULL", NULL);
    TU_ASSERT_ERR(tnn_lr_scheduler_resume(NULL), TNN_ERR_ARG, "NULL", NULL);
    TU_ASSERT_ERR(tnn_lr_scheduler_visit_state(s, NULL, NULL, NULL), TNN_ERR_ARG, "fn is NULL", NULL);
    assert_int_equal(tnn_lr_scheduler_last_epoch(s), 0);
    assert_int_equal(tnn_lr_scheduler_last_epoch(pl), 0);
    assert_int_equal(tnn_lr_scheduler_last_epoch(NULL), -1);
    assert_true(isnan(tnn_lr_scheduler_get_last_lr(NULL)));
    assert_null(tnn_lr_scheduler_kind(NULL));
    assert_string_equal(tnn_lr_scheduler_kind(s), "step_lr");
    assert_string_equal(tnn_lr_scheduler_kind(pl), "reduce_lr_on_plateau");
    tnn_tensor_list *l = tnn_tensor_list_new();
    TU_ASSERT_ERR(tnn_tensor_list_add_lr_scheduler(l, NULL, ""), TNN_ERR_ARG, "NULL scheduler", NULL);
    TU_ASSERT_ERR(tnn_tensor_list_add_lr_scheduler(NULL, s, ""), TNN_ERR_ARG, "NULL list", NULL);
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(l, s, "sched."));
    TU_ASSERT_ERR(tnn_tensor_list_add_lr_scheduler(l, s, "sched."), TNN_ERR_ARG, "sched.step_lr.last_epoch", NULL);
    assert_int_equal(l->count, 3);
    tnn_tensor_list_free(l);
    tnn_lr_scheduler_free(s);
    tnn_lr_scheduler_free(pl);
    tnn_lr_scheduler_free(NULL);
    rig_free(&g);
#undef REFUSED
}

/* ---- the rates given to the optimizer ---- */

static void rates(void **state)
{
    (void)state;
    rig g = rig_new(1.0);
    /* StepLR: lr * gamma every step_size-th step; the optimizer gets the same value. */
    tnn_lr_scheduler *s = tnn_step_lr_new(g.o, 2, 0.5);
    assert_non_null(s);
    const double step_want[] = {1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125};
    for (int i = 0; i < 7; i++) {
        if (i) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
        ASSERT_SAME(tnn_lr_scheduler_get_last_lr(s), step_want[i]);
        ASSERT_SAME(tnn_optimizer_get_lr(g.o), step_want[i]);
        assert_int_equal(tnn_lr_scheduler_last_epoch(s), i);
    }
    /* Chainable: a rate set by hand is where the schedule goes on from. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 3.0));
    TU_ASSERT_OK(tnn_lr_scheduler_step(s)); /* epoch 7: unchanged */
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 3.0);
    TU_ASSERT_OK(tnn_lr_scheduler_step(s)); /* epoch 8: * 0.5 */
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 1.5);
    tnn_lr_scheduler_free(s);
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 1.5); /* freeing leaves the optimizer's rate */

    /* MultiStepLR: unsorted, repeated milestones; milestone 0 applies at creation. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 1.0));
    int ms[] = {3, 0, 1, 3};
    s = tnn_multistep_lr_new(g.o, ms, 4, 0.5);
    assert_non_null(s);
    const double ms_want[] = {0.5, 0.25, 0.25, 0.0625, 0.0625};
    for (int i = 0; i < 5; i++) {
        if (i) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
        ASSERT_SAME(tnn_optimizer_get_lr(g.o), ms_want[i]);
    }
    tnn_lr_scheduler_free(s);
    /* No milestones: the rate never changes. */
    s = tnn_multistep_lr_new(g.o, NULL, 0, 0.5);
    assert_non_null(s);
    for (int i = 0; i < 3; i++) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 0.0625);
    tnn_lr_scheduler_free(s);

    /* LinearLR multiplies by start_factor at creation and reaches end_factor * base. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 0.8));
    s = tnn_linear_lr_new(g.o, 0.25, 1.0, 4);
    assert_non_null(s);
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 0.2);
    for (int i = 0; i < 4; i++) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    assert_true(fabs(tnn_optimizer_get_lr(g.o) - 0.8) < 1e-15);
    double at_end = tnn_optimizer_get_lr(g.o);
    TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), at_end);
    tnn_lr_scheduler_free(s);

    /* CosineAnnealingLR: eta_min at T_max, back to the start at 2 T_max. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 0.1));
    s = tnn_cosine_annealing_lr_new(g.o, 4, 0.0);
    assert_non_null(s);
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 0.1);
    for (int i = 0; i < 4; i++) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    assert_true(fabs(tnn_optimizer_get_lr(g.o)) < 1e-17);
    for (int i = 0; i < 4; i++) TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    assert_true(fabs(tnn_optimizer_get_lr(g.o) - 0.1) < 1e-15);
    tnn_lr_scheduler_free(s);

    /* A rate the optimizer refuses (beyond FLT_MAX): the error, and nothing changes. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 1.0));
    s = tnn_exponential_lr_new(g.o, 1e20);
    assert_non_null(s);
    TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    TU_ASSERT_ERR(tnn_lr_scheduler_step(s), TNN_ERR_ARG, "exponential_lr", "step 2", "learning rate 1e+40", NULL);
    assert_int_equal(tnn_lr_scheduler_last_epoch(s), 1);
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 1e20);
    ASSERT_SAME(tnn_lr_scheduler_get_last_lr(s), 1e20);
    tnn_lr_scheduler_free(s);
    rig_free(&g);
}

/* ---- ReduceLROnPlateau ---- */

/* The state entry `name` of s, read through its checkpoint list. */
static int64_t plateau_i64(tnn_lr_scheduler *s, const char *name)
{
    tnn_tensor_list *l = tnn_tensor_list_new();
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(l, s, NULL));
    char full[80];
    snprintf(full, sizeof full, "reduce_lr_on_plateau.%s", name);
    const tnn_named_tensor *t = tnn_tensor_list_find(l, full);
    assert_non_null(t);
    int64_t v;
    memcpy(&v, t->data, sizeof v);
    tnn_tensor_list_free(l);
    return v;
}

static void plateau_logic(void **state)
{
    (void)state;
    rig g = rig_new(1.0);
    tnn_plateau_params p = tnn_plateau_defaults();
    p.patience = 2;
    p.cooldown = 1;
    p.factor = 0.5;
    p.threshold = 0.0;
    p.threshold_mode = TNN_THRESHOLD_ABS;
    p.min_lr = 0.3;
    tnn_lr_scheduler *s = tnn_reduce_lr_on_plateau_new(g.o, p);
    assert_non_null(s);
    ASSERT_SAME(tnn_lr_scheduler_get_last_lr(s), 1.0); /* no step at creation */
    assert_int_equal(plateau_i64(s, "best"), (int64_t)bits(INFINITY));
    /* metric, then the rate, the bad steps and the cooldown after the step */
    const struct { double metric, lr; int bad, cool; } seq[] = {
        {1.0, 1.0, 0, 0},  /* better than inf: best 1 */
        {1.0, 1.0, 1, 0},  /* equal is not better (threshold 0, strict <) */
        {NAN, 1.0, 2, 0},  /* NaN is never better: a bad step, as in torch */
        {1.0, 0.5, 0, 1},  /* 3 > patience: reduce, cooldown 1 */
        {2.0, 0.5, 0, 0},  /* in cooldown: the bad step is not counted */
        {0.5, 0.5, 0, 0},  /* better */
        {0.6, 0.5, 1, 0},
        {0.6, 0.5, 2, 0},
        {0.6, 0.3, 0, 1},  /* max(0.25, min_lr 0.3) */
        {0.6, 0.3, 0, 0},
        {0.6, 0.3, 1, 0},
        {0.6, 0.3, 2, 0},
        {0.6, 0.3, 0, 1},  /* max(0.15, 0.3) = 0.3: not lower by more than eps, unchanged */
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        TU_ASSERT_OK(tnn_lr_scheduler_step_metric(s, seq[i].metric));
        if (bits(tnn_optimizer_get_lr(g.o)) != bits(seq[i].lr) ||
            plateau_i64(s, "num_bad_epochs") != seq[i].bad || plateau_i64(s, "cooldown_counter") != seq[i].cool)
            fail_msg("step %zu: lr %g bad %lld cooldown %lld, expected %g %d %d", i + 1, tnn_optimizer_get_lr(g.o),
                     (long long)plateau_i64(s, "num_bad_epochs"), (long long)plateau_i64(s, "cooldown_counter"),
                     seq[i].lr, seq[i].bad, seq[i].cool);
        ASSERT_SAME(tnn_lr_scheduler_get_last_lr(s), seq[i].lr);
        assert_int_equal(tnn_lr_scheduler_last_epoch(s), (int64_t)i + 1);
    }
    assert_int_equal(plateau_i64(s, "best"), (int64_t)bits(0.5));
    tnn_lr_scheduler_free(s);

    /* mode max, rel: better means above best * (1 + threshold); eps skips small cuts. */
    TU_ASSERT_OK(tnn_optimizer_set_lr(g.o, 0.01));
    p = tnn_plateau_defaults();
    p.mode = TNN_PLATEAU_MAX;
    p.patience = 0;
    p.threshold = 0.1;
    p.eps = 0.004;
    s = tnn_reduce_lr_on_plateau_new(g.o, p);
    assert_non_null(s);
    assert_int_equal(plateau_i64(s, "best"), (int64_t)bits(-INFINITY));
    TU_ASSERT_OK(tnn_lr_scheduler_step_metric(s, 1.0));  /* best 1 */
    TU_ASSERT_OK(tnn_lr_scheduler_step_metric(s, 1.05)); /* not above 1.1: reduce to 0.001 (cut 0.009 > eps) */
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 0.01 * 0.1);
    TU_ASSERT_OK(tnn_lr_scheduler_step_metric(s, 1.2));  /* better: best 1.2 */
    assert_int_equal(plateau_i64(s, "best"), (int64_t)bits(1.2));
    TU_ASSERT_OK(tnn_lr_scheduler_step_metric(s, 0.0));  /* a cut of 0.0009 <= eps: unchanged */
    ASSERT_SAME(tnn_optimizer_get_lr(g.o), 0.01 * 0.1);
    tnn_lr_scheduler_free(s);
    rig_free(&g);
}

/* ---- checkpoints ---- */

#define RESUME_STEPS 40

typedef enum kind { K_STEP, K_MULTI, K_EXP, K_COS, K_LIN, K_PLAT, K_COUNT } kind;

static tnn_lr_scheduler *make(kind k, tnn_optimizer *o)
{
    static const int ms[] = {4, 9, 9, 30};
    tnn_plateau_params p = tnn_plateau_defaults();
    p.patience = 2;
    p.cooldown = 2;
    p.factor = 0.7;
    switch (k) {
    case K_STEP: return tnn_step_lr_new(o, 3, 0.8);
    case K_MULTI: return tnn_multistep_lr_new(o, ms, 4, 0.6);
    case K_EXP: return tnn_exponential_lr_new(o, 0.93);
    case K_COS: return tnn_cosine_annealing_lr_new(o, 7, 1e-3);
    case K_LIN: return tnn_linear_lr_new(o, 0.2, 0.9, 15);
    case K_PLAT: return tnn_reduce_lr_on_plateau_new(o, p);
    case K_COUNT: break;
    }
    return NULL;
}

static tnn_status step_k(tnn_lr_scheduler *s, kind k, int i)
{
    /* a metric that falls, then wanders: reductions and cooldowns */
    double metric = i < 8 ? 1.0 / (i + 1) : 0.2 + 0.01 * ((i * 7) % 5);
    return k == K_PLAT ? tnn_lr_scheduler_step_metric(s, metric) : tnn_lr_scheduler_step(s);
}

static tnn_tensor_list *checkpoint_list(rig *g, tnn_lr_scheduler *s)
{
    tnn_tensor_list *l = tnn_tensor_list_new();
    assert_non_null(l);
    TU_ASSERT_OK(tnn_tensor_list_add_module(l, g->m, "model."));
    TU_ASSERT_OK(tnn_tensor_list_add_optimizer(l, g->o, "optimizer."));
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(l, s, "scheduler."));
    return l;
}

static void save_resume(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", tu_dir);
    for (int k = 0; k < K_COUNT; k++) {
        /* the run that never stops */
        rig a = rig_new(0.05);
        tnn_lr_scheduler *sa = make((kind)k, a.o);
        assert_non_null(sa);
        double want[RESUME_STEPS + 1];
        want[0] = tnn_optimizer_get_lr(a.o);
        for (int i = 1; i <= RESUME_STEPS; i++) {
            TU_ASSERT_OK(step_k(sa, (kind)k, i));
            want[i] = tnn_optimizer_get_lr(a.o);
        }
        /* saved after each of a few steps, resumed in a new process-like setting */
        const int at[] = {0, 1, 9, 17, 23};
        for (size_t ai = 0; ai < sizeof at / sizeof at[0]; ai++) {
            rig b = rig_new(0.05);
            tnn_lr_scheduler *sb = make((kind)k, b.o);
            for (int i = 1; i <= at[ai]; i++) TU_ASSERT_OK(step_k(sb, (kind)k, i));
            tnn_tensor_list *lb = checkpoint_list(&b, sb);
            TU_ASSERT_OK(tnn_safetensors_save(path, lb, NULL));
            tnn_tensor_list_free(lb);
            tnn_lr_scheduler_free(sb);
            rig_free(&b);

            rig c = rig_new(0.05);
            tnn_lr_scheduler *sc = make((kind)k, c.o);
            tnn_tensor_list *lc = checkpoint_list(&c, sc);
            tnn_safetensors *f = tnn_safetensors_load(path);
            assert_non_null(f);
            TU_ASSERT_OK(tnn_safetensors_copy_into(f, lc, true));
            tnn_safetensors_free(f);
            tnn_tensor_list_free(lc);
            if (at[ai] > 0) /* a state that differs: resume first */
                TU_ASSERT_ERR(step_k(sc, (kind)k, at[ai] + 1), TNN_ERR_STATE, "tnn_lr_scheduler_resume", NULL);
            TU_ASSERT_OK(tnn_lr_scheduler_resume(sc));
            TU_ASSERT_OK(tnn_lr_scheduler_resume(sc)); /* nothing new: nothing to do */
            assert_int_equal(tnn_lr_scheduler_last_epoch(sc), at[ai]);
            ASSERT_SAME(tnn_optimizer_get_lr(c.o), want[at[ai]]);
            ASSERT_SAME(tnn_lr_scheduler_get_last_lr(sc), want[at[ai]]);
            for (int i = at[ai] + 1; i <= RESUME_STEPS; i++) {
                TU_ASSERT_OK(step_k(sc, (kind)k, i));
                if (bits(tnn_optimizer_get_lr(c.o)) != bits(want[i]))
                    fail_msg("%s saved at %d: step %d gives %.17g, the run that never stopped %.17g",
                             tnn_lr_scheduler_kind(sc), at[ai], i, tnn_optimizer_get_lr(c.o), want[i]);
            }
            tnn_lr_scheduler_free(sc);
            rig_free(&c);
        }
        tnn_lr_scheduler_free(sa);
        rig_free(&a);
    }
}

/* Another kind's state does not load, strictly or not. */
static void other_kind_refused(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/sched.safetensors", tu_dir);
    rig g = rig_new(0.1);
    tnn_lr_scheduler *s = tnn_step_lr_new(g.o, 2, 0.5), *e = tnn_exponential_lr_new(g.o, 0.5);
    tnn_tensor_list *ls = tnn_tensor_list_new(), *le = tnn_tensor_list_new();
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(ls, s, "sched."));
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(le, e, "sched."));
    TU_ASSERT_OK(tnn_safetensors_save(path, ls, NULL));
    tnn_safetensors *f = tnn_safetensors_load(path);
    assert_non_null(f);
    TU_ASSERT_ERR(tnn_safetensors_copy_into(f, le, true), TNN_ERR_SHAPE, "sched.step_lr.last_epoch",
                  "sched.exponential_lr.last_epoch", NULL);
    TU_ASSERT_ERR(tnn_safetensors_copy_into(f, le, false), TNN_ERR_SHAPE, "sched.step_lr", NULL);
    TU_ASSERT_OK(tnn_lr_scheduler_resume(e)); /* nothing was loaded */
    TU_ASSERT_OK(tnn_safetensors_copy_into(f, ls, true));
    tnn_safetensors_free(f);
    tnn_tensor_list_free(ls);
    tnn_tensor_list_free(le);
    tnn_lr_scheduler_free(s);
    tnn_lr_scheduler_free(e);
    rig_free(&g);
}

/* A loaded state that no run gives is refused by resume, and the scheduler goes back to
 * the state it had. */
static void bad_state_refused(void **state)
{
    (void)state;
    rig g = rig_new(0.1);
    tnn_plateau_params pp = tnn_plateau_defaults();
    tnn_lr_scheduler *s = tnn_cosine_annealing_lr_new(g.o, 5, 0.0), *p = tnn_reduce_lr_on_plateau_new(g.o, pp);
    TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    double lr1 = tnn_optimizer_get_lr(g.o);
    tnn_tensor_list *l = tnn_tensor_list_new();
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(l, s, NULL));
    TU_ASSERT_OK(tnn_tensor_list_add_lr_scheduler(l, p, "p."));
    const struct { const char *entry; int64_t value; const char *named; } bad[] = {
        {"cosine_annealing_lr.last_epoch", -3, "cosine_annealing_lr.last_epoch"},
        {"cosine_annealing_lr.last_epoch", INT64_MAX, "cosine_annealing_lr.last_epoch"},
        {"cosine_annealing_lr.last_lr", (int64_t)bits(NAN), "cosine_annealing_lr.last_lr"},
        {"cosine_annealing_lr.last_lr", (int64_t)bits(-0.5), "cosine_annealing_lr.last_lr"},
        {"cosine_annealing_lr.last_lr", (int64_t)bits(1e300), "cosine_annealing_lr.last_lr"},
        {"cosine_annealing_lr.base_lr", (int64_t)bits(INFINITY), "cosine_annealing_lr.base_lr"},
        {"p.reduce_lr_on_plateau.best", (int64_t)bits(NAN), "reduce_lr_on_plateau.best"},
        {"p.reduce_lr_on_plateau.num_bad_epochs", -1, "reduce_lr_on_plateau.num_bad_epochs"},
        {"p.reduce_lr_on_plateau.cooldown_counter", -1, "reduce_lr_on_plateau.cooldown_counter"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const tnn_named_tensor *t = tnn_tensor_list_find(l, bad[i].entry);
        assert_non_null(t);
        memcpy(t->data, &bad[i].value, sizeof bad[i].value);
        tnn_lr_scheduler *which = bad[i].entry[0] == 'p' ? p : s;
        TU_ASSERT_ERR(tnn_lr_scheduler_resume(which), TNN_ERR_FORMAT, bad[i].named, NULL);
        ASSERT_SAME(tnn_optimizer_get_lr(g.o), lr1);
        TU_ASSERT_OK(tnn_lr_scheduler_resume(which)); /* back to its own state */
    }
    assert_int_equal(tnn_lr_scheduler_last_epoch(s), 1);
    TU_ASSERT_OK(tnn_lr_scheduler_step(s));
    TU_ASSERT_OK(tnn_lr_scheduler_step_metric(p, 1.0));
    tnn_tensor_list_free(l);
    tnn_lr_scheduler_free(s);
    tnn_lr_scheduler_free(p);
    rig_free(&g);
}

/* ---- allocation failures ---- */

static void allocation_failures(void **state)
{
    (void)state;
    static const char *const names[] = {"step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr",
                                        "linear_lr", "reduce_lr_on_plateau"};
    for (int k = 0; k < K_COUNT; k++) {
        bool done = false;
        for (long n = 0; n < 20 && !done; n++) {
            rig g = rig_new(0.1);
            tu_alloc_install(n);
            tnn_lr_scheduler *s = make((kind)k, g.o);
            tnn_tensor_list *l = s ? tnn_tensor_list_new() : NULL;
            tnn_status st = !s || !l ? TNN_ERR_NOMEM : tnn_tensor_list_add_lr_scheduler(l, s, "s.");
            if (tu_alloc_count() <= n) {
                TU_ASSERT_OK(st);
                assert_int_equal(l->count, k == K_PLAT ? 5 : 3);
                done = true;
            } else {
                assert_int_equal(st, TNN_ERR_NOMEM);
                if (!s) assert_non_null(strstr(tnn_last_error(), names[k]));
                if (l) assert_int_equal(l->count, 0);
            }
            tnn_tensor_list_free(l);
            tnn_lr_scheduler_free(s);
            long live = tu_alloc_live();
            tu_alloc_uninstall();
            assert_int_equal(live, 0);
            rig_free(&g);
        }
        assert_true(done);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refusals),
        cmocka_unit_test(rates),
        cmocka_unit_test(plateau_logic),
        cmocka_unit_test_setup_teardown(save_resume, tu_tmpdir_make, tu_tmpdir_remove),
        cmocka_unit_test_setup_teardown(other_kind_refused, tu_tmpdir_make, tu_tmpdir_remove),
        cmocka_unit_test(bad_state_refused),
        cmocka_unit_test(allocation_failures),
    };
    return tu_main(argc, argv, "lr_scheduler", tests, sizeof tests / sizeof tests[0]);
}
