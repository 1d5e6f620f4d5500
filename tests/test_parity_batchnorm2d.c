/*
 * parity_batchnorm2d: tnn_batchnorm2d against torch.nn.BatchNorm2d
 * (tests/data/parity/batchnorm2d.golden). Per case: three training steps on one module
 * (output, dL/dx, weight and bias gradients, running_mean, running_var and
 * num_batches_tracked after each), then eval mode. The cases: an [N x C x 1 x 1] input
 * (torch's channels-last kernel, BatchNorm1d's), odd sizes, an image of fewer than 8
 * values (below one AVX2 vector), a multiple of 8, a batch of one sample, momentum 0.3
 * and 0.01, eps 0.8 and 1e-5, no affine parameters, no running statistics.
 *
 * Tolerance: none where the build is GCC on x86-64 (-std=c11: no contraction of a*b+c
 * but the explicit fmaf calls, which is torch's arithmetic as compiled), where every
 * value is bit-identical to torch's; elsewhere (another compiler may contract on its
 * own) BatchNorm1d's 1e-6 relative with an absolute floor of 1e-7 times the tensor's
 * scale, unless TNN_PARITY_EXACT=1.
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define BN_RTOL 1e-6
#define BN_ATOL 1e-7

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define BN_EXACT 1
#else
#define BN_EXACT 0
#endif

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(v[i]));
    return m;
}

static bool check(const golden_file *g, const char *cs, const char *phase, const char *what, const float *got, size_t n)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s.%s.%s", cs, phase, what);
    const float *want = golden_f32(g, n, "%s", nm);
    if (BN_EXACT) return parity_check(g, nm, got, n, 0.0, 0.0);
    return parity_check(g, nm, got, n, parity_exact_or(BN_ATOL * fmax(1.0, max_abs(want, n))), parity_exact_or(BN_RTOL));
}

typedef struct bn_case {
    const char *name;
    double eps, momentum;
    bool affine, track;
} bn_case;

static void run_case(const bn_case *k)
{
    golden_file *g = golden_load("batchnorm2d.golden");
    const golden_tensor *x1 = golden_find(g, "%s.train1.x", k->name);
    assert_non_null(x1);
    assert_int_equal(x1->ndim, 4);
    const int c = x1->shape[1];
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = k->eps;
    p.momentum = k->momentum;
    p.affine = k->affine;
    p.track_running_stats = k->track;
    tnn_module *bn = tnn_batchnorm2d_new(c, p);
    assert_non_null(bn);
    tnn_tensor_list *sd = tnn_module_state_dict(bn, "");
    assert_non_null(sd);
    const tnn_named_tensor *weight = tnn_tensor_list_find(sd, "weight"), *bias = tnn_tensor_list_find(sd, "bias");
    const tnn_named_tensor *rmean = tnn_tensor_list_find(sd, "running_mean"), *rvar = tnn_tensor_list_find(sd, "running_var");
    const tnn_named_tensor *nbt = tnn_tensor_list_find(sd, "num_batches_tracked");
    assert_int_equal(sd->count, (k->affine ? 2 : 0) + (k->track ? 3 : 0));
    if (k->affine) {
        assert_true(weight && bias);
        memcpy(weight->data, golden_f32(g, (size_t)c, "%s.weight", k->name), (size_t)c * sizeof(float));
        memcpy(bias->data, golden_f32(g, (size_t)c, "%s.bias", k->name), (size_t)c * sizeof(float));
    }
    if (k->track) assert_true(rmean && rvar && nbt);

    bool ok = true;
    const char *phases[] = {"train1", "train2", "train3", "eval"};
    for (int s = 0; s < 4; s++) {
        const char *ph = phases[s];
        tnn_module_train(bn, s < 3);
        tnn_module_zero_grad(bn);
        tnn_tensor *x = golden_tensor_new(g, "%s.%s.x", k->name, ph), *dy = golden_tensor_new(g, "%s.%s.dy", k->name, ph);
        const tnn_tensor *y = NULL, *dx = NULL;
        assert_int_equal(tnn_module_forward(bn, x, &y), TNN_OK);
        assert_int_equal(y->ndim, 4);
        assert_memory_equal(y->shape, x->shape, sizeof x->shape[0] * 4);
        assert_int_equal(tnn_module_backward(bn, dy, &dx), TNN_OK);
        assert_memory_equal(dx->shape, x->shape, sizeof x->shape[0] * 4);
        ok &= check(g, k->name, ph, "y", y->data, y->size);
        ok &= check(g, k->name, ph, "dx", dx->data, dx->size);
        if (k->affine) {
            ok &= check(g, k->name, ph, "dweight", weight->grad, (size_t)c);
            ok &= check(g, k->name, ph, "dbias", bias->grad, (size_t)c);
        }
        if (k->track) {
            ok &= check(g, k->name, ph, "running_mean", rmean->data, (size_t)c);
            ok &= check(g, k->name, ph, "running_var", rvar->data, (size_t)c);
            char nm[160];
            snprintf(nm, sizeof nm, "%s.%s.num_batches_tracked", k->name, ph);
            ok &= parity_check_i64(g, nm, *(const int64_t *)nbt->data);
        }
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
    }
    tnn_tensor_list_free(sd);
    tnn_module_free(bn);
    golden_free(g);
    assert_true(ok);
}

/* [16 x 5 x 1 x 1]: torch's channels-last kernel, as BatchNorm1d's. */
static void bn2d_hw1(void **state) { (void)state; run_case(&(bn_case){"hw1", 1e-5, 0.1, true, true}); }
/* [3 x 7 x 5 x 3], eps 0.8: odd sizes, 15 values per plane (one vector and a tail). */
static void bn2d_odd(void **state) { (void)state; run_case(&(bn_case){"odd", 0.8, 0.1, true, true}); }
/* [5 x 4 x 2 x 3], momentum 0.01: 6 values per plane, below one vector. */
static void bn2d_small(void **state) { (void)state; run_case(&(bn_case){"small", 0.8, 0.01, true, true}); }
/* [4 x 16 x 10 x 12]: a convolution's output, 120 values per plane (no tail). */
static void bn2d_conv(void **state) { (void)state; run_case(&(bn_case){"conv", 1e-5, 0.1, true, true}); }
/* [2 x 3 x 7 x 9], momentum 0.3. */
static void bn2d_mom(void **state) { (void)state; run_case(&(bn_case){"mom", 1e-5, 0.3, true, true}); }
/* [1 x 6 x 9 x 11]: one sample, which training accepts (99 values per channel). */
static void bn2d_n1(void **state) { (void)state; run_case(&(bn_case){"n1", 1e-5, 0.1, true, true}); }
/* affine=False: no weight or bias. */
static void bn2d_noaffine(void **state) { (void)state; run_case(&(bn_case){"noaffine", 1e-5, 0.1, false, true}); }
/* track_running_stats=False: no buffers; eval normalises with the batch's statistics. */
static void bn2d_untracked(void **state) { (void)state; run_case(&(bn_case){"untracked", 0.8, 0.1, true, false}); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bn2d_hw1),   cmocka_unit_test(bn2d_odd), cmocka_unit_test(bn2d_small),
        cmocka_unit_test(bn2d_conv),  cmocka_unit_test(bn2d_mom), cmocka_unit_test(bn2d_n1),
        cmocka_unit_test(bn2d_noaffine), cmocka_unit_test(bn2d_untracked),
    };
    return parity_main(argc, argv, "parity_batchnorm2d", tests, sizeof tests / sizeof tests[0]);
}
