/* What the layers that work plane by plane share (MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d, Upsample): reading the input as planes, the pooling window's output
 * size, sizing the output and recording the geometry, keeping the input for the
 * backward, the backward's checks and its dL/dx buffer. */
#include "tnn_impl.h"

#include <limits.h>
#include <string.h>

tnn_status tnn_plane_io_planes(const tnn_module *m, const tnn_tensor *x, long long *planes, int *h, int *w)
{
    if (x->ndim != 3 && x->ndim != 4) {
        char s[64], d[96];
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s is %d-D, expected [batch x channels x H x W] (or one sample "
                         "[channels x H x W])", tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s),
                         x->ndim);
    }
    const int b = x->ndim - 3; /* index of the channel dimension */
    *planes = (long long)(b ? x->shape[0] : 1) * x->shape[b];
    *h = x->shape[b + 1];
    *w = x->shape[b + 2];
    return TNN_OK;
}

/* torch's pooling_output_shape along one dimension of `size`, in long long (no
 * overflow for int arguments): floor((size + 2 pad - k) / s) + 1, or with ceil_mode
 * ceil(...) + 1, less one if the last window would start at or past size + pad (in
 * the right padding). The division rounds down, as torch's div_rtn, also below 0. */
static long long pool_out(long long size, int k, int s, int pad, bool ceil_mode)
{
    const long long num = size + 2LL * pad - k + (ceil_mode ? s - 1 : 0);
    long long out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= size + pad) out--;
    return out;
}

tnn_status tnn_pool_window_out(const tnn_module *m, const tnn_tensor *x, int h, int w, int k, int stride, int pad,
                               bool ceil_mode, long long *ho, long long *wo)
{
    char s[64], d[96];
    const long long hp = (long long)h + 2LL * pad, wp = (long long)w + 2LL * pad;
    const long long oh = pool_out(h, k, stride, pad, ceil_mode), ow = pool_out(w, k, stride, pad, ceil_mode);
    if (oh < 1 || ow < 1) /* without ceil_mode: exactly when the padded input is smaller than the window */
        return tnn_error(TNN_ERR_SHAPE,
                         "%s: input %s is %d x %d, %lld x %lld padded, smaller than the %d x %d window%s "
                         "(the output would be empty)", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(x, s, sizeof s), h, w, hp, wp, k, k,
                         ceil_mode ? " by the stride or more" : "");
    if (hp + stride > INT_MAX || wp + stride > INT_MAX) /* the window arithmetic is int's */
        return tnn_error(TNN_ERR_SHAPE, "%s: input %s: its size padded plus the stride exceeds %d",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), INT_MAX);
    *ho = oh;
    *wo = ow;
    return TNN_OK;
}

tnn_pool2d_params tnn_pool2d_defaults(void)
{
    return (tnn_pool2d_params){.stride = 0, .padding = 0, .ceil_mode = false, .count_include_pad = true,
                               .divisor_override = 0, .tag = TNN_SETTINGS_TAG};
}

const char *tnn_pool2d_bad(int k, const tnn_pool2d_params *p, bool avg)
{
    return k < 1 ? "kernel_size must be >= 1"
           : p->stride < 0 ? "stride must be >= 0 (0: the kernel size, torch's default)"
           : p->padding < 0 ? "padding must be >= 0"
           : p->padding > k / 2 ? (avg ? "padding must be at most half the kernel size, as torch's AvgPool2d requires"
                                       : "padding must be at most half the kernel size, as torch's MaxPool2d requires")
           : avg && p->divisor_override < 0 ? "divisor_override must be >= 0 (0: none, torch's None)"
           : !avg && !p->count_include_pad ? "count_include_pad is AvgPool2d's setting (MaxPool2d's padding is -inf "
                                             "and never counted): leave it true, its default"
           : !avg && p->divisor_override ? "divisor_override is AvgPool2d's setting: leave it 0, its default"
                                         : NULL;
}

void tnn_pool2d_text(char *buf, size_t len, const char *name, int k, const tnn_pool2d_params *p)
{
    char div[48] = "";
    if (p->divisor_override) snprintf(div, sizeof div, ", divisor_override=%d", p->divisor_override);
    snprintf(buf, len, "%s(k%d, s%d, p%d%s%s%s)", name, k, p->stride, p->padding,
             p->ceil_mode ? ", ceil_mode=true" : "", p->count_include_pad ? "" : ", count_include_pad=false", div);
}

tnn_status tnn_plane_io_output(const tnn_module *m, tnn_plane_io *io, const tnn_tensor *x, int planes, int h, int w,
                               int ho, int wo)
{
    const int b = x->ndim - 3; /* 0 for one sample [C x H x W] */
    const int yshape[4] = {b ? x->shape[0] : 1, x->shape[b], ho, wo};
    tnn_status st = tnn_tensor_resize(&io->y, x->ndim, b ? yshape : yshape + 1);
    if (st == TNN_ERR_NOMEM) {
        char d[96];
        return tnn_error(st, "%s output: out of memory for %zu floats", tnn_module_describe(m, d, sizeof d),
                         (size_t)planes * (size_t)ho * (size_t)wo);
    }
    if (st) { /* an output larger than size_t can count: say whose */
        char d[96], s[64];
        return tnn_error(st, "%s: the output of input %s, %d planes of %d x %d, is too large",
                         tnn_module_describe(m, d, sizeof d), tnn_tensor_shape_str(x, s, sizeof s), planes, ho, wo);
    }
    io->planes = planes;
    io->h = h;
    io->w = w;
    io->ho = ho;
    io->wo = wo;
    return TNN_OK;
}

void tnn_plane_io_keep(tnn_plane_io *io, const tnn_tensor *x, const tnn_tensor **y)
{
    io->x = x->data;
    io->x_ndim = x->ndim;
    memcpy(io->x_shape, x->shape, sizeof io->x_shape);
    *y = &io->y;
}

tnn_status tnn_plane_io_dx(const tnn_module *m, tnn_plane_io *io, const tnn_tensor *dy, bool want_dx, tnn_tensor **out)
{
    char d[96];
    *out = NULL;
    if (!io->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", tnn_module_describe(m, d, sizeof d));
    if (dy->size != (size_t)io->planes * (size_t)io->ho * (size_t)io->wo) {
        char s[64], o[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output %s", tnn_module_describe(m, d, sizeof d),
                         tnn_tensor_shape_str(dy, s, sizeof s), tnn_tensor_shape_str(&io->y, o, sizeof o));
    }
    if (!want_dx) return TNN_OK; /* no parameters: nothing else to do */
    const size_t nx = (size_t)io->planes * (size_t)io->h * (size_t)io->w;
    return tnn_pick_dx(m, io->dx, io->x, nx, dy, io->x_ndim, io->x_shape, out);
}

void tnn_plane_io_release(tnn_plane_io *io)
{
    tnn_tensor_release(&io->y);
    tnn_tensor_release(&io->dx[0]);
    tnn_tensor_release(&io->dx[1]);
}
