/**
 * @file tinynn/rng.h
 * @brief A seeded random number generator owned by the caller.
 *
 * libtinynn keeps no global random state: every function that draws random numbers
 * takes a tnn_rng *. The generator is PCG32 (O'Neill, pcg-random.org), normals come
 * from the Box-Muller transform, computed in double with the library's own log, sin and
 * cos (within an ulp of glibc's, and vectorised) and rounded once to float. The struct
 * is public so that its state can be saved and restored (checkpoints): the same state
 * gives the same numbers on every platform.
 */
#ifndef TINYNN_RNG_H
#define TINYNN_RNG_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** PCG32 generator state. Plain data: copy it to save it, copy it back to resume. */
typedef struct tnn_rng {
    uint64_t state;  /**< PCG32 state */
    uint64_t inc;    /**< PCG32 stream increment (always odd) */
    float spare;     /**< second Box-Muller value, valid when has_spare is 1 */
    int has_spare;   /**< 1 if spare holds the next normal, else 0 */
} tnn_rng;

/* A NULL generator is a programming error; the functions below do not crash on it:
 * seeding, skipping and shuffling do nothing, and draws return 0.
 *
 * A generator that was never seeded (zero-initialised: a static, `tnn_rng r = {0}`,
 * calloc; any with an even `inc`, which no seed gives) starts as if seeded with 0 at
 * its first use: its all-zero state would otherwise draw 0 for ever. Seed it to
 * choose the stream. */

/** Seed a generator; different seeds give independent-looking streams. */
TNN_API void tnn_rng_seed(tnn_rng *r, uint64_t seed);
/** The number of int64 words of a generator's state (tnn_rng_get_state). */
#define TNN_RNG_STATE_WORDS 4

/** The generator's whole state as TNN_RNG_STATE_WORDS (four) integers, for a
 * checkpoint: [0] the PCG32 state and [1] its increment (their bits, as int64), [2] the
 * spare normal's float bits (0 when there is none) and [3] has_spare (0 or 1). The
 * struct's fields hold the same, but has_spare is an int, and checkpoints store int64:
 * keep an `int64_t words[TNN_RNG_STATE_WORDS]`, add it to a tensor list as I64 [4]
 * (tnn_tensor_list_add) beside the model, and after loading the list give it to
 * tnn_rng_set_state (docs/tutorial.md, "Resuming training exactly"). A generator never
 * seeded gives the state it starts from at its first use. NULL r or words: nothing is
 * written. */
TNN_API void tnn_rng_get_state(const tnn_rng *r, int64_t words[TNN_RNG_STATE_WORDS]);
/** Restore a state from tnn_rng_get_state: r then draws what the saved generator would
 * have drawn next, on any platform. Words that tnn_rng_get_state never gives (an even
 * increment, which only a generator never seeded has and get_state gives as seed 0's;
 * has_spare other than 0 or 1; a spare that is not a finite float's bits, or a spare
 * without has_spare) are refused with TNN_ERR_FORMAT naming the word, and r is left
 * unchanged; NULL r or words is TNN_ERR_ARG. */
TNN_API tnn_status tnn_rng_set_state(tnn_rng *r, const int64_t words[TNN_RNG_STATE_WORDS]);
/** Uniform 32-bit integer. */
TNN_API uint32_t tnn_rng_u32(tnn_rng *r);
/** Skip the next `delta` 32-bit draws in O(log delta) steps: afterwards r is where
 * `delta` calls of tnn_rng_u32() would have left it (the Box-Muller spare is kept). */
TNN_API void tnn_rng_advance(tnn_rng *r, uint64_t delta);
/** Uniform integer in [0, n), without modulo bias. n must be >= 1. */
TNN_API uint32_t tnn_rng_below(tnn_rng *r, uint32_t n);
/** Uniform float in [0, 1) with 24 random bits. */
TNN_API float tnn_rng_uniform(tnn_rng *r);
/** Standard normal float. */
TNN_API float tnn_rng_normal(tnn_rng *r);

/** Fill t with U(lo, hi), drawing t->size values from r in order (NULL t or r: no-op). */
TNN_API void tnn_tensor_uniform(tnn_tensor *t, tnn_rng *r, float lo, float hi);
/** Fill t with N(mean, std), drawing t->size normals from r in order (NULL t or r: no-op).
 * Large tensors are filled by the library's threads, each starting at its place in the
 * stream (tnn_rng_advance), so the values are those of tnn_rng_normal() called
 * t->size times, on any number of threads. */
TNN_API void tnn_tensor_normal(tnn_tensor *t, tnn_rng *r, float mean, float std);

/** Fisher-Yates shuffle of idx[0..n) (NULL r or idx, or n < 2: no-op). */
TNN_API void tnn_rng_shuffle(tnn_rng *r, int *idx, int n);

#ifdef __cplusplus
}
#endif
#endif
