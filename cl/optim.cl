/* Optimizer steps over the one flat parameter buffer: one launch updates every layer, and
 * zeroes each gradient as it consumes it, so the next backward needs no separate clearing pass
 * (the graph tracks that, src/graph/graph.c). A work-item updates VEC_SPAN vectors of VEC_W
 * floats (straight-line vector code: PoCL left the scalar form unvectorised), and the end of a
 * count that the vectors do not divide one float at a time. Global size:
 * ceil(count / (VEC_W * VEC_SPAN)). */
#if !defined(VEC_W) || !defined(VEC_SPAN)
#error "cl/optim.cl needs -DVEC_W and -DVEC_SPAN (src/device/kernel_shapes.c)"
#endif
#define opt_vec MCL_VEC(VEC_W)
#define opt_load MCL_VLOAD(VEC_W)
#define opt_store MCL_VSTORE(VEC_W)

/* Keras Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); p -= lr_t m / (sqrt(v) + eps),
 * where the host folds the bias correction into lr_t = lr sqrt(1 - b2^t) / (1 - b1^t). */
VEC_KERNEL void adam_step(__global float *params, __global float *grads, __global float *m,
                          __global float *v, uint count, float lr_t, float beta1, float beta2,
                          float epsilon) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec g = opt_load(0, grads + j), mi = opt_load(0, m + j), vi = opt_load(0, v + j);
        mi += (g - mi) * (1.0f - beta1);
        vi += (g * g - vi) * (1.0f - beta2);
        opt_store(mi, 0, m + j);
        opt_store(vi, 0, v + j);
        opt_store(opt_load(0, params + j) - lr_t * mi / (sqrt(vi) + epsilon), 0, params + j);
        opt_store((opt_vec)0.0f, 0, grads + j);
    }
    for (; j < end; j++) {
        float g = grads[j];
        m[j] += (g - m[j]) * (1.0f - beta1);
        v[j] += (g * g - v[j]) * (1.0f - beta2);
        params[j] -= lr_t * m[j] / (sqrt(v[j]) + epsilon);
        grads[j] = 0.0f;
    }
}

/* Keras SGD with momentum (not Nesterov): vel = momentum vel - lr g; p += vel. */
VEC_KERNEL void sgd_step(__global float *params, __global float *grads, __global float *velocity,
                         uint count, float lr, float momentum) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), j = first;
    for (; j + VEC_W <= end; j += VEC_W) {
        opt_vec vel = momentum * opt_load(0, velocity + j) - lr * opt_load(0, grads + j);
        opt_store(vel, 0, velocity + j);
        opt_store(opt_load(0, params + j) + vel, 0, params + j);
        opt_store((opt_vec)0.0f, 0, grads + j);
    }
    for (; j < end; j++) {
        float vel = momentum * velocity[j] - lr * grads[j];
        velocity[j] = vel;
        params[j] += vel;
        grads[j] = 0.0f;
    }
}
