/* MaxPooling2D over channels-last tensors. x: [n, H, W, C]; y, argmax: [n, OH, OW, C].
 * Window (oh, ow) covers input rows oh*sh - pad_top .. + kh - 1 and columns likewise; rows and
 * columns outside the input are padding and never win (as -inf). Ties go to the first maximum in
 * scan order (smallest row, then smallest column), so forward, its saved argmax and the gradient
 * are deterministic. argmax holds h*W + w of the winner within its sample, -1 for a window with
 * no input element (impossible with Keras 'valid'/'same' geometry; kept for safety). */

/* The window of output element i (channels-last [n, OH, OW, C]): its sample n, channel c and
 * the input rows [h_lo, h_hi) and columns [w_lo, w_hi) it covers, padding clipped away. */
typedef struct pool_window {
    uint n, c;
    int h_lo, h_hi, w_lo, w_hi;
} pool_window;

static inline pool_window maxpool_window(uint i, uint C, uint H, uint W, uint OH, uint OW, uint kh,
                                 uint kw, uint sh, uint sw, uint pad_top, uint pad_left) {
    pool_window p;
    p.c = i % C;
    uint t = i / C;
    uint ow = t % OW;
    t /= OW;
    uint oh = t % OH;
    p.n = t / OH;
    int h0 = (int)(oh * sh) - (int)pad_top, w0 = (int)(ow * sw) - (int)pad_left;
    p.h_lo = max(h0, 0);
    p.h_hi = min(h0 + (int)kh, (int)H);
    p.w_lo = max(w0, 0);
    p.w_hi = min(w0 + (int)kw, (int)W);
    return p;
}

/* One work-item per output element. Global size: (n * OH * OW * C). */
__kernel void maxpool_forward(__global const float *x, __global float *y, __global int *argmax,
                              uint count, uint C, uint H, uint W, uint OH, uint OW, uint kh,
                              uint kw, uint sh, uint sw, uint pad_top, uint pad_left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    pool_window p = maxpool_window(i, C, H, W, OH, OW, kh, kw, sh, sw, pad_top, pad_left);
    __global const float *xs = x + (size_t)p.n * H * W * C + p.c;
    float best = 0.0f;
    int arg = -1;
    for (int h = p.h_lo; h < p.h_hi; h++) {
        for (int w = p.w_lo; w < p.w_hi; w++) {
            float v = xs[((size_t)h * W + w) * C];
            /* Strictly greater: an equal value later in the scan does not replace the first. */
            if (arg < 0 || v > best) {
                best = v;
                arg = h * (int)W + w;
            }
        }
    }
    y[i] = best;
    argmax[i] = arg;
}

/* Gather: one work-item per input element sums dy over the windows that contain it and whose
 * saved argmax is this element, in increasing (oh, ow) order. Global size: (n * H * W * C). */
__kernel void maxpool_backward(__global const int *argmax, __global const float *dy,
                               __global float *dx, uint count, uint C, uint H, uint W, uint OH,
                               uint OW, uint kh, uint kw, uint sh, uint sw, uint pad_top,
                               uint pad_left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    uint c = i % C, t = i / C;
    uint w = t % W;
    t /= W;
    uint h = t % H, n = t / H;
    /* Window o covers padded coordinate p = h + pad when o*s <= p < o*s + k. */
    uint hp = h + pad_top, wp = w + pad_left;
    uint oh_lo = hp >= kh ? (hp - kh) / sh + 1 : 0, oh_hi = min(hp / sh + 1, OH);
    uint ow_lo = wp >= kw ? (wp - kw) / sw + 1 : 0, ow_hi = min(wp / sw + 1, OW);
    int self = (int)(h * W + w);
    size_t base = (size_t)n * OH * OW;
    float acc = 0.0f;
    for (uint oh = oh_lo; oh < oh_hi; oh++) {
        for (uint ow = ow_lo; ow < ow_hi; ow++) {
            size_t o = ((base + (size_t)oh * OW) + ow) * C + c;
            if (argmax[o] == self) acc += dy[o];
        }
    }
    dx[i] = acc;
}

/* Scatter for windows that do not overlap (stride >= window in both directions): one work-item
 * per output element writes dy to its window's saved argmax and zero to the rest of its window,
 * so each input element is written exactly once and no element loops over windows. Inputs no
 * window covers (the remainder of a 'valid' pooling) are zeroed by the host beforehand.
 * Global size: (n * OH * OW * C). */
__kernel void maxpool_backward_tiled(__global const int *argmax, __global const float *dy,
                                     __global float *dx, uint count, uint C, uint H, uint W,
                                     uint OH, uint OW, uint kh, uint kw, uint sh, uint sw,
                                     uint pad_top, uint pad_left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    pool_window p = maxpool_window(i, C, H, W, OH, OW, kh, kw, sh, sw, pad_top, pad_left);
    int arg = argmax[i];
    float g = dy[i];
    __global float *ds = dx + (size_t)p.n * H * W * C + p.c;
    for (int h = p.h_lo; h < p.h_hi; h++)
        for (int w = p.w_lo; w < p.w_hi; w++)
            ds[((size_t)h * W + w) * C] = h * (int)W + w == arg ? g : 0.0f;
}

/* The same two kernels VEC_W channels at a time, for C % VEC_W == 0: work-item i takes output
 * position i / (C/VEC_W) and channels (i % (C/VEC_W)) * VEC_W .. + VEC_W-1 as vectors. Scalar
 * work-items with data-dependent window loops stayed scalar on PoCL (2.2 ms for the tutorial
 * CNN's first pool, forward, per step). Global size: (n * OH * OW * C / VEC_W). */
#ifndef VEC_W
#error "cl/maxpool.cl needs -DVEC_W (src/device/kernel_shapes.c)"
#endif
#define pool_vec MCL_VEC(VEC_W)
#define pool_ivec MCL_IVEC(VEC_W)

__kernel void maxpool_forward_vec(__global const float *x, __global float *y, __global int *argmax,
                                  uint count, uint C, uint H, uint W, uint OH, uint OW, uint kh,
                                  uint kw, uint sh, uint sw, uint pad_top, uint pad_left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    /* The window of the block's first channel; the others share it. */
    pool_window p =
        maxpool_window(i * VEC_W, C, H, W, OH, OW, kh, kw, sh, sw, pad_top, pad_left);
    __global const float *xs = x + (size_t)p.n * H * W * C + p.c;
    pool_vec best = 0.0f;
    pool_ivec arg = -1;
    for (int h = p.h_lo; h < p.h_hi; h++)
        for (int w = p.w_lo; w < p.w_hi; w++) {
            pool_vec v = MCL_VLOAD(VEC_W)(0, xs + ((size_t)h * W + w) * C);
            /* Strictly greater, as maxpool_forward: the first maximum wins a tie. */
            pool_ivec take = arg < 0 || v > best;
            best = select(best, v, take);
            arg = select(arg, (pool_ivec)(h * (int)W + w), take);
        }
    MCL_VSTORE(VEC_W)(best, i, y);
    MCL_VSTORE(VEC_W)(arg, i, argmax);
}

__kernel void maxpool_backward_tiled_vec(__global const int *argmax, __global const float *dy,
                                         __global float *dx, uint count, uint C, uint H, uint W,
                                         uint OH, uint OW, uint kh, uint kw, uint sh, uint sw,
                                         uint pad_top, uint pad_left) {
    uint i = get_global_id(0);
    if (i >= count) return;
    pool_window p =
        maxpool_window(i * VEC_W, C, H, W, OH, OW, kh, kw, sh, sw, pad_top, pad_left);
    pool_ivec arg = MCL_VLOAD(VEC_W)(i, argmax);
    pool_vec g = MCL_VLOAD(VEC_W)(i, dy);
    __global float *ds = dx + (size_t)p.n * H * W * C + p.c;
    for (int h = p.h_lo; h < p.h_hi; h++)
        for (int w = p.w_lo; w < p.w_hi; w++)
            MCL_VSTORE(VEC_W)(select((pool_vec)0.0f, g, arg == (pool_ivec)(h * (int)W + w)), 0,
                              ds + ((size_t)h * W + w) * C);
}
