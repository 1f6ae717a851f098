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
#include "core/fault.h"
#include "mnistcl/mnistcl.h"

/* "CL_OUT_OF_RESOURCES" for -5, or "CL_UNKNOWN_ERROR" for codes OpenCL does not define. */
const char *mcl_cl_status_str(cl_int code);

/* Records a failed OpenCL call: "<what>: <clCall> failed with CL_NAME (code) [file:line]".
 * Memory errors map to MCL_ERR_DEVICE_MEMORY / MCL_ERR_HOST_MEMORY, others to MCL_ERR_OPENCL. */
mcl_status mcl_cl_fail(mcl_error *err, cl_int code, const char *call_expr, const char *file,
                       int line, const char *what);

/* The error an injected failure of `call_expr` returns (core/fault.h): what a driver out of
 * memory gives for that call -- CL_MEM_OBJECT_ALLOCATION_FAILURE for a buffer,
 * CL_OUT_OF_HOST_MEMORY for contexts, queues, programs and kernels, CL_OUT_OF_RESOURCES for
 * the rest (launches, transfers, waits, CLBlast's calls). */
cl_int mcl_cl_fault_code(const char *call_expr);

/* Every OpenCL call that can fail goes through one of these, which are its fault-injection
 * point: in a test run told to fail it, the call is not made (so a refused create leaves no
 * object behind) and the error mcl_cl_fault_code gives is its result.
 *
 * MCL_CL_CALL: a call returning cl_int (or CLBlast's status), evaluated to that status.
 * MCL_CL_CREATE: a create call with an errcode_ret pointer `rc`, evaluated to the object (NULL
 *   and *rc set when injected); a non-NULL object is counted as a live `kind`. */
#define MCL_CL_CALL(call)                                                                          \
    (mcl_fault_point(MCL_FAULT_OPENCL, MCL_FAULT_SITE, #call) ? mcl_cl_fault_code(#call) : (call))
#define MCL_CL_CREATE(kind, call, rc)                                                              \
    (mcl_fault_point(MCL_FAULT_OPENCL, MCL_FAULT_SITE, #call) ? mcl_cl_refused_((rc), #call)       \
                                                              : mcl_fault_created((kind), (call)))

/* Evaluates an OpenCL call returning cl_int; yields MCL_OK or the recorded failure status. */
#define MCL_CL_CHECK(call, err, what)                                                              \
    mcl_cl_check_(MCL_CL_CALL(call), #call, __FILE__, __LINE__, (err), (what))
/* Same, but returns the failure status from the enclosing function. */
#define MCL_CL_TRY(call, err, what)                                                                \
    do {                                                                                           \
        mcl_status mcl_try_st_ = MCL_CL_CHECK(call, err, what);                                    \
        if (mcl_try_st_ != MCL_OK) return mcl_try_st_;                                             \
    } while (0)
/* Checks the status `code` that the OpenCL function `name` ("clCreateBuffer") gave through an
 * MCL_CL_CALL or MCL_CL_CREATE before; not a fault-injection point of its own. */
#define MCL_CL_CHECK_CODE(code, name, err, what)                                                   \
    mcl_cl_check_((code), (name), __FILE__, __LINE__, (err), (what))

static inline mcl_status mcl_cl_check_(cl_int code, const char *expr, const char *file, int line,
                                       mcl_error *err, const char *what) {
    return code == CL_SUCCESS ? MCL_OK : mcl_cl_fail(err, code, expr, file, line, what);
}

static inline void *mcl_cl_refused_(cl_int *rc, const char *call_expr) {
    if (rc != NULL) *rc = mcl_cl_fault_code(call_expr);
    return NULL;
}

/* The releases (and the one retain) of the objects counted above: every release of an object
 * mnist-cl created goes through these. NULL is ignored. */
static inline void mcl_cl_release_mem(cl_mem mem) {
    if (mem == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_MEM, -1);
    clReleaseMemObject(mem);
}

static inline void mcl_cl_release_kernel(cl_kernel kernel) {
    if (kernel == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_KERNEL, -1);
    clReleaseKernel(kernel);
}

static inline void mcl_cl_release_program(cl_program program) {
    if (program == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_PROGRAM, -1);
    clReleaseProgram(program);
}

static inline void mcl_cl_release_queue(cl_command_queue queue) {
    if (queue == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_QUEUE, -1);
    clReleaseCommandQueue(queue);
}

static inline void mcl_cl_release_context(cl_context context) {
    if (context == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_CONTEXT, -1);
    clReleaseContext(context);
}

static inline void mcl_cl_release_event(cl_event event) {
    if (event == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_EVENT, -1);
    clReleaseEvent(event);
}

static inline void mcl_cl_retain_event(cl_event event) {
    if (event == NULL) return;
    mcl_fault_live(MCL_FAULT_CL_EVENT, 1);
    clRetainEvent(event);
}

/* Waits for everything enqueued on `queue` where there is no one left to tell of a failure:
 * before releasing what the queue may still use, and on an error path that is about to free
 * host memory a non-blocking transfer still reads or writes. Not a failure point (the result
 * is ignored; the error being reported, if any, is the first one). NULL is ignored. */
static inline void mcl_cl_drain(cl_command_queue queue) {
    if (queue != NULL) clFinish(queue);
}

/* Counts an event that a successful enqueue returned (NULL: none), and returns it. */
static inline cl_event mcl_cl_new_event(cl_event event) {
    return mcl_fault_created(MCL_FAULT_CL_EVENT, event);
}

#endif
