/* Per-kernel device time, for train --profile's second table: when the context profiles, every
 * kernel launch through mcl_enqueue_local (and every CLBlast call) keeps its event, and a
 * collect after a blocking read adds each event's start-to-end time to its kernel's total. No
 * host waits are added: events are read once per epoch, after the trainer's own blocking read. */
#ifndef MCL_DEVICE_KERNEL_PROFILE_H
#define MCL_DEVICE_KERNEL_PROFILE_H

#include "device/cl_status.h"

typedef struct mcl_kernel_profile mcl_kernel_profile;

/* NULL on allocation failure (profiling then records nothing). */
mcl_kernel_profile *mcl_kernel_profile_create(void);
void mcl_kernel_profile_free(mcl_kernel_profile *p); /* releases pending events; NULL-safe */

/* Whether launches are recorded: a new profile waits until it is enabled (the trainer records
 * its training steps, not evaluation). */
void mcl_kernel_profile_enable(mcl_kernel_profile *p, bool on);
/* Whether a launch would be recorded now (p may be NULL: no). */
bool mcl_kernel_profile_recording(const mcl_kernel_profile *p);

/* Takes ownership of `event`, the launch of kernel `name`; p may be NULL (event released). */
void mcl_kernel_profile_add(mcl_kernel_profile *p, const char *name, cl_event event);

/* Adds the times of the pending events (all complete: call after a blocking read) to the
 * totals and releases them. */
mcl_status mcl_kernel_profile_collect(mcl_kernel_profile *p, mcl_error *err);

/* The totals as rows, largest first; returns the row count, rows filled up to capacity. */
size_t mcl_kernel_profile_rows(const mcl_kernel_profile *p, mcl_profile_row *rows,
                               size_t capacity);

#endif
