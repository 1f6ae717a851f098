/* Matrix multiplication on the device. CLBlast is the provider; src/device/gemm.c is the only
 * file that includes clblast_c.h. */
#ifndef MCL_DEVICE_GEMM_H
#define MCL_DEVICE_GEMM_H

#include "device/device.h"

/* A row-major matrix view into a device buffer: element (i, j) is at offset + i*ld + j floats. */
typedef struct mcl_matrix {
    cl_mem buffer;
    size_t offset;
    size_t ld;
    bool transposed; /* use the transpose of the stored matrix */
} mcl_matrix;

/* C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, enqueued on ctx's queue.
 * `what` names the operation in error messages ("dense_1 forward"). */
mcl_status mcl_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha, mcl_matrix a,
                    mcl_matrix b, float beta, mcl_matrix c, const char *what, mcl_error *err);

#endif
