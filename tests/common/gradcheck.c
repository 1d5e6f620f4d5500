/* Finite-difference gradient checks; the method and its tolerances are described in
 * gradcheck.h. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gradcheck_opts gradcheck_defaults(void)
{
    return (gradcheck_opts){.h = 2e-2, .tol = 2e-3, .floor = 1e-2, .seed = 20240601u};
}

/* ---- shared pieces: evaluation callback, numeric gradient, comparison ---- */

typedef tnn_status (*eval_fn)(void *ctx, double *L);

/* One central difference at step h: (L(v + h) - L(v - h)) / (fl(v + h) - fl(v - h)).
 * *step gets the half-width actually taken after rounding v +- h to float32. */
static tnn_status central(float *v, double h, eval_fn f, void *ctx, double *d, double *step)
{
    const float v0 = *v, vp = (float)(v0 + h), vm = (float)(v0 - h);
    double lp = 0.0, lm = 0.0;
    *v = vp;
    tnn_status st = f(ctx, &lp);
    if (st == TNN_OK) {
        *v = vm;
        st = f(ctx, &lm);
    }
    *v = v0;
    *d = (lp - lm) / ((double)vp - (double)vm);
    *step = 0.5 * ((double)vp - (double)vm);
    return st;
}

/* out[j] = dL/dv[j]: central differences at steps h and 2h combined by Richardson
 * extrapolation. With D(s) = f' + c s^2 + O(s^4), (s2^2 D(s1) - s1^2 D(s2)) /
 * (s2^2 - s1^2) cancels the s^2 term for the steps actually taken. */
static tnn_status numeric_grad(float *v, size_t n, double h, eval_fn f, void *ctx, double *out)
{
    for (size_t j = 0; j < n; j++) {
        double d1, d2, s1, s2;
        tnn_status st = central(&v[j], h, f, ctx, &d1, &s1);
        if (st == TNN_OK) st = central(&v[j], 2.0 * h, f, ctx, &d2, &s2);
        if (st) return st;
        out[j] = (s2 * s2 * d1 - s1 * s1 * d2) / (s2 * s2 - s1 * s1);
    }
    return TNN_OK;
}

static void index_str(size_t flat, int ndim, const int *shape, char *buf, size_t len)
{
    int idx[TNN_MAX_DIMS] = {0};
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = (int)(flat % (size_t)shape[d]);
        flat /= (size_t)shape[d];
    }
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && k < len; d++) k += (size_t)snprintf(buf + k, len - k, d ? ", %d" : "%d", idx[d]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

/* Compares one tensor's analytic gradient a[] with the numeric one num[]. Prints a
 * summary line (unless quiet) or, on failure, the worst element. Returns 1 on
 * failure. *nonzero is set if some gradient is large enough for a wrong value to
 * show (outside the absolute band tol * floor). */
static int compare(const char *who, const char *name, int ndim, const int *shape, const float *a,
                   const double *num, size_t n, const gradcheck_opts *o, gradcheck_report *rep, bool *nonzero)
{
    double worst = -1.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double ai = a[i], ni = num[i];
        double err = fabs(ai - ni) / fmax(fmax(fabs(ai), fabs(ni)), o->floor);
        if (!(err <= worst)) { /* NaN counts as the worst */
            worst = err;
            wi = i;
        }
        if (fabs(ai) > o->tol * o->floor || fabs(ni) > o->tol * o->floor) *nonzero = true;
        if (isnan(err)) break;
    }
    if (n == 0) worst = 0.0;
    bool bad = !(worst <= o->tol);
    char at[64] = "";
    if (n) index_str(wi, ndim, shape, at, sizeof at);
    rep->tensors++;
    rep->elements += n;
    if (bad) rep->failed++;
    if (!(worst <= rep->max_rel_err)) {
        rep->max_rel_err = worst;
        snprintf(rep->worst_tensor, sizeof rep->worst_tensor, "%s", name);
    }
    if (bad) {
        fflush(stdout);
        fprintf(stderr,
                "gradcheck FAILED %s: tensor '%s' (%zu elements): worst element %s: analytic %.9g, numeric %.9g, "
                "relative error %.3g > tol %.3g (h %.3g, floor %.3g)\n",
                who, name, n, at, (double)a[wi], num[wi], worst, o->tol, o->h, o->floor);
    } else if (!o->quiet) {
        printf("gradcheck %s: '%s' %zu elements, max relative error %.3g at %s (tol %.3g)\n", who, name, n, worst,
               n ? at : "-", o->tol);
    }
    return bad ? 1 : 0;
}

static int finish(const char *who, int failed, bool nonzero, const gradcheck_opts *o)
{
    if (!nonzero) {
        fflush(stdout);
        fprintf(stderr, "gradcheck FAILED %s: every gradient is below %.3g in magnitude; the check compares zero "
                        "with zero and could not fail\n", who, o->tol * o->floor);
        return GRADCHECK_MISMATCH;
    }
    return failed ? GRADCHECK_MISMATCH : GRADCHECK_PASS;
}

/* ---- module check ---- */

typedef struct module_ctx {
    tnn_module *m;
    tnn_tensor *x;
    const gradcheck_opts *o;
    tnn_tensor_list *buffers;   /* every state_dict entry; buffers are restored */
    unsigned char *saved;       /* concatenated copies of the buffers */
    const float *w;             /* output weights (the dy of the analytic pass) */
    size_t n_out;
    char who[128];
} module_ctx;

static size_t entry_bytes(const tnn_named_tensor *t) { return t->count * tnn_dtype_size(t->dtype); }

static void buffers_restore(module_ctx *c)
{
    unsigned char *p = c->saved;
    for (int i = 0; i < c->buffers->count; i++) {
        const tnn_named_tensor *t = &c->buffers->items[i];
        if (t->is_param) continue;
        memcpy(t->data, p, entry_bytes(t));
        p += entry_bytes(t);
    }
}

static tnn_status forward(module_ctx *c, const tnn_tensor **y)
{
    buffers_restore(c);
    if (c->o->before_forward) c->o->before_forward(c->o->user);
    tnn_status st = tnn_module_forward(c->m, c->x, y);
    if (st) fprintf(stderr, "gradcheck %s: forward failed: %s: %s\n", c->who, tnn_status_name(st), tnn_last_error());
    return st;
}

static tnn_status eval_module(void *ctx, double *L)
{
    module_ctx *c = ctx;
    const tnn_tensor *y;
    tnn_status st = forward(c, &y);
    if (st) return st;
    if (y->size != c->n_out) {
        fprintf(stderr, "gradcheck %s: output size changed from %zu to %zu\n", c->who, c->n_out, y->size);
        return TNN_ERR_SHAPE;
    }
    double acc = 0.0;
    for (size_t i = 0; i < y->size; i++) acc += (double)c->w[i] * (double)y->data[i];
    *L = acc;
    return TNN_OK;
}

static tnn_status backward(module_ctx *c, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_status st = tnn_module_backward(c->m, dy, dx);
    if (st) fprintf(stderr, "gradcheck %s: backward failed: %s: %s\n", c->who, tnn_status_name(st), tnn_last_error());
    return st;
}

int gradcheck_module(tnn_module *m, tnn_tensor *x, gradcheck_opts o, gradcheck_report *rep_out)
{
    gradcheck_report rep = {0};
    module_ctx c = {.m = m, .x = x, .o = &o};
    tnn_module_describe(m, c.who, sizeof c.who);
    tnn_tensor_list *params = tnn_module_parameters(m, "");
    c.buffers = tnn_module_state_dict(m, "");
    const tnn_tensor *y = NULL, *dx = NULL;
    tnn_tensor *dy = NULL;
    float *ax = NULL, *ag = NULL, *g;
    double *num = NULL, L;
    bool nonzero = false, snapshot = false;
    int failed = 0, result = TNN_ERR_NOMEM;
    size_t nbuf = 0, nparam = 0, nmax = x->size;
    if (!params || !c.buffers) goto oom;
    for (int i = 0; i < c.buffers->count; i++)
        if (!c.buffers->items[i].is_param) nbuf += entry_bytes(&c.buffers->items[i]);
    for (int k = 0; k < params->count; k++) {
        nparam += params->items[k].count;
        if (params->items[k].count > nmax) nmax = params->items[k].count;
    }
    c.saved = malloc(nbuf ? nbuf : 1);
    ax = malloc(x->size * sizeof *ax);
    ag = malloc((nparam ? nparam : 1) * sizeof *ag);
    num = malloc(nmax * sizeof *num);
    if (!c.saved || !ax || !ag || !num) goto oom;
    unsigned char *p = c.saved;
    for (int i = 0; i < c.buffers->count; i++) {
        const tnn_named_tensor *t = &c.buffers->items[i];
        if (t->is_param) continue;
        memcpy(p, t->data, entry_bytes(t));
        p += entry_bytes(t);
    }
    snapshot = true;

    /* Reference forward, output weights w, analytic gradients. */
    if ((result = forward(&c, &y)) != TNN_OK) goto done;
    c.n_out = y->size;
    if (!(dy = tnn_tensor_new(y->ndim, y->shape))) goto oom;
    tnn_rng rng;
    tnn_rng_seed(&rng, o.seed);
    tnn_tensor_uniform(dy, &rng, -1.0f, 1.0f);
    c.w = dy->data;
    tnn_module_zero_grad(m);
    if ((result = backward(&c, dy, &dx)) != TNN_OK) goto done;
    if (!dx || dx->size != x->size) {
        fflush(stdout);
        fprintf(stderr, "gradcheck FAILED %s: backward returned %s dL/dx for an input of %zu elements\n", c.who,
                dx ? "a mis-sized" : "no", x->size);
        result = GRADCHECK_MISMATCH;
        goto done;
    }
    memcpy(ax, dx->data, x->size * sizeof *ax);
    g = ag;
    for (int k = 0; k < params->count; k++) {
        memcpy(g, params->items[k].grad, params->items[k].count * sizeof *g);
        g += params->items[k].count;
    }

    /* Parameter gradients accumulate: a second pass without zero_grad doubles them. */
    if ((result = eval_module(&c, &L)) != TNN_OK) goto done;
    if ((result = backward(&c, dy, NULL)) != TNN_OK) goto done;
    g = ag;
    for (int k = 0; k < params->count; k++) {
        const tnn_named_tensor *t = &params->items[k];
        for (size_t i = 0; i < t->count; i++) {
            double want = 2.0 * g[i], got = t->grad[i];
            if (!(fabs(got - want) <= 1e-4 * fmax(fmax(fabs(got), fabs(want)), o.floor))) {
                fflush(stdout);
                fprintf(stderr, "gradcheck FAILED %s: gradient of '%s' is not accumulated: element %zu is %.9g "
                                "after two backward passes, %.9g after one\n", c.who, t->name, i, got, (double)g[i]);
                failed++;
                break;
            }
        }
        g += t->count;
    }
    tnn_module_zero_grad(m);

    /* Numeric gradients of the input and of every parameter. */
    if ((result = numeric_grad(x->data, x->size, o.h, eval_module, &c, num)) != TNN_OK) goto done;
    failed += compare(c.who, "input", x->ndim, x->shape, ax, num, x->size, &o, &rep, &nonzero);
    g = ag;
    for (int k = 0; k < params->count; k++) {
        const tnn_named_tensor *t = &params->items[k];
        if ((result = numeric_grad(t->data, t->count, o.h, eval_module, &c, num)) != TNN_OK) goto done;
        failed += compare(c.who, t->name, t->ndim, t->shape, g, num, t->count, &o, &rep, &nonzero);
        g += t->count;
    }
    result = finish(c.who, failed, nonzero, &o);
    goto done;

oom:
    fprintf(stderr, "gradcheck %s: out of memory\n", c.who);
    result = TNN_ERR_NOMEM;
done:
    if (snapshot) buffers_restore(&c);
    tnn_tensor_free(dy);
    free(c.saved);
    free(ax);
    free(ag);
    free(num);
    tnn_tensor_list_free(params);
    tnn_tensor_list_free(c.buffers);
    if (rep_out) *rep_out = rep;
    return result;
}

/* ---- loss check ---- */

typedef struct loss_ctx {
    gradcheck_loss_fn fn;
    void *ctx;
    tnn_tensor *x;
    const char *name;
} loss_ctx;

static tnn_status eval_loss(void *ctx, double *L)
{
    loss_ctx *c = ctx;
    float loss = NAN;
    tnn_status st = c->fn(c->ctx, c->x, &loss, NULL);
    if (st) fprintf(stderr, "gradcheck %s: loss failed: %s: %s\n", c->name, tnn_status_name(st), tnn_last_error());
    *L = loss;
    return st;
}

int gradcheck_loss(const char *name, gradcheck_loss_fn fn, void *ctx, tnn_tensor *x, gradcheck_opts o,
                   gradcheck_report *rep_out)
{
    gradcheck_report rep = {0};
    loss_ctx c = {fn, ctx, x, name};
    tnn_tensor *grad = tnn_tensor_new(x->ndim, x->shape);
    double *num = malloc(x->size * sizeof *num);
    int result = TNN_ERR_NOMEM;
    if (!grad || !num) {
        fprintf(stderr, "gradcheck %s: out of memory\n", name);
        goto done;
    }
    tnn_tensor_fill(grad, NAN); /* an element the loss forgets to write fails the check */
    float loss;
    if ((result = fn(ctx, x, &loss, grad)) != TNN_OK) {
        fprintf(stderr, "gradcheck %s: loss failed: %s: %s\n", name, tnn_status_name(result), tnn_last_error());
        goto done;
    }
    if ((result = numeric_grad(x->data, x->size, o.h, eval_loss, &c, num)) != TNN_OK) goto done;
    bool nonzero = false;
    int failed = compare(name, "input", x->ndim, x->shape, grad->data, num, x->size, &o, &rep, &nonzero);
    result = finish(name, failed, nonzero, &o);
done:
    tnn_tensor_free(grad);
    free(num);
    if (rep_out) *rep_out = rep;
    return result;
}
