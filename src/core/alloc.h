/* mnist-cl's host allocations: malloc, calloc, realloc and strdup, each a fault-injection
 * point (core/fault.h) that fails, in a test that says so, as the C library's does: NULL, and
 * realloc's block untouched. Everything under src/ below cli/ allocates through these
 * (tests/fault_walk.py checks it); free() is the C library's. The CLI includes only the public
 * header, so its few allocations (none of them on the training path) are the plain ones. */
#ifndef MCL_CORE_ALLOC_H
#define MCL_CORE_ALLOC_H

#include <stdlib.h>
#include <string.h>

#include "core/fault.h"

#define mcl_malloc(size) mcl_malloc_at((size), MCL_FAULT_SITE)
#define mcl_calloc(count, size) mcl_calloc_at((count), (size), MCL_FAULT_SITE)
#define mcl_realloc(block, size) mcl_realloc_at((block), (size), MCL_FAULT_SITE)
#define mcl_strdup(text) mcl_strdup_at((text), MCL_FAULT_SITE)

static inline void *mcl_malloc_at(size_t size, const char *site) {
    return mcl_fault_point(MCL_FAULT_ALLOC, site, "malloc") ? NULL : malloc(size);
}

static inline void *mcl_calloc_at(size_t count, size_t size, const char *site) {
    return mcl_fault_point(MCL_FAULT_ALLOC, site, "calloc") ? NULL : calloc(count, size);
}

static inline void *mcl_realloc_at(void *block, size_t size, const char *site) {
    return mcl_fault_point(MCL_FAULT_ALLOC, site, "realloc") ? NULL : realloc(block, size);
}

/* strdup is POSIX, not C17: a copy of `text` (NUL included) in a fresh block. */
static inline char *mcl_strdup_at(const char *text, const char *site) {
    size_t n = strlen(text) + 1;
    char *copy = mcl_malloc_at(n, site);
    if (copy != NULL) memcpy(copy, text, n);
    return copy;
}

#endif
