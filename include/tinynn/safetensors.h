/**
 * @file tinynn/safetensors.h
 * @brief Save and load tensors in the safetensors format.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON header mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
 * "__metadata__" string map, then the raw little-endian data; offsets are relative to
 * the start of the data area. docs/safetensors.md has the details and the checks.
 *
 * Names are PyTorch state_dict names, so files are interchangeable with
 * safetensors.torch.save_file / load_file. Only F32 and I64 tensors are read and
 * written (files with other dtypes are refused, naming the tensor and its dtype).
 * Scalars (num_batches_tracked, Adam's step) have shape [].
 *
 * Writes are atomic: the file is written to a temporary file in the same folder,
 * flushed, fsynced and renamed over the target, so a crash or a full disk leaves any
 * previous file intact. A target that is write-protected for this process (as fopen
 * would find it), or that is not a regular file (a folder, a device, a FIFO), is
 * refused with TNN_ERR_IO before anything is written; a symbolic link is itself
 * replaced by the new file, and what it pointed to is left alone (a link to a
 * write-protected file is refused, as fopen would refuse to write through it). The IDX and PNG
 * writers (data.h, image.h) save the same way.
 *
 * Every function reports failures as the rest of libtinynn does: a negative
 * tnn_status (or NULL) and a message in tnn_last_error() naming the file and the
 * problem.
 */
#ifndef TINYNN_SAFETENSORS_H
#define TINYNN_SAFETENSORS_H

#include "module.h"
#include "optim.h"
#include "lr_scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- string metadata (safetensors "__metadata__") ---- */
/** String metadata (a file's "__metadata__"): an ordered map of string keys to string
 * values. Opaque; use the tnn_metadata_* functions. */
typedef struct tnn_metadata tnn_metadata;
/** New empty metadata; NULL on failure. Free with tnn_metadata_free. */
TNN_API tnn_metadata *tnn_metadata_new(void);
/** Deep copy (NULL in, NULL out). */
TNN_API tnn_metadata *tnn_metadata_clone(const tnn_metadata *md);
/** Sets (or replaces) key = value; both are copied. */
TNN_API tnn_status tnn_metadata_set(tnn_metadata *md, const char *key, const char *value);
/** Value of key, or NULL. */
TNN_API const char *tnn_metadata_get(const tnn_metadata *md, const char *key);
/** Number of key/value pairs (0 for NULL). */
TNN_API int tnn_metadata_count(const tnn_metadata *md);
/** i-th key, 0 <= i < count, else NULL (insertion order for metadata you built;
 * file order when loaded). */
TNN_API const char *tnn_metadata_key(const tnn_metadata *md, int i);
/** i-th value, 0 <= i < count, else NULL (same order as tnn_metadata_key). */
TNN_API const char *tnn_metadata_value(const tnn_metadata *md, int i);
/** Free md and its strings. NULL is a no-op. */
TNN_API void tnn_metadata_free(tnn_metadata *md);

/* ---- reading: a whole file, validated, in memory ---- */
/** A loaded, validated safetensors file held in memory. Opaque; use the
 * tnn_safetensors_* functions. */
typedef struct tnn_safetensors tnn_safetensors;

/** Most dimensions a tensor of a safetensors file may have. */
#define TNN_ST_MAX_DIMS 8
/** Largest header accepted (the reference implementation's limit). */
#define TNN_ST_MAX_HEADER 100000000u

/** One tensor of a loaded file. data points into the file's buffer (little-endian,
 * possibly unaligned: copy with memcpy). Valid while the tnn_safetensors lives. */
typedef struct tnn_st_tensor {
    const char *name;  /**< the tensor's name in the file */
    tnn_dtype dtype;   /**< only F32 and I64 are loaded; other dtypes are reported by name */
    int ndim;          /**< 0 for scalars, at most TNN_ST_MAX_DIMS */
    int64_t shape[TNN_ST_MAX_DIMS]; /**< shape[0..ndim) */
    size_t count;      /**< number of elements (1 for a scalar) */
    const void *data;  /**< the raw data, little-endian, possibly unaligned */
    size_t nbytes;     /**< count * element size */
} tnn_st_tensor;

/** Read and validate a file: header length within the file, JSON well formed, known
 * dtypes, shapes matching data sizes, offsets in range, not overlapping and covering
 * the data area. NULL on any problem, with tnn_last_error() naming the file and the
 * problem. Free with tnn_safetensors_free. */
TNN_API tnn_safetensors *tnn_safetensors_load(const char *path);
/** The same from memory (buf is copied). `what` names the source in messages. */
TNN_API tnn_safetensors *tnn_safetensors_parse(const void *buf, size_t len, const char *what);
/** Number of tensors in the file (0 for NULL). */
TNN_API int tnn_safetensors_count(const tnn_safetensors *st);
/** Tensor i, in the order of the file's header; NULL out of range. */
TNN_API const tnn_st_tensor *tnn_safetensors_get(const tnn_safetensors *st, int i);
/** Tensor called name; NULL for an unknown name (binary search). */
TNN_API const tnn_st_tensor *tnn_safetensors_find(const tnn_safetensors *st, const char *name);
/** The file's `__metadata__` (never NULL for a loaded file; may be empty). */
TNN_API const tnn_metadata *tnn_safetensors_metadata(const tnn_safetensors *st);
/** Free a loaded file; every tnn_st_tensor and string taken from it becomes invalid.
 * NULL is a no-op. */
TNN_API void tnn_safetensors_free(tnn_safetensors *st);

/* ---- writing ---- */
/** Write every tensor of `tensors` (in list order, data in that order) and the optional
 * metadata (NULL or empty: no "__metadata__") to path, atomically. Names must be
 * non-empty, distinct, valid UTF-8 and not "__metadata__"; metadata must be valid
 * UTF-8. The header is padded with spaces to a multiple of 8 bytes, as the reference
 * implementation does. */
TNN_API tnn_status tnn_safetensors_save(const char *path, const tnn_tensor_list *tensors, const tnn_metadata *md);

/** Copy a loaded file's tensors into dst's tensors, matched by name. Every dtype and
 * shape must match, in strict and non-strict mode alike; each mismatch is reported by
 * name. strict: a tensor of dst missing from the file, or a file tensor not in dst, is
 * an error; non-strict: both are skipped (and logged, with a log callback), but a
 * non-empty dst of which no tensor is in the file is an error, since that is nearly
 * always a wrong prefix. Nothing is modified unless everything checks out. The message lists the first problems and the count; with a log callback
 * (tnn_set_log) every problem is also logged, one line each. Problems return
 * TNN_ERR_SHAPE. */
TNN_API tnn_status tnn_safetensors_copy_into(const tnn_safetensors *st, const tnn_tensor_list *dst, bool strict);

/* ---- modules ---- */
/** Save m's state_dict (parameters and buffers) with names prefixed by `prefix`
 * (such as "model."; NULL or "" for none), plus optional metadata, to path atomically.
 * TNN_ERR_STATE, writing nothing, while another thread is inside a call on m's model. */
TNN_API tnn_status tnn_module_save(tnn_module *m, const char *prefix, const char *path, const tnn_metadata *md);
/** Load m's state_dict from path (names prefixed by `prefix`), checked as
 * tnn_safetensors_copy_into does; m is unchanged on failure. If md_out is not NULL it
 * receives a copy of the file's metadata on success (free with tnn_metadata_free) and
 * NULL on failure. TNN_ERR_STATE while another thread is inside a call on m's model. */
TNN_API tnn_status tnn_module_load(tnn_module *m, const char *prefix, const char *path, bool strict, tnn_metadata **md_out);

/* ---- building lists from several sources (checkpoints) ----
 * A list holds copies of the names and pointers to the data (nothing is copied): the
 * module, optimizer or variable must outlive the list's use. Free it with
 * tnn_tensor_list_free. For a checkpoint: build one list, tnn_safetensors_save() it;
 * to resume, build the same list over the new objects and tnn_safetensors_copy_into()
 * it from tnn_safetensors_load(). */
/** New empty tensor list for building a checkpoint (see the functions below); NULL on
 * failure. Free with tnn_tensor_list_free. */
TNN_API tnn_tensor_list *tnn_tensor_list_new(void);
/** Append m's state_dict, names prefixed (prefix may be NULL). A name the list already
 * holds (the same module added twice under one prefix) is refused with TNN_ERR_ARG. On
 * failure the list is unchanged. */
TNN_API tnn_status tnn_tensor_list_add_module(tnn_tensor_list *l, tnn_module *m, const char *prefix);
/** Append o's state (tnn_optimizer_visit_state), names prefixed (prefix may be NULL).
 * A name the list already holds is refused with TNN_ERR_ARG. On failure the list is
 * unchanged. */
TNN_API tnn_status tnn_tensor_list_add_optimizer(tnn_tensor_list *l, tnn_optimizer *o, const char *prefix);
/** Append s's state (tnn_lr_scheduler_visit_state: "<kind>.last_epoch", ...), names
 * prefixed (prefix may be NULL). After tnn_safetensors_copy_into() has loaded it, call
 * tnn_lr_scheduler_resume(s), which checks the state and gives the optimizer its rate. A
 * state saved by another kind of scheduler has other names and is refused by the copy. A
 * name the list already holds is refused with TNN_ERR_ARG. On failure the list is
 * unchanged. */
TNN_API tnn_status tnn_tensor_list_add_lr_scheduler(tnn_tensor_list *l, tnn_lr_scheduler *s, const char *prefix);
/** Append one tensor of your own (a step counter, an RNG state, ...). ndim
 * 0..TNN_MAX_DIMS (0 is a scalar and shape may be NULL), dimensions >= 0, data read and
 * written in place (it may be NULL only if the tensor has no elements). name is copied;
 * it must be non-empty valid UTF-8, not "__metadata__" and not already in the list (the
 * names a save would refuse), else TNN_ERR_ARG. On failure the list is unchanged. */
TNN_API tnn_status tnn_tensor_list_add(tnn_tensor_list *l, const char *name, tnn_dtype dt, void *data, int ndim, const int *shape);

#ifdef __cplusplus
}
#endif
#endif
