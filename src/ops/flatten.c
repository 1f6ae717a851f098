/* Flatten: (C, H, W) -> (C*H*W). Row-major storage is already flat, so the node aliases its
 * input buffer and costs nothing at run time. */
#include "ops/op.h"

static mcl_status flatten_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                mcl_error *err) {
    (void)layer, (void)err;
    *out = (mcl_shape){mcl_shape_size(in), 1, 1};
    return MCL_OK;
}

static mcl_status flatten_nothing(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    (void)node, (void)ex, (void)err;
    return MCL_OK;
}

static void flatten_reference_forward(const mcl_node *node, const mcl_ref_exec *ex,
                                      const float *x, float *y) {
    size_t count = (size_t)ex->n * mcl_shape_size(node->in_shape);
    for (size_t i = 0; i < count; i++) y[i] = x[i];
}

const mcl_op mcl_op_flatten = {
    .name = "flatten",
    .keras_name = "Flatten",
    .usage = "flatten",
    .infer = flatten_infer,
    .param_count = mcl_op_no_params,
    .aliases_input = true,
    .kernel_names = {NULL},
    .forward = flatten_nothing,
    .backward = flatten_nothing,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = flatten_reference_forward,
    .examples = {{.layer = {.kind = MCL_OP_FLATTEN}, .input = {2, 3, 4}, -1.0f, 1.0f}},
};
