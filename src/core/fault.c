/* Fault injection (see fault.h). Everything here is for the test that walks the failure
 * points; with MNIST_CL_FAULT and MNIST_CL_FAULT_REPORT unset, mcl_fault_point reads `mode` and
 * returns. */
#include "core/fault.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MODE_UNREAD, MODE_OFF, MODE_ON };
enum { MAX_SITES = 4096 };

static const char *const kind_names[MCL_FAULT_KINDS] = {"opencl", "alloc", "file"};
static const char *const object_names[MCL_FAULT_OBJECTS] = {
    "cl_context", "cl_command_queue", "cl_program", "cl_kernel", "cl_mem", "cl_event"};

/* A distinct place that was reached, with how often. */
typedef struct site_count {
    const char *site, *what, *label; /* label: NULL or mcl_fault_point_for's */
    mcl_fault_kind kind;
    uint64_t count;
} site_count;

/* The process-wide state fault.h speaks of: written once by `configure` (under pthread_once),
 * then only through atomics, or under `sites_lock`. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int mode = MODE_UNREAD;
static int target_kind = -1;   /* MNIST_CL_FAULT's KIND, or -1 */
static uint64_t target_n;      /* ... and N */
static bool target_sticky;     /* KIND:N+ */
static char report_path[4096]; /* MNIST_CL_FAULT_REPORT, or "" */
static _Atomic uint64_t reached[MCL_FAULT_KINDS];
static _Atomic int64_t live[MCL_FAULT_OBJECTS];
static _Atomic uint64_t injected_count;
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;
static site_count sites[MAX_SITES];
static size_t site_total;
static bool sites_overflowed;
static site_count first_injected; /* under sites_lock */
/* Each kind's points in order, as runs of consecutive points at one site (under sites_lock):
 * the walker reads which point is where from them. */
typedef struct site_run {
    uint32_t site, length;
} site_run;
static site_run *runs[MCL_FAULT_KINDS];
static size_t run_count[MCL_FAULT_KINDS], run_cap[MCL_FAULT_KINDS];
static bool runs_overflowed;

/* The length of `what` up to its argument list: "clFinish" of "clFinish(queue)". */
static int name_length(const char *what) {
    return (int)strcspn(what, "( ");
}

static void write_report(void) {
    FILE *f = fopen(report_path, "w");
    if (f == NULL) {
        fprintf(stderr, "mnist-cl: fault injection: cannot write %s\n", report_path);
        return;
    }
    for (int k = 0; k < MCL_FAULT_KINDS; k++)
        fprintf(f, "reached %s %" PRIu64 "\n", kind_names[k], atomic_load(&reached[k]));
    pthread_mutex_lock(&sites_lock);
    for (size_t i = 0; i < site_total; i++)
        fprintf(f, "site %s %" PRIu64 " %s %.*s%s%s\n", kind_names[sites[i].kind], sites[i].count,
                sites[i].site, name_length(sites[i].what), sites[i].what,
                sites[i].label != NULL ? " " : "", sites[i].label != NULL ? sites[i].label : "");
    if (sites_overflowed) fprintf(f, "sites-overflowed\n");
    /* "run opencl 3 13": the next 13 points of that kind are at site 3 (the third line). */
    for (int k = 0; k < MCL_FAULT_KINDS; k++)
        for (size_t i = 0; i < run_count[k]; i++)
            fprintf(f, "run %s %" PRIu32 " %" PRIu32 "\n", kind_names[k], runs[k][i].site + 1,
                    runs[k][i].length);
    if (runs_overflowed) fprintf(f, "runs-overflowed\n");
    uint64_t injected = atomic_load(&injected_count);
    if (injected > 0)
        fprintf(f, "injected %s %" PRIu64 " %" PRIu64 " %s %.*s%s%s\n",
                kind_names[first_injected.kind], first_injected.count, injected,
                first_injected.site, name_length(first_injected.what), first_injected.what,
                first_injected.label != NULL ? " " : "",
                first_injected.label != NULL ? first_injected.label : "");
    pthread_mutex_unlock(&sites_lock);
    for (int o = 0; o < MCL_FAULT_OBJECTS; o++)
        fprintf(f, "live %s %" PRId64 "\n", object_names[o], atomic_load(&live[o]));
    if (fclose(f) != 0)
        fprintf(stderr, "mnist-cl: fault injection: cannot write %s\n", report_path);
}

/* Reads the two variables. A malformed MNIST_CL_FAULT is reported and injects nothing, so a
 * typo in a test shows instead of passing for a run that injected no fault. */
static void configure(void) {
    const char *fault = getenv("MNIST_CL_FAULT");
    const char *report = getenv("MNIST_CL_FAULT_REPORT");
    bool on = false;
    if (fault != NULL && fault[0] != '\0') {
        const char *colon = strchr(fault, ':');
        char *end = NULL;
        for (int k = 0; colon != NULL && k < MCL_FAULT_KINDS; k++)
            if ((size_t)(colon - fault) == strlen(kind_names[k]) &&
                strncmp(fault, kind_names[k], (size_t)(colon - fault)) == 0)
                target_kind = k;
        unsigned long long n = colon != NULL ? strtoull(colon + 1, &end, 10) : 0;
        target_sticky = end != NULL && end[0] == '+';
        if (target_kind < 0 || n == 0 || end == colon + 1 || end[target_sticky ? 1 : 0] != '\0') {
            fprintf(stderr,
                    "mnist-cl: MNIST_CL_FAULT='%s' is not KIND:N or KIND:N+ (KIND opencl, alloc "
                    "or file; N from 1); no fault is injected\n",
                    fault);
            target_kind = -1;
        } else {
            target_n = n;
        }
        on = true;
    }
    if (report != NULL && report[0] != '\0' && strlen(report) < sizeof report_path) {
        strcpy(report_path, report);
        on = true;
        atexit(write_report);
    }
    atomic_store(&mode, on ? MODE_ON : MODE_OFF);
}

static bool is_on(void) {
    int m = atomic_load_explicit(&mode, memory_order_acquire);
    if (m == MODE_UNREAD) {
        pthread_once(&once, configure);
        m = atomic_load_explicit(&mode, memory_order_acquire);
    }
    return m == MODE_ON;
}

/* Adds a point at site index `i` to the kind's runs (under sites_lock). The report's memory is
 * the C library's, not mnist-cl's counted allocations. */
static void add_to_runs(mcl_fault_kind kind, uint32_t i) {
    size_t n = run_count[kind];
    if (n > 0 && runs[kind][n - 1].site == i) {
        runs[kind][n - 1].length++;
        return;
    }
    if (n == run_cap[kind]) {
        size_t cap = n > 0 ? 2 * n : 1024;
        site_run *grown = cap <= (1u << 24) ? realloc(runs[kind], cap * sizeof *grown) : NULL;
        if (grown == NULL) {
            runs_overflowed = true;
            return;
        }
        runs[kind] = grown;
        run_cap[kind] = cap;
    }
    runs[kind][run_count[kind]++] = (site_run){i, 1};
}

static bool same_label(const char *a, const char *b) {
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Counts one more reach of `site` (with `label`). */
static void count_site(mcl_fault_kind kind, const char *site, const char *what, const char *label) {
    pthread_mutex_lock(&sites_lock);
    size_t i = 0;
    while (i < site_total && !((sites[i].site == site || strcmp(sites[i].site, site) == 0) &&
                               same_label(sites[i].label, label)))
        i++;
    if (i == site_total && site_total < MAX_SITES)
        sites[site_total++] =
            (site_count){.site = site, .what = what, .label = label, .kind = kind};
    if (i < site_total) {
        sites[i].count++;
        add_to_runs(kind, (uint32_t)i);
    } else {
        sites_overflowed = true;
        runs_overflowed = true;
    }
    pthread_mutex_unlock(&sites_lock);
}

bool mcl_fault_point(mcl_fault_kind kind, const char *site, const char *what) {
    return mcl_fault_point_for(kind, site, what, NULL);
}

bool mcl_fault_point_for(mcl_fault_kind kind, const char *site, const char *what,
                         const char *label) {
    if (!is_on()) return false;
    uint64_t n = atomic_fetch_add(&reached[kind], 1) + 1;
    if (report_path[0] != '\0') count_site(kind, site, what, label);
    if ((int)kind != target_kind || n < target_n || (n > target_n && !target_sticky)) return false;
    if (atomic_fetch_add(&injected_count, 1) == 0) {
        pthread_mutex_lock(&sites_lock);
        first_injected =
            (site_count){.site = site, .what = what, .label = label, .kind = kind, .count = n};
        pthread_mutex_unlock(&sites_lock);
    }
    return true;
}

void mcl_fault_live(mcl_fault_object kind, int delta) {
    if (is_on()) atomic_fetch_add(&live[kind], delta);
}

void *mcl_fault_created(mcl_fault_object kind, void *object) {
    if (object != NULL) mcl_fault_live(kind, 1);
    return object;
}
