/* tnn_optimizer_set_lr / get_lr: a changed learning rate is used from the next step on
 * and the optimizer's state is kept. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tinynn/tinynn.h>

/* A 3 -> 2 linear model with fixed weights, its gradient set by one MSE step. */
static tnn_module *model(void)
{
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    return tnn_linear_new(3, 2, true, &r);
}

static void fill_grads(tnn_module *m)
{
    tnn_tensor *x = tnn_tensor_new2(4, 3), *t = tnn_tensor_new2(4, 2), *g = tnn_tensor_new2(4, 2);
    for (size_t i = 0; i < x->size; i++) x->data[i] = (float)i * 0.1f - 0.5f;
    const tnn_tensor *y;
    float loss;
    tnn_module_zero_grad(m);
    assert_int_equal(tnn_module_forward(m, x, &y), TNN_OK);
    assert_int_equal(tnn_mse_loss(y, t, &loss, g), TNN_OK);
    assert_int_equal(tnn_module_backward(m, g, NULL), TNN_OK);
    tnn_tensor_free(x);
    tnn_tensor_free(t);
    tnn_tensor_free(g);
}

static void same_params(tnn_module *a, tnn_module *b)
{
    tnn_tensor_list *la = tnn_module_parameters(a, ""), *lb = tnn_module_parameters(b, "");
    assert_int_equal(la->count, lb->count);
    for (int i = 0; i < la->count; i++)
        assert_memory_equal(la->items[i].data, lb->items[i].data, la->items[i].count * sizeof(float));
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);
}

/* Adam at lr 0.1 for two steps, then 0.01 for two: the same as an Adam whose lr is
 * changed at the same point, and different from one that kept 0.1. */
static void run(tnn_optimizer *(*make)(tnn_module *, double), void (*check)(tnn_optimizer *))
{
    tnn_module *a = model(), *b = model(), *c = model();
    tnn_optimizer *oa = make(a, 0.1), *ob = make(b, 0.1), *oc = make(c, 0.1);
    assert_true(tnn_optimizer_get_lr(oa) == 0.1);
    for (int step = 0; step < 4; step++) {
        if (step == 2) {
            assert_int_equal(tnn_optimizer_set_lr(oa, 0.01), TNN_OK);
            assert_int_equal(tnn_optimizer_set_lr(ob, 0.01), TNN_OK);
        }
        fill_grads(a);
        fill_grads(b);
        fill_grads(c);
        assert_int_equal(tnn_optimizer_step(oa), TNN_OK);
        assert_int_equal(tnn_optimizer_step(ob), TNN_OK);
        assert_int_equal(tnn_optimizer_step(oc), TNN_OK);
    }
    assert_true(tnn_optimizer_get_lr(oa) == 0.01);
    same_params(a, b);
    tnn_tensor_list *la = tnn_module_parameters(a, ""), *lc = tnn_module_parameters(c, "");
    assert_true(memcmp(la->items[0].data, lc->items[0].data, la->items[0].count * sizeof(float)) != 0);
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lc);
    if (check) check(oa);
    tnn_optimizer_free(oa);
    tnn_optimizer_free(ob);
    tnn_optimizer_free(oc);
    tnn_module_free(a);
    tnn_module_free(b);
    tnn_module_free(c);
}

static tnn_optimizer *make_adam(tnn_module *m, double lr)
{
    tnn_adam_params p = tnn_adam_defaults();
    p.lr = lr;
    return tnn_adam_new(m, p);
}

static tnn_optimizer *make_sgd(tnn_module *m, double lr)
{
    tnn_sgd_params p = tnn_sgd_defaults();
    p.lr = lr;
    p.momentum = 0.9;
    return tnn_sgd_new(m, p);
}

static void adam_keeps_step_count(tnn_optimizer *o) { assert_int_equal(tnn_adam_step_count(o), 4); }

static void test_adam_set_lr(void **state) { (void)state; run(make_adam, adam_keeps_step_count); }
static void test_sgd_set_lr(void **state) { (void)state; run(make_sgd, NULL); }

/* An optimizer with one step and no learning rate: set_lr is refused. */
static tnn_status noop_step(tnn_optimizer *o) { (void)o; return TNN_OK; }
static void noop_free(tnn_optimizer *o)
{
    tnn_tensor_list_free(o->params);
    free(o);
}

static void test_errors(void **state)
{
    (void)state;
    tnn_module *m = model();
    tnn_optimizer *o = make_adam(m, 0.1);
    assert_int_equal(tnn_optimizer_set_lr(o, -1.0), TNN_ERR_ARG);
    assert_int_equal(tnn_optimizer_set_lr(o, NAN), TNN_ERR_ARG);
    assert_int_equal(tnn_optimizer_set_lr(o, INFINITY), TNN_ERR_ARG);
    assert_true(tnn_optimizer_get_lr(o) == 0.1);
    assert_int_equal(tnn_optimizer_set_lr(NULL, 0.1), TNN_ERR_ARG);
    assert_true(isnan(tnn_optimizer_get_lr(NULL)));
    tnn_optimizer_free(o);

    static const tnn_optimizer_vtable vt = {.type_name = "noop", .step = noop_step, .free = noop_free};
    tnn_optimizer *n = calloc(1, sizeof *n);
    assert_int_equal(tnn_optimizer_init(n, &vt, m), TNN_OK);
    assert_int_equal(tnn_optimizer_set_lr(n, 0.1), TNN_ERR_ARG);
    assert_non_null(strstr(tnn_last_error(), "noop"));
    assert_true(isnan(tnn_optimizer_get_lr(n)));
    tnn_optimizer_free(n);
    tnn_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_set_lr),
        cmocka_unit_test(test_sgd_set_lr),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
