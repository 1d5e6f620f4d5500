/* Tests of the private JSON parser used for safetensors headers (src/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json_impl.h"

#include <stdlib.h>
#include <string.h>

static const tnn_json_limits LIM = {64, 0, false};

/* Parses text (strlen) with lim; fails the test with the parser's message if invalid. */
static void parse_ok(const char *text, size_t len, tnn_json_limits lim, tnn_json_doc *doc)
{
    char err[256];
    tnn_status s = tnn_json_parse(text, len, lim, doc, err, sizeof err);
    if (s) fail_msg("rejected valid JSON \"%s\": %s", text, err);
}

static void bad_(const char *text, size_t len, tnn_json_limits lim, const char *want, const char *file, int line)
{
    tnn_json_doc doc;
    char err[256];
    tnn_status s = tnn_json_parse(text, len, lim, &doc, err, sizeof err);
    if (s == TNN_OK) {
        tnn_json_free(&doc);
        fail_msg("%s:%d: accepted invalid JSON \"%s\"", file, line, text);
    }
    assert_int_equal(s, TNN_ERR_FORMAT);
    assert_null(doc.nodes);
    assert_null(doc.strings);
    if (!strstr(err, want)) fail_msg("%s:%d: \"%s\": message \"%s\" does not contain \"%s\"", file, line, text, err, want);
}
#define BAD(text, want) bad_((text), strlen(text), LIM, (want), __FILE__, __LINE__)
#define BADN(text, want) bad_((text), sizeof(text) - 1, LIM, (want), __FILE__, __LINE__)

static void test_scalars(void **state)
{
    (void)state;
    tnn_json_doc d;
    static const struct { const char *text; int type; } cases[] = {
        {"null", TNN_JSON_NULL}, {"true", TNN_JSON_TRUE}, {"false", TNN_JSON_FALSE}, {" 0 ", TNN_JSON_NUMBER},
        {"\"\"", TNN_JSON_STRING}, {"[]", TNN_JSON_ARRAY}, {"{}", TNN_JSON_OBJECT}, {"\t\r\n{ }\n", TNN_JSON_OBJECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        parse_ok(cases[i].text, strlen(cases[i].text), LIM, &d);
        assert_int_equal(d.n, 1);
        assert_int_equal(tnn_json_root(&d)->type, cases[i].type);
        assert_int_equal(tnn_json_root(&d)->count, 0);
        assert_null(tnn_json_first(&d, tnn_json_root(&d)));
        tnn_json_free(&d);
    }
    tnn_json_free(&d); /* freeing twice is harmless */
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct { const char *text; bool is_u64; uint64_t v; } cases[] = {
        {"0", true, 0}, {"-0", true, 0}, {"7", true, 7}, {"1234567890", true, 1234567890},
        {"18446744073709551615", true, UINT64_MAX}, {"18446744073709551616", false, 0},
        {"99999999999999999999999", false, 0}, {"-1", false, 0}, {"1.0", false, 0}, {"1e3", false, 0},
        {"-2.5E-3", false, 0}, {"0.5", false, 0}, {"1E+2", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tnn_json_doc d;
        parse_ok(cases[i].text, strlen(cases[i].text), LIM, &d);
        const tnn_json *v = tnn_json_root(&d);
        assert_int_equal(v->type, TNN_JSON_NUMBER);
        uint64_t got = 12345;
        bool ok = tnn_json_u64(v, &got);
        if (ok != cases[i].is_u64) fail_msg("\"%s\": tnn_json_u64 gave %d", cases[i].text, ok);
        if (ok) assert_true(got == cases[i].v);
        tnn_json_free(&d);
    }
    tnn_json_doc d;
    parse_ok("-12", 3, LIM, &d);
    assert_true(d.nodes[0].is_int && d.nodes[0].neg && d.nodes[0].v.u == 12);
    tnn_json_free(&d);
    assert_false(tnn_json_u64(NULL, NULL));
}

static void test_strings_and_escapes(void **state)
{
    (void)state;
    static const struct { const char *text; const char *want; size_t len; } cases[] = {
        {"\"abc\"", "abc", 3},
        {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8},
        {"\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4},           /* surrogate pair -> U+1F600 */
        {"\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4},           /* U+10FFFF */
        {"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14},
        {"\"\\u0000x\"", "\0x", 2},                              /* embedded NUL kept, with its length */
        {"\"\x7f\"", "\x7f", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tnn_json_doc d;
        parse_ok(cases[i].text, strlen(cases[i].text), LIM, &d);
        const tnn_json *v = tnn_json_root(&d);
        assert_int_equal(v->type, TNN_JSON_STRING);
        assert_int_equal(v->v.s.len, cases[i].len);
        assert_memory_equal(tnn_json_str(&d, v), cases[i].want, cases[i].len);
        assert_int_equal(tnn_json_str(&d, v)[cases[i].len], '\0');
        tnn_json_free(&d);
    }
}

static void test_structure_walk(void **state)
{
    (void)state;
    const char *text = " {\"a\" : [1, [2, 3], {\"b\": null}, []], \"c\": {\"d\": \"e\"}, \"f\": true} ";
    tnn_json_doc d;
    parse_ok(text, strlen(text), LIM, &d);
    const tnn_json *root = tnn_json_root(&d);
    assert_int_equal(root->type, TNN_JSON_OBJECT);
    assert_int_equal(root->count, 3);
    assert_int_equal(root->next, d.n);
    const char *keys[] = {"a", "c", "f"};
    int k = 0;
    for (const tnn_json *c = tnn_json_first(&d, root); c; c = tnn_json_sibling(&d, root, c))
        assert_string_equal(tnn_json_key(&d, c), keys[k++]);
    assert_int_equal(k, 3);
    const tnn_json *a = tnn_json_get(&d, root, "a");
    assert_int_equal(a->type, TNN_JSON_ARRAY);
    assert_int_equal(a->count, 4);
    const tnn_json *e0 = tnn_json_first(&d, a);
    uint64_t v;
    assert_true(tnn_json_u64(e0, &v) && v == 1);
    const tnn_json *e1 = tnn_json_sibling(&d, a, e0);
    assert_int_equal(e1->type, TNN_JSON_ARRAY);
    assert_int_equal(e1->count, 2);
    const tnn_json *e2 = tnn_json_sibling(&d, a, e1);
    assert_int_equal(e2->type, TNN_JSON_OBJECT);
    assert_int_equal(tnn_json_get(&d, e2, "b")->type, TNN_JSON_NULL);
    const tnn_json *e3 = tnn_json_sibling(&d, a, e2);
    assert_int_equal(e3->type, TNN_JSON_ARRAY);
    assert_int_equal(e3->count, 0);
    assert_null(tnn_json_sibling(&d, a, e3));
    const tnn_json *c = tnn_json_get(&d, root, "c");
    assert_string_equal(tnn_json_str(&d, tnn_json_get(&d, c, "d")), "e");
    assert_int_equal(tnn_json_get(&d, root, "f")->type, TNN_JSON_TRUE);
    assert_null(tnn_json_get(&d, root, "g"));
    assert_null(tnn_json_get(&d, a, "a")); /* not an object */
    assert_string_equal(tnn_json_type_name(TNN_JSON_OBJECT), "object");
    tnn_json_free(&d);
}

static void test_invalid(void **state)
{
    (void)state;
    BAD("", "empty input");
    BAD("   ", "empty input");
    BAD("{", "found end of input");
    BAD("[1", "expected ',' or ']'");
    BAD("[1,]", "a value was expected");
    BAD("[,1]", "a value was expected");
    BAD("{\"a\":1,}", "expected a string key");
    BAD("{,}", "expected a string key");
    BAD("{\"a\" 1}", "expected ':'");
    BAD("{\"a\":}", "a value was expected");
    BAD("{1:2}", "expected a string key");
    BAD("{'a':1}", "expected a string key");
    BAD("[1 2]", "expected ',' or ']'");
    BAD("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    BAD("[1}", "expected ',' or ']'");
    BAD("{\"a\":1]", "expected ',' or '}'");
    BAD("{} x", "after the JSON value");
    BAD("{}{}", "after the JSON value");
    BAD("[]]", "after the JSON value");
    BAD("1 2", "after the JSON value");
    BAD("tru", "expected 'true'");
    BAD("nul", "expected 'null'");
    BAD("True", "a value was expected");
    BAD("NaN", "a value was expected");
    BAD("Infinity", "a value was expected");
    BAD("-Infinity", "expected a digit");
    BAD("01", "leading zero");
    BAD("-01", "leading zero");
    BAD("-", "expected a digit");
    BAD("1.", "after '.'");
    BAD(".5", "a value was expected");
    BAD("+1", "a value was expected");
    BAD("1e", "exponent");
    BAD("1e+", "exponent");
    BAD("0x10", "after the JSON value");
    BAD("\"abc", "unterminated string");
    BAD("\"abc\\", "unterminated escape");
    BAD("\"a\tb\"", "control character 0x09");
    BAD("\"a\nb\"", "control character 0x0a");
    BAD("\"\\x\"", "invalid escape '\\x'");
    BAD("\"\\U0041\"", "invalid escape");
    BAD("\"\\u12\"", "invalid hex digit");
    BAD("\"\\u12", "truncated \\u escape");
    BAD("\"\\u12G4\"", "invalid hex digit");
    BAD("\"\\ud800\"", "high surrogate \\uD800 not followed by a low surrogate");
    BAD("\"\\ud800x\"", "not followed by a low surrogate");
    BAD("\"\\ud800\\u0041\"", "not a low surrogate");
    BAD("\"\\ud800\\ud800\"", "not a low surrogate");
    BAD("\"\\udc00\"", "lone low surrogate");
    BAD("\"\xc0\xaf\"", "invalid UTF-8");          /* overlong '/' */
    BAD("\"\xe0\x80\xaf\"", "invalid UTF-8");      /* overlong, 3 bytes */
    BAD("\"\xed\xa0\x80\"", "invalid UTF-8");      /* UTF-8-encoded surrogate */
    BAD("\"\xf4\x90\x80\x80\"", "invalid UTF-8");  /* above U+10FFFF */
    BAD("\"\xf5\x80\x80\x80\"", "invalid UTF-8");
    BAD("\"\x80\"", "invalid UTF-8");              /* lone continuation byte */
    BAD("\"\xe2\x82\"", "invalid UTF-8");          /* truncated sequence */
    BAD("\"\xe2\x82", "invalid UTF-8");
    BAD("\"\xff\"", "invalid UTF-8");
    BAD("// c\n{}", "a value was expected");
    BAD("{\"a\":1 /* c */}", "expected ',' or '}'");
    BADN("{}\0", "after the JSON value");
    BADN("[\0]", "a value was expected");
    BADN("\"a\0b\"", "control character 0x00");
    BAD("\xef\xbb\xbf{}", "a value was expected"); /* a byte order mark is not JSON */
}

static void test_error_positions(void **state)
{
    (void)state;
    tnn_json_doc d;
    char err[128];
    assert_int_equal(tnn_json_parse("[1, 2,, 3]", 10, LIM, &d, err, sizeof err), TNN_ERR_FORMAT);
    assert_non_null(strstr(err, "at byte 6:"));
    assert_non_null(strstr(err, "found ','") || strstr(err, "unexpected ','"));
    /* a tiny error buffer is still NUL-terminated; a NULL one is allowed */
    char tiny[6];
    assert_int_equal(tnn_json_parse("[", 1, LIM, &d, tiny, sizeof tiny), TNN_ERR_FORMAT);
    assert_int_equal(strlen(tiny), 5);
    assert_int_equal(tnn_json_parse("[", 1, LIM, &d, NULL, 0), TNN_ERR_FORMAT);
    assert_int_equal(tnn_json_parse(NULL, 0, LIM, &d, err, sizeof err), TNN_ERR_FORMAT);
    assert_int_equal(tnn_json_parse(NULL, 3, LIM, &d, err, sizeof err), TNN_ERR_ARG);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char buf[300];
    tnn_json_limits lim = {64, 0, false};
    /* exactly 64 levels pass, 65 fail */
    for (int depth = 63; depth <= 65; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++) buf[n++] = '[';
        for (int i = 0; i < depth; i++) buf[n++] = ']';
        tnn_json_doc d;
        char err[128];
        tnn_status s = tnn_json_parse(buf, n, lim, &d, err, sizeof err);
        if (depth <= 64) {
            assert_int_equal(s, TNN_OK);
            assert_int_equal(d.n, (uint32_t)depth);
            tnn_json_free(&d);
        } else {
            assert_int_equal(s, TNN_ERR_FORMAT);
            assert_non_null(strstr(err, "nesting deeper than 64 levels"));
        }
    }
    /* very deep input cannot exhaust the stack: the parser does not recurse */
    size_t big = 1000000;
    char *deep = malloc(2 * big);
    memset(deep, '[', big);
    memset(deep + big, ']', big);
    tnn_json_doc d;
    char err[128];
    assert_int_equal(tnn_json_parse(deep, 2 * big, lim, &d, err, sizeof err), TNN_ERR_FORMAT);
    tnn_json_limits deep_ok = {2000000, 0, false};
    assert_int_equal(tnn_json_parse(deep, 2 * big, deep_ok, &d, err, sizeof err), TNN_OK);
    assert_int_equal(d.n, (uint32_t)big);
    assert_int_equal(d.nodes[0].next, (uint32_t)big);
    assert_int_equal(d.nodes[big - 1].next, (uint32_t)big);
    tnn_json_free(&d);
    for (size_t i = 0; i < big; i++) deep[2 * i] = '{', deep[2 * i + 1] = '"';
    assert_int_equal(tnn_json_parse(deep, 2 * big, lim, &d, err, sizeof err), TNN_ERR_FORMAT);
    free(deep);
}

static void test_node_limit(void **state)
{
    (void)state;
    tnn_json_limits lim = {8, 5, false};
    tnn_json_doc d;
    char err[128];
    assert_int_equal(tnn_json_parse("[1,2,3,4]", 9, lim, &d, err, sizeof err), TNN_OK);
    tnn_json_free(&d);
    assert_int_equal(tnn_json_parse("[1,2,3,4,5]", 11, lim, &d, err, sizeof err), TNN_ERR_FORMAT);
    assert_non_null(strstr(err, "more than 5 values"));
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    tnn_json_limits strict = {64, 0, true};
    const char *dup = "{\"a\":1,\"b\":{\"x\":1,\"y\":2,\"x\":3},\"c\":2}";
    tnn_json_doc d;
    parse_ok(dup, strlen(dup), LIM, &d); /* plain JSON allows them */
    tnn_json_free(&d);
    bad_(dup, strlen(dup), strict, "duplicate key \"x\"", __FILE__, __LINE__);
    /* keys are compared after unescaping */
    const char *esc = "{\"ab\":1,\"a\\u0062\":2}";
    bad_(esc, strlen(esc), strict, "duplicate key \"ab\"", __FILE__, __LINE__);
    /* prefixes and equal values are not duplicates; arrays may repeat anything */
    const char *ok = "{\"a\":1,\"ab\":1,\"abc\":[1,1,{\"a\":1}],\"\":0}";
    parse_ok(ok, strlen(ok), strict, &d);
    tnn_json_free(&d);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(tnn_utf8_valid("", 0));
    assert_true(tnn_utf8_valid("abc", 3));
    assert_true(tnn_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_false(tnn_utf8_valid("\xc3", 1));
    assert_false(tnn_utf8_valid("\xc0\xaf", 2));
    assert_false(tnn_utf8_valid("\xed\xa0\x80", 3));
    assert_false(tnn_utf8_valid("\xf4\x90\x80\x80", 4));
}

/* Random mutations of a valid header: every outcome is a clean accept or reject
 * (run under the sanitizers to make this meaningful; the fuzzer goes further). */
static void test_mutations(void **state)
{
    (void)state;
    const char *seed = "{\"__metadata__\":{\"format\":\"pt\"},\"model.0.weight\":{\"dtype\":\"F32\",\"shape\":[128,100],"
                       "\"data_offsets\":[0,51200]},\"s\":\"\\u00e9\\ud83d\\ude00\\n\",\"n\":[-1.5e3,true,false,null]}";
    size_t n = strlen(seed);
    char *buf = malloc(n + 1);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int accepted = 0;
    for (int iter = 0; iter < 50000; iter++) {
        memcpy(buf, seed, n);
        int edits = 1 + iter % 3;
        size_t len = n;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            size_t at = (size_t)(x % len);
            switch ((x >> 32) % 3) {
            case 0: buf[at] = (char)(x >> 40); break;          /* replace a byte */
            case 1: len = at + 1; break;                        /* truncate */
            default: memmove(buf + at, buf + at + 1, len - at - 1); len--; break; /* delete */
            }
            if (len == 0) break;
        }
        tnn_json_doc d;
        char err[128];
        tnn_json_limits lim = {8, 1000, iter % 2 == 0};
        tnn_status s = tnn_json_parse(buf, len, lim, &d, err, sizeof err);
        if (s == TNN_OK) {
            accepted++;
            assert_int_equal(d.nodes[0].next, d.n);
            tnn_json_free(&d);
        } else {
            assert_int_equal(s, TNN_ERR_FORMAT);
            assert_true(strlen(err) > 0);
        }
    }
    print_message("  %d of 50000 mutated headers were still valid JSON\n", accepted);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_structure_walk),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
