/* Image grids, PNG output and PIL's bilinear resize (src/image.c). Grids are checked
 * against torchvision's make_grid + save_image arithmetic; PNGs are read back with
 * stb_image. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <limits.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



/* torchvision's pixel for value v normalised over [lo, hi]. */
static uint8_t expect_pixel(float v, float lo, float hi)
{
    double r = (double)hi - (double)lo;
    float den = (float)(r > 1e-5 ? r : 1e-5);
    float n = (fminf(fmaxf(v, lo), hi) - lo) / den;
    float t = n * 255.0f;
    t += 0.5f;
    return (uint8_t)fminf(fmaxf(t, 0.0f), 255.0f);
}

static void grid_geometry(void **state)
{
    (void)state;
    int w, h;
    TU_ASSERT_OK(tnn_image_grid_size(25, 28, 28, 5, 2, &w, &h));
    assert_int_equal(w, 152);
    assert_int_equal(h, 152);
    TU_ASSERT_OK(tnn_image_grid_size(7, 28, 28, 5, 2, &w, &h)); /* 5 + 2 */
    assert_int_equal(w, 152);
    assert_int_equal(h, 62);
    TU_ASSERT_OK(tnn_image_grid_size(3, 28, 28, 5, 2, &w, &h)); /* xmaps = min(nrow, n) */
    TU_ASSERT_ERR(tnn_image_grid_size(3, 28, 28, 5, 2, NULL, &h), TNN_ERR_ARG, "width or height pointer is NULL", NULL);
    assert_int_equal(w, 92);
    assert_int_equal(h, 32);
    TU_ASSERT_OK(tnn_image_grid_size(1, 28, 28, 5, 2, &w, &h)); /* make_grid: one image, no padding */
    assert_int_equal(w, 28);
    assert_int_equal(h, 28);
    TU_ASSERT_OK(tnn_image_grid_size(64, 32, 16, 8, 0, &w, &h));
    assert_int_equal(w, 128);
    assert_int_equal(h, 256);
    TU_ASSERT_ERR(tnn_image_grid_size(0, 28, 28, 5, 2, &w, &h), TNN_ERR_ARG, "count 0", NULL);
    TU_ASSERT_ERR(tnn_image_grid_size(25, 28, 28, 0, 2, &w, &h), TNN_ERR_ARG, "nrow 0", NULL);
    /* The 65535-pixel limit holds for one image too, and sizes near INT_MAX do not
     * overflow (UBSan would report it). */
    TU_ASSERT_ERR(tnn_image_grid_size(1, 70000, 70000, 1, 2, &w, &h), TNN_ERR_ARG, "70000 x 70000", "too large", NULL);
    TU_ASSERT_ERR(tnn_image_grid_size(INT_MAX, 1, 1, INT_MAX, 0, &w, &h), TNN_ERR_ARG, "too large", NULL);
    TU_ASSERT_ERR(tnn_image_grid_size(INT_MAX, 1, 1, 1, INT_MAX, &w, &h), TNN_ERR_ARG, "too large", NULL);
}

/* 25 random 28 x 28 images: padding pixels are 0, images land in their cells,
 * min-max normalisation over all 25, gray replicated to RGB. */
static void grid_pixels(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    tnn_tensor *x = tu_rand_tensor(&r, 25, 784, -0.7f, 0.9f);
    float lo = x->data[0], hi = x->data[0];
    for (size_t i = 0; i < x->size; i++) {
        lo = fminf(lo, x->data[i]);
        hi = fmaxf(hi, x->data[i]);
    }
    uint8_t *rgb = malloc(152 * 152 * 3);
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 25, 1, 28, 28, 5, 2, true));
    int lo_seen = 0, hi_seen = 0;
    for (int y = 0; y < 152; y++) {
        for (int xx = 0; xx < 152; xx++) {
            const uint8_t *p = rgb + (y * 152 + xx) * 3;
            assert_int_equal(p[0], p[1]);
            assert_int_equal(p[1], p[2]);
            bool pad = y % 30 < 2 || xx % 30 < 2;
            if (pad) {
                assert_int_equal(p[0], 0);
                continue;
            }
            int k = (y / 30) * 5 + xx / 30, i = y % 30 - 2, j = xx % 30 - 2;
            float v = x->data[k * 784 + i * 28 + j];
            assert_int_equal(p[0], expect_pixel(v, lo, hi));
            lo_seen += p[0] == 0;
            hi_seen += p[0] == 255;
        }
    }
    assert_true(lo_seen >= 1 && hi_seen >= 1); /* the extremes map to 0 and 255 */
    free(rgb);
    tnn_tensor_free(x);
}

/* Each of the tensor's rows must be one image: [25 x 784] as 27 x 27 images (729 values,
 * enough of them in all) is refused, naming the shape, and so is a 1-D tensor that is
 * not whole images; [25 x 1 x 28 x 28] and a 1-D tensor of whole images are taken. */
static void grid_refuses_rows_of_another_size(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_tensor *x = tu_rand_tensor(&r, 25, 784, -1.0f, 1.0f);
    uint8_t *rgb = calloc(152 * 152 * 3, 1);
    assert_non_null(rgb);
    TU_ASSERT_ERR(tnn_image_grid_rgb(rgb, x, 25, 1, 27, 27, 5, 2, true), TNN_ERR_SHAPE, "[25 x 784]", "27 x 27",
                  (const char *)NULL);
    TU_ASSERT_ERR(tnn_image_grid_rgb(rgb, x, 9, 3, 28, 28, 3, 2, true), TNN_ERR_SHAPE, "3 x 28 x 28", (const char *)NULL);
    TU_ASSERT_OK(tnn_tensor_reshape(x, 4, (int[]){25, 1, 28, 28}));
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 25, 1, 28, 28, 5, 2, true));
    TU_ASSERT_OK(tnn_tensor_reshape(x, 1, (int[]){25 * 784}));
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 25, 1, 28, 28, 5, 2, true));
    TU_ASSERT_ERR(tnn_image_grid_rgb(rgb, x, 16, 1, 27, 27, 4, 2, true), TNN_ERR_SHAPE, "27 x 27", (const char *)NULL);
    /* one image in its own shape, [h x w] or [channels x h x w], as save_image takes it:
     * the same pixels as the image as a row */
    uint8_t *one = calloc(32 * 32 * 3, 1);
    assert_non_null(one);
    TU_ASSERT_OK(tnn_tensor_reshape(x, 2, (int[]){25, 784}));
    memset(rgb, 0, 32 * 32 * 3); /* the padding is left as it is */
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 1, 1, 28, 28, 1, 2, true));
    tnn_tensor *img = tnn_tensor_new2(28, 28);
    memcpy(img->data, x->data, 784 * sizeof(float));
    TU_ASSERT_OK(tnn_image_grid_rgb(one, img, 1, 1, 28, 28, 1, 2, true));
    assert_memory_equal(one, rgb, 32 * 32 * 3);
    tnn_tensor_free(img);
    img = tnn_tensor_new3(3, 8, 8);
    tnn_tensor_uniform(img, &r, -1.0f, 1.0f);
    TU_ASSERT_OK(tnn_image_grid_rgb(one, img, 1, 3, 8, 8, 1, 2, true));
    /* a [3 x 8 x 8] image given as 8 x 6 images is neither one image nor rows of them */
    TU_ASSERT_ERR(tnn_image_grid_rgb(one, img, 1, 1, 8, 6, 1, 2, true), TNN_ERR_SHAPE, "[3 x 8 x 8]", (const char *)NULL);
    tnn_tensor_free(img);
    free(one);
    free(rgb);
    tnn_tensor_free(x);
}

/* Known values: -1 -> 0, 1 -> 255, 0 -> 127.5 rounded half up = 128; a constant grid is
 * all 0 (max(hi - lo, 1e-5)); without normalize values are clamped to [0, 1]. */
static void grid_normalisation(void **state)
{
    (void)state;
    tnn_tensor *x = tnn_tensor_new2(2, 4);
    float v[8] = {-1.0f, 0.0f, 1.0f, 0.5f, -0.5f, 0.25f, -0.25f, 0.0f};
    memcpy(x->data, v, sizeof v);
    uint8_t rgb[3 * 12 * 8]; /* 2 images of 2 x 2, nrow 2, padding 2: 2*4+2 = 10 wide, 6 high */
    int w, h;
    TU_ASSERT_OK(tnn_image_grid_size(2, 2, 2, 2, 2, &w, &h));
    assert_int_equal(w, 10);
    assert_int_equal(h, 6);
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 2, 1, 2, 2, 2, 2, true));
    const uint8_t want[8] = {0, 128, 255, 191, 64, 159, 96, 128};
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < 4; p++) {
            int gy = 2 + p / 2, gx = 2 + k * 4 + p % 2;
            assert_int_equal(rgb[(gy * w + gx) * 3], want[k * 4 + p]);
        }
    /* constant images */
    tnn_tensor_fill(x, 0.3f);
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 2, 1, 2, 2, 2, 2, true));
    for (int i = 0; i < w * h * 3; i++) assert_int_equal(rgb[i], 0);
    /* no normalisation: clamp(v * 255 + 0.5, 0, 255) */
    float raw[8] = {-1.0f, 0.0f, 1.0f, 2.0f, 0.5f, 0.002f, 0.998f, 0.25f};
    memcpy(x->data, raw, sizeof raw);
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 2, 1, 2, 2, 2, 2, false));
    const uint8_t want2[8] = {0, 0, 255, 255, 128, 1, 254, 64};
    for (int k = 0; k < 2; k++)
        for (int p = 0; p < 4; p++) {
            int gy = 2 + p / 2, gx = 2 + k * 4 + p % 2;
            assert_int_equal(rgb[(gy * w + gx) * 3], want2[k * 4 + p]);
        }
    /* NaN in a normalised grid is an error, not a silent image */
    x->data[3] = NAN;
    TU_ASSERT_ERR(tnn_image_grid_rgb(rgb, x, 2, 1, 2, 2, 2, 2, true), TNN_ERR_NUMERIC, "NaN", NULL);
    /* too few values for the images asked for */
    TU_ASSERT_ERR(tnn_image_grid_rgb(rgb, x, 3, 1, 2, 2, 2, 2, true), TNN_ERR_SHAPE, "3 images", NULL);
    tnn_tensor_free(x);
}

/* Three channels: planes R, G, B of each image become the pixel's RGB. */
static void grid_three_channels(void **state)
{
    (void)state;
    tnn_tensor *x = tnn_tensor_new2(2, 3);
    float v[6] = {0.0f, 0.5f, 1.0f, 1.0f, 0.0f, 0.5f}; /* 2 images of 1 x 1, planar RGB */
    memcpy(x->data, v, sizeof v);
    uint8_t rgb[3 * 8 * 5];
    int w, h;
    TU_ASSERT_OK(tnn_image_grid_size(2, 1, 1, 2, 2, &w, &h));
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 2, 3, 1, 1, 2, 2, false));
    const uint8_t *p0 = rgb + (2 * w + 2) * 3, *p1 = rgb + (2 * w + 5) * 3;
    assert_int_equal(p0[0], 0);
    assert_int_equal(p0[1], 128);
    assert_int_equal(p0[2], 255);
    assert_int_equal(p1[0], 255);
    assert_int_equal(p1[1], 0);
    assert_int_equal(p1[2], 128);
    tnn_tensor_free(x);
}

/* The PNG file: a valid 152 x 152 RGB image equal to the rendered grid. */
static void grid_png_readback(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 9);
    tnn_tensor *x = tu_rand_tensor(&r, 30, 784, -1.0f, 1.0f);
    char path[128];
    snprintf(path, sizeof path, "%s/0.png", tu_dir);
    TU_ASSERT_OK(tnn_save_image_grid(path, x, 25, 1, 28, 28, 5, 2, true)); /* first 25 of 30 */
    int w, h, c;
    uint8_t *png = tu_png_load(path, &w, &h, &c, 0);
    assert_non_null(png);
    assert_int_equal(w, 152);
    assert_int_equal(h, 152);
    assert_int_equal(c, 3);
    uint8_t *rgb = malloc(152 * 152 * 3);
    TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, 25, 1, 28, 28, 5, 2, true));
    assert_memory_equal(png, rgb, 152 * 152 * 3);
    tu_png_free(png);
    free(rgb);
    /* Replacing an existing file works and leaves no temporary file. */
    TU_ASSERT_OK(tnn_save_image_grid(path, x, 25, 1, 28, 28, 5, 2, true));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s')\" = 0.png", tu_dir);
    assert_int_equal(system(cmd), 0);
    /* An unwritable place is an error naming the file. */
    TU_ASSERT_ERR(tnn_save_image_grid("/nonexistent-folder/x.png", x, 25, 1, 28, 28, 5, 2, true), TNN_ERR_IO,
                  "/nonexistent-folder/x.png", NULL);
    tnn_tensor_free(x);
}

static void png_gray_and_rgba(void **state)
{
    (void)state;
    uint8_t px[4 * 3 * 4];
    for (int i = 0; i < 48; i++) px[i] = (uint8_t)(i * 5);
    char path[128];
    const int chans[4] = {1, 2, 3, 4};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/c%d.png", tu_dir, chans[k]);
        TU_ASSERT_OK(tnn_write_png(path, px, 3, 4, chans[k]));
        int w, h, c;
        uint8_t *img = tu_png_load(path, &w, &h, &c, 0);
        assert_non_null(img);
        assert_int_equal(w, 3);
        assert_int_equal(h, 4);
        assert_int_equal(c, chans[k]);
        assert_memory_equal(img, px, (size_t)(12 * chans[k]));
        tu_png_free(img);
    }
    TU_ASSERT_ERR(tnn_write_png(path, px, 3, 4, 5), TNN_ERR_ARG, "5 channels", NULL);
}

/* Grids of 2- and 4-channel images are written as torchvision's save_image writes them:
 * gray + alpha and RGBA PNGs, each channel in its place, padding 0 (transparent). */
static void grid_two_and_four_channels(void **state)
{
    (void)state;
    for (int ch = 2; ch <= 4; ch += 2) {
        /* 2 images of 1 x 2 pixels, channel-planar; value (k, c, p) = (k + c + p) / 8 */
        tnn_tensor *x = tnn_tensor_new2(2, ch * 2);
        for (int k = 0; k < 2; k++)
            for (int c = 0; c < ch; c++)
                for (int p = 0; p < 2; p++) x->data[k * ch * 2 + c * 2 + p] = (float)(k + c + p) / 8.0f;
        char path[128];
        snprintf(path, sizeof path, "%s/g%d.png", tu_dir, ch);
        TU_ASSERT_OK(tnn_save_image_grid(path, x, 2, ch, 1, 2, 2, 1, false)); /* 1 + 2 + 1 + 2 + 1 = 7 x 3 */
        int w, h, c;
        uint8_t *img = tu_png_load(path, &w, &h, &c, 0);
        assert_non_null(img);
        assert_int_equal(w, 7);
        assert_int_equal(h, 3);
        assert_int_equal(c, ch);
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 7; xx++)
                for (int cc = 0; cc < ch; cc++) {
                    int want = 0, k = xx < 4 ? 0 : 1, p = xx - 1 - 3 * k;
                    if (y == 1 && p >= 0 && p < 2) want = (int)((float)(k + cc + p) / 8.0f * 255.0f + 0.5f);
                    assert_int_equal(img[(y * 7 + xx) * ch + cc], want);
                }
        tu_png_free(img);
        tnn_tensor_free(x);
    }
    tnn_tensor *x = tnn_tensor_new2(1, 5 * 4);
    TU_ASSERT_ERR(tnn_save_image_grid("/tmp/never.png", x, 1, 5, 2, 2, 1, 0, false), TNN_ERR_ARG, "5 channels", NULL);
    tnn_tensor_free(x);
}

/* ---- PIL's bilinear resize ----
 * Shrinking [0, 100, 200, 255] to 2 pixels: scale 2, support 2; pixel 0 covers source
 * 0..2 with triangle weights .75, .75, .25 (normalised /1.75), in 22-bit fixed point
 * 1797559, 1797559, 599186: (2^21 + 100*1797559 + 200*599186) >> 22 = 71; pixel 1
 * covers 1..3 with 599186, 1797559, 1797559: 209. Growing [0, 200] to 4 pixels
 * (support 1): [0, 50, 150, 200]. */
static void resize_pil_bilinear(void **state)
{
    (void)state;
    const uint8_t row[4] = {0, 100, 200, 255};
    uint8_t out[16];
    TU_ASSERT_OK(tnn_image_resize_u8(out, 1, 2, row, 1, 4, 1));
    assert_int_equal(out[0], 71);
    assert_int_equal(out[1], 209);
    const uint8_t two[2] = {0, 200};
    TU_ASSERT_OK(tnn_image_resize_u8(out, 1, 4, two, 1, 2, 1));
    const uint8_t up[4] = {0, 50, 150, 200};
    assert_memory_equal(out, up, 4);
    /* The same along the vertical axis (a column), and both axes at once: the
     * fixed-point weights sum to exactly 2^22, so constant rows stay constant. */
    TU_ASSERT_OK(tnn_image_resize_u8(out, 2, 1, row, 4, 1, 1));
    assert_int_equal(out[0], 71);
    assert_int_equal(out[1], 209);
    uint8_t sq[16];
    for (int i = 0; i < 16; i++) sq[i] = row[i % 4];
    TU_ASSERT_OK(tnn_image_resize_u8(out, 2, 2, sq, 4, 4, 1));
    const uint8_t want[4] = {71, 209, 71, 209};
    assert_memory_equal(out, want, 4);
    /* Interleaved channels are resized independently. */
    uint8_t rgb[12];
    for (int i = 0; i < 4; i++) {
        rgb[3 * i] = row[i];
        rgb[3 * i + 1] = 7;
        rgb[3 * i + 2] = row[3 - i];
    }
    TU_ASSERT_OK(tnn_image_resize_u8(out, 1, 2, rgb, 1, 4, 3));
    const uint8_t want3[6] = {71, 7, 209, 209, 7, 71};
    assert_memory_equal(out, want3, 6);
    /* Equal sizes copy. */
    TU_ASSERT_OK(tnn_image_resize_u8(out, 4, 4, sq, 4, 4, 1));
    assert_memory_equal(out, sq, 16);
    TU_ASSERT_ERR(tnn_image_resize_u8(out, 0, 4, sq, 4, 4, 1), TNN_ERR_ARG, "resize", NULL);
}


/* ---- goldens from torchvision and Pillow (tests/data/images/make_goldens.py) ---- */

static void *read_golden(const char *name, size_t want)
{
    char path[512];
    snprintf(path, sizeof path, "%s/images/%s", TNN_TEST_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open golden file %s", path);
    void *b = malloc(want + 1);
    size_t got = fread(b, 1, want + 1, f);
    fclose(f);
    if (got != want) fail_msg("%s: %zu bytes, expected %zu", path, got, want);
    return b;
}

/* save_image(x, path, nrow, normalize) from torchvision 0.14, pixel for pixel. */
static void grid_matches_torchvision(void **state)
{
    (void)state;
    const struct { const char *name; int n, c, h, w, nrow; bool norm; } cases[] = {
        {"mnist25", 25, 1, 28, 28, 5, true},
        {"rgb7", 7, 3, 8, 12, 4, true},
        {"single", 1, 1, 28, 28, 5, true},
        {"raw10", 10, 1, 6, 6, 5, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char f32[64], png[512];
        size_t count = (size_t)cases[k].n * (size_t)(cases[k].c * cases[k].h * cases[k].w);
        snprintf(f32, sizeof f32, "grid_%s.f32", cases[k].name);
        float *v = read_golden(f32, count * sizeof(float));
        tnn_tensor *x = tnn_tensor_view(v, 2, (int[]){cases[k].n, (int)(count / (size_t)cases[k].n)});
        snprintf(png, sizeof png, "%s/images/grid_%s.png", TNN_TEST_DATA_DIR, cases[k].name);
        int w, h, c;
        uint8_t *ref = tu_png_load(png, &w, &h, &c, 3);
        assert_non_null(ref);
        int gw, gh;
        TU_ASSERT_OK(tnn_image_grid_size(cases[k].n, cases[k].h, cases[k].w, cases[k].nrow, 2, &gw, &gh));
        assert_int_equal(gw, w);
        assert_int_equal(gh, h);
        uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
        TU_ASSERT_OK(tnn_image_grid_rgb(rgb, x, cases[k].n, cases[k].c, cases[k].h, cases[k].w, cases[k].nrow, 2,
                                        cases[k].norm));
        for (int i = 0; i < w * h * 3; i++)
            if (rgb[i] != ref[i])
                fail_msg("%s: pixel (%d, %d) channel %d is %d, torchvision %d", cases[k].name, i / 3 % w, i / 3 / w,
                         i % 3, rgb[i], ref[i]);
        free(rgb);
        tu_png_free(ref);
        tnn_tensor_free(x);
        free(v);
    }
}

/* Pillow 9.4's Image.resize(size, BILINEAR), byte for byte. */
static void resize_matches_pil(void **state)
{
    (void)state;
    uint8_t *in = read_golden("resize_in.u8", 784);
    const int sizes[][2] = {{16, 16}, {32, 32}, {64, 64}, {7, 7}, {20, 41}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int oh = sizes[k][0], ow = sizes[k][1];
        char name[64];
        snprintf(name, sizeof name, "resize_%dx%d.u8", oh, ow);
        uint8_t *ref = read_golden(name, (size_t)(oh * ow));
        uint8_t *out = malloc((size_t)(oh * ow));
        TU_ASSERT_OK(tnn_image_resize_u8(out, oh, ow, in, 28, 28, 1));
        for (int i = 0; i < oh * ow; i++)
            if (out[i] != ref[i]) fail_msg("%s: pixel %d is %d, PIL %d", name, i, out[i], ref[i]);
        free(out);
        free(ref);
    }
    free(in);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(grid_geometry),
    cmocka_unit_test(grid_pixels),
    cmocka_unit_test(grid_refuses_rows_of_another_size),
    cmocka_unit_test(grid_normalisation),
    cmocka_unit_test(grid_three_channels),
    cmocka_unit_test_setup_teardown(grid_png_readback, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(png_gray_and_rgba, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test_setup_teardown(grid_two_and_four_channels, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(resize_pil_bilinear),
    cmocka_unit_test(grid_matches_torchvision),
    cmocka_unit_test(resize_matches_pil),
};

TU_MAIN("image", tests)
