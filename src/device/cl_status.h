/* The checked-call macros every OpenCL call goes through (src/device/cl_status.c), and the
 * OpenCL headers at the version mnist-cl targets. The bottom of device/: it needs nothing but
 * core/ and the public header. */
#ifndef MCL_DEVICE_CL_STATUS_H
#define MCL_DEVICE_CL_STATUS_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "core/error.h"
#include "mnistcl/mnistcl.h"

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

#endif
