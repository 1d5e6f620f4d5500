/* What the layers that work plane by plane share (MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d, Upsample): sizing the output and recording the geometry, keeping
 * the input for the backward, the backward's checks and its dL/dx buffer. */
#include "tnn_impl.h"

#include <string.h>

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
    if (st) return st;
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
