/* Shared reading of user files (see read_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/read_file.h"
#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mcl_errno_text(int errnum, char *buf, size_t size) {
    /* The XSI strerror_r (the one _POSIX_C_SOURCE selects) writes into our buffer. */
    if (strerror_r(errnum, buf, size) != 0) snprintf(buf, size, "error %d", errnum);
    return buf;
}

mcl_status mcl_open_file(const char *path, const char *kind, int *fd, struct stat *st,
                         mcl_error *err) {
    char why[256];
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot open: %s", path,
                        mcl_errno_text(errno, why, sizeof why));
    if (fstat(*fd, st) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot stat: %s", path,
                        mcl_errno_text(e, why, sizeof why));
    }
    if (S_ISDIR(st->st_mode)) {
        close(*fd);
        *fd = -1;
        return mcl_fail(err, MCL_ERR_IO, "%s: is a directory, not %s", path, kind);
    }
    return MCL_OK;
}

mcl_status mcl_read_file(const char *path, const char *kind, uint64_t max_bytes, uint8_t **data,
                         size_t *size, mcl_error *err) {
    char why[256];
    *data = NULL;
    *size = 0;
    int fd = -1;
    struct stat st;
    mcl_status opened = mcl_open_file(path, kind, &fd, &st, err);
    if (opened != MCL_OK) return opened;
    char limit[32];
    if (max_bytes >= (1ull << 30) && max_bytes % (1ull << 30) == 0)
        snprintf(limit, sizeof limit, "%llu GiB", (unsigned long long)(max_bytes >> 30));
    else
        snprintf(limit, sizeof limit, "%llu-byte", (unsigned long long)max_bytes);
    /* A regular file of known size is read at that size (plus one byte, to notice growth);
     * anything else (a pipe, a device, a /proc file that reports 0 bytes) grows the buffer up
     * to the limit. */
    const bool sized = S_ISREG(st.st_mode) && st.st_size > 0;
    if (sized && (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the file is %llu bytes, more than the %s limit for %s", path,
                        (unsigned long long)st.st_size, limit, kind);
    }
    size_t cap = sized ? (size_t)st.st_size + 1 : 1u << 16;
    uint8_t *buf = mcl_malloc(cap);
    if (buf == NULL) {
        close(fd);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate %zu bytes to read it", path,
                        cap);
    }
    size_t used = 0;
    mcl_status status = MCL_OK;
    for (;;) {
        if (used == cap) {
            if (sized || used > max_bytes) {
                status = mcl_fail(err, MCL_ERR_FORMAT,
                                  "%s: the file %s while being read, more than the %s limit "
                                  "for %s",
                                  path, sized ? "grew" : "goes on", limit, kind);
                break;
            }
            /* At most one byte over the limit, which is enough to tell it was exceeded. */
            size_t grown = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
            uint8_t *bigger = mcl_realloc(buf, grown);
            if (bigger == NULL) {
                status = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                                  "%s: cannot allocate %zu bytes to "
                                  "read it",
                                  path, grown);
                break;
            }
            buf = bigger;
            cap = grown;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            status = mcl_fail(err, MCL_ERR_IO, "%s: read error: %s", path,
                              mcl_errno_text(errno, why, sizeof why));
            break;
        }
        if (n == 0) break;
        used += (size_t)n;
    }
    /* The file was only read, so a failing close cannot lose data. */
    close(fd);
    if (status != MCL_OK || used == 0) {
        free(buf);
        return status;
    }
    *data = buf;
    *size = used;
    return MCL_OK;
}
