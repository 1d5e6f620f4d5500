/*
 * parity_lr_*: the learning-rate schedulers against torch 1.13's torch.optim.lr_scheduler
 * (tests/data/parity/lr_scheduler.golden, written by lr_scheduler_goldens in
 * gen_goldens.py, whose lr_scheduler_cases() lists the same cases as CASES below).
 *
 * Each case makes an SGD optimizer with the case's learning rate, the scheduler, and
 * compares the rate after creation and after each of 60 steps with torch's
 * ("<case>.lr", float64 stored as the int64 of its bits) exactly: every bit of the
 * double. ReduceLROnPlateau cases are stepped with the golden's metrics
 * ("<case>.metrics", with a NaN and an inf among them). The cases include torch's edge
 * cases: CosineAnnealingLR past T_max (the rate climbs back), T_max 1 and an eta_min
 * above the starting rate; LinearLR reaching total_iters, going down to 0, and
 * total_iters 0; MultiStepLR with unsorted repeated milestones and milestone 0;
 * StepLR growing (gamma 1.3); the plateau in min/max and rel/abs with cooldowns,
 * min_lr reached, and an eps that stops the reductions.
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define LR_STEPS 60

typedef enum kind { STEP, MULTI, EXPO, COS, LIN, PLAT } kind;

typedef struct sched_case {
    const char *name;
    kind k;
    double lr;
    int i1;             /* step_size, T_max, total_iters */
    double d1, d2;      /* gamma / eta_min / start_factor, end_factor */
    int milestones[8];
    int n_milestones;
    /* plateau */
    tnn_plateau_mode mode;
    double factor;
    int patience;
    double threshold;
    tnn_threshold_mode tmode;
    int cooldown;
    double min_lr, eps;
    bool defaults;
} sched_case;

#define PMIN TNN_PLATEAU_MIN
#define PMAX TNN_PLATEAU_MAX
#define TREL TNN_THRESHOLD_REL
#define TABS TNN_THRESHOLD_ABS
#define NP PMIN, 0, 0, 0, TREL, 0, 0, 0, false /* not a plateau */

static const sched_case CASES[] = {
    {"step_3_0.1", STEP, 0.1, 3, 0.1, 0, {0}, 0, NP},
    {"step_7_0.7", STEP, 0.05, 7, 0.7, 0, {0}, 0, NP},
    {"step_1_0.9", STEP, 0.3, 1, 0.9, 0, {0}, 0, NP},
    {"step_5_1.3", STEP, 1e-3, 5, 1.3, 0, {0}, 0, NP},
    {"multistep", MULTI, 0.1, 0, 0.3, 0, {10, 25, 40}, 3, NP},
    {"multistep_repeat", MULTI, 0.2, 0, 0.5, 0, {30, 5, 5, 20, 30, 30}, 6, NP},
    {"multistep_zero", MULTI, 0.07, 0, 0.1, 0, {0, 15, 59}, 3, NP},
    {"exp_0.95", EXPO, 0.1, 0, 0.95, 0, {0}, 0, NP},
    {"exp_0.87", EXPO, 3e-4, 0, 0.87, 0, {0}, 0, NP},
    {"cosine_10", COS, 0.1, 10, 0.0, 0, {0}, 0, NP},
    {"cosine_17_eta", COS, 0.05, 17, 1e-4, 0, {0}, 0, NP},
    {"cosine_1_eta", COS, 0.01, 1, 0.001, 0, {0}, 0, NP},
    {"cosine_50", COS, 0.3, 50, 0.0, 0, {0}, 0, NP},
    {"cosine_eta_above", COS, 0.01, 8, 0.02, 0, {0}, 0, NP},
    {"linear_default", LIN, 0.1, 5, 1.0 / 3, 1.0, {0}, 0, NP},
    {"linear_0.25_0.75_20", LIN, 0.02, 20, 0.25, 0.75, {0}, 0, NP},
    {"linear_down_40", LIN, 0.5, 40, 1.0, 0.1, {0}, 0, NP},
    {"linear_to_zero", LIN, 0.1, 10, 1.0, 0.0, {0}, 0, NP},
    {"linear_total_0", LIN, 0.1, 0, 0.5, 1.0, {0}, 0, NP},
    {"plateau_min_rel", PLAT, 0.1, 0, 0, 0, {0}, 0, PMIN, 0.5, 3, 1e-3, TREL, 2, 2e-3, 1e-8, false},
    {"plateau_min_abs", PLAT, 0.1, 0, 0, 0, {0}, 0, PMIN, 0.3, 2, 0.01, TABS, 1, 1e-3, 1e-8, false},
    {"plateau_max_rel", PLAT, 0.05, 0, 0, 0, {0}, 0, PMAX, 0.7, 4, 0.01, TREL, 3, 0.01, 1e-8, false},
    {"plateau_max_abs", PLAT, 0.05, 0, 0, 0, {0}, 0, PMAX, 0.2, 1, 0.005, TABS, 0, 1e-4, 1e-8, false},
    {"plateau_eps", PLAT, 0.1, 0, 0, 0, {0}, 0, PMIN, 0.5, 0, 0.0, TREL, 0, 0.0, 0.004, false},
    {"plateau_defaults", PLAT, 0.1, 0, 0, 0, {0}, 0, PMIN, 0, 0, 0, TREL, 0, 0, 0, true},
};

static double as_double(int64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static tnn_lr_scheduler *make(const sched_case *c, tnn_optimizer *o)
{
    switch (c->k) {
    case STEP: return tnn_step_lr_new(o, c->i1, c->d1);
    case MULTI: return tnn_multistep_lr_new(o, c->milestones, c->n_milestones, c->d1);
    case EXPO: return tnn_exponential_lr_new(o, c->d1);
    case COS: return tnn_cosine_annealing_lr_new(o, c->i1, c->d1);
    case LIN: return tnn_linear_lr_new(o, c->d1, c->d2, c->i1);
    case PLAT: {
        tnn_plateau_params p = tnn_plateau_defaults();
        if (!c->defaults) {
            p.mode = c->mode;
            p.factor = c->factor;
            p.patience = c->patience;
            p.threshold = c->threshold;
            p.threshold_mode = c->tmode;
            p.cooldown = c->cooldown;
            p.min_lr = c->min_lr;
            p.eps = c->eps;
        }
        return tnn_reduce_lr_on_plateau_new(o, p);
    }
    }
    return NULL;
}

/* Runs every case of kind k; returns the number of cases run. */
static int run_kind(kind k)
{
    golden_file *g = golden_load("lr_scheduler.golden");
    assert_non_null(g);
    int ran = 0, bad = 0;
    for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
        const sched_case *c = &CASES[ci];
        if (c->k != k) continue;
        const golden_tensor *want = golden_find(g, "%s.lr", c->name);
        assert_non_null(want);
        assert_int_equal(want->dtype, GOLDEN_I64);
        assert_int_equal(want->count, LR_STEPS + 1);
        const int64_t *w = want->data;
        const int64_t *metrics = NULL;
        if (k == PLAT) {
            const golden_tensor *m = golden_find(g, "%s.metrics", c->name);
            assert_non_null(m);
            assert_int_equal(m->count, LR_STEPS);
            metrics = m->data;
        }
        tnn_rng r;
        tnn_rng_seed(&r, 1);
        tnn_module *lin = tnn_linear_new(1, 1, false, &r);
        assert_non_null(lin);
        tnn_sgd_params sp = tnn_sgd_defaults();
        sp.lr = c->lr;
        tnn_optimizer *o = tnn_sgd_new(lin, sp);
        assert_non_null(o);
        tnn_lr_scheduler *s = make(c, o);
        if (!s) fail_msg("%s: %s", c->name, tnn_last_error());
        int first_bad = -1;
        double got_bad = 0, want_bad = 0;
        for (int i = 0; i <= LR_STEPS; i++) {
            if (i > 0) {
                tnn_status st = k == PLAT ? tnn_lr_scheduler_step_metric(s, as_double(metrics[i - 1]))
                                          : tnn_lr_scheduler_step(s);
                if (st) fail_msg("%s: step %d: %s", c->name, i, tnn_last_error());
            }
            double got = tnn_lr_scheduler_get_last_lr(s);
            int64_t gb;
            memcpy(&gb, &got, sizeof gb);
            if (gb != w[i] || tnn_optimizer_get_lr(o) != got || tnn_lr_scheduler_last_epoch(s) != i) {
                if (first_bad < 0) first_bad = i, got_bad = got, want_bad = as_double(w[i]);
            }
        }
        if (first_bad >= 0) {
            print_error("%s: first difference after %d steps: %.17g, torch %.17g\n", c->name, first_bad, got_bad,
                        want_bad);
            bad++;
        }
        tnn_lr_scheduler_free(s);
        tnn_optimizer_free(o);
        tnn_module_free(lin);
        ran++;
    }
    golden_free(g);
    if (bad) fail_msg("%d of %d cases differ from torch", bad, ran);
    return ran;
}

static void test_step(void **state) { (void)state; assert_int_equal(run_kind(STEP), 4); }
static void test_multistep(void **state) { (void)state; assert_int_equal(run_kind(MULTI), 3); }
static void test_exponential(void **state) { (void)state; assert_int_equal(run_kind(EXPO), 2); }
static void test_cosine(void **state) { (void)state; assert_int_equal(run_kind(COS), 5); }
static void test_linear(void **state) { (void)state; assert_int_equal(run_kind(LIN), 5); }
static void test_plateau(void **state) { (void)state; assert_int_equal(run_kind(PLAT), 6); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"step", test_step, NULL, NULL, NULL},
        {"multistep", test_multistep, NULL, NULL, NULL},
        {"exponential", test_exponential, NULL, NULL, NULL},
        {"cosine", test_cosine, NULL, NULL, NULL},
        {"linear", test_linear, NULL, NULL, NULL},
        {"plateau", test_plateau, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_lr_scheduler", tests, sizeof tests / sizeof tests[0]);
}
