#include "device/gemm.h"

#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *clblast_status_str(CLBlastStatusCode code) {
    switch (code) {
    case CLBlastNotImplemented:
        return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA:
        return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB:
        return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC:
        return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension:
        return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA:
        return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB:
        return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC:
        return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA:
        return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB:
        return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC:
        return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp:
        return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidOverrideKernel:
        return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter:
        return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalMemUsage:
        return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError:
        return "CLBlastDatabaseError";
    case CLBlastUnknownError:
        return "CLBlastUnknownError";
    case CLBlastUnexpectedError:
        return "CLBlastUnexpectedError";
    default:
        /* CLBlast reuses OpenCL's codes for everything else. */
        return mcl_cl_status_str((cl_int)code);
    }
}

enum { TILED_NN, TILED_TN, TILED_TRANSPOSE, TILED_KERNELS };
static const char *const tiled_names[TILED_KERNELS] = {"gemm_nn", "gemm_tn", "gemm_transpose"};

mcl_status mcl_gemm_choose(mcl_context *ctx, mcl_gemm_choice choice, mcl_error *err) {
    const char *env = getenv("MNIST_CL_GEMM");
    if (choice == MCL_GEMM_AUTO && env != NULL && env[0] != '\0') {
        if (strcmp(env, "clblast") == 0)
            choice = MCL_GEMM_CLBLAST;
        else if (strcmp(env, "tiled") == 0)
            choice = MCL_GEMM_TILED;
        else if (strcmp(env, "auto") != 0)
            return mcl_fail(err, MCL_ERR_USAGE,
                            "MNIST_CL_GEMM must be 'auto', 'clblast' or 'tiled', not '%s'", env);
    }
    if (choice == MCL_GEMM_AUTO)
        choice = ctx->info.type == MCL_DEVICE_CPU ? MCL_GEMM_TILED : MCL_GEMM_CLBLAST;
    ctx->gemm_tiled = choice == MCL_GEMM_TILED;
    for (int i = 0; ctx->gemm_tiled && i < TILED_KERNELS; i++) {
        mcl_status st = mcl_kernel_create(ctx, tiled_names[i], &ctx->gemm_kernels[i], err);
        if (st != MCL_OK) return st;
    }
    return MCL_OK;
}

/* The tiled kernels' tile shapes (cl/gemm.cl: GEMM_TM x GEMM_TN; 8 x 16 transpose blocks). */
#define TILED_ROWS 8
#define TILED_COLS 32

/* Writes the transpose of the rows x cols matrix `src` into `dst` (leading dimension rows). */
static mcl_status transpose(mcl_context *ctx, size_t rows, size_t cols, mcl_matrix src, cl_mem dst,
                            mcl_error *err) {
    cl_kernel kernel = ctx->gemm_kernels[TILED_TRANSPOSE];
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols, src_off = (cl_uint)src.offset;
    cl_uint lda = (cl_uint)src.ld, t_off = 0, ldt = (cl_uint)rows;
    mcl_status st =
        MCL_SET_ARGS(kernel, err, MCL_ARG(r), MCL_ARG(c), MCL_ARG(src.buffer), MCL_ARG(src_off),
                     MCL_ARG(lda), MCL_ARG(dst), MCL_ARG(t_off), MCL_ARG(ldt));
    size_t global[2] = {(cols + 15) / 16, (rows + 7) / 8}, local[2] = {1, 1};
    return st != MCL_OK ? st : mcl_enqueue_local(ctx, kernel, 2, global, local, err);
}

/* op(A) op(B) with at most one of them transposed: gemm_nn or gemm_tn, after bringing a
 * transposed B into plain storage (the kernels read a row of op(B) per k). */
static mcl_status tiled_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                             mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c, const char *what,
                             mcl_error *err) {
    mcl_status st = MCL_OK;
    if (b.transposed) {
        /* B is stored [n, k]; its transpose is op(B) = [k, n] in plain storage, in scratch. */
        cl_mem t = NULL;
        st = mcl_scratch_reserve(ctx, k * n, &t, err);
        if (st == MCL_OK) st = transpose(ctx, n, k, b, t, err);
        b = (mcl_matrix){t, 0, n, false};
    }
    cl_kernel kernel = ctx->gemm_kernels[a.transposed ? TILED_TN : TILED_NN];
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k;
    cl_uint a_off = (cl_uint)a.offset, b_off = (cl_uint)b.offset, c_off = (cl_uint)c.offset;
    cl_uint lda = (cl_uint)a.ld, ldb = (cl_uint)b.ld, ldc = (cl_uint)c.ld;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(kernel, err, MCL_ARG(um), MCL_ARG(un), MCL_ARG(uk), MCL_ARG(alpha),
                          MCL_ARG(a.buffer), MCL_ARG(a_off), MCL_ARG(lda), MCL_ARG(b.buffer),
                          MCL_ARG(b_off), MCL_ARG(ldb), MCL_ARG(beta), MCL_ARG(c.buffer),
                          MCL_ARG(c_off), MCL_ARG(ldc));
    size_t global[2] = {(n + TILED_COLS - 1) / TILED_COLS, (m + TILED_ROWS - 1) / TILED_ROWS};
    size_t local[2] = {1, 1};
    if (st == MCL_OK) st = mcl_enqueue_local(ctx, kernel, 2, global, local, err);
    if (st != MCL_OK) return mcl_error_prefix(err, "%s (SGEMM %zux%zux%zu)", what, m, n, k);
    return MCL_OK;
}

mcl_status mcl_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha, mcl_matrix a,
                    mcl_matrix b, float beta, mcl_matrix c, const char *what, mcl_error *err) {
    if (m == 0 || n == 0) return MCL_OK;
    /* The kernels take 32-bit offsets; mnist-cl's tensors are capped at 2^28 floats. */
    if (ctx->gemm_tiled && !(a.transposed && b.transposed))
        return tiled_gemm(ctx, m, n, k, alpha, a, b, beta, c, what, err);
    return mcl_gemm_clblast(ctx, m, n, k, alpha, a, b, beta, c, what, err);
}

mcl_status mcl_gemm_clblast(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                            mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c, const char *what,
                            mcl_error *err) {
    if (m == 0 || n == 0) return MCL_OK;
    CLBlastStatusCode rc = CLBlastSgemm(
        CLBlastLayoutRowMajor, a.transposed ? CLBlastTransposeYes : CLBlastTransposeNo,
        b.transposed ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a.buffer, a.offset,
        a.ld, b.buffer, b.offset, b.ld, beta, c.buffer, c.offset, c.ld, &ctx->queue, NULL);
    if (rc == CLBlastSuccess) return MCL_OK;
    mcl_status st = MCL_ERR_GEMM;
    if (rc == CLBlastTempBufferAllocFailure || rc == CLBlastOpenCLOutOfResources)
        st = MCL_ERR_DEVICE_MEMORY;
    return mcl_fail(err, st, "%s: CLBlastSgemm (%zux%zux%zu) failed with %s (%d)", what, m, n, k,
                    clblast_status_str(rc), (int)rc);
}

const char *const mcl_gemm_direct_names[MCL_GEMM_DIRECT_PARAMS] = {
    "WGD", "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD", "KWID", "VWMD", "VWND", "PADA", "PADB"};

mcl_status mcl_gemm_override_direct(mcl_context *ctx, const mcl_gemm_direct_params *p,
                                    mcl_error *err) {
    const char *names[MCL_GEMM_DIRECT_PARAMS];
    for (int i = 0; i < MCL_GEMM_DIRECT_PARAMS; i++)
        names[i] = mcl_gemm_direct_names[i];
    CLBlastStatusCode rc = CLBlastOverrideParameters(
        ctx->device, "XgemmDirect", CLBlastPrecisionSingle, MCL_GEMM_DIRECT_PARAMS, names, p->v);
    if (rc == CLBlastSuccess) return MCL_OK;
    return mcl_fail(err, MCL_ERR_GEMM,
                    "applying GEMM tuning: CLBlastOverrideParameters (XgemmDirect) failed with "
                    "%s (%d)",
                    clblast_status_str(rc), (int)rc);
}
