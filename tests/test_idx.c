/* IDX reading and datasets: valid files (raw and gzip) round-trip exactly, and every kind of
 * malformed file is rejected with the right status and a message that names the file and the
 * problem. Fixtures are tiny IDX files written into a fresh temporary directory per test. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/idx.h"
#include "mnistcl/mnistcl.h"
#include "test_util.h"

/* The fixture: N images of H x W with distinct, position-dependent pixels. */
#define FIX_N 7u
#define FIX_H 5u
#define FIX_W 4u
#define FIX_BYTES (FIX_N * FIX_H * FIX_W)
static const uint8_t fixture_labels[FIX_N] = {3, 1, 4, 1, 5, 9, 2}; /* K = 10 */

/* Each test writes its files into test_tmp_dir (the checked fixture of test_util.h). */

static void path_in(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmp_dir, name);
}

static uint8_t fixture_pixel(uint32_t i) {
    return (uint8_t)(i * 37u + 11u); /* 37 is odd, so 256 consecutive indices are all distinct */
}

/* An IDX file image: 4 magic bytes, `ndims` big-endian words, then `size` bytes of `data`
 * (NULL: the fixture pixels). Returns a malloc'd buffer the caller frees; *total its length. */
static uint8_t *idx_bytes(uint8_t type, uint8_t declared_dims, const uint32_t *dims, size_t ndims,
                          const uint8_t *data, size_t size, size_t *total) {
    *total = 4 + 4 * ndims + size;
    uint8_t *buf = malloc(*total);
    ck_assert_ptr_nonnull(buf);
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = type;
    buf[3] = declared_dims;
    for (size_t d = 0; d < ndims; d++) {
        uint8_t *p = buf + 4 + 4 * d;
        p[0] = (uint8_t)(dims[d] >> 24);
        p[1] = (uint8_t)(dims[d] >> 16);
        p[2] = (uint8_t)(dims[d] >> 8);
        p[3] = (uint8_t)dims[d];
    }
    for (size_t i = 0; i < size; i++)
        buf[4 + 4 * ndims + i] = data != NULL ? data[i] : fixture_pixel((uint32_t)i);
    return buf;
}

/* Writes a well-formed unsigned-byte IDX file of `ndims` dims with `size` data bytes (which
 * may disagree with the dims, to make malformed files) into test_tmp_dir/name; path gets its path.
 */
static void write_idx(const char *name, const uint32_t *dims, size_t ndims, const uint8_t *data,
                      size_t size, int gzip, char *path, size_t path_size) {
    size_t total = 0;
    uint8_t *buf = idx_bytes(0x08, (uint8_t)ndims, dims, ndims, data, size, &total);
    path_in(path, path_size, name);
    test_write_file(path, buf, total, gzip);
    free(buf);
}

static void write_fixture_images(const char *name, int gzip, char *path, size_t path_size) {
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    write_idx(name, dims, 3, NULL, FIX_BYTES, gzip, path, path_size);
}

static void write_fixture_labels(const char *name, int gzip, char *path, size_t path_size) {
    const uint32_t dims[1] = {FIX_N};
    write_idx(name, dims, 1, fixture_labels, FIX_N, gzip, path, path_size);
}

static void overwrite(const char *path, const uint8_t *buf, size_t size) {
    test_write_file(path, buf, size, 0);
}

static void check_fixture_images(const mcl_idx_images *img) {
    ck_assert_uint_eq(img->count, FIX_N);
    ck_assert_uint_eq(img->rows, FIX_H);
    ck_assert_uint_eq(img->cols, FIX_W);
    ck_assert_ptr_nonnull(img->pixels);
    for (uint32_t i = 0; i < FIX_BYTES; i++)
        ck_assert_uint_eq(img->pixels[i], fixture_pixel(i));
}

static void check_fixture_labels(const mcl_idx_labels *lab) {
    ck_assert_uint_eq(lab->count, FIX_N);
    ck_assert_ptr_nonnull(lab->labels);
    ck_assert_mem_eq(lab->labels, fixture_labels, FIX_N);
}

/* ---------------------------------------------------------------- valid files */

START_TEST(test_images_raw_round_trip) {
    char path[4096];
    write_fixture_images("img", 0, path, sizeof path);
    mcl_idx_images img;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_idx_read_images(path, &img, &err), MCL_OK);
    check_fixture_images(&img);
    mcl_idx_images_free(&img);
    ck_assert_ptr_null(img.pixels);
    ck_assert_uint_eq(img.count, 0);
}
END_TEST

START_TEST(test_labels_raw_round_trip) {
    char path[4096];
    write_fixture_labels("lab", 0, path, sizeof path);
    mcl_idx_labels lab;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_idx_read_labels(path, &lab, &err), MCL_OK);
    check_fixture_labels(&lab);
    mcl_idx_labels_free(&lab);
    ck_assert_ptr_null(lab.labels);
}
END_TEST

START_TEST(test_gzip_round_trip) {
    char ipath[4096], lpath[4096];
    write_fixture_images("img.gz", 1, ipath, sizeof ipath);
    write_fixture_labels("lab.gz", 1, lpath, sizeof lpath);
    /* Make sure the fixture really is compressed, or this test proves nothing. */
    size_t size = 0;
    uint8_t *raw = test_read_file(ipath, &size);
    ck_assert_uint_eq(raw[0], 0x1f);
    ck_assert_uint_eq(raw[1], 0x8b);
    free(raw);

    mcl_idx_images img;
    mcl_idx_labels lab;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_idx_read_images(ipath, &img, &err), MCL_OK);
    ck_assert_int_eq(mcl_idx_read_labels(lpath, &lab, &err), MCL_OK);
    check_fixture_images(&img);
    check_fixture_labels(&lab);
    mcl_idx_images_free(&img);
    mcl_idx_labels_free(&lab);
}
END_TEST

/* Loads `split` from test_tmp_dir and checks it is the fixture read from the named files. */
static void check_load_dir(mcl_split split, const char *images_name, const char *labels_name) {
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_dataset_load(test_tmp_dir, split, &ds, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_dataset_count(ds), FIX_N);
    ck_assert_uint_eq(mcl_dataset_rows(ds), FIX_H);
    ck_assert_uint_eq(mcl_dataset_cols(ds), FIX_W);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 10);
    const uint8_t *pixels = mcl_dataset_pixels(ds);
    for (uint32_t i = 0; i < FIX_BYTES; i++)
        ck_assert_uint_eq(pixels[i], fixture_pixel(i));
    ck_assert_mem_eq(mcl_dataset_labels(ds), fixture_labels, FIX_N);
    char want[4096];
    path_in(want, sizeof want, images_name);
    ck_assert_str_eq(mcl_dataset_images_path(ds), want);
    path_in(want, sizeof want, labels_name);
    ck_assert_str_eq(mcl_dataset_labels_path(ds), want);
    ck_assert_int_eq(mcl_dataset_check_labels(ds, 10, &err), MCL_OK);
    mcl_dataset_free(ds);
}

START_TEST(test_load_dir_raw) {
    char path[4096];
    write_fixture_images("train-images-idx3-ubyte", 0, path, sizeof path);
    write_fixture_labels("train-labels-idx1-ubyte", 0, path, sizeof path);
    check_load_dir(MCL_SPLIT_TRAIN, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
}
END_TEST

START_TEST(test_load_dir_gz) {
    char path[4096];
    write_fixture_images("t10k-images-idx3-ubyte.gz", 1, path, sizeof path);
    write_fixture_labels("t10k-labels-idx1-ubyte.gz", 1, path, sizeof path);
    check_load_dir(MCL_SPLIT_TEST, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
}
END_TEST

START_TEST(test_load_dir_dot_spelling_and_order) {
    char path[4096];
    write_fixture_images("train-images.idx3-ubyte", 0, path, sizeof path);
    write_fixture_labels("train-labels.idx1-ubyte.gz", 1, path, sizeof path);
    check_load_dir(MCL_SPLIT_TRAIN, "train-images.idx3-ubyte", "train-labels.idx1-ubyte.gz");
    /* A raw canonical file is preferred over the other spellings. */
    write_fixture_images("train-images-idx3-ubyte", 0, path, sizeof path);
    write_fixture_labels("train-labels-idx1-ubyte", 0, path, sizeof path);
    check_load_dir(MCL_SPLIT_TRAIN, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
}
END_TEST

START_TEST(test_num_classes) {
    char ipath[4096], lpath[4096];
    const uint32_t idims[3] = {4, 1, 1};
    const uint8_t pixels[4] = {0, 1, 2, 3};
    write_idx("img", idims, 3, pixels, 4, 0, ipath, sizeof ipath);
    const uint32_t ldims[1] = {4};
    const uint8_t three[4] = {0, 2, 1, 0};
    write_idx("lab3", ldims, 1, three, 4, 0, lpath, sizeof lpath);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_dataset_load_files(ipath, lpath, &ds, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 3);
    mcl_dataset_free(ds);

    const uint8_t zeros[4] = {0, 0, 0, 0};
    write_idx("lab1", ldims, 1, zeros, 4, 0, lpath, sizeof lpath);
    ck_assert_int_eq(mcl_dataset_load_files(ipath, lpath, &ds, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 1);
    mcl_dataset_free(ds);

    const uint8_t top[4] = {255, 0, 0, 0};
    write_idx("lab256", ldims, 1, top, 4, 0, lpath, sizeof lpath);
    ck_assert_int_eq(mcl_dataset_load_files(ipath, lpath, &ds, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 256);
    mcl_dataset_free(ds);
}
END_TEST

/* ---------------------------------------------------------------- malformed headers */

START_TEST(test_wrong_magic) {
    char path[4096];
    write_fixture_images("img", 0, path, sizeof path);
    size_t size = 0;
    uint8_t *buf = test_read_file(path, &size);
    buf[0] = 0x12;
    buf[1] = 0x34;
    overwrite(path, buf, size);
    free(buf);
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "not an IDX file");
    ck_assert_ptr_null(img.pixels);
}
END_TEST

START_TEST(test_wrong_dimension_count) {
    char ipath[4096], lpath[4096];
    write_fixture_images("img", 0, ipath, sizeof ipath);
    write_fixture_labels("lab", 0, lpath, sizeof lpath);
    mcl_idx_images img;
    mcl_idx_labels lab;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(lpath, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, lpath,
                    "expected an images file (3 dimensions) but found 1 dimension(s)");
    st = mcl_idx_read_labels(ipath, &lab, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, ipath,
                    "expected a labels file (1 dimension) but found 3 dimension(s)");
    /* Swapped files through the dataset API fail the same way. */
    mcl_dataset *ds = NULL;
    st = mcl_dataset_load_files(lpath, ipath, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, lpath, "expected an images file");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_unsupported_element_type) {
    static const uint8_t types[] = {0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF};
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    for (size_t t = 0; t < sizeof types; t++) {
        char path[4096], name[32], phrase[64];
        snprintf(name, sizeof name, "type-%02X", types[t]);
        path_in(path, sizeof path, name);
        size_t total = 0;
        uint8_t *buf = idx_bytes(types[t], 3, dims, 3, NULL, FIX_BYTES, &total);
        test_write_file(path, buf, total, 0);
        free(buf);
        mcl_idx_images img;
        mcl_error err = {0};
        mcl_status st = mcl_idx_read_images(path, &img, &err);
        snprintf(phrase, sizeof phrase, "unsupported element type 0x%02X", types[t]);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, phrase);
    }
}
END_TEST

START_TEST(test_header_shorter_than_dims) {
    char path[4096];
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    mcl_idx_images img;
    mcl_idx_labels lab;
    mcl_error err = {0};
    for (int gzip = 0; gzip <= 1; gzip++) {
        /* Declares 3 dims but holds 1.5 of them. */
        size_t total = 0;
        uint8_t *buf = idx_bytes(0x08, 3, dims, 3, NULL, 0, &total);
        path_in(path, sizeof path, gzip ? "short.gz" : "short");
        test_write_file(path, buf, 10, gzip);
        mcl_status st = mcl_idx_read_images(path, &img, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, "truncated header");
        ck_assert_msg(strstr(err.message, "only 10 bytes") != NULL, "%s", err.message);

        /* Shorter than the fixed 4-byte prefix. */
        path_in(path, sizeof path, gzip ? "tiny.gz" : "tiny");
        test_write_file(path, buf, 3, gzip);
        st = mcl_idx_read_labels(path, &lab, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, "truncated header");
        free(buf);
    }
}
END_TEST

START_TEST(test_absurd_dimensions) {
    /* Each header claims far more than the file holds (or a nonsensical shape); each must be
     * rejected by the limits, i.e. before any allocation sized from the header. */
    static const struct {
        uint32_t dims[3];
        const char *phrase;
    } cases[] = {
        {{2147483648u, 28, 28}, "more than the limit of 100000000"},
        {{10, 65535, 65535}, "rows and cols must each be 1..4096"},
        {{10, 0, 28}, "rows and cols must each be 1..4096"},
        {{10, 28, 4097}, "rows and cols must each be 1..4096"},
        {{0, 28, 28}, "header says 0 images"},
        {{100000000u, 4096, 4096}, "more than the 8 GiB limit"},
        {{4000, 1024, 2100}, "more than the 8 GiB limit"}, /* just over 8 GiB */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int gzip = 0; gzip <= 1; gzip++) {
            char path[4096], name[32];
            snprintf(name, sizeof name, "absurd-%zu%s", c, gzip ? ".gz" : "");
            write_idx(name, cases[c].dims, 3, NULL, 16, gzip, path, sizeof path);
            mcl_idx_images img;
            mcl_error err = {0};
            mcl_status st = mcl_idx_read_images(path, &img, &err);
            ck_assert_error(st, err, MCL_ERR_FORMAT, path, cases[c].phrase);
            ck_assert_ptr_null(img.pixels);
        }
    }
    char path[4096];
    const uint32_t huge[1] = {2147483648u};
    write_idx("labels-huge", huge, 1, NULL, 16, 0, path, sizeof path);
    mcl_idx_labels lab;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_labels(path, &lab, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "2147483648 labels, more than the limit");
}
END_TEST

/* ---------------------------------------------------------------- malformed data */

START_TEST(test_truncated_raw) {
    char path[4096];
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    write_idx("img", dims, 3, NULL, 100, 0, path, sizeof path);
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path,
                    "truncated: header says 7 images of 5x4 (140 bytes) but the file holds 100 "
                    "bytes of data");

    /* A big claim in a small file is caught by the size check, not by a failed read into a
     * buffer allocated from the claim. */
    const uint32_t big[3] = {1000000, 28, 28};
    write_idx("big", big, 3, NULL, 1000, 0, path, sizeof path);
    st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path,
                    "truncated: header says 1000000 images of 28x28 (784000000 bytes) but the "
                    "file holds 1000 bytes of data");

    const uint32_t ldims[1] = {FIX_N};
    write_idx("lab", ldims, 1, fixture_labels, FIX_N - 2, 0, path, sizeof path);
    mcl_idx_labels lab;
    st = mcl_idx_read_labels(path, &lab, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "header says 7 labels (7 bytes)");
    ck_assert_msg(strstr(err.message, "holds 5 bytes of data") != NULL, "%s", err.message);
}
END_TEST

START_TEST(test_truncated_gz) {
    char path[4096];
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    write_idx("img.gz", dims, 3, NULL, 100, 1, path, sizeof path);
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "truncated: header says 7 images of 5x4");
    ck_assert_msg(strstr(err.message, "decompresses to 100 bytes of data") != NULL, "%s",
                  err.message);

    const uint32_t big[3] = {1000000, 28, 28};
    write_idx("big.gz", big, 3, NULL, 1000, 1, path, sizeof path);
    st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "truncated: header says 1000000 images");
}
END_TEST

START_TEST(test_gz_cut_stream) {
    /* A complete .gz cut short: its last four bytes are no longer a trailer, so the size check
     * or the decompressor must catch it; either way it is a format error naming the file. */
    char path[4096];
    write_fixture_images("img.gz", 1, path, sizeof path);
    size_t size = 0;
    uint8_t *buf = test_read_file(path, &size);
    for (size_t keep = size - 1; keep >= 2; keep = keep * 2 / 3) {
        overwrite(path, buf, keep);
        mcl_idx_images img;
        mcl_error err = {0};
        mcl_status st = mcl_idx_read_images(path, &img, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, ": ");
        ck_assert_ptr_null(img.pixels);
    }
    free(buf);
}
END_TEST

START_TEST(test_gz_corrupt_stream) {
    char path[4096];
    write_fixture_images("img.gz", 1, path, sizeof path);
    size_t size = 0;
    uint8_t *buf = test_read_file(path, &size);
    ck_assert_uint_gt(size, 30);

    /* A wrong CRC32 in the trailer (the ISIZE still matches): zlib notices at the end. */
    buf[size - 8] ^= 0xFF;
    overwrite(path, buf, size);
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "corrupt or truncated gzip data");
    ck_assert_ptr_null(img.pixels);
    buf[size - 8] ^= 0xFF;

    /* Garbage in the deflate data: whatever zlib makes of it, it must not be accepted. */
    for (size_t i = 12; i < size - 8; i++)
        buf[i] = (uint8_t)(buf[i] ^ 0x5A);
    overwrite(path, buf, size);
    st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, path);
    ck_assert_ptr_null(img.pixels);
    free(buf);
}
END_TEST

START_TEST(test_gz_stream_without_end) {
    /* A gzip member whose deflate data holds every byte but never ends (flushed, not finished),
     * followed by a trailer-sized ISIZE that matches the header: the size check passes and all
     * the data decompresses, so only the decompressor's "unexpected end of file" can tell. */
    char path[4096], partial[4096];
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    size_t total = 0;
    uint8_t *content = idx_bytes(0x08, 3, dims, 3, NULL, FIX_BYTES, &total);
    path_in(partial, sizeof partial, "partial.gz");
    gzFile gz = gzopen(partial, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, content, (unsigned)total), (int)total);
    ck_assert_int_eq(gzflush(gz, Z_SYNC_FLUSH), Z_OK);
    size_t size = 0;
    uint8_t *flushed = test_read_file(partial, &size);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    free(content);

    uint8_t *buf = malloc(size + 4);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, flushed, size);
    buf[size + 0] = (uint8_t)total;
    buf[size + 1] = (uint8_t)(total >> 8);
    buf[size + 2] = (uint8_t)(total >> 16);
    buf[size + 3] = (uint8_t)(total >> 24);
    path_in(path, sizeof path, "unended.gz");
    overwrite(path, buf, size + 4);
    free(flushed);
    free(buf);

    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "corrupt or truncated gzip data");
    ck_assert_ptr_null(img.pixels);
}
END_TEST

START_TEST(test_trailing_bytes) {
    char path[4096];
    const uint32_t dims[3] = {FIX_N, FIX_H, FIX_W};
    for (int gzip = 0; gzip <= 1; gzip++) {
        write_idx(gzip ? "img.gz" : "img", dims, 3, NULL, FIX_BYTES + 3, gzip, path, sizeof path);
        mcl_idx_images img;
        mcl_error err = {0};
        mcl_status st = mcl_idx_read_images(path, &img, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, "3 unexpected bytes after the data");
    }
    const uint32_t ldims[1] = {2};
    write_idx("lab", ldims, 1, fixture_labels, 7, 0, path, sizeof path);
    mcl_idx_labels lab;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_labels(path, &lab, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "5 unexpected bytes after the data");
}
END_TEST

/* Adds `delta` to the ISIZE field (the last four bytes, little endian) of a gzip file image. */
static void shift_isize(uint8_t *gz, size_t size, int32_t delta) {
    uint8_t *p = gz + size - 4;
    uint32_t isize =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    isize += (uint32_t)delta;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(isize >> (8 * i));
}

START_TEST(test_gz_trailer_mismatch) {
    /* A gzip trailer that disagrees with the header is rejected before the data is allocated.
     * The file must decompress to more than zlib decodes on the first read (a few hundred KiB),
     * or zlib itself reaches the trailer while we read the header and reports the mismatch. */
    char path[4096];
    const uint32_t dims[3] = {1000, 28, 28};
    write_idx("big.gz", dims, 3, NULL, 1000 * 28 * 28, 1, path, sizeof path);
    size_t size = 0;
    uint8_t *buf = test_read_file(path, &size);
    mcl_idx_images img;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_idx_read_images(path, &img, &err), MCL_OK);
    mcl_idx_images_free(&img);

    shift_isize(buf, size, 50);
    overwrite(path, buf, size);
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "50 unexpected bytes after the data");
    ck_assert_msg(strstr(err.message, "gzip trailer") != NULL, "%s", err.message);

    shift_isize(buf, size, -50 - 1000);
    overwrite(path, buf, size);
    st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path,
                    "truncated: header says 1000 images of 28x28 (784000 bytes) but the gzip "
                    "trailer says the file decompresses to 783000 bytes of data");

    /* In a small file zlib meets the bad trailer first; still a format error naming the file. */
    write_fixture_images("small.gz", 1, path, sizeof path);
    free(buf);
    buf = test_read_file(path, &size);
    shift_isize(buf, size, 50);
    overwrite(path, buf, size);
    free(buf);
    st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "gzip");
}
END_TEST

/* The gzip trailer holds the size mod 2^32 only: a tiny file whose header claims 4 GiB more
 * than it holds matches its trailer. It is refused before allocating, because deflate cannot
 * expand a file of a few dozen bytes that far. (Found by the fuzzer: it allocated 4 GiB.) */
START_TEST(test_gz_header_beyond_deflate_ratio) {
    char path[4096];
    const uint32_t dims[3] = {65536, 16,
                              4096}; /* 2^32 bytes of pixels: 16 mod 2^32 with the header */
    write_idx("huge.gz", dims, 3, NULL, 0, 1, path, sizeof path);
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "cannot decompress to more than");
}
END_TEST

/* ---------------------------------------------------------------- files that are not there */

START_TEST(test_empty_file) {
    char path[4096];
    for (int gzip = 0; gzip <= 1; gzip++) {
        path_in(path, sizeof path, gzip ? "empty.gz" : "empty");
        test_write_file(path, "", 0, gzip);
        mcl_idx_images img;
        mcl_error err = {0};
        mcl_status st = mcl_idx_read_images(path, &img, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, "empty file");
    }
}
END_TEST

START_TEST(test_directory_as_file) {
    mcl_idx_images img;
    mcl_idx_labels lab;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(test_tmp_dir, &img, &err);
    ck_assert_error(st, err, MCL_ERR_IO, test_tmp_dir, "is a directory");
    st = mcl_idx_read_labels(test_tmp_dir, &lab, &err);
    ck_assert_error(st, err, MCL_ERR_IO, test_tmp_dir, "is a directory");
}
END_TEST

START_TEST(test_missing_file) {
    char path[4096];
    path_in(path, sizeof path, "no-such-file");
    mcl_idx_images img;
    mcl_error err = {0};
    mcl_status st = mcl_idx_read_images(path, &img, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot open");
    ck_assert_ptr_null(img.pixels);
    /* err may be NULL: the status alone still comes back. */
    ck_assert_int_eq(mcl_idx_read_images(path, &img, NULL), MCL_ERR_IO);

    char lpath[4096];
    write_fixture_labels("lab", 0, lpath, sizeof lpath);
    mcl_dataset *ds = NULL;
    st = mcl_dataset_load_files(path, lpath, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot open");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_missing_data_folder) {
    char dir[4096];
    path_in(dir, sizeof dir, "nowhere");
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_IO, dir, "does not exist");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_missing_split_file) {
    char path[4096];
    write_fixture_images("train-images-idx3-ubyte", 0, path, sizeof path);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load(test_tmp_dir, MCL_SPLIT_TRAIN, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_IO, test_tmp_dir, "has no train-labels-idx1-ubyte");
    ck_assert_ptr_null(ds);
    st = mcl_dataset_load(test_tmp_dir, MCL_SPLIT_TEST, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_IO, test_tmp_dir, "has no t10k-images-idx3-ubyte");

    /* A plain file where the folder should be. */
    st = mcl_dataset_load(path, MCL_SPLIT_TRAIN, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "is not a directory");
}
END_TEST

/* ---------------------------------------------------------------- datasets */

START_TEST(test_count_mismatch) {
    char ipath[4096], lpath[4096];
    write_fixture_images("img", 0, ipath, sizeof ipath);
    const uint32_t ldims[1] = {FIX_N - 1};
    write_idx("lab", ldims, 1, fixture_labels, FIX_N - 1, 0, lpath, sizeof lpath);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load_files(ipath, lpath, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, ipath, "holds 7 images");
    ck_assert_error(st, err, MCL_ERR_FORMAT, lpath, "holds 6 labels");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_label_out_of_range) {
    char ipath[4096], lpath[4096];
    write_fixture_images("img", 0, ipath, sizeof ipath);
    const uint8_t labels[FIX_N] = {0, 1, 2, 3, 4, 12, 13};
    const uint32_t ldims[1] = {FIX_N};
    write_idx("lab", ldims, 1, labels, FIX_N, 0, lpath, sizeof lpath);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_dataset_load_files(ipath, lpath, &ds, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 14);
    mcl_status st = mcl_dataset_check_labels(ds, 10, &err);
    char want[4200];
    snprintf(want, sizeof want, "%s: label 12 at index 5 is outside the class range 0..9", lpath);
    ck_assert_int_eq(st, MCL_ERR_FORMAT);
    ck_assert_str_eq(err.message, want);
    ck_assert_int_eq(mcl_dataset_check_labels(ds, 14, &err), MCL_OK);
    ck_assert_int_eq(mcl_dataset_check_labels(ds, 0, &err), MCL_ERR_USAGE);
    mcl_dataset_free(ds);
}
END_TEST

START_TEST(test_subset) {
    char ipath[4096], lpath[4096];
    write_fixture_images("img", 0, ipath, sizeof ipath);
    write_fixture_labels("lab", 0, lpath, sizeof lpath);
    mcl_dataset *ds = NULL, *sub = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_dataset_load_files(ipath, lpath, &ds, &err), MCL_OK);

    ck_assert_int_eq(mcl_dataset_subset(ds, 2, 4, &sub, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_count(sub), 4);
    ck_assert_uint_eq(mcl_dataset_rows(sub), FIX_H);
    ck_assert_uint_eq(mcl_dataset_cols(sub), FIX_W);
    /* Samples 2..5 hold labels {4, 1, 5, 9}: the slice keeps the source's K. */
    ck_assert_uint_eq(mcl_dataset_num_classes(sub), 10);
    ck_assert_mem_eq(mcl_dataset_labels(sub), fixture_labels + 2, 4);
    const uint8_t *pixels = mcl_dataset_pixels(sub);
    for (uint32_t i = 0; i < 4 * FIX_H * FIX_W; i++)
        ck_assert_uint_eq(pixels[i], fixture_pixel(2 * FIX_H * FIX_W + i));
    ck_assert_str_eq(mcl_dataset_labels_path(sub), lpath);
    /* A copy, not a view: freeing the source leaves the subset intact. */
    mcl_dataset_free(ds);
    ck_assert_uint_eq(mcl_dataset_pixels(sub)[0], fixture_pixel(2 * FIX_H * FIX_W));
    ds = sub;
    sub = NULL;

    ck_assert_int_eq(mcl_dataset_subset(ds, 0, 4, &sub, &err), MCL_OK); /* the whole thing */
    mcl_dataset_free(sub);
    mcl_status st = mcl_dataset_subset(ds, 1, 4, &sub, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, ipath, "samples [1, 5) are outside the 4 samples");
    ck_assert_ptr_null(sub);
    st = mcl_dataset_subset(ds, 0xFFFFFFFFu, 2, &sub, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, ipath, "outside the 4 samples");
    st = mcl_dataset_subset(ds, 0, 0, &sub, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, ipath, "count must be at least 1");
    ck_assert_ptr_null(sub);
    mcl_dataset_free(ds);
}
END_TEST

START_TEST(test_free_is_null_safe) {
    mcl_dataset_free(NULL);
    mcl_idx_images_free(NULL);
    mcl_idx_labels_free(NULL);
    mcl_idx_images img = {0};
    mcl_idx_labels lab = {0};
    mcl_idx_images_free(&img);
    mcl_idx_labels_free(&lab);
    ck_assert_ptr_null(img.pixels);
    ck_assert_ptr_null(lab.labels);
    ck_assert_uint_eq(mcl_dataset_count(NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------- real MNIST, when present */

START_TEST(test_real_mnist) {
    const char *dir = test_mnist_dir();
    if (dir == NULL) {
        fprintf(stderr, "note: no MNIST data found, real-data test passes vacuously\n");
        return;
    }
    mcl_dataset *train = NULL, *test = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &train, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert_uint_eq(mcl_dataset_count(train), 60000);
    ck_assert_uint_eq(mcl_dataset_rows(train), 28);
    ck_assert_uint_eq(mcl_dataset_cols(train), 28);
    ck_assert_uint_eq(mcl_dataset_num_classes(train), 10);
    ck_assert_uint_eq(mcl_dataset_labels(train)[0], 5);
    ck_assert_int_eq(mcl_dataset_check_labels(train, 10, &err), MCL_OK);
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TEST, &test, &err) == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_dataset_count(test), 10000);
    ck_assert_uint_eq(mcl_dataset_rows(test), 28);
    ck_assert_uint_eq(mcl_dataset_cols(test), 28);
    ck_assert_uint_eq(mcl_dataset_num_classes(test), 10);
    mcl_dataset_free(train);
    mcl_dataset_free(test);
}
END_TEST

static Suite *idx_suite(void) {
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_images_raw_round_trip);
    tcase_add_test(tc, test_labels_raw_round_trip);
    tcase_add_test(tc, test_gzip_round_trip);
    tcase_add_test(tc, test_load_dir_raw);
    tcase_add_test(tc, test_load_dir_gz);
    tcase_add_test(tc, test_load_dir_dot_spelling_and_order);
    tcase_add_test(tc, test_num_classes);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_wrong_dimension_count);
    tcase_add_test(tc, test_unsupported_element_type);
    tcase_add_test(tc, test_header_shorter_than_dims);
    tcase_add_test(tc, test_absurd_dimensions);
    tcase_add_test(tc, test_truncated_raw);
    tcase_add_test(tc, test_truncated_gz);
    tcase_add_test(tc, test_gz_cut_stream);
    tcase_add_test(tc, test_gz_corrupt_stream);
    tcase_add_test(tc, test_gz_stream_without_end);
    tcase_add_test(tc, test_trailing_bytes);
    tcase_add_test(tc, test_gz_trailer_mismatch);
    tcase_add_test(tc, test_gz_header_beyond_deflate_ratio);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_directory_as_file);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_missing_data_folder);
    tcase_add_test(tc, test_missing_split_file);
    tcase_add_test(tc, test_count_mismatch);
    tcase_add_test(tc, test_label_out_of_range);
    tcase_add_test(tc, test_subset);
    tcase_add_test(tc, test_free_is_null_safe);
    suite_add_tcase(s, tc);

    TCase *real = tcase_create("mnist");
    tcase_set_timeout(real, 120);
    tcase_add_test(real, test_real_mnist);
    suite_add_tcase(s, real);
    return s;
}

int main(void) {
    return test_run_suite(idx_suite());
}
