/*
 * parity_dropout2d: tnn_dropout2d against torch.nn.Dropout2d
 * (tests/data/parity/dropout2d.golden): output and dL/dx for ten cases.
 *
 * torch's masks come from torch's generator and tinynn's from its own, so in training
 * with 0 < p < 1 the masks differ: the test draws masks (forward and backward again)
 * until every channel of every sample has been seen kept by both or zeroed by both, and
 * compares those channels bit for bit: a kept channel is x * (1.0f / (float)(1 - p)) and
 * its dL/dx dy times the same factor, a zeroed one x * 0 and dy * 0 (signed zeros). The
 * cases: PyTorch-GAN's Dropout2d(0.25) ("dcgan"), p = 0.5, 0.15 and 0.2909... (whose
 * factor computed in double would be an ulp off), 0.9, 0.999 (a few channels kept), a
 * 3-D input [N x C x L] (torch 1.13's channel-wise 1-D dropout). Eval mode, p = 0 and
 * p = 1 (NaN and +-inf among the inputs: x * 0) are deterministic and compared whole.
 * The layer runs inside a Sequential, as in a network.
 */
#include "parity/parity.h"

#include <stdlib.h>
#include <string.h>

static bool same_bits(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(a[i] != a[i] && b[i] != b[i])) return false;
    return true;
}

static void run_case(const char *name, bool train, bool random)
{
    golden_file *g = golden_load("dropout2d.golden");
    const float p = golden_scalar(g, "%s.p", name);
    tnn_rng r;
    tnn_rng_seed(&r, 2026);
    tnn_module *seq = tnn_sequential_new(), *drop = tnn_dropout2d_new(p, &r);
    assert_non_null(drop);
    assert_int_equal(tnn_sequential_add(seq, drop), TNN_OK);
    tnn_module_train(seq, train);
    tnn_tensor *x = golden_tensor_new(g, "%s.x", name), *dy = golden_tensor_new(g, "%s.dy", name);
    const float *wy = golden_f32(g, x->size, "%s.y", name), *wdx = golden_f32(g, x->size, "%s.dx", name);
    const size_t planes = (size_t)x->shape[0] * (size_t)x->shape[1], plane = x->size / planes;
    const tnn_tensor *y = NULL, *dx = NULL;
    bool ok = true;
    char nm[128];
    if (!random) {
        assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
        assert_int_equal(tnn_module_backward(seq, dy, &dx), TNN_OK);
        snprintf(nm, sizeof nm, "%s.y", name);
        ok &= parity_check(g, nm, y->data, y->size, 0.0, 0.0);
        snprintf(nm, sizeof nm, "%s.dx", name);
        ok &= parity_check(g, nm, dx->data, dx->size, 0.0, 0.0);
        ok &= same_bits(y->data, wy, y->size) && same_bits(dx->data, wdx, dx->size); /* signed zeros too */
    } else {
        bool *seen = calloc(planes, sizeof *seen);
        assert_non_null(seen);
        size_t left = planes, torch_kept = 0, draws = 0;
        for (size_t c = 0; c < planes; c++) torch_kept += wy[c * plane] != 0.0f;
        while (left > 0 && draws < 100000 && ok) {
            assert_int_equal(tnn_module_forward(seq, x, &y), TNN_OK);
            assert_int_equal(tnn_module_backward(seq, dy, &dx), TNN_OK);
            draws++;
            for (size_t c = 0; c < planes; c++) {
                const size_t o = c * plane;
                if (seen[c] || (y->data[o] != 0.0f) != (wy[o] != 0.0f)) continue;
                if (!same_bits(y->data + o, wy + o, plane) || !same_bits(dx->data + o, wdx + o, plane)) {
                    print_error("%s: channel %zu (%s by both): y[0] %a, torch's %a; dx[0] %a, torch's %a\n", name, c,
                                wy[o] != 0.0f ? "kept" : "zeroed", (double)y->data[o], (double)wy[o],
                                (double)dx->data[o], (double)wdx[o]);
                    ok = false;
                }
                seen[c] = true;
                left--;
            }
        }
        printf("%s (p=%g): %zu channels, %zu kept by torch, all compared after %zu draws of tinynn's masks\n", name,
               (double)p, planes, torch_kept, draws);
        assert_true(torch_kept > 0 && torch_kept < planes);
        if (left) {
            print_error("%s: %zu channels never compared\n", name, left);
            ok = false;
        }
        free(seen);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(seq);
    golden_free(g);
    assert_true(ok);
}

/* [8 x 32 x 4 x 4], p = 0.25: the DCGAN discriminator's Dropout2d(0.25). */
static void dropout2d_dcgan(void **state) { (void)state; run_case("dcgan", true, true); }
/* [8 x 16 x 3 x 3], p = 0.5: factor 2. */
static void dropout2d_half(void **state) { (void)state; run_case("half", true, true); }
/* p = 0.15 (the float's value) and 0.2909047...: 1 / (1 - p) in double, rounded, is an ulp off. */
static void dropout2d_p015(void **state) { (void)state; run_case("p015", true, true); }
static void dropout2d_p029(void **state) { (void)state; run_case("p029", true, true); }
/* p = 0.9: factor 9.999998 (the float 0.9's), and p = 0.999 on 4096 channels. */
static void dropout2d_p09(void **state) { (void)state; run_case("p09", true, true); }
static void dropout2d_p0999(void **state) { (void)state; run_case("p0999", true, true); }
/* [8 x 16 x 10]: a 3-D input is [N x C x L] in torch 1.13. */
static void dropout2d_l3d(void **state) { (void)state; run_case("l3d", true, true); }
/* Eval mode, p = 0.5: the identity; training with p = 0: the identity. */
static void dropout2d_eval(void **state) { (void)state; run_case("eval", false, false); }
static void dropout2d_p0(void **state) { (void)state; run_case("p0", true, false); }
/* Training, p = 1: x * 0 (NaN for NaN and +-inf, -0 for a negative x), dL/dx dy * 0. */
static void dropout2d_p1(void **state) { (void)state; run_case("p1", true, false); }

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dropout2d_dcgan), cmocka_unit_test(dropout2d_half),  cmocka_unit_test(dropout2d_p015),
        cmocka_unit_test(dropout2d_p029),  cmocka_unit_test(dropout2d_p09),   cmocka_unit_test(dropout2d_p0999),
        cmocka_unit_test(dropout2d_l3d),   cmocka_unit_test(dropout2d_eval),  cmocka_unit_test(dropout2d_p0),
        cmocka_unit_test(dropout2d_p1),
    };
    return parity_main(argc, argv, "parity_dropout2d", tests, sizeof tests / sizeof tests[0]);
}
