/* The GEMM provider's start-up check (src/device/self_check.c, which also holds the public
 * mcl_context_self_check and the FMA and SGEMM ceilings). */
#ifndef MCL_DEVICE_SELF_CHECK_H
#define MCL_DEVICE_SELF_CHECK_H

#include "device/device.h"

/* Checks the context's GEMM provider against a CPU reference on the shapes the models use
 * (once per program and device: the verdict is kept beside the program's cache entry). A
 * provider the context chose by itself that fails gives way to the other one, with a warning
 * in the log; one that was asked for fails with MCL_ERR_CHECK_FAILED, as does a device on
 * which neither is right. Called by mcl_context_create. */
mcl_status mcl_context_verify_gemm(mcl_context *ctx, mcl_error *err);

#endif
