/* The dataset inside (the public mcl_dataset is opaque), shared by the readers that build one:
 * dataset.c (IDX files, and the choice of reader for a --data path), npz.c's caller and
 * folder.c (image folders). Also the class-name lists that datasets, trainers and checkpoints
 * carry. */
#ifndef MCL_DATA_DATASET_H
#define MCL_DATA_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

#define MCL_CLASS_NAME_MAX 255u /* bytes of one class name (a file name's limit) */

struct mcl_dataset {
    uint32_t count;       /* N samples */
    uint32_t rows, cols;  /* image shape; F = rows * cols */
    uint32_t num_classes; /* K = max label + 1 (for a subset: that of the dataset it came from) */
    uint8_t *pixels;      /* [N, F], 0..255 */
    uint8_t *labels;      /* [N], 0..K-1 */
    char *images_path;    /* the files the samples came from, for messages */
    char *labels_path;
    char **class_names; /* [K] or NULL (unnamed); one allocation (mcl_class_names_copy) */
    mcl_image_prep prep;
    mcl_dataset_source source; /* source.root points at source_root */
    char *source_root;
};

/* A dataset that takes over `pixels` ([count, rows*cols]) and `labels` ([count]) with K = max
 * label + 1, the given paths copied, format IDX and MNIST preparation (callers change what
 * differs). On failure the buffers are freed and *out is NULL. */
mcl_status mcl_dataset_adopt(uint32_t count, uint32_t rows, uint32_t cols, uint8_t *pixels,
                             uint8_t *labels, const char *images_path, const char *labels_path,
                             const char *root, mcl_dataset **out, mcl_error *err);

/* A copy of names[0..count) as one allocation (the pointer array, then the strings): free()
 * releases it. NULL when names is NULL or out of memory. */
char **mcl_class_names_copy(const char *const *names, uint32_t count);
/* Whether a class name can be kept in a checkpoint and printed: 1..MCL_CLASS_NAME_MAX bytes,
 * no control characters (bytes below 0x20, and 0x7F). Other bytes, UTF-8 or not, are kept as
 * they are, as file names are. */
bool mcl_class_name_valid(const char *name, size_t len);
/* Whether two lists of `count` names (either may be NULL: unnamed) are the same. */
bool mcl_class_names_equal(char *const *a, char *const *b, uint32_t count);

#endif
