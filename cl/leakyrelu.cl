/* LeakyReLU over `count` elements: y = x for x > 0, alpha * x otherwise. The derivative at 0 is
 * taken as alpha (the x <= 0 branch), matching the forward's choice. */
__kernel void leakyrelu_forward(__global const float *x, __global float *y, uint count,
                                float alpha) {
    uint i = get_global_id(0);
    if (i >= count) return;
    float v = x[i];
    y[i] = v > 0.0f ? v : alpha * v;
}

__kernel void leakyrelu_backward(__global const float *x, __global const float *dy,
                                 __global float *dx, uint count, float alpha) {
    uint i = get_global_id(0);
    if (i >= count) return;
    float g = dy[i];
    dx[i] = x[i] > 0.0f ? g : alpha * g;
}
