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

enum { TILED_NN, TILED_TN, TILED_NT, TILED_KERNELS };
static const char *const tiled_names[TILED_KERNELS] = {"gemm_nn", "gemm_tn", "gemm_nt"};

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

/* The tiled kernels' tile shapes (cl/gemm.cl: GEMM_TM x GEMM_TN, and GEMM_DOT square). */
#define TILED_ROWS 8
#define TILED_COLS 32
#define TILED_DOT 4

static mcl_status tiled_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                             mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c, const char *what,
                             mcl_error *err) {
    int which = b.transposed ? TILED_NT : a.transposed ? TILED_TN : TILED_NN;
    cl_kernel kernel = ctx->gemm_kernels[which];
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k;
    cl_uint a_off = (cl_uint)a.offset, b_off = (cl_uint)b.offset, c_off = (cl_uint)c.offset;
    cl_uint lda = (cl_uint)a.ld, ldb = (cl_uint)b.ld, ldc = (cl_uint)c.ld;
    mcl_status st = MCL_SET_ARGS(kernel, err, MCL_ARG(um), MCL_ARG(un), MCL_ARG(uk), MCL_ARG(alpha),
                                 MCL_ARG(a.buffer), MCL_ARG(a_off), MCL_ARG(lda), MCL_ARG(b.buffer),
                                 MCL_ARG(b_off), MCL_ARG(ldb), MCL_ARG(beta), MCL_ARG(c.buffer),
                                 MCL_ARG(c_off), MCL_ARG(ldc));
    if (st != MCL_OK) return st;
    size_t cols = which == TILED_NT ? TILED_DOT : TILED_COLS;
    size_t rows = which == TILED_NT ? TILED_DOT : TILED_ROWS;
    size_t global[2] = {(n + cols - 1) / cols, (m + rows - 1) / rows}, local[2] = {1, 1};
    st = mcl_enqueue_local(ctx, kernel, 2, global, local, err);
    if (st != MCL_OK) return mcl_error_prefix(err, "%s (SGEMM %zux%zux%zu)", what, m, n, k);
    return MCL_OK;
}

mcl_status mcl_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha, mcl_matrix a,
                    mcl_matrix b, float beta, mcl_matrix c, const char *what, mcl_error *err) {
    if (m == 0 || n == 0) return MCL_OK;
    /* The kernels take 32-bit offsets; mnist-cl's tensors are capped at 2^28 floats. */
    if (ctx->gemm_tiled && !(a.transposed && b.transposed))
        return tiled_gemm(ctx, m, n, k, alpha, a, b, beta, c, what, err);
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
