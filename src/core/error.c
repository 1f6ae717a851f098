#include "core/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    [MCL_OK] = "MCL_OK",
    [MCL_ERR_USAGE] = "MCL_ERR_USAGE",
    [MCL_ERR_IO] = "MCL_ERR_IO",
    [MCL_ERR_FORMAT] = "MCL_ERR_FORMAT",
    [MCL_ERR_NO_PLATFORM] = "MCL_ERR_NO_PLATFORM",
    [MCL_ERR_NO_DEVICE] = "MCL_ERR_NO_DEVICE",
    [MCL_ERR_OPENCL] = "MCL_ERR_OPENCL",
    [MCL_ERR_BUILD] = "MCL_ERR_BUILD",
    [MCL_ERR_GEMM] = "MCL_ERR_GEMM",
    [MCL_ERR_HOST_MEMORY] = "MCL_ERR_HOST_MEMORY",
    [MCL_ERR_DEVICE_MEMORY] = "MCL_ERR_DEVICE_MEMORY",
    [MCL_ERR_MODEL] = "MCL_ERR_MODEL",
    [MCL_ERR_DIVERGED] = "MCL_ERR_DIVERGED",
    [MCL_ERR_CHECK_FAILED] = "MCL_ERR_CHECK_FAILED",
};
static_assert(sizeof status_names / sizeof status_names[0] == MCL_STATUS_COUNT,
              "every mcl_status needs a name");

const char *mcl_status_str(mcl_status status) {
    if ((unsigned)status >= MCL_STATUS_COUNT) return "MCL_ERR_UNKNOWN";
    return status_names[status];
}

mcl_status mcl_fail(mcl_error *err, mcl_status status, const char *fmt, ...) {
    if (err != NULL) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

mcl_status mcl_error_prefix(mcl_error *err, const char *fmt, ...) {
    if (err == NULL) return MCL_ERR_USAGE;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    /* Cap the old text so the result fits; the prefix is short. */
    int keep = (int)(sizeof err->message - strlen(prefix) - 3);
    snprintf(err->message, sizeof err->message, "%s: %.*s", prefix, keep > 0 ? keep : 0, old);
    return err->status;
}
