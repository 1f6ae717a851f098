/* Creating and freeing the context (src/device/context.c); the public mcl_context_create is
 * mcl_context_create_shaped with no shapes. */
#ifndef MCL_DEVICE_CONTEXT_H
#define MCL_DEVICE_CONTEXT_H

#include "device/device.h"

/* mcl_context_create with the given kernel shapes instead of the device class's (or a stored
 * tuning's), building from source without reading or writing the program cache: the kernel
 * tuner's candidates. shapes NULL is mcl_context_create. */
mcl_status mcl_context_create_shaped(const mcl_context_options *options,
                                     const mcl_kernel_shapes *shapes, mcl_context **out,
                                     mcl_error *err);

#endif
