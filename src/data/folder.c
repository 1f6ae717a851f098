/* Image folders (see folder.h and mcl_dataset_load_with). Reading one split takes two passes:
 * the listing (class folders, then every file below each, sorted as Keras sorts them: by class,
 * then by the folder a file is in, then by name) and, for the split's files only, decoding one
 * file at a time straight into the dataset's [count, rows*cols] buffer. Nothing else grows with
 * the images: the list holds a path and a label per file.
 *
 * The order the samples are kept in is a fixed pseudo-random permutation of that sorted list
 * (Fisher-Yates on Philox with a constant key), the same on every run and machine: a held-out
 * test split is its last share, and --validation-split (the last fraction of the training
 * samples) and --limit (the first N) then mix every class, as Keras's shuffled file list does.
 * The permutation differs from Keras's numpy one. */
#define _POSIX_C_SOURCE 200809L
#include "data/folder.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/read_file.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/image.h"

#define ORDER_SEED 0x6d6e6973742d636cull /* "mnist-cl": the one order of a folder's files */
#define PATH_BYTES 4096
#define NAMES_SHOWN 200 /* characters of a class list quoted in a message */
#define EXTENSIONS_TEXT ".png, .jpg, .jpeg, .bmp or .gif"

/* The folders that, beside train/, hold the test split (the first one present). */
static const char *const test_folders[] = {"test", "validation", "val"};

typedef struct name_list {
    char **items; /* each malloc'd */
    uint32_t count, cap;
} name_list;

typedef struct folder_file {
    const char *path; /* "cat/sub/x.png", relative to the class root (into the index's blob) */
    size_t offset;    /* of path in the blob, while the blob still grows */
    uint32_t dir_len; /* bytes of path before the file name ("cat/sub/") */
    uint32_t label;
} folder_file;

typedef struct folder_index {
    const char *root;
    name_list classes; /* sorted */
    folder_file *files;
    size_t count, cap;
    char *blob; /* the relative paths, NUL-terminated, one after another */
    size_t blob_len, blob_cap;
    uint32_t skipped; /* files that are not images, hidden files, other kinds of entry */
} folder_index;

static void names_free(name_list *l) {
    for (uint32_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool names_push(name_list *l, const char *name) {
    if (l->count == l->cap) {
        uint32_t cap = l->cap ? 2 * l->cap : 16;
        char **items = mcl_realloc(l->items, cap * sizeof *items);
        if (items == NULL) return false;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count] = mcl_strdup(name);
    return l->items[l->count++] != NULL;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void index_free(folder_index *ix) {
    names_free(&ix->classes);
    free(ix->files);
    free(ix->blob);
    memset(ix, 0, sizeof *ix);
}

/* "a, b, c" (cut with "..." after NAMES_SHOWN characters) for messages. */
static void names_text(const name_list *l, char *out, size_t size) {
    size_t n = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < l->count && n + 8 < size; i++) {
        if (n > NAMES_SHOWN) {
            snprintf(out + n, size - n, ", ...");
            return;
        }
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", l->items[i]);
        if (n >= size) n = size - 1;
    }
}

static bool join(char *out, const char *dir, const char *name) {
    return snprintf(out, PATH_BYTES, "%s/%s", dir, name) < PATH_BYTES;
}

static mcl_status too_long(const char *dir, const char *name, mcl_error *err) {
    return mcl_fail(err, MCL_ERR_IO, "%s/%.64s...: the path is longer than %d bytes", dir, name,
                    PATH_BYTES - 1);
}

static mcl_status open_failed(const char *path, int e, mcl_error *err) {
    char why[256];
    return mcl_fail(err, MCL_ERR_IO, "%s: cannot read the folder: %s", path,
                    mcl_errno_text(e, why, sizeof why));
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Keras's fname.lower().endswith(ALLOWLIST_FORMATS). */
static bool has_image_extension(const char *name) {
    static const char *const extensions[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif"};
    size_t n = strlen(name);
    for (size_t e = 0; e < sizeof extensions / sizeof extensions[0]; e++) {
        size_t k = strlen(extensions[e]);
        bool same = n >= k;
        for (size_t i = 0; i < k && same; i++)
            same = ascii_lower(name[n - k + i]) == extensions[e][i];
        if (same) return true;
    }
    return false;
}

bool mcl_folder_has_subfolder(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return false;
    bool found = false;
    char path[PATH_BYTES];
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;)
        found = e->d_name[0] != '.' && join(path, dir, e->d_name) && is_dir(path);
    closedir(d);
    return found;
}

/* The class folders of root, sorted; files beside them count as skipped. */
static mcl_status list_classes(const char *root, name_list *classes, uint32_t *skipped,
                               mcl_error *err) {
    DIR *d = opendir(root);
    if (d == NULL) return open_failed(root, errno, err);
    char path[PATH_BYTES];
    mcl_status st = MCL_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0) st = open_failed(root, errno, err);
            break;
        }
        if (e->d_name[0] == '.') continue; /* hidden: .ipynb_checkpoints, .DS_Store, ... */
        if (!join(path, root, e->d_name)) {
            st = too_long(root, e->d_name, err);
            break;
        }
        if (!is_dir(path)) {
            (*skipped)++;
            continue;
        }
        if (!mcl_class_name_valid(e->d_name, strlen(e->d_name))) {
            st = mcl_fail(err, MCL_ERR_FORMAT,
                          "%s: a class folder's name has a control character; rename it", root);
            break;
        }
        if (!names_push(classes, e->d_name)) {
            st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", root);
            break;
        }
    }
    closedir(d);
    if (st == MCL_OK && classes->count > 1)
        qsort(classes->items, classes->count, sizeof *classes->items, compare_names);
    return st;
}

static mcl_status add_file(folder_index *ix, const char *rel, uint32_t label, mcl_error *err) {
    if (ix->count >= MCL_IDX_MAX_COUNT)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s holds more than %u image files, the limit",
                        ix->root, MCL_IDX_MAX_COUNT);
    size_t len = strlen(rel) + 1;
    if (ix->count == ix->cap) {
        size_t cap = ix->cap ? 2 * ix->cap : 1024;
        folder_file *files = mcl_realloc(ix->files, cap * sizeof *files);
        if (files == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                            "out of host memory for the image folder's file list");
        ix->files = files;
        ix->cap = cap;
    }
    if (ix->blob_len + len > ix->blob_cap) {
        size_t cap = ix->blob_cap ? 2 * ix->blob_cap : 1 << 16;
        while (cap < ix->blob_len + len)
            cap *= 2;
        char *blob = mcl_realloc(ix->blob, cap);
        if (blob == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                            "out of host memory for the image folder's file names");
        ix->blob = blob;
        ix->blob_cap = cap;
    }
    memcpy(ix->blob + ix->blob_len, rel, len);
    folder_file *f = &ix->files[ix->count++];
    f->offset = ix->blob_len;
    f->dir_len = (uint32_t)(strrchr(rel, '/') - rel + 1);
    f->label = label;
    ix->blob_len += len;
    return MCL_OK;
}

/* Lists the images below path (whose part from rel_at on is relative to the root), as
 * os.walk does without following links to folders. path is PATH_BYTES long and restored. */
static mcl_status walk(folder_index *ix, char *path, size_t rel_at, uint32_t label, uint32_t depth,
                       mcl_error *err) {
    DIR *d = opendir(path);
    if (d == NULL) return open_failed(path, errno, err);
    const size_t len = strlen(path);
    mcl_status st = MCL_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0) st = open_failed(path, errno, err);
            break;
        }
        if (e->d_name[0] == '.') {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ix->skipped++;
            continue;
        }
        if (len + 1 + strlen(e->d_name) >= PATH_BYTES) {
            path[len] = '\0';
            st = too_long(path, e->d_name, err);
            break;
        }
        path[len] = '/';
        strcpy(path + len + 1, e->d_name);
        struct stat sb, target;
        if (lstat(path, &sb) != 0) {
            ix->skipped++;
        } else if (S_ISDIR(sb.st_mode)) {
            if (depth + 1 > MCL_FOLDER_MAX_DEPTH)
                st = mcl_fail(err, MCL_ERR_FORMAT,
                              "%s: folders nested more than %u deep in a class folder", path,
                              MCL_FOLDER_MAX_DEPTH);
            else
                st = walk(ix, path, rel_at, label, depth + 1, err);
        } else {
            /* A link to a file is read; a link to a folder is not followed (nor counted). */
            bool link = S_ISLNK(sb.st_mode), resolved = link && stat(path, &target) == 0;
            bool regular = link ? resolved && S_ISREG(target.st_mode) : S_ISREG(sb.st_mode);
            if (regular && has_image_extension(e->d_name))
                st = add_file(ix, path + rel_at, label, err);
            else if (!(resolved && S_ISDIR(target.st_mode)))
                ix->skipped++;
        }
        path[len] = '\0';
        if (st != MCL_OK) break;
    }
    closedir(d);
    return st;
}

/* Keras's order: by class, then by the folder (as a string), then by file name. */
static int compare_files(const void *pa, const void *pb) {
    const folder_file *a = pa, *b = pb;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    size_t ra = a->dir_len - 1, rb = b->dir_len - 1; /* the folder, without its '/' */
    int c = memcmp(a->path, b->path, ra < rb ? ra : rb);
    if (c != 0) return c;
    if (ra != rb) return ra < rb ? -1 : 1;
    return strcmp(a->path + a->dir_len, b->path + b->dir_len);
}

static mcl_status index_folder(const char *root, folder_index *ix, mcl_error *err) {
    ix->root = root;
    mcl_status st = list_classes(root, &ix->classes, &ix->skipped, err);
    if (st != MCL_OK) return st;
    char names[NAMES_SHOWN + 64];
    names_text(&ix->classes, names, sizeof names);
    if (ix->classes.count == 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s has no class subfolders: put each class's images in a folder named "
                        "after the class",
                        root);
    if (ix->classes.count == 1)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s has one class folder (%s); a classifier needs at least 2", root, names);
    if (ix->classes.count > MCL_FOLDER_MAX_CLASSES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s has %u class folders; at most %u classes are supported", root,
                        ix->classes.count, MCL_FOLDER_MAX_CLASSES);
    char path[PATH_BYTES];
    const size_t rel_at = strlen(root) + 1;
    for (uint32_t k = 0; k < ix->classes.count; k++) {
        if (!join(path, root, ix->classes.items[k]))
            return too_long(root, ix->classes.items[k], err);
        size_t before = ix->count;
        st = walk(ix, path, rel_at, k, 0, err);
        if (st != MCL_OK) return st;
        if (ix->count == before)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: the class folder holds no " EXTENSIONS_TEXT " file", path);
    }
    for (size_t i = 0; i < ix->count; i++)
        ix->files[i].path = ix->blob + ix->files[i].offset;
    qsort(ix->files, ix->count, sizeof *ix->files, compare_files);
    return MCL_OK;
}

/* The other split's folder must have the same classes (Keras's class_names would differ). */
static mcl_status check_other_split(const char *root, const folder_index *ix, const char *other,
                                    mcl_error *err) {
    name_list classes = {0};
    uint32_t skipped = 0;
    mcl_status st = list_classes(other, &classes, &skipped, err);
    bool same = st == MCL_OK && classes.count == ix->classes.count;
    for (uint32_t k = 0; same && k < classes.count; k++)
        same = strcmp(classes.items[k], ix->classes.items[k]) == 0;
    if (st == MCL_OK && !same) {
        char mine[NAMES_SHOWN + 64], theirs[NAMES_SHOWN + 64];
        names_text(&ix->classes, mine, sizeof mine);
        names_text(&classes, theirs, sizeof theirs);
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s has the classes (%s) but %s has (%s): the class folders of the two "
                      "splits must match",
                      root, mine, other, theirs);
    }
    names_free(&classes);
    return st;
}

/* A fixed permutation of 0..n-1 (Fisher-Yates, Philox with a constant key). */
static uint32_t *file_order(uint32_t n) {
    uint32_t *order = mcl_malloc((size_t)n * sizeof *order + 1);
    if (order == NULL) return NULL;
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; i-- > 1;) {
        uint32_t r = mcl_philox_u32(ORDER_SEED, MCL_STREAM_SHUFFLE, i);
        uint32_t j = (uint32_t)(((uint64_t)r * (i + 1)) >> 32);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    return order;
}

/* Keras's int(validation_split * count), with the split as the decimal it was written as. */
static uint32_t held_out_count(uint32_t count, float split) {
    char text[32];
    snprintf(text, sizeof text, "%.7g", (double)split);
    return (uint32_t)floor(strtod(text, NULL) * count);
}

/* Decodes the files order[first .. first+count) into the dataset's buffers. */
static mcl_status decode_files(const folder_index *ix, const uint32_t *order, uint32_t first,
                               uint32_t count, uint32_t rows, uint32_t cols, uint8_t *pixels,
                               uint8_t *labels, mcl_error *err) {
    char path[PATH_BYTES];
    for (uint32_t i = 0; i < count; i++) {
        const folder_file *f = &ix->files[order[first + i]];
        if (!join(path, ix->root, f->path)) return too_long(ix->root, f->path, err);
        uint8_t *data = NULL;
        size_t size = 0;
        mcl_status st =
            mcl_read_file(path, "an image", MCL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
        if (st == MCL_OK)
            st = mcl_image_load_resized_memory(data, size, path, rows, cols,
                                               pixels + (size_t)i * rows * cols, err);
        free(data);
        if (st != MCL_OK) return st;
        labels[i] = (uint8_t)f->label;
    }
    return MCL_OK;
}

mcl_status mcl_folder_load(const char *dir, mcl_split split, const mcl_data_options *options,
                           mcl_dataset **out, mcl_error *err) {
    *out = NULL;
    float test_split = options != NULL && options->test_split != 0.0f
                           ? options->test_split
                           : MCL_FOLDER_DEFAULT_TEST_SPLIT;
    uint32_t rows = options != NULL && options->rows ? options->rows : MCL_FOLDER_DEFAULT_SIDE;
    uint32_t cols = options != NULL && options->cols ? options->cols : MCL_FOLDER_DEFAULT_SIDE;
    if (!(test_split > 0.0f && test_split < 1.0f))
        return mcl_fail(err, MCL_ERR_USAGE, "the test split must be in (0, 1), not %g",
                        (double)test_split);
    if (rows > MCL_IDX_MAX_SIDE || cols > MCL_IDX_MAX_SIDE)
        return mcl_fail(err, MCL_ERR_USAGE, "image size %ux%u: rows and cols must each be 1..%u",
                        rows, cols, MCL_IDX_MAX_SIDE);

    /* train/ beside test/ (or validation/, val/): the two splits. train/ alone: the classes. */
    char train_dir[PATH_BYTES], test_dir[PATH_BYTES] = "", root[PATH_BYTES];
    if (!join(train_dir, dir, "train")) return too_long(dir, "train", err);
    const bool has_train = is_dir(train_dir);
    for (size_t i = 0; has_train && test_dir[0] == '\0' && i < 3; i++)
        if (!join(test_dir, dir, test_folders[i]) || !is_dir(test_dir)) test_dir[0] = '\0';
    const bool two_folders = has_train && test_dir[0] != '\0';
    snprintf(root, sizeof root, "%s",
             two_folders ? (split == MCL_SPLIT_TRAIN ? train_dir : test_dir)
             : has_train ? train_dir
                         : dir);

    folder_index ix = {0};
    uint32_t *order = NULL;
    uint8_t *pixels = NULL, *labels = NULL;
    mcl_status st = index_folder(root, &ix, err);
    if (st == MCL_OK && two_folders)
        st = check_other_split(root, &ix, split == MCL_SPLIT_TRAIN ? test_dir : train_dir, err);
    const uint32_t found = (uint32_t)ix.count;
    uint32_t first = 0, count = found;
    if (st == MCL_OK && !two_folders) {
        /* A share below 1 (at most 0.9999999 as a decimal) always leaves a training file. */
        uint32_t held = held_out_count(found, test_split);
        if (held == 0)
            st = mcl_fail(err, MCL_ERR_FORMAT,
                          "%s: a test split of %g of its %u image files leaves no test files; "
                          "add files, or make train/ and test/ folders",
                          root, (double)test_split, found);
        else if (split == MCL_SPLIT_TRAIN)
            count = found - held;
        else
            first = found - held, count = held;
    }
    const uint64_t bytes = (uint64_t)count * rows * cols;
    if (st == MCL_OK && bytes > MCL_IDX_MAX_DATA_BYTES)
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: %u images of %ux%u are %llu bytes, more than the 8 GiB limit", root,
                      count, rows, cols, (unsigned long long)bytes);
    if (st == MCL_OK &&
        ((order = file_order(found)) == NULL || (pixels = mcl_malloc((size_t)bytes + 1)) == NULL ||
         (labels = mcl_malloc((size_t)count + 1)) == NULL))
        st =
            mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory for %u images", root, count);
    if (st == MCL_OK) st = decode_files(&ix, order, first, count, rows, cols, pixels, labels, err);
    free(order);
    mcl_dataset *ds = NULL;
    if (st == MCL_OK) {
        st = mcl_dataset_adopt(count, rows, cols, pixels, labels, root, root, root, &ds, err);
        pixels = labels = NULL; /* the dataset owns them now, or freed them */
    }
    if (st == MCL_OK) {
        ds->class_names =
            mcl_class_names_copy((const char *const *)ix.classes.items, ix.classes.count);
        if (ds->class_names == NULL)
            st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", root);
        /* K is the class folders', even where a small held-out split misses one. */
        ds->num_classes = ix.classes.count;
        ds->prep = MCL_PREP_RESIZE;
        ds->source.format = MCL_DATA_FOLDER;
        ds->source.files_found = found;
        ds->source.files_skipped = ix.skipped;
        ds->source.held_out = !two_folders;
    }
    free(pixels);
    free(labels);
    index_free(&ix);
    if (st != MCL_OK) {
        mcl_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MCL_OK;
}
