/* Per-kernel device time (see kernel_profile.h). */
#include "device/kernel_profile.h"
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct kernel_total {
    char name[64];
    double ns;
    uint64_t calls;
} kernel_total;

typedef struct pending_launch {
    cl_event event;
    uint32_t kernel; /* index into totals */
} pending_launch;

struct mcl_kernel_profile {
    kernel_total *totals;
    size_t kernels, kernels_cap;
    pending_launch *pending;
    size_t count, cap;
    bool paused;
};

mcl_kernel_profile *mcl_kernel_profile_create(void) {
    mcl_kernel_profile *p = mcl_calloc(1, sizeof *p);
    if (p != NULL) p->paused = true;
    return p;
}

void mcl_kernel_profile_enable(mcl_kernel_profile *p, bool on) {
    if (p != NULL) p->paused = !on;
}

bool mcl_kernel_profile_recording(const mcl_kernel_profile *p) {
    return p != NULL && !p->paused;
}

static void release_pending(mcl_kernel_profile *p) {
    for (size_t i = 0; i < p->count; i++)
        mcl_cl_release_event(p->pending[i].event);
    p->count = 0;
}

void mcl_kernel_profile_free(mcl_kernel_profile *p) {
    if (p == NULL) return;
    release_pending(p);
    free(p->pending);
    free(p->totals);
    free(p);
}

/* The index of kernel `name` in the totals, added if new; SIZE_MAX when out of memory. */
static size_t kernel_index(mcl_kernel_profile *p, const char *name) {
    for (size_t i = 0; i < p->kernels; i++)
        if (strncmp(p->totals[i].name, name, sizeof p->totals[i].name - 1) == 0) return i;
    if (p->kernels == p->kernels_cap) {
        size_t cap = p->kernels_cap > 0 ? 2 * p->kernels_cap : 32;
        kernel_total *t = mcl_realloc(p->totals, cap * sizeof *t);
        if (t == NULL) return SIZE_MAX;
        p->totals = t;
        p->kernels_cap = cap;
    }
    kernel_total *t = &p->totals[p->kernels];
    memset(t, 0, sizeof *t);
    strncpy(t->name, name, sizeof t->name - 1);
    return p->kernels++;
}

void mcl_kernel_profile_add(mcl_kernel_profile *p, const char *name, cl_event event) {
    if (p == NULL) {
        mcl_cl_release_event(event);
        return;
    }
    size_t k = kernel_index(p, name);
    if (k != SIZE_MAX && p->count == p->cap) {
        size_t cap = p->cap > 0 ? 2 * p->cap : 4096;
        pending_launch *q = mcl_realloc(p->pending, cap * sizeof *q);
        if (q == NULL) {
            k = SIZE_MAX;
        } else {
            p->pending = q;
            p->cap = cap;
        }
    }
    if (k == SIZE_MAX) { /* out of memory: this launch goes uncounted */
        mcl_cl_release_event(event);
        return;
    }
    p->pending[p->count++] = (pending_launch){event, (uint32_t)k};
}

mcl_status mcl_kernel_profile_collect(mcl_kernel_profile *p, mcl_error *err) {
    if (p == NULL) return MCL_OK;
    mcl_status st = MCL_OK;
    for (size_t i = 0; i < p->count && st == MCL_OK; i++) {
        cl_ulong start = 0, end = 0;
        st = MCL_CL_CHECK(clGetEventProfilingInfo(p->pending[i].event, CL_PROFILING_COMMAND_START,
                                                  sizeof start, &start, NULL),
                          err, "reading a kernel's profiling event");
        if (st == MCL_OK)
            st = MCL_CL_CHECK(clGetEventProfilingInfo(p->pending[i].event,
                                                      CL_PROFILING_COMMAND_END, sizeof end, &end,
                                                      NULL),
                              err, "reading a kernel's profiling event");
        if (st == MCL_OK && end >= start) {
            kernel_total *t = &p->totals[p->pending[i].kernel];
            t->ns += (double)(end - start);
            t->calls++;
        }
    }
    release_pending(p);
    return st;
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const mcl_profile_row *)a)->seconds, y = ((const mcl_profile_row *)b)->seconds;
    return (x < y) - (x > y);
}

size_t mcl_kernel_profile_rows(const mcl_kernel_profile *p, mcl_profile_row *rows,
                               size_t capacity) {
    if (p == NULL) return 0;
    size_t n = 0;
    for (size_t i = 0; i < p->kernels; i++) {
        if (p->totals[i].calls == 0) continue;
        if (n < capacity) {
            memset(&rows[n], 0, sizeof rows[n]);
            strncpy(rows[n].name, p->totals[i].name, sizeof rows[n].name - 1);
            rows[n].calls = p->totals[i].calls;
            rows[n].seconds = p->totals[i].ns * 1e-9;
        }
        n++;
    }
    qsort(rows, n < capacity ? n : capacity, sizeof *rows, by_time_desc);
    return n;
}
