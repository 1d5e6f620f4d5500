/* IDX files (MNIST's format): reading plain or gzipped, writing, and converting image
 * batches to float tensors as torchvision's ToTensor + Normalize(0.5, 0.5) does.
 *
 * Reading never trusts the header: every dimension must be >= 1 and the product of the
 * dimensions must equal the number of data bytes actually present. For plain data that
 * is known up front; for gzip it is found by inflating into a buffer that grows with the
 * bytes actually produced (never beyond the claimed size; a claim of 4 MB or more that
 * the compressed size could back is allocated at once, for huge pages), so an absurd
 * count in a small file costs nothing. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */
#include "atomic_file_impl.h"
#include "image_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"
#include "zlib_alloc_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <zlib.h>

/* ---------------- a byte source: memory, or a gzip stream inflated on demand -------- */

typedef struct idx_src {
    const char *what;
    const uint8_t *buf;
    size_t len, pos;       /* plain: read position in buf */
    bool gz;
    bool z_live;           /* inflateInit2 succeeded (inflateEnd needed) */
    bool z_done;           /* every gzip member has been inflated */
    z_stream z;
} idx_src;

static bool is_gzip(const uint8_t *b, size_t len) { return len >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

static tnn_status src_open(idx_src *s, const uint8_t *buf, size_t len, const char *what)
{
    memset(s, 0, sizeof *s);
    s->what = what;
    s->buf = buf;
    s->len = len;
    s->gz = is_gzip(buf, len);
    if (!s->gz) return TNN_OK;
    s->z.next_in = (Bytef *)(uintptr_t)buf; /* zlib's API is not const-correct */
    s->z.avail_in = 0;
    tnn_zlib_use_hooks(&s->z, "gzip inflate");
    int ret = inflateInit2(&s->z, 16 + MAX_WBITS); /* gzip wrapper only */
    if (ret == Z_MEM_ERROR) return tnn_error(TNN_ERR_NOMEM, "%s: out of memory starting gzip decompression", what);
    if (ret != Z_OK) return tnn_error(TNN_ERR_IO, "%s: cannot start gzip decompression", what);
    s->z_live = true;
    return TNN_OK;
}

static void src_close(idx_src *s)
{
    if (s->z_live) inflateEnd(&s->z);
    s->z_live = false;
}

/* Feed zlib at most UINT_MAX bytes at a time (avail_in is an unsigned int). */
static void src_refill(idx_src *s)
{
    if (s->z.avail_in == 0 && s->pos < s->len) {
        size_t n = s->len - s->pos;
        if (n > UINT_MAX) n = UINT_MAX;
        s->z.next_in = (Bytef *)(uintptr_t)(s->buf + s->pos);
        s->z.avail_in = (uInt)n;
        s->pos += n;
    }
}

/* Read up to n bytes into dst; *got < n only at the end of the data. */
static tnn_status src_read(idx_src *s, uint8_t *dst, size_t n, size_t *got)
{
    *got = 0;
    if (!s->gz) {
        size_t k = s->len - s->pos < n ? s->len - s->pos : n;
        if (k) memcpy(dst, s->buf + s->pos, k);
        s->pos += k;
        *got = k;
        return TNN_OK;
    }
    while (*got < n && !s->z_done) {
        size_t want = n - *got;
        if (want > UINT_MAX) want = UINT_MAX;
        src_refill(s);
        s->z.next_out = dst + *got;
        s->z.avail_out = (uInt)want;
        int ret = inflate(&s->z, Z_NO_FLUSH);
        *got += want - s->z.avail_out;
        if (ret == Z_STREAM_END) {
            src_refill(s);
            if (s->z.avail_in == 0) {
                s->z_done = true;
            } else if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b) {
                if (inflateReset(&s->z) != Z_OK) return tnn_error(TNN_ERR_FORMAT, "%s: corrupt gzip stream", s->what);
            } else {
                return tnn_error(TNN_ERR_FORMAT, "%s: %zu bytes of garbage after the end of the gzip stream", s->what,
                                 (size_t)s->z.avail_in + (s->len - s->pos));
            }
        } else if (ret == Z_OK) {
            continue;
        } else if (ret == Z_BUF_ERROR && s->z.avail_in == 0 && s->pos == s->len) {
            return tnn_error(TNN_ERR_FORMAT, "%s: truncated gzip stream (the file ends before the stream does)", s->what);
        } else if (ret == Z_MEM_ERROR) {
            return tnn_error(TNN_ERR_NOMEM, "%s: out of memory while decompressing", s->what);
        } else {
            return tnn_error(TNN_ERR_FORMAT, "%s: corrupt gzip stream (%s)", s->what, s->z.msg ? s->z.msg : "zlib error");
        }
    }
    return TNN_OK;
}

/* ---------------- large image sets in 2 MB pages ---------------- */

/* A shuffled batch reads 128 images scattered over MNIST's 47 MB, each on its own 4 KB
 * page: with 4 KB pages nearly every image costs a page-table walk from memory, and the
 * conversion of a batch took 0.2-0.4 ms, with 2 MB pages about 0.03 ms. So a large data
 * block is offered to the kernel's transparent huge pages (Linux: madvise; the 2 MB-
 * aligned inside of the block, whatever allocator gave it). Before the block is filled
 * the advice is enough; a block already filled is collapsed into huge pages in place
 * (MADV_COLLAPSE, Linux 6.1 and later). Best effort: failures are ignored, and nothing
 * changes but speed. */
#define IDX_HUGE_MIN ((size_t)4 << 20)
#define IDX_HUGE_PAGE ((uintptr_t)2 << 20)

static void advise_huge(uint8_t *p, size_t n, bool filled)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n < IDX_HUGE_MIN) return;
    uintptr_t b = ((uintptr_t)p + IDX_HUGE_PAGE - 1) & ~(IDX_HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(IDX_HUGE_PAGE - 1);
    if (e <= b) return;
    (void)madvise((void *)b, e - b, MADV_HUGEPAGE);
    if (filled) (void)madvise((void *)b, e - b, 25 /* MADV_COLLAPSE */);
#else
    (void)p;
    (void)n;
    (void)filled;
#endif
}

/* ---------------- parsing ---------------- */

static void dims_str(char *buf, size_t len, int ndim, const uint32_t *d)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && k < len; i++) {
        int w = snprintf(buf + k, len - k, i ? " x %lu" : "%lu", (unsigned long)d[i]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

/* Parse from buf. If own is not NULL it is buf's heap block, handed over: plain data is
 * then moved to its front and kept instead of copied (own is freed on failure). */
static tnn_status parse(const uint8_t *buf, size_t len, const char *what, tnn_idx *out, uint8_t *own)
{
    memset(out, 0, sizeof *out);
    idx_src s;
    tnn_status st = src_open(&s, buf, len, what);
    uint8_t *data = NULL;
    if (st) goto fail;

    uint8_t hdr[4 + 4 * 4];
    size_t got;
    if ((st = src_read(&s, hdr, 4, &got))) goto fail;
    if (got < 4) {
        st = tnn_error(TNN_ERR_FORMAT, "%s: %zu bytes%s, too short for an IDX header", what, got, s.gz ? " after decompression" : "");
        goto fail;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        st = tnn_error(TNN_ERR_FORMAT, "%s: not an IDX file (magic bytes %02x %02x %02x %02x, expected 00 00 08 <ndim>)",
                       what, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto fail;
    }
    if (hdr[2] != 0x08) {
        st = tnn_error(TNN_ERR_FORMAT, "%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)", what, hdr[2]);
        goto fail;
    }
    int ndim = hdr[3];
    if (ndim < 1 || ndim > 4) {
        st = tnn_error(TNN_ERR_FORMAT, "%s: IDX header declares %d dimensions, supported 1..4", what, ndim);
        goto fail;
    }
    if ((st = src_read(&s, hdr + 4, 4 * (size_t)ndim, &got))) goto fail;
    if (got < 4 * (size_t)ndim) {
        st = tnn_error(TNN_ERR_FORMAT, "%s: truncated IDX header (%d dimensions declared, %zu of their %d bytes present)",
                       what, ndim, got, 4 * ndim);
        goto fail;
    }
    uint32_t d[4];
    uint64_t claimed = 1;
    bool overflow = false;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = hdr + 4 + 4 * i;
        d[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
        if (d[i] == 0) {
            st = tnn_error(TNN_ERR_FORMAT, "%s: IDX dimension %d is 0", what, i);
            goto fail;
        }
        if (claimed > UINT64_MAX / d[i]) overflow = true;
        else claimed *= d[i];
    }
    char ds[64];
    dims_str(ds, sizeof ds, ndim, d);

    size_t have = 0;
    if (!s.gz) {
        size_t present = len - s.pos;
        if (overflow || claimed > present) {
            have = present;
            goto truncated;
        }
        if (claimed < present) {
            st = tnn_error(TNN_ERR_FORMAT, "%s: %zu bytes after the %llu bytes of data the IDX header claims (%s)", what,
                           present - (size_t)claimed, (unsigned long long)claimed, ds);
            goto fail;
        }
        have = (size_t)claimed;
        if (own) {
            memmove(own, buf + s.pos, have);
            data = tnn_realloc(own, have, "IDX data");
            if (!data) data = own; /* shrinking failed: keep the larger block */
            own = NULL;
            advise_huge(data, have, true);
        } else {
            data = tnn_malloc(have, "IDX data");
            if (!data) { st = tnn_error(TNN_ERR_NOMEM, "%s: out of memory for %zu bytes of IDX data", what, have); goto fail; }
            advise_huge(data, have, false);
            memcpy(data, buf + s.pos, have);
        }
    } else {
        /* Grow with what the stream actually yields, never past the claimed size; a large
         * claim that the compressed size can back (deflate expands at most ~1032 to 1) is
         * allocated at once, so that its pages can be huge from the start. */
        size_t cap = 0;
        if (!overflow && claimed >= IDX_HUGE_MIN && claimed / 1100 <= len && claimed <= SIZE_MAX) {
            data = tnn_malloc((size_t)claimed, "IDX data");
            if (data) {
                cap = (size_t)claimed;
                advise_huge(data, cap, false);
            } else {
                tnn_clear_error(); /* not fatal: grow with the data instead */
            }
        }
        for (;;) {
            if (have == cap) {
                if ((uint64_t)have == claimed) {
                    uint8_t extra;
                    if ((st = src_read(&s, &extra, 1, &got))) goto fail;
                    if (got) {
                        st = tnn_error(TNN_ERR_FORMAT, "%s: more data than the %llu bytes the IDX header claims (%s)", what,
                                       (unsigned long long)claimed, ds);
                        goto fail;
                    }
                    break;
                }
                uint64_t want = cap ? 2 * (uint64_t)cap : (uint64_t)1 << 16;
                if (want > claimed) want = claimed;
                if (want > SIZE_MAX) want = SIZE_MAX;
                uint8_t *nd = tnn_realloc(data, (size_t)want, "IDX data");
                if (!nd) { st = tnn_error(TNN_ERR_NOMEM, "%s: out of memory for %llu bytes of IDX data", what, (unsigned long long)want); goto fail; }
                data = nd;
                cap = (size_t)want;
            }
            if ((st = src_read(&s, data + have, cap - have, &got))) goto fail;
            have += got;
            if (have < cap) break; /* end of the stream */
        }
        if ((uint64_t)have != claimed || overflow) goto truncated;
    }
    for (int i = 0; i < ndim; i++) {
        if (d[i] > INT_MAX) { /* only reachable with more than 2 GiB of data */
            st = tnn_error(TNN_ERR_FORMAT, "%s: IDX dimension %d is %lu, larger than supported", what, i, (unsigned long)d[i]);
            goto fail;
        }
    }
    src_close(&s);
    tnn_free(own);
    out->data = data;
    out->ndim = ndim;
    for (int i = 0; i < 4; i++) out->dims[i] = i < ndim ? (int)d[i] : 1;
    out->count = have;
    return TNN_OK;

truncated:
    if (overflow)
        st = tnn_error(TNN_ERR_FORMAT, "%s: truncated: the IDX header claims %s (more than 2^64) bytes of data, only %zu are present",
                       what, ds, have);
    else
        st = tnn_error(TNN_ERR_FORMAT, "%s: truncated: the IDX header claims %s = %llu bytes of data, only %zu are present",
                       what, ds, (unsigned long long)claimed, have);
fail:
    src_close(&s);
    tnn_free(data);
    tnn_free(own);
    memset(out, 0, sizeof *out);
    return st;
}

tnn_status tnn_idx_parse(const void *buf, size_t len, const char *what, tnn_idx *out)
{
    if (!what) what = "IDX data";
    if (!out) return tnn_error(TNN_ERR_ARG, "%s: output is NULL", what);
    memset(out, 0, sizeof *out);
    if (!buf && len) return tnn_error(TNN_ERR_ARG, "%s: buffer is NULL", what);
    return parse(buf ? buf : (const uint8_t *)"", len, what, out, NULL);
}

/* Whether reading on cannot make the first len bytes a valid file: a start that is
 * neither gzip nor IDX's magic, or plain IDX with more bytes than its header declares.
 * The bytes read so far are then parsed, which names the fault, instead of reading an
 * endless stream (/dev/zero, a pipe) into memory until it runs out. */
static bool enough_read(const uint8_t *b, size_t len)
{
    if (len < 4 || is_gzip(b, len)) return false;
    if (b[0] != 0 || b[1] != 0 || b[2] != 0x08 || b[3] < 1 || b[3] > 4) return true;
    size_t head = 4 + 4 * (size_t)b[3];
    if (len < head) return false;
    uint64_t size = 1;
    for (int i = 0; i < b[3]; i++) {
        const uint8_t *p = b + 4 + 4 * i;
        uint64_t d = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
        /* a dimension parse refuses (0, above INT_MAX), or a size past any memory */
        if (d == 0 || d > INT_MAX || size > (UINT64_MAX >> 1) / d) return true;
        size *= d;
    }
    return (uint64_t)len > head + size;
}

tnn_status tnn_idx_load(const char *path, tnn_idx *out)
{
    if (!out) return tnn_error(TNN_ERR_ARG, "idx_load: output is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return tnn_error(TNN_ERR_ARG, "idx_load: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return tnn_error(TNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return tnn_error(TNN_ERR_IO, "%s: is a folder, not an IDX file", path);
    }
    /* Read everything; the size from fstat is only a first guess (pipes report 0). */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 1 << 16, len = 0;
    uint8_t *buf = tnn_malloc(cap, "IDX file");
    if (!buf) { fclose(f); return tnn_error(TNN_ERR_NOMEM, "%s: out of memory reading the file", path); }
    for (;;) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap || enough_read(buf, len)) break;
        uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : tnn_realloc(buf, cap * 2, "IDX file");
        if (!nb) { tnn_free(buf); fclose(f); return tnn_error(TNN_ERR_NOMEM, "%s: out of memory reading the file", path); }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err) {
        tnn_free(buf);
        return tnn_error(TNN_ERR_IO, "%s: read error: %s", path, strerror(err));
    }
    if (is_gzip(buf, len)) {
        tnn_status st = parse(buf, len, path, out, NULL);
        tnn_free(buf);
        return st;
    }
    return parse(buf, len, path, out, buf);
}

void tnn_idx_free(tnn_idx *idx)
{
    if (!idx) return;
    tnn_free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* ---------------- writing ---------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

tnn_status tnn_idx_save_u8(const char *path, const uint8_t *data, int ndim, const int *dims)
{
    if (!path) return tnn_error(TNN_ERR_ARG, "idx_save: path is NULL");
    if (ndim < 1 || ndim > 4) return tnn_error(TNN_ERR_ARG, "%s: IDX needs 1..4 dimensions, got %d", path, ndim);
    if (!dims) return tnn_error(TNN_ERR_ARG, "%s: dims is NULL", path);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1) return tnn_error(TNN_ERR_ARG, "%s: IDX dimension %d is %d, must be >= 1", path, i, dims[i]);
        if (count > SIZE_MAX / 2 / (size_t)dims[i]) return tnn_error(TNN_ERR_ARG, "%s: IDX data too large", path);
        count *= (size_t)dims[i];
    }
    if (!data) return tnn_error(TNN_ERR_ARG, "%s: data is NULL", path);
    uint8_t hdr[4 + 16] = {0, 0, 0x08, (uint8_t)ndim};
    size_t hlen = 4 + 4 * (size_t)ndim;
    for (int i = 0; i < ndim; i++) {
        uint32_t v = (uint32_t)dims[i];
        hdr[4 + 4 * i] = (uint8_t)(v >> 24);
        hdr[5 + 4 * i] = (uint8_t)(v >> 16);
        hdr[6 + 4 * i] = (uint8_t)(v >> 8);
        hdr[7 + 4 * i] = (uint8_t)v;
    }
    tnn_atomic_file *f;
    tnn_status st = tnn_atomic_open(path, &f);
    if (st) return st;
    if (!ends_with(path, ".gz")) {
        tnn_atomic_write(f, hdr, hlen);
        tnn_atomic_write(f, data, count);
        return tnn_atomic_commit(f);
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    tnn_zlib_use_hooks(&z, "gzip deflate");
    int zret = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    if (zret != Z_OK) {
        tnn_atomic_abort(f);
        if (zret == Z_MEM_ERROR) return tnn_error(TNN_ERR_NOMEM, "%s: out of memory starting gzip compression", path);
        return tnn_error(TNN_ERR_IO, "%s: cannot start gzip compression (zlib error %d)", path, zret);
    }
    /* Compress the header, then the data, through a small output buffer. */
    uint8_t out[1 << 15];
    const uint8_t *parts[2] = {hdr, data};
    size_t sizes[2] = {hlen, count};
    int ret = Z_OK;
    for (int part = 0; part < 2 && !st; part++) {
        const uint8_t *p = parts[part];
        size_t left = sizes[part];
        int flush;
        do {
            size_t k = left > UINT_MAX ? UINT_MAX : left;
            z.next_in = (Bytef *)(uintptr_t)p;
            z.avail_in = (uInt)k;
            flush = part == 1 && k == left ? Z_FINISH : Z_NO_FLUSH;
            do {
                z.next_out = out;
                z.avail_out = sizeof out;
                ret = deflate(&z, flush);
                st = tnn_atomic_write(f, out, sizeof out - z.avail_out);
            } while (!st && ret == Z_OK && z.avail_out == 0);
            p += k;
            left -= k;
        } while (!st && left > 0);
    }
    deflateEnd(&z);
    if (!st && ret != Z_STREAM_END) st = tnn_error(TNN_ERR_IO, "%s: gzip compression failed", path);
    if (st) {
        tnn_atomic_abort(f);
        return st;
    }
    return tnn_atomic_commit(f);
}

/* ---------------- images to tensors ---------------- */

float tnn_pixel_to_unit(uint8_t x)
{
    /* ToTensor: x.float().div(255); Normalize: .sub_(0.5).div_(0.5), all float32. */
    float v = (float)x / 255.0f;
    return (v - 0.5f) / 0.5f;
}

tnn_status tnn_idx_image_shape(const tnn_idx *images, const char *what, int *n, int *h, int *w, int *channels)
{
    if (!what) what = "IDX images";
    if (!images || !images->data) return tnn_error(TNN_ERR_ARG, "%s: no IDX data", what);
    if (images->ndim != 3 && images->ndim != 4)
        return tnn_error(TNN_ERR_FORMAT, "%s: IDX data has %d dimensions; images need [N x H x W] or [N x H x W x C]", what,
                         images->ndim);
    if (n) *n = images->dims[0];
    if (h) *h = images->dims[1];
    if (w) *w = images->dims[2];
    if (channels) *channels = images->ndim == 4 ? images->dims[3] : 1;
    return TNN_OK;
}

/* The pixels of one-channel images: tnn_pixel_to_unit's float operations, in a loop
 * that vectorises (the same bits as the function). */
TNN_CLONES static void pixels_to_unit(float *restrict o, const uint8_t *restrict src, size_t n)
{
    for (size_t p = 0; p < n; p++) {
        float v = (float)src[p] / 255.0f;
        o[p] = (v - 0.5f) / 0.5f;
    }
}

/* The file index of the batch's image i. */
static inline int batch_image(const int *order, int first, int i) { return order ? order[first + i] : first + i; }

typedef struct batch_job {
    const tnn_idx *images;
    const int *order;
    int first;
    size_t px;
    float *out;
} batch_job;

/* Images [b, e) of the batch. A shuffled batch reads images scattered over the whole
 * file, each too short (784 bytes for MNIST) for the hardware prefetcher to get going:
 * fetched one after the other, their cache misses made the conversion of a batch of
 * 128 take about 0.2 ms. The next images' lines are requested ahead instead. */
static void convert_images(void *ctx, size_t b, size_t e)
{
    enum { AHEAD = 8 };
    const batch_job *j = ctx;
    const uint8_t *base = j->images->data;
#define IMAGE_AT(i) (base + (size_t)batch_image(j->order, j->first, (int)(i)) * j->px)
    for (size_t i = b; i < e && i < b + AHEAD; i++)
        for (size_t off = 0; off < j->px; off += 64) __builtin_prefetch(IMAGE_AT(i) + off);
    for (size_t i = b; i < e; i++) {
        if (i + AHEAD < e)
            for (size_t off = 0; off < j->px; off += 64) __builtin_prefetch(IMAGE_AT(i + AHEAD) + off);
        pixels_to_unit(j->out + i * j->px, IMAGE_AT(i), j->px);
    }
#undef IMAGE_AT
}

tnn_status tnn_idx_images_to_tensor(const tnn_idx *images, const int *order, int first, int n, int out_h, int out_w,
                                    tnn_tensor *dst)
{
    int count, h, w, c;
    tnn_status st = tnn_idx_image_shape(images, "idx_images_to_tensor", &count, &h, &w, &c);
    if (st) return st;
    if (!dst) return tnn_error(TNN_ERR_ARG, "idx_images_to_tensor: destination is NULL");
    if (n < 1) return tnn_error(TNN_ERR_ARG, "idx_images_to_tensor: n is %d, it must be at least 1 image", n);
    if (first < 0 || (!order && first > count - n))
        return tnn_error(TNN_ERR_ARG, "idx_images_to_tensor: images [%d, %d+%d) out of range for %d images", first, first, n, count);
    if (out_h < 1 || out_w < 1 || (size_t)out_h * (size_t)out_w > (size_t)INT_MAX / (size_t)c)
        return tnn_error(TNN_ERR_ARG, "idx_images_to_tensor: bad output size %d x %d", out_h, out_w);
    size_t in_px = (size_t)h * (size_t)w, out_px = (size_t)out_h * (size_t)out_w, row = out_px * (size_t)c;
    if ((st = tnn_tensor_resize(dst, 2, (int[]){n, (int)row}))) return st;

    for (int i = 0; i < n; i++) {
        int k = batch_image(order, first, i);
        if (k < 0 || k >= count)
            return tnn_error(TNN_ERR_ARG, "idx_images_to_tensor: order[%d] = %d is not an image index in [0, %d)", first + i, k, count);
    }
    bool resize = out_h != h || out_w != w;
    if (!resize && c == 1) { /* MNIST's case */
        batch_job job = {images, order, first, in_px, dst->data};
        tnn_parallel_for((size_t)n, 64, convert_images, &job);
        return TNN_OK;
    }
    /* Resizing: filter coefficients and buffers once per batch, not per image. */
    uint8_t *tmp = NULL;
    tnn_resize_plan *plan = NULL;
    if (resize) {
        if ((st = tnn_resize_plan_new(h, w, out_h, out_w, c, &plan))) return st;
        if (!(tmp = tnn_malloc(row, "resized image"))) {
            tnn_resize_plan_free(plan);
            return TNN_ERR_NOMEM;
        }
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *src = images->data + (size_t)batch_image(order, first, i) * in_px * (size_t)c;
        if (resize) {
            tnn_resize_plan_run(plan, tmp, src);
            src = tmp;
        }
        float *o = dst->data + (size_t)i * row;
        if (c == 1) {
            pixels_to_unit(o, src, out_px);
        } else { /* interleaved HWC in the file, planar CHW in the tensor */
            for (int ch = 0; ch < c; ch++)
                for (size_t p = 0; p < out_px; p++)
                    o[(size_t)ch * out_px + p] = tnn_pixel_to_unit(src[p * (size_t)c + (size_t)ch]);
        }
    }
    tnn_free(tmp);
    tnn_resize_plan_free(plan);
    return TNN_OK;
}
