/* Optimizer steps over the one flat parameter buffer: one launch updates every layer.
 * Global size: (count). */

/* Keras Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); p -= lr_t m / (sqrt(v) + eps),
 * where the host folds the bias correction into lr_t = lr sqrt(1 - b2^t) / (1 - b1^t). */
__kernel void adam_step(__global float *params, __global const float *grads, __global float *m,
                        __global float *v, uint count, float lr_t, float beta1, float beta2,
                        float epsilon) {
    uint i = get_global_id(0);
    if (i >= count) return;
    float g = grads[i];
    float mi = m[i] + (g - m[i]) * (1.0f - beta1);
    float vi = v[i] + (g * g - v[i]) * (1.0f - beta2);
    m[i] = mi;
    v[i] = vi;
    params[i] -= lr_t * mi / (sqrt(vi) + epsilon);
}

/* Keras SGD with momentum (not Nesterov): vel = momentum vel - lr g; p += vel. */
__kernel void sgd_step(__global float *params, __global const float *grads,
                       __global float *velocity, uint count, float lr, float momentum) {
    uint i = get_global_id(0);
    if (i >= count) return;
    float vel = momentum * velocity[i] - lr * grads[i];
    velocity[i] = vel;
    params[i] += vel;
}
