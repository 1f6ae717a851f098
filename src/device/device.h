/* Internal view of the OpenCL context, and the checked-call macros every OpenCL call goes
 * through. This header is the only way the rest of mnist-cl talks to OpenCL objects. */
#ifndef MCL_DEVICE_DEVICE_H
#define MCL_DEVICE_DEVICE_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <stdatomic.h>

#include "core/error.h"
#include "device/kernel_shapes.h"
#include "mnistcl/mnistcl.h"

struct mcl_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;    /* in-order; every mnist-cl command goes here */
    cl_program program;        /* every kernel file of cl/, built once */
    bool program_from_cache;   /* the program came from the binary cache (program_cache.h) */
    bool profiling;            /* the queue records event times (mcl_context_options.profile) */
    bool gemm_tuned;           /* a stored GEMM tuning was applied (gemm_tune.h) */
    bool gemm_tiled;           /* mcl_gemm uses cl/gemm.cl's kernels where they apply */
    bool gemm_explicit;        /* the provider was asked for (options or MNIST_CL_GEMM) */
    uint64_t program_hash;     /* the program's cache key (program_cache.h); 0 when off */
    cl_kernel gemm_kernels[5]; /* gemm_nn, gemm_tn, gemm_transpose, gemm_reduce_chunks (tiled) */
    cl_mem scratch;            /* mcl_scratch_reserve's buffer, grown on demand */
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

/* "CL_OUT_OF_RESOURCES" for -5, or "CL_UNKNOWN_ERROR" for codes OpenCL does not define. */
const char *mcl_cl_status_str(cl_int code);

/* Records a failed OpenCL call: "<what>: <clCall> failed with CL_NAME (code) [file:line]".
 * Memory errors map to MCL_ERR_DEVICE_MEMORY / MCL_ERR_HOST_MEMORY, others to MCL_ERR_OPENCL. */
mcl_status mcl_cl_fail(mcl_error *err, cl_int code, const char *call_expr, const char *file,
                       int line, const char *what);

/* Evaluates an OpenCL call returning cl_int; yields MCL_OK or the recorded failure status. */
#define MCL_CL_CHECK(call, err, what)                                                              \
    mcl_cl_check_((call), #call, __FILE__, __LINE__, (err), (what))
/* Same, but returns the failure status from the enclosing function. */
#define MCL_CL_TRY(call, err, what)                                                                \
    do {                                                                                           \
        mcl_status mcl_try_st_ = MCL_CL_CHECK(call, err, what);                                    \
        if (mcl_try_st_ != MCL_OK) return mcl_try_st_;                                             \
    } while (0)

static inline mcl_status mcl_cl_check_(cl_int code, const char *expr, const char *file, int line,
                                       mcl_error *err, const char *what) {
    return code == CL_SUCCESS ? MCL_OK : mcl_cl_fail(err, code, expr, file, line, what);
}

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

/* Creates a device buffer of `bytes` (no host pointer). Caller releases with clReleaseMemObject.
 * `what` names the buffer in error messages. */
mcl_status mcl_buffer_create(mcl_context *ctx, size_t bytes, cl_mem *out, const char *what,
                             mcl_error *err);

/* The build options for kernels of the given shapes: the OpenCL C version and the shapes' -D
 * options. False if `size` is too small. */
bool mcl_program_options(const mcl_kernel_shapes *shapes, char *out, size_t size);

/* mcl_context_create with the given kernel shapes instead of the device class's (or a stored
 * tuning's), building from source without reading or writing the program cache: the kernel
 * tuner's candidates. shapes NULL is mcl_context_create. */
mcl_status mcl_context_create_shaped(const mcl_context_options *options,
                                     const mcl_kernel_shapes *shapes, mcl_context **out,
                                     mcl_error *err);

/* Checks the context's GEMM provider against a CPU reference on the shapes the models use
 * (once per program and device: the verdict is kept beside the program's cache entry). A
 * provider the context chose by itself that fails gives way to the other one, with a warning
 * in the log; one that was asked for fails with MCL_ERR_CHECK_FAILED, as does a device on
 * which neither is right. Called by mcl_context_create. */
mcl_status mcl_context_verify_gemm(mcl_context *ctx, mcl_error *err);

/* Builds the program from the embedded sources (called by mcl_context_create). A failed build
 * sends the build log to the log callback and returns MCL_ERR_BUILD. `extra_source` (may be
 * NULL) is appended after the embedded files; tests use it to provoke a build failure. */
mcl_status mcl_program_build(mcl_context *ctx, const char *extra_source, cl_program *out,
                             mcl_error *err);

#endif
