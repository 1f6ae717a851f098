/* Internal view of the OpenCL context and the helpers the rest of mnist-cl uses to talk to
 * OpenCL objects (src/device/device.c); the checked-call macros come from cl_status.h. Creating
 * a context is src/device/context.h's, and its GEMM state is src/device/gemm.c's own. */
#ifndef MCL_DEVICE_DEVICE_H
#define MCL_DEVICE_DEVICE_H

#include <stdatomic.h>

#include "device/cl_status.h"
#include "device/kernel_shapes.h"

struct mcl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;  /* in-order; every mnist-cl command goes here */
    cl_program program;      /* every kernel file of cl/, built once */
    bool program_from_cache; /* the program came from the binary cache (program_cache.h) */
    bool profiling;          /* the queue records event times (mcl_context_options.profile) */
    uint64_t program_hash;   /* the program's cache key (program_cache.h); 0 when off */
    struct mcl_gemm *gemm;   /* the GEMM provider's state, owned by src/device/gemm.c */
    cl_mem scratch;          /* mcl_scratch_reserve's buffer, grown on demand */
    size_t scratch_floats;
    cl_mem zeros; /* mcl_zeros's buffer, grown on demand */
    size_t zeros_floats;
    /* Bytes of the buffers mcl_buffer_create made that are still alive, and the most at once.
     * Shared with those buffers' destructor callbacks, which drivers may run from their own
     * threads after the context is gone (PoCL does): the last owner frees it. */
    struct mcl_memory_count *memory;
    struct mcl_kernel_profile *kernel_profile; /* per-kernel times when profiling, owned */
    mcl_kernel_shapes shapes; /* the kernels' tiles and vector widths (kernel_shapes.h) */
    bool fills_as_writes;     /* mcl_fill writes instead of filling (see mcl_fill) */
    bool capped;              /* info carries limits below the device's (mcl_device_caps) */
    bool kernels_tuned;       /* shapes came from a stored tuning (kernel_tuning.h) */
    bool uncached;            /* build from source and keep nothing (the tuner's candidates) */
    char *build_log;          /* what the compiler said building the program from source (NULL:
                                 nothing, or it came from a cache), owned */
    mcl_device_info info;
    mcl_log_fn log;
    void *log_user;
};

/* Writes a message to the context's log callback (or stderr). */
void mcl_log(const mcl_context *ctx, mcl_log_level level, const char *fmt, ...) MCL_PRINTF(3, 4);

/* Creates a kernel from the context's program. Caller releases it with clReleaseKernel. */
mcl_status mcl_kernel_create(mcl_context *ctx, const char *name, cl_kernel *out, mcl_error *err);

/* The largest work-group `kernel` may run in along dimension `dim` on ctx's device, as mnist-cl
 * uses it (its caps included): the kernel's own limit, the device's work-group size and that
 * dimension's work-item size, and the local memory for `local_bytes_per_item` bytes each. */
mcl_status mcl_kernel_group_limit(const mcl_context *ctx, cl_kernel kernel, unsigned dim,
                                  size_t local_bytes_per_item, size_t *out, mcl_error *err);

/* Sets kernel arguments from (size, pointer) pairs; names the kernel and argument on failure. */
typedef struct mcl_kernel_arg {
    size_t size;
    const void *value;
} mcl_kernel_arg;
#define MCL_ARG(v) ((mcl_kernel_arg){sizeof(v), &(v)})
#define MCL_LOCAL_ARG(bytes) ((mcl_kernel_arg){(bytes), NULL})
mcl_status mcl_kernel_set_args(cl_kernel kernel, const mcl_kernel_arg *args, unsigned count,
                               mcl_error *err);
#define MCL_SET_ARGS(kernel, err, ...)                                                             \
    mcl_kernel_set_args(                                                                           \
        (kernel), (const mcl_kernel_arg[]){__VA_ARGS__},                                           \
        (unsigned)(sizeof((const mcl_kernel_arg[]){__VA_ARGS__}) / sizeof(mcl_kernel_arg)), (err))

/* Enqueues a kernel over an exact global range (1-3 dims, local size chosen by the driver). */
mcl_status mcl_enqueue(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                       mcl_error *err);

/* The same with an explicit local size (kernels with a required work-group size). */
mcl_status mcl_enqueue_local(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                             const size_t *local, mcl_error *err);

/* Launches one of the streaming kernels (VEC_KERNEL in cl/common.cl) over `global`, in
 * work-groups of one where the device's shapes say so; *done as mcl_enqueue_event. */
mcl_status mcl_enqueue_vector(mcl_context *ctx, cl_kernel kernel, cl_uint dims,
                              const size_t *global, cl_event *done, mcl_error *err);

/* The same, and *done (when not NULL) receives the launch's event, which the caller releases
 * (a marker's, for an empty range). */
mcl_status mcl_enqueue_event(mcl_context *ctx, cl_kernel kernel, cl_uint dims, const size_t *global,
                             const size_t *local, cl_event *done, mcl_error *err);

/* The context's scratch buffer, grown to hold at least `floats` floats, in *out (owned by the
 * context). Its content lasts until the next command that reserves scratch: users enqueue
 * their producer and consumer back to back, and the in-order queue keeps a buffer that a
 * growth released alive until the commands using it are done. */
mcl_status mcl_scratch_reserve(mcl_context *ctx, size_t floats, cl_mem *out, mcl_error *err);

/* Frees the scratch buffer (the next mcl_scratch_reserve makes a new one). */
void mcl_scratch_release(mcl_context *ctx);

/* A buffer of at least `floats` zeros that kernels read and never write, in *out (owned by the
 * context). */
mcl_status mcl_zeros(mcl_context *ctx, size_t floats, cl_mem *out, mcl_error *err);

/* Sets `bytes` bytes of `buffer` from `offset` on to copies of the `pattern_size`-byte pattern
 * (clEnqueueFillBuffer). On drivers whose checkers do not see fills as initialising memory
 * (oclgrind) it writes the bytes from the host instead; the result is the same. */
mcl_status mcl_fill(mcl_context *ctx, cl_mem buffer, const void *pattern, size_t pattern_size,
                    size_t offset, size_t bytes, const char *what, mcl_error *err);

/* The context's count of the device memory its buffers hold (mcl_context_device_memory),
 * shared with the buffers' destructor callbacks. Created with one reference, the context's;
 * the last release frees it. */
typedef struct mcl_memory_count mcl_memory_count;
mcl_memory_count *mcl_memory_count_create(void); /* NULL when out of host memory */
void mcl_memory_count_release(mcl_memory_count *m);

/* Creates a device buffer of `bytes` (no host pointer). Caller releases with clReleaseMemObject.
 * `what` names the buffer in error messages. */
mcl_status mcl_buffer_create(mcl_context *ctx, size_t bytes, cl_mem *out, const char *what,
                             mcl_error *err);

#endif
