/* Reading the files a user hands us (IDX data, checkpoints, images), with one set of checks and
 * messages: the file opens, is not a directory, and is not larger than its kind allows. */
#ifndef MCL_CORE_READ_FILE_H
#define MCL_CORE_READ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/error.h"

/* strerror_r's text for errnum in buf (strerror is not required to be thread-safe). */
const char *mcl_errno_text(int errnum, char *buf, size_t size);

/* Opens path read-only and fstats it; a directory is refused. `kind` names what the file should
 * be in messages ("an image", "an IDX file"). On success the caller closes *fd. */
mcl_status mcl_open_file(const char *path, const char *kind, int *fd, struct stat *st,
                         mcl_error *err);

/* Reads a whole file of at most max_bytes into a malloc'd buffer the caller frees. A regular
 * file is refused before allocating if it is larger; a pipe or device is read until it ends or
 * passes the limit. An empty file gives *data == NULL, *size == 0 and MCL_OK (the parser of the
 * format says what is wrong with it). */
mcl_status mcl_read_file(const char *path, const char *kind, uint64_t max_bytes, uint8_t **data,
                         size_t *size, mcl_error *err);

#endif
