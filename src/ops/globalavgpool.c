/* GlobalAveragePooling2D (Keras): {C, H, W} -> {C, 1, 1}, the mean of each channel over the
 * H*W positions; backward spreads dy / (H*W) back over them. */
#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD };

static mcl_status globalavgpool_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                      mcl_error *err) {
    (void)layer;
    if (in.c == 0 || in.h == 0 || in.w == 0)
        return mcl_fail(err, MCL_ERR_MODEL, "globalavgpool needs a non-empty input, got %ux%ux%u",
                        in.h, in.w, in.c);
    *out = (mcl_shape){in.c, 1, 1};
    return MCL_OK;
}

static mcl_status globalavgpool_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint C = node->in_shape.c, spatial = node->in_shape.h * node->in_shape.w;
    cl_kernel k = node->kernels[K_FORWARD];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->y), MCL_ARG(C), MCL_ARG(spatial));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 2, (size_t[]){C, ex->n}, err);
}

static mcl_status globalavgpool_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    cl_uint C = node->in_shape.c, spatial = node->in_shape.h * node->in_shape.w;
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_kernel k = node->kernels[K_BACKWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->dy), MCL_ARG(node->dx), MCL_ARG(count),
                                 MCL_ARG(C), MCL_ARG(spatial));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static void globalavgpool_reference_forward(const mcl_node *node, const mcl_ref_exec *ex,
                                            const float *x, float *y) {
    uint32_t C = node->in_shape.c, spatial = node->in_shape.h * node->in_shape.w;
    for (uint32_t n = 0; n < ex->n; n++) {
        for (uint32_t c = 0; c < C; c++) {
            double acc = 0.0;
            for (uint32_t p = 0; p < spatial; p++)
                acc += x[((size_t)n * spatial + p) * C + c];
            y[(size_t)n * C + c] = (float)(acc / spatial);
        }
    }
}

const mcl_op mcl_op_globalavgpool = {
    .name = "globalavgpool",
    .keras_name = "GlobalAveragePooling2D",
    .usage = "globalavgpool",
    .infer = globalavgpool_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"globalavgpool_forward", "globalavgpool_backward", NULL},
    .forward = globalavgpool_forward,
    .backward = globalavgpool_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = globalavgpool_reference_forward,
    .examples =
        {
            {.layer = {.kind = MCL_OP_GLOBALAVGPOOL},
             .input = {5, 4, 3},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
            {.layer = {.kind = MCL_OP_GLOBALAVGPOOL},
             .input = {3, 1, 7},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
        },
};
