/* Datasets: an images file and a labels file of the same length, held in host memory; the
 * choice of reader for a data path (IDX folder, .npz archive, image folder). */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "data/folder.h"
#include "data/idx.h"
#include "data/npz.h"
#include "mnistcl/mnistcl.h"

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

char **mcl_class_names_copy(const char *const *names, uint32_t count) {
    if (names == NULL || count == 0) return NULL;
    size_t bytes = (size_t)count * sizeof(char *);
    for (uint32_t k = 0; k < count; k++)
        bytes += strlen(names[k]) + 1;
    char **copy = mcl_malloc(bytes);
    if (copy == NULL) return NULL;
    char *at = (char *)(copy + count);
    for (uint32_t k = 0; k < count; k++) {
        size_t n = strlen(names[k]) + 1;
        memcpy(at, names[k], n);
        copy[k] = at;
        at += n;
    }
    return copy;
}

bool mcl_class_name_valid(const char *name, size_t len) {
    if (len == 0 || len > MCL_CLASS_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return false;
    return true;
}

bool mcl_class_names_equal(char *const *a, char *const *b, uint32_t count) {
    if (a == NULL || b == NULL) return a == b;
    for (uint32_t k = 0; k < count; k++)
        if (strcmp(a[k], b[k]) != 0) return false;
    return true;
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

/* Whether dir holds any IDX file of either split, in any spelling: then it is an IDX folder,
 * and a missing partner file is reported as such. The paths are built on the stack: a probe
 * whose path could not be allocated read as "no such file", and a folder of IDX files then
 * came out as one without (the fault-injection walk found it). A path too long for the buffer
 * is one no file can have. */
static bool has_idx_files(const char *dir) {
    static const char *const prefixes[] = {"train", "t10k"};
    size_t dn = strlen(dir);
    const char *sep = dn > 0 && dir[dn - 1] == '/' ? "" : "/";
    char name[64], path[8192];
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < PATTERN_COUNT; i++)
            for (int labels = 0; labels <= 1; labels++) {
                snprintf(name, sizeof name, (labels ? label_patterns : image_patterns)[i],
                         prefixes[p]);
                struct stat st;
                int n = snprintf(path, sizeof path, "%s%s%s", dir, sep, name);
                if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0) return true;
            }
    return false;
}

static bool ends_with_npz(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && path[n - 4] == '.' && (path[n - 3] | 0x20) == 'n' &&
           (path[n - 2] | 0x20) == 'p' && (path[n - 1] | 0x20) == 'z';
}

/* Whether a file starts like a zip archive (a local header, or the end record of an empty one). */
static bool looks_like_zip(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    unsigned char sig[4] = {0};
    bool zip = fread(sig, 1, 4, f) == 4 && sig[0] == 'P' && sig[1] == 'K' &&
               ((sig[2] == 3 && sig[3] == 4) || (sig[2] == 5 && sig[3] == 6));
    fclose(f);
    return zip;
}

/* x_train / y_train (or x_test / y_test) of an .npz archive. */
static mcl_status load_npz(const char *path, mcl_split split, mcl_dataset **out, mcl_error *err) {
    const char *x = split == MCL_SPLIT_TRAIN ? "x_train" : "x_test";
    const char *y = split == MCL_SPLIT_TRAIN ? "y_train" : "y_test";
    mcl_npz *npz = NULL;
    mcl_idx_images img = {0};
    mcl_idx_labels lab = {0};
    mcl_status s = mcl_npz_open(path, &npz, err);
    if (s == MCL_OK) s = mcl_npz_read_images(npz, x, &img, err);
    if (s == MCL_OK) s = mcl_npz_read_labels(npz, y, &lab, err);
    mcl_npz_close(npz);
    if (s == MCL_OK && img.count != lab.count)
        s = mcl_fail(err, MCL_ERR_FORMAT,
                     "%s: %s.npy holds %u images but %s.npy holds %u labels; the counts must "
                     "match",
                     path, x, img.count, y, lab.count);
    if (s != MCL_OK) {
        mcl_idx_images_free(&img);
        mcl_idx_labels_free(&lab);
        return s;
    }
    char images_path[4200], labels_path[4200];
    snprintf(images_path, sizeof images_path, "%s: %s.npy", path, x);
    snprintf(labels_path, sizeof labels_path, "%s: %s.npy", path, y);
    s = mcl_dataset_adopt(img.count, img.rows, img.cols, img.pixels, lab.labels, images_path,
                          labels_path, path, out, err);
    if (s == MCL_OK) (*out)->source.format = MCL_DATA_NPZ;
    return s;
}

mcl_status mcl_dataset_load(const char *dir, mcl_split split, mcl_dataset **out, mcl_error *err) {
    return mcl_dataset_load_with(dir, split, NULL, out, err);
}

mcl_status mcl_dataset_load_with(const char *dir, mcl_split split, const mcl_data_options *options,
                                 mcl_dataset **out, mcl_error *err) {
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
    if (!S_ISDIR(st.st_mode)) {
        if (ends_with_npz(dir) || looks_like_zip(dir)) return load_npz(dir, split, out, err);
        return mcl_fail(err, MCL_ERR_IO, "data folder '%s' is not a directory, nor an .npz archive",
                        dir);
    }
    if (!has_idx_files(dir)) {
        char *npz = join_path(dir, "mnist.npz");
        if (npz == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for a data file's name");
        bool found = stat(npz, &st) == 0 && S_ISREG(st.st_mode);
        mcl_status s = found ? load_npz(npz, split, out, err) : MCL_OK;
        free(npz);
        if (found) return s;
        if (mcl_folder_has_subfolder(dir)) return mcl_folder_load(dir, split, options, out, err);
        return mcl_fail(err, MCL_ERR_IO,
                        "data folder '%s' has no %s-images-idx3-ubyte (nor .gz, nor the "
                        "-images.idx3-ubyte spelling), no mnist.npz and no class subfolders of "
                        "images",
                        dir, prefix);
    }

    char *images_path = NULL, *labels_path = NULL;
    mcl_status s = find_split_file(dir, prefix, image_patterns, &images_path, err);
    if (s == MCL_OK) s = find_split_file(dir, prefix, label_patterns, &labels_path, err);
    if (s == MCL_OK) s = mcl_dataset_load_files(images_path, labels_path, out, err);
    if (s == MCL_OK && (*out)->source_root == NULL) {
        (*out)->source_root = copy_string(dir);
        (*out)->source.root = (*out)->source_root;
        if ((*out)->source_root == NULL) {
            mcl_dataset_free(*out);
            *out = NULL;
            s = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the data folder's name");
        }
    }
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
    if (s != MCL_OK) {
        mcl_idx_images_free(&img);
        mcl_idx_labels_free(&lab);
        return s;
    }
    /* The dataset takes over the IDX buffers. */
    return mcl_dataset_adopt(img.count, img.rows, img.cols, img.pixels, lab.labels, images_path,
                             labels_path, NULL, out, err);
}

mcl_status mcl_dataset_adopt(uint32_t count, uint32_t rows, uint32_t cols, uint8_t *pixels,
                             uint8_t *labels, const char *images_path, const char *labels_path,
                             const char *root, mcl_dataset **out, mcl_error *err) {
    *out = NULL;
    mcl_dataset *ds = mcl_calloc(1, sizeof *ds);
    if (ds != NULL) {
        ds->pixels = pixels;
        ds->labels = labels;
        ds->images_path = copy_string(images_path);
        ds->labels_path = copy_string(labels_path);
        ds->source_root = root != NULL ? copy_string(root) : NULL;
    }
    if (ds == NULL || ds->images_path == NULL || ds->labels_path == NULL ||
        (root != NULL && ds->source_root == NULL)) {
        if (ds == NULL) {
            free(pixels);
            free(labels);
        }
        mcl_dataset_free(ds);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of memory loading %s", images_path);
    }
    ds->count = count;
    ds->rows = rows;
    ds->cols = cols;
    ds->num_classes = max_label_plus_one(ds->labels, ds->count);
    ds->prep = MCL_PREP_MNIST;
    ds->source.format = MCL_DATA_IDX;
    ds->source.root = ds->source_root;
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
        ds->class_names =
            mcl_class_names_copy((const char *const *)src->class_names, src->num_classes);
        ds->source_root = src->source_root != NULL ? copy_string(src->source_root) : NULL;
    }
    if (ds == NULL || ds->pixels == NULL || ds->labels == NULL || ds->images_path == NULL ||
        ds->labels_path == NULL || (src->class_names != NULL && ds->class_names == NULL) ||
        (src->source_root != NULL && ds->source_root == NULL)) {
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
    ds->prep = src->prep;
    ds->source = src->source;
    ds->source.root = ds->source_root;
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
    /* Named classes are folders: none can come from a corrupt label, and a small split may
     * lack one. */
    if (ds->class_names != NULL) return MCL_OK;
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

void mcl_dataset_source_info(const mcl_dataset *ds, mcl_dataset_source *out) {
    if (out == NULL) return;
    if (ds == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = ds->source;
}

mcl_image_prep mcl_dataset_image_prep(const mcl_dataset *ds) {
    return ds != NULL ? ds->prep : MCL_PREP_MNIST;
}

const char *mcl_dataset_class_name(const mcl_dataset *ds, uint32_t k) {
    return ds != NULL && ds->class_names != NULL && k < ds->num_classes ? ds->class_names[k] : NULL;
}

void mcl_dataset_free(mcl_dataset *ds) {
    if (ds == NULL) return;
    free(ds->pixels);
    free(ds->labels);
    free(ds->images_path);
    free(ds->labels_path);
    free(ds->class_names);
    free(ds->source_root);
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
