/* The MNIST classifier of mnist_classifier and mnist_score (see classifier_model.h). */
#define _POSIX_C_SOURCE 200809L
#include "classifier_model.h"
#include "flags.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

clf_config clf_config_defaults(void)
{
    return (clf_config){.n_sizes = 4, .sizes = {784, 256, 128, 10}, .dropout = 0.1, .img_h = 28, .img_w = 28};
}

int clf_feature_child(const clf_config *c) { return 3 * (c->n_sizes - 3) + 1; }
int clf_feature_dim(const clf_config *c) { return c->sizes[c->n_sizes - 2]; }
int clf_classes(const clf_config *c) { return c->sizes[c->n_sizes - 1]; }

/* Parse "a,b,c" (1..max_n integers in [1, CLF_MAX_WIDTH]) into out. Returns the count,
 * or -1. */
static int parse_list(const char *text, int *out, int max_n)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        if (*p < '0' || *p > '9' || n == max_n) return -1;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || v < 1 || v > CLF_MAX_WIDTH) return -1;
        out[n++] = (int)v;
        if (*end == '\0') return n;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

int clf_parse_hidden(clf_config *c, const char *text, char *err, size_t errlen)
{
    int hidden[CLF_MAX_LAYERS];
    int n = parse_list(text, hidden, CLF_MAX_LAYERS - 2);
    if (n < 1) {
        snprintf(err, errlen, "'%s' is not a list of 1 to %d widths in [1, %d] such as 256,128", text,
                 CLF_MAX_LAYERS - 2, CLF_MAX_WIDTH);
        return -1;
    }
    int in = c->sizes[0], classes = clf_classes(c);
    c->n_sizes = n + 2;
    c->sizes[0] = in;
    memcpy(c->sizes + 1, hidden, (size_t)n * sizeof *hidden);
    c->sizes[n + 1] = classes;
    return 0;
}

tnn_module *clf_new(const clf_config *c, tnn_rng *rng)
{
    tnn_module *net = tnn_sequential_new();
    if (!net) return NULL;
    tnn_status st = TNN_OK;
    for (int k = 0; k + 1 < c->n_sizes && !st; k++) {
        st = tnn_sequential_add(net, tnn_linear_new(c->sizes[k], c->sizes[k + 1], true, rng));
        if (k + 2 < c->n_sizes) { /* a hidden layer */
            if (!st) st = tnn_sequential_add(net, tnn_relu_new());
            if (!st) st = tnn_sequential_add(net, tnn_dropout_new((float)c->dropout, rng));
        }
    }
    if (st) {
        tnn_module_free(net);
        return NULL;
    }
    return net;
}

tnn_status clf_forward(tnn_module *net, const clf_config *c, const tnn_tensor *x, const tnn_tensor **features,
                       const tnn_tensor **logits)
{
    int n = tnn_sequential_len(net), fc = clf_feature_child(c);
    const tnn_tensor *h = x;
    for (int i = 0; i < n; i++) {
        tnn_status st = tnn_module_forward(tnn_sequential_get(net, i), h, &h);
        if (st) return st;
        if (i == fc && features) *features = h;
    }
    if (logits) *logits = h;
    return TNN_OK;
}

tnn_metadata *clf_config_to_metadata(const clf_config *c)
{
    tnn_metadata *md = tnn_metadata_new();
    if (!md) return NULL;
    char layers[CLF_MAX_LAYERS * 12] = "", arch[CLF_MAX_LAYERS * 64] = "", buf[64];
    size_t kl = 0, ka = 0;
    for (int k = 0; k < c->n_sizes; k++)
        kl += (size_t)snprintf(layers + kl, sizeof layers - kl, k ? ",%d" : "%d", c->sizes[k]);
    for (int k = 0; k + 1 < c->n_sizes; k++) {
        ka += (size_t)snprintf(arch + ka, sizeof arch - ka, "%sLinear(%d,%d)", k ? " " : "", c->sizes[k], c->sizes[k + 1]);
        if (k + 2 < c->n_sizes) ka += (size_t)snprintf(arch + ka, sizeof arch - ka, " ReLU Dropout(%g)", c->dropout);
    }
    tnn_status st = tnn_metadata_set(md, "format", CLF_FORMAT);
    if (!st) st = tnn_metadata_set(md, "layers", layers);
    flags_format_double(buf, sizeof buf, c->dropout); /* shortest text that reads back exactly */
    if (!st) st = tnn_metadata_set(md, "dropout", buf);
    snprintf(buf, sizeof buf, "%d", clf_feature_child(c));
    if (!st) st = tnn_metadata_set(md, "feature_layer", buf);
    snprintf(buf, sizeof buf, "%d", clf_feature_dim(c));
    if (!st) st = tnn_metadata_set(md, "feature_dim", buf);
    snprintf(buf, sizeof buf, "%dx%d", c->img_h, c->img_w);
    if (!st) st = tnn_metadata_set(md, "image_size", buf);
    if (!st) st = tnn_metadata_set(md, "input_scaling", CLF_INPUT_SCALING);
    if (!st) st = tnn_metadata_set(md, "architecture", arch);
    if (st) {
        tnn_metadata_free(md);
        return NULL;
    }
    return md;
}

/* The value of a required key, or NULL with a message. */
static const char *need(const tnn_metadata *md, const char *what, const char *key, char *err, size_t errlen)
{
    const char *v = md ? tnn_metadata_get(md, key) : NULL;
    if (!v)
        snprintf(err, errlen, "%s: no '%s' in the file's metadata: not a classifier written by mnist_classifier",
                 what, key);
    return v;
}

static tnn_status bad(const char *what, const char *key, const char *v, const char *expect, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: metadata '%s' is '%s', expected %s", what, key, v, expect);
    return TNN_ERR_FORMAT;
}

tnn_status clf_config_from_metadata(const tnn_metadata *md, const char *what, clf_config *c, char *err,
                                    size_t errlen)
{
    if (errlen) err[0] = '\0';
    clf_config t = clf_config_defaults();
    const char *v;
    char *end;
    if (!(v = need(md, what, "format", err, errlen))) return TNN_ERR_FORMAT;
    if (strcmp(v, CLF_FORMAT) != 0) return bad(what, "format", v, "'" CLF_FORMAT "'", err, errlen);

    if (!(v = need(md, what, "layers", err, errlen))) return TNN_ERR_FORMAT;
    t.n_sizes = parse_list(v, t.sizes, CLF_MAX_LAYERS);
    if (t.n_sizes < 3) return bad(what, "layers", v, "3 to 8 widths such as 784,256,128,10", err, errlen);

    if (!(v = need(md, what, "dropout", err, errlen))) return TNN_ERR_FORMAT;
    errno = 0;
    t.dropout = strtod(v, &end);
    if (errno || *end || end == v || !(t.dropout >= 0.0 && t.dropout < 1.0))
        return bad(what, "dropout", v, "a number in [0, 1)", err, errlen);

    char want[32];
    if (!(v = need(md, what, "feature_layer", err, errlen))) return TNN_ERR_FORMAT;
    snprintf(want, sizeof want, "%d", clf_feature_child(&t));
    if (strcmp(v, want) != 0) return bad(what, "feature_layer", v, want, err, errlen);
    if (!(v = need(md, what, "feature_dim", err, errlen))) return TNN_ERR_FORMAT;
    snprintf(want, sizeof want, "%d", clf_feature_dim(&t));
    if (strcmp(v, want) != 0) return bad(what, "feature_dim", v, want, err, errlen);

    if (!(v = need(md, what, "image_size", err, errlen))) return TNN_ERR_FORMAT;
    int h = 0, w = 0, used = 0;
    if (sscanf(v, "%5dx%5d%n", &h, &w, &used) != 2 || v[used] != '\0' || h < 1 || w < 1 || (long long)h * w != t.sizes[0]) {
        snprintf(want, sizeof want, "HxW with H*W = %d", t.sizes[0]);
        return bad(what, "image_size", v, want, err, errlen);
    }
    t.img_h = h;
    t.img_w = w;

    if (!(v = need(md, what, "input_scaling", err, errlen))) return TNN_ERR_FORMAT;
    if (strcmp(v, CLF_INPUT_SCALING) != 0) return bad(what, "input_scaling", v, "'" CLF_INPUT_SCALING "'", err, errlen);
    *c = t;
    return TNN_OK;
}
