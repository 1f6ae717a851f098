/* Conv2D as im2col + GEMM (the GEMM is CLBlast's; the bias and activation epilogues are
 * dense_bias_act_* from dense.cl, since a [N, OH, OW, F] output is an [N*OH*OW, F] matrix).
 *
 * x: [N, H, W, C] (channels-last). col: [M = N*OH*OW, K = KH*KW*C], column (kh*KW + kw)*C + c,
 * which is the row order of Keras's kernel [KH, KW, C, F] seen as a [K, F] matrix.
 * Padding: PT rows above, PL columns to the left (the rest, if any, is below / to the right). */

/* col[m, (kh, kw, c)] = x[n, oh*SH - PT + kh, ow*SW - PL + kw, c], or 0 in the padding. One
 * work-item copies the KW*C contiguous values of one kernel row. Global size: (KH, M). */
__kernel void conv2d_im2col(__global const float *x, __global float *col, uint C, uint H, uint W,
                            uint KW, uint SH, uint SW, uint PT, uint PL, uint OH, uint OW,
                            uint K) {
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

/* ---- Direct kernels (the SIMT class, src/device/kernel_shapes.c): the convolution without a
 * column matrix, CONV_DW channels at a time. Each work-item keeps CONV_RW (or CONV_RC)
 * accumulators of CONV_DW floats: one weight row (CONV_DW filters) is loaded per input value and
 * reused for CONV_RW output pixels, so the inner loop is vector FMAs with scalar broadcasts:
 * plain arithmetic on registers on a GPU. The host uses them when CONV_DW divides the vector
 * dimension (F for forward and the filter gradient, C for the input gradient) and im2col + GEMM
 * otherwise. Taps in the padding read a clamped, valid address and are multiplied by 0. */
#if !defined(CONV_DW) || !defined(CONV_RW) || !defined(CONV_RC)
#error "cl/conv2d.cl needs -DCONV_DW, -DCONV_RW and -DCONV_RC (src/device/kernel_shapes.c)"
#endif
#define conv_dvec MCL_VEC(CONV_DW)
#define conv_dload MCL_VLOAD(CONV_DW)
#define conv_dstore MCL_VSTORE(CONV_DW)

/* y[n, oh, ow0 .. ow0+RW-1, f0 .. f0+DW-1] = act(b + sum over kh, kw, c of x * W).
 * Global size: (F/DW, ceil(OW/RW), N*OH). */
__kernel void conv2d_forward_direct(__global const float *x, __global const float *params,
                                    uint w_offset, uint b_offset, __global float *y, uint C,
                                    uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PT,
                                    uint PL, uint OH, uint OW, uint F, int activation) {
    uint f0 = get_global_id(0) * CONV_DW, ow0 = get_global_id(1) * CONV_RW;
    uint noh = get_global_id(2);
    if (f0 >= F || ow0 >= OW) return;
    uint n = noh / OH, oh = noh % OH;
    conv_dvec bias = conv_dload(0, params + b_offset + f0);
    conv_dvec acc[CONV_RW];
    #pragma unroll
    for (int r = 0; r < CONV_RW; r++)
        acc[r] = bias;
    for (uint kh = 0; kh < KH; kh++) {
        int ih = (int)(oh * SH + kh) - (int)PT;
        if (ih < 0 || ih >= (int)H) continue;
        __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C;
        for (uint kw = 0; kw < KW; kw++) {
            uint off[CONV_RW];
            float mask[CONV_RW];
            #pragma unroll
            for (int r = 0; r < CONV_RW; r++) {
                int iw = (int)((ow0 + r) * SW + kw) - (int)PL;
                bool ok = ow0 + r < OW && iw >= 0 && iw < (int)W;
                off[r] = ok ? (uint)iw * C : 0;
                mask[r] = ok ? 1.0f : 0.0f;
            }
            __global const float *wk = params + w_offset + (size_t)(kh * KW + kw) * C * F + f0;
            for (uint c = 0; c < C; c++) {
                conv_dvec wv = conv_dload(0, wk + (size_t)c * F);
                #pragma unroll
                for (int r = 0; r < CONV_RW; r++)
                    acc[r] = fma((conv_dvec)(xrow[off[r] + c] * mask[r]), wv, acc[r]);
            }
        }
    }
    /* No break in an unrolled loop: it could not be unrolled (a compiler warning). */
    #pragma unroll
    for (int r = 0; r < CONV_RW; r++) {
        conv_dvec v = acc[r];
        if (activation == 1) v = fmax(v, 0.0f);
        if (ow0 + r < OW) conv_dstore(v, 0, y + (((size_t)n * OH + oh) * OW + ow0 + r) * F + f0);
    }
}

/* wt[kh, kw, f, c] = W[kh, kw, c, f]: the weights with channels innermost, for the input
 * gradient. Global size: (C, F, KH*KW). */
__kernel void conv2d_transpose_weights(__global const float *params, uint w_offset,
                                       __global float *wt, uint C, uint F) {
    uint c = get_global_id(0), f = get_global_id(1), k = get_global_id(2);
    wt[((size_t)k * F + f) * C + c] = params[w_offset + ((size_t)k * C + c) * F + f];
}

/* dx[n, ih, iw0 .. iw0+RW-1, c0 .. c0+DW-1] = sum over the (kh, kw) that reach (ih, iw) from an
 * output position (oh, ow), and over f, of dz[n, oh, ow, f] * W[kh, kw, c, f].
 * Global size: (C/DW, ceil(W/RW), N*H). */
__kernel void conv2d_backward_data_direct(__global const float *dz, __global const float *wt,
                                          __global float *dx, uint C, uint H, uint W, uint KH,
                                          uint KW, uint SH, uint SW, uint PT, uint PL, uint OH,
                                          uint OW, uint F) {
    uint c0 = get_global_id(0) * CONV_DW, iw0 = get_global_id(1) * CONV_RW;
    uint nih = get_global_id(2);
    if (c0 >= C || iw0 >= W) return;
    uint n = nih / H, ih = nih % H;
    conv_dvec acc[CONV_RW];
    #pragma unroll
    for (int r = 0; r < CONV_RW; r++)
        acc[r] = 0.0f;
    for (uint kh = 0; kh < KH; kh++) {
        int th = (int)(ih + PT) - (int)kh; /* = oh * SH */
        if (th < 0 || th % (int)SH != 0 || (uint)th / SH >= OH) continue;
        __global const float *dzrow = dz + ((size_t)n * OH + (uint)th / SH) * OW * F;
        for (uint kw = 0; kw < KW; kw++) {
            uint off[CONV_RW];
            float mask[CONV_RW];
            #pragma unroll
            for (int r = 0; r < CONV_RW; r++) {
                int tw = (int)(iw0 + r + PL) - (int)kw; /* = ow * SW */
                bool ok = iw0 + r < W && tw >= 0 && tw % (int)SW == 0 && (uint)tw / SW < OW;
                off[r] = ok ? (uint)tw / SW * F : 0;
                mask[r] = ok ? 1.0f : 0.0f;
            }
            __global const float *wk = wt + (size_t)(kh * KW + kw) * F * C + c0;
            for (uint f = 0; f < F; f++) {
                conv_dvec wv = conv_dload(0, wk + (size_t)f * C);
                #pragma unroll
                for (int r = 0; r < CONV_RW; r++)
                    acc[r] = fma((conv_dvec)(dzrow[off[r] + f] * mask[r]), wv, acc[r]);
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < CONV_RW; r++)
        if (iw0 + r < W) conv_dstore(acc[r], 0, dx + (((size_t)n * H + ih) * W + iw0 + r) * C + c0);
}

/* The filter gradient of images [i0, i1) (a chunk, src/ops/conv2d.c: CONV_IMAGES images per
 * chunk): dW[kh, kw, c0 .. c0+RC-1, f0 .. f0+DW-1] = sum over those images' positions of x[n,
 * ih, iw, c] * dz[n, oh, ow, f], ih = oh*SH + kh - PT, iw = ow*SW + kw - PL, in a fixed order.
 * With one chunk the sums are added to grads[w_offset ..]; with several, chunk q's go to
 * partial[q, KH*KW, C, F] and conv2d_filter_reduce adds them in order.
 * Global size: (F/DW, ceil(C/RC), KH*KW*chunks). */
__kernel void conv2d_backward_filter_direct(__global const float *x, __global const float *dz,
                                            __global float *grads, uint w_offset, uint C,
                                            uint H, uint W, uint KH, uint KW, uint SH, uint SW,
                                            uint PT, uint PL, uint OH, uint OW, uint F, uint N,
                                            uint images, __global float *partial) {
    uint f0 = get_global_id(0) * CONV_DW, c0 = get_global_id(1) * CONV_RC;
    uint taps = KH * KW, k = get_global_id(2) % taps, q = get_global_id(2) / taps;
    if (f0 >= F || c0 >= C) return;
    uint kh = k / KW, kw = k % KW;
    uint cidx[CONV_RC];
    #pragma unroll
    for (int r = 0; r < CONV_RC; r++)
        cidx[r] = min(c0 + r, C - 1);
    conv_dvec acc[CONV_RC];
    #pragma unroll
    for (int r = 0; r < CONV_RC; r++)
        acc[r] = 0.0f;
    for (uint n = q * images; n < min(N, (q + 1) * images); n++) {
        for (uint oh = 0; oh < OH; oh++) {
            int ih = (int)(oh * SH + kh) - (int)PT;
            if (ih < 0 || ih >= (int)H) continue;
            __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C;
            __global const float *dzrow = dz + ((size_t)n * OH + oh) * OW * F + f0;
            for (uint ow = 0; ow < OW; ow++) {
                int iw = (int)(ow * SW + kw) - (int)PL;
                if (iw < 0 || iw >= (int)W) continue;
                conv_dvec d = conv_dload(0, dzrow + (size_t)ow * F);
                __global const float *xp = xrow + (uint)iw * C;
                #pragma unroll
                for (int r = 0; r < CONV_RC; r++)
                    acc[r] = fma((conv_dvec)(xp[cidx[r]]), d, acc[r]);
            }
        }
    }
    bool chunked = N > images;
    __global float *out = chunked ? partial + (size_t)q * taps * C * F : grads + w_offset;
    #pragma unroll
    for (int r = 0; r < CONV_RC; r++) {
        __global float *g = out + ((size_t)k * C + c0 + r) * F + f0;
        if (c0 + r < C) conv_dstore(chunked ? acc[r] : conv_dload(0, g) + acc[r], 0, g);
    }
}

/* ---- Register-tiled kernels for CPU devices (chosen with the tiled GEMM, src/device/gemm.c).
 * One work-item per work-group keeps a tile in CONV_TP x CONV_NV vectors of CONV_VW floats, as
 * the tiled GEMM does: CONV_TP positions x CONV_TW filters (forward) or channels (input
 * gradient), CONV_TC channels x CONV_TW filters (filter gradient). Positions are flattened over
 * the batch (m = (n, oh, ow) or q = (n, ih, iw)), so a ragged image width wastes nothing but the
 * very last tile; positions past the end repeat the last one and are not stored. Taps outside
 * the image (padding, or no output position reaching an input) read from a row of zeros
 * instead of being masked. On PoCL (AVX-512) the tutorial CNN's 24x24x32 layer, batch 64, runs
 * forward in ~1 ms. */
#if !defined(CONV_TP) || !defined(CONV_VW) || !defined(CONV_NV) || !defined(CONV_TC)
#error "cl/conv2d.cl needs -DCONV_TP, -DCONV_VW, -DCONV_NV and -DCONV_TC (src/device/kernel_shapes.c)"
#endif
#define CONV_TW (CONV_VW * CONV_NV)
#define conv_vec MCL_VEC(CONV_VW)
#define conv_load MCL_VLOAD(CONV_VW)
#define conv_store MCL_VSTORE(CONV_VW)

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

/* acc[r * CONV_NV + v] += p[r][i] * w[i, v*VW .. v*VW+VW-1] for i < depth, w's rows ldw
 * apart. */
#define CONV_TILE_FMA(acc, p, w, ldw, depth)                                                       \
    for (uint i_ = 0; i_ < (depth); i_++) {                                                        \
        conv_vec w_[CONV_NV];                                                                      \
        _Pragma("unroll") for (int v_ = 0; v_ < CONV_NV; v_++) w_[v_] =                            \
            conv_load(v_, (w) + (size_t)i_ * (ldw));                                               \
        _Pragma("unroll") for (int r_ = 0; r_ < CONV_TP; r_++) {                                   \
            conv_vec a_ = (conv_vec)p[r_][i_];                                                     \
            _Pragma("unroll") for (int v_ = 0; v_ < CONV_NV; v_++) acc[r_ * CONV_NV + v_] =        \
                fma(a_, w_[v_], acc[r_ * CONV_NV + v_]);                                           \
        }                                                                                          \
    }

/* y[m0 .. m0+TP-1, f0 .. f0+TW-1] = act(b + sum over kh, kw, c of x * W), M = N*OH*OW,
 * F % TW == 0; zeros: at least C zeros. Global size: (F/TW, ceil(M/TP)), local size (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_forward_tiled(__global const float *x, __global const float *params, uint w_offset,
                     uint b_offset, __global float *y, uint C, uint H, uint W, uint KH, uint KW,
                     uint SH, uint SW, uint PT, uint PL, uint OH, uint OW, uint F, int activation,
                     uint M, __global const float *zeros) {
    uint f0 = get_global_id(0) * CONV_TW, m0 = get_global_id(1) * CONV_TP;
    conv_vec acc[CONV_TP * CONV_NV];
    int row0[CONV_TP], col0[CONV_TP];
    __global const float *img[CONV_TP];
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        #pragma unroll
        for (int v = 0; v < CONV_NV; v++)
            acc[r * CONV_NV + v] = conv_load(v, params + b_offset + f0);
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
            CONV_TILE_FMA(acc, p, wk, F, C)
        }
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        __global float *out = y + (size_t)(m0 + r) * F + f0;
        #pragma unroll
        for (int v = 0; v < CONV_NV; v++) {
            conv_vec o = acc[r * CONV_NV + v];
            if (activation == 1) o = fmax(o, 0.0f);
            if (m0 + r < M) conv_store(o, v, out);
        }
    }
}

/* dx[q0 .. q0+TP-1, c0 .. c0+TW-1] = sum over the (kh, kw) that reach (ih, iw) from an output
 * position, and over f, of dz * W, through wt [KH*KW, F, C] (conv2d_transpose_weights).
 * Q = N*H*W, C % TW == 0; zeros: at least F zeros. Global size: (C/TW, ceil(Q/TP)), local size
 * (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_backward_data_tiled(__global const float *dz, __global const float *wt, __global float *dx,
                           uint C, uint H, uint W, uint KH, uint KW, uint SH, uint SW, uint PT,
                           uint PL, uint OH, uint OW, uint F, uint Q,
                           __global const float *zeros) {
    uint c0 = get_global_id(0) * CONV_TW, q0 = get_global_id(1) * CONV_TP;
    conv_vec acc[CONV_TP * CONV_NV];
    int th0[CONV_TP], tw0[CONV_TP];
    __global const float *img[CONV_TP];
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        #pragma unroll
        for (int v = 0; v < CONV_NV; v++)
            acc[r * CONV_NV + v] = 0.0f;
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
            CONV_TILE_FMA(acc, p, wk, C, F)
        }
    #pragma unroll
    for (int r = 0; r < CONV_TP; r++) {
        __global float *out = dx + (size_t)(q0 + r) * C + c0;
        #pragma unroll
        for (int v = 0; v < CONV_NV; v++)
            if (q0 + r < Q) conv_store(acc[r * CONV_NV + v], v, out);
    }
}

/* The filter gradient of images [q * images, (q + 1) * images) (one chunk; src/ops/conv2d.c
 * makes the chunks): dW[kh, kw, c0 .. c0+TC-1, f0 .. f0+TW-1] = sum over those images'
 * positions of x[n, ih, iw, c] * dz[n, oh, ow, f], the CONV_TC channels of one input position
 * read as broadcasts. The chunk's x and dz stay in cache while every tile of the layer reads
 * them: the chunk is the slowest dimension of the range, so the driver runs its work-groups
 * together (a whole batch per work-item streamed it from memory for every tile, at a third of
 * the forward's speed). With one chunk the sums are added to grads[w_offset ..]; with several,
 * chunk q's go to partial[q, KH*KW, C, F] and conv2d_filter_reduce adds them in order.
 * C % TC == 0, F % TW == 0. Global size: (F/TW, (C/TC)*KH*KW, chunks), local size (1, 1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
conv2d_backward_filter_tiled(__global const float *x, __global const float *dz,
                             __global float *grads, uint w_offset, uint C, uint H, uint W,
                             uint KH, uint KW, uint SH, uint SW, uint PT, uint PL, uint OH,
                             uint OW, uint F, uint N, uint images, __global float *partial) {
    uint groups = C / CONV_TC;
    uint f0 = get_global_id(0) * CONV_TW, c0 = get_global_id(1) % groups * CONV_TC;
    uint k = get_global_id(1) / groups, q = get_global_id(2);
    uint kh = k / KW, kw = k % KW;
    conv_vec acc[CONV_TC * CONV_NV];
    #pragma unroll
    for (int t = 0; t < CONV_TC * CONV_NV; t++)
        acc[t] = 0.0f;
    for (uint n = q * images; n < min(N, (q + 1) * images); n++)
        for (uint oh = 0; oh < OH; oh++) {
            int ih = (int)(oh * SH + kh) - (int)PT;
            if (ih < 0 || ih >= (int)H) continue;
            __global const float *xrow = x + ((size_t)n * H + (uint)ih) * W * C + c0;
            __global const float *dzrow = dz + ((size_t)n * OH + oh) * OW * F + f0;
            for (uint ow = 0; ow < OW; ow++) {
                int iw = (int)(ow * SW + kw) - (int)PL;
                if (iw < 0 || iw >= (int)W) continue;
                __global const float *xp = xrow + (size_t)iw * C;
                conv_vec d[CONV_NV];
                #pragma unroll
                for (int v = 0; v < CONV_NV; v++)
                    d[v] = conv_load(v, dzrow + (size_t)ow * F);
                #pragma unroll
                for (int r = 0; r < CONV_TC; r++) {
                    conv_vec a = (conv_vec)xp[r];
                    #pragma unroll
                    for (int v = 0; v < CONV_NV; v++)
                        acc[r * CONV_NV + v] = fma(a, d[v], acc[r * CONV_NV + v]);
                }
            }
        }
    bool chunked = N > images;
    __global float *out = chunked ? partial + (size_t)q * KH * KW * C * F : grads + w_offset;
    #pragma unroll
    for (int r = 0; r < CONV_TC; r++) {
        __global float *g = out + ((size_t)k * C + c0 + r) * F + f0;
        #pragma unroll
        for (int v = 0; v < CONV_NV; v++) {
            conv_vec sum = acc[r * CONV_NV + v];
            conv_store(chunked ? sum : conv_load(v, g) + sum, v, g);
        }
    }
}

/* grads[w_offset + i] += sum over chunks q (in order) of partial[q * count + i], i < count: the
 * end of a chunked filter gradient. VEC_SPAN vectors of VEC_W per work-item.
 * Global size: ceil(count / (VEC_W * VEC_SPAN)). */
VEC_KERNEL void conv2d_filter_reduce(__global float *grads, uint w_offset,
                                     __global const float *partial, uint chunks, uint count) {
    uint first = get_global_id(0) * (VEC_W * VEC_SPAN);
    uint end = min(count, first + VEC_W * VEC_SPAN), i = first;
    __global float *g = grads + w_offset;
    for (; i + VEC_W <= end; i += VEC_W) {
        MCL_VEC(VEC_W) acc = MCL_VLOAD(VEC_W)(0, g + i);
        for (uint q = 0; q < chunks; q++)
            acc += MCL_VLOAD(VEC_W)(0, partial + (size_t)q * count + i);
        MCL_VSTORE(VEC_W)(acc, 0, g + i);
    }
    for (; i < end; i++) {
        float acc = g[i];
        for (uint q = 0; q < chunks; q++)
            acc += partial[(size_t)q * count + i];
        g[i] = acc;
    }
}
