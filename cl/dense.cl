/* Dense layer epilogues around the SGEMM (y = x W is the GEMM, src/device/gemm.c; these add
 * the rest; conv2d's im2col path uses them too; src/ops/bias_act.c launches them).
 * Activation codes: 0 linear, 1 ReLU. */
#ifndef VEC_W
#error "cl/dense.cl needs -DVEC_W (src/device/kernel_shapes.c)"
#endif
#define dense_vec MCL_VEC(VEC_W)
#define dense_load MCL_VLOAD(VEC_W)
#define dense_store MCL_VSTORE(VEC_W)

/* y[n, out] += b[out], then the activation, in place. One element per work-item: without a
 * loop PoCL vectorises across work-items by itself (VEC_W columns per work-item took twice as
 * long). Global size: (out, n). */
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
 * dense_bias_act_backward turns dy into dz = dy * act'(y) in place and sums columns c0 ..
 * c0 + VEC_W - 1 over row chunk j (rows j*R .. j*R+R-1) into partial[j, c]; then
 * dense_bias_grad_finish adds the chunks in order, grads[bias_offset + c] += sum_j partial[j,
 * c]. One work-item per column walking all of a conv layer's 36864 rows took 1 ms on PoCL.
 * A dense layer's batch is one chunk: with `accumulate` the kernel adds its sums into
 * partial[partial_offset + c] (the gradient itself) and the finish is not needed.
 * Global sizes: (ceil(out / VEC_W), ceil(n / R)) and (out). */
VEC_KERNEL void dense_bias_act_backward(__global float *dy, __global const float *y, uint n,
                                      uint out, uint rows_per_chunk, int activation,
                                      __global float *partial, uint partial_offset,
                                      int accumulate) {
    uint c0 = get_global_id(0) * VEC_W, j = get_global_id(1);
    uint first = j * rows_per_chunk, end = min(first + rows_per_chunk, n);
    partial += partial_offset;
    if (c0 + VEC_W <= out) {
        dense_vec acc = 0.0f;
        for (uint r = first; r < end; r++) {
            size_t i = (size_t)r * out + c0;
            dense_vec g = dense_load(0, dy + i);
            if (activation == 1) g = select((dense_vec)0.0f, g, dense_load(0, y + i) > 0.0f);
            dense_store(g, 0, dy + i);
            acc += g;
        }
        __global float *sum = partial + (size_t)j * out + c0;
        if (accumulate) acc += dense_load(0, sum);
        dense_store(acc, 0, sum);
        return;
    }
    for (uint c = c0; c < out; c++) {
        float acc = 0.0f;
        for (uint r = first; r < end; r++) {
            size_t i = (size_t)r * out + c;
            float g = dy[i];
            if (activation == 1 && !(y[i] > 0.0f)) g = 0.0f;
            dy[i] = g;
            acc += g;
        }
        partial[(size_t)j * out + c] = accumulate ? partial[(size_t)j * out + c] + acc : acc;
    }
}

__kernel void dense_bias_grad_finish(__global const float *partial, uint chunks, uint out,
                                     __global float *grads, uint bias_offset) {
    uint c = get_global_id(0);
    float acc = 0.0f;
    for (uint j = 0; j < chunks; j++)
        acc += partial[(size_t)j * out + c];
    grads[bias_offset + c] += acc;
}
