/* Inverted dropout: in training each element is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate); in inference it is the identity. The mask comes from Philox with counter
 * (block, step, layer index, MCL_STREAM_DROPOUT) and key seed: word w of block b decides element
 * w * Q + b, Q = ceil(count / 4), identical in cl/dropout.cl and the reference below, and is
 * regenerated in backward instead of being stored. */
#include "core/philox.h"
#include "ops/op.h"

enum { K_APPLY };

static mcl_status dropout_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                mcl_error *err) {
    if (!(layer->rate >= 0.0f && layer->rate < 1.0f))
        return mcl_fail(err, MCL_ERR_MODEL, "dropout rate must be in [0, 1), got %g",
                        (double)layer->rate);
    *out = in;
    return MCL_OK;
}

/* Applies the layer's mask to src -> dst (the same kernel serves forward and backward). */
static mcl_status dropout_enqueue(mcl_node *node, const mcl_exec *ex, cl_mem src, cl_mem dst,
                                  mcl_error *err) {
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_float rate = node->layer.rate;
    cl_uint seed_lo = (cl_uint)ex->seed, seed_hi = (cl_uint)(ex->seed >> 32);
    cl_uint step = ex->step, layer = node->index;
    if (!ex->training) {
        if (count == 0) return MCL_OK;
        return MCL_CL_CHECK(clEnqueueCopyBuffer(ex->ctx->queue, src, dst, 0, 0,
                                                (size_t)count * sizeof(float), 0, NULL, NULL),
                            err, "dropout in inference (a copy)");
    }
    cl_kernel k = node->kernels[K_APPLY];
    cl_uint quarter = (count + 3u) / 4u;
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(src), MCL_ARG(dst), MCL_ARG(count), MCL_ARG(quarter),
                     MCL_ARG(rate), MCL_ARG(seed_lo), MCL_ARG(seed_hi), MCL_ARG(step),
                     MCL_ARG(layer));
    size_t width = (size_t)ex->ctx->shapes.vector.width * ex->ctx->shapes.vector.span;
    return st != MCL_OK
               ? st
               : mcl_enqueue_vector(ex->ctx, k, 1, (size_t[]){(quarter + width - 1) / width},
                                    NULL, err);
}

static mcl_status dropout_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    const char *v = nargs == 1 ? mcl_arg_value(args[0], "rate") : NULL;
    const char *text = v != NULL ? v : nargs >= 1 ? args[0] : "";
    if (nargs != 1 || !mcl_parse_float(text, &layer->rate))
        return mcl_fail(err, MCL_ERR_FORMAT, "dropout takes one rate in [0, 1), got '%s'%s",
                        nargs == 0 ? "nothing" : text, nargs > 1 ? " and more" : "");
    if (!(layer->rate >= 0.0f && layer->rate < 1.0f))
        return mcl_fail(err, MCL_ERR_FORMAT, "dropout rate must be in [0, 1), got %s", text);
    return MCL_OK;
}

static mcl_status dropout_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    return dropout_enqueue(node, ex, node->x, node->y, err);
}

static mcl_status dropout_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    return dropout_enqueue(node, ex, node->dy, node->dx, err);
}

static void dropout_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                      float *y) {
    size_t count = (size_t)ex->n * mcl_shape_size(node->in_shape), quarter = (count + 3) / 4;
    float rate = node->layer.rate, scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < count; i++) {
        if (!ex->training) {
            y[i] = x[i];
            continue;
        }
        const uint32_t counter[4] = {(uint32_t)(i % quarter), ex->step, node->index,
                                     MCL_STREAM_DROPOUT};
        uint32_t word = mcl_philox4x32(counter, ex->seed).v[i / quarter];
        y[i] = x[i] * (mcl_u32_to_unit_float(word) >= rate ? scale : 0.0f);
    }
}

const mcl_op mcl_op_dropout = {
    .name = "dropout",
    .keras_name = "Dropout",
    .usage = "dropout RATE (a fraction in [0, 1), e.g. 'dropout 0.2')",
    .parse = dropout_parse,
    .infer = dropout_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"dropout_apply", NULL},
    .forward = dropout_forward,
    .backward = dropout_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = dropout_reference_forward,
    .examples =
        {{.layer = {.kind = MCL_OP_DROPOUT, .rate = 0.3f}, .input = {41, 1, 1}, -1.0f, 1.0f}},
};
