/*
 * parity_adam, parity_sgd: ten optimizer steps on fixed gradients against torch.optim
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
    };
    return parity_main(argc, argv, "parity_optim", tests, sizeof tests / sizeof tests[0]);
}
