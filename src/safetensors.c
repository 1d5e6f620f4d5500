/* safetensors files: metadata, tensor lists, a validating reader, an atomic writer,
 * and loading/saving modules by state_dict name. Format and checks: docs/safetensors.md. */
#define _POSIX_C_SOURCE 200809L
#include "atomic_file_impl.h"
#include "json_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ byte order -- */

static bool host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* dst <- count little-endian elements of dsize bytes at src (src may be unaligned). */
static void copy_from_le(void *dst, const void *src, size_t count, size_t dsize)
{
    if (host_is_le()) {
        memcpy(dst, src, count * dsize);
        return;
    }
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < count; i++, d += dsize, s += dsize)
        for (size_t k = 0; k < dsize; k++) d[k] = s[dsize - 1 - k];
}

static uint64_t read_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static void put_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* Writes count host-order elements as little-endian. */
static tnn_status write_le(tnn_atomic_file *f, const void *data, size_t count, size_t dsize)
{
    if (host_is_le()) return tnn_atomic_write(f, data, count * dsize);
    unsigned char buf[4096];
    const unsigned char *s = data;
    size_t per = sizeof buf / dsize;
    tnn_status st = TNN_OK;
    for (size_t i = 0; i < count && !st; i += per) {
        size_t n = count - i < per ? count - i : per;
        copy_from_le(buf, s + i * dsize, n, dsize); /* a byte swap either way */
        st = tnn_atomic_write(f, buf, n * dsize);
    }
    return st;
}

/* -------------------------------------------------------------------- metadata -- */

struct tnn_metadata {
    char **kv;      /* kv[2i] = key, kv[2i+1] = value */
    int count, cap;
};

tnn_metadata *tnn_metadata_new(void)
{
    return tnn_calloc(1, sizeof(tnn_metadata), "metadata");
}

void tnn_metadata_free(tnn_metadata *md)
{
    if (!md) return;
    for (int i = 0; i < 2 * md->count; i++) tnn_free(md->kv[i]);
    tnn_free(md->kv);
    tnn_free(md);
}

/* Appends without looking for an existing key (keys of a parsed file are distinct). */
static tnn_status md_append(tnn_metadata *md, const char *key, const char *value)
{
    if (md->count == md->cap) {
        if (md->cap > INT32_MAX / 4) return tnn_error(TNN_ERR_NOMEM, "metadata: too many entries");
        int cap = md->cap ? 2 * md->cap : 8;
        char **kv = tnn_realloc(md->kv, 2 * (size_t)cap * sizeof *kv, "metadata");
        if (!kv) return TNN_ERR_NOMEM;
        md->kv = kv;
        md->cap = cap;
    }
    char *k = tnn_strdup(key), *v = tnn_strdup(value);
    if (!k || !v) {
        tnn_free(k);
        tnn_free(v);
        return TNN_ERR_NOMEM;
    }
    md->kv[2 * md->count] = k;
    md->kv[2 * md->count + 1] = v;
    md->count++;
    return TNN_OK;
}

tnn_status tnn_metadata_set(tnn_metadata *md, const char *key, const char *value)
{
    if (!md || !key || !value) return tnn_error(TNN_ERR_ARG, "metadata_set: NULL %s", !md ? "metadata" : !key ? "key" : "value");
    for (int i = 0; i < md->count; i++) {
        if (strcmp(md->kv[2 * i], key) == 0) {
            char *v = tnn_strdup(value);
            if (!v) return TNN_ERR_NOMEM;
            tnn_free(md->kv[2 * i + 1]);
            md->kv[2 * i + 1] = v;
            return TNN_OK;
        }
    }
    return md_append(md, key, value);
}

const char *tnn_metadata_get(const tnn_metadata *md, const char *key)
{
    if (!md || !key) return NULL;
    for (int i = 0; i < md->count; i++)
        if (strcmp(md->kv[2 * i], key) == 0) return md->kv[2 * i + 1];
    return NULL;
}

int tnn_metadata_count(const tnn_metadata *md) { return md ? md->count : 0; }

const char *tnn_metadata_key(const tnn_metadata *md, int i)
{
    return md && i >= 0 && i < md->count ? md->kv[2 * i] : NULL;
}

const char *tnn_metadata_value(const tnn_metadata *md, int i)
{
    return md && i >= 0 && i < md->count ? md->kv[2 * i + 1] : NULL;
}

tnn_metadata *tnn_metadata_clone(const tnn_metadata *md)
{
    if (!md) return NULL;
    tnn_metadata *c = tnn_metadata_new();
    if (!c) return NULL;
    for (int i = 0; i < md->count; i++) {
        if (md_append(c, md->kv[2 * i], md->kv[2 * i + 1])) {
            tnn_metadata_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---------------------------------------------------------------- tensor lists -- */

tnn_tensor_list *tnn_tensor_list_new(void)
{
    return tnn_calloc(1, sizeof(tnn_tensor_list), "tensor list");
}

/* Grows l->items to hold `extra` more entries. The list has no capacity field, so it
 * is sized exactly; lists are short (a few hundred entries at most). */
static tnn_status list_reserve(tnn_tensor_list *l, int extra)
{
    if (extra <= 0) return TNN_OK;
    if (l->count > INT32_MAX - extra) return tnn_error(TNN_ERR_ARG, "tensor list: too many entries");
    tnn_named_tensor *items = tnn_realloc(l->items, (size_t)(l->count + extra) * sizeof *items, "tensor list");
    if (!items) return TNN_ERR_NOMEM;
    l->items = items;
    return TNN_OK;
}

/* A name the list already holds, or NULL. Lists are short: a linear search. */
static const char *list_has_name(const tnn_tensor_list *l, const char *name)
{
    for (int i = 0; i < l->count; i++)
        if (l->items[i].name && strcmp(l->items[i].name, name) == 0) return l->items[i].name;
    return NULL;
}

tnn_status tnn_tensor_list_add(tnn_tensor_list *l, const char *name, tnn_dtype dt, void *data, int ndim, const int *shape)
{
    if (!l || !name) return tnn_error(TNN_ERR_ARG, "tensor_list_add: NULL %s", !l ? "list" : "name");
    /* the names a save would refuse, refused here where the mistake is made */
    if (!*name) return tnn_error(TNN_ERR_ARG, "tensor_list_add: the name is empty");
    if (strcmp(name, "__metadata__") == 0)
        return tnn_error(TNN_ERR_ARG, "tensor_list_add: \"__metadata__\" is reserved and cannot name a tensor");
    if (!tnn_utf8_valid(name, strlen(name)))
        return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': the name is not valid UTF-8", name);
    if (list_has_name(l, name))
        return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': the list already holds a tensor of that name", name);
    if (!tnn_dtype_size(dt)) return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': unknown dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > TNN_MAX_DIMS || (ndim > 0 && !shape))
        return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': %d dimensions%s, supported 0..%d", name, ndim,
                         ndim > 0 && !shape ? " with a NULL shape" : "", TNN_MAX_DIMS);
    tnn_named_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.data = data;
    t.ndim = ndim;
    t.count = 1;
    for (int i = 0; i < TNN_MAX_DIMS; i++) {
        t.shape[i] = i < ndim ? shape[i] : 1;
        if (i >= ndim) continue;
        if (shape[i] < 0) return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': dimension %d is %d", name, i, shape[i]);
        if (shape[i] && t.count > SIZE_MAX / 8 / (size_t)shape[i])
            return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': shape too large", name);
        t.count *= (size_t)shape[i];
    }
    if (!data && t.count) return tnn_error(TNN_ERR_ARG, "tensor_list_add '%.100s': data is NULL", name);
    tnn_status st = list_reserve(l, 1);
    if (st) return st;
    t.name = tnn_strdup(name);
    if (!t.name) return TNN_ERR_NOMEM;
    l->items[l->count++] = t;
    return TNN_OK;
}

/* Moves every entry of src (owned names) to the end of l, then frees src. */
static tnn_status list_absorb(tnn_tensor_list *l, tnn_tensor_list *src)
{
    for (int i = 0; i < src->count; i++) {
        const char *dup = list_has_name(l, src->items[i].name);
        if (dup) {
            tnn_status e = tnn_error(TNN_ERR_ARG, "tensor list: the list already holds a tensor named '%.100s' "
                                     "(give this module or optimizer another prefix)", dup);
            tnn_tensor_list_free(src);
            return e;
        }
    }
    tnn_status st = list_reserve(l, src->count);
    if (st) {
        tnn_tensor_list_free(src);
        return st;
    }
    if (src->count) memcpy(l->items + l->count, src->items, (size_t)src->count * sizeof *src->items);
    l->count += src->count;
    tnn_free(src->items);
    tnn_free(src);
    return TNN_OK;
}

static tnn_status collect_one(void *ctx, const tnn_named_tensor *t)
{
    tnn_tensor_list *l = ctx;
    tnn_status st = list_reserve(l, 1);
    if (st) return st;
    char *name = tnn_strdup(t->name);
    if (!name) return TNN_ERR_NOMEM;
    l->items[l->count] = *t;
    l->items[l->count].name = name;
    l->count++;
    return TNN_OK;
}

tnn_status tnn_tensor_list_add_module(tnn_tensor_list *l, tnn_module *m, const char *prefix)
{
    if (!l || !m) return tnn_error(TNN_ERR_ARG, "tensor_list_add_module: NULL %s", !l ? "list" : "module");
    tnn_tensor_list *sd;
    tnn_status st = tnn_module_collect(m, prefix, false, &sd);
    return st ? st : list_absorb(l, sd);
}

tnn_status tnn_tensor_list_add_optimizer(tnn_tensor_list *l, tnn_optimizer *o, const char *prefix)
{
    if (!l || !o) return tnn_error(TNN_ERR_ARG, "tensor_list_add_optimizer: NULL %s", !l ? "list" : "optimizer");
    tnn_tensor_list *tmp = tnn_tensor_list_new();
    if (!tmp) return TNN_ERR_NOMEM;
    tnn_status st = tnn_optimizer_visit_state(o, prefix, collect_one, tmp);
    if (st) {
        tnn_tensor_list_free(tmp);
        return st;
    }
    return list_absorb(l, tmp);
}

tnn_status tnn_tensor_list_add_lr_scheduler(tnn_tensor_list *l, tnn_lr_scheduler *s, const char *prefix)
{
    if (!l || !s) return tnn_error(TNN_ERR_ARG, "tensor_list_add_lr_scheduler: NULL %s", !l ? "list" : "scheduler");
    tnn_tensor_list *tmp = tnn_tensor_list_new();
    if (!tmp) return TNN_ERR_NOMEM;
    tnn_status st = tnn_lr_scheduler_visit_state(s, prefix, collect_one, tmp);
    if (st) {
        tnn_tensor_list_free(tmp);
        return st;
    }
    return list_absorb(l, tmp);
}

/* ---------------------------------------------------------------------- reading -- */

struct tnn_safetensors {
    char *what;                 /* file name (or caller's label) for messages */
    unsigned char *buf;         /* the whole file */
    size_t len;
    char *strings;              /* decoded header strings; names point here */
    tnn_st_tensor *tensors;     /* header order */
    int count;
    const tnn_st_tensor **by_name; /* sorted by name, for find */
    tnn_metadata *md;
};

#define ST_MAX_JSON_VALUES (1u << 22) /* ~300k tensors; bounds the parser's memory */
#define ST_MAX_JSON_DEPTH 64

static tnn_status st_fail(const char *what, tnn_status s, const char *fmt, ...) TNN_PRINTF(3, 4);
static tnn_status st_fail(const char *what, tnn_status s, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tnn_error(s, "safetensors file '%.150s': %s", what, msg);
}

void tnn_safetensors_free(tnn_safetensors *st)
{
    if (!st) return;
    tnn_free(st->what);
    tnn_free(st->buf);
    tnn_free(st->strings);
    tnn_free(st->tensors);
    tnn_free(st->by_name);
    tnn_metadata_free(st->md);
    tnn_free(st);
}

static const char *const other_dtypes[] = {
    "BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F64", "U64", "C64",
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",
};

static tnn_status parse_dtype(const char *what, const char *name, const tnn_json_doc *d, const tnn_json *v, tnn_dtype *out)
{
    if (!v) return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has no \"dtype\"", name);
    if (v->type != TNN_JSON_STRING)
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': \"dtype\" is a JSON %s, not a string", name, tnn_json_type_name(v->type));
    const char *s = tnn_json_str(d, v);
    if (strcmp(s, "F32") == 0) { *out = TNN_F32; return TNN_OK; }
    if (strcmp(s, "I64") == 0) { *out = TNN_I64; return TNN_OK; }
    for (size_t i = 0; i < sizeof other_dtypes / sizeof *other_dtypes; i++)
        if (strcmp(s, other_dtypes[i]) == 0)
            return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has dtype %s; libtinynn reads only F32 and I64 "
                           "(convert it before saving, e.g. tensor.float())", name, s);
    return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has unknown dtype \"%.40s\"", name, s);
}

/* Fills t from its header entry `info` (checks everything but coverage). */
static tnn_status parse_tensor(const char *what, const tnn_json_doc *d, const tnn_json *info, const char *name,
                               uint64_t data_len, tnn_st_tensor *t, uint64_t *begin, uint64_t *end)
{
    if (info->type != TNN_JSON_OBJECT)
        return st_fail(what, TNN_ERR_FORMAT, "entry '%.100s' is a JSON %s, not a tensor description object", name, tnn_json_type_name(info->type));
    t->name = name;
    tnn_status s = parse_dtype(what, name, d, tnn_json_get(d, info, "dtype"), &t->dtype);
    if (s) return s;

    const tnn_json *shape = tnn_json_get(d, info, "shape");
    if (!shape) return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has no \"shape\"", name);
    if (shape->type != TNN_JSON_ARRAY)
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': \"shape\" is a JSON %s, not an array", name, tnn_json_type_name(shape->type));
    if (shape->count > TNN_ST_MAX_DIMS)
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has %u dimensions, at most %d are supported", name,
                       (unsigned)shape->count, TNN_ST_MAX_DIMS);
    t->ndim = (int)shape->count;
    uint64_t count = 1;
    bool overflow = false;
    int i = 0;
    for (const tnn_json *c = tnn_json_first(d, shape); c; c = tnn_json_sibling(d, shape, c), i++) {
        uint64_t dim;
        if (!tnn_json_u64(c, &dim) || dim > (uint64_t)INT64_MAX)
            return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': shape entry %d is not a non-negative integer", name, i);
        t->shape[i] = (int64_t)dim;
        if (dim && count > UINT64_MAX / dim) overflow = true;
        else count *= dim;
    }
    if (overflow) count = UINT64_MAX;

    const tnn_json *off = tnn_json_get(d, info, "data_offsets");
    if (!off) return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s' has no \"data_offsets\"", name);
    const tnn_json *b = tnn_json_first(d, off);
    const tnn_json *e = b ? tnn_json_sibling(d, off, b) : NULL;
    if (off->type != TNN_JSON_ARRAY || off->count != 2 || !tnn_json_u64(b, begin) || !tnn_json_u64(e, end))
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': \"data_offsets\" must be [begin, end], two non-negative integers", name);
    if (*begin > *end)
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                       name, *begin, *end);
    if (*end > data_len)
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': data_offsets [%" PRIu64 ", %" PRIu64 "] are out of range: "
                       "the data area has %" PRIu64 " bytes", name, *begin, *end, data_len);
    size_t dsize = tnn_dtype_size(t->dtype);
    uint64_t span = *end - *begin;
    if (count > UINT64_MAX / dsize) overflow = true;
    if (overflow || count * dsize != span) {
        char sh[160];
        size_t n = 0;
        sh[0] = '\0';
        for (int k = 0; k < t->ndim && n < sizeof sh; k++)
            n += (size_t)snprintf(sh + n, sizeof sh - n, k ? ", %" PRId64 : "%" PRId64, t->shape[k]);
        if (overflow)
            return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': shape [%s] is too large for its %" PRIu64 " bytes of data",
                           name, sh, span);
        return st_fail(what, TNN_ERR_FORMAT, "tensor '%.100s': shape [%s] of %s needs %" PRIu64 " bytes but data_offsets "
                       "[%" PRIu64 ", %" PRIu64 "] hold %" PRIu64, name, sh, tnn_dtype_name(t->dtype),
                       count * dsize, *begin, *end, span);
    }
    t->count = (size_t)count;
    t->nbytes = (size_t)span;
    return TNN_OK;
}

typedef struct span_ref { uint64_t begin, end; int idx; } span_ref;

static int cmp_span(const void *a, const void *b)
{
    const span_ref *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_by_name(const void *a, const void *b)
{
    const tnn_st_tensor *x = *(const tnn_st_tensor *const *)a, *y = *(const tnn_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* The data area must be covered exactly: sorted by offsets, each tensor begins where
 * the previous one ended (the reference implementation's rule). */
static tnn_status check_coverage(tnn_safetensors *st, span_ref *spans, uint64_t data_len)
{
    qsort(spans, (size_t)st->count, sizeof *spans, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < st->count; i++) {
        const span_ref *s = &spans[i];
        const char *name = st->tensors[s->idx].name;
        if (s->begin > at)
            return st_fail(st->what, TNN_ERR_FORMAT, "bytes [%" PRIu64 ", %" PRIu64 ") of the data area belong to no tensor "
                           "(a gap before tensor '%.100s')", at, s->begin, name);
        if (s->begin < at) {
            const span_ref *p = &spans[i - 1];
            return st_fail(st->what, TNN_ERR_FORMAT, "tensor '%.100s' (data_offsets [%" PRIu64 ", %" PRIu64 "]) overlaps "
                           "tensor '%.100s' ([%" PRIu64 ", %" PRIu64 "])", name, s->begin, s->end,
                           st->tensors[p->idx].name, p->begin, p->end);
        }
        at = s->end;
    }
    if (at != data_len)
        return st_fail(st->what, TNN_ERR_FORMAT, "the data area has %" PRIu64 " bytes but the tensors cover only %" PRIu64
                       " (bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor)", data_len, at, at, data_len);
    return TNN_OK;
}

static tnn_status parse_header(tnn_safetensors *st, size_t hlen, tnn_json_doc *doc)
{
    const char *what = st->what;
    const unsigned char *data = st->buf + 8 + hlen;
    const uint64_t data_len = (uint64_t)(st->len - 8 - hlen);
    const tnn_json *root = tnn_json_root(doc);
    if (root->type != TNN_JSON_OBJECT)
        return st_fail(what, TNN_ERR_FORMAT, "the header is a JSON %s, not an object", tnn_json_type_name(root->type));

    st->md = tnn_metadata_new();
    if (!st->md) return TNN_ERR_NOMEM;
    int n = 0;
    for (const tnn_json *c = tnn_json_first(doc, root); c; c = tnn_json_sibling(doc, root, c)) {
        const char *key = tnn_json_key(doc, c);
        if (strlen(key) != c->key_len) return st_fail(what, TNN_ERR_FORMAT, "a tensor name contains a NUL character");
        if (strcmp(key, "__metadata__") != 0) { n++; continue; }
        if (c->type != TNN_JSON_OBJECT)
            return st_fail(what, TNN_ERR_FORMAT, "\"__metadata__\" is a JSON %s, not an object of strings", tnn_json_type_name(c->type));
        for (const tnn_json *m = tnn_json_first(doc, c); m; m = tnn_json_sibling(doc, c, m)) {
            const char *k = tnn_json_key(doc, m);
            if (m->type != TNN_JSON_STRING)
                return st_fail(what, TNN_ERR_FORMAT, "\"__metadata__\" entry '%.100s' is a JSON %s, not a string", k, tnn_json_type_name(m->type));
            if (strlen(k) != m->key_len || strlen(tnn_json_str(doc, m)) != m->v.s.len)
                return st_fail(what, TNN_ERR_FORMAT, "\"__metadata__\" entry '%.100s' contains a NUL character", k);
            tnn_status s = md_append(st->md, k, tnn_json_str(doc, m));
            if (s) return s;
        }
    }

    st->tensors = tnn_calloc((size_t)n, sizeof *st->tensors, "safetensors tensor table");
    span_ref *spans = tnn_calloc((size_t)n, sizeof *spans, "safetensors offsets");
    st->by_name = tnn_calloc((size_t)n, sizeof *st->by_name, "safetensors name index");
    tnn_status s = (!st->tensors || !spans || !st->by_name) ? TNN_ERR_NOMEM : TNN_OK;
    for (const tnn_json *c = tnn_json_first(doc, root); c && !s; c = tnn_json_sibling(doc, root, c)) {
        const char *name = tnn_json_key(doc, c);
        if (strcmp(name, "__metadata__") == 0) continue;
        tnn_st_tensor *t = &st->tensors[st->count];
        s = parse_tensor(what, doc, c, name, data_len, t, &spans[st->count].begin, &spans[st->count].end);
        if (s) break;
        t->data = data + spans[st->count].begin;
        spans[st->count].idx = st->count;
        st->by_name[st->count] = t;
        st->count++;
    }
    if (!s) s = check_coverage(st, spans, data_len);
    tnn_free(spans);
    if (s) return s;
    /* Names are distinct: the parser rejects duplicate keys. */
    qsort(st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_by_name);
    return TNN_OK;
}

/* Takes ownership of buf. */
static tnn_status parse_owned(unsigned char *buf, size_t len, const char *what, tnn_safetensors **out)
{
    *out = NULL;
    if (!what) what = "(memory)";
    tnn_safetensors *st = tnn_calloc(1, sizeof *st, "safetensors");
    if (!st) { tnn_free(buf); return TNN_ERR_NOMEM; }
    st->buf = buf;
    st->len = len;
    st->what = tnn_strdup(what);
    tnn_status s = st->what ? TNN_OK : TNN_ERR_NOMEM;
    uint64_t hlen = len >= 8 ? read_le64(buf) : 0;
    if (s) ;
    else if (len < 8)
        s = st_fail(what, TNN_ERR_FORMAT, "the file is %zu bytes, too short for the 8-byte header length", len);
    else if (hlen > TNN_ST_MAX_HEADER)
        s = st_fail(what, TNN_ERR_FORMAT, "header length %" PRIu64 " exceeds the limit of %u bytes (corrupt or not a safetensors file)",
                    hlen, TNN_ST_MAX_HEADER);
    else if (hlen > len - 8)
        s = st_fail(what, TNN_ERR_FORMAT, "header length %" PRIu64 " is larger than the rest of the file (%zu bytes; truncated?)",
                    hlen, len - 8);
    if (!s) {
        tnn_json_doc doc;
        char err[256];
        tnn_json_limits lim = {ST_MAX_JSON_DEPTH, ST_MAX_JSON_VALUES, true};
        s = tnn_json_parse((const char *)buf + 8, (size_t)hlen, lim, &doc, err, sizeof err);
        if (s) {
            s = st_fail(what, s, "the %" PRIu64 "-byte header is not valid JSON: %s", hlen, err);
        } else {
            s = parse_header(st, (size_t)hlen, &doc);
            st->strings = doc.strings; /* tensor names point into it */
            doc.strings = NULL;
            tnn_json_free(&doc);
        }
    }
    if (s) {
        tnn_safetensors_free(st);
        return s;
    }
    *out = st;
    return TNN_OK;
}

tnn_safetensors *tnn_safetensors_parse(const void *buf, size_t len, const char *what)
{
    if (!buf && len) { tnn_error(TNN_ERR_ARG, "safetensors_parse: buffer is NULL"); return NULL; }
    unsigned char *copy = tnn_malloc(len, "safetensors buffer");
    if (!copy) return NULL;
    if (len) memcpy(copy, buf, len);
    tnn_safetensors *st;
    parse_owned(copy, len, what, &st);
    return st;
}

static tnn_status read_file(const char *path, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tnn_error(TNN_ERR_IO, "cannot open safetensors file '%.200s': %s", path, strerror(errno));
    struct stat sb;
    tnn_status s = TNN_OK;
    if (fstat(fd, &sb) != 0) s = tnn_error(TNN_ERR_IO, "cannot stat '%.200s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) s = tnn_error(TNN_ERR_IO, "'%.200s' is not a regular file", path);
    else if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2)
        s = tnn_error(TNN_ERR_IO, "'%.200s' is too large to read (%lld bytes)", path, (long long)sb.st_size);
    size_t len = s ? 0 : (size_t)sb.st_size;
    unsigned char *buf = s ? NULL : tnn_malloc(len, "safetensors file contents");
    if (!s && !buf) s = TNN_ERR_NOMEM;
    for (size_t got = 0; !s && got < len;) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) s = tnn_error(TNN_ERR_IO, "reading '%.200s' failed: %s", path, strerror(errno));
        else if (r == 0) s = tnn_error(TNN_ERR_IO, "'%.200s' shrank while being read (%zu of %zu bytes)", path, got, len);
        else got += (size_t)r;
    }
    close(fd);
    if (s) {
        tnn_free(buf);
        return s;
    }
    *out = buf;
    *out_len = len;
    return TNN_OK;
}

static tnn_status load_file(const char *path, tnn_safetensors **out)
{
    *out = NULL;
    if (!path) return tnn_error(TNN_ERR_ARG, "safetensors_load: path is NULL");
    unsigned char *buf = NULL;
    size_t len = 0;
    tnn_status s = read_file(path, &buf, &len);
    return s ? s : parse_owned(buf, len, path, out);
}

tnn_safetensors *tnn_safetensors_load(const char *path)
{
    tnn_safetensors *st;
    load_file(path, &st);
    return st;
}

int tnn_safetensors_count(const tnn_safetensors *st) { return st ? st->count : 0; }

const tnn_st_tensor *tnn_safetensors_get(const tnn_safetensors *st, int i)
{
    return st && i >= 0 && i < st->count ? &st->tensors[i] : NULL;
}

static int cmp_name_key(const void *key, const void *elem)
{
    return strcmp((const char *)key, (*(const tnn_st_tensor *const *)elem)->name);
}

const tnn_st_tensor *tnn_safetensors_find(const tnn_safetensors *st, const char *name)
{
    if (!st || !name || !st->count) return NULL;
    const tnn_st_tensor *const *p = bsearch(name, st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_name_key);
    return p ? *p : NULL;
}

const tnn_metadata *tnn_safetensors_metadata(const tnn_safetensors *st) { return st ? st->md : NULL; }

/* ---------------------------------------------------------------------- writing -- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    tnn_status st;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->st) return;
    if (n > SIZE_MAX / 2 - b->n) { b->st = tnn_error(TNN_ERR_NOMEM, "safetensors header too large"); return; }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = tnn_realloc(b->p, cap, "safetensors header");
        if (!p) { b->st = TNN_ERR_NOMEM; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(strbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string as serde_json writes it: '"' and '\\' escaped, control characters as
 * \b \f \n \r \t or \u00XX, everything else (UTF-8 included) verbatim. */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, run, (size_t)(s - run));
        if (!c) break;
        char esc[8];
        switch (c) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\b': sb_puts(b, "\\b"); break;
        case '\f': sb_puts(b, "\\f"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); sb_puts(b, esc); break;
        }
        run = s + 1;
    }
    sb_put(b, "\"", 1);
}

static int cmp_item_name(const void *a, const void *b)
{
    const tnn_named_tensor *x = *(const tnn_named_tensor *const *)a, *y = *(const tnn_named_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Checks the list before anything is written. */
static tnn_status check_list(const char *path, const tnn_tensor_list *l, const tnn_metadata *md)
{
    for (int i = 0; i < l->count; i++) {
        const tnn_named_tensor *t = &l->items[i];
        const char *name = t->name;
        if (!name || !*name) return tnn_error(TNN_ERR_ARG, "saving '%.200s': tensor %d has no name", path, i);
        if (strcmp(name, "__metadata__") == 0)
            return tnn_error(TNN_ERR_ARG, "saving '%.200s': \"__metadata__\" is reserved and cannot name a tensor", path);
        if (!tnn_utf8_valid(name, strlen(name)))
            return tnn_error(TNN_ERR_ARG, "saving '%.200s': tensor name '%.100s' is not valid UTF-8", path, name);
        char why[128];
        if (tnn_record_problem(t, why, sizeof why))
            return tnn_error(TNN_ERR_ARG, "saving '%.200s': tensor '%.100s' %s", path, name, why);
    }
    for (int i = 0; md && i < md->count; i++)
        if (!tnn_utf8_valid(md->kv[2 * i], strlen(md->kv[2 * i])) || !tnn_utf8_valid(md->kv[2 * i + 1], strlen(md->kv[2 * i + 1])))
            return tnn_error(TNN_ERR_ARG, "saving '%.200s': metadata entry '%.100s' is not valid UTF-8", path, md->kv[2 * i]);
    if (l->count < 2) return TNN_OK;
    const tnn_named_tensor **sorted = tnn_malloc((size_t)l->count * sizeof *sorted, "name check");
    if (!sorted) return TNN_ERR_NOMEM;
    for (int i = 0; i < l->count; i++) sorted[i] = &l->items[i];
    qsort(sorted, (size_t)l->count, sizeof *sorted, cmp_item_name);
    tnn_status s = TNN_OK;
    for (int i = 1; i < l->count && !s; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            s = tnn_error(TNN_ERR_ARG, "saving '%.200s': tensor name '%.100s' appears twice", path, sorted[i]->name);
    tnn_free(sorted);
    return s;
}

typedef struct save_ctx {
    const strbuf *header;
    const tnn_tensor_list *l;
} save_ctx;

static tnn_status write_all(tnn_atomic_file *f, void *ctx)
{
    const save_ctx *c = ctx;
    unsigned char len8[8];
    put_le64(len8, c->header->n);
    tnn_status s = tnn_atomic_write(f, len8, sizeof len8);
    if (!s) s = tnn_atomic_write(f, c->header->p, c->header->n);
    for (int i = 0; i < c->l->count && !s; i++) {
        const tnn_named_tensor *t = &c->l->items[i];
        s = write_le(f, t->data, t->count, tnn_dtype_size(t->dtype));
    }
    return s;
}

tnn_status tnn_safetensors_save(const char *path, const tnn_tensor_list *l, const tnn_metadata *md)
{
    if (!path || !l) return tnn_error(TNN_ERR_ARG, "safetensors_save: NULL %s", !path ? "path" : "tensor list");
    tnn_status s = check_list(path, l, md);
    if (s) return s;

    strbuf h = {NULL, 0, 0, TNN_OK};
    sb_puts(&h, "{");
    if (md && md->count) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < md->count; i++) {
            if (i) sb_puts(&h, ",");
            sb_json_string(&h, md->kv[2 * i]);
            sb_puts(&h, ":");
            sb_json_string(&h, md->kv[2 * i + 1]);
        }
        sb_puts(&h, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < l->count; i++) {
        const tnn_named_tensor *t = &l->items[i];
        uint64_t nbytes = (uint64_t)t->count * tnn_dtype_size(t->dtype);
        if (i || (md && md->count)) sb_puts(&h, ",");
        sb_json_string(&h, t->name);
        sb_puts(&h, ":{\"dtype\":\"");
        sb_puts(&h, tnn_dtype_name(t->dtype));
        sb_puts(&h, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            if (k) sb_puts(&h, ",");
            sb_u64(&h, (uint64_t)t->shape[k]);
        }
        sb_puts(&h, "],\"data_offsets\":[");
        sb_u64(&h, at);
        sb_puts(&h, ",");
        sb_u64(&h, at + nbytes);
        sb_puts(&h, "]}");
        at += nbytes;
    }
    sb_puts(&h, "}");
    while (!h.st && h.n % 8) sb_puts(&h, " ");
    if (!h.st && h.n > TNN_ST_MAX_HEADER)
        h.st = tnn_error(TNN_ERR_ARG, "saving '%.200s': the header would be %zu bytes, more than the format's limit of %u",
                         path, h.n, TNN_ST_MAX_HEADER);
    s = h.st;
    if (!s) {
        save_ctx c = {&h, l};
        s = tnn_atomic_write_file(path, write_all, &c);
    }
    tnn_free(h.p);
    return s;
}

/* -------------------------------------------------------- loading into tensors -- */

/* Problems found while matching a file against a list: the first few go into the
 * error message (which has a fixed size), every one goes to the log. */
typedef struct problems {
    const char *what;
    char text[340];
    size_t len;
    int count, shown;
} problems;

static void problem(problems *p, const char *fmt, ...) TNN_PRINTF(2, 3);
static void problem(problems *p, const char *fmt, ...)
{
    char item[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    tnn_log("safetensors file '%s': %s", p->what, item);
    p->count++;
    size_t n = strlen(item);
    if (p->shown == p->count - 1 && p->len + n + 2 < sizeof p->text - 24) {
        if (p->len) { memcpy(p->text + p->len, "; ", 2); p->len += 2; }
        memcpy(p->text + p->len, item, n + 1);
        p->len += n;
        p->shown++;
    }
}

static void shape_str_i64(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && n < len; i++) n += (size_t)snprintf(buf + n, len - n, i ? " x %" PRId64 : "%" PRId64, shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

static void shape_str_int(char *buf, size_t len, int ndim, const int *shape)
{
    int64_t s[TNN_MAX_DIMS];
    for (int i = 0; i < ndim && i < TNN_MAX_DIMS; i++) s[i] = shape[i];
    shape_str_i64(buf, len, ndim < TNN_MAX_DIMS ? ndim : TNN_MAX_DIMS, s);
}

static bool same_shape(const tnn_st_tensor *t, const tnn_named_tensor *d)
{
    if (t->ndim != d->ndim) return false;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != (int64_t)d->shape[i]) return false;
    return true;
}

/* With no name in common, the usual cause is a prefix: the file's names are the expected
 * ones with something else in front ("model.0.weight" for "gen.0.weight"), or with
 * something added or left out in front. A change of prefix, ending at a '.', fits when
 * it turns every expected name into a name in the file with the expected dtype and
 * shape. *hint names the first that fits, and up to two more (a file holding two
 * networks of one shape); it is left empty when none does. Prefixes are quoted whole up
 * to 60 bytes, and marked "..." where cut. */
static bool prefix_fits(const tnn_safetensors *st, const tnn_tensor_list *dst, const char *pre_file, size_t pf,
                        size_t pe)
{
    const char *e0 = dst->items[0].name;
    char name[600];
    for (int k = 0; k < dst->count; k++) {
        const tnn_named_tensor *d = &dst->items[k];
        size_t nd = strlen(d->name);
        if (nd <= pe || strncmp(d->name, e0, pe) || pf + nd - pe >= sizeof name) return false;
        memcpy(name, pre_file, pf);
        memcpy(name + pf, d->name + pe, nd - pe + 1);
        const tnn_st_tensor *t = tnn_safetensors_find(st, name);
        if (!t || t->dtype != d->dtype || !same_shape(t, d)) return false;
    }
    return true;
}

/* s[0, n) quoted, cut to at most 60 bytes at a UTF-8 character's start, marked "...". */
static void quote(char *buf, size_t len, const char *s, size_t n)
{
    size_t k = n;
    if (k > 60) {
        k = 60;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    }
    snprintf(buf, len, "'%.*s%s'", (int)k, s, k < n ? "..." : "");
}

static void prefix_hint(const tnn_safetensors *st, const tnn_tensor_list *dst, char *hint, size_t len)
{
    hint[0] = '\0';
    if (!dst->count || !st->count) return;
    const char *e0 = dst->items[0].name;
    size_t n0 = strlen(e0), pe = 0, found = 0;
    const char *fits[3];
    size_t fit_len[3];
    const char *tried = NULL; /* the last change of prefix that did not fit (a file's names */
    size_t tried_len = 0, tried_pe = 0; /* come grouped): the file's side and the expected side */
    for (int i = 0; i < st->count && found < 3; i++) {
        const char *t = st->tensors[i].name;
        size_t nt = strlen(t), s = 0;
        while (s < n0 && s < nt && e0[n0 - 1 - s] == t[nt - 1 - s]) s++;
        /* the shared end starts after a '.' (or at the start) in both names */
        while (s > 0 && !((s == n0 || e0[n0 - s - 1] == '.') && (s == nt || t[nt - s - 1] == '.'))) s--;
        if (s == 0) continue;
        size_t pf = nt - s, pe_t = n0 - s;
        if (found && pe_t != pe) continue; /* one expected prefix per hint */
        bool seen = tried && tried_len == pf && tried_pe == pe_t && !strncmp(tried, t, pf);
        for (size_t k = 0; k < found && !seen; k++) seen = fit_len[k] == pf && !strncmp(fits[k], t, pf);
        if (seen) continue;
        if (!prefix_fits(st, dst, t, pf, pe_t)) {
            tried = t;
            tried_len = pf;
            tried_pe = pe_t;
            continue;
        }
        pe = pe_t;
        fits[found] = t;
        fit_len[found++] = pf;
    }
    if (!found) return;
    char a[72], b[72], q[72], alt[160] = ""; /* a, then " (or 'x.')" for each other that fits */
    quote(a, sizeof a, fits[0], fit_len[0]);
    quote(b, sizeof b, e0, pe);
    for (size_t k = 1; k < found; k++)
        if (fit_len[k]) {
            quote(q, sizeof q, fits[k], fit_len[k]);
            size_t n = strlen(alt);
            snprintf(alt + n, sizeof alt - n, " (or %s)", q);
        }
    if (!pe) snprintf(hint, len, "; the file's names have %s%s in front of the expected ones", a, alt);
    else if (!fit_len[0]) snprintf(hint, len, "; the file's names lack the expected ones' %s in front", b);
    else snprintf(hint, len, "; the file's names have %s%s in front where the expected ones have %s", a, alt, b);
}

tnn_status tnn_safetensors_copy_into(const tnn_safetensors *st, const tnn_tensor_list *dst, bool strict)
{
    if (!st || !dst) return tnn_error(TNN_ERR_ARG, "safetensors_copy_into: NULL %s", !st ? "file" : "tensor list");
    problems p;
    memset(&p, 0, sizeof p);
    p.what = st->what;
    int matched = 0;
    for (int i = 0; i < dst->count; i++) {
        const tnn_named_tensor *d = &dst->items[i];
        const tnn_st_tensor *t = tnn_safetensors_find(st, d->name);
        if (!t) {
            if (strict) problem(&p, "missing '%.100s'", d->name);
            else tnn_log("safetensors file '%.100s': no '%.100s', left as it is (non-strict)", st->what, d->name);
            continue;
        }
        matched++;
        if (t->dtype != d->dtype || !same_shape(t, d)) {
            char a[96], b[96];
            shape_str_i64(a, sizeof a, t->ndim, t->shape);
            shape_str_int(b, sizeof b, d->ndim, d->shape);
            problem(&p, "'%.100s' is %s %s in the file, %s %s expected", d->name, tnn_dtype_name(t->dtype), a,
                    tnn_dtype_name(d->dtype) ? tnn_dtype_name(d->dtype) : "?", b);
        } else if (!d->data && t->count) {
            problem(&p, "'%.100s' has no data to load into", d->name);
        }
    }
    for (int i = 0; i < st->count; i++)
        if (!tnn_tensor_list_find(dst, st->tensors[i].name)) {
            if (strict) problem(&p, "unexpected '%.100s'", st->tensors[i].name);
            else tnn_log("safetensors file '%.100s': '%.100s' not loaded, nothing has that name (non-strict)", st->what,
                         st->tensors[i].name);
        }
    /* Non-strict with no name in common is nearly always a wrong prefix: loading nothing
     * and succeeding would hide it. */
    if (!strict && dst->count > 0 && matched == 0 && st->count == 0)
        return tnn_error(TNN_ERR_SHAPE, "safetensors file '%.100s' holds no tensors (expected names such as '%.100s')",
                         st->what, dst->items[0].name);
    char hint[400] = "";
    if (dst->count > 0 && matched == 0) prefix_hint(st, dst, hint, sizeof hint);
    if (!strict && dst->count > 0 && matched == 0)
        return tnn_error(TNN_ERR_SHAPE, "safetensors file '%.100s': none of its %d tensors has a name expected here "
                         "(the file has '%.100s', expected names such as '%.100s'%s)", st->what,
                         st->count, st->count ? st->tensors[0].name : "", dst->items[0].name,
                         hint[0] ? hint : "; a different prefix?");
    if (p.count) {
        char more[32] = "";
        if (p.shown < p.count) snprintf(more, sizeof more, "; and %d more", p.count - p.shown);
        if (strict && matched == 0 && dst->count > 0 && st->count > 0)
            return tnn_error(TNN_ERR_SHAPE, "safetensors file '%.100s': no name in common (the file has '%.100s', expected "
                             "names such as '%.100s'%s); %d problems (strict): %s%s", st->what, st->tensors[0].name,
                             dst->items[0].name, hint[0] ? hint : "; a different prefix?", p.count, p.text, more);
        return tnn_error(TNN_ERR_SHAPE, "safetensors file '%.100s': %d problem%s (%s): %s%s", st->what, p.count,
                         p.count > 1 ? "s" : "", strict ? "strict" : "non-strict", p.text, more);
    }
    for (int i = 0; i < dst->count; i++) {
        const tnn_named_tensor *d = &dst->items[i];
        const tnn_st_tensor *t = tnn_safetensors_find(st, d->name);
        if (t && t->count) copy_from_le(d->data, t->data, t->count, tnn_dtype_size(t->dtype));
    }
    return TNN_OK;
}

/* --------------------------------------------------------------------- modules -- */

tnn_status tnn_module_save(tnn_module *m, const char *prefix, const char *path, const tnn_metadata *md)
{
    if (!m || !path) return tnn_error(TNN_ERR_ARG, "module_save: NULL %s", !m ? "module" : "path");
    tnn_module *held;
    tnn_status s = tnn_module_enter(m, "save", &held);
    if (s) return s;
    tnn_tensor_list *l;
    s = tnn_module_collect(m, prefix, false, &l);
    if (!s) {
        s = tnn_safetensors_save(path, l, md);
        tnn_tensor_list_free(l);
    }
    tnn_module_leave(held);
    return s;
}

tnn_status tnn_module_load(tnn_module *m, const char *prefix, const char *path, bool strict, tnn_metadata **md_out)
{
    if (md_out) *md_out = NULL;
    if (!m || !path) return tnn_error(TNN_ERR_ARG, "module_load: NULL %s", !m ? "module" : "path");
    tnn_module *held;
    tnn_status s = tnn_module_enter(m, "load", &held);
    if (s) return s;
    tnn_tensor_list *l = NULL;
    tnn_safetensors *st = NULL;
    s = tnn_module_collect(m, prefix, false, &l);
    tnn_metadata *md = NULL;
    if (!s) s = load_file(path, &st);
    if (!s && md_out) { /* before copying: nothing may fail once m is modified */
        md = tnn_metadata_clone(tnn_safetensors_metadata(st));
        if (!md) s = TNN_ERR_NOMEM;
    }
    if (!s) s = tnn_safetensors_copy_into(st, l, strict);
    if (!s && md_out) *md_out = md;
    else tnn_metadata_free(md);
    tnn_safetensors_free(st);
    tnn_tensor_list_free(l);
    tnn_module_leave(held);
    return s;
}
