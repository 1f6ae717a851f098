/* NumPy .npz archives as datasets (Keras's mnist.npz): files NumPy wrote (the committed corpus of
 * fuzz_npz) and archives built here with zlib, stored and deflated, with and without zip64
 * records and data descriptors, .npy versions 1 to 3 and every label dtype, read exactly; and
 * every kind of malformed archive refused with the right status and a one-line message naming
 * the file and the member. Real MNIST, when present, round-trips through an .npz unchanged. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/idx.h"
#include "data/npz.h"
#include "mnistcl/mnistcl.h"
#include "test_util.h"

/* ---------------------------------------------------------------- building archives */

typedef struct buf {
    uint8_t *data;
    size_t len, cap;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        ck_assert_ptr_nonnull(b->data);
    }
    if (n > 0) memcpy(b->data + b->len, src, n);
    b->len += n;
}

static void put16(buf *b, uint32_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, x, 2);
}

static void put32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put64(buf *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* A .npy file: magic, version major.0, the dict `dict` padded with spaces and a newline to a
 * multiple of 64 bytes (as numpy does), then `size` bytes of data. */
static buf npy_raw(unsigned major, const char *dict, const void *data, size_t size) {
    buf b = {0};
    put(&b, "\x93NUMPY", 6);
    uint8_t version[2] = {(uint8_t)major, 0};
    put(&b, version, 2);
    size_t prefix = major == 1 ? 10 : 12, len = strlen(dict) + 1;
    size_t pad = (64 - (prefix + len) % 64) % 64;
    if (major == 1)
        put16(&b, (uint32_t)(len + pad));
    else
        put32(&b, (uint32_t)(len + pad));
    put(&b, dict, strlen(dict));
    for (size_t i = 0; i < pad; i++)
        put(&b, " ", 1);
    put(&b, "\n", 1);
    put(&b, data, size);
    return b;
}

static buf npy(const char *descr, const char *shape, const void *data, size_t size) {
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    return npy_raw(1, dict, data, size);
}

typedef struct member {
    const char *name;
    buf content;     /* the uncompressed member (owned; freed by zip_build) */
    int method;      /* 0 stored, 8 deflated */
    bool zip64;      /* zip64 extra fields (local and central, all fields 0xFFFFFFFF) */
    bool descriptor; /* sizes and CRC in a data descriptor after the data */
} member;

static buf deflate_raw(const buf *in) {
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    buf out = {0};
    out.cap = deflateBound(&z, (uLong)in->len) + 16;
    out.data = malloc(out.cap);
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out.data;
    z.avail_out = (uInt)out.cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* A zip of the members; with zip64_end, also a zip64 end record and locator. */
static buf zip_build(member *m, size_t n, bool zip64_end) {
    buf z = {0};
    uint64_t *offsets = calloc(n, sizeof *offsets);
    uint32_t *crcs = calloc(n, sizeof *crcs);
    uint64_t *csizes = calloc(n, sizeof *csizes);
    for (size_t i = 0; i < n; i++) {
        buf c = m[i].method == 8 ? deflate_raw(&m[i].content) : m[i].content;
        crcs[i] = (uint32_t)crc32(0L, m[i].content.data, (uInt)m[i].content.len);
        csizes[i] = c.len;
        offsets[i] = z.len;
        put32(&z, 0x04034b50u);
        put16(&z, m[i].zip64 ? 45 : 20);
        put16(&z, m[i].descriptor ? 8 : 0);
        put16(&z, (uint32_t)m[i].method);
        put16(&z, 0);
        put16(&z, 0x21);
        put32(&z, m[i].descriptor ? 0 : crcs[i]);
        put32(&z, m[i].zip64 ? 0xFFFFFFFFu : m[i].descriptor ? 0 : (uint32_t)c.len);
        put32(&z, m[i].zip64 ? 0xFFFFFFFFu : m[i].descriptor ? 0 : (uint32_t)m[i].content.len);
        put16(&z, (uint32_t)strlen(m[i].name));
        put16(&z, m[i].zip64 ? 20 : 0);
        put(&z, m[i].name, strlen(m[i].name));
        if (m[i].zip64) {
            put16(&z, 1);
            put16(&z, 16);
            put64(&z, m[i].content.len);
            put64(&z, c.len);
        }
        put(&z, c.data, c.len);
        if (m[i].descriptor) {
            put32(&z, 0x08074b50u);
            put32(&z, crcs[i]);
            put32(&z, (uint32_t)c.len);
            put32(&z, (uint32_t)m[i].content.len);
        }
        if (m[i].method == 8) free(c.data);
    }
    uint64_t cd_at = z.len;
    for (size_t i = 0; i < n; i++) {
        put32(&z, 0x02014b50u);
        put16(&z, 20);
        put16(&z, m[i].zip64 ? 45 : 20);
        put16(&z, m[i].descriptor ? 8 : 0);
        put16(&z, (uint32_t)m[i].method);
        put16(&z, 0);
        put16(&z, 0x21);
        put32(&z, crcs[i]);
        put32(&z, m[i].zip64 ? 0xFFFFFFFFu : (uint32_t)csizes[i]);
        put32(&z, m[i].zip64 ? 0xFFFFFFFFu : (uint32_t)m[i].content.len);
        put16(&z, (uint32_t)strlen(m[i].name));
        put16(&z, m[i].zip64 ? 28 : 0);
        put16(&z, 0);
        put16(&z, 0);
        put16(&z, 0);
        put32(&z, 0);
        put32(&z, m[i].zip64 ? 0xFFFFFFFFu : (uint32_t)offsets[i]);
        put(&z, m[i].name, strlen(m[i].name));
        if (m[i].zip64) {
            put16(&z, 1);
            put16(&z, 24);
            put64(&z, m[i].content.len);
            put64(&z, csizes[i]);
            put64(&z, offsets[i]);
        }
        free(m[i].content.data);
    }
    uint64_t cd_size = z.len - cd_at;
    if (zip64_end) {
        uint64_t rec_at = z.len;
        put32(&z, 0x06064b50u);
        put64(&z, 44);
        put16(&z, 45);
        put16(&z, 45);
        put32(&z, 0);
        put32(&z, 0);
        put64(&z, n);
        put64(&z, n);
        put64(&z, cd_size);
        put64(&z, cd_at);
        put32(&z, 0x07064b50u);
        put32(&z, 0);
        put64(&z, rec_at);
        put32(&z, 1);
    }
    put32(&z, 0x06054b50u);
    put16(&z, 0);
    put16(&z, 0);
    put16(&z, zip64_end ? 0xFFFF : (uint32_t)n);
    put16(&z, zip64_end ? 0xFFFF : (uint32_t)n);
    put32(&z, zip64_end ? 0xFFFFFFFFu : (uint32_t)cd_size);
    put32(&z, zip64_end ? 0xFFFFFFFFu : (uint32_t)cd_at);
    put16(&z, 0);
    free(offsets), free(crcs), free(csizes);
    return z;
}

/* The fixture: N images of 5x6 with distinct pixels and labels 0..2, train and test. */
#define FIX_N 9u
static uint8_t fix_pixels[FIX_N * 30];
static const uint8_t fix_labels[FIX_N] = {2, 0, 1, 1, 0, 2, 2, 1, 0};

static void fill_fixture(void) {
    for (uint32_t i = 0; i < FIX_N * 30; i++)
        fix_pixels[i] = (uint8_t)(i * 37u + 11u);
}

/* The four members of a dataset archive, each with the given method and zip64 choice. */
static buf dataset_zip(int method, bool zip64, bool descriptor) {
    fill_fixture();
    member m[4] = {
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), method, zip64,
         descriptor},
        {"y_train.npy", npy("|u1", "(9,)", fix_labels, FIX_N), method, zip64, descriptor},
        {"x_test.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), method, zip64,
         descriptor},
        {"y_test.npy", npy("|u1", "(9,)", fix_labels, FIX_N), method, zip64, descriptor},
    };
    return zip_build(m, 4, zip64);
}

static void path_in(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", test_tmp_dir, name);
}

/* Writes z to test_tmp_dir/name (freeing it) and gives its path. */
static void write_zip(buf *z, const char *name, char *path, size_t size) {
    path_in(path, size, name);
    test_write_file(path, z->data, z->len, 0);
    free(z->data);
    memset(z, 0, sizeof *z);
}

static void expect_dataset(const char *path, mcl_split split) {
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load(path, split, &ds, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(mcl_dataset_count(ds), FIX_N);
    ck_assert_uint_eq(mcl_dataset_rows(ds), 5);
    ck_assert_uint_eq(mcl_dataset_cols(ds), 6);
    ck_assert_uint_eq(mcl_dataset_num_classes(ds), 3);
    ck_assert_mem_eq(mcl_dataset_pixels(ds), fix_pixels, sizeof fix_pixels);
    ck_assert_mem_eq(mcl_dataset_labels(ds), fix_labels, FIX_N);
    mcl_dataset_source src;
    mcl_dataset_source_info(ds, &src);
    ck_assert_int_eq(src.format, MCL_DATA_NPZ);
    ck_assert_str_eq(src.root, path);
    ck_assert_ptr_null(mcl_dataset_class_name(ds, 0));
    ck_assert_int_eq(mcl_dataset_image_prep(ds), MCL_PREP_MNIST);
    mcl_dataset_free(ds);
}

/* ---------------------------------------------------------------- good archives */

START_TEST(test_stored_deflated_zip64_descriptors) {
    char path[4096];
    for (int method = 0; method <= 8; method += 8)
        for (int zip64 = 0; zip64 <= 1; zip64++)
            for (int descriptor = 0; descriptor <= 1; descriptor++) {
                buf z = dataset_zip(method, zip64, descriptor);
                write_zip(&z, "d.npz", path, sizeof path);
                expect_dataset(path, MCL_SPLIT_TRAIN);
                expect_dataset(path, MCL_SPLIT_TEST);
            }
}
END_TEST

/* What NumPy itself wrote (tests/fuzz/npz_corpus.py): the same dataset every way. */
START_TEST(test_files_numpy_wrote) {
    static const char *const files[] = {"savez.npz",           "savez-compressed.npz",
                                        "labels-int64.npz",    "npy-v2.npz",
                                        "npy-v3-deflated.npz", "zip64.npz",
                                        "data-descriptors.npz"};
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "MNIST_CL_SOURCE_ROOT is not set (meson sets it)");
    static const uint8_t train_labels[12] = {0, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1, 2};
    static const uint8_t test_labels[6] = {2, 1, 0, 0, 1, 2};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/npz/%s", root, files[f]);
        mcl_dataset *train = NULL, *test = NULL;
        mcl_error err = {0};
        ck_assert_msg(mcl_dataset_load(path, MCL_SPLIT_TRAIN, &train, &err) == MCL_OK, "%s",
                      err.message);
        ck_assert_msg(mcl_dataset_load(path, MCL_SPLIT_TEST, &test, &err) == MCL_OK, "%s",
                      err.message);
        ck_assert_uint_eq(mcl_dataset_count(train), 12);
        ck_assert_uint_eq(mcl_dataset_count(test), 6);
        ck_assert_uint_eq(mcl_dataset_rows(train), 5);
        ck_assert_uint_eq(mcl_dataset_cols(train), 6);
        ck_assert_mem_eq(mcl_dataset_labels(train), train_labels, 12);
        ck_assert_mem_eq(mcl_dataset_labels(test), test_labels, 6);
        /* x_train = arange * 37 % 251, x_test = arange * 11 % 256 */
        for (uint32_t i = 0; i < 12 * 30; i++)
            ck_assert_uint_eq(mcl_dataset_pixels(train)[i], (uint8_t)(i * 37u % 251u));
        for (uint32_t i = 0; i < 6 * 30; i++)
            ck_assert_uint_eq(mcl_dataset_pixels(test)[i], (uint8_t)(i * 11u % 256u));
        mcl_dataset_free(train);
        mcl_dataset_free(test);
    }
}
END_TEST

/* Format versions 2.0 and 3.0, [N, H, W, 1] images, [N, 1] labels, every integer label dtype,
 * a Python 2 'L' suffix and double quotes in the dict. */
START_TEST(test_versions_shapes_and_label_dtypes) {
    fill_fixture();
    static const struct {
        const char *descr;
        unsigned size;
        bool big;
    } dtypes[] = {{"|u1", 1, false}, {"<u1", 1, false}, {"|i1", 1, false}, {"<i2", 2, false},
                  {">i2", 2, true},  {"<u2", 2, false}, {"<i4", 4, false}, {">u4", 4, true},
                  {"<i8", 8, false}, {"<u8", 8, false}, {">i8", 8, true}};
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        uint8_t wide[FIX_N * 8] = {0};
        for (uint32_t i = 0; i < FIX_N; i++)
            wide[i * dtypes[d].size + (dtypes[d].big ? dtypes[d].size - 1 : 0)] = fix_labels[i];
        char x_dict[128], y_dict[128];
        snprintf(x_dict, sizeof x_dict,
                 "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (9L, 5L, 6L, 1L)}");
        snprintf(y_dict, sizeof y_dict,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (9, 1), }", dtypes[d].descr);
        unsigned major = 1 + (unsigned)(d % 3);
        member m[4] = {
            {"x_train.npy", npy_raw(major, x_dict, fix_pixels, sizeof fix_pixels), 8, false, false},
            {"y_train.npy", npy_raw(major, y_dict, wide, FIX_N * dtypes[d].size), 0, false, false},
            {"x_test.npy", npy_raw(major, x_dict, fix_pixels, sizeof fix_pixels), 0, false, false},
            {"y_test.npy", npy_raw(major, y_dict, wide, FIX_N * dtypes[d].size), 8, false, false},
        };
        buf z = zip_build(m, 4, false);
        char path[4096];
        write_zip(&z, "v.npz", path, sizeof path);
        expect_dataset(path, MCL_SPLIT_TRAIN);
        expect_dataset(path, MCL_SPLIT_TEST);
    }
}
END_TEST

/* A folder holding mnist.npz (and no IDX files) reads it: --data ~/.keras/datasets. */
START_TEST(test_folder_holding_mnist_npz) {
    buf z = dataset_zip(8, false, false);
    char path[4096];
    write_zip(&z, "mnist.npz", path, sizeof path);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_dataset_load(test_tmp_dir, MCL_SPLIT_TEST, &ds, &err) == MCL_OK, "%s",
                  err.message);
    mcl_dataset_source src;
    mcl_dataset_source_info(ds, &src);
    ck_assert_int_eq(src.format, MCL_DATA_NPZ);
    ck_assert_str_eq(src.root, path);
    ck_assert_mem_eq(mcl_dataset_pixels(ds), fix_pixels, sizeof fix_pixels);
    mcl_dataset_free(ds);
    /* Any zip file is taken for an .npz whatever its name. */
    char other[4096];
    path_in(other, sizeof other, "mnist.data");
    ck_assert_int_eq(rename(path, other), 0);
    expect_dataset(other, MCL_SPLIT_TRAIN);
}
END_TEST

/* ---------------------------------------------------------------- malformed archives */

/* Loads path as a dataset and checks the failure (status, file, phrase, one line). */
static void expect_fail(const char *path, mcl_split split, mcl_status want, const char *phrase) {
    mcl_dataset *ds = (mcl_dataset *)(uintptr_t)1;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load(path, split, &ds, &err);
    ck_assert_error(st, err, want, path, phrase);
    ck_assert_ptr_null(ds);
}

/* An archive of the four members where one member's content is replaced. */
static void expect_member_fail(const char *which, buf content, int method, const char *phrase) {
    fill_fixture();
    member m[4] = {
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 0, false, false},
        {"y_train.npy", npy("|u1", "(9,)", fix_labels, FIX_N), 0, false, false},
        {"x_test.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 0, false, false},
        {"y_test.npy", npy("|u1", "(9,)", fix_labels, FIX_N), 0, false, false},
    };
    for (size_t i = 0; i < 4; i++)
        if (strcmp(m[i].name, which) == 0) {
            free(m[i].content.data);
            m[i].content = content;
            m[i].method = method;
        }
    buf z = zip_build(m, 4, false);
    char path[4096];
    write_zip(&z, "bad.npz", path, sizeof path);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    mcl_split split = which[2] == 't' && which[3] == 'r' ? MCL_SPLIT_TRAIN : MCL_SPLIT_TEST;
    mcl_status st = mcl_dataset_load(path, split, &ds, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, phrase);
    ck_assert_msg(strstr(err.message, which) != NULL, "'%s' does not name the member %s",
                  err.message, which);
    ck_assert_ptr_null(ds);
}

START_TEST(test_bad_npy_headers) {
    fill_fixture();
    const uint8_t *px = fix_pixels;
    const size_t n = sizeof fix_pixels;
    expect_member_fail("x_train.npy", npy("<f4", "(9, 5, 6)", px, n), 0,
                       "images of dtype '<f4' are not supported");
    expect_member_fail("y_train.npy", npy("<f8", "(9,)", fix_labels, FIX_N), 0,
                       "labels of dtype '<f8' are not supported");
    expect_member_fail("x_train.npy", npy("|u1", "(9, 30)", px, n), 0,
                       "expected [count, rows, cols]");
    expect_member_fail("x_train.npy", npy("|u1", "(3, 5, 2, 3)", px, 90), 0, "these are colour");
    expect_member_fail("y_train.npy", npy("|u1", "(3, 3)", fix_labels, FIX_N), 0,
                       "expected [count] or [count, 1]");
    expect_member_fail("y_train.npy", npy("|u1", "(9)", fix_labels, FIX_N), 0,
                       "shape must be a tuple");
    expect_member_fail("y_train.npy", npy("|u1", "(0,)", fix_labels, 0), 0, "holds 0 labels");
    expect_member_fail(
        "x_train.npy",
        npy_raw(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (9, 5, 6), }", px, n), 0,
        "Fortran order");
    expect_member_fail("x_train.npy", npy_raw(1, "{'descr': '|u1', 'shape': (9, 5, 6), }", px, n),
                       0, "lacks 'fortran_order'");
    expect_member_fail(
        "x_train.npy",
        npy_raw(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9, 5, 6), 'extra': 1, }", px,
                n),
        0, "a key 'extra'");
    expect_member_fail(
        "x_train.npy",
        npy_raw(1, "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (9, 5, 6)}",
                px, n),
        0, "a key appears twice");
    expect_member_fail(
        "x_train.npy",
        npy_raw(1, "{'descr': [('a', '|u1')], 'fortran_order': False, 'shape': (9, 5, 6)}", px, n),
        0, "structured dtype");
    expect_member_fail(
        "x_train.npy",
        npy_raw(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9, 5, 6)} x", px, n), 0,
        "text after the dict");
    expect_member_fail("x_train.npy", npy_raw(1, "['descr', '|u1']", px, n), 0, "expected '{'");
    /* Version 4.0, and a file that is not .npy at all. */
    buf v4 = npy("|u1", "(9, 5, 6)", px, n);
    v4.data[6] = 4;
    expect_member_fail("x_train.npy", v4, 0, ".npy format version 4.0 is not supported");
    buf junk = {0};
    put(&junk, "not a npy file at all", 21);
    expect_member_fail("x_train.npy", junk, 8, "not a .npy file (wrong magic bytes)");
    buf tiny = {0};
    put(&tiny, "\x93NUM", 4);
    expect_member_fail("x_train.npy", tiny, 0, "cannot hold its header");
    /* A header length that runs past the member. */
    buf longer = npy("|u1", "(9, 5, 6)", px, 10);
    longer.data[8] = 0xff, longer.data[9] = 0x7f;
    expect_member_fail("x_train.npy", longer, 0, "runs past the member");
}
END_TEST

START_TEST(test_sizes_and_limits) {
    fill_fixture();
    const uint8_t *px = fix_pixels;
    const size_t n = sizeof fix_pixels;
    /* The header's shape against the member's size, both ways, before anything is allocated. */
    expect_member_fail("x_train.npy", npy("|u1", "(9, 5, 6)", px, n - 1), 0,
                       "truncated: the header says (9, 5, 6) '|u1' (270 bytes) but the member "
                       "holds 269 bytes of data");
    expect_member_fail("x_test.npy", npy("|u1", "(8, 5, 6)", px, n), 8,
                       "30 unexpected bytes after the data");
    expect_member_fail("y_test.npy", npy("<i8", "(9,)", fix_labels, FIX_N), 0,
                       "truncated: the header says (9,) '<i8' (72 bytes)");
    /* The limits of idx.h: count, side, total bytes. */
    expect_member_fail("x_train.npy", npy("|u1", "(100000001, 1, 1)", px, n), 0,
                       "more than the limit of 100000000");
    expect_member_fail("x_train.npy", npy("|u1", "(9, 4097, 6)", px, n), 0,
                       "rows and cols must each be 1..4096");
    expect_member_fail("x_train.npy", npy("|u1", "(1000, 4096, 4096)", px, n), 0,
                       "more than the 8 GiB limit");
    expect_member_fail("y_train.npy", npy("|u1", "(4000000000,)", fix_labels, FIX_N), 0,
                       "holds 4000000000 labels, more than the limit");
    expect_member_fail("y_train.npy", npy("|u1", "(99999999999999999999,)", fix_labels, FIX_N), 0,
                       "shape must be a tuple");
    /* Counts of the two arrays of a split. */
    expect_member_fail("y_train.npy", npy("|u1", "(8,)", fix_labels, 8), 0,
                       "x_train.npy holds 9 images but y_train.npy holds 8 labels");
}
END_TEST

START_TEST(test_labels_outside_0_255) {
    int64_t neg[FIX_N] = {0, 1, 2, -1, 0, 1, 2, 0, 1};
    expect_member_fail("y_train.npy", npy("<i8", "(9,)", neg, sizeof neg), 0,
                       "label -1 at index 3 is outside 0..255");
    int32_t big[FIX_N] = {0, 1, 2, 0, 1, 300, 2, 0, 1};
    expect_member_fail("y_test.npy", npy("<i4", "(9,)", big, sizeof big), 8,
                       "label 300 at index 5 is outside 0..255");
    int8_t small[FIX_N] = {0, 1, 2, 0, 1, 2, -128, 0, 1};
    expect_member_fail("y_train.npy", npy("|i1", "(9,)", small, sizeof small), 0,
                       "label -128 at index 6");
    uint64_t huge[FIX_N] = {0, 1, 2, 0, 1, 2, 0, 0, UINT64_MAX};
    expect_member_fail("y_train.npy", npy("<u8", "(9,)", huge, sizeof huge), 0,
                       "label 18446744073709551615 at index 8");
    /* A label within 0..255 that leaves classes empty is the class check's, naming the member. */
    uint8_t gap[FIX_N] = {0, 1, 200, 0, 1, 2, 0, 0, 1};
    member m[2] = {
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 0, false, false},
        {"y_train.npy", npy("|u1", "(9,)", gap, FIX_N), 0, false, false}};
    buf z = zip_build(m, 2, false);
    char path[4096];
    write_zip(&z, "gap.npz", path, sizeof path);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_dataset_load(path, MCL_SPLIT_TRAIN, &ds, &err), MCL_OK);
    mcl_status st = mcl_dataset_check_classes(ds, 0, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "y_train.npy: label 200 at index 2", path);
    mcl_dataset_free(ds);
}
END_TEST

START_TEST(test_members_missing_twice_or_unsupported) {
    char path[4096];
    fill_fixture();
    member only[1] = {{"y_train.npy", npy("|u1", "(9,)", fix_labels, FIX_N), 0, false, false}};
    buf z = zip_build(only, 1, false);
    write_zip(&z, "one.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT,
                "the archive has no x_train.npy (it holds: y_train.npy)");
    member twice[3] = {
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 0, false, false},
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 0, false, false},
        {"y_train.npy", npy("|u1", "(9,)", fix_labels, FIX_N), 0, false, false}};
    z = zip_build(twice, 3, false);
    write_zip(&z, "twice.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "x_train.npy appears 2 times");
    z = zip_build(NULL, 0, false);
    write_zip(&z, "empty-zip.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TEST, MCL_ERR_FORMAT, "has no x_test.npy (it holds: nothing)");

    /* Encryption and compression methods other than stored and deflate, from the directory. */
    z = dataset_zip(0, false, false);
    uint8_t *cd = z.data;
    size_t at = 0;
    while (memcmp(cd + at, "PK\1\2", 4) != 0)
        at++;
    cd[at + 10] = 12; /* bzip2, in the central directory */
    cd[0 + 8] = 12;   /* and in the first local header */
    write_zip(&z, "bzip2.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "compression method 12 (bzip2)");
    z = dataset_zip(0, false, false);
    at = 0;
    while (memcmp(z.data + at, "PK\1\2", 4) != 0)
        at++;
    z.data[at + 8] |= 1;
    write_zip(&z, "encrypted.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "the member is encrypted");
}
END_TEST

/* Offset of the n-th occurrence of a 4-byte signature. */
static size_t find_sig(const buf *z, const char *sig, int nth) {
    for (size_t i = 0; i + 4 <= z->len; i++)
        if (memcmp(z->data + i, sig, 4) == 0 && nth-- == 0) return i;
    ck_abort_msg("signature not found");
    return 0;
}

START_TEST(test_damaged_zips) {
    char path[4096];
    /* Not a zip; an empty file; a zip cut short. */
    path_in(path, sizeof path, "text.npz");
    test_write_file(path, "hello, this is not a zip archive at all", 39, 0);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "not a NumPy .npz archive");
    path_in(path, sizeof path, "empty.npz");
    test_write_file(path, "", 0, 0);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "not a NumPy .npz archive");
    buf z = dataset_zip(8, false, false);
    size_t cut = z.len / 2;
    z.len = cut;
    write_zip(&z, "cut.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "truncated zip archive");

    /* A flipped data byte: the CRC-32. */
    z = dataset_zip(0, false, false);
    z.data[find_sig(&z, "PK\3\4", 0) + 30 + 11 + 128 + 5] ^= 0x40;
    write_zip(&z, "crc.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "x_train.npy: CRC-32 mismatch (stored");
    /* A damaged deflate stream (past the .npy header, which is read first). */
    z = dataset_zip(8, false, false);
    size_t data_at = find_sig(&z, "PK\3\4", 0) + 30 + 11;
    for (size_t i = 0; i < 6; i++)
        z.data[data_at + 2 + i] = 0xff;
    write_zip(&z, "deflate.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "x_train.npy");

    /* The central directory in the wrong place, and a multi-disk archive. */
    z = dataset_zip(0, false, false);
    size_t eocd = find_sig(&z, "PK\5\6", 0);
    z.data[eocd + 16] ^= 1;
    write_zip(&z, "cd.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "does not end where the end record begins");
    z = dataset_zip(0, false, false);
    eocd = find_sig(&z, "PK\5\6", 0);
    z.data[eocd + 4] = 1;
    write_zip(&z, "disks.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "spans several disks");
    /* A count that the directory cannot hold. */
    z = dataset_zip(0, false, false);
    eocd = find_sig(&z, "PK\5\6", 0);
    z.data[eocd + 8] = z.data[eocd + 10] = 200;
    write_zip(&z, "count.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "claims 200 members");
    /* A local header that names another member. */
    z = dataset_zip(0, false, false);
    z.data[find_sig(&z, "PK\3\4", 0) + 30] = 'X';
    write_zip(&z, "local.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "disagrees with the central directory");
    /* A zip64 entry without its extra field. */
    z = dataset_zip(0, false, false);
    size_t cd = find_sig(&z, "PK\1\2", 0);
    memset(z.data + cd + 20, 0xff, 4);
    write_zip(&z, "zip64-extra.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "zip64 extra field is missing");
    /* A zip64 locator that points nowhere. */
    z = dataset_zip(0, true, false);
    size_t locator = find_sig(&z, "PK\6\7", 0);
    z.data[locator + 8] ^= 0x10;
    write_zip(&z, "locator.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "zip64");
    /* A member whose data would run into the central directory. */
    z = dataset_zip(0, false, false);
    cd = find_sig(&z, "PK\1\2", 3);
    z.data[cd + 20] = z.data[cd + 24] = 0xf0, z.data[cd + 21] = z.data[cd + 25] = 0x10;
    write_zip(&z, "overrun.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TEST, MCL_ERR_FORMAT, "run into the central directory");
}
END_TEST

/* A few bytes of deflate that claim to inflate to gigabytes are refused before anything is
 * allocated; a stream shorter or longer than its member says is caught while reading. */
START_TEST(test_zip_bombs_and_lying_sizes) {
    char path[4096];
    buf z = dataset_zip(8, false, false);
    size_t cd = find_sig(&z, "PK\1\2", 0);
    z.data[cd + 24] = z.data[cd + 25] = z.data[cd + 26] = 0xff, z.data[cd + 27] = 0x7f;
    write_zip(&z, "bomb.npz", path, sizeof path);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_FORMAT, "more than deflate can make");

    /* The header says one image more than the stream holds, and the member size agrees with
     * the header: the stream ends early. */
    fill_fixture();
    uint8_t ten[10 * 30] = {0};
    buf full = npy("|u1", "(10, 5, 6)", ten, sizeof ten);
    buf short_npy = npy("|u1", "(10, 5, 6)", fix_pixels, sizeof fix_pixels);
    member m[1] = {{"x_train.npy", short_npy, 8, false, false}};
    z = zip_build(m, 1, false);
    cd = find_sig(&z, "PK\1\2", 0);
    uint32_t usize = (uint32_t)full.len;
    for (int i = 0; i < 4; i++)
        z.data[cd + 24 + i] = (uint8_t)(usize >> (8 * i));
    free(full.data);
    write_zip(&z, "short.npz", path, sizeof path);
    mcl_npz *npz = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_npz_open(path, &npz, &err), MCL_OK);
    mcl_idx_images img;
    mcl_status st = mcl_npz_read_images(npz, "x_train", &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "its deflate stream ends after 398 bytes");
    ck_assert_ptr_null(img.pixels);
    mcl_npz_close(npz);

    /* Compressed bytes after the end of the stream. */
    buf whole = npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels);
    buf packed = deflate_raw(&whole);
    free(whole.data);
    member s[1] = {
        {"x_train.npy", npy("|u1", "(9, 5, 6)", fix_pixels, sizeof fix_pixels), 8, false, false}};
    z = zip_build(s, 1, false);
    /* Rebuild by hand: the packed bytes plus 3 of padding, sizes patched. */
    buf y = {0};
    size_t data_at = 30 + 11;
    put(&y, z.data, data_at);
    put(&y, packed.data, packed.len);
    put(&y, "\0\0\0", 3);
    size_t cd_at = y.len;
    cd = find_sig(&z, "PK\1\2", 0);
    put(&y, z.data + cd, z.len - cd);
    uint32_t csize = (uint32_t)packed.len + 3;
    for (int i = 0; i < 4; i++) {
        y.data[18 + i] = (uint8_t)(csize >> (8 * i));
        y.data[cd_at + 20 + i] = (uint8_t)(csize >> (8 * i));
    }
    size_t eocd = find_sig(&y, "PK\5\6", 0);
    for (int i = 0; i < 4; i++)
        y.data[eocd + 16 + i] = (uint8_t)(cd_at >> (8 * i));
    free(packed.data);
    free(z.data);
    write_zip(&y, "padded.npz", path, sizeof path);
    ck_assert_int_eq(mcl_npz_open(path, &npz, &err), MCL_OK);
    st = mcl_npz_read_images(npz, "x_train", &img, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, path, "3 compressed bytes follow the end");
    mcl_npz_close(npz);
}
END_TEST

START_TEST(test_not_a_regular_file) {
    char path[4096];
    path_in(path, sizeof path, "folder.npz");
    ck_assert_int_eq(mkdir(path, 0700), 0);
    mcl_npz *npz = (mcl_npz *)(uintptr_t)1;
    mcl_error err = {0};
    mcl_status st = mcl_npz_open(path, &npz, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "is a directory");
    ck_assert_ptr_null(npz);
    st = mcl_npz_open("/dev/null", &npz, &err);
    ck_assert_error(st, err, MCL_ERR_IO, "/dev/null", "not a regular file");
    path_in(path, sizeof path, "missing.npz");
    st = mcl_npz_open(path, &npz, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot open");
    /* A file that is neither IDX folder nor archive. */
    path_in(path, sizeof path, "notes.txt");
    test_write_file(path, "notes", 5, 0);
    expect_fail(path, MCL_SPLIT_TRAIN, MCL_ERR_IO, "is not a directory, nor an .npz archive");
}
END_TEST

/* Real MNIST written into an .npz here (stored and deflated) loads to the same bytes as the IDX
 * files: training on either with one seed is then the same computation. */
START_TEST(test_real_mnist_round_trip) {
    const char *dir = test_mnist_dir();
    if (dir == NULL) return;
    for (mcl_split split = MCL_SPLIT_TRAIN; split <= MCL_SPLIT_TEST; split++) {
        mcl_dataset *idx = NULL, *npz = NULL;
        mcl_error err = {0};
        ck_assert_msg(mcl_dataset_load(dir, split, &idx, &err) == MCL_OK, "%s", err.message);
        uint32_t n = mcl_dataset_count(idx);
        char shape[64], lshape[32];
        snprintf(shape, sizeof shape, "(%u, 28, 28)", n);
        snprintf(lshape, sizeof lshape, "(%u,)", n);
        const char *x = split == MCL_SPLIT_TRAIN ? "x_train.npy" : "x_test.npy";
        const char *y = split == MCL_SPLIT_TRAIN ? "y_train.npy" : "y_test.npy";
        member m[2] = {{x, npy("|u1", shape, mcl_dataset_pixels(idx), (size_t)n * 784),
                        split == 0 ? 8 : 0, split == 0, false},
                       {y, npy("|u1", lshape, mcl_dataset_labels(idx), n), 8, false, false}};
        buf z = zip_build(m, 2, split == 0);
        char path[4096];
        write_zip(&z, "mnist.npz", path, sizeof path);
        ck_assert_msg(mcl_dataset_load(path, split, &npz, &err) == MCL_OK, "%s", err.message);
        ck_assert_uint_eq(mcl_dataset_count(npz), n);
        ck_assert_uint_eq(mcl_dataset_num_classes(npz), 10);
        ck_assert(memcmp(mcl_dataset_pixels(npz), mcl_dataset_pixels(idx), (size_t)n * 784) == 0);
        ck_assert(memcmp(mcl_dataset_labels(npz), mcl_dataset_labels(idx), n) == 0);
        mcl_dataset_free(npz);
        mcl_dataset_free(idx);
    }
}
END_TEST

static Suite *npz_suite(void) {
    Suite *s = suite_create("npz");
    TCase *tc = tcase_create("npz");
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_stored_deflated_zip64_descriptors);
    tcase_add_test(tc, test_files_numpy_wrote);
    tcase_add_test(tc, test_versions_shapes_and_label_dtypes);
    tcase_add_test(tc, test_folder_holding_mnist_npz);
    tcase_add_test(tc, test_bad_npy_headers);
    tcase_add_test(tc, test_sizes_and_limits);
    tcase_add_test(tc, test_labels_outside_0_255);
    tcase_add_test(tc, test_members_missing_twice_or_unsupported);
    tcase_add_test(tc, test_damaged_zips);
    tcase_add_test(tc, test_zip_bombs_and_lying_sizes);
    tcase_add_test(tc, test_not_a_regular_file);
    suite_add_tcase(s, tc);
    TCase *real = tcase_create("real");
    tcase_set_timeout(real, 120);
    tcase_add_checked_fixture(real, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(real, test_real_mnist_round_trip);
    suite_add_tcase(s, real);
    return s;
}

int main(void) {
    return test_run_suite(npz_suite());
}
