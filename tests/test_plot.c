/* Plots: the history CSV reader accepts what training writes and rejects malformed files with
 * "FILE:LINE: ..." messages; the history and confusion-matrix pictures are valid PNGs of the
 * promised size (read back through cairo to see that curves and cells were drawn) or SVGs; and
 * every failure leaves nothing at the output path. Each test works in its own temporary folder
 * (test_tmp_dir). */
#define _POSIX_C_SOURCE 200809L
#include <cairo.h>
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mnistcl/mnistcl.h"
#include "plot/plot.h"
#include "test_util.h"

#define HEADER MCL_HISTORY_CSV_HEADER "\n"

static void path_in(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmp_dir, name);
}

static void write_text(const char *path, const char *text) {
    test_write_file(path, text, strlen(text), 0);
}

/* A history of `epochs` epochs shaped like a real run: loss falling, accuracy rising, validation
 * a little worse, or no validation at all (empty fields, as training writes them). */
static void write_history(const char *path, int epochs, bool validation) {
    size_t size = 128 + (size_t)epochs * 96;
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    size_t len = (size_t)snprintf(text, size, "%s", HEADER);
    for (int e = 1; e <= epochs; e++) {
        double loss = 0.05 + 0.5 * exp(-0.35 * e), accuracy = 1 - 0.3 * loss;
        if (validation)
            len += (size_t)snprintf(text + len, size - len, "%d,%.6g,%.6g,%.6g,%.6g,0.001,2.5\n", e,
                                    loss, accuracy, loss * 1.1 + 0.01 * (e % 3), accuracy - 0.01);
        else
            len += (size_t)snprintf(text + len, size - len, "%d,%.6g,%.6g,,,0.001,2.5\n", e, loss,
                                    accuracy);
    }
    write_text(path, text);
    free(text);
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The number of entries in test_tmp_dir: a failed or finished write leaves no temporary file. */
static int entries_in_tmp_dir(void) {
    DIR *d = opendir(test_tmp_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* Checks the PNG signature and the IHDR chunk's width and height. */
static void check_png_header(const char *path, uint32_t width, uint32_t height) {
    uint8_t b[24];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(b, 1, sizeof b, f), sizeof b);
    fclose(f);
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_mem_eq(b, signature, 8);
    ck_assert_mem_eq(b + 12, "IHDR", 4);
    uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    ck_assert_uint_eq(w, width);
    ck_assert_uint_eq(h, height);
}

/* Pixels of a PNG read back through cairo, counted by colour in a rectangle. */
typedef struct pixel_counts {
    size_t blue, orange, dark_blue, other;
} pixel_counts;

static pixel_counts count_pixels(cairo_surface_t *img, int x0, int y0, int x1, int y1) {
    pixel_counts c = {0};
    const unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint32_t px = *(const uint32_t *)(const void *)(data + (size_t)y * stride + 4 * x);
            int r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
            if (r < 40 && g < 80 && b > 90 && b - r > 60)
                c.dark_blue++; /* the heat map's full cells: 08306b */
            else if (b > r + 60)
                c.blue++; /* the training curve: 1f77b4 */
            else if (r > b + 60)
                c.orange++; /* the validation curve: ff7f0e */
            else
                c.other++;
        }
    }
    return c;
}

static cairo_surface_t *load_png(const char *path) {
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    ck_assert_int_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cairo_surface_flush(img);
    return img;
}

/* Draws the history at `csv` as PNG and checks size and curves: training (blue) in both
 * panels, and validation (orange) in both or in neither. */
static void check_history_png(const char *csv, bool validation) {
    char out[4096];
    path_in(out, sizeof out, "history.png");
    mcl_error err = {0};
    mcl_status st = mcl_plot_history(csv, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    check_png_header(out, MCL_PLOT_HISTORY_WIDTH, MCL_PLOT_HISTORY_HEIGHT);
    cairo_surface_t *img = load_png(out);
    ck_assert_int_eq(cairo_image_surface_get_width(img), MCL_PLOT_HISTORY_WIDTH);
    ck_assert_int_eq(cairo_image_surface_get_height(img), MCL_PLOT_HISTORY_HEIGHT);
    const int half = MCL_PLOT_HISTORY_WIDTH / 2, h = MCL_PLOT_HISTORY_HEIGHT;
    pixel_counts left = count_pixels(img, 0, 0, half, h);
    pixel_counts right = count_pixels(img, half, 0, 2 * half, h);
    /* A curve, or even one marker, covers well over 20 pixels. */
    ck_assert_uint_gt(left.blue, 20);
    ck_assert_uint_gt(right.blue, 20);
    if (validation) {
        ck_assert_uint_gt(left.orange, 20);
        ck_assert_uint_gt(right.orange, 20);
    } else {
        ck_assert_uint_eq(left.orange + right.orange, 0);
    }
    cairo_surface_destroy(img);
    ck_assert_int_eq(entries_in_tmp_dir(), 2); /* the CSV and the picture, no temporary file */
}

static void check_history_svg(const char *csv) {
    char out[4096];
    path_in(out, sizeof out, "history.SVG"); /* the extension in any case */
    mcl_error err = {0};
    mcl_status st = mcl_plot_history(csv, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    char head[512] = {0};
    ck_assert_uint_gt(fread(head, 1, sizeof head - 1, f), 100);
    fclose(f);
    ck_assert_msg(strncmp(head, "<?xml", 5) == 0, "not XML: %.40s", head);
    ck_assert_ptr_nonnull(strstr(head, "<svg"));
    ck_assert_ptr_nonnull(strstr(head, "width=\"1200pt\""));
    ck_assert_ptr_nonnull(strstr(head, "height=\"500pt\""));
}

/* ---------------------------------------------------------------- history pictures */

START_TEST(test_history_with_validation) {
    char csv[4096];
    path_in(csv, sizeof csv, "run.csv");
    write_history(csv, 10, true);
    check_history_png(csv, true);
    check_history_svg(csv);
}
END_TEST

START_TEST(test_history_without_validation) {
    char csv[4096];
    path_in(csv, sizeof csv, "run.csv");
    write_history(csv, 10, false);
    check_history_png(csv, false);
    check_history_svg(csv);
}
END_TEST

START_TEST(test_history_single_epoch) {
    char csv[4096];
    path_in(csv, sizeof csv, "run.csv");
    write_history(csv, 1, true);
    check_history_png(csv, true);
    check_history_svg(csv);
}
END_TEST

START_TEST(test_history_long_run_and_title) {
    char csv[4096], out[4096];
    path_in(csv, sizeof csv, "run.csv");
    path_in(out, sizeof out, "run.png");
    write_history(csv, 500, true);
    mcl_error err = {0};
    /* A title that is long and not valid UTF-8 is shrunk and mended, not an error. */
    char title[600];
    memset(title, 'W', sizeof title - 1);
    title[sizeof title - 1] = '\0';
    title[10] = (char)0xff;
    memcpy(title + 20, "\xEF\xBF\xBE", 3); /* U+FFFE, well-formed but refused by cairo */
    mcl_status st = mcl_plot_history_titled(csv, out, title, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    check_png_header(out, MCL_PLOT_HISTORY_WIDTH, MCL_PLOT_HISTORY_HEIGHT);
}
END_TEST

START_TEST(test_history_replaces_existing_file) {
    char csv[4096], out[4096];
    path_in(csv, sizeof csv, "run.csv");
    path_in(out, sizeof out, "run.png");
    write_history(csv, 3, true);
    write_text(out, "old contents");
    mcl_error err = {0};
    ck_assert_int_eq(mcl_plot_history(csv, out, &err), MCL_OK);
    check_png_header(out, MCL_PLOT_HISTORY_WIDTH, MCL_PLOT_HISTORY_HEIGHT);
    ck_assert_int_eq(entries_in_tmp_dir(), 2);
}
END_TEST

/* ---------------------------------------------------------------- the CSV reader */

START_TEST(test_read_history_values) {
    char csv[4096];
    path_in(csv, sizeof csv, "run.csv");
    /* A byte-order mark, CRLF line ends, spaces, a row without validation, a blank last line. */
    write_text(csv, "\xEF\xBB\xBF" MCL_HISTORY_CSV_HEADER "\r\n"
                    "1,0.5,0.8,0.55,0.78,0.001,3.25\r\n"
                    "2, 0.25 ,0.9,,,5e-4,3\r\n"
                    "5,0.125,0.95,0.2,0.93,0.0001,2\r\n"
                    "\r\n");
    mcl_history_table t;
    mcl_error err = {0};
    mcl_status st = mcl_history_read(csv, &t, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(t.count, 3);
    ck_assert(t.any_validation);
    ck_assert_uint_eq(t.rows[0].epoch, 1);
    ck_assert_double_eq(t.rows[0].loss, 0.5);
    ck_assert_double_eq(t.rows[0].val_accuracy, 0.78);
    ck_assert_double_eq(t.rows[0].seconds, 3.25);
    ck_assert_uint_eq(t.rows[1].epoch, 2);
    ck_assert_double_eq(t.rows[1].loss, 0.25);
    ck_assert(!t.rows[1].has_validation);
    ck_assert(isnan(t.rows[1].val_loss));
    ck_assert_double_eq(t.rows[1].lr, 5e-4);
    ck_assert_uint_eq(t.rows[2].epoch, 5);
    ck_assert(t.rows[2].has_validation);
    ck_assert_double_eq(t.rows[2].val_loss, 0.2);
    mcl_history_table_free(&t);
    ck_assert_ptr_null(t.rows);
    ck_assert_uint_eq(t.count, 0);
    mcl_history_table_free(NULL);
}
END_TEST

/* Writes `text` as a history, expects MCL_ERR_FORMAT naming "FILE:LINE" and `phrase`, and that
 * drawing it leaves no picture. */
static void expect_bad_history(const char *text, int line, const char *phrase) {
    char csv[4096], out[4096], where[4200];
    path_in(csv, sizeof csv, "bad.csv");
    path_in(out, sizeof out, "bad.png");
    write_text(csv, text);
    snprintf(where, sizeof where, "%s:%d:", csv, line);
    mcl_history_table t;
    mcl_error err = {0};
    mcl_status st = mcl_history_read(csv, &t, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, where, phrase);
    ck_assert_ptr_null(t.rows);
    mcl_error err2 = {0};
    st = mcl_plot_history(csv, out, &err2);
    ck_assert_error(st, err2, MCL_ERR_FORMAT, where, phrase);
    ck_assert(!file_exists(out));
    ck_assert_int_eq(entries_in_tmp_dir(), 1);
}

START_TEST(test_bad_header) {
    expect_bad_history("epoch,lost,accuracy\n1,0.5,0.9\n", 1, "must name loss and accuracy");
    expect_bad_history("epoch,loss,loss,accuracy\n1,0.5,0.5,0.9\n", 1, "names loss twice");
    expect_bad_history("", 1, "empty");
    expect_bad_history("\x89PNG\r\n\x1a\n", 1, "not a training history");
}
END_TEST

START_TEST(test_bad_numbers) {
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1\n2,abc,0.9,,,0.001,1\n", 3, "loss");
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1\n2,0.4x,0.9,,,0.001,1\n", 3, "'0.4x'");
    expect_bad_history(HEADER "1,,0.9,,,0.001,1\n", 2, "empty field");
    expect_bad_history(HEADER "1,0.5,0.9,0.5,,0.001,1\n", 2, "both");
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1e300\n", 2, "out of range");
}
END_TEST

START_TEST(test_non_finite_numbers) {
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1\n2,nan,0.9,,,0.001,1\n", 3, "not a finite");
    expect_bad_history(HEADER "1,0.5,0.9,inf,0.9,0.001,1\n", 2, "val_loss");
    expect_bad_history(HEADER "1,0.5,-Infinity,,,0.001,1\n", 2, "accuracy");
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1e999\n", 2, "seconds");
}
END_TEST

START_TEST(test_bad_rows) {
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001\n", 2, "expected 7 comma-separated fields");
    expect_bad_history(HEADER "1,0.5,0.9,,,0.001,1,9\n", 2, "got 8");
    expect_bad_history(HEADER "1.5,0.5,0.9,,,0.001,1\n", 2, "epoch: expected a whole number");
    expect_bad_history(HEADER "-1,0.5,0.9,,,0.001,1\n", 2, "epoch");
    expect_bad_history(HEADER "2,0.5,0.9,,,0.001,1\n2,0.4,0.9,,,0.001,1\n", 3,
                       "epoch 2 does not follow epoch 2");
    expect_bad_history(HEADER "3,0.5,0.9,,,0.001,1\n\n1,0.4,0.9,,,0.001,1\n", 4,
                       "epochs must increase");
    expect_bad_history(HEADER, 2, "no epochs");
}
END_TEST

/* Reads `text` as FILE (its name decides nothing: the content does) and returns the table. */
static mcl_history_table read_text(const char *name, const char *text) {
    char path[4096];
    path_in(path, sizeof path, name);
    write_text(path, text);
    mcl_history_table t;
    mcl_error err = {0};
    mcl_status st = mcl_history_read(path, &t, &err);
    ck_assert_msg(st == MCL_OK, "%s: %s", name, err.message);
    return t;
}

/* What users have besides mnist-cl's CSV: its JSON, Keras's CSVLogger file (epochs from 0,
 * columns in its order, old names), a CSV of loss and accuracy only, Keras's History.history
 * as JSON, a JSON list of epochs. */
START_TEST(test_other_history_forms) {
    mcl_history_table t = read_text(
        "keras.csv", "epoch,accuracy,loss,lr,val_accuracy,val_loss\n0,0.85,0.51,0.001,0.93,0.24\n"
                     "1,0.94,0.20,0.0005,0.95,0.17\n");
    ck_assert_uint_eq(t.count, 2);
    ck_assert_uint_eq(t.rows[0].epoch, 1);
    ck_assert_uint_eq(t.rows[1].epoch, 2);
    ck_assert(t.rows[1].loss == 0.20 && t.rows[1].accuracy == 0.94);
    ck_assert(t.rows[0].has_validation && t.rows[0].val_loss == 0.24);
    ck_assert(t.lr_varies);
    mcl_history_table_free(&t);

    t = read_text("old-keras.csv", "epoch,acc,loss,val_acc,val_loss,other\n0,0.8,0.5,0.9,0.3,x\n");
    ck_assert(t.count == 1 && t.rows[0].accuracy == 0.8 && t.rows[0].val_accuracy == 0.9);
    ck_assert(!t.rows[0].has_lr && !t.lr_varies);
    mcl_history_table_free(&t);

    t = read_text("plain.csv", "loss,accuracy\n0.5,0.8\n0.3,0.9\n0.2,0.95\n");
    ck_assert_uint_eq(t.count, 3);
    ck_assert_uint_eq(t.rows[2].epoch, 3);
    ck_assert(!t.any_validation);
    mcl_history_table_free(&t);

    t = read_text("ours.json",
                  "{\"epochs\": [\n  {\"epoch\": 1, \"loss\": 0.5, \"accuracy\": 0.8, \"lr\": 0.001, "
                  "\"seconds\": 1.5},\n  {\"epoch\": 2, \"loss\": 0.4, \"accuracy\": 0.85, "
                  "\"val_loss\": 0.45, \"val_accuracy\": 0.82, \"lr\": 0.001, \"seconds\": 1.4}\n]}\n");
    ck_assert_uint_eq(t.count, 2);
    ck_assert(!t.rows[0].has_validation && t.rows[1].has_validation);
    ck_assert(t.rows[1].val_accuracy == 0.82 && t.rows[0].seconds == 1.5 && !t.lr_varies);
    mcl_history_table_free(&t);

    t = read_text("history.json", "{\"loss\": [0.5, 0.3], \"accuracy\": [0.8, 0.9], \"val_loss\": "
                                  "[0.4, 0.35], \"val_accuracy\": [0.85, 0.88], \"lr\": [0.01, 0.005],"
                                  " \"name\": \"run \\\"one\\\"\", \"extra\": {\"a\": [1, true, null]}}");
    ck_assert_uint_eq(t.count, 2);
    ck_assert(t.rows[1].epoch == 2 && t.rows[1].val_loss == 0.35 && t.lr_varies);
    mcl_history_table_free(&t);

    t = read_text("list.json", "[{\"loss\": 1, \"accuracy\": 0.5}, {\"loss\": 0.5, \"accuracy\": 0.7}]");
    ck_assert(t.count == 2 && t.rows[1].accuracy == 0.7);
    mcl_history_table_free(&t);
}
END_TEST

/* Malformed JSON histories: a one-line reason, no picture. */
#define TEN_ONES "1,1,1,1,1,1,1,1,1,1"

START_TEST(test_bad_json_histories) {
    static const struct {
        const char *text, *phrase;
    } cases[] = {
        {"{\"loss\": [1, 2], \"accuracy\": [0.5]}", "'accuracy' holds 1 values but 'loss' holds 2"},
        {"{\"loss\": [1,", "invalid JSON history"},
        {"{\"epochs\": []}", "holds no epochs"},
        {"{\"loss\": [0.5], \"accuracy\": [0.5]} x", "text after the history"},
        {"{\"val_loss\": [0.5]}", "not a training history"},
        {"[[[[[[[[[[[[1]]]]]]]]]]]]", "expected an object"},
        {"{\"x\": [[[[[[[[[[[[1]]]]]]]]]]]]}", "nested too deeply"},
        {"[{\"loss\": 0.5}]", "accuracy: expected a number"},
        {"[{\"loss\": 1e999, \"accuracy\": 0.5}]", "not a finite number"},
        {"{\"loss\": [\"0.5\"], \"accuracy\": [0.5]}", "expected a number"},
        /* One column twice, the second list longer than the first list's storage (the fuzzer's
         * heap overflow): refused, not appended. */
        {"{\"loss\": [1], \"acc\": [0.5], \"loss\": [" TEN_ONES "," TEN_ONES "," TEN_ONES
         "," TEN_ONES "," TEN_ONES "," TEN_ONES "," TEN_ONES "]}",
         "'loss' is given twice"},
        {"{\"acc\": [0.5], \"accuracy\": [0.5], \"loss\": [1]}", "'accuracy' is given twice"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[4096], out[4096];
        path_in(path, sizeof path, "bad.json");
        path_in(out, sizeof out, "bad.png");
        write_text(path, cases[c].text);
        mcl_history_table t;
        mcl_error err = {0};
        mcl_status st = mcl_history_read(path, &t, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, path, cases[c].phrase);
        ck_assert_ptr_null(t.rows);
        st = mcl_plot_history(path, out, &err);
        ck_assert_int_eq(st, MCL_ERR_FORMAT);
        ck_assert(!file_exists(out));
    }
}
END_TEST

START_TEST(test_over_limits) {
    /* A line longer than the limit. */
    size_t n = MCL_HISTORY_MAX_LINE + 200;
    char *text = malloc(n + 128);
    ck_assert_ptr_nonnull(text);
    int len = snprintf(text, n + 128, "%s1,0.5,0.9,,,0.001,", HEADER);
    memset(text + len, '1', n);
    strcpy(text + len + n, "\n");
    expect_bad_history(text, 2, "longer than 4096");
    free(text);

    /* More epochs than the limit: the row after the last one allowed is named. */
    char csv[4096];
    path_in(csv, sizeof csv, "bad.csv");
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs(HEADER, f);
    for (uint32_t e = 1; e <= MCL_HISTORY_MAX_ROWS + 1; e++)
        fprintf(f, "%u,0.5,0.9,,,0.001,1\n", e);
    ck_assert_int_eq(fclose(f), 0);
    char where[4200];
    snprintf(where, sizeof where, "%s:%u:", csv, MCL_HISTORY_MAX_ROWS + 2);
    mcl_history_table t;
    mcl_error err = {0};
    mcl_status st = mcl_history_read(csv, &t, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, where, "more than 100000 epochs");
}
END_TEST

START_TEST(test_missing_history) {
    char csv[4096], out[4096];
    path_in(csv, sizeof csv, "absent.csv");
    path_in(out, sizeof out, "out.png");
    mcl_error err = {0};
    mcl_status st = mcl_plot_history(csv, out, &err);
    ck_assert_error(st, err, MCL_ERR_IO, csv, "No such file");
    ck_assert(!file_exists(out));
}
END_TEST

/* ---------------------------------------------------------------- output paths */

START_TEST(test_unknown_extension) {
    char csv[4096], out[4096];
    path_in(csv, sizeof csv, "run.csv");
    write_history(csv, 3, true);
    mcl_error err = {0};
    path_in(out, sizeof out, "run.jpg");
    mcl_status st = mcl_plot_history(csv, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, out, "'.jpg'");
    path_in(out, sizeof out, "run");
    st = mcl_plot_history(csv, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, out, "no extension");
    path_in(out, sizeof out, "run.png.tmp");
    uint32_t counts[4] = {1, 2, 3, 4};
    st = mcl_plot_confusion(counts, 2, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, out, "'.tmp'");
    ck_assert_int_eq(entries_in_tmp_dir(), 1);
}
END_TEST

START_TEST(test_missing_output_folder) {
    char csv[4096], folder[4096], out[4200];
    path_in(csv, sizeof csv, "run.csv");
    write_history(csv, 3, true);
    path_in(folder, sizeof folder, "no-such-folder");
    snprintf(out, sizeof out, "%s/run.png", folder);
    mcl_error err = {0};
    mcl_status st = mcl_plot_history(csv, out, &err);
    ck_assert_error(st, err, MCL_ERR_IO, out, "No such file");
    uint32_t counts[4] = {1, 2, 3, 4};
    snprintf(out, sizeof out, "%s/cm.svg", folder);
    st = mcl_plot_confusion(counts, 2, out, &err);
    ck_assert_error(st, err, MCL_ERR_IO, out, "No such file");
    ck_assert(!file_exists(folder));
    ck_assert_int_eq(entries_in_tmp_dir(), 1);
}
END_TEST

/* ---------------------------------------------------------------- confusion matrix */

START_TEST(test_confusion_png) {
    enum { K = 10 };
    uint32_t counts[K * K] = {0};
    for (uint32_t t = 0; t < K; t++) {
        counts[t * K + t] = 950 + 17 * t;
        counts[t * K + (t + 3) % K] = 12 + t;
    }
    char out[4096];
    path_in(out, sizeof out, "cm.png");
    mcl_error err = {0};
    mcl_status st = mcl_plot_confusion(counts, K, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    uint32_t width = 0, height = 0;
    mcl_plot_confusion_size(K, &width, &height);
    /* About 60 pixels a class and margins. */
    ck_assert_uint_ge(width, 60 * K + 100);
    ck_assert_uint_le(width, 60 * K + 300);
    ck_assert_uint_ge(height, 60 * K + 100);
    ck_assert_uint_le(height, 60 * K + 300);
    check_png_header(out, width, height);
    cairo_surface_t *img = load_png(out);
    pixel_counts c = count_pixels(img, 0, 0, (int)width, (int)height);
    /* The ten diagonal cells are dark blue but for their numbers. */
    ck_assert_uint_gt(c.dark_blue, K * 60 * 60 / 2);
    ck_assert_uint_lt(c.dark_blue, (K + 1) * 60 * 60);
    cairo_surface_destroy(img);
    ck_assert_int_eq(entries_in_tmp_dir(), 1);
}
END_TEST

START_TEST(test_confusion_svg_and_sizes) {
    uint32_t *counts = calloc(256 * 256, sizeof *counts);
    ck_assert_ptr_nonnull(counts);
    char out[4096];
    mcl_error err = {0};
    const uint32_t classes[] = {2, 3, 47, 256};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        uint32_t K = classes[i];
        for (uint32_t t = 0; t < K; t++)
            counts[t * K + t] = 100 + t;
        counts[1] = UINT32_MAX; /* the widest count there can be */
        path_in(out, sizeof out, "cm.png");
        mcl_status st = mcl_plot_confusion(counts, K, out, &err);
        ck_assert_msg(st == MCL_OK, "%u classes: %s", K, err.message);
        uint32_t width = 0, height = 0;
        mcl_plot_confusion_size(K, &width, &height);
        ck_assert_uint_le(width, 2400);
        check_png_header(out, width, height);
        path_in(out, sizeof out, "cm.svg");
        st = mcl_plot_confusion(counts, K, out, &err);
        ck_assert_msg(st == MCL_OK, "%u classes: %s", K, err.message);
        FILE *f = fopen(out, "rb");
        ck_assert_ptr_nonnull(f);
        char head[6] = {0};
        ck_assert_uint_eq(fread(head, 1, 5, f), 5);
        fclose(f);
        ck_assert_str_eq(head, "<?xml");
    }
    free(counts);
}
END_TEST

START_TEST(test_confusion_bad_arguments) {
    uint32_t counts[4] = {0};
    char out[4096];
    path_in(out, sizeof out, "cm.png");
    mcl_error err = {0};
    mcl_status st = mcl_plot_confusion(counts, 1, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "2 to 256 classes", "got 1");
    st = mcl_plot_confusion(counts, 257, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "2 to 256 classes", "got 257");
    st = mcl_plot_confusion(NULL, 2, out, &err);
    ck_assert_int_eq(st, MCL_ERR_USAGE);
    ck_assert(!file_exists(out));
}
END_TEST

/* ---------------------------------------------------------------- misclassified images */

START_TEST(test_errors_layout) {
    mcl_errors_layout l;
    /* MNIST: 28x28 enlarged 4 times, 10 to a row. */
    mcl_plot_errors_layout(57, 28, 28, &l);
    ck_assert_double_eq(l.scale, 4);
    ck_assert_uint_eq(l.image_w, 112);
    ck_assert_uint_eq(l.image_h, 112);
    ck_assert_uint_eq(l.columns, 10);
    ck_assert_uint_eq(l.grid_rows, 6);
    ck_assert_uint_ge(l.cell_w, l.image_w);
    ck_assert_uint_gt(l.cell_h, l.image_h + 10); /* room for the caption */
    ck_assert_uint_eq(l.width, 2 * l.left + l.columns * l.cell_w);
    ck_assert_uint_ge(l.left, 20);
    ck_assert_uint_eq(l.height, l.top + l.grid_rows * l.cell_h + 20);
    ck_assert_uint_ge(l.top, 50); /* the title and subtitle */
    /* Each tile count gets just enough rows; the width follows the columns. */
    uint32_t width_of_10 = 0;
    for (uint32_t tiles = 1; tiles <= MCL_PLOT_ERRORS_MAX; tiles++) {
        mcl_plot_errors_layout(tiles, 28, 28, &l);
        ck_assert_uint_eq(l.columns, tiles < 10 ? tiles : tiles <= 100 ? 10 : tiles < 20 ? tiles : 20);
        ck_assert_uint_ge(l.columns * l.grid_rows, tiles);
        ck_assert_uint_lt(l.columns * (l.grid_rows - 1), tiles);
        ck_assert_uint_le(l.left + l.columns * l.cell_w, l.width);
        ck_assert_uint_le(l.height, 32767); /* cairo's largest image surface */
        if (tiles == 10) width_of_10 = l.width;
        if (tiles > 10 && tiles <= 100) ck_assert_uint_eq(l.width, width_of_10);
    }
    /* A few tiles are centred in a picture wide enough for the title. */
    mcl_plot_errors_layout(2, 28, 28, &l);
    ck_assert_uint_ge(l.width, 500);
    ck_assert_uint_eq(l.left, (l.width - 2 * l.cell_w) / 2);
    /* No tile: the header and a line. */
    mcl_plot_errors_layout(0, 28, 28, &l);
    ck_assert_uint_eq(l.columns, 0);
    ck_assert_uint_eq(l.grid_rows, 0);
    ck_assert_uint_gt(l.height, l.top);
    /* Small images are enlarged by a whole factor, large ones shrunk to fit 112. */
    mcl_plot_errors_layout(5, 8, 10, &l);
    ck_assert_double_eq(l.scale, 11);
    ck_assert_uint_eq(l.image_w, 110);
    ck_assert_uint_eq(l.image_h, 88);
    mcl_plot_errors_layout(5, 200, 100, &l);
    ck_assert_double_eq_tol(l.scale, 0.56, 1e-12);
    ck_assert_uint_eq(l.image_h, 112);
    ck_assert_uint_eq(l.image_w, 56);
}
END_TEST

/* `count` synthetic 8x10 images of 3 classes (a bright band whose row is the class) and
 * probabilities that get every sample with index % 3 == 1 wrong (predicted as the next class),
 * the confidence of the wrong answer rising with the index; samples 1 and 4 tie. */
static mcl_dataset *errors_fixture(uint32_t count, float **probs, uint32_t *wrong) {
    test_write_synthetic(test_tmp_dir, "t10k", count, 5);
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_dataset_load(test_tmp_dir, MCL_SPLIT_TEST, &ds, &err) == MCL_OK, "%s",
                  err.message);
    *probs = calloc((size_t)count * 3, sizeof **probs);
    ck_assert_ptr_nonnull(*probs);
    const uint8_t *labels = mcl_dataset_labels(ds);
    *wrong = 0;
    for (uint32_t i = 0; i < count; i++) {
        float *p = *probs + (size_t)i * 3;
        bool miss = i % 3 == 1;
        uint32_t predicted = miss ? (labels[i] + 1u) % 3 : labels[i];
        float confidence = miss ? 0.5f + 0.004f * (i == 1 ? 4 : i) : 0.9f;
        p[predicted] = confidence;
        p[(predicted + 1) % 3] = 1 - confidence;
        *wrong += miss;
    }
    return ds;
}

/* Dark pixels (ink) in a rectangle of the picture, and red ones (the captions' predictions). */
static void ink_and_red(cairo_surface_t *img, int x0, int y0, int x1, int y1, size_t *ink,
                        size_t *red) {
    const unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    *ink = *red = 0;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            uint32_t px = *(const uint32_t *)(const void *)(data + (size_t)y * stride + 4 * x);
            int r = (px >> 16) & 0xff, g = (px >> 8) & 0xff, b = px & 0xff;
            if (r < 120 && g < 120 && b < 120) (*ink)++;
            if (r > 150 && g < 100 && b < 100) (*red)++;
        }
    }
}

START_TEST(test_errors_png) {
    float *probs = NULL;
    uint32_t wrong = 0;
    mcl_dataset *ds = errors_fixture(60, &probs, &wrong);
    ck_assert_uint_eq(wrong, 20);
    char out[4096];
    path_in(out, sizeof out, "errors.png");
    mcl_errors_plot_info info = {0};
    mcl_error err = {0};
    mcl_status st = mcl_plot_errors(ds, probs, 3, NULL, out, &info, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(info.misclassified, 20);
    ck_assert_uint_eq(info.shown, 20);
    mcl_errors_layout l;
    mcl_plot_errors_layout(20, 8, 10, &l);
    ck_assert_uint_eq(info.width, l.width);
    ck_assert_uint_eq(info.height, l.height);
    check_png_header(out, l.width, l.height);
    /* Every tile shows an image (its band of ink) above a caption with red in it; the space
     * after the last tile of the last row is blank. */
    cairo_surface_t *img = load_png(out);
    for (uint32_t t = 0; t < 20; t++) {
        int x = (int)(l.left + (t % l.columns) * l.cell_w), y = (int)(l.top + (t / l.columns) * l.cell_h);
        size_t ink, red;
        ink_and_red(img, x, y, x + (int)l.cell_w, y + (int)l.image_h, &ink, &red);
        ck_assert_uint_gt(ink, 2 * 10 * 11 * 11 / 2); /* two rows of 10 pixels, enlarged 11x */
        ck_assert_uint_eq(red, 0);
        ink_and_red(img, x, y + (int)l.image_h, x + (int)l.cell_w, y + (int)l.cell_h, &ink, &red);
        ck_assert_uint_gt(red, 20);
    }
    /* The first tile is the most confident mistake, sample 58 (class 1, predicted 2): its band
     * is on image rows 3 and 4 (ink), not on rows 0 and 6. */
    uint32_t x0 = l.left + (l.cell_w - l.image_w) / 2, y0 = l.top;
    size_t ink, red;
    ink_and_red(img, (int)x0 + 5, (int)(y0 + 3 * l.scale + 2), (int)(x0 + l.image_w) - 5,
                (int)(y0 + 5 * l.scale - 2), &ink, &red);
    ck_assert_uint_gt(ink, (size_t)(0.8 * (l.image_w - 10) * (2 * l.scale - 4)));
    ink_and_red(img, (int)x0 + 5, (int)y0 + 2, (int)(x0 + l.image_w) - 5, (int)(y0 + l.scale - 2),
                &ink, &red);
    ck_assert_uint_eq(ink, 0);
    cairo_surface_destroy(img);
    ck_assert_int_eq(entries_in_tmp_dir(), 3); /* the two IDX files and the picture */
    mcl_dataset_free(ds);
    free(probs);
}
END_TEST

/* A cap on the tiles, class names, a subtitle, SVG, and a dataset without mistakes. */
START_TEST(test_errors_cap_names_svg_and_none) {
    float *probs = NULL;
    uint32_t wrong = 0;
    mcl_dataset *ds = errors_fixture(60, &probs, &wrong);
    char out[4096];
    path_in(out, sizeof out, "errors.png");
    const char *const names[3] = {"top", "middle", "bottom \xff"}; /* not UTF-8: sanitized */
    mcl_errors_plot_options o = {.max_images = 7, .class_names = names, .subtitle = "run 1"};
    mcl_errors_plot_info info = {0};
    mcl_error err = {0};
    mcl_status st = mcl_plot_errors(ds, probs, 3, &o, out, &info, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(info.misclassified, 20);
    ck_assert_uint_eq(info.shown, 7);
    mcl_errors_layout l;
    mcl_plot_errors_layout(7, 8, 10, &l);
    check_png_header(out, l.width, l.height);

    path_in(out, sizeof out, "errors.svg");
    st = mcl_plot_errors(ds, probs, 3, &o, out, &info, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    size_t size = 0;
    uint8_t *svg = test_read_file(out, &size);
    ck_assert_int_eq(strncmp((const char *)svg, "<?xml", 5), 0);
    char want[64];
    snprintf(want, sizeof want, "width=\"%upt\"", l.width);
    ck_assert_ptr_nonnull(strstr((const char *)svg, want));
    free(svg);

    /* Every prediction right: the title alone ("0 of 60"), a picture all the same. */
    const uint8_t *labels = mcl_dataset_labels(ds);
    for (uint32_t i = 0; i < 60; i++)
        for (uint32_t k = 0; k < 3; k++)
            probs[i * 3 + k] = k == labels[i] ? 1.0f : 0.0f;
    path_in(out, sizeof out, "none.png");
    st = mcl_plot_errors(ds, probs, 3, NULL, out, &info, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(info.misclassified, 0);
    ck_assert_uint_eq(info.shown, 0);
    mcl_plot_errors_layout(0, 8, 10, &l);
    check_png_header(out, l.width, l.height);
    mcl_dataset_free(ds);
    free(probs);
}
END_TEST

START_TEST(test_errors_bad_arguments) {
    float *probs = NULL;
    uint32_t wrong = 0;
    mcl_dataset *ds = errors_fixture(30, &probs, &wrong);
    char out[4096];
    path_in(out, sizeof out, "errors.png");
    mcl_error err = {0};
    mcl_errors_plot_options o = {.max_images = MCL_PLOT_ERRORS_MAX + 1};
    mcl_status st = mcl_plot_errors(ds, probs, 3, &o, out, NULL, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, out, "at most 1000");
    /* Labels 0..2 do not fit 2 classes. */
    st = mcl_plot_errors(ds, probs, 2, NULL, out, NULL, &err);
    ck_assert_int_eq(st, MCL_ERR_FORMAT);
    path_in(out, sizeof out, "errors.jpg");
    st = mcl_plot_errors(ds, probs, 3, NULL, out, NULL, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, out, "'.jpg'");
    ck_assert_int_eq(mcl_plot_check_path(out, &err), MCL_ERR_USAGE);
    path_in(out, sizeof out, "errors.SVG");
    ck_assert_int_eq(mcl_plot_check_path(out, &err), MCL_OK);
    st = mcl_plot_errors(NULL, probs, 3, NULL, out, NULL, &err);
    ck_assert_int_eq(st, MCL_ERR_USAGE);
    ck_assert_int_eq(entries_in_tmp_dir(), 2); /* the IDX files only */
    mcl_dataset_free(ds);
    free(probs);
}
END_TEST

/* ---------------------------------------------------------------- ticks */

START_TEST(test_nice_ticks) {
    mcl_plot_ticks t;
    mcl_plot_nice_ticks(0, 1, 8, false, &t); /* step 0.125 rounds up to 0.2 */
    ck_assert_double_eq_tol(t.first, 0, 1e-12);
    ck_assert_double_eq_tol(t.step, 0.2, 1e-12);
    ck_assert_int_eq(t.count, 6);
    ck_assert_int_eq(t.decimals, 1);
    mcl_plot_nice_ticks(0.843, 0.997, 8, false, &t);
    ck_assert_double_eq_tol(t.first, 0.86, 1e-12);
    ck_assert_double_eq_tol(t.step, 0.02, 1e-12);
    ck_assert_int_eq(t.count, 7);
    ck_assert_int_eq(t.decimals, 2);
    mcl_plot_nice_ticks(-3.7, 42.1, 8, false, &t);
    ck_assert_double_eq_tol(t.step, 10, 1e-12);
    ck_assert_double_eq_tol(t.first, 0, 1e-12);
    ck_assert_int_eq(t.count, 5);
    ck_assert_int_eq(t.decimals, 0);
    /* Epochs: whole steps only. */
    mcl_plot_nice_ticks(0.55, 10.45, 8, true, &t);
    ck_assert_double_eq_tol(t.first, 2, 1e-12);
    ck_assert_double_eq_tol(t.step, 2, 1e-12);
    ck_assert_int_eq(t.count, 5);
    mcl_plot_nice_ticks(0.5, 1.5, 8, true, &t);
    ck_assert_double_eq_tol(t.first, 1, 1e-12);
    ck_assert_int_eq(t.count, 1);
    /* An end that is a tick (up to rounding) is one. */
    mcl_plot_nice_ticks(0.1 + 0.2, 0.9, 6, false, &t);
    ck_assert_double_eq_tol(t.first, 0.3, 1e-12);
    ck_assert_double_eq_tol(t.step, 0.1, 1e-12);
    ck_assert_int_eq(t.count, 7);
}
END_TEST

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *history = tcase_create("history");
    tcase_add_checked_fixture(history, test_tmp_setup, test_tmp_teardown);
    tcase_set_timeout(history, 60);
    tcase_add_test(history, test_history_with_validation);
    tcase_add_test(history, test_history_without_validation);
    tcase_add_test(history, test_history_single_epoch);
    tcase_add_test(history, test_history_long_run_and_title);
    tcase_add_test(history, test_history_replaces_existing_file);
    suite_add_tcase(s, history);

    TCase *csv = tcase_create("csv");
    tcase_add_checked_fixture(csv, test_tmp_setup, test_tmp_teardown);
    tcase_set_timeout(csv, 60);
    tcase_add_test(csv, test_read_history_values);
    tcase_add_test(csv, test_bad_header);
    tcase_add_test(csv, test_other_history_forms);
    tcase_add_test(csv, test_bad_json_histories);
    tcase_add_test(csv, test_bad_numbers);
    tcase_add_test(csv, test_non_finite_numbers);
    tcase_add_test(csv, test_bad_rows);
    tcase_add_test(csv, test_over_limits);
    tcase_add_test(csv, test_missing_history);
    suite_add_tcase(s, csv);

    TCase *output = tcase_create("output");
    tcase_add_checked_fixture(output, test_tmp_setup, test_tmp_teardown);
    tcase_set_timeout(output, 60);
    tcase_add_test(output, test_unknown_extension);
    tcase_add_test(output, test_missing_output_folder);
    tcase_add_test(output, test_confusion_png);
    tcase_add_test(output, test_confusion_svg_and_sizes);
    tcase_add_test(output, test_confusion_bad_arguments);
    tcase_add_test(output, test_errors_layout);
    tcase_add_test(output, test_errors_png);
    tcase_add_test(output, test_errors_cap_names_svg_and_none);
    tcase_add_test(output, test_errors_bad_arguments);
    suite_add_tcase(s, output);

    TCase *ticks = tcase_create("ticks");
    tcase_add_test(ticks, test_nice_ticks);
    suite_add_tcase(s, ticks);
    return s;
}

int main(void) {
    return test_run_suite(plot_suite());
}
