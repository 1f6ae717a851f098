/* ZeroPadding2D over channels-last tensors. x, dx: [n, H, W, C]; y, dy: [n, OH, OW, C] with
 * OH = H + top + bottom, OW = W + left + right. */

/* One work-item per output element: the input element it covers, or zero. Global size: (count
 * = n * OH * OW * C). */
__kernel void zeropad_forward(__global const float *x, __global float *y, uint count, uint C,
                              uint H, uint W, uint OH, uint OW, uint top, uint left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    uint c = i % C, t = i / C;
    uint ow = t % OW;
    t /= OW;
    uint oh = t % OH, n = t / OH;
    /* Unsigned wrap-around sends rows and columns before the input past its end too. */
    uint h = oh - top, w = ow - left;
    y[i] = (h < H && w < W) ? x[(((size_t)n * H + h) * W + w) * C + c] : 0.0f;
}

/* Crops dy back to the input: one work-item per input element. Global size: (n * H * W * C). */
__kernel void zeropad_backward(__global const float *dy, __global float *dx, uint count, uint C,
                               uint H, uint W, uint OH, uint OW, uint top, uint left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    uint c = i % C, t = i / C;
    uint w = t % W;
    t /= W;
    uint h = t % H, n = t / H;
    dx[i] = dy[(((size_t)n * OH + h + top) * OW + w + left) * C + c];
}
