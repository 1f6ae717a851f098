/* Platform and device discovery (src/device/platforms.c), beside the public mcl_device_list. */
#ifndef MCL_DEVICE_PLATFORMS_H
#define MCL_DEVICE_PLATFORMS_H

#include "device/cl_status.h"

/* Picks (platform, device) as mcl_context_create documents its default: the options' indices,
 * else MNIST_CL_PLATFORM / MNIST_CL_DEVICE, else the first GPU, else the first device. *pi_out
 * and *di_out receive the indices. MCL_ERR_NO_DEVICE names what does not exist. */
mcl_status mcl_device_choose(const mcl_context_options *options, cl_platform_id *platform_out,
                             cl_device_id *device_out, uint32_t *pi_out, uint32_t *di_out,
                             mcl_error *err);

/* Fills *info for `device` of `platform`, which are platform `pi`'s device `di`. */
mcl_status mcl_device_query(cl_platform_id platform, cl_device_id device, uint32_t pi, uint32_t di,
                            mcl_device_info *info, mcl_error *err);

#endif
