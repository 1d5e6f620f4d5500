/* Unit tests of the Sequential container (tinynn/sequential.h): state_dict names
 * ("0.weight", "2.running_mean"), prefixes and nesting, forward/backward equal to
 * chaining the children by hand (also where activations work in place), mode
 * propagation, ownership, error paths, and the summary table. */
#include "testutil.h"
#include "tnn_impl.h" /* tnn_is_activation, tnn_activation_output_buffer */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Linear(4->3), LeakyReLU, BatchNorm1d(3): children 0, 1, 2. */
static tnn_module *make_lin_act_bn(tnn_rng *r)
{
    tnn_module *s = tnn_sequential_new();
    assert_non_null(s);
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 3, true, r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_batchnorm1d_new(3, tnn_batchnorm_defaults())));
    return s;
}

static void assert_names(const tnn_tensor_list *l, const char *const *names, int n)
{
    assert_non_null(l);
    for (int i = 0; i < l->count && i < n; i++) assert_string_equal(l->items[i].name, names[i]);
    assert_int_equal(l->count, n);
}

static void sequential_state_dict_names(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *s = make_lin_act_bn(&r);
    tnn_tensor_list *l = tnn_module_state_dict(s, "");
    const char *names[] = {"0.weight", "0.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var",
                           "2.num_batches_tracked"};
    assert_names(l, names, 7);
    /* Entries point into the children. */
    const tnn_named_tensor *w = tnn_tensor_list_find(l, "0.weight");
    assert_non_null(w);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[0], 3);
    assert_int_equal(w->shape[1], 4);
    assert_true(w->is_param);
    const tnn_named_tensor *nbt = tnn_tensor_list_find(l, "2.num_batches_tracked");
    assert_non_null(nbt);
    assert_int_equal(nbt->dtype, TNN_I64);
    assert_false(nbt->is_param);
    assert_null(tnn_tensor_list_find(l, "1.weight"));
    assert_null(tnn_tensor_list_find(l, NULL));
    tnn_tensor_list_free(l);

    /* Parameters only, with a prefix. */
    l = tnn_module_parameters(s, "model.");
    const char *pnames[] = {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"};
    assert_names(l, pnames, 4);
    tnn_tensor_list_free(l);
    l = tnn_module_state_dict(s, "model.");
    assert_non_null(tnn_tensor_list_find(l, "model.2.running_mean"));
    tnn_tensor_list_free(l);
    l = tnn_module_parameters(s, NULL); /* NULL prefix = "" */
    assert_string_equal(l->items[0].name, "0.weight");
    tnn_tensor_list_free(l);
    assert_int_equal(tnn_module_num_params(s), 12 + 3 + 3 + 3);
    tnn_module_free(s);
}

/* outer = [Linear(2->4), inner = [BatchNorm1d(4), Linear(4->1)]] */
static void sequential_nested_names(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 2);
    tnn_module *inner = tnn_sequential_new(), *outer = tnn_sequential_new();
    assert_true(inner && outer);
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_batchnorm1d_new(4, tnn_batchnorm_defaults())));
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_linear_new(4, 1, false, &r)));
    TU_ASSERT_OK(tnn_sequential_add(outer, tnn_linear_new(2, 4, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(outer, inner));
    tnn_tensor_list *l = tnn_module_state_dict(outer, "model.");
    const char *names[] = {"model.0.weight",         "model.0.bias",         "model.1.0.weight",
                           "model.1.0.bias",         "model.1.0.running_mean", "model.1.0.running_var",
                           "model.1.0.num_batches_tracked", "model.1.1.weight"};
    assert_names(l, names, 8);
    tnn_tensor_list_free(l);
    assert_int_equal(tnn_sequential_len(outer), 2);
    assert_ptr_equal(tnn_sequential_get(outer, 1), inner);
    assert_true(tnn_is_sequential(inner));
    assert_int_equal(tnn_sequential_len(tnn_sequential_get(inner, 1)), -1);
    assert_null(tnn_sequential_get(outer, 2));
    assert_null(tnn_sequential_get(outer, -1));
    assert_null(tnn_sequential_get(tnn_sequential_get(outer, 0), 0));

    /* Modes propagate through nesting. */
    tnn_module_train(outer, false);
    assert_false(tnn_sequential_get(inner, 0)->training);
    tnn_module_set_requires_grad(outer, false);
    assert_false(tnn_sequential_get(inner, 1)->requires_grad);
    tnn_module_train(outer, true);
    tnn_module_set_requires_grad(outer, true);
    assert_true(tnn_sequential_get(inner, 0)->training);
    assert_true(tnn_sequential_get(inner, 1)->requires_grad);
    /* A child added to a container in eval mode takes its mode (tnn_module_eval is
     * tnn_module_train(m, false)). */
    tnn_module_eval(outer);
    assert_false(tnn_sequential_get(inner, 0)->training);
    tnn_module_eval(NULL);
    TU_ASSERT_OK(tnn_sequential_add(outer, tnn_dropout_new(0.5f, &r)));
    assert_false(tnn_sequential_get(outer, 2)->training);
    char d[64];
    assert_string_equal(tnn_module_describe(outer, d, sizeof d), "sequential(3 modules)");
    tnn_module_free(outer); /* frees inner and every child */
}

/* Forward and backward equal chaining the children by hand. */
static void sequential_matches_manual_chain(void **state)
{
    (void)state;
    tnn_rng r1, r2;
    tnn_rng_seed(&r1, 3);
    tnn_rng_seed(&r2, 3);
    tnn_module *s = make_lin_act_bn(&r1), *c[3] = {tnn_linear_new(4, 3, true, &r2), tnn_leaky_relu_new(0.2f),
                                                     tnn_batchnorm1d_new(3, tnn_batchnorm_defaults())};
    tnn_tensor *x = tu_rand_tensor(&r1, 5, 4, -1.0f, 1.0f), *dy = tu_rand_tensor(&r1, 5, 3, -1.0f, 1.0f);
    const tnn_tensor *y, *dx, *h[4];
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    h[0] = x;
    for (int i = 0; i < 3; i++) TU_ASSERT_OK(tnn_module_forward(c[i], h[i], &h[i + 1]));
    assert_memory_equal(y->data, h[3]->data, y->size * sizeof(float));
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    const tnn_tensor *g = dy;
    for (int i = 2; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(c[i], g, &g));
    assert_memory_equal(dx->data, g->data, dx->size * sizeof(float));
    tnn_tensor_list *ls = tnn_module_parameters(s, ""), *l0 = tnn_module_parameters(c[0], "");
    assert_memory_equal(ls->items[0].grad, l0->items[0].grad, 12 * sizeof(float));
    tnn_tensor_list_free(ls);
    tnn_tensor_list_free(l0);
    /* Backward without dL/dx works too, and zero_grad reaches every child. */
    TU_ASSERT_OK(tnn_module_backward(s, dy, NULL));
    tnn_module_zero_grad(s);
    ls = tnn_module_parameters(s, "");
    for (int k = 0; k < ls->count; k++)
        for (size_t i = 0; i < ls->items[k].count; i++) assert_true(ls->items[k].grad[i] == 0.0f);
    tnn_tensor_list_free(ls);
    for (int i = 0; i < 3; i++) tnn_module_free(c[i]);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(s);
}

/* Children of the in-place test: every case of tnn_sequential's in-place activations.
 * "fwd in place": over the output of the Linear/BatchNorm1d before; "bwd in place": over
 * the dx of the Linear/BatchNorm1d after. */
enum { NIP = 12 };
static tnn_module *make_in_place_child(int i, tnn_rng *r)
{
    switch (i) {
    case 0: return tnn_leaky_relu_new(0.2f);  /* first: reads the caller's x, writes its own y; bwd in place */
    case 1: return tnn_linear_new(4, 6, true, r);
    case 2: return tnn_leaky_relu_new(0.2f);  /* fwd and bwd in place */
    case 3: return tnn_linear_new(6, 6, true, r);
    case 4: return tnn_batchnorm1d_new(6, tnn_batchnorm_defaults());
    case 5: return tnn_relu_new();            /* fwd over a BatchNorm1d, bwd in place */
    case 6: return tnn_linear_new(6, 5, true, r);
    case 7: return tnn_leaky_relu_new(-0.3f); /* negative slope: own output buffer; bwd in place */
    case 8: return tnn_linear_new(5, 5, true, r);
    case 9: return tnn_tanh_new();            /* fwd in place; bwd over a BatchNorm1d's dx */
    case 10: return tnn_batchnorm1d_new(5, tnn_batchnorm_defaults());
    default: return tnn_sigmoid_new();        /* last: fwd in place, bwd into its own dx */
    }
}

/* A Sequential computes the same bits as the same children chained by hand (where no
 * activation works in place), twice over, with two backward passes per forward (as the
 * GAN's discriminator runs); the caller's x and dy are never written. */
static void sequential_in_place_activations(void **state)
{
    (void)state;
    tnn_rng r1, r2;
    tnn_rng_seed(&r1, 11);
    tnn_rng_seed(&r2, 11);
    tnn_module *s = tnn_sequential_new(), *c[NIP];
    assert_non_null(s);
    for (int i = 0; i < NIP; i++) {
        TU_ASSERT_OK(tnn_sequential_add(s, make_in_place_child(i, &r1)));
        assert_non_null(c[i] = make_in_place_child(i, &r2));
    }
    tnn_tensor_list *ls = tnn_module_parameters(s, ""), *lc[NIP];
    for (int i = 0; i < NIP; i++) assert_non_null(lc[i] = tnn_module_parameters(c[i], ""));
    for (int round = 0; round < 2; round++) {
        tnn_tensor *x = tu_rand_tensor(&r1, 8, 4, -2.0f, 2.0f), *dy = tu_rand_tensor(&r1, 8, 5, -1.0f, 1.0f);
        tnn_tensor *x0 = tnn_tensor_clone(x), *dy0 = tnn_tensor_clone(dy);
        const tnn_tensor *y, *dx, *h[NIP + 1];
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        h[0] = x;
        for (int i = 0; i < NIP; i++) TU_ASSERT_OK(tnn_module_forward(c[i], h[i], &h[i + 1]));
        assert_int_equal(y->size, h[NIP]->size);
        assert_memory_equal(y->data, h[NIP]->data, y->size * sizeof(float));
        for (int pass = 0; pass < 2; pass++) {
            TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
            const tnn_tensor *g = dy;
            for (int i = NIP - 1; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(c[i], g, &g));
            assert_int_equal(dx->size, g->size);
            assert_memory_equal(dx->data, g->data, dx->size * sizeof(float));
            /* Every parameter's gradient (accumulated over the passes) and every buffer. */
            int k = 0;
            for (int i = 0; i < NIP; i++)
                for (int j = 0; j < lc[i]->count; j++, k++) {
                    const tnn_named_tensor *a = &ls->items[k], *b = &lc[i]->items[j];
                    assert_int_equal(a->count, b->count);
                    size_t bytes = a->count * (a->dtype == TNN_I64 ? sizeof(int64_t) : sizeof(float));
                    assert_memory_equal(a->data, b->data, bytes);
                    if (a->grad) assert_memory_equal(a->grad, b->grad, a->count * sizeof(float));
                }
            assert_int_equal(k, ls->count);
        }
        assert_memory_equal(x->data, x0->data, x->size * sizeof(float));
        assert_memory_equal(dy->data, dy0->data, dy->size * sizeof(float));
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        tnn_tensor_free(x0);
        tnn_tensor_free(dy0);
    }
    tnn_tensor_list_free(ls);
    for (int i = 0; i < NIP; i++) {
        tnn_tensor_list_free(lc[i]);
        tnn_module_free(c[i]);
    }
    tnn_module_free(s);
}


/* Children of the convolutional in-place test: every layer after which (in forward) or
 * before which (in backward) an activation works in place besides Linear and
 * BatchNorm1d. Input [4 x 2 x 8 x 8]. */
enum { NCV = 15 };
static tnn_module *make_conv_child(int i, tnn_rng *r)
{
    switch (i) {
    case 0: return tnn_leaky_relu_new(0.2f);            /* first: own y, own dx */
    case 1: return tnn_conv2d_new(2, 4, 3, 1, 1, true, r); /* [4 x 4 x 8 x 8] */
    case 2: return tnn_leaky_relu_new(0.2f);            /* fwd over a Conv2d, bwd over a BatchNorm2d's dx */
    case 3: return tnn_batchnorm2d_new(4, tnn_batchnorm_defaults());
    case 4: return tnn_relu_new();                      /* fwd over a BatchNorm2d, bwd over a MaxPool2d's dx */
    case 5: return tnn_max_pool2d_new(2, 2, 0);         /* [4 x 4 x 4 x 4] */
    case 6: return tnn_tanh_new();                      /* fwd over a MaxPool2d, bwd over an Upsample's dx */
    case 7: return tnn_upsample_nearest2d_new(2);       /* [4 x 4 x 8 x 8] */
    case 8: return tnn_sigmoid_new();                   /* fwd over an Upsample, bwd over a ConvTranspose2d's dx */
    case 9: return tnn_conv_transpose2d_new(4, 3, 4, 2, 1, 0, true, r); /* [4 x 3 x 16 x 16] */
    case 10: return tnn_relu_new();                     /* fwd over a ConvTranspose2d, bwd over a Conv2d's dx */
    case 11: return tnn_conv2d_new(3, 2, 3, 2, 1, false, r); /* [4 x 2 x 8 x 8] */
    case 12: return tnn_leaky_relu_new(-0.3f);          /* negative slope: own y; bwd over a BatchNorm2d's dx */
    case 13: return tnn_batchnorm2d_new(2, tnn_batchnorm_defaults());
    default: return tnn_leaky_relu_new(0.2f);           /* last: fwd over a BatchNorm2d, bwd into its own dx */
    }
}

/* Which of make_conv_child's activations work in place, and their sizes per sample. */
static const bool conv_fwd_in_place[NCV] = {[2] = true, [4] = true, [6] = true, [8] = true, [10] = true, [14] = true};
static const bool conv_bwd_in_place[NCV] = {[2] = true, [4] = true, [6] = true, [8] = true, [10] = true, [12] = true};
static const size_t conv_act_size[NCV] = {[0] = 128, [2] = 256, [4] = 256, [6] = 64, [8] = 256, [10] = 768,
                                          [12] = 128, [14] = 128};

/* The second net: LayerNorm, AvgPool2d, Dropout2d, AdaptiveAvgPool2d and Dropout, with an
 * activation after (and before) each. Input [4 x 2 x 8 x 8]. The dropouts of the
 * Sequential (copy 0) and of the layers one by one (copy 1) draw from generators seeded
 * alike, so that their masks are the same. */
enum { NNM = 13 };
static tnn_rng norm_drop_rng[2][2];
static tnn_module *make_norm_child(int i, tnn_rng *r, int copy)
{
    (void)r;
    switch (i) {
    case 0: return tnn_leaky_relu_new(0.2f);            /* first: own y, own dx */
    case 1: return tnn_layernorm_new(3, (int[]){2, 8, 8}, tnn_layernorm_defaults());
    case 2: return tnn_tanh_new();                      /* fwd over a LayerNorm, bwd over an AvgPool2d's dx */
    case 3: return tnn_avg_pool2d_new(2, 2, 0, true);   /* [4 x 2 x 4 x 4] */
    case 4: return tnn_relu_new();                      /* fwd over an AvgPool2d, bwd over a Dropout2d's dx */
    case 5: return tnn_dropout2d_new(0.25f, &norm_drop_rng[copy][0]);
    case 6: return tnn_sigmoid_new();                   /* fwd over a Dropout2d, bwd over an AdaptiveAvgPool2d's dx */
    case 7: return tnn_adaptive_avg_pool2d_new(3, 3);   /* [4 x 2 x 3 x 3] */
    case 8: return tnn_leaky_relu_new(0.1f);            /* fwd over an AdaptiveAvgPool2d, bwd over a Dropout's dx */
    case 9: return tnn_dropout_new(0.3f, &norm_drop_rng[copy][1]);
    case 10: return tnn_elu_new(1.0f);                  /* fwd over a Dropout, bwd over a LayerNorm's dx */
    case 11: return tnn_layernorm_new(2, (int[]){3, 3}, tnn_layernorm_defaults());
    default: return tnn_relu_new();                     /* last: fwd over a LayerNorm, bwd into its own dx */
    }
}
static const bool norm_fwd_in_place[NNM] = {[2] = true, [4] = true, [6] = true, [8] = true, [10] = true, [12] = true};
static const bool norm_bwd_in_place[NNM] = {[2] = true, [4] = true, [6] = true, [8] = true, [10] = true};
static const size_t norm_act_size[NNM] = {[0] = 128, [2] = 128, [4] = 32, [6] = 32, [8] = 18, [10] = 18, [12] = 18};

typedef struct in_place_net {
    int n;
    tnn_module *(*make)(int i, tnn_rng *r, int copy);
    const bool *fwd_in_place, *bwd_in_place;
    const size_t *act_size; /* per sample */
    int out_c, out_h, out_w;
} in_place_net;

static tnn_module *make_conv_child_copy(int i, tnn_rng *r, int copy)
{
    (void)copy;
    return make_conv_child(i, r);
}

/* An allocator that counts live blocks and bytes and the peak of the bytes (a header
 * before each block keeps its size). */
static long g_blocks;
static size_t g_bytes, g_peak;
typedef union { size_t n; max_align_t align; } block_head;
static void *bytes_malloc(void *u, size_t n)
{
    (void)u;
    block_head *h = malloc(sizeof *h + n);
    if (!h) return NULL;
    h->n = n;
    g_blocks++;
    if ((g_bytes += n) > g_peak) g_peak = g_bytes;
    return h + 1;
}
static void bytes_free(void *u, void *p)
{
    (void)u;
    block_head *h = (block_head *)p - 1;
    g_blocks--;
    g_bytes -= h->n;
    free(h);
}
static void *bytes_realloc(void *u, void *p, size_t n)
{
    if (!p) return bytes_malloc(u, n);
    block_head *h = (block_head *)p - 1;
    size_t old = h->n;
    block_head *q = realloc(h, sizeof *q + n);
    if (!q) return NULL;
    q->n = n;
    g_bytes = g_bytes - old + n;
    if (g_bytes > g_peak) g_peak = g_bytes;
    return q + 1;
}

/* Conv2d, BatchNorm2d, MaxPool2d, Upsample and ConvTranspose2d in a Sequential, with an
 * activation after (and before) each, against the same layers called one by one: the
 * same bits in the output, dL/dx, every parameter gradient (accumulated over two
 * backward passes) and every buffer, over two rounds in training mode and one in eval
 * mode; the caller's x and dy untouched. The Sequential allocates, over a forward and
 * a backward, exactly the activations' buffers fewer: an output buffer per activation
 * working in place in forward and a dx buffer per one working in place in backward. */
static void check_in_place_net(const in_place_net *net)
{
    enum { N = 4, MAXC = 16 }; /* MAXC: room for the largest net */
    assert_true(net->n <= MAXC);
    for (int copy = 0; copy < 2; copy++)
        for (int k = 0; k < 2; k++) tnn_rng_seed(&norm_drop_rng[copy][k], 40 + (uint64_t)k);
    tnn_rng r1, r2;
    tnn_rng_seed(&r1, 12);
    tnn_rng_seed(&r2, 12);
    /* installed throughout: every block it allocates goes back to it */
    g_blocks = 0;
    g_bytes = g_peak = 0;
    tnn_set_allocator(&(tnn_allocator){bytes_malloc, bytes_realloc, bytes_free, NULL});
    tnn_module *s = tnn_sequential_new(), *c[MAXC];
    assert_non_null(s);
    for (int i = 0; i < net->n; i++) TU_ASSERT_OK(tnn_sequential_add(s, net->make(i, &r1, 0)));
    for (int i = 0; i < net->n; i++) assert_non_null(c[i] = net->make(i, &r2, 1));
    /* the parameters alike (BatchNorm's weight and bias drawn away from 1 and 0) */
    tnn_tensor_list *ls = tnn_module_parameters(s, ""), *lc[MAXC];
    assert_non_null(ls);
    for (int i = 0, k = 0; i < net->n; i++) {
        assert_non_null(lc[i] = tnn_module_parameters(c[i], ""));
        for (int j = 0; j < lc[i]->count; j++, k++) {
            tnn_named_tensor *a = &ls->items[k], *b = &lc[i]->items[j];
            if (tnn_batchnorm2d_output_buffer(c[i]) || tnn_layernorm_output_buffer(c[i]))
                for (size_t e = 0; e < a->count; e++) ((float *)a->data)[e] = 0.5f + tnn_rng_uniform(&r1);
            assert_int_equal(a->count, b->count);
            memcpy(b->data, a->data, a->count * sizeof(float));
        }
    }
    for (int round = 0; round < 3; round++) {
        const bool training = round < 2;
        tnn_module_train(s, training);
        for (int i = 0; i < net->n; i++) tnn_module_train(c[i], training);
        tnn_tensor *x = tnn_tensor_new(4, (int[]){N, 2, 8, 8}),
                   *dy = tnn_tensor_new(4, (int[]){N, net->out_c, net->out_h, net->out_w});
        assert_non_null(x);
        assert_non_null(dy);
        tnn_tensor_uniform(x, &r1, -2.0f, 2.0f);
        tnn_tensor_uniform(dy, &r1, -1.0f, 1.0f);
        tnn_tensor *x0 = tnn_tensor_clone(x), *dy0 = tnn_tensor_clone(dy);
        const tnn_tensor *y, *dx, *h[MAXC + 1];
        /* What the first forward and backward allocate, and the peak above what was
         * allocated before (nothing is freed on the way: the peak is at the end). */
        long blocks0 = g_blocks;
        size_t bytes0 = g_bytes;
        g_peak = g_bytes;
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
        const long seq_blocks = g_blocks - blocks0;
        const size_t seq_bytes = g_bytes - bytes0, seq_peak = g_peak - bytes0;
        blocks0 = g_blocks;
        bytes0 = g_bytes;
        g_peak = g_bytes;
        h[0] = x;
        for (int i = 0; i < net->n; i++) TU_ASSERT_OK(tnn_module_forward(c[i], h[i], &h[i + 1]));
        const tnn_tensor *g = dy;
        for (int i = net->n - 1; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(c[i], g, &g));
        const long chain_blocks = g_blocks - blocks0;
        const size_t chain_bytes = g_bytes - bytes0, chain_peak = g_peak - bytes0;
        if (round == 0) {
            size_t saved = 0;
            long saved_blocks = 0;
            for (int i = 0; i < net->n; i++) {
                const int n = (net->fwd_in_place[i] ? 1 : 0) + (net->bwd_in_place[i] ? 1 : 0);
                saved += (size_t)n * N * net->act_size[i] * sizeof(float);
                saved_blocks += n;
            }
            print_message("first forward + backward allocate: sequential %ld blocks, %zu bytes (peak %zu); the "
                          "layers one by one %ld blocks, %zu bytes (peak %zu); the in-place activations' buffers "
                          "%ld blocks, %zu bytes\n", seq_blocks, seq_bytes, seq_peak, chain_blocks, chain_bytes,
                          chain_peak, saved_blocks, saved);
            assert_int_equal(chain_blocks - seq_blocks, saved_blocks);
            assert_int_equal(chain_bytes - seq_bytes, saved);
            assert_int_equal(chain_peak - seq_peak, saved);
        } else {
            /* later rounds allocate nothing (the shapes have been seen) */
            assert_int_equal(seq_blocks, 0);
            assert_int_equal(chain_blocks, 0);
        }
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
                g = dy;
                for (int i = net->n - 1; i >= 0; i--) TU_ASSERT_OK(tnn_module_backward(c[i], g, &g));
            }
            assert_int_equal(y->size, h[net->n]->size);
            assert_memory_equal(y->data, h[net->n]->data, y->size * sizeof(float));
            assert_int_equal(dx->size, g->size);
            assert_memory_equal(dx->data, g->data, dx->size * sizeof(float));
            int k = 0;
            for (int i = 0; i < net->n; i++)
                for (int j = 0; j < lc[i]->count; j++, k++) {
                    const tnn_named_tensor *a = &ls->items[k], *b = &lc[i]->items[j];
                    assert_int_equal(a->count, b->count);
                    size_t bytes = a->count * (a->dtype == TNN_I64 ? sizeof(int64_t) : sizeof(float));
                    assert_memory_equal(a->data, b->data, bytes);
                    if (a->grad) assert_memory_equal(a->grad, b->grad, a->count * sizeof(float));
                }
            assert_int_equal(k, ls->count);
        }
        /* the activations working in place in forward have no output buffer of their own */
        for (int i = 0; i < net->n; i++) {
            const tnn_module *a = tnn_sequential_get(s, i);
            if (tnn_is_activation(a)) assert_int_equal(tnn_activation_output_buffer(a)->data == NULL, net->fwd_in_place[i]);
        }
        assert_memory_equal(x->data, x0->data, x->size * sizeof(float));
        assert_memory_equal(dy->data, dy0->data, dy->size * sizeof(float));
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        tnn_tensor_free(x0);
        tnn_tensor_free(dy0);
    }
    tnn_tensor_list_free(ls);
    for (int i = 0; i < net->n; i++) {
        tnn_tensor_list_free(lc[i]);
        tnn_module_free(c[i]);
    }
    tnn_module_free(s);
    assert_int_equal(g_blocks, 0);
    tnn_set_allocator(NULL);
}

static void sequential_in_place_conv_net(void **state)
{
    (void)state;
    const in_place_net net = {NCV, make_conv_child_copy, conv_fwd_in_place, conv_bwd_in_place, conv_act_size, 2, 8, 8};
    check_in_place_net(&net);
}

/* The same over LayerNorm, AvgPool2d, AdaptiveAvgPool2d, Dropout and Dropout2d. */
static void sequential_in_place_norm_pool_dropout(void **state)
{
    (void)state;
    const in_place_net net = {NNM, make_norm_child, norm_fwd_in_place, norm_bwd_in_place, norm_act_size, 2, 3, 3};
    check_in_place_net(&net);
}

/* A module of the caller's that returns its input and dy as they are (nn.Identity). */
static tnn_status pass_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    (void)m;
    *y = x;
    return TNN_OK;
}
static tnn_status pass_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    (void)m;
    if (dx) *dx = dy;
    return TNN_OK;
}
static void pass_free(tnn_module *m) { free(m); }
static const tnn_module_vtable pass_vt = {.type_name = "pass", .forward = pass_forward, .backward = pass_backward,
                                          .free = pass_free};
static tnn_module *pass_through_new(void)
{
    tnn_module *m = calloc(1, sizeof *m);
    if (m) tnn_module_init(m, &pass_vt);
    return m;
}

/* A module of the caller's with a buffer of its own: y = buf[0:4] = 2 x. */
typedef struct doubler {
    tnn_module base;
    float buf[8];
    tnn_tensor y;
} doubler;
static tnn_status doubler_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    doubler *d = (doubler *)m;
    float tmp[4];
    for (int i = 0; i < 4; i++) tmp[i] = 2.0f * x->data[i];
    memcpy(d->buf, tmp, sizeof tmp);
    d->y = (tnn_tensor){.data = d->buf, .ndim = 2, .shape = {1, 4, 1, 1}, .size = 4};
    *y = &d->y;
    return TNN_OK;
}
static const tnn_module_vtable doubler_vt = {.type_name = "doubler", .forward = doubler_forward,
                                             .backward = pass_backward, .free = pass_free};

static void sequential_error_paths(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 4);
    tnn_module *s = make_lin_act_bn(&r);
    const tnn_tensor *y, *dx;
    tnn_tensor *dy = tnn_tensor_new2(2, 3);
    /* Backward before forward: refused before any child runs. */
    TU_ASSERT_ERR(tnn_module_backward(s, dy, &dx), TNN_ERR_STATE, "sequential(3 modules)", "before forward", NULL);
    /* Wrong input width: the first child names itself and both shapes. */
    tnn_tensor *x = tnn_tensor_new2(2, 5);
    TU_ASSERT_ERR(tnn_module_forward(s, x, &y), TNN_ERR_SHAPE, "child 0: linear(4->3)", "[2 x 5]", NULL);
    TU_ASSERT_ERR(tnn_module_forward(s, NULL, &y), TNN_ERR_ARG, "sequential", NULL);
    /* Batch of one in training: BatchNorm refuses it. */
    tnn_tensor *x1 = tnn_tensor_new2(1, 4);
    TU_ASSERT_ERR(tnn_module_forward(s, x1, &y), TNN_ERR_SHAPE, "child 2: batchnorm1d(3", "[1 x 3]", NULL);
    tnn_tensor_free(x1);
    tnn_module_free(s);

    /* Mismatched shapes between layers: Linear(4->3) then Linear(5->2). */
    s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(5, 2, true, &r)));
    tnn_tensor *x4 = tnn_tensor_new2(2, 4);
    TU_ASSERT_ERR(tnn_module_forward(s, x4, &y), TNN_ERR_SHAPE, "child 1: linear(5->2)", "[2 x 3]", NULL);
    /* Nested: each Sequential adds its child's position in front. */
    tnn_module *nest = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(nest, tnn_linear_new(4, 4, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(nest, s));
    char d[64];
    assert_string_equal(tnn_module_describe(nest, d, sizeof d), "sequential(2 modules)");
    TU_ASSERT_ERR(tnn_module_forward(nest, x4, &y), TNN_ERR_SHAPE, "child 1: child 1: linear(5->2)", NULL);
    tnn_module_free(nest);
    s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 3, true, &r)));
    assert_string_equal(tnn_module_describe(s, d, sizeof d), "sequential(1 module)");
    tnn_module_free(s);

    /* A failed constructor passed straight in: an error that keeps its reason. */
    s = tnn_sequential_new();
    TU_ASSERT_ERR(tnn_sequential_add(s, tnn_linear_new(0, 3, true, &r)), TNN_ERR_ARG, "child 0 is NULL",
                  "did its constructor fail? the last error was: linear(0->3)", NULL);
    /* A NULL with no error behind it: no stale or empty reason is attached. */
    tnn_clear_error();
    TU_ASSERT_ERR(tnn_sequential_add(s, NULL), TNN_ERR_ARG, "child 0 is NULL", NULL);
    assert_null(strstr(tnn_last_error(), "constructor"));
    assert_int_equal(tnn_sequential_len(s), 0);
    /* Nor an error older than the last add (or the container): it is not the NULL's. */
    assert_null(tnn_safetensors_load("missing.safetensors"));
    tnn_module *later = tnn_sequential_new();
    TU_ASSERT_ERR(tnn_sequential_add(later, NULL), TNN_ERR_ARG, "child 0 is NULL", NULL);
    assert_null(strstr(tnn_last_error(), "missing.safetensors"));
    assert_null(tnn_safetensors_load("missing.safetensors"));
    TU_ASSERT_OK(tnn_sequential_add(later, tnn_relu_new()));
    TU_ASSERT_ERR(tnn_sequential_add(later, NULL), TNN_ERR_ARG, "child 1 is NULL", NULL);
    assert_null(strstr(tnn_last_error(), "missing.safetensors"));
    tnn_module_free(later);
    TU_ASSERT_ERR(tnn_sequential_add(s, s), TNN_ERR_ARG, "itself", NULL);
    /* The same module twice: refused, and it stays the container's (freed once, below). */
    tnn_module *twice = tnn_relu_new();
    TU_ASSERT_OK(tnn_sequential_add(s, twice));
    TU_ASSERT_ERR(tnn_sequential_add(s, twice), TNN_ERR_ARG, "child 1 is already child 0", "left where it is", NULL);
    assert_int_equal(tnn_sequential_len(s), 1);
    TU_ASSERT_ERR(tnn_sequential_add(NULL, NULL), TNN_ERR_ARG, NULL);
    tnn_module_free(s);

    /* A child run on its own since the container's forward, with a larger batch: its
     * output moved, and the activation after it worked in place over the old one. The
     * container's backward refuses instead of reading freed memory. */
    s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_relu_new()));
    tnn_tensor *xb = tnn_tensor_new2(512, 4);
    TU_ASSERT_OK(tnn_module_forward(s, x4, &y));
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), xb, &y));
    TU_ASSERT_ERR(tnn_module_backward(s, dy, &dx), TNN_ERR_STATE, "child 0 (linear(4->3))", "forward of its own",
                  NULL);
    TU_ASSERT_OK(tnn_module_forward(s, x4, &y)); /* its own forward again: back is fine */
    TU_ASSERT_OK(tnn_module_backward(s, dy, &dx));
    /* The same with a batch of the same size, which moves nothing: the backward would
     * give the gradients of the other input. Refused too, for the last child as well. */
    tnn_tensor *xs = tnn_tensor_clone(x4);
    for (size_t k = 0; k < xs->size; k++) xs->data[k] += 1.0f;
    for (int child = 0; child < 2; child++) {
        TU_ASSERT_OK(tnn_module_forward(s, x4, &y));
        const tnn_tensor *in = xs, *h;
        if (child == 1) { /* the ReLU run on its own, on a tensor of its input's shape */
            TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, 0), xs, &h));
            TU_ASSERT_OK(tnn_module_forward(s, x4, &y));
            in = tnn_tensor_clone(h);
        }
        TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(s, child), in, &h));
        TU_ASSERT_ERR(tnn_module_backward(s, dy, &dx), TNN_ERR_STATE, child ? "child 1 (relu)" : "child 0 (linear(4->3))",
                      "forward of its own", NULL);
        if (child == 1) tnn_tensor_free((tnn_tensor *)in);
    }
    /* Nested: a grandchild run on its own is found before any backward runs, so the
     * gradients of the layers after it are left as they were (zeros here). */
    tnn_module *outer = tnn_sequential_new(), *inner = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_linear_new(4, 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(outer, inner));
    TU_ASSERT_OK(tnn_sequential_add(outer, tnn_linear_new(3, 3, true, &r)));
    TU_ASSERT_OK(tnn_module_forward(outer, x4, &y));
    TU_ASSERT_OK(tnn_module_backward(outer, dy, &dx));
    tnn_module_zero_grad(outer);
    TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(inner, 0), xs, &y));
    TU_ASSERT_ERR(tnn_module_backward(outer, dy, &dx), TNN_ERR_STATE, "child 0.0 (linear(4->3))", "forward of its own",
                  "this backward changed nothing", NULL);
    tnn_tensor_list *grads = tnn_module_parameters(outer, "");
    assert_non_null(grads);
    for (int k = 0; k < grads->count; k++)
        for (size_t e = 0; e < grads->items[k].count; e++)
            if (grads->items[k].grad[e] != 0.0f) fail_msg("%s's gradient changed by a refused backward", grads->items[k].name);
    tnn_tensor_list_free(grads);
    TU_ASSERT_OK(tnn_module_forward(inner, xs, &y)); /* the inner container on its own: the outer one sees it */
    TU_ASSERT_ERR(tnn_module_backward(outer, dy, &dx), TNN_ERR_STATE, "child 0 (sequential", "forward of its own",
                  NULL);
    TU_ASSERT_OK(tnn_module_forward(outer, x4, &y));
    TU_ASSERT_OK(tnn_module_backward(outer, dy, &dx));
    tnn_module_free(outer);
    tnn_tensor_free(xs);
    /* The container fed its own output, or a child's: refused (the first Linear would
     * read what the second overwrites, and keep it for its backward). */
    tnn_module *two = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(two, tnn_linear_new(4, 4, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(two, tnn_linear_new(4, 4, true, &r)));
    const tnn_tensor *y2;
    TU_ASSERT_OK(tnn_module_forward(two, x4, &y2));
    TU_ASSERT_ERR(tnn_module_forward(two, y2, &y), TNN_ERR_ARG, "sequential(2 modules) forward",
                  "this module's own output, the output of child 1 (linear(4->4))", NULL);
    tnn_tensor *c2 = tnn_tensor_clone(y2);
    TU_ASSERT_OK(tnn_module_forward(two, c2, &y)); /* a copy is fine */
    /* and still after a child was added (the check used to be skipped until the next
     * forward had run): the children's outputs from that forward are still theirs */
    const tnn_tensor *y1 = y;
    TU_ASSERT_OK(tnn_sequential_add(two, tnn_relu_new()));
    TU_ASSERT_ERR(tnn_module_forward(two, y1, &y), TNN_ERR_ARG, "sequential(3 modules) forward",
                  "(part of) the output of child 1 (linear(4->4)) from the last forward", NULL);
    TU_ASSERT_OK(tnn_module_forward(two, c2, &y));
    tnn_tensor_free(c2);
    tnn_module_free(two);
    /* A Flatten's output is a view of its input: the same input again is not the
     * Sequential's own output (it was refused as one) */
    tnn_module *fl = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(fl, tnn_flatten_new()));
    TU_ASSERT_OK(tnn_sequential_add(fl, tnn_linear_new(4, 4, true, &r)));
    TU_ASSERT_OK(tnn_module_forward(fl, x4, &y));
    TU_ASSERT_OK(tnn_module_forward(fl, x4, &y));
    TU_ASSERT_ERR(tnn_module_forward(fl, y, &y2), TNN_ERR_ARG, "own output", NULL); /* the Linear's still is */
    tnn_module_free(fl);
    /* So is a module of the caller's that passes its input through (nn.Identity), first
     * or in the middle: the same input again is fine, the Linear's output is not. */
    for (int at = 0; at < 2; at++) {
        tnn_module *id = tnn_sequential_new();
        if (at == 1) TU_ASSERT_OK(tnn_sequential_add(id, tnn_linear_new(4, 4, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(id, pass_through_new()));
        TU_ASSERT_OK(tnn_sequential_add(id, tnn_linear_new(4, 4, true, &r)));
        for (int k = 0; k < 3; k++) TU_ASSERT_OK(tnn_module_forward(id, x4, &y));
        TU_ASSERT_ERR(tnn_module_forward(id, y, &y2), TNN_ERR_ARG, "own output, the output of child", NULL);
        if (at == 1) {
            const tnn_tensor *h = NULL; /* the first Linear's output, passed through */
            TU_ASSERT_OK(tnn_module_forward(tnn_sequential_get(id, 0), x4, &h));
            TU_ASSERT_ERR(tnn_module_forward(id, h, &y2), TNN_ERR_ARG, "child 0 (linear(4->4))", NULL);
        }
        tnn_module_free(id);
    }
    /* An output that only overlaps the child's input (here: the input is a slice of the
     * child's own buffer, buf[2:6], and the output buf[0:4]) is a buffer of the child's,
     * not a view: the same input again, and the Sequential's own output, are refused. */
    {
        doubler *d = calloc(1, sizeof *d);
        assert_non_null(d);
        tnn_module_init(&d->base, &doubler_vt);
        tnn_module *ds = tnn_sequential_new();
        TU_ASSERT_OK(tnn_sequential_add(ds, &d->base));
        for (int i = 0; i < 8; i++) d->buf[i] = (float)i;
        tnn_tensor slice = {.data = d->buf + 2, .ndim = 2, .shape = {1, 4, 1, 1}, .size = 4};
        tnn_tensor own = {.data = d->buf, .ndim = 2, .shape = {1, 4, 1, 1}, .size = 4};
        TU_ASSERT_OK(tnn_module_forward(ds, &slice, &y)); /* the Sequential cannot know the buffer yet */
        TU_ASSERT_ERR(tnn_module_forward(ds, &slice, &y), TNN_ERR_ARG, "child 0 (doubler)", NULL);
        TU_ASSERT_ERR(tnn_module_forward(ds, &own, &y), TNN_ERR_ARG, "own output, the output of child 0", NULL);
        tnn_module_free(ds);
    }
    /* A child added after the forward: that forward did not go through it. */
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3, 3, true, &r)));
    TU_ASSERT_ERR(tnn_module_backward(s, dy, &dx), TNN_ERR_STATE, "before forward", "after a child was added", NULL);
    tnn_tensor_free(xb);
    tnn_module_free(s);
    /* Empty container: the identity. */
    s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_module_forward(s, x4, &y));
    assert_memory_equal(y->data, x4->data, x4->size * sizeof(float));
    tnn_module_free(s);
    tnn_tensor_free(x4);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
}

/* A child's output buffer as the Sequential's input, from a forward of that child on
 * its own: before the Sequential's first forward, or for a child added since, the
 * Sequential has no output of its own to compare with. The child would overwrite the
 * input on the way (the first Linear keeps it for its backward): refused before any
 * child runs, whichever built-in the child is and however deep it is nested. */
static void sequential_input_is_a_childs_buffer(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 11);
    tnn_tensor *x = tnn_tensor_new2(4, 3);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    const tnn_tensor *y, *alone;
    for (int kind = 0; kind < 6; kind++) {
        tnn_module *s = tnn_sequential_new();
        TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3, 3, true, &r)));
        tnn_module *c = kind == 0   ? tnn_linear_new(3, 3, true, &r)
                        : kind == 1 ? tnn_batchnorm1d_new(3, tnn_batchnorm_defaults())
                        : kind == 2 ? tnn_leaky_relu_new(-0.3f) /* cannot work in place: writes its own buffer */
                        : kind == 3 ? tnn_dropout_new(0.0f, NULL)
                        : kind == 4 ? tnn_softmax_new()
                                    : tnn_log_softmax_new();
        TU_ASSERT_OK(tnn_sequential_add(s, c));
        TU_ASSERT_OK(tnn_module_forward(c, x, &alone)); /* before the Sequential's first forward */
        tnn_tensor *before = tnn_tensor_clone(alone);
        TU_ASSERT_ERR(tnn_module_forward(s, alone, &y), TNN_ERR_ARG, "sequential(2 modules) forward",
                      "output buffer of child 1", "pass a copy", NULL);
        assert_memory_equal(alone->data, before->data, before->size * sizeof(float));
        assert_false(s->has_output);
        TU_ASSERT_OK(tnn_module_forward(s, before, &y)); /* a copy is fine */
        tnn_tensor_free(before);
        tnn_module_free(s);
    }
    /* A Conv2d's output buffer, the same way (tnn_conv2d_output_buffer). */
    {
        tnn_module *s = tnn_sequential_new(), *c = tnn_conv2d_new(2, 2, 3, 1, 1, true, &r);
        TU_ASSERT_OK(tnn_sequential_add(s, tnn_conv2d_new(2, 2, 1, 1, 0, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(s, c));
        tnn_tensor *img = tnn_tensor_new4(2, 2, 4, 3);
        tnn_tensor_uniform(img, &r, -1.0f, 1.0f);
        TU_ASSERT_OK(tnn_module_forward(c, img, &alone));
        tnn_tensor *before = tnn_tensor_clone(alone);
        TU_ASSERT_ERR(tnn_module_forward(s, alone, &y), TNN_ERR_ARG, "sequential(2 modules) forward",
                      "output buffer of child 1 (conv2d(2->2, k3, s1, p1))", "pass a copy", NULL);
        assert_memory_equal(alone->data, before->data, before->size * sizeof(float));
        assert_false(s->has_output);
        TU_ASSERT_OK(tnn_module_forward(s, before, &y)); /* a copy is fine */
        tnn_tensor_free(before);
        tnn_tensor_free(img);
        tnn_module_free(s);
    }
    /* Rows of a child's buffer left over from a larger batch: the forward of this batch
     * writes them too (the buffer's whole allocation counts, not its current size). */
    {
        tnn_module *s = tnn_sequential_new(), *c = tnn_linear_new(3, 3, true, &r);
        TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3, 3, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(s, c));
        tnn_tensor *big = tnn_tensor_new2(8, 3);
        tnn_tensor_uniform(big, &r, -1.0f, 1.0f);
        TU_ASSERT_OK(tnn_module_forward(c, big, &alone)); /* 8 rows */
        TU_ASSERT_OK(tnn_module_forward(c, x, &alone));   /* 4 rows: rows 4..7 are still its */
        tnn_tensor *tail = tnn_tensor_view(alone->data + 12, 2, (int[]){4, 3});
        assert_non_null(tail);
        TU_ASSERT_ERR(tnn_module_forward(s, tail, &y), TNN_ERR_ARG, "output buffer of child 1", NULL);
        tnn_tensor_free(tail);
        tnn_tensor_free(big);
        tnn_module_free(s);
    }
    /* Not refused: the buffer of an activation that works in place in the chain (it
     * writes the Linear's output, not its own), and, twice over, the input of a
     * Sequential whose nested Sequential holds only a Flatten (its output is a view of
     * that input). */
    {
        tnn_module *s = tnn_sequential_new(), *act = tnn_tanh_new();
        TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(3, 3, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(s, act));
        TU_ASSERT_OK(tnn_module_forward(act, x, &alone)); /* on its own: its buffer */
        tnn_tensor *before = tnn_tensor_clone(alone);
        TU_ASSERT_OK(tnn_module_forward(s, alone, &y));
        assert_memory_equal(alone->data, before->data, before->size * sizeof(float));
        tnn_tensor_free(before);
        tnn_module_free(s);
        tnn_module *o = tnn_sequential_new(), *in = tnn_sequential_new();
        TU_ASSERT_OK(tnn_sequential_add(in, tnn_flatten_new()));
        TU_ASSERT_OK(tnn_sequential_add(o, in));
        TU_ASSERT_OK(tnn_sequential_add(o, tnn_linear_new(3, 3, true, &r)));
        TU_ASSERT_OK(tnn_module_forward(o, x, &y));
        TU_ASSERT_OK(tnn_module_forward(o, x, &y));
        tnn_module_free(o);
    }
    /* A child added after the forward, run on its own, inside a nested Sequential. */
    tnn_module *outer = tnn_sequential_new(), *inner = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(outer, tnn_linear_new(3, 3, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(outer, inner));
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_relu_new()));
    TU_ASSERT_OK(tnn_module_forward(outer, x, &y));
    tnn_module *late = tnn_linear_new(3, 3, true, &r);
    TU_ASSERT_OK(tnn_sequential_add(inner, late));
    TU_ASSERT_OK(tnn_module_forward(late, x, &alone));
    TU_ASSERT_ERR(tnn_module_forward(outer, alone, &y), TNN_ERR_ARG, "output buffer of child 1.1 (linear(3->3))", NULL);
    /* Its input's gradient is what a copy gives: nothing was overwritten. */
    tnn_tensor *copy = tnn_tensor_clone(alone), *dy = tnn_tensor_new2(4, 3);
    tnn_tensor_fill(dy, 1.0f);
    TU_ASSERT_OK(tnn_module_forward(outer, copy, &y));
    tnn_module_zero_grad(outer);
    TU_ASSERT_OK(tnn_module_backward(outer, dy, NULL));
    tnn_tensor_free(dy);
    tnn_tensor_free(copy);
    tnn_module_free(outer);
    tnn_tensor_free(x);
}

/* The container owns its children: adding to something that is not a container frees
 * the child; freeing the container frees them all (counted by the allocator hooks). */
static void sequential_ownership(void **state)
{
    (void)state;
    tu_alloc_install(-1);
    tnn_module *lin = tnn_linear_new(3, 3, true, NULL);
    tnn_module *not_seq = tnn_relu_new();
    assert_true(lin && not_seq);
    TU_ASSERT_ERR(tnn_sequential_add(not_seq, lin), TNN_ERR_ARG, "not a sequential", "the child was freed", NULL);
    /* a module without a usable vtable cannot be freed, and is not said to be */
    {
        tnn_module bare;
        memset(&bare, 0, sizeof bare);
        TU_ASSERT_ERR(tnn_sequential_add(not_seq, &bare), TNN_ERR_ARG, "not a sequential",
                      "not freed: it has no usable vtable", NULL);
        tnn_module_vtable no_free = {.type_name = "nofree", .forward = pass_forward, .backward = pass_backward};
        tnn_module_init(&bare, &no_free);
        TU_ASSERT_ERR(tnn_sequential_add(NULL, &bare), TNN_ERR_ARG, "not freed: it has no usable vtable", NULL);
    }
    tnn_module_free(not_seq);
    assert_int_equal(tu_alloc_live(), 0);
    /* Refused, but with a place, so left as they are: the target itself, and a container
     * that holds the target (each freed once below; ASan and the count see a second free
     * or a leak). */
    lin = tnn_linear_new(3, 3, true, NULL);
    TU_ASSERT_ERR(tnn_sequential_add(lin, lin), TNN_ERR_ARG, "target is linear, not a sequential",
                  "left as it was: it has a place", NULL);
    tnn_module *holder = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(holder, lin));
    TU_ASSERT_ERR(tnn_sequential_add(lin, holder), TNN_ERR_ARG, "target is linear, not a sequential", NULL);
    assert_int_equal(tnn_sequential_len(holder), 1);
    tnn_module_free(holder);
    assert_int_equal(tu_alloc_live(), 0);

    tnn_rng r;
    tnn_rng_seed(&r, 5);
    tnn_module *s = make_lin_act_bn(&r);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 4, -1.0f, 1.0f);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    tnn_module_free(s);
    tnn_tensor_free(x);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_uninstall();
}

static void count_log(void *user, const char *msg)
{
    (void)msg;
    (*(int *)user)++;
}

/* A module has one place: a second container, or a cycle, is refused; freeing a child
 * directly leaves it to its container. Before these checks the shared child was freed
 * twice and the cycle recursed until the stack ran out. */
static void sequential_one_place_per_module(void **state)
{
    (void)state;
    tu_alloc_install(-1);
    tnn_rng r;
    tnn_rng_seed(&r, 6);
    tnn_module *a = tnn_sequential_new(), *b = tnn_sequential_new(), *lin = tnn_linear_new(2, 2, true, &r);
    assert_true(a && b && lin);
    TU_ASSERT_OK(tnn_sequential_add(a, lin));
    assert_ptr_equal(lin->container, a);
    TU_ASSERT_ERR(tnn_sequential_add(b, lin), TNN_ERR_ARG, "child 0 (linear(2->2))", "another sequential",
                  "it was left where it is", NULL);
    assert_int_equal(tnn_sequential_len(b), 0);

    /* a inside b, then b inside a: refused, at any depth. */
    TU_ASSERT_OK(tnn_sequential_add(b, a));
    TU_ASSERT_ERR(tnn_sequential_add(a, b), TNN_ERR_ARG, "contains this sequential", NULL);
    tnn_module *c = tnn_sequential_new();
    assert_non_null(c);
    TU_ASSERT_OK(tnn_sequential_add(c, b));
    TU_ASSERT_ERR(tnn_sequential_add(a, c), TNN_ERR_ARG, "contains this sequential", NULL);
    assert_int_equal(tnn_sequential_len(a), 1);

    /* Freeing a child directly is refused (and reported); the outermost container frees all. */
    int logged = 0;
    tnn_set_log(count_log, &logged);
    tnn_module_free(lin);
    tnn_module_free(a);
    tnn_set_log(NULL, NULL);
    assert_int_equal(logged, 2);
    tnn_tensor *x = tu_rand_tensor(&r, 3, 2, -1.0f, 1.0f);
    const tnn_tensor *y;
    TU_ASSERT_OK(tnn_module_forward(c, x, &y)); /* still whole */
    assert_int_equal(y->shape[0], 3);
    tnn_module_free(c);
    tnn_tensor_free(x);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_uninstall();
}

/* Each call sets its one mode in every child: evaluation and back leaves a child frozen
 * on its own frozen; unfreezing the container unfreezes it; a frozen module added to a
 * container stays frozen, and a frozen container freezes what is added to it. */
static void sequential_modes_pass_on_separately(void **state)
{
    (void)state;
    tnn_module *s = tnn_sequential_new(), *inner = tnn_sequential_new();
    tnn_module *a = tnn_linear_new(2, 2, true, NULL), *b = tnn_linear_new(2, 2, true, NULL);
    tnn_module *c = tnn_linear_new(2, 2, true, NULL);
    assert_true(s && inner && a && b && c);
    tnn_module_set_requires_grad(b, false);
    TU_ASSERT_OK(tnn_sequential_add(s, a));
    TU_ASSERT_OK(tnn_sequential_add(inner, b));
    TU_ASSERT_OK(tnn_sequential_add(s, inner));
    assert_false(b->requires_grad); /* added frozen, stays frozen */
    tnn_module_train(s, false);
    assert_false(a->training || b->training);
    tnn_module_train(s, true);
    assert_true(a->training && b->training);
    assert_true(a->requires_grad);
    assert_false(b->requires_grad); /* evaluation and back did not unfreeze it */
    tnn_module_set_requires_grad(s, false);
    assert_false(a->requires_grad || b->requires_grad);
    assert_true(a->training); /* freezing left the training mode */
    TU_ASSERT_OK(tnn_sequential_add(s, c));
    assert_false(c->requires_grad); /* a frozen container freezes what joins it */
    tnn_module_set_requires_grad(s, true);
    assert_true(a->requires_grad && b->requires_grad && c->requires_grad);
    tnn_module_free(s);
}

/* dy must have the output's shape, not just its element count. */
static void sequential_dy_shape_checked(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 7);
    tnn_module *s = make_lin_act_bn(&r); /* 4 -> 3 */
    tnn_tensor *x = tu_rand_tensor(&r, 6, 4, -1.0f, 1.0f);
    const tnn_tensor *y, *dx;
    TU_ASSERT_OK(tnn_module_forward(s, x, &y));
    tnn_tensor *t = tnn_tensor_new2(3, 6), *flat = tnn_tensor_new(1, (int[]){18}), *ok = tnn_tensor_new2(6, 3);
    TU_ASSERT_ERR(tnn_module_backward(s, t, &dx), TNN_ERR_SHAPE, "sequential", "dy is [3 x 6]", "output was [6 x 3]", NULL);
    TU_ASSERT_ERR(tnn_module_backward(s, flat, &dx), TNN_ERR_SHAPE, "dy is [18]", "[6 x 3]", NULL);
    TU_ASSERT_OK(tnn_module_backward(s, ok, &dx));
    assert_int_equal(dx->shape[0], 6);
    assert_int_equal(dx->shape[1], 4);
    tnn_tensor_free(t);
    tnn_tensor_free(flat);
    tnn_tensor_free(ok);
    tnn_tensor_free(x);
    tnn_module_free(s);
}

/* An empty Sequential passes dy through. Given a dy that differs from its output only
 * in dimensions of 1 ([N] for [N x 1]), it returned the view tnn_module_backward makes
 * of it on its stack, which was gone by the time the caller read it; now it returns the
 * caller's dy, also from inside another Sequential. */
static void sequential_empty_passes_dy_through(void **state)
{
    (void)state;
    tnn_module *empty = tnn_sequential_new(), *outer = tnn_sequential_new(), *inner = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(outer, inner));
    tnn_tensor *x = tnn_tensor_new2(4, 1), *dy = tnn_tensor_new1(4), *dy2 = tnn_tensor_new2(4, 1);
    const tnn_tensor *y, *dx;
    tnn_module *nets[2] = {empty, outer};
    for (int k = 0; k < 2; k++) {
        TU_ASSERT_OK(tnn_module_forward(nets[k], x, &y));
        assert_ptr_equal(y, x);
        TU_ASSERT_OK(tnn_module_backward(nets[k], dy, &dx));
        assert_ptr_equal(dx, dy);
        TU_ASSERT_OK(tnn_module_backward(nets[k], dy2, &dx));
        assert_ptr_equal(dx, dy2);
    }
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_tensor_free(dy2);
    tnn_module_free(empty);
    tnn_module_free(outer);
}

/* A Sequential's input that is a later child's dx, from a backward of that child on its
 * own (tnn_sequential_get): the Sequential's backward must not let that child write its
 * new dx there, where the first child still reads its input. It did: wrong gradients
 * with TNN_OK. Compared with a twin fed a copy. Also the Sequential given its own dx
 * as its next input and an older one as dy: refused by name, as a lone Linear is, where
 * it wrote over the caller's dy. */
static void sequential_input_from_a_childs_dx(void **state)
{
    (void)state;
    tnn_module *net[2];
    tnn_rng r;
    for (int k = 0; k < 2; k++) {
        tnn_rng_seed(&r, 21);
        net[k] = tnn_sequential_new();
        TU_ASSERT_OK(tnn_sequential_add(net[k], tnn_linear_new(8, 8, true, &r)));
        TU_ASSERT_OK(tnn_sequential_add(net[k], tnn_linear_new(8, 8, true, &r)));
    }
    tnn_rng_seed(&r, 22);
    tnn_tensor *x = tu_rand_tensor(&r, 4, 8, -1.0f, 1.0f), *g = tu_rand_tensor(&r, 4, 8, -1.0f, 1.0f);
    tnn_tensor *g2 = tu_rand_tensor(&r, 4, 8, -1.0f, 1.0f);
    const tnn_tensor *y, *h, *dx;
    tnn_module *b = tnn_sequential_get(net[0], 1);
    TU_ASSERT_OK(tnn_module_forward(b, x, &y));
    TU_ASSERT_OK(tnn_module_backward(b, g, &h)); /* h: B's dx buffer */
    tnn_tensor *copy = tnn_tensor_clone(h);
    tnn_module_zero_grad(net[0]); /* B's own backward added to its gradients */
    TU_ASSERT_OK(tnn_module_forward(net[0], h, &y));
    TU_ASSERT_OK(tnn_module_backward(net[0], g2, &dx));
    assert_memory_equal(h->data, copy->data, copy->size * sizeof(float)); /* the input left as it was */
    TU_ASSERT_OK(tnn_module_forward(net[1], copy, &y));
    TU_ASSERT_OK(tnn_module_backward(net[1], g2, &dx));
    tnn_tensor_list *la = tnn_module_parameters(net[0], ""), *lb = tnn_module_parameters(net[1], "");
    for (int i = 0; i < la->count; i++)
        assert_memory_equal(la->items[i].grad, lb->items[i].grad, la->items[i].count * sizeof(float));
    tnn_tensor_list_free(la);
    tnn_tensor_list_free(lb);

    /* its own dx as input, an older dx as dy: both of the first child's buffers taken */
    const tnn_tensor *g1, *g2dx;
    TU_ASSERT_OK(tnn_module_forward(net[1], x, &y));
    TU_ASSERT_OK(tnn_module_backward(net[1], g, &g1));
    TU_ASSERT_OK(tnn_module_forward(net[1], g1, &y));
    TU_ASSERT_OK(tnn_module_backward(net[1], g1, &g2dx));
    TU_ASSERT_OK(tnn_module_forward(net[1], g2dx, &y));
    TU_ASSERT_ERR(tnn_module_backward(net[1], g1, &dx), TNN_ERR_ARG, "child 0: linear(8->8) backward",
                  "overlap both of this module's dL/dx buffers", "tnn_tensor_clone", NULL);
    tnn_tensor_free(copy);
    tnn_tensor_free(x);
    tnn_tensor_free(g);
    tnn_tensor_free(g2);
    tnn_module_free(net[0]);
    tnn_module_free(net[1]);
}

/* A backward that fails in a child after the children behind it have added their
 * gradients (here: out of memory for the first Linear's dx) says so, so that the caller
 * zeroes them before trying again; one whose message does not say so changed no
 * gradient. Also when the child that added them sits, unfrozen, in a frozen nested
 * Sequential. */
static void sequential_backward_failing_halfway_says_so(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 12);
    for (int nested = 0; nested < 2; nested++) {
    tnn_module *s = tnn_sequential_new();
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(8, 4, true, &r)));
    if (nested) {
        tnn_module *in = tnn_sequential_new(), *late = tnn_linear_new(4, 4, true, &r);
        TU_ASSERT_OK(tnn_sequential_add(in, late));
        TU_ASSERT_OK(tnn_sequential_add(s, in));
        tnn_module_set_requires_grad(in, false);
        tnn_module_set_requires_grad(late, true);
    } else {
        TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(4, 4, true, &r)));
    }
    tnn_tensor *x = tnn_tensor_new2(3, 8), *dy = tnn_tensor_new2(3, 4);
    tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
    tnn_tensor_uniform(dy, &r, -1.0f, 1.0f);
    tnn_tensor_list *p = tnn_module_parameters(s, "");
    assert_non_null(p);
    const tnn_tensor *y, *dx;
    bool halfway = false;
    for (long k = 0; k < 100; k++) {
        TU_ASSERT_OK(tnn_module_forward(s, x, &y));
        tnn_module_zero_grad(s);
        tu_alloc_install(k);
        tnn_status st = tnn_module_backward(s, dy, &dx);
        long count = tu_alloc_count();
        tu_alloc_uninstall();
        if (count <= k) { /* nothing failed */
            TU_ASSERT_OK(st);
            break;
        }
        assert_int_equal(st, TNN_ERR_NOMEM);
        bool said = strstr(tnn_last_error(), "had already added their parameter gradients") != NULL;
        bool changed = false;
        for (int t = 0; t < p->count; t++)
            for (size_t e = 0; e < p->items[t].count; e++) changed |= p->items[t].grad[e] != 0.0f;
        if (changed != said) fail_msg("allocation %ld failed: gradients %s, message \"%s\"", k,
                                      changed ? "changed" : "unchanged", tnn_last_error());
        halfway |= said;
    }
    assert_true(halfway); /* the case was reached: child 0's dx failed after child 1's gradients */
    tnn_tensor_list_free(p);
    tnn_tensor_free(x);
    tnn_tensor_free(dy);
    tnn_module_free(s);
    }
}

/* Fail each allocation in turn while building, running and freeing a network: every
 * failure is reported (NULL or TNN_ERR_NOMEM), nothing crashes and nothing leaks. */
static void sequential_allocation_failures(void **state)
{
    (void)state;
    long k;
    for (k = 0; k < 1000; k++) {
        tu_alloc_install(k);
        tnn_rng r;
        tnn_rng_seed(&r, 6);
        tnn_status st = TNN_OK;
        tnn_module *s = tnn_sequential_new();
        tnn_tensor *x = tnn_tensor_new2(4, 5), *dy = tnn_tensor_new2(4, 2);
        if (s) {
            st = tnn_sequential_add(s, tnn_linear_new(5, 6, true, &r));
            if (!st) st = tnn_sequential_add(s, tnn_batchnorm1d_new(6, tnn_batchnorm_defaults()));
            if (!st) st = tnn_sequential_add(s, tnn_leaky_relu_new(0.2f));
            if (!st) st = tnn_sequential_add(s, tnn_dropout_new(0.3f, &r));
            if (!st) st = tnn_sequential_add(s, tnn_linear_new(6, 2, false, &r));
            if (!st) st = tnn_sequential_add(s, tnn_sigmoid_new());
        }
        const tnn_tensor *y = NULL, *dx = NULL;
        tnn_tensor_list *l = NULL;
        if (s && x && dy && !st) {
            tnn_tensor_uniform(x, &r, -1.0f, 1.0f);
            st = tnn_module_forward(s, x, &y);
            if (!st) st = tnn_module_backward(s, dy, &dx);
            if (!st) l = tnn_module_state_dict(s, "model.");
        }
        bool complete = s && x && dy && !st && l;
        /* A failed add reports NOMEM, or ARG for the NULL child of a failed constructor. */
        if (st) assert_true(st == TNN_ERR_NOMEM || st == TNN_ERR_ARG);
        if (st) assert_true(strlen(tnn_last_error()) > 0);
        tnn_tensor_list_free(l);
        tnn_module_free(s);
        tnn_tensor_free(x);
        tnn_tensor_free(dy);
        long live = tu_alloc_live(), count = tu_alloc_count();
        tu_alloc_uninstall();
        assert_int_equal(live, 0);
        if (count <= k) { /* no allocation failed: the whole sequence ran */
            assert_true(complete);
            break;
        }
        assert_false(complete); /* the failed allocation was reported, not ignored */
    }
    assert_true(k > 20 && k < 1000);
    print_message("allocation failures: each of the first %ld allocations failed once, no leak\n", k);
}

/* tnn_module_summary: the whole table for a nested Sequential with a frozen child, a
 * child in another mode and a Linear without bias; the counts against
 * tnn_module_num_params; a frozen top; a failed write; bad arguments. */
static void summary_text(tnn_module *m, char *got, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    TU_ASSERT_OK(tnn_module_summary(m, f));
    rewind(f);
    size_t n = fread(got, 1, len - 1, f);
    got[n] = '\0';
    fclose(f);
}

static void sequential_summary(void **state)
{
    (void)state;
    tnn_rng r;
    tnn_rng_seed(&r, 1);
    tnn_module *s = tnn_sequential_new(), *inner = tnn_sequential_new();
    assert_non_null(s);
    assert_non_null(inner);
    tnn_batchnorm_params p = tnn_batchnorm_defaults();
    p.eps = 0.8;
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_linear_new(100, 128, true, &r)));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_leaky_relu_new(0.2f)));
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_linear_new(128, 256, false, &r)));
    TU_ASSERT_OK(tnn_sequential_add(inner, tnn_batchnorm1d_new(256, p)));
    TU_ASSERT_OK(tnn_sequential_add(s, inner));
    TU_ASSERT_OK(tnn_sequential_add(s, tnn_tanh_new()));
    tnn_module_set_requires_grad(tnn_sequential_get(inner, 0), false);
    tnn_module_eval(tnn_sequential_get(inner, 1));

    char got[2048];
    summary_text(s, got, sizeof got);
    /* 46,208 = 100*128 + 128 + 128*256 + 2*256; the buffers are 2*256 floats and one
     * int64 (num_batches_tracked): 4*(46,208 + 512) + 8 bytes. */
    const char *want =
        "module                                             parameters     buffers\n"
        "sequential(4 modules)                                  46,208         513  training mode\n"
        "  0   linear(100->128)                                 12,928           0\n"
        "  1   leaky_relu(0.2)                                       0           0\n"
        "  2   sequential(2 modules)                            33,280         513\n"
        "    0   linear(128->256, no bias)                      32,768           0  frozen\n"
        "    1   batchnorm1d(256, eps=0.8, momentum=0.1)           512         513  eval mode\n"
        "  3   tanh                                                  0           0\n"
        "total: 46,208 parameters (13,440 trainable), 513 buffer elements, 186,888 bytes (186.9 kB)\n";
    assert_string_equal(got, want);
    assert_int_equal(tnn_module_num_params(s), 46208);

    /* Frozen as a whole: marked once, at the top, where it differs from no container. */
    tnn_module_set_requires_grad(s, false);
    summary_text(s, got, sizeof got);
    assert_non_null(strstr(got, "46,208         513  frozen  training mode\n"));
    assert_non_null(strstr(got, "(0 trainable)"));
    assert_null(strstr(got, "32,768           0  frozen"));
    /* One child unfrozen inside it trains: marked, and counted as trainable. */
    tnn_module_set_requires_grad(tnn_sequential_get(s, 0), true);
    summary_text(s, got, sizeof got);
    assert_non_null(strstr(got, "  0   linear(100->128)                                 12,928           0  trainable\n"));
    assert_non_null(strstr(got, "(12,928 trainable)"));

    /* A stream whose error flag an earlier call left set (a read from a write-only
     * stream) but that writes: the table is written and the call succeeds. */
    FILE *wo = fopen("/dev/null", "w");
    assert_non_null(wo);
    assert_int_equal(fgetc(wo), EOF);
    assert_true(ferror(wo));
    TU_ASSERT_OK(tnn_module_summary(s, wo));
    fclose(wo);

    /* A stream that cannot be written: TNN_ERR_IO, not silence. */
    FILE *f = fopen("/dev/null", "r");
    assert_non_null(f);
    TU_ASSERT_ERR(tnn_module_summary(s, f), TNN_ERR_IO, "module_summary", "writing", NULL);
    fclose(f);
    TU_ASSERT_ERR(tnn_module_summary(NULL, stdout), TNN_ERR_ARG, "module_summary", "NULL", NULL);
    tnn_module_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sequential_state_dict_names),
    cmocka_unit_test(sequential_nested_names),
    cmocka_unit_test(sequential_matches_manual_chain),
    cmocka_unit_test(sequential_in_place_activations),
    cmocka_unit_test(sequential_in_place_conv_net),
    cmocka_unit_test(sequential_in_place_norm_pool_dropout),
    cmocka_unit_test(sequential_error_paths),
    cmocka_unit_test(sequential_input_is_a_childs_buffer),
    cmocka_unit_test(sequential_ownership),
    cmocka_unit_test(sequential_one_place_per_module),
    cmocka_unit_test(sequential_dy_shape_checked),
    cmocka_unit_test(sequential_empty_passes_dy_through),
    cmocka_unit_test(sequential_input_from_a_childs_dx),
    cmocka_unit_test(sequential_modes_pass_on_separately),
    cmocka_unit_test(sequential_allocation_failures),
    cmocka_unit_test(sequential_backward_failing_halfway_says_so),
    cmocka_unit_test(sequential_summary),
};

TU_MAIN("sequential", tests)
