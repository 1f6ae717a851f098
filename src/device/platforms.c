/* Platform and device discovery: the device list, each device's description, and the default
 * choice of device. Knows nothing of contexts (src/device/context.c builds those). */
#include "device/platforms.h"
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    cl_int rc = MCL_CL_CALL(clGetPlatformIDs(0, NULL, &n));
    /* The ICD loader reports "no platform" as CL_PLATFORM_NOT_FOUND_KHR (-1001). */
    if (rc == -1001 || (rc == CL_SUCCESS && n == 0))
        return mcl_fail(err, MCL_ERR_NO_PLATFORM,
                        "no OpenCL platform is installed; install a driver, e.g. "
                        "'sudo apt-get install pocl-opencl-icd' for the CPU (or run tools/setup)");
    mcl_status listed = MCL_CL_CHECK_CODE(rc, "clGetPlatformIDs", err, "listing OpenCL platforms");
    if (listed != MCL_OK) return listed;
    cl_platform_id *ids = mcl_calloc(n, sizeof *ids);
    if (ids == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the platform list");
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
    cl_int rc = MCL_CL_CALL(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &n));
    *out = NULL;
    *count = 0;
    if (rc == CL_DEVICE_NOT_FOUND) return MCL_OK;
    mcl_status listed = MCL_CL_CHECK_CODE(rc, "clGetDeviceIDs", err, "listing OpenCL devices");
    if (listed != MCL_OK) return listed;
    cl_device_id *ids = mcl_calloc(n, sizeof *ids);
    if (ids == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the device list");
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
    char *text = mcl_calloc(size + 1, 1);
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

mcl_status mcl_device_query(cl_platform_id platform, cl_device_id device, uint32_t pi, uint32_t di,
                            mcl_device_info *info, mcl_error *err) {
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
    MCL_CL_TRY(
        clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_ITEM_SIZES, dims * sizeof(size_t), sizes, NULL),
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
            mcl_device_info *grown = mcl_realloc(list, (n + ndev) * sizeof *list);
            if (grown == NULL) {
                st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the device list");
            } else {
                list = grown;
                for (cl_uint d = 0; d < ndev && st == MCL_OK; d++)
                    st = mcl_device_query(platforms[p], devices[d], p, d, &list[n++], err);
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

mcl_status mcl_device_choose(const mcl_context_options *options, cl_platform_id *platform_out,
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
