/* Image loading for prediction: every PNG colour type and bit depth (interlaced too) and PGM
 * (P2, P5, 8 and 16 bit) decode to the same grey pixels; the MNIST preparation gives an
 * MNIST-like image back (nearly) unchanged, inverts dark-on-light input and size-normalises and
 * centres arbitrary images; the PNG writer is exact and atomic; every malformed file is
 * rejected with a one-line message naming the file. Fixture files are written with libpng
 * directly (not with the code under test) into a fresh temporary directory per test. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/image.h"
#include "mnistcl/mnistcl.h"
#include "test_util.h"

#define MN 28u /* MNIST rows = cols */

/* Round trips of an image that is already MNIST-like: the mean absolute difference per pixel
 * (0..1 scale) stays below this. Real MNIST comes back exact (to 1/255) for 9988 of the 10000
 * test images; the rest have a thresholded ink box of 19 pixels that is enlarged to 20. */
#define ROUND_TRIP_MAD 0.05
/* Ink in a prepared image, for the bounding-box checks: the loader's own threshold. */
#define INK 0.1f

static void path_in(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmp_dir, name);
}

/* Decodes a file with the code under test; the caller frees with mcl_grey_image_free. */
static mcl_grey_image decode_file(const char *path) {
    size_t size = 0;
    uint8_t *data = test_read_file(path, &size);
    mcl_grey_image img;
    mcl_error err = {0};
    mcl_status st = mcl_image_decode(data, size, path, &img, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    free(data);
    return img;
}

/* ---------------------------------------------------------------- what a prepared image is like */

typedef struct ink_stats {
    double mass, com_x, com_y; /* centre of mass in pixel index coordinates */
    float max;
    uint32_t box_w, box_h; /* bounding box of pixels > INK (0 when none) */
} ink_stats;

static ink_stats stats_of(const float *img, uint32_t rows, uint32_t cols) {
    ink_stats s = {0};
    uint32_t x0 = cols, x1 = 0, y0 = rows, y1 = 0;
    /* Check's assertions talk to the runner on every call; one per image keeps this fast. */
    uint32_t outside = 0;
    for (uint32_t y = 0; y < rows; y++)
        for (uint32_t x = 0; x < cols; x++) {
            float v = img[y * cols + x];
            outside += !(v >= 0.0f && v <= 1.0f);
            s.mass += v;
            s.com_x += (double)v * x;
            s.com_y += (double)v * y;
            if (v > s.max) s.max = v;
            if (v > INK) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
        }
    ck_assert_msg(outside == 0, "%u pixels outside 0..1", outside);
    if (s.mass > 0) {
        s.com_x /= s.mass;
        s.com_y /= s.mass;
    }
    if (x0 <= x1) {
        s.box_w = x1 - x0 + 1;
        s.box_h = y1 - y0 + 1;
    }
    return s;
}

/* A digit in MNIST form: ink max ~1, centre of mass at (14, 14) within a pixel, the longer
 * side of the ink box 20 give or take the anti-aliased rim. */
static void check_mnist_form(const float *img, const char *what) {
    ink_stats s = stats_of(img, MN, MN);
    ck_assert_msg(s.max > 0.95f, "%s: max %g", what, s.max);
    ck_assert_msg(fabs(s.com_x - MN / 2.0) <= 1.0 && fabs(s.com_y - MN / 2.0) <= 1.0,
                  "%s: centre of mass (%.2f, %.2f)", what, s.com_x, s.com_y);
    uint32_t longer = s.box_w > s.box_h ? s.box_w : s.box_h;
    ck_assert_msg(longer >= 19 && longer <= 21, "%s: ink box %ux%u", what, s.box_w, s.box_h);
}

static double mean_abs_diff(const float *a, const float *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += fabs((double)a[i] - (double)b[i]);
    return sum / (double)n;
}

/* ---------------------------------------------------------------- synthetic digits */

/* An anti-aliased "0"-like ring, white on black, 28x28, with a 13x20 ink box (pixels > 0.1) and
 * its centre of mass at (13.9, 13.9), as a digit from MNIST would be. */
static void synthetic_digit(uint8_t *px) {
    for (uint32_t y = 0; y < MN; y++)
        for (uint32_t x = 0; x < MN; x++) {
            /* 4x4 supersampling of "inside the ring". */
            int hits = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++) {
                    double u = (x + (sx + 0.5) / 4 - 14.4) / 6.5;
                    double v = (y + (sy + 0.5) / 4 - 14.4) / 9.6;
                    double r = sqrt(u * u + v * v);
                    hits += r <= 1.0 && r >= 0.62;
                }
            px[y * MN + x] = (uint8_t)(hits * 255 / 16);
        }
}

/* True where a big test drawing has ink: a thick ring and a tail, like a "9" on its own. */
static bool drawing_ink(double x, double y, double cx, double cy, double rx, double ry) {
    double u = (x - cx) / rx, v = (y - cy) / ry;
    double r = sqrt(u * u + v * v);
    bool ring = r <= 1.0 && r >= 0.7;
    bool tail = x >= cx + 0.85 * rx && x <= cx + rx && y >= cy && y <= cy + 2.5 * ry;
    return ring || tail;
}

/* ---------------------------------------------------------------- fixture PNGs via libpng */

typedef struct png_format {
    const char *name;
    int color_type, bit_depth, interlace;
    bool trns; /* the background is a colour made transparent by a tRNS chunk */
} png_format;

static const png_format formats[] = {
    {"grey1", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, false},
    {"grey2", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, false},
    {"grey4", PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_NONE, false},
    {"grey8", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, false},
    {"grey16", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, false},
    {"grey2-trns", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, true},
    {"grey8-trns", PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, true},
    {"grey16-trns", PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, true},
    {"grey-alpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, false},
    {"grey-alpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE, false},
    {"rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, false},
    {"rgb16", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, false},
    {"rgb8-trns", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, true},
    {"rgba8", PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, false},
    {"rgba16", PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE, false},
    {"palette1", PNG_COLOR_TYPE_PALETTE, 1, PNG_INTERLACE_NONE, false},
    {"palette2", PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, false},
    {"palette4", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, false},
    {"palette8", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, false},
    {"palette4-trns", PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, true},
    {"grey1-adam7", PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_ADAM7, false},
    {"grey-alpha16-adam7", PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_ADAM7, false},
    {"rgb16-adam7", PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, false},
    {"rgba8-adam7", PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_ADAM7, false},
    {"palette8-trns-adam7", PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_ADAM7, true},
};

static void put_sample(uint8_t **p, unsigned value, int bit_depth) {
    if (bit_depth == 16) *(*p)++ = (uint8_t)(value >> 8);
    *(*p)++ = (uint8_t)value;
}

/* Writes a black-ink-on-white image of `ink` (1 = ink) in format f. The white background is
 * encoded the way the format allows: the top value, or a transparent colour (alpha 0 or a tRNS
 * entry) whose own colour is black or nearly, so only compositing over white makes it white. */
static void write_mask_png(const char *path, const uint8_t *ink, uint32_t w, uint32_t h,
                           const png_format *f) {
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_ptr_nonnull(info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng failed writing the fixture %s", f->name);
    png_init_io(png, file);
    png_set_IHDR(png, info, w, h, f->bit_depth, f->color_type, f->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    const unsigned top = (1u << f->bit_depth) - 1;
    if (f->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[2] = {{0, 0, 0}, {255, 255, 255}};
        if (f->trns) palette[1] = (png_color){0, 0, 0};
        png_set_PLTE(png, info, palette, 2);
        png_byte alpha[2] = {255, 0};
        if (f->trns) png_set_tRNS(png, info, alpha, 2, NULL);
    } else if (f->trns) {
        png_color_16 colour = {.gray = 1, .red = 1, .green = 1, .blue = 1};
        png_set_tRNS(png, info, NULL, 0, &colour);
    }
    png_write_info(png, info);
    if (f->bit_depth < 8) png_set_packing(png);

    const size_t channels = f->color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                            : f->color_type == PNG_COLOR_TYPE_RGB      ? 3
                            : f->color_type == PNG_COLOR_TYPE_RGBA     ? 4
                                                                       : 1;
    const size_t row_bytes = w * channels * (f->bit_depth == 16 ? 2 : 1);
    uint8_t *data = malloc(row_bytes * h);
    png_bytep *rows = malloc(h * sizeof *rows);
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(rows);
    for (uint32_t y = 0; y < h; y++) {
        rows[y] = data + y * row_bytes;
        uint8_t *p = rows[y];
        for (uint32_t x = 0; x < w; x++) {
            bool on = ink[y * w + x] != 0;
            unsigned bg = f->trns ? 1 : top;
            switch (f->color_type) {
            case PNG_COLOR_TYPE_GRAY:
                put_sample(&p, on ? 0 : bg, f->bit_depth);
                break;
            case PNG_COLOR_TYPE_GRAY_ALPHA:
                put_sample(&p, 0, f->bit_depth);
                put_sample(&p, on ? top : 0, f->bit_depth);
                break;
            case PNG_COLOR_TYPE_RGB:
                for (int c = 0; c < 3; c++)
                    put_sample(&p, on ? 0 : bg, f->bit_depth);
                break;
            case PNG_COLOR_TYPE_RGBA:
                for (int c = 0; c < 3; c++)
                    put_sample(&p, 0, f->bit_depth);
                put_sample(&p, on ? top : 0, f->bit_depth);
                break;
            default:
                *p++ = on ? 0 : 1;
                break; /* palette index */
            }
        }
    }
    png_write_image(png, rows); /* handles the Adam7 passes */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ck_assert_int_eq(fclose(file), 0);
    free(rows);
    free(data);
}

/* Writes an 8-bit RGB or RGBA image from interleaved samples. */
static void write_rgb_png(const char *path, const uint8_t *samples, uint32_t w, uint32_t h,
                          bool alpha) {
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert_ptr_nonnull(info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng failed writing %s", path);
    png_init_io(png, file);
    png_set_IHDR(png, info, w, h, 8, alpha ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t row_bytes = (size_t)w * (alpha ? 4 : 3);
    for (uint32_t y = 0; y < h; y++)
        png_write_row(png, samples + y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ck_assert_int_eq(fclose(file), 0);
}

/* A PNG written by the code under test, for fixtures that only need grey. */
static void write_grey(const char *path, const uint8_t *px, uint32_t w, uint32_t h) {
    mcl_error err = {0};
    mcl_status st = mcl_image_write_png(path, px, w, h, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
}

/* ---------------------------------------------------------------- decoding */

START_TEST(test_png_every_format_decodes_the_same) {
    /* An irregular pattern of odd size, so a row, bit-packing or interlace mistake shows. */
    enum { W = 13, H = 11 };
    uint8_t ink[W * H];
    for (uint32_t i = 0; i < W * H; i++)
        ink[i] = (uint8_t)((i * 7 + i / W * 3) % 5 < 2);
    for (size_t k = 0; k < sizeof formats / sizeof formats[0]; k++) {
        char path[4096];
        path_in(path, sizeof path, formats[k].name);
        write_mask_png(path, ink, W, H, &formats[k]);
        mcl_grey_image img = decode_file(path);
        ck_assert_uint_eq(img.width, W);
        ck_assert_uint_eq(img.height, H);
        for (uint32_t i = 0; i < W * H; i++)
            ck_assert_msg(img.pixels[i] == (ink[i] ? 0 : 255), "%s: pixel %u is %u",
                          formats[k].name, i, img.pixels[i]);
        mcl_grey_image_free(&img);
        ck_assert_ptr_null(img.pixels);
    }
}
END_TEST

START_TEST(test_png_luma_and_alpha) {
    /* Red, green, blue, white; black at alpha 255, 128 and 0; grey 100 at alpha 51 (0.2). */
    const uint8_t rgba[8][4] = {{255, 0, 0, 255},     {0, 255, 0, 255},   {0, 0, 255, 255},
                                {255, 255, 255, 255}, {0, 0, 0, 255},     {0, 0, 0, 128},
                                {0, 0, 0, 0},         {100, 100, 100, 51}};
    /* Luma .299/.587/.114, rounded; black over white at alpha 128 is 255 * 127/255 = 127;
     * 100 at alpha 0.2 over white is 20 + 204 = 224. */
    const uint8_t want[8] = {76, 150, 29, 255, 0, 127, 255, 224};
    char path[4096];
    path_in(path, sizeof path, "luma.png");
    write_rgb_png(path, &rgba[0][0], 8, 1, true);
    mcl_grey_image img = decode_file(path);
    ck_assert_uint_eq(img.width, 8);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(img.pixels[i] == want[i], "pixel %d: %u, want %u", i, img.pixels[i], want[i]);
    mcl_grey_image_free(&img);
}
END_TEST

START_TEST(test_png_16_bit_scaling) {
    /* 16-bit grey 0x0000, 0x8080, 0xFFFF, 0x7F7F -> 0, 128, 255, 127 (v * 255 / 65535). */
    char path[4096];
    path_in(path, sizeof path, "grey16.png");
    FILE *file = fopen(path, "wb");
    ck_assert_ptr_nonnull(file);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, file);
    png_set_IHDR(png, info, 4, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const uint8_t row[8] = {0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF, 0x7F, 0x7F};
    png_write_row(png, row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ck_assert_int_eq(fclose(file), 0);
    mcl_grey_image img = decode_file(path);
    const uint8_t want[4] = {0, 128, 255, 127};
    ck_assert_mem_eq(img.pixels, want, 4);
    mcl_grey_image_free(&img);
}
END_TEST

START_TEST(test_pgm_variants) {
    /* The same 3x2 image, values 0, 51, 102 / 153, 204, 255, in five encodings. */
    const uint8_t want[6] = {0, 51, 102, 153, 204, 255};
    static const char p2_255[] = "P2\n# a comment\n3 2\n255\n0 51 102\n153 204 255\n";
    static const char p2_5[] = "P2 3#comment right after a number\n2 5\n0 1 2 3 4 5";
    static const char p5_255_head[] = "P5\n3 2 255\n";
    static const char p5_65535_head[] = "P5 3\r\n2\t65535 ";
    struct {
        const char *name;
        uint8_t bytes[64];
        size_t size;
    } cases[4] = {{"p2-255.pgm", {0}, 0},
                  {"p2-5.pgm", {0}, 0},
                  {"p5-255.pgm", {0}, 0},
                  {"p5-65535.pgm", {0}, 0}};
    memcpy(cases[0].bytes, p2_255, sizeof p2_255 - 1);
    cases[0].size = sizeof p2_255 - 1;
    memcpy(cases[1].bytes, p2_5, sizeof p2_5 - 1);
    cases[1].size = sizeof p2_5 - 1;
    memcpy(cases[2].bytes, p5_255_head, sizeof p5_255_head - 1);
    memcpy(cases[2].bytes + sizeof p5_255_head - 1, want, 6);
    cases[2].size = sizeof p5_255_head - 1 + 6;
    size_t n = sizeof p5_65535_head - 1;
    memcpy(cases[3].bytes, p5_65535_head, n);
    for (int i = 0; i < 6; i++) { /* v * 257 is exact in 16 bits */
        cases[3].bytes[n++] = want[i];
        cases[3].bytes[n++] = want[i];
    }
    cases[3].size = n;
    for (int c = 0; c < 4; c++) {
        char path[4096];
        path_in(path, sizeof path, cases[c].name);
        test_write_file(path, cases[c].bytes, cases[c].size, 0);
        mcl_grey_image img = decode_file(path);
        ck_assert_uint_eq(img.width, 3);
        ck_assert_uint_eq(img.height, 2);
        ck_assert_msg(memcmp(img.pixels, want, 6) == 0, "%s: %u %u %u %u %u %u", cases[c].name,
                      img.pixels[0], img.pixels[1], img.pixels[2], img.pixels[3], img.pixels[4],
                      img.pixels[5]);
        mcl_grey_image_free(&img);
    }
}
END_TEST

/* JPEG, BMP and GIF (stb_image) decode to the pixels of the PGM they were made from
 * (tests/images/, made with ImageMagick from seven.pgm): BMP and GIF are lossless, so equal;
 * JPEG at quality 95 within a few levels. */
START_TEST(test_jpeg_bmp_gif) {
    const char *root = getenv("MNIST_CL_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/images/seven.pgm", root != NULL ? root : "..");
    mcl_grey_image want = decode_file(path);
    ck_assert_uint_eq(want.width, 32);
    ck_assert_uint_eq(want.height, 24);
    static const struct {
        const char *file;
        int max_diff;
    } cases[] = {{"seven.bmp", 0}, {"seven.gif", 0}, {"seven.jpg", 12}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        snprintf(path, sizeof path, "%s/tests/images/%s", root != NULL ? root : "..",
                 cases[c].file);
        mcl_grey_image got = decode_file(path);
        ck_assert_uint_eq(got.width, want.width);
        ck_assert_uint_eq(got.height, want.height);
        int worst = 0;
        for (size_t i = 0; i < (size_t)want.width * want.height; i++) {
            int d = abs((int)got.pixels[i] - (int)want.pixels[i]);
            if (d > worst) worst = d;
        }
        ck_assert_msg(worst <= cases[c].max_diff, "%s: a pixel is %d levels off (at most %d)",
                      cases[c].file, worst, cases[c].max_diff);
        mcl_grey_image_free(&got);
    }
    mcl_grey_image_free(&want);
}
END_TEST

/* ---------------------------------------------------------------- writing */

START_TEST(test_write_png_round_trip) {
    enum { W = 37, H = 23 };
    uint8_t px[W * H];
    for (uint32_t i = 0; i < W * H; i++)
        px[i] = (uint8_t)(i * 37u + 11u);
    char path[4096];
    path_in(path, sizeof path, "out.png");
    write_grey(path, px, W, H);
    mcl_grey_image img = decode_file(path);
    ck_assert_uint_eq(img.width, W);
    ck_assert_uint_eq(img.height, H);
    ck_assert_mem_eq(img.pixels, px, sizeof px);
    mcl_grey_image_free(&img);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);

    /* Overwriting replaces the file, and no temporary file is left behind. */
    memset(px, 200, sizeof px);
    write_grey(path, px, W, H);
    img = decode_file(path);
    ck_assert_mem_eq(img.pixels, px, sizeof px);
    mcl_grey_image_free(&img);
    DIR *dir = opendir(test_tmp_dir);
    ck_assert_ptr_nonnull(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) entries++;
    closedir(dir);
    ck_assert_int_eq(entries, 1);
}
END_TEST

START_TEST(test_write_png_failures) {
    uint8_t px[4] = {1, 2, 3, 4};
    mcl_error err = {0};
    char path[4096];
    /* A folder that does not exist. */
    path_in(path, sizeof path, "missing/out.png");
    mcl_status st = mcl_image_write_png(path, px, 2, 2, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot create the PNG image");
    /* The target is a folder: the rename fails, the temporary file must go. */
    path_in(path, sizeof path, "folder");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    st = mcl_image_write_png(path, px, 2, 2, &err);
    ck_assert_error(st, err, MCL_ERR_IO, path, "cannot write the PNG");
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    DIR *dir = opendir(test_tmp_dir);
    ck_assert_ptr_nonnull(dir);
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        ck_assert_msg(strstr(e->d_name, ".tmp.") == NULL, "left behind: %s", e->d_name);
    closedir(dir);
    /* Bad sizes are usage errors and create nothing. */
    path_in(path, sizeof path, "empty.png");
    st = mcl_image_write_png(path, px, 0, 2, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, path, "0x2");
    st = mcl_image_write_png(path, px, 20000, 1, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, path, "20000x1");
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* ---------------------------------------------------------------- the MNIST preparation */

START_TEST(test_synthetic_digit_round_trip) {
    uint8_t px[MN * MN];
    synthetic_digit(px);
    float orig[MN * MN], out[MN * MN];
    for (uint32_t i = 0; i < MN * MN; i++)
        orig[i] = px[i] / 255.0f;
    ink_stats s0 = stats_of(orig, MN, MN);
    ck_assert_uint_eq(s0.box_h, 20); /* the fixture is what it claims */

    char path[4096];
    path_in(path, sizeof path, "digit.png");
    write_grey(path, px, MN, MN);
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    double mad = mean_abs_diff(out, orig, MN * MN);
    ck_assert_msg(mad < ROUND_TRIP_MAD, "mean abs diff %g", mad);
    ink_stats s1 = stats_of(out, MN, MN);
    ck_assert_int_eq(lround(s1.com_x), lround(s0.com_x));
    ck_assert_int_eq(lround(s1.com_y), lround(s0.com_y));
    check_mnist_form(out, "synthetic digit");

    /* The same digit dark on light is inverted and comes back the same. */
    uint8_t neg[MN * MN];
    for (uint32_t i = 0; i < MN * MN; i++)
        neg[i] = (uint8_t)(255 - px[i]);
    path_in(path, sizeof path, "digit-negative.png");
    write_grey(path, neg, MN, MN);
    float out_neg[MN * MN];
    st = mcl_image_load_mnist(path, MN, MN, out_neg, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    mad = mean_abs_diff(out_neg, orig, MN * MN);
    ck_assert_msg(mad < ROUND_TRIP_MAD, "inverted: mean abs diff %g", mad);
    ck_assert_float_eq_tol(mean_abs_diff(out_neg, out, MN * MN), 0.0, 1e-6);
}
END_TEST

/* Real MNIST test images (when the data is there) survive preparation: all of them in
 * memory, and some through a PNG file. */
START_TEST(test_real_mnist_round_trip) {
    const char *dir = test_mnist_dir();
    if (dir == NULL) {
        fprintf(stderr, "note: no MNIST data; test_real_mnist_round_trip checks nothing\n");
        return;
    }
    mcl_dataset *ds = NULL;
    mcl_error err = {0};
    if (mcl_dataset_load(dir, MCL_SPLIT_TEST, &ds, &err) != MCL_OK)
        ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &ds, &err) == MCL_OK, "%s",
                      err.message);
    ck_assert_uint_eq(mcl_dataset_rows(ds), MN);
    ck_assert_uint_eq(mcl_dataset_cols(ds), MN);
    const uint32_t count = mcl_dataset_count(ds);
    const uint8_t *pixels = mcl_dataset_pixels(ds);
    uint32_t far = 0, moved = 0;
    double total = 0;
    float orig[MN * MN], out[MN * MN];
    for (uint32_t n = 0; n < count; n++) {
        const uint8_t *px = pixels + (size_t)n * MN * MN;
        for (uint32_t i = 0; i < MN * MN; i++)
            orig[i] = px[i] / 255.0f;
        ink_stats s0 = stats_of(orig, MN, MN);
        if (s0.max <= INK) continue; /* (no blank images in MNIST, but be safe) */
        if (n < 50) {                /* through a file */
            char path[4096];
            path_in(path, sizeof path, "mnist.png");
            write_grey(path, px, MN, MN);
            ck_assert_msg(mcl_image_load_mnist(path, MN, MN, out, &err) == MCL_OK, "%s",
                          err.message);
        } else {
            if (mcl_image_prepare_mnist(px, MN, MN, MN, MN, out, &err) != MCL_OK)
                ck_abort_msg("image %u: %s", n, err.message);
        }
        double mad = mean_abs_diff(out, orig, MN * MN);
        total += mad;
        ink_stats s1 = stats_of(out, MN, MN);
        bool same_centre =
            lround(s1.com_x) == lround(s0.com_x) && lround(s1.com_y) == lround(s0.com_y);
        if (n < 50) {
            ck_assert_msg(mad < ROUND_TRIP_MAD, "image %u: mean abs diff %g", n, mad);
            ck_assert_msg(same_centre, "image %u: centre of mass moved", n);
        }
        far += mad >= ROUND_TRIP_MAD;
        moved += !same_centre;
    }
    /* Measured: mean 0.00007, 1 image of 10000 over the margin, 1 moved centre. */
    ck_assert_msg(total / count < 0.002, "mean abs diff %g", total / count);
    ck_assert_msg(far <= count / 1000, "%u of %u images changed by >= %g", far, count,
                  ROUND_TRIP_MAD);
    ck_assert_msg(moved <= count / 1000, "%u of %u centres of mass moved", moved, count);
    mcl_dataset_free(ds);
}
END_TEST

START_TEST(test_big_rgb_photo) {
    /* 200 wide x 300 high: dark blue ink on cream paper, off-centre. */
    enum { W = 200, H = 300 };
    uint8_t *rgb = malloc(W * H * 3);
    ck_assert_ptr_nonnull(rgb);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            bool on = drawing_ink(x + 0.5, y + 0.5, 70, 90, 40, 45);
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = on ? 20 : 250, p[1] = on ? 20 : 245, p[2] = on ? 80 : 230;
        }
    char path[4096];
    path_in(path, sizeof path, "photo.png");
    write_rgb_png(path, rgb, W, H, false);
    free(rgb);
    float out[MN * MN];
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    check_mnist_form(out, "RGB photo");
    ink_stats s = stats_of(out, MN, MN);
    ck_assert_uint_eq(s.box_h, 20); /* the drawing is taller than wide */
    ck_assert_uint_lt(s.box_w, 18);
    /* Paper is background: the corners are black. */
    ck_assert_float_eq(out[0], 0.0f);
    ck_assert_float_eq(out[MN * MN - 1], 0.0f);
}
END_TEST

START_TEST(test_rgba_transparent_background) {
    /* A black digit on a fully transparent background whose colour is black too: only
     * compositing over white makes it dark ink on paper. Small: enlarged with bilinear. */
    enum { W = 15, H = 12 };
    uint8_t rgba[W * H * 4];
    memset(rgba, 0, sizeof rgba);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            if (drawing_ink(x + 0.5, y + 0.5, 7, 4.5, 3.5, 3)) rgba[(y * W + x) * 4 + 3] = 255;
    char path[4096];
    path_in(path, sizeof path, "transparent.png");
    write_rgb_png(path, rgba, W, H, true);
    float out[MN * MN];
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    check_mnist_form(out, "RGBA on transparent");
}
END_TEST

START_TEST(test_pgm_digit) {
    /* A 16-bit P5 of a dark digit on white paper, 60x50. */
    enum { W = 60, H = 50 };
    char head[64];
    int n = snprintf(head, sizeof head, "P5\n%d %d\n65535\n", W, H);
    size_t size = (size_t)n + W * H * 2;
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, head, (size_t)n);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++) {
            unsigned v = drawing_ink(x + 0.5, y + 0.5, 35, 15, 8, 9) ? 3000 : 64000;
            buf[n + (y * W + x) * 2] = (uint8_t)(v >> 8);
            buf[n + (y * W + x) * 2 + 1] = (uint8_t)v;
        }
    char path[4096];
    path_in(path, sizeof path, "digit.pgm");
    test_write_file(path, buf, size, 0);
    free(buf);
    float out[MN * MN];
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    check_mnist_form(out, "16-bit PGM");
}
END_TEST

START_TEST(test_other_output_sizes) {
    /* The box is round(20/28 * min(rows, cols)): 14 for 20 columns, 32 rows. */
    uint8_t px[MN * MN];
    synthetic_digit(px);
    float *out = malloc(32 * 20 * sizeof *out);
    ck_assert_ptr_nonnull(out);
    mcl_error err = {0};
    ck_assert_int_eq(mcl_image_prepare_mnist(px, MN, MN, 32, 20, out, &err), MCL_OK);
    ink_stats s = stats_of(out, 32, 20);
    ck_assert_msg(s.box_h >= 14 && s.box_h <= 15, "box %ux%u", s.box_w, s.box_h);
    ck_assert_msg(fabs(s.com_x - 10) <= 0.5 && fabs(s.com_y - 16) <= 0.5, "centre (%g, %g)",
                  s.com_x, s.com_y);
    free(out);
    /* 1x1 works too (a single grey pixel). */
    float one = -1;
    ck_assert_int_eq(mcl_image_prepare_mnist(px, MN, MN, 1, 1, &one, &err), MCL_OK);
    ck_assert(one >= 0.0f && one <= 1.0f);
}
END_TEST

START_TEST(test_blank_images_are_zero) {
    /* All white, all black, uniform grey, white with faint noise: no ink, all zeros. */
    enum { W = 40, H = 30 };
    uint8_t px[W * H];
    const int fills[4] = {255, 0, 128, -1};
    for (int f = 0; f < 4; f++) {
        for (uint32_t i = 0; i < W * H; i++)
            px[i] = (uint8_t)(fills[f] >= 0 ? fills[f] : 240 + (int)((i * 7919u) % 11u));
        char path[4096], name[32];
        snprintf(name, sizeof name, "blank%d.png", f);
        path_in(path, sizeof path, name);
        write_grey(path, px, W, H);
        float out[MN * MN];
        for (uint32_t i = 0; i < MN * MN; i++)
            out[i] = 0.5f;
        mcl_error err = {0};
        mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
        ck_assert_msg(st == MCL_OK, "%s", err.message);
        for (uint32_t i = 0; i < MN * MN; i++)
            ck_assert_msg(out[i] == 0.0f, "fill %d: pixel %u = %g", fills[f], i, out[i]);
    }
}
END_TEST

/* What predict does with a PNG written from a test image matches what it does with the IDX
 * image itself: the same class, and probabilities within 0.01 (preparation re-centres the
 * digit by its centre of mass, which can move it by a fraction of a pixel). Trains mlp50 for
 * one epoch on 3000 images so that the model has something to say. */
START_TEST(test_predict_png_matches_idx) {
    const char *dir = test_mnist_dir();
    if (dir == NULL) {
        fprintf(stderr, "note: no MNIST data; test_predict_png_matches_idx checks nothing\n");
        return;
    }
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_error err = {0};
    mcl_model *model = NULL;
    mcl_dataset *all = NULL, *train = NULL, *test = NULL;
    mcl_trainer *t = NULL;
    ck_assert(mcl_model_builtin("mlp50", &model, &err) == MCL_OK);
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &all, &err) == MCL_OK, "%s", err.message);
    ck_assert(mcl_dataset_subset(all, 0, 3000, &train, &err) == MCL_OK);
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TEST, &test, &err) == MCL_OK);
    ck_assert(mcl_trainer_create(ctx, model, MN, MN, 10, 100, 1, &t, &err) == MCL_OK);
    mcl_fit_options fit = {.recipe = *mcl_model_recipe(model), .seed = 1};
    fit.recipe.epochs = 1;
    fit.recipe.validation_split = 0.0f;
    ck_assert_msg(mcl_trainer_fit(t, train, NULL, &fit, &err) == MCL_OK, "%s", err.message);
    enum { IMAGES = 20 };
    float x[2 * MN * MN], probs[2 * 10];
    double worst = 0.0;
    for (uint32_t n = 0; n < IMAGES; n++) {
        const uint8_t *px = mcl_dataset_pixels(test) + (size_t)n * MN * MN;
        for (uint32_t i = 0; i < MN * MN; i++)
            x[i] = px[i] / 255.0f;
        char path[4096];
        path_in(path, sizeof path, "digit.png");
        write_grey(path, px, MN, MN);
        ck_assert_msg(mcl_image_load_mnist(path, MN, MN, x + MN * MN, &err) == MCL_OK, "%s",
                      err.message);
        ck_assert_msg(mcl_trainer_predict(t, x, 2, probs, &err) == MCL_OK, "%s", err.message);
        uint32_t best_idx = 0, best_png = 0;
        for (uint32_t c = 0; c < 10; c++) {
            if (probs[c] > probs[best_idx]) best_idx = c;
            if (probs[10 + c] > probs[10 + best_png]) best_png = c;
            double d = fabs((double)probs[c] - probs[10 + c]);
            if (d > worst) worst = d;
        }
        ck_assert_msg(best_idx == best_png, "test image %u: IDX says %u, its PNG says %u", n,
                      best_idx, best_png);
    }
    ck_assert_msg(worst < 0.01, "probabilities differ by up to %g between IDX and PNG", worst);
    fprintf(stderr, "note: %d test digits: IDX and PNG probabilities differ by at most %.2g\n",
            IMAGES, worst);
    mcl_trainer_free(t);
    mcl_dataset_free(test);
    mcl_dataset_free(train);
    mcl_dataset_free(all);
    mcl_model_free(model);
    mcl_context_free(ctx);
}
END_TEST

/* ---------------------------------------------------------------- malformed files */

/* Appends a PNG chunk with its CRC (computed with zlib, as the format defines it). */
static size_t put_chunk(uint8_t *buf, size_t at, const char *type, const uint8_t *data,
                        uint32_t length) {
    buf[at++] = (uint8_t)(length >> 24), buf[at++] = (uint8_t)(length >> 16);
    buf[at++] = (uint8_t)(length >> 8), buf[at++] = (uint8_t)length;
    memcpy(buf + at, type, 4);
    if (length > 0) memcpy(buf + at + 4, data, length);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), buf + at, 4 + length);
    at += 4 + length;
    buf[at++] = (uint8_t)(crc >> 24), buf[at++] = (uint8_t)(crc >> 16);
    buf[at++] = (uint8_t)(crc >> 8), buf[at++] = (uint8_t)crc;
    return at;
}

/* A PNG whose IHDR claims width x height (grey, 8 bits) with a valid CRC, then an IDAT and IEND,
 * so libpng accepts the header and only our limits can stop it. */
static size_t png_claiming(uint8_t *buf, uint32_t width, uint32_t height) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(buf, signature, 8);
    uint8_t ihdr[13] = {(uint8_t)(width >> 24),
                        (uint8_t)(width >> 16),
                        (uint8_t)(width >> 8),
                        (uint8_t)width,
                        (uint8_t)(height >> 24),
                        (uint8_t)(height >> 16),
                        (uint8_t)(height >> 8),
                        (uint8_t)height,
                        8,
                        0,
                        0,
                        0,
                        0};
    size_t at = put_chunk(buf, 8, "IHDR", ihdr, 13);
    const uint8_t idat[8] = {0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00};
    at = put_chunk(buf, at, "IDAT", idat, 8);
    return put_chunk(buf, at, "IEND", NULL, 0);
}

/* Loads `path` for 28x28 expecting failure with `want` and both phrases in a one-line message;
 * libpng must not have printed anything (stderr is captured around the call). */
static void expect_load_error(const char *path, mcl_status want, const char *phrase) {
    char capture[4200];
    snprintf(capture, sizeof capture, "%s.stderr", path);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
    float out[MN * MN];
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, MN, MN, out, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_error(st, err, want, path, phrase);
    struct stat sb;
    ck_assert_int_eq(stat(capture, &sb), 0);
    ck_assert_msg(sb.st_size == 0, "%s: something was printed to stderr", path);
    unlink(capture);
}

START_TEST(test_missing_and_unreadable) {
    char path[4096];
    path_in(path, sizeof path, "nope.png");
    expect_load_error(path, MCL_ERR_IO, "cannot open");
    expect_load_error(test_tmp_dir, MCL_ERR_IO, "is a directory");
    float out[MN * MN];
    mcl_error err = {0};
    mcl_status st = mcl_image_load_mnist(path, 0, MN, out, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "0x28", "rows and cols");
    st = mcl_image_load_mnist(path, MN, MN, NULL, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "dst", "NULL");
}
END_TEST

START_TEST(test_bad_png) {
    char path[4096];
    path_in(path, sizeof path, "empty.png");
    test_write_file(path, "", 0, 0);
    expect_load_error(path, MCL_ERR_FORMAT, "empty file");

    /* A valid PNG, then cut in the middle of its image data, then cut inside the signature. */
    uint8_t px[MN * MN];
    synthetic_digit(px);
    path_in(path, sizeof path, "good.png");
    write_grey(path, px, MN, MN);
    size_t size = 0;
    uint8_t *good = test_read_file(path, &size);
    path_in(path, sizeof path, "truncated.png");
    test_write_file(path, good, size / 2, 0);
    expect_load_error(path, MCL_ERR_FORMAT, "truncated PNG");
    test_write_file(path, good, size - 12, 0); /* no IEND */
    expect_load_error(path, MCL_ERR_FORMAT, "truncated PNG");
    test_write_file(path, good, 5, 0);
    expect_load_error(path, MCL_ERR_FORMAT, "truncated PNG");

    /* A flipped bit in the image data: libpng's CRC check catches it; the message is ours. */
    uint8_t *bad = malloc(size);
    ck_assert_ptr_nonnull(bad);
    memcpy(bad, good, size);
    bad[size - 20] ^= 0x10;
    path_in(path, sizeof path, "corrupt.png");
    test_write_file(path, bad, size, 0);
    expect_load_error(path, MCL_ERR_FORMAT, "invalid PNG: IDAT");
    free(bad);
    free(good);

    /* Headers beyond the limits, with valid CRCs. */
    static const struct {
        uint32_t w, h;
        const char *phrase;
    } huge[] = {
        {100000, 100000, "PNG image is 100000x100000"},
        {16385, 1, "PNG image is 16385x1"},
        {16384, 8192, "at most 67108864 pixels"},
    };
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        uint8_t buf[128];
        size_t n = png_claiming(buf, huge[k].w, huge[k].h);
        path_in(path, sizeof path, "huge.png");
        test_write_file(path, buf, n, 0);
        expect_load_error(path, MCL_ERR_FORMAT, huge[k].phrase);
    }
    /* Within the limits the same header gets past them (and fails on the missing data). */
    uint8_t buf[128];
    size_t n = png_claiming(buf, 64, 64);
    path_in(path, sizeof path, "short.png");
    test_write_file(path, buf, n, 0);
    expect_load_error(path, MCL_ERR_FORMAT, "invalid PNG");
}
END_TEST

START_TEST(test_png_warnings_are_silent) {
    /* A corrupt CRC on an ancillary chunk is only a warning: the image loads, nothing is
     * printed. */
    uint8_t buf[256];
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    memcpy(buf, signature, 8);
    const uint8_t ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0};
    size_t at = put_chunk(buf, 8, "IHDR", ihdr, 13);
    const uint8_t gama[4] = {0, 0, 0xB1, 0x8F};
    size_t gama_at = at;
    at = put_chunk(buf, at, "gAMA", gama, 4);
    buf[gama_at + 12] ^= 0xFF; /* break its CRC */
    uLongf zlen = 64;
    uint8_t raw[2] = {0, 200}, z[64]; /* filter byte, one pixel */
    ck_assert_int_eq(compress(z, &zlen, raw, 2), Z_OK);
    at = put_chunk(buf, at, "IDAT", z, (uint32_t)zlen);
    at = put_chunk(buf, at, "IEND", NULL, 0);
    char path[4096], capture[4200];
    path_in(path, sizeof path, "warn.png");
    test_write_file(path, buf, at, 0);
    snprintf(capture, sizeof capture, "%s.stderr", path);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    mcl_grey_image img = decode_file(path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_uint_eq(img.pixels[0], 200);
    mcl_grey_image_free(&img);
    struct stat sb;
    ck_assert_int_eq(stat(capture, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
}
END_TEST

START_TEST(test_bad_pgm_and_others) {
    static const struct {
        const char *name, *text;
        const char *phrase;
    } cases[] = {
        {"maxval0.pgm", "P2\n2 2\n0\n0 0 0 0\n", "maxval is 0"},
        {"maxval-big.pgm", "P5\n2 2\n65536\n", "maxval is 65536"},
        {"few-p5.pgm", "P5\n4 4\n255\n0123456789", "only 10 bytes follow"},
        {"few-p2.pgm", "P2\n3 3\n255\n1 2 3 4 5 6 7 8", "only 15 bytes follow"},
        {"few-p2b.pgm", "P2\n2 2\n255\n1 2 3\n\n\n\n\n\n", "holds only 3 samples"},
        {"over.pgm", "P2\n2 1\n15\n3 16\n", "sample 16 at pixel (1, 0) exceeds the maxval 15"},
        {"letter.pgm", "P2\n2 1\n15\n3 x\n", "expected the next sample"},
        {"huge.pgm", "P5\n100000 100000\n255\n", "PGM image is 100000x100000"},
        {"overflow.pgm", "P5\n99999999999999999999 1\n255\n", "PGM image is 4294967295x1"},
        {"zero.pgm", "P5\n0 7\n255\n", "PGM image is 0x7"},
        {"no-height.pgm", "P5\n12", "ends before the height"},
        {"no-space.pgm", "P5\n1 1\n255", "ends after it"},
        {"ppm.ppm", "P6\n1 1\n255\nabc", "P6 images are not supported"},
        {"text.txt", "hello, world\n", "not a PNG, PGM, JPEG, BMP or GIF image"},
        {"jpeg.jpg", "\xFF\xD8\xFF\xE0 JFIF", "invalid JPEG"},
        {"bmp.bmp", "BM\x10\x00\x00\x00", "invalid BMP"},
        {"gif.gif", "GIF89a\x01", "GIF image is 1x0"},
        {"huge.gif", "GIF89a\xff\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x44\x01\x00;", "GIF image is 65535x65535"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[4096];
        path_in(path, sizeof path, cases[c].name);
        test_write_file(path, cases[c].text, strlen(cases[c].text), 0);
        expect_load_error(path, MCL_ERR_FORMAT, cases[c].phrase);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("image");
    TCase *decode = tcase_create("decode");
    tcase_add_checked_fixture(decode, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(decode, test_png_every_format_decodes_the_same);
    tcase_add_test(decode, test_png_luma_and_alpha);
    tcase_add_test(decode, test_png_16_bit_scaling);
    tcase_add_test(decode, test_pgm_variants);
    tcase_add_test(decode, test_jpeg_bmp_gif);
    suite_add_tcase(s, decode);

    TCase *write = tcase_create("write");
    tcase_add_checked_fixture(write, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(write, test_write_png_round_trip);
    tcase_add_test(write, test_write_png_failures);
    suite_add_tcase(s, write);

    TCase *prepare = tcase_create("prepare");
    tcase_add_checked_fixture(prepare, test_tmp_setup, test_tmp_teardown);
    tcase_set_timeout(prepare, 120);
    tcase_add_test(prepare, test_synthetic_digit_round_trip);
    tcase_add_test(prepare, test_real_mnist_round_trip);
    tcase_add_test(prepare, test_big_rgb_photo);
    tcase_add_test(prepare, test_rgba_transparent_background);
    tcase_add_test(prepare, test_pgm_digit);
    tcase_add_test(prepare, test_other_output_sizes);
    tcase_add_test(prepare, test_blank_images_are_zero);
    tcase_add_test(prepare, test_predict_png_matches_idx);
    suite_add_tcase(s, prepare);

    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, test_tmp_setup, test_tmp_teardown);
    tcase_add_test(errors, test_missing_and_unreadable);
    tcase_add_test(errors, test_bad_png);
    tcase_add_test(errors, test_png_warnings_are_silent);
    tcase_add_test(errors, test_bad_pgm_and_others);
    suite_add_tcase(s, errors);
    return test_run_suite(s);
}
