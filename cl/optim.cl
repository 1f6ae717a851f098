/* Optimizer steps over the one flat parameter buffer: one launch updates every layer, and
 * zeroes each gradient as it consumes it, so the next backward needs no separate clearing pass
 * (the graph tracks that, src/graph/graph.c). Four floats per work-item (the buffer is padded
 * to a multiple of 64); straight-line code that PoCL vectorises. Global size: (count / 4). */

/* Keras Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); p -= lr_t m / (sqrt(v) + eps),
 * where the host folds the bias correction into lr_t = lr sqrt(1 - b2^t) / (1 - b1^t). */
__kernel void adam_step(__global float *params, __global float *grads, __global float *m,
                        __global float *v, float lr_t, float beta1, float beta2, float epsilon) {
    uint i = get_global_id(0);
    float4 g = vload4(i, grads), mi = vload4(i, m), vi = vload4(i, v);
    mi += (g - mi) * (1.0f - beta1);
    vi += (g * g - vi) * (1.0f - beta2);
    vstore4(mi, i, m);
    vstore4(vi, i, v);
    vstore4(vload4(i, params) - lr_t * mi / (sqrt(vi) + epsilon), i, params);
    vstore4((float4)0.0f, i, grads);
}

/* Keras SGD with momentum (not Nesterov): vel = momentum vel - lr g; p += vel. */
__kernel void sgd_step(__global float *params, __global float *grads, __global float *velocity,
                       float lr, float momentum) {
    uint i = get_global_id(0);
    float4 vel = momentum * vload4(i, velocity) - lr * vload4(i, grads);
    vstore4(vel, i, velocity);
    vstore4(vload4(i, params) + vel, i, params);
    vstore4((float4)0.0f, i, grads);
}
