/* Batch normalisation (Keras BatchNormalization) over the channels of a channels-last tensor,
 * i.e. over the rows of its [M = N*H*W, C] matrix; after a dense layer, per feature.
 *   params [2, C]: gamma (init 1), beta (init 0)
 *   state  [2, C]: moving mean (init 0), moving variance (init 1); training forward updates them
 *   aux    [4, C]: mean, inv_std (forward -> backward), sum(dy), sum(dy * xhat) (backward)
 * Training normalises with the batch statistics, inference with the moving ones. The per-channel
 * reductions run in work-groups over channel groups with a fixed local-memory tree
 * (cl/batchnorm.cl), so every result is deterministic; the rest is elementwise. */
#include <math.h>
#include <stdio.h>

#include "ops/op.h"

enum { K_STATS, K_FORWARD, K_BACKWARD_REDUCE, K_BACKWARD_DX };

/* Keras defaults. */
#define BATCHNORM_DEFAULT_MOMENTUM 0.99f
#define BATCHNORM_DEFAULT_EPSILON 1e-3f
/* Largest reduction work-group and channel group (see reduce_geometry_get). */
#define BATCHNORM_MAX_LOCAL 256u
#define BATCHNORM_MAX_GROUP 32u

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

/* Launch geometry of a per-channel reduction kernel (cl/batchnorm.cl). `local` is the largest
 * power of two within 256, the kernel's limit and the device's local memory (`floats_per_item`
 * local floats per work-item). `group` (G, channels per work-group) is the largest power of two
 * <= C / compute units, within 1..32 and `local`: a GPU (many compute units) gets one
 * work-group per channel, for parallelism; a CPU (few) gets rows of up to 32 adjacent channels
 * per work-group, so each core reads whole cache lines instead of one float per row. */
typedef struct reduce_geometry {
    size_t local, global;
    cl_uint group;
} reduce_geometry;

static mcl_status reduce_geometry_get(const mcl_node *node, const mcl_exec *ex, cl_kernel k,
                                      size_t floats_per_item, reduce_geometry *out,
                                      mcl_error *err) {
    mcl_context *ctx = ex->ctx;
    size_t kernel_max = 0;
    char what[96];
    snprintf(what, sizeof what, "%s: querying a reduction's work-group size", node->name);
    MCL_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                        sizeof kernel_max, &kernel_max, NULL),
               err, what);
    size_t limit = kernel_max < BATCHNORM_MAX_LOCAL ? kernel_max : BATCHNORM_MAX_LOCAL;
    size_t local_fit = (size_t)(ctx->info.local_mem_bytes / (floats_per_item * sizeof(float)));
    if (local_fit < limit) limit = local_fit;
    out->local = 1;
    while (out->local * 2 <= limit)
        out->local *= 2;

    uint32_t channels = node->in_shape.c;
    uint32_t units = ctx->info.compute_units > 0 ? ctx->info.compute_units : 1;
    size_t group_limit = channels / units;
    if (group_limit > BATCHNORM_MAX_GROUP) group_limit = BATCHNORM_MAX_GROUP;
    if (group_limit > out->local) group_limit = out->local;
    out->group = 1;
    while ((size_t)out->group * 2 <= group_limit)
        out->group *= 2;
    out->global = ((size_t)channels + out->group - 1) / out->group * out->local;
    return MCL_OK;
}

static mcl_status reduce_enqueue(const mcl_node *node, const mcl_exec *ex, cl_kernel k,
                                 const reduce_geometry *geo, mcl_error *err) {
    mcl_status st = mcl_enqueue_local(ex->ctx, k, 1, &geo->global, &geo->local, err);
    return st != MCL_OK ? mcl_error_prefix(err, "%s", node->name) : st;
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
        cl_kernel k = node->kernels[K_STATS];
        reduce_geometry geo;
        st = reduce_geometry_get(node, ex, k, 1, &geo, err);
        if (st == MCL_OK)
            st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(rows), MCL_ARG(channels),
                              MCL_ARG(geo.group), MCL_ARG(momentum), MCL_ARG(epsilon),
                              MCL_ARG(ex->state), MCL_ARG(state_offset), MCL_ARG(node->aux),
                              MCL_LOCAL_ARG(geo.local * sizeof(float)));
        if (st == MCL_OK) st = reduce_enqueue(node, ex, k, &geo, err);
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
    cl_kernel k = node->kernels[K_BACKWARD_REDUCE];
    cl_int relu = node->fused_relu ? 1 : 0;
    reduce_geometry geo;
    mcl_status st = reduce_geometry_get(node, ex, k, 2, &geo, err);
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(node->y),
                          MCL_ARG(relu), MCL_ARG(rows), MCL_ARG(channels), MCL_ARG(geo.group),
                          MCL_ARG(node->aux), MCL_ARG(ex->grads), MCL_ARG(param_offset),
                          MCL_LOCAL_ARG(2 * geo.local * sizeof(float)));
    if (st == MCL_OK) st = reduce_enqueue(node, ex, k, &geo, err);
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
    .kernel_names = {"batchnorm_stats", "batchnorm_forward", "batchnorm_backward_reduce",
                     "batchnorm_backward_dx"},
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = batchnorm_reference_forward,
    /* Batch 4 in the harness: 80 rows per channel for the image, 4 for the flat input. The
     * momentum is low so that one training forward moves the state visibly. */
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
        },
};
