/* Conv2D as im2col + GEMM (the GEMM is CLBlast's; the bias and activation epilogues are
 * dense_bias_act_* from dense.cl, since a [N, OH, OW, F] output is an [N*OH*OW, F] matrix).
 *
 * x: [N, H, W, C] (channels-last). col: [M = N*OH*OW, K = KH*KW*C], column (kh*KW + kw)*C + c,
 * which is the row order of Keras's kernel [KH, KW, C, F] seen as a [K, F] matrix.
 * Padding: PT rows above, PL columns to the left (the rest, if any, is below / to the right). */

/* col[m, (kh, kw, c)] = x[n, oh*SH - PT + kh, ow*SW - PL + kw, c], or 0 in the padding. One
 * work-item copies the KW*C contiguous values of one kernel row. (KH is unused: the argument
 * list is shared with col2im.) Global size: (KH, M). */
__kernel void conv2d_im2col(__global const float *x, __global float *col, uint C, uint H, uint W,
                            uint KH, uint KW, uint SH, uint SW, uint PT, uint PL, uint OH,
                            uint OW, uint K) {
    uint kh = get_global_id(0), m = get_global_id(1);
    uint ow = m % OW, oh = (m / OW) % OH, n = m / (OW * OH);
    int ih = (int)(oh * SH + kh) - (int)PT;
    bool row_ok = ih >= 0 && ih < (int)H;
    __global float *dst = col + (size_t)m * K + (size_t)kh * KW * C;
    for (uint kw = 0; kw < KW; kw++) {
        int iw = (int)(ow * SW + kw) - (int)PL;
        if (row_ok && iw >= 0 && iw < (int)W) {
            __global const float *src = x + (((size_t)n * H + (uint)ih) * W + (uint)iw) * C;
            for (uint c = 0; c < C; c++) dst[kw * C + c] = src[c];
        } else {
            for (uint c = 0; c < C; c++) dst[kw * C + c] = 0.0f;
        }
    }
}

/* The adjoint of im2col as a gather (no atomics, a fixed summation order):
 * dx[n, ih, iw, c] = sum of dcol[(n, oh, ow), (kh, kw, c)] over the (kh, kw) whose window
 * position (oh, ow) lands on (ih, iw). Global size: (C, W, N*H). */
__kernel void conv2d_col2im(__global const float *dcol, __global float *dx, uint C, uint H,
                            uint W, uint KH, uint KW, uint SH, uint SW, uint PT, uint PL,
                            uint OH, uint OW, uint K) {
    uint c = get_global_id(0), iw = get_global_id(1), nih = get_global_id(2);
    uint n = nih / H, ih = nih % H;
    float acc = 0.0f;
    for (uint kh = 0; kh < KH; kh++) {
        int th = (int)(ih + PT) - (int)kh; /* = oh * SH */
        if (th < 0 || th % (int)SH != 0 || (uint)th / SH >= OH) continue;
        uint oh = (uint)th / SH;
        for (uint kw = 0; kw < KW; kw++) {
            int tw = (int)(iw + PL) - (int)kw;
            if (tw < 0 || tw % (int)SW != 0 || (uint)tw / SW >= OW) continue;
            size_t m = ((size_t)n * OH + oh) * OW + (uint)tw / SW;
            acc += dcol[m * K + (kh * KW + kw) * C + c];
        }
    }
    dx[(((size_t)n * H + ih) * W + iw) * C + c] = acc;
}

/* ---- Direct kernels: the convolution without a column matrix, 16 channels at a time.
 * Each work-item keeps CONV_RW (or CONV_RC) float16 accumulators: one weight row (16 filters)
 * is loaded per input value and reused for CONV_RW output pixels, so the inner loop is vector
 * FMAs with scalar broadcasts, which the CPU backends turn into AVX-512/AVX2 code and GPUs
 * run as plain arithmetic. The host uses them when the 16-wide dimension divides evenly (F for
 * forward and the filter gradient, C for the input gradient) and im2col + GEMM otherwise.
 * Taps in the padding read a clamped, valid address and are multiplied by 0. */
#define CONV_RW 4
#define CONV_RC 8

/* y[n, oh, ow0 .. ow0+RW-1, f0 .. f0+15] = act(b + sum over kh, kw, c of x * W).
 * Global size: (F/16, ceil(OW/RW), N*OH). */
__kernel void conv2d_forward_direct(__global const float *x, __global const float *params,
                                    uint w_offset, uint b_offset, __global float *y, uint C,
                                    uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PT,
                                    uint PL, uint OH, uint OW, uint F, int activation) {
    uint f0 = get_global_id(0) * 16, ow0 = get_global_id(1) * CONV_RW, noh = get_global_id(2);
    if (f0 >= F || ow0 >= OW) return;
    uint n = noh / OH, oh = noh % OH;
    float16 bias = vload16(0, params + b_offset + f0);
    float16 acc[CONV_RW];
    for (int r = 0; r < CONV_RW; r++) acc[r] = bias;
    for (uint kh = 0; kh < KH; kh++) {
        int ih = (int)(oh * SH + kh) - (int)PT;
        if (ih < 0 || ih >= (int)H) continue;
        __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C;
        for (uint kw = 0; kw < KW; kw++) {
            uint off[CONV_RW];
            float mask[CONV_RW];
            for (int r = 0; r < CONV_RW; r++) {
                int iw = (int)((ow0 + r) * SW + kw) - (int)PL;
                bool ok = ow0 + r < OW && iw >= 0 && iw < (int)W;
                off[r] = ok ? (uint)iw * C : 0;
                mask[r] = ok ? 1.0f : 0.0f;
            }
            __global const float *wk = params + w_offset + (size_t)(kh * KW + kw) * C * F + f0;
            for (uint c = 0; c < C; c++) {
                float16 wv = vload16(0, wk + (size_t)c * F);
                for (int r = 0; r < CONV_RW; r++)
                    acc[r] = fma((float16)(xrow[off[r] + c] * mask[r]), wv, acc[r]);
            }
        }
    }
    for (int r = 0; r < CONV_RW && ow0 + r < OW; r++) {
        float16 v = acc[r];
        if (activation == 1) v = fmax(v, 0.0f);
        vstore16(v, 0, y + (((size_t)n * OH + oh) * OW + ow0 + r) * F + f0);
    }
}

/* wt[kh, kw, f, c] = W[kh, kw, c, f]: the weights with channels innermost, for the input
 * gradient. Global size: (C, F, KH*KW). */
__kernel void conv2d_transpose_weights(__global const float *params, uint w_offset,
                                       __global float *wt, uint C, uint F) {
    uint c = get_global_id(0), f = get_global_id(1), k = get_global_id(2);
    wt[((size_t)k * F + f) * C + c] = params[w_offset + ((size_t)k * C + c) * F + f];
}

/* dx[n, ih, iw0 .. iw0+RW-1, c0 .. c0+15] = sum over the (kh, kw) that reach (ih, iw) from an
 * output position (oh, ow), and over f, of dz[n, oh, ow, f] * W[kh, kw, c, f].
 * Global size: (C/16, ceil(W/RW), N*H). */
__kernel void conv2d_backward_data_direct(__global const float *dz, __global const float *wt,
                                          __global float *dx, uint C, uint H, uint W, uint KH,
                                          uint KW, uint SH, uint SW, uint PT, uint PL, uint OH,
                                          uint OW, uint F) {
    uint c0 = get_global_id(0) * 16, iw0 = get_global_id(1) * CONV_RW, nih = get_global_id(2);
    if (c0 >= C || iw0 >= W) return;
    uint n = nih / H, ih = nih % H;
    float16 acc[CONV_RW];
    for (int r = 0; r < CONV_RW; r++) acc[r] = (float16)(0.0f);
    for (uint kh = 0; kh < KH; kh++) {
        int th = (int)(ih + PT) - (int)kh; /* = oh * SH */
        if (th < 0 || th % (int)SH != 0 || (uint)th / SH >= OH) continue;
        __global const float *dzrow = dz + ((size_t)n * OH + (uint)th / SH) * OW * F;
        for (uint kw = 0; kw < KW; kw++) {
            uint off[CONV_RW];
            float mask[CONV_RW];
            for (int r = 0; r < CONV_RW; r++) {
                int tw = (int)(iw0 + r + PL) - (int)kw; /* = ow * SW */
                bool ok = iw0 + r < W && tw >= 0 && tw % (int)SW == 0 && (uint)tw / SW < OW;
                off[r] = ok ? (uint)tw / SW * F : 0;
                mask[r] = ok ? 1.0f : 0.0f;
            }
            __global const float *wk = wt + (size_t)(kh * KW + kw) * F * C + c0;
            for (uint f = 0; f < F; f++) {
                float16 wv = vload16(0, wk + (size_t)f * C);
                for (int r = 0; r < CONV_RW; r++)
                    acc[r] = fma((float16)(dzrow[off[r] + f] * mask[r]), wv, acc[r]);
            }
        }
    }
    for (int r = 0; r < CONV_RW && iw0 + r < W; r++)
        vstore16(acc[r], 0, dx + (((size_t)n * H + ih) * W + iw0 + r) * C + c0);
}

/* dW[kh, kw, c0 .. c0+RC-1, f0 .. f0+15] += sum over n, oh, ow of x[n, ih, iw, c] * dz[n, oh,
 * ow, f] with ih = oh*SH + kh - PT, iw = ow*SW + kw - PL. Each work-item walks the whole batch
 * in a fixed order (deterministic). Global size: (F/16, ceil(C/RC), KH*KW). */
__kernel void conv2d_backward_filter_direct(__global const float *x, __global const float *dz,
                                            __global float *grads, uint w_offset, uint C,
                                            uint H, uint W, uint KH, uint KW, uint SH, uint SW,
                                            uint PT, uint PL, uint OH, uint OW, uint F, uint N) {
    uint f0 = get_global_id(0) * 16, c0 = get_global_id(1) * CONV_RC, k = get_global_id(2);
    if (f0 >= F || c0 >= C) return;
    uint kh = k / KW, kw = k % KW;
    uint cidx[CONV_RC];
    for (int r = 0; r < CONV_RC; r++) cidx[r] = min(c0 + r, C - 1);
    float16 acc[CONV_RC];
    for (int r = 0; r < CONV_RC; r++) acc[r] = (float16)(0.0f);
    for (uint n = 0; n < N; n++) {
        for (uint oh = 0; oh < OH; oh++) {
            int ih = (int)(oh * SH + kh) - (int)PT;
            if (ih < 0 || ih >= (int)H) continue;
            __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C;
            __global const float *dzrow = dz + ((size_t)n * OH + oh) * OW * F + f0;
            for (uint ow = 0; ow < OW; ow++) {
                int iw = (int)(ow * SW + kw) - (int)PL;
                if (iw < 0 || iw >= (int)W) continue;
                float16 d = vload16(0, dzrow + (size_t)ow * F);
                __global const float *xp = xrow + (uint)iw * C;
                for (int r = 0; r < CONV_RC; r++) acc[r] = fma((float16)(xp[cidx[r]]), d, acc[r]);
            }
        }
    }
    for (int r = 0; r < CONV_RC && c0 + r < C; r++) {
        __global float *g = grads + w_offset + ((size_t)k * C + c0 + r) * F + f0;
        vstore16(vload16(0, g) + acc[r], 0, g);
    }
}
