/*
 * gradcheck.h - finite-difference gradient checks for any tnn_module and for losses.
 *
 * Module check (gradcheck_module): with fixed random weights w_i ~ U(-1, 1) the scalar
 *     L(x, params) = sum_i w_i * y_i,   y = forward(x),
 * is accumulated in double from the float32 output. Its analytic gradients come from
 * one backward(dy = w): dL/dx and every parameter gradient (parameters enumerated with
 * tnn_module_parameters, gradients zeroed first since modules accumulate with +=).
 * The numeric gradient of every element of x and of every parameter comes from
 * central differences at steps h and 2h,
 *     D(s) = (L(v + s) - L(v - s)) / (fl(v + s) - fl(v - s)),
 * combined by Richardson extrapolation, (s2^2 D(s1) - s1^2 D(s2)) / (s2^2 - s1^2) with
 * the half-steps s1 ~ h, s2 ~ 2h actually taken after rounding v +- s to float32 (so
 * that rounding of the perturbed value does not enter). This cancels the h^2 term of
 * the truncation error, leaving O(h^4). The two gradients are compared by
 *     rel = |a - n| / max(|a|, |n|, floor)
 * and the check fails if rel > tol for any element.
 *
 * Defaults and why (gradcheck_defaults()):
 *   h     = 2e-2. The forward pass is float32, so L carries an absolute rounding error
 *         of about 2^-24 * |w| * |y| * sqrt(outputs touched) ~ 1e-7, which a
 *         difference divides by ~h: ~5e-6 at h = 2e-2, ~1e-3 at h = 1e-4. Truncation
 *         after extrapolation is ~(h/scale)^4, negligible for functions that bend on a
 *         scale of ~1 (tanh, sigmoid, softmax, BatchNorm of unit-spread columns). So h
 *         is as large as the kinks allow: inputs of ReLU/LeakyReLU must stay more than
 *         2h (the larger step) from 0. Checks of functions with another natural scale
 *         set their own h (BCE at p >= 0.1: 1e-2; BatchNorm of columns of spread
 *         >= 0.5: 5e-2).
 *   tol   = 2e-3. The built-in layers show at most ~5e-4 (each check prints its
 *         largest error per tensor), while a backward that is wrong by 1% on every
 *         element (tanh's gradient times 1.01) shows ~1e-2 and fails.
 *   floor = 1e-2. Gradients far below the typical O(0.1..1) ones are compared in
 *         absolute terms, |a - n| <= tol * floor = 2e-5, above the rounding noise.
 *
 * The harness also checks that parameter gradients ACCUMULATE: a second forward and
 * backward without zeroing must give exactly twice the first gradients (rel 1e-4).
 * And it refuses to compare zero with zero: if every analytic and numeric gradient of
 * every checked tensor is (near) zero, the check fails as degenerate.
 *
 * Side effects: forward may change buffers (BatchNorm's running statistics and
 * num_batches_tracked in training mode). The harness snapshots every buffer listed by
 * tnn_module_state_dict and restores it before each forward, so every evaluation sees
 * the same state and the module's buffers are unchanged after the check. Inputs of
 * piecewise-linear layers must be kept at least h away from their kinks by the
 * caller (tu_fill_away_from_zero); random layers must be made deterministic with
 * before_forward (e.g. reseed dropout's rng so the mask is the same every time).
 *
 * On failure the worst element of each failing tensor is printed with its index, the
 * analytic and numeric values and the tensor's name ("input", "weight", "0.bias", ...).
 */
#ifndef TINYNN_GRADCHECK_H
#define TINYNN_GRADCHECK_H

#include <tinynn/tinynn.h>

typedef struct gradcheck_opts {
    double h;       /* finite-difference step (the second step is 2h), see above */
    double tol;     /* largest accepted relative error */
    double floor;   /* denominator floor of the relative error */
    uint64_t seed;  /* seed of the random output weights w */
    /* Called before every forward (the reference one and each perturbed one). */
    void (*before_forward)(void *user);
    void *user;
    bool quiet;     /* no per-tensor summary lines on success */
} gradcheck_opts;

gradcheck_opts gradcheck_defaults(void);

/* Result of a check, for tests that assert more than pass/fail. */
typedef struct gradcheck_report {
    int tensors;             /* tensors compared (input + parameters) */
    int failed;              /* tensors with an element above tol */
    size_t elements;         /* scalars compared */
    double max_rel_err;      /* over all tensors */
    char worst_tensor[128];  /* tensor with the largest relative error */
} gradcheck_report;

/* Results: 0 pass, 1 a gradient does not match (or is degenerate, or parameter
 * gradients do not accumulate), negative: a module call failed (its tnn_status; the
 * message is printed). `x` is perturbed in place and restored. `rep` may be NULL. */
enum { GRADCHECK_PASS = 0, GRADCHECK_MISMATCH = 1 };
int gradcheck_module(tnn_module *m, tnn_tensor *x, gradcheck_opts o, gradcheck_report *rep);

/* Loss check: fn(ctx, x, &loss, grad) returns the loss of input x and writes dL/dx
 * into grad (a tensor shaped like x). The numeric gradient differentiates the returned
 * float loss directly (no weights). Same comparison and results as above. */
typedef tnn_status (*gradcheck_loss_fn)(void *ctx, const tnn_tensor *x, float *loss, tnn_tensor *grad);
int gradcheck_loss(const char *name, gradcheck_loss_fn fn, void *ctx, tnn_tensor *x, gradcheck_opts o,
                   gradcheck_report *rep);

#endif
