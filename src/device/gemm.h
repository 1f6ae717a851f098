/* Matrix multiplication on the device: CLBlast, or on CPU devices mnist-cl's register-tiled
 * kernels (cl/gemm.cl), chosen once per context (mcl_gemm_choice). src/device/gemm.c is the
 * only file that includes clblast_c.h. */
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

/* What the tiled kernels add to C on the way out (after alpha and beta), so that a dense
 * layer's forward is one launch: a bias per column, then optionally ReLU. */
typedef struct mcl_gemm_epilogue {
    cl_mem bias;        /* [n] floats from bias_offset */
    size_t bias_offset; /* floats */
    bool relu;
} mcl_gemm_epilogue;

/* Whether the context's provider applies epilogues (the tiled kernels do; CLBlast does not). */
bool mcl_gemm_fuses_epilogue(const mcl_context *ctx);

/* mcl_gemm with the epilogue applied to C; fails with MCL_ERR_USAGE where the provider does
 * not fuse epilogues. */
mcl_status mcl_gemm_with_epilogue(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                                  mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c,
                                  const mcl_gemm_epilogue *epilogue, const char *what,
                                  mcl_error *err);

/* The same product through CLBlast whatever the context's provider (what `tune` tunes). */
mcl_status mcl_gemm_clblast(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                            mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c, const char *what,
                            mcl_error *err);

/* Decides the context's GEMM provider from `choice` and MNIST_CL_GEMM, makes ctx->gemm (the
 * provider's state, which only this module reads) and the tiled kernels when they are used.
 * mcl_gemm_free releases it. A bad MNIST_CL_GEMM value fails with MCL_ERR_USAGE. */
mcl_status mcl_gemm_create(mcl_context *ctx, mcl_gemm_choice choice, mcl_error *err);

/* Releases ctx->gemm (NULL-safe) and CLBlast's cached programs. Called by mcl_context_free
 * before the context goes. */
void mcl_gemm_free(mcl_context *ctx);

/* Switches the context to the tiled kernels (creating them) or to CLBlast. */
mcl_status mcl_gemm_use(mcl_context *ctx, bool tiled, mcl_error *err);

/* Whether the context multiplies with the tiled kernels, and whether its provider was asked
 * for (options or MNIST_CL_GEMM) rather than chosen by the device class. */
bool mcl_gemm_tiled(const mcl_context *ctx);
bool mcl_gemm_chosen_explicitly(const mcl_context *ctx);

/* Records whether CLBlast runs a stored tuning (gemm_tune.h; mcl_context_gemm_tuned). */
void mcl_gemm_set_tuned(mcl_context *ctx, bool tuned);

/* CLBlast's direct GEMM kernel (the one it uses below ~384^3 multiply-adds, which covers the
 * MLPs' products) takes these tuning parameters, in this order. */
#define MCL_GEMM_DIRECT_PARAMS 10
extern const char *const mcl_gemm_direct_names[MCL_GEMM_DIRECT_PARAMS];
typedef struct mcl_gemm_direct_params {
    size_t v[MCL_GEMM_DIRECT_PARAMS]; /* WGD MDIMCD NDIMCD MDIMAD NDIMBD KWID VWMD VWND PADA PADB */
} mcl_gemm_direct_params;

/* Makes CLBlast use `p` for the direct kernel on ctx's device from its next call on (in the
 * whole process: CLBlast keeps overrides per device). */
mcl_status mcl_gemm_override_direct(mcl_context *ctx, const mcl_gemm_direct_params *p,
                                    mcl_error *err);

#endif
