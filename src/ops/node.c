/* A node's shapes, buffers and kernels (op.h): shared by the graph, the op tests' fixtures and
 * the kernel tuner, which all place one layer on a device. */
#include <stdio.h>

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

static mcl_status create_kernels(mcl_node *node, mcl_context *ctx, mcl_error *err) {
    for (int k = 0; k < MCL_NODE_MAX_KERNELS && node->op->kernel_names[k] != NULL; k++) {
        if (node->kernels[k] != NULL) continue;
        mcl_status st = mcl_kernel_create(ctx, node->op->kernel_names[k], &node->kernels[k], err);
        if (st != MCL_OK) return mcl_error_prefix(err, "%s", node->name);
    }
    return MCL_OK;
}

/* A buffer the node owns, counted in *bytes. */
static mcl_status own_buffer(mcl_node *node, mcl_context *ctx, int slot, size_t size,
                             const char *what, size_t *bytes, mcl_error *err) {
    char name[64];
    snprintf(name, sizeof name, "%s's %s", node->name, what);
    *bytes += size;
    return mcl_buffer_create(ctx, size, &node->owned[slot], name, err);
}

mcl_status mcl_node_bind(mcl_node *node, mcl_context *ctx, cl_mem x, cl_mem dx, uint32_t max_batch,
                         size_t *bytes, mcl_error *err) {
    size_t made = 0;
    mcl_status st = MCL_OK;
    node->x = x;
    node->dx = dx;
    if (node->op->aliases_input || node->fused_away) {
        node->y = x;
        node->dy = dx;
    } else {
        size_t size = (size_t)max_batch * mcl_shape_size(node->out_shape) * sizeof(float);
        st = own_buffer(node, ctx, 0, size, "output", &made, err);
        if (st == MCL_OK) st = own_buffer(node, ctx, 1, size, "output", &made, err);
        node->y = node->owned[0];
        node->dy = node->owned[1];
    }
    size_t aux = node->op->aux_bytes != NULL ? node->op->aux_bytes(node, max_batch) : 0;
    if (st == MCL_OK && aux > 0) st = own_buffer(node, ctx, 2, aux, "saved state", &made, err);
    node->aux = node->owned[2];
    if (st == MCL_OK && !node->fused_away) st = create_kernels(node, ctx, err);
    if (bytes != NULL) *bytes = made;
    return st;
}

void mcl_node_release(mcl_node *node) {
    for (int k = 0; k < MCL_NODE_MAX_KERNELS; k++) {
        if (node->kernels[k] != NULL) mcl_cl_release_kernel(node->kernels[k]);
        node->kernels[k] = NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (node->owned[i] != NULL) mcl_cl_release_mem(node->owned[i]);
        node->owned[i] = NULL;
    }
}
