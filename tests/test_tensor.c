/* Unit tests of tensors (tinynn/tensor.h): creation, fills, copies, views, reshapes,
 * shape strings and error paths. */
#include "testutil.h"

#include <string.h>

static void tensor_new_shapes_and_zeros(void **state)
{
    (void)state;
    tnn_tensor *t = tnn_tensor_new4(2, 3, 4, 5);
    assert_non_null(t);
    assert_int_equal(t->ndim, 4);
    assert_int_equal(t->size, 120);
    assert_true(t->owns);
    for (int i = 0; i < 4; i++) assert_int_equal(tnn_tensor_dim(t, i), i + 2);
    for (size_t i = 0; i < t->size; i++) assert_true(t->data[i] == 0.0f);
    tnn_tensor_free(t);

    t = tnn_tensor_new1(7);
    assert_non_null(t);
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->size, 7);
    assert_int_equal(tnn_tensor_dim(t, 0), 7);
    assert_int_equal(tnn_tensor_dim(t, 1), 1); /* trailing dims are 1 */
    assert_int_equal(tnn_tensor_dim(t, 3), 1);
    assert_int_equal(tnn_tensor_dim(t, -1), 1);
    assert_int_equal(tnn_tensor_dim(t, 9), 1);
    tnn_tensor_free(t);

    t = tnn_tensor_new3(2, 1, 3);
    assert_non_null(t);
    assert_int_equal(t->size, 6);
    assert_int_equal(t->shape[3], 1);
    tnn_tensor_free(t);

    t = tnn_tensor_new(2, (int[]){4, 6});
    assert_non_null(t);
    assert_int_equal(t->size, 24);
    *tnn_at2(t, 2, 5) = 3.0f;
    assert_true(t->data[2 * 6 + 5] == 3.0f);
    tnn_tensor_free(t);
}

static void tensor_new_rejects_bad_shapes(void **state)
{
    (void)state;
    tnn_clear_error();
    assert_null(tnn_tensor_new(0, (int[]){1}));
    TU_ASSERT_MSG("0 dimensions", NULL);
    assert_null(tnn_tensor_new(5, (int[]){1, 1, 1, 1, 1}));
    TU_ASSERT_MSG("5 dimensions", NULL);
    assert_null(tnn_tensor_new(2, NULL));
    assert_null(tnn_tensor_new2(0, 4)); /* a batch of 0 rows */
    TU_ASSERT_MSG("dimension 0 is 0", NULL);
    assert_null(tnn_tensor_new2(3, -1));
    TU_ASSERT_MSG("dimension 1 is -1", NULL);
    /* Overflowing element counts are refused, not wrapped. */
    assert_null(tnn_tensor_new4(1 << 30, 1 << 30, 1 << 30, 1 << 30));
    TU_ASSERT_MSG("too large", NULL);
}

static void tensor_free_null_is_noop(void **state)
{
    (void)state;
    tnn_tensor_free(NULL);
    tnn_tensor_zero(NULL);
    tnn_tensor_fill(NULL, 1.0f);
    tnn_tensor_scale(NULL, 2.0f);
}

static void tensor_fill_zero_scale_clone(void **state)
{
    (void)state;
    tnn_tensor *t = tnn_tensor_new2(3, 4);
    assert_non_null(t);
    tnn_tensor_fill(t, 2.5f);
    for (size_t i = 0; i < t->size; i++) assert_true(t->data[i] == 2.5f);
    tnn_tensor_scale(t, -2.0f);
    for (size_t i = 0; i < t->size; i++) assert_true(t->data[i] == -5.0f);
    tnn_tensor *c = tnn_tensor_clone(t);
    assert_non_null(c);
    assert_true(tnn_tensor_same_shape(c, t));
    assert_ptr_not_equal(c->data, t->data);
    assert_memory_equal(c->data, t->data, t->size * sizeof(float));
    tnn_tensor_zero(t);
    for (size_t i = 0; i < t->size; i++) assert_true(t->data[i] == 0.0f);
    assert_true(c->data[0] == -5.0f); /* a deep copy */
    tnn_tensor_free(c);
    assert_null(tnn_tensor_clone(NULL));
    tnn_tensor_free(t);
    /* Headers filled in by hand that disagree with themselves: clone copied `size`
     * floats into a block allocated by the shape, fill and scale wrote through a NULL
     * data pointer. Now clone refuses, the others leave the header alone. */
    float buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tnn_tensor h = {.data = buf, .ndim = 2, .shape = {2, 2, 1, 1}, .size = 8};
    assert_null(tnn_tensor_clone(&h));
    TU_ASSERT_MSG("tensor clone", "has size 8, but its shape [2 x 2] holds 4 elements", NULL);
    tnn_tensor none = {.data = NULL, .ndim = 1, .shape = {4, 1, 1, 1}, .size = 4};
    assert_null(tnn_tensor_clone(&none));
    TU_ASSERT_MSG("tensor clone", "has no data", NULL);
    tnn_tensor_fill(&none, 1.0f);
    tnn_tensor_scale(&none, 2.0f);
    tnn_tensor_zero(&none);
    tnn_tensor four = {.data = buf, .ndim = 1, .shape = {4, 1, 1, 1}, .size = 4};
    TU_ASSERT_ERR(tnn_tensor_copy(&none, &four), TNN_ERR_ARG, "tensor copy", "destination has no data", NULL);
    TU_ASSERT_ERR(tnn_tensor_copy(&four, &none), TNN_ERR_ARG, "tensor copy", "source has no data", NULL);
}

static void tensor_copy_and_mismatch(void **state)
{
    (void)state;
    tnn_tensor *a = tnn_tensor_new2(2, 3), *b = tnn_tensor_new2(3, 2), *c = tnn_tensor_new2(4, 2);
    assert_true(a && b && c);
    for (size_t i = 0; i < a->size; i++) a->data[i] = (float)i;
    /* Same number of elements, other shape: a flat copy. */
    TU_ASSERT_OK(tnn_tensor_copy(b, a));
    assert_memory_equal(b->data, a->data, a->size * sizeof(float));
    assert_int_equal(b->shape[0], 3); /* dst keeps its shape */
    /* Different sizes: an error naming both shapes, dst untouched. */
    tnn_tensor_fill(c, 9.0f);
    TU_ASSERT_ERR(tnn_tensor_copy(c, a), TNN_ERR_SHAPE, "[4 x 2]", "[2 x 3]", NULL);
    for (size_t i = 0; i < c->size; i++) assert_true(c->data[i] == 9.0f);
    TU_ASSERT_ERR(tnn_tensor_copy(NULL, a), TNN_ERR_ARG, NULL);
    TU_ASSERT_ERR(tnn_tensor_copy(a, NULL), TNN_ERR_ARG, NULL);
    tnn_tensor_free(a);
    tnn_tensor_free(b);
    tnn_tensor_free(c);
}

static void tensor_views_share_data(void **state)
{
    (void)state;
    tnn_tensor *t = tnn_tensor_new2(2, 6);
    assert_non_null(t);
    for (size_t i = 0; i < t->size; i++) t->data[i] = (float)i;

    tnn_tensor *v = tnn_tensor_reshape_view(t, 3, (int[]){3, 2, 2});
    assert_non_null(v);
    assert_false(v->owns);
    assert_ptr_equal(v->data, t->data);
    assert_int_equal(v->size, 12);
    assert_int_equal(v->ndim, 3);
    v->data[11] = -1.0f;
    assert_true(t->data[11] == -1.0f); /* writes through */
    tnn_tensor_free(v);                /* frees the header only */
    assert_true(t->data[0] == 0.0f && t->data[11] == -1.0f);

    /* A view of caller memory. */
    float buf[6] = {1, 2, 3, 4, 5, 6};
    tnn_tensor *w = tnn_tensor_view(buf, 2, (int[]){2, 3});
    assert_non_null(w);
    assert_ptr_equal(w->data, buf);
    assert_true(*tnn_at2(w, 1, 2) == 6.0f);
    /* A view cannot grow past its memory, but may shrink. */
    TU_ASSERT_ERR(tnn_tensor_resize(w, 2, (int[]){3, 3}), TNN_ERR_SHAPE, NULL);
    TU_ASSERT_OK(tnn_tensor_resize(w, 1, (int[]){4}));
    assert_int_equal(w->size, 4);
    assert_ptr_equal(w->data, buf);
    tnn_tensor_free(w);
    assert_null(tnn_tensor_view(NULL, 1, (int[]){3}));

    /* Mismatched reshape view: NULL and both shapes in the message. */
    assert_null(tnn_tensor_reshape_view(t, 2, (int[]){5, 2}));
    TU_ASSERT_MSG("[2 x 6]", "[5 x 2]", NULL);
    assert_null(tnn_tensor_reshape_view(NULL, 1, (int[]){1}));
    tnn_tensor_free(t);
}

static void tensor_reshape_and_resize(void **state)
{
    (void)state;
    tnn_tensor *t = tnn_tensor_new2(4, 3);
    assert_non_null(t);
    for (size_t i = 0; i < t->size; i++) t->data[i] = (float)i;
    TU_ASSERT_OK(tnn_tensor_reshape(t, 3, (int[]){2, 3, 2}));
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[2], 2);
    assert_true(t->data[11] == 11.0f);
    TU_ASSERT_ERR(tnn_tensor_reshape(t, 2, (int[]){5, 3}), TNN_ERR_SHAPE, "[2 x 3 x 2]", NULL);
    assert_int_equal(t->ndim, 3); /* unchanged after the failure */
    TU_ASSERT_ERR(tnn_tensor_reshape(NULL, 1, (int[]){1}), TNN_ERR_ARG, NULL);
    TU_ASSERT_ERR(tnn_tensor_reshape(t, 1, (int[]){0}), TNN_ERR_ARG, NULL);

    /* An owned tensor grows on resize (a new batch size) and keeps its capacity. */
    TU_ASSERT_OK(tnn_tensor_resize(t, 2, (int[]){10, 10}));
    assert_int_equal(t->size, 100);
    assert_true(t->capacity >= 100);
    t->data[99] = 1.0f;
    TU_ASSERT_OK(tnn_tensor_resize(t, 2, (int[]){2, 2}));
    assert_int_equal(t->size, 4);
    assert_true(t->capacity >= 100);
    TU_ASSERT_ERR(tnn_tensor_resize(NULL, 1, (int[]){1}), TNN_ERR_ARG, NULL);
    tnn_tensor_free(t);
}

static void tensor_shape_strings(void **state)
{
    (void)state;
    char buf[64];
    tnn_tensor *t = tnn_tensor_new2(128, 784);
    assert_non_null(t);
    assert_string_equal(tnn_tensor_shape_str(t, buf, sizeof buf), "[128 x 784]");
    tnn_tensor_free(t);
    t = tnn_tensor_new1(5);
    assert_string_equal(tnn_tensor_shape_str(t, buf, sizeof buf), "[5]");
    tnn_tensor_free(t);
    t = tnn_tensor_new4(2, 1, 28, 28);
    assert_string_equal(tnn_tensor_shape_str(t, buf, sizeof buf), "[2 x 1 x 28 x 28]");
    /* Too small a buffer: truncated, still terminated, no overflow. */
    char small[8];
    memset(small, 'z', sizeof small);
    tnn_tensor_shape_str(t, small, 6);
    assert_int_equal(strlen(small), 5);
    assert_true(small[6] == 'z');
    tnn_tensor_free(t);
    assert_string_equal(tnn_tensor_shape_str(NULL, buf, sizeof buf), "(null)");
    assert_null(tnn_tensor_shape_str(t, NULL, 10));
}

static void tensor_same_shape(void **state)
{
    (void)state;
    tnn_tensor *a = tnn_tensor_new2(2, 3), *b = tnn_tensor_new2(2, 3), *c = tnn_tensor_new2(3, 2),
               *d = tnn_tensor_new3(2, 3, 1);
    assert_true(a && b && c && d);
    assert_true(tnn_tensor_same_shape(a, b));
    assert_false(tnn_tensor_same_shape(a, c));
    assert_false(tnn_tensor_same_shape(a, d)); /* same size, different rank */
    assert_false(tnn_tensor_same_shape(a, NULL));
    tnn_tensor_free(a);
    tnn_tensor_free(b);
    tnn_tensor_free(c);
    tnn_tensor_free(d);
}

/* Every allocation of tnn_tensor_new / clone / resize can fail: the call reports
 * TNN_ERR_NOMEM (or NULL), leaks nothing and leaves the tensor usable. */
static void tensor_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 2; k++) {
        tu_alloc_install(k);
        tnn_clear_error();
        assert_null(tnn_tensor_new2(3, 3));
        TU_ASSERT_MSG("out of memory", NULL);
        assert_int_equal(tu_alloc_live(), 0);
        tu_alloc_uninstall();
    }
    tu_alloc_install(-1);
    tnn_tensor *t = tnn_tensor_new2(2, 2);
    assert_non_null(t);
    tnn_tensor_fill(t, 1.0f);
    tu_alloc_install(0);
    assert_null(tnn_tensor_clone(t));
    tu_alloc_install(0);
    TU_ASSERT_ERR(tnn_tensor_resize(t, 2, (int[]){100, 100}), TNN_ERR_NOMEM, NULL);
    assert_int_equal(t->size, 4); /* unchanged */
    assert_true(t->data[3] == 1.0f);
    tu_alloc_uninstall(); /* t came from malloc through the hooks; free() matches */
    tnn_tensor_free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tensor_new_shapes_and_zeros),
    cmocka_unit_test(tensor_new_rejects_bad_shapes),
    cmocka_unit_test(tensor_free_null_is_noop),
    cmocka_unit_test(tensor_fill_zero_scale_clone),
    cmocka_unit_test(tensor_copy_and_mismatch),
    cmocka_unit_test(tensor_views_share_data),
    cmocka_unit_test(tensor_reshape_and_resize),
    cmocka_unit_test(tensor_shape_strings),
    cmocka_unit_test(tensor_same_shape),
    cmocka_unit_test(tensor_allocation_failures),
};

TU_MAIN("tensor", tests)
