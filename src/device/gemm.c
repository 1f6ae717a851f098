#include "device/gemm.h"

#include <clblast_c.h>
#include <stdio.h>

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

mcl_status mcl_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha, mcl_matrix a,
                    mcl_matrix b, float beta, mcl_matrix c, const char *what, mcl_error *err) {
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
