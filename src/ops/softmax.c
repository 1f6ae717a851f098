/* Standalone softmax over the last (channel) axis: every row of the [n*H*W, C] matrix is
 * normalised. This is the inference head; for training the graph turns a final 'softmax' into
 * the fused softmax_xent loss node, but the op stands on its own (forward and backward). */
#include <math.h>

#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD };

static mcl_status softmax_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                mcl_error *err) {
    (void)layer;
    if (in.c < 2)
        return mcl_fail(err, MCL_ERR_MODEL,
                        "softmax normalises over the channels and needs at least 2, got a "
                        "%ux%ux%u input",
                        in.h, in.w, in.c);
    *out = in;
    return MCL_OK;
}

static mcl_status softmax_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint rows = ex->n * node->in_shape.h * node->in_shape.w, C = node->in_shape.c;
    cl_kernel k = node->kernels[K_FORWARD];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->y), MCL_ARG(rows), MCL_ARG(C));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){rows}, err);
}

static mcl_status softmax_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    cl_uint rows = ex->n * node->in_shape.h * node->in_shape.w, C = node->in_shape.c;
    cl_kernel k = node->kernels[K_BACKWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->y), MCL_ARG(node->dy), MCL_ARG(node->dx),
                                 MCL_ARG(rows), MCL_ARG(C));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){rows}, err);
}

static void softmax_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                      float *y) {
    size_t rows = (size_t)ex->n * node->in_shape.h * node->in_shape.w;
    uint32_t C = node->in_shape.c;
    for (size_t r = 0; r < rows; r++) {
        const float *z = x + r * C;
        float *p = y + r * C;
        float zmax = z[0];
        for (uint32_t k = 1; k < C; k++)
            if (z[k] > zmax) zmax = z[k];
        double sum = 0.0;
        for (uint32_t k = 0; k < C; k++)
            sum += exp((double)z[k] - zmax);
        for (uint32_t k = 0; k < C; k++)
            p[k] = (float)(exp((double)z[k] - zmax) / sum);
    }
}

const mcl_op mcl_op_softmax = {
    .name = "softmax",
    .keras_name = "Softmax",
    .usage = "softmax",
    .infer = softmax_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"softmax_forward", "softmax_backward", NULL},
    .forward = softmax_forward,
    .backward = softmax_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = softmax_reference_forward,
    .examples =
        {
            {.layer = {.kind = MCL_OP_SOFTMAX}, .input = {10, 1, 1}, -3.0f, 3.0f},
            {.layer = {.kind = MCL_OP_SOFTMAX}, .input = {4, 2, 3}, -3.0f, 3.0f},
        },
};
