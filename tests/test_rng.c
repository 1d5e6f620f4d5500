/* Unit tests of the random number generator (tinynn/rng.h). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The generator is PCG32: with the state set as pcg32_srandom(42, 54) does, it must
 * print the reference sequence of pcg-random.org's pcg32-demo. */
static void rng_matches_pcg32_reference(void **state)
{
    (void)state;
    tnn_rng r = {0};
    r.inc = (54u << 1) | 1u;
    (void)tnn_rng_u32(&r);
    r.state += 42u;
    (void)tnn_rng_u32(&r);
    const uint32_t want[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    for (int i = 0; i < 6; i++) assert_int_equal(tnn_rng_u32(&r), want[i]);
}

/* tnn_rng_seed(s) is pcg32_srandom(0x853c49e6748fea9b ^ s, s); these values were
 * computed with an independent implementation. A change here breaks every saved
 * seed's reproducibility. */
static void rng_seed_golden_values(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 42);
    const uint32_t want[4] = {0xcb738720u, 0xd1221c21u, 0xd30a4869u, 0x9025c65eu};
    for (int i = 0; i < 4; i++) assert_int_equal(tnn_rng_u32(&r), want[i]);
}

static void rng_same_seed_same_numbers(void **state)
{
    (void)state;
    tnn_rng a, b;
    tnn_rng_seed(&a, 1234);
    tnn_rng_seed(&b, 1234);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(tnn_rng_u32(&a), tnn_rng_u32(&b));
        assert_true(tnn_rng_uniform(&a) == tnn_rng_uniform(&b));
        assert_true(tnn_rng_normal(&a) == tnn_rng_normal(&b));
        assert_int_equal(tnn_rng_below(&a, 17), tnn_rng_below(&b, 17));
    }
    /* The state is public: a copy continues the same stream, spare normal included. */
    (void)tnn_rng_normal(&a);
    tnn_rng c = a;
    for (int i = 0; i < 10; i++) assert_true(tnn_rng_normal(&a) == tnn_rng_normal(&c));
}

/* The normals are Box-Muller pairs computed in double and rounded to float; the library's
 * own log, sin and cos (which vectorise) must give the floats glibc's give, here for the
 * first 2^20 pairs of one seed, drawn one at a time and as a tensor. */
static void rng_normal_matches_libm_formula(void **state)
{
    (void)state;
    enum { PAIRS = 1 << 20 };
    tnn_rng a, b, c;
    tnn_rng_seed(&a, 7);
    b = a;
    c = a;
    tnn_tensor *t = tnn_tensor_new1(2 * PAIRS);
    assert_non_null(t);
    tnn_tensor_normal(t, &c, 0.0f, 1.0f);
    long off = 0;
    for (long i = 0; i < PAIRS; i++) {
        double u1 = ((double)(tnn_rng_u32(&a) >> 8) + 1.0) * (1.0 / 16777216.0);
        double u2 = (double)(tnn_rng_u32(&a) >> 8) * (1.0 / 16777216.0);
        double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925 * u2;
        float want[2] = {(float)(rad * cos(th)), (float)(rad * sin(th))};
        for (int k = 0; k < 2; k++) {
            float got = tnn_rng_normal(&b);
            off += memcmp(&got, &want[k], sizeof got) != 0 || memcmp(&t->data[2 * i + k], &want[k], sizeof got) != 0;
        }
    }
    tnn_tensor_free(t);
    assert_int_equal(off, 0);
}

static void rng_different_seeds_differ(void **state)
{
    (void)state;
    for (uint64_t s = 0; s < 8; s++) {
        tnn_rng a, b;
        tnn_rng_seed(&a, s);
        tnn_rng_seed(&b, s + 1);
        int same = 0;
        for (int i = 0; i < 100; i++) same += tnn_rng_u32(&a) == tnn_rng_u32(&b);
        assert_true(same <= 1);
    }
}

static void rng_uniform_range_and_mean(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 5);
    const int n = 200000;
    double sum = 0.0;
    float lo = 1.0f, hi = 0.0f;
    for (int i = 0; i < n; i++) {
        float u = tnn_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
        sum += u;
    }
    assert_true(fabs(sum / n - 0.5) < 0.01);
    assert_true(lo < 1e-3f && hi > 0.999f);

    tnn_tensor *t = tnn_tensor_new2(100, 100);
    assert_non_null(t);
    tnn_tensor_uniform(t, &r, -3.0f, 2.0f);
    sum = 0.0;
    for (size_t i = 0; i < t->size; i++) {
        assert_true(t->data[i] >= -3.0f && t->data[i] <= 2.0f);
        sum += t->data[i];
    }
    assert_true(fabs(sum / (double)t->size - (-0.5)) < 0.05);
    tnn_tensor_free(t);
}

static void rng_normal_mean_and_std(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    const int n = 200000;
    double s1 = 0.0, s2 = 0.0;
    int beyond3 = 0;
    for (int i = 0; i < n; i++) {
        double v = tnn_rng_normal(&r);
        assert_true(isfinite(v));
        s1 += v;
        s2 += v * v;
        beyond3 += fabs(v) > 3.0;
    }
    double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
    assert_true(fabs(mean) < 0.02);
    assert_true(fabs(sd - 1.0) < 0.02);
    /* P(|z| > 3) = 0.27%: 540 expected. */
    assert_true(beyond3 > 300 && beyond3 < 800);

    tnn_tensor *t = tnn_tensor_new1(100000);
    assert_non_null(t);
    tnn_tensor_normal(t, &r, 2.0f, 0.5f);
    s1 = s2 = 0.0;
    for (size_t i = 0; i < t->size; i++) {
        s1 += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
    }
    mean = s1 / (double)t->size;
    sd = sqrt(s2 / (double)t->size - mean * mean);
    assert_true(fabs(mean - 2.0) < 0.02);
    assert_true(fabs(sd - 0.5) < 0.02);
    tnn_tensor_free(t);
}

static void rng_below_range_and_balance(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 7);
    assert_int_equal(tnn_rng_below(&r, 1), 0);
    assert_int_equal(tnn_rng_below(&r, 0), 0);
    int count[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = tnn_rng_below(&r, 7);
        assert_true(v < 7);
        count[v]++;
    }
    for (int k = 0; k < 7; k++) assert_true(count[k] > 9500 && count[k] < 10500); /* 10000 +- 5 sigma */
    /* A bound above 2^31 still stays in range. */
    for (int i = 0; i < 1000; i++) assert_true(tnn_rng_below(&r, 3000000000u) < 3000000000u);
}

/* A NULL generator or array does not crash (documented in rng.h). */
static void rng_null_is_harmless(void **state)
{
    (void)state;
    int idx[3] = {0, 1, 2};
    tnn_rng r;
    tnn_rng_seed(NULL, 1);
    tnn_rng_advance(NULL, 5);
    tnn_rng_shuffle(NULL, idx, 3);
    tnn_rng_seed(&r, 1);
    tnn_rng_shuffle(&r, NULL, 3);
    assert_int_equal(tnn_rng_u32(NULL), 0);
    assert_true(tnn_rng_normal(NULL) == 0.0f);
    assert_true(tnn_rng_uniform(NULL) == 0.0f);
    assert_int_equal(tnn_rng_below(NULL, 7), 0);
    assert_int_equal(idx[0] + 2 * idx[1] + 4 * idx[2], 0 + 2 + 8);
}

/* A generator never seeded (zero-initialised) is seeded with 0 at its first use, by
 * every function that draws: it used to draw 0 for ever, and tnn_rng_below(3) never
 * returned. */
static void rng_unseeded_starts_as_seed_0(void **state)
{
    (void)state;
    tnn_rng ref, z;
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    for (int i = 0; i < 8; i++) assert_int_equal(tnn_rng_u32(&z), tnn_rng_u32(&ref));
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    assert_int_equal(tnn_rng_below(&z, 3), tnn_rng_below(&ref, 3));
    assert_true(z.state == ref.state && z.inc == ref.inc);
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    assert_true(tnn_rng_normal(&z) == tnn_rng_normal(&ref));
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    tnn_rng_advance(&z, 5);
    tnn_rng_advance(&ref, 5);
    assert_true(z.state == ref.state && z.inc == ref.inc);
    /* a tensor filled in parallel, and shuffles */
    tnn_tensor *a = tnn_tensor_new2(64, 100), *b = tnn_tensor_new2(64, 100);
    assert_true(a && b);
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    tnn_tensor_normal(a, &z, 0.0f, 1.0f);
    tnn_tensor_normal(b, &ref, 0.0f, 1.0f);
    assert_memory_equal(a->data, b->data, a->size * sizeof(float));
    assert_true(a->data[0] != a->data[1]);
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    tnn_tensor_uniform(a, &z, -1.0f, 1.0f);
    tnn_tensor_uniform(b, &ref, -1.0f, 1.0f);
    assert_memory_equal(a->data, b->data, a->size * sizeof(float));
    int ia[10], ib[10];
    for (int i = 0; i < 10; i++) ia[i] = ib[i] = i;
    tnn_rng_seed(&ref, 0);
    z = (tnn_rng){0};
    tnn_rng_shuffle(&z, ia, 10);
    tnn_rng_shuffle(&ref, ib, 10);
    assert_memory_equal(ia, ib, sizeof ia);
    /* and a layer's initialisation draws real numbers, not one value */
    z = (tnn_rng){0};
    tnn_module *lin = tnn_linear_new(4, 3, true, &z);
    assert_non_null(lin);
    tnn_tensor_list *sd = tnn_module_state_dict(lin, "");
    const float *w = sd->items[0].data;
    assert_true(w[0] != w[1] && w[1] != w[2]);
    tnn_tensor_list_free(sd);
    tnn_module_free(lin);
    tnn_tensor_free(a);
    tnn_tensor_free(b);
}

static void rng_shuffle_is_permutation(void **state)
{
    (void)state;
    enum { N = 50 };
    tnn_rng r;
    tnn_rng_seed(&r, 8);
    int idx[N], seen[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    tnn_rng_shuffle(&r, idx, N);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (int i = 0; i < N; i++) {
        assert_true(idx[i] >= 0 && idx[i] < N);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > N / 2);

    /* Same seed, same permutation. */
    int again[N];
    for (int i = 0; i < N; i++) again[i] = i;
    tnn_rng_seed(&r, 8);
    tnn_rng_shuffle(&r, again, N);
    assert_memory_equal(idx, again, sizeof idx);

    /* Each of the 6 permutations of 3 elements appears about equally often. */
    int perm_count[6] = {0};
    for (int t = 0; t < 6000; t++) {
        int p[3] = {0, 1, 2};
        tnn_rng_shuffle(&r, p, 3);
        perm_count[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int k = 0; k < 6; k++) assert_true(perm_count[k] > 850 && perm_count[k] < 1150);

    /* n = 0 and n = 1 are no-ops. */
    int one = 42;
    tnn_rng_shuffle(&r, &one, 1);
    tnn_rng_shuffle(&r, NULL, 0);
    assert_int_equal(one, 42);
}

/* Skipping ahead lands where the same number of draws would. */
static void rng_advance_matches_draws(void **state)
{
    (void)state;
    const uint64_t deltas[] = {0, 1, 2, 3, 7, 64, 100, 12345, 1000003};
    for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
        tnn_rng a, b;
        tnn_rng_seed(&a, 99 + k);
        b = a;
        for (uint64_t i = 0; i < deltas[k]; i++) (void)tnn_rng_u32(&a);
        tnn_rng_advance(&b, deltas[k]);
        assert_true(a.state == b.state && a.inc == b.inc);
        assert_int_equal(tnn_rng_u32(&a), tnn_rng_u32(&b));
    }
}

/* tnn_tensor_normal fills large tensors on several threads from skipped-ahead copies of
 * the generator: the values, and the generator afterwards (spare included), must be
 * those of tnn_rng_normal called once per element, for any size, with or without a
 * spare pending at the start, on one thread or two. */
static void rng_tensor_normal_matches_sequential(void **state)
{
    (void)state;
    const int sizes[] = {0, 1, 2, 3, 4095, 4096, 12800, 40001};
    for (int threads = 1; threads <= 2; threads++) {
        tnn_set_num_threads(threads);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            for (int spare = 0; spare <= 1; spare++) {
                tnn_rng a, b;
                tnn_rng_seed(&a, 7 + k);
                if (spare) (void)tnn_rng_normal(&a); /* leaves a spare pending */
                b = a;
                int n = sizes[k];
                tnn_tensor *t = tnn_tensor_new(1, (int[]){n > 0 ? n : 1});
                assert_non_null(t);
                t->size = (size_t)n;
                tnn_tensor_normal(t, &a, 0.5f, 2.0f);
                for (int i = 0; i < n; i++) {
                    float want = 0.5f + 2.0f * tnn_rng_normal(&b);
                    if (memcmp(&want, &t->data[i], sizeof want) != 0)
                        fail_msg("threads %d, size %d, spare %d: element %d is %.9g, sequential %.9g", threads, n,
                                 spare, i, (double)t->data[i], (double)want);
                }
                assert_true(a.state == b.state && a.has_spare == b.has_spare);
                if (a.has_spare) assert_memory_equal(&a.spare, &b.spare, sizeof a.spare);
                tnn_tensor_free(t);
            }
        }
    }
    tnn_set_num_threads(1);
}

/* tnn_rng_get_state / tnn_rng_set_state: a generator restored from its words draws what
 * the saved one draws next, with a Box-Muller spare pending or not, after a trip through
 * a safetensors checkpoint as I64 [4] (the recipe rng.h gives); a generator never
 * seeded gives seed 0's words; words no generator holds are refused, naming the word,
 * and leave the generator unchanged. */
static void draw_mix(tnn_rng *r, float *out, int n)
{
    for (int i = 0; i < n; i++) out[i] = i % 3 == 2 ? (float)tnn_rng_u32(r) : tnn_rng_normal(r);
}

static void rng_state_round_trip(void **state)
{
    (void)state;
    for (int pending = 0; pending < 2; pending++) {
        tnn_rng a;
        tnn_rng_seed(&a, 2026);
        for (int i = 0; i < 10 + pending; i++) (void)tnn_rng_normal(&a);
        assert_int_equal(a.has_spare, pending);
        int64_t words[4];
        tnn_rng_get_state(&a, words);
        assert_int_equal(words[3], pending);
        if (!pending) assert_int_equal(words[2], 0);

        /* through a file, as a checkpoint keeps it */
        char path[128];
        snprintf(path, sizeof path, "%s/rng.safetensors", tu_dir);
        tnn_tensor_list *l = tnn_tensor_list_new();
        assert_non_null(l);
        TU_ASSERT_OK(tnn_tensor_list_add(l, "rng", TNN_I64, words, 1, (int[]){4}));
        TU_ASSERT_OK(tnn_safetensors_save(path, l, NULL));
        tnn_tensor_list_free(l);
        int64_t back[4] = {0};
        l = tnn_tensor_list_new();
        TU_ASSERT_OK(tnn_tensor_list_add(l, "rng", TNN_I64, back, 1, (int[]){4}));
        tnn_safetensors *st = tnn_safetensors_load(path);
        assert_non_null(st);
        TU_ASSERT_OK(tnn_safetensors_copy_into(st, l, true));
        tnn_safetensors_free(st);
        tnn_tensor_list_free(l);
        assert_memory_equal(back, words, sizeof words);

        tnn_rng b;
        tnn_rng_seed(&b, 7); /* another stream, with a spare of its own */
        (void)tnn_rng_normal(&b);
        TU_ASSERT_OK(tnn_rng_set_state(&b, back));
        float da[40], db[40];
        draw_mix(&a, da, 40);
        draw_mix(&b, db, 40);
        assert_memory_equal(da, db, sizeof da);
    }

    /* never seeded: the words of seed 0, which it becomes at its first draw */
    tnn_rng zero = {0}, seeded;
    tnn_rng_seed(&seeded, 0);
    int64_t wz[4], ws[4];
    tnn_rng_get_state(&zero, wz);
    tnn_rng_get_state(&seeded, ws);
    assert_memory_equal(wz, ws, sizeof wz);
    assert_int_equal(zero.inc, 0); /* get_state reads, it does not seed */
}

static void rng_state_refused(void **state)
{
    (void)state;
    tnn_rng r, keep;
    tnn_rng_seed(&r, 5);
    (void)tnn_rng_normal(&r);
    keep = r;
    int64_t good[4];
    tnn_rng_get_state(&r, good);
    float nan = NAN;
    uint32_t nan_bits;
    memcpy(&nan_bits, &nan, sizeof nan_bits);
    struct {
        int word;
        int64_t value;
        const char *says;
    } bad[] = {
        {1, 42, "word 1 (the increment) is even"},
        {3, 2, "word 3 (has_spare) is 2"},
        {3, -1, "word 3 (has_spare) is -1"},
        {2, (int64_t)1 << 32, "outside 32 bits"},
        {2, -1, "outside 32 bits"},
        {2, (int64_t)nan_bits, "a spare normal is finite"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int64_t w[4];
        memcpy(w, good, sizeof w);
        w[bad[k].word] = bad[k].value;
        TU_ASSERT_ERR(tnn_rng_set_state(&r, w), TNN_ERR_FORMAT, "rng_set_state", bad[k].says, NULL);
        assert_memory_equal(&r, &keep, sizeof r);
    }
    int64_t w[4];
    memcpy(w, good, sizeof w);
    w[3] = 0; /* a spare's bits without has_spare */
    TU_ASSERT_ERR(tnn_rng_set_state(&r, w), TNN_ERR_FORMAT, "word 2 holds a spare normal but word 3", NULL);
    assert_memory_equal(&r, &keep, sizeof r);
    TU_ASSERT_ERR(tnn_rng_set_state(NULL, good), TNN_ERR_ARG, "generator is NULL", NULL);
    TU_ASSERT_ERR(tnn_rng_set_state(&r, NULL), TNN_ERR_ARG, "state is NULL", NULL);
    tnn_rng_get_state(NULL, w); /* no-ops */
    tnn_rng_get_state(&r, NULL);
    assert_memory_equal(&r, &keep, sizeof r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(rng_advance_matches_draws),
    cmocka_unit_test(rng_tensor_normal_matches_sequential),
    cmocka_unit_test(rng_matches_pcg32_reference),
    cmocka_unit_test(rng_seed_golden_values),
    cmocka_unit_test(rng_same_seed_same_numbers),
    cmocka_unit_test(rng_different_seeds_differ),
    cmocka_unit_test(rng_uniform_range_and_mean),
    cmocka_unit_test(rng_normal_mean_and_std),
    cmocka_unit_test(rng_normal_matches_libm_formula),
    cmocka_unit_test(rng_below_range_and_balance),
    cmocka_unit_test(rng_null_is_harmless),
    cmocka_unit_test(rng_shuffle_is_permutation),
    cmocka_unit_test(rng_unseeded_starts_as_seed_0),
    cmocka_unit_test_setup_teardown(rng_state_round_trip, tu_tmpdir_make, tu_tmpdir_remove),
    cmocka_unit_test(rng_state_refused),
};

TU_MAIN("rng", tests)
