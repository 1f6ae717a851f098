/* Register-tiled SGEMM for CPU devices (src/device/gemm.c chooses it over CLBlast there).
 * Row-major C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C; beta == 0 never reads C.
 * Each work-item is a work-group of one that keeps a whole tile of C in registers, as a CPU
 * BLAS micro-kernel does: the vector lanes are the float16 values, not neighbouring
 * work-items, so the compiler has nothing to guess. The loops over the tile's rows must be
 * unrolled (#pragma unroll) for the accumulators to stay in registers: without it they lived
 * on the stack and gemm_nn ran at 50-80 GFLOP/s instead of 150-200. On PoCL (AVX-512, 2 cores)
 * the MLPs' products run at 150-200 GFLOP/s, where CLBlast's kernels reach 3-37.
 *
 * gemm_nn / gemm_tn: a GEMM_TM x GEMM_TN tile (8 rows x two float16), one row of op(B) and
 * GEMM_TM values of op(A) per k: 16 vector multiply-adds per 2 vector and 8 scalar loads.
 * Global size: (ceil(N / GEMM_TN), ceil(M / GEMM_TM)), local size (1, 1).
 * A transposed B is transposed into plain storage first (gemm_transpose), so B is never
 * transposed here. */
#define GEMM_TM 8
#define GEMM_TN 32

inline float gemm_out(float acc, float alpha, float beta, __global const float *c) {
    return beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
}

/* op(A) is A ([M, K], lda) or, with a_trans, A^T of A stored as [K, M]. Element (r, k) of the
 * tile's rows: rows past M repeat row M-1 (always readable) and are not stored. */
inline float gemm_a(__global const float *A, uint lda, uint M, uint i0, int r, uint k,
                    const int a_trans) {
    uint i = min(i0 + (uint)r, M - 1u);
    return a_trans ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
}

/* N < GEMM_TN: one column at a time, GEMM_TM independent sums. */
inline void gemm_tile_edge(uint M, uint N, uint K, float alpha, __global const float *A, uint lda,
                           __global const float *B, uint ldb, float beta, __global float *C,
                           uint ldc, const int a_trans, uint i0, uint j0) {
    for (uint j = j0; j < N; j++) {
        float acc[GEMM_TM];
        #pragma unroll
        for (int r = 0; r < GEMM_TM; r++)
            acc[r] = 0.0f;
        for (uint k = 0; k < K; k++) {
            float b = B[(size_t)k * ldb + j];
            #pragma unroll
            for (int r = 0; r < GEMM_TM; r++)
                acc[r] = fma(gemm_a(A, lda, M, i0, r, k, a_trans), b, acc[r]);
        }
        #pragma unroll
        for (int r = 0; r < GEMM_TM && i0 + r < M; r++) {
            __global float *c = C + (size_t)(i0 + r) * ldc + j;
            *c = gemm_out(acc[r], alpha, beta, c);
        }
    }
}

inline void gemm_tile(uint M, uint N, uint K, float alpha, __global const float *A, uint lda,
                      __global const float *B, uint ldb, float beta, __global float *C, uint ldc,
                      const int a_trans) {
    uint j0 = get_global_id(0) * GEMM_TN, i0 = get_global_id(1) * GEMM_TM;
    if (N < GEMM_TN) {
        gemm_tile_edge(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, a_trans, i0, j0);
        return;
    }
    /* The last tile of a ragged N computes the full-width window ending at column N and
     * stores only its own columns (from j0): vector speed instead of a column at a time. */
    uint jw = min(j0, N - GEMM_TN);
    float16 acc0[GEMM_TM], acc1[GEMM_TM];
    #pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        acc0[r] = 0.0f;
        acc1[r] = 0.0f;
    }
    if (!a_trans || i0 + GEMM_TM > M) {
        /* Walking GEMM_TM row pointers (or, for A^T at the bottom edge, column reads). */
        __global const float *a[GEMM_TM];
        #pragma unroll
        for (int r = 0; r < GEMM_TM; r++)
            a[r] = a_trans ? A + min(i0 + (uint)r, M - 1u)
                           : A + (size_t)min(i0 + (uint)r, M - 1u) * lda;
        size_t a_step = a_trans ? lda : 1;
        for (uint k = 0; k < K; k++) {
            __global const float *brow = B + (size_t)k * ldb + jw;
            float16 b0 = vload16(0, brow), b1 = vload16(1, brow);
            #pragma unroll
            for (int r = 0; r < GEMM_TM; r++) {
                float16 av = (float16)*a[r];
                acc0[r] = fma(av, b0, acc0[r]);
                acc1[r] = fma(av, b1, acc1[r]);
                a[r] += a_step;
            }
        }
    } else {
        /* A^T: the tile's GEMM_TM values of op(A) for one k are contiguous. */
        for (uint k = 0; k < K; k++) {
            __global const float *brow = B + (size_t)k * ldb + jw;
            float16 b0 = vload16(0, brow), b1 = vload16(1, brow);
            float8 av = vload8(0, A + (size_t)k * lda + i0);
#define GEMM_FMA_ROW(r, v)                                                                         \
    acc0[r] = fma((float16)(v), b0, acc0[r]);                                                      \
    acc1[r] = fma((float16)(v), b1, acc1[r]);
            GEMM_FMA_ROW(0, av.s0)
            GEMM_FMA_ROW(1, av.s1)
            GEMM_FMA_ROW(2, av.s2)
            GEMM_FMA_ROW(3, av.s3)
            GEMM_FMA_ROW(4, av.s4)
            GEMM_FMA_ROW(5, av.s5)
            GEMM_FMA_ROW(6, av.s6)
            GEMM_FMA_ROW(7, av.s7)
#undef GEMM_FMA_ROW
        }
    }
    #pragma unroll
    for (int r = 0; r < GEMM_TM && i0 + r < M; r++) {
        __global float *c = C + (size_t)(i0 + r) * ldc + jw;
        if (jw == j0) {
            float16 out0 = alpha * acc0[r], out1 = alpha * acc1[r];
            if (beta != 0.0f) {
                out0 += beta * vload16(0, c);
                out1 += beta * vload16(1, c);
            }
            vstore16(out0, 0, c);
            vstore16(out1, 1, c);
        } else {
            float row[GEMM_TN];
            vstore16(acc0[r], 0, row);
            vstore16(acc1[r], 1, row);
            for (uint t = j0 - jw; t < GEMM_TN; t++)
                c[t] = gemm_out(row[t], alpha, beta, c + t);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_nn(uint M, uint N, uint K, float alpha, __global const float *A, uint a_offset, uint lda,
        __global const float *B, uint b_offset, uint ldb, float beta, __global float *C,
        uint c_offset, uint ldc) {
    gemm_tile(M, N, K, alpha, A + a_offset, lda, B + b_offset, ldb, beta, C + c_offset, ldc, 0);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_tn(uint M, uint N, uint K, float alpha, __global const float *A, uint a_offset, uint lda,
        __global const float *B, uint b_offset, uint ldb, float beta, __global float *C,
        uint c_offset, uint ldc) {
    gemm_tile(M, N, K, alpha, A + a_offset, lda, B + b_offset, ldb, beta, C + c_offset, ldc, 1);
}

/* T[c, r] = A[r, c] for the R x CN matrix A (lda) into T (ldt): src/device/gemm.c turns a
 * transposed B into plain storage with it. An 8 x 16 block per work-item: eight row vectors
 * in, sixteen column vectors out. Global size: (ceil(CN / 16), ceil(R / 8)), local (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_transpose(uint R, uint CN, __global const float *A, uint a_offset, uint lda,
               __global float *T, uint t_offset, uint ldt) {
    A += a_offset;
    T += t_offset;
    uint c0 = get_global_id(0) * 16u, r0 = get_global_id(1) * 8u;
    if (r0 + 8u <= R && c0 + 16u <= CN) {
        __global const float *a = A + (size_t)r0 * lda + c0;
        float16 v0 = vload16(0, a), v1 = vload16(0, a + lda), v2 = vload16(0, a + 2 * lda),
                v3 = vload16(0, a + 3 * lda), v4 = vload16(0, a + 4 * lda),
                v5 = vload16(0, a + 5 * lda), v6 = vload16(0, a + 6 * lda),
                v7 = vload16(0, a + 7 * lda);
        __global float *t = T + (size_t)c0 * ldt + r0;
#define GEMM_T_COL(c, s)                                                                           \
    vstore8((float8)(v0.s, v1.s, v2.s, v3.s, v4.s, v5.s, v6.s, v7.s), 0, t + (size_t)(c)*ldt);
        GEMM_T_COL(0, s0)
        GEMM_T_COL(1, s1)
        GEMM_T_COL(2, s2)
        GEMM_T_COL(3, s3)
        GEMM_T_COL(4, s4)
        GEMM_T_COL(5, s5)
        GEMM_T_COL(6, s6)
        GEMM_T_COL(7, s7)
        GEMM_T_COL(8, s8)
        GEMM_T_COL(9, s9)
        GEMM_T_COL(10, sa)
        GEMM_T_COL(11, sb)
        GEMM_T_COL(12, sc)
        GEMM_T_COL(13, sd)
        GEMM_T_COL(14, se)
        GEMM_T_COL(15, sf)
#undef GEMM_T_COL
        return;
    }
    for (uint r = r0; r < min(r0 + 8u, R); r++)
        for (uint c = c0; c < min(c0 + 16u, CN); c++)
            T[(size_t)c * ldt + r] = A[(size_t)r * lda + c];
}
