/*
 * plot.h - line plots drawn by the project itself, for mnist_gan's <out>/losses.png.
 *
 * A plot is an RGB canvas allocated once (plot_new); plot_lines() redraws it from the
 * data (no allocation) and plot_write_png() writes it with the library's PNG writer
 * (tnn_write_png, atomic). Text uses a built-in 5 x 7 bitmap font covering printable
 * ASCII, so there is no font dependency.
 *
 * What plot_lines draws: a title, a frame with grid lines and tick labels at "nice"
 * values (1, 2 or 5 times a power of ten) on both axes, axis labels, and for each
 * series a thin light line through every point plus, when there are many points, a
 * thick line through their centred moving average (window about 1/50 of the points),
 * and a legend naming the series in their colours.
 */
#ifndef TINYNN_EXAMPLES_PLOT_H
#define TINYNN_EXAMPLES_PLOT_H

#include <tinynn/tinynn.h>

typedef struct plot plot;

/* One curve: y[i * stride] for i in [0, n). */
typedef struct plot_series {
    const char *label;
    const float *y;
    size_t stride;
    uint8_t rgb[3];
} plot_series;

/* What plot_lines draws besides the series. Point i is at x = (i + 1) * x_step: with
 * x_step = 1 / batches_per_epoch, x counts epochs and a full epoch ends at 1.0. */
typedef struct plot_axes {
    const char *title, *xlabel, *ylabel;
    double x_step;
} plot_axes;

/* width, height in pixels (at least 200 x 120). NULL on failure. */
plot *plot_new(int width, int height);
void plot_free(plot *p);

/* Redraw the canvas: n points of each series (non-finite values are skipped). The y
 * range runs from min(0, lowest value) to a nice value above the highest smoothed
 * point (or raw point, for few points), so single spikes are cut at the top rather
 * than flattening the curves. Returns the moving-average window used (1: none). */
int plot_lines(plot *p, const plot_axes *axes, const plot_series *series, int n_series, int64_t n);

/* Write the canvas as an RGB PNG, atomically. */
tnn_status plot_write_png(const plot *p, const char *path);

/* The canvas: width * height * 3 bytes, row-major RGB (for tests). */
const uint8_t *plot_pixels(const plot *p, int *width, int *height);

/* Text in the built-in font (scale 1: 6 pixels per character including spacing, 7
 * high). Characters outside printable ASCII are drawn as '?'. Returns the width. */
int plot_text(plot *p, int x, int y, const char *s, int scale, const uint8_t rgb[3]);
int plot_text_width(const char *s, int scale);

/* A nice tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over
 * range (> 0). */
double plot_nice_step(double range, int target);

#endif
