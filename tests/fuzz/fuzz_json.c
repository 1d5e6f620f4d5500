/*
 * libFuzzer target for the private JSON parser (src/json.c) on its own, without the
 * safetensors framing. The first input byte picks the limits (depth, duplicate-key
 * check, node limit); the rest is the text. Accepted documents must be consistent:
 * subtree ends nested properly, children counts matching a walk, strings
 * NUL-terminated and valid UTF-8.
 *
 * Build like fuzz_safetensors (docs/safetensors.md); seed corpus tests/fuzz/corpus/json.
 */
#include "json_impl.h"

#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    tnn_json_limits lim = {1 + (data[0] & 31), (data[0] & 64) ? 100u : 0u, (data[0] & 32) != 0};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    tnn_json_doc d;
    char err[200];
    tnn_status s = tnn_json_parse(text, len, lim, &d, err, sizeof err);
    if (s) {
        CHECK(s == TNN_ERR_FORMAT && strlen(err) > 0 && !d.nodes);
        return 0;
    }
    CHECK(d.n >= 1 && d.nodes[0].next == d.n);
    if (lim.max_nodes) CHECK(d.n <= lim.max_nodes);
    for (uint32_t i = 0; i < d.n; i++) {
        const tnn_json *v = &d.nodes[i];
        CHECK(v->next > i && v->next <= d.n);
        CHECK(v->type <= TNN_JSON_OBJECT);
        if (v->type == TNN_JSON_ARRAY || v->type == TNN_JSON_OBJECT) {
            uint32_t k = 0;
            for (const tnn_json *c = tnn_json_first(&d, v); c; c = tnn_json_sibling(&d, v, c)) {
                CHECK(c->next <= v->next);
                if (v->type == TNN_JSON_OBJECT) {
                    const char *key = tnn_json_key(&d, c);
                    CHECK(key[c->key_len] == '\0' && tnn_utf8_valid(key, c->key_len));
                    CHECK(tnn_json_get(&d, v, key) != NULL || memchr(key, 0, c->key_len));
                }
                k++;
            }
            CHECK(k == v->count);
        } else {
            CHECK(v->next == i + 1);
        }
        if (v->type == TNN_JSON_STRING) {
            const char *s2 = tnn_json_str(&d, v);
            CHECK(s2[v->v.s.len] == '\0' && tnn_utf8_valid(s2, v->v.s.len));
        }
    }
    tnn_json_free(&d);
    return 0;
}
