/* Register-tiled SGEMM for CPU devices (src/device/gemm.c chooses it over CLBlast there).
 * Row-major C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C; beta == 0 never reads C.
 * Each work-item is a work-group of one that keeps a whole tile of C in registers, as a CPU
 * BLAS micro-kernel does: the vector lanes are the values of one GEMM_VW-wide vector, not
 * neighbouring work-items, so the compiler has nothing to guess. The tile is GEMM_TM rows by
 * GEMM_NV vectors; per k it loads one row of op(B) (GEMM_NV vectors) and GEMM_TM values of
 * op(A) (broadcasts): GEMM_TM * GEMM_NV vector multiply-adds. The loops over the tile must be
 * unrolled (#pragma unroll) for the accumulators to stay in registers: without it they lived on
 * the stack and gemm_nn ran at a third of the speed.
 *
 * K is walked in chunks of at most GEMM_KC: work-item (x, y, z) takes chunk z. With one chunk
 * the result goes to C; with several, each chunk's raw sum goes to its own [M, N] slice of a
 * partial buffer (C, c_chunk floats apart) and gemm_reduce_chunks adds the slices in order.
 * Global size: (ceil(M / GEMM_TM), ceil(N / GEMM_TN) or, for N < GEMM_TN, N, chunks): row
 * tiles first, so that neighbouring work-items share a B panel; local size (1, 1, 1). A transposed B is transposed into plain storage first (gemm_transpose), so B
 * is never transposed here. The shapes come from src/device/kernel_shapes.c.
 *
 * An epilogue may follow alpha/beta on the way out, so that a dense layer's forward is one
 * launch: 1 adds bias[j] to column j, 2 also applies ReLU (src/device/gemm.h). */
#if !defined(GEMM_TM) || !defined(GEMM_VW) || !defined(GEMM_NV) || !defined(GEMM_KC)
#error "cl/gemm.cl needs -DGEMM_TM, -DGEMM_VW, -DGEMM_NV and -DGEMM_KC (src/device/kernel_shapes.c)"
#endif
#define GEMM_TN (GEMM_VW * GEMM_NV)
#define GEMM_ACC (GEMM_TM * GEMM_NV)
#define gemm_vec MCL_VEC(GEMM_VW)
#define gemm_load MCL_VLOAD(GEMM_VW)
#define gemm_store MCL_VSTORE(GEMM_VW)

#define GEMM_EPILOGUE_BIAS 1
#define GEMM_EPILOGUE_BIAS_RELU 2

/* Output element (i, j), c its place in C. */
static inline float gemm_out(float acc, float alpha, float beta, __global const float *c,
                             int epilogue, __global const float *bias, uint j) {
    float v = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
    if (epilogue != 0) v += bias[j];
    return epilogue == GEMM_EPILOGUE_BIAS_RELU ? fmax(v, 0.0f) : v;
}

/* Element (row i0 + r, k) of op(A), op(A) being A ([M, K], lda) or, with a_trans, the
 * transpose of A stored [K, M]. Rows past M repeat row M-1 (always readable), never stored. */
static inline float gemm_a(__global const float *A, uint lda, uint M, uint i0, int r, uint k,
                           const int a_trans) {
    uint i = min(i0 + (uint)r, M - 1u);
    return a_trans ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
}

/* N < GEMM_TN: one column (j = x) per work-item, GEMM_TM independent sums. */
static inline void gemm_column(uint M, uint N, uint k0, uint k1, float alpha,
                               __global const float *A, uint lda, __global const float *B,
                               uint ldb, float beta, __global float *C, uint ldc, int epilogue,
                               __global const float *bias, const int a_trans) {
    uint j = get_global_id(1), i0 = get_global_id(0) * GEMM_TM;
    if (j >= N) return;
    float acc[GEMM_TM];
    #pragma unroll
    for (int r = 0; r < GEMM_TM; r++)
        acc[r] = 0.0f;
    for (uint k = k0; k < k1; k++) {
        float b = B[(size_t)k * ldb + j];
        #pragma unroll
        for (int r = 0; r < GEMM_TM; r++)
            acc[r] = fma(gemm_a(A, lda, M, i0, r, k, a_trans), b, acc[r]);
    }
    /* Rows past M are skipped inside the loop: an exit condition would keep it from being
     * unrolled. */
    #pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        __global float *c = C + (size_t)(i0 + r) * ldc + j;
        if (i0 + r < M) *c = gemm_out(acc[r], alpha, beta, c, epilogue, bias, j);
    }
}

/* b_packed: B is in gemm_pack_b's panels (N >= GEMM_TN), not [K, N] with ldb. */
static inline void gemm_tile(uint M, uint N, uint K, float alpha, __global const float *A,
                             uint lda, __global const float *B, uint ldb, int b_packed, float beta,
                             __global float *C, uint ldc, uint c_chunk, int epilogue,
                             __global const float *bias, const int a_trans) {
    uint chunk = get_global_id(2);
    uint k0 = chunk * GEMM_KC, k1 = min(K, k0 + GEMM_KC);
    C += (size_t)chunk * c_chunk;
    if (N < GEMM_TN) {
        gemm_column(M, N, k0, k1, alpha, A, lda, B, ldb, beta, C, ldc, epilogue, bias, a_trans);
        return;
    }
    uint j0 = get_global_id(1) * GEMM_TN, i0 = get_global_id(0) * GEMM_TM;
    /* The last tile of a ragged N computes the full-width window ending at column N and
     * stores only its own columns (from j0): vector speed instead of a column at a time. */
    uint jw = min(j0, N - GEMM_TN);
    /* Where row k of the tile's B window starts, and the step to the next row. */
    __global const float *b0 = b_packed ? B + (size_t)get_global_id(1) * K * GEMM_TN : B + jw;
    size_t b_step = b_packed ? GEMM_TN : ldb;
    gemm_vec acc[GEMM_ACC];
    #pragma unroll
    for (int t = 0; t < GEMM_ACC; t++)
        acc[t] = 0.0f;
    if (!a_trans || i0 + GEMM_TM > M) {
        /* Walking GEMM_TM row pointers (or, for A^T at the bottom edge, column reads). */
        __global const float *a[GEMM_TM];
        #pragma unroll
        for (int r = 0; r < GEMM_TM; r++) {
            uint i = min(i0 + (uint)r, M - 1u);
            a[r] = a_trans ? A + (size_t)k0 * lda + i : A + (size_t)i * lda + k0;
        }
        size_t a_step = a_trans ? lda : 1;
        for (uint k = k0; k < k1; k++) {
            __global const float *brow = b0 + (size_t)k * b_step;
            gemm_vec b[GEMM_NV];
            #pragma unroll
            for (int v = 0; v < GEMM_NV; v++)
                b[v] = gemm_load(v, brow);
            #pragma unroll
            for (int r = 0; r < GEMM_TM; r++) {
                gemm_vec av = (gemm_vec)(*a[r]);
                #pragma unroll
                for (int v = 0; v < GEMM_NV; v++)
                    acc[r * GEMM_NV + v] = fma(av, b[v], acc[r * GEMM_NV + v]);
                a[r] += a_step;
            }
        }
    } else {
        /* A^T away from the bottom edge: the tile's GEMM_TM values of op(A) for one k are
         * contiguous. */
        for (uint k = k0; k < k1; k++) {
            __global const float *brow = b0 + (size_t)k * b_step;
            __global const float *ak = A + (size_t)k * lda + i0;
            gemm_vec b[GEMM_NV];
            #pragma unroll
            for (int v = 0; v < GEMM_NV; v++)
                b[v] = gemm_load(v, brow);
            #pragma unroll
            for (int r = 0; r < GEMM_TM; r++) {
                gemm_vec av = (gemm_vec)(ak[r]);
                #pragma unroll
                for (int v = 0; v < GEMM_NV; v++)
                    acc[r * GEMM_NV + v] = fma(av, b[v], acc[r * GEMM_NV + v]);
            }
        }
    }
    #pragma unroll
    for (int r = 0; r < GEMM_TM; r++) {
        __global float *c = C + (size_t)(i0 + r) * ldc + jw;
        if (i0 + r >= M) {
        } else if (jw == j0) {
            #pragma unroll
            for (int v = 0; v < GEMM_NV; v++) {
                gemm_vec out = alpha * acc[r * GEMM_NV + v];
                if (beta != 0.0f) out += beta * gemm_load(v, c);
                if (epilogue != 0) out += gemm_load(v, bias + jw);
                if (epilogue == GEMM_EPILOGUE_BIAS_RELU) out = fmax(out, 0.0f);
                gemm_store(out, v, c);
            }
        } else {
            float row[GEMM_TN];
            #pragma unroll
            for (int v = 0; v < GEMM_NV; v++)
                gemm_store(acc[r * GEMM_NV + v], v, row);
            for (uint t = j0 - jw; t < GEMM_TN; t++)
                c[t] = gemm_out(row[t], alpha, beta, c + t, epilogue, bias, jw + t);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_nn(uint M, uint N, uint K, float alpha, __global const float *A, uint a_offset, uint lda,
        __global const float *B, uint b_offset, uint ldb, int b_packed, float beta,
        __global float *C, uint c_offset, uint ldc, uint c_chunk, int epilogue,
        __global const float *bias, uint bias_offset) {
    gemm_tile(M, N, K, alpha, A + a_offset, lda, B + b_offset, ldb, b_packed, beta, C + c_offset,
              ldc, c_chunk, epilogue, bias + bias_offset, 0);
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_tn(uint M, uint N, uint K, float alpha, __global const float *A, uint a_offset, uint lda,
        __global const float *B, uint b_offset, uint ldb, int b_packed, float beta,
        __global float *C, uint c_offset, uint ldc, uint c_chunk, int epilogue,
        __global const float *bias, uint bias_offset) {
    gemm_tile(M, N, K, alpha, A + a_offset, lda, B + b_offset, ldb, b_packed, beta, C + c_offset,
              ldc, c_chunk, epilogue, bias + bias_offset, 1);
}

/* C[i, j] = alpha * sum over chunks q (in order) of P[q * M * N + i * N + j] + beta * C[i, j]:
 * the end of a K-split product. Global size: (N, M). */
__kernel void gemm_reduce_chunks(uint M, uint N, uint chunks, __global const float *P,
                                 uint p_offset, float alpha, float beta, __global float *C,
                                 uint c_offset, uint ldc, int epilogue,
                                 __global const float *bias, uint bias_offset) {
    uint j = get_global_id(0), i = get_global_id(1);
    if (j >= N || i >= M) return;
    P += p_offset;
    float acc = 0.0f;
    for (uint q = 0; q < chunks; q++)
        acc += P[((size_t)q * M + i) * N + j];
    __global float *c = C + c_offset + (size_t)i * ldc + j;
    *c = gemm_out(acc, alpha, beta, c, epilogue, bias + bias_offset, j);
}

/* Packs B [K, N] (ldb, N >= GEMM_TN) into panels for gemm_tile: panel p holds the GEMM_TN
 * columns from min(p * GEMM_TN, N - GEMM_TN) (the window of tile column p), K rows of GEMM_TN
 * contiguous floats. A tile then reads its panel front to back, where with a leading dimension
 * of a power of two (1024 floats) every row of B fell into the same few L1 cache sets.
 * Global size: (panels, K). */
__kernel void gemm_pack_b(uint K, uint N, __global const float *B, uint b_offset, uint ldb,
                          __global float *P, uint p_offset) {
    uint p = get_global_id(0), k = get_global_id(1);
    uint j0 = min(p * GEMM_TN, N - GEMM_TN);
    __global const float *src = B + b_offset + (size_t)k * ldb + j0;
    __global float *dst = P + p_offset + ((size_t)p * K + k) * GEMM_TN;
    #pragma unroll
    for (int v = 0; v < GEMM_NV; v++)
        gemm_store(gemm_load(v, src), v, dst);
}

/* T[c, r] = A[r, c] for the R x CN matrix A (lda) into T (ldt): src/device/gemm.c turns a
 * transposed B into plain storage with it. A GEMM_VW x GEMM_VW block per work-item: its rows
 * are read as vectors, its columns written as scalars. Global size: (ceil(CN / GEMM_VW),
 * ceil(R / GEMM_VW)), local (1, 1). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
gemm_transpose(uint R, uint CN, __global const float *A, uint a_offset, uint lda,
               __global float *T, uint t_offset, uint ldt) {
    A += a_offset;
    T += t_offset;
    uint c0 = get_global_id(0) * GEMM_VW, r0 = get_global_id(1) * GEMM_VW;
    if (r0 + GEMM_VW <= R && c0 + GEMM_VW <= CN) {
        float block[GEMM_VW][GEMM_VW];
        #pragma unroll
        for (int r = 0; r < GEMM_VW; r++)
            gemm_store(gemm_load(0, A + (size_t)(r0 + r) * lda + c0), 0, block[r]);
        #pragma unroll
        for (int c = 0; c < GEMM_VW; c++) {
            float column[GEMM_VW];
            #pragma unroll
            for (int r = 0; r < GEMM_VW; r++)
                column[r] = block[r][c];
            gemm_store(gemm_load(0, column), 0, T + (size_t)(c0 + c) * ldt + r0);
        }
        return;
    }
    for (uint r = r0; r < min(r0 + GEMM_VW, R); r++)
        for (uint c = c0; c < min(c0 + GEMM_VW, CN); c++)
            T[(size_t)c * ldt + r] = A[(size_t)r * lda + c];
}
