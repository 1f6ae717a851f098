/* LeakyReLU: y = x for x > 0, alpha * x otherwise (tf.keras default alpha 0.3). Backward reads
 * the saved input x, so it needs no auxiliary memory. */
#include <math.h>

#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD };

#define LEAKYRELU_DEFAULT_ALPHA 0.3f

static bool alpha_valid(float alpha) {
    return isfinite(alpha) && alpha >= 0.0f;
}

/* "leakyrelu", "leakyrelu 0.1" or "leakyrelu alpha=0.1". */
static mcl_status leakyrelu_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    layer->alpha = LEAKYRELU_DEFAULT_ALPHA;
    if (nargs == 0) return MCL_OK;
    const char *v = mcl_arg_value(args[0], "alpha");
    if (nargs > 1 || !mcl_parse_float(v != NULL ? v : args[0], &layer->alpha) ||
        !alpha_valid(layer->alpha))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "leakyrelu takes one optional slope alpha >= 0, got '%s'", args[0]);
    return MCL_OK;
}

/* Layers built without the parser (tests, code) are checked here too. */
static mcl_status leakyrelu_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                  mcl_error *err) {
    if (!alpha_valid(layer->alpha))
        return mcl_fail(err, MCL_ERR_MODEL, "leakyrelu alpha must be finite and >= 0, got %g",
                        (double)layer->alpha);
    *out = in;
    return MCL_OK;
}

static mcl_status leakyrelu_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_float alpha = node->layer.alpha;
    cl_kernel k = node->kernels[K_FORWARD];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->y), MCL_ARG(count), MCL_ARG(alpha));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static mcl_status leakyrelu_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    cl_uint count = ex->n * mcl_shape_size(node->in_shape);
    cl_float alpha = node->layer.alpha;
    cl_kernel k = node->kernels[K_BACKWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(node->dx),
                                 MCL_ARG(count), MCL_ARG(alpha));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static void leakyrelu_reference_forward(const mcl_node *node, const mcl_ref_exec *ex,
                                        const float *x, float *y) {
    size_t count = (size_t)ex->n * mcl_shape_size(node->in_shape);
    float alpha = node->layer.alpha;
    for (size_t i = 0; i < count; i++)
        y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}

const mcl_op mcl_op_leakyrelu = {
    .name = "leakyrelu",
    .keras_name = "LeakyReLU",
    .usage = "leakyrelu [ALPHA|alpha=ALPHA] (slope for x < 0, default 0.3)",
    .parse = leakyrelu_parse,
    .infer = leakyrelu_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"leakyrelu_forward", "leakyrelu_backward", NULL},
    .forward = leakyrelu_forward,
    .backward = leakyrelu_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = leakyrelu_reference_forward,
    /* The harness keeps |x| >= 0.05, so +-FD_STEP never crosses the kink at 0. */
    .examples =
        {
            {.layer = {.kind = MCL_OP_LEAKYRELU, .alpha = 0.3f},
             .input = {3, 4, 5},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
            {.layer = {.kind = MCL_OP_LEAKYRELU, .alpha = 0.05f},
             .input = {37, 1, 1},
             .input_lo = -2.0f,
             .input_hi = 1.0f},
        },
};
