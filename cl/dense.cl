/* Dense layer epilogues around the SGEMM (y = x W is the GEMM, src/device/gemm.c; these add
 * the rest).
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

/* The bias gradient, in two deterministic stages (a fixed order of additions, no atomics):
 * dense_bias_act_backward turns dy into dz = dy * act'(y) in place and sums column c over row
 * chunk j (rows j*R .. j*R+R-1) into partial[j, c]; dense_bias_grad_finish adds the chunks in
 * order, grads[bias_offset + c] += sum_j partial[j, c]. One work-item per column walking all
 * of a conv layer's 36864 rows took 1 ms on PoCL (32 work-items for 2 cores to share).
 * Global sizes: (out, ceil(n / R)) and (out). */
__kernel void dense_bias_act_backward(__global float *dy, __global const float *y, uint n,
                                      uint out, uint rows_per_chunk, int activation,
                                      __global float *partial) {
    uint c = get_global_id(0), j = get_global_id(1);
    uint first = j * rows_per_chunk, end = min(first + rows_per_chunk, n);
    float acc = 0.0f;
    for (uint r = first; r < end; r++) {
        size_t i = (size_t)r * out + c;
        float g = dy[i];
        if (activation == 1 && !(y[i] > 0.0f)) g = 0.0f;
        dy[i] = g;
        acc += g;
    }
    partial[(size_t)j * out + c] = acc;
}

__kernel void dense_bias_grad_finish(__global const float *partial, uint chunks, uint out,
                                     __global float *grads, uint bias_offset) {
    uint c = get_global_id(0);
    float acc = 0.0f;
    for (uint j = 0; j < chunks; j++)
        acc += partial[(size_t)j * out + c];
    grads[bias_offset + c] += acc;
}
