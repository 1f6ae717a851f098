/* Standalone softmax over the channel axis: x, y, dy, dx are [rows, C] with rows = n * H * W.
 * One work-item per row walks its C values in order, so results are deterministic. */

/* y = exp(x - max) / sum exp(x - max). Global size: (rows). */
__kernel void softmax_forward(__global const float *x, __global float *y, uint rows, uint C) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    __global const float *z = x + (size_t)r * C;
    __global float *p = y + (size_t)r * C;
    float zmax = z[0];
    for (uint k = 1; k < C; k++) zmax = fmax(zmax, z[k]);
    softmax_row(z, zmax, p, C);
}

/* dx = y * (dy - sum_k dy_k y_k). Global size: (rows). */
__kernel void softmax_backward(__global const float *y, __global const float *dy,
                               __global float *dx, uint rows, uint C) {
    uint r = get_global_id(0);
    if (r >= rows) return;
    size_t base = (size_t)r * C;
    float dot = 0.0f;
    for (uint k = 0; k < C; k++) dot += dy[base + k] * y[base + k];
    for (uint k = 0; k < C; k++) dx[base + k] = y[base + k] * (dy[base + k] - dot);
}
