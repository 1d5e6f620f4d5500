/* Gradient clipping tests (tinynn/optim.h): tnn_clip_grad_norm and tnn_clip_grad_value
 * on gradients written by hand, against values worked out by hand (norms 2, 1, inf and
 * 3; max_norm above and below the norm; zeros), parameters without a gradient (a frozen
 * child after a discard, a discarded layer, no gradient at all), non-finite gradients
 * with and without error_if_nonfinite, bad arguments, a model in use by another thread,
 * clip_grad_value's clamp, and long gradients (summed in parts on the library's
 * threads): their norms against long double sums, the same bits on 1, 2 and 3 threads,
 * a NaN found in any part, and no allocation in a call.
 * tests/test_parity_clip.c compares both with torch 1.13. */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include "testutil.h"
#include "parallel_impl.h" /* tnn_parallel_set_threads */
#include "tnn_impl.h"     /* tnn_module_enter, tnn_module_leave */

#include <float.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A Linear(3 -> 2): "weight" [2 x 3] then "bias" [2], eight gradients in one block. */
enum { NG = 8 };
typedef struct lin {
    tnn_module *m;
    float *g[NG];
} lin;

static lin lin_new(void)
{
    lin t;
    t.m = tnn_linear_new(3, 2, true, NULL);
    assert_non_null(t.m);
    tnn_tensor_list *l = tnn_module_parameters(t.m, "");
    assert_non_null(l);
    assert_int_equal(l->count, 2);
    for (int i = 0; i < 6; i++) t.g[i] = l->items[0].grad + i;
    for (int i = 0; i < 2; i++) t.g[6 + i] = l->items[1].grad + i;
    tnn_tensor_list_free(l);
    return t;
}

static void set_grads(lin *t, const float g[NG])
{
    for (int i = 0; i < NG; i++) *t->g[i] = g[i];
}

static void get_grads(const lin *t, float out[NG])
{
    for (int i = 0; i < NG; i++) out[i] = *t->g[i];
}

/* The gradients of most tests: 3, -4 and 12 among zeros (weight row 0: 3, 0, -4; bias
 * 0, 12). Norms: 2-norm 13, 1-norm 19, inf-norm 12, 3-norm 1819^(1/3). */
static const float G[NG] = {3.0f, 0.0f, -4.0f, 0.0f, 0.0f, 0.0f, 0.0f, 12.0f};

/* torch: clip_coef = max_norm / (total + 1e-6), clamped to 1, evaluated in double here
 * (tnn_clip_grad_norm follows torch's float evaluation; they agree to about 1 ulp). */
static double coef_of(double max_norm, double total)
{
    double c = max_norm / (total + 1e-6);
    return c < 1.0 ? c : 1.0;
}

/* Clip G with the given settings and check the total norm and every gradient (G times
 * the coefficient), both within 1 ulp or so of the values worked out in double. */
static void clip_case(double max_norm, double norm_type, double want_total, const char *what)
{
    lin t = lin_new();
    set_grads(&t, G);
    float total = -1.0f;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, max_norm, norm_type, true, &total));
    tu_assert_close1(total, want_total, 1.2e-7, 0.0, what);
    double want[NG];
    const double c = coef_of(max_norm, want_total);
    for (int i = 0; i < NG; i++) want[i] = G[i] * c;
    float got[NG];
    get_grads(&t, got);
    tu_assert_close(got, want, NG, 2.4e-7, 1e-30, what);
    tnn_module_free(t.m);
}

static void norm2_by_hand(void **state)
{
    (void)state;
    clip_case(6.5, 2.0, 13.0, "2-norm, clips to half"); /* coefficient 6.5 / (13 + 1e-6) */
    clip_case(1.0, 2.0, 13.0, "2-norm, max_norm 1");
    /* The total norm is exactly 13 (sqrt(169)). */
    lin t = lin_new();
    set_grads(&t, G);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 6.5, 2.0, false, &total));
    assert_true(total == 13.0f);
    tnn_module_free(t.m);
}

static void norm1_by_hand(void **state)
{
    (void)state;
    clip_case(9.5, 1.0, 19.0, "1-norm");
}

static void norm_inf_by_hand(void **state)
{
    (void)state;
    clip_case(3.0, INFINITY, 12.0, "inf-norm");
    /* The largest |g| may be negative, and may sit in the weight. */
    lin t = lin_new();
    const float g[NG] = {0.5f, -7.0f, 1.0f, 0.0f, 2.0f, -3.0f, 6.0f, -1.0f};
    set_grads(&t, g);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 100.0, INFINITY, false, &total));
    assert_true(total == 7.0f);
    tnn_module_free(t.m);
}

static void norm3_by_hand(void **state)
{
    (void)state;
    clip_case(2.0, 3.0, cbrt(27.0 + 64.0 + 1728.0), "3-norm");
    clip_case(1.0, 0.5, pow(sqrt(3.0) + 2.0 + sqrt(12.0), 2.0), "0.5-norm");
}

/* max_norm at or above the norm: coefficient 1 (clamped), nothing changes, to the bit. */
static void max_norm_above_the_norm(void **state)
{
    (void)state;
    const double norms[] = {2.0, 1.0, INFINITY, 3.0};
    const double maxes[] = {13.5, 19.5, 12.5, 1e6};
    for (int k = 0; k < 4; k++) {
        lin t = lin_new();
        set_grads(&t, G);
        float total = -1.0f;
        TU_ASSERT_OK(tnn_clip_grad_norm(t.m, maxes[k], norms[k], false, &total));
        assert_true(total > 0.0f);
        float got[NG];
        get_grads(&t, got);
        assert_memory_equal(got, G, sizeof G);
        tnn_module_free(t.m);
    }
    /* max_norm equal to the norm: 13 / (13 + 1e-6) is below 1, by less than an ulp of
     * 13 (float): the gradients move by at most an ulp. */
    lin t = lin_new();
    set_grads(&t, G);
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 13.0, 2.0, false, NULL));
    for (int i = 0; i < NG; i++) assert_true(fabsf(*t.g[i] - G[i]) <= fabsf(G[i]) * FLT_EPSILON);
    /* INFINITY only measures. */
    set_grads(&t, G);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, INFINITY, 2.0, true, &total));
    assert_true(total == 13.0f);
    for (int i = 0; i < NG; i++) assert_true(*t.g[i] == G[i]);
    tnn_module_free(t.m);
}

static void zero_gradients(void **state)
{
    (void)state;
    lin t = lin_new();
    const float z[NG] = {0};
    const double maxes[] = {1.0, 0.0};
    for (int k = 0; k < 2; k++) {
        set_grads(&t, z);
        float total = -1.0f;
        TU_ASSERT_OK(tnn_clip_grad_norm(t.m, maxes[k], 2.0, true, &total));
        assert_true(total == 0.0f);
        for (int i = 0; i < NG; i++) assert_true(*t.g[i] == 0.0f && !signbit(*t.g[i]));
    }
    /* max_norm 0 with gradients: all become zeros of their own sign, as torch's x * 0. */
    set_grads(&t, G);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 0.0, 2.0, true, &total));
    assert_true(total == 13.0f);
    for (int i = 0; i < NG; i++) assert_true(*t.g[i] == 0.0f && !!signbit(*t.g[i]) == !!signbit(G[i]));
    tnn_module_free(t.m);
}

/* Sequential(Linear(3 -> 2), Linear(2 -> 2)): two layers, for parameters without a gradient. */
typedef struct two {
    tnn_module *m, *a, *b;
    tnn_tensor_list *ps; /* "0.weight", "0.bias", "1.weight", "1.bias" */
} two;

static two two_new(void)
{
    two t;
    t.m = tnn_sequential_new();
    assert_non_null(t.m);
    t.a = tnn_linear_new(3, 2, true, NULL);
    t.b = tnn_linear_new(2, 2, true, NULL);
    assert_non_null(t.a);
    assert_non_null(t.b);
    TU_ASSERT_OK(tnn_sequential_add(t.m, t.a));
    TU_ASSERT_OK(tnn_sequential_add(t.m, t.b));
    t.ps = tnn_module_parameters(t.m, "");
    assert_non_null(t.ps);
    assert_int_equal(t.ps->count, 4);
    return t;
}

static void two_free(two *t)
{
    tnn_tensor_list_free(t->ps);
    tnn_module_free(t->m);
}

/* Every gradient of t set: layer a's to G (3, -4, 12: norm 13), layer b's to 100 each. */
static void two_set(two *t)
{
    memcpy(t->ps->items[0].grad, G, 6 * sizeof(float));
    memcpy(t->ps->items[1].grad, G + 6, 2 * sizeof(float));
    for (int k = 2; k < 4; k++)
        for (size_t i = 0; i < t->ps->items[k].count; i++) t->ps->items[k].grad[i] = 100.0f;
}

static void assert_a_clipped(const two *t, double max_norm)
{
    double want[NG];
    for (int i = 0; i < NG; i++) want[i] = G[i] * coef_of(max_norm, 13.0);
    float got[NG];
    memcpy(got, t->ps->items[0].grad, 6 * sizeof(float));
    memcpy(got + 6, t->ps->items[1].grad, 2 * sizeof(float));
    tu_assert_close(got, want, NG, 2.4e-7, 1e-30, "layer a clipped");
}

/* All of b's gradients equal to v. */
static void assert_b_all(const two *t, float v)
{
    for (int k = 2; k < 4; k++)
        for (size_t i = 0; i < t->ps->items[k].count; i++) assert_true(t->ps->items[k].grad[i] == v);
}

/* A discarded layer (torch's .grad None) is left out of the norm and left alone. */
static void discarded_gradient_skipped(void **state)
{
    (void)state;
    two t = two_new();
    two_set(&t);
    tnn_module_discard_grad(t.b);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 6.5, 2.0, true, &total));
    assert_true(total == 13.0f); /* b's 100s are not counted */
    assert_a_clipped(&t, 6.5);
    assert_b_all(&t, 0.0f); /* b's gradients read as zeros (the discard's), untouched */

    /* Values written by hand into b's buffers after the discard (no backward since: b
     * still has no gradient) are neither counted nor scaled, nor clamped. */
    two_set(&t);
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 6.5, 2.0, true, &total));
    assert_true(total == 13.0f);
    assert_a_clipped(&t, 6.5);
    assert_b_all(&t, 100.0f);
    two_set(&t);
    t.ps->items[0].grad[1] = NAN; /* a NaN coefficient reaches a's gradients only */
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 6.5, 2.0, false, &total));
    assert_true(isnan(total) && isnan(t.ps->items[1].grad[1]));
    assert_b_all(&t, 100.0f);
    two_set(&t);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, 5.0));
    assert_true(t.ps->items[0].grad[0] == 3.0f && t.ps->items[0].grad[2] == -4.0f && t.ps->items[1].grad[1] == 5.0f);
    assert_b_all(&t, 100.0f);
    two_free(&t);
}

/* A frozen child in a training step (discard, forward, backward): its backward writes no
 * gradient, so it has none and is skipped. A frozen child whose gradients were zeroed or
 * kept instead counts, as PyTorch's clip_grad_norm_(m.parameters()) counts a frozen
 * parameter whose .grad is a tensor. */
static void frozen_child_skipped(void **state)
{
    (void)state;
    two t = two_new();
    tnn_module_set_requires_grad(t.b, false);
    tnn_tensor *x = tnn_tensor_new2(1, 3), *dy = tnn_tensor_new2(1, 2);
    assert_non_null(x);
    assert_non_null(dy);
    for (int i = 0; i < 3; i++) x->data[i] = 1.0f + (float)i;
    dy->data[0] = 1.0f;
    dy->data[1] = -2.0f;
    two_set(&t);
    tnn_module_discard_grad(t.m);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(t.m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(t.m, dy, NULL));
    /* a's gradients are from the backward; write G over them (they have a gradient). */
    memcpy(t.ps->items[0].grad, G, 6 * sizeof(float));
    memcpy(t.ps->items[1].grad, G + 6, 2 * sizeof(float));
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 6.5, 2.0, true, &total));
    assert_true(total == 13.0f);
    assert_a_clipped(&t, 6.5);
    assert_b_all(&t, 0.0f);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    two_free(&t);

    /* Frozen, but holding gradients (a new model's, never discarded): counted, as in
     * PyTorch. */
    t = two_new();
    tnn_module_set_requires_grad(t.b, false);
    two_set(&t);
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, INFINITY, 2.0, true, &total));
    tu_assert_close1(total, sqrt(169.0 + 6.0 * 10000.0), 1.2e-7, 0.0, "frozen child with gradients");
    two_free(&t);
}

/* No parameter with a gradient, or no parameter at all: total 0, nothing changes, even
 * with error_if_nonfinite (torch returns tensor(0.)). */
static void no_gradient_at_all(void **state)
{
    (void)state;
    two t = two_new();
    two_set(&t);
    tnn_module_discard_grad(t.m);
    float total = -1.0f;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 1.0, 2.0, true, &total));
    assert_true(total == 0.0f);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, 1.0));
    two_free(&t);
    tnn_module *relu = tnn_relu_new();
    assert_non_null(relu);
    total = -1.0f;
    TU_ASSERT_OK(tnn_clip_grad_norm(relu, 1.0, INFINITY, true, &total));
    assert_true(total == 0.0f);
    TU_ASSERT_OK(tnn_clip_grad_value(relu, 1.0));
    tnn_module_free(relu);
}

/* error_if_nonfinite: a NaN or an infinity among the gradients, or a norm beyond
 * FLT_MAX, is refused with TNN_ERR_NUMERIC, naming the first parameter that holds one,
 * and every gradient keeps its bits. */
static void nonfinite_refused_with_the_flag(void **state)
{
    (void)state;
    two t = two_new();
    const struct { int param; size_t at; float v; double norm; const char *name, *what; } cases[] = {
        {1, 1, NAN, 2.0, "'0.bias'", "is nan"},
        {2, 3, INFINITY, 2.0, "'1.weight'", "is inf"},
        {3, 0, -INFINITY, INFINITY, "'1.bias'", "is inf"},
        {0, 2, NAN, INFINITY, "'0.weight'", "is nan"},
        {2, 0, NAN, 1.0, "'1.weight'", "is nan"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        two_set(&t);
        t.ps->items[cases[k].param].grad[cases[k].at] = cases[k].v;
        float before[4][6];
        for (int p = 0; p < 4; p++) memcpy(before[p], t.ps->items[p].grad, t.ps->items[p].count * sizeof(float));
        float total = -1.0f;
        TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, 1.0, cases[k].norm, true, &total), TNN_ERR_NUMERIC, "clip_grad_norm",
                      cases[k].what, cases[k].name, "no gradient was changed", NULL);
        assert_true(isnan(cases[k].v) ? isnan(total) : isinf(total));
        for (int p = 0; p < 4; p++) assert_memory_equal(before[p], t.ps->items[p].grad, t.ps->items[p].count * sizeof(float));
    }
    /* Every gradient finite, the norm beyond FLT_MAX: refused too, naming no parameter. */
    two_set(&t);
    t.ps->items[0].grad[0] = 3e38f;
    t.ps->items[0].grad[1] = -3e38f;
    TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, 1.0, 2.0, true, NULL), TNN_ERR_NUMERIC, "is inf", "overflows: every gradient is finite",
                  "every gradient is finite", NULL);
    assert_true(t.ps->items[0].grad[0] == 3e38f && t.ps->items[0].grad[1] == -3e38f);
    two_free(&t);
}

/* Without the flag, as torch: a NaN norm scales every gradient by NaN; an infinite one
 * by 0 (finite gradients become zeros of their sign, infinite ones NaN). */
static void nonfinite_without_the_flag(void **state)
{
    (void)state;
    lin t = lin_new();
    set_grads(&t, G);
    *t.g[4] = NAN;
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 1.0, 2.0, false, &total));
    assert_true(isnan(total));
    for (int i = 0; i < NG; i++) assert_true(isnan(*t.g[i]));

    set_grads(&t, G);
    *t.g[4] = -INFINITY;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 1.0, INFINITY, false, &total));
    assert_true(isinf(total) && total > 0.0f);
    for (int i = 0; i < NG; i++) {
        if (i == 4) assert_true(isnan(*t.g[i]));
        else assert_true(*t.g[i] == 0.0f && !!signbit(*t.g[i]) == !!signbit(G[i]));
    }
    /* max_norm INFINITY and an infinite norm: inf * 0 is NaN, as in torch. */
    set_grads(&t, G);
    *t.g[0] = INFINITY;
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, INFINITY, 2.0, false, &total));
    for (int i = 0; i < NG; i++) assert_true(isnan(*t.g[i]));
    tnn_module_free(t.m);
}

static void bad_arguments(void **state)
{
    (void)state;
    lin t = lin_new();
    set_grads(&t, G);
    float total = -1.0f;
    TU_ASSERT_ERR(tnn_clip_grad_norm(NULL, 1.0, 2.0, false, &total), TNN_ERR_ARG, "clip_grad_norm", "module is NULL", NULL);
    TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, -1.0, 2.0, false, &total), TNN_ERR_ARG, "clip_grad_norm", "max_norm -1", ">= 0",
                  NULL);
    TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, NAN, 2.0, false, &total), TNN_ERR_ARG, "max_norm nan", NULL);
    TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, -INFINITY, 2.0, false, &total), TNN_ERR_ARG, "max_norm -inf", NULL);
    const double bad_norms[] = {0.0, -2.0, -INFINITY, NAN};
    for (int k = 0; k < 4; k++)
        TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, 1.0, bad_norms[k], false, &total), TNN_ERR_ARG, "clip_grad_norm",
                      "norm_type", "must be > 0", NULL);
    TU_ASSERT_ERR(tnn_clip_grad_value(NULL, 1.0), TNN_ERR_ARG, "clip_grad_value", "module is NULL", NULL);
    TU_ASSERT_ERR(tnn_clip_grad_value(t.m, -0.5), TNN_ERR_ARG, "clip_grad_value", "clip_value -0.5", ">= 0", NULL);
    TU_ASSERT_ERR(tnn_clip_grad_value(t.m, NAN), TNN_ERR_ARG, "clip_value nan", NULL);
    /* Refusals change nothing, total_norm included. */
    assert_true(total == -1.0f);
    float got[NG];
    get_grads(&t, got);
    assert_memory_equal(got, G, sizeof G);
    /* A module that cannot be used (built by hand without tnn_module_init). */
    tnn_module bare;
    memset(&bare, 0, sizeof bare);
    TU_ASSERT_ERR(tnn_clip_grad_norm(&bare, 1.0, 2.0, false, NULL), TNN_ERR_ARG, "clip_grad_norm: the module has no vtable",
                  NULL);
    TU_ASSERT_ERR(tnn_clip_grad_value(&bare, 1.0), TNN_ERR_ARG, "clip_grad_value: the module has no vtable", NULL);
    tnn_module_free(t.m);
}

/* total_norm NULL: the same clipping. */
static void null_total_norm(void **state)
{
    (void)state;
    lin a = lin_new(), b = lin_new();
    set_grads(&a, G);
    set_grads(&b, G);
    float total;
    TU_ASSERT_OK(tnn_clip_grad_norm(a.m, 2.0, 2.0, true, &total));
    TU_ASSERT_OK(tnn_clip_grad_norm(b.m, 2.0, 2.0, true, NULL));
    float ga[NG], gb[NG];
    get_grads(&a, ga);
    get_grads(&b, gb);
    assert_memory_equal(ga, gb, sizeof ga);
    assert_true(ga[7] < 12.0f);
    tnn_module_free(a.m);
    tnn_module_free(b.m);
}

/* Another thread inside a call on the model (held here with the library's own mark):
 * both functions refuse with TNN_ERR_STATE and change nothing. */
typedef struct holder {
    tnn_module *m, *held;
    pthread_barrier_t in, done;
    tnn_status st;
} holder;

static void *hold_model(void *arg)
{
    holder *h = arg;
    h->st = tnn_module_enter(h->m, "test", &h->held);
    pthread_barrier_wait(&h->in);   /* the model is marked */
    pthread_barrier_wait(&h->done); /* the main thread has tried */
    if (h->st == TNN_OK) tnn_module_leave(h->held);
    return NULL;
}

static void model_in_use_refused(void **state)
{
    (void)state;
    lin t = lin_new();
    set_grads(&t, G);
    holder h;
    memset(&h, 0, sizeof h);
    h.m = t.m;
    assert_int_equal(pthread_barrier_init(&h.in, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&h.done, NULL, 2), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_model, &h), 0);
    pthread_barrier_wait(&h.in);
    TU_ASSERT_OK(h.st);
    float total = -1.0f;
    TU_ASSERT_ERR(tnn_clip_grad_norm(t.m, 1.0, 2.0, false, &total), TNN_ERR_STATE, "clip_grad_norm", "another thread",
                  NULL);
    TU_ASSERT_ERR(tnn_clip_grad_value(t.m, 1.0), TNN_ERR_STATE, "clip_grad_value", "another thread", NULL);
    pthread_barrier_wait(&h.done);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&h.in);
    pthread_barrier_destroy(&h.done);
    assert_true(total == -1.0f);
    float got[NG];
    get_grads(&t, got);
    assert_memory_equal(got, G, sizeof G);
    TU_ASSERT_OK(tnn_clip_grad_norm(t.m, 1.0, 2.0, false, &total)); /* free again */
    assert_true(total == 13.0f);
    tnn_module_free(t.m);
}

static void clip_value_clamps(void **state)
{
    (void)state;
    lin t = lin_new();
    const float g[NG] = {0.5f, -0.5f, 2.0f, -3.0f, NAN, INFINITY, -INFINITY, -0.0f};
    set_grads(&t, g);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, 1.0));
    const float want[NG] = {0.5f, -0.5f, 1.0f, -1.0f, NAN, 1.0f, -1.0f, -0.0f};
    for (int i = 0; i < NG; i++) {
        if (isnan(want[i])) assert_true(isnan(*t.g[i])); /* NaN stays NaN, as torch's clamp_ */
        else assert_true(*t.g[i] == want[i] && !!signbit(*t.g[i]) == !!signbit(want[i]));
    }
    /* clip_value 0: every gradient becomes a zero of its own sign (NaN stays). */
    set_grads(&t, g);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, 0.0));
    for (int i = 0; i < NG; i++) {
        if (isnan(g[i])) assert_true(isnan(*t.g[i]));
        else assert_true(*t.g[i] == 0.0f && !!signbit(*t.g[i]) == !!signbit(g[i]));
    }
    /* INFINITY: nothing changes. The bound is clip_value rounded to float (0.1f). */
    set_grads(&t, g);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, INFINITY));
    float got[NG];
    get_grads(&t, got);
    assert_memory_equal(got, g, sizeof g);
    set_grads(&t, g);
    TU_ASSERT_OK(tnn_clip_grad_value(t.m, 0.1));
    assert_true(*t.g[2] == 0.1f && *t.g[3] == -0.1f);
    tnn_module_free(t.m);
}

/* Long gradients: a Linear(1100 -> 1100), 1,210,000 weights (19 parts of 65,536 scalars,
 * the last short, in two batches of at most 16 parts), then 1,100 biases, filled from a
 * seeded generator. */
enum { BIG = 1100 };

static tnn_module *big_new(float **w, float **b)
{
    tnn_module *m = tnn_linear_new(BIG, BIG, true, NULL);
    assert_non_null(m);
    tnn_tensor_list *l = tnn_module_parameters(m, "");
    assert_non_null(l);
    *w = l->items[0].grad;
    *b = l->items[1].grad;
    tnn_tensor_list_free(l);
    return m;
}

static void big_fill(float *w, float *b, uint64_t seed)
{
    tnn_rng r;
    tnn_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)BIG * BIG; i++) w[i] = (float)(tnn_rng_uniform(&r) * 2.0 - 1.0);
    for (size_t i = 0; i < BIG; i++) b[i] = (float)(tnn_rng_uniform(&r) * 2.0 - 1.0);
}

/* The norms of long gradients against sums computed here in long double, element by
 * element: the 2-, 1- and 3-norms within an ulp of float (the library's double sums
 * round to the same float but for a value within rounding of a tie), the inf-norm
 * exact; and then the same bits, norm and scaled gradients, on 1, 2 and 3 threads. */
static void long_gradients_on_any_thread_count(void **state)
{
    (void)state;
    float *w, *b;
    tnn_module *m = big_new(&w, &b);
    const size_t nw = (size_t)BIG * BIG;
    float *want = malloc((nw + BIG) * sizeof(float));
    assert_non_null(want);
    const double orders[] = {2.0, 1.0, 3.0, INFINITY};
    for (int o = 0; o < 4; o++) {
        big_fill(w, b, 77);
        long double s = 0.0L, mx = 0.0L;
        for (size_t i = 0; i < nw + BIG; i++) {
            const long double a = fabsl((long double)(i < nw ? w[i] : b[i - nw]));
            s += orders[o] == 3.0 ? a * a * a : orders[o] == 2.0 ? a * a : a;
            if (a > mx) mx = a;
        }
        const double ref = isinf(orders[o]) ? (double)mx : orders[o] == 2.0 ? (double)sqrtl(s)
                           : orders[o] == 1.0 ? (double)s : (double)cbrtl(s);
        float first = 0.0f;
        for (int threads = 1; threads <= 3; threads++) {
            tnn_parallel_set_threads(threads);
            big_fill(w, b, 77);
            float total;
            TU_ASSERT_OK(tnn_clip_grad_norm(m, 1.0, orders[o], true, &total));
            if (threads == 1) {
                first = total;
                if (isinf(orders[o])) assert_true(total == (float)ref);
                else assert_true(fabs((double)total - ref) <= 0.5 * ref * FLT_EPSILON + fabs((double)(float)ref - ref));
                memcpy(want, w, nw * sizeof(float));
                memcpy(want + nw, b, BIG * sizeof(float));
            } else {
                assert_memory_equal(&total, &first, sizeof total);
                assert_memory_equal(w, want, nw * sizeof(float));
                assert_memory_equal(b, want + nw, BIG * sizeof(float));
            }
        }
    }
    /* clip_grad_value on any thread count: the same clamp. */
    for (int threads = 1; threads <= 3; threads++) {
        tnn_parallel_set_threads(threads);
        big_fill(w, b, 78);
        TU_ASSERT_OK(tnn_clip_grad_value(m, 0.5));
        for (size_t i = 0; i < nw; i += 4099) assert_true(fabsf(w[i]) <= 0.5f);
        if (threads == 1) memcpy(want, w, nw * sizeof(float));
        else assert_memory_equal(w, want, nw * sizeof(float));
    }
    tnn_parallel_set_threads(1);
    free(want);
    tnn_module_free(m);
}

/* A NaN in a part of the second batch: the inf-norm and the 2-norm are NaN, and with
 * error_if_nonfinite the message names the weight; the last part (short) too. */
static void long_gradient_nan_found(void **state)
{
    (void)state;
    float *w, *b;
    tnn_module *m = big_new(&w, &b);
    const size_t places[] = {(size_t)65536 * 16 + 5, (size_t)BIG * BIG - 1};
    for (int k = 0; k < 2; k++) {
        tnn_parallel_set_threads(2);
        big_fill(w, b, 79);
        w[places[k]] = NAN;
        float total;
        assert_int_equal(tnn_clip_grad_norm(m, 1.0, INFINITY, true, &total), TNN_ERR_NUMERIC);
        assert_true(isnan(total));
        assert_non_null(strstr(tnn_last_error(), "'weight' has a non-finite gradient"));
        assert_true(w[0] == w[0] && isnan(w[places[k]])); /* nothing changed */
        assert_int_equal(tnn_clip_grad_norm(m, 1.0, 2.0, false, &total), TNN_OK);
        assert_true(isnan(total) && isnan(w[0]));
    }
    tnn_parallel_set_threads(1);
    tnn_module_free(m);
}

/* Once the module exists, clipping allocates nothing (it visits the parameters instead
 * of collecting a list), whatever the order or the gradients' length. */
static void clipping_allocates_nothing(void **state)
{
    (void)state;
    float *w, *b;
    tnn_module *seq = tnn_sequential_new();
    assert_non_null(seq);
    TU_ASSERT_OK(tnn_sequential_add(seq, tnn_linear_new(3, 2, true, NULL)));
    tnn_module *m = big_new(&w, &b);
    TU_ASSERT_OK(tnn_sequential_add(seq, m));
    big_fill(w, b, 80);
    tnn_parallel_set_threads(2);
    float total;
    tu_alloc_install(-1);
    TU_ASSERT_OK(tnn_clip_grad_norm(seq, 1.0, 2.0, false, &total));
    TU_ASSERT_OK(tnn_clip_grad_norm(seq, 1.0, 2.5, false, &total));
    TU_ASSERT_OK(tnn_clip_grad_norm(seq, 1.0, INFINITY, false, &total));
    TU_ASSERT_OK(tnn_clip_grad_value(seq, 0.001));
    w[7] = NAN;
    assert_int_equal(tnn_clip_grad_norm(seq, 1.0, 2.0, true, &total), TNN_ERR_NUMERIC);
    long count = tu_alloc_count();
    tu_alloc_uninstall();
    assert_int_equal(count, 0);
    assert_non_null(strstr(tnn_last_error(), "'1.weight'"));
    tnn_parallel_set_threads(1);
    tnn_module_free(seq);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(norm2_by_hand),
    cmocka_unit_test(norm1_by_hand),
    cmocka_unit_test(norm_inf_by_hand),
    cmocka_unit_test(norm3_by_hand),
    cmocka_unit_test(max_norm_above_the_norm),
    cmocka_unit_test(zero_gradients),
    cmocka_unit_test(discarded_gradient_skipped),
    cmocka_unit_test(frozen_child_skipped),
    cmocka_unit_test(no_gradient_at_all),
    cmocka_unit_test(nonfinite_refused_with_the_flag),
    cmocka_unit_test(nonfinite_without_the_flag),
    cmocka_unit_test(bad_arguments),
    cmocka_unit_test(null_total_norm),
    cmocka_unit_test(model_in_use_refused),
    cmocka_unit_test(clip_value_clamps),
    cmocka_unit_test(long_gradients_on_any_thread_count),
    cmocka_unit_test(long_gradient_nan_found),
    cmocka_unit_test(clipping_allocates_nothing),
};

TU_MAIN("clip", tests)
