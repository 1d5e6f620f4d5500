/* The loss plot of examples/mnist_gan (examples/plot.c): its built-in font, its tick
 * steps, and that plot_lines puts each curve where its values say, in its colour. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static const uint8_t BLACK[3] = {0, 0, 0};

/* Pixels of colour c inside [x0, x1) x [y0, y1). */
static int count_colour(const plot *p, int x0, int y0, int x1, int y1, const uint8_t c[3])
{
    int w, h, n = 0;
    const uint8_t *px = plot_pixels(p, &w, &h);
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < w; x++) {
            const uint8_t *q = px + ((size_t)y * (size_t)w + (size_t)x) * 3;
            n += q[0] == c[0] && q[1] == c[1] && q[2] == c[2];
        }
    return n;
}

/* The 5 x 7 (scale 1) bitmap of one character drawn at the origin, as 35 bits (plus
 * the two descender rows). */
static uint64_t glyph_bits(char ch)
{
    plot *p = plot_new(200, 120);
    char s[2] = {ch, '\0'};
    assert_int_equal(plot_text(p, 0, 0, s, 1, BLACK), 5);
    uint64_t bits = 0;
    int w, h;
    const uint8_t *px = plot_pixels(p, &w, &h);
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 6; x++) {
            bool on = px[((size_t)y * (size_t)w + (size_t)x) * 3] == 0;
            if (x == 5) assert_false(on); /* one column of spacing */
            else bits = bits << 1 | on;
        }
    plot_free(p);
    return bits;
}

static void plot_font_and_text(void **state)
{
    (void)state;
    /* every printable character but the space draws something, and no two alike */
    uint64_t bits[95];
    for (int c = 32; c < 127; c++) {
        bits[c - 32] = glyph_bits((char)c);
        if (c == ' ') assert_true(bits[0] == 0);
        else if (bits[c - 32] == 0) fail_msg("character '%c' draws nothing", c);
        for (int d = 32; d < c; d++)
            if (bits[d - 32] == bits[c - 32]) fail_msg("characters '%c' and '%c' look the same", d, c);
    }
    /* descenders reach below the line (rows 7, 8); other letters never do */
    const uint64_t below = (1u << 10) - 1; /* the last two rows' 5 bits each */
    assert_true(glyph_bits('g') & below);
    assert_true(glyph_bits('y') & below);
    assert_false(glyph_bits('a') & below);
    assert_false(glyph_bits('D') & below);
    /* anything outside printable ASCII is a '?' */
    assert_true(glyph_bits('\x7f') == glyph_bits('?'));
    assert_true(glyph_bits('\n') == glyph_bits('?'));
    /* width: 6 pixels per character less the trailing space, times the scale */
    assert_int_equal(plot_text_width("", 1), 0);
    assert_int_equal(plot_text_width("loss", 1), 23);
    assert_int_equal(plot_text_width("loss", 2), 46);
    plot *p = plot_new(300, 120);
    assert_int_equal(plot_text(p, 10, 10, "G loss", 2, BLACK), plot_text_width("G loss", 2));
    assert_true(count_colour(p, 10, 10, 10 + 70, 10 + 18, BLACK) > 20);
    assert_int_equal(count_colour(p, 80, 0, 300, 120, BLACK), 0); /* nothing beyond its width */
    plot_free(p);
    /* sizes out of range are refused */
    assert_null(plot_new(10, 10));
    assert_null(plot_new(100000, 500));
}

static void plot_ticks(void **state)
{
    (void)state;
    const double cases[][3] = {
        {10, 5, 2}, {1, 5, 0.2}, {100, 8, 10}, {469, 8, 50}, {0.047, 8, 0.005}, {3, 8, 0.5}, {7, 5, 1}, {1e6, 4, 2e5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = plot_nice_step(cases[i][0], (int)cases[i][1]);
        if (fabs(got - cases[i][2]) > 1e-12 * cases[i][2])
            fail_msg("nice step over %g for %g ticks: %g, expected %g", cases[i][0], cases[i][1], got, cases[i][2]);
    }
    assert_true(plot_nice_step(0.0, 5) == 1.0);
    assert_true(plot_nice_step(NAN, 5) == 1.0);
}

/* Row of the plot frame's pixel for a value, found from the drawing itself: the curves
 * are flat, so the row holding most of a colour is where its value is drawn. */
static int row_of(const plot *p, const uint8_t c[3])
{
    int w, h, best = -1, most = 0;
    plot_pixels(p, &w, &h);
    for (int y = 0; y < h; y++) {
        int n = count_colour(p, 0, y, w, y + 1, c);
        if (n > most) { most = n; best = y; }
    }
    return best;
}

static void plot_lines_draws_curves(void **state)
{
    (void)state;
    enum { N = 3000 };
    float *hist = malloc(sizeof(float) * 2 * N);
    for (int i = 0; i < N; i++) {
        hist[2 * i] = 0.5f;     /* D: flat at 0.5 */
        hist[2 * i + 1] = 1.5f; /* G: flat at 1.5 */
    }
    hist[2 * 7] = NAN; /* skipped, not fatal */
    plot_series s[2] = {{"D loss", hist, 2, {31, 119, 180}}, {"G loss", hist + 1, 2, {255, 127, 14}}};
    plot_axes ax = {"title", "epoch", "loss", 1.0 / 100};
    plot *p = plot_new(800, 450);
    const uint8_t white[3] = {255, 255, 255};

    /* few points: thin full-colour lines, no smoothing */
    assert_int_equal(plot_lines(p, &ax, s, 2, 50), 1);
    int yd = row_of(p, s[0].rgb), yg = row_of(p, s[1].rgb);
    assert_true(yd > 0 && yg > 0);
    assert_true(yg < yd); /* G's 1.5 above D's 0.5 */
    /* linear y axis from 0: D's row is 3 times as far above the x axis (the frame's
     * bottom, the lowest all-black row) as G's is from D's... checked as ratios */
    int w, h, bottom = -1;
    plot_pixels(p, &w, &h);
    for (int y = h - 1; y >= 0 && bottom < 0; y--)
        if (count_colour(p, 0, y, w, y + 1, BLACK) > w / 2) bottom = y;
    assert_true(bottom > yd);
    double ratio = (double)(bottom - yg) / (double)(bottom - yd);
    if (fabs(ratio - 3.0) > 0.05) fail_msg("G/D heights %d/%d (ratio %g), expected 3", bottom - yg, bottom - yd, ratio);
    assert_true(count_colour(p, 0, 0, 5, 5, white) == 25);          /* background */
    assert_true(count_colour(p, 0, 0, w, 40, BLACK) > 50);          /* title */

    /* many points: a smoothed line over a band, and the window reported */
    int window = plot_lines(p, &ax, s, 2, N);
    assert_int_equal(window, 2 * (N / 100) + 1);
    assert_int_equal(row_of(p, s[0].rgb), yd);
    assert_int_equal(row_of(p, s[1].rgb), yg);

    /* degenerate inputs draw the axes and do not crash */
    assert_int_equal(plot_lines(p, &ax, s, 2, 0), 1);
    assert_int_equal(plot_lines(p, &ax, s, 2, 1), 1);
    assert_true(count_colour(p, 0, 0, w, h, s[0].rgb) > 0);
    hist[0] = NAN;
    assert_int_equal(plot_lines(p, &ax, s, 1, 1), 1);
    free(hist);
    plot_free(p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(plot_font_and_text),
    cmocka_unit_test(plot_ticks),
    cmocka_unit_test(plot_lines_draws_curves),
};

TU_MAIN("mnist_gan_plot", tests)
