/* Optimizer tests (tinynn/optim.h): SGD (momentum, dampening, nesterov, weight
 * decay), Adam and AdamW steps (also with amsgrad) and RMSprop's against the update formulas
 * evaluated in double on a tiny model, zero_grad, state enumeration names, a
 * user-defined optimizer, errors, checkpoints (amsgrad's maxima in them, and states
 * with and without them kept apart). */
#include <float.h>
#include "testutil.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model: Sequential[Linear(2 -> 1)], parameters "0.weight" [1 x 2] and "0.bias" [1]:
 * three scalars, set by hand, with gradients written by hand before every step. */
enum { NP = 3 };
typedef struct tiny {
    tnn_module *m;
    float *p[NP], *g[NP];  /* w0, w1, b */
} tiny;

static tiny tiny_new(const double w[NP])
{
    tiny t;
    t.m = tnn_sequential_new();
    assert_non_null(t.m);
    TU_ASSERT_OK(tnn_sequential_add(t.m, tnn_linear_new(2, 1, true, NULL)));
    tnn_tensor_list *l = tnn_module_parameters(t.m, "");
    assert_int_equal(l->count, 2);
    float *wd = l->items[0].data, *bd = l->items[1].data;
    t.p[0] = wd;
    t.p[1] = wd + 1;
    t.p[2] = bd;
    t.g[0] = l->items[0].grad;
    t.g[1] = l->items[0].grad + 1;
    t.g[2] = l->items[1].grad;
    tnn_tensor_list_free(l);
    for (int i = 0; i < NP; i++) *t.p[i] = (float)w[i];
    return t;
}

static void set_grads(tiny *t, const double g[NP])
{
    for (int i = 0; i < NP; i++) *t->g[i] = (float)g[i];
}

static void assert_params(const tiny *t, const double want[NP], double tol, const char *what)
{
    float got[NP];
    for (int i = 0; i < NP; i++) got[i] = *t->p[i];
    tu_assert_close(got, want, NP, tol, 1.0, what);
}

/* Gradients of three steps; signs and sizes differ per parameter and per step. */
static const double G[3][NP] = {{0.5, -0.25, 1.0}, {0.125, -0.5, -0.75}, {-0.3, 0.2, 0.6}};
static const double W0[NP] = {0.75, -1.5, 0.25};

/* torch.optim.SGD, in double:
 *   g += wd * w;  buf = (first step) g  else  momentum * buf + (1 - dampening) * g
 *   d = nesterov ? g + momentum * buf : buf  (or g without momentum);  w -= lr * d */
static void sgd_case(tnn_sgd_params p, const char *what)
{
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_sgd_new(t.m, p);
    assert_non_null(o);
    double w[NP], buf[NP] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < 3; s++) {
        set_grads(&t, G[s]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            double g = G[s][i] + p.weight_decay * w[i], d = g;
            if (p.momentum != 0.0) {
                buf[i] = s == 0 ? g : p.momentum * buf[i] + (1.0 - p.dampening) * g;
                d = p.nesterov ? g + p.momentum * buf[i] : buf[i];
            }
            w[i] -= p.lr * d;
        }
        char step[96];
        snprintf(step, sizeof step, "%s, step %d", what, s + 1);
        assert_params(&t, w, 1e-6, step);
        /* The optimizer leaves the gradients alone. */
        for (int i = 0; i < NP; i++) assert_true(*t.g[i] == (float)G[s][i]);
    }
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
}

static void sgd_plain(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    assert_true(p.lr == 0.01 && p.momentum == 0.0 && p.dampening == 0.0 && p.weight_decay == 0.0 && !p.nesterov);
    p.lr = 0.1;
    sgd_case(p, "sgd");
}

static void sgd_momentum(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.1;
    p.momentum = 0.9;
    sgd_case(p, "sgd momentum");
    p.dampening = 0.5; /* the first step takes the gradient undamped */
    sgd_case(p, "sgd momentum dampening");
}

static void sgd_nesterov(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.05;
    p.momentum = 0.8;
    p.nesterov = true;
    sgd_case(p, "sgd nesterov");
}

static void sgd_weight_decay(void **state)
{
    (void)state;
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = 0.1;
    p.weight_decay = 0.1;
    sgd_case(p, "sgd weight decay");
    p.momentum = 0.9;
    p.nesterov = true;
    sgd_case(p, "sgd weight decay nesterov");
}

/* torch.optim.Adam, in double:
 *   g += wd * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * and with amsgrad vmax = max(vmax, v) in place of v in the last line. */
static void adam_case(tnn_adam_params p, const char *what)
{
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_adam_new(t.m, p);
    assert_non_null(o);
    assert_int_equal(tnn_adam_step_count(o), 0);
    double w[NP], m[NP] = {0}, v[NP] = {0}, vmax[NP] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 1; s <= 3; s++) {
        set_grads(&t, G[s - 1]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            double g = G[s - 1][i] + p.weight_decay * w[i];
            m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g;
            v[i] = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
            vmax[i] = fmax(vmax[i], v[i]);
            double mhat = m[i] / (1.0 - pow(p.beta1, s)), vhat = (p.amsgrad ? vmax[i] : v[i]) / (1.0 - pow(p.beta2, s));
            w[i] -= p.lr * mhat / (sqrt(vhat) + p.eps);
        }
        char step[96];
        snprintf(step, sizeof step, "%s, step %d", what, s);
        assert_params(&t, w, 1e-6, step);
        assert_int_equal(tnn_adam_step_count(o), s);
    }
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
}

static void adam_three_steps(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    assert_true(p.lr == 1e-3 && p.beta1 == 0.9 && p.beta2 == 0.999 && p.eps == 1e-8 && p.weight_decay == 0.0 &&
                !p.amsgrad);
    p.lr = 0.1; /* steps far above float32 rounding of w */
    adam_case(p, "adam");
    p.beta1 = 0.5;
    p.beta2 = 0.75;
    adam_case(p, "adam betas (0.5, 0.75)");
    /* the second step's v falls below the first's for w0 (g 0.5, then 0.125) */
    p.amsgrad = true;
    adam_case(p, "adam amsgrad, betas (0.5, 0.75)");
    p.weight_decay = 0.5;
    adam_case(p, "adam amsgrad, weight decay");
}

/* A large eps tells "sqrt(v_hat) + eps" (PyTorch) from "sqrt(v_hat + eps)". */
static void adam_eps_outside_sqrt_and_weight_decay(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = 0.1;
    p.eps = 0.1;
    adam_case(p, "adam eps 0.1");
    p.eps = 1e-8;
    p.weight_decay = 0.5;
    adam_case(p, "adam weight decay");
}

/* Adam's moments after three steps, read through the state enumeration. */
typedef struct state_seen {
    char names[24][64];
    tnn_named_tensor items[24];
    int count;
} state_seen;

static tnn_status collect(void *ctx, const tnn_named_tensor *t)
{
    state_seen *s = ctx;
    if (s->count == 24) return TNN_ERR_ARG;
    snprintf(s->names[s->count], sizeof s->names[0], "%s", t->name);
    s->items[s->count] = *t;
    s->items[s->count].name = s->names[s->count];
    s->count++;
    return TNN_OK;
}

static void optimizer_state_names(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    tnn_optimizer *adam = tnn_adam_new(t.m, tnn_adam_defaults());
    set_grads(&t, G[0]);
    TU_ASSERT_OK(tnn_optimizer_step(adam));
    state_seen s = {0};
    TU_ASSERT_OK(tnn_optimizer_visit_state(adam, "optim.", collect, &s));
    const char *names[] = {"optim.step", "optim.0.weight.step", "optim.0.weight.exp_avg", "optim.0.weight.exp_avg_sq",
                           "optim.0.bias.step", "optim.0.bias.exp_avg", "optim.0.bias.exp_avg_sq"};
    assert_int_equal(s.count, 7);
    for (int i = 0; i < 7; i++) assert_string_equal(s.names[i], names[i]);
    const int counts[] = {0, 1, 4}; /* the optimizer's step count, then each parameter's: scalars */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.items[counts[i]].dtype, TNN_I64);
        assert_int_equal(s.items[counts[i]].ndim, 0);
        assert_int_equal(*(int64_t *)s.items[counts[i]].data, 1);
    }
    assert_int_equal(s.items[2].ndim, 2);
    assert_int_equal(s.items[2].shape[1], 2);
    assert_int_equal(s.items[2].count, 2);
    assert_false(s.items[2].is_param);
    /* After one step: m = (1 - b1) g, v = (1 - b2) g^2. */
    const float *m = s.items[2].data, *v = s.items[3].data;
    tu_assert_close1(m[1], 0.1 * G[0][1], 1e-6, 1e-9, "exp_avg");
    tu_assert_close1(v[1], 0.001 * G[0][1] * G[0][1], 1e-5, 1e-12, "exp_avg_sq");
    tnn_optimizer_free(adam);

    tnn_sgd_params sp = tnn_sgd_defaults();
    sp.momentum = 0.9;
    tnn_optimizer *sgd = tnn_sgd_new(t.m, sp);
    TU_ASSERT_OK(tnn_optimizer_step(sgd));
    memset(&s, 0, sizeof s);
    TU_ASSERT_OK(tnn_optimizer_visit_state(sgd, NULL, collect, &s));
    assert_int_equal(s.count, 2);
    assert_string_equal(s.names[0], "0.weight.momentum_buffer");
    assert_string_equal(s.names[1], "0.bias.momentum_buffer");
    assert_true(((float *)s.items[1].data)[0] == (float)G[0][2]); /* first buffer = gradient */
    assert_int_equal(tnn_adam_step_count(sgd), -1);
    tnn_optimizer_free(sgd);

    sgd = tnn_sgd_new(t.m, tnn_sgd_defaults()); /* no momentum: no state */
    memset(&s, 0, sizeof s);
    TU_ASSERT_OK(tnn_optimizer_visit_state(sgd, "", collect, &s));
    assert_int_equal(s.count, 0);
    tnn_optimizer_free(sgd);
    tnn_module_free(t.m);
}

static void optimizer_zero_grad(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_sgd_new(t.m, tnn_sgd_defaults());
    set_grads(&t, G[0]);
    tnn_optimizer_zero_grad(o);
    for (int i = 0; i < NP; i++) assert_true(*t.g[i] == 0.0f);
    /* A step with zero gradients changes nothing. */
    TU_ASSERT_OK(tnn_optimizer_step(o));
    assert_params(&t, W0, 0.0, "after a zero-gradient step");
    tnn_optimizer_zero_grad(NULL); /* no-op */
    tnn_optimizer_free(o);
    tnn_optimizer_free(NULL);
    tnn_module_free(t.m);
}

/* A user-defined optimizer against the public header: sign descent, w -= lr sign(g). */
typedef struct sign_sgd {
    tnn_optimizer base;
    float lr;
} sign_sgd;

static tnn_status sign_step(tnn_optimizer *o)
{
    sign_sgd *s = (sign_sgd *)o;
    for (int k = 0; k < o->params->count; k++) {
        tnn_named_tensor *t = &o->params->items[k];
        float *w = t->data;
        for (size_t i = 0; i < t->count; i++) w[i] -= s->lr * (float)((t->grad[i] > 0) - (t->grad[i] < 0));
    }
    return TNN_OK;
}

static void sign_free(tnn_optimizer *o)
{
    tnn_tensor_list_free(o->params);
    free(o);
}

static const tnn_optimizer_vtable sign_vt = {.type_name = "sign_sgd", .step = sign_step, .free = sign_free};

static void optimizer_user_defined(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    sign_sgd *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->lr = 0.25f;
    TU_ASSERT_OK(tnn_optimizer_init(&s->base, &sign_vt, t.m));
    set_grads(&t, G[0]);
    TU_ASSERT_OK(tnn_optimizer_step(&s->base));
    assert_params(&t, ((double[]){0.5, -1.25, 0.0}), 0.0, "sign descent");
    state_seen seen = {0};
    TU_ASSERT_OK(tnn_optimizer_visit_state(&s->base, "", collect, &seen)); /* stateless */
    assert_int_equal(seen.count, 0);
    tnn_optimizer_zero_grad(&s->base);
    assert_true(*t.g[0] == 0.0f);
    tnn_optimizer_free(&s->base);
    tnn_module_free(t.m);
}

/* A user-defined optimizer without its vtable's required entries, or whose base was
 * never filled: refused by name, as modules are (they were called through NULL). */
static void optimizer_user_defined_without_a_whole_vtable(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    static const tnn_optimizer_vtable no_step = {.type_name = "nostep", .free = sign_free};
    static const tnn_optimizer_vtable no_free = {.type_name = "nofree", .step = sign_step};
    sign_sgd s;
    memset(&s, 0, sizeof s);
    TU_ASSERT_ERR(tnn_optimizer_init(&s.base, &no_step, t.m), TNN_ERR_ARG, "vtable of 'nostep' has no step (required)",
                  NULL);
    TU_ASSERT_ERR(tnn_optimizer_init(&s.base, &no_free, t.m), TNN_ERR_ARG, "vtable of 'nofree' has no free (required)",
                  NULL);
    assert_null(s.base.vt);
    assert_null(s.base.params);
    /* never initialised */
    TU_ASSERT_ERR(tnn_optimizer_step(&s.base), TNN_ERR_ARG, "optimizer_step: the optimizer has no vtable", NULL);
    TU_ASSERT_ERR(tnn_optimizer_set_lr(&s.base, 0.1), TNN_ERR_ARG, "optimizer_set_lr: the optimizer has no vtable",
                  NULL);
    TU_ASSERT_ERR(tnn_optimizer_visit_state(&s.base, "", collect, NULL), TNN_ERR_ARG, "has no vtable", NULL);
    assert_true(isnan(tnn_optimizer_get_lr(&s.base)));
    tnn_optimizer_zero_grad(&s.base);
    tnn_optimizer_free(&s.base); /* logs, frees nothing: the struct is on the stack */
    tnn_module_free(t.m);
}

static void optimizer_bad_arguments(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    tnn_sgd_params sp = tnn_sgd_defaults();
    assert_null(tnn_sgd_new(NULL, sp));
    TU_ASSERT_MSG("sgd", "NULL", NULL);
    sp.lr = -1.0;
    assert_null(tnn_sgd_new(t.m, sp));
    TU_ASSERT_MSG("lr", NULL);
    sp = tnn_sgd_defaults();
    sp.nesterov = true; /* needs momentum */
    assert_null(tnn_sgd_new(t.m, sp));
    TU_ASSERT_MSG("nesterov", NULL);
    sp.momentum = 0.9;
    sp.dampening = 0.1; /* and no dampening */
    assert_null(tnn_sgd_new(t.m, sp));
    tnn_adam_params ap = tnn_adam_defaults();
    assert_null(tnn_adam_new(NULL, ap));
    ap.beta1 = 1.0;
    assert_null(tnn_adam_new(t.m, ap));
    TU_ASSERT_MSG("adam", "betas", NULL);
    ap = tnn_adam_defaults();
    ap.eps = -1e-8;
    assert_null(tnn_adam_new(t.m, ap));
    ap = tnn_adam_defaults();
    ap.lr = NAN;
    assert_null(tnn_adam_new(t.m, ap));
    /* settings that would turn the weights into infinities or NaN: not finite, or
     * finite as a double but not once rounded to float as the step rounds them */
    const double wild[] = {INFINITY, NAN, 1e300};
    for (int k = 0; k < 3; k++) {
        for (int f = 0; f < 3; f++) {
            ap = tnn_adam_defaults();
            *(f == 0 ? &ap.lr : f == 1 ? &ap.eps : &ap.weight_decay) = wild[k];
            assert_null(tnn_adam_new(t.m, ap));
            TU_ASSERT_MSG("adam", "finite in float", NULL);
        }
        for (int f = 0; f < 4; f++) {
            sp = tnn_sgd_defaults();
            *(f == 0 ? &sp.lr : f == 1 ? &sp.momentum : f == 2 ? &sp.dampening : &sp.weight_decay) = wild[k];
            assert_null(tnn_sgd_new(t.m, sp));
            TU_ASSERT_MSG("sgd", "finite in float", NULL);
        }
    }
    sp = tnn_sgd_defaults(); /* dampening of any finite value, as torch takes it */
    sp.momentum = 0.9;
    sp.dampening = -0.5;
    tnn_optimizer *ok = tnn_sgd_new(t.m, sp);
    assert_non_null(ok);
    TU_ASSERT_ERR(tnn_optimizer_set_lr(ok, 1e300), TNN_ERR_ARG, "sgd: learning rate 1e+300", "finite in float", NULL);
    TU_ASSERT_OK(tnn_optimizer_set_lr(ok, FLT_MAX));
    tnn_optimizer_free(ok);
    TU_ASSERT_ERR(tnn_optimizer_step(NULL), TNN_ERR_ARG, NULL);
    TU_ASSERT_ERR(tnn_optimizer_init(NULL, &sign_vt, t.m), TNN_ERR_ARG, NULL);
    tnn_module_free(t.m);

    /* Nothing to optimize: refused, as PyTorch refuses an empty parameter list. */
    tnn_module *empty = tnn_sequential_new(), *relu = tnn_relu_new();
    assert_null(tnn_adam_new(empty, tnn_adam_defaults()));
    TU_ASSERT_MSG("adam", "sequential(0 modules) has no parameters", NULL);
    assert_null(tnn_sgd_new(relu, tnn_sgd_defaults()));
    TU_ASSERT_MSG("sgd", "relu has no parameters", NULL);
    tnn_module_free(empty);
    tnn_module_free(relu);
}

/* The optimizers split their update over the library's threads in runs of chunks that
 * idle threads may take over: the weights and the optimizer state after three steps
 * must be the same bits on 1, 2 and 3 threads, over enough parameters for many chunks. */
typedef struct big_run {
    tnn_module *m;
    tnn_optimizer *o;
    state_seen state;
} big_run;

/* kind 0: SGD with momentum, 1: Adam, 2: AdamW, 3: Adam with amsgrad, 4: RMSprop with
 * momentum, centered; weight decay 0.01 in each. Kinds 3 and 4 on a tenth of the
 * parameters (still four chunks, for CI's valgrind stage's time). */
static void big_steps(big_run *r, int kind, int threads)
{
    tnn_parallel_set_threads(threads); /* the pool itself: 3 threads even on 2 cores */
    tnn_rng rng;
    tnn_rng_seed(&rng, 77);
    r->m = tnn_sequential_new();
    const int in = kind >= 3 ? 100 : 1000;
    TU_ASSERT_OK(tnn_sequential_add(r->m, tnn_linear_new(in, 600, true, &rng))); /* 600,600 parameters (60,600) */
    TU_ASSERT_OK(tnn_sequential_add(r->m, tnn_linear_new(600, 3, true, &rng)));
    tnn_sgd_params sp = tnn_sgd_defaults();
    sp.momentum = 0.9;
    sp.weight_decay = 0.01;
    tnn_adam_params ap = tnn_adam_defaults();
    ap.weight_decay = 0.01;
    ap.amsgrad = kind == 3;
    ap.beta2 = kind == 3 ? 0.5 : ap.beta2; /* second moments that fall below their maxima */
    tnn_adamw_params wp = tnn_adamw_defaults();
    wp.lr = 0.05; /* a decay factor of 1 - 5e-4: many last bits to get right */
    tnn_rmsprop_params rp = tnn_rmsprop_defaults();
    rp.momentum = 0.9;
    rp.centered = true;
    rp.weight_decay = 0.01;
    r->o = kind == 4 ? tnn_rmsprop_new(r->m, rp) : kind == 2 ? tnn_adamw_new(r->m, wp)
         : kind != 0 ? tnn_adam_new(r->m, ap) : tnn_sgd_new(r->m, sp);
    assert_non_null(r->o);
    for (int s = 0; s < 3; s++) {
        tnn_tensor_list *l = tnn_module_parameters(r->m, "");
        for (int k = 0; k < l->count; k++)
            for (size_t i = 0; i < l->items[k].count; i++) l->items[k].grad[i] = tnn_rng_uniform(&rng) - 0.5f;
        tnn_tensor_list_free(l);
        TU_ASSERT_OK(tnn_optimizer_step(r->o));
    }
    r->state.count = 0;
    TU_ASSERT_OK(tnn_optimizer_visit_state(r->o, "", collect, &r->state));
    tnn_parallel_set_threads(1);
}

static void big_free(big_run *r)
{
    tnn_optimizer_free(r->o);
    tnn_module_free(r->m);
}

static void optimizers_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    for (int kind = 0; kind < 5; kind++) {
        big_run one;
        big_steps(&one, kind, 1);
        tnn_tensor_list *want = tnn_module_parameters(one.m, "");
        for (int threads = 2; threads <= 3; threads++) {
            big_run r;
            big_steps(&r, kind, threads);
            tnn_tensor_list *got = tnn_module_parameters(r.m, "");
            assert_int_equal(got->count, want->count);
            for (int k = 0; k < got->count; k++)
                assert_memory_equal(got->items[k].data, want->items[k].data, want->items[k].count * sizeof(float));
            assert_int_equal(r.state.count, one.state.count);
            /* step + 3 per parameter (4 with amsgrad); 1 per parameter; RMSprop's 4 per parameter */
            assert_int_equal(r.state.count, kind == 4 ? 16 : kind == 3 ? 17 : kind ? 13 : 4);
            for (int k = 0; k < r.state.count; k++) {
                size_t bytes = r.state.items[k].count * (r.state.items[k].dtype == TNN_I64 ? 8 : 4);
                assert_memory_equal(r.state.items[k].data, one.state.items[k].data, bytes);
            }
            tnn_tensor_list_free(got);
            big_free(&r);
        }
        tnn_tensor_list_free(want);
        big_free(&one);
    }
}

/* Parameters without a gradient (PyTorch: .grad is None) are left alone, with their
 * optimizer state: a frozen layer, and a layer whose gradients were discarded and that
 * had no backward since. Two layers, [Linear(3 -> 4), Linear(4 -> 2)]; after two
 * trained steps (so that moments and momentum are non-zero) the first is frozen: its
 * weights and state must not move, and the second must follow exactly the run of an
 * optimizer created over it alone. */
typedef struct two_layers {
    tnn_module *net, *l0, *l1;
    tnn_tensor *x, *dy;
} two_layers;

static two_layers two_new(void)
{
    two_layers t;
    tnn_rng r;
    tnn_rng_seed(&r, 21);
    t.net = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(t.net, tnn_linear_new(3, 4, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(t.net, tnn_linear_new(4, 2, true, &r)));
    t.l0 = tnn_sequential_get(t.net, 0);
    t.l1 = tnn_sequential_get(t.net, 1);
    t.x = tu_rand_tensor(&r, 5, 3, -1.0f, 1.0f);
    t.dy = tu_rand_tensor(&r, 5, 2, -1.0f, 1.0f);
    return t;
}

static void two_step(two_layers *t, tnn_optimizer *o, bool backward)
{
    const tnn_tensor *y;
    tnn_optimizer_discard_grad(o);
    if (backward) {
        TU_ASSERT_OK(tnn_module_forward(t->net, t->x, &y));
        TU_ASSERT_OK(tnn_module_backward(t->net, t->dy, NULL));
    }
    TU_ASSERT_OK(tnn_optimizer_step(o));
}

static void two_free(two_layers *t)
{
    tnn_module_free(t->net);
    tnn_tensor_free(t->x);
    tnn_tensor_free(t->dy);
}

typedef struct snap {
    unsigned char *bytes;
    size_t n;
} snap;

static tnn_status snap_one(void *ctx, const tnn_named_tensor *t)
{
    snap *s = ctx;
    size_t sz = t->count * (t->dtype == TNN_I64 ? 8 : 4);
    s->bytes = realloc(s->bytes, s->n + sz);
    memcpy(s->bytes + s->n, t->data, sz);
    s->n += sz;
    return TNN_OK;
}

static snap snap_module(tnn_module *m, tnn_optimizer *o, const char *state_prefix)
{
    snap s = {NULL, 0};
    TU_ASSERT_OK(tnn_module_visit(m, "", snap_one, &s));
    if (o) TU_ASSERT_OK(tnn_optimizer_visit_state(o, state_prefix, snap_one, &s));
    return s;
}

static void optimizers_skip_parameters_without_gradient(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) { /* Adam, SGD with momentum */
        two_layers a = two_new(), b = two_new();
        tnn_sgd_params sp = tnn_sgd_defaults();
        sp.momentum = 0.9;
        sp.lr = 0.1;
        tnn_optimizer *oa = kind == 0 ? tnn_adam_new(a.net, tnn_adam_defaults()) : tnn_sgd_new(a.net, sp);
        assert_non_null(oa);
        two_step(&a, oa, true);
        two_step(&a, oa, true);

        /* Frozen: l0 and all of its state stay; l1 trains. */
        tnn_module_set_requires_grad(a.l0, false);
        tnn_tensor_list *st = tnn_tensor_list_new();
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(st, oa, "opt."));
        snap before = snap_module(a.l0, NULL, NULL);
        float m0[12];
        memcpy(m0, tnn_tensor_list_find(st, kind == 0 ? "opt.0.weight.exp_avg" : "opt.0.weight.momentum_buffer")->data,
               sizeof m0);
        two_step(&a, oa, true);
        two_step(&a, oa, true);
        snap after = snap_module(a.l0, NULL, NULL);
        assert_int_equal(before.n, after.n);
        assert_memory_equal(before.bytes, after.bytes, before.n);
        assert_memory_equal(m0, tnn_tensor_list_find(st, kind == 0 ? "opt.0.weight.exp_avg" : "opt.0.weight.momentum_buffer")->data,
                            sizeof m0);
        tnn_tensor_list *pl = tnn_module_parameters(a.net, "");
        assert_true(pl->items[0].no_grad && pl->items[1].no_grad);
        assert_false(pl->items[2].no_grad || pl->items[3].no_grad);
        tnn_tensor_list_free(pl);

        /* Unfrozen, but its gradients discarded and no backward: still left alone. */
        tnn_module_set_requires_grad(a.l0, true);
        two_step(&a, oa, false);
        snap again = snap_module(a.l0, NULL, NULL);
        assert_memory_equal(before.bytes, again.bytes, before.n);
        /* zero_grad after the discard does not give it a gradient (nor does torch's on a None .grad) */
        tnn_optimizer_discard_grad(oa);
        tnn_optimizer_zero_grad(oa);
        TU_ASSERT_OK(tnn_optimizer_step(oa));
        snap zeroed = snap_module(a.l0, NULL, NULL);
        assert_memory_equal(before.bytes, zeroed.bytes, before.n);
        free(zeroed.bytes);
        /* A backward gives it a gradient again: it moves. */
        two_step(&a, oa, true);
        snap moved = snap_module(a.l0, NULL, NULL);
        assert_true(memcmp(before.bytes, moved.bytes, before.n) != 0);

        free(before.bytes);
        free(after.bytes);
        free(again.bytes);
        free(moved.bytes);
        tnn_tensor_list_free(st);
        tnn_optimizer_free(oa);
        two_free(&a);

        /* Frozen from the start is the same as an optimizer over the rest: l0 frozen in
         * a net-wide optimizer (a) against an optimizer over l1 alone (b), three steps. */
        a = two_new();
        tnn_optimizer *o1 = kind == 0 ? tnn_adam_new(a.net, tnn_adam_defaults()) : tnn_sgd_new(a.net, sp);
        tnn_optimizer *o2 = kind == 0 ? tnn_adam_new(b.l1, tnn_adam_defaults()) : tnn_sgd_new(b.l1, sp);
        assert_true(o1 && o2);
        snap l0_start = snap_module(a.l0, NULL, NULL);
        tnn_module_set_requires_grad(a.l0, false);
        for (int i = 0; i < 3; i++) {
            two_step(&a, o1, true);
            two_step(&b, o2, true);
        }
        snap l0_end = snap_module(a.l0, NULL, NULL), s1 = snap_module(a.l1, NULL, NULL), s2 = snap_module(b.l1, NULL, NULL);
        assert_memory_equal(l0_start.bytes, l0_end.bytes, l0_start.n);
        assert_int_equal(s1.n, s2.n);
        assert_memory_equal(s1.bytes, s2.bytes, s1.n);
        free(l0_start.bytes);
        free(l0_end.bytes);
        free(s1.bytes);
        free(s2.bytes);
        tnn_optimizer_free(o1);
        tnn_optimizer_free(o2);
        two_free(&a);
        two_free(&b);
    }
}

/* With zero_grad (not discard), a frozen layer's gradients are zeros, not "none": a
 * step still moves it by its momentum, as torch 1.13's default zero_grad() does. */
static void frozen_with_zero_grad_moves_by_momentum(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_sgd_params sp = tnn_sgd_defaults();
    sp.momentum = 0.9;
    sp.lr = 0.1;
    tnn_optimizer *o = tnn_sgd_new(t.net, sp);
    assert_non_null(o);
    const tnn_tensor *y;
    for (int i = 0; i < 2; i++) {
        tnn_optimizer_zero_grad(o);
        TU_ASSERT_OK(tnn_module_forward(t.net, t.x, &y));
        TU_ASSERT_OK(tnn_module_backward(t.net, t.dy, NULL));
        if (i == 1) tnn_module_set_requires_grad(t.l0, false); /* frozen after its backward */
        snap before = snap_module(t.l0, NULL, NULL);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        snap after = snap_module(t.l0, NULL, NULL);
        assert_true(memcmp(before.bytes, after.bytes, before.n) != 0); /* it has a gradient: updated */
        free(before.bytes);
        free(after.bytes);
    }
    tnn_optimizer_zero_grad(o);
    TU_ASSERT_OK(tnn_module_forward(t.net, t.x, &y));
    TU_ASSERT_OK(tnn_module_backward(t.net, t.dy, NULL)); /* writes no gradient for l0 */
    snap before = snap_module(t.l0, NULL, NULL);
    TU_ASSERT_OK(tnn_optimizer_step(o));
    snap after = snap_module(t.l0, NULL, NULL);
    assert_true(memcmp(before.bytes, after.bytes, before.n) != 0); /* zero gradient, momentum moves it */
    free(before.bytes);
    free(after.bytes);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* Training, saving the model and optimizer state, loading both into new objects and
 * training on gives the same bits as training straight through (a checkpoint resumed).
 * SGD's momentum buffers must count as started after such a load. */
static void copy_state(tnn_module *from_m, tnn_optimizer *from_o, tnn_module *to_m, tnn_optimizer *to_o)
{
    tnn_tensor_list *a = tnn_tensor_list_new(), *b = tnn_tensor_list_new();
    TU_ASSERT_OK(tnn_tensor_list_add_module(a, from_m, "m."));
    TU_ASSERT_OK(tnn_tensor_list_add_optimizer(a, from_o, "o."));
    TU_ASSERT_OK(tnn_tensor_list_add_module(b, to_m, "m."));
    TU_ASSERT_OK(tnn_tensor_list_add_optimizer(b, to_o, "o."));
    assert_int_equal(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        assert_string_equal(a->items[i].name, b->items[i].name);
        memcpy(b->items[i].data, a->items[i].data, a->items[i].count * tnn_dtype_size(a->items[i].dtype));
    }
    tnn_tensor_list_free(a);
    tnn_tensor_list_free(b);
}

/* kind 0: Adam (defaults), 3: Adam with amsgrad, else SGD with sp. */
static tnn_optimizer *resume_opt(int kind, const tnn_sgd_params *sp, tnn_module *m)
{
    tnn_adam_params ap = tnn_adam_defaults();
    ap.amsgrad = kind == 3;
    return kind == 0 || kind == 3 ? tnn_adam_new(m, ap) : tnn_sgd_new(m, *sp);
}

/* One model trained before + after steps straight; another trained `before` steps, its
 * state copied into a third (passed through edit, if not NULL), which trains `after`
 * more: the first and the third must hold the same bits, parameters and optimizer
 * state alike. kind as resume_opt's. */
static void check_resume(int kind, const tnn_sgd_params *sp, int before, int after, tnn_visit_fn edit)
{
    two_layers a = two_new(), b = two_new(), c = two_new();
    tnn_optimizer *oa = resume_opt(kind, sp, a.net), *ob = resume_opt(kind, sp, b.net), *oc = resume_opt(kind, sp, c.net);
    for (int i = 0; i < before + after; i++) two_step(&a, oa, true);
    for (int i = 0; i < before; i++) two_step(&b, ob, true);
    copy_state(b.net, ob, c.net, oc); /* c resumes where b stopped */
    if (edit) TU_ASSERT_OK(tnn_optimizer_visit_state(oc, "", edit, NULL));
    for (int i = 0; i < after; i++) two_step(&c, oc, true);
    snap sa = snap_module(a.net, oa, "o."), sc = snap_module(c.net, oc, "o.");
    assert_int_equal(sa.n, sc.n);
    if (memcmp(sa.bytes, sc.bytes, sa.n) != 0) fail_msg("kind %d: the resumed run differs", kind);
    free(sa.bytes);
    free(sc.bytes);
    tnn_optimizer_free(oa);
    tnn_optimizer_free(ob);
    tnn_optimizer_free(oc);
    two_free(&a);
    two_free(&b);
    two_free(&c);
}

static void optimizers_resume_from_saved_state(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) { /* Adam, SGD with momentum, and with dampening */
        tnn_sgd_params sp = tnn_sgd_defaults();
        sp.momentum = 0.9;
        sp.dampening = kind == 2 ? 0.5 : 0.0;
        sp.lr = 0.1;
        check_resume(kind, &sp, 1, 2, NULL);
    }
}

/* A momentum buffer starts at its own parameter's first update, as a copy of the
 * gradient (PyTorch), even when other parameters were updated before: with dampening
 * 0.5, a layer frozen at the first step moves by lr * g at its first update, not by
 * lr * 0.5 * g. */
static void sgd_buffer_starts_at_its_parameters_first_update(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_sgd_params sp = tnn_sgd_defaults();
    sp.momentum = 0.9;
    sp.dampening = 0.5;
    sp.lr = 0.1;
    tnn_optimizer *o = tnn_sgd_new(t.net, sp);
    assert_non_null(o);
    tnn_module_set_requires_grad(t.l0, false);
    two_step(&t, o, true); /* l1 only */
    tnn_module_set_requires_grad(t.l0, true);
    const tnn_tensor *y;
    tnn_optimizer_discard_grad(o);
    TU_ASSERT_OK(tnn_module_forward(t.net, t.x, &y));
    TU_ASSERT_OK(tnn_module_backward(t.net, t.dy, NULL));
    tnn_tensor_list *p = tnn_module_parameters(t.l0, "");
    tnn_named_tensor *w = &p->items[0];
    float *before = malloc(w->count * sizeof(float)), *g = malloc(w->count * sizeof(float));
    memcpy(before, w->data, w->count * sizeof(float));
    memcpy(g, w->grad, w->count * sizeof(float));
    TU_ASSERT_OK(tnn_optimizer_step(o));
    for (size_t i = 0; i < w->count; i++) {
        float want = fmaf(g[i], -0.1f, before[i]); /* buf = g; p -= lr * buf */
        if (((float *)w->data)[i] != want) fail_msg("element %zu: %.9g, want %.9g", i, ((float *)w->data)[i], want);
    }
    free(before);
    free(g);
    tnn_tensor_list_free(p);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* A layer added after the optimizer was created is reported at the next step instead
 * of being silently left untrained. */
static void optimizer_step_refuses_a_changed_model(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_optimizer *o = tnn_adam_new(t.net, tnn_adam_defaults());
    assert_non_null(o);
    TU_ASSERT_OK(tnn_sequential_add(t.net, tnn_linear_new(2, 2, true, NULL)));
    TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "parameters changed since the optimizer was created", "'2.weight' is new",
                  NULL);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* Adam's step count comes from a loaded checkpoint as any I64: -1 would turn every
 * parameter into NaN, 2^63 - 1 overflow on the next step. Both are refused, and
 * nothing moves. */
static tnn_status find_step(void *ctx, const tnn_named_tensor *t)
{
    if (!strcmp(t->name, "step")) *(int64_t **)ctx = t->data;
    return TNN_OK;
}

typedef struct named_count {
    const char *name;
    int64_t *count;
} named_count;

static tnn_status find_named_count(void *ctx, const tnn_named_tensor *t)
{
    named_count *c = ctx;
    if (!strcmp(t->name, c->name) && t->dtype == TNN_I64) c->count = t->data;
    return TNN_OK;
}

/* An Adam step count by state name ("step", "0.weight.step", ...). */
static int64_t *adam_count(tnn_optimizer *o, const char *name)
{
    named_count c = {name, NULL};
    TU_ASSERT_OK(tnn_optimizer_visit_state(o, "", find_named_count, &c));
    if (!c.count) fail_msg("no state '%s'", name);
    return c.count;
}

static void adam_refuses_a_step_count_out_of_range(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_optimizer *o = tnn_adam_new(t.net, tnn_adam_defaults());
    assert_non_null(o);
    int64_t *step = NULL;
    TU_ASSERT_OK(tnn_optimizer_visit_state(o, "", find_step, &step));
    assert_non_null(step);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(t.net, t.x, &y));
    TU_ASSERT_OK(tnn_module_backward(t.net, t.dy, NULL));
    tnn_tensor_list *p = tnn_module_parameters(t.net, "");
    float w0 = ((float *)p->items[0].data)[0];
    const int64_t bad[] = {-1, INT64_MIN, INT64_MAX};
    for (int i = 0; i < 3; i++) {
        *step = bad[i];
        TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "adam: step count", "cannot be counted on", NULL);
        assert_true(*step == bad[i]);
        assert_true(((float *)p->items[0].data)[0] == w0);
    }
    *step = INT64_MAX - 1; /* the last count that can still be taken */
    TU_ASSERT_OK(tnn_optimizer_step(o));
    assert_true(*step == INT64_MAX);
    tnn_tensor_list_free(p);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* Adam counts each parameter's own updates, as PyTorch's state['step'] does: a layer
 * frozen for the first three steps has its first update at the fourth, with the bias
 * corrections of step 1. Checked bit for bit against an Adam created over that layer
 * alone at the fourth step (the updates of different parameters are independent). */
static void adam_counts_each_parameters_own_updates(void **state)
{
    (void)state;
    two_layers a = two_new(), b = two_new();
    tnn_optimizer *oa = tnn_adam_new(a.net, tnn_adam_defaults());
    tnn_optimizer *ob1 = tnn_adam_new(b.l1, tnn_adam_defaults());
    assert_non_null(oa);
    assert_non_null(ob1);
    tnn_module_set_requires_grad(a.l0, false);
    tnn_module_set_requires_grad(b.l0, false);
    for (int i = 0; i < 3; i++) {
        two_step(&a, oa, true);
        two_step(&b, ob1, true);
    }
    assert_true(*adam_count(oa, "step") == 3);
    assert_true(*adam_count(oa, "0.weight.step") == 0);
    assert_true(*adam_count(oa, "1.bias.step") == 3);
    tnn_module_set_requires_grad(a.l0, true);
    tnn_module_set_requires_grad(b.l0, true);
    tnn_optimizer *ob0 = tnn_adam_new(b.l0, tnn_adam_defaults());
    assert_non_null(ob0);
    two_step(&a, oa, true);
    const tnn_tensor *y;
    tnn_module_discard_grad(b.net);
    TU_ASSERT_OK(tnn_module_forward(b.net, b.x, &y));
    TU_ASSERT_OK(tnn_module_backward(b.net, b.dy, NULL));
    TU_ASSERT_OK(tnn_optimizer_step(ob0));
    TU_ASSERT_OK(tnn_optimizer_step(ob1));
    assert_true(*adam_count(oa, "step") == 4);
    assert_true(*adam_count(oa, "0.weight.step") == 1);
    assert_true(*adam_count(oa, "0.bias.step") == 1);
    assert_true(*adam_count(oa, "1.weight.step") == 4);
    snap sa = snap_module(a.net, NULL, NULL), sb = snap_module(b.net, NULL, NULL);
    assert_int_equal(sa.n, sb.n);
    if (memcmp(sa.bytes, sb.bytes, sa.n) != 0) fail_msg("the layer frozen at first did not move as a fresh Adam's");
    free(sa.bytes);
    free(sb.bytes);
    tnn_optimizer_free(oa);
    tnn_optimizer_free(ob0);
    tnn_optimizer_free(ob1);
    two_free(&a);
    two_free(&b);
}

/* A new layer's gradients are zeros that count (so that they can be written by hand): a
 * step before any backward moves a weight by its decay and counts for Adam. Discarding
 * them once after building the model gives PyTorch's start (.grad None): that step
 * leaves the weights and every count alone. (docs/parity.md, "Known differences") */
static void new_model_gradients_count_until_discarded(void **state)
{
    (void)state;
    tnn_adam_params p = tnn_adam_defaults();
    p.weight_decay = 0.1;
    for (int discard = 0; discard < 2; discard++) {
        tiny t = tiny_new(W0);
        tnn_optimizer *o = tnn_adam_new(t.m, p);
        assert_non_null(o);
        if (discard) tnn_optimizer_discard_grad(o);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        assert_true(*adam_count(o, "step") == 1);
        assert_true(*adam_count(o, "0.weight.step") == (discard ? 0 : 1));
        assert_true(*adam_count(o, "0.bias.step") == (discard ? 0 : 1));
        if (discard) {
            for (int i = 0; i < NP; i++) assert_true(*t.p[i] == (float)W0[i]);
        } else {
            assert_true(*t.p[0] != (float)W0[0]);
        }
        tnn_optimizer_free(o);
        tnn_module_free(t.m);
    }
}

/* torch applies weight decay when weight_decay != 0 as a double: a decay that rounds to
 * 0 in float still adds param * 0, which is NaN for an infinite weight (and nothing for
 * a finite one). */
static void tiny_weight_decay_is_applied_as_torch_decides(void **state)
{
    (void)state;
    const double w[NP] = {INFINITY, 0.5, -0.25};
    for (int kind = 0; kind < 3; kind++) { /* SGD, Adam, RMSprop */
        tiny t = tiny_new(w);
        tnn_sgd_params sp = tnn_sgd_defaults();
        sp.weight_decay = 1e-50;
        tnn_adam_params ap = tnn_adam_defaults();
        ap.weight_decay = 1e-50;
        tnn_rmsprop_params rp = tnn_rmsprop_defaults();
        rp.weight_decay = 1e-50;
        tnn_optimizer *o = kind == 2 ? tnn_rmsprop_new(t.m, rp) : kind ? tnn_adam_new(t.m, ap) : tnn_sgd_new(t.m, sp);
        assert_non_null(o);
        set_grads(&t, G[0]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        assert_true(isnan(*t.p[0]));
        assert_true(isfinite(*t.p[1]) && isfinite(*t.p[2]));
        tnn_optimizer_free(o);
        tnn_module_free(t.m);
    }
}

static tnn_status zero_param_counts(void *ctx, const tnn_named_tensor *t)
{
    (void)ctx;
    size_t n = strlen(t->name);
    if (t->dtype == TNN_I64 && n > 5 && !strcmp(t->name + n - 5, ".step")) *(int64_t *)t->data = 0;
    return TNN_OK;
}

/* A state saved by libtinynn 0.2 has one step count and no per-parameter counts; loaded
 * into a new Adam (non-strict), those stay 0 beside loaded moments. Such a parameter
 * goes on from the optimizer's count, so the run continues exactly as in 0.2 (where
 * every parameter was updated at every step, the same as an uninterrupted run). */
static void adam_resumes_a_state_without_per_parameter_counts(void **state)
{
    (void)state;
    check_resume(0, NULL, 2, 2, zero_param_counts);
}

/* A per-parameter count out of range is refused by name before anything changes; a
 * parameter without a gradient at that step is not looked at. */
static void adam_refuses_a_parameter_count_out_of_range(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_optimizer *o = tnn_adam_new(t.net, tnn_adam_defaults());
    assert_non_null(o);
    two_step(&t, o, true);
    int64_t *wc = adam_count(o, "1.weight.step"), *step = adam_count(o, "step");
    tnn_tensor_list *p = tnn_module_parameters(t.net, "");
    float w0 = ((float *)p->items[0].data)[0];
    const tnn_tensor *y;
    const int64_t bad[] = {-1, INT64_MAX};
    for (int i = 0; i < 2; i++) {
        *wc = bad[i];
        tnn_optimizer_discard_grad(o);
        TU_ASSERT_OK(tnn_module_forward(t.net, t.x, &y));
        TU_ASSERT_OK(tnn_module_backward(t.net, t.dy, NULL));
        TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "adam: '1.weight' has step count", "cannot be counted on",
                      NULL);
        assert_true(*wc == bad[i]);
        assert_true(*step == 1);
        assert_true(((float *)p->items[0].data)[0] == w0);
    }
    tnn_module_set_requires_grad(t.l1, false); /* l1 skipped: its count is not looked at */
    two_step(&t, o, true);
    assert_true(*wc == INT64_MAX);
    assert_true(*step == 2);
    assert_true(((float *)p->items[0].data)[0] != w0);
    tnn_tensor_list_free(p);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* ---------------- AdamW ---------------- */

/* torch.optim.AdamW, in double:
 *   w *= 1 - lr * wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * with the gradient as it is (no L2 term). lr2 (if not 0) is set before the third
 * step, and both the decay and the step take it. */
static void adamw_case(tnn_adamw_params p, double lr2, const char *what)
{
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_adamw_new(t.m, p);
    assert_non_null(o);
    assert_string_equal(o->vt->type_name, "adamw");
    assert_int_equal(tnn_adam_step_count(o), 0);
    double w[NP], m[NP] = {0}, v[NP] = {0}, vmax[NP] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 1; s <= 3; s++) {
        if (s == 3 && lr2 != 0.0) {
            TU_ASSERT_OK(tnn_optimizer_set_lr(o, lr2));
            p.lr = lr2;
        }
        set_grads(&t, G[s - 1]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            const double g = G[s - 1][i];
            w[i] *= 1.0 - p.lr * p.weight_decay;
            m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g;
            v[i] = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
            vmax[i] = fmax(vmax[i], v[i]);
            double mhat = m[i] / (1.0 - pow(p.beta1, s)), vhat = (p.amsgrad ? vmax[i] : v[i]) / (1.0 - pow(p.beta2, s));
            w[i] -= p.lr * mhat / (sqrt(vhat) + p.eps);
        }
        char step[96];
        snprintf(step, sizeof step, "%s, step %d", what, s);
        assert_params(&t, w, 1e-6, step);
        assert_int_equal(tnn_adam_step_count(o), s);
    }
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
}

static void adamw_three_steps(void **state)
{
    (void)state;
    tnn_adamw_params p = tnn_adamw_defaults();
    assert_true(p.lr == 1e-3 && p.beta1 == 0.9 && p.beta2 == 0.999 && p.eps == 1e-8 && p.weight_decay == 1e-2 &&
                !p.amsgrad);
    adamw_case(p, 0.0, "adamw defaults");
    p.lr = 0.1; /* a decay of 5% a step, far above float32 rounding */
    p.weight_decay = 0.5;
    adamw_case(p, 0.0, "adamw weight_decay 0.5");
    adamw_case(p, 0.4, "adamw lr 0.1 then 0.4"); /* the decay takes the new lr too */
    p.beta1 = 0.5;
    p.beta2 = 0.75;
    p.eps = 0.1;
    p.weight_decay = 0.0;
    adamw_case(p, 0.0, "adamw betas (0.5, 0.75), eps 0.1, no decay");
    p.eps = 1e-8;
    p.weight_decay = 0.5;
    p.amsgrad = true;
    adamw_case(p, 0.4, "adamw amsgrad, betas (0.5, 0.75), lr 0.1 then 0.4");
}

/* With zero gradients the moments stay 0 and the update adds -step_size * 0 / eps = 0:
 * a step is the decay alone, w * (float)(1 - lr * wd), the factor computed in double and
 * rounded to float before the float product, as torch's param.mul_(1 - lr * wd) does
 * (measured on 10^6 values; the product in double, rounded once, differs on about a
 * third of them). The weights here include ones where the two rules differ. AdamW with
 * weight_decay 0 is Adam without weight decay, bit for bit; with a decay it is not
 * Adam's L2 decay. */
static void adamw_decay_rounds_as_torch(void **state)
{
    (void)state;
    const double lr = 0.1, wd = 0.3;
    const float keep = (float)(1.0 - lr * wd);
    float w0[NP];
    int double_differs = 0;
    /* weights for which the product in double rounds otherwise than torch's */
    for (int i = 0, k = 1; i < NP; k++) {
        float x = 0.75f + (float)k * 0.0123f * (i == 2 ? -1.0f : 1.0f);
        if (x * keep != (float)((double)x * (1.0 - lr * wd))) w0[i++] = x;
        assert_true(k < 1000);
    }
    const double wstart[NP] = {w0[0], w0[1], w0[2]};
    tiny t = tiny_new(wstart);
    tnn_adamw_params p = tnn_adamw_defaults();
    p.lr = lr;
    p.weight_decay = wd;
    tnn_optimizer *o = tnn_adamw_new(t.m, p);
    assert_non_null(o);
    float want[NP];
    for (int i = 0; i < NP; i++) want[i] = w0[i];
    for (int s = 0; s < 3; s++) {
        set_grads(&t, (const double[NP]){0.0, 0.0, 0.0});
        TU_ASSERT_OK(tnn_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            double_differs += want[i] * keep != (float)((double)want[i] * (1.0 - lr * wd));
            want[i] = want[i] * keep;
            if (*t.p[i] != want[i]) fail_msg("step %d, weight %d: %.9g, torch's rounding gives %.9g", s + 1, i, *t.p[i], want[i]);
        }
    }
    assert_true(double_differs >= 3); /* the test tells the two roundings apart */
    tnn_optimizer_free(o);
    tnn_module_free(t.m);

    /* weight_decay 0: the same bits as Adam without decay (torch multiplies by 1). */
    tiny a = tiny_new(W0), b = tiny_new(W0);
    tnn_adamw_params wp = tnn_adamw_defaults();
    wp.weight_decay = 0.0;
    wp.lr = 0.05;
    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.05;
    tnn_optimizer *ow = tnn_adamw_new(a.m, wp), *oa = tnn_adam_new(b.m, ap);
    assert_true(ow && oa);
    for (int s = 0; s < 3; s++) {
        set_grads(&a, G[s]);
        set_grads(&b, G[s]);
        TU_ASSERT_OK(tnn_optimizer_step(ow));
        TU_ASSERT_OK(tnn_optimizer_step(oa));
    }
    for (int i = 0; i < NP; i++) assert_true(*a.p[i] == *b.p[i]);
    tnn_optimizer_free(ow);
    tnn_optimizer_free(oa);
    tnn_module_free(a.m);
    tnn_module_free(b.m);

    /* With a decay: not Adam's L2 decay of the same size. */
    a = tiny_new(W0);
    b = tiny_new(W0);
    wp.weight_decay = ap.weight_decay = 0.5;
    ow = tnn_adamw_new(a.m, wp);
    oa = tnn_adam_new(b.m, ap);
    set_grads(&a, G[0]);
    set_grads(&b, G[0]);
    TU_ASSERT_OK(tnn_optimizer_step(ow));
    TU_ASSERT_OK(tnn_optimizer_step(oa));
    for (int i = 0; i < NP; i++) assert_true(*a.p[i] != *b.p[i]);
    tnn_optimizer_free(ow);
    tnn_optimizer_free(oa);
    tnn_module_free(a.m);
    tnn_module_free(b.m);
}

/* Each bad setting is refused and named, as torch names it ("Invalid beta parameter
 * at index 0: ..."); so are a NULL module, one without parameters, and a bad lr later. */
static void adamw_bad_arguments(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    assert_null(tnn_adamw_new(NULL, tnn_adamw_defaults()));
    TU_ASSERT_MSG("adamw: module is NULL", NULL);
    const struct {
        const char *what;
        double v;
        const char *want;
    } bad[] = {
        {"lr", -1e-3, "adamw: lr -0.001 must be >= 0"},
        {"lr", NAN, "adamw: lr nan must be >= 0 and finite in float"},
        {"lr", 1e300, "adamw: lr 1e+300 must be >= 0 and finite in float"},
        {"beta1", 1.0, "adamw: beta1 1 must be in [0, 1)"},
        {"beta1", -0.1, "adamw: beta1 -0.1 must be in [0, 1)"},
        {"beta2", 1.5, "adamw: beta2 1.5 must be in [0, 1)"},
        {"beta2", NAN, "adamw: beta2 nan must be in [0, 1)"},
        {"eps", -1e-8, "adamw: eps -1e-08 must be >= 0"},
        {"eps", INFINITY, "adamw: eps inf must be >= 0 and finite in float"},
        {"weight_decay", -0.01, "adamw: weight_decay -0.01 must be >= 0"},
        {"weight_decay", 1e39, "adamw: weight_decay 1e+39 must be >= 0 and finite in float"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tnn_adamw_params p = tnn_adamw_defaults();
        double *f = !strcmp(bad[k].what, "lr") ? &p.lr : !strcmp(bad[k].what, "beta1") ? &p.beta1
                  : !strcmp(bad[k].what, "beta2") ? &p.beta2 : !strcmp(bad[k].what, "eps") ? &p.eps : &p.weight_decay;
        *f = bad[k].v;
        assert_null(tnn_adamw_new(t.m, p));
        TU_ASSERT_MSG(bad[k].want, NULL);
    }
    /* the edges torch takes: lr, eps, weight_decay and both betas 0; FLT_MAX */
    tnn_adamw_params p = tnn_adamw_defaults();
    p.lr = p.beta1 = p.beta2 = p.eps = p.weight_decay = 0.0;
    tnn_optimizer *o = tnn_adamw_new(t.m, p);
    assert_non_null(o);
    TU_ASSERT_ERR(tnn_optimizer_set_lr(o, -1.0), TNN_ERR_ARG, "adamw: learning rate -1", NULL);
    TU_ASSERT_OK(tnn_optimizer_set_lr(o, FLT_MAX));
    assert_true(tnn_optimizer_get_lr(o) == FLT_MAX);
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
    tnn_module *empty = tnn_sequential_new();
    assert_null(tnn_adamw_new(empty, tnn_adamw_defaults()));
    TU_ASSERT_MSG("adamw", "sequential(0 modules) has no parameters", NULL);
    tnn_module_free(empty);
}

/* A layer without gradients (frozen, or discarded with no backward since) is left
 * alone: no decay, no moments, no count, as torch skips a .grad of None. */
static void adamw_skips_parameters_without_gradient(void **state)
{
    (void)state;
    two_layers a = two_new();
    tnn_adamw_params p = tnn_adamw_defaults();
    p.lr = 0.1;
    p.weight_decay = 0.5;
    tnn_optimizer *o = tnn_adamw_new(a.net, p);
    assert_non_null(o);
    two_step(&a, o, true);
    two_step(&a, o, true);
    tnn_module_set_requires_grad(a.l0, false);
    snap before = snap_module(a.l0, NULL, NULL);
    int64_t *c0 = adam_count(o, "adamw.0.weight.step"), *c1 = adam_count(o, "adamw.1.weight.step");
    tnn_tensor_list *st = tnn_tensor_list_new();
    TU_ASSERT_OK(tnn_tensor_list_add_optimizer(st, o, ""));
    float m0[12];
    memcpy(m0, tnn_tensor_list_find(st, "adamw.0.weight.exp_avg")->data, sizeof m0);
    two_step(&a, o, true);
    two_step(&a, o, true);
    tnn_module_set_requires_grad(a.l0, true);
    two_step(&a, o, false); /* unfrozen, gradients discarded, no backward */
    snap after = snap_module(a.l0, NULL, NULL);
    assert_memory_equal(before.bytes, after.bytes, before.n);
    assert_memory_equal(m0, tnn_tensor_list_find(st, "adamw.0.weight.exp_avg")->data, sizeof m0);
    assert_true(*c0 == 2 && *c1 == 4);
    assert_int_equal(tnn_adam_step_count(o), 5);
    two_step(&a, o, true);
    snap moved = snap_module(a.l0, NULL, NULL);
    assert_true(memcmp(before.bytes, moved.bytes, before.n) != 0);
    assert_true(*c0 == 3 && *c1 == 5);
    free(before.bytes);
    free(after.bytes);
    free(moved.bytes);
    tnn_tensor_list_free(st);
    tnn_optimizer_free(o);
    two_free(&a);
}

/* Once created, an optimizer's step allocates nothing (its state is sized at
 * creation), on one thread or three, and neither do set_lr, get_lr and zero_grad. */
static void optimizer_steps_allocate_nothing(void **state)
{
    (void)state;
    for (int kind = 0; kind < 5; kind++) { /* SGD with momentum, Adam, AdamW, Adam with amsgrad, RMSprop */
        for (int threads = 1; threads <= 3; threads += 2) {
            big_run r;
            big_steps(&r, kind, threads); /* three steps: every buffer has started */
            tnn_parallel_set_threads(threads);
            tnn_tensor_list *l = tnn_module_parameters(r.m, "");
            tu_alloc_install(-1);
            for (int s = 0; s < 3; s++) {
                TU_ASSERT_OK(tnn_optimizer_set_lr(r.o, tnn_optimizer_get_lr(r.o) * 0.5));
                TU_ASSERT_OK(tnn_optimizer_step(r.o));
            }
            tnn_module_set_requires_grad(tnn_sequential_get(r.m, 0), false); /* a skipped layer too */
            tnn_optimizer_discard_grad(r.o);
            TU_ASSERT_OK(tnn_optimizer_step(r.o));
            tnn_optimizer_zero_grad(r.o);
            TU_ASSERT_OK(tnn_optimizer_step(r.o));
            long count = tu_alloc_count();
            tu_alloc_uninstall();
            if (count != 0) fail_msg("kind %d, %d threads: %ld allocations in the steps", kind, threads, count);
            tnn_parallel_set_threads(1);
            tnn_tensor_list_free(l);
            big_free(&r);
        }
    }
}

/* A training run saved to a file mid-way (model and AdamW state, tnn_safetensors_save)
 * and loaded strictly into a new model and a new AdamW goes on with the same bits as
 * the run that was not interrupted, also across an lr change and a frozen layer. */
static tnn_tensor_list *checkpoint_list(tnn_module *m, tnn_optimizer *o)
{
    tnn_tensor_list *l = tnn_tensor_list_new();
    assert_non_null(l);
    TU_ASSERT_OK(tnn_tensor_list_add_module(l, m, "model."));
    TU_ASSERT_OK(tnn_tensor_list_add_optimizer(l, o, "optim."));
    return l;
}

static void adamw_run(two_layers *t, tnn_optimizer *o, int from, int to)
{
    for (int s = from; s < to; s++) {
        if (s == 3) TU_ASSERT_OK(tnn_optimizer_set_lr(o, 0.02));
        tnn_module_set_requires_grad(t->l1, s != 4); /* l1 frozen at step 4 */
        two_step(t, o, true);
    }
}

static void adamw_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/adamw.safetensors", tu_dir);
    tnn_adamw_params p = tnn_adamw_defaults();
    p.lr = 0.05;
    p.weight_decay = 0.2;
    two_layers a = two_new(), b = two_new(), c = two_new();
    tnn_optimizer *oa = tnn_adamw_new(a.net, p), *ob = tnn_adamw_new(b.net, p), *oc = tnn_adamw_new(c.net, p);
    assert_true(oa && ob && oc);
    adamw_run(&a, oa, 0, 6);
    adamw_run(&b, ob, 0, 3);
    tnn_tensor_list *lb = checkpoint_list(b.net, ob);
    TU_ASSERT_OK(tnn_safetensors_save(path, lb, NULL));
    tnn_safetensors *st = tnn_safetensors_load(path);
    assert_non_null(st);
    assert_non_null(tnn_safetensors_find(st, "optim.adamw.step"));
    assert_non_null(tnn_safetensors_find(st, "optim.adamw.1.bias.exp_avg_sq"));
    tnn_tensor_list *lc = checkpoint_list(c.net, oc);
    TU_ASSERT_OK(tnn_safetensors_copy_into(st, lc, true));
    assert_int_equal(tnn_adam_step_count(oc), 3);
    TU_ASSERT_OK(tnn_optimizer_set_lr(oc, tnn_optimizer_get_lr(ob))); /* the lr is a setting, not state */
    adamw_run(&c, oc, 3, 6);
    snap sa = snap_module(a.net, oa, "o."), sc = snap_module(c.net, oc, "o.");
    assert_int_equal(sa.n, sc.n);
    if (memcmp(sa.bytes, sc.bytes, sa.n) != 0) fail_msg("the resumed AdamW run differs");
    free(sa.bytes);
    free(sc.bytes);
    tnn_safetensors_free(st);
    tnn_tensor_list_free(lb);
    tnn_tensor_list_free(lc);
    tnn_optimizer_free(oa);
    tnn_optimizer_free(ob);
    tnn_optimizer_free(oc);
    two_free(&a);
    two_free(&b);
    two_free(&c);
}

/* An Adam checkpoint does not load into AdamW, nor an AdamW one into Adam: strictly,
 * every optimizer entry is missing and unexpected by name, and nothing is loaded (not
 * even the model's part); not strictly, a list of the optimizer alone matches none of
 * the file's names. */
static void adam_and_adamw_states_do_not_load_into_each_other(void **state)
{
    (void)state;
    char path[128];
    for (int from_adamw = 0; from_adamw < 2; from_adamw++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", tu_dir, from_adamw ? "adamw" : "adam");
        two_layers a = two_new(), b = two_new();
        tnn_optimizer *oa = from_adamw ? tnn_adamw_new(a.net, tnn_adamw_defaults()) : tnn_adam_new(a.net, tnn_adam_defaults());
        tnn_optimizer *ob = from_adamw ? tnn_adam_new(b.net, tnn_adam_defaults()) : tnn_adamw_new(b.net, tnn_adamw_defaults());
        assert_true(oa && ob);
        assert_string_equal(ob->vt->type_name, from_adamw ? "adam" : "adamw");
        two_step(&a, oa, true);
        two_step(&a, oa, true);
        tnn_tensor_list *la = checkpoint_list(a.net, oa);
        TU_ASSERT_OK(tnn_safetensors_save(path, la, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        tnn_tensor_list *lb = checkpoint_list(b.net, ob);
        snap before = snap_module(b.net, ob, "");
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, lb, true), TNN_ERR_SHAPE,
                      "26 problems (strict)", from_adamw ? "missing 'optim.step'" : "missing 'optim.adamw.step'", NULL);
        tnn_tensor_list *ob_only = tnn_tensor_list_new();
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(ob_only, ob, "optim."));
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, ob_only, false), TNN_ERR_SHAPE, "none of its", NULL);
        snap after = snap_module(b.net, ob, "");
        assert_int_equal(before.n, after.n);
        assert_memory_equal(before.bytes, after.bytes, before.n);
        assert_int_equal(tnn_adam_step_count(ob), 0);
        free(before.bytes);
        free(after.bytes);
        tnn_tensor_list_free(ob_only);
        tnn_tensor_list_free(la);
        tnn_tensor_list_free(lb);
        tnn_safetensors_free(st);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        two_free(&a);
        two_free(&b);
    }
}

/* AdamW's state names, and no 0.2 resumption for it: a state whose per-parameter counts
 * are 0 beside moments (only a hand-edited or partly loaded one) starts each parameter
 * at count 1, where Adam would take the optimizer's count. */
static void adamw_state_names_and_counts(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_adamw_new(t.m, tnn_adamw_defaults());
    set_grads(&t, G[0]);
    TU_ASSERT_OK(tnn_optimizer_step(o));
    state_seen s = {0};
    TU_ASSERT_OK(tnn_optimizer_visit_state(o, "optim.", collect, &s));
    const char *names[] = {"optim.adamw.step", "optim.adamw.0.weight.step", "optim.adamw.0.weight.exp_avg",
                           "optim.adamw.0.weight.exp_avg_sq", "optim.adamw.0.bias.step", "optim.adamw.0.bias.exp_avg",
                           "optim.adamw.0.bias.exp_avg_sq"};
    assert_int_equal(s.count, 7);
    for (int i = 0; i < 7; i++) assert_string_equal(s.names[i], names[i]);
    /* m = (1 - b1) g after one step: the gradient, without a decay term */
    tu_assert_close1(((const float *)s.items[2].data)[1], 0.1 * G[0][1], 1e-6, 1e-9, "exp_avg");
    TU_ASSERT_OK(tnn_optimizer_visit_state(o, "", zero_param_counts, NULL));
    *adam_count(o, "adamw.step") = 1; /* zeroed too (".step"): the optimizer's count stays */
    set_grads(&t, G[1]);
    TU_ASSERT_OK(tnn_optimizer_step(o));
    assert_true(*adam_count(o, "adamw.step") == 2);
    assert_true(*adam_count(o, "adamw.0.weight.step") == 1);
    assert_true(*adam_count(o, "adamw.0.bias.step") == 1);
    int64_t *step = adam_count(o, "adamw.step");
    *step = -1;
    TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "adamw: step count -1", "cannot be counted on", NULL);
    *step = 2;
    *adam_count(o, "adamw.0.bias.step") = INT64_MAX;
    TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "adamw: '0.bias' has step count", NULL);
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
}

/* ---------------- amsgrad ---------------- */

/* Adam's or AdamW's state entry `name` (an F32 array) by its name in the state. */
typedef struct named_f32 {
    const char *name;
    float *data;
    size_t count;
} named_f32;

static tnn_status find_named_f32(void *ctx, const tnn_named_tensor *t)
{
    named_f32 *c = ctx;
    if (!strcmp(t->name, c->name) && t->dtype == TNN_F32) c->data = t->data, c->count = t->count;
    return TNN_OK;
}

static float *adam_state(tnn_optimizer *o, const char *name)
{
    named_f32 c = {name, NULL, 0};
    TU_ASSERT_OK(tnn_optimizer_visit_state(o, "", find_named_f32, &c));
    if (!c.data) fail_msg("no state '%s'", name);
    return c.data;
}

static tnn_status zero_maxima(void *ctx, const tnn_named_tensor *t)
{
    (void)ctx;
    size_t n = strlen(t->name);
    if (n > 15 && !strcmp(t->name + n - 15, ".max_exp_avg_sq")) memset(t->data, 0, t->count * sizeof(float));
    return TNN_OK;
}

/* With amsgrad the state gains "<param>.max_exp_avg_sq" after each parameter's moments
 * (under "adamw." for AdamW), and nothing else changes; after one step the maxima are
 * the second moments. */
static void amsgrad_state_names(void **state)
{
    (void)state;
    for (int adamw = 0; adamw < 2; adamw++) {
        tiny t = tiny_new(W0);
        tnn_adam_params ap = tnn_adam_defaults();
        tnn_adamw_params wp = tnn_adamw_defaults();
        assert_false(ap.amsgrad || wp.amsgrad);
        ap.amsgrad = wp.amsgrad = true;
        tnn_optimizer *o = adamw ? tnn_adamw_new(t.m, wp) : tnn_adam_new(t.m, ap);
        assert_non_null(o);
        set_grads(&t, G[0]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        state_seen s = {0};
        TU_ASSERT_OK(tnn_optimizer_visit_state(o, "optim.", collect, &s));
        const char *names[] = {"step", "0.weight.step", "0.weight.exp_avg", "0.weight.exp_avg_sq",
                               "0.weight.max_exp_avg_sq", "0.bias.step", "0.bias.exp_avg", "0.bias.exp_avg_sq",
                               "0.bias.max_exp_avg_sq"};
        assert_int_equal(s.count, 9);
        for (int i = 0; i < 9; i++) {
            char want[64];
            snprintf(want, sizeof want, "optim.%s%s", adamw ? "adamw." : "", names[i]);
            assert_string_equal(s.names[i], want);
        }
        for (int i = 4; i < 9; i += 4) {
            assert_int_equal(s.items[i].dtype, TNN_F32);
            assert_int_equal(s.items[i].ndim, s.items[i - 1].ndim);
            assert_int_equal(s.items[i].count, s.items[i - 1].count);
            assert_false(s.items[i].is_param);
            assert_memory_equal(s.items[i].data, s.items[i - 1].data, s.items[i].count * sizeof(float));
        }
        tnn_optimizer_free(o);
        tnn_module_free(t.m);
    }
}

/* torch.maximum(max_exp_avg_sq, exp_avg_sq) is NaN if either is: a NaN in a loaded
 * max_exp_avg_sq stays there and makes its weight NaN, although the second moment is
 * finite. Of a stored -0 and a new +0 the maximum is +0, the second operand, as torch's
 * AVX2 loop gives it. The other scalars go on as without the edit. */
static void amsgrad_maximum_keeps_nan(void **state)
{
    (void)state;
    tiny t = tiny_new(W0), u = tiny_new(W0);
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = 0.1;
    p.amsgrad = true;
    tnn_optimizer *o = tnn_adam_new(t.m, p), *ref = tnn_adam_new(u.m, p);
    assert_true(o && ref);
    set_grads(&t, G[0]);
    set_grads(&u, G[0]);
    TU_ASSERT_OK(tnn_optimizer_step(o));
    TU_ASSERT_OK(tnn_optimizer_step(ref));
    /* a loaded state: w0's maximum NaN; the bias's moments 0 and its maximum -0 */
    float *wmax = adam_state(o, "0.weight.max_exp_avg_sq"), *bmax = adam_state(o, "0.bias.max_exp_avg_sq");
    float *bm = adam_state(o, "0.bias.exp_avg"), *bv = adam_state(o, "0.bias.exp_avg_sq");
    wmax[0] = NAN;
    bm[0] = bv[0] = 0.0f;
    bmax[0] = -0.0f;
    const float b0 = *t.p[2];
    set_grads(&t, (const double[NP]){G[1][0], G[1][1], 0.0});
    set_grads(&u, (const double[NP]){G[1][0], G[1][1], 0.0});
    TU_ASSERT_OK(tnn_optimizer_step(o));
    TU_ASSERT_OK(tnn_optimizer_step(ref));
    assert_true(isnan(wmax[0]));
    assert_true(isfinite(adam_state(o, "0.weight.exp_avg_sq")[0]));
    assert_true(isnan(*t.p[0]));
    assert_true(*t.p[1] == *u.p[1]); /* w1 untouched by the edit */
    assert_true(wmax[1] == adam_state(ref, "0.weight.max_exp_avg_sq")[1]);
    const float pos0 = 0.0f;
    assert_memory_equal(&bmax[0], &pos0, sizeof pos0); /* +0, not the stored -0 */
    assert_true(*t.p[2] == b0); /* zero moments: w - 0 / eps */
    tnn_optimizer_free(o);
    tnn_optimizer_free(ref);
    tnn_module_free(t.m);
    tnn_module_free(u.m);
}

/* Two layers trained with gradients whose size alternates (dy times 1, then 0.25), so
 * that second moments fall below their maxima: amsgrad then changes the run. lr 0.02
 * from step 3 on, l1 frozen at step 4. */
static void amsgrad_run(two_layers *t, tnn_optimizer *o, const float *dy0, int from, int to)
{
    for (int s = from; s < to; s++) {
        if (s == 3) TU_ASSERT_OK(tnn_optimizer_set_lr(o, 0.02));
        tnn_module_set_requires_grad(t->l1, s != 4);
        for (size_t i = 0; i < t->dy->size; i++) t->dy->data[i] = dy0[i] * (s % 2 ? 0.25f : 1.0f);
        two_step(t, o, true);
    }
}

/* kind 0: Adam with amsgrad and weight decay, 1: AdamW with amsgrad, 2: Adam, 3: AdamW
 * (the last two without amsgrad); betas (0.9, 0.5). */
static tnn_optimizer *amsgrad_opt(int kind, tnn_module *m)
{
    tnn_adam_params ap = tnn_adam_defaults();
    tnn_adamw_params wp = tnn_adamw_defaults();
    ap.lr = wp.lr = 0.05;
    ap.beta2 = wp.beta2 = 0.5;
    ap.weight_decay = 0.1;
    wp.weight_decay = 0.2;
    ap.amsgrad = wp.amsgrad = kind < 2;
    tnn_optimizer *o = kind % 2 ? tnn_adamw_new(m, wp) : tnn_adam_new(m, ap);
    assert_non_null(o);
    return o;
}

/* A run saved to a file after three steps (model and state, max_exp_avg_sq included)
 * and loaded strictly into a new model and optimizer goes on with the same bits as the
 * run that was not interrupted; the maxima matter (without them, the resumed run would
 * differ: checked by zeroing them). */
static void amsgrad_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[128];
    for (int kind = 0; kind < 2; kind++) {
        snprintf(path, sizeof path, "%s/amsgrad%d.safetensors", tu_dir, kind);
        two_layers a = two_new(), b = two_new(), c = two_new(), d = two_new();
        float dy0[10];
        assert_int_equal(a.dy->size, 10);
        memcpy(dy0, a.dy->data, sizeof dy0);
        tnn_optimizer *oa = amsgrad_opt(kind, a.net), *ob = amsgrad_opt(kind, b.net), *oc = amsgrad_opt(kind, c.net);
        tnn_optimizer *od = amsgrad_opt(kind, d.net);
        amsgrad_run(&a, oa, dy0, 0, 7);
        amsgrad_run(&b, ob, dy0, 0, 3);
        tnn_tensor_list *lb = checkpoint_list(b.net, ob);
        TU_ASSERT_OK(tnn_safetensors_save(path, lb, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        assert_non_null(tnn_safetensors_find(st, kind ? "optim.adamw.1.bias.max_exp_avg_sq" : "optim.1.bias.max_exp_avg_sq"));
        tnn_tensor_list *lc = checkpoint_list(c.net, oc), *ld = checkpoint_list(d.net, od);
        TU_ASSERT_OK(tnn_safetensors_copy_into(st, lc, true));
        TU_ASSERT_OK(tnn_safetensors_copy_into(st, ld, true));
        TU_ASSERT_OK(tnn_optimizer_visit_state(od, "", zero_maxima, NULL)); /* d: the maxima lost */
        TU_ASSERT_OK(tnn_optimizer_set_lr(oc, tnn_optimizer_get_lr(ob)));
        TU_ASSERT_OK(tnn_optimizer_set_lr(od, tnn_optimizer_get_lr(ob)));
        amsgrad_run(&c, oc, dy0, 3, 7);
        amsgrad_run(&d, od, dy0, 3, 7);
        snap sa = snap_module(a.net, oa, "o."), sc = snap_module(c.net, oc, "o.");
        assert_int_equal(sa.n, sc.n);
        if (memcmp(sa.bytes, sc.bytes, sa.n) != 0) fail_msg("kind %d: the resumed amsgrad run differs", kind);
        snap wa = snap_module(a.net, NULL, NULL), wd = snap_module(d.net, NULL, NULL); /* the weights alone */
        if (memcmp(wa.bytes, wd.bytes, wa.n) == 0) fail_msg("kind %d: the maxima made no difference", kind);
        free(sa.bytes);
        free(sc.bytes);
        free(wa.bytes);
        free(wd.bytes);
        tnn_safetensors_free(st);
        tnn_tensor_list_free(lb);
        tnn_tensor_list_free(lc);
        tnn_tensor_list_free(ld);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        tnn_optimizer_free(oc);
        tnn_optimizer_free(od);
        two_free(&a);
        two_free(&b);
        two_free(&c);
        two_free(&d);
    }
}

/* A state saved without amsgrad and one saved with it do not match (optim.h): loaded
 * strictly into the other kind of optimizer, each is refused by the maxima's names and
 * nothing is loaded. Loaded non-strictly, the common entries load and the maxima are
 * left as they were (zeros in a new optimizer) or skipped; the next step is then the
 * same as that of the saving optimizer with its maxima zeroed (maximum(0, v) = v), and
 * with amsgrad the maxima become the second moments. Adam and AdamW alike. */
static void amsgrad_and_plain_states_do_not_mix(void **state)
{
    (void)state;
    char path[128];
    for (int kind = 0; kind < 4; kind++) { /* saved by: Adam, AdamW with amsgrad; Adam, AdamW without */
        const bool from_ams = kind < 2;
        snprintf(path, sizeof path, "%s/mix%d.safetensors", tu_dir, kind);
        two_layers a = two_new(), b = two_new();
        float dy0[10];
        memcpy(dy0, a.dy->data, sizeof dy0);
        tnn_optimizer *oa = amsgrad_opt(kind, a.net), *ob = amsgrad_opt(from_ams ? kind + 2 : kind - 2, b.net);
        amsgrad_run(&a, oa, dy0, 0, 3);
        tnn_tensor_list *la = checkpoint_list(a.net, oa);
        TU_ASSERT_OK(tnn_safetensors_save(path, la, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        tnn_tensor_list *lb = checkpoint_list(b.net, ob);
        snap before = snap_module(b.net, ob, "");
        char first[96];
        snprintf(first, sizeof first, "%s 'optim.%s0.weight.max_exp_avg_sq'", from_ams ? "unexpected" : "missing",
                 kind % 2 ? "adamw." : "");
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, lb, true), TNN_ERR_SHAPE, "4 problems (strict)", first, NULL);
        snap after = snap_module(b.net, ob, "");
        assert_int_equal(before.n, after.n);
        assert_memory_equal(before.bytes, after.bytes, before.n);
        free(before.bytes);
        free(after.bytes);

        TU_ASSERT_OK(tnn_safetensors_copy_into(st, lb, false));
        for (int i = 0; i < lb->count; i++) { /* every common entry loaded; b's own maxima still zeros */
            const tnn_named_tensor *want = tnn_tensor_list_find(la, lb->items[i].name);
            size_t bytes = lb->items[i].count * tnn_dtype_size(lb->items[i].dtype);
            if (want) assert_memory_equal(lb->items[i].data, want->data, bytes);
            else {
                assert_true(strstr(lb->items[i].name, ".max_exp_avg_sq") != NULL);
                for (size_t k = 0; k < lb->items[i].count; k++) assert_true(((float *)lb->items[i].data)[k] == 0.0f);
            }
        }
        assert_int_equal(tnn_adam_step_count(ob), 3);
        TU_ASSERT_OK(tnn_optimizer_set_lr(ob, tnn_optimizer_get_lr(oa)));
        TU_ASSERT_OK(tnn_optimizer_visit_state(oa, "", zero_maxima, NULL));
        amsgrad_run(&a, oa, dy0, 3, 4);
        amsgrad_run(&b, ob, dy0, 3, 4);
        snap sa = snap_module(a.net, NULL, NULL), sb = snap_module(b.net, NULL, NULL);
        assert_int_equal(sa.n, sb.n);
        if (memcmp(sa.bytes, sb.bytes, sa.n) != 0) fail_msg("kind %d: the step after a non-strict load differs", kind);
        tnn_optimizer *ams = from_ams ? oa : ob; /* its maxima are now the second moments */
        const char *tag = kind % 2 ? "adamw." : "";
        char mx[64], v[64];
        snprintf(mx, sizeof mx, "%s0.weight.max_exp_avg_sq", tag);
        snprintf(v, sizeof v, "%s0.weight.exp_avg_sq", tag);
        assert_memory_equal(adam_state(ams, mx), adam_state(ams, v), 12 * sizeof(float));
        free(sa.bytes);
        free(sb.bytes);
        tnn_tensor_list_free(la);
        tnn_tensor_list_free(lb);
        tnn_safetensors_free(st);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        two_free(&a);
        two_free(&b);
    }
}

/* A libtinynn 0.2 state (one step count, none per parameter, moments) loaded into an
 * Adam with amsgrad is still told by its moments, not by the maxima, and goes on as an
 * uninterrupted run (whose maxima the copy carries). */
static void amsgrad_resumes_a_state_without_per_parameter_counts(void **state)
{
    (void)state;
    check_resume(3, NULL, 2, 2, zero_param_counts);
}

/* ---------------- RMSprop ---------------- */

/* torch.optim.RMSprop, in double:
 *   g += wd * w;  v = alpha v + (1 - alpha) g^2
 *   centered: ga = alpha ga + (1 - alpha) g;  avg = sqrt(v - ga^2) + eps
 *   otherwise avg = sqrt(v) + eps
 *   momentum: buf = mom buf + g / avg;  w -= lr buf;   otherwise w -= lr g / avg */
static void rmsprop_case(tnn_rmsprop_params p, const char *what)
{
    tiny t = tiny_new(W0);
    tnn_optimizer *o = tnn_rmsprop_new(t.m, p);
    assert_non_null(o);
    assert_string_equal(o->vt->type_name, "rmsprop");
    assert_int_equal(tnn_adam_step_count(o), -1);
    double w[NP], v[NP] = {0}, ga[NP] = {0}, buf[NP] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 1; s <= 3; s++) {
        set_grads(&t, G[s - 1]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            double g = G[s - 1][i] + p.weight_decay * w[i];
            v[i] = p.alpha * v[i] + (1.0 - p.alpha) * g * g;
            ga[i] = p.alpha * ga[i] + (1.0 - p.alpha) * g;
            double avg = sqrt(p.centered ? v[i] - ga[i] * ga[i] : v[i]) + p.eps;
            if (p.momentum > 0.0) {
                buf[i] = p.momentum * buf[i] + g / avg;
                w[i] -= p.lr * buf[i];
            } else {
                w[i] -= p.lr * g / avg;
            }
        }
        char step[96];
        snprintf(step, sizeof step, "%s, step %d", what, s);
        assert_params(&t, w, 1e-6, step);
    }
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
}

static void rmsprop_three_steps(void **state)
{
    (void)state;
    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    assert_true(p.lr == 1e-2 && p.alpha == 0.99 && p.eps == 1e-8 && p.weight_decay == 0.0 && p.momentum == 0.0 &&
                !p.centered);
    p.lr = 0.1; /* steps far above float32 rounding of w */
    rmsprop_case(p, "rmsprop");
    p.alpha = 0.5;
    rmsprop_case(p, "rmsprop alpha 0.5");
    p.eps = 0.1; /* large: tells sqrt(v) + eps (torch) from sqrt(v + eps) */
    rmsprop_case(p, "rmsprop eps 0.1");
    p.eps = 1e-8;
    p.weight_decay = 0.5;
    rmsprop_case(p, "rmsprop weight decay");
    p.weight_decay = 0.0;
    p.momentum = 0.9;
    rmsprop_case(p, "rmsprop momentum");
    p.momentum = 0.0;
    p.centered = true;
    rmsprop_case(p, "rmsprop centered");
    p.momentum = 0.6;
    p.weight_decay = 0.25;
    p.alpha = 0.8;
    rmsprop_case(p, "rmsprop centered, momentum, weight decay");
    p = tnn_rmsprop_defaults(); /* alpha 1: square_avg stays 0 and the step is lr * g / eps */
    p.alpha = 1.0;
    p.eps = 0.1;
    p.lr = 0.1;
    rmsprop_case(p, "rmsprop alpha 1");
}

/* Each bad setting is refused and named, the first in torch's order (lr, eps, momentum,
 * weight_decay, alpha); so are a NULL module and one without parameters. */
static void rmsprop_bad_arguments(void **state)
{
    (void)state;
    tiny t = tiny_new(W0);
    assert_null(tnn_rmsprop_new(NULL, tnn_rmsprop_defaults()));
    TU_ASSERT_MSG("rmsprop: module is NULL", NULL);
    const struct {
        const char *what;
        double v;
        const char *want;
    } bad[] = {
        {"lr", -1e-3, "rmsprop: lr -0.001 must be >= 0"},
        {"lr", NAN, "rmsprop: lr nan must be >= 0 and finite in float"},
        {"lr", 1e300, "rmsprop: lr 1e+300 must be >= 0 and finite in float"},
        {"eps", -1e-8, "rmsprop: eps -1e-08 must be >= 0"},
        {"eps", INFINITY, "rmsprop: eps inf must be >= 0 and finite in float"},
        {"momentum", -0.5, "rmsprop: momentum -0.5 must be >= 0"},
        {"momentum", NAN, "rmsprop: momentum nan must be"},
        {"weight_decay", -0.01, "rmsprop: weight_decay -0.01 must be >= 0"},
        {"weight_decay", 1e39, "rmsprop: weight_decay 1e+39 must be >= 0 and finite in float"},
        {"alpha", -0.99, "rmsprop: alpha -0.99 must be >= 0"},
        {"alpha", -INFINITY, "rmsprop: alpha -inf must be >= 0"},
        {"alpha", 1e300, "rmsprop: alpha 1e+300 must be >= 0 and finite in float"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        tnn_rmsprop_params p = tnn_rmsprop_defaults();
        double *f = !strcmp(bad[k].what, "lr") ? &p.lr : !strcmp(bad[k].what, "eps") ? &p.eps
                  : !strcmp(bad[k].what, "momentum") ? &p.momentum : !strcmp(bad[k].what, "weight_decay")
                  ? &p.weight_decay : &p.alpha;
        *f = bad[k].v;
        tnn_clear_error();
        assert_null(tnn_rmsprop_new(t.m, p));
        assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
        TU_ASSERT_MSG(bad[k].want, NULL);
    }
    tnn_rmsprop_params p = tnn_rmsprop_defaults(); /* two bad: torch's order names eps first */
    p.alpha = -1.0;
    p.eps = -1.0;
    assert_null(tnn_rmsprop_new(t.m, p));
    TU_ASSERT_MSG("rmsprop: eps -1 must be", NULL);
    /* the edges torch takes: every setting 0; FLT_MAX; alpha above 1 */
    p = tnn_rmsprop_defaults();
    p.lr = p.alpha = p.eps = p.weight_decay = p.momentum = 0.0;
    tnn_optimizer *o = tnn_rmsprop_new(t.m, p);
    assert_non_null(o);
    tnn_optimizer_free(o);
    p = tnn_rmsprop_defaults();
    p.alpha = 2.0;
    p.momentum = p.weight_decay = p.eps = FLT_MAX;
    o = tnn_rmsprop_new(t.m, p);
    assert_non_null(o);
    TU_ASSERT_ERR(tnn_optimizer_set_lr(o, -1.0), TNN_ERR_ARG, "rmsprop: learning rate -1", NULL);
    TU_ASSERT_ERR(tnn_optimizer_set_lr(o, NAN), TNN_ERR_ARG, "rmsprop: learning rate nan", NULL);
    assert_true(tnn_optimizer_get_lr(o) == 1e-2);
    TU_ASSERT_OK(tnn_optimizer_set_lr(o, FLT_MAX));
    assert_true(tnn_optimizer_get_lr(o) == FLT_MAX);
    tnn_optimizer_free(o);
    tnn_module_free(t.m);
    tnn_module *empty = tnn_sequential_new();
    assert_null(tnn_rmsprop_new(empty, tnn_rmsprop_defaults()));
    TU_ASSERT_MSG("rmsprop", "sequential(0 modules) has no parameters", NULL);
    tnn_module_free(empty);
}

/* The state's names, in torch's order per parameter, under "rmsprop.": step, square_avg,
 * then momentum_buffer (momentum > 0) and grad_avg (centered) only when the settings
 * keep them; their types, shapes and values after one step. */
static void rmsprop_state_names(void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) { /* bit 0: momentum, bit 1: centered */
        tiny t = tiny_new(W0);
        tnn_rmsprop_params p = tnn_rmsprop_defaults();
        p.momentum = kind & 1 ? 0.9 : 0.0;
        p.centered = kind & 2;
        tnn_optimizer *o = tnn_rmsprop_new(t.m, p);
        assert_non_null(o);
        set_grads(&t, G[0]);
        TU_ASSERT_OK(tnn_optimizer_step(o));
        state_seen s = {0};
        TU_ASSERT_OK(tnn_optimizer_visit_state(o, "optim.", collect, &s));
        const int per = 2 + (kind & 1) + (kind >> 1 & 1);
        assert_int_equal(s.count, 2 * per);
        for (int k = 0; k < 2; k++) {
            const char *param = k ? "0.bias" : "0.weight";
            const char *keys[4] = {"step", "square_avg", NULL, NULL};
            int nk = 2;
            if (kind & 1) keys[nk++] = "momentum_buffer";
            if (kind & 2) keys[nk++] = "grad_avg";
            for (int j = 0; j < per; j++) {
                const tnn_named_tensor *e = &s.items[k * per + j];
                char want[64];
                snprintf(want, sizeof want, "optim.rmsprop.%s.%s", param, keys[j]);
                assert_string_equal(e->name, want);
                assert_false(e->is_param);
                if (j == 0) {
                    assert_int_equal(e->dtype, TNN_I64);
                    assert_int_equal(e->ndim, 0);
                    assert_int_equal(*(const int64_t *)e->data, 1);
                } else {
                    assert_int_equal(e->dtype, TNN_F32);
                    assert_int_equal(e->ndim, k ? 1 : 2);
                    assert_int_equal(e->count, k ? 1 : 2);
                }
            }
            /* after one step: v = (1 - alpha) g^2, ga = (1 - alpha) g, buf = g / (sqrt(v - ga^2) + eps) */
            const double g = G[0][k ? 2 : 1];
            const float *v = s.items[k * per + 1].data;
            const double vv = 0.01 * g * g, ga = 0.01 * g;
            tu_assert_close1(v[k ? 0 : 1], vv, 1e-5, 1e-12, "square_avg");
            if (kind & 2) tu_assert_close1(((const float *)s.items[k * per + per - 1].data)[k ? 0 : 1], ga, 1e-5, 1e-12, "grad_avg");
            if (kind & 1)
                tu_assert_close1(((const float *)s.items[k * per + 2].data)[k ? 0 : 1],
                                 g / (sqrt(kind & 2 ? vv - ga * ga : vv) + 1e-8), 1e-5, 1e-12, "momentum_buffer");
        }
        tnn_optimizer_free(o);
        tnn_module_free(t.m);
    }
}

/* An RMSprop state entry by its name (no prefix). */
static float *rmsprop_state(tnn_optimizer *o, const char *name) { return adam_state(o, name); }

/* A layer without gradients (frozen, or discarded with no backward since) is left
 * alone: no decay, no state change, no count, as torch skips a .grad of None; the other
 * layer goes on as an RMSprop over it alone would. */
static void rmsprop_skips_parameters_without_gradient(void **state)
{
    (void)state;
    two_layers a = two_new(), b = two_new();
    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    p.momentum = 0.9;
    p.centered = true;
    p.weight_decay = 0.5;
    tnn_optimizer *o = tnn_rmsprop_new(a.net, p);
    assert_non_null(o);
    two_step(&a, o, true);
    two_step(&a, o, true);
    /* b: an RMSprop over l1 alone, from a's model and l1's state now */
    tnn_optimizer *ob = tnn_rmsprop_new(b.l1, p);
    assert_non_null(ob);
    {
        tnn_tensor_list *from = tnn_tensor_list_new(), *to = tnn_tensor_list_new();
        TU_ASSERT_OK(tnn_tensor_list_add_module(from, a.net, "")); /* l0 too: l1's input */
        TU_ASSERT_OK(tnn_tensor_list_add_module(to, b.net, ""));
        for (int i = 0; i < from->count; i++)
            memcpy(to->items[i].data, from->items[i].data, from->items[i].count * sizeof(float));
        const char *keys[] = {"step", "square_avg", "momentum_buffer", "grad_avg"};
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 4; j++) {
                char nf[64], nt[64];
                snprintf(nf, sizeof nf, "rmsprop.1.%s.%s", k ? "bias" : "weight", keys[j]);
                snprintf(nt, sizeof nt, "rmsprop.%s.%s", k ? "bias" : "weight", keys[j]);
                if (j == 0) *adam_count(ob, nt) = *adam_count(o, nf);
                else memcpy(rmsprop_state(ob, nt), rmsprop_state(o, nf), (k ? 2 : 8) * sizeof(float));
            }
        tnn_tensor_list_free(from);
        tnn_tensor_list_free(to);
    }
    tnn_module_set_requires_grad(a.l0, false);
    snap before = snap_module(a.l0, NULL, NULL);
    float sq0[12], buf0[12], ga0[12];
    memcpy(sq0, rmsprop_state(o, "rmsprop.0.weight.square_avg"), sizeof sq0);
    memcpy(buf0, rmsprop_state(o, "rmsprop.0.weight.momentum_buffer"), sizeof buf0);
    memcpy(ga0, rmsprop_state(o, "rmsprop.0.weight.grad_avg"), sizeof ga0);
    int64_t *c0 = adam_count(o, "rmsprop.0.weight.step"), *c1 = adam_count(o, "rmsprop.1.weight.step");
    two_step(&a, o, true);
    two_step(&a, o, true);
    two_step(&b, ob, true);
    two_step(&b, ob, true);
    tnn_module_set_requires_grad(a.l0, true);
    two_step(&a, o, false); /* unfrozen, gradients discarded, no backward: l0 and l1 skipped */
    snap after = snap_module(a.l0, NULL, NULL);
    assert_memory_equal(before.bytes, after.bytes, before.n);
    assert_memory_equal(sq0, rmsprop_state(o, "rmsprop.0.weight.square_avg"), sizeof sq0);
    assert_memory_equal(buf0, rmsprop_state(o, "rmsprop.0.weight.momentum_buffer"), sizeof buf0);
    assert_memory_equal(ga0, rmsprop_state(o, "rmsprop.0.weight.grad_avg"), sizeof ga0);
    assert_true(*c0 == 2 && *c1 == 4);
    snap l1a = snap_module(a.l1, NULL, NULL), l1b = snap_module(b.l1, NULL, NULL);
    assert_int_equal(l1a.n, l1b.n);
    if (memcmp(l1a.bytes, l1b.bytes, l1a.n) != 0) fail_msg("the trained layer differs from an RMSprop over it alone");
    two_step(&a, o, true);
    snap moved = snap_module(a.l0, NULL, NULL);
    assert_true(memcmp(before.bytes, moved.bytes, before.n) != 0);
    assert_true(*c0 == 3 && *c1 == 5);
    free(before.bytes);
    free(after.bytes);
    free(moved.bytes);
    free(l1a.bytes);
    free(l1b.bytes);
    tnn_optimizer_free(o);
    tnn_optimizer_free(ob);
    two_free(&a);
    two_free(&b);
}

/* A per-parameter count that a loaded state set to -1 or 2^63 - 1 (which cannot grow)
 * is refused by name at the next step that would update it, before anything changes;
 * 2^63 - 2 is still taken, and a parameter skipped at the step is not checked. */
static void rmsprop_refuses_a_step_count_out_of_range(void **state)
{
    (void)state;
    two_layers t = two_new();
    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    p.momentum = 0.5;
    tnn_optimizer *o = tnn_rmsprop_new(t.net, p);
    assert_non_null(o);
    two_step(&t, o, true);
    int64_t *cb = adam_count(o, "rmsprop.1.bias.step"), *cw = adam_count(o, "rmsprop.0.weight.step");
    const int64_t bad[] = {-1, INT64_MIN, INT64_MAX};
    for (int i = 0; i < 3; i++) {
        *cb = bad[i];
        snap before = snap_module(t.net, o, "");
        TU_ASSERT_ERR(tnn_optimizer_step(o), TNN_ERR_STATE, "rmsprop: '1.bias' has step count", "cannot be counted on",
                      NULL);
        snap after = snap_module(t.net, o, "");
        assert_memory_equal(before.bytes, after.bytes, before.n);
        free(before.bytes);
        free(after.bytes);
    }
    tnn_module_set_requires_grad(t.l1, false); /* skipped: its count is not looked at */
    two_step(&t, o, true);
    assert_true(*cw == 2 && *cb == INT64_MAX);
    tnn_module_set_requires_grad(t.l1, true);
    *cb = INT64_MAX - 1;
    two_step(&t, o, true);
    assert_true(*cb == INT64_MAX && *cw == 3);
    tnn_optimizer_free(o);
    two_free(&t);
}

/* torch takes the momentum path when momentum > 0 as a double: a momentum that rounds
 * to 0 in float (1e-50) keeps a buffer and updates through it (buf = 0 * buf + g / avg,
 * param += -lr * buf, fused), as a momentum of 1e-30 does to the bit (its buf * mom
 * vanishes beside g / avg), which is not how momentum 0's update rounds. */
static void rmsprop_tiny_momentum_is_applied_as_torch_decides(void **state)
{
    (void)state;
    const double moms[3] = {1e-50, 1e-30, 0.0};
    snap w[3];
    for (int k = 0; k < 3; k++) {
        two_layers t = two_new();
        tnn_rmsprop_params p = tnn_rmsprop_defaults();
        p.momentum = moms[k];
        p.lr = 0.1;
        tnn_optimizer *o = tnn_rmsprop_new(t.net, p);
        assert_non_null(o);
        for (int s = 0; s < 3; s++) two_step(&t, o, true);
        state_seen st = {0};
        TU_ASSERT_OK(tnn_optimizer_visit_state(o, "", collect, &st));
        assert_int_equal(st.count, k < 2 ? 12 : 8); /* momentum_buffer kept unless momentum is 0 */
        w[k] = snap_module(t.net, NULL, NULL);
        tnn_optimizer_free(o);
        two_free(&t);
    }
    assert_memory_equal(w[0].bytes, w[1].bytes, w[0].n);
    assert_true(memcmp(w[0].bytes, w[2].bytes, w[0].n) != 0);
    for (int k = 0; k < 3; k++) free(w[k].bytes);
}

/* kind 0: momentum, centered and weight decay; 1: defaults (lr 0.05); 2: momentum; 3: centered. */
static tnn_optimizer *rmsprop_opt(int kind, tnn_module *m)
{
    tnn_rmsprop_params p = tnn_rmsprop_defaults();
    p.lr = 0.05;
    p.alpha = 0.9;
    p.momentum = kind == 0 || kind == 2 ? 0.8 : 0.0;
    p.centered = kind == 0 || kind == 3;
    p.weight_decay = kind == 0 ? 0.1 : 0.0;
    tnn_optimizer *o = tnn_rmsprop_new(m, p);
    assert_non_null(o);
    return o;
}

static tnn_status zero_f32_state(void *ctx, const tnn_named_tensor *t)
{
    const char *key = ctx;
    size_t n = strlen(t->name), k = strlen(key);
    if (t->dtype == TNN_F32 && n > k && !strcmp(t->name + n - k, key)) memset(t->data, 0, t->count * sizeof(float));
    return TNN_OK;
}

/* A run saved to a file after three steps (model and state) and loaded strictly into a
 * new model and optimizer goes on with the same bits as the run that was not
 * interrupted (amsgrad_run's schedule: lr 0.02 from step 3, l1 frozen at step 4); each
 * state array matters (zeroed after the load, the run differs). */
static void rmsprop_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[128];
    for (int kind = 0; kind < 2; kind++) {
        snprintf(path, sizeof path, "%s/rmsprop%d.safetensors", tu_dir, kind);
        two_layers a = two_new(), b = two_new(), c = two_new();
        float dy0[10];
        memcpy(dy0, a.dy->data, sizeof dy0);
        tnn_optimizer *oa = rmsprop_opt(kind, a.net), *ob = rmsprop_opt(kind, b.net), *oc = rmsprop_opt(kind, c.net);
        amsgrad_run(&a, oa, dy0, 0, 7);
        amsgrad_run(&b, ob, dy0, 0, 3);
        tnn_tensor_list *lb = checkpoint_list(b.net, ob);
        TU_ASSERT_OK(tnn_safetensors_save(path, lb, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        assert_non_null(tnn_safetensors_find(st, "optim.rmsprop.1.bias.square_avg"));
        assert_non_null(tnn_safetensors_find(st, "optim.rmsprop.0.weight.step"));
        assert_true((tnn_safetensors_find(st, "optim.rmsprop.1.bias.grad_avg") != NULL) == (kind == 0));
        tnn_tensor_list *lc = checkpoint_list(c.net, oc);
        TU_ASSERT_OK(tnn_safetensors_copy_into(st, lc, true));
        TU_ASSERT_OK(tnn_optimizer_set_lr(oc, tnn_optimizer_get_lr(ob))); /* the lr is a setting, not state */
        amsgrad_run(&c, oc, dy0, 3, 7);
        snap sa = snap_module(a.net, oa, "o."), sc = snap_module(c.net, oc, "o.");
        assert_int_equal(sa.n, sc.n);
        if (memcmp(sa.bytes, sc.bytes, sa.n) != 0) fail_msg("kind %d: the resumed RMSprop run differs", kind);
        snap wa = snap_module(a.net, NULL, NULL);
        const char *keys[] = {".square_avg", ".momentum_buffer", ".grad_avg"};
        for (int k = 0; k < (kind == 0 ? 3 : 1); k++) { /* each array lost in turn: another run */
            two_layers d = two_new();
            tnn_optimizer *od = rmsprop_opt(kind, d.net);
            tnn_tensor_list *ld = checkpoint_list(d.net, od);
            TU_ASSERT_OK(tnn_safetensors_copy_into(st, ld, true));
            TU_ASSERT_OK(tnn_optimizer_visit_state(od, "", zero_f32_state, (void *)keys[k]));
            TU_ASSERT_OK(tnn_optimizer_set_lr(od, tnn_optimizer_get_lr(ob)));
            amsgrad_run(&d, od, dy0, 3, 7);
            snap wd = snap_module(d.net, NULL, NULL);
            if (memcmp(wa.bytes, wd.bytes, wa.n) == 0) fail_msg("kind %d: %s made no difference", kind, keys[k]);
            free(wd.bytes);
            tnn_tensor_list_free(ld);
            tnn_optimizer_free(od);
            two_free(&d);
        }
        free(sa.bytes);
        free(sc.bytes);
        free(wa.bytes);
        tnn_safetensors_free(st);
        tnn_tensor_list_free(lb);
        tnn_tensor_list_free(lc);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        tnn_optimizer_free(oc);
        two_free(&a);
        two_free(&b);
        two_free(&c);
    }
}

/* States saved with other momentum or centered settings do not match (optim.h): loaded
 * strictly, each is refused by the name of the first entry that differs and nothing is
 * loaded; loaded non-strictly, the common entries load, the optimizer's own extra ones
 * stay as they were (zeros) and the file's extra ones are skipped. Neither an SGD nor
 * an Adam state loads into RMSprop. */
static void rmsprop_states_with_other_settings_do_not_mix(void **state)
{
    (void)state;
    char path[128];
    static const struct {
        int from, to;
        const char *first;
    } pairs[] = {
        {2, 1, "unexpected 'optim.rmsprop.0.weight.momentum_buffer'"},
        {1, 2, "missing 'optim.rmsprop.0.weight.momentum_buffer'"},
        {3, 1, "unexpected 'optim.rmsprop.0.weight.grad_avg'"},
        {1, 3, "missing 'optim.rmsprop.0.weight.grad_avg'"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        snprintf(path, sizeof path, "%s/mix%zu.safetensors", tu_dir, i);
        two_layers a = two_new(), b = two_new();
        tnn_optimizer *oa = rmsprop_opt(pairs[i].from, a.net), *ob = rmsprop_opt(pairs[i].to, b.net);
        two_step(&a, oa, true);
        two_step(&a, oa, true);
        tnn_tensor_list *la = checkpoint_list(a.net, oa);
        TU_ASSERT_OK(tnn_safetensors_save(path, la, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        tnn_tensor_list *lb = checkpoint_list(b.net, ob);
        snap before = snap_module(b.net, ob, "");
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, lb, true), TNN_ERR_SHAPE, "4 problems (strict)", pairs[i].first, NULL);
        snap after = snap_module(b.net, ob, "");
        assert_int_equal(before.n, after.n);
        assert_memory_equal(before.bytes, after.bytes, before.n);
        free(before.bytes);
        free(after.bytes);
        TU_ASSERT_OK(tnn_safetensors_copy_into(st, lb, false));
        for (int k = 0; k < lb->count; k++) {
            const tnn_named_tensor *want = tnn_tensor_list_find(la, lb->items[k].name);
            size_t bytes = lb->items[k].count * tnn_dtype_size(lb->items[k].dtype);
            if (want) assert_memory_equal(lb->items[k].data, want->data, bytes);
            else
                for (size_t j = 0; j < lb->items[k].count; j++) assert_true(((float *)lb->items[k].data)[j] == 0.0f);
        }
        tnn_tensor_list_free(la);
        tnn_tensor_list_free(lb);
        tnn_safetensors_free(st);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        two_free(&a);
        two_free(&b);
    }
    /* SGD's momentum buffers ("<param>.momentum_buffer") and Adam's counts ("<param>.step")
     * have RMSprop's keys, but not its "rmsprop." names: none of them loads. */
    for (int from_adam = 0; from_adam < 2; from_adam++) {
        snprintf(path, sizeof path, "%s/other%d.safetensors", tu_dir, from_adam);
        two_layers a = two_new(), b = two_new();
        tnn_sgd_params sp = tnn_sgd_defaults();
        sp.momentum = 0.9;
        tnn_optimizer *oa = from_adam ? tnn_adam_new(a.net, tnn_adam_defaults()) : tnn_sgd_new(a.net, sp);
        tnn_optimizer *ob = rmsprop_opt(0, b.net);
        assert_non_null(oa);
        two_step(&a, oa, true);
        tnn_tensor_list *la = tnn_tensor_list_new(), *lb = tnn_tensor_list_new();
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(la, oa, "optim."));
        TU_ASSERT_OK(tnn_tensor_list_add_optimizer(lb, ob, "optim."));
        TU_ASSERT_OK(tnn_safetensors_save(path, la, NULL));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        snap before = snap_module(b.net, ob, "");
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, lb, true), TNN_ERR_SHAPE, "(strict)", NULL);
        TU_ASSERT_ERR(tnn_safetensors_copy_into(st, lb, false), TNN_ERR_SHAPE, "none of its", NULL);
        snap after = snap_module(b.net, ob, "");
        assert_memory_equal(before.bytes, after.bytes, before.n);
        free(before.bytes);
        free(after.bytes);
        tnn_safetensors_free(st);
        tnn_tensor_list_free(la);
        tnn_tensor_list_free(lb);
        tnn_optimizer_free(oa);
        tnn_optimizer_free(ob);
        two_free(&a);
        two_free(&b);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sgd_plain),
    cmocka_unit_test(sgd_momentum),
    cmocka_unit_test(sgd_nesterov),
    cmocka_unit_test(sgd_weight_decay),
    cmocka_unit_test(adam_three_steps),
    cmocka_unit_test(adam_eps_outside_sqrt_and_weight_decay),
    cmocka_unit_test(optimizer_state_names),
    cmocka_unit_test(optimizer_zero_grad),
    cmocka_unit_test(optimizer_user_defined),
    cmocka_unit_test(optimizer_bad_arguments),
    cmocka_unit_test(optimizers_same_bits_on_any_thread_count),
    cmocka_unit_test(optimizers_skip_parameters_without_gradient),
    cmocka_unit_test(optimizer_step_refuses_a_changed_model),
    cmocka_unit_test(frozen_with_zero_grad_moves_by_momentum),
    cmocka_unit_test(adam_refuses_a_step_count_out_of_range),
    cmocka_unit_test(optimizers_resume_from_saved_state),
    cmocka_unit_test(sgd_buffer_starts_at_its_parameters_first_update),
    cmocka_unit_test(adam_counts_each_parameters_own_updates),
    cmocka_unit_test(adam_resumes_a_state_without_per_parameter_counts),
    cmocka_unit_test(adam_refuses_a_parameter_count_out_of_range),
    cmocka_unit_test(new_model_gradients_count_until_discarded),
    cmocka_unit_test(tiny_weight_decay_is_applied_as_torch_decides),
    cmocka_unit_test(optimizer_user_defined_without_a_whole_vtable),
    cmocka_unit_test(adamw_three_steps),
    cmocka_unit_test(adamw_decay_rounds_as_torch),
    cmocka_unit_test(adamw_bad_arguments),
    cmocka_unit_test(adamw_skips_parameters_without_gradient),
    cmocka_unit_test(optimizer_steps_allocate_nothing),
    cmocka_unit_test_setup_teardown(adamw_checkpoint_round_trip, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(adam_and_adamw_states_do_not_load_into_each_other, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(adamw_state_names_and_counts),
    cmocka_unit_test(amsgrad_state_names),
    cmocka_unit_test(amsgrad_maximum_keeps_nan),
    cmocka_unit_test_setup_teardown(amsgrad_checkpoint_round_trip, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(amsgrad_and_plain_states_do_not_mix, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(amsgrad_resumes_a_state_without_per_parameter_counts),
    cmocka_unit_test(rmsprop_three_steps),
    cmocka_unit_test(rmsprop_bad_arguments),
    cmocka_unit_test(rmsprop_state_names),
    cmocka_unit_test(rmsprop_skips_parameters_without_gradient),
    cmocka_unit_test(rmsprop_refuses_a_step_count_out_of_range),
    cmocka_unit_test(rmsprop_tiny_momentum_is_applied_as_torch_decides),
    cmocka_unit_test_setup_teardown(rmsprop_checkpoint_round_trip, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(rmsprop_states_with_other_settings_do_not_mix, tu_tmpdir_make, tu_tmpdir_remove),
};

TU_MAIN("optim", tests)
