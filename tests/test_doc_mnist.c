/* test_doc_mnist: docs/tutorial.md's load_mnist (extracted by tests/docs.cmake into
 * doc_mnist.c, included here) on the repository's copy of MNIST: the test half's 10,000
 * images as [10000 x 784] floats in [-1, 1] that match tnn_pixel_to_unit of the file's
 * bytes, its labels as ints equal to the file's; and a missing folder, refused with the
 * file named and both outputs left NULL. Usage: test_doc_mnist <data folder>. */
#include <string.h>

#include "doc_mnist.c"

static int fail(const char *what)
{
    fprintf(stderr, "test_doc_mnist: %s (%s)\n", what, tnn_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) return fail("usage: test_doc_mnist <data folder>");
    tnn_tensor *x;
    int *labels;
    if (load_mnist(argv[1], "t10k", &x, &labels) != TNN_OK) return fail("load_mnist failed");
    if (x->ndim != 2 || x->shape[0] != 10000 || x->shape[1] != 784) return fail("images are not [10000 x 784]");
    char path[1024];
    tnn_idx img, lab;
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", argv[1]);
    if (tnn_idx_load(path, &img) != TNN_OK) return fail("images unreadable");
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", argv[1]);
    if (tnn_idx_load(path, &lab) != TNN_OK) return fail("labels unreadable");
    for (size_t i = 0; i < img.count; i++)
        if (x->data[i] != tnn_pixel_to_unit(img.data[i])) return fail("a pixel differs from tnn_pixel_to_unit");
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        if (labels[i] != lab.data[i] || labels[i] < 0 || labels[i] > 9) return fail("a label differs from the file");
        counts[labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        if (counts[k] < 800) return fail("a class has fewer than 800 test images");
    tnn_idx_free(&img);
    tnn_idx_free(&lab);
    tnn_tensor_free(x);
    free(labels);

    tnn_tensor dummy; /* outputs set before the call, to see them cleared */
    int dummy_label;
    tnn_tensor *x2 = &dummy;
    int *l2 = &dummy_label;
    if (load_mnist("no/such/folder", "t10k", &x2, &l2) == TNN_OK) return fail("a missing folder was accepted");
    if (!strstr(tnn_last_error(), "no/such/folder/t10k-images-idx3-ubyte.gz")) return fail("the message names no file");
    if (x2 || l2) return fail("outputs not NULL after a failure");
    printf("test_doc_mnist: 10000 images and labels as the files hold them; a missing folder refused\n");
    return 0;
}
