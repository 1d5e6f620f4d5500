/*
 * classifier_model.h - the MNIST classifier that mnist_classifier trains and mnist_score
 * uses to judge samples (CMake target `tinynn_quality`).
 *
 * An MLP given by its layer widths, e.g. 784,256,128,10, built as a Sequential:
 *
 *   0 Linear(784, 256)   1 ReLU   2 Dropout(p)
 *   3 Linear(256, 128)   4 ReLU   5 Dropout(p)
 *   6 Linear(128, 10)                              -> logits (CrossEntropyLoss)
 *
 * so its state_dict names are nn.Sequential's ("0.weight", "3.bias", ...; no prefix).
 * The features mnist_score compares (the role Inception's pool3 plays in FID) are the
 * output of the last hidden ReLU (child 4 above, 128 values): in eval mode Dropout is
 * the identity, so they are also what the final Linear sees.
 *
 * Input: one image per row, [batch x 784], pixels mapped to [-1, 1] by
 * tnn_pixel_to_unit ((x / 255 - 0.5) / 0.5, torchvision's ToTensor + Normalize(0.5,
 * 0.5)) - the GAN's scaling, so generated images are scored as they come.
 *
 * The file's __metadata__ records all of this (keys below), and mnist_score rebuilds
 * the network from it; a file without them is refused.
 */
#ifndef TINYNN_EXAMPLES_CLASSIFIER_MODEL_H
#define TINYNN_EXAMPLES_CLASSIFIER_MODEL_H

#include <tinynn/tinynn.h>

#define CLF_MAX_LAYERS 8   /* widths, input and output included */
#define CLF_MAX_WIDTH 65536
#define CLF_FORMAT "tinynn-mnist-classifier"
#define CLF_INPUT_SCALING "(x/255-0.5)/0.5"

typedef struct clf_config {
    int n_sizes;                  /* 3..CLF_MAX_LAYERS: input, hidden..., classes */
    int sizes[CLF_MAX_LAYERS];
    double dropout;               /* after each hidden ReLU, in [0, 1) */
    int img_h, img_w;             /* sizes[0] == img_h * img_w (one channel) */
} clf_config;

/* 784,256,128,10 with dropout 0.1 on 28 x 28 images. */
clf_config clf_config_defaults(void);

/* Parse a comma-separated list of hidden widths ("256,128") into c (between the input
 * and the classes already in c). Returns 0, or -1 with a message in err. */
int clf_parse_hidden(clf_config *c, const char *text, char *err, size_t errlen);

/* Index of the Sequential child whose output is the feature vector (the last hidden
 * ReLU), and its width. */
int clf_feature_child(const clf_config *c);
int clf_feature_dim(const clf_config *c);
int clf_classes(const clf_config *c);

/* The network, initialised from rng as torch.nn.Linear does (weights, then biases,
 * layer by layer); the Dropout layers draw their masks from the same rng, which must
 * outlive the network. To load weights, pass any seeded rng. NULL on failure with
 * tnn_last_error(). */
tnn_module *clf_new(const clf_config *c, tnn_rng *rng);

/* Run the network on x = [batch x sizes[0]] child by child, and return both the
 * features [batch x feature_dim] and the logits [batch x classes]. Both are borrowed
 * from the network's children and valid until the next forward. Use eval mode
 * (tnn_module_eval(net)) for scoring. */
tnn_status clf_forward(tnn_module *net, const clf_config *c, const tnn_tensor *x, const tnn_tensor **features,
                       const tnn_tensor **logits);

/* The architecture as safetensors __metadata__:
 *   format        "tinynn-mnist-classifier"
 *   layers        "784,256,128,10"          the Linear widths
 *   dropout       "0.1"
 *   feature_layer "4"                       child index of the feature output
 *   feature_dim   "128"
 *   image_size    "28x28"                   one channel
 *   input_scaling "(x/255-0.5)/0.5"
 *   architecture  a readable description ("Linear(784,256) ReLU Dropout(0.1) ...")
 * Callers add their own keys (accuracy, seed, ...) with tnn_metadata_set. */
tnn_metadata *clf_config_to_metadata(const clf_config *c);
/* Read it back, checking every key; on failure writes a message naming the file
 * (`what`) and the key into err and returns TNN_ERR_FORMAT. */
tnn_status clf_config_from_metadata(const tnn_metadata *md, const char *what, clf_config *c, char *err,
                                    size_t errlen);

#endif
