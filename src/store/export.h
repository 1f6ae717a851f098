/* Internals of model export (src/store/export.c) that tests use too. */
#ifndef MCL_STORE_EXPORT_H
#define MCL_STORE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

#define MCL_NPY_MAX_DIMS 8

/* Writes `data` (prod(dims) floats) as a NumPy .npy v1.0 file of dtype '<f4' and the given
 * C-order shape (ndim 0 is a scalar), atomically as mcl_export_npz does. */
mcl_status mcl_npy_write(const char *path, const float *data, uint32_t ndim, const uint32_t *dims,
                         mcl_error *err);

#endif
