/* Image output and resizing: torchvision-style grids, PNG files (stb_image_write, with
 * zlib's deflate), written atomically, and PIL's bilinear resize of 8-bit images. */
#define _POSIX_C_SOURCE 200809L
#include "atomic_file_impl.h"
#include "image_impl.h"
#include "zlib_alloc_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* stb_image_write deflates with its own code, whose growing buffers do not check the
 * allocation (a failed realloc is asserted, then written through: a crash when
 * allocations fail, e.g. under tnn_set_allocator's hooks). So zlib's deflate is plugged
 * in (stb's STBIW_ZLIB_COMPRESS hook), allocating through the same hooks and returning
 * NULL on failure, which stb handles. One gap remains in stb: when its last allocation
 * (the PNG's bytes) fails it returns without freeing the compressed data. The compressed
 * buffer is therefore tracked per thread: png_free forgets it when stb frees it, and
 * tnn_write_png frees it if stb did not. */
static _Thread_local unsigned char *png_zbuf;

static void png_free(void *p)
{
    if (p && p == png_zbuf) png_zbuf = NULL;
    tnn_free(p);
}

static unsigned char *png_deflate(unsigned char *data, int data_len, int *out_len, int quality)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    tnn_zlib_use_hooks(&z, "PNG deflate");
    if (data_len < 0 || deflateInit(&z, quality < 0 ? Z_DEFAULT_COMPRESSION : quality > 9 ? 9 : quality) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)data_len);
    unsigned char *out = bound <= (uLong)INT_MAX ? tnn_malloc(bound, "PNG deflate") : NULL;
    int ret = Z_MEM_ERROR;
    if (out) {
        z.next_in = data;
        z.avail_in = (uInt)data_len;
        z.next_out = out;
        z.avail_out = (uInt)bound;
        ret = deflate(&z, Z_FINISH); /* the bound guarantees one call finishes */
    }
    deflateEnd(&z);
    if (ret != Z_STREAM_END) {
        tnn_free(out);
        return NULL;
    }
    *out_len = (int)z.total_out;
    png_zbuf = out;
    return out;
}

/* stb_image_write, compiled privately (static functions: no symbol clashes with a user's
 * own copy). Its unused writers (BMP, TGA, JPEG, HDR) are expected, hence the
 * file-wide -Wunused-function; its other warnings are silenced for the header only. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#define STBIW_MALLOC(sz) tnn_malloc(sz, "PNG encoder")
#define STBIW_REALLOC(p, newsz) tnn_realloc(p, newsz, "PNG encoder")
#define STBIW_FREE(p) png_free(p)
#define STBIW_ZLIB_COMPRESS png_deflate
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ---------------- PNG ---------------- */

static void png_write(void *ctx, void *data, int size)
{
    if (size > 0) (void)tnn_atomic_write(ctx, data, (size_t)size); /* errors are sticky: commit reports them */
}

tnn_status tnn_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels)
{
    if (!path || !pixels) return tnn_error(TNN_ERR_ARG, "write_png: %s is NULL", !path ? "path" : "pixels");
    if (width < 1 || height < 1 || channels < 1 || channels > 4 ||
        width > INT_MAX / 4 / channels || (size_t)height > (size_t)INT_MAX / ((size_t)width * (size_t)channels))
        return tnn_error(TNN_ERR_ARG, "%s: cannot write a %d x %d PNG with %d channels", path, width, height, channels);
    tnn_atomic_file *f;
    tnn_status st = tnn_atomic_open(path, &f);
    if (st) return st;
    png_zbuf = NULL;
    int ok = stbi_write_png_to_func(png_write, f, width, height, channels, pixels, width * channels);
    png_free(png_zbuf); /* only if stb left it behind */
    if (!ok) {
        tnn_atomic_abort(f);
        return tnn_error(TNN_ERR_NOMEM, "%s: PNG encoding of %d x %d pixels failed (out of memory)", path, width, height);
    }
    return tnn_atomic_commit(f);
}

/* ---------------- grids (torchvision.utils.make_grid + save_image) ---------------- */

tnn_status tnn_image_grid_size(int count, int h, int w, int nrow, int padding, int *width, int *height)
{
    if (!width || !height) return tnn_error(TNN_ERR_ARG, "image grid: width or height pointer is NULL");
    if (count < 1 || h < 1 || w < 1 || nrow < 1 || padding < 0)
        return tnn_error(TNN_ERR_ARG, "image grid: bad geometry (count %d, image %d x %d, nrow %d, padding %d)", count, h, w,
                         nrow, padding);
    int64_t W = w, H = h; /* make_grid returns a single image as it is */
    if (count > 1) {
        int64_t xmaps = nrow < count ? nrow : count;
        int64_t ymaps = (count + xmaps - 1) / xmaps;
        W = xmaps * (w + (int64_t)padding) + padding;
        H = ymaps * (h + (int64_t)padding) + padding;
    }
    if (W > 65535 || H > 65535) return tnn_error(TNN_ERR_ARG, "image grid: %lld x %lld pixels is too large", (long long)W, (long long)H);
    *width = (int)W;
    *height = (int)H;
    return TNN_OK;
}

/* The grid as make_grid + save_image lay it out, into `out` with oc interleaved channels
 * per pixel: one channel is replicated to three (oc 3), others are kept (oc =
 * channels). channels and the geometry are checked by the callers. */
static tnn_status render_grid(uint8_t *out, int oc, const tnn_tensor *images, int count, int channels, int h, int w,
                              int nrow, int padding, bool normalize, int W, int H)
{
    size_t per = (size_t)channels * (size_t)h * (size_t)w;
    /* Each row (the first dimension's) must be one image: a [25 x 784] generator output
     * given as 27 x 27 images would fill the grid with shifted pixels. A 1-D tensor is
     * images one after another, and a tensor of exactly one image may have its shape
     * ([h x w], [channels x h x w]), as save_image takes it. */
    size_t row = images->ndim >= 2 && images->shape[0] > 0 ? images->size / (size_t)images->shape[0] : per;
    if (images->size != per && (row != per || images->size % per)) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "image grid: the tensor %s does not hold images of %d x %d x %d (%zu values each) "
                         "one per row", tnn_tensor_shape_str(images, s, sizeof s), channels, h, w, per);
    }
    if ((size_t)count * per > images->size) {
        char s[64];
        return tnn_error(TNN_ERR_SHAPE, "image grid: %d images of %d x %d x %d need %zu values, the tensor %s has %zu", count,
                         channels, h, w, (size_t)count * per, tnn_tensor_shape_str(images, s, sizeof s), images->size);
    }
    const float *x = images->data;
    size_t total = (size_t)count * per;
    /* norm_ip(t, t.min(), t.max()): clamp, subtract low, divide by max(high - low, 1e-5),
     * with low/high held as Python floats (double) and applied to float32 values. */
    float lo = 0.0f, hi = 0.0f, den = 1.0f;
    if (normalize) {
        lo = hi = x[0];
        bool finite = true;
        for (size_t i = 0; i < total; i++) {
            finite &= isfinite(x[i]) != 0;
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
        }
        if (!finite)
            return tnn_error(TNN_ERR_NUMERIC, "image grid: the images contain NaN or infinite values");
        double range = (double)hi - (double)lo;
        den = (float)(range > 1e-5 ? range : 1e-5);
    }
    memset(out, 0, (size_t)W * (size_t)H * (size_t)oc); /* pad_value 0 stays 0 */
    int xmaps = count == 1 ? 1 : (nrow < count ? nrow : count);
    int pad = count == 1 ? 0 : padding;
    size_t hw = (size_t)h * (size_t)w;
    for (int k = 0; k < count; k++) {
        int gx = pad + (k % xmaps) * (w + pad), gy = pad + (k / xmaps) * (h + pad);
        const float *img = x + (size_t)k * per;
        for (int c = 0; c < oc; c++) { /* one channel is replicated to three */
            const float *plane = img + (channels == 1 ? 0 : (size_t)c * hw);
            for (int i = 0; i < h; i++) {
                uint8_t *row = out + ((size_t)(gy + i) * (size_t)W + (size_t)gx) * (size_t)oc + (size_t)c;
                const float *src = plane + (size_t)i * (size_t)w;
                for (int j = 0; j < w; j++) {
                    float v = src[j];
                    if (normalize) v = (fminf(fmaxf(v, lo), hi) - lo) / den;
                    /* save_image: mul(255).add_(0.5).clamp_(0, 255).to(uint8) */
                    float t = v * 255.0f; /* two statements: never fused into an fma */
                    t += 0.5f;
                    t = t >= 0.0f ? (t <= 255.0f ? t : 255.0f) : 0.0f; /* NaN -> 0 */
                    row[(size_t)j * (size_t)oc] = (uint8_t)t;
                }
            }
        }
    }
    return TNN_OK;
}

tnn_status tnn_image_grid_rgb(uint8_t *rgb, const tnn_tensor *images, int count, int channels, int h, int w, int nrow,
                              int padding, bool normalize)
{
    int W, H;
    tnn_status st = tnn_image_grid_size(count, h, w, nrow, padding, &W, &H);
    if (st) return st;
    if (!rgb || !images || !images->data) return tnn_error(TNN_ERR_ARG, "image grid: NULL %s", !rgb ? "output" : "images");
    if (channels != 1 && channels != 3) return tnn_error(TNN_ERR_ARG, "image grid: %d channels, supported 1 or 3", channels);
    return render_grid(rgb, 3, images, count, channels, h, w, nrow, padding, normalize, W, H);
}

tnn_status tnn_save_image_grid(const char *path, const tnn_tensor *images, int count, int channels, int h, int w,
                               int nrow, int padding, bool normalize)
{
    int W, H;
    tnn_status st = tnn_image_grid_size(count, h, w, nrow, padding, &W, &H);
    if (st) return st;
    if (!images || !images->data) return tnn_error(TNN_ERR_ARG, "image grid: NULL images");
    if (channels < 1 || channels > 4)
        return tnn_error(TNN_ERR_ARG, "%s: image grid: %d channels, supported 1 to 4", path ? path : "(null)", channels);
    int oc = channels == 1 ? 3 : channels; /* gray as RGB; 2: gray + alpha, 3: RGB, 4: RGBA */
    uint8_t *px = tnn_malloc((size_t)W * (size_t)H * (size_t)oc, "image grid");
    if (!px) return TNN_ERR_NOMEM;
    st = render_grid(px, oc, images, count, channels, h, w, nrow, padding, normalize, W, H);
    if (!st) st = tnn_write_png(path, px, W, H, oc);
    tnn_free(px);
    return st;
}

/* ---------------- PIL's bilinear resize ---------------- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

/* Coefficients for one axis, as PIL's precompute_coeffs + normalize_coeffs_8bpc: for
 * output pixel i, source pixels bounds[2i] .. bounds[2i] + bounds[2i+1] - 1 with
 * fixed-point weights k[i*ksize ...]. */
static int resize_coeffs(int in_size, int out_size, int **bounds_out, int32_t **k_out)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale; /* the triangle filter's support is 1 */
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = tnn_malloc((size_t)out_size * 2 * sizeof *bounds, "resize bounds");
    int32_t *kk = tnn_malloc((size_t)out_size * (size_t)ksize * sizeof *kk, "resize coefficients");
    double *w = tnn_malloc((size_t)ksize * sizeof *w, "resize weights");
    if (!bounds || !kk || !w) {
        tnn_free(bounds);
        tnn_free(kk);
        tnn_free(w);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ss = 1.0 / filterscale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            w[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += w[x];
        }
        int32_t *k = kk + (size_t)xx * (size_t)ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS) : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    tnn_free(w);
    *bounds_out = bounds;
    *k_out = kk;
    return ksize;
}

static uint8_t clip8(int32_t v)
{
    v >>= PIL_PRECISION_BITS; /* coefficients are >= 0 for the triangle filter, so v >= 0 */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

struct tnn_resize_plan {
    int h, w, out_h, out_w, channels;
    int ksh, ksv;          /* coefficients per output pixel, per axis */
    int *bh, *bv;          /* source ranges, per axis */
    int32_t *kh, *kv;      /* fixed-point weights, per axis */
    int y0, y1;            /* source rows the vertical pass reads (PIL's ybox) */
    uint8_t *tmp;          /* horizontal pass result: (y1 - y0) x out_w x channels */
};

static bool resize_args_ok(int h, int w, int out_h, int out_w, int channels)
{
    return out_h >= 1 && out_w >= 1 && h >= 1 && w >= 1 && channels >= 1 && out_h <= 65535 && out_w <= 65535 &&
           h <= 65535 && w <= 65535 && channels <= 4;
}

void tnn_resize_plan_free(tnn_resize_plan *p)
{
    if (!p) return;
    tnn_free(p->bh);
    tnn_free(p->bv);
    tnn_free(p->kh);
    tnn_free(p->kv);
    tnn_free(p->tmp);
    tnn_free(p);
}

tnn_status tnn_resize_plan_new(int h, int w, int out_h, int out_w, int channels, tnn_resize_plan **out)
{
    *out = NULL;
    if (!resize_args_ok(h, w, out_h, out_w, channels))
        return tnn_error(TNN_ERR_ARG, "image_resize: cannot resize %d x %d x %d to %d x %d", h, w, channels, out_h, out_w);
    tnn_resize_plan *p = tnn_calloc(1, sizeof *p, "resize plan");
    if (!p) return TNN_ERR_NOMEM;
    *p = (tnn_resize_plan){.h = h, .w = w, .out_h = out_h, .out_w = out_w, .channels = channels};
    if (out_h == h && out_w == w) { /* a copy */
        *out = p;
        return TNN_OK;
    }
    p->ksv = resize_coeffs(h, out_h, &p->bv, &p->kv);
    if (!p->ksv) goto nomem;
    p->y0 = p->bv[0];
    p->y1 = p->bv[2 * (out_h - 1)] + p->bv[2 * (out_h - 1) + 1];
    if (out_w != w) {
        p->ksh = resize_coeffs(w, out_w, &p->bh, &p->kh);
        p->tmp = tnn_malloc((size_t)(p->y1 - p->y0) * (size_t)out_w * (size_t)channels, "resize buffer");
        if (!p->ksh || !p->tmp) goto nomem;
    } else {
        p->y0 = 0; /* no horizontal pass: the vertical pass reads the source directly */
    }
    *out = p;
    return TNN_OK;
nomem:
    tnn_resize_plan_free(p);
    return tnn_error(TNN_ERR_NOMEM, "image_resize: out of memory resizing %d x %d to %d x %d", h, w, out_h, out_w);
}

void tnn_resize_plan_run(tnn_resize_plan *p, uint8_t *dst, const uint8_t *src)
{
    size_t C = (size_t)p->channels;
    int h = p->h, w = p->w, out_h = p->out_h, out_w = p->out_w;
    if (out_h == h && out_w == w) {
        memcpy(dst, src, (size_t)h * (size_t)w * C);
        return;
    }
    const uint8_t *mid = src;
    int mid_w = w;
    if (out_w != w) { /* horizontal pass over the rows the vertical pass uses */
        for (int y = p->y0; y < p->y1; y++) {
            const uint8_t *in = src + (size_t)y * (size_t)w * C;
            uint8_t *o = p->tmp + (size_t)(y - p->y0) * (size_t)out_w * C;
            for (int xx = 0; xx < out_w; xx++) {
                const int32_t *k = p->kh + (size_t)xx * (size_t)p->ksh;
                int xmin = p->bh[2 * xx], xn = p->bh[2 * xx + 1];
                for (size_t c = 0; c < C; c++) {
                    int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                    for (int x = 0; x < xn; x++) ss += (int32_t)in[(size_t)(xmin + x) * C + c] * k[x];
                    o[(size_t)xx * C + c] = clip8(ss);
                }
            }
        }
        mid = p->tmp;
        mid_w = out_w;
    }
    if (out_h == h) { /* no vertical pass: the horizontal result (all rows) is the output */
        memcpy(dst, mid, (size_t)h * (size_t)mid_w * C);
        return;
    }
    size_t row = (size_t)mid_w * C;
    for (int yy = 0; yy < out_h; yy++) {
        const int32_t *k = p->kv + (size_t)yy * (size_t)p->ksv;
        const uint8_t *in = mid + (size_t)(p->bv[2 * yy] - p->y0) * row;
        int yn = p->bv[2 * yy + 1];
        uint8_t *o = dst + (size_t)yy * row;
        for (size_t xc = 0; xc < row; xc++) {
            int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
            for (int y = 0; y < yn; y++) ss += (int32_t)in[(size_t)y * row + xc] * k[y];
            o[xc] = clip8(ss);
        }
    }
}

tnn_status tnn_image_resize_u8(uint8_t *dst, int out_h, int out_w, const uint8_t *src, int h, int w, int channels)
{
    if (!dst || !src) return tnn_error(TNN_ERR_ARG, "image_resize: NULL image");
    tnn_resize_plan *p;
    tnn_status st = tnn_resize_plan_new(h, w, out_h, out_w, channels, &p);
    if (st) return st;
    tnn_resize_plan_run(p, dst, src);
    tnn_resize_plan_free(p);
    return TNN_OK;
}
