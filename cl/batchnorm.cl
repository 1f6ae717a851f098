/* Batch normalisation over an activation seen as an [M, C] row-major matrix (M = N*H*W rows,
 * C channels; a flat input has H = W = 1, so C is its features).
 *
 * Reductions (batch statistics in forward; sum(dy) and sum(dy * xhat) in backward) run one
 * work-group per group of G adjacent channels, G a power of two chosen by the host. With
 * R = local size / G row lanes, work-item `lid` owns channel group_id * G + lid % G and the
 * contiguous row block lid / G of ceil(M / R) rows: neighbouring work-items read neighbouring
 * floats of a row, and each walks memory with a constant stride (cache and prefetch friendly on
 * CPUs). The R per-lane partial sums are combined by a fixed local-memory tree, so results do
 * not depend on scheduling. The local size must be a power of two and a multiple of G;
 * work-items of channels >= C take part in the barriers with zero sums.
 *
 * The elementwise kernels run over a (C, M) global range: no division per element, and
 * neighbouring work-items share their per-channel values and read contiguous memory.
 *
 * aux holds [4, C] floats: mean and inv_std (written by forward, read by backward), then
 * sum(dy) and sum(dy * xhat) (written by batchnorm_backward_reduce for batchnorm_backward_dx). */

/* Adds scratch[lid + s] into scratch[lid] for s = size/2, size/4, ..., G: afterwards
 * scratch[j] (j < G) holds the total of channel j of the group. Every work-item must call it. */
static inline void batchnorm_tree(__local float *scratch, uint lid, uint size, uint group) {
    for (uint s = size / 2; s >= group; s /= 2) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Training forward, reduction part: batch mean and biased variance of each channel (two passes
 * over x, for accuracy), saved to aux as mean and 1 / sqrt(var + epsilon), and the moving
 * averages in state[state_offset ..] ([2, C]: moving mean, moving variance) updated, the
 * variance with the unbiased estimate var * M / (M - 1) (as TensorFlow's fused kernel and
 * PyTorch). Local size: power of two; scratch: local size floats. Global: groups * local. */
__kernel void batchnorm_stats(__global const float *x, uint rows, uint channels, uint group,
                              float momentum, float epsilon, __global float *state,
                              uint state_offset, __global float *aux, __local float *scratch) {
    uint lid = get_local_id(0), size = get_local_size(0);
    uint lanes = size / group, chunk = (rows + lanes - 1) / lanes;
    uint first = lid / group * chunk, end = min(first + chunk, rows);
    uint c = get_group_id(0) * group + lid % group;
    bool active = c < channels;

    float sum = 0.0f;
    if (active)
        for (uint r = first; r < end; r++)
            sum += x[(size_t)r * channels + c];
    scratch[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    batchnorm_tree(scratch, lid, size, group);
    float mean = scratch[lid % group] / (float)rows;
    barrier(CLK_LOCAL_MEM_FENCE); /* every work-item has its mean before scratch is reused */

    float squares = 0.0f;
    if (active)
        for (uint r = first; r < end; r++) {
            float d = x[(size_t)r * channels + c] - mean;
            squares += d * d;
        }
    scratch[lid] = squares;
    barrier(CLK_LOCAL_MEM_FENCE);
    batchnorm_tree(scratch, lid, size, group);

    if (lid < group && active) {
        float var = scratch[lid] / (float)rows;
        aux[c] = mean;
        aux[channels + c] = 1.0f / sqrt(var + epsilon);
        float unbiased = rows > 1 ? var * ((float)rows / (float)(rows - 1)) : var;
        __global float *moving = state + state_offset;
        moving[c] = momentum * moving[c] + (1.0f - momentum) * mean;
        moving[channels + c] = momentum * moving[channels + c] + (1.0f - momentum) * unbiased;
    }
}

/* y = gamma * (x - mean) * inv_std + beta, then max(y, 0) with `relu` (a ReLU layer after the
 * BatchNorm runs here, src/graph/graph.c). Training: `stats` is aux (mean, inv_std).
 * Inference (from_variance = 1): `stats` is the layer's moving statistics (mean, variance) at
 * stats_offset, and inv_std = 1 / sqrt(variance + epsilon). params[param_offset ..]: gamma [C],
 * beta [C]. Global size: (C, M). */
__kernel void batchnorm_forward(__global const float *x, __global float *y, uint channels,
                                __global const float *params, uint param_offset,
                                __global const float *stats, uint stats_offset, int from_variance,
                                float epsilon, int relu) {
    uint c = get_global_id(0);
    size_t i = (size_t)get_global_id(1) * channels + c;
    float mean = stats[stats_offset + c], spread = stats[stats_offset + channels + c];
    float inv_std = from_variance ? 1.0f / sqrt(spread + epsilon) : spread;
    float gamma = params[param_offset + c], beta = params[param_offset + channels + c];
    float v = gamma * ((x[i] - mean) * inv_std) + beta;
    y[i] = relu ? fmax(v, 0.0f) : v;
}

/* dy through a fused ReLU (relu set: y is the ReLU's output) as the ReLU layer's backward does:
 * the derivative at 0 is 0. */
static inline float batchnorm_dy(__global const float *dy, __global const float *y, size_t i, int relu) {
    return relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
}

/* Backward, reduction part: per channel sum(dy) and sum(dy * xhat) with xhat recomputed from x
 * and the saved mean and inv_std (dy through the fused ReLU, if any). Accumulates dgamma += sum(dy * xhat), dbeta += sum(dy) into
 * grads[param_offset ..] and saves both sums to aux for batchnorm_backward_dx.
 * Local size: power of two; scratch: 2 * local size floats. Global: groups * local. */
__kernel void batchnorm_backward_reduce(__global const float *x, __global const float *dy,
                                        __global const float *y, int relu, uint rows,
                                        uint channels, uint group, __global float *aux,
                                        __global float *grads, uint param_offset,
                                        __local float *scratch) {
    uint lid = get_local_id(0), size = get_local_size(0);
    uint lanes = size / group, chunk = (rows + lanes - 1) / lanes;
    uint first = lid / group * chunk, end = min(first + chunk, rows);
    uint c = get_group_id(0) * group + lid % group;
    bool active = c < channels;

    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
    if (active) {
        float mean = aux[c], inv_std = aux[channels + c];
        for (uint r = first; r < end; r++) {
            size_t i = (size_t)r * channels + c;
            float g = batchnorm_dy(dy, y, i, relu);
            sum_dy += g;
            sum_dy_xhat += g * ((x[i] - mean) * inv_std);
        }
    }
    __local float *dy_part = scratch, *dy_xhat_part = scratch + size;
    dy_part[lid] = sum_dy;
    dy_xhat_part[lid] = sum_dy_xhat;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = size / 2; s >= group; s /= 2) {
        if (lid < s) {
            dy_part[lid] += dy_part[lid + s];
            dy_xhat_part[lid] += dy_xhat_part[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    if (lid < group && active) {
        aux[2 * channels + c] = dy_part[lid];
        aux[3 * channels + c] = dy_xhat_part[lid];
        grads[param_offset + c] += dy_xhat_part[lid];
        grads[param_offset + channels + c] += dy_part[lid];
    }
}

/* dx = gamma * inv_std * (dy - (sum(dy) + xhat * sum(dy * xhat)) / M), from the sums
 * batchnorm_backward_reduce left in aux. Global size: (C, M). */
__kernel void batchnorm_backward_dx(__global const float *x, __global const float *dy,
                                    __global const float *y, int relu, __global float *dx,
                                    uint channels, float inv_rows, __global const float *params,
                                    uint param_offset, __global const float *aux) {
    uint c = get_global_id(0);
    size_t i = (size_t)get_global_id(1) * channels + c;
    float mean = aux[c], inv_std = aux[channels + c];
    float sum_dy = aux[2 * channels + c], sum_dy_xhat = aux[3 * channels + c];
    float xhat = (x[i] - mean) * inv_std;
    float gamma = params[param_offset + c];
    float g = batchnorm_dy(dy, y, i, relu);
    dx[i] = gamma * inv_std * (g - (sum_dy + xhat * sum_dy_xhat) * inv_rows);
}
