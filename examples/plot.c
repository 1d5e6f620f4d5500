/* Line plots on an RGB canvas with a built-in bitmap font (see plot.h). */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plot {
    int w, h;
    uint8_t *rgb;
    int cx0, cy0, cx1, cy1; /* clip rectangle, inclusive */
};

/* 5 x 7 glyphs for ASCII 32..126, one byte per row, top row first; bit 4 is the
 * leftmost column. The classic character-LCD shapes, except that g, p, q and y are
 * drawn two rows lower (their tails below the line). */
static const uint8_t FONT[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, /* & */
    {0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, /* @ */
    {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* \ */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, /* ] */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
    {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g (descender) */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */
    {0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10}, /* p (descender) */
    {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01}, /* q (descender) */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
    {0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y (descender) */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

static const uint8_t WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0}, GRID[3] = {225, 225, 225},
                     GRAY[3] = {90, 90, 90};

plot *plot_new(int width, int height)
{
    if (width < 200 || height < 120 || width > 8192 || height > 8192) return NULL;
    plot *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->w = width;
    p->h = height;
    p->rgb = malloc((size_t)width * (size_t)height * 3);
    if (!p->rgb) {
        free(p);
        return NULL;
    }
    p->cx0 = p->cy0 = 0;
    p->cx1 = width - 1;
    p->cy1 = height - 1;
    memset(p->rgb, 255, (size_t)width * (size_t)height * 3);
    return p;
}

void plot_free(plot *p)
{
    if (!p) return;
    free(p->rgb);
    free(p);
}

const uint8_t *plot_pixels(const plot *p, int *width, int *height)
{
    if (width) *width = p->w;
    if (height) *height = p->h;
    return p->rgb;
}

tnn_status plot_write_png(const plot *p, const char *path) { return tnn_write_png(path, p->rgb, p->w, p->h, 3); }

/* ---------------- drawing primitives ---------------- */

static void set_clip(plot *p, int x0, int y0, int x1, int y1)
{
    p->cx0 = x0;
    p->cy0 = y0;
    p->cx1 = x1;
    p->cy1 = y1;
}

/* Pixel (x, y) = (1 - a) * pixel + a * c, inside the clip rectangle. */
static void blend(plot *p, int x, int y, const uint8_t c[3], int a256)
{
    if (x < p->cx0 || x > p->cx1 || y < p->cy0 || y > p->cy1) return;
    uint8_t *d = p->rgb + ((size_t)y * (size_t)p->w + (size_t)x) * 3;
    for (int k = 0; k < 3; k++) d[k] = (uint8_t)((d[k] * (256 - a256) + c[k] * a256) >> 8);
}

static void fill(plot *p, int x0, int y0, int x1, int y1, const uint8_t c[3])
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) blend(p, x, y, c, 256);
}

/* Bresenham line, each point a thick x thick square, blended with weight a256/256. */
static void line(plot *p, int x0, int y0, int x1, int y1, const uint8_t c[3], int thick, int a256)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    int off = (thick - 1) / 2;
    for (;;) {
        for (int j = 0; j < thick; j++)
            for (int i = 0; i < thick; i++) blend(p, x0 - off + i, y0 - off + j, c, a256);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) { e += dy; x0 += sx; }
        if (e2 <= dx) { e += dx; y0 += sy; }
    }
}

int plot_text_width(const char *s, int scale) { return (int)strlen(s) * 6 * scale - (*s ? scale : 0); }

int plot_text(plot *p, int x, int y, const char *s, int scale, const uint8_t rgb[3])
{
    int x0 = x;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 32 || ch > 126) ch = '?';
        const uint8_t *g = FONT[ch - 32];
        int dy = strchr("gpqy", ch) ? 2 * scale : 0;
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (g[r] & (0x10 >> col)) fill(p, x + col * scale, y + dy + r * scale, x + col * scale + scale - 1,
                                               y + dy + r * scale + scale - 1, rgb);
        x += 6 * scale;
    }
    return x - x0 - (x > x0 ? scale : 0);
}

double plot_nice_step(double range, int target)
{
    if (!(range > 0.0) || !isfinite(range)) return 1.0;
    double raw = range / (target > 0 ? target : 1);
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * mag;
}

/* "0.25", "3", "1e+04": as many decimals as the step needs. */
static void tick_label(char *buf, size_t len, double v, double step)
{
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) < step * 1e-6) v = 0.0; /* no "-0" */
    if (fabs(v) >= 1e6) snprintf(buf, len, "%.0e", v);
    else snprintf(buf, len, "%.*f", dec, v);
}

/* ---------------- the plot ---------------- */

/* Centred moving average of series s at point i over [i - h, i + h] (clipped), kept
 * incrementally in *sum / *cnt as i advances by one. Non-finite values are skipped. */
typedef struct smoother {
    const plot_series *s;
    int64_t n, h, lo, hi; /* window [lo, hi) currently summed */
    double sum;
    int64_t cnt;
} smoother;

static double value(const plot_series *s, int64_t i) { return s->y[(size_t)i * s->stride]; }

static double smooth_at(smoother *m, int64_t i)
{
    int64_t lo = i - m->h < 0 ? 0 : i - m->h, hi = i + m->h + 1 > m->n ? m->n : i + m->h + 1;
    while (m->hi < hi) {
        double v = value(m->s, m->hi++);
        if (isfinite(v)) { m->sum += v; m->cnt++; }
    }
    while (m->lo < lo) {
        double v = value(m->s, m->lo++);
        if (isfinite(v)) { m->sum -= v; m->cnt--; }
    }
    return m->cnt ? m->sum / (double)m->cnt : NAN;
}

int plot_lines(plot *p, const plot_axes *ax, const plot_series *series, int n_series, int64_t n)
{
    memset(p->rgb, 255, (size_t)p->w * (size_t)p->h * 3);
    set_clip(p, 0, 0, p->w - 1, p->h - 1);
    const int S = 2; /* text scale of title, labels and legend */
    int left = 12 + 6 * 6 * 1 + 8, right = p->w - 20, top = 16 + 7 * S + 16, bottom = p->h - (8 + 7 + 10 + 7 * S + 8);
    if (ax->title) plot_text(p, (p->w - plot_text_width(ax->title, S)) / 2, 10, ax->title, S, BLACK);

    /* smoothing window: about 1/50 of the points, odd */
    int64_t h = n / 100;
    int window = (int)(2 * h + 1);

    /* y range: 0 (or the lowest value) to a nice value above the highest curve */
    double ymin = 0.0, ymax = -INFINITY;
    for (int k = 0; k < n_series; k++) {
        smoother m = {&series[k], n, h, 0, 0, 0.0, 0};
        for (int64_t i = 0; i < n; i++) {
            double v = value(&series[k], i), sv = smooth_at(&m, i);
            if (isfinite(v) && v < ymin) ymin = v;
            if (isfinite(sv) && sv > ymax) ymax = sv;
        }
    }
    if (!(ymax > ymin)) ymax = ymin + 1.0;
    double ystep = plot_nice_step((ymax - ymin) * 1.1, 5);
    ymin = floor(ymin / ystep) * ystep;
    ymax = ceil(ymax * 1.1 / ystep) * ystep;
    double xmax = (double)(n > 0 ? n : 1) * ax->x_step;
    if (!(xmax > 0.0)) xmax = 1.0;
    double xstep = plot_nice_step(xmax, 8);

    int pw = right - left, ph = bottom - top;
#define PX(x) (left + (int)lround((x) / xmax * pw))
#define PY(y) (bottom - (int)lround(((y) - ymin) / (ymax - ymin) * ph))
    /* grid and tick labels */
    char buf[32];
    for (int k = 0;; k++) {
        double v = ymin + k * ystep;
        if (v > ymax + ystep * 1e-6) break;
        int y = PY(v);
        line(p, left, y, right, y, GRID, 1, 256);
        tick_label(buf, sizeof buf, v, ystep);
        plot_text(p, left - 6 - plot_text_width(buf, 1), y - 3, buf, 1, GRAY);
    }
    for (int k = 0;; k++) {
        double v = k * xstep;
        if (v > xmax * (1.0 + 1e-9)) break;
        int x = PX(v);
        line(p, x, top, x, bottom, GRID, 1, 256);
        tick_label(buf, sizeof buf, v, xstep);
        plot_text(p, x - plot_text_width(buf, 1) / 2, bottom + 8, buf, 1, GRAY);
    }
    line(p, left, top, right, top, BLACK, 1, 256);
    line(p, left, bottom, right, bottom, BLACK, 1, 256);
    line(p, left, top, left, bottom, BLACK, 1, 256);
    line(p, right, top, right, bottom, BLACK, 1, 256);
    if (ax->xlabel) plot_text(p, left + (pw - plot_text_width(ax->xlabel, S)) / 2, bottom + 8 + 7 + 10, ax->xlabel, S, BLACK);
    if (ax->ylabel) plot_text(p, 8, top - 7 * S - 6, ax->ylabel, S, BLACK);

    /* the curves, clipped to the frame. Few points: a thin line through each. More
     * points than pixel columns: per column, a light band of mean +- one standard
     * deviation of the points falling in it. Then the moving average, thick. */
    set_clip(p, left + 1, top + 1, right - 1, bottom - 1);
    bool dense = n > pw;
    for (int k = 0; dense && k < n_series; k++) {
        const plot_series *s = &series[k];
        uint8_t tint[3];
        for (int c = 0; c < 3; c++) tint[c] = (uint8_t)(255 - (255 - s->rgb[c]) * 2 / 5);
        int64_t i = 0;
        for (int x = left + 1; x < right; x++) {
            double sum = 0.0, sq = 0.0;
            int64_t cnt = 0;
            for (; i < n && PX((double)(i + 1) * ax->x_step) <= x; i++) {
                double v = value(s, i);
                if (isfinite(v)) { sum += v; sq += v * v; cnt++; }
            }
            if (!cnt) continue;
            double mean = sum / (double)cnt, var = sq / (double)cnt - mean * mean;
            double sd = var > 0.0 ? sqrt(var) : 0.0;
            int y0 = PY(mean + sd), y1 = PY(mean - sd);
            for (int y = y0; y <= y1; y++) {
                /* darken towards the tint only (overlapping bands mix, none accumulates) */
                if (y < p->cy0 || y > p->cy1) continue;
                uint8_t *d = p->rgb + ((size_t)y * (size_t)p->w + (size_t)x) * 3;
                for (int c = 0; c < 3; c++) if (tint[c] < d[c]) d[c] = (uint8_t)((d[c] + tint[c]) / 2);
            }
        }
    }
    for (int k = 0; !dense && k < n_series; k++) {
        const plot_series *s = &series[k];
        int px = 0, py = 0;
        bool have = false;
        for (int64_t i = 0; i < n; i++) {
            double v = value(s, i);
            if (!isfinite(v)) { have = false; continue; }
            int x = PX((double)(i + 1) * ax->x_step), y = PY(v);
            if (have) line(p, px, py, x, y, s->rgb, 1, window > 1 ? 80 : 256);
            else if (n == 1) line(p, x, y, x, y, s->rgb, 3, 256);
            px = x;
            py = y;
            have = true;
        }
    }
    if (window > 1) {
        for (int k = 0; k < n_series; k++) {
            smoother m = {&series[k], n, h, 0, 0, 0.0, 0};
            int px = 0, py = 0;
            bool have = false;
            for (int64_t i = 0; i < n; i++) {
                double v = smooth_at(&m, i);
                if (!isfinite(v)) { have = false; continue; }
                int x = PX((double)(i + 1) * ax->x_step), y = PY(v);
                if (!have || x != px || y != py) {
                    if (have) line(p, px, py, x, y, series[k].rgb, 2, 256);
                    px = x;
                    py = y;
                    have = true;
                }
            }
        }
    }
#undef PX
#undef PY

    /* legend, top right inside the frame */
    set_clip(p, 0, 0, p->w - 1, p->h - 1);
    int lw = 0;
    for (int k = 0; k < n_series; k++) {
        int t = plot_text_width(series[k].label ? series[k].label : "", S);
        if (t > lw) lw = t;
    }
    char note[64] = "";
    if (window > 1) snprintf(note, sizeof note, dense ? "line: mean of %d batches, band: +-1 sd" : "thick: mean of %d batches", window);
    int nw = plot_text_width(note, 1);
    int bw = 10 + 24 + 8 + lw + 10, bh = 8 + n_series * (7 * S + 8) + (window > 1 ? 7 + 8 : 0);
    if (nw + 20 > bw) bw = nw + 20;
    int bx = right - 10 - bw, by = top + 10;
    fill(p, bx, by, bx + bw, by + bh, WHITE);
    line(p, bx, by, bx + bw, by, GRAY, 1, 256);
    line(p, bx, by + bh, bx + bw, by + bh, GRAY, 1, 256);
    line(p, bx, by, bx, by + bh, GRAY, 1, 256);
    line(p, bx + bw, by, bx + bw, by + bh, GRAY, 1, 256);
    for (int k = 0; k < n_series; k++) {
        int y = by + 8 + k * (7 * S + 8);
        fill(p, bx + 10, y + 7 * S / 2 - 1, bx + 10 + 24, y + 7 * S / 2 + 1, series[k].rgb);
        plot_text(p, bx + 10 + 24 + 8, y, series[k].label ? series[k].label : "", S, series[k].rgb);
    }
    if (window > 1) plot_text(p, bx + 10, by + 8 + n_series * (7 * S + 8), note, 1, GRAY);
    return window;
}
