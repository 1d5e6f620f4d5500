/*
 * libFuzzer target for the safetensors reader (tnn_safetensors_parse, and through it
 * the JSON parser). Every input must be either refused with a message or accepted with
 * a consistent result: names unique and findable, sizes matching shapes, the tensors
 * covering the data area exactly, and copy_into reproducing the bytes.
 *
 * Build and run (the exact commands are in docs/safetensors.md): compile this file
 * with every .c file of src/ using clang -fsanitize=fuzzer,address,undefined, then
 *   ./fuzz_safetensors -max_total_time=60 work_corpus/ tests/fuzz/corpus/safetensors
 * The CMake option TINYNN_BUILD_FUZZERS builds it too (tests/fuzz/CMakeLists.txt).
 */
#include "tinynn/tinynn.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tnn_clear_error();
    tnn_safetensors *st = tnn_safetensors_parse(data, size, "fuzz");
    if (!st) {
        CHECK(strstr(tnn_last_error(), "fuzz") != NULL); /* refused, with a message naming the source */
        return 0;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    CHECK(size >= 8 && hlen <= size - 8);

    int n = tnn_safetensors_count(st);
    CHECK(n >= 0);
    CHECK(tnn_safetensors_get(st, n) == NULL && tnn_safetensors_get(st, -1) == NULL);
    uint64_t covered = 0;
    unsigned sum = 0;
    tnn_tensor_list *l = tnn_tensor_list_new();
    CHECK(l);
    void **bufs = calloc((size_t)n + 1, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        const tnn_st_tensor *t = tnn_safetensors_get(st, i);
        CHECK(t && t->name);
        CHECK(tnn_safetensors_find(st, t->name) == t);
        CHECK(t->dtype == TNN_F32 || t->dtype == TNN_I64);
        CHECK(t->ndim >= 0 && t->ndim <= TNN_ST_MAX_DIMS);
        uint64_t count = 1;
        for (int k = 0; k < t->ndim; k++) count *= (uint64_t)t->shape[k];
        CHECK(count == t->count);
        CHECK(t->nbytes == t->count * tnn_dtype_size(t->dtype));
        const unsigned char *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++) sum += p[k]; /* every byte is readable */
        covered += t->nbytes;
        /* the representable ones go into a list for copy_into */
        int shape[TNN_MAX_DIMS] = {0};
        bool fits = t->ndim <= TNN_MAX_DIMS;
        for (int k = 0; fits && k < t->ndim; k++) {
            if (t->shape[k] > INT_MAX) fits = false;
            else shape[k] = (int)t->shape[k];
        }
        if (fits && !*t->name) /* a file may name a tensor "", which a list (and a save) refuses */
            CHECK(tnn_tensor_list_add(l, t->name, t->dtype, bufs[i], t->ndim, shape) == TNN_ERR_ARG);
        else if (fits) {
            bufs[i] = calloc(t->nbytes + 1, 1);
            CHECK(tnn_tensor_list_add(l, t->name, t->dtype, bufs[i], t->ndim, shape) == TNN_OK);
        }
    }
    CHECK(covered == size - 8 - hlen); /* the data area is covered exactly */
    CHECK(tnn_safetensors_copy_into(st, l, false) == TNN_OK);
    if (l->count == n) CHECK(tnn_safetensors_copy_into(st, l, true) == TNN_OK);
    for (int i = 0; i < l->count; i++) {
        const tnn_st_tensor *t = tnn_safetensors_find(st, l->items[i].name);
        CHECK(t && memcmp(l->items[i].data, t->data, t->nbytes) == 0);
    }
    const tnn_metadata *md = tnn_safetensors_metadata(st);
    CHECK(md != NULL);
    for (int i = 0; i < tnn_metadata_count(md); i++) {
        const char *k = tnn_metadata_key(md, i), *v = tnn_metadata_value(md, i);
        CHECK(k && v);
        sum += (unsigned)strlen(k) + (unsigned)strlen(v);
    }
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    tnn_tensor_list_free(l);
    tnn_safetensors_free(st);
    return (int)(sum & 0); /* keep the reads */
}
