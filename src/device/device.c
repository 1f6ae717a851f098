/* The OpenCL helpers every layer above uses: the log, kernels and their arguments, launches,
 * the context's scratch and zero buffers, fills, and counted buffers. Creating the context
 * they work on is src/device/context.c's job; nothing here calls back up into it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "device/device.h"
#include "device/kernel_profile.h"

static void default_log(mcl_log_level level, const char *message, void *user) {
    (void)user;
    if (level >= MCL_LOG_INFO) fprintf(stderr, "%s\n", message);
}

void mcl_log(const mcl_context *ctx, mcl_log_level level, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (ctx != NULL && ctx->log != NULL)
        ctx->log(level, buf, ctx->log_user);
    else
        default_log(level, buf, NULL);
}

/* The context's device-memory count. Each counted buffer's destructor callback holds a
 * reference, as does the context: PoCL releases buffers (and calls the callbacks) from its
 * worker threads, possibly after mcl_context_free; a callback that reached into a freed context
 * was a use-after-free that AddressSanitizer caught. */
struct mcl_memory_count {
    _Atomic uint64_t current, peak;
    _Atomic unsigned refs;
};

mcl_memory_count *mcl_memory_count_create(void) {
    mcl_memory_count *m = mcl_malloc(sizeof *m);
    if (m == NULL) return NULL;
    atomic_init(&m->current, 0);
    atomic_init(&m->peak, 0);
    atomic_init(&m->refs, 1);
    return m;
}

void mcl_memory_count_release(mcl_memory_count *m) {
    if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

/* A context-owned buffer of at least `floats` floats in *buf (*have: its size), replaced by a
 * larger one when needed (zero-filled if `zero`). The in-order queue keeps a released buffer
 * alive until the commands using it are done. */
static mcl_status grow_buffer(mcl_context *ctx, cl_mem *buf, size_t *have, size_t floats, bool zero,
                              const char *what, mcl_error *err) {
    if (*have >= floats) return MCL_OK;
    mcl_cl_release_mem(*buf);
    *buf = NULL;
    *have = 0;
    mcl_status st = mcl_buffer_create(ctx, floats * sizeof(float), buf, what, err);
    const float value = 0.0f;
    if (st == MCL_OK && zero)
        st = mcl_fill(ctx, *buf, &value, sizeof value, 0, floats * sizeof(float), what, err);
    if (st == MCL_OK) *have = floats;
    return st;
}

mcl_status mcl_fill(mcl_context *ctx, cl_mem buffer, const void *pattern, size_t pattern_size,
                    size_t offset, size_t bytes, const char *what, mcl_error *err) {
    if (bytes == 0) return MCL_OK;
    if (!ctx->fills_as_writes)
        return MCL_CL_CHECK(clEnqueueFillBuffer(ctx->queue, buffer, pattern, pattern_size, offset,
                                                bytes, 0, NULL, NULL),
                            err, what);
    unsigned char *host = mcl_malloc(bytes);
    if (host == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for %s", what);
    for (size_t i = 0; i < bytes; i++)
        host[i] = ((const unsigned char *)pattern)[i % pattern_size];
    /* Blocking, so the host copy can go at once; only the simulator takes this path. */
    mcl_status st = MCL_CL_CHECK(
        clEnqueueWriteBuffer(ctx->queue, buffer, CL_TRUE, offset, bytes, host, 0, NULL, NULL), err,
        what);
    free(host);
    return st;
}

mcl_status mcl_scratch_reserve(mcl_context *ctx, size_t floats, cl_mem *out, mcl_error *err) {
    mcl_status st = grow_buffer(ctx, &ctx->scratch, &ctx->scratch_floats, floats, false,
                                "the context's scratch", err);
    *out = st == MCL_OK ? ctx->scratch : NULL;
    return st;
}

void mcl_scratch_release(mcl_context *ctx) {
    mcl_cl_release_mem(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_floats = 0;
}

mcl_status mcl_zeros(mcl_context *ctx, size_t floats, cl_mem *out, mcl_error *err) {
    mcl_status st =
        grow_buffer(ctx, &ctx->zeros, &ctx->zeros_floats, floats, true, "a row of zeros", err);
    *out = st == MCL_OK ? ctx->zeros : NULL;
    return st;
}

mcl_status mcl_kernel_create(mcl_context *ctx, const char *name, cl_kernel *out, mcl_error *err) {
    cl_int rc = CL_SUCCESS;
    *out = MCL_CL_CREATE(MCL_FAULT_CL_KERNEL, clCreateKernel(ctx->program, name, &rc), &rc);
    if (rc != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "creating kernel '%s'", name);
        *out = NULL;
        return MCL_CL_CHECK_CODE(rc, "clCreateKernel", err, what);
    }
    return MCL_OK;
}

mcl_status mcl_kernel_group_limit(const mcl_context *ctx, cl_kernel kernel, unsigned dim,
                                  size_t local_bytes_per_item, size_t *out, mcl_error *err) {
    size_t limit = 0;
    *out = 1;
    MCL_CL_TRY(clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                        sizeof limit, &limit, NULL),
               err, "querying a kernel's work-group size");
    if (ctx->info.max_work_group_size < limit) limit = ctx->info.max_work_group_size;
    if (dim < 3 && ctx->info.max_work_item_sizes[dim] < limit)
        limit = ctx->info.max_work_item_sizes[dim];
    if (local_bytes_per_item > 0 && ctx->info.local_mem_bytes / local_bytes_per_item < limit)
        limit = (size_t)(ctx->info.local_mem_bytes / local_bytes_per_item);
    *out = limit > 0 ? limit : 1;
    return MCL_OK;
}

mcl_status mcl_kernel_set_args(cl_kernel kernel, const mcl_kernel_arg *args, unsigned count,
                               mcl_error *err) {
    for (unsigned i = 0; i < count; i++) {
        cl_int rc = MCL_CL_CALL(clSetKernelArg(kernel, i, args[i].size, args[i].value));
        if (rc != CL_SUCCESS) {
            char name[96] = "?", what[160];
            clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
            snprintf(what, sizeof what, "setting argument %u of kernel '%s'", i, name);
            return MCL_CL_CHECK_CODE(rc, "clSetKernelArg", err, what);
        }
    }
    return MCL_OK;
}

mcl_status mcl_enqueue(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                       mcl_error *err) {
    return mcl_enqueue_local(ctx, kernel, dims, global, NULL, err);
}

mcl_status mcl_enqueue_local(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                             const size_t *local, mcl_error *err) {
    return mcl_enqueue_event(ctx, kernel, dims, global, local, NULL, err);
}

/* MCL_ERR_DEVICE_MEMORY (local memory) or MCL_ERR_USAGE (work-group) when a launch of `kernel`
 * with `local` exceeds ctx->info's limits, naming the kernel. */
static mcl_status check_launch_fits(const mcl_context *ctx, cl_kernel kernel, cl_uint dims,
                                    const size_t *local, mcl_error *err) {
    char name[96] = "?";
    clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
    size_t items = 1;
    for (cl_uint d = 0; d < dims && d < 3; d++) {
        items *= local[d];
        if (local[d] > ctx->info.max_work_item_sizes[d])
            return mcl_fail(err, MCL_ERR_USAGE,
                            "kernel '%s': a work-group of %zu in dimension %u exceeds the "
                            "device's %zu",
                            name, local[d], d, ctx->info.max_work_item_sizes[d]);
    }
    if (items > ctx->info.max_work_group_size)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "kernel '%s': a work-group of %zu work-items exceeds the device's %zu",
                        name, items, ctx->info.max_work_group_size);
    cl_ulong local_bytes = 0;
    MCL_CL_TRY(clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                        sizeof local_bytes, &local_bytes, NULL),
               err, "querying a kernel's local memory");
    if (local_bytes > ctx->info.local_mem_bytes)
        return mcl_fail(err, MCL_ERR_DEVICE_MEMORY,
                        "kernel '%s' uses %llu bytes of local memory; the device has %llu", name,
                        (unsigned long long)local_bytes,
                        (unsigned long long)ctx->info.local_mem_bytes);
    return MCL_OK;
}

mcl_status mcl_enqueue_vector(mcl_context *ctx, cl_kernel kernel, cl_uint dims,
                              const size_t *global, cl_event *done, mcl_error *err) {
    const size_t ones[3] = {1, 1, 1};
    return mcl_enqueue_event(ctx, kernel, dims, global, ctx->shapes.vector.group1 ? ones : NULL,
                             done, err);
}

mcl_status mcl_enqueue_event(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                             const size_t *local, cl_event *done, mcl_error *err) {
    if (done != NULL) *done = NULL;
    for (cl_uint d = 0; d < dims; d++)
        if (global[d] == 0) { /* an empty range is a no-op, not an error */
            if (done == NULL) return MCL_OK;
            MCL_CL_TRY(clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, done), err,
                       "marking an empty launch");
            mcl_cl_new_event(*done);
            return MCL_OK;
        }
    /* Where mnist-cl's limits are lower than the device's (caps), a local size the driver would
     * pick might exceed them: pick one within them instead, the largest power of two in each
     * dimension that divides the global size (OpenCL 1.2 needs whole work-groups). */
    size_t chosen[3] = {1, 1, 1};
    if (local == NULL && ctx->capped) {
        size_t left = ctx->info.max_work_group_size;
        for (cl_uint d = 0; d < dims && d < 3; d++) {
            size_t limit = ctx->info.max_work_item_sizes[d] < left ? ctx->info.max_work_item_sizes[d]
                                                                   : left;
            while (chosen[d] * 2 <= limit && global[d] % (chosen[d] * 2) == 0)
                chosen[d] *= 2;
            left /= chosen[d];
        }
        local = chosen;
    }
    if (ctx->capped) {
        /* The caps are binding: a launch beyond them fails here, as it would on a device that
         * small (the tests run the op suite so, to prove every launch fits). */
        mcl_status st = check_launch_fits(ctx, kernel, dims, local, err);
        if (st != MCL_OK) return st;
    }
    bool timed = mcl_kernel_profile_recording(ctx->kernel_profile);
    cl_event event = NULL;
    cl_int rc = MCL_CL_CALL(clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, global, local, 0,
                                                   NULL, timed || done != NULL ? &event : NULL));
    char name[96] = "?";
    if (rc != CL_SUCCESS || timed)
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
    if (rc != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "running kernel '%s'", name);
        return MCL_CL_CHECK_CODE(rc, "clEnqueueNDRangeKernel", err, what);
    }
    mcl_cl_new_event(event);
    if (done != NULL) {
        *done = event;
        if (timed) mcl_cl_retain_event(event); /* one reference each: the caller's, the profile's */
    }
    if (timed) mcl_kernel_profile_add(ctx->kernel_profile, name, event);
    return MCL_OK;
}

/* What a buffer's destructor callback needs to give its bytes back. */
typedef struct buffer_record {
    mcl_memory_count *memory; /* one reference */
    uint64_t bytes;
} buffer_record;

static void CL_CALLBACK buffer_released(cl_mem mem, void *user) {
    (void)mem;
    buffer_record *r = user;
    atomic_fetch_sub(&r->memory->current, r->bytes);
    mcl_memory_count_release(r->memory);
    free(r);
}

/* Counts a new buffer towards the context's current and peak device memory. Best effort: if
 * the record cannot be made or the driver takes no callback, the buffer is simply not counted. */
static void count_buffer(mcl_context *ctx, cl_mem mem, uint64_t bytes) {
    mcl_memory_count *m = ctx->memory;
    buffer_record *r = mcl_malloc(sizeof *r);
    if (r == NULL || m == NULL) {
        free(r);
        return;
    }
    *r = (buffer_record){m, bytes};
    atomic_fetch_add(&m->refs, 1);
    if (MCL_CL_CALL(clSetMemObjectDestructorCallback(mem, buffer_released, r)) != CL_SUCCESS) {
        mcl_memory_count_release(m);
        free(r);
        return;
    }
    uint64_t now = atomic_fetch_add(&m->current, bytes) + bytes;
    uint64_t peak = atomic_load(&m->peak);
    while (now > peak && !atomic_compare_exchange_weak(&m->peak, &peak, now)) {
    }
}

void mcl_context_device_memory(const mcl_context *ctx, uint64_t *current, uint64_t *peak) {
    *current = ctx->memory != NULL ? atomic_load(&ctx->memory->current) : 0;
    *peak = ctx->memory != NULL ? atomic_load(&ctx->memory->peak) : 0;
}

void mcl_context_reset_memory_peak(mcl_context *ctx) {
    if (ctx->memory != NULL) atomic_store(&ctx->memory->peak, atomic_load(&ctx->memory->current));
}

mcl_status mcl_buffer_create(mcl_context *ctx, size_t bytes, cl_mem *out, const char *what,
                             mcl_error *err) {
    cl_int rc = CL_SUCCESS;
    *out = NULL;
    if (bytes > ctx->info.max_alloc_bytes)
        return mcl_fail(err, MCL_ERR_DEVICE_MEMORY,
                        "%s needs %.1f MiB in one buffer but %s allows at most %.1f MiB", what,
                        (double)bytes / 1048576.0, ctx->info.name,
                        (double)ctx->info.max_alloc_bytes / 1048576.0);
    cl_mem mem = MCL_CL_CREATE(
        MCL_FAULT_CL_MEM,
        clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes > 0 ? bytes : 4, NULL, &rc), &rc);
    char msg[160];
    snprintf(msg, sizeof msg, "allocating %s (%.1f MiB)", what, (double)bytes / 1048576.0);
    mcl_status st = MCL_CL_CHECK_CODE(rc, "clCreateBuffer", err, msg);
    if (st != MCL_OK) return st;
    count_buffer(ctx, mem, bytes > 0 ? bytes : 4);
    *out = mem;
    return MCL_OK;
}
