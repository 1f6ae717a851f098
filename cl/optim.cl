/* Optimizer steps over the one flat parameter buffer: one launch updates every layer, and
 * zeroes each gradient as it consumes it, so the next backward needs no separate clearing pass
 * (the graph tracks that, src/graph/graph.c). A work-item updates VEC_SPAN vectors of VEC_W
 * floats (straight-line vector code: PoCL left the scalar form unvectorised), and the end of a
 * count that the vectors do not divide one float at a time. Global size:
 * ceil(count / (VEC_W * VEC_SPAN)).
 *
 * Decoupled weight decay (Keras's `weight_decay`, every optimizer) runs inside the update, as
 * Keras applies it just before: p -= p * decay, with decay = lr * weight_decay from the host
 * (skipped when 0, so a run without it is bit for bit what it was before decay existed).
 *
 * Gradient clipping (Keras's clipnorm, global_clipnorm, clipvalue) runs before the update: the
 * norms by a chunked reduction (one work-group per chunk of a tensor, then one work-item over
 * the chunks in order: a fixed order, so the result is deterministic), and the L2 regulariser's
 * gradient and loss term the same way. Chunk table: [chunks, 3] uint, a chunk's first float,
 * its length and the index of the tensor (segment) it belongs to; chunks of a tensor are
 * consecutive. */
#if !defined(VEC_W) || !defined(VEC_SPAN)
#error "cl/optim.cl needs -DVEC_W and -DVEC_SPAN (src/device/kernel_shapes.c)"
#endif
#define opt_vec MCL_VEC(VEC_W)
#define opt_load MCL_VLOAD(VEC_W)
#define opt_store MCL_VSTORE(VEC_W)

/* Keras Adam (and AdamW, which is Adam with weight decay): m += (g - m)(1 - b1);
 * v += (g^2 - v)(1 - b2); p -= lr_t m / (sqrt(v) + eps), where the host folds the bias
 * correction into lr_t = lr sqrt(1 - b2^t) / (1 - b1^t). */
VEC_KERNEL void adam_step(__global float *params, __global float *grads, __global float *m,
                          __global float *v, uint count, float lr_t, float beta1, float beta2,
                          float epsilon, float decay) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec g = opt_load(0, grads + j), mi = opt_load(0, m + j), vi = opt_load(0, v + j);
        mi += (g - mi) * (1.0f - beta1);
        vi += (g * g - vi) * (1.0f - beta2);
        opt_store(mi, 0, m + j);
        opt_store(vi, 0, v + j);
        opt_vec p = opt_load(0, params + j);
        if (decay != 0.0f) p -= p * decay;
        opt_store(p - lr_t * mi / (sqrt(vi) + epsilon), 0, params + j);
        opt_store((opt_vec)0.0f, 0, grads + j);
    }
    for (; j < end; j++) {
        float g = grads[j];
        m[j] += (g - m[j]) * (1.0f - beta1);
        v[j] += (g * g - v[j]) * (1.0f - beta2);
        float p = params[j];
        if (decay != 0.0f) p -= p * decay;
        params[j] = p - lr_t * m[j] / (sqrt(v[j]) + epsilon);
        grads[j] = 0.0f;
    }
}

/* Keras SGD: vel = momentum vel - lr g; then p += vel, or with Nesterov momentum
 * p += momentum vel - lr g (the new vel). */
VEC_KERNEL void sgd_step(__global float *params, __global float *grads, __global float *velocity,
                         uint count, float lr, float momentum, float decay, int nesterov) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec g = opt_load(0, grads + j);
        opt_vec vel = momentum * opt_load(0, velocity + j) - lr * g;
        opt_store(vel, 0, velocity + j);
        opt_vec p = opt_load(0, params + j);
        if (decay != 0.0f) p -= p * decay;
        if (nesterov)
            opt_store(p + (momentum * vel - lr * g), 0, params + j);
        else
            opt_store(p + vel, 0, params + j);
        opt_store((opt_vec)0.0f, 0, grads + j);
    }
    for (; j < end; j++) {
        float g = grads[j];
        float vel = momentum * velocity[j] - lr * g;
        velocity[j] = vel;
        float p = params[j];
        if (decay != 0.0f) p -= p * decay;
        params[j] = nesterov ? p + (momentum * vel - lr * g) : p + vel;
        grads[j] = 0.0f;
    }
}

/* Keras RMSprop: v = rho v + (1 - rho) g^2; centered: mg = rho mg + (1 - rho) g and the
 * denominator is v - mg^2 + eps, else v + eps (epsilon inside the square root, as Keras);
 * inc = lr g / sqrt(denominator); with momentum: m = momentum m + inc, p -= m; else p -= inc.
 * `m` and `mg` are only touched when use_momentum / centered say so (the host passes another
 * buffer in their place otherwise). */
VEC_KERNEL void rmsprop_step(__global float *params, __global float *grads, __global float *v,
                             __global float *m, __global float *mg, uint count, float lr,
                             float rho, float momentum, float epsilon, float decay, int centered,
                             int use_momentum) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec g = opt_load(0, grads + j);
        opt_vec vi = rho * opt_load(0, v + j) + (1.0f - rho) * (g * g);
        opt_store(vi, 0, v + j);
        opt_vec denominator;
        if (centered) {
            opt_vec mgi = rho * opt_load(0, mg + j) + (1.0f - rho) * g;
            opt_store(mgi, 0, mg + j);
            denominator = vi - mgi * mgi + epsilon;
        } else {
            denominator = vi + epsilon;
        }
        opt_vec inc = lr * g / sqrt(denominator);
        opt_vec p = opt_load(0, params + j);
        if (decay != 0.0f) p -= p * decay;
        if (use_momentum) {
            opt_vec mi = momentum * opt_load(0, m + j) + inc;
            opt_store(mi, 0, m + j);
            opt_store(p - mi, 0, params + j);
        } else {
            opt_store(p - inc, 0, params + j);
        }
        opt_store((opt_vec)0.0f, 0, grads + j);
    }
    for (; j < end; j++) {
        float g = grads[j];
        float vi = rho * v[j] + (1.0f - rho) * (g * g);
        v[j] = vi;
        float denominator;
        if (centered) {
            float mgi = rho * mg[j] + (1.0f - rho) * g;
            mg[j] = mgi;
            denominator = vi - mgi * mgi + epsilon;
        } else {
            denominator = vi + epsilon;
        }
        float inc = lr * g / sqrt(denominator);
        float p = params[j];
        if (decay != 0.0f) p -= p * decay;
        if (use_momentum) {
            float mi = momentum * m[j] + inc;
            m[j] = mi;
            params[j] = p - mi;
        } else {
            params[j] = p - inc;
        }
        grads[j] = 0.0f;
    }
}

/* Keras clipvalue: every gradient element clipped to [-limit, limit]. A NaN stays NaN (fmin
 * and fmax would replace it), so a diverging run is still reported. */
VEC_KERNEL void clip_by_value(__global float *grads, uint count, float limit) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec g = opt_load(0, grads + j);
        g = select(g, (opt_vec)limit, g > limit);
        g = select(g, (opt_vec)(-limit), g < -limit);
        opt_store(g, 0, grads + j);
    }
    for (; j < end; j++) {
        float g = grads[j];
        grads[j] = g > limit ? limit : g < -limit ? -limit : g;
    }
}

/* Tree sum of scratch[0 .. size) into scratch[0]; size is a power of two. */
static inline void local_sum(__local float *scratch, uint lid, uint size) {
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint stride = size / 2; stride > 0; stride /= 2) {
        if (lid < stride) scratch[lid] += scratch[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* partial[c] = sum of x^2 over chunk c. One work-group (a power of two) per chunk. */
__kernel void chunk_sumsq(__global const float *x, __global const uint *chunks,
                          __global float *partial, __local float *scratch) {
    uint c = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    uint first = chunks[3 * c], length = chunks[3 * c + 1];
    float s = 0.0f;
    for (uint i = lid; i < length; i += size) {
        float w = x[first + i];
        s += w * w;
    }
    scratch[lid] = s;
    local_sum(scratch, lid, size);
    if (lid == 0) partial[c] = scratch[0];
}

/* The L2 kernel regulariser over chunks of kernels: grads += two_l2 * w, and
 * partial[c] = sum of w^2 over chunk c (the weights before this step's update). */
__kernel void l2_grad_sumsq(__global const float *params, __global float *grads,
                            __global const uint *chunks, __global float *partial, float two_l2,
                            __local float *scratch) {
    uint c = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    uint first = chunks[3 * c], length = chunks[3 * c + 1];
    float s = 0.0f;
    for (uint i = lid; i < length; i += size) {
        float w = params[first + i];
        grads[first + i] += two_l2 * w;
        s += w * w;
    }
    scratch[lid] = s;
    local_sum(scratch, lid, size);
    if (lid == 0) partial[c] = scratch[0];
}

/* One work-item: metrics[2 slot] (a batch's loss sum) += scale * the sum of the partials, in
 * chunk order; scale = the batch's samples * l2. */
__kernel void l2_add_loss(__global const float *partial, uint chunks, __global float *metrics,
                          uint slot, float scale) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (uint c = 0; c < chunks; c++)
        s += partial[c];
    metrics[2 * slot] += scale * s;
}

/* Keras's clipping factor for a gradient of L2 norm `norm`: clipnorm / norm above clipnorm,
 * else 1 (exactly: an unclipped gradient is left as it is); a non-finite norm gives NaN, as
 * Keras's clip_by_global_norm does, so that divergence shows. */
static inline float clip_factor(float norm, float clipnorm) {
    if (!isfinite(norm)) return NAN;
    return norm > clipnorm ? clipnorm / norm : 1.0f;
}

/* One work-item: each segment's clipping factor from the chunks' sums of squares, per segment
 * (clipnorm: each variable on its own) or over all of them (global_clipnorm). */
__kernel void clip_norm_factors(__global const float *partial, __global const uint *chunks,
                                uint count, float clipnorm, int global_norm,
                                __global float *factors) {
    if (get_global_id(0) != 0) return;
    if (global_norm) {
        float total = 0.0f;
        for (uint c = 0; c < count; c++)
            total += partial[c];
        float f = clip_factor(sqrt(total), clipnorm);
        for (uint c = 0; c < count; c++)
            factors[chunks[3 * c + 2]] = f;
        return;
    }
    float sum = 0.0f;
    for (uint c = 0; c < count; c++) {
        sum += partial[c];
        uint segment = chunks[3 * c + 2];
        if (c + 1 == count || chunks[3 * (c + 1) + 2] != segment) {
            factors[segment] = clip_factor(sqrt(sum), clipnorm);
            sum = 0.0f;
        }
    }
}

/* grads *= factors[segment] over chunk c. One work-group per chunk. */
__kernel void chunk_scale(__global float *grads, __global const uint *chunks,
                          __global const float *factors) {
    uint c = get_group_id(0), lid = get_local_id(0), size = get_local_size(0);
    uint first = chunks[3 * c], length = chunks[3 * c + 1];
    float f = factors[chunks[3 * c + 2]];
    for (uint i = lid; i < length; i += size)
        grads[first + i] *= f;
}
