/* Internal helpers for filling an mcl_error. */
#ifndef MCL_CORE_ERROR_H
#define MCL_CORE_ERROR_H

#include "mnistcl/mnistcl.h"

#if defined(__GNUC__)
#define MCL_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define MCL_PRINTF(fmt_index, first_arg)
#endif

/* Records `status` and a formatted one-line message in *err (if err is not NULL) and returns
 * `status`, so call sites read `return mcl_fail(err, MCL_ERR_IO, "...")`. */
mcl_status mcl_fail(mcl_error *err, mcl_status status, const char *fmt, ...) MCL_PRINTF(3, 4);

/* Prepends "context: " to an error already recorded in *err; returns err->status. */
mcl_status mcl_error_prefix(mcl_error *err, const char *fmt, ...) MCL_PRINTF(2, 3);

#endif
