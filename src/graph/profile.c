/* Marker-based profiling of training steps (see profile.h). */
#include "graph/profile.h"
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pending {
    cl_event event;
    uint16_t phase;
    uint32_t node;
} pending;

typedef struct total {
    double ns;
    uint64_t calls;
} total;

struct mcl_profiler {
    uint32_t nodes;
    pending *marks; /* enqueued, not yet read */
    size_t count, cap;
    total *totals; /* [MCL_PHASE_COUNT][nodes] (node 0 for phases without a node) */
};

mcl_profiler *mcl_profiler_create(uint32_t nodes) {
    mcl_profiler *p = mcl_calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->nodes = nodes > 0 ? nodes : 1;
    p->totals = mcl_calloc((size_t)MCL_PHASE_COUNT * p->nodes, sizeof *p->totals);
    if (p->totals == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

static void release_marks(mcl_profiler *p) {
    for (size_t i = 0; i < p->count; i++)
        mcl_cl_release_event(p->marks[i].event);
    p->count = 0;
}

void mcl_profiler_free(mcl_profiler *p) {
    if (p == NULL) return;
    release_marks(p);
    free(p->marks);
    free(p->totals);
    free(p);
}

mcl_status mcl_profile_mark(mcl_profiler *p, cl_command_queue queue, mcl_profile_phase phase,
                            uint32_t node, mcl_error *err) {
    if (p == NULL) return MCL_OK;
    if (p->count == p->cap) {
        size_t cap = p->cap > 0 ? 2 * p->cap : 4096;
        pending *m = mcl_realloc(p->marks, cap * sizeof *m);
        if (m == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                            "out of host memory for the profile's markers");
        p->marks = m;
        p->cap = cap;
    }
    cl_event ev = NULL;
    MCL_CL_TRY(clEnqueueMarkerWithWaitList(queue, 0, NULL, &ev), err, "placing a profiling marker");
    mcl_cl_new_event(ev);
    p->marks[p->count++] =
        (pending){.event = ev, .phase = (uint16_t)phase, .node = node < p->nodes ? node : 0};
    return MCL_OK;
}

mcl_status mcl_profile_collect(mcl_profiler *p, mcl_error *err) {
    if (p == NULL) return MCL_OK;
    mcl_status st = MCL_OK;
    cl_ulong previous = 0;
    for (size_t i = 0; i < p->count && st == MCL_OK; i++) {
        cl_ulong end = 0;
        st =
            MCL_CL_CHECK(clGetEventProfilingInfo(p->marks[i].event, CL_PROFILING_COMMAND_END,
                                                 sizeof end, &end, NULL),
                         err, "reading a profiling marker (was the queue created with profiling?)");
        if (st == MCL_OK && i > 0 && end >= previous) {
            total *t = &p->totals[(size_t)p->marks[i].phase * p->nodes + p->marks[i].node];
            t->ns += (double)(end - previous);
            t->calls++;
        }
        previous = end;
    }
    release_marks(p);
    return st;
}

static void row_name(mcl_profile_phase phase, const char *node, char *out, size_t size) {
    switch (phase) {
    case MCL_PHASE_STEP_START:
        snprintf(out, size, "between steps (device waiting for the host)");
        break;
    case MCL_PHASE_DATA:
        snprintf(out, size, "data: gather (+ augment) the batch");
        break;
    case MCL_PHASE_FORWARD:
        snprintf(out, size, "%s forward", node);
        break;
    case MCL_PHASE_METRICS:
        snprintf(out, size, "loss/accuracy sums");
        break;
    case MCL_PHASE_ZERO_GRADS:
        snprintf(out, size, "zero the gradients");
        break;
    case MCL_PHASE_BACKWARD:
        snprintf(out, size, "%s backward", node);
        break;
    default:
        snprintf(out, size, "optimizer update");
        break;
    }
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const mcl_profile_row *)a)->seconds, y = ((const mcl_profile_row *)b)->seconds;
    return (x < y) - (x > y);
}

size_t mcl_profile_rows(const mcl_profiler *p, const char *const *names, mcl_profile_row *rows,
                        size_t capacity) {
    if (p == NULL) return 0;
    size_t n = 0;
    for (int ph = 0; ph < MCL_PHASE_COUNT; ph++) {
        bool per_node = ph == MCL_PHASE_FORWARD || ph == MCL_PHASE_BACKWARD;
        for (uint32_t node = 0; node < (per_node ? p->nodes : 1u); node++) {
            const total *t = &p->totals[(size_t)ph * p->nodes + node];
            if (t->calls == 0) continue;
            if (n < capacity) {
                mcl_profile_row *r = &rows[n];
                memset(r, 0, sizeof *r);
                row_name((mcl_profile_phase)ph, per_node ? names[node] : "", r->name,
                         sizeof r->name);
                r->calls = t->calls;
                r->seconds = t->ns * 1e-9;
            }
            n++;
        }
    }
    qsort(rows, n < capacity ? n : capacity, sizeof *rows, by_time_desc);
    return n;
}
