/* The one OpenCL program that holds every kernel of cl/ (src/device/program.c): its build
 * options and its build, through the binary cache (program_cache.h). */
#ifndef MCL_DEVICE_PROGRAM_H
#define MCL_DEVICE_PROGRAM_H

#include "device/device.h"

/* The build options for kernels of the given shapes: the OpenCL C version and the shapes' -D
 * options. False if `size` is too small. */
bool mcl_program_options(const mcl_kernel_shapes *shapes, char *out, size_t size);

/* Builds the program from the embedded sources (called by mcl_context_create). A failed build
 * sends the build log to the log callback and returns MCL_ERR_BUILD. `extra_source` (may be
 * NULL) is appended after the embedded files; tests use it to provoke a build failure. */
mcl_status mcl_program_build(mcl_context *ctx, const char *extra_source, cl_program *out,
                             mcl_error *err);

#endif
