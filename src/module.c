/* Generic module functions: checked vtable calls, mode switches, enumeration. */
#include "tnn_impl.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

void tnn_module_init(tnn_module *m, const tnn_module_vtable *vt)
{
    if (!m) return;
    memset(m, 0, sizeof *m);
    m->vt = vt;
    m->training = true;
    m->requires_grad = true;
}

/* What makes m unusable as a module ("has no vtable ..."), or NULL: a module built by
 * hand without tnn_module_init, or whose vtable lacks a required function, is refused
 * by name instead of crashing on the missing pointer. */
const char *tnn_module_vt_problem(const tnn_module *m)
{
    if (!m->vt) return "has no vtable (tnn_module_init sets it)";
    if (!m->vt->forward) return "has no forward in its vtable, which every module needs";
    if (!m->vt->backward) return "has no backward in its vtable, which every module needs";
    if (!m->vt->free) return "has no free in its vtable, which every module needs";
    return NULL;
}

/* The base's layout is part of the ABI (modules written outside the library embed it):
 * `chained` took what was padding after has_output, and nothing after it moved. */
_Static_assert(offsetof(tnn_module, out_ndim) ==
                   (offsetof(tnn_module, has_output) + 1 + _Alignof(int) - 1) / _Alignof(int) * _Alignof(int),
               "tnn_module's fields after has_output moved");

/* One model, one thread at a time. A call that reads or writes a model marks the
 * model's outermost container with its thread (the address of a thread-local, unique
 * among running threads); the calls it makes inside (a Sequential running its children)
 * find their own thread there and go on. A call from another thread meanwhile is
 * refused before it touches anything: two threads inside one model would reallocate
 * the buffers each other reads. It cannot see two threads taking turns (one's forward,
 * the other's forward, then the first one's backward), which is ordered, not a race. */
static _Thread_local char g_this_thread;

static tnn_module *outermost(tnn_module *m)
{
    while (m->container) m = m->container;
    return m;
}

tnn_status tnn_module_enter(tnn_module *m, const char *what, tnn_module **held)
{
    *held = NULL;
    tnn_module *r = outermost(m);
    void *me = &g_this_thread, *none = NULL;
    if (__atomic_load_n(&r->busy_thread, __ATOMIC_RELAXED) == me) {
        r->busy_depth++;
        *held = r;
        return TNN_OK;
    }
    if (!__atomic_compare_exchange_n(&r->busy_thread, &none, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        char d[96];
        return tnn_error(TNN_ERR_STATE, "%s %s: the model is in use by another thread; a model is used by one "
                         "thread at a time (give each thread its own model, or hand it over when one is done)",
                         tnn_module_describe(m, d, sizeof d), what);
    }
    r->busy_depth = 1;
    *held = r;
    return TNN_OK;
}

void tnn_module_leave(tnn_module *held)
{
    if (--held->busy_depth == 0) __atomic_store_n(&held->busy_thread, NULL, __ATOMIC_RELEASE);
}

void tnn_module_note_output(tnn_module *m, const tnn_tensor *y)
{
    m->has_output = true;
    m->chained = false; /* a container that ran it sets this again */
    m->out_ndim = y->ndim;
    for (int i = 0; i < TNN_MAX_DIMS; i++) m->out_shape[i] = i < y->ndim ? y->shape[i] : 1;
}

/* A failure the module left without a message of its own gets one naming the module,
 * instead of whatever an earlier, unrelated failure left behind. */
static tnn_status with_message(const tnn_module *m, const char *what, tnn_status st, unsigned seq_before)
{
    if (st == TNN_OK || tnn_error_seq() != seq_before) return st;
    char d[96];
    return tnn_error(st, "%s %s failed with %s (the module gave no message)", tnn_module_describe(m, d, sizeof d),
                     what, tnn_status_name(st));
}

char *tnn_module_describe(const tnn_module *m, char *buf, size_t len)
{
    if (!buf || !len) return buf;
    if (!m) snprintf(buf, len, "(null module)");
    else if (!m->vt) snprintf(buf, len, "(module without vtable)");
    else if (m->vt->describe) m->vt->describe(m, buf, len);
    else snprintf(buf, len, "%s", m->vt->type_name ? m->vt->type_name : "module");
    return buf;
}

tnn_status tnn_error_own_output(const tnn_module *m)
{
    char d[96];
    return tnn_error(TNN_ERR_ARG, "%s forward: the input is (part of) this module's own output from its last forward, "
                     "which this forward overwrites; pass a copy (tnn_tensor_clone)", tnn_module_describe(m, d, sizeof d));
}

/* What the backwards running on this thread must not write their dL/dx over
 * (tnn_pick_dx): the dy of each tnn_module_backward running, and the input of each
 * Sequential whose backward is running (tnn_span_guard_push). */
static _Thread_local tnn_span_guard *g_guards;

void tnn_span_guard_push(tnn_span_guard *g, const float *data, size_t n)
{
    g->data = data;
    g->n = n;
    g->prev = g_guards;
    g_guards = g;
}

void tnn_span_guard_pop(tnn_span_guard *g) { g_guards = g->prev; }

static bool guarded(const float *data, size_t n)
{
    for (const tnn_span_guard *g = g_guards; g; g = g->prev)
        if (tnn_spans_overlap(data, n, g->data, g->n)) return true;
    return false;
}

tnn_status tnn_pick_dx(const tnn_module *m, tnn_tensor dx[2], const float *x, size_t nx, const tnn_tensor *dy,
                       int ndim, const int *shape, tnn_tensor **out)
{
    char who[96];
    *out = NULL;
    for (int k = 0; k < 2; k++) { /* the whole allocation: a resize within it does not move it */
        const tnn_tensor *t = &dx[k];
        if (tnn_spans_overlap(t->data, t->capacity, x, nx) || tnn_spans_overlap(t->data, t->capacity, dy->data, dy->size) ||
            guarded(t->data, t->capacity))
            continue;
        tnn_status st = tnn_tensor_resize(&dx[k], ndim, shape);
        if (st == TNN_ERR_NOMEM) return tnn_error(st, "%s: out of memory for dx", tnn_module_describe(m, who, sizeof who));
        if (st == TNN_OK) *out = &dx[k];
        return st;
    }
    return tnn_error(TNN_ERR_ARG, "%s backward: the input and dy (or the enclosing backward's dy, or an enclosing "
                     "sequential's input) overlap both of this module's dL/dx buffers; pass copies (tnn_tensor_clone)",
                     tnn_module_describe(m, who, sizeof who));
}

tnn_status tnn_module_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "forward: module is NULL");
    char d[96];
    const char *bad = tnn_module_vt_problem(m);
    if (bad) return tnn_error(TNN_ERR_ARG, "forward: the module %s", bad);
    if (!x || !y) return tnn_error(TNN_ERR_ARG, "%s forward: %s is NULL", tnn_module_describe(m, d, sizeof d), !x ? "input" : "output pointer");
    if (!x->data) return tnn_error(TNN_ERR_ARG, "%s forward: input has no data", tnn_module_describe(m, d, sizeof d));
    char why[128];
    if (tnn_tensor_problem(x, why, sizeof why)) /* a header filled in by hand: size 0 with a shape, say */
        return tnn_error(TNN_ERR_ARG, "%s forward: the input %s", tnn_module_describe(m, d, sizeof d), why);
    *y = NULL;
    tnn_module *held;
    tnn_status st = tnn_module_enter(m, "forward", &held);
    if (st) return st;
    m->has_output = false; /* until this forward succeeds: a failed one may leave the module half-updated */
    m->chained = false;
    unsigned seq = tnn_error_seq();
    st = m->vt->forward(m, x, y);
    if (st == TNN_OK && !*y) st = tnn_error(TNN_ERR_STATE, "%s forward returned no output", tnn_module_describe(m, d, sizeof d));
    if (st == TNN_OK) tnn_module_note_output(m, *y);
    tnn_module_leave(held);
    return with_message(m, "forward", st, seq);
}

/* Equal once the dimensions of size 1 are dropped ([128] and [128 x 1]), as the losses
 * accept a target of either shape. */
bool tnn_same_but_ones(int na, const int *a, int nb, const int *b)
{
    int i = 0, j = 0;
    for (;;) {
        while (i < na && a[i] == 1) i++;
        while (j < nb && b[j] == 1) j++;
        if (i == na || j == nb) return i == na && j == nb;
        if (a[i++] != b[j++]) return false;
    }
}

static tnn_status backward_entered(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx);

tnn_status tnn_module_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "backward: module is NULL");
    char d[96];
    const char *bad = tnn_module_vt_problem(m);
    if (bad) return tnn_error(TNN_ERR_ARG, "backward: the module %s", bad);
    if (!dy || !dy->data) return tnn_error(TNN_ERR_ARG, "%s backward: dy is NULL", tnn_module_describe(m, d, sizeof d));
    char why[128];
    if (tnn_tensor_problem(dy, why, sizeof why))
        return tnn_error(TNN_ERR_ARG, "%s backward: dy %s", tnn_module_describe(m, d, sizeof d), why);
    if (dx) *dx = NULL;
    tnn_module *held;
    tnn_status st = tnn_module_enter(m, "backward", &held);
    if (st) return st;
    st = backward_entered(m, dy, dx);
    tnn_module_leave(held);
    return st;
}

/* tnn_module_backward once m is this thread's */
static tnn_status backward_entered(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    char d[96];
    if (!m->has_output)
        return tnn_error(TNN_ERR_STATE, "%s backward: called before forward (or after a forward that failed%s)",
                         tnn_module_describe(m, d, sizeof d),
                         tnn_is_sequential(m) ? ", or after a child was added: run the forward again" : "");
    const tnn_tensor *caller_dy = dy;
    bool same = dy->ndim == m->out_ndim;
    for (int i = 0; same && i < dy->ndim; i++) same = dy->shape[i] == m->out_shape[i];
    tnn_tensor as_output; /* dy under the output's shape, when they differ only by dimensions of 1 */
    if (!same && tnn_same_but_ones(dy->ndim, dy->shape, m->out_ndim, m->out_shape)) {
        as_output = *dy;
        as_output.owns = false;
        as_output.ndim = m->out_ndim;
        for (int i = 0; i < TNN_MAX_DIMS; i++) as_output.shape[i] = m->out_shape[i];
        dy = &as_output;
        same = true;
    }
    if (!same) {
        char a[64], b[64];
        return tnn_error(TNN_ERR_SHAPE, "%s backward: dy is %s, the last forward's output was %s",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(dy, a, sizeof a),
                         tnn_shape_str(m->out_ndim, m->out_shape, b, sizeof b));
    }
    unsigned seq = tnn_error_seq();
    tnn_span_guard given; /* the caller's dy, which may be a module's dx from the last backward */
    tnn_span_guard_push(&given, dy->data, dy->size);
    tnn_status st = m->vt->backward(m, dy, dx);
    tnn_span_guard_pop(&given);
    /* A module that passes dy through (an empty Sequential, a custom identity) returns
     * what it was given; not the local view above, which ends with this call. */
    if (dx && *dx == &as_output) *dx = caller_dy;
    if (st == TNN_OK && dx && !*dx)
        st = tnn_error(TNN_ERR_STATE, "%s backward returned no dx (dL/dx was asked for)", tnn_module_describe(m, d, sizeof d));
    return with_message(m, "backward", st, seq);
}

tnn_status tnn_module_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    if (!m || !fn) return tnn_error(TNN_ERR_ARG, "visit: module or visitor is NULL");
    if (!m->vt) return tnn_error(TNN_ERR_ARG, "visit: the module %s", tnn_module_vt_problem(m));
    if (!m->vt->visit) return TNN_OK;
    return m->vt->visit(m, prefix ? prefix : "", fn, ctx);
}

void tnn_module_free(tnn_module *m)
{
    if (!m || !m->vt) return;
    if (m->container) { /* its container frees it: freeing it here would free it twice */
        char d[96];
        tnn_log("tnn_module_free: %s not freed: it is a child of a sequential, which frees it",
                tnn_module_describe(m, d, sizeof d));
        return;
    }
    if (m->vt->free) m->vt->free(m);
}

void tnn_module_modes_set(tnn_module *m, bool training_changed, bool grad_changed)
{
    if (tnn_is_sequential(m)) tnn_sequential_pass_on(m, training_changed, grad_changed); /* only the modes set */
    else if (m->vt && m->vt->on_mode_change) m->vt->on_mode_change(m);
}

void tnn_module_train(tnn_module *m, bool training)
{
    if (!m) return;
    m->training = training;
    tnn_module_modes_set(m, true, false); /* the training mode changed, requires_grad did not */
}

void tnn_module_eval(tnn_module *m) { tnn_module_train(m, false); }

void tnn_module_set_requires_grad(tnn_module *m, bool requires_grad)
{
    if (!m) return;
    m->requires_grad = requires_grad;
    tnn_module_modes_set(m, false, true); /* requires_grad changed, the training mode did not */
}

static tnn_status visit_named(const char *prefix, const char *local, tnn_dtype dt, void *data, float *grad, int ndim,
                              const int *shape, bool is_param, bool no_grad, tnn_visit_fn fn, void *ctx)
{
    char name[256];
    int n = snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", local);
    if (n < 0 || (size_t)n >= sizeof name)
        return tnn_error(TNN_ERR_ARG, "tensor name too long (%d bytes; names are at most %zu): %.80s%.80s...", n,
                         sizeof name - 1, prefix ? prefix : "", local);
    tnn_named_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dt;
    t.data = data;
    t.grad = grad;
    t.ndim = ndim;
    t.count = 1;
    for (int i = 0; i < TNN_MAX_DIMS; i++) {
        t.shape[i] = i < ndim ? shape[i] : 1;
        if (i < ndim) t.count *= (size_t)shape[i];
    }
    t.is_param = is_param;
    t.no_grad = no_grad;
    return fn(ctx, &t);
}

tnn_status tnn_visit_one(const char *prefix, const char *local, tnn_dtype dt, void *data, float *grad,
                         int ndim, const int *shape, bool is_param, tnn_visit_fn fn, void *ctx)
{
    return visit_named(prefix, local, dt, data, grad, ndim, shape, is_param, false, fn, ctx);
}

tnn_status tnn_visit_param(const char *prefix, const char *local, float *data, float *grad, int ndim, const int *shape,
                           bool no_grad, tnn_visit_fn fn, void *ctx)
{
    return visit_named(prefix, local, TNN_F32, data, grad, ndim, shape, true, no_grad, fn, ctx);
}

static tnn_status zero_one(void *ctx, const tnn_named_tensor *t)
{
    (void)ctx;
    if (t->is_param && t->grad) memset(t->grad, 0, t->count * sizeof(float));
    return TNN_OK;
}

void tnn_module_zero_grad(tnn_module *m)
{
    if (m) (void)tnn_module_visit(m, "", zero_one, NULL);
}

void tnn_module_discard_grad(tnn_module *m)
{
    if (!m || !m->vt) return;
    if (m->vt->discard_grad) m->vt->discard_grad(m);
    else tnn_module_zero_grad(m);
}

static tnn_status nothing(void *ctx, const tnn_named_tensor *t)
{
    (void)ctx;
    (void)t;
    return TNN_OK;
}

/* Visiting is what settles: every module that discards gradients writes the zeros in its visit. */
tnn_status tnn_module_settle_grad(tnn_module *m)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "settle_grad: module is NULL");
    return tnn_module_visit(m, "", nothing, NULL);
}

static tnn_status count_one(void *ctx, const tnn_named_tensor *t)
{
    if (t->is_param) *(size_t *)ctx += t->count;
    return TNN_OK;
}

size_t tnn_module_num_params(tnn_module *m)
{
    size_t n = 0;
    if (m) (void)tnn_module_visit(m, "", count_one, &n);
    return n;
}

/* ---- summary ---- */

typedef struct summary_counts {
    size_t params, frozen, buffers, bytes;
} summary_counts;

static tnn_status count_all(void *ctx, const tnn_named_tensor *t)
{
    summary_counts *c = ctx;
    if (t->is_param) c->params += t->count;
    else c->buffers += t->count;
    c->bytes += t->count * tnn_dtype_size(t->dtype);
    return TNN_OK;
}

/* m's counts; a Sequential's are its children's, so that a child frozen on its own
 * counts as frozen inside a trainable container. */
static tnn_status summary_count(tnn_module *m, summary_counts *c)
{
    if (tnn_is_sequential(m)) {
        for (int i = 0; i < tnn_sequential_len(m); i++) {
            tnn_status st = summary_count(tnn_sequential_get(m, i), c);
            if (st != TNN_OK) return st;
        }
        return TNN_OK;
    }
    summary_counts own = {0};
    tnn_status st = tnn_module_visit(m, "", count_all, &own);
    if (st != TNN_OK) return st;
    c->params += own.params;
    c->frozen += m->requires_grad ? 0 : own.params;
    c->buffers += own.buffers;
    c->bytes += own.bytes;
    return TNN_OK;
}

/* 1,510,032 */
static const char *grouped(size_t v, char *buf, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

typedef struct summary_ctx {
    FILE *f;
    bool failed;   /* a write failed (fprintf's own result: ferror may be left set from before) */
    int width;     /* of the module column; found by a first pass that prints nothing */
    bool measure;  /* true in that first pass */
} summary_ctx;

/* One line for m (index idx in its container, -1 for the top), then its children; *c
 * receives m's counts. The first pass counts too, so that a visit that fails stops the
 * summary before anything is printed. */
static tnn_status summary_lines(summary_ctx *sc, tnn_module *m, int depth, int idx, const tnn_module *parent,
                                summary_counts *c_out)
{
    char d[160], label[224], p[32], b[32];
    tnn_module_describe(m, d, sizeof d);
    if (idx < 0) snprintf(label, sizeof label, "%s", d);
    else snprintf(label, sizeof label, "%*s%-3d %s", 2 * depth, "", idx, d);
    summary_counts c = {0};
    tnn_status st = summary_count(m, &c);
    if (st != TNN_OK) return st;
    *c_out = c;
    if (sc->measure) {
        int w = (int)strlen(label);
        if (w > sc->width) sc->width = w;
    } else {
        const char *note = "";
        if (!parent) note = m->training ? "  training mode" : "  eval mode";
        else if (m->training != parent->training) note = m->training ? "  training mode" : "  eval mode";
        /* frozen or trainable where it differs from its container (a child unfrozen
         * inside a frozen Sequential trains) */
        const char *grad = "";
        if (!parent ? !m->requires_grad : m->requires_grad != parent->requires_grad)
            grad = m->requires_grad ? "  trainable" : "  frozen";
        if (fprintf(sc->f, "%-*s %13s %11s%s%s\n", sc->width, label, grouped(c.params, p, sizeof p),
                    grouped(c.buffers, b, sizeof b), grad, note) < 0)
            sc->failed = true;
    }
    if (tnn_is_sequential(m))
        for (int i = 0; i < tnn_sequential_len(m); i++) {
            summary_counts child;
            st = summary_lines(sc, tnn_sequential_get(m, i), depth + 1, i, m, &child);
            if (st != TNN_OK) return st;
        }
    return TNN_OK;
}

static tnn_status summary_entered(tnn_module *m, FILE *f);

tnn_status tnn_module_summary(tnn_module *m, FILE *f)
{
    if (!m) return tnn_error(TNN_ERR_ARG, "module_summary: module is NULL");
    const char *why = tnn_module_vt_problem(m);
    if (why) return tnn_error(TNN_ERR_ARG, "module_summary: the module %s", why);
    if (!f) f = stdout;
    tnn_module *held;
    tnn_status st = tnn_module_enter(m, "summary", &held);
    if (st) return st;
    st = summary_entered(m, f);
    tnn_module_leave(held);
    return st;
}

static tnn_status summary_entered(tnn_module *m, FILE *f)
{
    summary_ctx sc = {.f = f, .width = (int)strlen("module"), .measure = true};
    summary_counts c; /* the top module's: the totals */
    tnn_status st = summary_lines(&sc, m, 0, -1, NULL, &c);
    if (st != TNN_OK) return st;
    sc.measure = false;
    char p[32], t[32], b[32], by[32];
    if (fprintf(f, "%-*s %13s %11s\n", sc.width, "module", "parameters", "buffers") < 0) sc.failed = true;
    st = summary_lines(&sc, m, 0, -1, NULL, &c);
    if (st != TNN_OK) return st;
    char unit[32] = ""; /* the largest unit that shows at least 1.0 */
    if (c.bytes >= 999950000) snprintf(unit, sizeof unit, " (%.1f GB)", (double)c.bytes / 1e9);
    else if (c.bytes >= 999950) snprintf(unit, sizeof unit, " (%.1f MB)", (double)c.bytes / 1e6);
    else if (c.bytes >= 1000) snprintf(unit, sizeof unit, " (%.1f kB)", (double)c.bytes / 1e3);
    if (fprintf(f, "total: %s parameters (%s trainable), %s buffer elements, %s bytes%s\n",
            grouped(c.params, p, sizeof p), grouped(c.params - c.frozen, t, sizeof t),
            grouped(c.buffers, b, sizeof b), grouped(c.bytes, by, sizeof by), unit) < 0)
        sc.failed = true;
    if (sc.failed || fflush(f) != 0) return tnn_error(TNN_ERR_IO, "module_summary: writing the summary failed");
    return TNN_OK;
}

/* ---- tensor lists ---- */

typedef struct list_builder {
    tnn_tensor_list *l;
    int cap;
    bool params_only;
} list_builder;

/* A record from a module's visit, checked before a list (an optimizer's, a state_dict)
 * takes it: the built-in modules build theirs through tnn_visit_param, which cannot get
 * them wrong, but a module written outside the library fills the struct itself, and an
 * optimizer would write past a count larger than the shape, or through a NULL gradient. */
bool tnn_record_problem(const tnn_named_tensor *t, char *why, size_t len)
{
    if (!tnn_dtype_size(t->dtype)) return snprintf(why, len, "has unknown dtype %d", (int)t->dtype), true;
    if (t->ndim < 0 || t->ndim > TNN_MAX_DIMS)
        return snprintf(why, len, "has %d dimensions (0 to %d)", t->ndim, TNN_MAX_DIMS), true;
    size_t count = 1;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0) return snprintf(why, len, "has dimension %d = %d", k, t->shape[k]), true;
        if (t->shape[k] && count > SIZE_MAX / 8 / (size_t)t->shape[k]) return snprintf(why, len, "is too large"), true;
        count *= (size_t)t->shape[k];
    }
    if (count != t->count)
        return snprintf(why, len, "has count %zu, but its shape holds %zu elements", t->count, count), true;
    if (count && !t->data) return snprintf(why, len, "has no data"), true;
    return false;
}

static tnn_status check_record(const tnn_named_tensor *t)
{
    char why[128];
    if (!t->name || !*t->name) return tnn_error(TNN_ERR_ARG, "module visit: a tensor has no name");
    if (tnn_record_problem(t, why, sizeof why))
        return tnn_error(TNN_ERR_ARG, "module visit: '%.100s' %s", t->name, why);
    if (t->is_param && t->dtype != TNN_F32)
        return tnn_error(TNN_ERR_ARG, "module visit: '%.100s' is a parameter of dtype %s; parameters are F32", t->name,
                         tnn_dtype_name(t->dtype));
    if (t->is_param && t->count && !t->grad)
        return tnn_error(TNN_ERR_ARG, "module visit: '%.100s' is a parameter without a gradient buffer (grad is NULL)",
                         t->name);
    return TNN_OK;
}

tnn_status tnn_check_visited(const tnn_named_tensor *t) { return check_record(t); }

static tnn_status add_one(void *ctx, const tnn_named_tensor *t)
{
    list_builder *b = ctx;
    if (b->params_only && !t->is_param) return TNN_OK;
    tnn_status st = check_record(t);
    if (st) return st;
    if (b->l->count == b->cap) {
        int cap = b->cap ? 2 * b->cap : 16;
        tnn_named_tensor *items = tnn_realloc(b->l->items, (size_t)cap * sizeof *items, "tensor list");
        if (!items) return TNN_ERR_NOMEM;
        b->l->items = items;
        b->cap = cap;
    }
    char *name = tnn_strdup(t->name);
    if (!name) return TNN_ERR_NOMEM;
    tnn_named_tensor *dst = &b->l->items[b->l->count++];
    *dst = *t;
    dst->name = name;
    return TNN_OK;
}

tnn_status tnn_module_collect(tnn_module *m, const char *prefix, bool params_only, tnn_tensor_list **out)
{
    *out = NULL;
    if (!m) return tnn_error(TNN_ERR_ARG, "state_dict: module is NULL");
    tnn_tensor_list *l = tnn_calloc(1, sizeof *l, "tensor list");
    if (!l) return TNN_ERR_NOMEM;
    list_builder b = {l, 0, params_only};
    tnn_status st = tnn_module_visit(m, prefix, add_one, &b);
    if (st != TNN_OK) {
        tnn_tensor_list_free(l);
        return st;
    }
    *out = l;
    return TNN_OK;
}

static tnn_tensor_list *collect(tnn_module *m, const char *prefix, bool params_only)
{
    tnn_tensor_list *l;
    (void)tnn_module_collect(m, prefix, params_only, &l);
    return l;
}

tnn_tensor_list *tnn_module_parameters(tnn_module *m, const char *prefix) { return collect(m, prefix, true); }
tnn_tensor_list *tnn_module_state_dict(tnn_module *m, const char *prefix) { return collect(m, prefix, false); }

const tnn_named_tensor *tnn_tensor_list_find(const tnn_tensor_list *l, const char *name)
{
    if (!l || !name) return NULL;
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

void tnn_tensor_list_free(tnn_tensor_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->count; i++) tnn_free((void *)l->items[i].name);
    tnn_free(l->items);
    tnn_free(l);
}
