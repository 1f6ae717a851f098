#define _POSIX_C_SOURCE 200809L
#include "core/atomic_file.h"
#include "core/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The folder holding path, for the temporary file and the final fsync. */
static void folder_of(const char *path, char *out, size_t size) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(out, size, "%s", dirname(copy));
}

mcl_status mcl_atomic_write(const char *path, const void *data, size_t size, const char *what,
                            mcl_error *err) {
    if (strlen(path) >= 4000) return mcl_fail(err, MCL_ERR_USAGE, "%s: path too long", path);
    char folder[4096], tmp[4200];
    folder_of(path, folder, sizeof folder);
    /* open(O_EXCL) with 0666 rather than mkstemp: the kernel then applies the umask, so the file
     * gets the permissions a plain fopen would give it (mkstemp makes it 0600). */
    int fd = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned salt = (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16);
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, sizeof tmp, "%s.tmp.%u.%u", path, (unsigned)getpid(), salt + attempt);
        fd = MCL_FAULT_SYSCALL(open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666), EACCES,
                               what);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0)
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot create the %s: %s", path, what,
                        strerror(errno));
    const char *p = data;
    size_t left = size;
    int saved = 0;
    while (left > 0) {
        ssize_t n = MCL_FAULT_SYSCALL(write(fd, p, left), ENOSPC, what);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            saved = n < 0 ? errno : EIO;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (saved == 0 && MCL_FAULT_SYSCALL(fsync(fd), EIO, what) != 0) saved = errno;
    if (MCL_FAULT_AFTER(close(fd), EIO, what) != 0 && saved == 0) saved = errno;
    if (saved == 0 && MCL_FAULT_SYSCALL(rename(tmp, path), EIO, what) != 0) saved = errno;
    if (saved != 0) {
        unlink(tmp);
        /* Say what the user most needs: how much did not fit, and that the last complete
         * version (if there was one) is still there. */
        struct stat old;
        bool kept = stat(path, &old) == 0 && S_ISREG(old.st_mode);
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot write the %s (%zu bytes): %s%s%s", path, what,
                        size, strerror(saved),
                        saved == EFBIG ? " (over the file size limit, ulimit -f)" : "",
                        kept ? "; the previous version is unchanged" : "");
    }
    /* Make the rename itself durable. Best effort, so not a fault-injection point: the new file
     * is complete under its name whatever happens here. */
    int dfd = open(folder, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return MCL_OK;
}
