/* GlobalAveragePooling2D over channels-last tensors. x, dx: [n, H*W, C]; y, dy: [n, C]. */

/* One work-item per (c, sample) sums the H*W positions in order (deterministic) and divides.
 * Global size: (C, n). */
__kernel void globalavgpool_forward(__global const float *x, __global float *y, uint C,
                                    uint spatial) {
    uint c = get_global_id(0), n = get_global_id(1);
    if (c >= C) return;
    __global const float *xs = x + (size_t)n * spatial * C + c;
    float acc = 0.0f;
    for (uint p = 0; p < spatial; p++) acc += xs[(size_t)p * C];
    y[(size_t)n * C + c] = acc / (float)spatial;
}

/* dx[n, p, c] = dy[n, c] / (H*W): one work-item per input element. Global size: (count). */
__kernel void globalavgpool_backward(__global const float *dy, __global float *dx, uint count,
                                     uint C, uint spatial) {
    uint i = get_global_id(0);
    if (i >= count) return;
    uint c = i % C, n = i / C / spatial;
    dx[i] = dy[(size_t)n * C + c] / (float)spatial;
}
