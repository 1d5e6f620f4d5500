/* Element-wise activations: LeakyReLU, ReLU, Tanh, Sigmoid, ELU, SiLU, GELU (PyTorch
 * semantics). */
#include "tnn_impl.h"
#include "parallel_impl.h"
#include "vmath_impl.h"

#include <math.h>
#include <string.h>

typedef enum act_kind { ACT_LEAKY_RELU, ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_ELU, ACT_SILU, ACT_GELU, ACT_GELU_TANH } act_kind;

typedef struct tnn_activation {
    tnn_module base;
    act_kind kind;
    float slope;          /* LeakyReLU's negative slope, ELU's alpha */
    const float *x;       /* input of the last forward (borrowed); after an in-place
                           * forward it holds the output, whose signs match the input's */
    const float *out;     /* output of the last forward: y.data, or the input's buffer */
    size_t n;             /* elements of the last forward */
    tnn_tensor y, dx[2]; /* dL/dx: see tnn_pick_dx */
} tnn_activation;

static void act_describe(const tnn_module *m, char *buf, size_t len)
{
    const tnn_activation *a = (const tnn_activation *)m;
    if (a->kind == ACT_LEAKY_RELU) snprintf(buf, len, "leaky_relu(%g)", (double)a->slope);
    else if (a->kind == ACT_ELU) snprintf(buf, len, "elu(alpha=%g)", (double)a->slope);
    else if (a->kind == ACT_GELU_TANH) snprintf(buf, len, "gelu(approximate='tanh')");
    else snprintf(buf, len, "%s", m->vt->type_name);
}

/* The element-wise loops, branch-free so that they vectorise (TNN_CLONES: AVX-512 /
 * AVX2+FMA / baseline builds chosen at load time). Each computes exactly what the
 * straightforward expression in the comment computes. `out` may be the same array as
 * `in` (or `g`): element i is read before it is written, so no restrict there. */
TNN_CLONES static void act_forward_kernel(act_kind kind, float slope, float *out, const float *in,
                                          size_t n)
{
    switch (kind) {
    case ACT_LEAKY_RELU: /* in > 0 ? in : in * slope */
        for (size_t i = 0; i < n; i++) out[i] = in[i] * (in[i] > 0.0f ? 1.0f : slope);
        break;
    case ACT_RELU: /* max(in, 0), NaN passed through as torch does */
        for (size_t i = 0; i < n; i++) out[i] = in[i] < 0.0f ? 0.0f : in[i];
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) out[i] = tnn_tanhf(in[i]);
        break;
    case ACT_SIGMOID: /* 1 / (1 + exp(-in)) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_sigmoidf(in[i]);
        break;
    case ACT_ELU: /* in > 0 ? in : slope * (exp(in) - 1) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_eluf(in[i], slope);
        break;
    case ACT_SILU: /* in / (1 + exp(-in)) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_siluf(in[i]);
        break;
    case ACT_GELU: /* 0.5 in (1 + erf(in / sqrt(2))) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_geluf(in[i]);
        break;
    case ACT_GELU_TANH: /* 0.5 in (1 + tanh(sqrt(2/pi) (in + 0.044715 in^3))) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_gelu_tanhf(in[i]);
        break;
    }
}

TNN_CLONES static void act_backward_kernel(act_kind kind, float slope, float *out, const float *g,
                                           const float *restrict x, const float *restrict y, size_t n)
{
    switch (kind) {
    case ACT_LEAKY_RELU: /* x > 0 ? g : g * slope (torch's leaky_relu_backward) */
        for (size_t i = 0; i < n; i++) out[i] = g[i] * (x[i] > 0.0f ? 1.0f : slope);
        break;
    case ACT_RELU: /* torch's threshold_backward: x <= 0 ? 0 : g (a NaN passes g on) */
        for (size_t i = 0; i < n; i++) out[i] = x[i] <= 0.0f ? 0.0f : g[i];
        break;
    case ACT_TANH: /* torch's tanh_backward: grad * (1 - y * y), 1 - y * y fused as torch's
                    * vectorised CPU kernel computes it */
        for (size_t i = 0; i < n; i++) out[i] = g[i] * fmaf(-y[i], y[i], 1.0f);
        break;
    case ACT_SIGMOID: /* torch's sigmoid_backward: grad * (1 - y) * y, left to right */
        for (size_t i = 0; i < n; i++) out[i] = g[i] * (1.0f - y[i]) * y[i];
        break;
    case ACT_ELU:
        if (slope >= 0.0f) /* torch's elu_backward from the result (as after ELU(inplace=True)):
                            * y > 0 ? g : g * (y + alpha), a NaN y giving NaN as torch's
                            * vectorised kernel does */
            for (size_t i = 0; i < n; i++) out[i] = y[i] > 0.0f ? g[i] : g[i] * (y[i] + slope);
        else /* from the input: x > 0 ? g : g * alpha * exp(x) */
            for (size_t i = 0; i < n; i++) out[i] = tnn_elu_grad_xf(g[i], x[i], slope);
        break;
    case ACT_SILU: /* g * s * (1 + x * (1 - s)), s = sigmoid(x) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_silu_gradf(g[i], x[i]);
        break;
    case ACT_GELU: /* g * (Phi(x) + x * phi(x)) */
        for (size_t i = 0; i < n; i++) out[i] = tnn_gelu_gradf(g[i], x[i]);
        break;
    case ACT_GELU_TANH:
        for (size_t i = 0; i < n; i++) out[i] = tnn_gelu_tanh_gradf(g[i], x[i]);
        break;
    }
}

/* The kernels over ranges of elements, split over the library's threads (element-wise:
 * the same bits with any number of threads) into equal ranges on 64-element boundaries.
 * For the seed GAN's batch of 128 on 2 threads the split falls where tnn_gemm splits
 * the rows of the product that wrote the input, so each thread mostly touches data
 * already in its own cache. */
typedef struct act_job {
    const tnn_activation *a;
    float *out;
    const float *in, *g, *x, *y;
} act_job;

static size_t act_min_chunk(act_kind kind)
{
    switch (kind) {
    case ACT_LEAKY_RELU: case ACT_RELU: return 16384;
    case ACT_GELU: return 2048; /* erfc: a 36-term polynomial and 40 divisions */
    default: return 8192;
    }
}

static void act_forward_range(void *ctx, size_t b, size_t e)
{
    const act_job *j = ctx;
    act_forward_kernel(j->a->kind, j->a->slope, j->out + b, j->in + b, e - b);
}

static void act_backward_range(void *ctx, size_t b, size_t e)
{
    const act_job *j = ctx;
    act_backward_kernel(j->a->kind, j->a->slope, j->out + b, j->g + b, j->x + b, j->y + b, e - b);
}

/* out = f(in) over n elements (out may be in), remembered for backward. */
static void act_run_forward(tnn_activation *a, float *out, const float *in, size_t n)
{
    act_job job = {.a = a, .out = out, .in = in};
    tnn_parallel_for(n, act_min_chunk(a->kind), act_forward_range, &job);
    a->x = in;
    a->out = out;
    a->n = n;
}

static tnn_status act_forward(tnn_module *m, const tnn_tensor *x, const tnn_tensor **y)
{
    tnn_activation *a = (tnn_activation *)m;
    /* Exactly over its own output (element i over element i) is harmless where the
     * backward can read the output for the input (see
     * tnn_activation_forward_may_overwrite); any other overlap is not. */
    bool exact = x->data == a->y.data && tnn_activation_forward_may_overwrite(m);
    if (!exact && tnn_tensor_overlaps(x, &a->y)) return tnn_error_own_output(m);
    tnn_status st = tnn_tensor_ensure_like(&a->y, x, m->vt->type_name);
    if (st) return st;
    act_run_forward(a, a->y.data, x->data, x->size);
    *y = &a->y;
    return TNN_OK;
}

/* dy against the last forward: backward needs one, of the output's size. */
static tnn_status act_check_dy(const tnn_activation *a, const tnn_tensor *dy)
{
    const char *name = a->base.vt->type_name;
    if (!a->x) return tnn_error(TNN_ERR_STATE, "%s: backward called before forward", name);
    if (dy->size != a->n) {
        char s1[64];
        return tnn_error(TNN_ERR_SHAPE, "%s: dy %s does not match the output's %zu elements", name,
                         tnn_tensor_shape_str(dy, s1, sizeof s1), a->n);
    }
    return TNN_OK;
}

/* out = dL/dx from g = dL/dy (out may be g). */
static void act_run_backward(const tnn_activation *a, float *out, const float *g)
{
    act_job job = {.a = a, .out = out, .g = g, .x = a->x, .y = a->out};
    tnn_parallel_for(a->n, act_min_chunk(a->kind), act_backward_range, &job);
}

static tnn_status act_backward(tnn_module *m, const tnn_tensor *dy, const tnn_tensor **dx)
{
    tnn_activation *a = (tnn_activation *)m;
    tnn_status st = act_check_dy(a, dy);
    if (st || !dx) return st; /* no parameters: without dx nothing else to do */
    tnn_tensor *out;
    if ((st = tnn_pick_dx(m, a->dx, a->x, a->n, dy, dy->ndim, dy->shape, &out))) return st;
    act_run_backward(a, out->data, dy->data);
    *dx = out;
    return TNN_OK;
}

/* In place (for tnn_sequential; see tnn_impl.h). The backward passes of LeakyReLU and
 * ReLU test x > 0 and x <= 0; their output passes the same tests as their input (x > 0
 * gives y = x; x <= 0 gives y = 0 or -0, or x * slope <= 0 for a slope >= 0; NaN gives
 * NaN, as -inf * 0 does for a LeakyReLU of slope 0, which fails both tests as a NaN x
 * does), so after an in-place forward they read the output instead. With a negative slope the
 * signs differ: that LeakyReLU keeps its own output buffer. Tanh and Sigmoid read only
 * their output in backward, as does an ELU with alpha >= 0 (torch's elu_backward from
 * the result: y > 0 exactly where x > 0, NaN where x is NaN); an ELU with a negative
 * alpha reads its input (y = alpha (exp(x) - 1) has the other sign), and SiLU and GELU
 * need x itself: those keep their own output buffer. */
bool tnn_activation_forward_may_overwrite(const tnn_module *m)
{
    if (!tnn_is_activation(m)) return false;
    const tnn_activation *a = (const tnn_activation *)m;
    switch (a->kind) {
    case ACT_LEAKY_RELU: case ACT_ELU: return a->slope >= 0.0f;
    case ACT_SILU: case ACT_GELU: case ACT_GELU_TANH: return false;
    default: return true;
    }
}

tnn_status tnn_activation_forward_inplace(tnn_module *m, tnn_tensor *xy)
{
    tnn_activation *a = (tnn_activation *)m;
    TNN_ASSERT(tnn_activation_forward_may_overwrite(m));
    act_run_forward(a, xy->data, xy->data, xy->size);
    return TNN_OK;
}

tnn_status tnn_activation_backward_inplace(tnn_module *m, tnn_tensor *g)
{
    tnn_activation *a = (tnn_activation *)m;
    tnn_status st = act_check_dy(a, g);
    if (!st) act_run_backward(a, g->data, g->data);
    return st;
}

static void act_free(tnn_module *m)
{
    tnn_activation *a = (tnn_activation *)m;
    tnn_tensor_release(&a->y);
    tnn_tensor_release(&a->dx[0]);
    tnn_tensor_release(&a->dx[1]);
    tnn_free(a);
}

#define ACT_VTABLE(var, nm) \
    static const tnn_module_vtable var = { \
        .type_name = nm, .forward = act_forward, .backward = act_backward, \
        .describe = act_describe, .free = act_free, }
ACT_VTABLE(leaky_relu_vt, "leaky_relu");
ACT_VTABLE(relu_vt, "relu");
ACT_VTABLE(tanh_vt, "tanh");
ACT_VTABLE(sigmoid_vt, "sigmoid");
ACT_VTABLE(elu_vt, "elu");
ACT_VTABLE(silu_vt, "silu");
ACT_VTABLE(gelu_vt, "gelu");

static tnn_module *act_new(const tnn_module_vtable *vt, act_kind kind, float slope)
{
    tnn_activation *a = tnn_calloc(1, sizeof *a, vt->type_name);
    if (!a) return NULL;
    tnn_module_init(&a->base, vt);
    a->kind = kind;
    a->slope = slope;
    tnn_tensor_init_empty(&a->y);
    tnn_tensor_init_empty(&a->dx[0]);
    tnn_tensor_init_empty(&a->dx[1]);
    return &a->base;
}

bool tnn_is_activation(const tnn_module *m)
{
    return m && (m->vt == &leaky_relu_vt || m->vt == &relu_vt || m->vt == &tanh_vt || m->vt == &sigmoid_vt ||
                 m->vt == &elu_vt || m->vt == &silu_vt || m->vt == &gelu_vt);
}

const tnn_tensor *tnn_activation_output_buffer(const tnn_module *m) { return &((const tnn_activation *)m)->y; }

tnn_module *tnn_leaky_relu_new(float slope)
{
    if (!isfinite(slope)) {
        tnn_error(TNN_ERR_ARG, "leaky_relu: negative slope must be finite");
        return NULL;
    }
    return act_new(&leaky_relu_vt, ACT_LEAKY_RELU, slope);
}
tnn_module *tnn_relu_new(void) { return act_new(&relu_vt, ACT_RELU, 0.0f); }
tnn_module *tnn_tanh_new(void) { return act_new(&tanh_vt, ACT_TANH, 0.0f); }
tnn_module *tnn_sigmoid_new(void) { return act_new(&sigmoid_vt, ACT_SIGMOID, 0.0f); }
tnn_module *tnn_elu_new(float alpha)
{
    if (!isfinite(alpha)) {
        tnn_error(TNN_ERR_ARG, "elu: alpha must be finite");
        return NULL;
    }
    return act_new(&elu_vt, ACT_ELU, alpha);
}
tnn_module *tnn_silu_new(void) { return act_new(&silu_vt, ACT_SILU, 0.0f); }
tnn_module *tnn_gelu_new(bool tanh_approximation)
{
    return act_new(&gelu_vt, tanh_approximation ? ACT_GELU_TANH : ACT_GELU, 0.0f);
}
