/*
 * gan_checkpoint.h - everything a GAN training run needs to continue exactly where it
 * stopped, in one safetensors file (examples/mnist_gan's <out>/checkpoint.safetensors).
 *
 * The state is the trainer (both networks with their BatchNorm buffers, both Adam
 * optimizers), the random generator, the data order, the position and the per-batch
 * loss history. A checkpoint holds, in this order:
 *
 *   generator.model.*            the generator's state_dict (as generator.safetensors)
 *   discriminator.model.*        the discriminator's
 *   optimizer_g.step             Adam's step count (I64 scalar), then per parameter
 *   optimizer_g.<p>.step         <p> = "0.weight", ... (the Sequential's names): the
 *                                parameter's own count (I64 scalar); all equal here,
 *                                since every batch updates every parameter; checkpoints
 *                                of libtinynn 0.2 have none and still resume
 *   optimizer_g.<p>.exp_avg
 *   optimizer_g.<p>.exp_avg_sq
 *   optimizer_d.*                the same for the discriminator's Adam
 *   rng.state, rng.inc           PCG32's two 64-bit words (I64 scalars, bit patterns)
 *   rng.has_spare, rng.spare     the cached second Box-Muller normal (I64, F32 scalars)
 *   train.epoch, train.batch     the next batch to run (I64 scalars); batch 0 means the
 *                                epoch has not started and its shuffle is still to come
 *   train.order                  the data order (I64 [n_images]): the permutation of the
 *                                current epoch, or of the last one at batch 0 (the next
 *                                shuffle permutes it further, as the uninterrupted run does)
 *   train.losses                 F32 [batches done x 4]: d_loss, g_loss, mean D(x),
 *                                mean D(G(z)) of every batch so far (losses.csv and the
 *                                plot are rebuilt from it)
 *
 * plus the caller's __metadata__ (mnist_gan records its flags there). Restoring into a
 * freshly built trainer of the same configuration and running on gives bit-identical
 * results to never having stopped (same thread count; tests/test_mnist_gan_resume.c).
 */
#ifndef TINYNN_EXAMPLES_GAN_CHECKPOINT_H
#define TINYNN_EXAMPLES_GAN_CHECKPOINT_H

#include "gan_models.h"

/* The "format" metadata value of mnist_gan's checkpoints (weights files say "tinynn-gan"). */
#define GAN_CHECKPOINT_FORMAT "tinynn-gan-checkpoint"
/* The prefix of the generator's tensors in a checkpoint. */
#define GAN_CHECKPOINT_GENERATOR "generator." GAN_PREFIX

/* Columns of the loss history, one row per batch. */
enum { GAN_HIST_D_LOSS, GAN_HIST_G_LOSS, GAN_HIST_D_X, GAN_HIST_D_G_Z, GAN_HIST_COLS };

typedef struct gan_train_state {
    gan_trainer *tr;           /* not owned */
    tnn_rng rng;
    int n_images;              /* images in the data set */
    int batches;               /* batches per epoch */
    int *order;                /* [n_images], owned */
    int64_t epoch, batch;      /* position of the next batch */
    float *hist;               /* [n_hist x GAN_HIST_COLS], owned */
    int64_t n_hist, cap_hist;  /* n_hist = epoch * batches + batch */
} gan_train_state;

/* Allocate the order (identity) and room for one epoch of history. The trainer and
 * rng are filled in by the caller. TNN_ERR_NOMEM on failure (state left freeable). */
tnn_status gan_train_state_init(gan_train_state *s, gan_trainer *tr, int n_images, int batches);
void gan_train_state_free(gan_train_state *s);
/* Room for `rows` history rows in total (grows, never shrinks). Called once per epoch,
 * outside the batch loop. */
tnn_status gan_train_state_reserve(gan_train_state *s, int64_t rows);
/* Append the trainer's last losses (within the reserved room: no allocation). */
void gan_train_state_record(gan_train_state *s);

/* Write the checkpoint atomically (the previous file stays intact on any failure).
 * On failure err holds a message. */
tnn_status gan_checkpoint_save(const char *path, gan_train_state *s, const tnn_metadata *md, char *err,
                               size_t errlen);

/* Restore s from a loaded checkpoint `st` (file name `what` for messages). s must have
 * been built for the same configuration (same networks, n_images and batches); every
 * tensor is checked by name, dtype and shape, the order must be a permutation, the
 * position within range and consistent with the history. Nothing in s changes unless
 * everything checks out (the history may have grown). err names the problem. */
tnn_status gan_checkpoint_restore(const tnn_safetensors *st, const char *what, gan_train_state *s, char *err,
                                  size_t errlen);

/* How far the run in a loaded checkpoint got: the epochs completed (train.epoch) and
 * the --n_epochs it was started with. false if st is not a mnist_gan checkpoint. */
bool gan_checkpoint_progress(const tnn_safetensors *st, int64_t *epochs_done, long *epochs_planned);

/* The first NaN or infinity among the trainer's floats (both networks' parameters and
 * buffers, both optimizers' moments). Returns true and names the tensor and element,
 * or false if all are finite. One pass over every float: for checkpoints, not batches. */
bool gan_trainer_find_nonfinite(gan_trainer *tr, char *name, size_t namelen, size_t *index);
/* The same for values no training writes: a negative (or NaN) running_var or Adam
 * exp_avg_sq, a negative num_batches_tracked. */
bool gan_trainer_find_negative(gan_trainer *tr, char *name, size_t namelen, size_t *index);
/* The same over one module (a negative running_var or num_batches_tracked). */
bool gan_module_find_negative(tnn_module *m, const char *prefix, char *name, size_t namelen, size_t *index);
/* The same over one module's floats (parameters and buffers, names prefixed by prefix);
 * value receives the float found (NaN or an infinity). index and value may be NULL. */
bool gan_module_find_nonfinite(tnn_module *m, const char *prefix, char *name, size_t namelen, size_t *index,
                               float *value);

/* A 64-bit fingerprint of a data set (its shape and bytes), to refuse resuming on
 * other data. Not cryptographic. */
uint64_t gan_data_fingerprint(const tnn_idx *idx);

#endif
