/*
 * atomic_file_impl.h - write a file atomically (POSIX). Private.
 *
 * The data goes to a temporary file in the target's folder ("<path>.tmp-<pid>-<n>", or
 * "<folder>/.tmp-<pid>-<n>" for a name too long to take that suffix; created with
 * O_EXCL and the usual 0666 & ~umask permissions, or the mode of the file being
 * replaced). Commit flushes the stream, fsyncs the temporary file, closes it, renames
 * it over the target and fsyncs the folder. On any error before the rename the
 * temporary file is removed and the previous file, if any, is left untouched; a crash
 * mid-write leaves the previous file intact too (and at most a stale ".tmp-" file).
 * A target that exists and is not a regular file (a folder, a device, a FIFO) is
 * refused at open; a symbolic link is itself replaced by the file, as rename does.
 *
 * Two ways to use it:
 *
 *   tnn_atomic_file *f;
 *   tnn_status st = tnn_atomic_open(path, &f);           // error + tnn_last_error()
 *   if (st) return st;
 *   tnn_atomic_write(f, header, n);                      // errors are sticky...
 *   fprintf(tnn_atomic_stream(f), "...");                // ...and so are the stream's
 *   return tnn_atomic_commit(f);                         // ...checked here; frees f
 *
 * or with a callback: tnn_atomic_write_file(path, my_writer, ctx), which commits if the
 * writer returns TNN_OK and aborts otherwise (keeping the writer's error message).
 */
#ifndef TINYNN_ATOMIC_FILE_IMPL_H
#define TINYNN_ATOMIC_FILE_IMPL_H

#include "tnn_impl.h"

typedef struct tnn_atomic_file tnn_atomic_file;

/* Create the temporary file for path and set *out. On failure *out is NULL and the
 * message names path (TNN_ERR_IO, TNN_ERR_NOMEM or TNN_ERR_ARG). */
tnn_status tnn_atomic_open(const char *path, tnn_atomic_file **out);
/* The temporary file's stream, for fwrite/fprintf/callbacks (stb's write_func ...). */
FILE *tnn_atomic_stream(tnn_atomic_file *f);
/* fwrite all n bytes. The first error is remembered: later writes do nothing and
 * return it, and commit fails with it. */
tnn_status tnn_atomic_write(tnn_atomic_file *f, const void *data, size_t n);
/* Flush, fsync, close, rename over the target, fsync the folder. Allocates nothing.
 * Frees f in every case. A failure up to the rename removes the temporary file and
 * leaves the target unchanged; only a failure to sync the folder afterwards is
 * reported with the target already replaced (the message says so). */
tnn_status tnn_atomic_commit(tnn_atomic_file *f);
/* Give up: close and remove the temporary file, free f. NULL is a no-op. Does not
 * touch tnn_last_error(). */
void tnn_atomic_abort(tnn_atomic_file *f);

/* Writer callback for tnn_atomic_write_file: write everything through f and return
 * TNN_OK, or return an error (with tnn_error) to abort. */
typedef tnn_status (*tnn_atomic_writer)(tnn_atomic_file *f, void *ctx);
tnn_status tnn_atomic_write_file(const char *path, tnn_atomic_writer fn, void *ctx);

#endif
