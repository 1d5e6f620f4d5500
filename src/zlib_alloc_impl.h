/* zlib's allocations through the library's allocator hooks (private).
 *
 * A z_stream whose zalloc/zfree are these, and whose opaque is a string naming the
 * work ("gzip inflate"), allocates its internal state through tnn_calloc, so that
 * tnn_set_allocator sees it and a failing allocation is reported like any other. */
#ifndef TINYNN_ZLIB_ALLOC_IMPL_H
#define TINYNN_ZLIB_ALLOC_IMPL_H

#include "tnn_impl.h"

#include <zlib.h>

static inline voidpf tnn_zalloc(voidpf opaque, uInt items, uInt size)
{
    return tnn_calloc(items, size, opaque ? (const char *)opaque : "zlib");
}

static inline void tnn_zfree(voidpf opaque, voidpf p)
{
    (void)opaque;
    tnn_free(p);
}

/* Points z's allocation at the hooks; call before deflateInit/inflateInit. */
static inline void tnn_zlib_use_hooks(z_stream *z, const char *what)
{
    z->zalloc = tnn_zalloc;
    z->zfree = tnn_zfree;
    z->opaque = (voidpf)(uintptr_t)what; /* zlib's opaque is not const */
}

#endif
