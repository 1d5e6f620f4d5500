/* IDX reading and writing (src/idx.c): round trips, plain and gzipped, every kind of
 * bad file (each refused with a message naming the file, and without allocating what
 * a lying header claims), and the conversion of image batches to tensors. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

/* ---- a temporary folder per test ---- */


static const char *tmp_path(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tu_dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* gzip n bytes (one member) into a malloc'd buffer. */
static uint8_t *gzip_bytes(const uint8_t *data, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* An IDX header for unsigned bytes with the given dims, followed by `data_len` bytes. */
static uint8_t *idx_bytes(int ndim, const uint32_t *dims, size_t data_len, size_t *len)
{
    size_t h = 4 + 4 * (size_t)ndim;
    uint8_t *b = calloc(1, h + data_len + 1);
    b[2] = 0x08;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < data_len; i++) b[h + i] = (uint8_t)(i * 7 + 3);
    *len = h + data_len;
    return b;
}

/* Load path, expecting TNN_ERR_FORMAT/IO and a message naming the file and `what`. */
static void expect_load_error(const char *path, tnn_status want, const char *what)
{
    tnn_idx idx;
    TU_ASSERT_ERR(tnn_idx_load(path, &idx), want, path, what, NULL);
    assert_null(idx.data);
    assert_int_equal(idx.ndim, 0);
    tnn_idx_free(&idx); /* harmless on an empty result */
}

/* Write the bytes plain and gzipped, and expect both to fail with `what`. */
static void expect_both_fail(const char *name, const uint8_t *b, size_t n, const char *what)
{
    char plain[64], gz[64];
    snprintf(plain, sizeof plain, "%s.idx", name);
    snprintf(gz, sizeof gz, "%s.idx.gz", name);
    write_bytes(tmp_path(plain), b, n);
    expect_load_error(tmp_path(plain), TNN_ERR_FORMAT, what);
    size_t zn;
    uint8_t *z = gzip_bytes(b, n, &zn);
    write_bytes(tmp_path(gz), z, zn);
    expect_load_error(tmp_path(gz), TNN_ERR_FORMAT, what);
    free(z);
}

/* ---- round trips ---- */

static void roundtrip(const char *name)
{
    int dims[3] = {7, 5, 3};
    uint8_t data[105];
    for (int i = 0; i < 105; i++) data[i] = (uint8_t)(i * 37 + 11);
    const char *path = tmp_path(name);
    TU_ASSERT_OK(tnn_idx_save_u8(path, data, 3, dims));
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_load(path, &idx));
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.dims[0], 7);
    assert_int_equal(idx.dims[1], 5);
    assert_int_equal(idx.dims[2], 3);
    assert_int_equal(idx.dims[3], 1);
    assert_int_equal(idx.count, 105);
    assert_memory_equal(idx.data, data, 105);
    tnn_idx_free(&idx);
    assert_null(idx.data);

    /* The same bytes through tnn_idx_parse, and the on-disk format itself. */
    size_t n;
    uint8_t *file = read_bytes(path, &n);
    bool gz = strstr(name, ".gz") != NULL;
    assert_int_equal(file[0] == 0x1f && file[1] == 0x8b, gz);
    if (!gz) {
        const uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0, 3};
        assert_int_equal(n, 16 + 105);
        assert_memory_equal(file, hdr, 16);
    }
    TU_ASSERT_OK(tnn_idx_parse(file, n, "memory", &idx));
    assert_memory_equal(idx.data, data, 105);
    tnn_idx_free(&idx);
    free(file);
    /* No temporary file is left behind by the atomic write. */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tu_dir);
    assert_int_not_equal(system(cmd), 0);
}

static void idx_roundtrip_plain(void **state) { (void)state; roundtrip("a-idx3-ubyte"); }
static void idx_roundtrip_gz(void **state) { (void)state; roundtrip("a-idx3-ubyte.gz"); }

static void idx_roundtrip_1d_and_4d(void **state)
{
    (void)state;
    uint8_t labels[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    TU_ASSERT_OK(tnn_idx_save_u8(tmp_path("l.gz"), labels, 1, (int[]){10}));
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_load(tmp_path("l.gz"), &idx));
    assert_int_equal(idx.ndim, 1);
    assert_int_equal(idx.dims[0], 10);
    assert_memory_equal(idx.data, labels, 10);
    tnn_idx_free(&idx);
    uint8_t rgb[2 * 2 * 2 * 3];
    for (int i = 0; i < 24; i++) rgb[i] = (uint8_t)(10 * i);
    TU_ASSERT_OK(tnn_idx_save_u8(tmp_path("rgb"), rgb, 4, (int[]){2, 2, 2, 3}));
    TU_ASSERT_OK(tnn_idx_load(tmp_path("rgb"), &idx));
    assert_int_equal(idx.ndim, 4);
    assert_int_equal(idx.dims[3], 3);
    tnn_idx_free(&idx);
}

/* zlib's own state (the inflate window, the deflate buffers) comes from the allocator
 * hooks too: with any one allocation failing, a load or save fails cleanly with nothing
 * left allocated and no file half written, and the failures include zlib's own (the
 * message says it was starting the stream). */
typedef struct sweep {
    long attempts;     /* allocations of the first run that succeeded */
    bool zlib_failed;  /* some run failed inside inflateInit/deflateInit */
} sweep;

static sweep sweep_allocations(const char *path, bool save)
{
    static const uint8_t data[60] = {1, 2, 3};
    sweep r = {0, false};
    for (long k = 0;; k++) {
        assert_true(k < 1000);
        tu_alloc_install(k);
        tnn_idx idx = {0};
        tnn_status st = save ? tnn_idx_save_u8(path, data, 2, (int[]){6, 10}) : tnn_idx_load(path, &idx);
        long live = tu_alloc_live() - (st == TNN_OK && !save ? 1 : 0);
        if (st == TNN_OK && !save) tnn_idx_free(&idx);
        tu_alloc_uninstall();
        assert_int_equal(live, 0);
        if (st == TNN_OK) {
            r.attempts = k;
            return r;
        }
        assert_int_equal(st, TNN_ERR_NOMEM);
        if (strstr(tnn_last_error(), save ? "starting gzip compression" : "starting gzip decompression"))
            r.zlib_failed = true;
        if (save) { /* the path holds nothing yet (first sweep) or the last complete file */
            tnn_idx old;
            tnn_status ls = tnn_idx_load(path, &old);
            if (ls == TNN_OK) {
                assert_int_equal(old.count, 60);
                tnn_idx_free(&old);
            } else {
                assert_int_equal(ls, TNN_ERR_IO); /* missing, not malformed */
            }
            char cmd[160]; /* and no temporary file is left behind */
            snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tu_dir);
            assert_int_not_equal(system(cmd), 0);
        }
    }
}

static void idx_gzip_through_allocator_hooks(void **state)
{
    (void)state;
    char plain[128], gz[128];
    snprintf(plain, sizeof plain, "%s", tmp_path("h-idx2-ubyte"));
    snprintf(gz, sizeof gz, "%s", tmp_path("h-idx2-ubyte.gz"));
    sweep save_plain = sweep_allocations(plain, true), save_gz = sweep_allocations(gz, true);
    sweep load_plain = sweep_allocations(plain, false), load_gz = sweep_allocations(gz, false);
    assert_true(save_gz.attempts > save_plain.attempts);
    assert_true(load_gz.attempts > load_plain.attempts);
    assert_true(save_gz.zlib_failed);  /* deflate's state came from the hooks */
    assert_true(load_gz.zlib_failed);  /* inflate's state came from the hooks */
    assert_false(save_plain.zlib_failed || load_plain.zlib_failed);
}

/* Concatenated gzip members are one stream, as gunzip reads them. */
static void idx_gzip_multi_member(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = idx_bytes(2, (uint32_t[]){4, 25}, 100, &n);
    size_t n1, n2;
    uint8_t *z1 = gzip_bytes(b, 30, &n1), *z2 = gzip_bytes(b + 30, n - 30, &n2);
    uint8_t *cat = malloc(n1 + n2);
    memcpy(cat, z1, n1);
    memcpy(cat + n1, z2, n2);
    tnn_idx idx;
    TU_ASSERT_OK(tnn_idx_parse(cat, n1 + n2, "two members", &idx));
    assert_memory_equal(idx.data, b + 12, 100);
    tnn_idx_free(&idx);
    free(b);
    free(z1);
    free(z2);
    free(cat);
}

/* ---- bad files ---- */

static void idx_missing_file(void **state)
{
    (void)state;
    expect_load_error(tmp_path("no-such-file.gz"), TNN_ERR_IO, "cannot open");
    expect_load_error(tu_dir, TNN_ERR_IO, "folder");
}

static void idx_wrong_magic(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = idx_bytes(3, (uint32_t[]){2, 2, 2}, 8, &n);
    b[0] = 0x50; /* e.g. a PNG or text file */
    expect_both_fail("magic", b, n, "not an IDX file");
    b[0] = 0;
    b[2] = 0x0D; /* float IDX: a valid IDX type we do not read */
    expect_both_fail("type", b, n, "type 0x0d");
    b[2] = 0x08;
    b[3] = 0; /* no dimensions */
    expect_both_fail("ndim0", b, n, "0 dimensions");
    b[3] = 5;
    expect_both_fail("ndim5", b, n, "5 dimensions");
    free(b);
    write_bytes(tmp_path("empty"), "", 0);
    expect_load_error(tmp_path("empty"), TNN_ERR_FORMAT, "too short");
    write_bytes(tmp_path("short"), "\0\0\x08", 3);
    expect_load_error(tmp_path("short"), TNN_ERR_FORMAT, "too short");
}

static void idx_zero_dim(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = idx_bytes(3, (uint32_t[]){5, 0, 28}, 0, &n);
    expect_both_fail("zerodim", b, n, "dimension 1 is 0");
    free(b);
    /* and the saving side's argument checks, each named */
    uint8_t d[4] = {0};
    const char *path = tmp_path("save_args");
    TU_ASSERT_ERR(tnn_idx_save_u8(path, d, 1, NULL), TNN_ERR_ARG, "save_args", "dims is NULL", NULL);
    TU_ASSERT_ERR(tnn_idx_save_u8(path, d, 5, (int[]){1, 1, 1, 1, 4}), TNN_ERR_ARG, "IDX needs 1..4 dimensions, got 5",
                  NULL);
    TU_ASSERT_ERR(tnn_idx_save_u8(path, d, 2, (int[]){4, 0}), TNN_ERR_ARG, "IDX dimension 1 is 0", NULL);
    TU_ASSERT_ERR(tnn_idx_save_u8(path, NULL, 1, (int[]){4}), TNN_ERR_ARG, "data is NULL", NULL);
}

static void idx_truncated(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = idx_bytes(3, (uint32_t[]){10, 28, 28}, 10 * 784, &n);
    /* data cut short by one byte, and by a whole image */
    expect_both_fail("trunc1", b, n - 1, "truncated");
    expect_both_fail("trunc784", b, n - 784, "10 x 28 x 28 = 7840 bytes");
    /* header cut inside the dimensions */
    expect_both_fail("trunchdr", b, 9, "truncated IDX header");
    /* the other way round: more data than the header claims */
    uint8_t *c = idx_bytes(3, (uint32_t[]){10, 28, 28}, 10 * 784 + 5, &n);
    expect_both_fail("extra", c, n, "7840 bytes");
    free(b);
    free(c);
}

/* A truncated or corrupt gzip stream is an error, not a short read. */
static void idx_corrupt_gzip(void **state)
{
    (void)state;
    size_t n, zn;
    uint8_t *b = idx_bytes(3, (uint32_t[]){20, 28, 28}, 20 * 784, &n);
    for (size_t i = 16; i < n; i++) b[i] = (uint8_t)(i * 2654435761u >> 24); /* barely compressible */
    uint8_t *z = gzip_bytes(b, n, &zn);
    write_bytes(tmp_path("cut.gz"), z, zn / 2);
    expect_load_error(tmp_path("cut.gz"), TNN_ERR_FORMAT, "truncated gzip stream");
    uint8_t *bad = malloc(zn);
    memcpy(bad, z, zn);
    for (size_t i = zn / 3; i < zn / 3 + 64; i++) bad[i] ^= 0xA5;
    write_bytes(tmp_path("flip.gz"), bad, zn);
    expect_load_error(tmp_path("flip.gz"), TNN_ERR_FORMAT, "corrupt gzip stream");
    /* a wrong CRC alone (last 8 bytes: CRC32, size) */
    memcpy(bad, z, zn);
    bad[zn - 8] ^= 1;
    write_bytes(tmp_path("crc.gz"), bad, zn);
    expect_load_error(tmp_path("crc.gz"), TNN_ERR_FORMAT, "corrupt gzip stream");
    /* garbage after the stream */
    uint8_t *tail = malloc(zn + 3);
    memcpy(tail, z, zn);
    memcpy(tail + zn, "xyz", 3);
    write_bytes(tmp_path("tail.gz"), tail, zn + 3);
    expect_load_error(tmp_path("tail.gz"), TNN_ERR_FORMAT, "garbage after the end of the gzip stream");
    free(b);
    free(z);
    free(bad);
    free(tail);
}

/* An allocator that records the largest block requested, and counts reallocations. */
static size_t g_largest, g_reallocs;
static void *big_malloc(void *u, size_t n) { (void)u; if (n > g_largest) g_largest = n; return malloc(n); }
static void *big_realloc(void *u, void *p, size_t n) { (void)u; if (n > g_largest) g_largest = n; g_reallocs++; return realloc(p, n); }
static void big_free(void *u, void *p) { (void)u; free(p); }

/* Headers claiming 2^32 - 1 images (or an overflowing product) fail cleanly, and
 * nothing near the claimed size is ever allocated. */
static void idx_absurd_counts(void **state)
{
    (void)state;
    tnn_allocator a = {big_malloc, big_realloc, big_free, NULL};
    const uint32_t cases[][4] = {
        {0xFFFFFFFFu, 28, 28, 0},          /* 3.4e12 bytes claimed */
        {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, /* overflows 64 bits */
        {0x7FFFFFFFu, 1, 1, 0},
    };
    const int ndims[] = {3, 4, 3};
    for (int k = 0; k < 3; k++) {
        size_t n;
        uint8_t *b = idx_bytes(ndims[k], cases[k], 1000, &n);
        g_largest = 0;
        tnn_set_allocator(&a);
        char name[32];
        snprintf(name, sizeof name, "absurd%d", k);
        expect_both_fail(name, b, n, "truncated");
        tnn_set_allocator(NULL);
        /* The file itself, its gzip input and what inflating actually yields: small. */
        assert_true(g_largest < (1u << 20));
        free(b);
    }
}

/* An allocator that refuses the first request of 4 MB or more, then behaves. */
static int g_refusals;
static void *refuse_big_malloc(void *u, size_t n)
{
    (void)u;
    if (n >= ((size_t)4 << 20) && g_refusals > 0) {
        g_refusals--;
        return NULL;
    }
    return malloc(n);
}

/* Data of 4 MB and more is read whole when gzipped (allocated once at the claimed size,
 * offered to huge pages) and when plain (collapsed into huge pages after reading); the
 * bytes are the same either way, and a stream short of the claim, or longer, is still an
 * error. */
static void idx_large_files(void **state)
{
    (void)state;
    const uint32_t dims[3] = {5400, 28, 28}; /* 4,233,600 bytes, just above the 4 MB mark */
    const size_t count = 5400u * 784u;
    size_t n, zn;
    uint8_t *b = idx_bytes(3, dims, count, &n);
    for (size_t i = 16; i < n; i++) b[i] = (uint8_t)((i * 2654435761u) >> 13); /* not all runs */
    uint8_t *z = gzip_bytes(b, n, &zn);
    const char *names[2] = {"big.idx", "big.idx.gz"};
    for (int k = 0; k < 2; k++) {
        write_bytes(tmp_path(names[k]), k ? z : b, k ? zn : n);
        g_largest = g_reallocs = 0;
        tnn_allocator a = {big_malloc, big_realloc, big_free, NULL};
        tnn_set_allocator(&a);
        tnn_idx idx;
        tnn_status st = tnn_idx_load(tmp_path(names[k]), &idx);
        tnn_set_allocator(NULL);
        TU_ASSERT_OK(st);
        assert_int_equal(idx.count, count);
        assert_int_equal(idx.dims[0], 5400);
        assert_memory_equal(idx.data, b + 16, count);
        if (k) { /* one block of the claimed size, not grown by doubling */
            assert_int_equal(g_largest, count);
            assert_int_equal(g_reallocs, 0);
        }
        tnn_idx_free(&idx);
    }
    /* if that one block cannot be had, the data is read growing as it comes */
    g_refusals = 1;
    tnn_allocator r = {refuse_big_malloc, big_realloc, big_free, NULL};
    tnn_set_allocator(&r);
    tnn_idx idx;
    tnn_status st = tnn_idx_load(tmp_path("big.idx.gz"), &idx);
    tnn_set_allocator(NULL);
    TU_ASSERT_OK(st);
    assert_int_equal(g_refusals, 0);
    assert_int_equal(idx.count, count);
    assert_memory_equal(idx.data, b + 16, count);
    tnn_idx_free(&idx);
    /* the gzip stream cut short, or carrying a byte more than the header claims */
    write_bytes(tmp_path("bigcut.gz"), z, zn - zn / 4);
    expect_load_error(tmp_path("bigcut.gz"), TNN_ERR_FORMAT, "truncated gzip stream");
    uint8_t *b2 = idx_bytes(3, dims, count + 1, &n);
    size_t zn2;
    uint8_t *z2 = gzip_bytes(b2, n, &zn2);
    write_bytes(tmp_path("bigextra.gz"), z2, zn2);
    expect_load_error(tmp_path("bigextra.gz"), TNN_ERR_FORMAT, "more data than the 4233600 bytes");
    free(b);
    free(z);
    free(b2);
    free(z2);
}

/* ---- images to tensors ---- */

static void idx_pixel_formula(void **state)
{
    (void)state;
    /* ToTensor + Normalize(0.5, 0.5) in float32: (x / 255 - 0.5) / 0.5 */
    for (int x = 0; x < 256; x++) {
        float want = ((float)x / 255.0f - 0.5f) / 0.5f;
        assert_true(tnn_pixel_to_unit((uint8_t)x) == want);
    }
    assert_true(tnn_pixel_to_unit(0) == -1.0f);
    assert_true(tnn_pixel_to_unit(255) == 1.0f);
    /* and torchvision's own output (tests/data/images/make_goldens.py) */
    char path[512];
    snprintf(path, sizeof path, "%s/images/unit.f32", TNN_TEST_DATA_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    float ref[256];
    assert_int_equal(fread(ref, sizeof(float), 256, f), 256);
    fclose(f);
    for (int x = 0; x < 256; x++)
        if (tnn_pixel_to_unit((uint8_t)x) != ref[x]) fail_msg("pixel %d: %.9g, torchvision %.9g", x, (double)tnn_pixel_to_unit((uint8_t)x), (double)ref[x]);
}

static void idx_images_to_tensor_order(void **state)
{
    (void)state;
    /* 4 images of 2 x 3, image k filled with 10k + pixel index */
    uint8_t data[24];
    for (int k = 0; k < 4; k++)
        for (int p = 0; p < 6; p++) data[k * 6 + p] = (uint8_t)(10 * k + p);
    tnn_idx idx = {.data = data, .ndim = 3, .dims = {4, 2, 3, 1}, .count = 24};
    tnn_tensor *t = tnn_tensor_new2(1, 1);
    int order[4] = {2, 0, 3, 1};
    TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, order, 1, 3, 2, 3, t)); /* images 0, 3, 1 */
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 6);
    const int want_img[3] = {0, 3, 1};
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 6; p++)
            assert_true(t->data[i * 6 + p] == tnn_pixel_to_unit((uint8_t)(10 * want_img[i] + p)));
    TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, NULL, 2, 2, 2, 3, t)); /* file order: images 2, 3 */
    assert_true(t->data[0] == tnn_pixel_to_unit(20));
    TU_ASSERT_ERR(tnn_idx_images_to_tensor(&idx, NULL, 3, 2, 2, 3, t), TNN_ERR_ARG, "out of range", NULL);
    TU_ASSERT_ERR(tnn_idx_images_to_tensor(&idx, NULL, 0, 0, 2, 3, t), TNN_ERR_ARG, "n is 0", "at least 1 image", NULL);
    order[3] = 9;
    TU_ASSERT_ERR(tnn_idx_images_to_tensor(&idx, order, 2, 2, 2, 3, t), TNN_ERR_ARG, "order[3] = 9", NULL);
    tnn_idx labels = {.data = data, .ndim = 1, .dims = {24, 1, 1, 1}, .count = 24};
    TU_ASSERT_ERR(tnn_idx_images_to_tensor(&labels, NULL, 0, 1, 2, 3, t), TNN_ERR_FORMAT, "1 dimensions", NULL);
    tnn_tensor_free(t);
}

/* MNIST's case (one channel, no resizing) runs on the library's threads: every pixel
 * value, in a shuffled batch large enough to be split, gives tnn_pixel_to_unit's float. */
static void idx_images_to_tensor_threads(void **state)
{
    (void)state;
    enum { N = 300, PX = 28 * 28 };
    uint8_t *data = malloc((size_t)N * PX);
    for (size_t i = 0; i < (size_t)N * PX; i++) data[i] = (uint8_t)(i * 131 + i / 977);
    tnn_idx idx = {.data = data, .ndim = 3, .dims = {N, 28, 28, 1}, .count = (size_t)N * PX};
    int order[N];
    for (int i = 0; i < N; i++) order[i] = (i * 7 + 3) % N;
    tnn_tensor *t = tnn_tensor_new2(1, 1);
    for (int threads = 1; threads <= 2; threads++) {
        tnn_set_num_threads(threads);
        TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, order, 10, 256, 28, 28, t));
        assert_int_equal(t->shape[0], 256);
        assert_int_equal(t->shape[1], PX);
        for (int i = 0; i < 256; i++)
            for (int p = 0; p < PX; p++) {
                float want = tnn_pixel_to_unit(data[(size_t)order[10 + i] * PX + (size_t)p]);
                if (memcmp(&t->data[(size_t)i * PX + (size_t)p], &want, sizeof want) != 0)
                    fail_msg("%d threads: image %d pixel %d: %.9g, want %.9g", threads, i, p,
                             (double)t->data[(size_t)i * PX + (size_t)p], (double)want);
            }
    }
    tnn_set_num_threads(1);
    tnn_tensor_free(t);
    free(data);
}

/* Channels-last IDX becomes channel-planar rows, as a PyTorch image tensor. */
static void idx_images_to_tensor_channels(void **state)
{
    (void)state;
    uint8_t data[1 * 2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; /* HWC */
    tnn_idx idx = {.data = data, .ndim = 4, .dims = {1, 2, 2, 3}, .count = 12};
    tnn_tensor *t = tnn_tensor_new2(1, 12);
    TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, NULL, 0, 1, 2, 2, t));
    const uint8_t chw[12] = {1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12};
    for (int i = 0; i < 12; i++) assert_true(t->data[i] == tnn_pixel_to_unit(chw[i]));
    tnn_tensor_free(t);
}

/* --img_size: resized as PIL's bilinear filter resizes MNIST's 8-bit images. */
static void idx_images_to_tensor_resize(void **state)
{
    (void)state;
    /* 4 x 4 images whose rows are all [0, 100, 200, 255]: shrinking to 2 x 2 gives
     * [71, 209] in every row (see test_image's resize cases for the arithmetic). */
    uint8_t data[16];
    for (int i = 0; i < 4; i++) {
        data[4 * i + 0] = 0;
        data[4 * i + 1] = 100;
        data[4 * i + 2] = 200;
        data[4 * i + 3] = 255;
    }
    tnn_idx idx = {.data = data, .ndim = 3, .dims = {1, 4, 4, 1}, .count = 16};
    tnn_tensor *t = tnn_tensor_new2(1, 1);
    TU_ASSERT_OK(tnn_idx_images_to_tensor(&idx, NULL, 0, 1, 2, 2, t));
    assert_int_equal(t->shape[1], 4);
    const uint8_t want[4] = {71, 209, 71, 209};
    for (int i = 0; i < 4; i++) assert_true(t->data[i] == tnn_pixel_to_unit(want[i]));
    tnn_tensor_free(t);
}

/* The bundled MNIST files (data/mnist) read as the example reads them. */
static void idx_bundled_mnist(void **state)
{
    (void)state;
    const struct { const char *name; int ndim, n; } files[] = {
        {"train-images-idx3-ubyte.gz", 3, 60000}, {"train-labels-idx1-ubyte.gz", 1, 60000},
        {"t10k-images-idx3-ubyte.gz", 3, 10000}, {"t10k-labels-idx1-ubyte.gz", 1, 10000},
    };
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", TNN_MNIST_DIR, files[i].name);
        tnn_idx idx;
        TU_ASSERT_OK(tnn_idx_load(path, &idx));
        assert_int_equal(idx.ndim, files[i].ndim);
        assert_int_equal(idx.dims[0], files[i].n);
        if (files[i].ndim == 3) {
            assert_int_equal(idx.dims[1], 28);
            assert_int_equal(idx.dims[2], 28);
        } else {
            for (size_t k = 0; k < idx.count; k++) assert_true(idx.data[k] <= 9);
        }
        tnn_idx_free(&idx);
    }
}

/* Endless input: /dev/zero (no IDX magic), and a pipe that sends a valid header for 4
 * bytes and then zeros without end. Reading stops as soon as the bytes cannot become a
 * valid file, and the error names the fault (it used to read until memory ran out). */
static void endless_pipe(const uint8_t *head, size_t n, const char *what)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        signal(SIGPIPE, SIG_IGN);
        static uint8_t zeros[4096];
        if (write(fd[1], head, n) != (ssize_t)n) _exit(1);
        while (write(fd[1], zeros, sizeof zeros) > 0) {}
        _exit(0);
    }
    close(fd[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
    expect_load_error(path, TNN_ERR_FORMAT, what);
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void idx_endless_input(void **state)
{
    (void)state;
    expect_load_error("/dev/zero", TNN_ERR_FORMAT, "element type 0x00");
    static const uint8_t four[8] = {0, 0, 8, 1, 0, 0, 0, 4};
    endless_pipe(four, sizeof four, "bytes after the 4 bytes of data the IDX header claims");
    /* dimensions no file can have: 2^32 - 1 squared, and four of them (whose product
     * overflows 64 bits) */
    static const uint8_t huge2[12] = {0, 0, 8, 2, 255, 255, 255, 255, 255, 255, 255, 255};
    endless_pipe(huge2, sizeof huge2, "4294967295");
    static const uint8_t huge4[20] = {0, 0, 8, 4, 255, 255, 255, 255, 255, 255, 255, 255,
                                      255, 255, 255, 255, 255, 255, 255, 255};
    endless_pipe(huge4, sizeof huge4, "4294967295");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(idx_roundtrip_plain, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_roundtrip_gz, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_roundtrip_1d_and_4d, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_gzip_multi_member, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_gzip_through_allocator_hooks, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_missing_file, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_wrong_magic, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_zero_dim, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_truncated, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_corrupt_gzip, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(idx_absurd_counts, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(idx_endless_input),
    cmocka_unit_test_setup_teardown(idx_large_files, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(idx_pixel_formula),
    cmocka_unit_test(idx_images_to_tensor_order),
    cmocka_unit_test(idx_images_to_tensor_threads),
    cmocka_unit_test(idx_images_to_tensor_channels),
    cmocka_unit_test(idx_images_to_tensor_resize),
    cmocka_unit_test(idx_bundled_mnist),
};

TU_MAIN("idx", tests)
