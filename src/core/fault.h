/* Fault injection, SQLite's way: every point where mnist-cl can fail for a reason outside its
 * control -- a checked OpenCL call (device/cl_status.h), a host allocation (core/alloc.h), a
 * file write (core/atomic_file.c, core/file_lock.c) -- asks mcl_fault_point first, and a test can
 * make the N-th point of a kind fail, then check that the failure is reported in one line and
 * cleaned up after. tests/fault_walk.py walks N over every point a short training run reaches.
 *
 *   MNIST_CL_FAULT=KIND:N    KIND opencl, alloc or file: the N-th point of that kind (from 1)
 *                            fails and the others succeed; KIND:N+ makes it and every later one
 *                            fail (a resource that stays exhausted)
 *   MNIST_CL_FAULT_REPORT=F  at exit, F gets the points reached per kind, the distinct sites,
 *                            what was injected, and the OpenCL objects still alive
 *
 * With neither set, which is every run but the walker's, a point costs a call, one load and a
 * branch not taken (measured in the README's "Fault injection" section), so it is compiled into
 * every build: the code a release runs is the code the walk tested.
 *
 * The counters are process-wide state (the only such in mnist-cl besides the CLI's Ctrl-C flag):
 * they count what one process does, as a test sees it from outside. They live in fault.c only,
 * are atomic, and are touched only when one of the variables above is set. */
#ifndef MCL_CORE_FAULT_H
#define MCL_CORE_FAULT_H

#include <errno.h>
#include <stdbool.h>

typedef enum mcl_fault_kind {
    MCL_FAULT_OPENCL, /* a checked OpenCL or CLBlast call */
    MCL_FAULT_ALLOC,  /* a host allocation of mnist-cl's own */
    MCL_FAULT_FILE,   /* creating, writing, syncing, closing, renaming or locking a file */
    MCL_FAULT_KINDS
} mcl_fault_kind;

/* The OpenCL objects mnist-cl creates, counted (in fault-injection runs) as they are created and
 * released through device/cl_status.h, so that a missing release on an error path shows: the
 * leak sanitizer sees host memory only, and the driver's allocations are suppressed there. */
typedef enum mcl_fault_object {
    MCL_FAULT_CL_CONTEXT,
    MCL_FAULT_CL_QUEUE,
    MCL_FAULT_CL_PROGRAM,
    MCL_FAULT_CL_KERNEL,
    MCL_FAULT_CL_MEM,
    MCL_FAULT_CL_EVENT,
    MCL_FAULT_OBJECTS
} mcl_fault_object;

#define MCL_FAULT_STR_(x) #x
#define MCL_FAULT_STR(x) MCL_FAULT_STR_(x)
/* "src/core/x.c:12": where a point is, for the report. */
#define MCL_FAULT_SITE __FILE__ ":" MCL_FAULT_STR(__LINE__)

/* A system call that creates, writes, syncs, renames or locks a file, through its
 * fault-injection point: when the test fails it, the call is not made, errno is `error` (the
 * errno a full or failing disk gives: ENOSPC, EIO, EACCES) and the result is -1. `file_kind`
 * labels the point in the report (mcl_fault_point_for). */
#define MCL_FAULT_SYSCALL(call, error, file_kind)                                                  \
    (mcl_fault_point_for(MCL_FAULT_FILE, MCL_FAULT_SITE, #call, (file_kind))                       \
         ? (errno = (error), -1)                                                                   \
         : (call))
/* For close(): the call is made (a failing close still closes the descriptor), then, when the
 * test fails it, the result is -1 with errno `error`. */
#define MCL_FAULT_AFTER(call, error, file_kind)                                                    \
    mcl_fault_after_((call), (error), MCL_FAULT_SITE, #call, (file_kind))

/* Whether the point at `site` (MCL_FAULT_SITE), doing `what` (the call's text), is to fail in
 * this run. Counts the point when injection is on. Thread-safe. */
bool mcl_fault_point(mcl_fault_kind kind, const char *site, const char *what);
/* The same for a site that serves several callers, told apart in the report by `label` (the
 * kind of file the shared writer is writing: "checkpoint", "history"; NULL: none). */
bool mcl_fault_point_for(mcl_fault_kind kind, const char *site, const char *what,
                         const char *label);

/* Counts `delta` objects of `kind` created (+1) or released (-1), when injection is on. */
void mcl_fault_live(mcl_fault_object kind, int delta);

/* `object`, counted as one created `kind` when it is not NULL: for create calls. */
void *mcl_fault_created(mcl_fault_object kind, void *object);

static inline int mcl_fault_after_(int result, int error, const char *site, const char *what,
                                   const char *label) {
    if (!mcl_fault_point_for(MCL_FAULT_FILE, site, what, label)) return result;
    errno = error;
    return -1;
}

#endif
