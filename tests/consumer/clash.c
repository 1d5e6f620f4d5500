/* A program with functions of its own named like private helpers of libtinynn (tnn_log,
 * tnn_gemm), linked with the static library: each side keeps its own, as with the
 * shared library (the static library's private symbols are local). */
#include <stdio.h>

#include <tinynn/tinynn.h>

int tnn_log(int x);
int tnn_gemm(int x);
int tnn_log(int x) { return x + 1; }
int tnn_gemm(int x) { return 2 * x; }

int main(void)
{
    tnn_rng rng;
    tnn_rng_seed(&rng, 1);
    tnn_module *lin = tnn_linear_new(64, 64, true, &rng);
    tnn_tensor *x = tnn_tensor_new2(64, 64);
    const tnn_tensor *y = NULL;
    int ok = lin && x && tnn_module_forward(lin, x, &y) == TNN_OK; /* the library's own product */
    ok = ok && tnn_log(1) == 2 && tnn_gemm(2) == 4;
    printf("clash_static: %s\n", ok ? "the program's tnn_log and tnn_gemm and the library's helpers coexist"
                                    : "FAILED");
    tnn_tensor_free(x);
    tnn_module_free(lin);
    return ok ? 0 : 1;
}
