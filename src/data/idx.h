/* IDX file reader (the MNIST file format), raw or gzip-compressed.
 *
 * Layout (all integers big-endian): two zero bytes, an element-type byte (only 0x08, unsigned
 * byte, is supported), a dimension-count byte, one uint32 per dimension, then the elements in
 * row-major order. An images file has 3 dimensions (count, rows, cols); a labels file has 1.
 *
 * Every failure is MCL_ERR_IO (the file cannot be opened or read, or is a directory),
 * MCL_ERR_FORMAT (the content is malformed: bad magic, unsupported type, absurd dimensions,
 * truncated data, trailing bytes, a corrupt gzip stream) or MCL_ERR_HOST_MEMORY, with a one-line
 * message that starts with the file path. Sizes are checked against the file (or the gzip
 * trailer) before the data buffer is allocated, so a lying header cannot cause a huge
 * allocation. On failure *out is zeroed and owns nothing. */
#ifndef MCL_DATA_IDX_H
#define MCL_DATA_IDX_H

#include <stdint.h>

#include "mnistcl/mnistcl.h"

/* Limits on what a header may declare; anything outside is rejected as MCL_ERR_FORMAT. */
#define MCL_IDX_MAX_SIDE 4096u                             /* rows, cols */
#define MCL_IDX_MAX_COUNT 100000000u                       /* images or labels */
#define MCL_IDX_MAX_DATA_BYTES (8ull * 1024 * 1024 * 1024) /* 8 GiB of elements */

typedef struct mcl_idx_images {
    uint32_t count, rows, cols;
    uint8_t *pixels; /* [count, rows, cols], 0..255; malloc'd, freed by mcl_idx_images_free */
} mcl_idx_images;

typedef struct mcl_idx_labels {
    uint32_t count;
    uint8_t *labels; /* [count]; malloc'd, freed by mcl_idx_labels_free */
} mcl_idx_labels;

/* Reads a 3-dimensional IDX file of unsigned bytes. The caller owns out->pixels and releases it
 * with mcl_idx_images_free. */
mcl_status mcl_idx_read_images(const char *path, mcl_idx_images *out, mcl_error *err);

/* Reads a 1-dimensional IDX file of unsigned bytes. The caller owns out->labels and releases it
 * with mcl_idx_labels_free. */
mcl_status mcl_idx_read_labels(const char *path, mcl_idx_labels *out, mcl_error *err);

/* Free the buffer and zero the struct; NULL-safe and safe on a zeroed struct. */
void mcl_idx_images_free(mcl_idx_images *img);
void mcl_idx_labels_free(mcl_idx_labels *lab);

#endif
