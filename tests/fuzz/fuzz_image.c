/* libFuzzer target for image loading: the input is an image file (PNG or PGM, told apart by its
 * signature as the loader does), decoded and prepared from memory, which is what
 * mcl_image_load_mnist does after reading the file. Each decoded image is prepared for 28x28 and
 * for a second size taken from the input's length (1..64 x 1..64), so odd output shapes are
 * covered too. A success must give pixels in 0..1; a failure must be a format (or memory) error
 * with a one-line message that names the input. Each image is also resized as an image folder's
 * files are (mcl_image_resize_bilinear). The corpus is tests/fuzz/corpus/image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz-input"
#define OTHER_MAX 64u

static void check_failure(mcl_status st, const mcl_error *err) {
    if (st != MCL_ERR_FORMAT && st != MCL_ERR_HOST_MEMORY) abort();
    if (err->status != st || strchr(err->message, '\n') != NULL) abort();
    if (strncmp(err->message, NAME ": ", strlen(NAME ": ")) != 0) abort();
}

static void prepare(const mcl_grey_image *img, uint32_t rows, uint32_t cols, float *out) {
    mcl_error err = {0};
    mcl_status st =
        mcl_image_prepare_mnist(img->pixels, img->width, img->height, rows, cols, out, &err);
    if (st != MCL_OK) abort(); /* a decoded image within the limits always prepares */
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        if (!(out[i] >= 0.0f && out[i] <= 1.0f)) abort(); /* NaN fails too */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static float out[OTHER_MAX * OTHER_MAX];
    mcl_grey_image img;
    mcl_error err = {0};
    mcl_status st = mcl_image_decode(data, size, NAME, &img, &err);
    if (st != MCL_OK) {
        check_failure(st, &err);
        if (img.pixels != NULL) abort();
        return 0;
    }
    if (img.pixels == NULL || img.width == 0 || img.height == 0) abort();
    prepare(&img, 28, 28, out);
    prepare(&img, 1 + (uint32_t)(size % OTHER_MAX), 1 + (uint32_t)(size / OTHER_MAX % OTHER_MAX),
            out);
    /* An image folder's conversion: the plain resize, to 28x28 and to the second size. */
    static uint8_t resized[OTHER_MAX * OTHER_MAX];
    if (mcl_image_resize_bilinear(img.pixels, img.width, img.height, 28, 28, resized, &err) !=
            MCL_OK ||
        mcl_image_resize_bilinear(img.pixels, img.width, img.height,
                                  1 + (uint32_t)(size / 7 % OTHER_MAX),
                                  1 + (uint32_t)(size / 3 % OTHER_MAX), resized, &err) != MCL_OK)
        abort(); /* a decoded image within the limits always resizes */
    mcl_grey_image_free(&img);
    return 0;
}
