/*
 * json_impl.h - a small, strict JSON parser (RFC 8259) for file headers. Private.
 *
 * The whole text is parsed into a flat array of nodes in document order: a container
 * is followed by its children, and every node records the index just past its subtree
 * (`next`), so walking a document needs neither recursion nor pointers:
 *
 *     for (const tnn_json *c = tnn_json_first(doc, obj); c; c = tnn_json_sibling(doc, obj, c))
 *         ... tnn_json_key(doc, c), tnn_json_str(doc, c) ...
 *
 * The parser itself is not recursive either (an explicit stack bounded by max_depth),
 * so hostile input cannot exhaust the C stack. It rejects what RFC 8259 rejects:
 * trailing commas, trailing garbage after the value, leading zeros, bare control
 * characters in strings, invalid UTF-8 (overlong forms, encoded surrogates, code
 * points above U+10FFFF), bad escapes and lone UTF-16 surrogates in \uXXXX escapes
 * (pairs are combined). Strings are decoded to UTF-8 and NUL-terminated; a string may
 * contain U+0000 (compare its length with strlen() if that matters).
 *
 * Numbers keep their exact integer value when they are integers (no fraction, no
 * exponent) whose magnitude fits in 64 bits; other numbers are valid JSON but only
 * flagged as non-integers (the headers we read need integers only).
 */
#ifndef TINYNN_JSON_IMPL_H
#define TINYNN_JSON_IMPL_H

#include "tnn_impl.h"

typedef enum tnn_json_type {
    TNN_JSON_NULL,
    TNN_JSON_FALSE,
    TNN_JSON_TRUE,
    TNN_JSON_NUMBER,
    TNN_JSON_STRING,
    TNN_JSON_ARRAY,
    TNN_JSON_OBJECT
} tnn_json_type;

typedef struct tnn_json {
    uint8_t type;      /* tnn_json_type */
    uint8_t is_int;    /* number: integer with |value| < 2^64 (value = neg ? -u : u) */
    uint8_t neg;       /* number: has a minus sign */
    uint32_t count;    /* array/object: number of children */
    uint32_t next;     /* index of the first node after this node's subtree */
    uint32_t key;      /* member of an object: key text at doc->strings + key */
    uint32_t key_len;
    union {
        uint64_t u;    /* number: magnitude when is_int */
        struct { uint32_t off, len; } s; /* string: text at doc->strings + off */
    } v;
} tnn_json;

typedef struct tnn_json_doc {
    tnn_json *nodes;   /* nodes[0] is the root */
    uint32_t n;
    char *strings;     /* every decoded string and key, each NUL-terminated */
} tnn_json_doc;

/* Parse options. */
typedef struct tnn_json_limits {
    int max_depth;            /* deepest nesting of arrays/objects allowed (>= 1) */
    uint32_t max_nodes;       /* most values allowed in the document (0: no limit) */
    bool reject_duplicate_keys; /* an object with the same key twice is an error */
} tnn_json_limits;

/* Parse text[0..len). On success fills *doc (free it with tnn_json_free) and returns
 * TNN_OK. On failure returns TNN_ERR_FORMAT (or TNN_ERR_NOMEM) and writes a message
 * such as "at byte 17: expected ':' after an object key" into err (always
 * NUL-terminated); doc is left empty. */
tnn_status tnn_json_parse(const char *text, size_t len, tnn_json_limits lim, tnn_json_doc *doc,
                          char *err, size_t errlen);
void tnn_json_free(tnn_json_doc *doc);

static inline const tnn_json *tnn_json_root(const tnn_json_doc *d) { return d->n ? &d->nodes[0] : NULL; }
/* First child of an array or object, or NULL. */
static inline const tnn_json *tnn_json_first(const tnn_json_doc *d, const tnn_json *c)
{
    (void)d;
    return (c->type == TNN_JSON_ARRAY || c->type == TNN_JSON_OBJECT) && c->count ? c + 1 : NULL;
}
/* The child after `child` inside `parent`, or NULL. */
static inline const tnn_json *tnn_json_sibling(const tnn_json_doc *d, const tnn_json *parent, const tnn_json *child)
{
    return child->next < parent->next ? &d->nodes[child->next] : NULL;
}
static inline const char *tnn_json_str(const tnn_json_doc *d, const tnn_json *v) { return d->strings + v->v.s.off; }
static inline const char *tnn_json_key(const tnn_json_doc *d, const tnn_json *v) { return d->strings + v->key; }

/* Member `key` of an object (keys compared as byte strings), or NULL. Linear. */
const tnn_json *tnn_json_get(const tnn_json_doc *d, const tnn_json *obj, const char *key);
/* True (and *out set) if v is an integer in [0, 2^64). "-0" counts as 0. */
bool tnn_json_u64(const tnn_json *v, uint64_t *out);
/* True if s[0..n) is valid UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF), the rule the parser applies to strings. For writers. */
bool tnn_utf8_valid(const char *s, size_t n);
/* "null", "false", "true", "number", "string", "array", "object". */
const char *tnn_json_type_name(int type);

#endif
