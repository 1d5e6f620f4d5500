/* Sequential: runs its children in order and names their tensors "<index>.<name>". */
#include "tnn_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct tnn_sequential {
    tnn_module base;
    tnn_module **children;
    /* Per child, its output from the last forward (cap entries, like children), or NULL
     * when that output lay inside the child's input: a Flatten's view, a module of the
     * caller's that passes its input through, an activation working in place over the
     * child before's buffer. What is kept is a buffer the child owns, which the next
     * child may keep a pointer to for its backward (its input). The input check is all
     * they are kept for. */
    const tnn_tensor **outs;
    int outs_n;        /* how many of outs a forward has set (children added since have none) */
    const float *in;   /* the last forward's input, guarded during backward (tnn_pick_dx) */
    size_t in_n;
    int count, cap;
    unsigned err_seq;  /* the thread's message count after its creation or last add */
} tnn_sequential;

/* Activations work in place where that cannot be seen from outside (as PyTorch's
 * LeakyReLU(inplace=True) in the GAN this library grew from): in forward, over the
 * output of the layer just before them, a buffer owned by that layer which nothing but
 * the activation reads again; in backward, over the dL/dy that the layer after them
 * wrote into its own dx buffer. The layers (owns_its_buffers) are the built-in ones
 * whose passes never read their output, nor their dx, once returned:
 *   Linear            backward reads x, W, dy
 *   BatchNorm1d/2d    backward reads x, the saved mean and invstd (or the running ones)
 *   Conv2d            backward reads x (im2col again), W, dy
 *   ConvTranspose2d   backward reads x, W, dy
 *   MaxPool2d         backward reads dy and the forward's argmax indices
 *   AvgPool2d         backward reads dy (and the geometry)
 *   AdaptiveAvgPool2d backward reads dy (and the geometry)
 *   Upsample          backward reads dy and the source index table
 *   LayerNorm         backward reads x, the saved mean and rstd, weight, dy
 *   Dropout/Dropout2d backward reads dy and the mask (eval mode copies x: no view)
 * (the output's shape only, for messages), and each writes its dx afresh (zeroed
 * first where it adds into it) into one of its own two dx buffers (tnn_pick_dx). The
 * arithmetic is the same, so the results are the same bits; what goes is a pass over
 * cold memory per activation (and the activation's own buffers). The Sequential's
 * input, its output's dy, and custom modules' buffers are never written. Children are
 * distinct (tnn_sequential_add), so a layer's buffer is not the input of another
 * position. Not among them: Softmax (its backward reads its output), Flatten and
 * Unflatten (views), containers and the caller's own modules. */
static bool owns_its_buffers(const tnn_module *c)
{
    if (tnn_is_linear(c) || tnn_is_batchnorm1d(c) || tnn_is_dropout(c)) return true;
    static const tnn_tensor *(*const buffer_of[])(const tnn_module *) = {
        tnn_batchnorm2d_output_buffer, tnn_conv2d_output_buffer,   tnn_conv_transpose2d_output_buffer,
        tnn_max_pool2d_output_buffer,  tnn_avg_pool2d_output_buffer, tnn_adaptive_avg_pool2d_output_buffer,
        tnn_upsample_output_buffer,    tnn_layernorm_output_buffer, tnn_dropout2d_output_buffer,
    };
    for (size_t k = 0; k < sizeof buffer_of / sizeof buffer_of[0]; k++)
        if (buffer_of[k](c)) return true;
    return false;
}

static bool overwrite_forward(const tnn_sequential *s, int i)
{
    return i > 0 && tnn_activation_forward_may_overwrite(s->children[i]) && owns_its_buffers(s->children[i - 1]);
}

static bool overwrite_backward(const tnn_sequential *s, int i)
{
    if (!(i + 1 < s->count && tnn_is_activation(s->children[i]) && owns_its_buffers(s->children[i + 1])))
        return false;
    /* Only behind a child that writes its dx into a buffer of its own: the Sequential's
     * dx, which the caller may feed back in (as its next input or dy), must not be a later
     * child's buffer, and a Flatten (or a module of the caller's) may return a view of
     * its dy. (The first such child is never an activation working in place: that needs
     * one before it.) */
    for (int j = 0; j < i; j++) {
        const tnn_module *c = s->children[j];
        if (owns_its_buffers(c) || tnn_is_activation(c)) return true;
    }
    return false;
}

/* A child's failure, its message prefixed with its position: "child 2: batchnorm1d(8):
 * ..." (nested Sequentials add theirs in front: "child 1: child 2: ..."). */
static tnn_status in_child(int i, tnn_status st)
{
    return tnn_error(st, "child %d: %s", i, tnn_last_error());
}

/* The output buffer child i of s writes, if it is a built-in layer with one (NULL for
 * the others: Flatten and Unflatten, whose outputs are views, containers, modules of the
 * user's own). */
static const tnn_tensor *own_output_buffer(const tnn_sequential *s, int i)
{
    const tnn_module *c = s->children[i];
    if (tnn_is_linear(c)) return tnn_linear_output_buffer(c);
    if (tnn_is_batchnorm1d(c)) return tnn_batchnorm1d_output_buffer(c);
    /* an activation working in place here writes the child before's buffer, not its own */
    if (tnn_is_activation(c)) return overwrite_forward(s, i) ? NULL : tnn_activation_output_buffer(c);
    if (tnn_is_dropout(c)) return tnn_dropout_output_buffer(c);
    if (tnn_is_softmax(c)) return tnn_softmax_output_buffer(c);
    /* the other layers with a buffer of their own: each returns NULL if c is not its kind */
    static const tnn_tensor *(*const buffer_of[])(const tnn_module *) = {
        tnn_conv2d_output_buffer,   tnn_conv_transpose2d_output_buffer, tnn_dropout2d_output_buffer,
        tnn_max_pool2d_output_buffer, tnn_avg_pool2d_output_buffer,    tnn_adaptive_avg_pool2d_output_buffer,
        tnn_upsample_output_buffer, tnn_layernorm_output_buffer,        tnn_batchnorm2d_output_buffer,
    };
    for (size_t k = 0; k < sizeof buffer_of / sizeof buffer_of[0]; k++) {
        const tnn_tensor *buf = buffer_of[k](c);
        if (buf) return buf;
    }
    return NULL;
}

/* The output buffer of a built-in child, or of one inside a nested Sequential, that x
 * overlaps: the Sequential's input, which that child would overwrite. Children that
 * have run on their own count (their buffer is the same), as do children added since
 * the last forward. A Flatten's output is a view of its input, not a buffer of its own.
 * On a hit, path receives the child's position ("1.0"); it is written only then, as
 * this runs at every forward. */
static const tnn_module *child_buffer_under(const tnn_sequential *s, const tnn_tensor *x, char *path, size_t len)
{
    for (int i = 0; i < s->count; i++) {
        const tnn_module *c = s->children[i];
        const tnn_tensor *buf = own_output_buffer(s, i);
        /* the whole allocation: a forward of another batch size writes within it */
        if (buf && buf->data && tnn_spans_overlap(x->data, x->size, buf->data, buf->capacity)) {
            snprintf(path, len, "%d", i);
            return c;
        }
        char inner[96];
        const tnn_module *hit = NULL;
        if (tnn_is_sequential(c)) hit = child_buffer_under((const tnn_sequential *)c, x, inner, sizeof inner);
        if (hit) {
            snprintf(path, len, "%d.%s", i, inner);
            return hit;
        }
    }
    return NULL;
}

/* Whether y's elements all lie inside x's: a view of the input (a Flatten's, a
 * pass-through module's, an activation's working in place), which has no buffer of its
 * own to guard. An output that only overlaps its input is guarded as a buffer. */
static bool within(const tnn_tensor *y, const tnn_tensor *x)
{
    uintptr_t y0 = (uintptr_t)y->data, x0 = (uintptr_t)x->data;
    return y->data && x->data && y0 >= x0 && y0 + y->size * sizeof(float) <= x0 + x->size * sizeof(float);
}

/* The refusal of an input that a child would overwrite: `whose` says what of child
 * `path` it is, `when` adds when that child wrote it. */
static tnn_status refuse_input(const tnn_module *m, const char *whose, const char *path, const tnn_module *child,
                               const char *when)
{
    char d[96], e[96];
    return tnn_error(TNN_ERR_ARG, "%s forward: the input is (part of) %s child %s (%s)%s, which this forward would "
                     "overwrite; pass a copy (tnn_tensor_clone)", tnn_module_describe(m, d, sizeof d), whose, path,
                     tnn_module_describe(child, e, sizeof e), when);
}

static tnn_status seq_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_sequential *s = (tnn_sequential *)m;
    /* Its own output, or any child's, as input: a child would overwrite what another
     * kept for its backward (module rule 1), or the input itself. An output that was a
     * view of the child's input (outs[i] NULL) is the Sequential's last input or the
     * buffer of a child before, checked as such: the same input again is fine. Checked
     * before any child runs, so a refused forward changes nothing. */
    char path[128];
    for (int i = 0; i < s->outs_n; i++) {
        if (!s->outs[i] || !tnn_tensor_overlaps(x, s->outs[i])) continue;
        snprintf(path, sizeof path, "%d", i);
        return refuse_input(m, i == s->count - 1 ? "this module's own output, the output of" : "the output of", path,
                            s->children[i], " from the last forward");
    }
    const tnn_module *under = child_buffer_under(s, x, path, sizeof path);
    if (under) return refuse_input(m, "the output buffer of", path, under, "");
    const tnn_tensor *cur = x;
    for (int i = 0; i < s->count; i++) {
        const tnn_tensor *next = cur;
        tnn_status st;
        if (overwrite_forward(s, i)) {
            st = tnn_activation_forward_inplace(s->children[i], (tnn_tensor *)cur);
            if (!st) tnn_module_note_output(s->children[i], cur);
        } else {
            st = tnn_module_forward(s->children[i], cur, &next);
        }
        if (st) return in_child(i, st);
        s->outs[i] = within(next, cur) ? NULL : next;
        cur = next;
        s->children[i]->chained = true;
    }
    *y = cur;
    s->outs_n = s->count;
    s->in = x->data;
    s->in_n = x->size;
    return TNN_OK;
}

/* A child run on its own since the Sequential's forward (through tnn_sequential_get)
 * has replaced what the chain kept for the backward: its input, its output (which the
 * next child may point to, and which may have moved: a larger batch), and its saved
 * state. Going back through the chain would give the gradients of that other input, or
 * read freed memory. Nested Sequentials are searched here too, before any child's
 * backward has added to a gradient; `path` names the child ("1.0": child 0 of child 1). */
static bool find_unchained(const tnn_sequential *s, char *path, size_t len, const tnn_module **who)
{
    for (int i = 0; i < s->count; i++) {
        const tnn_module *c = s->children[i];
        size_t n = strlen(path);
        snprintf(path + n, len - n, n ? ".%d" : "%d", i);
        if (!c->chained || (tnn_is_sequential(c) && find_unchained((const tnn_sequential *)c, path, len, who))) {
            if (!*who) *who = c;
            return true;
        }
        path[n] = '\0';
    }
    return false;
}

static tnn_status check_chain(const tnn_sequential *s)
{
    char path[128] = "";
    const tnn_module *who = NULL;
    if (!find_unchained(s, path, sizeof path, &who)) return TNN_OK;
    char d[96];
    return tnn_error(TNN_ERR_STATE, "sequential backward: child %s (%s) has run a forward of its own since the "
                     "sequential's forward; run the sequential's forward again (this backward changed nothing)", path,
                     tnn_module_describe(who, d, sizeof d));
}

/* Whether a backward of c that succeeded may have added to parameter gradients: a
 * module that takes part in gradients (requires_grad: the flag its backward obeys) and
 * has parameters to enumerate (a visit; a module without one has none: the built-in
 * activations, Softmax, Dropout, Dropout2d and Flatten, and any of the caller's so written);
 * inside a Sequential, any child. Read from the flags and the vtable only: visiting the
 * parameters would settle discarded gradients. */
static bool may_add_gradients(const tnn_module *c)
{
    if (tnn_is_sequential(c)) {
        const tnn_sequential *s = (const tnn_sequential *)c;
        for (int i = 0; i < s->count; i++)
            if (may_add_gradients(s->children[i])) return true;
        return false;
    }
    return c->requires_grad && c->vt->visit;
}

static tnn_status seq_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_sequential *s = (tnn_sequential *)m;
    tnn_status cst = check_chain(s);
    if (cst) return cst;
    /* The input may be a child's dx from a backward of that child alone; the first child
     * still reads it, so no child writes its dx there. */
    tnn_span_guard input;
    tnn_span_guard_push(&input, s->in, s->in_n);
    const tnn_tensor *cur = dy;
    tnn_status st = TNN_OK;
    for (int i = s->count - 1; i >= 0 && st == TNN_OK; i--) {
        const tnn_tensor *next = cur;
        /* The first child's dL/dx is only needed if the caller asked for it. */
        if (overwrite_backward(s, i) && (i > 0 || dx)) st = tnn_activation_backward_inplace(s->children[i], (tnn_tensor *)cur);
        else st = tnn_module_backward(s->children[i], cur, (i > 0 || dx) ? &next : NULL);
        if (st) {
            /* a failure halfway (out of memory for a dx, a dy the child refuses): say what
             * went in, from the first child after this one whose gradients did */
            int added = i + 1;
            while (added < s->count && !may_add_gradients(s->children[added])) added++;
            if (added == s->count) st = in_child(i, st);
            else
                st = tnn_error(st, "child %d: %s (the children after it, from child %d on, had already added their "
                               "parameter gradients: zero them before running this backward again)", i,
                               tnn_last_error(), added);
        }
        cur = next;
    }
    tnn_span_guard_pop(&input);
    if (st) return st;
    if (dx) *dx = cur;
    return TNN_OK;
}

static tnn_status seq_visit(tnn_module *m, const char *prefix, tnn_visit_fn fn, void *ctx)
{
    tnn_sequential *s = (tnn_sequential *)m;
    for (int i = 0; i < s->count; i++) {
        char p[256];
        int n = snprintf(p, sizeof p, "%s%d.", prefix, i);
        if (n < 0 || (size_t)n >= sizeof p) return tnn_error(TNN_ERR_ARG, "sequential: name prefix too long: %s", prefix);
        tnn_status st = tnn_module_visit(s->children[i], p, fn, ctx);
        if (st) return st;
    }
    return TNN_OK;
}

/* Pass on the mode that was set, and only that one: switching to evaluation and back
 * must not unfreeze a child frozen on its own, nor freezing change a training mode. */
void tnn_sequential_pass_on(tnn_module *m, bool training_changed, bool grad_changed)
{
    tnn_sequential *s = (tnn_sequential *)m;
    for (int i = 0; i < s->count; i++) {
        tnn_module *c = s->children[i];
        if (training_changed) c->training = m->training;
        if (grad_changed) c->requires_grad = m->requires_grad;
        tnn_module_modes_set(c, training_changed, grad_changed);
    }
}

/* Called by a container written outside the library, which sets both modes at once. */
static void seq_on_mode_change(tnn_module *m) { tnn_sequential_pass_on(m, true, true); }

static void seq_discard_grad(tnn_module *m)
{
    tnn_sequential *s = (tnn_sequential *)m;
    for (int i = 0; i < s->count; i++) tnn_module_discard_grad(s->children[i]);
}

static void seq_describe(const tnn_module *m, char *buf, size_t len)
{
    int n = ((const tnn_sequential *)m)->count;
    snprintf(buf, len, "sequential(%d module%s)", n, n == 1 ? "" : "s");
}

static void seq_free(tnn_module *m)
{
    tnn_sequential *s = (tnn_sequential *)m;
    for (int i = 0; i < s->count; i++) {
        s->children[i]->container = NULL;
        tnn_module_free(s->children[i]);
    }
    tnn_free(s->children);
    tnn_free(s->outs);
    tnn_free(s);
}

static const tnn_module_vtable seq_vt = {
    .type_name = "sequential",
    .forward = seq_forward,
    .backward = seq_backward,
    .visit = seq_visit,
    .on_mode_change = seq_on_mode_change,
    .describe = seq_describe,
    .free = seq_free,
    .discard_grad = seq_discard_grad,
};

tnn_module *tnn_sequential_new(void)
{
    tnn_sequential *s = tnn_calloc(1, sizeof *s, "sequential");
    if (!s) return NULL;
    tnn_module_init(&s->base, &seq_vt);
    s->err_seq = tnn_error_seq();
    return &s->base;
}

bool tnn_is_sequential(const tnn_module *m) { return m && m->vt == &seq_vt; }

/* held_child: the child's mark (tnn_module_enter), released here before a free of the
 * child, and set to NULL then; may point to NULL. */
static tnn_status add_child(tnn_module *seq, tnn_module *child, tnn_module **held_child)
{
    if (!tnn_is_sequential(seq)) {
        const char *what = !seq ? "NULL" : seq->vt && seq->vt->type_name ? seq->vt->type_name : "a module without a type";
        /* Freed like any refused child, unless it has a place: it is the target, holds
         * the target, or sits in a container (whose it stays). */
        bool placed = !child || child->container;
        for (const tnn_module *up = seq; up && !placed; up = up->container) placed = up == child;
        /* (a module without a usable vtable cannot be freed: there is no telling how) */
        const bool freed = !placed && !tnn_module_vt_problem(child);
        if (freed) tnn_module_free(child);
        return tnn_error(TNN_ERR_ARG, "sequential_add: target is %s, not a sequential (the child was %s)", what,
                         !child  ? "NULL"
                         : freed ? "freed"
                         : placed ? "left as it was: it has a place"
                                  : "not freed: it has no usable vtable");
    }
    tnn_sequential *s = (tnn_sequential *)seq;
    if (!child) {
        /* A message set since the last add (or the creation) is likely the failed
         * constructor's; an older one is not quoted. */
        if (!tnn_last_error()[0] || tnn_error_seq() == s->err_seq)
            return tnn_error(TNN_ERR_ARG, "sequential_add: child %d is NULL", s->count);
        return tnn_error(TNN_ERR_ARG, "sequential_add: child %d is NULL (did its constructor fail? the last error "
                         "was: %s)", s->count, tnn_last_error());
    }
    if (child == seq) return tnn_error(TNN_ERR_ARG, "sequential_add: a container cannot contain itself (nothing was freed)");
    const char *bad = tnn_module_vt_problem(child);
    if (bad) /* not freed: without a vtable's free there is no telling how */
        return tnn_error(TNN_ERR_ARG, "sequential_add: child %d %s (it was not freed)", s->count, bad);
    /* A module has one place: it would be freed twice, and its buffers would alias. */
    for (int i = 0; i < s->count; i++)
        if (s->children[i] == child)
            return tnn_error(TNN_ERR_ARG, "sequential_add: child %d is already child %d of this sequential "
                             "(create a new module for each position; it was left where it is)", s->count, i);
    char d[96];
    if (child->container)
        return tnn_error(TNN_ERR_ARG, "sequential_add: child %d (%s) is already a child of another sequential "
                         "(create a new module for each position; it was left where it is)", s->count,
                         tnn_module_describe(child, d, sizeof d));
    for (const tnn_module *up = seq->container; up; up = up->container)
        if (up == child) /* forward would recurse without end */
            return tnn_error(TNN_ERR_ARG, "sequential_add: child %d (%s) contains this sequential (it was left "
                             "where it is)", s->count, tnn_module_describe(child, d, sizeof d));
    if (s->count == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        tnn_module **c = tnn_realloc(s->children, (size_t)cap * sizeof *c, "sequential children");
        if (c) s->children = c; /* room for cap children; cap itself grows once outs has too */
        const tnn_tensor **o = c ? tnn_realloc(s->outs, (size_t)cap * sizeof *o, "sequential outputs") : NULL;
        if (!o) {
            if (*held_child) tnn_module_leave(*held_child);
            *held_child = NULL;
            tnn_module_free(child);
            return tnn_error(TNN_ERR_NOMEM, "sequential_add: %s (the child was freed)", tnn_last_error());
        }
        s->outs = o;
        s->cap = cap;
    }
    /* The container's training mode; frozen if the container is (a frozen child stays frozen). */
    const bool freeze = !seq->requires_grad;
    child->training = seq->training;
    if (freeze) child->requires_grad = false;
    tnn_module_modes_set(child, true, freeze);
    child->container = seq;
    s->children[s->count++] = child;
    seq->has_output = false; /* a backward goes through the chain of the last forward, which this one lacks */
    return TNN_OK;
}

tnn_status tnn_sequential_add(tnn_module *seq, tnn_module *child)
{
    tnn_module *held_seq, *held_child = NULL;
    if (!tnn_is_sequential(seq)) return add_child(seq, child, &held_child); /* refused there */
    /* Both models are this thread's for the add: the child may be another thread's
     * model, running (its mark is on itself, or on its own container). */
    tnn_status st = tnn_module_enter(seq, "add", &held_seq);
    if (!st && child && !tnn_module_vt_problem(child)) {
        st = tnn_module_enter(child, "add", &held_child);
        if (st) tnn_module_leave(held_seq);
    }
    if (st) /* the child stays as it was: it may be in use too */
        return tnn_error(st, "sequential_add: the sequential or the child is in use by another thread; a model is "
                         "used by one thread at a time (the child was not freed)");
    st = add_child(seq, child, &held_child);
    ((tnn_sequential *)seq)->err_seq = tnn_error_seq();
    if (held_child) tnn_module_leave(held_child);
    tnn_module_leave(held_seq);
    return st;
}

int tnn_sequential_len(const tnn_module *seq)
{
    return tnn_is_sequential(seq) ? ((const tnn_sequential *)seq)->count : -1;
}

tnn_module *tnn_sequential_get(tnn_module *seq, int i)
{
    if (!tnn_is_sequential(seq)) return NULL;
    tnn_sequential *s = (tnn_sequential *)seq;
    return i >= 0 && i < s->count ? s->children[i] : NULL;
}
