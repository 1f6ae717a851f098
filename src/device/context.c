/* The context: the device chosen, its limits lowered to the caps, the kernel shapes (the
 * class's, a stored tuning's or the tuner's), the OpenCL context and queue, the program, the
 * GEMM provider and its start-up check. The top of device/: it calls the program builder, the
 * tunings and the GEMM module, and none of them calls it. */
#include "device/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "device/gemm.h"
#include "device/gemm_tune.h"
#include "device/kernel_profile.h"
#include "device/kernel_tuning.h"
#include "device/platforms.h"
#include "device/program.h"
#include "device/self_check.h"

/* MNIST_CL_DEVICE_CAPS ("work_group=64,local_mem=16384,vector_width=8") into *caps, for the
 * fields the options left at 0. */
static mcl_status caps_from_env(mcl_device_caps *caps, mcl_error *err) {
    const char *env = getenv("MNIST_CL_DEVICE_CAPS");
    if (env == NULL || env[0] == '\0') return MCL_OK;
    char buf[256];
    if (strlen(env) >= sizeof buf)
        return mcl_fail(err, MCL_ERR_USAGE, "MNIST_CL_DEVICE_CAPS is too long");
    strcpy(buf, env);
    char *save = NULL;
    static const char *const classes[] = {"cpu16", "cpu8", "cpu4", "simt"};
    for (char *item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (strncmp(item, "class=", 6) == 0) {
            uint32_t found = 0;
            for (uint32_t c = 0; c < 4; c++)
                if (strcmp(item + 6, classes[c]) == 0) found = c + 1;
            if (found == 0)
                return mcl_fail(
                    err, MCL_ERR_USAGE,
                    "MNIST_CL_DEVICE_CAPS: class must be cpu16, cpu8, cpu4 or simt, not "
                    "'%s'",
                    item + 6);
            if (caps->kernel_class == 0) caps->kernel_class = found;
            continue;
        }
        char *eq = strchr(item, '=');
        char *end = NULL;
        unsigned long long v = eq != NULL ? strtoull(eq + 1, &end, 10) : 0;
        if (eq == NULL || end == eq + 1 || *end != '\0' || v == 0)
            return mcl_fail(err, MCL_ERR_USAGE,
                            "MNIST_CL_DEVICE_CAPS: '%s' is not name=positive-number (names: "
                            "work_group, local_mem, vector_width)",
                            item);
        *eq = '\0';
        if (strcmp(item, "work_group") == 0) {
            if (caps->max_work_group_size == 0) caps->max_work_group_size = (size_t)v;
        } else if (strcmp(item, "local_mem") == 0) {
            if (caps->local_mem_bytes == 0) caps->local_mem_bytes = v;
        } else if (strcmp(item, "vector_width") == 0) {
            if (caps->vector_width == 0) caps->vector_width = (uint32_t)v;
        } else {
            return mcl_fail(err, MCL_ERR_USAGE,
                            "MNIST_CL_DEVICE_CAPS: unknown limit '%s' (known: work_group, "
                            "local_mem, vector_width, class)",
                            item);
        }
    }
    return MCL_OK;
}

/* The device as mnist-cl uses it: its limits lowered to the caps. */
static void apply_caps(mcl_device_info *info, const mcl_device_caps *caps) {
    size_t wg = caps->max_work_group_size;
    if (wg > 0 && wg < info->max_work_group_size) info->max_work_group_size = wg;
    for (int d = 0; d < 3; d++)
        if (wg > 0 && wg < info->max_work_item_sizes[d]) info->max_work_item_sizes[d] = wg;
    if (caps->local_mem_bytes > 0 && caps->local_mem_bytes < info->local_mem_bytes)
        info->local_mem_bytes = caps->local_mem_bytes;
    if (caps->vector_width > 0) {
        info->native_vector_width_float = caps->vector_width;
        info->preferred_vector_width_float = caps->vector_width;
    }
}

mcl_status mcl_context_create(const mcl_context_options *options, mcl_context **out,
                              mcl_error *err) {
    return mcl_context_create_shaped(options, NULL, out, err);
}

mcl_status mcl_context_create_shaped(const mcl_context_options *options,
                                     const mcl_kernel_shapes *shapes, mcl_context **out,
                                     mcl_error *err) {
    *out = NULL;
    mcl_context_options defaults = {.platform = -1, .device = -1};
    const mcl_context_options *opt = options != NULL ? options : &defaults;
    mcl_context *ctx = mcl_calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the OpenCL context");
    ctx->log = opt->log;
    ctx->log_user = opt->log_user;
    ctx->memory = mcl_memory_count_create();
    if (ctx->memory == NULL) {
        free(ctx);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the OpenCL context");
    }
    uint32_t pi = 0, di = 0;
    mcl_device_caps caps = opt->caps;
    mcl_status st = caps_from_env(&caps, err);
    if (st == MCL_OK) st = mcl_device_choose(opt, &ctx->platform, &ctx->device, &pi, &di, err);
    if (st == MCL_OK) st = mcl_device_query(ctx->platform, ctx->device, pi, di, &ctx->info, err);
    if (st == MCL_OK) {
        apply_caps(&ctx->info, &caps);
        ctx->capped = caps.max_work_group_size > 0 || caps.local_mem_bytes > 0;
        bool forced = caps.kernel_class > 0 && caps.kernel_class <= MCL_CLASS_COUNT;
        ctx->shapes = forced ? mcl_kernel_shapes_of_class((mcl_device_class)(caps.kernel_class - 1))
                             : mcl_kernel_shapes_for(&ctx->info);
        /* The tuner's candidates come with their shapes; other contexts take a stored tuning
         * (not under forced shapes, which are a test's). */
        ctx->uncached = shapes != NULL;
        if (shapes != NULL)
            ctx->shapes = *shapes;
        else if (!forced)
            mcl_kernel_tuning_apply_stored(ctx);
        /* Oclgrind (the strict simulator the tests run under) takes memory filled by
         * clEnqueueFillBuffer as uninitialised; writes it tracks. */
        ctx->fills_as_writes = strstr(ctx->info.platform_name, "Oclgrind") != NULL;
    }
    if (st == MCL_OK) {
        cl_int rc = CL_SUCCESS;
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform,
                                         0};
        ctx->context = MCL_CL_CREATE(MCL_FAULT_CL_CONTEXT,
                                     clCreateContext(props, 1, &ctx->device, NULL, NULL, &rc), &rc);
        st = MCL_CL_CHECK_CODE(rc, "clCreateContext", err, "creating the OpenCL context");
    }
    if (st == MCL_OK && opt->profile) ctx->kernel_profile = mcl_kernel_profile_create();
    if (st == MCL_OK) {
        cl_int rc = CL_SUCCESS;
        ctx->profiling = opt->profile;
        ctx->queue =
            MCL_CL_CREATE(MCL_FAULT_CL_QUEUE,
                          clCreateCommandQueue(ctx->context, ctx->device,
                                               opt->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &rc),
                          &rc);
        st = MCL_CL_CHECK_CODE(rc, "clCreateCommandQueue", err, "creating the command queue");
    }
    if (st == MCL_OK) st = mcl_program_build(ctx, NULL, &ctx->program, err);
    if (st == MCL_OK) st = mcl_gemm_create(ctx, opt->gemm, err);
    if (st == MCL_OK) mcl_gemm_tuning_apply_stored(ctx);
    if (st == MCL_OK) st = mcl_context_verify_gemm(ctx, err);
    if (st != MCL_OK) {
        mcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return MCL_OK;
}

void mcl_context_describe_kernels(const mcl_context *ctx, char *out, size_t size) {
    mcl_kernel_shapes_describe(&ctx->shapes, out, size);
}

const mcl_device_info *mcl_context_device(const mcl_context *ctx) {
    return &ctx->info;
}

void mcl_context_free(mcl_context *ctx) {
    if (ctx == NULL) return;
    if (ctx->queue != NULL) {
        mcl_cl_drain(ctx->queue);
        mcl_cl_release_queue(ctx->queue);
    }
    mcl_gemm_free(ctx);
    mcl_cl_release_mem(ctx->scratch);
    mcl_cl_release_mem(ctx->zeros);
    mcl_cl_release_program(ctx->program);
    mcl_cl_release_context(ctx->context);
    mcl_memory_count_release(ctx->memory);
    mcl_kernel_profile_free(ctx->kernel_profile);
    free(ctx->build_log);
    free(ctx);
}
