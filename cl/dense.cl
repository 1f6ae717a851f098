/* Dense layer epilogues around CLBlast's SGEMM (y = x W is the GEMM; these add the rest).
 * Activation codes: 0 linear, 1 ReLU. */

/* y[n, out] += b[out], then the activation, in place. Global size: (out, n). */
__kernel void dense_bias_act_forward(__global float *y, __global const float *params,
                                     uint bias_offset, uint out, int activation) {
    uint c = get_global_id(0), r = get_global_id(1);
    if (c >= out) return;
    size_t i = (size_t)r * out + c;
    float v = y[i] + params[bias_offset + c];
    if (activation == 1) v = fmax(v, 0.0f);
    y[i] = v;
}

/* Turns dy into dz (the gradient before the activation) in place and accumulates the bias
 * gradient: grads[bias_offset + c] += sum_r dz[r, c]. One work-item per output column walks
 * the batch in order, so the sum is deterministic. Global size: (out). */
__kernel void dense_bias_act_backward(__global float *dy, __global const float *y,
                                      __global float *grads, uint bias_offset, uint n, uint out,
                                      int activation) {
    uint c = get_global_id(0);
    if (c >= out) return;
    float acc = 0.0f;
    for (uint r = 0; r < n; r++) {
        size_t i = (size_t)r * out + c;
        float g = dy[i];
        if (activation == 1 && !(y[i] > 0.0f)) g = 0.0f;
        dy[i] = g;
        acc += g;
    }
    grads[bias_offset + c] += acc;
}
