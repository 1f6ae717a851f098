/* The op interface. Each op family lives in src/ops/<op>.c (host side: shape inference, init,
 * enqueue of forward/backward, the plain C reference that tests use as the oracle) and
 * cl/<op>.cl (kernels), and is registered with one line in src/ops/op_list.h.
 *
 * Conventions (as llm.c): activations are row-major [N, features]; forward reads x and writes y;
 * backward reads dy and writes dx (activation gradients are overwritten: the graph is a chain)
 * and ACCUMULATES into parameter gradients, which the scheduler zeroes once per step. */
#ifndef MCL_OPS_OP_H
#define MCL_OPS_OP_H

#include "device/device.h"
#include "device/gemm.h"
#include "ops/op_list.h"

typedef enum mcl_op_kind {
#define MCL_OP_ENUM(kind, name, emitter) MCL_OP_##kind,
    MCL_OP_LIST(MCL_OP_ENUM)
#undef MCL_OP_ENUM
    MCL_OP_COUNT
} mcl_op_kind;

typedef enum mcl_activation {
    MCL_ACT_LINEAR = 0, /* values shared with cl/dense.cl */
    MCL_ACT_RELU = 1,
    MCL_ACT_SOFTMAX = 2, /* only on the last layer: becomes a softmax_xent node */
} mcl_activation;

/* Per-sample tensor shape: C channels, H, W. A flat vector of F features is (F, 1, 1).
 * Memory layout is channels-last, as Keras: element (h, w, c) of sample n sits at
 * ((n * H + h) * W + w) * C + c, so a [N, H, W, C] tensor is also an [N*H*W, C] matrix. */
typedef struct mcl_shape {
    uint32_t c, h, w;
} mcl_shape;

static inline uint32_t mcl_shape_size(mcl_shape s) {
    return s.c * s.h * s.w;
}

typedef enum mcl_padding {
    MCL_PADDING_VALID = 0, /* no padding: out = floor((in - k) / s) + 1 */
    MCL_PADDING_SAME = 1,  /* out = ceil(in / s); the extra pixel, if any, at the bottom/right */
} mcl_padding;

/* One layer as written in a model description. Each op reads only its own fields. */
typedef struct mcl_layer {
    mcl_op_kind kind;
    uint32_t units;              /* dense: output features, conv2d: filters; 0 = the classes */
    mcl_activation activation;   /* dense, conv2d */
    float rate;                  /* dropout: fraction of inputs dropped, in [0, 1) */
    uint32_t kernel_h, kernel_w; /* conv2d kernel, maxpool window */
    uint32_t stride_h, stride_w; /* conv2d, maxpool */
    mcl_padding padding;         /* conv2d, maxpool */
    uint32_t pad_top, pad_bottom, pad_left, pad_right; /* zeropad */
    float alpha;                                       /* leakyrelu: slope for x < 0 */
    float momentum, epsilon; /* batchnorm: moving-average momentum, variance epsilon */
    float label_smoothing;   /* softmax_xent: Keras's label_smoothing, in [0, 1) (the trainer
                                sets it from the recipe) */
    uint32_t line;           /* line in the model source, for error messages */
} mcl_layer;

#define MCL_NODE_MAX_KERNELS 16

/* A layer placed in a graph: shapes resolved, parameters and buffers assigned. */
typedef struct mcl_node {
    const struct mcl_op *op;
    mcl_layer layer;
    uint32_t index; /* position in the graph; also the dropout RNG stream */
    char name[32];  /* Keras-style: "dense_1" */
    mcl_shape in_shape, out_shape;
    size_t param_offset; /* floats into the flat parameter / gradient buffers */
    size_t param_count;
    size_t state_offset; /* floats into the flat non-trainable state buffer (BatchNorm's moving
                            statistics): updated by forward in training, never by the optimizer */
    size_t state_count;
    bool need_dx; /* false for the first node: nothing consumes the input gradient */
    /* Activation fusion (src/graph/graph.c): fused_relu: this node also applies the ReLU layer
     * that follows it (forward: max(y, 0); backward: dy through its derivative first), and that
     * layer is fused_away: it aliases its input (y is x, dx is dy) and runs nothing. */
    bool fused_relu, fused_away;
    /* Borrowed from the graph. x/dx: [N, in]; y/dy: [N, out]. */
    cl_mem x, y, dx, dy;
    cl_mem aux; /* op->aux_bytes of per-node memory kept from forward to backward; owned by the
                   graph; NULL if the op needs none */
    cl_kernel kernels[MCL_NODE_MAX_KERNELS]; /* created from op->kernel_names, owned */
    cl_mem owned[3]; /* the buffers mcl_node_bind made (y, dy, aux; NULL where it made none) */
} mcl_node;

/* Everything one forward or backward call needs besides the node itself. */
typedef struct mcl_exec {
    mcl_context *ctx;
    cl_mem params, grads;               /* flat [P] */
    cl_mem state;                       /* flat [S] non-trainable state */
    cl_mem workspace;                   /* scratch shared by all nodes (op->workspace_bytes);
                                           its contents do not survive to another node */
    cl_mem labels;                      /* [N] int */
    cl_mem sample_loss, sample_correct; /* [N] float, written by the loss op */
    uint32_t n;                         /* samples in this batch */
    uint32_t step;                      /* training step: the dropout counter */
    uint64_t seed;
    bool training;
    struct mcl_profiler *profiler; /* train --profile: markers between ops (NULL: none) */
} mcl_exec;

/* The same for the plain C reference, over host arrays. */
typedef struct mcl_ref_exec {
    const float *params; /* flat [P] */
    float *state;        /* flat [S]; training-mode forward updates it as the device does */
    const int32_t *labels;
    float *sample_loss, *sample_correct;
    uint32_t n;
    uint32_t step;
    uint64_t seed;
    bool training;
} mcl_ref_exec;

#define MCL_OP_MAX_EXAMPLES 8

/* A small configuration the op test harness runs (forward vs reference, gradient check). */
typedef struct mcl_op_example {
    mcl_layer layer;
    mcl_shape input;
    float input_lo, input_hi; /* input range; keep away from kinks such as ReLU's 0 */
} mcl_op_example;

/* A named tensor inside a node's parameter or state slice, in Keras's layout. Checkpoints and
 * exports address weights by these names ("conv2d_1/kernel"). */
typedef struct mcl_tensor_desc {
    const char *name; /* "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance" */
    bool state;       /* in the state buffer (non-trainable), not the parameters */
    size_t offset;    /* floats from the node's param_offset (or state_offset) */
    uint32_t ndim;
    uint32_t dims[4];
} mcl_tensor_desc;

#define MCL_OP_MAX_TENSORS 4

typedef struct mcl_op {
    const char *name;       /* model-language keyword and the prefix of node names */
    const char *keras_name; /* the layer type shown by the summary: "Conv2D" */
    const char *usage;      /* the layer's syntax, for error messages and help */
    bool internal;          /* placed by the graph, never written in a model */
    /* Reads the words after the keyword (args[0..nargs)) into *layer, whose kind and line are
     * set and other fields zero. NULL: the layer takes no arguments. Errors say what is wrong;
     * the parser adds the file and line. */
    mcl_status (*parse)(mcl_layer *layer, char **args, int nargs, mcl_error *err);
    mcl_status (*infer)(const mcl_layer *layer, mcl_shape in, mcl_shape *out, mcl_error *err);
    size_t (*param_count)(const mcl_layer *layer, mcl_shape in, mcl_shape out);
    /* Fills the node's parameter slice (may be NULL when there are no parameters). */
    void (*init_params)(const mcl_node *node, float *params, uint64_t seed);
    /* Non-trainable state floats (NULL: none) and their initial values. */
    size_t (*state_count)(const mcl_layer *layer, mcl_shape in, mcl_shape out);
    void (*init_state)(const mcl_node *node, float *state);
    /* Bytes of node->aux and of the shared workspace for a batch of max_batch (NULL: none). */
    size_t (*aux_bytes)(const mcl_node *node, uint32_t max_batch);
    size_t (*workspace_bytes)(const mcl_node *node, uint32_t max_batch);
    /* The node's named tensors, covering its whole parameter and state slices (NULL: none). */
    uint32_t (*tensors)(const mcl_node *node, mcl_tensor_desc out[MCL_OP_MAX_TENSORS]);
    bool aliases_input; /* y is x and dx is dy (flatten): no kernels, no copies */
    const char *kernel_names[MCL_NODE_MAX_KERNELS]; /* a NULL ends the list early */
    mcl_status (*forward)(mcl_node *node, const mcl_exec *ex, mcl_error *err);
    mcl_status (*backward)(mcl_node *node, const mcl_exec *ex, mcl_error *err);
    /* Floating-point operations per sample (GEMM-class work; elementwise work is not counted). */
    double (*forward_flops)(const mcl_node *node);
    double (*backward_flops)(const mcl_node *node);
    /* The test oracle: y = op(x) on the host. x: [n, in], y: [n, out]. */
    void (*reference_forward)(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                              float *y);
    /* Optional: backward on the host from x, the forward's y and dy: writes dx [n, in] (when
     * not NULL) and ACCUMULATES into grads (the flat gradients, at node->param_offset), as
     * the device does. The op tests compare the device's backward with it, and the kernel
     * tuner checks candidate shapes against it. */
    void (*reference_backward)(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                               const float *y, const float *dy, float *dx, float *grads);
    mcl_op_example examples[MCL_OP_MAX_EXAMPLES]; /* input.c == 0 ends the list */
} mcl_op;

/* A node for `layer` on input `in` (src/ops/node.c): its op, layer, index, output shape and the
 * sizes of its parameter and state slices; the offsets are the caller's to place. Fails with
 * the op's own message when the layer does not fit the input. */
mcl_status mcl_node_infer(mcl_node *node, const mcl_layer *layer, mcl_shape in, uint32_t index,
                          mcl_error *err);
/* Places an inferred node on ctx for batches of up to max_batch, as the graph, the op tests and
 * the kernel tuner all do: x and dx are the caller's (the previous node's y and dy, or an
 * input); y and dy are x and dx where the op aliases its input or the node is fused away, else
 * new [max_batch, out] buffers; aux is a new buffer where the op asks for one; then the op's
 * kernels (none for a fused-away node). What it makes is the node's until mcl_node_release;
 * *bytes, when not NULL, receives the size of the buffers made. Buffers are named after
 * node->name in messages. On failure the node keeps what was made (release it). */
mcl_status mcl_node_bind(mcl_node *node, mcl_context *ctx, cl_mem x, cl_mem dx, uint32_t max_batch,
                         size_t *bytes, mcl_error *err);
/* Releases the kernels and the buffers mcl_node_bind made. */
void mcl_node_release(mcl_node *node);

/* The registry, indexed by mcl_op_kind. */
const mcl_op *mcl_op_get(mcl_op_kind kind);
/* Finds an op by its model-language name; NULL if unknown. */
const mcl_op *mcl_op_find(const char *name, mcl_op_kind *kind_out);

#define MCL_OP_DECLARE(kind, name, emitter) extern const mcl_op mcl_op_##name;
MCL_OP_LIST(MCL_OP_DECLARE)
#undef MCL_OP_DECLARE

/* Helpers shared by ops. */
mcl_status mcl_op_no_params_infer_same(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                       mcl_error *err);
double mcl_op_zero_flops(const mcl_node *node);
size_t mcl_op_no_params(const mcl_layer *layer, mcl_shape in, mcl_shape out);
/* The epilogues of dense and conv2d over an [n, out] output (src/ops/bias_act.c). Forward: y
 * += bias, then the activation (act: 0 linear, 1 ReLU), in place, with cl/dense.cl's
 * dense_bias_act_forward (`kernel`). Backward: dy becomes dz = dy * act'(y) in place and
 * grads[bias_offset ..] += the column sums of dz, via dense_bias_act_backward (`partial`) and
 * dense_bias_grad_finish (`finish`) and the context's scratch. */
mcl_status mcl_bias_act_forward(const mcl_exec *ex, cl_kernel kernel, cl_mem y, cl_uint n,
                                cl_uint out, cl_int act, cl_uint bias_offset, mcl_error *err);
/* y[n, out] = act(a[n, k] w[k, out] + bias), the bias at params[bias_offset ..]: one launch
 * where the GEMM provider applies the epilogue itself (mcl_gemm_fuses_epilogue), else the
 * SGEMM and then mcl_bias_act_forward with `bias_kernel`. */
mcl_status mcl_gemm_bias_act(const mcl_exec *ex, cl_kernel bias_kernel, cl_uint n, cl_uint out,
                             cl_uint k, mcl_matrix a, mcl_matrix w, cl_mem y,
                             cl_int act, cl_uint bias_offset, const char *what, mcl_error *err);
mcl_status mcl_bias_act_backward(const mcl_exec *ex, cl_kernel partial, cl_kernel finish, cl_mem dy,
                                 cl_mem y, cl_uint n, cl_uint out, cl_int act, cl_uint bias_offset,
                                 mcl_error *err);

/* Argument parsing shared by ops' parse functions. Each returns false if `s` is malformed. */
bool mcl_parse_u32(const char *s, uint32_t *out);
bool mcl_parse_float(const char *s, float *out);
/* "3" -> 3x3, "3x5" -> 3x5 (height x width); both in 1..max. */
bool mcl_parse_size2(const char *s, uint32_t max, uint32_t *h, uint32_t *w);
/* If `arg` is "key=value", returns value (and the caller compares the key); else NULL. */
const char *mcl_arg_value(const char *arg, const char *key);
/* Parses "linear", "relu" or "softmax" (optionally "activation=relu"). */
bool mcl_parse_activation(const char *s, mcl_activation *out);
/* The value of a "padding=valid|same" argument of op `op` ("conv2d"); MCL_ERR_FORMAT says what
 * is wrong with any other value. */
mcl_status mcl_parse_padding(const char *op, const char *value, mcl_padding *out, mcl_error *err);
/* Output size along one axis for a window k, stride s and padding; 0 if the window does not
 * fit (valid padding, k > in). pad_before receives the leading padding. */
uint32_t mcl_window_out(uint32_t in, uint32_t k, uint32_t s, mcl_padding padding,
                        uint32_t *pad_before);

#endif
