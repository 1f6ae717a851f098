/* Writer locks (mcl_file_lock_acquire in mnistcl.h): one process at a time rewrites a checkpoint
 * or a history. The lock is an advisory fcntl lock on PATH.lock, a file beside PATH that holds
 * the owner's pid as text (for the message a second writer gets); the kernel drops the lock when
 * the owner's last descriptor closes, which includes every way a process can die. */
/* _GNU_SOURCE for F_OFD_SETLK (Linux): a lock owned by the open file description, not by the
 * process, so a second lock of the same path in one process conflicts as it does between
 * processes, and closing some other descriptor of the file never drops it. Elsewhere the
 * classic per-process F_SETLK is used. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fault.h"
#include "core/read_file.h"

#if defined(F_OFD_SETLK)
#define LOCK_SET F_OFD_SETLK
#define LOCK_GET F_OFD_GETLK
#else
#define LOCK_SET F_SETLK
#define LOCK_GET F_GETLK
#endif

struct mcl_file_lock {
    int fd;
    dev_t dev;
    ino_t ino;
    char path[]; /* PATH.lock */
};

static struct flock whole_file(short type) {
    struct flock fl;
    memset(&fl, 0, sizeof fl); /* l_start 0, l_len 0: the whole file; l_pid 0 (OFD needs it) */
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fl;
}

/* The pid the owner wrote into its lock file, or 0 if it has not written one (yet). */
static long owner_pid(int fd) {
    char text[32];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    text[n] = '\0';
    char *end = NULL;
    long pid = strtol(text, &end, 10);
    return end != text && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

/* Removes PATH.tmp.PID.N files (mcl_atomic_write's temporary names) whose writer PID no longer
 * exists: what a writer killed between creating its temporary file and renaming it left. Only
 * called with the lock held, so no live mnist-cl is writing PATH. Best effort. */
static void remove_dead_writers_temps(const char *path) {
    char folder[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    if (slash == NULL)
        snprintf(folder, sizeof folder, ".");
    else if (slash == path)
        snprintf(folder, sizeof folder, "/");
    else
        snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
    size_t base_len = strlen(base);
    DIR *d = opendir(folder);
    if (d == NULL) return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
            continue;
        const char *p = name + base_len + 5;
        char *end = NULL;
        if (*p < '0' || *p > '9') continue;
        unsigned long long pid = strtoull(p, &end, 10);
        if (*end != '.' || end[1] < '0' || end[1] > '9') continue;
        strtoull(end + 1, &end, 10);
        if (*end != '\0' || pid == 0 || pid > 0x7fffffffull || (pid_t)pid == getpid()) continue;
        /* EPERM: the process exists (another user's); only ESRCH proves the writer is gone. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char victim[8300];
        if (snprintf(victim, sizeof victim, "%s/%s", folder, name) < (int)sizeof victim)
            unlink(victim);
    }
    closedir(d);
}

mcl_status mcl_file_lock_acquire(const char *path, mcl_file_lock **out, mcl_error *err) {
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL || path[0] == '\0')
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_file_lock_acquire: path or out is NULL");
    if (strlen(path) >= 4000) return mcl_fail(err, MCL_ERR_USAGE, "%s: path too long", path);
    size_t n = strlen(path) + sizeof ".lock";
    mcl_file_lock *lock = mcl_malloc(sizeof *lock + n);
    if (lock == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory for its lock", path);
    snprintf(lock->path, n, "%s.lock", path);
    char why[256];
    /* A few rounds: the lock file we opened may be removed by its owner's release between our
     * open and our lock, and then the live lock file is another one (checked by inode). */
    for (int round = 0; round < 20; round++) {
        int fd = MCL_FAULT_SYSCALL(open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666), EACCES,
                                   "lock file");
        if (fd < 0) {
            int e = errno;
            free(lock);
            return mcl_fail(err, MCL_ERR_IO, "%s: cannot create the lock file %s.lock: %s", path,
                            path, mcl_errno_text(e, why, sizeof why));
        }
        struct flock fl = whole_file(F_WRLCK);
        if (MCL_FAULT_SYSCALL(fcntl(fd, LOCK_SET, &fl), ENOLCK, "lock file") != 0) {
            int e = errno;
            if (e != EACCES && e != EAGAIN) {
                close(fd);
                free(lock);
                return mcl_fail(err, MCL_ERR_IO, "%s: cannot lock %s.lock: %s", path, path,
                                mcl_errno_text(e, why, sizeof why));
            }
            /* Classic locks name their owner; OFD locks do not (l_pid -1): then the pid the
             * owner wrote into the file. */
            struct flock held = whole_file(F_WRLCK);
            long pid = fcntl(fd, LOCK_GET, &held) == 0 && held.l_type != F_UNLCK && held.l_pid > 0
                           ? (long)held.l_pid
                           : owner_pid(fd);
            close(fd);
            free(lock);
            char who[48] = "";
            if (pid > 0) snprintf(who, sizeof who, " (pid %ld)", pid);
            return mcl_fail(err, MCL_ERR_IO,
                            "%s is being written by another mnist-cl%s; wait for it to finish "
                            "or write elsewhere (its lock: %s.lock)",
                            path, who, path);
        }
        struct stat mine, named;
        if (fstat(fd, &mine) == 0 && stat(lock->path, &named) == 0 && mine.st_dev == named.st_dev &&
            mine.st_ino == named.st_ino) {
            lock->fd = fd;
            lock->dev = mine.st_dev;
            lock->ino = mine.st_ino;
            char text[32];
            int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
            /* The pid is for messages only: a full disk that refuses it changes nothing. */
            if (ftruncate(fd, 0) == 0) {
                ssize_t written = pwrite(fd, text, (size_t)len, 0);
                (void)written;
            }
            remove_dead_writers_temps(path);
            *out = lock;
            return MCL_OK;
        }
        close(fd); /* we locked a lock file that its owner had already removed: try again */
    }
    free(lock);
    return mcl_fail(err, MCL_ERR_IO, "%s: cannot lock %s.lock: it keeps being replaced", path,
                    path);
}

void mcl_file_lock_free(mcl_file_lock *lock) {
    if (lock == NULL) return;
    /* Removed while still locked, and only if it is still ours: a process that opened this
     * inode before the unlink and locks it after the close then finds the name gone (the inode
     * check in mcl_file_lock_acquire) and makes a new lock file. */
    struct stat named;
    if (stat(lock->path, &named) == 0 && named.st_dev == lock->dev && named.st_ino == lock->ino)
        unlink(lock->path);
    close(lock->fd);
    free(lock);
}
