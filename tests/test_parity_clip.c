/*
 * parity_clip: tnn_clip_grad_norm and tnn_clip_grad_value against torch 1.13's
 * torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (tests/data/parity/clip.golden,
 * written by clip_goldens in gen_goldens.py).
 *
 * The parameters are those of Sequential(Linear(64, 128), ReLU, Linear(128, 32), ReLU,
 * Linear(32, 1)), 12,513 scalars, with the gradients "grads.<param>" (scales 1e-8 to
 * 3.75, exact zeros). Every case starts from them, calls the function once and compares
 * the total norm it returns ("<case>.total_norm") and every gradient after the call
 * ("<case>.grad.<param>") with torch's:
 *   l2_clip, l2_noclip      norm 2, max_norm 2.5 (clips: the norm is 10.8) and 100 (does not)
 *   l1_clip, l1_noclip      norm 1, max_norm 1 and 1000 (the norm is 684)
 *   inf_clip, inf_noclip    norm inf, max_norm 0.7 and 100 (the norm is 3.75)
 *   p3_clip                 norm 3, max_norm 0.5
 *   zero_max                norm 2, max_norm 0: every gradient becomes (signed) zero
 *   none_clip               norm 2, max_norm 1, the middle Linear without gradients
 *                           (torch's .grad None; here discarded): skipped, left at zero
 *   nan_l2, inf_l2, nan_inf a NaN or -inf put into one gradient first, without
 *                           error_if_nonfinite: torch's norm is NaN / inf and its
 *                           gradients all NaN / zeros and NaN, and so are these
 *   value                   clip_grad_value_ with 0.03
 *
 * Tolerances (no absolute floor; NaN must meet NaN). tinynn sums the norm in double and
 * rounds it once; torch sums in float, so its total norm is off the correctly rounded
 * one by its own rounding errors: 0 ulps for the 2- and 3-norms of these gradients and 6
 * ulps for the 1-norm (a plain float sum of 12,513 magnitudes). Allowed: 2 ulps for the
 * 2- and 3-norms (rtol 2.4e-7), 1e-6 (11 ulps at 684) for the 1-norm. The coefficient is
 * computed from the total norm as torch computes it, op by op in float, so the clipped
 * gradients differ from torch's only as far as the two totals do: 3 ulps allowed
 * (rtol 3.6e-7) with the 2- and 3-norms, 1e-6 with the 1-norm. The inf-norm (a
 * maximum), the cases that do not clip (coefficient exactly 1), max_norm 0 and the
 * clamp are exact, and are compared exactly: a coefficient rounded otherwise than
 * torch's (a plain division, say) fails them.
 */
#include "parity/parity.h"

#include <math.h>
#include <string.h>

#define ULP2 2.4e-7  /* 2 ulps of float, relatively (2 x 2^-23) */
#define ULP3 3.6e-7  /* 3 ulps */
#define L1_TOL 1e-6  /* torch's float sum of the 1-norm: 6 ulps off here */

typedef struct clip_case {
    const char *name;
    double max_norm;       /* or the clip value */
    double norm_type;      /* 0: tnn_clip_grad_value */
    double total_rtol, grad_rtol;
    bool none_mid;         /* the middle Linear ("2.weight", "2.bias") has no gradient */
    const char *edit;      /* a parameter whose gradient element edit_at is set to edit_value first */
    size_t edit_at;
    float edit_value;
} clip_case;

static const clip_case CASES[] = {
    {"l2_clip", 2.5, 2.0, ULP2, ULP3, false, NULL, 0, 0.0f},
    {"l2_noclip", 100.0, 2.0, ULP2, 0.0, false, NULL, 0, 0.0f},
    {"l1_clip", 1.0, 1.0, L1_TOL, L1_TOL, false, NULL, 0, 0.0f},
    {"l1_noclip", 1000.0, 1.0, L1_TOL, 0.0, false, NULL, 0, 0.0f},
    {"inf_clip", 0.7, INFINITY, 0.0, 0.0, false, NULL, 0, 0.0f},
    {"inf_noclip", 100.0, INFINITY, 0.0, 0.0, false, NULL, 0, 0.0f},
    {"p3_clip", 0.5, 3.0, ULP2, ULP3, false, NULL, 0, 0.0f},
    {"zero_max", 0.0, 2.0, ULP2, 0.0, false, NULL, 0, 0.0f},
    {"none_clip", 1.0, 2.0, ULP2, ULP3, true, NULL, 0, 0.0f},
    {"nan_l2", 1.0, 2.0, 0.0, 0.0, false, "2.weight", 17, NAN},
    {"inf_l2", 1.0, 2.0, 0.0, 0.0, false, "0.bias", 3, -INFINITY},
    {"nan_inf", 1.0, INFINITY, 0.0, 0.0, false, "4.weight", 0, NAN},
    {"value", 0.03, 0.0, 0.0, 0.0, false, NULL, 0, 0.0f},
};

/* The model and its parameters (pointers into it; the list owns only the names). */
typedef struct mlp {
    tnn_module *m, *mid;
    tnn_tensor_list *ps;
} mlp;

static mlp mlp_new(void)
{
    mlp r;
    r.m = tnn_sequential_new();
    assert_non_null(r.m);
    r.mid = tnn_linear_new(128, 32, true, NULL);
    assert_non_null(r.mid);
    assert_int_equal(tnn_sequential_add(r.m, tnn_linear_new(64, 128, true, NULL)), TNN_OK);
    assert_int_equal(tnn_sequential_add(r.m, tnn_relu_new()), TNN_OK);
    assert_int_equal(tnn_sequential_add(r.m, r.mid), TNN_OK);
    assert_int_equal(tnn_sequential_add(r.m, tnn_relu_new()), TNN_OK);
    assert_int_equal(tnn_sequential_add(r.m, tnn_linear_new(32, 1, true, NULL)), TNN_OK);
    r.ps = tnn_module_parameters(r.m, "");
    assert_non_null(r.ps);
    assert_int_equal(r.ps->count, 6);
    return r;
}

static bool is_mid(const char *name) { return !strncmp(name, "2.", 2); }

static bool run_case(const golden_file *g, const clip_case *c)
{
    mlp r = mlp_new();
    for (int i = 0; i < r.ps->count; i++) {
        tnn_named_tensor *p = &r.ps->items[i];
        memcpy(p->grad, golden_f32(g, p->count, "grads.%s", p->name), p->count * sizeof(float));
        if (c->edit && !strcmp(p->name, c->edit)) p->grad[c->edit_at] = c->edit_value;
    }
    if (c->none_mid) tnn_module_discard_grad(r.mid);
    bool ok = true;
    char nm[96];
    if (c->norm_type == 0.0) {
        assert_int_equal(tnn_clip_grad_value(r.m, c->max_norm), TNN_OK);
    } else {
        float total = -1.0f;
        tnn_status st = tnn_clip_grad_norm(r.m, c->max_norm, c->norm_type, false, &total);
        if (st) print_error("%s: %s\n", c->name, tnn_last_error());
        assert_int_equal(st, TNN_OK);
        snprintf(nm, sizeof nm, "%s.total_norm", c->name);
        ok &= parity_check_scalar(g, nm, total, 0.0, c->total_rtol);
    }
    for (int i = 0; i < r.ps->count; i++) {
        tnn_named_tensor *p = &r.ps->items[i];
        if (c->none_mid && is_mid(p->name)) { /* skipped: the discarded gradient reads as zeros */
            for (size_t k = 0; k < p->count; k++) {
                if (p->grad[k] != 0.0f) {
                    print_error("%s: '%s' has no gradient, yet element %zu is %g\n", c->name, p->name, k, p->grad[k]);
                    ok = false;
                    break;
                }
            }
            continue;
        }
        snprintf(nm, sizeof nm, "%s.grad.%s", c->name, p->name);
        ok &= parity_check(g, nm, p->grad, p->count, 0.0, c->grad_rtol);
    }
    tnn_tensor_list_free(r.ps);
    tnn_module_free(r.m);
    return ok;
}

static void test_clip(void **state)
{
    (void)state;
    golden_file *g = golden_load("clip.golden");
    assert_non_null(g);
    bool ok = true;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) ok &= run_case(g, &CASES[i]);
    golden_free(g);
    assert_true(ok);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        {"clip", test_clip, NULL, NULL, NULL},
    };
    return parity_main(argc, argv, "parity_clip", tests, sizeof tests / sizeof tests[0]);
}
