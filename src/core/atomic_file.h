/* Writing a file so that a crash or an error never leaves a partial file under its name: the
 * bytes go to a temporary file in the same folder, which is flushed, fsync'ed and renamed over
 * the target (and the folder fsync'ed); on failure the temporary file is removed. The temporary
 * file is PATH.tmp.PID.N: mcl_file_lock_acquire (file_lock.c) removes those of dead writers. */
#ifndef MCL_CORE_ATOMIC_FILE_H
#define MCL_CORE_ATOMIC_FILE_H

#include <stddef.h>

#include "core/error.h"

/* `what` names the file's kind in messages ("checkpoint", "history"). */
mcl_status mcl_atomic_write(const char *path, const void *data, size_t size, const char *what,
                            mcl_error *err);

#endif
