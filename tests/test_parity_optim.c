/*
 * parity_adam, parity_sgd, parity_adamw: ten optimizer steps on fixed gradients against torch.optim
 * (tests/data/parity/adam.golden, sgd.golden). The parameters are a Linear(5, 7)'s
 * "weight" [7 x 5] and "bias" [7]; the gradients of every step are stored and include
 * exact zeros, values near Adam's eps (1e-10 .. 2e-7) and large ones (1e3). After every
 * step both parameters are compared; after the tenth, the optimizer state too (Adam's
 * per-parameter step, exp_avg and exp_avg_sq, and its own count of steps; SGD's
 * momentum_buffer).
 *
 * Cases: Adam(lr 2e-4, betas (0.5, 0.999)) as the GAN uses it; Adam(lr 1e-3,
 * weight_decay 0.1); SGD(lr 0.1); SGD(momentum 0.9, dampening 0.1, weight_decay 1e-3);
 * SGD(momentum 0.9, nesterov, weight_decay 1e-2); and case `frozen` of each (Adam as
 * the GAN's, SGD with momentum 0.9 and dampening 0.5) with no gradients (torch's .grad
 * None) at steps 1, 2, 3 and 7.
 *
 * Tolerance: rtol 1e-6 (8 ulps), no absolute floor. tinynn's updates are torch's
 * single-tensor updates operation by operation, including the fused multiply-adds
 * torch's CPU kernels perform (src/optim.c), so the results are bit-identical; the
 * margin is for a compiler that contracts a*b+c on its own (TNN_PARITY_EXACT=1
 * removes it).
 *
 * parity_adamw (tests/data/parity/adamw.golden): torch.optim.AdamW on the four
 * parameters of Sequential(Linear(5, 7), Linear(7, 3)), ten steps, with no tolerance at
 * all: every parameter after every step and the state after the tenth must have torch's
 * bits. Cases: `defaults` (lr 1e-3, weight_decay 1e-2); `schedule` (lr 0.01, betas
 * (0.5, 0.999), weight_decay 0.3; layer 1 frozen at steps 2, 3 and 6, both layers at
 * step 8; lr 0.0025 from step 5 and 0.04 from step 9, set with tnn_optimizer_set_lr);
 * `strong` (lr 0.1, weight_decay 0.9; layer 0 frozen at steps 1 to 3; lr 0.03 from
 * step 7); `nodecay` (lr 3e-3, betas (0.8, 0.99), eps 1e-6, weight_decay 0). A frozen
 * layer is torch's .grad None: tnn_module_set_requires_grad(layer, false) after the
 * gradients are discarded, so that the backward leaves them discarded.
 *
 * parity_amsgrad (tests/data/parity/amsgrad.golden): torch.optim.Adam and AdamW with
 * amsgrad=True on parity_adamw's model and gradients, ten steps, with no tolerance:
 * every parameter after every step and the state after the tenth, max_exp_avg_sq
 * included (a NaN there matches a NaN of any payload: torch's AVX2 maximum writes the
 * all-ones NaN). Cases in test_amsgrad's table: Adam plain, with L2 decay and frozen
 * steps and lr changes, with layer 0 starting at step 4, with a NaN and an infinite
 * gradient; AdamW plain and with a schedule.
 *
 * parity_rmsprop (tests/data/parity/rmsprop.golden): torch.optim.RMSprop on the same
 * model and gradients, ten steps, with no tolerance: every parameter after every step
 * and the state after the tenth ("rmsprop.<param>.step", ".square_avg", and
 * ".momentum_buffer" / ".grad_avg" exactly where torch keeps them); a NaN matches a
 * NaN of any sign and payload (which NaN operand survives is the compiler's choice).
 * Cases in test_rmsprop's table: defaults, weight decay, momentum, centered, all three,
 * frozen layers, a NaN and an infinite gradient, lr changes, PyTorch-GAN's wgan.py
 * setting (lr 5e-5), and alpha 0 centered (square_avg - grad_avg^2 is then g*g's
 * rounding error: it tells the fused addcmul from an unfused one, and goes below 0).
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define OPT_RTOL 1e-6
#define STEPS 10

static parity_tol optim_tol(const tnn_named_tensor *t, void *ctx)
{
    (void)t;
    (void)ctx;
    return (parity_tol){0.0, parity_exact_or(OPT_RTOL)};
}

typedef struct state_ctx {
    const golden_file *g;
    const char *cs;
    bool ok;
    int seen;
} state_ctx;

/* Visitor over the optimizer's state: "step" (Adam) or "<param>.<key>". */
static tnn_status check_state_entry(void *ctx, const tnn_named_tensor *t)
{
    state_ctx *s = ctx;
    char nm[160];
    s->seen++;
    if (t->dtype == TNN_I64 && !strcmp(t->name, "step")) { /* the optimizer's own count: every step taken */
        if (*(const int64_t *)t->data != STEPS) {
            print_error("%s: step is %lld, expected %d\n", s->cs, (long long)*(const int64_t *)t->data, STEPS);
            s->ok = false;
        }
        return TNN_OK;
    }
    if (t->dtype == TNN_I64) { /* "<param>.step": the updates of that parameter, as torch counts them */
        snprintf(nm, sizeof nm, "%s.state.%s", s->cs, t->name);
        s->ok &= parity_check_i64(s->g, nm, *(const int64_t *)t->data);
        return TNN_OK;
    }
    snprintf(nm, sizeof nm, "%s.state.%s", s->cs, t->name);
    s->ok &= parity_check(s->g, nm, t->data, t->count, 0.0, parity_exact_or(OPT_RTOL));
    return TNN_OK;
}

static void run_case(const char *file, const char *cs, tnn_optimizer *(*make)(tnn_module *, const void *),
                     const void *params, int expected_state)
{
    golden_file *g = golden_load(file);
    tnn_module *lin = tnn_linear_new(5, 7, true, NULL);
    assert_non_null(lin);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.init.", cs);
    golden_load_state(g, prefix, lin);
    tnn_optimizer *opt = make(lin, params);
    assert_non_null(opt);
    tnn_tensor_list *ps = tnn_module_parameters(lin, "");
    assert_non_null(ps);
    tnn_tensor *x = tnn_tensor_new(2, (int[]){1, 5}), *dy = tnn_tensor_new(2, (int[]){1, 7});
    assert_non_null(x);
    assert_non_null(dy);
    bool ok = true;
    for (int s = 1; s <= STEPS; s++) {
        /* A step without stored gradients is one at which torch's .grad was None: the
         * gradients are discarded and no backward writes them. Otherwise a backward of
         * zeros writes them (the layer then has gradients) and the stored ones replace them. */
        tnn_module_discard_grad(lin);
        if (golden_find(g, "%s.step%d.grad.%s", cs, s, ps->items[0].name)) {
            const tnn_tensor *y;
            assert_int_equal(tnn_module_forward(lin, x, &y), TNN_OK);
            assert_int_equal(tnn_module_backward(lin, dy, NULL), TNN_OK);
            for (int i = 0; i < ps->count; i++) {
                tnn_named_tensor *p = &ps->items[i];
                memcpy(p->grad, golden_f32(g, p->count, "%s.step%d.grad.%s", cs, s, p->name), p->count * sizeof(float));
            }
        }
        assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
        snprintf(prefix, sizeof prefix, "%s.step%d.", cs, s);
        ok &= parity_check_state(g, prefix, lin, optim_tol, NULL, NULL);
    }
    state_ctx sc = {g, cs, true, 0};
    assert_int_equal(tnn_optimizer_visit_state(opt, "", check_state_entry, &sc), TNN_OK);
    ok &= sc.ok;
    if (sc.seen != expected_state) {
        print_error("%s: optimizer state has %d entries, expected %d\n", cs, sc.seen, expected_state);
        ok = false;
    }
    tnn_tensor_list_free(ps);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_optimizer_free(opt);
    tnn_module_free(lin);
    golden_free(g);
    assert_true(ok);
}

static tnn_optimizer *make_adam(tnn_module *m, const void *p) { return tnn_adam_new(m, *(const tnn_adam_params *)p); }
static tnn_optimizer *make_sgd(tnn_module *m, const void *p) { return tnn_sgd_new(m, *(const tnn_sgd_params *)p); }

static void adam_gan(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = 0.0002;
    p.beta1 = 0.5;
    p.beta2 = 0.999;
    run_case("adam.golden", "gan", make_adam, &p, 7); /* step + 2 x (step, exp_avg, exp_avg_sq) */
}

static void adam_weight_decay(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    p.weight_decay = 0.1;
    run_case("adam.golden", "weight_decay", make_adam, &p, 7);
}

static void adam_frozen(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = 0.0002;
    p.beta1 = 0.5;
    p.beta2 = 0.999;
    run_case("adam.golden", "frozen", make_adam, &p, 7);
}

static void sgd_plain(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.1;
    run_case("sgd.golden", "plain", make_sgd, &p, 0);
}

static void sgd_momentum(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.05;
    p.momentum = 0.9;
    p.dampening = 0.1;
    p.weight_decay = 1e-3;
    run_case("sgd.golden", "momentum", make_sgd, &p, 2);
}

static void sgd_nesterov(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.05;
    p.momentum = 0.9;
    p.nesterov = true;
    p.weight_decay = 1e-2;
    run_case("sgd.golden", "nesterov", make_sgd, &p, 2);
}

static void sgd_frozen(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.05;
    p.momentum = 0.9;
    p.dampening = 0.5;
    run_case("sgd.golden", "frozen", make_sgd, &p, 2);
}

/* ---- AdamW, and Adam and AdamW with amsgrad ---- */

/* A case on the two-layer model of adamw.golden and amsgrad.golden. */
typedef struct two_layer_case {
    const char *name;
    bool adamw;                 /* AdamW, else Adam */
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    unsigned frozen[STEPS + 1]; /* per step: bit 0 layer 0 frozen, bit 1 layer 1 */
    double lr_at[STEPS + 1];    /* per step: the lr set before it (0: unchanged) */
} two_layer_case;

/* The same bits, and the same value (parity_check with no tolerance names the worst).
 * nan_any: a NaN matches a NaN of any payload (torch's AVX2 maximum writes the
 * all-ones NaN where libtinynn keeps the one it met: docs/parity.md). */
static bool exact(const golden_file *g, const char *name, const float *got, size_t n, bool nan_any)
{
    bool ok = parity_check(g, name, got, n, 0.0, 0.0);
    const float *want = golden_f32(g, n, "%s", name);
    for (size_t i = 0; ok && i < n; i++) {
        if (nan_any && isnan(got[i]) && isnan(want[i])) continue;
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            print_error("%s: equal values but other bits at %zu (a signed zero, a NaN's payload?)\n", name, i);
            ok = false;
        }
    }
    return ok;
}

typedef struct two_layer_state_ctx {
    const golden_file *g;
    const two_layer_case *c;
    bool ok;
    int seen;
} two_layer_state_ctx;

/* "step", then "<param>.step", ".exp_avg", ".exp_avg_sq" (and ".max_exp_avg_sq" with
 * amsgrad); AdamW's all under "adamw.". */
static tnn_status check_two_layer_state(void *ctx, const tnn_named_tensor *t)
{
    two_layer_state_ctx *s = ctx;
    const char *tag = s->c->adamw ? "adamw." : "";
    char nm[160];
    s->seen++;
    if (strncmp(t->name, tag, strlen(tag)) != 0) {
        print_error("%s: state entry '%s' is not under \"%s\"\n", s->c->name, t->name, tag);
        s->ok = false;
        return TNN_OK;
    }
    const char *local = t->name + strlen(tag);
    if (!strcmp(local, "step")) {
        if (*(const int64_t *)t->data != STEPS) {
            print_error("%s: %s is %lld, expected %d\n", s->c->name, t->name, (long long)*(const int64_t *)t->data, STEPS);
            s->ok = false;
        }
        return TNN_OK;
    }
    snprintf(nm, sizeof nm, "%s.state.%s", s->c->name, local);
    if (t->dtype == TNN_I64) s->ok &= parity_check_i64(s->g, nm, *(const int64_t *)t->data);
    else s->ok &= exact(s->g, nm, t->data, t->count, s->c->amsgrad);
    return TNN_OK;
}

/* The two-layer model of adamw.golden and its kin, Sequential(Linear(5, 7), Linear(7, 3)),
 * loaded from "<case>.init.", with a forward input and dy whose only role is to make
 * backward mark which layers have gradients (the gradients themselves come from the
 * golden). */
typedef struct two_layer_rig {
    tnn_module *net, *layer[2];
    tnn_tensor_list *ps;
    tnn_tensor *x, *dy;
} two_layer_rig;

static two_layer_rig rig_new(const golden_file *g, const char *name)
{
    two_layer_rig r;
    r.net = tnn_sequential_new();
    assert_non_null(r.net);
    assert_int_equal(tnn_sequential_add(r.net, tnn_linear_new(5, 7, true, NULL)), TNN_OK);
    assert_int_equal(tnn_sequential_add(r.net, tnn_linear_new(7, 3, true, NULL)), TNN_OK);
    r.layer[0] = tnn_sequential_get(r.net, 0);
    r.layer[1] = tnn_sequential_get(r.net, 1);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.init.", name);
    golden_load_state(g, prefix, r.net);
    r.ps = tnn_module_parameters(r.net, "");
    assert_non_null(r.ps);
    assert_int_equal(r.ps->count, 4);
    r.x = tnn_tensor_new(2, (int[]){1, 5});
    r.dy = tnn_tensor_new(2, (int[]){1, 3});
    assert_true(r.x && r.dy);
    return r;
}

/* STEPS steps of opt on the golden's gradients: before step s the lr of lr_at[s] (0:
 * unchanged) and the layers of frozen[s] (bit k: layer k) without gradients; after it
 * every parameter against "<name>.step<s>.<param>", exactly (nan_any: see exact). */
static bool rig_steps(const golden_file *g, two_layer_rig *r, tnn_optimizer *opt, const char *name,
                      const unsigned *frozen, const double *lr_at, bool nan_any)
{
    bool ok = true;
    for (int s = 1; s <= STEPS; s++) {
        if (lr_at[s] != 0.0) assert_int_equal(tnn_optimizer_set_lr(opt, lr_at[s]), TNN_OK);
        tnn_optimizer_discard_grad(opt);
        for (int k = 0; k < 2; k++) tnn_module_set_requires_grad(r->layer[k], !(frozen[s] >> k & 1));
        const tnn_tensor *y;
        assert_int_equal(tnn_module_forward(r->net, r->x, &y), TNN_OK);
        assert_int_equal(tnn_module_backward(r->net, r->dy, NULL), TNN_OK);
        for (int i = 0; i < r->ps->count; i++) {
            tnn_named_tensor *p = &r->ps->items[i];
            const bool off = frozen[s] >> (p->name[0] - '0') & 1;
            const golden_tensor *gt = golden_find(g, "%s.step%d.grad.%s", name, s, p->name);
            assert_true(off == !gt); /* the golden has a gradient exactly where torch had one */
            if (gt) memcpy(p->grad, golden_f32(g, p->count, "%s.step%d.grad.%s", name, s, p->name), p->count * sizeof(float));
        }
        assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
        for (int i = 0; i < r->ps->count; i++) {
            char nm[160];
            snprintf(nm, sizeof nm, "%s.step%d.%s", name, s, r->ps->items[i].name);
            ok &= exact(g, nm, r->ps->items[i].data, r->ps->items[i].count, nan_any);
        }
    }
    return ok;
}

static void rig_free(two_layer_rig *r)
{
    tnn_tensor_list_free(r->ps);
    tnn_tensor_free(r->x);
    tnn_tensor_free(r->dy);
    tnn_module_free(r->net);
}

static void run_two_layer_case(const golden_file *g, const two_layer_case *c)
{
    two_layer_rig r = rig_new(g, c->name);
    tnn_optimizer *opt;
    if (c->adamw) {
        tnn_adamw_params p = tnn_adamw_defaults();
        p.lr = c->lr, p.beta1 = c->beta1, p.beta2 = c->beta2, p.eps = c->eps, p.weight_decay = c->weight_decay;
        p.amsgrad = c->amsgrad;
        opt = tnn_adamw_new(r.net, p);
    } else {
        tnn_adam_params p = tnn_adam_defaults();
        p.lr = c->lr, p.beta1 = c->beta1, p.beta2 = c->beta2, p.eps = c->eps, p.weight_decay = c->weight_decay;
        p.amsgrad = c->amsgrad;
        opt = tnn_adam_new(r.net, p);
    }
    assert_non_null(opt);
    bool ok = rig_steps(g, &r, opt, c->name, c->frozen, c->lr_at, false);
    two_layer_state_ctx sc = {g, c, true, 0};
    assert_int_equal(tnn_optimizer_visit_state(opt, "", check_two_layer_state, &sc), TNN_OK);
    ok &= sc.ok;
    const int want = c->amsgrad ? 17 : 13; /* step + 4 x (step, exp_avg, exp_avg_sq[, max_exp_avg_sq]) */
    if (sc.seen != want) {
        print_error("%s: optimizer state has %d entries, expected %d\n", c->name, sc.seen, want);
        ok = false;
    }
    assert_int_equal(tnn_adam_step_count(opt), STEPS);
    tnn_optimizer_free(opt);
    rig_free(&r);
    assert_true(ok);
}

static void test_adamw(void **state)
{
    (void)state;
    /* The settings and schedules of gen_goldens.py's adamw_goldens(). */
    static const two_layer_case cases[] = {
        {"defaults", true, 1e-3, 0.9, 0.999, 1e-8, 1e-2, false, {0}, {0}},
        {"schedule", true, 0.01, 0.5, 0.999, 1e-8, 0.3, false, {[2] = 2, [3] = 2, [6] = 2, [8] = 3}, {[5] = 0.0025, [9] = 0.04}},
        {"strong", true, 0.1, 0.9, 0.999, 1e-8, 0.9, false, {[1] = 1, [2] = 1, [3] = 1}, {[7] = 0.03}},
        {"nodecay", true, 3e-3, 0.8, 0.99, 1e-6, 0.0, false, {0}, {0}},
    };
    const tnn_adamw_params d = tnn_adamw_defaults();
    assert_true(d.lr == cases[0].lr && d.beta1 == cases[0].beta1 && d.beta2 == cases[0].beta2 &&
                d.eps == cases[0].eps && d.weight_decay == cases[0].weight_decay && !d.amsgrad);
    golden_file *g = golden_load("adamw.golden");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_two_layer_case(g, &cases[i]);
    golden_free(g);
}

/* amsgrad.golden: torch.optim.Adam and AdamW with amsgrad=True on adamw.golden's model
 * and gradients, ten steps, every bit of every parameter after every step and of the
 * state after the tenth (max_exp_avg_sq included; a NaN there matches any NaN). The
 * settings and schedules of gen_goldens.py's amsgrad_goldens(). */
static void test_amsgrad(void **state)
{
    (void)state;
    static const two_layer_case cases[] = {
        {"adam", false, 0.01, 0.9, 0.9, 1e-8, 0.0, true, {0}, {0}},
        {"adam_decay", false, 0.005, 0.5, 0.95, 1e-8, 0.1, true, {[2] = 2, [3] = 2, [6] = 2, [8] = 3},
         {[5] = 0.0025, [9] = 0.02}},
        {"adam_late", false, 2e-4, 0.5, 0.99, 1e-8, 0.0, true, {[1] = 1, [2] = 1, [3] = 1}, {0}},
        {"adam_nan", false, 0.01, 0.8, 0.9, 1e-8, 0.0, true, {0}, {0}},
        {"adamw", true, 1e-3, 0.9, 0.95, 1e-8, 1e-2, true, {0}, {0}},
        {"adamw_schedule", true, 0.01, 0.5, 0.9, 1e-8, 0.3, true, {[2] = 2, [3] = 2, [6] = 2, [8] = 3},
         {[5] = 0.0025, [9] = 0.04}},
    };
    assert_false(tnn_adam_defaults().amsgrad);
    golden_file *g = golden_load("amsgrad.golden");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_two_layer_case(g, &cases[i]);
    golden_free(g);
}

/* ---- RMSprop ---- */

typedef struct rmsprop_case {
    const char *name;
    double lr, alpha, eps, weight_decay, momentum;
    bool centered;
    unsigned frozen[STEPS + 1]; /* per step: bit 0 layer 0 without gradients, bit 1 layer 1 */
    double lr_at[STEPS + 1];    /* per step: the lr set before it (0: unchanged) */
} rmsprop_case;

typedef struct rmsprop_state_ctx {
    const golden_file *g;
    const char *cs;
    bool ok;
    int seen;
} rmsprop_state_ctx;

/* "rmsprop.<param>.step", ".square_avg", then ".momentum_buffer" and ".grad_avg" where
 * the settings keep them: each against "<case>.state.<param>.<key>", exactly. */
static tnn_status check_rmsprop_state(void *ctx, const tnn_named_tensor *t)
{
    rmsprop_state_ctx *s = ctx;
    char nm[160];
    s->seen++;
    if (strncmp(t->name, "rmsprop.", 8) != 0) {
        print_error("%s: state entry '%s' is not under \"rmsprop.\"\n", s->cs, t->name);
        s->ok = false;
        return TNN_OK;
    }
    snprintf(nm, sizeof nm, "%s.state.%s", s->cs, t->name + 8);
    if (t->dtype == TNN_I64) s->ok &= parity_check_i64(s->g, nm, *(const int64_t *)t->data);
    else s->ok &= exact(s->g, nm, t->data, t->count, true); /* NaNs: as the parameters', below */
    return TNN_OK;
}

static void run_rmsprop_case(const golden_file *g, const rmsprop_case *c)
{
    two_layer_rig r = rig_new(g, c->name);
    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    p.lr = c->lr, p.alpha = c->alpha, p.eps = c->eps, p.weight_decay = c->weight_decay, p.momentum = c->momentum;
    p.centered = c->centered;
    tnn_optimizer *opt = tnn_rmsprop_new(r.net, p);
    assert_non_null(opt);
    assert_string_equal(opt->vt->type_name, "rmsprop");
    /* A NaN matches a NaN of any sign and payload: when both operands of an operation
     * are NaN, x86 passes on the first, and which comes first is the compiler's choice
     * (the ThreadSanitizer build's differs from the release build's), not the
     * arithmetic's. Every other value has torch's bits. */
    bool ok = rig_steps(g, &r, opt, c->name, c->frozen, c->lr_at, true);
    rmsprop_state_ctx sc = {g, c->name, true, 0};
    assert_int_equal(tnn_optimizer_visit_state(opt, "", check_rmsprop_state, &sc), TNN_OK);
    ok &= sc.ok;
    const int want = 4 * (2 + (c->momentum > 0.0) + c->centered); /* per parameter: step, square_avg[, ...] */
    if (sc.seen != want) {
        print_error("%s: optimizer state has %d entries, expected %d\n", c->name, sc.seen, want);
        ok = false;
    }
    tnn_optimizer_free(opt);
    rig_free(&r);
    assert_true(ok);
}

/* rmsprop.golden: torch.optim.RMSprop on parity_adamw's model and gradients, ten steps,
 * every bit of every parameter after every step and of the state after the tenth. The
 * settings and schedules of gen_goldens.py's rmsprop_goldens(). */
static void test_rmsprop(void **state)
{
    (void)state;
    static const rmsprop_case cases[] = {
        {"defaults", 1e-2, 0.99, 1e-8, 0.0, 0.0, false, {0}, {0}},
        {"weight_decay", 3e-3, 0.99, 1e-8, 0.1, 0.0, false, {0}, {0}},
        {"momentum", 1e-3, 0.99, 1e-8, 0.0, 0.9, false, {0}, {0}},
        {"centered", 1e-3, 0.9, 1e-8, 0.0, 0.0, true, {0}, {0}},
        {"all", 2e-3, 0.95, 1e-6, 0.05, 0.5, true, {0}, {0}},
        {"late", 1e-3, 0.99, 1e-8, 0.0, 0.9, false, {[1] = 1, [2] = 1, [3] = 1, [6] = 2, [7] = 2}, {0}},
        {"nan", 1e-3, 0.99, 1e-8, 0.0, 0.5, true, {0}, {0}},
        {"schedule", 0.01, 0.99, 1e-8, 0.0, 0.3, false, {0}, {[5] = 0.0025, [9] = 0.04}},
        {"wgan", 0.00005, 0.99, 1e-8, 0.0, 0.0, false, {0}, {0}},
        {"alpha0", 1e-4, 0.0, 1e-8, 0.0, 0.0, true, {0}, {0}},
    };
    const tnn_rmsprop_params d = tnn_rmsprop_defaults();
    assert_true(d.lr == cases[0].lr && d.alpha == cases[0].alpha && d.eps == cases[0].eps &&
                d.weight_decay == 0.0 && d.momentum == 0.0 && !d.centered);
    golden_file *g = golden_load("rmsprop.golden");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_rmsprop_case(g, &cases[i]);
    golden_free(g);
}

static void test_adam(void **state)
{
    adam_gan(state);
    adam_weight_decay(state);
    adam_frozen(state);
}

static void test_sgd(void **state)
{
    sgd_plain(state);
    sgd_momentum(state);
    sgd_nesterov(state);
    sgd_frozen(state);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"adam", test_adam, NULL, NULL, NULL},
        {"sgd", test_sgd, NULL, NULL, NULL},
        {"adamw", test_adamw, NULL, NULL, NULL},
        {"amsgrad", test_amsgrad, NULL, NULL, NULL},
        {"rmsprop", test_rmsprop, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_optim", tests, sizeof tests / sizeof tests[0]);
}
