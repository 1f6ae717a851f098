/* Platform/device discovery, the context (device, queue, program), and small OpenCL helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/gemm.h"
#include "device/gemm_tune.h"
#include "device/kernel_profile.h"
#include "device/kernel_tuning.h"

const char *mcl_device_type_str(mcl_device_type type) {
    switch (type) {
    case MCL_DEVICE_CPU:
        return "CPU";
    case MCL_DEVICE_GPU:
        return "GPU";
    case MCL_DEVICE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

static mcl_status platform_ids(cl_platform_id **out, cl_uint *count, mcl_error *err) {
    cl_uint n = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &n);
    /* The ICD loader reports "no platform" as CL_PLATFORM_NOT_FOUND_KHR (-1001). */
    if (rc == -1001 || (rc == CL_SUCCESS && n == 0))
        return mcl_fail(err, MCL_ERR_NO_PLATFORM,
                        "no OpenCL platform is installed; install a driver, e.g. "
                        "'sudo apt-get install pocl-opencl-icd' for the CPU (or run tools/setup)");
    MCL_CL_TRY(rc, err, "listing OpenCL platforms");
    cl_platform_id *ids = calloc(n, sizeof *ids);
    if (ids == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    mcl_status st = MCL_CL_CHECK(clGetPlatformIDs(n, ids, NULL), err, "listing OpenCL platforms");
    if (st != MCL_OK) {
        free(ids);
        return st;
    }
    *out = ids;
    *count = n;
    return MCL_OK;
}

/* Devices of one platform; a platform without devices yields count 0 (not an error). */
static mcl_status device_ids(cl_platform_id platform, cl_device_id **out, cl_uint *count,
                             mcl_error *err) {
    cl_uint n = 0;
    cl_int rc = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n);
    *out = NULL;
    *count = 0;
    if (rc == CL_DEVICE_NOT_FOUND) return MCL_OK;
    MCL_CL_TRY(rc, err, "listing OpenCL devices");
    cl_device_id *ids = calloc(n, sizeof *ids);
    if (ids == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    mcl_status st = MCL_CL_CHECK(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, n, ids, NULL), err,
                                 "listing OpenCL devices");
    if (st != MCL_OK) {
        free(ids);
        return st;
    }
    *out = ids;
    *count = n;
    return MCL_OK;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        s[--n] = '\0';
}

#define DEVICE_INFO(param, var, what)                                                              \
    MCL_CL_TRY(clGetDeviceInfo(device, param, sizeof(var), &(var), NULL), err, what)

/* An OpenCL info string of any length (drivers put build details into version strings, e.g.
 * PoCL's "OpenCL 3.0 PoCL HSTR: pthread-x86_64-pc-linux-gnu-skylake-avx512"), from the device
 * if `device` is not NULL, else from the platform. The caller frees *out. */
static mcl_status info_text(cl_platform_id platform, cl_device_id device, cl_uint param, char **out,
                            const char *what, mcl_error *err) {
    *out = NULL;
    size_t size = 0;
    if (device != NULL)
        MCL_CL_TRY(clGetDeviceInfo(device, param, 0, NULL, &size), err, what);
    else
        MCL_CL_TRY(clGetPlatformInfo(platform, param, 0, NULL, &size), err, what);
    char *text = calloc(size + 1, 1);
    if (text == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory %s", what);
    mcl_status st =
        device != NULL
            ? MCL_CL_CHECK(clGetDeviceInfo(device, param, size, text, NULL), err, what)
            : MCL_CL_CHECK(clGetPlatformInfo(platform, param, size, text, NULL), err, what);
    if (st != MCL_OK) {
        free(text);
        return st;
    }
    *out = text;
    return MCL_OK;
}

/* info_text into a fixed field of mcl_device_info, cut short if longer, trailing blanks trimmed. */
static mcl_status info_field(cl_platform_id platform, cl_device_id device, cl_uint param,
                             char *field, size_t field_size, const char *what, mcl_error *err) {
    char *text;
    mcl_status st = info_text(platform, device, param, &text, what, err);
    if (st != MCL_OK) return st;
    snprintf(field, field_size, "%s", text);
    free(text);
    trim(field);
    return MCL_OK;
}

#define INFO_FIELD(platform, device, param, field, what)                                           \
    do {                                                                                           \
        mcl_status field_st_ =                                                                     \
            info_field(platform, device, param, field, sizeof(field), what, err);                  \
        if (field_st_ != MCL_OK) return field_st_;                                                 \
    } while (0)

static mcl_status device_info(cl_platform_id platform, cl_device_id device, uint32_t pi,
                              uint32_t di, mcl_device_info *info, mcl_error *err) {
    memset(info, 0, sizeof *info);
    info->platform_index = pi;
    info->device_index = di;
    INFO_FIELD(platform, NULL, CL_PLATFORM_NAME, info->platform_name, "querying the platform name");
    INFO_FIELD(platform, NULL, CL_PLATFORM_VERSION, info->platform_version,
               "querying the platform version");
    INFO_FIELD(NULL, device, CL_DEVICE_NAME, info->name, "querying the device name");
    INFO_FIELD(NULL, device, CL_DEVICE_VENDOR, info->vendor, "querying the device vendor");
    INFO_FIELD(NULL, device, CL_DRIVER_VERSION, info->driver_version,
               "querying the driver version");
    INFO_FIELD(NULL, device, CL_DEVICE_VERSION, info->device_version,
               "querying the device version");
    INFO_FIELD(NULL, device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
               "querying the OpenCL C version");
    cl_device_type type;
    DEVICE_INFO(CL_DEVICE_TYPE, type, "querying the device type");
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? MCL_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? MCL_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? MCL_DEVICE_ACCELERATOR
                                                       : MCL_DEVICE_OTHER;
    cl_uint u;
    DEVICE_INFO(CL_DEVICE_MAX_COMPUTE_UNITS, u, "querying compute units");
    info->compute_units = u;
    DEVICE_INFO(CL_DEVICE_MAX_CLOCK_FREQUENCY, u, "querying the clock");
    info->clock_mhz = u;
    cl_ulong l;
    DEVICE_INFO(CL_DEVICE_GLOBAL_MEM_SIZE, l, "querying global memory");
    info->global_mem_bytes = l;
    DEVICE_INFO(CL_DEVICE_LOCAL_MEM_SIZE, l, "querying local memory");
    info->local_mem_bytes = l;
    DEVICE_INFO(CL_DEVICE_MAX_MEM_ALLOC_SIZE, l, "querying the largest allocation");
    info->max_alloc_bytes = l;
    size_t wg;
    DEVICE_INFO(CL_DEVICE_MAX_WORK_GROUP_SIZE, wg, "querying the work-group size");
    info->max_work_group_size = wg;
    cl_uint dims = 0;
    DEVICE_INFO(CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS, dims, "querying work-item dimensions");
    size_t sizes[16] = {0};
    if (dims > 16) dims = 16;
    MCL_CL_TRY(clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof(size_t), sizes,
                               NULL),
               err, "querying work-item sizes");
    for (int d = 0; d < 3; d++)
        info->max_work_item_sizes[d] = d < (int)dims ? sizes[d] : 1;
    DEVICE_INFO(CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, u, "querying the native vector width");
    info->native_vector_width_float = u;
    DEVICE_INFO(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, u, "querying the preferred vector width");
    info->preferred_vector_width_float = u;
    char *ext;
    mcl_status st =
        info_text(NULL, device, CL_DEVICE_EXTENSIONS, &ext, "querying device extensions", err);
    if (st != MCL_OK) return st;
    info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
    info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    free(ext);
    return st;
}

mcl_status mcl_device_list(mcl_device_info **out, size_t *count, mcl_error *err) {
    *out = NULL;
    *count = 0;
    cl_platform_id *platforms = NULL;
    cl_uint nplat = 0;
    mcl_status st = platform_ids(&platforms, &nplat, err);
    if (st != MCL_OK) return st;
    mcl_device_info *list = NULL;
    size_t n = 0;
    for (cl_uint p = 0; p < nplat && st == MCL_OK; p++) {
        cl_device_id *devices = NULL;
        cl_uint ndev = 0;
        st = device_ids(platforms[p], &devices, &ndev, err);
        if (st == MCL_OK && ndev > 0) {
            mcl_device_info *grown = realloc(list, (n + ndev) * sizeof *list);
            if (grown == NULL) {
                st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
            } else {
                list = grown;
                for (cl_uint d = 0; d < ndev && st == MCL_OK; d++)
                    st = device_info(platforms[p], devices[d], p, d, &list[n++], err);
            }
        }
        free(devices);
    }
    free(platforms);
    if (st != MCL_OK) {
        free(list);
        return st;
    }
    *out = list;
    *count = n;
    return MCL_OK;
}

void mcl_device_list_free(mcl_device_info *list) {
    free(list);
}

/* An index from the environment variable `name` into *out (left alone when unset). */
static mcl_status index_from_env(const char *name, int *out, mcl_error *err) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') return MCL_OK;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < 0 || n > 1023)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "%s must be an index from 'mnist-cl devices' (0, 1, ...), not '%s'", name,
                        v);
    *out = (int)n;
    return MCL_OK;
}

/* Picks (platform, device) following mcl_context_create's documented default. */
static mcl_status choose_device(const mcl_context_options *options, cl_platform_id *platform_out,
                                cl_device_id *device_out, uint32_t *pi_out, uint32_t *di_out,
                                mcl_error *err) {
    mcl_context_options chosen = *options;
    const mcl_context_options *opt = &chosen;
    mcl_status st = MCL_OK;
    if (chosen.platform < 0 && chosen.device < 0) {
        st = index_from_env("MNIST_CL_PLATFORM", &chosen.platform, err);
        if (st == MCL_OK) st = index_from_env("MNIST_CL_DEVICE", &chosen.device, err);
        if (st != MCL_OK) return st;
    }
    cl_platform_id *platforms = NULL;
    cl_uint nplat = 0;
    st = platform_ids(&platforms, &nplat, err);
    if (st != MCL_OK) return st;
    if (opt->platform >= 0 && (cl_uint)opt->platform >= nplat) {
        free(platforms);
        return mcl_fail(err, MCL_ERR_NO_DEVICE,
                        "platform %d does not exist: this machine has %u OpenCL platform%s "
                        "(0..%u); run 'mnist-cl devices' to list them",
                        opt->platform, nplat, nplat == 1 ? "" : "s", nplat - 1);
    }
    /* Two passes over the candidate platforms: first look for a GPU, then take any device. */
    bool found = false;
    for (int pass = 0; pass < 2 && !found && st == MCL_OK; pass++) {
        for (cl_uint p = 0; p < nplat && !found && st == MCL_OK; p++) {
            if (opt->platform >= 0 && p != (cl_uint)opt->platform) continue;
            cl_device_id *devices = NULL;
            cl_uint ndev = 0;
            st = device_ids(platforms[p], &devices, &ndev, err);
            if (st == MCL_OK && opt->device >= 0) {
                if ((cl_uint)opt->device >= ndev) {
                    st = mcl_fail(err, MCL_ERR_NO_DEVICE,
                                  "device %d does not exist on platform %u, which has %u "
                                  "device%s; run 'mnist-cl devices' to list them",
                                  opt->device, p, ndev, ndev == 1 ? "" : "s");
                } else {
                    *platform_out = platforms[p];
                    *device_out = devices[opt->device];
                    *pi_out = p;
                    *di_out = (uint32_t)opt->device;
                    found = true;
                }
            }
            for (cl_uint d = 0; st == MCL_OK && !found && opt->device < 0 && d < ndev; d++) {
                cl_device_type type = 0;
                st = MCL_CL_CHECK(
                    clGetDeviceInfo(devices[d], CL_DEVICE_TYPE, sizeof type, &type, NULL), err,
                    "querying the device type");
                if (st == MCL_OK && (pass == 1 || (type & CL_DEVICE_TYPE_GPU))) {
                    *platform_out = platforms[p];
                    *device_out = devices[d];
                    *pi_out = p;
                    *di_out = d;
                    found = true;
                }
            }
            free(devices);
        }
    }
    free(platforms);
    if (st == MCL_OK && !found)
        st = mcl_fail(err, MCL_ERR_NO_DEVICE,
                      "no OpenCL device found%s; run 'mnist-cl devices' to list them",
                      opt->platform >= 0 ? " on that platform" : "");
    return st;
}

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
typedef struct mcl_memory_count {
    _Atomic uint64_t current, peak;
    _Atomic unsigned refs;
} mcl_memory_count;

/* Created with one reference, the context's. */
static mcl_memory_count *memory_count_create(void) {
    mcl_memory_count *m = malloc(sizeof *m);
    if (m == NULL) return NULL;
    atomic_init(&m->current, 0);
    atomic_init(&m->peak, 0);
    atomic_init(&m->refs, 1);
    return m;
}

static void memory_count_release(mcl_memory_count *m) {
    if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

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
                return mcl_fail(err, MCL_ERR_USAGE,
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
    mcl_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    ctx->log = opt->log;
    ctx->log_user = opt->log_user;
    ctx->memory = memory_count_create();
    if (ctx->memory == NULL) {
        free(ctx);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    }
    uint32_t pi = 0, di = 0;
    mcl_device_caps caps = opt->caps;
    mcl_status st = caps_from_env(&caps, err);
    if (st == MCL_OK) st = choose_device(opt, &ctx->platform, &ctx->device, &pi, &di, err);
    if (st == MCL_OK) st = device_info(ctx->platform, ctx->device, pi, di, &ctx->info, err);
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
        ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &rc);
        st = MCL_CL_CHECK(rc, err, "creating the OpenCL context");
    }
    if (st == MCL_OK && opt->profile) ctx->kernel_profile = mcl_kernel_profile_create();
    if (st == MCL_OK) {
        cl_int rc = CL_SUCCESS;
        ctx->profiling = opt->profile;
        ctx->queue = clCreateCommandQueue(ctx->context, ctx->device,
                                          opt->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &rc);
        st = MCL_CL_CHECK(rc, err, "creating the command queue");
    }
    if (st == MCL_OK) st = mcl_program_build(ctx, NULL, &ctx->program, err);
    if (st == MCL_OK) mcl_gemm_tuning_apply_stored(ctx);
    if (st == MCL_OK) st = mcl_gemm_choose(ctx, opt->gemm, err);
    if (st == MCL_OK) st = mcl_context_verify_gemm(ctx, err);
    if (st != MCL_OK) {
        mcl_context_free(ctx);
        return st;
    }
    *out = ctx;
    return MCL_OK;
}

bool mcl_context_gemm_tuned(const mcl_context *ctx) {
    return ctx->gemm_tuned;
}

const char *mcl_context_gemm_name(const mcl_context *ctx) {
    return ctx->gemm_tiled ? "mnist-cl tiled kernels" : "CLBlast";
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
        clFinish(ctx->queue);
        clReleaseCommandQueue(ctx->queue);
    }
    mcl_gemm_release(ctx);
    if (ctx->scratch != NULL) clReleaseMemObject(ctx->scratch);
    if (ctx->zeros != NULL) clReleaseMemObject(ctx->zeros);
    if (ctx->program != NULL) clReleaseProgram(ctx->program);
    if (ctx->context != NULL) clReleaseContext(ctx->context);
    memory_count_release(ctx->memory);
    mcl_kernel_profile_free(ctx->kernel_profile);
    free(ctx->build_log);
    free(ctx);
}

/* A context-owned buffer of at least `floats` floats in *buf (*have: its size), replaced by a
 * larger one when needed (zero-filled if `zero`). The in-order queue keeps a released buffer
 * alive until the commands using it are done. */
static mcl_status grow_buffer(mcl_context *ctx, cl_mem *buf, size_t *have, size_t floats, bool zero,
                              const char *what, mcl_error *err) {
    if (*have >= floats) return MCL_OK;
    if (*buf != NULL) clReleaseMemObject(*buf);
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
    unsigned char *host = malloc(bytes);
    if (host == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory %s", what);
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
    if (ctx->scratch != NULL) clReleaseMemObject(ctx->scratch);
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
    *out = clCreateKernel(ctx->program, name, &rc);
    if (rc != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "creating kernel '%s'", name);
        *out = NULL;
        return MCL_CL_CHECK(rc, err, what);
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
        cl_int rc = clSetKernelArg(kernel, i, args[i].size, args[i].value);
        if (rc != CL_SUCCESS) {
            char name[96] = "?", what[160];
            clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
            snprintf(what, sizeof what, "setting argument %u of kernel '%s'", i, name);
            return MCL_CL_CHECK(rc, err, what);
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
        if (global[d] == 0) /* an empty range is a no-op, not an error */
            return done != NULL ? MCL_CL_CHECK(clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL,
                                                                             done),
                                               err, "marking an empty launch")
                                : MCL_OK;
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
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, global, local, 0, NULL,
                                       timed || done != NULL ? &event : NULL);
    char name[96] = "?";
    if (rc != CL_SUCCESS || timed)
        clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name - 1, name, NULL);
    if (rc != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "running kernel '%s'", name);
        return MCL_CL_CHECK(rc, err, what);
    }
    if (done != NULL) {
        *done = event;
        if (timed) clRetainEvent(event); /* one reference each: the caller's, the profile's */
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
    memory_count_release(r->memory);
    free(r);
}

/* Counts a new buffer towards the context's current and peak device memory. Best effort: if
 * the record cannot be made or the driver takes no callback, the buffer is simply not counted. */
static void count_buffer(mcl_context *ctx, cl_mem mem, uint64_t bytes) {
    mcl_memory_count *m = ctx->memory;
    buffer_record *r = malloc(sizeof *r);
    if (r == NULL || m == NULL) {
        free(r);
        return;
    }
    *r = (buffer_record){m, bytes};
    atomic_fetch_add(&m->refs, 1);
    if (clSetMemObjectDestructorCallback(mem, buffer_released, r) != CL_SUCCESS) {
        memory_count_release(m);
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
    cl_mem mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes > 0 ? bytes : 4, NULL, &rc);
    char msg[160];
    snprintf(msg, sizeof msg, "allocating %s (%.1f MiB)", what, (double)bytes / 1048576.0);
    MCL_CL_TRY(rc, err, msg);
    count_buffer(ctx, mem, bytes > 0 ? bytes : 4);
    *out = mem;
    return MCL_OK;
}
