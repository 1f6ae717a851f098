/* Image folders as datasets (Keras's image_dataset_from_directory with labels="inferred"): the
 * class names and their order, which files count, the held-out test share and train/ + test/
 * folders, TensorFlow's bilinear resize, every error naming its folder or file; and the class
 * names kept by trainers and checkpoints (the CLSN section), while checkpoints without them
 * still load. Fixtures are PNGs written into a fresh temporary folder per test. */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/image.h"
#include "mnistcl/mnistcl.h"
#include "store/checkpoint.h"
#include "test_util.h"

#define SIDE 28u /* fixtures are 28x28: the default size, so the resize leaves them exact */

static void path_in(char *out, size_t size, const char *rel) {
    snprintf(out, size, "%s/%s", test_tmp_dir, rel);
}

/* mkdir -p of test_tmp_dir/rel. */
static void make_dirs(const char *rel) {
    char path[4096];
    path_in(path, sizeof path, rel);
    for (char *p = path + strlen(test_tmp_dir) + 1; *p != '\0'; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    mkdir(path, 0700);
}

/* A 28x28 PNG whose first two pixels hold `id` (so a sample tells which file it came from). */
static void write_id_png(const char *rel, uint32_t id) {
    uint8_t px[SIDE * SIDE];
    for (uint32_t i = 0; i < SIDE * SIDE; i++)
        px[i] = (uint8_t)(i * 7u + id * 13u);
    px[0] = (uint8_t)id;
    px[1] = (uint8_t)(id >> 8);
    char path[4096];
    path_in(path, sizeof path, rel);
    mcl_error err = {0};
    ck_assert_msg(mcl_image_write_png(path, px, SIDE, SIDE, &err) == MCL_OK, "%s", err.message);
}

static void write_text(const char *rel, const char *text) {
    char path[4096];
    path_in(path, sizeof path, rel);
    test_write_file(path, text, strlen(text), 0);
}

static uint32_t sample_id(const mcl_dataset *ds, uint32_t i) {
    const uint8_t *p = mcl_dataset_pixels(ds) + (size_t)i * SIDE * SIDE;
    return p[0] | (uint32_t)p[1] << 8;
}

static mcl_dataset *load(const char *rel, mcl_split split, float test_split) {
    char dir[4096];
    path_in(dir, sizeof dir, rel);
    mcl_data_options opt = {.test_split = test_split};
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_dataset_load_with(dir, split, &opt, &ds, &err) == MCL_OK, "%s", err.message);
    return ds;
}

/* Three classes whose names sort as Keras sorts them (a10 before a2), files in nested folders
 * and with upper-case extensions, a link to a file, and things that are skipped: a text file,
 * a hidden file, a hidden folder, a file beside the class folders. File i of class k has id
 * 100 * k + i. */
static void write_three_classes(const char *root) {
    static const char *const classes[] = {"a10", "a2", "b"};
    char rel[512];
    for (uint32_t k = 0; k < 3; k++) {
        snprintf(rel, sizeof rel, "%s/%s/sub", root, classes[k]);
        make_dirs(rel);
        for (uint32_t i = 0; i < 10; i++) {
            if (k == 2 && i == 9) continue; /* b's tenth file is a link */
            snprintf(rel, sizeof rel, "%s/%s/%s%u.%s", root, classes[k], i < 3 ? "sub/" : "", i,
                     i % 4 == 1 ? "PNG" : "png");
            write_id_png(rel, 100 * k + i);
        }
    }
    char target[4096], link[4096];
    snprintf(rel, sizeof rel, "%s/b/sub/1.PNG", root);
    path_in(target, sizeof target, rel);
    snprintf(rel, sizeof rel, "%s/b/link-to-file.png", root);
    path_in(link, sizeof link, rel);
    ck_assert_int_eq(symlink(target, link), 0);
    snprintf(rel, sizeof rel, "%s/a2/notes.txt", root);
    write_text(rel, "not an image");
    snprintf(rel, sizeof rel, "%s/a2/.hidden.png", root);
    write_id_png(rel, 999);
    snprintf(rel, sizeof rel, "%s/.ipynb_checkpoints", root);
    make_dirs(rel);
    snprintf(rel, sizeof rel, "%s/.ipynb_checkpoints/x.png", root);
    write_id_png(rel, 998);
    snprintf(rel, sizeof rel, "%s/README", root);
    write_text(rel, "about");
}

START_TEST(test_held_out_split) {
    write_three_classes("flat");
    mcl_dataset *train = load("flat", MCL_SPLIT_TRAIN, 0.0f);
    mcl_dataset *test = load("flat", MCL_SPLIT_TEST, 0.0f);
    /* 30 files, 20% held out as Keras's int(0.2 * 30). */
    ck_assert_uint_eq(mcl_dataset_count(train), 24);
    ck_assert_uint_eq(mcl_dataset_count(test), 6);
    ck_assert_uint_eq(mcl_dataset_rows(train), SIDE);
    ck_assert_uint_eq(mcl_dataset_num_classes(train), 3);
    ck_assert_uint_eq(mcl_dataset_num_classes(test), 3);
    ck_assert_str_eq(mcl_dataset_class_name(train, 0), "a10");
    ck_assert_str_eq(mcl_dataset_class_name(train, 1), "a2");
    ck_assert_str_eq(mcl_dataset_class_name(test, 2), "b");
    ck_assert_ptr_null(mcl_dataset_class_name(train, 3));
    ck_assert_int_eq(mcl_dataset_image_prep(train), MCL_PREP_RESIZE);
    mcl_dataset_source src;
    mcl_dataset_source_info(train, &src);
    ck_assert_int_eq(src.format, MCL_DATA_FOLDER);
    ck_assert_uint_eq(src.files_found, 30);
    ck_assert_uint_eq(src.files_skipped, 3); /* notes.txt, .hidden.png, README */
    ck_assert(src.held_out);
    /* Every file exactly once across the two splits, with its class's label; the link reads
     * its target (id 201). */
    int seen[300] = {0};
    for (int s = 0; s < 2; s++) {
        const mcl_dataset *ds = s ? test : train;
        for (uint32_t i = 0; i < mcl_dataset_count(ds); i++) {
            uint32_t id = sample_id(ds, i);
            ck_assert_uint_lt(id, 300);
            ck_assert_uint_eq(mcl_dataset_labels(ds)[i], id / 100);
            seen[id]++;
        }
    }
    for (uint32_t k = 0; k < 3; k++)
        for (uint32_t i = 0; i < 9; i++)
            ck_assert_int_eq(seen[100 * k + i], k == 2 && i == 1 ? 2 : 1);
    /* The order mixes the classes (--validation-split and --limit take slices of it)... */
    uint32_t changes = 0;
    for (uint32_t i = 1; i < mcl_dataset_count(train); i++)
        changes += mcl_dataset_labels(train)[i] != mcl_dataset_labels(train)[i - 1];
    ck_assert_uint_gt(changes, 6);
    /* ... and is the same every time. */
    mcl_dataset *again = load("flat", MCL_SPLIT_TRAIN, 0.0f);
    ck_assert_mem_eq(mcl_dataset_pixels(again), mcl_dataset_pixels(train), 24 * SIDE * SIDE);
    mcl_dataset_free(again);
    /* Another share. */
    again = load("flat", MCL_SPLIT_TEST, 0.5f);
    ck_assert_uint_eq(mcl_dataset_count(again), 15);
    mcl_dataset_free(again);
    /* A subset keeps the names (the trainer's validation split is one). */
    mcl_dataset *head = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(mcl_dataset_subset(train, 0, 5, &head, &err), MCL_OK);
    ck_assert_str_eq(mcl_dataset_class_name(head, 1), "a2");
    ck_assert_int_eq(mcl_dataset_image_prep(head), MCL_PREP_RESIZE);
    mcl_dataset_source_info(head, &src);
    ck_assert_int_eq(src.format, MCL_DATA_FOLDER);
    /* Named classes pass the class check even when a slice lacks one. */
    ck_assert_int_eq(mcl_dataset_check_classes(head, 0, &err), MCL_OK);
    mcl_dataset_free(head);
    mcl_dataset_free(train);
    mcl_dataset_free(test);
}
END_TEST

START_TEST(test_train_and_test_folders) {
    make_dirs("two/train/cat");
    make_dirs("two/train/dog");
    make_dirs("two/test/cat");
    make_dirs("two/test/dog");
    for (uint32_t i = 0; i < 7; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "two/train/%s/%u.png", i % 2 ? "dog" : "cat", i);
        write_id_png(rel, i);
        if (i < 3) {
            snprintf(rel, sizeof rel, "two/test/%s/%u.png", i % 2 ? "dog" : "cat", i);
            write_id_png(rel, 50 + i);
        }
    }
    write_id_png("two/test/dog/9.png", 59);
    mcl_dataset *train = load("two", MCL_SPLIT_TRAIN, 0.0f);
    mcl_dataset *test = load("two", MCL_SPLIT_TEST, 0.0f);
    ck_assert_uint_eq(mcl_dataset_count(train), 7);
    ck_assert_uint_eq(mcl_dataset_count(test), 4);
    for (uint32_t i = 0; i < 4; i++)
        ck_assert_uint_ge(sample_id(test, i), 50);
    mcl_dataset_source src;
    mcl_dataset_source_info(test, &src);
    ck_assert(!src.held_out);
    ck_assert_uint_eq(src.files_found, 4);
    ck_assert_str_eq(mcl_dataset_class_name(test, 1), "dog");
    mcl_dataset_free(train);
    mcl_dataset_free(test);

    /* validation/ stands for test/ (the layout of Keras's cats-and-dogs tutorial). */
    char from[4096], to[4096];
    path_in(from, sizeof from, "two/test");
    path_in(to, sizeof to, "two/validation");
    ck_assert_int_eq(rename(from, to), 0);
    test = load("two", MCL_SPLIT_TEST, 0.0f);
    ck_assert_uint_eq(mcl_dataset_count(test), 4);
    mcl_dataset_free(test);

    /* The splits' classes must match. */
    make_dirs("two/validation/cow");
    write_id_png("two/validation/cow/1.png", 70);
    char dir[4096];
    path_in(dir, sizeof dir, "two");
    for (mcl_split split = MCL_SPLIT_TRAIN; split <= MCL_SPLIT_TEST; split++) {
        mcl_dataset *ds = NULL;
        mcl_error err = {0};
        mcl_status st = mcl_dataset_load_with(dir, split, NULL, &ds, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, "(cat, cow, dog)",
                        "the class folders of the two splits must match");
        ck_assert_ptr_null(ds);
    }

    /* train/ alone: its classes, with a held-out share. */
    path_in(from, sizeof from, "two/validation");
    path_in(to, sizeof to, "elsewhere");
    ck_assert_int_eq(rename(from, to), 0);
    test = load("two", MCL_SPLIT_TEST, 0.3f);
    ck_assert_uint_eq(mcl_dataset_count(test), 2); /* int(0.3 * 7) */
    mcl_dataset_source_info(test, &src);
    ck_assert(src.held_out);
    mcl_dataset_free(test);
}
END_TEST

static void expect_fail(const char *rel, mcl_split split, float test_split, mcl_status want,
                        const char *phrase1, const char *phrase2) {
    char dir[4096];
    path_in(dir, sizeof dir, rel);
    mcl_data_options opt = {.test_split = test_split};
    mcl_dataset *ds = (mcl_dataset *)(uintptr_t)1;
    mcl_error err = {0};
    mcl_status st = mcl_dataset_load_with(dir, split, &opt, &ds, &err);
    ck_assert_error(st, err, want, phrase1, phrase2);
    ck_assert_ptr_null(ds);
}

START_TEST(test_folder_errors) {
    char path[4096];
    /* A class without images. */
    make_dirs("empty/a");
    make_dirs("empty/b");
    write_id_png("empty/a/1.png", 1);
    write_text("empty/b/notes.txt", "x");
    path_in(path, sizeof path, "empty/b");
    expect_fail("empty", MCL_SPLIT_TRAIN, 0, MCL_ERR_FORMAT, path,
                "the class folder holds no .png, .jpg, .jpeg, .bmp or .gif file");
    /* One class. */
    make_dirs("one/only");
    write_id_png("one/only/1.png", 1);
    expect_fail("one", MCL_SPLIT_TRAIN, 0, MCL_ERR_FORMAT, "one class folder (only)",
                "a classifier needs at least 2");
    /* Images but no class folders. */
    make_dirs("loose");
    write_id_png("loose/1.png", 1);
    path_in(path, sizeof path, "loose");
    expect_fail("loose", MCL_SPLIT_TRAIN, 0, MCL_ERR_IO, path,
                "no mnist.npz and no class subfolders of images");
    /* A file that does not decode: one of the two splits decodes it and names it. */
    make_dirs("broken/a");
    make_dirs("broken/b");
    for (uint32_t i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "broken/%s/%u.png", i % 2 ? "a" : "b", i);
        write_id_png(rel, i);
    }
    write_text("broken/a/bad.jpg", "this is not a JPEG");
    path_in(path, sizeof path, "broken/a/bad.jpg");
    int failures = 0;
    for (mcl_split split = MCL_SPLIT_TRAIN; split <= MCL_SPLIT_TEST; split++) {
        char dir[4096];
        path_in(dir, sizeof dir, "broken");
        mcl_dataset *ds = NULL;
        mcl_error err = {0};
        mcl_status st = mcl_dataset_load_with(dir, split, NULL, &ds, &err);
        if (st == MCL_OK) {
            mcl_dataset_free(ds);
            continue;
        }
        failures++;
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, "not a PNG, PGM, JPEG, BMP or GIF image");
    }
    ck_assert_int_eq(failures, 1);
    /* Too few files for a test share, and shares outside (0, 1). */
    make_dirs("few/a");
    make_dirs("few/b");
    write_id_png("few/a/1.png", 1);
    write_id_png("few/b/1.png", 2);
    expect_fail("few", MCL_SPLIT_TEST, 0, MCL_ERR_FORMAT,
                "a test split of 0.2 of its 2 image files", "leaves no test files");
    expect_fail("few", MCL_SPLIT_TRAIN, 1.5f, MCL_ERR_USAGE, "the test split must be in (0, 1)",
                "1.5");
    expect_fail("few", MCL_SPLIT_TRAIN, -0.5f, MCL_ERR_USAGE, "the test split", "-0.5");
    /* A control character in a class folder's name never reaches a terminal or a checkpoint. */
    make_dirs("ctrl/a\033[2Jb");
    make_dirs("ctrl/c");
    write_id_png("ctrl/a\033[2Jb/1.png", 1);
    write_id_png("ctrl/c/1.png", 1);
    expect_fail("ctrl", MCL_SPLIT_TRAIN, 0, MCL_ERR_FORMAT, "ctrl",
                "a class folder's name has a control character");
    /* Folders nested past the limit. */
    char rel[512] = "deep/a";
    for (int i = 0; i < 34; i++)
        strcat(rel, "/d");
    make_dirs(rel);
    make_dirs("deep/b");
    write_id_png("deep/b/1.png", 1);
    expect_fail("deep", MCL_SPLIT_TRAIN, 0, MCL_ERR_FORMAT, "deep/a",
                "folders nested more than 32 deep");
}
END_TEST

START_TEST(test_too_many_classes) {
    for (uint32_t k = 0; k < 257; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "many/c%03u", k);
        make_dirs(rel);
    }
    expect_fail("many", MCL_SPLIT_TRAIN, 0, MCL_ERR_FORMAT, "has 257 class folders",
                "at most 256 classes are supported");
}
END_TEST

/* TensorFlow's bilinear resize with half-pixel centres, checked against values derived by hand:
 * halving averages 2x2 blocks (rounded half up), doubling puts samples at 1/4 and 3/4, and
 * tf.image.resize([[0, 100]], (1, 4)) is [[0, 25, 75, 100]]. */
START_TEST(test_resize_as_tensorflow) {
    uint8_t big[56 * 56], small[28 * 28];
    for (uint32_t i = 0; i < 56 * 56; i++)
        big[i] = (uint8_t)((i * 2654435761u) >> 24);
    mcl_error err = {0};
    ck_assert_int_eq(mcl_image_resize_bilinear(big, 56, 56, 28, 28, small, &err), MCL_OK);
    for (uint32_t y = 0; y < 28; y++)
        for (uint32_t x = 0; x < 28; x++) {
            uint32_t sum = big[(2 * y) * 56 + 2 * x] + big[(2 * y) * 56 + 2 * x + 1] +
                           big[(2 * y + 1) * 56 + 2 * x] + big[(2 * y + 1) * 56 + 2 * x + 1];
            ck_assert_uint_eq(small[y * 28 + x], (sum + 2) / 4);
        }
    const uint8_t two[2] = {0, 100};
    uint8_t four[4];
    ck_assert_int_eq(mcl_image_resize_bilinear(two, 2, 1, 1, 4, four, &err), MCL_OK);
    ck_assert_uint_eq(four[0], 0);
    ck_assert_uint_eq(four[1], 25);
    ck_assert_uint_eq(four[2], 75);
    ck_assert_uint_eq(four[3], 100);
    /* The same size is a copy. */
    uint8_t same[56 * 56];
    ck_assert_int_eq(mcl_image_resize_bilinear(big, 56, 56, 56, 56, same, &err), MCL_OK);
    ck_assert_mem_eq(same, big, sizeof big);
    /* Bad arguments. */
    mcl_status st = mcl_image_resize_bilinear(big, 0, 56, 28, 28, small, &err);
    ck_assert_int_eq(st, MCL_ERR_USAGE);
    st = mcl_image_resize_bilinear(big, 56, 56, 28, 5000, small, &err);
    ck_assert_int_eq(st, MCL_ERR_USAGE);
}
END_TEST

/* A folder of JPEG, BMP, GIF and PNG files of other sizes is resized to 28x28, and
 * mcl_image_load_resized (what predict uses for such a model) gives each file's sample / 255. */
START_TEST(test_other_formats_and_sizes) {
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    make_dirs("formats/seven");
    make_dirs("formats/wide");
    static const char *const sevens[] = {"seven.jpg", "seven.bmp", "seven.gif"};
    char from[4096], to[4096];
    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "%s/tests/images/%s", root, sevens[i]);
        size_t size = 0;
        uint8_t *data = test_read_file(from, &size);
        char rel[64];
        snprintf(rel, sizeof rel, "formats/seven/%s", sevens[i]);
        path_in(to, sizeof to, rel);
        test_write_file(to, data, size, 0);
        free(data);
    }
    uint8_t wide[40 * 10];
    for (uint32_t i = 0; i < 400; i++)
        wide[i] = (uint8_t)(i % 40 * 6);
    mcl_error err = {0};
    for (uint32_t i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "formats/wide/%u.png", i);
        path_in(to, sizeof to, rel);
        ck_assert_int_eq(mcl_image_write_png(to, wide, 40, 10, &err), MCL_OK);
    }
    mcl_dataset *train = load("formats", MCL_SPLIT_TRAIN, 0.4f);
    mcl_dataset *test = load("formats", MCL_SPLIT_TEST, 0.4f);
    ck_assert_uint_eq(mcl_dataset_count(train) + mcl_dataset_count(test), 6);
    ck_assert_uint_eq(mcl_dataset_cols(test), 28);
    /* Each wide sample is the resize of the 40x10 picture; predict's loader agrees. */
    uint8_t expected[28 * 28];
    ck_assert_int_eq(mcl_image_resize_bilinear(wide, 40, 10, 28, 28, expected, &err), MCL_OK);
    path_in(to, sizeof to, "formats/wide/0.png");
    float input[28 * 28];
    ck_assert_int_eq(mcl_image_load_resized(to, 28, 28, input, &err), MCL_OK);
    uint32_t wides = 0;
    for (int s = 0; s < 2; s++) {
        const mcl_dataset *ds = s ? test : train;
        for (uint32_t i = 0; i < mcl_dataset_count(ds); i++) {
            if (mcl_dataset_labels(ds)[i] != 1) continue;
            wides++;
            ck_assert_mem_eq(mcl_dataset_pixels(ds) + i * 784, expected, 784);
            for (uint32_t p = 0; p < 784; p++)
                ck_assert_float_eq(input[p], (float)expected[p] * (1.0f / 255.0f));
        }
    }
    ck_assert_uint_eq(wides, 3);
    /* Another size for the model's input. */
    char dir[4096];
    path_in(dir, sizeof dir, "formats");
    mcl_data_options opt = {.rows = 12, .cols = 20};
    mcl_dataset *other = NULL;
    ck_assert_int_eq(mcl_dataset_load_with(dir, MCL_SPLIT_TRAIN, &opt, &other, &err), MCL_OK);
    ck_assert_uint_eq(mcl_dataset_rows(other), 12);
    ck_assert_uint_eq(mcl_dataset_cols(other), 20);
    mcl_dataset_free(other);
    mcl_dataset_free(train);
    mcl_dataset_free(test);
}
END_TEST

/* ---------------------------------------------------------------- class names in checkpoints */

static mcl_trainer *train_small(mcl_context *ctx, const mcl_dataset *ds, uint32_t classes) {
    mcl_model *model = NULL;
    mcl_error err = {0};
    ck_assert_int_eq(
        mcl_model_parse("flatten\ndense 8 relu\ndense classes softmax\n", "small", &model, &err),
        MCL_OK);
    mcl_trainer *t = NULL;
    ck_assert_msg(mcl_trainer_create(ctx, model, mcl_dataset_rows(ds), mcl_dataset_cols(ds),
                                     classes, 8, 5, &t, &err) == MCL_OK,
                  "%s", err.message);
    mcl_fit_options o = {.recipe = *mcl_model_recipe(model), .seed = 5};
    o.recipe.epochs = 1;
    o.recipe.batch_size = 8;
    o.recipe.validation_split = 0.0f;
    mcl_status st = mcl_trainer_fit(t, ds, NULL, &o, &err);
    mcl_model_free(model);
    if (st != MCL_OK) {
        mcl_trainer_free(t);
        return NULL;
    }
    return t;
}

static void reseal(uint8_t *data, size_t size) {
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        data[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

START_TEST(test_class_names_in_checkpoints) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    write_three_classes("flat");
    mcl_dataset *train = load("flat", MCL_SPLIT_TRAIN, 0.0f);
    mcl_error err = {0};
    /* A model built for another class count cannot take the names. */
    mcl_trainer *t = train_small(ctx, train, 4);
    ck_assert_ptr_null(t);
    t = train_small(ctx, train, 3);
    ck_assert_ptr_nonnull(t);
    char path[4096], again[4096];
    path_in(path, sizeof path, "named.ckpt");
    path_in(again, sizeof again, "again.ckpt");
    ck_assert_int_eq(mcl_trainer_save(t, path, &err), MCL_OK);
    mcl_checkpoint *ck = NULL;
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    ck_assert_str_eq(mcl_checkpoint_class_name(ck, 0), "a10");
    ck_assert_str_eq(mcl_checkpoint_class_name(ck, 2), "b");
    ck_assert_ptr_null(mcl_checkpoint_class_name(ck, 3));
    ck_assert_int_eq(mcl_checkpoint_image_prep(ck), MCL_PREP_RESIZE);
    /* A trainer restored from it keeps them in its own checkpoints. */
    mcl_trainer *restored = NULL;
    ck_assert_int_eq(mcl_trainer_create_from_checkpoint(ctx, ck, 8, &restored, &err), MCL_OK);
    ck_assert_int_eq(mcl_trainer_save(restored, again, &err), MCL_OK);
    mcl_checkpoint *ck2 = NULL;
    ck_assert_int_eq(mcl_checkpoint_load(again, &ck2, &err), MCL_OK);
    ck_assert_str_eq(mcl_checkpoint_class_name(ck2, 1), "a2");
    ck_assert_int_eq(mcl_checkpoint_image_prep(ck2), MCL_PREP_RESIZE);
    mcl_checkpoint_free(ck2);
    mcl_trainer_free(restored);

    /* A damaged name or count is refused even under a valid checksum. */
    size_t size = 0;
    uint8_t *data = test_read_file(path, &size);
    uint8_t *clsn = memmem(data, size, "CLSN", 4);
    ck_assert_ptr_nonnull(clsn);
    uint8_t *name = memmem(clsn, size - (size_t)(clsn - data), "a10", 3);
    ck_assert_ptr_nonnull(name);
    name[1] = '\n';
    reseal(data, size);
    char bad[4096];
    path_in(bad, sizeof bad, "bad.ckpt");
    test_write_file(bad, data, size, 0);
    mcl_checkpoint *none = NULL;
    mcl_status st = mcl_checkpoint_load(bad, &none, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, bad, "bad class name");
    name[1] = '1';
    clsn[12] = 4; /* the count, after the tag and the u64 length */
    reseal(data, size);
    test_write_file(bad, data, size, 0);
    st = mcl_checkpoint_load(bad, &none, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, bad, "bad class names section");
    free(data);
    mcl_checkpoint_free(ck);
    mcl_trainer_free(t);

    /* IDX data has no names: no CLSN section, so an older mnist-cl still reads the file. */
    char idx[4096];
    path_in(idx, sizeof idx, "idx");
    mkdir(idx, 0700);
    test_write_synthetic(idx, "train", 40, 3);
    mcl_dataset *digits = NULL;
    ck_assert_int_eq(mcl_dataset_load(idx, MCL_SPLIT_TRAIN, &digits, &err), MCL_OK);
    t = train_small(ctx, digits, 3);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(mcl_trainer_save(t, path, &err), MCL_OK);
    data = test_read_file(path, &size);
    ck_assert_ptr_null(memmem(data, size, "CLSN", 4));
    free(data);
    ck_assert_int_eq(mcl_checkpoint_load(path, &ck, &err), MCL_OK);
    ck_assert_ptr_null(mcl_checkpoint_class_name(ck, 0));
    ck_assert_int_eq(mcl_checkpoint_image_prep(ck), MCL_PREP_MNIST);
    mcl_checkpoint_free(ck);
    mcl_trainer_free(t);
    mcl_dataset_free(digits);
    mcl_dataset_free(train);
    mcl_context_free(ctx);
}
END_TEST

/* A checkpoint written before class names existed (the fuzz corpus's) still loads, unnamed. */
START_TEST(test_old_checkpoint_loads) {
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/checkpoint/trained.ckpt", root);
    mcl_checkpoint *ck = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    ck_assert_ptr_null(mcl_checkpoint_class_name(ck, 0));
    ck_assert_int_eq(mcl_checkpoint_image_prep(ck), MCL_PREP_MNIST);
    mcl_checkpoint_free(ck);
}
END_TEST

static Suite *folder_suite(void) {
    Suite *s = suite_create("folder");
    TCase *tc = tcase_create("folder");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(tc, test_held_out_split);
    tcase_add_test(tc, test_train_and_test_folders);
    tcase_add_test(tc, test_folder_errors);
    tcase_add_test(tc, test_too_many_classes);
    tcase_add_test(tc, test_resize_as_tensorflow);
    tcase_add_test(tc, test_other_formats_and_sizes);
    tcase_add_test(tc, test_class_names_in_checkpoints);
    tcase_add_test(tc, test_old_checkpoint_loads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(folder_suite());
}
