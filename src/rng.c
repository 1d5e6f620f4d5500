/* PCG32 random numbers (pcg-random.org, the "XSH RR" output function) and
 * Box-Muller normals. */
#include "tnn_impl.h"

#include <math.h>

void tnn_rng_seed(tnn_rng *r, uint64_t seed)
{
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    r->has_spare = 0;
    r->spare = 0.0f;
    (void)tnn_rng_u32(r);
    r->state += 0x853c49e6748fea9bULL ^ seed;
    (void)tnn_rng_u32(r);
}

uint32_t tnn_rng_u32(tnn_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t tnn_rng_below(tnn_rng *r, uint32_t n)
{
    if (n <= 1) return 0;
    uint32_t threshold = (uint32_t)(-n) % n; /* reject the biased low values */
    for (;;) {
        uint32_t x = tnn_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float tnn_rng_uniform(tnn_rng *r) { return (float)(tnn_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

float tnn_rng_normal(tnn_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    /* u1 in (0, 1] so that log(u1) is finite. */
    double u1 = ((double)(tnn_rng_u32(r) >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(tnn_rng_u32(r) >> 8) * (1.0 / 16777216.0);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586476925 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

void tnn_tensor_uniform(tnn_tensor *t, tnn_rng *r, float lo, float hi)
{
    if (!t || !r) return;
    for (size_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * tnn_rng_uniform(r);
}

void tnn_tensor_normal(tnn_tensor *t, tnn_rng *r, float mean, float std)
{
    if (!t || !r) return;
    for (size_t i = 0; i < t->size; i++) t->data[i] = mean + std * tnn_rng_normal(r);
}

void tnn_rng_shuffle(tnn_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tnn_rng_below(r, (uint32_t)i + 1u);
        int tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
