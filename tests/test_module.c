/* Unit tests of the built-in layers through the module interface (tinynn/module.h,
 * tinynn/layers.h): values by hand, initialisation, state_dict entries, batch-size
 * changes, modes, and the error paths (wrong input width, NULL, batch 0, backward
 * before forward, bad constructor arguments). */
#include "testutil.h"
#include "parallel_impl.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static float *param(tnn_module *m, const char *name)
{
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_non_null(l);
    const tnn_named_tensor *t = tnn_tensor_list_find(l, name);
    float *p = t ? t->data : NULL;
    tnn_tensor_list_free(l);
    assert_non_null(p);
    return p;
}

static float *grad(tnn_module *m, const char *name)
{
    tnn_tensor_list *l = tnn_module_parameters(m, "");
    assert_non_null(l);
    const tnn_named_tensor *t = tnn_tensor_list_find(l, name);
    float *g = t ? t->grad : NULL;
    tnn_tensor_list_free(l);
    assert_non_null(g);
    return g;
}

static void set(float *dst, const float *src, size_t n) { memcpy(dst, src, n * sizeof(float)); }

/* y = x W^T + b and its backward, by hand. */
static void linear_values_by_hand(void **state)
{
    (void)state;
    tnn_module *m = tnn_linear_new(3, 2, true, NULL);
    assert_non_null(m);
    set(param(m, "weight"), (float[]){1, 2, 3, 4, 5, 6}, 6);
    set(param(m, "bias"), (float[]){0.5f, -1}, 2);
    float xd[6] = {1, 0, -1, 2, 1, 0};
    tnn_tensor *x = tnn_tensor_view(xd, 2, (int[]){2, 3});
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 2);
    tu_assert_close(y->data, ((double[]){-1.5, -3, 4.5, 12}), 4, 1e-6, 1.0, "linear y");
    float dyd[4] = {1, 0, 0, 1};
    tnn_tensor *dy = tnn_tensor_view(dyd, 2, (int[]){2, 2});
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    tu_assert_close(dx->data, ((double[]){1, 2, 3, 4, 5, 6}), 6, 1e-6, 1.0, "linear dx = dy W");
    tu_assert_close(grad(m, "weight"), ((double[]){1, 0, -1, 2, 1, 0}), 6, 1e-6, 1.0, "linear dW = dy^T x");
    tu_assert_close(grad(m, "bias"), ((double[]){1, 1}), 2, 1e-6, 1.0, "linear db");
    /* Gradients accumulate until zero_grad. */
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, NULL));
    tu_assert_close(grad(m, "bias"), ((double[]){2, 2}), 2, 1e-6, 1.0, "linear db after two passes");
    tnn_module_zero_grad(m);
    tu_assert_close(grad(m, "weight"), ((double[]){0, 0, 0, 0, 0, 0}), 6, 0.0, 1.0, "zeroed dW");
    /* Frozen: dL/dx still flows, parameter gradients stay untouched. */
    tnn_module_set_requires_grad(m, false);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    tu_assert_close(dx->data, ((double[]){1, 2, 3, 4, 5, 6}), 6, 1e-6, 1.0, "frozen linear dx");
    tu_assert_close(grad(m, "weight"), ((double[]){0, 0, 0, 0, 0, 0}), 6, 0.0, 1.0, "frozen dW");
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(m);
}

/* torch.nn.Linear's init: weight then bias, each U(-1/sqrt(in), 1/sqrt(in)). */
static void linear_init_like_pytorch(void **state)
{
    (void)state;
    const int in = 100, out = 50;
    tnn_rng r, ref;
    tnn_rng_seed(&r, 3);
    tnn_rng_seed(&ref, 3);
    tnn_module *m = tnn_linear_new(in, out, true, &r);
    assert_non_null(m);
    const float bound = 0.1f;
    float *w = param(m, "weight"), *b = param(m, "bias");
    double sum = 0.0, mx = 0.0;
    for (int i = 0; i < in * out; i++) {
        assert_true(fabsf(w[i]) <= bound);
        assert_true(w[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref)); /* weight drawn first */
        sum += w[i];
        mx = fmax(mx, fabs(w[i]));
    }
    for (int i = 0; i < out; i++) {
        assert_true(fabsf(b[i]) <= bound);
        assert_true(b[i] == -bound + 2.0f * bound * tnn_rng_uniform(&ref)); /* then bias */
    }
    assert_true(fabs(sum / (in * out)) < 0.005); /* std of the mean: 0.1/sqrt(3*5000) */
    assert_true(mx > 0.099);
    assert_int_equal(tnn_module_num_params(m), in * out + out);
    tnn_module_free(m);

    m = tnn_linear_new(3, 2, false, NULL); /* no rng: zeros; no bias */
    assert_non_null(m);
    assert_int_equal(tnn_module_num_params(m), 6);
    for (int i = 0; i < 6; i++) assert_true(param(m, "weight")[i] == 0.0f);
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 1);
    assert_string_equal(l->items[0].name, "weight");
    assert_int_equal(l->items[0].ndim, 2);
    assert_int_equal(l->items[0].shape[0], 2);
    assert_int_equal(l->items[0].shape[1], 3);
    assert_true(l->items[0].is_param);
    tnn_tensor_list_free(l);
    tnn_module_free(m);
}

/* Changing the batch size between calls reallocates; results stay right. */
static void linear_batch_size_changes(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 4);
    tnn_module *m = tnn_linear_new(6, 5, true, &r);
    assert_non_null(m);
    const float *w = param(m, "weight"), *b = param(m, "bias");
    const int batches[] = {2, 9, 1, 4, 33};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        int n = batches[k];
        tnn_tensor *x = tu_rand_tensor(&r, n, 6, -1.0f, 1.0f);
        const tnn_tensor *y, *dx;
        TU_ASSERT_OK(tnn_module_forward(m, x, &y));
        assert_int_equal(y->shape[0], n);
        double want[33 * 5];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < 5; o++) {
                double acc = b[o];
                for (int j = 0; j < 6; j++) acc += (double)x->data[i * 6 + j] * w[o * 6 + j];
                want[i * 5 + o] = acc;
            }
        tu_assert_close(y->data, want, (size_t)n * 5, 1e-5, 1.0, "linear y after a batch change");
        tnn_tensor *dy = tnn_tensor_new2(n, 5);
        tnn_tensor_fill(dy, 1.0f);
        TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
        assert_int_equal(dx->shape[0], n);
        assert_int_equal(dx->shape[1], 6);
        tnn_tensor_free(dy);
        tnn_tensor_free(x);
    }
    tnn_module_free(m);
}

/* BatchNorm1d: batch statistics with the biased variance in training, running
 * estimates with the unbiased one, num_batches_tracked counted; eval uses them. */
/* discard_grad (Linear's next backward writes its gradients instead of adding):
 * gradients must still read as zero through parameters(), the next backward must give
 * exactly one pass's gradients, and an optimizer step after a discard without backward
 * (a frozen layer) must see zeros, not stale values. */
static void discard_grad(void **state)
{
    (void)state;
    tnn_rng rng;
    tnn_rng_seed(&rng, 3);
    tnn_module *seq = tnn_sequential_new();
    assert_int_equal(tnn_sequential_add(seq, tnn_linear_new(3, 4, true, &rng)), TNN_OK);
    assert_int_equal(tnn_sequential_add(seq, tnn_tanh_new()), TNN_OK);
    assert_int_equal(tnn_sequential_add(seq, tnn_linear_new(4, 2, true, &rng)), TNN_OK);
    tnn_tensor *x = tnn_tensor_new2(5, 3), *dy = tnn_tensor_new2(5, 2);
    tnn_tensor_uniform(x, &rng, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &rng, -1.0f, 1.0f);
    const tnn_tensor *y;
    const char *names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    const size_t counts[4] = {12, 4, 8, 2};

    /* one pass from zero, the reference */
    float ref[4][12];
    tnn_module_zero_grad(seq);
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    for (int k = 0; k < 4; k++) memcpy(ref[k], grad(seq, names[k]), counts[k] * sizeof(float));

    /* a second pass accumulates; discard_grad then reads as zero through parameters() */
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    assert_true(grad(seq, "0.weight")[0] == 2.0f * ref[0][0]);
    tnn_module_discard_grad(seq);
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < counts[k]; i++) assert_true(grad(seq, names[k])[i] == 0.0f);

    /* discard, then one pass: exactly the reference, not reference + stale */
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    tnn_module_discard_grad(seq);
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < counts[k]; i++) assert_true(grad(seq, names[k])[i] == ref[k][i]);

    /* an optimizer kept its grad pointers from creation: discard, a frozen backward
     * (no gradients written), step -> SGD must see zeros and leave the weights alone */
    tnn_sgd_params sp = tnn_sgd_defaults();
    sp.lr = 1.0;
    tnn_optimizer *opt = tnn_sgd_new(seq, sp);
    assert_non_null(opt);
    float w0[12];
    memcpy(w0, param(seq, "0.weight"), sizeof w0);
    tnn_optimizer_discard_grad(opt);
    tnn_module_set_requires_grad(seq, false);
    assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
    assert_memory_equal(param(seq, "0.weight"), w0, sizeof w0);
    /* ... and with the layer trainable again, one step moves it by exactly -ref */
    tnn_module_set_requires_grad(seq, true);
    tnn_optimizer_discard_grad(opt);
    assert_int_equal(tnn_module_backward(seq, dy, NULL), TNN_OK);
    assert_int_equal(tnn_optimizer_step(opt), TNN_OK);
    for (int i = 0; i < 12; i++) assert_true(param(seq, "0.weight")[i] == w0[i] - ref[0][i]);

    tnn_optimizer_free(opt);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(seq);
}

static void batchnorm1d_values_by_hand(void **state)
{
    (void)state;
    tnn_module *m = tnn_batchnorm1d_new(2, tnn_batchnorm_defaults());
    assert_non_null(m);
    /* Column 0: 1 2 3 4 (mean 2.5, biased var 1.25, unbiased 5/3); column 1: constant 7. */
    float xd[8] = {1, 7, 2, 7, 3, 7, 4, 7};
    tnn_tensor *x = tnn_tensor_view(xd, 2, (int[]){4, 2});
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    const double s = sqrt(1.25 + 1e-5);
    /* The constant column normalises to 0 up to rounding: invstd = 1/sqrt(eps) ~ 316 makes
     * y = x * invstd - mean * invstd a difference of two ~2214s, as in PyTorch. */
    tu_assert_close(y->data, ((double[]){-1.5 / s, 0, -0.5 / s, 0, 0.5 / s, 0, 1.5 / s, 0}), 8, 1e-4, 1.0, "bn y");
    tu_assert_close(param(m, "running_mean"), ((double[]){0.25, 0.7}), 2, 1e-6, 1e-3, "running_mean");
    tu_assert_close(param(m, "running_var"), ((double[]){0.9 + 0.1 * 5.0 / 3.0, 0.9}), 2, 1e-6, 1e-3, "running_var");
    assert_int_equal(*(int64_t *)(void *)param(m, "num_batches_tracked"), 1);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(*(int64_t *)(void *)param(m, "num_batches_tracked"), 2);
    tu_assert_close(param(m, "running_mean"), ((double[]){0.9 * 0.25 + 0.25, 0.9 * 0.7 + 0.7}), 2, 1e-6, 1e-3,
                    "running_mean after two batches");

    /* Eval: running statistics, nothing updated; one row is fine. */
    tnn_module_train(m, false);
    const float *rm = param(m, "running_mean"), *rv = param(m, "running_var");
    float xe[2] = {2.0f, -1.0f};
    tnn_tensor *x1 = tnn_tensor_view(xe, 2, (int[]){1, 2});
    TU_ASSERT_OK(tnn_module_forward(m, x1, &y));
    tu_assert_close(y->data,
                    ((double[]){(2.0 - rm[0]) / sqrt(rv[0] + 1e-5), (-1.0 - rm[1]) / sqrt(rv[1] + 1e-5)}), 2,
                    1e-6, 1e-3, "bn eval y");
    assert_int_equal(*(int64_t *)(void *)param(m, "num_batches_tracked"), 2);

    /* Training with a single row is refused, as in PyTorch. */
    tnn_module_train(m, true);
    TU_ASSERT_ERR(tnn_module_forward(m, x1, &y), TNN_ERR_SHAPE, "batchnorm1d(2", "[1 x 2]", NULL);
    tnn_tensor_free(x);
    tnn_tensor_free(x1);
    tnn_module_free(m);
}

static void batchnorm1d_state_dict_entries(void **state)
{
    (void)state;
    tnn_module *m = tnn_batchnorm1d_new(3, tnn_batchnorm_defaults());
    assert_non_null(m);
    tnn_tensor_list *l = tnn_module_state_dict(m, "");
    assert_non_null(l);
    const char *names[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    assert_int_equal(l->count, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(l->items[i].name, names[i]);
        assert_int_equal(l->items[i].is_param, i < 2);
        assert_int_equal(l->items[i].grad != NULL, i < 2);
        assert_int_equal(l->items[i].dtype, i == 4 ? TNN_I64 : TNN_F32);
        assert_int_equal(l->items[i].count, i == 4 ? 1 : 3);
    }
    /* PyTorch's initial values. */
    for (int j = 0; j < 3; j++) {
        assert_true(((float *)l->items[0].data)[j] == 1.0f);
        assert_true(((float *)l->items[1].data)[j] == 0.0f);
        assert_true(((float *)l->items[2].data)[j] == 0.0f);
        assert_true(((float *)l->items[3].data)[j] == 1.0f);
    }
    assert_int_equal(*(int64_t *)l->items[4].data, 0);
    assert_int_equal(tnn_module_num_params(m), 6);
    tnn_tensor_list_free(l);
    l = tnn_module_parameters(m, "bn.");
    assert_int_equal(l->count, 2);
    assert_string_equal(l->items[1].name, "bn.bias");
    tnn_tensor_list_free(l);
    tnn_module_free(m);

    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.affine = false;
    m = tnn_batchnorm1d_new(3, p);
    l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 3);
    assert_string_equal(l->items[0].name, "running_mean");
    assert_int_equal(tnn_module_num_params(m), 0);
    tnn_tensor_list_free(l);
    tnn_module_free(m);

    p = tnn_batchnorm_defaults();
    p.track_running_stats = false;
    m = tnn_batchnorm1d_new(3, p);
    l = tnn_module_state_dict(m, "");
    assert_int_equal(l->count, 2);
    tnn_tensor_list_free(l);
    tnn_module_free(m);
}

static void activations_values(void **state)
{
    (void)state;
    float xd[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 100.0f};
    tnn_tensor *x = tnn_tensor_view(xd, 2, (int[]){1, 5});
    struct {
        tnn_module *m;
        double y[5];
        const char *name;
    } cases[] = {
        {tnn_relu_new(), {0, 0, 0, 0.5, 100}, "relu"},
        {tnn_leaky_relu_new(0.2f), {-0.4, -0.1, 0, 0.5, 100}, "leaky_relu(0.2)"},
        {tnn_tanh_new(), {tanh(-2.0), tanh(-0.5), 0, tanh(0.5), 1}, "tanh"},
        {tnn_sigmoid_new(), {1 / (1 + exp(2.0)), 1 / (1 + exp(0.5)), 0.5, 1 / (1 + exp(-0.5)), 1}, "sigmoid"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_non_null(cases[k].m);
        const tnn_tensor *y;
        TU_ASSERT_OK(tnn_module_forward(cases[k].m, x, &y));
        tu_assert_close(y->data, cases[k].y, 5, 1e-6, 1e-6, cases[k].name);
        assert_int_equal(tnn_module_num_params(cases[k].m), 0);
        char d[64];
        assert_string_equal(tnn_module_describe(cases[k].m, d, sizeof d), cases[k].name);
        tnn_module_free(cases[k].m);
    }
    /* Sigmoid stays finite at large negative inputs. */
    float big[2] = {-100.0f, -1000.0f};
    tnn_tensor *xb = tnn_tensor_view(big, 2, (int[]){1, 2});
    tnn_module *s = tnn_sigmoid_new();
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(s, xb, &y));
    assert_true(y->data[0] >= 0.0f && y->data[0] < 1e-40f && y->data[1] == 0.0f);
    tnn_module_free(s);
    tnn_tensor_free(xb);
    tnn_tensor_free(x);
}

static void dropout_behaviour(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    tnn_module *m = tnn_dropout_new(0.3f, &r);
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new2(100, 100);
    tnn_tensor_fill(x, 1.0f);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    int zeros = 0;
    const float scale = 1.0f / (float)(1.0 - (double)0.3f); /* torch's: 1 / (float)(1 - p) */
    for (size_t i = 0; i < y->size; i++) {
        if (y->data[i] == 0.0f) zeros++;
        else assert_true(y->data[i] == scale);
    }
    assert_true(zeros > 2800 && zeros < 3200); /* 3000 +- 7 sigma */
    /* Same seed, same mask. */
    tnn_tensor *first = tnn_tensor_clone(y);
    tnn_rng_seed(&r, 9);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_memory_equal(first->data, y->data, y->size * sizeof(float));
    /* The backward applies the same mask. */
    const tnn_tensor *dx;
    TU_ASSERT_OK(tnn_module_backward(m, x, &dx));
    assert_memory_equal(first->data, dx->data, y->size * sizeof(float));
    /* Eval: identity. */
    tnn_module_train(m, false);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    for (size_t i = 0; i < y->size; i++) assert_true(y->data[i] == 1.0f);
    char d[64];
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "dropout(p=0.3)");
    tnn_tensor_free(first);
    tnn_module_free(m);
    /* p = 0.15: torch's 1.0f / (float)(1 - p) is 1.17647052 (torch 1.13); 1 / (1 - p)
     * in double, rounded, would be 1.17647064 */
    m = tnn_dropout_new(0.15f, &r);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    volatile double p15 = 0.15f;
    assert_true((float)(1.0 / (1.0 - p15)) != 1.17647052f);
    for (size_t i = 0; i < y->size; i++) assert_true(y->data[i] == 0.0f || y->data[i] == 1.17647052f);
    tnn_module_free(m);
    /* p = 1, as torch allows: all zeros, and so is dL/dx */
    m = tnn_dropout_new(1.0f, &r);
    assert_non_null(m);
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    for (size_t i = 0; i < y->size; i++) assert_true(y->data[i] == 0.0f);
    TU_ASSERT_OK(tnn_module_backward(m, x, &dx));
    for (size_t i = 0; i < dx->size; i++) assert_true(dx->data[i] == 0.0f);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* Edge values where torch's kernels have a rule of their own: ReLU's gradient at a NaN
 * input passes dy on (threshold_backward tests x <= 0), in place inside a Sequential
 * too; BatchNorm1d with eps 0 and a constant feature normalises it by an invstd of 0
 * (InvStd), giving the bias, where 1 / sqrt(0) would give NaN. */
static void torch_edge_rules(void **state)
{
    (void)state;
    tnn_module *relu = tnn_relu_new();
    tnn_tensor *x = tnn_tensor_new2(1, 4), *dy = tnn_tensor_new2(1, 4);
    const float xs[4] = {NAN, -0.0f, 2.0f, -1.0f};
    memcpy(x->data, xs, sizeof xs);
    tnn_tensor_fill(dy, 0.5f);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(relu, x, &y));
    TU_ASSERT_OK(tnn_module_backward(relu, dy, &dx));
    assert_true(dx->data[0] == 0.5f && dx->data[1] == 0.0f && dx->data[2] == 0.5f && dx->data[3] == 0.0f);
    tnn_module_free(relu);
    tnn_module *s = tnn_sequential_new(), *lin = tnn_linear_new(4, 4, false, NULL);
    TU_ASSERT_OK(tnn_sequential_add(s, lin));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    tnn_tensor_list *w = tnn_module_parameters(lin, "");
    float *wd = w->items[0].data;
    for (int i = 0; i < 16; i++) wd[i] = i % 5 == 0 ? 1.0f : 0.0f; /* identity: y = relu(x) */
    tnn_tensor_list_free(w);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    /* the NaN spreads to every output of the Linear; ReLU passes each gradient back */
    for (int i = 0; i < 4; i++) assert_true(dx->data[i] == 0.5f);
    /* without a NaN, the in-place path still stops the gradient at x <= 0 (-0 included) */
    const float xs2[4] = {-1.0f, 2.0f, -0.0f, 3.0f};
    memcpy(x->data, xs2, sizeof xs2);
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    assert_true(dx->data[0] == 0.0f && dx->data[1] == 0.5f && dx->data[2] == 0.0f && dx->data[3] == 0.5f);
    tnn_module_free(s);

    tnn_batchnorm_params bp = tnn_batchnorm_defaults();
    bp.eps = 0.0;
    tnn_module *bn = tnn_batchnorm1d_new(2, bp);
    tnn_tensor *xb = tnn_tensor_new2(4, 2), *dyb = tnn_tensor_new2(4, 2);
    for (int i = 0; i < 4; i++) {
        xb->data[i * 2] = (float)i;   /* varies */
        xb->data[i * 2 + 1] = -3.25f; /* constant */
        dyb->data[i * 2] = dyb->data[i * 2 + 1] = 0.25f * (float)(i + 1);
    }
    tnn_tensor_list *bpar = tnn_module_parameters(bn, "");
    ((float *)bpar->items[1].data)[1] = -0.375f; /* bias of the constant feature */
    TU_ASSERT_OK(tnn_module_forward(bn, xb, &y));
    TU_ASSERT_OK(tnn_module_backward(bn, dyb, &dx));
    for (int i = 0; i < 4; i++) {
        assert_true(y->data[i * 2 + 1] == -0.375f);
        assert_true(dx->data[i * 2 + 1] == 0.0f);
        assert_true(isfinite(y->data[i * 2]) && isfinite(dx->data[i * 2]));
    }
    assert_true(bpar->items[0].grad[1] == 0.0f); /* d weight of the constant feature */
    assert_true(bpar->items[1].grad[1] == 0.25f + 0.5f + 0.75f + 1.0f); /* d bias: the sum of dy */
    tnn_tensor_list_free(bpar);
    tnn_module_free(bn);
    tnn_tensor_free(xb);
    tnn_tensor_free(dyb);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

static void flatten_is_a_view(void **state)
{
    (void)state;
    tnn_module *m = tnn_flatten_new();
    assert_non_null(m);
    tnn_tensor *x = tnn_tensor_new4(2, 1, 3, 4);
    for (size_t i = 0; i < x->size; i++) x->data[i] = (float)i;
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 12);
    assert_ptr_equal(y->data, x->data);
    tnn_tensor *dy = tnn_tensor_new2(2, 12);
    TU_ASSERT_OK(tnn_module_backward(m, dy, &dx));
    assert_true(tnn_tensor_same_shape(dx, x));
    assert_ptr_equal(dx->data, dy->data);
    /* A 1-D input is a sample without its batch, refused as torch's Flatten refuses it;
     * the backward after it is refused too. */
    tnn_tensor *v = tnn_tensor_new1(3);
    TU_ASSERT_ERR(tnn_module_forward(m, v, &y), TNN_ERR_SHAPE, "flatten: input [3] is 1-D", "[1 x ...]", NULL);
    TU_ASSERT_ERR(tnn_module_backward(m, dy, &dx), TNN_ERR_STATE, NULL);
    tnn_tensor_free(v);
    tnn_tensor_free(dy);
    tnn_tensor_free(x);
    tnn_module_free(m);
}

/* ---- error paths ---- */

/* tnn_tensor is a public struct, so a caller may fill one in by hand and get it wrong:
 * a size its shape does not hold, a dimension of 0, no dimensions or too many. The
 * module wrappers and the losses refuse such a header, naming what is wrong; a ReLU
 * wrote past the buffer, and a batch of 0 rows divided by zero in Linear. */
static void hand_filled_tensor_headers_refused(void **state)
{
    (void)state;
    float buf[64] = {0};
    int targets[4] = {0};
    tnn_tensor bad[4] = {
        {.data = buf, .ndim = 2, .shape = {4, 3, 1, 1}, .size = 64, .capacity = 64},
        {.data = buf, .ndim = 2, .shape = {0, 3, 1, 1}, .size = 12, .capacity = 64},
        {.data = buf, .ndim = 0, .shape = {1, 1, 1, 1}, .size = 1, .capacity = 64},
        {.data = buf, .ndim = 5, .shape = {2, 2, 2, 2}, .size = 16, .capacity = 64},
    };
    const char *why[4] = {"has size 64, but its shape [4 x 3] holds 12 elements", "has dimension 0 = 0",
                          "has 0 dimensions (1 to 4)", "has 5 dimensions (1 to 4)"};
    tnn_module *relu = tnn_relu_new(), *lin = tnn_linear_new(3, 2, true, NULL);
    tnn_tensor *good = tnn_tensor_new2(4, 3), *t = tnn_tensor_new2(4, 3);
    const tnn_tensor *y, *dx;
    float loss;
    for (int k = 0; k < 4; k++) {
        TU_ASSERT_ERR(tnn_module_forward(relu, &bad[k], &y), TNN_ERR_ARG, "relu forward: the input", why[k], NULL);
        TU_ASSERT_ERR(tnn_module_forward(lin, &bad[k], &y), TNN_ERR_ARG, "linear(3->2) forward: the input", why[k], NULL);
        TU_ASSERT_OK(tnn_module_forward(relu, good, &y));
        TU_ASSERT_ERR(tnn_module_backward(relu, &bad[k], &dx), TNN_ERR_ARG, "relu backward: dy", why[k], NULL);
        TU_ASSERT_ERR(tnn_mse_loss(&bad[k], t, &loss, NULL), TNN_ERR_ARG, "mse_loss: input", why[k], NULL);
        TU_ASSERT_ERR(tnn_bce_loss(t, &bad[k], &loss, NULL), TNN_ERR_ARG, "bce_loss: target", why[k], NULL);
        TU_ASSERT_ERR(tnn_cross_entropy_loss(&bad[k], targets, &loss, NULL), TNN_ERR_ARG, "cross_entropy_loss: input",
                      why[k], NULL);
    }
    tnn_module_free(relu);
    tnn_module_free(lin);
    tnn_tensor_free(good);
    tnn_tensor_free(t);
}

/* Names are at most 255 bytes; a longer one is refused with the limit in the message. */
static void tensor_names_have_a_limit(void **state)
{
    (void)state;
    tnn_module *lin = tnn_linear_new(3, 2, true, NULL);
    char prefix[256];
    memset(prefix, 'p', 249);
    prefix[249] = '\0';
    tnn_tensor_list *l = tnn_module_state_dict(lin, prefix); /* 249 + "weight": 255 */
    assert_non_null(l);
    assert_int_equal(strlen(l->items[0].name), 255);
    tnn_tensor_list_free(l);
    prefix[249] = 'p';
    prefix[250] = '\0';
    assert_null(tnn_module_state_dict(lin, prefix));
    TU_ASSERT_MSG("tensor name too long (256 bytes; names are at most 255)", NULL);
    tnn_module_free(lin);
}

static void forward_rejects_wrong_width_null_and_empty(void **state)
{
    (void)state;
    tnn_module *lin = tnn_linear_new(4, 3, true, NULL), *bn = tnn_batchnorm1d_new(4, tnn_batchnorm_defaults());
    assert_true(lin && bn);
    tnn_tensor *x = tnn_tensor_new2(2, 5);
    const tnn_tensor *y = (const tnn_tensor *)x;
    /* Wrong input width: module and both shapes named. */
    TU_ASSERT_ERR(tnn_module_forward(lin, x, &y), TNN_ERR_SHAPE, "linear(4->3)", "[2 x 5]", "4", NULL);
    TU_ASSERT_ERR(tnn_module_forward(bn, x, &y), TNN_ERR_SHAPE, "batchnorm1d(4", "[2 x 5]", NULL);
    tnn_tensor *v = tnn_tensor_new1(4); /* a 1-D input has no batch dimension */
    TU_ASSERT_ERR(tnn_module_forward(lin, v, &y), TNN_ERR_SHAPE, "linear(4->3)", "[4] is 1-D", "[1 x 4]", NULL);
    /* NULL module, input and output pointer. */
    TU_ASSERT_ERR(tnn_module_forward(NULL, x, &y), TNN_ERR_ARG, "NULL", NULL);
    TU_ASSERT_ERR(tnn_module_forward(lin, NULL, &y), TNN_ERR_ARG, "linear(4->3)", "input", NULL);
    TU_ASSERT_ERR(tnn_module_forward(lin, x, NULL), TNN_ERR_ARG, "linear(4->3)", "output pointer", NULL);
    /* A batch of 0 rows cannot be created; a hand-built empty header is refused. */
    float dummy[4];
    tnn_tensor empty = {.data = dummy, .ndim = 2, .shape = {0, 4, 1, 1}, .size = 0, .owns = false};
    TU_ASSERT_ERR(tnn_module_forward(lin, &empty, &y), TNN_ERR_ARG, "linear(4->3)", "dimension 0 = 0", NULL);
    /* a header whose size was left out: said so, not "no data" */
    tnn_tensor nosize = {.data = dummy, .ndim = 2, .shape = {1, 4, 1, 1}, .owns = false};
    TU_ASSERT_ERR(tnn_module_forward(lin, &nosize, &y), TNN_ERR_ARG, "linear(4->3) forward: the input has size 0",
                  "holds 4 elements", NULL);
    TU_ASSERT_ERR(tnn_module_forward(bn, &empty, &y), TNN_ERR_ARG, "batchnorm1d", NULL);
    tnn_module *act = tnn_relu_new();
    TU_ASSERT_ERR(tnn_module_forward(act, &empty, &y), TNN_ERR_ARG, "relu", NULL);
    tnn_module_free(act);
    tnn_tensor_free(v);
    tnn_tensor_free(x);
    tnn_module_free(lin);
    tnn_module_free(bn);
}

static void backward_before_forward_and_bad_dy(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *mods[] = {tnn_linear_new(4, 3, true, &r), tnn_batchnorm1d_new(4, tnn_batchnorm_defaults()),
                          tnn_leaky_relu_new(0.1f), tnn_relu_new(), tnn_tanh_new(), tnn_sigmoid_new(),
                          tnn_dropout_new(0.5f, &r), tnn_flatten_new()};
    const char *names[] = {"linear", "batchnorm1d", "leaky_relu", "relu", "tanh", "sigmoid", "dropout", "flatten"};
    tnn_tensor *dy = tnn_tensor_new2(2, 3);
    const tnn_tensor *dx = (const tnn_tensor *)dy;
    for (size_t k = 0; k < sizeof mods / sizeof mods[0]; k++) {
        assert_non_null(mods[k]);
        TU_ASSERT_ERR(tnn_module_backward(mods[k], dy, &dx), TNN_ERR_STATE, names[k], "before forward", NULL);
        assert_null(dx);
        TU_ASSERT_ERR(tnn_module_backward(mods[k], NULL, &dx), TNN_ERR_ARG, names[k], NULL);
    }
    TU_ASSERT_ERR(tnn_module_backward(NULL, dy, &dx), TNN_ERR_ARG, NULL);

    /* After a forward on [2 x 4], a dy that does not match the output is refused. */
    tnn_tensor *x = tu_rand_tensor(&r, 2, 4, -1.0f, 1.0f), *bad = tnn_tensor_new2(3, 3);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(mods[0], x, &y));
    TU_ASSERT_ERR(tnn_module_backward(mods[0], bad, &dx), TNN_ERR_SHAPE, "linear(4->3)", "[3 x 3]", "[2 x 3]", NULL);
    for (size_t k = 1; k < sizeof mods / sizeof mods[0]; k++) {
        TU_ASSERT_OK(tnn_module_forward(mods[k], x, &y));
        TU_ASSERT_ERR(tnn_module_backward(mods[k], bad, &dx), TNN_ERR_SHAPE, names[k], "[3 x 3]", NULL);
    }
    for (size_t k = 0; k < sizeof mods / sizeof mods[0]; k++) tnn_module_free(mods[k]);
    tnn_tensor_free(bad);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* A module fed its own last output (or part of it), as in lin(lin(x)) with one
 * module: its forward would overwrite the input as it reads it, or keep for its
 * backward an input that the forward replaced. Refused, naming the module; so is a
 * LeakyReLU with a negative slope, whose backward needs the input's signs. Activations
 * that can work in place accept it and give f(f(x)). */
static void forward_refuses_its_own_output(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    tnn_module *lin = tnn_linear_new(4, 4, false, &r), *bn = tnn_batchnorm1d_new(4, tnn_batchnorm_defaults());
    tnn_module *neg = tnn_leaky_relu_new(-0.5f), *relu = tnn_relu_new();
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f);
    const tnn_tensor *y, *y2;
    TU_ASSERT_OK(tnn_module_forward(lin, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(lin, y, &y2), TNN_ERR_ARG, "linear(4->4, no bias) forward", "own output from its last forward", NULL);
    tnn_tensor *rows = tnn_tensor_view(y->data + 4, 2, (int[]){2, 4}); /* its last two rows */
    TU_ASSERT_ERR(tnn_module_forward(lin, rows, &y2), TNN_ERR_ARG, "own output from its last forward", NULL);
    tnn_tensor_free(rows);
    tnn_tensor *copy = tnn_tensor_clone(y);
    TU_ASSERT_OK(tnn_module_forward(lin, copy, &y2)); /* a copy is fine */
    TU_ASSERT_OK(tnn_module_forward(bn, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(bn, y, &y2), TNN_ERR_ARG, "batchnorm1d(4", "own output from its last forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(neg, x, &y));
    TU_ASSERT_ERR(tnn_module_forward(neg, y, &y2), TNN_ERR_ARG, "own output from its last forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(relu, x, &y));
    TU_ASSERT_OK(tnn_module_forward(relu, y, &y2));
    for (size_t i = 0; i < x->size; i++) assert_true(y2->data[i] == (x->data[i] > 0.0f ? x->data[i] : 0.0f));
    /* ... but only exactly over it: shifted by a row, element i would read element i + 4 */
    tnn_tensor *shifted = tnn_tensor_view(y2->data + 4, 2, (int[]){2, 4});
    TU_ASSERT_ERR(tnn_module_forward(relu, shifted, &y), TNN_ERR_ARG, "relu", "own output", NULL);
    tnn_tensor_free(shifted);
    /* Dropout takes exactly its own output (element over element), nothing shifted */
    tnn_rng dr;
    tnn_rng_seed(&dr, 5);
    tnn_module *drop = tnn_dropout_new(0.5f, &dr);
    TU_ASSERT_OK(tnn_module_forward(drop, x, &y));
    TU_ASSERT_OK(tnn_module_forward(drop, y, &y2));
    tnn_tensor *dshift = tnn_tensor_view(y2->data + 4, 2, (int[]){2, 4});
    TU_ASSERT_ERR(tnn_module_forward(drop, dshift, &y), TNN_ERR_ARG, "dropout", "own output", NULL);
    tnn_tensor_free(dshift);
    tnn_module_eval(drop);
    TU_ASSERT_OK(tnn_module_forward(drop, x, &y));
    TU_ASSERT_OK(tnn_module_forward(drop, y, &y2)); /* eval: the identity, over itself */
    for (size_t i = 0; i < x->size; i++) assert_true(y2->data[i] == x->data[i]);
    tnn_module_free(drop);
    TU_ASSERT_OK(tnn_module_forward(bn, x, &y)); /* and a refused forward again, for what follows */
    TU_ASSERT_ERR(tnn_module_forward(bn, y, &y2), TNN_ERR_ARG, "own output", NULL);
    /* After the refused forward, backward says why there is nothing to go back through. */
    tnn_tensor *dy = tnn_tensor_new2(3, 4);
    TU_ASSERT_ERR(tnn_module_backward(bn, dy, &y2), TNN_ERR_STATE, "before forward (or after a forward that failed)", NULL);
    tnn_tensor_free(dy);
    tnn_tensor_free(copy);
    tnn_tensor_free(x);
    tnn_module_free(lin);
    tnn_module_free(bn);
    tnn_module_free(neg);
    tnn_module_free(relu);
}

/* num_batches_tracked comes from a loaded state as any I64; a negative count or one
 * that cannot grow is refused by the next training forward (it would overflow). */
static tnn_status find_nbt(void *ctx, const tnn_named_tensor *t)
{
    if (strstr(t->name, "num_batches_tracked")) *(int64_t **)ctx = t->data;
    return TNN_OK;
}

static void batchnorm1d_refuses_a_batch_count_out_of_range(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 4);
    tnn_module *bn = tnn_batchnorm1d_new(4, tnn_batchnorm_defaults());
    int64_t *nbt = NULL;
    TU_ASSERT_OK(tnn_module_visit(bn, "", find_nbt, &nbt));
    assert_non_null(nbt);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 4, -1.0f, 1.0f);
    const tnn_tensor *y;
    const int64_t bad[] = {-1, INT64_MIN, INT64_MAX};
    for (int i = 0; i < 3; i++) {
        *nbt = bad[i];
        TU_ASSERT_ERR(tnn_module_forward(bn, x, &y), TNN_ERR_STATE, "batchnorm1d(4)", "num_batches_tracked", NULL);
        assert_true(*nbt == bad[i]);
    }
    *nbt = INT64_MAX - 1;
    TU_ASSERT_OK(tnn_module_forward(bn, x, &y));
    assert_true(*nbt == INT64_MAX);
    tnn_module_train(bn, false); /* evaluation does not count */
    TU_ASSERT_OK(tnn_module_forward(bn, x, &y));
    tnn_tensor_free(x);
    tnn_module_free(bn);
}

static void constructors_reject_bad_arguments(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    assert_null(tnn_linear_new(0, 3, true, &r));
    TU_ASSERT_MSG("linear(0->3)", NULL);
    assert_null(tnn_linear_new(3, -1, true, &r));
    assert_null(tnn_batchnorm1d_new(0, tnn_batchnorm_defaults()));
    TU_ASSERT_MSG("batchnorm1d(0)", NULL);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = -1.0;
    assert_null(tnn_batchnorm1d_new(3, p));
    p = tnn_batchnorm_defaults();
    p.momentum = 1.5;
    assert_null(tnn_batchnorm1d_new(3, p));
    TU_ASSERT_MSG("momentum", NULL);
    p.momentum = NAN;
    assert_null(tnn_batchnorm1d_new(3, p));
    assert_null(tnn_leaky_relu_new(NAN));
    assert_null(tnn_dropout_new(1.5f, &r));
    TU_ASSERT_MSG("dropout", "1.5", "[0, 1]", NULL);
    assert_null(tnn_dropout_new(-0.1f, &r));
    /* Without an rng: for evaluation only (a model built to load weights and predict) */
    tnn_module *d = tnn_dropout_new(0.5f, NULL);
    assert_non_null(d);
    tnn_tensor *x = tnn_tensor_new2(2, 3);
    tnn_tensor_fill(x, 2.0f);
    const tnn_tensor *y;
    TU_ASSERT_ERR(tnn_module_forward(d, x, &y), TNN_ERR_STATE, "dropout(p=0.5) forward", "created without an rng",
                  NULL);
    tnn_module_eval(d);
    TU_ASSERT_OK(tnn_module_forward(d, x, &y));
    assert_memory_equal(y->data, x->data, 6 * sizeof(float));
    tnn_module_free(d);
    tnn_tensor_free(x);
    tnn_module_free(NULL); /* no-op */
}

static void describe_strings(void **state)
{
    (void)state;
    char d[96];
    tnn_module *m = tnn_linear_new(784, 512, true, NULL);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "linear(784->512)");
    tnn_module_free(m);
    m = tnn_linear_new(3, 2, false, NULL);
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "linear(3->2, no bias)");
    tnn_module_free(m);
    m = tnn_batchnorm1d_new(16, tnn_batchnorm_defaults());
    assert_string_equal(tnn_module_describe(m, d, sizeof d), "batchnorm1d(16, eps=1e-05, momentum=0.1)");
    tnn_module_free(m);
    assert_string_equal(tnn_module_describe(NULL, d, sizeof d), "(null module)");
}

/* Linear's bias gradient (column sums of dy in torch's order) is split over the threads
 * by columns: the same bits on 1, 2 and 3 threads, for widths around the 32-column
 * groups, written after discard_grad and then accumulated. */
static void linear_bias_grad_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int outs[] = {1, 7, 8, 31, 33, 100, 784, 1024}, ns[] = {3, 128};
    for (size_t a = 0; a < sizeof outs / sizeof outs[0]; a++) {
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            int out = outs[a], n = ns[b];
            float *want = NULL;
            for (int threads = 1; threads <= 3; threads++) {
                tnn_parallel_set_threads(threads); /* the pool itself: 3 threads even on 2 cores */
                tnn_rng r;
                tnn_rng_seed(&r, 11);
                tnn_module *l = tnn_linear_new(5, out, true, &r);
                tnn_tensor *x = tu_rand_tensor(&r, n, 5, -1.0f, 1.0f), *dy1 = tu_rand_tensor(&r, n, out, -1.0f, 1.0f),
                           *dy2 = tu_rand_tensor(&r, n, out, -1.0f, 1.0f);
                const tnn_tensor *y, *dx;
                tnn_module_discard_grad(l);
                TU_ASSERT_OK(tnn_module_forward(l, x, &y));
                TU_ASSERT_OK(tnn_module_backward(l, dy1, &dx));  /* written (beta 0, sums assigned) */
                TU_ASSERT_OK(tnn_module_backward(l, dy2, NULL)); /* added */
                float *db = grad(l, "bias");
                if (threads == 1) {
                    want = malloc((size_t)out * sizeof *want);
                    memcpy(want, db, (size_t)out * sizeof *want);
                } else {
                    assert_memory_equal(db, want, (size_t)out * sizeof *want);
                }
                tnn_tensor_free(x);
                tnn_tensor_free(dy1);
                tnn_tensor_free(dy2);
                tnn_module_free(l);
            }
            free(want);
        }
    }
    tnn_parallel_set_threads(1);
}

/* A second backward adds its dW to the first's as torch adds a new gradient to .grad:
 * the product computed alone, then an element-wise float add. The same bits as dW1 +
 * dW2 from two separate backwards, on any batch size (OpenBLAS sums a batch of more
 * than 320 rows in blocks, so adding inside the product, beta 1, rounds differently). */
static void linear_accumulated_weight_grad_is_a_float_sum(void **state)
{
    (void)state;
    const int ns[] = {3, 128, 129, 400, 1000};
    for (int threads = 1; threads <= 2; threads++) {
        tnn_parallel_set_threads(threads);
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            int n = ns[b];
            tnn_rng r;
            tnn_rng_seed(&r, 21);
            tnn_module *l = tnn_linear_new(20, 30, true, &r);
            tnn_tensor *x1 = tu_rand_tensor(&r, n, 20, -1.0f, 1.0f), *x2 = tu_rand_tensor(&r, n, 20, -1.0f, 1.0f),
                       *dy1 = tu_rand_tensor(&r, n, 30, -1.0f, 1.0f), *dy2 = tu_rand_tensor(&r, n, 30, -1.0f, 1.0f);
            const tnn_tensor *y;
            float dw1[600], dw2[600], sum[600];
            tnn_module_discard_grad(l);
            TU_ASSERT_OK(tnn_module_forward(l, x1, &y));
            TU_ASSERT_OK(tnn_module_backward(l, dy1, NULL));
            memcpy(dw1, grad(l, "weight"), sizeof dw1);
            tnn_module_discard_grad(l);
            TU_ASSERT_OK(tnn_module_forward(l, x2, &y));
            TU_ASSERT_OK(tnn_module_backward(l, dy2, NULL));
            memcpy(dw2, grad(l, "weight"), sizeof dw2);
            for (int i = 0; i < 600; i++) sum[i] = dw1[i] + dw2[i];
            tnn_module_discard_grad(l);
            TU_ASSERT_OK(tnn_module_forward(l, x1, &y));
            TU_ASSERT_OK(tnn_module_backward(l, dy1, NULL)); /* written */
            TU_ASSERT_OK(tnn_module_forward(l, x2, &y));
            TU_ASSERT_OK(tnn_module_backward(l, dy2, NULL)); /* added */
            if (memcmp(grad(l, "weight"), sum, sizeof sum) != 0)
                fail_msg("batch %d, %d thread(s): the accumulated dW is not dW1 + dW2", n, threads);
            tnn_tensor_free(x1);
            tnn_tensor_free(x2);
            tnn_tensor_free(dy1);
            tnn_tensor_free(dy2);
            tnn_module_free(l);
        }
    }
    tnn_parallel_set_threads(1);
}

/* BatchNorm1d's element-wise passes run on the threads (and their output rows are
 * touched by the idle threads while the sums run on the caller): y, dx, dweight and
 * dbias the same bits on 1, 2 and 3 threads, in training and eval mode. */
static void batchnorm1d_same_bits_on_any_thread_count(void **state)
{
    (void)state;
    const int cs[] = {256, 1024}, ns[] = {40, 128};
    for (size_t a = 0; a < 2; a++) {
        for (size_t b = 0; b < 2; b++) {
            for (int training = 0; training < 2; training++) {
                int c = cs[a], n = ns[b];
                size_t bytes = (size_t)n * (size_t)c * sizeof(float);
                float *want_y = malloc(bytes), *want_dx = malloc(bytes), *want_dw = malloc((size_t)c * 8);
                for (int threads = 1; threads <= 3; threads++) {
                    tnn_parallel_set_threads(threads);
                    tnn_rng r;
                    tnn_rng_seed(&r, 5);
                    tnn_batchnorm_params p = tnn_batchnorm_defaults();
                    p.eps = 0.8;
                    tnn_module *bn = tnn_batchnorm1d_new(c, p);
                    assert_non_null(bn);
                    tnn_tensor *x = tu_rand_tensor(&r, n, c, -2.0f, 3.0f), *dy = tu_rand_tensor(&r, n, c, -1.0f, 1.0f);
                    const tnn_tensor *y, *dx;
                    TU_ASSERT_OK(tnn_module_forward(bn, x, &y)); /* running statistics move */
                    tnn_module_train(bn, training);
                    TU_ASSERT_OK(tnn_module_forward(bn, x, &y));
                    TU_ASSERT_OK(tnn_module_backward(bn, dy, &dx));
                    float dw[2048];
                    memcpy(dw, grad(bn, "weight"), (size_t)c * sizeof(float));
                    memcpy(dw + c, grad(bn, "bias"), (size_t)c * sizeof(float));
                    if (threads == 1) {
                        memcpy(want_y, y->data, bytes);
                        memcpy(want_dx, dx->data, bytes);
                        memcpy(want_dw, dw, (size_t)c * 8);
                    } else {
                        assert_memory_equal(y->data, want_y, bytes);
                        assert_memory_equal(dx->data, want_dx, bytes);
                        assert_memory_equal(dw, want_dw, (size_t)c * 8);
                    }
                    tnn_tensor_free(x);
                    tnn_tensor_free(dy);
                    tnn_module_free(bn);
                }
                free(want_y);
                free(want_dx);
                free(want_dw);
            }
        }
    }
    tnn_parallel_set_threads(1);
}

/* A user-written module (as docs/custom_module.md builds one) that passes its input
 * through; its forward fails without a message on inputs of other than 3 columns, its
 * backward fails with its own message when told to. */
typedef struct quiet_mod {
    tnn_module base;
    bool fail_backward;
    bool no_dx; /* returns TNN_OK without dL/dx */
} quiet_mod;

static tnn_status quiet_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    (void)m;
    if (x->ndim != 2 || x->shape[1] != 3) return TNN_ERR_SHAPE; /* no message: the wrapper supplies one */
    *y = x;
    return TNN_OK;
}

static tnn_status quiet_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    if (((quiet_mod *)m)->fail_backward) return tnn_set_error(TNN_ERR_NUMERIC, "quiet: %s", "told to fail");
    if (dx && !((quiet_mod *)m)->no_dx) *dx = dy;
    return TNN_OK;
}

static void quiet_free(tnn_module *m) { free(m); }

static const tnn_module_vtable quiet_vt = {
    .type_name = "quiet", .forward = quiet_forward, .backward = quiet_backward, .free = quiet_free};

/* Features per row counted in size_t: [1 x 65536 x 65537] has 2^32 + 65536 of them,
 * which an int count wrapped to 65536, and linear(65536->1) took it, reading the first
 * row's first 65536 values. Refused before the input is read (the view's memory is
 * only 65536 floats). */
static void linear_features_past_int_max(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 8);
    tnn_module *lin = tnn_linear_new(65536, 1, true, &r);
    float *mem = calloc(65536, sizeof(float));
    assert_true(lin && mem);
    tnn_tensor *x = tnn_tensor_view(mem, 3, (int[]){1, 65536, 65537});
    assert_non_null(x);
    const tnn_tensor *y;
    TU_ASSERT_ERR(tnn_module_forward(lin, x, &y), TNN_ERR_SHAPE, "has 4295032832 features per row", NULL);
    tnn_module *flat = tnn_flatten_new(); /* and Flatten says why */
    TU_ASSERT_ERR(tnn_module_forward(flat, x, &y), TNN_ERR_SHAPE, "flatten: input", "4295032832 features per row", NULL);
    tnn_module_free(flat);
    tnn_tensor_free(x);
    free(mem);
    tnn_module_free(lin);
}

/* A module's own dL/dx fed back to it, as its next input (power iteration does this
 * with a Linear; torch allows it) or as dy: its backward writes the new dL/dx into its
 * other buffer, so the results are those of a copy, and what was fed back is left as it
 * was. It used to write over what it was reading (on two threads, while the other read
 * it): wrong gradients with TNN_OK. The same for a Sequential whose first child is an
 * activation, whose dx used to be the next child's buffer; a Sequential given its dx as
 * dy, whose first child wrote its new dx over it once the last child had read it; and a
 * Dropout, which had one dx buffer. Each case runs on a module and on its twin fed a
 * copy. */
typedef tnn_module *(*make_fn)(tnn_rng *r);
static tnn_module *make_lin(tnn_rng *r) { return tnn_linear_new(256, 256, true, r); }
static tnn_module *make_bn(tnn_rng *r) { return tnn_batchnorm1d_new(256, tnn_batchnorm_defaults()); (void)r; }
static tnn_module *make_seq(tnn_rng *r)
{
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(256, 256, true, r)));
    return s;
}

static tnn_module *make_fseq(tnn_rng *r) /* a Flatten first: its dx is a view of the ReLU's */
{
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(256, 256, true, r)));
    return s;
}

static tnn_module *make_lseq(tnn_rng *r) /* Linear then Linear */
{
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(256, 256, true, r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(256, 256, true, r)));
    return s;
}

static tnn_module *make_drop(tnn_rng *r) { return tnn_dropout_new(0.5f, r); }

static void assert_same_grads(tnn_module *a, tnn_module *b)
{
    tnn_tensor_list *la = tnn_module_parameters(a, ""), *lb = tnn_module_parameters(b, "");
    assert_true(la && lb && la->count == lb->count);
    for (int i = 0; i < la->count; i++)
        assert_memory_equal(la->items[i].grad, lb->items[i].grad, la->items[i].count * sizeof(float));
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);
}

static void own_dx_fed_back_is_read_as_a_copy(void **state)
{
    (void)state;
    tnn_set_num_threads(2);
    const make_fn makers[6] = {make_lin, make_bn, make_seq, make_fseq, make_lseq, make_drop};
    for (int k = 0; k < 6; k++) {
        for (int as_dy = 1; as_dy >= 0; as_dy--) { /* as dy first: wrong on one thread too */
            tnn_rng r1, r2, rd;
            tnn_rng_seed(&r1, 9);
            tnn_rng_seed(&r2, 9);
            tnn_rng_seed(&rd, 10);
            tnn_module *m = makers[k](&r1), *twin = makers[k](&r2);
            tnn_tensor *x = tu_rand_tensor(&rd, 128, 256, -1.0f, 1.0f), *g = tu_rand_tensor(&rd, 128, 256, -1.0f, 1.0f);
            tnn_tensor *g2 = tu_rand_tensor(&rd, 128, 256, -1.0f, 1.0f);
            const tnn_tensor *y, *gx, *gx2, *ya, *yb, *dxa, *dxb;
            TU_ASSERT_OK(tnn_module_forward(m, x, &y));
            TU_ASSERT_OK(tnn_module_backward(m, g, &gx));
            TU_ASSERT_OK(tnn_module_forward(twin, x, &y));
            TU_ASSERT_OK(tnn_module_backward(twin, g, &gx2));
            tnn_tensor *copy = tnn_tensor_clone(gx2);
            const float *fed = gx->data; /* gx is the module's header: a Flatten's changes at its next backward */
            assert_memory_equal(gx->data, copy->data, copy->size * sizeof(float));
            tnn_module_zero_grad(m);
            tnn_module_zero_grad(twin);
            if (as_dy) { /* the next forward on x, then the own dx as dy */
                TU_ASSERT_OK(tnn_module_forward(m, x, &ya));
                TU_ASSERT_OK(tnn_module_backward(m, gx, &dxa));
                TU_ASSERT_OK(tnn_module_forward(twin, x, &yb));
                TU_ASSERT_OK(tnn_module_backward(twin, copy, &dxb));
            } else {     /* the own dx as the next input */
                TU_ASSERT_OK(tnn_module_forward(m, gx, &ya));
                TU_ASSERT_OK(tnn_module_backward(m, g2, &dxa));
                TU_ASSERT_OK(tnn_module_forward(twin, copy, &yb));
                TU_ASSERT_OK(tnn_module_backward(twin, g2, &dxb));
            }
            assert_memory_equal(ya->data, yb->data, yb->size * sizeof(float));
            assert_memory_equal(dxa->data, dxb->data, dxb->size * sizeof(float));
            /* the other buffer, and what was fed back left as it was */
            if (dxa->data == fed) fail_msg("maker %d, as_dy %d: dx in the buffer fed back", k, as_dy);
            assert_memory_equal(fed, copy->data, copy->size * sizeof(float));
            assert_same_grads(m, twin);
            tnn_tensor_free(copy);
            tnn_tensor_free(x);
            tnn_tensor_free(g);
            tnn_tensor_free(g2);
            tnn_module_free(m);
            tnn_module_free(twin);
        }
    }
    tnn_set_num_threads(1);
}

/* A module of one's own built without tnn_module_init (no vtable), or whose vtable
 * lacks a required function: refused by name, never a crash on the missing pointer. */
static const tnn_module_vtable no_forward_vt = {.type_name = "nofwd", .backward = quiet_backward, .free = quiet_free};

static void custom_module_without_a_whole_vtable(void **state)
{
    (void)state;
    quiet_mod bare; /* zeroed by hand: vt NULL */
    memset(&bare, 0, sizeof bare);
    quiet_mod *nofwd = calloc(1, sizeof *nofwd);
    assert_non_null(nofwd);
    tnn_module_init(&nofwd->base, &no_forward_vt);
    tnn_tensor *x = tnn_tensor_new2(2, 3);
    const tnn_tensor *y, *dx;
    TU_ASSERT_ERR(tnn_module_forward(&bare.base, x, &y), TNN_ERR_ARG, "forward: the module has no vtable", NULL);
    TU_ASSERT_ERR(tnn_module_backward(&bare.base, x, &dx), TNN_ERR_ARG, "backward: the module has no vtable", NULL);
    TU_ASSERT_ERR(tnn_module_forward(&nofwd->base, x, &y), TNN_ERR_ARG, "has no forward in its vtable", NULL);
    char d[64];
    assert_string_equal(tnn_module_describe(&bare.base, d, sizeof d), "(module without vtable)");
    TU_ASSERT_ERR(tnn_module_visit(&bare.base, "", NULL, NULL), TNN_ERR_ARG, NULL);
    tnn_tensor_list *sd = tnn_module_state_dict(&bare.base, "");
    assert_null(sd);
    tnn_module_train(&bare.base, false);
    assert_false(bare.base.training);
    tnn_module_discard_grad(&bare.base); /* nothing to discard: a no-op */
    tnn_module_zero_grad(&bare.base);
    tnn_module *seq = tnn_sequential_new();
    TU_ASSERT_ERR(tnn_sequential_add(seq, &bare.base), TNN_ERR_ARG, "child 0 has no vtable", NULL);
    TU_ASSERT_ERR(tnn_sequential_add(seq, &nofwd->base), TNN_ERR_ARG, "child 0 has no forward", NULL);
    assert_int_equal(tnn_sequential_len(seq), 0);
    TU_ASSERT_ERR(tnn_sequential_add(&bare.base, tnn_relu_new()), TNN_ERR_ARG, "not a sequential", NULL);
    tnn_module_free(&bare.base); /* nothing to call: a no-op */
    tnn_module_free(seq);
    tnn_module_free(&nofwd->base); /* not taken by the Sequential: still the caller's */
    tnn_tensor_free(x);
}

/* The wrappers' checks cover modules written outside the library: backward before
 * forward, a dy of the wrong shape (never reaching the module), and a failure left
 * without a message, which gets one naming the module instead of an older, unrelated one. */
/* An allocator that has no memory to give. */
static void *no_malloc(void *u, size_t n) { (void)u; (void)n; return NULL; }
static void *no_realloc(void *u, void *p, size_t n) { (void)u; (void)p; (void)n; return NULL; }
static void plain_free(void *u, void *p) { (void)u; free(p); }

static void custom_module_checked_by_wrappers(void **state)
{
    (void)state;
    quiet_mod *q = calloc(1, sizeof *q);
    assert_non_null(q);
    tnn_module_init(&q->base, &quiet_vt);
    tnn_module *m = &q->base;
    assert_false(m->has_output);
    assert_null(m->container);
    tnn_tensor *x = tnn_tensor_new2(4, 3), *wrong = tnn_tensor_new2(4, 5), *t = tnn_tensor_new2(3, 4);
    const tnn_tensor *y, *dx;
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_STATE, "quiet backward", "before forward", NULL);

    /* An unrelated failure first: its message must not be reported for the module's. */
    tnn_rng r;
    tnn_rng_seed(&r, 3);
    tnn_module *lin = tnn_linear_new(7, 7, true, &r);
    TU_ASSERT_ERR(tnn_module_forward(lin, x, &y), TNN_ERR_SHAPE, "linear(7->7)", NULL);
    TU_ASSERT_ERR(tnn_module_forward(m, wrong, &y), TNN_ERR_SHAPE, "quiet forward failed with TNN_ERR_SHAPE", NULL);
    assert_null(strstr(tnn_last_error(), "linear"));
    assert_false(m->has_output);

    TU_ASSERT_OK(tnn_module_forward(m, x, &y));
    assert_true(m->has_output);
    assert_int_equal(m->out_ndim, 2);
    assert_int_equal(m->out_shape[0], 4);
    assert_int_equal(m->out_shape[1], 3);
    TU_ASSERT_ERR(tnn_module_backward(m, t, &dx), TNN_ERR_SHAPE, "quiet", "dy is [3 x 4]", "output was [4 x 3]", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, x, &dx));
    assert_ptr_equal(dx, x);
    q->fail_backward = true;
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_NUMERIC, "quiet: told to fail", NULL);
    /* A backward that returns TNN_OK but no dL/dx when it was asked for. */
    q->fail_backward = false;
    q->no_dx = true;
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_STATE, "quiet backward returned no dx", NULL);
    TU_ASSERT_OK(tnn_module_backward(m, x, NULL));
    q->no_dx = false;
    q->fail_backward = true;
    TU_ASSERT_ERR(tnn_module_settle_grad(NULL), TNN_ERR_ARG, "settle_grad: module is NULL", NULL);
    /* Inside a Sequential the error names the child at fault, not the layer before it. */
    quiet_mod *q2 = calloc(1, sizeof *q2);
    assert_non_null(q2);
    tnn_module_init(&q2->base, &quiet_vt);
    q2->no_dx = true;
    tnn_module *seq = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(seq, tnn_linear_new(3, 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(seq, &q2->base));
    TU_ASSERT_OK(tnn_module_forward(seq, x, &y));
    TU_ASSERT_ERR(tnn_module_backward(seq, y, NULL), TNN_ERR_STATE, "child 1: quiet backward returned no dx", NULL);
    tnn_module_free(seq);
    /* a failed forward may have left the module half-updated: no backward on it */
    TU_ASSERT_ERR(tnn_module_forward(m, wrong, &y), TNN_ERR_SHAPE, NULL);
    assert_false(m->has_output);
    TU_ASSERT_ERR(tnn_module_backward(m, x, &dx), TNN_ERR_STATE, "before forward", NULL);
    assert_int_equal(tnn_set_error(TNN_ERR_IO, "file %s", "a.bin"), TNN_ERR_IO);
    assert_string_equal(tnn_last_error(), "file a.bin");
    assert_int_equal(tnn_last_status(), TNN_ERR_IO);
    /* A constructor's NULL: the status says why, without the message. */
    assert_null(tnn_linear_new(0, 3, true, NULL));
    assert_int_equal(tnn_last_status(), TNN_ERR_ARG);
    tnn_clear_error();
    assert_int_equal(tnn_last_status(), TNN_OK);
    assert_string_equal(tnn_last_error(), "");
    static const tnn_allocator none = {no_malloc, no_realloc, plain_free, NULL};
    tnn_set_allocator(&none);
    tnn_module *oom = tnn_linear_new(3, 3, true, NULL);
    tnn_set_allocator(NULL);
    assert_null(oom);
    assert_int_equal(tnn_last_status(), TNN_ERR_NOMEM);
    assert_int_equal(tnn_version_number(), TINYNN_VERSION_NUMBER);
    assert_int_equal(TINYNN_VERSION_NUMBER,
                     TINYNN_VERSION_MAJOR * 10000 + TINYNN_VERSION_MINOR * 100 + TINYNN_VERSION_PATCH);
    tnn_module_free(lin);
    tnn_module_free(m);
    tnn_tensor_free(x);
    tnn_tensor_free(wrong);
    tnn_tensor_free(t);
}

/* A user-written module whose visit record is wrong in one way (kind): an optimizer,
 * a parameter list, a state_dict and a save refuse it, naming the tensor, instead of
 * writing past its buffers later (the save writes no file). */
typedef struct bad_visit_mod {
    tnn_module base;
    int kind;
    float w[2], g[2];
} bad_visit_mod;

static tnn_status bad_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    bad_visit_mod *b = (bad_visit_mod *)m;
    char name[64];
    snprintf(name, sizeof name, "%sscale", prefix);
    tnn_named_tensor t = {.name = name, .dtype = TNN_F32, .data = b->w, .grad = b->g, .ndim = 1,
                          .shape = {2, 1, 1, 1}, .count = 2, .is_param = true};
    switch (b->kind) {
    case 1: t.count = 3; break;          /* more than the shape holds */
    case 2: t.grad = NULL; break;        /* a parameter without a gradient buffer */
    case 3: t.shape[0] = -2; break;      /* a negative dimension */
    case 4: t.ndim = TNN_MAX_DIMS + 1; break;
    case 5: t.data = NULL; break;
    case 6: t.dtype = TNN_I64; break;    /* a parameter that is not float */
    default: break;                      /* kind 0: right */
    }
    return fn(ctx, &t);
}

static const tnn_module_vtable bad_visit_vt = {
    .type_name = "badvisit", .forward = quiet_forward, .backward = quiet_backward, .visit = bad_visit, .free = quiet_free};

static void wrong_visit_records_refused(void **state)
{
    (void)state;
    const char *why[] = {NULL, "has count 3, but its shape holds 2 elements", "is a parameter without a gradient buffer",
                         "has dimension 0 = -2", "has 5 dimensions", "has no data", "parameters are F32"};
    for (int kind = 0; kind < 7; kind++) {
        bad_visit_mod *b = calloc(1, sizeof *b);
        assert_non_null(b);
        tnn_module_init(&b->base, &bad_visit_vt);
        b->kind = kind;
        tnn_optimizer *o = tnn_adam_new(&b->base, tnn_adam_defaults());
        tnn_tensor_list *p = tnn_module_parameters(&b->base, "m.");
        tnn_tensor_list *sd = tnn_module_state_dict(&b->base, "");
        char path[128];
        snprintf(path, sizeof path, "%s/bad%d.safetensors", tu_dir, kind);
        tnn_status saved = tnn_module_save(&b->base, "", path, NULL);
        if (kind == 0) {
            TU_ASSERT_OK(saved);
            assert_non_null(o);
            assert_non_null(p);
            assert_non_null(sd);
            tnn_optimizer_zero_grad(o);
            TU_ASSERT_OK(tnn_optimizer_step(o));
        } else {
            assert_null(o);
            assert_null(p);
            assert_null(sd);
            assert_int_equal(saved, TNN_ERR_ARG);
            TU_ASSERT_MSG("module visit: 'scale'", why[kind], NULL);
            FILE *f = fopen(path, "rb");
            assert_null(f);
            if (f) fclose(f);
        }
        tnn_optimizer_free(o);
        tnn_tensor_list_free(p);
        tnn_tensor_list_free(sd);
        tnn_module_free(&b->base);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(linear_values_by_hand),
    cmocka_unit_test(linear_init_like_pytorch),
    cmocka_unit_test(linear_batch_size_changes),
    cmocka_unit_test(discard_grad),
    cmocka_unit_test(batchnorm1d_values_by_hand),
    cmocka_unit_test(batchnorm1d_state_dict_entries),
    cmocka_unit_test(activations_values),
    cmocka_unit_test(dropout_behaviour),
    cmocka_unit_test(flatten_is_a_view),
    cmocka_unit_test(hand_filled_tensor_headers_refused),
    cmocka_unit_test(tensor_names_have_a_limit),
    cmocka_unit_test(forward_rejects_wrong_width_null_and_empty),
    cmocka_unit_test(backward_before_forward_and_bad_dy),
    cmocka_unit_test(forward_refuses_its_own_output),
    cmocka_unit_test(torch_edge_rules),
    cmocka_unit_test(batchnorm1d_refuses_a_batch_count_out_of_range),
    cmocka_unit_test(constructors_reject_bad_arguments),
    cmocka_unit_test(describe_strings),
    cmocka_unit_test(linear_bias_grad_same_bits_on_any_thread_count),
    cmocka_unit_test(linear_accumulated_weight_grad_is_a_float_sum),
    cmocka_unit_test(batchnorm1d_same_bits_on_any_thread_count),
    cmocka_unit_test(custom_module_checked_by_wrappers),
    cmocka_unit_test(custom_module_without_a_whole_vtable),
    cmocka_unit_test(own_dx_fed_back_is_read_as_a_copy),
    cmocka_unit_test(linear_features_past_int_max),
    cmocka_unit_test_setup_teardown(wrong_visit_records_refused, tu_tmpdir_make, tu_tmpdir_remove),
};

TU_MAIN("module", tests)
