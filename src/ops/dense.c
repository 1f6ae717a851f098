/* Dense (fully connected) layer: y = act(x W + b), W: [in, out] (Keras layout), b: [out].
 * The product is one SGEMM (src/device/gemm.c: the tiled kernels on CPU devices, CLBlast
 * elsewhere); bias and activation are fused in one epilogue kernel, and in backward the
 * activation derivative and the bias gradient in another two (mcl_bias_act_backward). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/philox.h"
#include "device/gemm.h"
#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD, K_BIAS_FINISH };

static mcl_status dense_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    if (nargs < 1 || nargs > 2)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "dense takes units and an optional activation: 'dense 128 relu'");
    const char *units = mcl_arg_value(args[0], "units");
    if (units == NULL) units = args[0];
    if (strcmp(units, "classes") == 0)
        layer->units = 0;
    else if (!mcl_parse_u32(units, &layer->units) || layer->units == 0 || layer->units > 1u << 20)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "dense units must be a positive integer or 'classes', got '%s'", units);
    layer->activation = MCL_ACT_LINEAR;
    if (nargs == 2 && !mcl_parse_activation(args[1], &layer->activation)) {
        const char *name = mcl_arg_value(args[1], "activation");
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "unknown activation '%s' (known: linear, relu, softmax)",
                        name != NULL ? name : args[1]);
    }
    return MCL_OK;
}

static mcl_status dense_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                              mcl_error *err) {
    if (in.h != 1 || in.w != 1)
        return mcl_fail(err, MCL_ERR_MODEL,
                        "dense needs a flat input but gets %ux%ux%u; add 'flatten' before it", in.c,
                        in.h, in.w);
    *out = (mcl_shape){layer->units, 1, 1};
    return MCL_OK;
}

static size_t dense_param_count(const mcl_layer *layer, mcl_shape in, mcl_shape out) {
    (void)layer;
    return (size_t)in.c * out.c + out.c;
}

/* Glorot (Xavier) uniform weights, limit sqrt(6 / (fan_in + fan_out)); zero biases (Keras). */
static void dense_init(const mcl_node *node, float *params, uint64_t seed) {
    uint32_t in = node->in_shape.c, out = node->out_shape.c;
    float limit = sqrtf(6.0f / (float)(in + out));
    size_t weights = (size_t)in * out;
    for (size_t i = 0; i < weights; i++) {
        float u = mcl_philox_uniform(seed, MCL_STREAM_INIT, ((uint64_t)node->index << 32) | i);
        params[i] = (2.0f * u - 1.0f) * limit;
    }
    for (uint32_t j = 0; j < out; j++)
        params[weights + j] = 0.0f;
}

static int act_code(const mcl_node *node) {
    return node->layer.activation == MCL_ACT_RELU ? 1 : 0;
}

static mcl_status dense_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint in = node->in_shape.c, out = node->out_shape.c;
    char what[64];
    snprintf(what, sizeof what, "%s forward", node->name);
    cl_uint bias_offset = (cl_uint)(node->param_offset + (size_t)in * out);
    return mcl_gemm_bias_act(ex, node->kernels[K_FORWARD], ex->n, out, in,
                             (mcl_matrix){node->x, 0, in, false},
                             (mcl_matrix){ex->params, node->param_offset, out, false}, node->y,
                             act_code(node), bias_offset, what, err);
}

static mcl_status dense_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint in = node->in_shape.c, out = node->out_shape.c, n = ex->n;
    cl_uint bias_offset = (cl_uint)(node->param_offset + (size_t)in * out);
    cl_int act = act_code(node);
    /* dy becomes dz = dy * act'(y) in place; db += sum over the batch of dz. */
    mcl_status st =
        mcl_bias_act_backward(ex, node->kernels[K_BACKWARD], node->kernels[K_BIAS_FINISH], node->dy,
                              node->y, n, out, act, bias_offset, err);
    char what[64];
    snprintf(what, sizeof what, "%s backward", node->name);
    /* dW[in, out] += x^T dz */
    if (st == MCL_OK)
        st = mcl_gemm(ex->ctx, in, out, n, 1.0f, (mcl_matrix){node->x, 0, in, true},
                      (mcl_matrix){node->dy, 0, out, false}, 1.0f,
                      (mcl_matrix){ex->grads, node->param_offset, out, false}, what, err);
    /* dx[n, in] = dz W^T */
    if (st == MCL_OK && node->need_dx)
        st = mcl_gemm(ex->ctx, n, in, out, 1.0f, (mcl_matrix){node->dy, 0, out, false},
                      (mcl_matrix){ex->params, node->param_offset, out, true}, 0.0f,
                      (mcl_matrix){node->dx, 0, in, false}, what, err);
    return st;
}

static uint32_t dense_tensors(const mcl_node *node, mcl_tensor_desc out[MCL_OP_MAX_TENSORS]) {
    uint32_t in = node->in_shape.c, units = node->out_shape.c;
    out[0] = (mcl_tensor_desc){"kernel", false, 0, 2, {in, units}};
    out[1] = (mcl_tensor_desc){"bias", false, (size_t)in * units, 1, {units}};
    return 2;
}

static double dense_forward_flops(const mcl_node *node) {
    return 2.0 * node->in_shape.c * node->out_shape.c;
}

static double dense_backward_flops(const mcl_node *node) {
    return (node->need_dx ? 4.0 : 2.0) * node->in_shape.c * node->out_shape.c;
}

static void dense_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                    float *y) {
    uint32_t in = node->in_shape.c, out = node->out_shape.c;
    const float *w = ex->params + node->param_offset, *b = w + (size_t)in * out;
    for (uint32_t r = 0; r < ex->n; r++) {
        for (uint32_t c = 0; c < out; c++) {
            double acc = b[c];
            for (uint32_t i = 0; i < in; i++)
                acc += (double)x[(size_t)r * in + i] * w[(size_t)i * out + c];
            float v = (float)acc;
            if (node->layer.activation == MCL_ACT_RELU && v < 0.0f) v = 0.0f;
            y[(size_t)r * out + c] = v;
        }
    }
}

const mcl_op mcl_op_dense = {
    .name = "dense",
    .keras_name = "Dense",
    .usage = "dense UNITS|classes [linear|relu|softmax]",
    .parse = dense_parse,
    .infer = dense_infer,
    .param_count = dense_param_count,
    .init_params = dense_init,
    .tensors = dense_tensors,
    .kernel_names = {"dense_bias_act_forward", "dense_bias_act_backward", "dense_bias_grad_finish"},
    .forward = dense_forward,
    .backward = dense_backward,
    .forward_flops = dense_forward_flops,
    .backward_flops = dense_backward_flops,
    .reference_forward = dense_reference_forward,
    .examples =
        {
            {.layer = {.kind = MCL_OP_DENSE, .units = 7, .activation = MCL_ACT_LINEAR},
             .input = {13, 1, 1},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
            {.layer = {.kind = MCL_OP_DENSE, .units = 9, .activation = MCL_ACT_RELU},
             .input = {11, 1, 1},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
        },
};
