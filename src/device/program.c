/* Building the one OpenCL program that holds every kernel of cl/. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "device/cl_sources.h"
#include "device/device.h"
#include "device/program.h"
#include "device/program_cache.h"

/* OpenCL C 1.2 keeps the kernels portable (Intel iGPUs, AMD, Mesa rusticl, macOS). No
 * -cl-fast-relaxed-math: exp/log precision matters for the loss, and it would change results
 * between drivers. The kernels' shapes follow as -D options (kernel_shapes.h). */
#define BASE_OPTIONS "-cl-std=CL1.2"

bool mcl_program_options(const mcl_kernel_shapes *shapes, char *out, size_t size) {
    char defines[768];
    if (!mcl_kernel_shapes_defines(shapes, defines, sizeof defines)) return false;
    int n = snprintf(out, size, "%s %s", BASE_OPTIONS, defines);
    return n > 0 && (size_t)n < size;
}

/* The program's build log (malloc'd, trailing blanks trimmed), or NULL when the driver gives
 * none or it is empty. */
static char *build_log(mcl_context *ctx, cl_program program) {
    size_t size = 0;
    if (MCL_CL_CALL(clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                                          &size)) != CL_SUCCESS ||
        size == 0)
        return NULL;
    char *text = mcl_calloc(size + 1, 1);
    if (text == NULL) return NULL;
    if (MCL_CL_CALL(clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size, text,
                                          NULL)) != CL_SUCCESS)
        text[0] = '\0';
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    if (n == 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void log_build_failure(mcl_context *ctx, cl_program program) {
    char *text = build_log(ctx, program);
    if (text == NULL) {
        mcl_log(ctx, MCL_LOG_ERROR, "(the driver returned no build log)");
        return;
    }
    mcl_log(ctx, MCL_LOG_ERROR, "OpenCL build log for %s:\n%s", ctx->info.name, text);
    free(text);
}

mcl_status mcl_program_build(mcl_context *ctx, const char *extra_source, cl_program *out,
                             mcl_error *err) {
    *out = NULL;
    char build_options[1024];
    if (!mcl_program_options(&ctx->shapes, build_options, sizeof build_options))
        return mcl_fail(err, MCL_ERR_USAGE, "the kernel shapes do not fit the build options");
    unsigned n = mcl_cl_source_count + (extra_source != NULL ? 1u : 0u);
    const char **texts = mcl_calloc(n, sizeof *texts);
    if (texts == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the kernel sources");
    for (unsigned i = 0; i < mcl_cl_source_count; i++)
        texts[i] = mcl_cl_sources[i].text;
    if (extra_source != NULL) texts[n - 1] = extra_source;
    /* The binary cache, for the real program only (a test's broken one must reach the compiler). */
    mcl_program_key key;
    ctx->program_hash = 0;
    if (extra_source == NULL && !ctx->uncached &&
        mcl_program_cache_key(ctx, texts, n, build_options, &key)) {
        ctx->program_hash = key.hash;
        cl_program cached = mcl_program_cache_load(ctx, &key, build_options);
        if (cached != NULL) {
            free(texts);
            ctx->program_from_cache = true;
            *out = cached;
            return MCL_OK;
        }
    } else {
        key.path[0] = '\0';
    }
    ctx->program_from_cache = false;
    cl_int rc = CL_SUCCESS;
    cl_program program = MCL_CL_CREATE(
        MCL_FAULT_CL_PROGRAM, clCreateProgramWithSource(ctx->context, n, texts, NULL, &rc), &rc);
    free(texts);
    mcl_status st =
        MCL_CL_CHECK_CODE(rc, "clCreateProgramWithSource", err, "creating the kernel program");
    if (st != MCL_OK) return st;
    rc = MCL_CL_CALL(clBuildProgram(program, 1, &ctx->device, build_options, NULL, NULL));
    if (rc != CL_SUCCESS) {
        if (rc == CL_BUILD_PROGRAM_FAILURE) log_build_failure(ctx, program);
        mcl_cl_release_program(program);
        if (rc == CL_BUILD_PROGRAM_FAILURE)
            return mcl_fail(err, MCL_ERR_BUILD,
                            "building mnist-cl's OpenCL kernels on %s: clBuildProgram failed "
                            "with CL_BUILD_PROGRAM_FAILURE (%d); the build log is above",
                            ctx->info.name, (int)rc);
        return MCL_CL_CHECK_CODE(rc, "clBuildProgram", err, "building mnist-cl's OpenCL kernels");
    }
    /* mnist-cl's kernels build without a diagnostic on every driver it has met: anything the
     * compiler says is kept for the tests (which fail on it) and shown in debug logs. */
    free(ctx->build_log);
    ctx->build_log = extra_source == NULL ? build_log(ctx, program) : NULL;
    if (ctx->build_log != NULL)
        mcl_log(ctx, MCL_LOG_DEBUG, "OpenCL build log for %s:\n%s", ctx->info.name,
                ctx->build_log);
    mcl_program_cache_store(ctx, &key, program);
    *out = program;
    return MCL_OK;
}
