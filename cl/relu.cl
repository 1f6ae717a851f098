/* Standalone ReLU over `count` elements. The derivative at 0 is taken as 0 (as TensorFlow). */
__kernel void relu_forward(__global const float *x, __global float *y, uint count) {
    uint i = get_global_id(0);
    if (i < count) y[i] = fmax(x[i], 0.0f);
}

__kernel void relu_backward(__global const float *x, __global const float *dy, __global float *dx,
                            uint count) {
    uint i = get_global_id(0);
    if (i < count) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}
