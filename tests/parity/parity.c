/* Golden-file reader and comparison helpers of the parity tests (see parity.h). */
#include "parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TNN_TEST_DATA_DIR
#error "TNN_TEST_DATA_DIR must point at tests/data"
#endif

static const char golden_magic[8] = {'T', 'N', 'N', 'G', 'O', 'L', 'D', '1'};

/* ---------------------------------------------------------------- reading */

typedef struct reader {
    const unsigned char *p, *end;
    bool ok;
} reader;

static uint32_t rd_u32(reader *r)
{
    if (!r->ok || r->end - r->p < 4) { r->ok = false; return 0; }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

static const unsigned char *rd_bytes(reader *r, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) { r->ok = false; return NULL; }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

/* Little-endian bytes to host order, element size 4 or 8. */
static void from_le(void *dst, const unsigned char *src, size_t count, size_t size)
{
    const uint16_t probe = 1;
    if (*(const unsigned char *)&probe == 1) {
        memcpy(dst, src, count * size);
        return;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < count; i++)
        for (size_t b = 0; b < size; b++) d[i * size + b] = src[i * size + size - 1 - b];
}

/* IEEE binary16 to float (exact: every half is a float), subnormals, infinities and
 * NaN included. */
static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    uint32_t bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e != 0) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else {
        float v = (float)m * 0x1p-24f; /* zero or subnormal: m * 2^-24, exact */
        memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static char *vfmt(const char *fmt, va_list ap)
{
    static char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    return buf;
}

void golden_free(golden_file *g)
{
    if (!g) return;
    for (int i = 0; i < g->count; i++) {
        free(g->items[i].name);
        free(g->items[i].data);
    }
    free(g->items);
    free(g->path);
    free(g);
}

golden_file *golden_load(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/parity/%s", TNN_TEST_DATA_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("golden: cannot open %s (regenerate with /usr/bin/python3 tests/parity/gen_goldens.py)\n", path);
        fail();
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = len > 0 ? malloc((size_t)len) : NULL;
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        print_error("golden: cannot read %s\n", path);
        fail();
        return NULL;
    }
    fclose(f);

    golden_file *g = calloc(1, sizeof *g);
    g->path = malloc(strlen(path) + 1);
    strcpy(g->path, path);
    reader r = {buf, buf + len, true};
    const unsigned char *magic = rd_bytes(&r, sizeof golden_magic);
    if (!magic || memcmp(magic, golden_magic, sizeof golden_magic) != 0) r.ok = false;
    uint32_t count = rd_u32(&r);
    if (r.ok && count > 1000000) r.ok = false;
    if (r.ok) g->items = calloc(count ? count : 1, sizeof *g->items);
    for (uint32_t i = 0; r.ok && i < count; i++) {
        golden_tensor *t = &g->items[i];
        uint32_t name_len = rd_u32(&r);
        const unsigned char *name = rd_bytes(&r, name_len);
        uint32_t dtype = rd_u32(&r), ndim = rd_u32(&r);
        if (!r.ok || dtype > GOLDEN_FILE_F16 || ndim > GOLDEN_MAX_DIMS) { r.ok = false; break; }
        t->name = malloc(name_len + 1);
        memcpy(t->name, name, name_len);
        t->name[name_len] = '\0';
        t->dtype = dtype == GOLDEN_FILE_F16 ? GOLDEN_F32 : (golden_dtype)dtype; /* float16 is read as float32 */
        t->ndim = (int)ndim;
        t->count = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            t->shape[d] = (int)rd_u32(&r);
            t->count *= (size_t)t->shape[d];
        }
        size_t esize = dtype == GOLDEN_FILE_F16 ? 2 : t->dtype == GOLDEN_F32 ? 4 : 8;
        const unsigned char *data = rd_bytes(&r, t->count * esize);
        if (!data) break;
        if (dtype == GOLDEN_FILE_F16) {
            float *v = malloc(t->count * sizeof *v + 1);
            for (size_t k = 0; k < t->count; k++) v[k] = half_to_float((uint16_t)(data[2 * k] | data[2 * k + 1] << 8));
            t->data = v;
        } else {
            t->data = malloc(t->count * esize + 1);
            from_le(t->data, data, t->count, esize);
        }
        g->count = (int)i + 1;
    }
    if (r.ok && r.p != r.end) r.ok = false;
    free(buf);
    if (!r.ok) {
        print_error("golden: %s is malformed (after %d records)\n", path, g->count);
        golden_free(g);
        fail();
        return NULL;
    }
    return g;
}

static const golden_tensor *find(const golden_file *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (strcmp(g->items[i].name, name) == 0) return &g->items[i];
    return NULL;
}

const golden_tensor *golden_find(const golden_file *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const golden_tensor *t = find(g, vfmt(fmt, ap));
    va_end(ap);
    return t;
}

static const golden_tensor *need(const golden_file *g, const char *name, golden_dtype dt, size_t count)
{
    const golden_tensor *t = find(g, name);
    if (!t) {
        print_error("golden: %s has no tensor \"%s\"\n", g->path, name);
        fail();
        return NULL;
    }
    if (t->dtype != dt || (count && t->count != count)) {
        print_error("golden: \"%s\" in %s is %s with %zu elements, the test expects %s with %zu\n", name, g->path,
                    t->dtype == GOLDEN_F32 ? "float32" : "int64", t->count, dt == GOLDEN_F32 ? "float32" : "int64", count);
        fail();
        return NULL;
    }
    return t;
}

const float *golden_f32(const golden_file *g, size_t count, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const golden_tensor *t = need(g, vfmt(fmt, ap), GOLDEN_F32, count);
    va_end(ap);
    return t->data;
}

float golden_scalar(const golden_file *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const golden_tensor *t = need(g, vfmt(fmt, ap), GOLDEN_F32, 1);
    va_end(ap);
    return *(const float *)t->data;
}

int64_t golden_i64(const golden_file *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const golden_tensor *t = need(g, vfmt(fmt, ap), GOLDEN_I64, 1);
    va_end(ap);
    return *(const int64_t *)t->data;
}

tnn_tensor *golden_tensor_new(const golden_file *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char name[512];
    snprintf(name, sizeof name, "%s", vfmt(fmt, ap));
    va_end(ap);
    const golden_tensor *t = need(g, name, GOLDEN_F32, 0);
    if (t->ndim < 1 || t->ndim > TNN_MAX_DIMS) {
        print_error("golden: \"%s\" has %d dimensions, tensors take 1..%d\n", name, t->ndim, TNN_MAX_DIMS);
        fail();
    }
    tnn_tensor *x = tnn_tensor_new(t->ndim, t->shape);
    assert_non_null(x);
    memcpy(x->data, t->data, t->count * sizeof(float));
    return x;
}

/* ---------------------------------------------------------------- comparing */

static bool verbose(void)
{
    const char *v = getenv("TNN_PARITY_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

double parity_exact_or(double tol)
{
    const char *v = getenv("TNN_PARITY_EXACT");
    return v && *v && strcmp(v, "0") != 0 ? 0.0 : tol;
}

/* Distance in float32 ulps (steps between representable values). */
static int64_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

static void format_index(char *buf, size_t len, size_t i, const int *shape, int ndim)
{
    if (!shape || ndim < 2) {
        snprintf(buf, len, "[%zu]", i);
        return;
    }
    size_t idx[GOLDEN_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = i % (size_t)shape[d];
        i /= (size_t)shape[d];
    }
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && n < len; d++) n += (size_t)snprintf(buf + n, len - n, d ? ", %zu" : "%zu", idx[d]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

bool parity_close(const char *what, const float *got, const float *want, size_t n, const int *shape, int ndim,
                  double atol, double rtol)
{
    size_t bad = 0, worst = 0, exact = 0;
    double worst_excess = -INFINITY, max_abs = 0.0, max_rel = 0.0, max_used = 0.0;
    int64_t max_ulp = 0;
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        if (a == b || (isnan(a) && isnan(b))) {
            exact++;
            continue;
        }
        double diff = fabs(a - b);
        double excess;
        if (isnan(diff) || isinf(diff)) excess = INFINITY;
        else excess = diff - (atol + rtol * fabs(b));
        if (excess > 0) bad++;
        double bound = atol + rtol * fabs(b);
        double used = bound > 0 ? diff / bound : INFINITY;
        if (used > max_used) max_used = used;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
        if (diff > max_abs) max_abs = diff;
        if (b != 0.0 && diff / fabs(b) > max_rel) max_rel = diff / fabs(b);
        int64_t u = ulp_distance(got[i], want[i]);
        if (u > max_ulp) max_ulp = u;
    }
    if (verbose())
        printf("parity %-44s n=%-8zu exact=%-8zu max_abs=%-9.3g max_rel=%-9.3g max_ulp=%-6lld tol_used=%-7.2g (atol %g rtol %g)\n",
               what, n, exact, max_abs, max_rel, (long long)max_ulp, max_used, atol, rtol);
    if (bad == 0) return true;
    char idx[128];
    format_index(idx, sizeof idx, worst, shape, ndim);
    double a = got[worst], b = want[worst];
    print_error("parity FAIL %s: %zu of %zu elements outside |got - want| <= %g + %g*|want|; worst %s: got %.9g, want %.9g "
                "(abs %.3g, rel %.3g, %lld ulp); largest abs error %.3g, relative %.3g\n",
                what, bad, n, atol, rtol, idx, a, b, fabs(a - b), b != 0.0 ? fabs(a - b) / fabs(b) : INFINITY,
                (long long)ulp_distance(got[worst], want[worst]), max_abs, max_rel);
    return false;
}

bool parity_check(const golden_file *g, const char *name, const float *got, size_t n, double atol, double rtol)
{
    const golden_tensor *t = find(g, name);
    if (!t || t->dtype != GOLDEN_F32 || t->count != n) {
        print_error("parity FAIL %s: golden %s (%zu elements expected)\n", name,
                    !t ? "missing" : t->dtype != GOLDEN_F32 ? "is not float32" : "has another size", n);
        return false;
    }
    return parity_close(name, got, t->data, n, t->shape, t->ndim, atol, rtol);
}

bool parity_check_scalar(const golden_file *g, const char *name, float got, double atol, double rtol)
{
    return parity_check(g, name, &got, 1, atol, rtol);
}

bool parity_check_i64(const golden_file *g, const char *name, int64_t got)
{
    const golden_tensor *t = find(g, name);
    if (!t || t->dtype != GOLDEN_I64 || t->count != 1) {
        print_error("parity FAIL %s: golden int64 scalar missing\n", name);
        return false;
    }
    int64_t want = *(const int64_t *)t->data;
    if (verbose()) printf("parity %-44s got=%lld want=%lld\n", name, (long long)got, (long long)want);
    if (got == want) return true;
    print_error("parity FAIL %s: got %lld, want %lld\n", name, (long long)got, (long long)want);
    return false;
}

/* ---------------------------------------------------------------- module state */

void golden_load_state(const golden_file *g, const char *prefix, tnn_module *m)
{
    tnn_tensor_list *l = tnn_module_state_dict(m, prefix);
    assert_non_null(l);
    for (int i = 0; i < l->count; i++) {
        const tnn_named_tensor *e = &l->items[i];
        golden_dtype dt = e->dtype == TNN_I64 ? GOLDEN_I64 : GOLDEN_F32;
        const golden_tensor *t = need(g, e->name, dt, e->count);
        memcpy(e->data, t->data, e->count * tnn_dtype_size(e->dtype));
    }
    tnn_tensor_list_free(l);
}

bool parity_check_state(const golden_file *g, const char *prefix, tnn_module *m, parity_tol_fn tol, void *ctx,
                        size_t *checked)
{
    tnn_tensor_list *l = tnn_module_state_dict(m, prefix);
    assert_non_null(l);
    bool ok = true;
    size_t total = 0;
    for (int i = 0; i < l->count; i++) {
        const tnn_named_tensor *e = &l->items[i];
        const golden_tensor *t = find(g, e->name);
        int stride = 1;
        if (!t) {
            /* A sampled tensor: "<name>@<stride>". */
            size_t len = strlen(e->name);
            for (int k = 0; k < g->count && !t; k++) {
                const char *nm = g->items[k].name;
                if (strncmp(nm, e->name, len) == 0 && nm[len] == '@') {
                    t = &g->items[k];
                    stride = atoi(nm + len + 1);
                }
            }
        }
        if (!t || stride < 1) {
            print_error("parity FAIL %s: no golden tensor for it\n", e->name);
            ok = false;
            continue;
        }
        if (e->dtype == TNN_I64) {
            ok &= parity_check_i64(g, e->name, *(const int64_t *)e->data);
            total++;
            continue;
        }
        size_t n = (e->count + (size_t)stride - 1) / (size_t)stride;
        if (t->dtype != GOLDEN_F32 || t->count != n) {
            print_error("parity FAIL %s: golden %s has %zu elements, expected %zu\n", e->name, t->name, t->count, n);
            ok = false;
            continue;
        }
        const float *src = e->data;
        float *got = malloc(n * sizeof(float));
        for (size_t k = 0; k < n; k++) got[k] = src[k * (size_t)stride];
        parity_tol tl = tol(e, ctx);
        /* Sampled tensors are reported with the golden's (flat) index. */
        ok &= parity_close(t->name, got, t->data, n, stride == 1 ? e->shape : NULL, stride == 1 ? e->ndim : 1, tl.atol,
                           tl.rtol);
        total += n;
        free(got);
    }
    tnn_tensor_list_free(l);
    if (checked) *checked = total;
    return ok;
}

/* ---------------------------------------------------------------- main */

int parity_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n)
{
    if (argc < 2) return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0) return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
    }
    fprintf(stderr, "%s: no test called \"%s\"; tests are:", group, argv[1]);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %s", tests[i].name);
    fprintf(stderr, "\n");
    return 1;
}
