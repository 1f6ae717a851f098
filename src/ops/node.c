/* A node's shapes and kernels (op.h): shared by the graph, the op tests' fixtures and the kernel
 * tuner, which all place one layer on a device. */
#include "ops/op.h"

mcl_status mcl_node_infer(mcl_node *node, const mcl_layer *layer, mcl_shape in, uint32_t index,
                          mcl_error *err) {
    const mcl_op *op = mcl_op_get(layer->kind);
    if (op == NULL) return mcl_fail(err, MCL_ERR_MODEL, "unknown layer kind %d", (int)layer->kind);
    node->op = op;
    node->layer = *layer;
    node->index = index;
    node->in_shape = in;
    mcl_status st = op->infer(&node->layer, in, &node->out_shape, err);
    if (st != MCL_OK) return st;
    node->param_count = op->param_count(&node->layer, node->in_shape, node->out_shape);
    node->state_count =
        op->state_count != NULL ? op->state_count(&node->layer, node->in_shape, node->out_shape)
                                : 0;
    return MCL_OK;
}

mcl_status mcl_node_create_kernels(mcl_node *node, mcl_context *ctx, mcl_error *err) {
    for (int k = 0; k < MCL_NODE_MAX_KERNELS && node->op->kernel_names[k] != NULL; k++) {
        if (node->kernels[k] != NULL) continue;
        mcl_status st = mcl_kernel_create(ctx, node->op->kernel_names[k], &node->kernels[k], err);
        if (st != MCL_OK) return mcl_error_prefix(err, "%s", node->name);
    }
    return MCL_OK;
}

void mcl_node_release_kernels(mcl_node *node) {
    for (int k = 0; k < MCL_NODE_MAX_KERNELS; k++) {
        if (node->kernels[k] != NULL) clReleaseKernel(node->kernels[k]);
        node->kernels[k] = NULL;
    }
}
