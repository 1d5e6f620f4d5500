/* Unit tests of Unflatten (tnn_unflatten_new, tinynn/layers.h): shapes (one to three
 * dimensions, trailing dimensions kept as torch keeps them; torch's -1, a size inferred
 * at each forward), a view both ways (no copy,
 * no allocation), the shape copied from the caller, refusals of arguments and inputs
 * naming the module and both shapes, describe and no parameters, the allocation of its
 * creation failing, and Linear -> Unflatten -> Conv2d in a Sequential (the Sequential
 * keeps no buffer of a view: the same input again is accepted), against the layers run
 * one by one. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_shape(const tnn_tensor *t, int ndim, const int *shape)
{
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) fail_msg("dimension %d: %d, expected %d", i, t->shape[i], shape[i]);
}

/* [2 x 12] -> [2 x 1 x 3 x 4] as a view of x; dL/dx is dy under x's shape, a view of
 * dy. One dimension and two work alike. */
static void unflatten_shapes_and_views(void **state)
{
    (void)state;
    tnn_module *m = tnn_unflatten_new(3, (int[]){1, 3, 4});
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new2(2, 12);
    for (size_t i = 0; i < x->size; i++) x->data[i] = (float)i;
    const tnn_tensor *y, *dx;
    tu_alloc_install(-1); /* a view: nothing allocated, forward or backward */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    long count = tu_alloc_count();
    tu_alloc_uninstall();
    assert_int_equal(count, 0);
    expect_shape(y, 4, (int[]){2, 1, 3, 4});
    assert_ptr_equal(y->data, x->data);
    assert_int_equal(y->size, 24);
    assert_false(y->owns);
    tnn_tensor *dy = tnn_tensor_new4(2, 1, 3, 4);
    tu_alloc_install(-1);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    count = tu_alloc_count();
    tu_alloc_uninstall();
    assert_int_equal(count, 0);
    expect_shape(dx, 2, (int[]){2, 12});
    assert_ptr_equal(dx->data, dy->data);
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    tnn_module_free(m);

    m = tnn_unflatten_new(1, (int[]){12}); /* one dimension: [2 x 12] stays */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    expect_shape(y, 2, (int[]){2, 12});
    tnn_module_free(m);
    m = tnn_unflatten_new(2, (int[]){6, 2});
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    expect_shape(y, 3, (int[]){2, 6, 2});
    tnn_tensor *dy3 = tnn_tensor_new3(2, 6, 2);
    TU_ASSERT_OK(tnn_module_backward(m, dy3, &dx));
    expect_shape(dx, 2, (int[]){2, 12});
    tnn_module_free(m);
    tnn_tensor_free(dy3);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
}

/* torch's Unflatten(1, shape) keeps the dimensions after the first two: [2 x 6 x 5]
 * -> [2 x 2 x 3 x 5]; a result of more than four dimensions is refused. */
static void unflatten_trailing_dimensions(void **state)
{
    (void)state;
    tnn_module *m = tnn_unflatten_new(2, (int[]){2, 3}), *m3 = tnn_unflatten_new(3, (int[]){1, 2, 3});
    tnn_tensor *x = tnn_tensor_new3(2, 6, 5);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    expect_shape(y, 4, (int[]){2, 2, 3, 5});
    assert_ptr_equal(y->data, x->data);
    tnn_tensor *dy = tnn_tensor_new4(2, 2, 3, 5);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    expect_shape(dx, 3, (int[]){2, 6, 5});
    TU_ASSERT_ERR(tnn_module_forward(m3, x, &y), TNN_ERR_SHAPE, "unflatten(1, [1 x 2 x 3])", "[2 x 6 x 5]",
                  "5-D", NULL);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_module_free(m);
    tnn_module_free(m3);
}

/* The module keeps a copy of shape: the caller's array may change or go. */
static void unflatten_copies_shape(void **state)
{
    (void)state;
    int *shape = malloc(3 * sizeof *shape);
    shape[0] = 2;
    shape[1] = 2;
    shape[2] = 3;
    tnn_module *m = tnn_unflatten_new(3, shape);
    shape[0] = 99;
    free(shape);
    char d[64];
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "unflatten(1, [2 x 2 x 3])");
    tnn_tensor *x = tnn_tensor_new2(1, 12);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    expect_shape(y, 4, (int[]){1, 2, 2, 3});
    tnn_tensor_free(x);
    tnn_module_free(m);
}

static void unflatten_refusals(void **state)
{
    (void)state;
    assert_null(tnn_unflatten_new(0, (int[]){4}));
    TU_ASSERT_MSG("unflatten", "ndim is 0", "1..3", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_unflatten_new(4, (int[]){1, 2, 3, 4}));
    TU_ASSERT_MSG("ndim is 4", NULL);
    assert_null(tnn_unflatten_new(2, NULL));
    TU_ASSERT_MSG("unflatten", "shape is NULL", NULL);
    assert_null(tnn_unflatten_new(2, (int[]){3, 0}));
    TU_ASSERT_MSG("shape[1] is 0", "must be >= 1", NULL);
    assert_null(tnn_unflatten_new(2, (int[]){-2, 4}));
    TU_ASSERT_MSG("unflatten", "shape[0] is -2", "must be >= 1, or -1", NULL);
    assert_null(tnn_unflatten_new(3, (int[]){2, -1, -1}));
    TU_ASSERT_MSG("unflatten", "shape[1] and shape[2] are both -1", "only one size can be inferred", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    assert_null(tnn_unflatten_new(2, (int[]){0, -1})); /* a zero beside a -1: refused as alone */
    TU_ASSERT_MSG("shape[0] is 0", NULL);
    assert_null(tnn_unflatten_new(3, (int[]){-1, 65536, 65536})); /* the other sizes' product still counts */
    TU_ASSERT_MSG("exceeds 2147483647", NULL);
    assert_null(tnn_unflatten_new(3, (int[]){65536, 65536, 2}));
    TU_ASSERT_MSG("product of shape's sizes exceeds 2147483647", NULL);
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    tnn_module *big = tnn_unflatten_new(2, (int[]){INT_MAX, 1}); /* the largest product fits */
    assert_non_null(big);
    tnn_module_free(big);

    tnn_module *m = tnn_unflatten_new(3, (int[]){4, 2, 2});
    const tnn_tensor *y, *dx;
    tnn_tensor *x1 = tnn_tensor_new1(16), *wrong = tnn_tensor_new2(3, 15), *x = tnn_tensor_new2(3, 16);
    TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "unflatten(1, [4 x 2 x 2])", "[16] is 1-D",
                  "[1 x 16]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, wrong, &y), TNN_ERR_SHAPE, "unflatten(1, [4 x 2 x 2])", "[3 x 15]",
                  "15 elements in dimension 1", "holds 16", NULL);
    tnn_tensor *dy = tnn_tensor_new4(3, 4, 2, 2);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "unflatten", "before forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    tnn_tensor *bad = tnn_tensor_new4(3, 4, 2, 1);
    TU_ASSERT_ERR(tnn_module_backward(m, bad, &dx), TNN_ERR_SHAPE, "[3 x 4 x 2 x 1]", "[3 x 4 x 2 x 2]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    expect_shape(dx, 2, (int[]){3, 16});
    tnn_tensor_free(bad);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_tensor_free(x1);
    tnn_tensor_free(wrong);
    tnn_module_free(m);
}

/* torch's -1: one size inferred at each forward from dimension 1 of the input, as
 * torch.nn.Unflatten(1, (-1, 2, 2)) does (torch 1.13: [3, 12] -> [3, 3, 2, 2]; [3, 10]
 * refused, "Provided sizes [-1, 2, 2] don't multiply up to the size of dim 1 (10)";
 * Unflatten(1, (2, -1)): [3, 12, 5] -> [3, 2, 6, 5]). A view both ways, nothing
 * allocated; another batch and width infer again; the -1 anywhere in the shape, or
 * alone. */
static void unflatten_inferred_size(void **state)
{
    (void)state;
    char d[64];
    tnn_module *m = tnn_unflatten_new(3, (int[]){-1, 2, 2});
    assert_non_null(m);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "unflatten(1, [-1 x 2 x 2])");
    tnn_tensor *x = tnn_tensor_new2(3, 12), *x2 = tnn_tensor_new2(5, 8), *x3 = tnn_tensor_new3(3, 12, 5);
    const tnn_tensor *y, *dx;
    tu_alloc_install(-1);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    long count = tu_alloc_count();
    tu_alloc_uninstall();
    assert_int_equal(count, 0);
    expect_shape(y, 4, (int[]){3, 3, 2, 2});
    assert_ptr_equal(y->data, x->data);
    tnn_tensor *dy = tnn_tensor_new4(3, 3, 2, 2);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    expect_shape(dx, 2, (int[]){3, 12});
    assert_ptr_equal(dx->data, dy->data);
    /* another input: inferred again, and the backward checks dy against that output */
    TU_ASSERT_OK(tnn_module_forward(m, x2, &y));
    expect_shape(y, 4, (int[]){5, 2, 2, 2});
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_SHAPE, "[3 x 3 x 2 x 2]", "[5 x 2 x 2 x 2]", NULL);
    tnn_tensor *dy2 = tnn_tensor_new4(5, 2, 2, 2);
    TU_ASSERT_OK(tnn_module_backward(m, dy2, &dx));
    expect_shape(dx, 2, (int[]){5, 8});
    /* trailing dimensions stay (below), but not past four dimensions: torch's [3, 3, 2,
     * 2, 5] is refused */
    TU_ASSERT_ERR(tnn_module_forward(m, x3, &y), TNN_ERR_SHAPE, "[3 x 12 x 5]", "would become 5-D", NULL);
    tnn_module_free(m);

    /* the -1 last, or alone */
    m = tnn_unflatten_new(2, (int[]){2, -1});
    TU_ASSERT_OK(tnn_module_forward(m, x3, &y));
    expect_shape(y, 4, (int[]){3, 2, 6, 5});
    tnn_module_free(m);
    m = tnn_unflatten_new(1, (int[]){-1});
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    expect_shape(y, 2, (int[]){3, 12});
    tnn_module_free(m);

    /* refused at the forward: a width the other sizes do not divide, a 1-D input */
    m = tnn_unflatten_new(3, (int[]){-1, 2, 2});
    tnn_tensor *wrong = tnn_tensor_new2(3, 10), *x1 = tnn_tensor_new1(12);
    TU_ASSERT_ERR(tnn_module_forward(m, wrong, &y), TNN_ERR_SHAPE, "unflatten(1, [-1 x 2 x 2])", "[3 x 10]",
                  "10 elements in dimension 1", "not a multiple of 4", NULL);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, "before forward", NULL); /* the refused forward counts */
    TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "unflatten(1, [-1 x 2 x 2])", "[12] is 1-D",
                  "a multiple of 4", NULL);
    tnn_module_free(m);

    /* Linear(5 -> 18) -> Unflatten(1, [-1, 3, 3]) -> Conv2d(2 -> 3, k3, p1) in a Sequential */
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(5, 18, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_unflatten_new(3, (int[]){-1, 3, 3})));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 3, 3, 1, 1, true, &r)));
    tnn_tensor *xs = tnn_tensor_new2(4, 5);
    tnn_tensor_uniform(xs, &r, -1.0f, 1.0f);
    TU_ASSERT_OK(tnn_module_forward(s, xs, &y));
    expect_shape(y, 4, (int[]){4, 3, 3, 3});
    tnn_tensor *dys = tnn_tensor_new4(4, 3, 3, 3);
    TU_ASSERT_OK(tnn_module_backward(s, dys, &dx));
    expect_shape(dx, 2, (int[]){4, 5});
    tnn_module_free(s);
    tnn_tensor_free(xs);
    tnn_tensor_free(dys);
    tnn_tensor_free(wrong);
    tnn_tensor_free(x1);
    tnn_tensor_free(dy);
    tnn_tensor_free(dy2);
    tnn_tensor_free(x);
    tnn_tensor_free(x2);
    tnn_tensor_free(x3);
}

/* describe, type, no parameters; the one allocation of its creation failing gives
 * NULL and TNN_ERR_NOMEM naming unflatten, nothing leaked. */
static void unflatten_describe_and_allocation(void **state)
{
    (void)state;
    char d[64];
    tnn_module *m = tnn_unflatten_new(3, (int[]){128, 8, 8});
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "unflatten(1, [128 x 8 x 8])");
    assert_string_equal(m->vt->type_name, "unflatten");
    assert_int_equal(tnn_module_num_params(m), 0);
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 0);
    tnn_tensor_list_free(l);
    tnn_module_free(m);
    tu_alloc_install(0);
    assert_null(tnn_unflatten_new(1, (int[]){3}));
    assert_int_equal(tnn_last_status(), TNN_ERR_NOMEM);
    assert_non_null(strstr(tnn_last_error(), "unflatten"));
    long live = tu_alloc_live();
    tu_alloc_uninstall();
    assert_int_equal(live, 0);
}

/* Linear(5 -> 2*3*3) -> Unflatten(1, [2, 3, 3]) -> Conv2d(2 -> 3, k3, p1) -> Tanh in a
 * Sequential: the chain's output and dL/dx against the layers run one by one; the
 * Unflatten's output, a view of the Linear's buffer, is not kept as a buffer of its own
 * (the same input again is accepted, the Linear's buffer refused as input naming the
 * Linear); an Unflatten alone in a Sequential passes a view of the input through. */
static void unflatten_in_sequential(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 17);
    tnn_module *s = tnn_sequential_new();
    tnn_module *lin = tnn_linear_new(5, 18, true, &r);
    TU_ASSERT_OK(tnn_sequential_add(s, lin));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_unflatten_new(3, (int[]){2, 3, 3})));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 3, 3, 1, 1, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    tnn_tensor *x = tnn_tensor_new2(4, 5), *dy = tnn_tensor_new4(4, 3, 3, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    const tnn_tensor *y, *dx, *g;
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), x, &y));
    for (int i = 1; i < 4; i++) TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, i), y, &y));
    tnn_tensor *y1 = tnn_tensor_clone(y);
    g = dy;
    for (int i = 3; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(tnn_sequential_get(s, i), g, &g));
    tnn_tensor *dx1 = tnn_tensor_clone(g);
    tnn_module_zero_grad(s);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    expect_shape(y, 4, (int[]){4, 3, 3, 3});
    assert_memory_equal(y->data, y1->data, y1->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    expect_shape(dx, 2, (int[]){4, 5});
    assert_memory_equal(dx->data, dx1->data, dx1->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_forward(s, x, &y)); /* the same input again */
    const tnn_tensor *ly;
    TU_ASSERT_OK(tnn_module_forward(lin, x, &ly)); /* the Linear's buffer as input: refused */
    TU_ASSERT_ERR(tnn_module_forward(s, ly, &y), TNN_ERR_ARG, "child 0 (linear(5->18))", NULL);

    tnn_module *only = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(only, tnn_unflatten_new(2, (int[]){5, 1})));
    TU_ASSERT_OK(tnn_module_forward(only, x, &y));
    expect_shape(y, 3, (int[]){4, 5, 1});
    assert_ptr_equal(y->data, x->data);
    TU_ASSERT_OK(tnn_module_forward(only, x, &y)); /* again: its output is the input itself */
    tnn_tensor *d3 = tnn_tensor_new3(4, 5, 1);
    TU_ASSERT_OK(tnn_module_backward(only, d3, &dx));
    expect_shape(dx, 2, (int[]){4, 5});
    assert_ptr_equal(dx->data, d3->data);
    tnn_tensor_free(d3);
    tnn_module_free(only);
    tnn_tensor_free(y1);
    tnn_tensor_free(dx1);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(unflatten_shapes_and_views),
    cmocka_unit_test(unflatten_trailing_dimensions),
    cmocka_unit_test(unflatten_copies_shape),
    cmocka_unit_test(unflatten_refusals),
    cmocka_unit_test(unflatten_inferred_size),
    cmocka_unit_test(unflatten_describe_and_allocation),
    cmocka_unit_test(unflatten_in_sequential),
};

TU_MAIN("unflatten", tests)
