#include "device/gemm.h"

#include "core/alloc.h"
#include "device/kernel_profile.h"

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

enum { TILED_NN, TILED_TN, TILED_TRANSPOSE, TILED_REDUCE, TILED_PACK, TILED_KERNELS };
static const char *const tiled_names[TILED_KERNELS] = {"gemm_nn", "gemm_tn", "gemm_transpose",
                                                       "gemm_reduce_chunks", "gemm_pack_b"};

/* The GEMM provider of one context, owned by this module (the context only holds the
 * pointer): which provider multiplies, whether it was asked for, whether CLBlast runs a stored
 * tuning, and the tiled kernels once they are used. */
struct mcl_gemm {
    bool tiled;             /* mcl_gemm uses cl/gemm.cl's kernels where they apply */
    bool explicit_choice;   /* the provider was asked for (options or MNIST_CL_GEMM) */
    bool tuned;             /* a stored CLBlast tuning was applied (gemm_tune.h) */
    cl_kernel kernels[TILED_KERNELS];
};

mcl_status mcl_gemm_create(mcl_context *ctx, mcl_gemm_choice choice, mcl_error *err) {
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
    ctx->gemm = mcl_calloc(1, sizeof *ctx->gemm);
    if (ctx->gemm == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the GEMM provider");
    /* AUTO: the tiled kernels where the device vectorises explicit vectors (CPU classes),
     * CLBlast's work-group-parallel kernels where it vectorises across work-items (SIMT). */
    ctx->gemm->explicit_choice = choice != MCL_GEMM_AUTO;
    if (choice == MCL_GEMM_AUTO)
        choice = ctx->shapes.device_class == MCL_CLASS_SIMT ? MCL_GEMM_CLBLAST : MCL_GEMM_TILED;
    return mcl_gemm_use(ctx, choice == MCL_GEMM_TILED, err);
}

void mcl_gemm_free(mcl_context *ctx) {
    if (ctx->gemm != NULL) {
        for (int i = 0; i < TILED_KERNELS; i++)
            if (ctx->gemm->kernels[i] != NULL) mcl_cl_release_kernel(ctx->gemm->kernels[i]);
        free(ctx->gemm);
        ctx->gemm = NULL;
    }
    /* CLBlast keeps the programs it built in a process-wide cache that its static destructor
     * releases at exit, after a driver's runtime may be gone (under oclgrind that aborted with
     * "corrupted double-linked list" once training had finished). Its programs are released
     * with the context instead; a later context rebuilds them, from the driver's own cache. */
    CLBlastClearCache();
}

mcl_status mcl_gemm_use(mcl_context *ctx, bool tiled, mcl_error *err) {
    ctx->gemm->tiled = tiled;
    for (int i = 0; tiled && i < TILED_KERNELS; i++) {
        if (ctx->gemm->kernels[i] != NULL) continue;
        mcl_status st = mcl_kernel_create(ctx, tiled_names[i], &ctx->gemm->kernels[i], err);
        if (st != MCL_OK) return st;
    }
    return MCL_OK;
}

bool mcl_gemm_tiled(const mcl_context *ctx) {
    return ctx->gemm->tiled;
}

bool mcl_gemm_chosen_explicitly(const mcl_context *ctx) {
    return ctx->gemm->explicit_choice;
}

void mcl_gemm_set_tuned(mcl_context *ctx, bool tuned) {
    ctx->gemm->tuned = tuned;
}

bool mcl_context_gemm_tuned(const mcl_context *ctx) {
    return ctx->gemm->tuned;
}

const char *mcl_context_gemm_name(const mcl_context *ctx) {
    return ctx->gemm->tiled ? "mnist-cl tiled kernels" : "CLBlast";
}

/* Writes the transpose of the rows x cols matrix `src` into `dst` (leading dimension rows). */
static mcl_status transpose(mcl_context *ctx, size_t rows, size_t cols, mcl_matrix src, cl_mem dst,
                            mcl_error *err) {
    cl_kernel kernel = ctx->gemm->kernels[TILED_TRANSPOSE];
    cl_uint r = (cl_uint)rows, c = (cl_uint)cols, src_off = (cl_uint)src.offset;
    cl_uint lda = (cl_uint)src.ld, t_off = 0, ldt = (cl_uint)rows;
    mcl_status st =
        MCL_SET_ARGS(kernel, err, MCL_ARG(r), MCL_ARG(c), MCL_ARG(src.buffer), MCL_ARG(src_off),
                     MCL_ARG(lda), MCL_ARG(dst), MCL_ARG(t_off), MCL_ARG(ldt));
    size_t block = ctx->shapes.gemm.vector; /* GEMM_VW x GEMM_VW blocks */
    size_t global[2] = {(cols + block - 1) / block, (rows + block - 1) / block}, local[2] = {1, 1};
    return st != MCL_OK ? st : mcl_enqueue_local(ctx, kernel, 2, global, local, err);
}

/* op(A) op(B) with at most one of them transposed: gemm_nn or gemm_tn, after bringing a
 * transposed B into plain storage (the kernels read a row of op(B) per k). */
static mcl_status tiled_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                             mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c,
                             const mcl_gemm_epilogue *epi, const char *what, mcl_error *err) {
    const mcl_gemm_shape *shape = &ctx->shapes.gemm;
    size_t tile_cols = (size_t)shape->vector * shape->vectors;
    /* A long K is split into chunks whose raw sums land in [M, N] slices of scratch (after a
     * transposed B, if any) and are then added in order: no work-item walks all of K. */
    size_t chunks = k > shape->k_chunk ? (k + shape->k_chunk - 1) / shape->k_chunk : 1;
    /* Packing B into panels pays where its rows alias in the L1 cache (a leading dimension of a
     * multiple of 4 KiB) and enough rows of tiles read each panel; a transposed B is brought
     * into plain storage first. */
    bool pack = n >= tile_cols && m >= 4 * shape->rows && (b.transposed ? n : b.ld) % 1024 == 0;
    size_t panels = (n + tile_cols - 1) / tile_cols;
    size_t plain_floats = b.transposed ? k * n : 0, packed_floats = pack ? panels * k * tile_cols : 0;
    size_t b_floats = plain_floats + packed_floats;
    cl_mem scratch = NULL;
    mcl_status st = MCL_OK;
    if (b_floats > 0 || chunks > 1)
        st = mcl_scratch_reserve(ctx, b_floats + (chunks > 1 ? chunks * m * n : 0), &scratch, err);
    if (st == MCL_OK && b.transposed) {
        /* B is stored [n, k]; its transpose is op(B) = [k, n] in plain storage, in scratch. */
        st = transpose(ctx, n, k, b, scratch, err);
        b = (mcl_matrix){scratch, 0, n, false};
    }
    if (st == MCL_OK && pack && k > 0) {
        cl_kernel kp = ctx->gemm->kernels[TILED_PACK];
        cl_uint uk = (cl_uint)k, un = (cl_uint)n, boff = (cl_uint)b.offset, ldb = (cl_uint)b.ld;
        cl_uint poff = (cl_uint)plain_floats;
        st = MCL_SET_ARGS(kp, err, MCL_ARG(uk), MCL_ARG(un), MCL_ARG(b.buffer), MCL_ARG(boff),
                          MCL_ARG(ldb), MCL_ARG(scratch), MCL_ARG(poff));
        if (st == MCL_OK) st = mcl_enqueue(ctx, kp, 2, (size_t[]){panels, k}, err);
        b = (mcl_matrix){scratch, plain_floats, 0, false};
    }
    mcl_matrix out = chunks > 1 ? (mcl_matrix){scratch, b_floats, n, false} : c;
    float out_alpha = chunks > 1 ? 1.0f : alpha, out_beta = chunks > 1 ? 0.0f : beta;
    cl_kernel kernel = ctx->gemm->kernels[a.transposed ? TILED_TN : TILED_NN];
    cl_uint um = (cl_uint)m, un = (cl_uint)n, uk = (cl_uint)k;
    cl_uint a_off = (cl_uint)a.offset, b_off = (cl_uint)b.offset, c_off = (cl_uint)out.offset;
    cl_uint lda = (cl_uint)a.ld, ldb = (cl_uint)b.ld, ldc = (cl_uint)out.ld;
    cl_uint c_chunk = (cl_uint)(m * n);
    cl_int b_packed = pack;
    /* The epilogue goes with the final write: the tiles' own, or the chunk reduction's. */
    cl_int epilogue = epi == NULL ? 0 : epi->relu ? 2 : 1;
    cl_mem bias = epi != NULL ? epi->bias : c.buffer; /* any buffer when there is no bias */
    cl_uint bias_off = epi != NULL ? (cl_uint)epi->bias_offset : 0;
    cl_int tile_epilogue = chunks > 1 ? 0 : epilogue;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(kernel, err, MCL_ARG(um), MCL_ARG(un), MCL_ARG(uk), MCL_ARG(out_alpha),
                          MCL_ARG(a.buffer), MCL_ARG(a_off), MCL_ARG(lda), MCL_ARG(b.buffer),
                          MCL_ARG(b_off), MCL_ARG(ldb), MCL_ARG(b_packed), MCL_ARG(out_beta),
                          MCL_ARG(out.buffer), MCL_ARG(c_off), MCL_ARG(ldc), MCL_ARG(c_chunk),
                          MCL_ARG(tile_epilogue), MCL_ARG(bias), MCL_ARG(bias_off));
    /* A narrow N (below one tile) takes a column per work-item. */
    size_t columns = n < tile_cols ? n : (n + tile_cols - 1) / tile_cols;
    /* Row tiles first: the driver runs neighbouring work-groups together, and those then share
     * one panel of B in cache (column panels first streamed all of B from memory for every
     * row of tiles: 1024^3 ran at 180 GFLOP/s instead of 350). */
    size_t global[3] = {(m + shape->rows - 1) / shape->rows, columns, chunks};
    size_t local[3] = {1, 1, 1};
    if (st == MCL_OK) st = mcl_enqueue_local(ctx, kernel, 3, global, local, err);
    if (st == MCL_OK && chunks > 1) {
        cl_kernel reduce = ctx->gemm->kernels[TILED_REDUCE];
        cl_uint uchunks = (cl_uint)chunks, p_off = (cl_uint)b_floats;
        cl_uint cc_off = (cl_uint)c.offset, cldc = (cl_uint)c.ld;
        st = MCL_SET_ARGS(reduce, err, MCL_ARG(um), MCL_ARG(un), MCL_ARG(uchunks),
                          MCL_ARG(scratch), MCL_ARG(p_off), MCL_ARG(alpha), MCL_ARG(beta),
                          MCL_ARG(c.buffer), MCL_ARG(cc_off), MCL_ARG(cldc), MCL_ARG(epilogue),
                          MCL_ARG(bias), MCL_ARG(bias_off));
        if (st == MCL_OK) st = mcl_enqueue(ctx, reduce, 2, (size_t[]){n, m}, err);
    }
    if (st != MCL_OK) return mcl_error_prefix(err, "%s (SGEMM %zux%zux%zu)", what, m, n, k);
    return MCL_OK;
}

mcl_status mcl_gemm(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha, mcl_matrix a,
                    mcl_matrix b, float beta, mcl_matrix c, const char *what, mcl_error *err) {
    if (m == 0 || n == 0) return MCL_OK;
    /* The kernels take 32-bit offsets; mnist-cl's tensors are capped at 2^28 floats. */
    if (ctx->gemm->tiled && !(a.transposed && b.transposed))
        return tiled_gemm(ctx, m, n, k, alpha, a, b, beta, c, NULL, what, err);
    return mcl_gemm_clblast(ctx, m, n, k, alpha, a, b, beta, c, what, err);
}

bool mcl_gemm_fuses_epilogue(const mcl_context *ctx) {
    return ctx->gemm->tiled;
}

mcl_status mcl_gemm_with_epilogue(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                                  mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c,
                                  const mcl_gemm_epilogue *epilogue, const char *what,
                                  mcl_error *err) {
    if (!ctx->gemm->tiled || (a.transposed && b.transposed))
        return mcl_fail(err, MCL_ERR_USAGE, "%s: this GEMM provider applies no epilogue", what);
    if (m == 0 || n == 0) return MCL_OK;
    return tiled_gemm(ctx, m, n, k, alpha, a, b, beta, c, epilogue, what, err);
}

mcl_status mcl_gemm_clblast(mcl_context *ctx, size_t m, size_t n, size_t k, float alpha,
                            mcl_matrix a, mcl_matrix b, float beta, mcl_matrix c, const char *what,
                            mcl_error *err) {
    if (m == 0 || n == 0) return MCL_OK;
    bool timed = mcl_kernel_profile_recording(ctx->kernel_profile);
    cl_event event = NULL;
    CLBlastStatusCode rc = MCL_CL_CALL(
        CLBlastSgemm(CLBlastLayoutRowMajor, a.transposed ? CLBlastTransposeYes : CLBlastTransposeNo,
                     b.transposed ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha,
                     a.buffer, a.offset, a.ld, b.buffer, b.offset, b.ld, beta, c.buffer, c.offset,
                     c.ld, &ctx->queue, timed ? &event : NULL));
    if (rc == CLBlastSuccess) {
        mcl_cl_new_event(event);
        if (timed && event != NULL) mcl_kernel_profile_add(ctx->kernel_profile, "CLBlast SGEMM", event);
        return MCL_OK;
    }
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
    CLBlastStatusCode rc = MCL_CL_CALL(CLBlastOverrideParameters(
        ctx->device, "XgemmDirect", CLBlastPrecisionSingle, MCL_GEMM_DIRECT_PARAMS, names, p->v));
    if (rc == CLBlastSuccess) return MCL_OK;
    return mcl_fail(err, MCL_ERR_GEMM,
                    "applying GEMM tuning: CLBlastOverrideParameters (XgemmDirect) failed with "
                    "%s (%d)",
                    clblast_status_str(rc), (int)rc);
}
