/* Datasets: an images file and a labels file of the same length, held in host memory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "data/idx.h"
#include "mnistcl/mnistcl.h"

struct mcl_dataset {
    uint32_t count;       /* N samples */
    uint32_t rows, cols;  /* image shape; F = rows * cols */
    uint32_t num_classes; /* K = max label + 1 (for a subset: that of the dataset it came from) */
    uint8_t *pixels;      /* [N, F], 0..255 */
    uint8_t *labels;      /* [N], 0..K-1 */
    char *images_path;    /* the files the samples came from, for messages */
    char *labels_path;
};

/* The spellings looked for, in order: the canonical MNIST names and the ".idx3-ubyte" variant
 * that some mirrors use, each raw or gzip-compressed. "%s" is the split prefix. */
static const char *const image_patterns[] = {
    "%s-images-idx3-ubyte",
    "%s-images-idx3-ubyte.gz",
    "%s-images.idx3-ubyte",
    "%s-images.idx3-ubyte.gz",
};
static const char *const label_patterns[] = {
    "%s-labels-idx1-ubyte",
    "%s-labels-idx1-ubyte.gz",
    "%s-labels.idx1-ubyte",
    "%s-labels.idx1-ubyte.gz",
};
#define PATTERN_COUNT (sizeof image_patterns / sizeof image_patterns[0])
_Static_assert(sizeof label_patterns == sizeof image_patterns, "one label spelling per image one");

/* A malloc'd copy of s (caller frees), or NULL when out of memory. */
static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = mcl_malloc(n);
    if (c != NULL) memcpy(c, s, n);
    return c;
}

/* A malloc'd "dir/name" (caller frees), without doubling a trailing slash; NULL when out of
 * memory. */
static char *join_path(const char *dir, const char *name) {
    size_t dn = strlen(dir);
    const char *sep = dn > 0 && dir[dn - 1] == '/' ? "" : "/";
    size_t size = dn + strlen(sep) + strlen(name) + 1;
    char *p = mcl_malloc(size);
    if (p != NULL) snprintf(p, size, "%s%s%s", dir, sep, name);
    return p;
}

/* Finds the first spelling in `patterns` that exists in `dir`. On success *out is a malloc'd
 * path the caller frees. */
static mcl_status find_split_file(const char *dir, const char *prefix, const char *const *patterns,
                                  char **out, mcl_error *err) {
    *out = NULL;
    char name[64];
    for (size_t i = 0; i < PATTERN_COUNT; i++) {
        snprintf(name, sizeof name, patterns[i], prefix);
        char *path = join_path(dir, name);
        if (path == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for a data file's name");
        struct stat st;
        if (stat(path, &st) == 0) {
            *out = path;
            return MCL_OK;
        }
        free(path);
    }
    char canonical[64], variant[64];
    snprintf(canonical, sizeof canonical, patterns[0], prefix);
    snprintf(variant, sizeof variant, patterns[2], prefix);
    return mcl_fail(err, MCL_ERR_IO,
                    "data folder '%s' has no %s (also looked for %s.gz, %s and %s.gz)",
                    dir, canonical, canonical, variant, variant);
}

mcl_status mcl_dataset_load(const char *dir, mcl_split split, mcl_dataset **out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_load: out is NULL");
    *out = NULL;
    if (dir == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_load: dir is NULL");
    const char *prefix;
    switch (split) {
    case MCL_SPLIT_TRAIN:
        prefix = "train";
        break;
    case MCL_SPLIT_TEST:
        prefix = "t10k";
        break;
    default:
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_load: unknown split %d", (int)split);
    }

    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return mcl_fail(err, MCL_ERR_IO, "data folder '%s' does not exist", dir);
        char why[256];
        /* The XSI strerror_r writes into our buffer; strerror may share a static one. */
        if (strerror_r(e, why, sizeof why) != 0) snprintf(why, sizeof why, "error %d", e);
        return mcl_fail(err, MCL_ERR_IO, "data folder '%s': cannot stat: %s", dir, why);
    }
    if (!S_ISDIR(st.st_mode))
        return mcl_fail(err, MCL_ERR_IO, "data folder '%s' is not a directory", dir);

    char *images_path = NULL, *labels_path = NULL;
    mcl_status s = find_split_file(dir, prefix, image_patterns, &images_path, err);
    if (s == MCL_OK) s = find_split_file(dir, prefix, label_patterns, &labels_path, err);
    if (s == MCL_OK) s = mcl_dataset_load_files(images_path, labels_path, out, err);
    free(images_path);
    free(labels_path);
    return s;
}

static uint32_t max_label_plus_one(const uint8_t *labels, uint32_t count) {
    uint8_t max = 0;
    for (uint32_t i = 0; i < count; i++)
        if (labels[i] > max) max = labels[i];
    return (uint32_t)max + 1;
}

mcl_status mcl_dataset_load_files(const char *images_path, const char *labels_path,
                                  mcl_dataset **out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_load_files: out is NULL");
    *out = NULL;
    if (images_path == NULL || labels_path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_load_files: a path is NULL");

    mcl_idx_images img = {0};
    mcl_idx_labels lab = {0};
    mcl_status s = mcl_idx_read_images(images_path, &img, err);
    if (s == MCL_OK) s = mcl_idx_read_labels(labels_path, &lab, err);
    if (s == MCL_OK && img.count != lab.count)
        s = mcl_fail(err, MCL_ERR_FORMAT,
                     "%s holds %u images but %s holds %u labels; the counts must match",
                     images_path, img.count, labels_path, lab.count);
    mcl_dataset *ds = NULL;
    if (s == MCL_OK) {
        ds = mcl_calloc(1, sizeof *ds);
        if (ds != NULL) {
            ds->images_path = copy_string(images_path);
            ds->labels_path = copy_string(labels_path);
        }
        if (ds == NULL || ds->images_path == NULL || ds->labels_path == NULL)
            s = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of memory loading %s", images_path);
    }
    if (s != MCL_OK) {
        mcl_dataset_free(ds);
        mcl_idx_images_free(&img);
        mcl_idx_labels_free(&lab);
        return s;
    }
    /* The dataset takes over the IDX buffers. */
    ds->count = img.count;
    ds->rows = img.rows;
    ds->cols = img.cols;
    ds->pixels = img.pixels;
    ds->labels = lab.labels;
    ds->num_classes = max_label_plus_one(ds->labels, ds->count);
    *out = ds;
    return MCL_OK;
}

mcl_status mcl_dataset_subset(const mcl_dataset *src, uint32_t first, uint32_t count,
                              mcl_dataset **out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_subset: out is NULL");
    *out = NULL;
    if (src == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_subset: src is NULL");
    if (count == 0)
        return mcl_fail(err, MCL_ERR_USAGE, "subset of %s: count must be at least 1",
                        src->images_path);
    if ((uint64_t)first + count > src->count)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "subset of %s: samples [%u, %llu) are outside the %u samples it holds",
                        src->images_path, first, (unsigned long long)first + count, src->count);

    const size_t features = (size_t)src->rows * src->cols;
    mcl_dataset *ds = mcl_calloc(1, sizeof *ds);
    if (ds != NULL) {
        ds->pixels = mcl_malloc((size_t)count * features);
        ds->labels = mcl_malloc(count);
        ds->images_path = copy_string(src->images_path);
        ds->labels_path = copy_string(src->labels_path);
    }
    if (ds == NULL || ds->pixels == NULL || ds->labels == NULL || ds->images_path == NULL ||
        ds->labels_path == NULL) {
        mcl_dataset_free(ds);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "subset of %s: out of memory for %u samples",
                        src->images_path, count);
    }
    memcpy(ds->pixels, src->pixels + (size_t)first * features, (size_t)count * features);
    memcpy(ds->labels, src->labels + first, count);
    ds->count = count;
    ds->rows = src->rows;
    ds->cols = src->cols;
    /* K belongs to the labelling, not to the slice: a small validation slice that happens to
     * miss the highest class must not get a smaller output layer than the training data. */
    ds->num_classes = src->num_classes;
    *out = ds;
    return MCL_OK;
}

mcl_status mcl_validation_split_count(uint32_t images, float split, uint32_t *train_images,
                                      mcl_error *err) {
    *train_images = images;
    if (!(split >= 0.0f && split < 1.0f))
        return mcl_fail(err, MCL_ERR_USAGE, "the validation split must be in [0, 1), not %g",
                        (double)split);
    /* As Keras: int(count * (1 - split)). The small epsilon undoes float rounding of the
     * split (0.1f is 0.1000000015), so 60000 x 0.9 gives 54000, not 53999. */
    uint32_t head = (uint32_t)floor((double)images * (1.0 - (double)split) + 1e-4);
    if (head == 0)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "a validation split of %g leaves no training images out of %u",
                        (double)split, images);
    *train_images = head;
    return MCL_OK;
}

mcl_status mcl_dataset_check_labels(const mcl_dataset *ds, uint32_t num_classes, mcl_error *err) {
    if (ds == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_check_labels: ds is NULL");
    if (num_classes == 0)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_check_labels: num_classes is 0");
    for (uint32_t i = 0; i < ds->count; i++) {
        if (ds->labels[i] >= num_classes)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: label %u at index %u is outside the class range 0..%u",
                            ds->labels_path, ds->labels[i], i, num_classes - 1);
    }
    return MCL_OK;
}

mcl_status mcl_dataset_check_classes(const mcl_dataset *ds, uint32_t declared, mcl_error *err) {
    if (ds == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_dataset_check_classes: ds is NULL");
    if (declared > 0) {
        return mcl_dataset_check_labels(ds, declared, err);
    }
    uint32_t seen[256] = {0};
    for (uint32_t i = 0; i < ds->count; i++)
        seen[ds->labels[i]]++;
    uint32_t first_empty = 0;
    while (first_empty < ds->num_classes && seen[first_empty] > 0)
        first_empty++;
    if (first_empty == ds->num_classes) return MCL_OK;
    /* Classes without a sample mean a corrupt label (200 in an MNIST file builds a 201-class
     * model) unless the user says the gaps are intended. Name the empty ones as ranges. */
    char empty[200] = "";
    uint32_t named = 0, total = 0;
    for (uint32_t c = 0; c < ds->num_classes; c++) {
        if (seen[c] > 0) continue;
        uint32_t end = c;
        while (end + 1 < ds->num_classes && seen[end + 1] == 0)
            end++;
        total += end - c + 1;
        if (named++ < 4) {
            size_t len = strlen(empty);
            if (end == c)
                snprintf(empty + len, sizeof empty - len, "%s%u", len ? ", " : "", c);
            else
                snprintf(empty + len, sizeof empty - len, "%s%u-%u", len ? ", " : "", c, end);
        } else if (named == 5) {
            strncat(empty, ", ...", sizeof empty - strlen(empty) - 1);
        }
        c = end;
    }
    uint32_t at = 0;
    while (at < ds->count && ds->labels[at] <= first_empty)
        at++;
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: label %u at index %u makes %u classes, but %u of them have no samples "
                    "(%s): a corrupt label? If the gaps are intended, declare the class count "
                    "with --classes N",
                    ds->labels_path, ds->labels[at], at, ds->num_classes, total, empty);
}

uint32_t mcl_dataset_count(const mcl_dataset *ds) {
    return ds != NULL ? ds->count : 0;
}

uint32_t mcl_dataset_rows(const mcl_dataset *ds) {
    return ds != NULL ? ds->rows : 0;
}

uint32_t mcl_dataset_cols(const mcl_dataset *ds) {
    return ds != NULL ? ds->cols : 0;
}

uint32_t mcl_dataset_num_classes(const mcl_dataset *ds) {
    return ds != NULL ? ds->num_classes : 0;
}

const uint8_t *mcl_dataset_pixels(const mcl_dataset *ds) {
    return ds != NULL ? ds->pixels : NULL;
}

const uint8_t *mcl_dataset_labels(const mcl_dataset *ds) {
    return ds != NULL ? ds->labels : NULL;
}

const char *mcl_dataset_images_path(const mcl_dataset *ds) {
    return ds != NULL ? ds->images_path : NULL;
}

const char *mcl_dataset_labels_path(const mcl_dataset *ds) {
    return ds != NULL ? ds->labels_path : NULL;
}

void mcl_dataset_free(mcl_dataset *ds) {
    if (ds == NULL) return;
    free(ds->pixels);
    free(ds->labels);
    free(ds->images_path);
    free(ds->labels_path);
    free(ds);
}

mcl_status mcl_idx_image(const char *path, uint32_t index, uint32_t rows, uint32_t cols, float *dst,
                         mcl_error *err) {
    mcl_idx_images img = {0};
    mcl_status st = mcl_idx_read_images(path, &img, err);
    if (st != MCL_OK) return st;
    if (index >= img.count)
        st = mcl_fail(err, MCL_ERR_USAGE, "%s holds %u images; index %u is out of range", path,
                      img.count, index);
    else if (img.rows != rows || img.cols != cols)
        st = mcl_fail(err, MCL_ERR_MODEL, "%s holds %ux%u images; the model takes %ux%u", path,
                      img.rows, img.cols, rows, cols);
    else
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            dst[i] = (float)img.pixels[(size_t)index * rows * cols + i] * (1.0f / 255.0f);
    mcl_idx_images_free(&img);
    return st;
}

mcl_status mcl_idx_label(const char *path, uint32_t index, uint32_t *label, mcl_error *err) {
    mcl_idx_labels lab = {0};
    mcl_status st = mcl_idx_read_labels(path, &lab, err);
    if (st != MCL_OK) return st;
    if (index >= lab.count)
        st = mcl_fail(err, MCL_ERR_USAGE, "%s holds %u labels; index %u is out of range", path,
                      lab.count, index);
    else
        *label = lab.labels[index];
    mcl_idx_labels_free(&lab);
    return st;
}
