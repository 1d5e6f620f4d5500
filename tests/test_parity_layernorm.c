/*
 * parity_layernorm: tnn_layernorm against torch.nn.LayerNorm
 * (tests/data/parity/layernorm.golden). Per case: two training steps on one module, the
 * second adding its parameter gradients to the first's (output, dL/dx, weight and bias
 * gradients after each), then eval mode after zero_grad (the same arithmetic: no
 * running statistics). The cases: rows of 6 values (below one AVX2 vector), rows with a
 * tail after whole vectors (37, 63, 100, 150), whole chunks of 16 vectors (128), rows
 * long enough for torch's cascade of chunk moments (2100, 4133), a 2-D normalized_shape
 * ([7 x 9], [3 x 50], [3 x 20]), an unbatched input, no affine parameters, eps 0.1,
 * and rows with means near +-1000 ("far"). Every row has its own spread (0.2 to 4) and
 * mean, so rstd is far from 1.
 *
 * Tolerance: none where the build is GCC on x86-64 (-std=c11: no contraction of a*b+c
 * but the explicit fmaf calls, which are torch's arithmetic as compiled), where every
 * value is bit-identical to torch's; elsewhere (another compiler may contract on its
 * own) 1e-6 relative with an absolute floor of 1e-6 times the tensor's largest
 * magnitude, unless TNN_PARITY_EXACT=1.
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define LN_RTOL 1e-6
#define LN_ATOL 1e-6

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LN_EXACT 1
#else
#define LN_EXACT 0
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
    if (LN_EXACT) return parity_check(g, nm, got, n, 0.0, 0.0);
    return parity_check(g, nm, got, n, parity_exact_or(LN_ATOL * fmax(1.0, max_abs(want, n))), parity_exact_or(LN_RTOL));
}

typedef struct ln_case {
    const char *name;
    int nd, shape[4];
    double eps;
    bool affine;
} ln_case;

static void run_case(const ln_case *k)
{
    golden_file *g = golden_load("layernorm.golden");
    tnn_layernorm_params p = tnn_layernorm_defaults();
    p.eps = k->eps;
    p.elementwise_affine = k->affine;
    tnn_module *ln = tnn_layernorm_new(k->nd, k->shape, p);
    assert_non_null(ln);
    size_t n = 1;
    for (int d = 0; d < k->nd; d++) n *= (size_t)k->shape[d];
    tnn_tensor_list *sd = tnn_module_state_dict(ln, "");
    assert_non_null(sd);
    assert_int_equal(sd->count, k->affine ? 2 : 0);
    const tnn_named_tensor *weight = tnn_tensor_list_find(sd, "weight"), *bias = tnn_tensor_list_find(sd, "bias");
    if (k->affine) {
        assert_true(weight && bias);
        assert_int_equal(weight->ndim, k->nd);
        assert_memory_equal(weight->shape, k->shape, (size_t)k->nd * sizeof(int));
        assert_int_equal(weight->count, n);
        memcpy(weight->data, golden_f32(g, n, "%s.weight", k->name), n * sizeof(float));
        memcpy(bias->data, golden_f32(g, n, "%s.bias", k->name), n * sizeof(float));
    }
    bool ok = true;
    const char *phases[] = {"step1", "step2", "eval"};
    for (int s = 0; s < 3; s++) {
        const char *ph = phases[s];
        tnn_module_train(ln, s < 2);
        if (s != 1) tnn_module_zero_grad(ln);
        tnn_tensor *x = golden_tensor_new(g, "%s.%s.x", k->name, ph), *dy = golden_tensor_new(g, "%s.%s.dy", k->name, ph);
        assert_true(x && dy);
        const tnn_tensor *y = NULL, *dx = NULL;
        assert_int_equal(tnn_module_forward(ln, x, &y), TNN_OK);
        assert_int_equal(y->ndim, x->ndim);
        assert_memory_equal(y->shape, x->shape, sizeof x->shape);
        assert_int_equal(tnn_module_backward(ln, dy, &dx), TNN_OK);
        assert_memory_equal(dx->shape, x->shape, sizeof x->shape);
        ok &= check(g, k->name, ph, "y", y->data, y->size);
        ok &= check(g, k->name, ph, "dx", dx->data, dx->size);
        if (k->affine) {
            ok &= check(g, k->name, ph, "dweight", weight->grad, n);
            ok &= check(g, k->name, ph, "dbias", bias->grad, n);
        }
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
    }
    tnn_tensor_list_free(sd);
    tnn_module_free(ln);
    golden_free(g);
    assert_true(ok);
}

/* [6 x 37]: 4 vectors and a tail of 5. */
static void ln_row37(void **state) { (void)state; run_case(&(ln_case){"row37", 1, {37}, 1e-5, true}); }
/* [2 x 5 x 100]: a sequence of 100 features (12 vectors and 4). */
static void ln_seq100(void **state) { (void)state; run_case(&(ln_case){"seq100", 1, {100}, 1e-5, true}); }
/* [3 x 4 x 7 x 9], normalized_shape [7 x 9]: 2-D, 63 values per row. */
static void ln_twod(void **state) { (void)state; run_case(&(ln_case){"twod", 2, {7, 9}, 1e-5, true}); }
/* [5 x 6], eps 0.1: fewer values than one vector. */
static void ln_small(void **state) { (void)state; run_case(&(ln_case){"small", 1, {6}, 0.1, true}); }
/* [4 x 3 x 50], normalized_shape [3 x 50], elementwise_affine=False. */
static void ln_noaffine(void **state) { (void)state; run_case(&(ln_case){"noaffine", 2, {3, 50}, 1e-5, false}); }
/* [8 x 128]: exactly one chunk of 16 vectors. */
static void ln_whole(void **state) { (void)state; run_case(&(ln_case){"whole", 1, {128}, 1e-5, true}); }
/* [3 x 2100]: 17 chunks (and 4 values), merged by torch's cascade. */
static void ln_long(void **state) { (void)state; run_case(&(ln_case){"long", 1, {2100}, 1e-5, true}); }
/* [2 x 4133], no affine: 33 chunks, the last partial, and 5 values. */
static void ln_long2d(void **state) { (void)state; run_case(&(ln_case){"long2d", 1, {4133}, 1e-5, false}); }
/* [24]: an unbatched input of exactly normalized_shape, one row. */
static void ln_unbatched(void **state) { (void)state; run_case(&(ln_case){"unbatched", 1, {24}, 1e-5, true}); }
/* [4 x 3 x 20], normalized_shape [3 x 20], rows with means near +-1000. */
static void ln_far(void **state) { (void)state; run_case(&(ln_case){"far", 2, {3, 20}, 1e-5, true}); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ln_row37),    cmocka_unit_test(ln_seq100), cmocka_unit_test(ln_twod),
        cmocka_unit_test(ln_small),    cmocka_unit_test(ln_noaffine), cmocka_unit_test(ln_whole),
        cmocka_unit_test(ln_long),     cmocka_unit_test(ln_long2d), cmocka_unit_test(ln_unbatched),
        cmocka_unit_test(ln_far),
    };
    return parity_main(argc, argv, "parity_layernorm", tests, sizeof tests / sizeof tests[0]);
}
