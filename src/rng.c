/* PCG32 random numbers (pcg-random.org, the "XSH RR" output function) and
 * Box-Muller normals. */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

/* A generator never seeded (zero-initialised: a static, `= {0}`, calloc) has an even
 * increment, which no seed gives: it starts as if seeded with 0. Its all-zero state
 * would otherwise draw 0 for ever (and tnn_rng_below loop for ever). */
static inline void ensure_seeded(tnn_rng *r)
{
    if (!(r->inc & 1u)) tnn_rng_seed(r, 0);
}

static inline uint32_t next_u32(tnn_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

void tnn_rng_seed(tnn_rng *r, uint64_t seed)
{
    if (!r) return;
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    r->has_spare = 0;
    r->spare = 0.0f;
    (void)next_u32(r);
    r->state += 0x853c49e6748fea9bULL ^ seed;
    (void)next_u32(r);
}

/* The state as four integers: the two PCG words as their two's-complement bits, the
 * spare's float bits, has_spare. A generator never seeded gives the words of the one it
 * turns into at its first use (seeded with 0), so that restoring them draws the same. */
void tnn_rng_get_state(const tnn_rng *r, int64_t words[TNN_RNG_STATE_WORDS])
{
    if (!r || !words) return;
    tnn_rng c = *r;
    ensure_seeded(&c);
    uint32_t spare;
    memcpy(&words[0], &c.state, sizeof words[0]);
    memcpy(&words[1], &c.inc, sizeof words[1]);
    memcpy(&spare, &c.spare, sizeof spare);
    words[2] = c.has_spare ? (int64_t)spare : 0;
    words[3] = c.has_spare ? 1 : 0;
}

tnn_status tnn_rng_set_state(tnn_rng *r, const int64_t words[TNN_RNG_STATE_WORDS])
{
    if (!r || !words) return tnn_error(TNN_ERR_ARG, "rng_set_state: %s is NULL", !r ? "the generator" : "the state");
    if (!(words[1] & 1))
        return tnn_error(TNN_ERR_FORMAT, "rng_set_state: word 1 (the increment) is even, %lld; PCG32's is always odd",
                         (long long)words[1]);
    if (words[3] != 0 && words[3] != 1)
        return tnn_error(TNN_ERR_FORMAT, "rng_set_state: word 3 (has_spare) is %lld, expected 0 or 1", (long long)words[3]);
    if (words[2] < 0 || words[2] > (int64_t)UINT32_MAX)
        return tnn_error(TNN_ERR_FORMAT, "rng_set_state: word 2 (the spare normal's float bits) is %lld, outside 32 bits",
                         (long long)words[2]);
    uint32_t bits = (uint32_t)words[2];
    float spare;
    memcpy(&spare, &bits, sizeof spare);
    if (!isfinite(spare))
        return tnn_error(TNN_ERR_FORMAT, "rng_set_state: word 2 is the bits of %g; a spare normal is finite", (double)spare);
    if (!words[3] && bits)
        return tnn_error(TNN_ERR_FORMAT, "rng_set_state: word 2 holds a spare normal but word 3 (has_spare) is 0");
    memcpy(&r->state, &words[0], sizeof r->state);
    memcpy(&r->inc, &words[1], sizeof r->inc);
    r->spare = spare;
    r->has_spare = (int)words[3];
    return TNN_OK;
}

uint32_t tnn_rng_u32(tnn_rng *r)
{
    if (!r) return 0;
    ensure_seeded(r);
    return next_u32(r);
}

/* PCG's jump-ahead (O'Neill's pcg_advance_lcg_64): the state after `delta` steps of
 * state = state * MULT + inc, by squaring the step delta's binary digits at a time. */
void tnn_rng_advance(tnn_rng *r, uint64_t delta)
{
    if (!r) return;
    ensure_seeded(r);
    uint64_t cur_mult = 6364136223846793005ULL, cur_plus = r->inc, acc_mult = 1u, acc_plus = 0u;
    while (delta > 0) {
        if (delta & 1u) {
            acc_mult *= cur_mult;
            acc_plus = acc_plus * cur_mult + cur_plus;
        }
        cur_plus = (cur_mult + 1u) * cur_plus;
        cur_mult *= cur_mult;
        delta /= 2u;
    }
    r->state = acc_mult * r->state + acc_plus;
}

uint32_t tnn_rng_below(tnn_rng *r, uint32_t n)
{
    if (!r || n <= 1) return 0;
    uint32_t threshold = (uint32_t)(-n) % n; /* reject the biased low values */
    for (;;) {
        uint32_t x = tnn_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float tnn_rng_uniform(tnn_rng *r) { return (float)(tnn_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

/* One Box-Muller pair from two draws a, b: u1 = ((a >> 8) + 1) / 2^24 in (0, 1], so that
 * log(u1) is finite, u2 = (b >> 8) / 2^24, and
 *     c = sqrt(-2 log u1) cos(2 pi u2),  s = sqrt(-2 log u1) sin(2 pi u2),
 * in double, rounded once to float. log, sin and cos are the library's own (vmath_impl.h,
 * within an ulp of glibc's: the float results agree except in double-rounding ties) so
 * that the loop over many pairs vectorises. */
static inline void box_muller(uint32_t a, uint32_t b, float *c, float *s)
{
    double u1 = ((double)(a >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(b >> 8) * (1.0 / 16777216.0);
    double rad = sqrt(-2.0 * tnn_log_pos(u1));
    double sn, cs;
    tnn_sincos_small(6.283185307179586476925 * u2, &sn, &cs);
    *s = (float)(rad * sn);
    *c = (float)(rad * cs);
}

float tnn_rng_normal(tnn_rng *r)
{
    if (!r) return 0.0f;
    ensure_seeded(r); /* a never-seeded generator has no spare either */
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    float c;
    uint32_t a = tnn_rng_u32(r), b = tnn_rng_u32(r);
    box_muller(a, b, &c, &r->spare);
    r->has_spare = 1;
    return c;
}

void tnn_tensor_uniform(tnn_tensor *t, tnn_rng *r, float lo, float hi)
{
    if (!t || !r) return;
    for (size_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * tnn_rng_uniform(r);
}

typedef struct normal_job {
    tnn_rng start; /* the generator at pair 0 (no spare pending) */
    float *out;    /* pair p fills out[2p], out[2p + 1] */
    float mean, std;
} normal_job;

/* Pairs [0, n) from the draws a[i], b[i]: the loop the compiler vectorises. */
TNN_CLONES static void normal_block(float *restrict out, const uint32_t *restrict a, const uint32_t *restrict b,
                                    size_t n, float mean, float std)
{
    for (size_t p = 0; p < n; p++) {
        float c, s;
        box_muller(a[p], b[p], &c, &s);
        out[2 * p] = mean + std * c;
        out[2 * p + 1] = mean + std * s;
    }
}

static void normal_pairs(void *ctx, size_t b, size_t e)
{
    const normal_job *j = ctx;
    tnn_rng r = j->start;
    tnn_rng_advance(&r, 2u * (uint64_t)b); /* two draws per pair */
    enum { BLOCK = 256 };
    uint32_t da[BLOCK], db[BLOCK];
    for (size_t p = b; p < e; p += BLOCK) {
        size_t n = e - p < BLOCK ? e - p : BLOCK;
        for (size_t i = 0; i < n; i++) { /* the draws in stream order */
            da[i] = next_u32(&r);
            db[i] = next_u32(&r);
        }
        normal_block(j->out + 2 * p, da, db, n, j->mean, j->std);
    }
}

void tnn_tensor_normal(tnn_tensor *t, tnn_rng *r, float mean, float std)
{
    if (!t || !r) return;
    ensure_seeded(r);
    size_t n = t->size, i = 0;
    if (n > 0 && r->has_spare) t->data[i++] = mean + std * tnn_rng_normal(r);
    /* whole pairs, as tnn_rng_normal would draw them one after the other */
    size_t pairs = (n - i) / 2;
    normal_job job = {*r, t->data + i, mean, std};
    tnn_parallel_for(pairs, 2048, normal_pairs, &job);
    tnn_rng_advance(r, 2u * (uint64_t)pairs);
    i += 2 * pairs;
    if (i < n) t->data[i] = mean + std * tnn_rng_normal(r); /* leaves the spare pending */
}

void tnn_rng_shuffle(tnn_rng *r, int *idx, int n)
{
    if (!r || !idx) return;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tnn_rng_below(r, (uint32_t)i + 1u);
        int tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
