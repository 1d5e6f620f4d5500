/* The optimizer interface and the built-in optimizers, SGD, Adam, AdamW (Adam with
 * decoupled weight decay: the same state, kernel and step, one multiplication more),
 * both optionally with AMSGrad (a third state array and a kernel of its own) and RMSprop.
 * The updates follow torch.optim's single-tensor (for-loop) implementations, op by op,
 * in float32 with hyper-parameters held in double and rounded where PyTorch rounds.
 * torch's CPU kernels compute a.add(b, alpha=s) as fma(b, s, a) and
 * a.addcmul(b, c, value=s) as fma(s * b, c, a) (their AVX2 loops, as compiled in
 * torch 1.13, fuse the multiply and the add), so the updates below use fmaf at exactly
 * those places; the results then agree with torch to the last bit
 * (tests/test_parity_optim.c). fmaf is exact on every machine: with FMA hardware it is
 * one instruction, without it libm computes the same correctly rounded value. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* An optimizer whose base was never filled (tnn_optimizer_init), refused by name
 * rather than followed through a NULL vtable. */
static tnn_status no_vtable(const char *fn)
{
    return tnn_error(TNN_ERR_ARG, "%s: the optimizer has no vtable (tnn_optimizer_init sets it)", fn);
}

tnn_status tnn_optimizer_init(tnn_optimizer *o, const tnn_optimizer_vtable *vt, tnn_module *m)
{
    if (!o || !vt || !m) return tnn_error(TNN_ERR_ARG, "optimizer_init: NULL argument");
    if (!vt->step || !vt->free) /* the two required entries (optim.h) */
        return tnn_error(TNN_ERR_ARG, "optimizer_init: the vtable of '%s' has no %s (required)",
                         vt->type_name ? vt->type_name : "optimizer", !vt->step ? "step" : "free");
    o->vt = vt;
    o->module = m;
    o->params = tnn_module_parameters(m, "");
    if (!o->params) return TNN_ERR_NOMEM;
    if (o->params->count == 0) { /* as PyTorch's "optimizer got an empty parameter list" */
        char d[96];
        tnn_status st = tnn_error(TNN_ERR_ARG, "%s: %s has no parameters to optimize", vt->type_name ? vt->type_name : "optimizer",
                                  tnn_module_describe(m, d, sizeof d));
        tnn_tensor_list_free(o->params);
        o->params = NULL;
        return st;
    }
    return TNN_OK;
}

typedef struct refresh_ctx {
    tnn_tensor_list *params;
    int k;
} refresh_ctx;

static tnn_status params_changed(const char *what)
{
    return tnn_error(TNN_ERR_STATE, "optimizer_step: the module's parameters changed since the optimizer was created "
                     "(%s); create the optimizer after building the model", what);
}

/* Visitor: copy each parameter's current no_grad into the optimizer's list, found by
 * its data (in the list's order, unless the module enumerates them otherwise now). */
static tnn_status refresh_one(void *ctx, const tnn_named_tensor *t)
{
    refresh_ctx *c = ctx;
    if (!t->is_param) return TNN_OK;
    tnn_tensor_list *l = c->params;
    int k = c->k < l->count && l->items[c->k].data == t->data ? c->k : -1;
    for (int i = 0; k < 0 && i < l->count; i++)
        if (l->items[i].data == t->data) k = i;
    if (k < 0 || c->k >= l->count) {
        char what[300];
        snprintf(what, sizeof what, "'%s' is new", t->name);
        return params_changed(what);
    }
    l->items[k].no_grad = t->no_grad;
    c->k++;
    return TNN_OK;
}

tnn_status tnn_optimizer_step(tnn_optimizer *o)
{
    if (!o) return tnn_error(TNN_ERR_ARG, "optimizer_step: optimizer is NULL");
    if (!o->vt || !o->vt->step) return no_vtable("optimizer_step");
    /* Which parameters have a gradient now (frozen modules and discarded gradients have
     * none, and are left alone, as PyTorch skips a parameter whose .grad is None). The
     * visit also writes the zeros that a discard still owes. */
    if (!o->module) return o->vt->step(o);
    tnn_module *held;
    tnn_status st = tnn_module_enter(o->module, "optimizer step", &held);
    if (st) return st;
    if (o->params) {
        refresh_ctx c = {o->params, 0};
        st = tnn_module_visit(o->module, "", refresh_one, &c);
        if (!st && c.k != o->params->count) st = params_changed("some are gone");
    }
    if (!st) st = o->vt->step(o);
    tnn_module_leave(held);
    return st;
}

void tnn_optimizer_zero_grad(tnn_optimizer *o)
{
    if (!o || !o->params) return;
    for (int i = 0; i < o->params->count; i++) {
        tnn_named_tensor *p = &o->params->items[i];
        memset(p->grad, 0, p->count * sizeof(float));
    }
}

void tnn_optimizer_discard_grad(tnn_optimizer *o)
{
    if (o && o->module) tnn_module_discard_grad(o->module);
    else tnn_optimizer_zero_grad(o);
}

tnn_status tnn_optimizer_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    if (!o || !fn) return tnn_error(TNN_ERR_ARG, "optimizer_visit_state: NULL argument");
    if (!o->vt) return no_vtable("optimizer_visit_state");
    if (!o->vt->visit_state) return TNN_OK;
    return o->vt->visit_state(o, prefix ? prefix : "", fn, ctx);
}

void tnn_optimizer_free(tnn_optimizer *o)
{
    if (!o) return;
    if (!o->vt || !o->vt->free) { /* leaked rather than freed the wrong way */
        tnn_log("tnn_optimizer_free: the optimizer has no vtable (tnn_optimizer_init sets it); not freed");
        return;
    }
    o->vt->free(o);
}

/* A setting the step rounds to float: finite there too (1e300 is finite as a double,
 * but an infinity in float would make every weight infinite or NaN). */
static bool float_finite(double v) { return isfinite(v) && fabs(v) <= FLT_MAX; }

tnn_status tnn_optimizer_set_lr(tnn_optimizer *o, double lr)
{
    if (!o) return tnn_error(TNN_ERR_ARG, "optimizer_set_lr: optimizer is NULL");
    if (!o->vt) return no_vtable("optimizer_set_lr");
    if (!(lr >= 0.0) || !float_finite(lr))
        return tnn_error(TNN_ERR_ARG, "%s: learning rate %g must be >= 0 and finite in float", o->vt->type_name, lr);
    if (!o->vt->set_lr) return tnn_error(TNN_ERR_ARG, "%s: this optimizer has no learning rate to set", o->vt->type_name);
    return o->vt->set_lr(o, lr);
}

double tnn_optimizer_get_lr(const tnn_optimizer *o)
{
    return (o && o->vt && o->vt->get_lr) ? o->vt->get_lr(o) : NAN;
}

/* Total number of parameter scalars, and the offset of each parameter in one flat
 * state arena (so state is one allocation, sized once). */
static size_t arena_size(const tnn_tensor_list *l)
{
    size_t n = 0;
    for (int i = 0; i < l->count; i++) n += l->items[i].count;
    return n;
}

static bool all_zero(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return false;
    return true;
}

/* ---------------- SGD ---------------- */

typedef struct tnn_sgd {
    tnn_optimizer base;
    tnn_sgd_params p;
    float *buf;        /* momentum buffers, one arena */
    /* Per parameter: its buffer has started (PyTorch creates it, as a copy of the
     * gradient, at the parameter's first update). One loaded with values (a resumed
     * checkpoint: a buffer that is not all zeros) counts as started. */
    bool *started;
    bool all_started;  /* every buffer has: nothing left to look at */
} tnn_sgd;

tnn_sgd_params tnn_sgd_defaults(void)
{
    return (tnn_sgd_params){.lr = 0.01, .momentum = 0.0, .dampening = 0.0, .weight_decay = 0.0, .nesterov = false,
                            .tag = TNN_SETTINGS_TAG};
}

/* The update of n consecutive parameter scalars (buf: their momentum buffers). */
TNN_CLONES static void sgd_kernel(float *restrict w, const float *restrict g, float *restrict buf, size_t n,
                                  const tnn_sgd_params *p, bool has_buf)
{
    const float lr = (float)p->lr, wd = (float)p->weight_decay, mom = (float)p->momentum;
    const float damp1 = (float)(1.0 - p->dampening);
    /* torch tests weight_decay != 0 in double; a decay that rounds to 0 in float still
     * adds p * 0 (NaN for an infinite weight) */
    const bool decay = p->weight_decay != 0.0;
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (decay) d = fmaf(w[i], wd, d);                  /* d_p.add(p, alpha=wd) */
        if (p->momentum != 0.0) {
            /* buf.mul_(m).add_(d, alpha=1-damp); the first step clones d */
            float b = has_buf ? fmaf(d, damp1, buf[i] * mom) : d;
            buf[i] = b;
            d = p->nesterov ? fmaf(b, mom, d) : b;         /* d_p.add(buf, alpha=m) */
        }
        w[i] = fmaf(d, -lr, w[i]);                         /* p.add_(d_p, alpha=-lr) */
    }
}

/* Elements [b, e) of the flat parameter space: parameters in list order, as the
 * optimizers' state arenas are laid out. Calls fn(ctx, t, lo, hi, off) for the part
 * [lo, hi) of each parameter t that the range covers, off being t's first element in
 * the flat space. */
typedef void (*flat_fn)(void *ctx, tnn_named_tensor *t, size_t lo, size_t hi, size_t off);
static void for_flat_range(const tnn_tensor_list *l, size_t b, size_t e, flat_fn fn, void *ctx)
{
    size_t off = 0;
    for (int k = 0; k < l->count && off < e; k++) {
        tnn_named_tensor *t = &l->items[k];
        size_t lo = b > off ? b - off : 0, hi = e < off + t->count ? e - off : t->count;
        if (lo < hi && !t->no_grad) fn(ctx, t, lo, hi, off); /* no gradient: left as it is */
        off += t->count;
    }
}

/* Updates are split over the threads in runs of chunks of this many scalars
 * (tnn_parallel_chunks): about 0.45 MB of Adam's memory traffic per chunk. */
#define OPTIM_CHUNK 16384

static void sgd_part(void *ctx, tnn_named_tensor *t, size_t lo, size_t hi, size_t off)
{
    tnn_sgd *s = ctx;
    bool started = s->started && s->started[t - s->base.params->items];
    sgd_kernel((float *)t->data + lo, t->grad + lo, s->buf ? s->buf + off + lo : NULL, hi - lo, &s->p, started);
}

static void sgd_range(void *ctx, size_t b, size_t e)
{
    for_flat_range(((tnn_sgd *)ctx)->base.params, b, e, sgd_part, ctx);
}

static tnn_status sgd_step(tnn_optimizer *o)
{
    tnn_sgd *s = (tnn_sgd *)o;
    tnn_tensor_list *l = o->params;
    if (s->buf && !s->all_started) { /* buffers not started yet: loaded ones (not all zeros) have */
        const float *b = s->buf;
        for (int k = 0; k < l->count; b += l->items[k].count, k++)
            if (!s->started[k] && !l->items[k].no_grad) s->started[k] = !all_zero(b, l->items[k].count);
    }
    /* Element-wise: the split over threads does not change any result. */
    tnn_parallel_chunks(arena_size(l), OPTIM_CHUNK, sgd_range, s);
    if (s->buf && !s->all_started) {
        s->all_started = true;
        for (int k = 0; k < l->count; k++) {
            if (!l->items[k].no_grad) s->started[k] = true; /* updated now */
            s->all_started &= s->started[k];
        }
    }
    return TNN_OK;
}

static tnn_status sgd_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_sgd *s = (tnn_sgd *)o;
    if (!s->buf) return TNN_OK;
    float *buf = s->buf;
    for (int k = 0; k < o->params->count; k++) {
        tnn_named_tensor *t = &o->params->items[k];
        char local[300];
        snprintf(local, sizeof local, "%s.momentum_buffer", t->name);
        tnn_status st = tnn_visit_one(prefix, local, TNN_F32, buf, NULL, t->ndim, t->shape, false, fn, ctx);
        if (st) return st;
        buf += t->count;
    }
    return TNN_OK;
}

static void sgd_free(tnn_optimizer *o)
{
    tnn_sgd *s = (tnn_sgd *)o;
    tnn_tensor_list_free(o->params);
    tnn_free(s->buf);
    tnn_free(s->started);
    tnn_free(s);
}

static tnn_status sgd_set_lr(tnn_optimizer *o, double lr)
{
    ((tnn_sgd *)o)->p.lr = lr;
    return TNN_OK;
}

static double sgd_get_lr(const tnn_optimizer *o) { return ((const tnn_sgd *)o)->p.lr; }

static const tnn_optimizer_vtable sgd_vt = {"sgd", sgd_step, sgd_visit_state, sgd_free, sgd_set_lr, sgd_get_lr};

tnn_optimizer *tnn_sgd_new(tnn_module *m, tnn_sgd_params p)
{
    if (!m) { tnn_error(TNN_ERR_ARG, "sgd: module is NULL"); return NULL; }
    if (tnn_settings_refused(p.tag, "sgd", "tnn_sgd_defaults")) return NULL;
    if (!(p.lr >= 0.0) || !(p.momentum >= 0.0) || !(p.weight_decay >= 0.0) || !float_finite(p.lr) ||
        !float_finite(p.momentum) || !float_finite(p.weight_decay) || !float_finite(p.dampening)) {
        tnn_error(TNN_ERR_ARG, "sgd: lr, momentum and weight_decay must be >= 0, and they and dampening finite in float "
                  "(lr=%g momentum=%g dampening=%g weight_decay=%g)", p.lr, p.momentum, p.dampening, p.weight_decay);
        return NULL;
    }
    if (p.nesterov && (p.momentum <= 0.0 || p.dampening != 0.0)) {
        tnn_error(TNN_ERR_ARG, "sgd: nesterov needs momentum > 0 and dampening 0 (momentum=%g dampening=%g)", p.momentum, p.dampening);
        return NULL;
    }
    tnn_sgd *s = tnn_calloc(1, sizeof *s, "sgd");
    if (!s) return NULL;
    s->p = p;
    if (tnn_optimizer_init(&s->base, &sgd_vt, m)) { tnn_free(s); return NULL; }
    if (p.momentum != 0.0) {
        s->buf = tnn_calloc(arena_size(s->base.params), sizeof(float), "sgd momentum buffers");
        s->started = s->buf ? tnn_calloc((size_t)s->base.params->count, sizeof(bool), "sgd buffer flags") : NULL;
        if (!s->started) { sgd_free(&s->base); return NULL; }
    }
    return &s->base;
}

/* ---------------- Adam and AdamW ---------------- */

/* The update constants of one Adam step for one parameter, rounded to float where
 * torch rounds them. */
typedef struct adam_consts {
    float neg_step_size, bc2_sqrt, b1, b2, one_b1, one_b2, eps, wd;
    bool decay; /* Adam: weight_decay != 0 in double, as torch tests it (wd may round to 0) */
    /* AdamW: the parameter is first multiplied by keep = 1 - lr * weight_decay, computed
     * in double (Python's float) and rounded to float, as torch's param.mul_(scalar)
     * rounds the scalar to the tensor's dtype before it multiplies. */
    bool decoupled;
    float keep;
} adam_consts;

typedef struct tnn_adam {
    tnn_optimizer base;
    tnn_adam_params p; /* AdamW's settings too; weight_decay is decoupled there */
    int64_t step;      /* steps taken (tnn_optimizer_step calls that succeeded) */
    /* Per parameter: the updates it has had, PyTorch's state['step']. A parameter
     * skipped at a step (no gradient) does not count it, and its bias corrections go
     * by its own count. */
    int64_t *steps;
    adam_consts *c;    /* per parameter: this step's constants */
    /* First and second moments, and with amsgrad the largest second moments so far
     * (max_exp_avg_sq; NULL without amsgrad): one arena of 2 or 3 x total. */
    float *m, *v, *vmax;
    size_t n;          /* total number of parameter scalars */
} tnn_adam;

/* AdamW is an Adam whose type (vtable) is adamw_vt, defined with the operations below. */
static const tnn_optimizer_vtable adamw_vt;
static bool is_adamw(const tnn_adam *a) { return a->base.vt == &adamw_vt; }

tnn_adam_params tnn_adam_defaults(void)
{
    return (tnn_adam_params){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0,
                             .amsgrad = false, .tag = TNN_SETTINGS_TAG};
}

TNN_CLONES static void adam_kernel(float *restrict w, const float *restrict g, float *restrict mm, float *restrict vv,
                                   size_t n, const adam_consts *c)
{
    const float neg_step_size = c->neg_step_size, bc2_sqrt = c->bc2_sqrt, b1 = c->b1, b2 = c->b2;
    const float one_b1 = c->one_b1, one_b2 = c->one_b2, eps = c->eps, wd = c->wd, keep = c->keep;
    const bool decay = c->decay, decoupled = c->decoupled;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i], gi = g[i];
        if (decoupled) wi = wi * keep;                  /* AdamW: param.mul_(1 - lr * wd), first */
        if (decay) gi = fmaf(wi, wd, gi);               /* Adam: grad.add(param, alpha=wd) */
        float m = fmaf(gi, one_b1, mm[i] * b1);         /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        float v = fmaf(one_b2 * gi, gi, vv[i] * b2);    /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
        mm[i] = m;
        vv[i] = v;
        float denom = sqrtf(v) / bc2_sqrt + eps;        /* (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) */
        w[i] = wi + neg_step_size * m / denom;          /* param.addcdiv_(m, denom, value=-step_size):
                                                           p + (value * m) / denom */
    }
}

/* adam_kernel with AMSGrad: the same operations, then
 *   torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
 *   denom = (max_exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
 * torch.maximum is NaN when either side is; otherwise the larger, and of two equal
 * values (+0 and -0) the second, exp_avg_sq, as its AVX2 loop (max_ps, the second
 * operand on a tie) gives it (its scalar tail gives the first; only a loaded state
 * holds a -0 there). Its NaN is all ones (0xffffffff), this one the NaN met: the
 * payload is all that differs (docs/parity.md). decay and decoupled are constants in each of the
 * kernel's three calls (below), so that every loop is vectorised: with the two tests
 * inside, GCC 12 leaves the loop scalar. */
static inline void amsgrad_loop(float *restrict w, const float *restrict g, float *restrict mm, float *restrict vv,
                                float *restrict vmax, size_t n, const adam_consts *c, bool decay, bool decoupled)
{
    const float neg_step_size = c->neg_step_size, bc2_sqrt = c->bc2_sqrt, b1 = c->b1, b2 = c->b2;
    const float one_b1 = c->one_b1, one_b2 = c->one_b2, eps = c->eps, wd = c->wd, keep = c->keep;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i], gi = g[i];
        if (decoupled) wi = wi * keep;                  /* AdamW: param.mul_(1 - lr * wd), first */
        if (decay) gi = fmaf(wi, wd, gi);               /* Adam: grad.add(param, alpha=wd) */
        float m = fmaf(gi, one_b1, mm[i] * b1);         /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
        float v = fmaf(one_b2 * gi, gi, vv[i] * b2);    /* exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2) */
        mm[i] = m;
        vv[i] = v;
        const float old = vmax[i];
        const float mx = old > v || old != old ? old : v; /* torch.maximum(max_exp_avg_sq, exp_avg_sq) */
        vmax[i] = mx;
        float denom = sqrtf(mx) / bc2_sqrt + eps;       /* (max_exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) */
        w[i] = wi + neg_step_size * m / denom;          /* param.addcdiv_(m, denom, value=-step_size) */
    }
}

/* AMSGrad's update of n consecutive parameter scalars: a kernel of its own, so that the
 * plain one (adam_kernel) is left as it is. */
TNN_CLONES static void adam_amsgrad_kernel(float *restrict w, const float *restrict g, float *restrict mm,
                                           float *restrict vv, float *restrict vmax, size_t n, const adam_consts *c)
{
    if (c->decoupled) amsgrad_loop(w, g, mm, vv, vmax, n, c, false, true);  /* AdamW */
    else if (c->decay) amsgrad_loop(w, g, mm, vv, vmax, n, c, true, false); /* Adam with weight decay */
    else amsgrad_loop(w, g, mm, vv, vmax, n, c, false, false);              /* Adam */
}

static void adam_part(void *ctx, tnn_named_tensor *t, size_t lo, size_t hi, size_t off)
{
    tnn_adam *a = ctx;
    const adam_consts *c = &a->c[t - a->base.params->items];
    if (a->vmax)
        adam_amsgrad_kernel((float *)t->data + lo, t->grad + lo, a->m + off + lo, a->v + off + lo,
                            a->vmax + off + lo, hi - lo, c);
    else
        adam_kernel((float *)t->data + lo, t->grad + lo, a->m + off + lo, a->v + off + lo, hi - lo, c);
}

static void adam_range(void *ctx, size_t b, size_t e)
{
    for_flat_range(((tnn_adam *)ctx)->base.params, b, e, adam_part, ctx);
}

/* Each parameter's step count (Adam's and RMSprop's torch-style state['step']), checked
 * before anything changes: a loaded state may hold one below 0, or 2^63 - 1, which
 * cannot grow; refused for the parameters the step would update. */
static tnn_status check_param_counts(const char *who, const tnn_tensor_list *l, const int64_t *steps)
{
    for (int k = 0; k < l->count; k++) {
        const int64_t s = steps[k];
        if (!l->items[k].no_grad && (s < 0 || s == INT64_MAX))
            return tnn_error(TNN_ERR_STATE, "%s: '%s' has step count %lld, which cannot be counted on (a loaded "
                             "state?); it must be 0 to 2^63 - 2", who, l->items[k].name, (long long)s);
    }
    return TNN_OK;
}

/* The step counts a loaded state brought, checked before anything changes (and a 0.2
 * state's adopted, below). */
static tnn_status adam_check_counts(tnn_adam *a)
{
    const tnn_tensor_list *l = a->base.params;
    const char *who = a->base.vt->type_name;
    if (a->step < 0 || a->step == INT64_MAX) /* only a loaded state can hold these */
        return tnn_error(TNN_ERR_STATE, "%s: step count %lld cannot be counted on (a loaded state?); it must be 0 to "
                         "2^63 - 2", who, (long long)a->step);
    /* A state saved by libtinynn 0.2 has the optimizer's count and none per parameter.
     * Loaded into a new Adam, it shows as steps taken, every parameter's count 0 and
     * moments that are not all zeros, which no state of this version can be: moments
     * move only in an update, which counts. Every parameter then takes the optimizer's
     * count, as in 0.2, and the run goes on as it would have there. (0.2 had no AdamW,
     * so an AdamW state is never taken for one; nor amsgrad, so max_exp_avg_sq plays no
     * part: a 0.2 state leaves it at zero, and the moments alone tell it.) */
    bool legacy = !is_adamw(a) && a->step > 0;
    for (int k = 0; legacy && k < l->count; k++) legacy = a->steps[k] == 0;
    if (legacy) legacy = !all_zero(a->m, 2 * a->n);
    if (!legacy) return check_param_counts(who, l, a->steps);
    for (int k = 0; k < l->count; k++) a->steps[k] = a->step;
    return TNN_OK;
}

/* One step of torch.optim.Adam or torch.optim.AdamW: per parameter, its own count and
 * this step's constants (bias corrections in double, rounded to float where torch
 * rounds them), then the element-wise update of adam_kernel over the whole arena. */
static tnn_status adam_step(tnn_optimizer *o)
{
    tnn_adam *a = (tnn_adam *)o;
    const tnn_tensor_list *l = o->params;
    tnn_status st = adam_check_counts(a);
    if (st) return st;
    for (int k = 0; k < l->count; k++) {
        if (l->items[k].no_grad) continue; /* skipped: no count, no decay, no update */
        int64_t s = a->steps[k];
        a->steps[k] = ++s;
        const double bc1 = 1.0 - pow(a->p.beta1, (double)s);
        const double bc2 = 1.0 - pow(a->p.beta2, (double)s);
        a->c[k] = (adam_consts){
            .neg_step_size = (float)-(a->p.lr / bc1),
            .bc2_sqrt = (float)sqrt(bc2),
            .b1 = (float)a->p.beta1, .b2 = (float)a->p.beta2,
            .one_b1 = (float)(1.0 - a->p.beta1), .one_b2 = (float)(1.0 - a->p.beta2),
            .eps = (float)a->p.eps, .wd = (float)a->p.weight_decay,
            .decay = !is_adamw(a) && a->p.weight_decay != 0.0,
            /* torch 1.13's AdamW multiplies whatever weight_decay is (by 1 when it is 0) */
            .decoupled = is_adamw(a), .keep = (float)(1.0 - a->p.lr * a->p.weight_decay),
        };
    }
    a->step++;
    /* Element-wise: the split over threads does not change any result. Each thread
     * updates its own part, and one that finishes early takes over chunks of the
     * others': the update waits for memory, and a core slowed by the host or a late
     * start would otherwise hold up the rest. */
    tnn_parallel_chunks(a->n, OPTIM_CHUNK, adam_range, a);
    return TNN_OK;
}

/* Adam's state is "step", then "<param>.step", "<param>.exp_avg", "<param>.exp_avg_sq"
 * and, with amsgrad only, "<param>.max_exp_avg_sq" per parameter (torch's state keys, in
 * its order); AdamW's the same names under "adamw." ("adamw.step",
 * "adamw.<param>.exp_avg", ...), so that a checkpoint of one never loads into the other:
 * strictly it is refused by name, and not strictly none of its entries match. A state
 * with the maxima and one without are told apart the same way (optim.h). */
static tnn_status adam_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_adam *a = (tnn_adam *)o;
    const char *tag = is_adamw(a) ? "adamw." : "";
    char local[300];
    snprintf(local, sizeof local, "%sstep", tag);
    tnn_status st = tnn_visit_one(prefix, local, TNN_I64, &a->step, NULL, 0, NULL, false, fn, ctx);
    float *mm = a->m, *vv = a->v, *mx = a->vmax;
    for (int k = 0; !st && k < o->params->count; k++) {
        tnn_named_tensor *t = &o->params->items[k];
        snprintf(local, sizeof local, "%s%s.step", tag, t->name);
        st = tnn_visit_one(prefix, local, TNN_I64, &a->steps[k], NULL, 0, NULL, false, fn, ctx);
        snprintf(local, sizeof local, "%s%s.exp_avg", tag, t->name);
        if (!st) st = tnn_visit_one(prefix, local, TNN_F32, mm, NULL, t->ndim, t->shape, false, fn, ctx);
        snprintf(local, sizeof local, "%s%s.exp_avg_sq", tag, t->name);
        if (!st) st = tnn_visit_one(prefix, local, TNN_F32, vv, NULL, t->ndim, t->shape, false, fn, ctx);
        if (mx) {
            snprintf(local, sizeof local, "%s%s.max_exp_avg_sq", tag, t->name);
            if (!st) st = tnn_visit_one(prefix, local, TNN_F32, mx, NULL, t->ndim, t->shape, false, fn, ctx);
            mx += t->count;
        }
        mm += t->count;
        vv += t->count;
    }
    return st;
}

static void adam_free(tnn_optimizer *o)
{
    tnn_adam *a = (tnn_adam *)o;
    tnn_tensor_list_free(o->params);
    tnn_free(a->m);
    tnn_free(a->steps);
    tnn_free(a->c);
    tnn_free(a);
}

static tnn_status adam_set_lr(tnn_optimizer *o, double lr)
{
    ((tnn_adam *)o)->p.lr = lr;
    return TNN_OK;
}

static double adam_get_lr(const tnn_optimizer *o) { return ((const tnn_adam *)o)->p.lr; }

static const tnn_optimizer_vtable adam_vt = {"adam", adam_step, adam_visit_state, adam_free, adam_set_lr, adam_get_lr};
/* Its own type, with the same operations: the state's names differ (adam_visit_state). */
static const tnn_optimizer_vtable adamw_vt = {"adamw", adam_step, adam_visit_state, adam_free, adam_set_lr, adam_get_lr};

/* The settings' checks, torch's (lr, eps, weight_decay >= 0, betas in [0, 1)) and
 * finite in float for the ones that are not bounded: the first bad one is named. */
static bool adam_params_ok(const char *who, const tnn_adam_params *p)
{
    const char *bad = NULL, *need = ">= 0 and finite in float";
    double v = 0.0;
    if (!(p->lr >= 0.0) || !float_finite(p->lr)) bad = "lr", v = p->lr;
    else if (!(p->beta1 >= 0.0 && p->beta1 < 1.0)) bad = "beta1", v = p->beta1, need = "in [0, 1)";
    else if (!(p->beta2 >= 0.0 && p->beta2 < 1.0)) bad = "beta2", v = p->beta2, need = "in [0, 1)";
    else if (!(p->eps >= 0.0) || !float_finite(p->eps)) bad = "eps", v = p->eps;
    else if (!(p->weight_decay >= 0.0) || !float_finite(p->weight_decay)) bad = "weight_decay", v = p->weight_decay;
    if (!bad) return true;
    tnn_error(TNN_ERR_ARG, "%s: %s %g must be %s (lr=%g betas=(%g, %g) eps=%g weight_decay=%g)", who, bad, v, need,
              p->lr, p->beta1, p->beta2, p->eps, p->weight_decay);
    return false;
}

static tnn_optimizer *adam_create(tnn_module *m, const tnn_adam_params *p, const tnn_optimizer_vtable *vt)
{
    if (!m) { tnn_error(TNN_ERR_ARG, "%s: module is NULL", vt->type_name); return NULL; }
    if (tnn_settings_refused(p->tag, vt->type_name, vt == &adamw_vt ? "tnn_adamw_defaults" : "tnn_adam_defaults") ||
        !adam_params_ok(vt->type_name, p))
        return NULL;
    tnn_adam *a = tnn_calloc(1, sizeof *a, vt->type_name);
    if (!a) return NULL;
    a->p = *p;
    if (tnn_optimizer_init(&a->base, vt, m)) { tnn_free(a); return NULL; }
    size_t n = arena_size(a->base.params);
    a->n = n;
    /* the moments, and with amsgrad max_exp_avg_sq after them, in one arena */
    a->m = tnn_calloc((p->amsgrad ? 3 : 2) * n, sizeof(float), is_adamw(a) ? "adamw moments" : "adam moments");
    a->steps = a->m ? tnn_calloc((size_t)a->base.params->count, sizeof *a->steps,
                                 is_adamw(a) ? "adamw step counts" : "adam step counts") : NULL;
    a->c = a->steps ? tnn_calloc((size_t)a->base.params->count, sizeof *a->c,
                                 is_adamw(a) ? "adamw constants" : "adam constants") : NULL;
    if (!a->c) { adam_free(&a->base); return NULL; }
    a->v = a->m + n;
    a->vmax = p->amsgrad ? a->m + 2 * n : NULL;
    return &a->base;
}

tnn_optimizer *tnn_adam_new(tnn_module *m, tnn_adam_params p)
{
    return adam_create(m, &p, &adam_vt);
}

tnn_adamw_params tnn_adamw_defaults(void)
{
    return (tnn_adamw_params){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 1e-2,
                              .amsgrad = false, .tag = TNN_SETTINGS_TAG};
}

tnn_optimizer *tnn_adamw_new(tnn_module *m, tnn_adamw_params p)
{
    const tnn_adam_params ap = {.lr = p.lr, .beta1 = p.beta1, .beta2 = p.beta2, .eps = p.eps,
                                .weight_decay = p.weight_decay, .amsgrad = p.amsgrad, .tag = p.tag};
    return adam_create(m, &ap, &adamw_vt);
}

int64_t tnn_adam_step_count(const tnn_optimizer *o)
{
    return (o && (o->vt == &adam_vt || o->vt == &adamw_vt)) ? ((const tnn_adam *)o)->step : -1;
}

/* ---------------- RMSprop ---------------- */

/* The update constants of one RMSprop step, rounded to float where torch rounds them;
 * the same for every parameter (RMSprop has no bias correction). */
typedef struct rmsprop_consts {
    float alpha, one_alpha, eps, wd, mom, neg_lr;
} rmsprop_consts;

typedef struct tnn_rmsprop {
    tnn_optimizer base;
    tnn_rmsprop_params p;
    /* Per parameter: the updates it has had, torch's state['step'] (kept for
     * checkpoints; the update does not use it). */
    int64_t *steps;
    /* square_avg, then momentum_buffer (NULL without momentum) and grad_avg (NULL unless
     * centered): one arena of 1 to 3 x n. */
    float *sq, *buf, *gavg;
    size_t n;          /* total number of parameter scalars */
    rmsprop_consts c;  /* this step's constants */
} tnn_rmsprop;

tnn_rmsprop_params tnn_rmsprop_defaults(void)
{
    return (tnn_rmsprop_params){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .weight_decay = 0.0, .momentum = 0.0,
                                .centered = false, .tag = TNN_SETTINGS_TAG};
}

/* One pass over n consecutive scalars. decay, centered and momentum are constants in
 * each of the kernel's calls (below), so that each variant's loop is vectorised, as
 * amsgrad_loop's are. torch's operations, in its order:
 *   grad = grad.add(param, alpha=wd)                      fma(w, wd, g)
 *   square_avg.mul_(alpha).addcmul_(grad, grad, value=1-alpha)
 *                                                         fma((1-alpha) g, g, v alpha)
 *   grad_avg.mul_(alpha).add_(grad, alpha=1-alpha)         fma(g, 1-alpha, ga alpha)
 *   avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
 *                                                         sqrt(fma(-ga, ga, v))
 *   avg = square_avg.sqrt()                               (not centered)
 *   avg.add_(eps)                                         avg + eps
 *   buf.mul_(momentum).addcdiv_(grad, avg)                buf mom + g / avg
 *   param.add_(buf, alpha=-lr)                            fma(buf, -lr, w)
 *   param.addcdiv_(grad, avg, value=-lr)                  w + (-lr g) / avg (no momentum)
 * torch's addcdiv multiplies by the value before it divides and fuses nothing (a
 * division sits between); its addcmul and add with alpha fuse (src/optim.c's head). */
static inline void rmsprop_loop(float *restrict w, const float *restrict g, float *restrict sq, float *restrict buf,
                                float *restrict gavg, size_t n, const rmsprop_consts *c, bool decay, bool centered,
                                bool momentum)
{
    const float alpha = c->alpha, one_alpha = c->one_alpha, eps = c->eps, wd = c->wd, mom = c->mom, neg_lr = c->neg_lr;
    for (size_t i = 0; i < n; i++) {
        const float wi = w[i];
        float gi = g[i];
        if (decay) gi = fmaf(wi, wd, gi);
        const float v = fmaf(one_alpha * gi, gi, sq[i] * alpha);
        sq[i] = v;
        float avg;
        if (centered) {
            const float ga = fmaf(gi, one_alpha, gavg[i] * alpha);
            gavg[i] = ga;
            avg = sqrtf(fmaf(-ga, ga, v));
        } else {
            avg = sqrtf(v);
        }
        avg = avg + eps;
        if (momentum) {
            const float b = buf[i] * mom + gi / avg;
            buf[i] = b;
            w[i] = fmaf(b, neg_lr, wi);
        } else {
            w[i] = wi + neg_lr * gi / avg;
        }
    }
}

TNN_CLONES static void rmsprop_kernel(float *restrict w, const float *restrict g, float *restrict sq,
                                      float *restrict buf, float *restrict gavg, size_t n, const rmsprop_consts *c,
                                      unsigned variant)
{
    switch (variant) { /* bit 0: weight decay, bit 1: centered, bit 2: momentum */
    case 0: rmsprop_loop(w, g, sq, buf, gavg, n, c, false, false, false); break;
    case 1: rmsprop_loop(w, g, sq, buf, gavg, n, c, true, false, false); break;
    case 2: rmsprop_loop(w, g, sq, buf, gavg, n, c, false, true, false); break;
    case 3: rmsprop_loop(w, g, sq, buf, gavg, n, c, true, true, false); break;
    case 4: rmsprop_loop(w, g, sq, buf, gavg, n, c, false, false, true); break;
    case 5: rmsprop_loop(w, g, sq, buf, gavg, n, c, true, false, true); break;
    case 6: rmsprop_loop(w, g, sq, buf, gavg, n, c, false, true, true); break;
    default: rmsprop_loop(w, g, sq, buf, gavg, n, c, true, true, true); break;
    }
}

static void rmsprop_part(void *ctx, tnn_named_tensor *t, size_t lo, size_t hi, size_t off)
{
    tnn_rmsprop *r = ctx;
    /* torch tests weight_decay != 0 in double (a decay that rounds to 0 in float still
     * adds param * 0) and momentum > 0 */
    const unsigned variant = (r->p.weight_decay != 0.0 ? 1u : 0u) | (r->gavg ? 2u : 0u) | (r->buf ? 4u : 0u);
    rmsprop_kernel((float *)t->data + lo, t->grad + lo, r->sq + off + lo, r->buf ? r->buf + off + lo : NULL,
                   r->gavg ? r->gavg + off + lo : NULL, hi - lo, &r->c, variant);
}

static void rmsprop_range(void *ctx, size_t b, size_t e)
{
    for_flat_range(((tnn_rmsprop *)ctx)->base.params, b, e, rmsprop_part, ctx);
}

static tnn_status rmsprop_step(tnn_optimizer *o)
{
    tnn_rmsprop *r = (tnn_rmsprop *)o;
    const tnn_tensor_list *l = o->params;
    tnn_status st = check_param_counts("rmsprop", l, r->steps);
    if (st) return st;
    for (int k = 0; k < l->count; k++)
        if (!l->items[k].no_grad) r->steps[k]++; /* skipped: no count, no update */
    const tnn_rmsprop_params *p = &r->p;
    r->c = (rmsprop_consts){
        .alpha = (float)p->alpha, .one_alpha = (float)(1.0 - p->alpha), .eps = (float)p->eps,
        .wd = (float)p->weight_decay, .mom = (float)p->momentum, .neg_lr = (float)-p->lr,
    };
    /* Element-wise: the split over threads does not change any result. */
    tnn_parallel_chunks(r->n, OPTIM_CHUNK, rmsprop_range, r);
    return TNN_OK;
}

/* Per parameter "rmsprop.<param>.step", ".square_avg", then ".momentum_buffer" with
 * momentum and ".grad_avg" when centered (torch's state keys, in its order). */
static tnn_status rmsprop_visit_state(tnn_optimizer *o, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_rmsprop *r = (tnn_rmsprop *)o;
    tnn_status st = TNN_OK;
    size_t off = 0;
    char local[300];
    for (int k = 0; !st && k < o->params->count; k++) {
        tnn_named_tensor *t = &o->params->items[k];
        snprintf(local, sizeof local, "rmsprop.%s.step", t->name);
        st = tnn_visit_one(prefix, local, TNN_I64, &r->steps[k], NULL, 0, NULL, false, fn, ctx);
        snprintf(local, sizeof local, "rmsprop.%s.square_avg", t->name);
        if (!st) st = tnn_visit_one(prefix, local, TNN_F32, r->sq + off, NULL, t->ndim, t->shape, false, fn, ctx);
        if (r->buf) {
            snprintf(local, sizeof local, "rmsprop.%s.momentum_buffer", t->name);
            if (!st) st = tnn_visit_one(prefix, local, TNN_F32, r->buf + off, NULL, t->ndim, t->shape, false, fn, ctx);
        }
        if (r->gavg) {
            snprintf(local, sizeof local, "rmsprop.%s.grad_avg", t->name);
            if (!st) st = tnn_visit_one(prefix, local, TNN_F32, r->gavg + off, NULL, t->ndim, t->shape, false, fn, ctx);
        }
        off += t->count;
    }
    return st;
}

static void rmsprop_free(tnn_optimizer *o)
{
    tnn_rmsprop *r = (tnn_rmsprop *)o;
    tnn_tensor_list_free(o->params);
    tnn_free(r->sq);
    tnn_free(r->steps);
    tnn_free(r);
}

static tnn_status rmsprop_set_lr(tnn_optimizer *o, double lr)
{
    ((tnn_rmsprop *)o)->p.lr = lr;
    return TNN_OK;
}

static double rmsprop_get_lr(const tnn_optimizer *o) { return ((const tnn_rmsprop *)o)->p.lr; }

static const tnn_optimizer_vtable rmsprop_vt = {"rmsprop", rmsprop_step, rmsprop_visit_state, rmsprop_free,
                                                rmsprop_set_lr, rmsprop_get_lr};

/* torch's checks (each setting >= 0), in its order, and finite in float: the first bad
 * one is named. */
static bool rmsprop_params_ok(const tnn_rmsprop_params *p)
{
    const struct { const char *name; double v; } s[] = {
        {"lr", p->lr}, {"eps", p->eps}, {"momentum", p->momentum}, {"weight_decay", p->weight_decay},
        {"alpha", p->alpha},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        if (s[i].v >= 0.0 && float_finite(s[i].v)) continue;
        tnn_error(TNN_ERR_ARG, "rmsprop: %s %g must be >= 0 and finite in float (lr=%g alpha=%g eps=%g "
                  "weight_decay=%g momentum=%g)", s[i].name, s[i].v, p->lr, p->alpha, p->eps, p->weight_decay,
                  p->momentum);
        return false;
    }
    return true;
}

tnn_optimizer *tnn_rmsprop_new(tnn_module *m, tnn_rmsprop_params p)
{
    if (!m) { tnn_error(TNN_ERR_ARG, "rmsprop: module is NULL"); return NULL; }
    if (tnn_settings_refused(p.tag, "rmsprop", "tnn_rmsprop_defaults") || !rmsprop_params_ok(&p)) return NULL;
    tnn_rmsprop *r = tnn_calloc(1, sizeof *r, "rmsprop");
    if (!r) return NULL;
    r->p = p;
    if (tnn_optimizer_init(&r->base, &rmsprop_vt, m)) { tnn_free(r); return NULL; }
    const size_t n = arena_size(r->base.params);
    const bool mom = p.momentum > 0.0;
    r->n = n;
    /* square_avg, then momentum_buffer and grad_avg when the settings ask for them */
    r->sq = tnn_calloc((1 + (size_t)mom + (size_t)p.centered) * n, sizeof(float), "rmsprop state");
    r->steps = r->sq ? tnn_calloc((size_t)r->base.params->count, sizeof *r->steps, "rmsprop step counts") : NULL;
    if (!r->steps) { rmsprop_free(&r->base); return NULL; }
    r->buf = mom ? r->sq + n : NULL;
    r->gavg = p.centered ? r->sq + (1 + (size_t)mom) * n : NULL;
    return &r->base;
}
