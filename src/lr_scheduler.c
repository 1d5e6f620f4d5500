/* Learning-rate schedulers of torch.optim.lr_scheduler (torch 1.13), with torch's
 * recursive get_lr() formulas evaluated in double in Python's order of operations, so
 * that the rates match torch's bit for bit (tests/test_parity_lr_scheduler.c). */
#include "tnn_impl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum sched_kind { K_STEP, K_MULTISTEP, K_EXPONENTIAL, K_COSINE, K_LINEAR, K_PLATEAU } sched_kind;

static const char *const KIND_NAMES[] = {"step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr",
                                         "linear_lr", "reduce_lr_on_plateau"};

/* The state a checkpoint holds. Every field is 8 bytes (no padding), so that two states
 * compare with memcmp; the doubles are saved as I64 scalars holding their bits. */
typedef struct sched_state {
    int64_t last_epoch;
    double base_lr;           /* torch's base_lrs[0] (initial_lr) */
    double last_lr;           /* torch's _last_lr[0] */
    double best;              /* plateau */
    int64_t num_bad_epochs;   /* plateau */
    int64_t cooldown_counter; /* plateau */
} sched_state;

struct tnn_lr_scheduler {
    sched_kind kind;
    tnn_optimizer *opt;   /* borrowed */
    sched_state st;       /* live: read and written in place by checkpoints */
    sched_state applied;  /* the state of the last step (or resume): st differs only after a load */
    /* hyper-parameters */
    int step_size;        /* StepLR */
    double gamma;         /* StepLR, MultiStepLR, ExponentialLR */
    int *milestones;      /* MultiStepLR: sorted, repeats kept */
    int n_milestones;
    int T_max;            /* CosineAnnealingLR */
    double eta_min;
    double start_factor, end_factor; /* LinearLR */
    int total_iters;
    tnn_plateau_params pp; /* ReduceLROnPlateau */
};

static bool float_finite(double v) { return isfinite(v) && fabs(v) <= FLT_MAX; }

static tnn_status check_opt(tnn_optimizer *o, const char *who)
{
    if (!o) return tnn_error(TNN_ERR_ARG, "%s: optimizer is NULL", who);
    if (!o->vt || !o->vt->set_lr || !o->vt->get_lr)
        return tnn_error(TNN_ERR_ARG, "%s: the optimizer has no learning rate to schedule (no %s)", who,
                         !o->vt ? "vtable" : !o->vt->set_lr ? "set_lr" : "get_lr");
    return TNN_OK;
}

static tnn_status check_gamma(double gamma, const char *who)
{
    if (!(gamma >= 0.0) || !isfinite(gamma))
        return tnn_error(TNN_ERR_ARG, "%s: gamma is %g, expected a finite value >= 0", who, gamma);
    return TNN_OK;
}

static tnn_lr_scheduler *sched_alloc(tnn_optimizer *o, sched_kind kind)
{
    tnn_lr_scheduler *s = tnn_calloc(1, sizeof *s, KIND_NAMES[kind]);
    if (!s) return NULL;
    s->kind = kind;
    s->opt = o;
    s->st.base_lr = tnn_optimizer_get_lr(o);
    s->st.last_lr = s->st.base_lr;
    s->st.last_epoch = -1;
    s->applied = s->st;
    return s;
}

/* torch's _initial_step(): one step, last_epoch -1 -> 0. */
static tnn_lr_scheduler *sched_start(tnn_lr_scheduler *s)
{
    if (tnn_lr_scheduler_step(s) != TNN_OK) {
        tnn_lr_scheduler_free(s);
        return NULL;
    }
    return s;
}

tnn_lr_scheduler *tnn_step_lr_new(tnn_optimizer *o, int step_size, double gamma)
{
    const char *who = "step_lr";
    if (check_opt(o, who) || check_gamma(gamma, who)) return NULL;
    if (step_size < 1) {
        tnn_error(TNN_ERR_ARG, "%s: step_size is %d, expected >= 1", who, step_size);
        return NULL;
    }
    tnn_lr_scheduler *s = sched_alloc(o, K_STEP);
    if (!s) return NULL;
    s->step_size = step_size;
    s->gamma = gamma;
    return sched_start(s);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

tnn_lr_scheduler *tnn_multistep_lr_new(tnn_optimizer *o, const int *milestones, int n, double gamma)
{
    const char *who = "multistep_lr";
    if (check_opt(o, who) || check_gamma(gamma, who)) return NULL;
    if (n < 0 || (n > 0 && !milestones)) {
        tnn_error(TNN_ERR_ARG, "%s: milestones %s with n = %d", who, milestones ? "given" : "NULL", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (milestones[i] < 0) {
            tnn_error(TNN_ERR_ARG, "%s: milestones[%d] is %d, expected >= 0 (a negative milestone is never reached)",
                      who, i, milestones[i]);
            return NULL;
        }
    tnn_lr_scheduler *s = sched_alloc(o, K_MULTISTEP);
    if (!s) return NULL;
    if (n > 0) {
        s->milestones = tnn_malloc((size_t)n * sizeof *s->milestones, "multistep_lr milestones");
        if (!s->milestones) {
            tnn_free(s);
            return NULL;
        }
        memcpy(s->milestones, milestones, (size_t)n * sizeof *s->milestones);
        qsort(s->milestones, (size_t)n, sizeof *s->milestones, cmp_int);
    }
    s->n_milestones = n;
    s->gamma = gamma;
    return sched_start(s);
}

tnn_lr_scheduler *tnn_exponential_lr_new(tnn_optimizer *o, double gamma)
{
    const char *who = "exponential_lr";
    if (check_opt(o, who) || check_gamma(gamma, who)) return NULL;
    tnn_lr_scheduler *s = sched_alloc(o, K_EXPONENTIAL);
    if (!s) return NULL;
    s->gamma = gamma;
    return sched_start(s);
}

tnn_lr_scheduler *tnn_cosine_annealing_lr_new(tnn_optimizer *o, int T_max, double eta_min)
{
    const char *who = "cosine_annealing_lr";
    if (check_opt(o, who)) return NULL;
    if (T_max < 1) {
        tnn_error(TNN_ERR_ARG, "%s: T_max is %d, expected >= 1", who, T_max);
        return NULL;
    }
    if (!(eta_min >= 0.0) || !float_finite(eta_min)) {
        tnn_error(TNN_ERR_ARG, "%s: eta_min is %g, expected >= 0 and finite in float", who, eta_min);
        return NULL;
    }
    tnn_lr_scheduler *s = sched_alloc(o, K_COSINE);
    if (!s) return NULL;
    s->T_max = T_max;
    s->eta_min = eta_min;
    return sched_start(s);
}

tnn_lr_scheduler *tnn_linear_lr_new(tnn_optimizer *o, double start_factor, double end_factor, int total_iters)
{
    const char *who = "linear_lr";
    if (check_opt(o, who)) return NULL;
    if (!(start_factor > 0.0 && start_factor <= 1.0)) {
        tnn_error(TNN_ERR_ARG, "%s: start_factor is %g, expected in (0, 1]", who, start_factor);
        return NULL;
    }
    if (!(end_factor >= 0.0 && end_factor <= 1.0)) {
        tnn_error(TNN_ERR_ARG, "%s: end_factor is %g, expected in [0, 1]", who, end_factor);
        return NULL;
    }
    if (total_iters < 0) {
        tnn_error(TNN_ERR_ARG, "%s: total_iters is %d, expected >= 0", who, total_iters);
        return NULL;
    }
    tnn_lr_scheduler *s = sched_alloc(o, K_LINEAR);
    if (!s) return NULL;
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return sched_start(s);
}

tnn_plateau_params tnn_plateau_defaults(void)
{
    return (tnn_plateau_params){.mode = TNN_PLATEAU_MIN, .factor = 0.1, .patience = 10, .threshold = 1e-4,
                                .threshold_mode = TNN_THRESHOLD_REL, .cooldown = 0, .min_lr = 0.0, .eps = 1e-8,
                                .tag = TNN_SETTINGS_TAG};
}

tnn_lr_scheduler *tnn_reduce_lr_on_plateau_new(tnn_optimizer *o, tnn_plateau_params p)
{
    const char *who = "reduce_lr_on_plateau";
    if (check_opt(o, who)) return NULL;
    if (tnn_settings_refused(p.tag, who, "tnn_plateau_defaults")) return NULL;
    const char *bad = NULL;
    double v = 0.0;
    if (p.mode != TNN_PLATEAU_MIN && p.mode != TNN_PLATEAU_MAX) {
        tnn_error(TNN_ERR_ARG, "%s: mode %d is unknown (TNN_PLATEAU_MIN or TNN_PLATEAU_MAX)", who, (int)p.mode);
        return NULL;
    }
    if (p.threshold_mode != TNN_THRESHOLD_REL && p.threshold_mode != TNN_THRESHOLD_ABS) {
        tnn_error(TNN_ERR_ARG, "%s: threshold_mode %d is unknown (TNN_THRESHOLD_REL or TNN_THRESHOLD_ABS)", who,
                  (int)p.threshold_mode);
        return NULL;
    }
    if (!(p.factor >= 0.0 && p.factor < 1.0)) bad = "factor", v = p.factor;
    else if (!(p.threshold >= 0.0) || !isfinite(p.threshold)) bad = "threshold", v = p.threshold;
    else if (!(p.min_lr >= 0.0) || !float_finite(p.min_lr)) bad = "min_lr", v = p.min_lr;
    else if (!(p.eps >= 0.0) || !isfinite(p.eps)) bad = "eps", v = p.eps;
    if (bad) {
        tnn_error(TNN_ERR_ARG, "%s: %s is %g, expected %s", who, bad, v,
                  bad[0] == 'f' ? "in [0, 1)" : bad[0] == 'm' ? "a value >= 0, finite in float" : "a finite value >= 0");
        return NULL;
    }
    if (p.mode == TNN_PLATEAU_MIN && p.threshold_mode == TNN_THRESHOLD_REL && p.threshold >= 1.0) {
        tnn_error(TNN_ERR_ARG, "%s: threshold is %g, expected below 1 in mode min with threshold_mode rel "
                  "(best * (1 - threshold) would never be beaten)", who, p.threshold);
        return NULL;
    }
    if (p.patience < 0 || p.cooldown < 0) {
        tnn_error(TNN_ERR_ARG, "%s: %s is %d, expected >= 0", who, p.patience < 0 ? "patience" : "cooldown",
                  p.patience < 0 ? p.patience : p.cooldown);
        return NULL;
    }
    tnn_lr_scheduler *s = sched_alloc(o, K_PLATEAU);
    if (!s) return NULL;
    s->pp = p;
    /* torch: last_epoch 0, best = mode_worse, no step at creation. */
    s->st.last_epoch = 0;
    s->st.best = p.mode == TNN_PLATEAU_MIN ? INFINITY : -INFINITY;
    s->applied = s->st;
    return s;
}

/* The number of times e is listed among the (sorted) milestones. */
static int milestone_count(const tnn_lr_scheduler *s, int64_t e)
{
    int c = 0;
    for (int i = 0; i < s->n_milestones; i++) c += s->milestones[i] == e;
    return c;
}

/* torch's get_lr() at last_epoch e, from the optimizer's current rate lr. */
static double chainable_lr(const tnn_lr_scheduler *s, int64_t e, double lr)
{
    switch (s->kind) {
    case K_STEP:
        if (e == 0 || e % s->step_size != 0) return lr;
        return lr * s->gamma;
    case K_MULTISTEP: {
        int c = milestone_count(s, e);
        if (c == 0) return lr;
        return lr * pow(s->gamma, (double)c);
    }
    case K_EXPONENTIAL:
        if (e == 0) return lr;
        return lr * s->gamma;
    case K_COSINE: {
        /* (torch's branch for _step_count == 1 and last_epoch > 0 needs a last_epoch given
         * to the constructor, which this API does not take.) */
        const double pi = 3.141592653589793; /* math.pi */
        const double T = (double)s->T_max;
        if (e == 0) return lr;
        if ((e - 1 - s->T_max) % (2 * (int64_t)s->T_max) == 0)
            return lr + (s->st.base_lr - s->eta_min) * (1.0 - cos(pi / T)) / 2.0;
        return (1.0 + cos(pi * (double)e / T)) / (1.0 + cos(pi * (double)(e - 1) / T)) * (lr - s->eta_min) + s->eta_min;
    }
    case K_LINEAR: {
        const double sf = s->start_factor, ef = s->end_factor;
        if (e == 0) return lr * sf;
        if (e > s->total_iters) return lr;
        return lr * (1.0 + (ef - sf) / ((double)s->total_iters * sf + (double)(e - 1) * (ef - sf)));
    }
    case K_PLATEAU: break;
    }
    return lr;
}

static tnn_status check_stepping(const tnn_lr_scheduler *s, const char *who)
{
    if (memcmp(&s->st, &s->applied, sizeof s->st) != 0)
        return tnn_error(TNN_ERR_STATE, "%s: %s: its state was loaded (or changed) since its last step: call "
                         "tnn_lr_scheduler_resume() first", who, KIND_NAMES[s->kind]);
    if (s->st.last_epoch == INT64_MAX)
        return tnn_error(TNN_ERR_STATE, "%s: %s: last_epoch cannot grow past %lld", who, KIND_NAMES[s->kind],
                         (long long)INT64_MAX);
    return TNN_OK;
}

/* The optimizer refused the rate of step e: its message, with the scheduler's name first. */
static tnn_status refused_rate(const tnn_lr_scheduler *s, tnn_status st, int64_t e)
{
    char why[256];
    snprintf(why, sizeof why, "%s", tnn_last_error());
    return tnn_error(st, "%s: the rate of step %lld is refused by the optimizer: %s", KIND_NAMES[s->kind],
                     (long long)e, why);
}

tnn_status tnn_lr_scheduler_step(tnn_lr_scheduler *s)
{
    if (!s) return tnn_error(TNN_ERR_ARG, "lr_scheduler_step: scheduler is NULL");
    if (s->kind == K_PLATEAU)
        return tnn_error(TNN_ERR_ARG, "lr_scheduler_step: reduce_lr_on_plateau is stepped with a metric "
                         "(tnn_lr_scheduler_step_metric)");
    tnn_status st = check_stepping(s, "lr_scheduler_step");
    if (st) return st;
    int64_t e = s->st.last_epoch + 1;
    double lr = chainable_lr(s, e, tnn_optimizer_get_lr(s->opt));
    st = tnn_optimizer_set_lr(s->opt, lr);
    if (st) return refused_rate(s, st, e);
    s->st.last_epoch = e;
    s->st.last_lr = tnn_optimizer_get_lr(s->opt);
    s->applied = s->st;
    return TNN_OK;
}

/* torch's is_better(a, best). */
static bool plateau_better(const tnn_plateau_params *p, double a, double best)
{
    if (p->mode == TNN_PLATEAU_MIN && p->threshold_mode == TNN_THRESHOLD_REL) {
        double rel_epsilon = 1.0 - p->threshold;
        return a < best * rel_epsilon;
    }
    if (p->mode == TNN_PLATEAU_MIN) return a < best - p->threshold;
    if (p->threshold_mode == TNN_THRESHOLD_REL) {
        double rel_epsilon = p->threshold + 1.0;
        return a > best * rel_epsilon;
    }
    return a > best + p->threshold;
}

tnn_status tnn_lr_scheduler_step_metric(tnn_lr_scheduler *s, double metric)
{
    if (!s) return tnn_error(TNN_ERR_ARG, "lr_scheduler_step_metric: scheduler is NULL");
    if (s->kind != K_PLATEAU)
        return tnn_error(TNN_ERR_ARG, "lr_scheduler_step_metric: %s takes no metric (tnn_lr_scheduler_step)",
                         KIND_NAMES[s->kind]);
    tnn_status st = check_stepping(s, "lr_scheduler_step_metric");
    if (st) return st;
    const tnn_plateau_params *p = &s->pp;
    sched_state n = s->st;
    n.last_epoch++;
    if (plateau_better(p, metric, n.best)) {
        n.best = metric;
        n.num_bad_epochs = 0;
    } else {
        n.num_bad_epochs++;
    }
    if (n.cooldown_counter > 0) {
        n.cooldown_counter--;
        n.num_bad_epochs = 0;
    }
    if (n.num_bad_epochs > p->patience) {
        /* _reduce_lr: new_lr = max(old_lr * factor, min_lr), applied if old - new > eps */
        double old_lr = tnn_optimizer_get_lr(s->opt);
        double prod = old_lr * p->factor;
        double new_lr = p->min_lr > prod ? p->min_lr : prod;
        if (old_lr - new_lr > p->eps) {
            st = tnn_optimizer_set_lr(s->opt, new_lr);
            if (st) return refused_rate(s, st, n.last_epoch);
        }
        n.cooldown_counter = p->cooldown;
        n.num_bad_epochs = 0;
    }
    n.last_lr = tnn_optimizer_get_lr(s->opt);
    s->st = n;
    s->applied = n;
    return TNN_OK;
}

double tnn_lr_scheduler_get_last_lr(const tnn_lr_scheduler *s) { return s ? s->st.last_lr : NAN; }

int64_t tnn_lr_scheduler_last_epoch(const tnn_lr_scheduler *s) { return s ? s->st.last_epoch : -1; }

const char *tnn_lr_scheduler_kind(const tnn_lr_scheduler *s) { return s ? KIND_NAMES[s->kind] : NULL; }

tnn_status tnn_lr_scheduler_visit_state(tnn_lr_scheduler *s, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    if (!s || !fn) return tnn_error(TNN_ERR_ARG, "lr_scheduler_visit_state: %s is NULL", !s ? "scheduler" : "fn");
    const char *k = KIND_NAMES[s->kind];
    typedef struct entry { const char *name; void *data; } entry;
    entry e[5];
    int n = 0;
    e[n++] = (entry){"last_epoch", &s->st.last_epoch};
    if (s->kind != K_PLATEAU) e[n++] = (entry){"base_lr", &s->st.base_lr};
    e[n++] = (entry){"last_lr", &s->st.last_lr};
    if (s->kind == K_PLATEAU) {
        e[n++] = (entry){"best", &s->st.best};
        e[n++] = (entry){"num_bad_epochs", &s->st.num_bad_epochs};
        e[n++] = (entry){"cooldown_counter", &s->st.cooldown_counter};
    }
    char local[64];
    tnn_status st = TNN_OK;
    for (int i = 0; !st && i < n; i++) {
        snprintf(local, sizeof local, "%s.%s", k, e[i].name);
        st = tnn_visit_one(prefix, local, TNN_I64, e[i].data, NULL, 0, NULL, false, fn, ctx);
    }
    return st;
}

static bool rate_ok(double v) { return v >= 0.0 && float_finite(v); }

tnn_status tnn_lr_scheduler_resume(tnn_lr_scheduler *s)
{
    if (!s) return tnn_error(TNN_ERR_ARG, "lr_scheduler_resume: scheduler is NULL");
    if (memcmp(&s->st, &s->applied, sizeof s->st) == 0) return TNN_OK;
    const sched_state *n = &s->st;
    const char *k = KIND_NAMES[s->kind], *bad = NULL;
    if (n->last_epoch < 0 || n->last_epoch == INT64_MAX) bad = "last_epoch";
    else if (!rate_ok(n->last_lr)) bad = "last_lr";
    else if (s->kind != K_PLATEAU && !rate_ok(n->base_lr)) bad = "base_lr";
    else if (s->kind == K_PLATEAU && isnan(n->best)) bad = "best";
    else if (n->num_bad_epochs < 0 || n->num_bad_epochs == INT64_MAX) bad = "num_bad_epochs";
    else if (n->cooldown_counter < 0) bad = "cooldown_counter";
    tnn_status st = TNN_OK;
    if (bad) {
        st = tnn_error(TNN_ERR_FORMAT, "lr_scheduler_resume: %s: the loaded %s.%s is not one a run gives; the "
                       "scheduler keeps its state from before the load", k, k, bad);
    } else if (tnn_optimizer_set_lr(s->opt, n->last_lr) != TNN_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", tnn_last_error());
        st = tnn_error(TNN_ERR_FORMAT, "lr_scheduler_resume: %s: the optimizer refuses the loaded %s.last_lr (%g): %s",
                       k, k, n->last_lr, why);
    }
    if (st) {
        s->st = s->applied;
        return st;
    }
    s->applied = s->st;
    return TNN_OK;
}

void tnn_lr_scheduler_free(tnn_lr_scheduler *s)
{
    if (!s) return;
    tnn_free(s->milestones);
    tnn_free(s);
}
