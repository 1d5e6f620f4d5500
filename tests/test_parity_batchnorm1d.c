/*
 * parity_batchnorm1d: tnn_batchnorm1d against torch.nn.BatchNorm1d
 * (tests/data/parity/batchnorm1d.golden). Per case (eps 0.8 and 1e-5, batch 128 and 2):
 * three training steps on one module (output, dL/dx, weight and bias gradients,
 * running_mean, running_var and num_batches_tracked after each), then eval mode with
 * the running statistics.
 *
 * Tolerance: 1e-6 relative (about 8 ulps) with an absolute floor of 1e-7 times the
 * tensor's scale. tinynn's BatchNorm follows torch's CPU kernel operation by operation
 * (float sums in batch order, the same fused multiply-adds, the same float/double
 * mixture; see src/batchnorm1d.c), so no BLAS is involved and the results are
 * bit-identical on every machine; the margin only allows a compiler that contracts
 * a*b+c differently (TNN_PARITY_EXACT=1 removes it).
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define BN_RTOL 1e-6
#define BN_ATOL 1e-7

static float max_abs(const float *v, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(v[i]));
    return m;
}

/* Compares `got` with golden "<case>.<phase>.<what>", atol scaled by the golden's size. */
static bool check(const golden_file *g, const char *cs, const char *phase, const char *what, const float *got, size_t n)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s.%s.%s", cs, phase, what);
    const float *want = golden_f32(g, n, "%s", nm);
    return parity_check(g, nm, got, n, parity_exact_or(BN_ATOL * fmax(1.0, max_abs(want, n))), parity_exact_or(BN_RTOL));
}

static void run_case(const char *cs, double eps)
{
    golden_file *g = golden_load("batchnorm1d.golden");
    const golden_tensor *w = golden_find(g, "%s.weight", cs);
    assert_non_null(w);
    int c = w->shape[0];
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = eps;
    tnn_module *bn = tnn_batchnorm1d_new(c, p);
    assert_non_null(bn);
    tnn_tensor_list *sd = tnn_module_state_dict(bn, "");
    assert_non_null(sd);
    const tnn_named_tensor *weight = tnn_tensor_list_find(sd, "weight"), *bias = tnn_tensor_list_find(sd, "bias");
    const tnn_named_tensor *rmean = tnn_tensor_list_find(sd, "running_mean"), *rvar = tnn_tensor_list_find(sd, "running_var");
    const tnn_named_tensor *nbt = tnn_tensor_list_find(sd, "num_batches_tracked");
    assert_true(weight && bias && rmean && rvar && nbt);
    memcpy(weight->data, w->data, (size_t)c * sizeof(float));
    memcpy(bias->data, golden_f32(g, (size_t)c, "%s.bias", cs), (size_t)c * sizeof(float));

    bool ok = true;
    const char *phases[] = {"train1", "train2", "train3", "eval"};
    for (int s = 0; s < 4; s++) {
        const char *ph = phases[s];
        tnn_module_train(bn, s < 3);
        tnn_module_zero_grad(bn);
        tnn_tensor *x = golden_tensor_new(g, "%s.%s.x", cs, ph), *dy = golden_tensor_new(g, "%s.%s.dy", cs, ph);
        const tnn_tensor *y = NULL, *dx = NULL;
        assert_int_equal(tnn_module_forward(bn, x, &y), TNN_OK);
        assert_int_equal(tnn_module_backward(bn, dy, &dx), TNN_OK);
        ok &= check(g, cs, ph, "y", y->data, y->size);
        ok &= check(g, cs, ph, "dx", dx->data, dx->size);
        ok &= check(g, cs, ph, "dweight", weight->grad, (size_t)c);
        ok &= check(g, cs, ph, "dbias", bias->grad, (size_t)c);
        ok &= check(g, cs, ph, "running_mean", rmean->data, (size_t)c);
        ok &= check(g, cs, ph, "running_var", rvar->data, (size_t)c);
        if (s < 3) {
            char nm[160];
            snprintf(nm, sizeof nm, "%s.%s.num_batches_tracked", cs, ph);
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

/* BatchNorm1d(64, eps=0.8) as in the seed GAN, batch 128. */
static void bn_eps08_batch128(void **state) { (void)state; run_case("eps0.8_b128", 0.8); }
/* Batch 2: the smallest batch training accepts; the unbiased variance divides by 1. */
static void bn_eps08_batch2(void **state) { (void)state; run_case("eps0.8_b2", 0.8); }
/* The default eps, where the variance dominates sqrt(var + eps). */
static void bn_eps1e5_batch128(void **state) { (void)state; run_case("eps1e-5_b128", 1e-5); }
static void bn_eps1e5_batch2(void **state) { (void)state; run_case("eps1e-5_b2", 1e-5); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bn_eps08_batch128),
        cmocka_unit_test(bn_eps08_batch2),
        cmocka_unit_test(bn_eps1e5_batch128),
        cmocka_unit_test(bn_eps1e5_batch2),
    };
    return parity_main(argc, argv, "parity_batchnorm1d", tests, sizeof tests / sizeof tests[0]);
}
