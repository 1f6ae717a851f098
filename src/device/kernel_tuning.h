/* Measured kernel shapes (mnist-cl tune): the GEMM and convolution tiles that ran fastest on a
 * device, kept in the cache folder (program_cache.h) as text and applied by every later
 * context on that device, driver and mnist-cl version in place of its class's defaults
 * (kernel_shapes.h). A file for another device, driver, version or class, or with shapes the
 * kernels do not accept, is ignored with a warning. MNIST_CL_TUNING=0 ignores it too.
 *
 *   mnist-cl kernel tuning 1
 *   device=<name>|<vendor>|<driver version>|<platform version>
 *   version=<mnist-cl version>
 *   class=<device class index>
 *   gemm rows=8 vectors=2
 *   conv positions=8 vectors=2 channels=8 images=8
 */
#ifndef MCL_DEVICE_KERNEL_TUNING_H
#define MCL_DEVICE_KERNEL_TUNING_H

#include "device/device.h"

/* "device=<name>|<vendor>|<driver version>|<platform version>": the line a tuning file (this
 * one's and CLBlast's, gemm_tune.h) must match to be applied. */
void mcl_tuning_device_line(const mcl_context *ctx, char *out, size_t size);
/* <cache folder>/<kind>-<hash of the device line>.tune (false when the cache folder is off). */
bool mcl_tuning_file_path(const mcl_context *ctx, const char *kind, char *out, size_t size);

/* The tuning file of ctx's device (false when the cache folder is off). */
bool mcl_kernel_tuning_path(const mcl_context *ctx, char *out, size_t size);

/* Replaces ctx->shapes' GEMM and convolution tiles with the stored ones, when a valid file for
 * this device exists and MNIST_CL_TUNING is not 0; sets ctx->kernels_tuned. Never fails. */
void mcl_kernel_tuning_apply_stored(mcl_context *ctx);

/* Writes `shapes`' GEMM and convolution tiles as ctx's device's tuning (atomically). */
mcl_status mcl_kernel_tuning_store(const mcl_context *ctx, const mcl_kernel_shapes *shapes,
                                   char *path, size_t path_size, mcl_error *err);

#endif
