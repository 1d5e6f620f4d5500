/* libFuzzer target for the IDX reader (tnn_idx_parse: plain and gzipped IDX from
 * memory). Any input must give either TNN_OK with a consistent result or an error with
 * a message, never a crash, a leak or an allocation of what a lying header claims.
 *
 *   CC=clang cmake -B build-fuzz -DTINYNN_BUILD_FUZZERS=ON -DTINYNN_BUILD_TESTS=OFF
 *   cmake --build build-fuzz --target fuzz_idx
 *   build-fuzz/tests/fuzz/fuzz_idx -max_total_time=60 tests/fuzz/corpus/idx
 */
#include <tinynn/tinynn.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tnn_idx idx;
    tnn_status st = tnn_idx_parse(data, size, "fuzz input", &idx);
    if (st == TNN_OK) {
        size_t n = 1;
        if (idx.ndim < 1 || idx.ndim > 4) abort();
        for (int i = 0; i < idx.ndim; i++) {
            if (idx.dims[i] < 1) abort();
            n *= (size_t)idx.dims[i];
        }
        if (n != idx.count || !idx.data) abort();
        /* Touch every byte, so that ASan sees any short buffer. */
        volatile uint8_t acc = 0;
        for (size_t i = 0; i < idx.count; i++) acc ^= idx.data[i];
        (void)acc;
        /* Image-shaped files also go through the tensor conversion, resized. */
        if (idx.ndim >= 3 && idx.dims[1] <= 64 && idx.dims[2] <= 64 && (idx.ndim == 3 || idx.dims[3] <= 4)) {
            tnn_tensor *t = tnn_tensor_new2(1, 1);
            int k = idx.dims[0] < 4 ? idx.dims[0] : 4;
            if (t) {
                (void)tnn_idx_images_to_tensor(&idx, NULL, 0, k, idx.dims[1], idx.dims[2], t);
                (void)tnn_idx_images_to_tensor(&idx, NULL, 0, k, 1 + idx.dims[2] % 7, 1 + idx.dims[1] * 3 % 50, t);
            }
            tnn_tensor_free(t);
        }
    } else {
        if (!tnn_last_error()[0] || strstr(tnn_last_error(), "fuzz input") == NULL) abort();
        if (idx.data || idx.ndim) abort();
    }
    tnn_idx_free(&idx);
    return 0;
}
