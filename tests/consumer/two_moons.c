/* A program that uses an installed libtinynn: it makes a two-moons data set, trains
 * a small MLP on it with the public API only, and exits 0 when the training accuracy
 * reaches 99%. Built by tests/consumer/run.sh through find_package and pkg-config. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tinynn/tinynn.h>

#define N 512

static void make_moons(tnn_rng *rng, tnn_tensor *x, tnn_tensor *y)
{
    for (int i = 0; i < N; i++) {
        int upper = i % 2 == 0;
        float t = 3.14159265f * tnn_rng_uniform(rng);
        float px = upper ? cosf(t) : 1.0f - cosf(t);
        float py = upper ? sinf(t) : 0.5f - sinf(t);
        x->data[2 * i] = px + 0.08f * tnn_rng_normal(rng);
        x->data[2 * i + 1] = py + 0.08f * tnn_rng_normal(rng);
        y->data[i] = upper ? 1.0f : 0.0f;
    }
}

#define CHECK(call) do { tnn_status st_ = (call); if (st_ != TNN_OK) { \
    fprintf(stderr, "two_moons: %s failed: %s\n", #call, tnn_last_error()); return 1; } } while (0)

int main(void)
{
    printf("libtinynn %s (headers %s)\n", tnn_version(), TINYNN_VERSION_STRING);
    if (tnn_version_number() != TINYNN_VERSION_NUMBER || strcmp(tnn_version(), TINYNN_VERSION_STRING) != 0) {
        fprintf(stderr, "two_moons: linked against libtinynn %s, built with its %s headers\n", tnn_version(),
                TINYNN_VERSION_STRING);
        return 1;
    }
    tnn_rng rng;
    tnn_rng_seed(&rng, 7);
    tnn_tensor *x = tnn_tensor_new2(N, 2), *y = tnn_tensor_new2(N, 1), *dlogits = tnn_tensor_new2(N, 1);
    if (!x || !y || !dlogits) return 1;
    make_moons(&rng, x, y);

    tnn_module *net = tnn_sequential_new();
    CHECK(tnn_sequential_add(net, tnn_linear_new(2, 32, true, &rng)));
    CHECK(tnn_sequential_add(net, tnn_tanh_new()));
    CHECK(tnn_sequential_add(net, tnn_linear_new(32, 32, true, &rng)));
    CHECK(tnn_sequential_add(net, tnn_tanh_new()));
    CHECK(tnn_sequential_add(net, tnn_linear_new(32, 1, true, &rng)));

    tnn_adam_params ap = tnn_adam_defaults();
    ap.lr = 0.01;
    tnn_optimizer *opt = tnn_adam_new(net, ap);
    if (!opt) { fprintf(stderr, "two_moons: %s\n", tnn_last_error()); return 1; }

    float loss = 0.0f;
    const tnn_tensor *logits = NULL;
    for (int step = 0; step < 1500; step++) {
        tnn_optimizer_zero_grad(opt);
        CHECK(tnn_module_forward(net, x, &logits));
        CHECK(tnn_bce_with_logits_loss(logits, y, &loss, dlogits));
        CHECK(tnn_module_backward(net, dlogits, NULL));
        CHECK(tnn_optimizer_step(opt));
    }
    tnn_module_train(net, false);
    CHECK(tnn_module_forward(net, x, &logits));
    int correct = 0;
    for (int i = 0; i < N; i++) correct += (logits->data[i] > 0.0f) == (y->data[i] > 0.5f);
    double acc = (double)correct / N;
    printf("two_moons: loss %.4f, accuracy %.2f%% (%d/%d)\n", (double)loss, 100.0 * acc, correct, N);

    tnn_optimizer_free(opt);
    tnn_module_free(net);
    tnn_tensor_free(x);
    tnn_tensor_free(y);
    tnn_tensor_free(dlogits);
    return acc >= 0.99 ? 0 : 1;
}
