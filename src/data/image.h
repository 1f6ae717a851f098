/* Image files for prediction: PNG (through libpng) and PGM (P2/P5) decoding to 8-bit grey, and
 * the MNIST-style preparation of a grey image (polarity, levels, size normalisation, centring by
 * centre of mass). The public entry points are mcl_image_load_mnist and mcl_image_write_png in
 * mnistcl.h; what is here is shared with the tests and the fuzz target, which work on bytes in
 * memory rather than on files.
 *
 * Every failure is MCL_ERR_USAGE (a bad argument), MCL_ERR_IO (a file cannot be opened, read or
 * written), MCL_ERR_FORMAT (malformed, unsupported or over-limit content) or MCL_ERR_HOST_MEMORY,
 * with a one-line message that starts with the file's name. Image sizes are checked against the
 * limits below before anything is allocated from them. */
#ifndef MCL_DATA_IMAGE_H
#define MCL_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

#define MCL_IMAGE_MAX_SIDE 16384u                  /* width, height of a file read or written */
#define MCL_IMAGE_MAX_PIXELS (64u * 1024u * 1024u) /* width * height: 64 Mpixel */
#define MCL_IMAGE_MAX_FILE_BYTES (1ull << 30)      /* a file is read whole, so at most 1 GiB */
#define MCL_IMAGE_MAX_OUT_SIDE 4096u               /* rows, cols of a prepared image */

/* An 8-bit grey image: `pixels` is [height, width], 0 black .. 255 white, malloc'd and owned by
 * the struct (mcl_grey_image_free). */
typedef struct mcl_grey_image {
    uint32_t width, height;
    uint8_t *pixels;
} mcl_grey_image;

/* Decodes a PNG, PGM, JPEG, BMP or GIF (its first frame) held in memory, recognised by its
 * signature. Colour becomes luma
 * (0.299 R + 0.587 G + 0.114 B), alpha is composited over white, 16-bit and low-bit samples and
 * PGM maxvals are rescaled to 0..255 (rounded). `name` is used in messages. On failure *out is
 * zeroed and owns nothing. */
mcl_status mcl_image_decode(const uint8_t *data, size_t size, const char *name, mcl_grey_image *out,
                            mcl_error *err);

/* Frees the pixels and zeroes the struct; NULL-safe. */
void mcl_grey_image_free(mcl_grey_image *img);

/* The MNIST preparation of a grey image ([height, width], 0..255) into dst ([rows, cols] floats
 * in 0..1, white ink on black), as described at the top of image.c. An image without ink gives
 * all zeros (MCL_OK). Fails only on bad arguments or when out of memory. */
mcl_status mcl_image_prepare_mnist(const uint8_t *grey, uint32_t width, uint32_t height,
                                   uint32_t rows, uint32_t cols, float *dst, mcl_error *err);

/* Resizes a grey image ([height, width], 0..255) to dst ([rows, cols] bytes) the way Keras's
 * image_dataset_from_directory does by default: TensorFlow's bilinear resize
 * (tf.image.resize(method="bilinear"): half-pixel centres, no antialiasing, float arithmetic),
 * then rounded to the nearest of 0..255 (Keras keeps the float). An image already rows x cols is
 * copied unchanged. Fails only on bad arguments or when out of memory. */
mcl_status mcl_image_resize_bilinear(const uint8_t *grey, uint32_t width, uint32_t height,
                                     uint32_t rows, uint32_t cols, uint8_t *dst, mcl_error *err);

/* mcl_image_decode followed by mcl_image_resize_bilinear: how an image folder's files become
 * samples (mcl_image_load_resized without the file). */
mcl_status mcl_image_load_resized_memory(const uint8_t *data, size_t size, const char *name,
                                         uint32_t rows, uint32_t cols, uint8_t *dst,
                                         mcl_error *err);

/* mcl_image_decode followed by mcl_image_prepare_mnist: mcl_image_load_mnist without the file. */
mcl_status mcl_image_load_mnist_memory(const uint8_t *data, size_t size, const char *name,
                                       uint32_t rows, uint32_t cols, float *dst, mcl_error *err);

#endif
