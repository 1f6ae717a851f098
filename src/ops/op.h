/* The op interface. Each op family lives in src/ops/<op>.c (host side: shape inference, init,
 * enqueue of forward/backward, the plain C reference that tests use as the oracle) and
 * cl/<op>.cl (kernels), and is registered with one line in src/ops/registry.c.
 *
 * Conventions (as llm.c): activations are row-major [N, features]; forward reads x and writes y;
 * backward reads dy and writes dx (activation gradients are overwritten: the graph is a chain)
 * and ACCUMULATES into parameter gradients, which the scheduler zeroes once per step. */
#ifndef MCL_OPS_OP_H
#define MCL_OPS_OP_H

#include "device/device.h"

typedef enum mcl_op_kind {
    MCL_OP_FLATTEN,
    MCL_OP_DENSE,
    MCL_OP_RELU,
    MCL_OP_DROPOUT,
    MCL_OP_SOFTMAX_XENT,
    MCL_OP_COUNT
} mcl_op_kind;

typedef enum mcl_activation {
    MCL_ACT_LINEAR = 0, /* values shared with cl/dense.cl */
    MCL_ACT_RELU = 1,
    MCL_ACT_SOFTMAX = 2, /* only on the last layer: becomes a softmax_xent node */
} mcl_activation;

/* Per-sample tensor shape: C channels, H, W. A flat vector of F features is (F, 1, 1). */
typedef struct mcl_shape {
    uint32_t c, h, w;
} mcl_shape;

static inline uint32_t mcl_shape_size(mcl_shape s) {
    return s.c * s.h * s.w;
}

/* One layer as written in a model description. */
typedef struct mcl_layer {
    mcl_op_kind kind;
    uint32_t units;            /* dense: output features; 0 = the number of classes */
    mcl_activation activation; /* dense */
    float rate;                /* dropout: fraction of inputs dropped, in [0, 1) */
    uint32_t line;             /* line in the model source, for error messages */
} mcl_layer;

#define MCL_NODE_MAX_KERNELS 4

/* A layer placed in a graph: shapes resolved, parameters and buffers assigned. */
typedef struct mcl_node {
    const struct mcl_op *op;
    mcl_layer layer;
    uint32_t index;   /* position in the graph; also the dropout RNG stream */
    char name[32];    /* Keras-style: "dense_1" */
    mcl_shape in_shape, out_shape;
    size_t param_offset; /* floats into the flat parameter / gradient buffers */
    size_t param_count;
    bool need_dx; /* false for the first node: nothing consumes the input gradient */
    /* Borrowed from the graph. x/dx: [N, in]; y/dy: [N, out]. */
    cl_mem x, y, dx, dy;
    cl_kernel kernels[MCL_NODE_MAX_KERNELS]; /* created from op->kernel_names, owned */
} mcl_node;

/* Everything one forward or backward call needs besides the node itself. */
typedef struct mcl_exec {
    mcl_context *ctx;
    cl_mem params, grads;                /* flat [P] */
    cl_mem labels;                       /* [N] int */
    cl_mem sample_loss, sample_correct;  /* [N] float, written by the loss op */
    uint32_t n;                          /* samples in this batch */
    uint32_t step;                       /* training step: the dropout counter */
    uint64_t seed;
    bool training;
} mcl_exec;

/* The same for the plain C reference, over host arrays. */
typedef struct mcl_ref_exec {
    const float *params; /* flat [P] */
    const int32_t *labels;
    float *sample_loss, *sample_correct;
    uint32_t n;
    uint32_t step;
    uint64_t seed;
    bool training;
} mcl_ref_exec;

/* A small configuration the op test harness runs (forward vs reference, gradient check). */
typedef struct mcl_op_example {
    mcl_layer layer;
    mcl_shape input;
    float input_lo, input_hi; /* input range; keep away from kinks such as ReLU's 0 */
} mcl_op_example;

typedef struct mcl_op {
    const char *name; /* model-language keyword and the prefix of node names */
    mcl_status (*infer)(const mcl_layer *layer, mcl_shape in, mcl_shape *out, mcl_error *err);
    size_t (*param_count)(const mcl_layer *layer, mcl_shape in, mcl_shape out);
    /* Fills the node's parameter slice (may be NULL when there are no parameters). */
    void (*init_params)(const mcl_node *node, float *params, uint64_t seed);
    bool aliases_input; /* y is x and dx is dy (flatten): no kernels, no copies */
    const char *kernel_names[MCL_NODE_MAX_KERNELS]; /* NULL-terminated */
    mcl_status (*forward)(mcl_node *node, const mcl_exec *ex, mcl_error *err);
    mcl_status (*backward)(mcl_node *node, const mcl_exec *ex, mcl_error *err);
    /* Floating-point operations per sample (GEMM-class work; elementwise work is not counted). */
    double (*forward_flops)(const mcl_node *node);
    double (*backward_flops)(const mcl_node *node);
    /* The test oracle: y = op(x) on the host. x: [n, in], y: [n, out]. */
    void (*reference_forward)(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                              float *y);
    mcl_op_example examples[3]; /* zero-terminated (input.c == 0 ends the list) */
} mcl_op;

/* The registry, indexed by mcl_op_kind. */
const mcl_op *mcl_op_get(mcl_op_kind kind);
/* Finds an op by its model-language name; NULL if unknown. */
const mcl_op *mcl_op_find(const char *name, mcl_op_kind *kind_out);

extern const mcl_op mcl_op_flatten, mcl_op_dense, mcl_op_relu, mcl_op_dropout,
    mcl_op_softmax_xent;

/* Helpers shared by ops. */
mcl_status mcl_op_no_params_infer_same(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                       mcl_error *err);
double mcl_op_zero_flops(const mcl_node *node);

#endif
