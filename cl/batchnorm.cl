/* Batch normalisation over an activation seen as an [M, C] row-major matrix (M = N*H*W rows,
 * C channels; a flat input has H = W = 1, so C is its features).
 *
 * Reductions (batch statistics in forward; sum(dy) and sum(dy * xhat) in backward) run in two
 * deterministic stages, as the bias gradient does (cl/dense.cl): a *_partial kernel reduces a
 * chunk of VEC_ROWS rows for VEC_W adjacent channels (one vector: whole cache lines, in vector
 * registers), and a *_finish kernel combines the chunks of each channel in order. The partial
 * results live in the context's scratch between the two launches. One work-group per channel
 * group walking every row, as before, read one float per row and ran at a tenth of memory speed
 * on PoCL. Channels that VEC_W does not divide are summed one by one in the last work-item.
 *
 * The elementwise kernels run over a (C, M) global range: no division per element, and
 * neighbouring work-items share their per-channel values and read contiguous memory.
 *
 * aux holds [4, C] floats: mean and inv_std (written by forward, read by backward), then
 * sum(dy) and sum(dy * xhat) (written by batchnorm_backward_finish for batchnorm_backward_dx). */
#if !defined(VEC_W) || !defined(VEC_ROWS)
#error "cl/batchnorm.cl needs -DVEC_W and -DVEC_ROWS (src/device/kernel_shapes.c)"
#endif
#define bn_vec MCL_VEC(VEC_W)
#define bn_load MCL_VLOAD(VEC_W)
#define bn_store MCL_VSTORE(VEC_W)

/* Chunk j's rows: [j * VEC_ROWS, min(rows, (j + 1) * VEC_ROWS)). */
static inline uint bn_chunk_end(uint j, uint rows) {
    return min(rows, (j + 1) * VEC_ROWS);
}

/* Training forward, stage 1: for chunk j, each channel's mean over the chunk and M2, the sum
 * of squared deviations from that mean (two passes over the chunk, which is in cache: the
 * variance never comes from a difference of large sums). partial: [2, chunks, C].
 * Global size: (ceil(C / VEC_W), chunks). */
VEC_KERNEL void batchnorm_stats_partial(__global const float *x, uint rows, uint channels,
                                        __global float *partial, uint chunks) {
    uint c0 = get_global_id(0) * VEC_W, j = get_global_id(1);
    uint first = j * VEC_ROWS, end = bn_chunk_end(j, rows);
    float inv_count = 1.0f / (float)(end - first);
    __global float *means = partial + (size_t)j * channels;
    __global float *m2s = partial + ((size_t)chunks + j) * channels;
    if (c0 + VEC_W <= channels) {
        bn_vec sum = 0.0f;
        for (uint r = first; r < end; r++)
            sum += bn_load(0, x + (size_t)r * channels + c0);
        bn_vec mean = sum * inv_count, m2 = 0.0f;
        for (uint r = first; r < end; r++) {
            bn_vec d = bn_load(0, x + (size_t)r * channels + c0) - mean;
            m2 = fma(d, d, m2);
        }
        bn_store(mean, 0, means + c0);
        bn_store(m2, 0, m2s + c0);
        return;
    }
    for (uint c = c0; c < channels; c++) {
        float sum = 0.0f;
        for (uint r = first; r < end; r++)
            sum += x[(size_t)r * channels + c];
        float mean = sum * inv_count, m2 = 0.0f;
        for (uint r = first; r < end; r++) {
            float d = x[(size_t)r * channels + c] - mean;
            m2 = fma(d, d, m2);
        }
        means[c] = mean;
        m2s[c] = m2;
    }
}

/* Stage 2, per channel: the chunks merged in order (Chan et al.'s pairwise update of count,
 * mean and M2), giving the batch mean and biased variance, saved to aux as mean and 1 /
 * sqrt(var + epsilon); the moving averages in state[state_offset ..] ([2, C]: moving mean,
 * moving variance) updated, the variance with the unbiased estimate var * M / (M - 1) (as
 * TensorFlow's fused kernel and PyTorch). Global size: (C). */
__kernel void batchnorm_stats_finish(__global const float *partial, uint chunks, uint rows,
                                     uint channels, float momentum, float epsilon,
                                     __global float *state, uint state_offset,
                                     __global float *aux) {
    uint c = get_global_id(0);
    if (c >= channels) return;
    float count = 0.0f, mean = 0.0f, m2 = 0.0f;
    for (uint j = 0; j < chunks; j++) {
        float n_b = (float)(bn_chunk_end(j, rows) - j * VEC_ROWS);
        float mean_b = partial[(size_t)j * channels + c];
        float m2_b = partial[((size_t)chunks + j) * channels + c];
        float total = count + n_b, delta = mean_b - mean;
        mean += delta * (n_b / total);
        m2 += m2_b + delta * delta * (count * n_b / total);
        count = total;
    }
    float var = m2 / (float)rows;
    aux[c] = mean;
    aux[channels + c] = 1.0f / sqrt(var + epsilon);
    float unbiased = rows > 1 ? var * ((float)rows / (float)(rows - 1)) : var;
    __global float *moving = state + state_offset;
    moving[c] = momentum * moving[c] + (1.0f - momentum) * mean;
    moving[channels + c] = momentum * moving[channels + c] + (1.0f - momentum) * unbiased;
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
static inline float batchnorm_dy(__global const float *dy, __global const float *y, size_t i,
                                 int relu) {
    return relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
}

/* Backward, stage 1: for chunk j, each channel's sum(dy) and sum(dy * xhat), xhat recomputed
 * from x and the saved mean and inv_std (dy through the fused ReLU, if any). partial:
 * [2, chunks, C]. Global size: (ceil(C / VEC_W), chunks). */
VEC_KERNEL void batchnorm_backward_partial(__global const float *x, __global const float *dy,
                                           __global const float *y, int relu, uint rows,
                                           uint channels, __global const float *aux,
                                           __global float *partial, uint chunks) {
    uint c0 = get_global_id(0) * VEC_W, j = get_global_id(1);
    uint first = j * VEC_ROWS, end = bn_chunk_end(j, rows);
    __global float *dys = partial + (size_t)j * channels;
    __global float *dy_xhats = partial + ((size_t)chunks + j) * channels;
    if (c0 + VEC_W <= channels) {
        bn_vec mean = bn_load(0, aux + c0), inv_std = bn_load(0, aux + channels + c0);
        bn_vec sum_dy = 0.0f, sum_dy_xhat = 0.0f;
        for (uint r = first; r < end; r++) {
            size_t i = (size_t)r * channels + c0;
            bn_vec g = bn_load(0, dy + i);
            if (relu) g = select((bn_vec)0.0f, g, bn_load(0, y + i) > 0.0f);
            sum_dy += g;
            sum_dy_xhat = fma(g, (bn_load(0, x + i) - mean) * inv_std, sum_dy_xhat);
        }
        bn_store(sum_dy, 0, dys + c0);
        bn_store(sum_dy_xhat, 0, dy_xhats + c0);
        return;
    }
    for (uint c = c0; c < channels; c++) {
        float mean = aux[c], inv_std = aux[channels + c], sum_dy = 0.0f, sum_dy_xhat = 0.0f;
        for (uint r = first; r < end; r++) {
            size_t i = (size_t)r * channels + c;
            float g = batchnorm_dy(dy, y, i, relu);
            sum_dy += g;
            sum_dy_xhat = fma(g, (x[i] - mean) * inv_std, sum_dy_xhat);
        }
        dys[c] = sum_dy;
        dy_xhats[c] = sum_dy_xhat;
    }
}

/* Stage 2, per channel: the chunks' sums added in order, saved to aux for
 * batchnorm_backward_dx, and dgamma += sum(dy * xhat), dbeta += sum(dy) accumulated into
 * grads[param_offset ..]. Global size: (C). */
__kernel void batchnorm_backward_finish(__global const float *partial, uint chunks,
                                        uint channels, __global float *aux,
                                        __global float *grads, uint param_offset) {
    uint c = get_global_id(0);
    if (c >= channels) return;
    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
    for (uint j = 0; j < chunks; j++) {
        sum_dy += partial[(size_t)j * channels + c];
        sum_dy_xhat += partial[((size_t)chunks + j) * channels + c];
    }
    aux[2 * channels + c] = sum_dy;
    aux[3 * channels + c] = sum_dy_xhat;
    grads[param_offset + c] += sum_dy_xhat;
    grads[param_offset + channels + c] += sum_dy;
}

/* dx = gamma * inv_std * (dy - (sum(dy) + xhat * sum(dy * xhat)) / M), from the sums
 * batchnorm_backward_finish left in aux. Global size: (C, M). */
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
