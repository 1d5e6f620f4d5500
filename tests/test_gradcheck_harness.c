/* The gradient-check harness is itself tested: a module written against the public
 * header (tinynn/module.h) with a deliberately wrong backward must make it report a
 * mismatch, and the same module with the right backward must pass. A check that
 * cannot fail is a defect. */
#include "gradcheck.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* y[i][j] = a[j] * x[i][j]^2 + b[j]   (a, b: learnable, [features]) */
typedef enum fault {
    FAULT_NONE,
    FAULT_DX_TIMES_1_1,      /* dL/dx scaled by 1.1 */
    FAULT_DX_TIMES_1_01,     /* dL/dx scaled by 1.01: a 1% error must show too */
    FAULT_DA_WRONG,          /* dL/da forgets the square: sum dy * x */
    FAULT_DB_OVERWRITES,     /* dL/db assigned with = instead of accumulated with += */
    FAULT_NO_DX,             /* backward does not return dL/dx */
    FAULT_DEAD               /* y = 0 and all gradients 0: zero compared with zero */
} fault;

typedef struct square_module {
    tnn_module base;
    int c;
    fault f;
    float a[4], b[4], da[4], db[4];
    const tnn_tensor *x;
    tnn_tensor *y, *dx;
} square_module;

static tnn_status sq_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    square_module *s = (square_module *)m;
    if (x->ndim != 2 || x->shape[1] != s->c) return TNN_ERR_SHAPE;
    tnn_tensor_free(s->y);
    tnn_tensor_free(s->dx);
    s->y = tnn_tensor_new(2, x->shape);
    s->dx = tnn_tensor_new(2, x->shape);
    if (!s->y || !s->dx) return TNN_ERR_NOMEM;
    for (int i = 0; i < x->shape[0]; i++)
        for (int j = 0; j < s->c; j++) {
            float v = *tnn_at2(x, i, j);
            *tnn_at2(s->y, i, j) = s->f == FAULT_DEAD ? 0.0f : s->a[j] * v * v + s->b[j];
        }
    s->x = x;
    *y = s->y;
    return TNN_OK;
}

static tnn_status sq_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    square_module *s = (square_module *)m;
    if (!s->x) return TNN_ERR_STATE;
    if (s->f == FAULT_DEAD) {
        tnn_tensor_zero(s->dx);
        if (dx) *dx = s->dx;
        return TNN_OK;
    }
    if (s->f == FAULT_DB_OVERWRITES)
        for (int j = 0; j < s->c; j++) s->db[j] = 0.0f;
    for (int i = 0; i < s->x->shape[0]; i++)
        for (int j = 0; j < s->c; j++) {
            float g = *tnn_at2(dy, i, j), v = *tnn_at2(s->x, i, j);
            float gx = 2.0f * s->a[j] * v * g;
            if (s->f == FAULT_DX_TIMES_1_1) gx *= 1.1f;
            if (s->f == FAULT_DX_TIMES_1_01) gx *= 1.01f;
            *tnn_at2(s->dx, i, j) = gx;
            if (m->requires_grad) {
                s->da[j] += g * (s->f == FAULT_DA_WRONG ? v : v * v);
                s->db[j] += g;
            }
        }
    if (dx && s->f != FAULT_NO_DX) *dx = s->dx;
    return TNN_OK;
}

static tnn_status sq_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    square_module *s = (square_module *)m;
    char name[2][128];
    snprintf(name[0], sizeof name[0], "%sa", prefix);
    snprintf(name[1], sizeof name[1], "%sb", prefix);
    tnn_named_tensor t = {.dtype = TNN_F32, .ndim = 1, .shape = {s->c, 1, 1, 1}, .count = (size_t)s->c, .is_param = true};
    t.name = name[0];
    t.data = s->a;
    t.grad = s->da;
    tnn_status st = fn(ctx, &t);
    if (st) return st;
    t.name = name[1];
    t.data = s->b;
    t.grad = s->db;
    return fn(ctx, &t);
}

static void sq_free(tnn_module *m)
{
    square_module *s = (square_module *)m;
    tnn_tensor_free(s->y);
    tnn_tensor_free(s->dx);
    free(s);
}

static const tnn_module_vtable square_vt = {
    .type_name = "square", .forward = sq_forward, .backward = sq_backward, .visit = sq_visit, .free = sq_free,
};

static tnn_module *square_new(fault f, tnn_rng *r)
{
    square_module *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    tnn_module_init(&s->base, &square_vt);
    s->c = 4;
    s->f = f;
    for (int j = 0; j < s->c; j++) {
        s->a[j] = 0.5f + tnn_rng_uniform(r);
        s->b[j] = tnn_rng_uniform(r) - 0.5f;
    }
    return &s->base;
}

/* Runs the harness on a square module with fault f; returns its result. */
static int check_square(fault f, gradcheck_report *rep)
{
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_module *m = square_new(f, &r);
    assert_non_null(m);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f);
    assert_non_null(x);
    int res = gradcheck_module(m, x, gradcheck_defaults(), rep);
    tnn_tensor_free(x);
    tnn_module_free(m);
    return res;
}

static void gradcheck_harness_passes_correct_module(void **state)
{
    (void)state;
    gradcheck_report rep;
    assert_int_equal(check_square(FAULT_NONE, &rep), GRADCHECK_PASS);
    assert_int_equal(rep.tensors, 3); /* input, a, b */
    assert_int_equal(rep.elements, 12 + 4 + 4);
    assert_int_equal(rep.failed, 0);
}

static void gradcheck_harness_detects_wrong_input_grad(void **state)
{
    (void)state;
    gradcheck_report rep;
    assert_int_equal(check_square(FAULT_DX_TIMES_1_1, &rep), GRADCHECK_MISMATCH);
    assert_int_equal(rep.failed, 1);
    assert_string_equal(rep.worst_tensor, "input");
    assert_true(rep.max_rel_err > 0.05);
}

static void gradcheck_harness_detects_one_percent_error(void **state)
{
    (void)state;
    gradcheck_report rep;
    assert_int_equal(check_square(FAULT_DX_TIMES_1_01, &rep), GRADCHECK_MISMATCH);
    assert_string_equal(rep.worst_tensor, "input");
}

static void gradcheck_harness_detects_wrong_param_grad(void **state)
{
    (void)state;
    gradcheck_report rep;
    assert_int_equal(check_square(FAULT_DA_WRONG, &rep), GRADCHECK_MISMATCH);
    assert_int_equal(rep.failed, 1);
    assert_string_equal(rep.worst_tensor, "a");
}

static void gradcheck_harness_detects_unaccumulated_grad(void **state)
{
    (void)state;
    /* The values of one backward are right; only accumulation over two is wrong. */
    assert_int_equal(check_square(FAULT_DB_OVERWRITES, NULL), GRADCHECK_MISMATCH);
}

/* A backward that returns no dL/dx: tnn_module_backward refuses it (TNN_ERR_STATE,
 * naming the module) before the checker compares anything, and the check fails. */
static void gradcheck_harness_detects_missing_dx(void **state)
{
    (void)state;
    assert_int_equal(check_square(FAULT_NO_DX, NULL), TNN_ERR_STATE);
    assert_non_null(strstr(tnn_last_error(), "square backward returned no dx"));
}

static void gradcheck_harness_detects_zero_vs_zero(void **state)
{
    (void)state;
    assert_int_equal(check_square(FAULT_DEAD, NULL), GRADCHECK_MISMATCH);
}

/* ---- the loss variant ---- */

typedef struct mse_ctx {
    const tnn_tensor *target;
    float grad_scale;
} mse_ctx;

static tnn_status scaled_mse(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad)
{
    mse_ctx *c = ctx;
    tnn_status st = tnn_mse_loss(x, c->target, loss, grad);
    if (!st && grad) tnn_tensor_scale(grad, c->grad_scale);
    return st;
}

static int check_mse(float scale)
{
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f), *t = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f);
    assert_non_null(x);
    assert_non_null(t);
    mse_ctx c = {t, scale};
    int res = gradcheck_loss("mse*scale", scaled_mse, &c, x, gradcheck_defaults(), NULL);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
    return res;
}

static void gradcheck_harness_loss_detects_wrong_grad(void **state)
{
    (void)state;
    assert_int_equal(check_mse(1.0f), GRADCHECK_PASS);
    assert_int_equal(check_mse(1.1f), GRADCHECK_MISMATCH);
    assert_int_equal(check_mse(1.01f), GRADCHECK_MISMATCH);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gradcheck_harness_passes_correct_module),
    cmocka_unit_test(gradcheck_harness_detects_wrong_input_grad),
    cmocka_unit_test(gradcheck_harness_detects_one_percent_error),
    cmocka_unit_test(gradcheck_harness_detects_wrong_param_grad),
    cmocka_unit_test(gradcheck_harness_detects_unaccumulated_grad),
    cmocka_unit_test(gradcheck_harness_detects_missing_dx),
    cmocka_unit_test(gradcheck_harness_detects_zero_vs_zero),
    cmocka_unit_test(gradcheck_harness_loss_detects_wrong_grad),
};

TU_MAIN("gradcheck_harness", tests)
