/* train --profile: where the device time of training goes, per op and phase, from OpenCL event
 * profiling.
 *
 * The queue is in order, so a marker (clEnqueueMarkerWithWaitList) completes when everything
 * enqueued before it has; the time from one marker's end to the next one's is the device time
 * of the work between them. The trainer places a marker after the data gather, after each
 * node's forward and backward, after the metrics, the gradient zeroing and the optimizer: no
 * op code changes and no host waits (events are read once per epoch, after the epoch's
 * blocking metrics read). A segment also contains any time the device sat idle waiting for the
 * host to enqueue; that part is estimated separately from the markers' queued times. */
#ifndef MCL_GRAPH_PROFILE_H
#define MCL_GRAPH_PROFILE_H

#include <stdint.h>

#include "device/device.h"
#include "mnistcl/mnistcl.h"

/* What a segment measured. */
typedef enum mcl_profile_phase {
    MCL_PHASE_STEP_START, /* a step's first marker: its segment is the gap since the last step */
    MCL_PHASE_DATA,       /* gather (+ augmentation) of the batch */
    MCL_PHASE_FORWARD,    /* one node's forward (node index given) */
    MCL_PHASE_METRICS,    /* per-batch loss / accuracy sums */
    MCL_PHASE_ZERO_GRADS, /* clearing the gradient buffer */
    MCL_PHASE_BACKWARD,   /* one node's backward (node index given) */
    MCL_PHASE_OPTIMIZER,  /* the optimizer's update of every parameter */
    MCL_PHASE_COUNT
} mcl_profile_phase;

typedef struct mcl_profiler mcl_profiler;

/* A profiler for a graph of `nodes` nodes. NULL on allocation failure. */
mcl_profiler *mcl_profiler_create(uint32_t nodes);
void mcl_profiler_free(mcl_profiler *p); /* releases pending events; NULL-safe */

/* Enqueues a marker closing the segment of (phase, node). p may be NULL (no profiling). */
mcl_status mcl_profile_mark(mcl_profiler *p, cl_command_queue queue, mcl_profile_phase phase,
                            uint32_t node, mcl_error *err);

/* Reads the markers enqueued so far (all must be complete: call after a blocking read) into
 * the totals and releases them. The first marker only opens the timeline. */
mcl_status mcl_profile_collect(mcl_profiler *p, mcl_error *err);

/* The totals as rows, largest first: `names` gives each node's name. Returns the row count;
 * rows is filled up to `capacity`. */
size_t mcl_profile_rows(const mcl_profiler *p, const char *const *names, mcl_profile_row *rows,
                        size_t capacity);

#endif
