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

/* ---- Register-tiled kernels for CPU devices (chosen with the tiled GEMM, src/device/gemm.c).
 * One work-item per work-group keeps a CONV_TP x 32 tile in sixteen float16 registers, as the
 * tiled GEMM does: 8 positions x 32 filters (forward) or channels (input gradient), 8 channels
 * x 32 filters (filter gradient). Positions are flattened over the batch (m = (n, oh, ow) or
 * q = (n, ih, iw)), so a ragged image width wastes nothing but the very last tile; positions
 * past the end repeat the last one and are not stored. Taps outside the image (padding, or
 * no output position reaching an input) read from a row of zeros instead of being masked. On
 * PoCL they run the tutorial CNN's layers 2-4x faster than the direct kernels above (its
 * 24x24x32 layer, batch 64: forward 14 -> 3.7 ms, input gradient 16 -> 5.3 ms, filter
 * gradient 16 -> 3.7 ms). */
#define CONV_TP 8

/* The tile's inner loops are macros, not functions: passed by pointer, the accumulators and
 * position pointers stayed in memory (PoCL's flat address space defeats the alias analysis
 * that would keep them in registers), which halved the speed. */

/* For one tap: p[r] points at (row[r], col[r]) of position r's own image img[r] (rows x cols
 * x depth), or, outside it, at `zeros` (at least depth zeros), so every tap runs the same
 * unmasked loop. */
#define CONV_TAP(img, row, col, rows, cols, depth, zeros, p)                                       \
    _Pragma("unroll") for (int r_ = 0; r_ < CONV_TP; r_++) {                                       \
        bool ok_ =                                                                                 \
            row[r_] >= 0 && row[r_] < (int)(rows) && col[r_] >= 0 && col[r_] < (int)(cols);        \
        p[r_] = ok_ ? img[r_] + ((size_t)row[r_] * (cols) + (uint)col[r_]) * (depth) : (zeros);    \
    }

/* acc{0,1}[r] += p[r][i] * w[i, 0..31] for i < depth, w's rows ldw apart. */
#define CONV_TILE_FMA(acc0, acc1, p, w, ldw, depth)                                                \
    for (uint i_ = 0; i_ < (depth); i_++) {                                                        \
        float16 w0_ = vload16(0, (w) + (size_t)i_ * (ldw));                                        \
        float16 w1_ = vload16(1, (w) + (size_t)i_ * (ldw));                                        \
        _Pragma("unroll") for (int r_ = 0; r_ < CONV_TP; r_++) {                                   \
            float16 a_ = (float16)p[r_][i_];                                                       \
            acc0[r_] = fma(a_, w0_, acc0[r_]);                                                     \
            acc1[r_] = fma(a_, w1_, acc1[r_]);                                                     \
        }                                                                                          \
    }

/* y[m0 .. m0+7, f0 .. f0+31] = act(b + sum over kh, kw, c of x * W), M = N*OH*OW, F % 32 == 0;
 * zeros: at least C zeros. Global size: (F/32, ceil(M/8)), local size (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_forward_tiled(__global const float *x, __global const float *params, uint w_offset,
                     uint b_offset, __global float *y, uint C, uint H, uint W, uint KH, uint KW,
                     uint SH, uint SW, uint PT, uint PL, uint OH, uint OW, uint F, int activation,
                     uint M, __global const float *zeros) {
    uint f0 = get_global_id(0) * 32, m0 = get_global_id(1) * CONV_TP;
    float16 b0 = vload16(0, params + b_offset + f0), b1 = vload16(1, params + b_offset + f0);
    float16 acc0[CONV_TP], acc1[CONV_TP];
    int row0[CONV_TP], col0[CONV_TP];
    __global const float *img[CONV_TP];
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        acc0[r] = b0;
        acc1[r] = b1;
        uint m = min(m0 + r, M - 1u);
        uint ow = m % OW, oh = (m / OW) % OH, n = m / (OW * OH);
        row0[r] = (int)(oh * SH) - (int)PT;
        col0[r] = (int)(ow * SW) - (int)PL;
        img[r] = x + (size_t)n * H * W * C;
    }
    for (uint kh = 0; kh < KH; kh++)
        for (uint kw = 0; kw < KW; kw++) {
            int row[CONV_TP], col[CONV_TP];
            #pragma unroll
            for (int r = 0; r < CONV_TP; r++) {
                row[r] = row0[r] + (int)kh;
                col[r] = col0[r] + (int)kw;
            }
            __global const float *p[CONV_TP];
            CONV_TAP(img, row, col, H, W, C, zeros, p)
            __global const float *wk = params + w_offset + (size_t)(kh * KW + kw) * C * F + f0;
            CONV_TILE_FMA(acc0, acc1, p, wk, F, C)
        }
    #pragma unroll
    for (int r = 0; r < CONV_TP && m0 + r < M; r++) {
        float16 v0 = acc0[r], v1 = acc1[r];
        if (activation == 1) {
            v0 = fmax(v0, 0.0f);
            v1 = fmax(v1, 0.0f);
        }
        __global float *out = y + (size_t)(m0 + r) * F + f0;
        vstore16(v0, 0, out);
        vstore16(v1, 1, out);
    }
}

/* dx[q0 .. q0+7, c0 .. c0+31] = sum over the (kh, kw) that reach (ih, iw) from an output
 * position, and over f, of dz * W, through wt [KH*KW, F, C] (conv2d_transpose_weights).
 * Q = N*H*W, C % 32 == 0; zeros: at least F zeros. Global size: (C/32, ceil(Q/8)), local size
 * (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_backward_data_tiled(__global const float *dz, __global const float *wt, __global float *dx,
                           uint C, uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PT,
                           uint PL, uint OH, uint OW, uint F, uint Q,
                           __global const float *zeros) {
    uint c0 = get_global_id(0) * 32, q0 = get_global_id(1) * CONV_TP;
    float16 acc0[CONV_TP], acc1[CONV_TP];
    int th0[CONV_TP], tw0[CONV_TP];
    __global const float *img[CONV_TP];
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        acc0[r] = 0.0f;
        acc1[r] = 0.0f;
        uint q = min(q0 + r, Q - 1u);
        uint iw = q % W, ih = (q / W) % H, n = q / (W * H);
        th0[r] = (int)(ih + PT); /* = oh * SH + kh */
        tw0[r] = (int)(iw + PL);
        img[r] = dz + (size_t)n * OH * OW * F;
    }
    for (uint kh = 0; kh < KH; kh++)
        for (uint kw = 0; kw < KW; kw++) {
            /* The output position that reaches (ih, iw) through this tap, if the stride lands
             * on it; otherwise a row of -1: outside, so zeros. */
            int row[CONV_TP], col[CONV_TP];
            #pragma unroll
            for (int r = 0; r < CONV_TP; r++) {
                int th = th0[r] - (int)kh, tw = tw0[r] - (int)kw;
                row[r] = th >= 0 && th % (int)SH == 0 ? th / (int)SH : -1;
                col[r] = tw >= 0 && tw % (int)SW == 0 ? tw / (int)SW : -1;
            }
            __global const float *p[CONV_TP];
            CONV_TAP(img, row, col, OH, OW, F, zeros, p)
            __global const float *wk = wt + (size_t)(kh * KW + kw) * F * C + c0;
            CONV_TILE_FMA(acc0, acc1, p, wk, C, F)
        }
    #pragma unroll
    for (int r = 0; r < CONV_TP && q0 + r < Q; r++) {
        __global float *out = dx + (size_t)(q0 + r) * C + c0;
        vstore16(acc0[r], 0, out);
        vstore16(acc1[r], 1, out);
    }
}

/* dW[kh, kw, c0 .. c0+7, f0 .. f0+31] += sum over n, oh, ow of x[n, ih, iw, c] * dz[n, oh, ow,
 * f]: the eight channels of one input position are one float8 load. Each work-item walks the
 * whole batch in a fixed order (deterministic). C % 8 == 0, F % 32 == 0.
 * Global size: (F/32, C/8, KH*KW), local size (1, 1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_backward_filter_tiled(__global const float *x, __global const float *dz,
                             __global float *grads, uint w_offset, uint C, uint H, uint W,
                             uint KH, uint KW, uint SH, uint SW, uint PT, uint PL, uint OH,
                             uint OW, uint F, uint N) {
    uint f0 = get_global_id(0) * 32, c0 = get_global_id(1) * 8, k = get_global_id(2);
    uint kh = k / KW, kw = k % KW;
    float16 acc0[8], acc1[8];
    #pragma unroll
    for (int r = 0; r < 8; r++) {
        acc0[r] = 0.0f;
        acc1[r] = 0.0f;
    }
    for (uint n = 0; n < N; n++)
        for (uint oh = 0; oh < OH; oh++) {
            int ih = (int)(oh * SH + kh) - (int)PT;
            if (ih < 0 || ih >= (int)H) continue;
            __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C + c0;
            __global const float *dzrow = dz + ((size_t)n * OH + oh) * OW * F + f0;
            for (uint ow = 0; ow < OW; ow++) {
                int iw = (int)(ow * SW + kw) - (int)PL;
                if (iw < 0 || iw >= (int)W) continue;
                float16 d0 = vload16(0, dzrow + (size_t)ow * F);
                float16 d1 = vload16(1, dzrow + (size_t)ow * F);
                float8 xv = vload8(0, xrow + (size_t)iw * C);
#define CONV_DW_ROW(r, s)                                                                          \
    acc0[r] = fma((float16)xv.s, d0, acc0[r]);                                                     \
    acc1[r] = fma((float16)xv.s, d1, acc1[r]);
                CONV_DW_ROW(0, s0)
                CONV_DW_ROW(1, s1)
                CONV_DW_ROW(2, s2)
                CONV_DW_ROW(3, s3)
                CONV_DW_ROW(4, s4)
                CONV_DW_ROW(5, s5)
                CONV_DW_ROW(6, s6)
                CONV_DW_ROW(7, s7)
#undef CONV_DW_ROW
            }
        }
    #pragma unroll
    for (int r = 0; r < 8; r++) {
        __global float *g = grads + w_offset + ((size_t)k * C + c0 + r) * F + f0;
        vstore16(vload16(0, g) + acc0[r], 0, g);
        vstore16(vload16(1, g) + acc1[r], 1, g);
    }
}
