/* A small, strict, non-recursive JSON parser (see json_impl.h). */
#include "json_impl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    tnn_json_limits lim;
    tnn_json_doc *doc;
    uint32_t cap;            /* nodes allocated */
    size_t sused;            /* bytes used in doc->strings */
    char *err;
    size_t errlen;
    tnn_status st;
} parser;

static tnn_status fail(parser *p, const char *fmt, ...) TNN_PRINTF(2, 3);
static tnn_status fail(parser *p, const char *fmt, ...)
{
    if (p->st) return p->st; /* keep the first message */
    int n = snprintf(p->err, p->errlen, "at byte %zu: ", p->pos);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    p->st = TNN_ERR_FORMAT;
    return p->st;
}

static tnn_status fail_nomem(parser *p, const char *what)
{
    snprintf(p->err, p->errlen, "out of memory for %s", what);
    tnn_error(TNN_ERR_NOMEM, "JSON parser: out of memory for %s", what);
    p->st = TNN_ERR_NOMEM;
    return p->st;
}

/* A short printable description of the byte at pos, for messages. */
static const char *describe_at(const parser *p, char *buf, size_t n)
{
    if (p->pos >= p->len) return "end of input";
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static tnn_json *new_node(parser *p, tnn_json_type type)
{
    tnn_json_doc *d = p->doc;
    if (p->lim.max_nodes && d->n >= p->lim.max_nodes) {
        fail(p, "more than %u values in the document", (unsigned)p->lim.max_nodes);
        return NULL;
    }
    if (d->n == UINT32_MAX - 1) {
        fail(p, "too many values in the document");
        return NULL;
    }
    if (d->n == p->cap) {
        uint32_t cap = p->cap ? (p->cap > UINT32_MAX / 2 ? UINT32_MAX - 1 : 2 * p->cap) : 64;
        uint64_t bytes = (uint64_t)cap * sizeof(tnn_json);
        if (bytes != (size_t)bytes) { fail_nomem(p, "JSON nodes"); return NULL; }
        tnn_json *nodes = tnn_realloc(d->nodes, (size_t)bytes, "JSON nodes");
        if (!nodes) { fail_nomem(p, "JSON nodes"); return NULL; }
        d->nodes = nodes;
        p->cap = cap;
    }
    tnn_json *v = &d->nodes[d->n];
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    v->next = ++d->n;
    return v;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at pos (after "\u"). */
static bool read_hex4(parser *p, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (p->pos + i >= p->len) { fail(p, "truncated \\u escape"); return false; }
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) { fail(p, "invalid hex digit in \\u escape"); return false; }
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;       /* no overlong forms */
        if (c == 0xED) hi = 0x9F;       /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;       /* nothing above U+10FFFF */
    } else return 0;
    if (avail < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Parses a string starting at the opening quote; stores its decoded text in
 * doc->strings and returns its offset and length. Decoded text is never longer than
 * the quoted source, so the strings buffer (input length + 1) cannot overflow. */
static bool parse_string(parser *p, uint32_t *off, uint32_t *len)
{
    char *out = p->doc->strings + p->sused, *o = out;
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len) { fail(p, "unterminated string"); return false; }
        unsigned char c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) { fail(p, "control character 0x%02x in a string (must be escaped)", c); return false; }
        if (c == '\\') {
            if (p->len - p->pos < 2) { p->pos++; fail(p, "unterminated escape"); return false; }
            unsigned char e = p->s[p->pos + 1];
            p->pos += 2;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp;
                if (!read_hex4(p, &cp)) return false;
                if (cp >= 0xDC00 && cp <= 0xDFFF) { fail(p, "lone low surrogate \\u%04X", cp); return false; }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        fail(p, "high surrogate \\u%04X not followed by a low surrogate", cp);
                        return false;
                    }
                    p->pos += 2;
                    if (!read_hex4(p, &lo)) return false;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail(p, "high surrogate \\u%04X followed by \\u%04X, not a low surrogate", cp, lo);
                        return false;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += put_utf8(o, cp);
                break;
            }
            default:
                p->pos -= 1;
                fail(p, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
                return false;
            }
            continue;
        }
        if (c < 0x80) { *o++ = (char)c; p->pos++; continue; }
        size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
        if (!n) { fail(p, "invalid UTF-8 in a string"); return false; }
        memcpy(o, p->s + p->pos, n);
        o += n;
        p->pos += n;
    }
    *o++ = '\0';
    *off = (uint32_t)p->sused;
    *len = (uint32_t)(o - out - 1);
    p->sused += (size_t)(o - out);
    return true;
}

static bool parse_number(parser *p, tnn_json *v)
{
    const unsigned char *s = p->s;
    size_t i = p->pos;
    bool is_int = true;
    uint64_t mag = 0;
    if (i < p->len && s[i] == '-') { v->neg = 1; i++; }
    if (i >= p->len || s[i] < '0' || s[i] > '9') { p->pos = i; fail(p, "expected a digit"); return false; }
    if (s[i] == '0') {
        i++;
        if (i < p->len && s[i] >= '0' && s[i] <= '9') { p->pos = i; fail(p, "leading zero in a number"); return false; }
    } else {
        while (i < p->len && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (mag > (UINT64_MAX - d) / 10) is_int = false; /* too large for 64 bits */
            else mag = mag * 10 + d;
            i++;
        }
    }
    if (i < p->len && s[i] == '.') {
        i++;
        is_int = false;
        if (i >= p->len || s[i] < '0' || s[i] > '9') { p->pos = i; fail(p, "expected a digit after '.'"); return false; }
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        is_int = false;
        if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9') { p->pos = i; fail(p, "expected a digit in the exponent"); return false; }
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    p->pos = i;
    v->is_int = is_int;
    v->v.u = is_int ? mag : 0;
    return true;
}

static bool parse_literal(parser *p, const char *word, tnn_json_type type)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        fail(p, "invalid literal, expected '%s'", word);
        return false;
    }
    p->pos += n;
    return new_node(p, type) != NULL;
}

typedef struct key_ref { const char *s; uint32_t len; } key_ref;

static int cmp_key(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Sorts each object's keys and reports the first duplicate: O(n log n) overall. */
static tnn_status check_duplicates(parser *p)
{
    tnn_json_doc *d = p->doc;
    uint32_t most = 0;
    for (uint32_t i = 0; i < d->n; i++)
        if (d->nodes[i].type == TNN_JSON_OBJECT && d->nodes[i].count > most) most = d->nodes[i].count;
    if (most < 2) return TNN_OK;
    key_ref *keys = tnn_malloc((size_t)most * sizeof *keys, "JSON key check");
    if (!keys) return fail_nomem(p, "JSON key check");
    for (uint32_t i = 0; i < d->n && !p->st; i++) {
        const tnn_json *o = &d->nodes[i];
        if (o->type != TNN_JSON_OBJECT || o->count < 2) continue;
        uint32_t k = 0;
        for (const tnn_json *c = tnn_json_first(d, o); c; c = tnn_json_sibling(d, o, c))
            keys[k++] = (key_ref){d->strings + c->key, c->key_len};
        qsort(keys, k, sizeof *keys, cmp_key);
        for (uint32_t j = 1; j < k; j++) {
            if (cmp_key(&keys[j - 1], &keys[j]) == 0) {
                snprintf(p->err, p->errlen, "duplicate key \"%.100s\" in an object", keys[j].s);
                p->st = TNN_ERR_FORMAT;
                break;
            }
        }
    }
    tnn_free(keys);
    return p->st;
}

tnn_status tnn_json_parse(const char *text, size_t len, tnn_json_limits lim, tnn_json_doc *doc, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = '\0';
    if (!doc) { snprintf(err, errlen, "no document to fill"); return TNN_ERR_ARG; }
    memset(doc, 0, sizeof *doc);
    if (!text && len) { snprintf(err, errlen, "text is NULL"); return TNN_ERR_ARG; }
    if (len >= UINT32_MAX) { snprintf(err, errlen, "text of %zu bytes is too long", len); return TNN_ERR_FORMAT; }
    if (lim.max_depth < 1) lim.max_depth = 1;

    parser p = {(const unsigned char *)text, len, 0, lim, doc, 0, 0, err, errlen, TNN_OK};
    uint32_t *stack = tnn_malloc((size_t)lim.max_depth * sizeof *stack, "JSON parser stack");
    doc->strings = tnn_malloc(len + 1, "JSON strings");
    if (!stack || !doc->strings) {
        fail_nomem(&p, "the JSON parser");
        goto done;
    }
    int depth = 0;
    uint32_t key = 0, key_len = 0; /* key of the next value, inside an object */

    for (;;) {
        /* ---- a value is expected ---- */
        skip_ws(&p);
        if (p.pos >= p.len) {
            fail(&p, depth || doc->n ? "unexpected end of input, a value was expected" : "empty input, a value was expected");
            goto done;
        }
        uint32_t idx = doc->n;
        unsigned char c = p.s[p.pos];
        bool opened = false;
        if (c == '{' || c == '[') {
            if (depth >= lim.max_depth) { fail(&p, "nesting deeper than %d levels", lim.max_depth); goto done; }
            if (!new_node(&p, c == '{' ? TNN_JSON_OBJECT : TNN_JSON_ARRAY)) goto done;
            opened = true;
        } else if (c == '"') {
            tnn_json *v = new_node(&p, TNN_JSON_STRING);
            if (!v) goto done;
            uint32_t off, n;
            if (!parse_string(&p, &off, &n)) goto done;
            v = &doc->nodes[idx]; /* (no reallocation since, but keep it obviously right) */
            v->v.s.off = off;
            v->v.s.len = n;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            tnn_json *v = new_node(&p, TNN_JSON_NUMBER);
            if (!v || !parse_number(&p, v)) goto done;
        } else if (c == 't') {
            if (!parse_literal(&p, "true", TNN_JSON_TRUE)) goto done;
        } else if (c == 'f') {
            if (!parse_literal(&p, "false", TNN_JSON_FALSE)) goto done;
        } else if (c == 'n') {
            if (!parse_literal(&p, "null", TNN_JSON_NULL)) goto done;
        } else {
            char b[16];
            fail(&p, "unexpected %s, a value was expected", describe_at(&p, b, sizeof b));
            goto done;
        }
        if (depth > 0) {
            tnn_json *parent = &doc->nodes[stack[depth - 1]];
            parent->count++;
            if (parent->type == TNN_JSON_OBJECT) {
                doc->nodes[idx].key = key;
                doc->nodes[idx].key_len = key_len;
            }
        }
        if (opened) {
            stack[depth++] = idx;
            p.pos++;
            skip_ws(&p);
            char close = doc->nodes[idx].type == TNN_JSON_OBJECT ? '}' : ']';
            if (p.pos < p.len && p.s[p.pos] == close) {
                p.pos++;
                depth--;
                doc->nodes[idx].next = doc->n;
            } else if (doc->nodes[idx].type == TNN_JSON_OBJECT) {
                goto member;
            } else {
                continue; /* first element of an array */
            }
        }

        /* ---- after a value: ',' or a closing bracket, possibly several ---- */
        for (;;) {
            skip_ws(&p);
            if (depth == 0) {
                if (p.pos != p.len) {
                    char b[16];
                    fail(&p, "unexpected %s after the JSON value", describe_at(&p, b, sizeof b));
                }
                goto done;
            }
            tnn_json *top = &doc->nodes[stack[depth - 1]];
            bool is_obj = top->type == TNN_JSON_OBJECT;
            char close = is_obj ? '}' : ']';
            if (p.pos < p.len && p.s[p.pos] == ',') {
                p.pos++;
                if (is_obj) goto member;
                break; /* next array element */
            }
            if (p.pos < p.len && p.s[p.pos] == (unsigned char)close) {
                p.pos++;
                top->next = doc->n;
                depth--;
                continue;
            }
            char b[16];
            fail(&p, "expected ',' or '%c' in %s, found %s", close, is_obj ? "an object" : "an array", describe_at(&p, b, sizeof b));
            goto done;
        }
        continue;

    member: /* "key" ':' inside an object, before its value */
        skip_ws(&p);
        if (p.pos >= p.len || p.s[p.pos] != '"') {
            char b[16];
            fail(&p, "expected a string key in an object, found %s", describe_at(&p, b, sizeof b));
            goto done;
        }
        if (!parse_string(&p, &key, &key_len)) goto done;
        skip_ws(&p);
        if (p.pos >= p.len || p.s[p.pos] != ':') {
            char b[16];
            fail(&p, "expected ':' after an object key, found %s", describe_at(&p, b, sizeof b));
            goto done;
        }
        p.pos++;
    }

done:
    if (!p.st && lim.reject_duplicate_keys) check_duplicates(&p);
    tnn_free(stack);
    if (p.st) tnn_json_free(doc);
    return p.st;
}

void tnn_json_free(tnn_json_doc *doc)
{
    if (!doc) return;
    tnn_free(doc->nodes);
    tnn_free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

const tnn_json *tnn_json_get(const tnn_json_doc *d, const tnn_json *obj, const char *key)
{
    if (!d || !obj || obj->type != TNN_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    for (const tnn_json *c = tnn_json_first(d, obj); c; c = tnn_json_sibling(d, obj, c))
        if (c->key_len == n && memcmp(d->strings + c->key, key, n) == 0) return c;
    return NULL;
}

bool tnn_json_u64(const tnn_json *v, uint64_t *out)
{
    if (!v || v->type != TNN_JSON_NUMBER || !v->is_int) return false;
    if (v->neg && v->v.u != 0) return false;
    if (out) *out = v->v.u;
    return true;
}

bool tnn_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { i++; continue; }
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

const char *tnn_json_type_name(int type)
{
    static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
    return type >= 0 && type <= TNN_JSON_OBJECT ? names[type] : "?";
}
