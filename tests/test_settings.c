/* Settings structs (tnn_sgd_params, tnn_adam_params, tnn_adamw_params, tnn_rmsprop_params,
 * tnn_batchnorm_params, tnn_layernorm_params, tnn_pool2d_params,
 * tnn_class_loss_params): each must start from its defaults function. A struct written
 * as {.field = value} has every other field 0 (Adam's betas and eps, a BatchNorm without
 * parameters, an ignore_index of 0 that drops class 0 from the loss), and every function
 * that takes one refuses it with TNN_ERR_ARG naming the function and the defaults
 * function, and does nothing else. Starting from the defaults and changing fields works,
 * and so does a copy of such a struct. */
#include "testutil.h"

#include <string.h>

static tnn_module *small_linear(void)
{
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *m = tnn_linear_new(3, 2, true, &r);
    assert_non_null(m);
    return m;
}

static void optimizers_refuse_settings_not_from_defaults(void **state)
{
    (void)state;
    tnn_module *m = small_linear();

    tnn_clear_error();
    assert_null(tnn_adam_new(m, (tnn_adam_params){.lr = 0.01}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("adam", "tnn_adam_defaults()", "{.field = value}", (const char *)NULL);
    tnn_clear_error();
    assert_null(tnn_sgd_new(m, (tnn_sgd_params){.lr = 0.1, .momentum = 0.9}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("sgd", "tnn_sgd_defaults()", (const char *)NULL);
    tnn_clear_error();
    assert_null(tnn_adamw_new(m, (tnn_adamw_params){.lr = 0.01, .weight_decay = 0.1}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("adamw", "tnn_adamw_defaults()", (const char *)NULL);
    tnn_clear_error();
    assert_null(tnn_rmsprop_new(m, (tnn_rmsprop_params){.lr = 0.00005}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("rmsprop", "tnn_rmsprop_defaults()", (const char *)NULL);

    /* All fields written out by hand, the tag too but wrong: still refused. */
    tnn_adam_params a = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .amsgrad = true,
                         .tag = 1};
    assert_null(tnn_adam_new(m, a));
    assert_null(tnn_adamw_new(m, (tnn_adamw_params){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                                                    .amsgrad = true}));
    TU_ASSERT_MSG("adamw", "tnn_adamw_defaults()", (const char *)NULL);

    /* From the defaults, changed, and copied: taken. */
    tnn_adam_params ad = tnn_adam_defaults();
    ad.lr = 0.0002;
    ad.beta1 = 0.5;
    tnn_adam_params copy;
    memcpy(&copy, &ad, sizeof copy);
    tnn_optimizer *o = tnn_adam_new(m, copy);
    assert_non_null(o);
    assert_true(tnn_optimizer_get_lr(o) == 0.0002);
    tnn_optimizer_free(o);
    tnn_sgd_params sd = tnn_sgd_defaults();
    sd.momentum = 0.9;
    o = tnn_sgd_new(m, sd);
    assert_non_null(o);
    tnn_optimizer_free(o);
    tnn_rmsprop_params rd = tnn_rmsprop_defaults();
    rd.lr = 0.00005;
    tnn_rmsprop_params rcopy;
    memcpy(&rcopy, &rd, sizeof rcopy);
    o = tnn_rmsprop_new(m, rcopy);
    assert_non_null(o);
    assert_true(tnn_optimizer_get_lr(o) == 0.00005);
    tnn_optimizer_free(o);
    tnn_adamw_params wd = tnn_adamw_defaults();
    wd.weight_decay = 0.05;
    wd.amsgrad = true;
    o = tnn_adamw_new(m, wd);
    assert_non_null(o);
    tnn_optimizer_free(o);
    tnn_module_free(m);
}

static void normalisations_refuse_settings_not_from_defaults(void **state)
{
    (void)state;
    tnn_clear_error();
    assert_null(tnn_batchnorm1d_new(4, (tnn_batchnorm_params){.eps = 0.8}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("batchnorm1d", "tnn_batchnorm_defaults()", (const char *)NULL);
    tnn_clear_error();
    assert_null(tnn_batchnorm2d_new(4, (tnn_batchnorm_params){.eps = 0.8, .momentum = 0.1, .affine = true,
                                                              .track_running_stats = true}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("batchnorm2d", "tnn_batchnorm_defaults()", (const char *)NULL);

    tnn_clear_error();
    assert_null(tnn_layernorm_new(1, (int[]){4}, (tnn_layernorm_params){.eps = 1e-6}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("layer_norm", "tnn_layernorm_defaults()", (const char *)NULL);
    tnn_layernorm_params lp = tnn_layernorm_defaults();
    lp.eps = 1e-6;
    tnn_module *ln = tnn_layernorm_new(1, (int[]){4}, lp);
    assert_non_null(ln);
    assert_int_equal(tnn_module_num_params(ln), 8);
    tnn_module_free(ln);

    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.8; /* the GAN's BatchNorm1d(out_feat, 0.8) */
    tnn_module *b = tnn_batchnorm1d_new(4, p);
    assert_non_null(b);
    assert_int_equal(tnn_module_num_params(b), 8); /* weight and bias: affine kept its default */
    tnn_module_free(b);
}

/* {.ceil_mode = true} has count_include_pad false (not torch's default): both pools
 * refuse it, naming tnn_pool2d_defaults(). */
static void pools_refuse_settings_not_from_defaults(void **state)
{
    (void)state;
    tnn_clear_error();
    assert_null(tnn_max_pool2d_new_with(2, (tnn_pool2d_params){.ceil_mode = true}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("max_pool2d", "tnn_pool2d_defaults()", (const char *)NULL);
    tnn_clear_error();
    assert_null(tnn_avg_pool2d_new_with(2, (tnn_pool2d_params){.ceil_mode = true}));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    TU_ASSERT_MSG("avg_pool2d", "tnn_pool2d_defaults()", (const char *)NULL);
    tnn_pool2d_params p = tnn_pool2d_defaults();
    p.ceil_mode = true;
    tnn_pool2d_params copy;
    memcpy(&copy, &p, sizeof copy);
    tnn_module *a = tnn_avg_pool2d_new_with(2, copy), *m = tnn_max_pool2d_new_with(2, copy);
    assert_non_null(a);
    assert_non_null(m);
    char d[96];
    assert_string_equal(tnn_module_describe(a, d, sizeof d), "avg_pool2d(k2, s2, p0, ceil_mode=true)"); /* counted */
    tnn_module_free(a);
    tnn_module_free(m);
}

static void class_losses_refuse_settings_not_from_defaults(void **state)
{
    (void)state;
    /* Two samples, one of class 0: {.label_smoothing = 0} would have ignore_index 0 and
     * leave it out. */
    const float lg[] = {2.0f, -1.0f, 0.5f, 0.25f, 1.0f, -0.5f};
    const int targets[] = {0, 2};
    tnn_tensor *logits = tnn_tensor_new2(2, 3);
    assert_non_null(logits);
    memcpy(logits->data, lg, sizeof lg);
    tnn_tensor *grad = tnn_tensor_new2(2, 3);
    assert_non_null(grad);
    float loss = -1.0f, plain = -2.0f;

    TU_ASSERT_ERR(tnn_cross_entropy_loss_with(logits, targets, (tnn_class_loss_params){.label_smoothing = 0.0},
                                              &loss, grad),
                  TNN_ERR_ARG, "cross_entropy_loss_with", "tnn_class_loss_defaults()", (const char *)NULL);
    assert_true(loss == -1.0f); /* nothing written */
    TU_ASSERT_ERR(tnn_nll_loss_with(logits, targets, (tnn_class_loss_params){.ignore_index = -100}, &loss, grad),
                  TNN_ERR_ARG, "nll_loss_with", "tnn_class_loss_defaults()", (const char *)NULL);

    tnn_class_loss_params p = tnn_class_loss_defaults();
    TU_ASSERT_OK(tnn_cross_entropy_loss_with(logits, targets, p, &loss, grad));
    TU_ASSERT_OK(tnn_cross_entropy_loss(logits, targets, &plain, NULL));
    assert_true(loss == plain); /* both samples counted */
    tnn_tensor_free(logits);
    tnn_tensor_free(grad);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(optimizers_refuse_settings_not_from_defaults),
    cmocka_unit_test(normalisations_refuse_settings_not_from_defaults),
    cmocka_unit_test(pools_refuse_settings_not_from_defaults),
    cmocka_unit_test(class_losses_refuse_settings_not_from_defaults),
};

TU_MAIN("settings", tests)
