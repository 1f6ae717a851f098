/* GEMM tuning (mnist-cl tune): CLBlast's parameters for its direct GEMM kernel, searched over a
 * list of candidates on the current device, each checked against a CPU reference before it is
 * trusted, and stored per device in the cache folder (program_cache.h), from where every later
 * context applies it with CLBlastOverrideParameters. MNIST_CL_TUNING=0 leaves CLBlast's own
 * parameters in place. */
#ifndef MCL_DEVICE_GEMM_TUNE_H
#define MCL_DEVICE_GEMM_TUNE_H

#include <stdbool.h>

#include "device/gemm.h"

/* Whether p satisfies the direct kernel's constraints on a device with `local_mem_bytes` of
 * local memory and work-groups of up to `max_group` work-items. */
bool mcl_gemm_direct_valid(const mcl_gemm_direct_params *p, uint64_t local_mem_bytes,
                           size_t max_group);

/* "WGD=64 MDIMCD=16 ..." */
void mcl_gemm_direct_format(const mcl_gemm_direct_params *p, char *out, size_t size);

/* The tuning file for ctx's device (false when the cache folder is off). */
bool mcl_gemm_tuning_path(const mcl_context *ctx, char *out, size_t size);

/* The default MLP's training GEMMs at batch 128 on ctx's device, with their products computed on
 * the host in double: the workload tune times (CLBlast's candidates and the tiled kernels'
 * shapes). Caller frees with mcl_gemm_workload_free. */
typedef struct mcl_gemm_workload mcl_gemm_workload;
mcl_status mcl_gemm_workload_create(mcl_context *ctx, mcl_gemm_workload **out, mcl_error *err);
/* Times the workload (one untimed pass first) through CLBlast, or with `tiled` through the
 * context's tiled kernels, and checks every product: *max_error is the worst |c - ref| /
 * (1e-3 + 1e-3 |ref|), <= 1 passes. */
mcl_status mcl_gemm_workload_measure(mcl_context *ctx, mcl_gemm_workload *w, bool tiled,
                                     double *gflops, double *max_error, mcl_error *err);
void mcl_gemm_workload_free(mcl_gemm_workload *w);

/* Applies the stored tuning for ctx's device, if there is a valid one and MNIST_CL_TUNING is not
 * 0; records it with mcl_gemm_set_tuned. A missing file is normal; an unreadable or invalid one is
 * reported as a warning in the log and ignored. Never fails. */
void mcl_gemm_tuning_apply_stored(mcl_context *ctx);

#endif
