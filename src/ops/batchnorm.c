/* Batch normalisation (Keras BatchNormalization) over the channels of a channels-last tensor,
 * i.e. over the rows of its [M = N*H*W, C] matrix; after a dense layer, per feature.
 *   params [2, C]: gamma (init 1), beta (init 0)
 *   state  [2, C]: moving mean (init 0), moving variance (init 1); training forward updates them
 *   aux    [4, C]: mean, inv_std (forward -> backward), sum(dy), sum(dy * xhat) (backward)
 * Training normalises with the batch statistics, inference with the moving ones. The per-channel
 * reductions run over row chunks and then combine the chunks in a fixed order
 * (cl/batchnorm.cl), so every result is deterministic; the rest is elementwise. */
#include <math.h>
#include <stdio.h>

#include "ops/op.h"

enum {
    K_STATS_PARTIAL,
    K_STATS_FINISH,
    K_FORWARD,
    K_BACKWARD_PARTIAL,
    K_BACKWARD_FINISH,
    K_BACKWARD_DX
};

/* Keras defaults. */
#define BATCHNORM_DEFAULT_MOMENTUM 0.99f
#define BATCHNORM_DEFAULT_EPSILON 1e-3f

static bool momentum_valid(float m) {
    return m >= 0.0f && m < 1.0f;
}

static bool epsilon_valid(float e) {
    return isfinite(e) && e > 0.0f;
}

/* "batchnorm [momentum=M] [epsilon=E]", in any order, each at most once. */
static mcl_status batchnorm_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    bool have_momentum = false, have_epsilon = false;
    for (int i = 0; i < nargs; i++) {
        const char *m = mcl_arg_value(args[i], "momentum");
        const char *e = mcl_arg_value(args[i], "epsilon");
        if (m != NULL && !have_momentum) {
            if (!mcl_parse_float(m, &layer->momentum) || !momentum_valid(layer->momentum))
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "batchnorm momentum must be a number in [0, 1), got '%s'", m);
            have_momentum = true;
        } else if (e != NULL && !have_epsilon) {
            if (!mcl_parse_float(e, &layer->epsilon) || !epsilon_valid(layer->epsilon))
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "batchnorm epsilon must be a positive number, got '%s'", e);
            have_epsilon = true;
        } else if (m != NULL || e != NULL) {
            return mcl_fail(err, MCL_ERR_FORMAT, "batchnorm argument '%s' is given twice", args[i]);
        } else {
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "unknown batchnorm argument '%s' (known: momentum=, epsilon=)",
                            args[i]);
        }
    }
    if (!have_momentum) layer->momentum = BATCHNORM_DEFAULT_MOMENTUM;
    if (!have_epsilon) layer->epsilon = BATCHNORM_DEFAULT_EPSILON;
    return MCL_OK;
}

/* Layers built without the parser (tests, code) are checked here too. */
static mcl_status batchnorm_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                  mcl_error *err) {
    if (!momentum_valid(layer->momentum) || !epsilon_valid(layer->epsilon))
        return mcl_fail(err, MCL_ERR_MODEL,
                        "batchnorm needs momentum in [0, 1) and epsilon > 0, got %g and %g",
                        (double)layer->momentum, (double)layer->epsilon);
    *out = in;
    return MCL_OK;
}

static size_t batchnorm_param_count(const mcl_layer *layer, mcl_shape in, mcl_shape out) {
    (void)layer, (void)out;
    return 2 * (size_t)in.c;
}

static void batchnorm_init_params(const mcl_node *node, float *params, uint64_t seed) {
    (void)seed;
    uint32_t c = node->in_shape.c;
    for (uint32_t j = 0; j < c; j++) {
        params[j] = 1.0f;     /* gamma */
        params[c + j] = 0.0f; /* beta */
    }
}

static size_t batchnorm_state_count(const mcl_layer *layer, mcl_shape in, mcl_shape out) {
    (void)layer, (void)out;
    return 2 * (size_t)in.c;
}

static void batchnorm_init_state(const mcl_node *node, float *state) {
    uint32_t c = node->in_shape.c;
    for (uint32_t j = 0; j < c; j++) {
        state[j] = 0.0f;     /* moving mean */
        state[c + j] = 1.0f; /* moving variance */
    }
}

static size_t batchnorm_aux_bytes(const mcl_node *node, uint32_t max_batch) {
    (void)max_batch;
    return 4 * (size_t)node->in_shape.c * sizeof(float);
}

/* The chunks of a reduction (cl/batchnorm.cl: VEC_ROWS rows each) and their partial results
 * buffer, [2, chunks, C] floats in the context's scratch; the vector kernel's global size. */
typedef struct reduce_plan {
    cl_uint chunks;
    cl_mem partial;
    size_t global[2];
} reduce_plan;

static mcl_status reduce_plan_get(const mcl_exec *ex, cl_uint rows, cl_uint channels,
                                  reduce_plan *out, mcl_error *err) {
    const mcl_vector_shape *v = &ex->ctx->shapes.vector;
    out->chunks = (rows + v->rows - 1) / v->rows;
    out->global[0] = (channels + v->width - 1) / v->width;
    out->global[1] = out->chunks;
    return mcl_scratch_reserve(ex->ctx, 2 * (size_t)out->chunks * channels, &out->partial, err);
}

static mcl_status batchnorm_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint channels = node->in_shape.c;
    cl_uint rows = ex->n * node->in_shape.h * node->in_shape.w;
    if (rows == 0 || channels == 0) return MCL_OK;
    cl_uint param_offset = (cl_uint)node->param_offset;
    cl_uint state_offset = (cl_uint)node->state_offset;
    cl_float momentum = node->layer.momentum, epsilon = node->layer.epsilon;
    mcl_status st = MCL_OK;
    /* Training normalises with the batch statistics (saved in aux), inference with the moving
     * ones, which only training touches. */
    cl_mem stats = ex->state;
    cl_uint stats_offset = state_offset;
    cl_int from_variance = 1;
    if (ex->training) {
        reduce_plan plan;
        st = reduce_plan_get(ex, rows, channels, &plan, err);
        cl_kernel k = node->kernels[K_STATS_PARTIAL];
        if (st == MCL_OK)
            st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(rows), MCL_ARG(channels),
                              MCL_ARG(plan.partial), MCL_ARG(plan.chunks));
        if (st == MCL_OK) st = mcl_enqueue_vector(ex->ctx, k, 2, plan.global, NULL, err);
        k = node->kernels[K_STATS_FINISH];
        if (st == MCL_OK)
            st = MCL_SET_ARGS(k, err, MCL_ARG(plan.partial), MCL_ARG(plan.chunks), MCL_ARG(rows),
                              MCL_ARG(channels), MCL_ARG(momentum), MCL_ARG(epsilon),
                              MCL_ARG(ex->state), MCL_ARG(state_offset), MCL_ARG(node->aux));
        if (st == MCL_OK) st = mcl_enqueue(ex->ctx, k, 1, (size_t[]){channels}, err);
        stats = node->aux;
        stats_offset = 0;
        from_variance = 0;
    }
    cl_kernel k = node->kernels[K_FORWARD];
    cl_int relu = node->fused_relu ? 1 : 0;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->y), MCL_ARG(channels),
                          MCL_ARG(ex->params), MCL_ARG(param_offset), MCL_ARG(stats),
                          MCL_ARG(stats_offset), MCL_ARG(from_variance), MCL_ARG(epsilon),
                          MCL_ARG(relu));
    if (st == MCL_OK) st = mcl_enqueue(ex->ctx, k, 2, (size_t[]){channels, rows}, err);
    return st;
}

/* Valid only after a training forward of the same batch (it reads the batch statistics). */
static mcl_status batchnorm_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint channels = node->in_shape.c;
    cl_uint rows = ex->n * node->in_shape.h * node->in_shape.w;
    if (rows == 0 || channels == 0) return MCL_OK;
    cl_uint param_offset = (cl_uint)node->param_offset;
    cl_int relu = node->fused_relu ? 1 : 0;
    reduce_plan plan;
    mcl_status st = reduce_plan_get(ex, rows, channels, &plan, err);
    cl_kernel k = node->kernels[K_BACKWARD_PARTIAL];
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(node->y),
                          MCL_ARG(relu), MCL_ARG(rows), MCL_ARG(channels), MCL_ARG(node->aux),
                          MCL_ARG(plan.partial), MCL_ARG(plan.chunks));
    if (st == MCL_OK) st = mcl_enqueue_vector(ex->ctx, k, 2, plan.global, NULL, err);
    k = node->kernels[K_BACKWARD_FINISH];
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(plan.partial), MCL_ARG(plan.chunks), MCL_ARG(channels),
                          MCL_ARG(node->aux), MCL_ARG(ex->grads), MCL_ARG(param_offset));
    if (st == MCL_OK) st = mcl_enqueue(ex->ctx, k, 1, (size_t[]){channels}, err);
    if (st != MCL_OK || !node->need_dx) return st;
    cl_float inv_rows = 1.0f / (float)rows;
    k = node->kernels[K_BACKWARD_DX];
    st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(node->y), MCL_ARG(relu),
                      MCL_ARG(node->dx), MCL_ARG(channels), MCL_ARG(inv_rows), MCL_ARG(ex->params),
                      MCL_ARG(param_offset), MCL_ARG(node->aux));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 2, (size_t[]){channels, rows}, err);
}

/* The oracle, in double. Training: batch mean and biased variance, then the moving averages in
 * ex->state updated as the device does; inference: the moving statistics. */
static void batchnorm_reference_forward(const mcl_node *node, const mcl_ref_exec *ex,
                                        const float *x, float *y) {
    size_t channels = node->in_shape.c;
    size_t rows = (size_t)ex->n * node->in_shape.h * node->in_shape.w;
    const float *gamma = ex->params + node->param_offset, *beta = gamma + channels;
    float *moving_mean = ex->state + node->state_offset, *moving_var = moving_mean + channels;
    double momentum = node->layer.momentum, epsilon = node->layer.epsilon;
    for (size_t c = 0; c < channels; c++) {
        double mean, var;
        if (ex->training) {
            double sum = 0.0, squares = 0.0;
            for (size_t r = 0; r < rows; r++)
                sum += x[r * channels + c];
            mean = rows > 0 ? sum / (double)rows : 0.0;
            for (size_t r = 0; r < rows; r++) {
                double d = x[r * channels + c] - mean;
                squares += d * d;
            }
            var = rows > 0 ? squares / (double)rows : 0.0;
            if (rows > 0) {
                double unbiased = rows > 1 ? var * (double)rows / (double)(rows - 1) : var;
                moving_mean[c] = (float)(momentum * moving_mean[c] + (1.0 - momentum) * mean);
                moving_var[c] = (float)(momentum * moving_var[c] + (1.0 - momentum) * unbiased);
            }
        } else {
            mean = moving_mean[c];
            var = moving_var[c];
        }
        double inv_std = 1.0 / sqrt(var + epsilon);
        for (size_t r = 0; r < rows; r++) {
            size_t i = r * channels + c;
            float v = (float)(gamma[c] * (x[i] - mean) * inv_std + beta[c]);
            y[i] = node->fused_relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

static uint32_t batchnorm_tensors(const mcl_node *node, mcl_tensor_desc out[MCL_OP_MAX_TENSORS]) {
    uint32_t c = node->in_shape.c;
    out[0] = (mcl_tensor_desc){"gamma", false, 0, 1, {c}};
    out[1] = (mcl_tensor_desc){"beta", false, c, 1, {c}};
    out[2] = (mcl_tensor_desc){"moving_mean", true, 0, 1, {c}};
    out[3] = (mcl_tensor_desc){"moving_variance", true, c, 1, {c}};
    return 4;
}

const mcl_op mcl_op_batchnorm = {
    .name = "batchnorm",
    .keras_name = "BatchNormalization",
    .usage = "batchnorm [momentum=0.99] [epsilon=0.001]",
    .parse = batchnorm_parse,
    .infer = batchnorm_infer,
    .param_count = batchnorm_param_count,
    .init_params = batchnorm_init_params,
    .state_count = batchnorm_state_count,
    .init_state = batchnorm_init_state,
    .tensors = batchnorm_tensors,
    .aux_bytes = batchnorm_aux_bytes,
    .kernel_names = {"batchnorm_stats_partial", "batchnorm_stats_finish", "batchnorm_forward",
                     "batchnorm_backward_partial", "batchnorm_backward_finish",
                     "batchnorm_backward_dx"},
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = batchnorm_reference_forward,
    /* Batch 4 in the harness: 80 rows per channel for the image (two chunks of the reductions),
     * 4 for the flat input; 20 channels take a vector and a scalar tail. The momentum is low so
     * that one training forward moves the state visibly. */
    .examples =
        {
            {.layer = {.kind = MCL_OP_BATCHNORM, .momentum = 0.9f, .epsilon = 1e-3f},
             .input = {3, 4, 5},
             .input_lo = -1.0f,
             .input_hi = 2.0f},
            {.layer = {.kind = MCL_OP_BATCHNORM, .momentum = 0.5f, .epsilon = 1e-2f},
             .input = {7, 1, 1},
             .input_lo = -2.0f,
             .input_hi = 2.0f},
            {.layer = {.kind = MCL_OP_BATCHNORM, .momentum = 0.9f, .epsilon = 1e-3f},
             .input = {20, 3, 2},
             .input_lo = -1.0f,
             .input_hi = 1.5f},
        },
};
