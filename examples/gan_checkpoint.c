/* Training checkpoints of the seed GAN (see gan_checkpoint.h). */
#include "gan_checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tnn_status gan_train_state_init(gan_train_state *s, gan_trainer *tr, int n_images, int batches)
{
    memset(s, 0, sizeof *s);
    s->tr = tr;
    s->n_images = n_images;
    s->batches = batches;
    s->order = malloc((size_t)(n_images > 0 ? n_images : 1) * sizeof *s->order);
    if (!s->order) return TNN_ERR_NOMEM;
    for (int i = 0; i < n_images; i++) s->order[i] = i;
    return gan_train_state_reserve(s, batches > 0 ? batches : 1);
}

void gan_train_state_free(gan_train_state *s)
{
    if (!s) return;
    free(s->order);
    free(s->hist);
    s->order = NULL;
    s->hist = NULL;
}

tnn_status gan_train_state_reserve(gan_train_state *s, int64_t rows)
{
    if (rows <= s->cap_hist) return TNN_OK;
    int64_t cap = s->cap_hist ? s->cap_hist : 1;
    while (cap < rows) cap *= 2;
    if ((uint64_t)cap > SIZE_MAX / (GAN_HIST_COLS * sizeof(float))) return TNN_ERR_NOMEM;
    float *h = realloc(s->hist, (size_t)cap * GAN_HIST_COLS * sizeof(float));
    if (!h) return TNN_ERR_NOMEM;
    s->hist = h;
    s->cap_hist = cap;
    return TNN_OK;
}

void gan_train_state_record(gan_train_state *s)
{
    if (s->n_hist >= s->cap_hist) return; /* the caller reserves each epoch's rows */
    float *row = s->hist + s->n_hist * GAN_HIST_COLS;
    row[GAN_HIST_D_LOSS] = s->tr->d_loss;
    row[GAN_HIST_G_LOSS] = s->tr->g_loss;
    row[GAN_HIST_D_X] = s->tr->d_real_mean;
    row[GAN_HIST_D_G_Z] = s->tr->d_fake_mean;
    s->n_hist++;
}

/* ---------------- the tensor list ---------------- */

/* The loose variables, as the I64/F32 values the file holds. */
typedef struct scratch {
    int64_t rng_state, rng_inc, has_spare, epoch, batch;
    float spare;
    int64_t *order; /* [n_images] */
} scratch;

static void msg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Everything a checkpoint holds, in file order; hist_rows rows of s->hist. */
static tnn_tensor_list *build_list(gan_train_state *s, scratch *sc, int64_t hist_rows)
{
    tnn_tensor_list *l = tnn_tensor_list_new();
    if (!l) return NULL;
    tnn_status st = tnn_tensor_list_add_module(l, s->tr->generator, GAN_CHECKPOINT_GENERATOR);
    if (!st) st = tnn_tensor_list_add_module(l, s->tr->discriminator, "discriminator." GAN_PREFIX);
    if (!st) st = tnn_tensor_list_add_optimizer(l, s->tr->opt_g, "optimizer_g.");
    if (!st) st = tnn_tensor_list_add_optimizer(l, s->tr->opt_d, "optimizer_d.");
    if (!st) st = tnn_tensor_list_add(l, "rng.state", TNN_I64, &sc->rng_state, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "rng.inc", TNN_I64, &sc->rng_inc, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "rng.has_spare", TNN_I64, &sc->has_spare, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "rng.spare", TNN_F32, &sc->spare, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "train.epoch", TNN_I64, &sc->epoch, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "train.batch", TNN_I64, &sc->batch, 0, NULL);
    if (!st) st = tnn_tensor_list_add(l, "train.order", TNN_I64, sc->order, 1, (int[]){s->n_images});
    if (!st) st = tnn_tensor_list_add(l, "train.losses", TNN_F32, s->hist, 2, (int[]){(int)hist_rows, GAN_HIST_COLS});
    if (st) {
        tnn_tensor_list_free(l);
        return NULL;
    }
    return l;
}

tnn_status gan_checkpoint_save(const char *path, gan_train_state *s, const tnn_metadata *md, char *err, size_t errlen)
{
    if (s->n_hist > INT32_MAX) {
        msg(err, errlen, "%s: %lld batches of history do not fit a checkpoint", path, (long long)s->n_hist);
        return TNN_ERR_ARG;
    }
    scratch sc;
    memset(&sc, 0, sizeof sc);
    memcpy(&sc.rng_state, &s->rng.state, sizeof sc.rng_state);
    memcpy(&sc.rng_inc, &s->rng.inc, sizeof sc.rng_inc);
    sc.has_spare = s->rng.has_spare;
    sc.spare = s->rng.spare;
    sc.epoch = s->epoch;
    sc.batch = s->batch;
    sc.order = malloc((size_t)s->n_images * sizeof *sc.order);
    tnn_tensor_list *l = sc.order ? build_list(s, &sc, s->n_hist) : NULL;
    tnn_status st = TNN_ERR_NOMEM;
    if (l) {
        for (int i = 0; i < s->n_images; i++) sc.order[i] = s->order[i];
        st = tnn_safetensors_save(path, l, md);
        if (st) msg(err, errlen, "%s", tnn_last_error());
    } else {
        msg(err, errlen, "%s: out of memory while preparing the checkpoint", path);
    }
    tnn_tensor_list_free(l);
    free(sc.order);
    return st;
}

/* An optimizer's step count: "optimizer_g.step", "optimizer_d.<param>.step", ... */
static bool is_step_count(const char *name)
{
    size_t n = strlen(name);
    return (!strncmp(name, "optimizer_g.", 12) || !strncmp(name, "optimizer_d.", 12)) && n >= 16 &&
           !strcmp(name + n - 5, ".step");
}

/* A scalar of the given dtype, by name. */
static bool read_scalar(const tnn_safetensors *st, const char *name, tnn_dtype dt, void *out)
{
    const tnn_st_tensor *t = tnn_safetensors_find(st, name);
    if (!t || t->dtype != dt || t->count != 1) return false;
    memcpy(out, t->data, tnn_dtype_size(dt));
    return true;
}

bool gan_checkpoint_progress(const tnn_safetensors *st, int64_t *epochs_done, long *epochs_planned)
{
    const tnn_metadata *md = tnn_safetensors_metadata(st);
    const char *fmt = tnn_metadata_get(md, "format"), *planned = tnn_metadata_get(md, "n_epochs");
    if (!fmt || strcmp(fmt, GAN_CHECKPOINT_FORMAT) != 0 || !planned) return false;
    if (!read_scalar(st, "train.epoch", TNN_I64, epochs_done)) return false;
    char *end;
    errno = 0;
    *epochs_planned = strtol(planned, &end, 10);
    /* garbled (a damaged file): not known, so the caller keeps it rather than replacing it */
    return !errno && end != planned && !*end && *epochs_planned >= 1 && *epochs_done >= 0 &&
           *epochs_done <= *epochs_planned;
}

tnn_status gan_checkpoint_restore(const tnn_safetensors *st, const char *what, gan_train_state *s, char *err,
                                  size_t errlen)
{
    /* 1. the loose variables, checked before anything is copied into s */
    scratch sc;
    memset(&sc, 0, sizeof sc);
    const char *names[6] = {"rng.state", "rng.inc", "rng.has_spare", "rng.spare", "train.epoch", "train.batch"};
    void *dst[6] = {&sc.rng_state, &sc.rng_inc, &sc.has_spare, &sc.spare, &sc.epoch, &sc.batch};
    for (int k = 0; k < 6; k++) {
        tnn_dtype dt = k == 3 ? TNN_F32 : TNN_I64;
        if (!read_scalar(st, names[k], dt, dst[k])) {
            msg(err, errlen, "%s: not a mnist_gan checkpoint: no %s scalar '%s'", what, tnn_dtype_name(dt), names[k]);
            return TNN_ERR_FORMAT;
        }
    }
    if (sc.has_spare != 0 && sc.has_spare != 1) {
        msg(err, errlen, "%s: rng.has_spare is %lld, expected 0 or 1", what, (long long)sc.has_spare);
        return TNN_ERR_FORMAT;
    }
    if (sc.has_spare && !isfinite(sc.spare)) { /* a normal draw is always finite */
        msg(err, errlen, "%s: rng.spare is %s; a normal value drawn by the generator is finite", what,
            isnan(sc.spare) ? "NaN" : "infinite");
        return TNN_ERR_FORMAT;
    }
    if (!(sc.rng_inc & 1)) {
        msg(err, errlen, "%s: rng.inc is even; PCG32 needs an odd increment", what);
        return TNN_ERR_FORMAT;
    }
    if (sc.epoch < 0 || sc.batch < 0 || sc.batch >= s->batches || sc.epoch > INT32_MAX / (s->batches > 0 ? s->batches : 1)) {
        msg(err, errlen, "%s: position epoch %lld, batch %lld is out of range (%d batches per epoch)", what,
            (long long)sc.epoch, (long long)sc.batch, s->batches);
        return TNN_ERR_FORMAT;
    }
    int64_t rows = sc.epoch * s->batches + sc.batch;
    const tnn_st_tensor *lt = tnn_safetensors_find(st, "train.losses");
    if (!lt || lt->dtype != TNN_F32 || lt->ndim != 2 || lt->shape[0] != rows || lt->shape[1] != GAN_HIST_COLS) {
        msg(err, errlen, "%s: train.losses should be F32 [%lld x %d] for epoch %lld, batch %lld", what,
            (long long)rows, GAN_HIST_COLS, (long long)sc.epoch, (long long)sc.batch);
        return TNN_ERR_FORMAT;
    }
    for (int64_t i = 0; i < rows * GAN_HIST_COLS; i++) { /* the losses of batches that trained: finite */
        float v;
        memcpy(&v, (const char *)lt->data + (size_t)i * sizeof v, sizeof v);
        if (!isfinite(v)) {
            msg(err, errlen, "%s: train.losses row %lld, column %lld is %s; the losses of a checkpointed run are "
                "finite", what, (long long)(i / GAN_HIST_COLS), (long long)(i % GAN_HIST_COLS), isnan(v) ? "NaN" : "infinite");
            return TNN_ERR_FORMAT;
        }
    }
    /* Both optimizers take one step per batch trained, and update every parameter at
     * each: their own counts and every parameter's ("optimizer_g.<param>.step") equal
     * the number of batches trained. */
    for (int i = 0; i < tnn_safetensors_count(st); i++) {
        const tnn_st_tensor *t = tnn_safetensors_get(st, i);
        int64_t n;
        if (!is_step_count(t->name) || t->dtype != TNN_I64 || t->count != 1) continue; /* the copy names a wrong dtype */
        memcpy(&n, t->data, sizeof n);
        if (n != rows) {
            msg(err, errlen, "%s: %s is %lld, but the run has trained %lld batches (epoch %lld, batch %lld), one step "
                "each", what, t->name, (long long)n, (long long)rows, (long long)sc.epoch, (long long)sc.batch);
            return TNN_ERR_FORMAT;
        }
    }
    const tnn_st_tensor *ot = tnn_safetensors_find(st, "train.order");
    if (!ot || ot->dtype != TNN_I64 || ot->ndim != 1 || ot->shape[0] != s->n_images) {
        msg(err, errlen, "%s: train.order should be I64 [%d], the data set's size", what, s->n_images);
        return TNN_ERR_FORMAT;
    }
    sc.order = malloc((size_t)s->n_images * sizeof *sc.order);
    unsigned char *seen = calloc((size_t)s->n_images + 1, 1);
    tnn_status status = TNN_ERR_NOMEM;
    tnn_tensor_list *l = NULL;
    if (!sc.order || !seen || gan_train_state_reserve(s, rows > 0 ? rows : 1)) {
        msg(err, errlen, "%s: out of memory", what);
        goto done;
    }
    memcpy(sc.order, ot->data, ot->nbytes);
    status = TNN_ERR_FORMAT;
    for (int i = 0; i < s->n_images; i++) {
        int64_t v = sc.order[i];
        if (v < 0 || v >= s->n_images || seen[v]) {
            msg(err, errlen, "%s: train.order is not a permutation of 0..%d (entry %d is %lld)", what,
                s->n_images - 1, i, (long long)v);
            goto done;
        }
        seen[v] = 1;
    }
    /* 2. everything, by name, dtype and shape; nothing is copied unless all match */
    if (!(l = build_list(s, &sc, rows))) {
        status = TNN_ERR_NOMEM;
        msg(err, errlen, "%s: out of memory", what);
        goto done;
    }
    /* A checkpoint of libtinynn 0.2 has no per-parameter step counts: those entries go
     * last in `view`, which shares l's array (l still frees every name), are not
     * copied, and are set to the batches trained (as above). The library would give
     * them the optimizer's count at the next step anyway (optim.h), but a checkpoint
     * written before that step must already hold the right counts. A file with some of
     * them but not all is damaged: refused. */
    tnn_tensor_list view = *l;
    int counts = 0;
    const char *absent = NULL;
    for (int i = 0; i < view.count;) {
        const char *name = view.items[i].name;
        if (!is_step_count(name) || !strchr(strchr(name, '.') + 1, '.')) { /* not a parameter's count */
            i++;
            continue;
        }
        counts++;
        if (tnn_safetensors_find(st, name)) {
            i++;
            continue;
        }
        if (!absent) absent = name;
        tnn_named_tensor t = view.items[i];
        memmove(&view.items[i], &view.items[i + 1], (size_t)(view.count - i - 1) * sizeof t);
        view.items[--view.count] = t;
    }
    if (absent && l->count - view.count != counts) {
        msg(err, errlen, "%s: has Adam step counts for %d parameters but not for '%s' (%d missing); a checkpoint "
            "has all of them, or none (libtinynn 0.2)", what, counts - (l->count - view.count), absent,
            l->count - view.count);
        status = TNN_ERR_FORMAT;
        goto done;
    }
    if ((status = tnn_safetensors_copy_into(st, &view, true)) != TNN_OK) {
        msg(err, errlen, "%s", tnn_last_error());
        goto done;
    }
    for (int i = view.count; i < l->count; i++) *(int64_t *)l->items[i].data = rows;
    memcpy(&s->rng.state, &sc.rng_state, sizeof s->rng.state);
    memcpy(&s->rng.inc, &sc.rng_inc, sizeof s->rng.inc);
    s->rng.has_spare = (int)sc.has_spare;
    s->rng.spare = sc.spare;
    for (int i = 0; i < s->n_images; i++) s->order[i] = (int)sc.order[i];
    s->epoch = sc.epoch;
    s->batch = sc.batch;
    s->n_hist = rows;
    status = TNN_OK;
done:
    tnn_tensor_list_free(l);
    free(seen);
    free(sc.order);
    return status;
}

/* ---------------- checks ---------------- */

typedef struct nonfinite_ctx {
    char *name;
    size_t namelen, index;
    float value;
    bool found;
} nonfinite_ctx;

/* Visitor: stop the walk (with a non-OK status) at the first non-finite float. */
static tnn_status scan_one(void *ctx, const tnn_named_tensor *t)
{
    nonfinite_ctx *c = ctx;
    if (t->dtype != TNN_F32) return TNN_OK;
    const float *x = t->data;
    for (size_t i = 0; i < t->count; i++) {
        if (!isfinite(x[i])) {
            snprintf(c->name, c->namelen, "%s", t->name);
            c->index = i;
            c->value = x[i];
            c->found = true;
            return TNN_ERR_NUMERIC;
        }
    }
    return TNN_OK;
}

/* The walks of one module, or of the trainer (both networks and both optimizers'
 * states), stopping at the first tensor element visitor fn reports (in c). The visitors
 * build each name on the stack: no allocation, nothing can fail. */
static bool module_find(tnn_module *m, const char *prefix, tnn_visit_fn fn, nonfinite_ctx *c)
{
    (void)tnn_module_visit(m, prefix, fn, c);
    return c->found;
}

static bool trainer_find(gan_trainer *tr, tnn_visit_fn fn, nonfinite_ctx *c)
{
    if (!tnn_module_visit(tr->generator, GAN_CHECKPOINT_GENERATOR, fn, c) &&
        !tnn_module_visit(tr->discriminator, "discriminator." GAN_PREFIX, fn, c) &&
        !tnn_optimizer_visit_state(tr->opt_g, "optimizer_g.", fn, c))
        tnn_optimizer_visit_state(tr->opt_d, "optimizer_d.", fn, c);
    return c->found;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Visitor: stop at the first value no training writes: a negative (or NaN) variance,
 * second moment or batch count. */
static tnn_status negative_one(void *ctx, const tnn_named_tensor *t)
{
    nonfinite_ctx *c = ctx;
    size_t bad = t->count;
    if (t->dtype == TNN_F32 && (ends_with(t->name, ".running_var") || ends_with(t->name, ".exp_avg_sq"))) {
        const float *x = t->data;
        for (size_t i = 0; i < t->count && bad == t->count; i++)
            if (!(x[i] >= 0.0f)) bad = i;
    } else if (t->dtype == TNN_I64 && ends_with(t->name, ".num_batches_tracked")) {
        const int64_t *x = t->data;
        for (size_t i = 0; i < t->count && bad == t->count; i++)
            if (x[i] < 0) bad = i;
    }
    if (bad == t->count) return TNN_OK;
    snprintf(c->name, c->namelen, "%s", t->name);
    c->index = bad;
    c->found = true;
    return TNN_ERR_NUMERIC;
}

bool gan_module_find_nonfinite(tnn_module *m, const char *prefix, char *name, size_t namelen, size_t *index,
                               float *value)
{
    nonfinite_ctx c = {name, namelen, 0, 0.0f, false};
    if (!module_find(m, prefix, scan_one, &c)) return false;
    if (index) *index = c.index;
    if (value) *value = c.value;
    return true;
}

bool gan_trainer_find_nonfinite(gan_trainer *tr, char *name, size_t namelen, size_t *index)
{
    nonfinite_ctx c = {name, namelen, 0, 0.0f, false};
    if (!trainer_find(tr, scan_one, &c)) return false;
    if (index) *index = c.index;
    return true;
}

bool gan_module_find_negative(tnn_module *m, const char *prefix, char *name, size_t namelen, size_t *index)
{
    nonfinite_ctx c = {name, namelen, 0, 0.0f, false};
    if (!module_find(m, prefix, negative_one, &c)) return false;
    if (index) *index = c.index;
    return true;
}

bool gan_trainer_find_negative(gan_trainer *tr, char *name, size_t namelen, size_t *index)
{
    nonfinite_ctx c = {name, namelen, 0, 0.0f, false};
    if (!trainer_find(tr, negative_one, &c)) return false;
    if (index) *index = c.index;
    return true;
}

uint64_t gan_data_fingerprint(const tnn_idx *idx)
{
    /* FNV-1a over the dimensions, then a 64-bit multiply-xorshift over 8-byte words (the
     * 47 MB of MNIST in a few milliseconds). */
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < idx->ndim; i++) h = (h ^ (uint64_t)idx->dims[i]) * 1099511628211ull;
    size_t n = idx->count, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = 0; /* little-endian on every host, so the value is portable */
        for (int b = 7; b >= 0; b--) w = (w << 8) | idx->data[i + (size_t)b];
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ idx->data[i]) * 1099511628211ull;
    return h;
}
