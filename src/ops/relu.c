/* Standalone ReLU: y = max(x, 0). (Dense layers fuse their ReLU; this is for other producers.) */
#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD };

static mcl_status relu_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_kernel k = node->kernels[K_FORWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->y), MCL_ARG(count));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static mcl_status relu_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_kernel k = node->kernels[K_BACKWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(node->dx),
                                 MCL_ARG(count));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static void relu_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                   float *y) {
    size_t count = (size_t)ex->n * mcl_shape_size(node->in_shape);
    for (size_t i = 0; i < count; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

const mcl_op mcl_op_relu = {
    .name = "relu",
    .keras_name = "ReLU",
    .usage = "relu",
    .infer = mcl_op_no_params_infer_same,
    .param_count = mcl_op_no_params,
    .kernel_names = {"relu_forward", "relu_backward", NULL},
    .forward = relu_forward,
    .backward = relu_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = relu_reference_forward,
    /* Inputs stay at least 0.05 away from the kink so central differences are valid. */
    .examples = {{.layer = {.kind = MCL_OP_RELU}, .input = {37, 1, 1}, -1.0f, 1.0f}},
};
