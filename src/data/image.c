/* Image files for prediction: decoding PNG (libpng), PGM, and JPEG, BMP and GIF (stb_image) to
 * 8-bit grey, the MNIST preparation,
 * and the 8-bit grey PNG writer.
 *
 * The MNIST preparation follows how LeCun et al. built MNIST from NIST: the digit's bounding box
 * is size-normalised to 20x20 preserving its aspect ratio, with anti-aliasing, then placed in
 * 28x28 so that its centre of mass is at the centre. On a grey image W x H (0..255):
 *
 * 1. Polarity. The border (first and last row and column) is taken to be background. If the
 *    median of the border pixels is > 127 the image is dark ink on light paper and is inverted,
 *    so ink is white on black as in MNIST. The median, unlike the mean, ignores a stroke that
 *    touches the border.
 * 2. Levels. The background level (that median, after inversion) becomes 0 and the brightest
 *    pixel 255, linearly, clamped to 0..255, so a photo of grey paper has a black background and
 *    faint pencil full-strength ink. An image of real MNIST (background 0, maximum 254 or 255) is
 *    left as it is, to within 1/255.
 * 3. Ink. A pixel is ink when its levelled value is above INK_THRESHOLD (10% of full scale). If
 *    the brightest pixel is not more than INK_THRESHOLD above the background, the image has no
 *    ink (blank paper, a uniform fill, sensor noise) and the result is all zeros. On MNIST test
 *    images this threshold gives a 20-pixel longer side for 9996 of 10000 digits.
 * 4. Size. The ink's bounding box is scaled so that its longer side is BOX (20 for 28x28;
 *    round(20/28 * min(rows, cols)) in general) and the shorter side keeps the aspect ratio
 *    (rounded, at least 1 pixel): area averaging where it shrinks, bilinear where it enlarges,
 *    pixels outside the image reading as background. When shrinking (or keeping the size) the
 *    box is resampled with a margin of one output pixel all round, so the faint anti-aliased
 *    edge outside the threshold is kept; an enlarged box has no margin, as bilinear samples
 *    beyond it would smear its edge outward and make it larger than BOX.
 * 5. Centre. The scaled patch is placed so that its centre of mass (intensity-weighted, pixel
 *    index coordinates) lands on (cols/2, rows/2), shifting by whole pixels: rounded, ties to
 *    the top-left, which is where real MNIST puts it (its centres of mass lie in
 *    [13.5, 14.5)). Whatever falls outside rows x cols is clipped.
 * 6. Output: levelled value / 255 as floats in 0..1.
 */
#define _POSIX_C_SOURCE 200809L
#include "data/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stb_image.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/byte_buf.h"
#include "core/error.h"
#include "core/read_file.h"

/* Preparation constants (see the top of the file). Values are on the 0..255 scale. */
#define POLARITY_SPLIT 127  /* a border median above this means dark ink on light paper */
#define INK_THRESHOLD 25.5f /* 10% of full scale, after levels */
#define BOX_FRACTION (20.0 / 28.0)
#define PATCH_MARGIN 1u /* output pixels resampled around the ink box on each side */

#define PNG_SIGNATURE_BYTES 8

/* ---------------------------------------------------------------- small helpers */

/* Width and height within the limits of image.h; `kind` is "PNG" or "PGM". */
static mcl_status check_image_size(const char *name, const char *kind, uint64_t width,
                                   uint64_t height, mcl_error *err) {
    if (width >= 1 && height >= 1 && width <= MCL_IMAGE_MAX_SIDE && height <= MCL_IMAGE_MAX_SIDE &&
        width * height <= MCL_IMAGE_MAX_PIXELS)
        return MCL_OK;
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: %s image is %llux%llu; width and height must each be 1..%u and the "
                    "image at most %u pixels (64 Mpixel)",
                    name, kind, (unsigned long long)width, (unsigned long long)height,
                    MCL_IMAGE_MAX_SIDE, MCL_IMAGE_MAX_PIXELS);
}

void mcl_grey_image_free(mcl_grey_image *img) {
    if (img == NULL) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---------------------------------------------------------------- PGM (P2 ASCII, P5 binary) */

typedef struct pgm_reader {
    const char *name;
    const uint8_t *data;
    size_t size, pos;
} pgm_reader;

/* Netpbm's whitespace: blank, tab, CR, LF, vertical tab, form feed. */
static bool pgm_is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skips whitespace and comments ('#' to the end of the line). */
static void pgm_skip_space(pgm_reader *r) {
    while (r->pos < r->size) {
        uint8_t c = r->data[r->pos];
        if (pgm_is_space(c)) {
            r->pos++;
        } else if (c == '#') {
            while (r->pos < r->size && r->data[r->pos] != '\n' && r->data[r->pos] != '\r')
                r->pos++;
        } else {
            break;
        }
    }
}

/* Reads a decimal number after optional whitespace and comments. Values beyond UINT32_MAX
 * saturate there (every limit is far below). `what` names it in the message. */
static mcl_status pgm_read_uint(pgm_reader *r, const char *what, uint32_t *value, mcl_error *err) {
    pgm_skip_space(r);
    if (r->pos >= r->size)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: truncated PGM: the file ends before the %s",
                        r->name, what);
    uint8_t c = r->data[r->pos];
    if (c < '0' || c > '9')
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: malformed PGM: expected the %s (a decimal number) at byte %zu but "
                        "found 0x%02X",
                        r->name, what, r->pos, c);
    uint64_t v = 0;
    while (r->pos < r->size && r->data[r->pos] >= '0' && r->data[r->pos] <= '9') {
        v = v * 10 + (uint64_t)(r->data[r->pos] - '0');
        if (v > UINT32_MAX) v = UINT32_MAX; /* saturate; keeps v*10 from overflowing */
        r->pos++;
    }
    *value = (uint32_t)v;
    return MCL_OK;
}

static uint8_t pgm_scale(uint32_t sample, uint32_t maxval) {
    return (uint8_t)((sample * 255u + maxval / 2) / maxval);
}

/* Trailing bytes after the raster are ignored: Netpbm allows several images in one file, and
 * the first one is the image. */
static mcl_status pgm_decode(const uint8_t *data, size_t size, const char *name,
                             mcl_grey_image *out, mcl_error *err) {
    pgm_reader r = {.name = name, .data = data, .size = size, .pos = 2};
    const bool binary = data[1] == '5';
    uint32_t width = 0, height = 0, maxval = 0;
    mcl_status st = pgm_read_uint(&r, "width", &width, err);
    if (st == MCL_OK) st = pgm_read_uint(&r, "height", &height, err);
    if (st == MCL_OK) st = pgm_read_uint(&r, "maxval", &maxval, err);
    if (st != MCL_OK) return st;
    st = check_image_size(name, "PGM", width, height, err);
    if (st != MCL_OK) return st;
    if (maxval < 1 || maxval > 65535)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: PGM maxval is %u; it must be 1..65535", name,
                        maxval);
    /* Exactly one whitespace byte ends the header (for P2 it is just a separator). */
    if (r.pos >= size)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated PGM: header says %ux%u but the file ends after it", name,
                        width, height);
    if (!pgm_is_space(data[r.pos]))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: malformed PGM: expected whitespace after the maxval at byte %zu but "
                        "found 0x%02X",
                        name, r.pos, data[r.pos]);
    r.pos++;

    const uint64_t count = (uint64_t)width * height;
    const size_t left = size - r.pos;
    /* Is there room for the raster? Checked before allocating. P5: 1 or 2 bytes per sample.
     * P2: at least one digit per sample and a separator between samples. */
    if (binary) {
        const uint64_t need = count * (maxval > 255 ? 2u : 1u);
        if (left < need)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: truncated PGM: header says %ux%u (%llu pixels, %llu bytes) but "
                            "only %zu bytes follow the header",
                            name, width, height, (unsigned long long)count,
                            (unsigned long long)need, left);
    } else if (left < 2 * count - 1) {
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated PGM: header says %ux%u (%llu pixels) but only %zu bytes "
                        "follow the header, too few for that many ASCII samples",
                        name, width, height, (unsigned long long)count, left);
    }

    uint8_t *pixels = mcl_malloc((size_t)count);
    if (pixels == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "%s: cannot allocate %llu bytes for a %ux%u image", name,
                        (unsigned long long)count, width, height);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t sample = 0;
        if (binary) {
            if (maxval > 255) {
                sample = (uint32_t)data[r.pos] << 8 | data[r.pos + 1];
                r.pos += 2;
            } else {
                sample = data[r.pos++];
            }
        } else {
            pgm_skip_space(&r);
            if (r.pos >= size) {
                free(pixels);
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "%s: truncated PGM: header says %ux%u (%llu pixels) but the file "
                                "holds only %llu samples",
                                name, width, height, (unsigned long long)count,
                                (unsigned long long)i);
            }
            st = pgm_read_uint(&r, "next sample", &sample, err);
            if (st != MCL_OK) {
                free(pixels);
                return st;
            }
        }
        if (sample > maxval) {
            free(pixels);
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: PGM sample %u at pixel (%llu, %llu) exceeds the maxval %u", name,
                            sample, (unsigned long long)(i % width),
                            (unsigned long long)(i / width), maxval);
        }
        pixels[i] = pgm_scale(sample, maxval);
    }
    out->width = width;
    out->height = height;
    out->pixels = pixels;
    return MCL_OK;
}

/* ---------------------------------------------------------------- PNG (libpng) */

/* Everything the libpng callbacks and the cleanup need. It lives in the caller of the function
 * that calls setjmp, so nothing that longjmp skips over is an automatic variable of that
 * function: no `volatile` is needed and every resource is reachable for the cleanup. */
typedef struct png_job {
    const char *name;
    const uint8_t *data;
    size_t size, pos;
    bool truncated;    /* the read callback ran out of bytes */
    char message[256]; /* libpng's error text */
    png_structp png;
    png_infop info;
    uint8_t *decoded; /* transformed rows: one row, or every row of an interlaced image */
    uint8_t *grey;    /* [height, width], handed to the caller on success */
} png_job;

/* libpng's error callback: keep the message (one line) and unwind to png_decode_run. It must
 * not return. */
static void png_on_error(png_structp png, png_const_charp message) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", message ? message : "unknown error");
    for (char *c = job->message; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
    png_longjmp(png, 1);
}

/* Warnings (a bad CRC in an ancillary chunk, an unknown profile, ...) do not stop decoding and
 * must not reach stderr. */
static void png_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void png_on_read(png_structp png, png_bytep dst, size_t length) {
    png_job *job = png_get_io_ptr(png);
    if (length > job->size - job->pos) {
        job->truncated = true;
        png_error(png, "unexpected end of file");
    }
    memcpy(dst, job->data + job->pos, length);
    job->pos += length;
}

/* One decoded row (8-bit, 1..4 channels: G, GA, RGB, RGBA) to grey: luma in thousandths,
 * alpha composited over white, rounded. */
static void png_row_to_grey(const uint8_t *src, unsigned channels, uint32_t width, uint8_t *dst) {
    for (uint32_t x = 0; x < width; x++, src += channels) {
        uint32_t luma1000 = 0, alpha = 255;
        switch (channels) {
        case 1:
            luma1000 = 1000u * src[0];
            break;
        case 2:
            luma1000 = 1000u * src[0], alpha = src[1];
            break;
        case 3:
            luma1000 = 299u * src[0] + 587u * src[1] + 114u * src[2];
            break;
        default:
            luma1000 = 299u * src[0] + 587u * src[1] + 114u * src[2];
            alpha = src[3];
            break;
        }
        /* (luma * a + 255 * (255 - a)) / 255 on the 0..255 scale; at most 65 025 000. */
        uint32_t scaled = luma1000 * alpha + 255000u * (255u - alpha);
        dst[x] = (uint8_t)((scaled + 127500u) / 255000u);
    }
}

/* The setjmp frame: a libpng error anywhere below lands back here with job->message set. */
static mcl_status png_decode_run(png_job *job, mcl_grey_image *out, mcl_error *err) {
    if (setjmp(png_jmpbuf(job->png))) {
        if (job->truncated)
            return mcl_fail(err, MCL_ERR_FORMAT, "%s: truncated PNG: the file ends after %zu bytes",
                            job->name, job->size);
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: invalid PNG: %s", job->name, job->message);
    }
    png_structp png = job->png;
    png_infop info = job->info;
    png_set_read_fn(png, job, png_on_read);
    /* Text, profiles and metadata are never used: skip them rather than decompress them. */
    static const png_byte unused_chunks[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf\0tIME\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused_chunks,
                                (int)(sizeof unused_chunks / 5));
    png_read_info(png, info);

    const uint32_t width = png_get_image_width(png, info);
    const uint32_t height = png_get_image_height(png, info);
    mcl_status st = check_image_size(job->name, "PNG", width, height, err);
    if (st != MCL_OK) return st;

    /* To 8-bit G, GA, RGB or RGBA: palettes to RGB, low-bit grey to 8 bits, tRNS to alpha,
     * 16 bits to 8 (rounded). No gamma correction: MNIST knows nothing of gamma. */
    png_set_expand(png);
    if (png_get_bit_depth(png, info) == 16) {
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
        png_set_scale_16(png);
#else
        png_set_strip_16(png);
#endif
    }
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const unsigned channels = png_get_channels(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 ||
        rowbytes < (size_t)width * channels)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: unsupported PNG layout after expansion (%u channels of %d bits)",
                        job->name, channels, (int)png_get_bit_depth(png, info));

    const size_t pixels = (size_t)width * height;
    /* An interlaced image arrives in passes that each touch every row, so it needs all rows
     * (at most 4 bytes x 64 Mpixel); calloc because libpng merges into what is there. */
    const size_t decoded_rows = passes > 1 ? height : 1;
    job->grey = mcl_malloc(pixels);
    job->decoded = mcl_calloc(decoded_rows, rowbytes);
    if (job->grey == NULL || job->decoded == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate %zu bytes for a %ux%u image",
                        job->name, pixels + decoded_rows * rowbytes, width, height);
    if (passes > 1) {
        for (int pass = 0; pass < passes; pass++)
            for (uint32_t y = 0; y < height; y++)
                png_read_row(png, job->decoded + (size_t)y * rowbytes, NULL);
        for (uint32_t y = 0; y < height; y++)
            png_row_to_grey(job->decoded + (size_t)y * rowbytes, channels, width,
                            job->grey + (size_t)y * width);
    } else {
        for (uint32_t y = 0; y < height; y++) {
            png_read_row(png, job->decoded, NULL);
            png_row_to_grey(job->decoded, channels, width, job->grey + (size_t)y * width);
        }
    }
    /* Reads to IEND, so a file cut after its image data is still reported as truncated. */
    png_read_end(png, NULL);
    out->width = width;
    out->height = height;
    return MCL_OK;
}

static mcl_status png_decode(const uint8_t *data, size_t size, const char *name,
                             mcl_grey_image *out, mcl_error *err) {
    png_job job = {.name = name, .data = data, .size = size};
    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
    if (job.png == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate the libpng reader", name);
    job.info = png_create_info_struct(job.png);
    mcl_status st = job.info != NULL ? png_decode_run(&job, out, err)
                                     : mcl_fail(err, MCL_ERR_HOST_MEMORY,
                                                "%s: cannot allocate the libpng reader", name);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    free(job.decoded);
    if (st != MCL_OK) {
        free(job.grey);
        memset(out, 0, sizeof *out);
        return st;
    }
    out->pixels = job.grey;
    return MCL_OK;
}

/* ---------------------------------------------------------------- format detection */

/* ---------------------------------------------------------------- JPEG, BMP, GIF (stb_image) */

/* The format stb_image is asked to read, by signature; NULL for anything else (stb_image also
 * reads formats we do not want it to guess at, such as TGA, which has no signature). */
static const char *stb_kind(const uint8_t *data, size_t size) {
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return "JPEG";
    if (size >= 2 && data[0] == 'B' && data[1] == 'M') return "BMP";
    if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
        return "GIF";
    return NULL;
}

/* Decodes with stb_image (Debian's libstb): the size is checked from the header before any
 * pixel is decoded; grey + alpha is composited over white, as PNG's alpha is. A GIF gives its
 * first frame. */
static mcl_status stb_decode(const uint8_t *data, size_t size, const char *name, const char *kind,
                             mcl_grey_image *out, mcl_error *err) {
    if (size > INT_MAX)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: %s file is larger than 2 GiB", name, kind);
    int w = 0, h = 0, channels = 0;
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &channels))
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: invalid %s: %s", name, kind,
                        stbi_failure_reason());
    mcl_status st = check_image_size(name, kind, (uint64_t)(w > 0 ? w : 0),
                                     (uint64_t)(h > 0 ? h : 0), err);
    if (st != MCL_OK) return st;
    unsigned char *ga = stbi_load_from_memory(data, (int)size, &w, &h, &channels, 2);
    if (ga == NULL)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: invalid %s: %s", name, kind,
                        stbi_failure_reason());
    size_t n = (size_t)w * (size_t)h;
    uint8_t *grey = mcl_malloc(n);
    if (grey == NULL) {
        stbi_image_free(ga);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of memory for %dx%d pixels", name, w, h);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned g = ga[2 * i], a = ga[2 * i + 1];
        grey[i] = (uint8_t)((g * a + 255u * (255u - a) + 127u) / 255u);
    }
    stbi_image_free(ga);
    *out = (mcl_grey_image){.width = (uint32_t)w, .height = (uint32_t)h, .pixels = grey};
    return MCL_OK;
}

mcl_status mcl_image_decode(const uint8_t *data, size_t size, const char *name, mcl_grey_image *out,
                            mcl_error *err) {
    if (name == NULL) name = "(image)";
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (data == NULL && size > 0)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_decode: data is NULL");
    if (size == 0)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: empty file (0 bytes); expected a PNG or PGM image", name);
    const size_t sig = size < PNG_SIGNATURE_BYTES ? size : PNG_SIGNATURE_BYTES;
    if (png_sig_cmp(data, 0, sig) == 0) {
        if (size < PNG_SIGNATURE_BYTES)
            return mcl_fail(err, MCL_ERR_FORMAT, "%s: truncated PNG: the file ends after %zu bytes",
                            name, size);
        return png_decode(data, size, name, out, err);
    }
    if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '7') {
        if (data[1] != '2' && data[1] != '5')
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: Netpbm P%c images are not supported; only PGM (P2 and P5) is",
                            name, data[1]);
        /* The magic number is followed by whitespace (or a comment) in every Netpbm file. */
        if (size > 2 && (pgm_is_space(data[2]) || data[2] == '#'))
            return pgm_decode(data, size, name, out, err);
        if (size == 2)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: truncated PGM: the file ends before the width", name);
    }
    const char *kind = stb_kind(data, size);
    if (kind != NULL) return stb_decode(data, size, name, kind, out, err);
    char head[32] = "";
    for (size_t i = 0; i < size && i < 4; i++)
        snprintf(head + strlen(head), sizeof head - strlen(head), " %02X", data[i]);
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: not a PNG, PGM, JPEG, BMP or GIF image (it starts with bytes%s)", name,
                    head);
}

/* ---------------------------------------------------------------- MNIST preparation */

/* One axis of a separable resampling: output index j (0..out_len-1, the first and last being
 * the margin, if any) takes count[j] source indices from first[j] with weights weight[offset[j]..].
 */
typedef struct axis_taps {
    uint32_t out_len;
    uint32_t *first, *count, *offset;
    float *weight;
} axis_taps;

static void axis_taps_free(axis_taps *t) {
    free(t->first);
    free(t->count);
    free(t->offset);
    free(t->weight);
    memset(t, 0, sizeof *t);
}

/* Maps the ink box [box_first, box_first + box_len) of a source axis of src_len pixels onto
 * out_box output pixels, plus PATCH_MARGIN on each side when shrinking (or keeping) the size.
 * Source pixel i spans [i, i+1); pixels outside the source are background and get no tap. Returns
 * false when out of memory. */
static bool axis_taps_build(uint32_t src_len, uint32_t box_first, uint32_t box_len,
                            uint32_t out_box, axis_taps *t) {
    memset(t, 0, sizeof *t);
    const double scale = (double)out_box / box_len; /* output pixels per source pixel */
    const bool shrink = scale <= 1.0;
    /* Area averaging covers 1/scale source pixels, touching at most ceil(1/scale) + 1. */
    const size_t max_taps = shrink ? (size_t)ceil(1.0 / scale) + 1 : 2;
    /* The margin only where shrinking: there it averages pixels beyond the box, all below the
     * ink threshold, so it cannot widen the ink box. Bilinear samples beyond the box would
     * blend in the box's own edge pixels and widen it. */
    const uint32_t margin = shrink ? PATCH_MARGIN : 0;
    t->out_len = out_box + 2 * margin;
    t->first = mcl_calloc(t->out_len, sizeof *t->first);
    t->count = mcl_calloc(t->out_len, sizeof *t->count);
    t->offset = mcl_calloc(t->out_len, sizeof *t->offset);
    t->weight = mcl_calloc(t->out_len * max_taps, sizeof *t->weight);
    if (!t->first || !t->count || !t->offset || !t->weight) {
        axis_taps_free(t);
        return false;
    }
    uint32_t used = 0;
    for (uint32_t j = 0; j < t->out_len; j++) {
        const double k = (double)j - margin; /* output index relative to the box */
        t->offset[j] = used;
        if (shrink) {
            const double a = box_first + k / scale, b = box_first + (k + 1) / scale;
            const int64_t lo = (int64_t)fmax(floor(a), 0.0);
            const int64_t hi = (int64_t)fmin(ceil(b), (double)src_len);
            for (int64_t i = lo; i < hi; i++) {
                const double w = (fmin(b, (double)i + 1) - fmax(a, (double)i)) * scale;
                if (w <= 0) continue;
                if (t->count[j] == 0) t->first[j] = (uint32_t)i;
                t->weight[used++] = (float)w;
                t->count[j]++;
            }
        } else {
            /* Bilinear between pixel centres: output centre k + 0.5 sits at source
             * box_first + (k + 0.5) / scale, whose pixel-centre coordinate is that - 0.5. */
            const double u = box_first + (k + 0.5) / scale - 0.5;
            const double i0 = floor(u), frac = u - i0;
            for (int tap = 0; tap < 2; tap++) {
                const double i = i0 + tap, w = tap == 0 ? 1.0 - frac : frac;
                if (i < 0 || i >= src_len || w <= 0) continue;
                if (t->count[j] == 0) t->first[j] = (uint32_t)i;
                t->weight[used++] = (float)w;
                t->count[j]++;
            }
        }
    }
    return true;
}

/* Border median of a grey image: the lower median of the first and last rows and columns. */
static uint32_t border_median(const uint8_t *grey, uint32_t width, uint32_t height) {
    uint64_t hist[256] = {0};
    uint64_t n = 0;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = grey + (size_t)y * width;
        if (y == 0 || y == height - 1) {
            for (uint32_t x = 0; x < width; x++)
                hist[row[x]]++;
            n += width;
        } else {
            hist[row[0]]++;
            n++;
            if (width > 1) {
                hist[row[width - 1]]++;
                n++;
            }
        }
    }
    uint64_t seen = 0;
    for (uint32_t v = 0; v < 256; v++) {
        seen += hist[v];
        if (2 * seen >= n) return v;
    }
    return 255;
}

mcl_status mcl_image_prepare_mnist(const uint8_t *grey, uint32_t width, uint32_t height,
                                   uint32_t rows, uint32_t cols, float *dst, mcl_error *err) {
    if (grey == NULL || dst == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_prepare_mnist: grey or dst is NULL");
    if (width < 1 || height < 1 || width > MCL_IMAGE_MAX_SIDE || height > MCL_IMAGE_MAX_SIDE ||
        (uint64_t)width * height > MCL_IMAGE_MAX_PIXELS)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_prepare_mnist: bad image size %ux%u", width,
                        height);
    if (rows < 1 || cols < 1 || rows > MCL_IMAGE_MAX_OUT_SIDE || cols > MCL_IMAGE_MAX_OUT_SIDE)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "image size %ux%u requested; rows and cols must each be 1..%u", rows, cols,
                        MCL_IMAGE_MAX_OUT_SIDE);
    memset(dst, 0, (size_t)rows * cols * sizeof *dst);

    /* 1-2: polarity and levels, as one table from grey value to levelled value. */
    const uint32_t median = border_median(grey, width, height);
    const bool invert = median > POLARITY_SPLIT;
    uint8_t lo = 255, hi = 0;
    const size_t npix = (size_t)width * height;
    for (size_t i = 0; i < npix; i++) {
        if (grey[i] < lo) lo = grey[i];
        if (grey[i] > hi) hi = grey[i];
    }
    const float background = (float)(invert ? 255 - median : median);
    const float brightest = (float)(invert ? 255 - lo : hi);
    if (brightest - background <= INK_THRESHOLD) return MCL_OK; /* no ink */
    const float gain = 255.0f / (brightest - background);
    float level[256];
    for (uint32_t v = 0; v < 256; v++) {
        const float u = (float)(invert ? 255 - v : v);
        level[v] = fminf(fmaxf((u - background) * gain, 0.0f), 255.0f);
    }

    /* 3: the ink's bounding box. */
    uint32_t x0 = width, x1 = 0, y0 = height, y1 = 0;
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = grey + (size_t)y * width;
        for (uint32_t x = 0; x < width; x++) {
            if (level[row[x]] <= INK_THRESHOLD) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
    }
    if (x0 > x1) return MCL_OK; /* unreachable: the brightest pixel is ink */
    const uint32_t box_w = x1 - x0 + 1, box_h = y1 - y0 + 1;

    /* 4: scale the longer side to `box`, the shorter in proportion. */
    const uint32_t min_side = rows < cols ? rows : cols;
    const uint32_t box = (uint32_t)fmax(1.0, round(BOX_FRACTION * min_side));
    const double factor = (double)box / (box_w > box_h ? box_w : box_h);
    const uint32_t out_w = (uint32_t)fmax(1.0, round(box_w * factor));
    const uint32_t out_h = (uint32_t)fmax(1.0, round(box_h * factor));
    axis_taps tx, ty;
    if (!axis_taps_build(width, x0, box_w, out_w, &tx))
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "cannot allocate resampling tables");
    if (!axis_taps_build(height, y0, box_h, out_h, &ty)) {
        axis_taps_free(&tx);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "cannot allocate resampling tables");
    }
    /* The source rows the vertical taps read: [row_lo, row_hi]. The box's own rows always have
     * taps, so the range is not empty. */
    uint32_t row_lo = height, row_hi = 0;
    for (uint32_t j = 0; j < ty.out_len; j++) {
        if (ty.count[j] == 0) continue;
        if (ty.first[j] < row_lo) row_lo = ty.first[j];
        if (ty.first[j] + ty.count[j] - 1 > row_hi) row_hi = ty.first[j] + ty.count[j] - 1;
    }
    const uint32_t pw = tx.out_len, ph = ty.out_len;
    float *across = mcl_calloc((size_t)(row_hi - row_lo + 1) * pw, sizeof *across); /* [rows, pw] */
    float *patch = mcl_calloc((size_t)ph * pw, sizeof *patch);                      /* [ph, pw] */
    if (across == NULL || patch == NULL || row_lo > row_hi) {
        free(across);
        free(patch);
        axis_taps_free(&tx);
        axis_taps_free(&ty);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "cannot allocate the resampling buffers");
    }
    for (uint32_t y = row_lo; y <= row_hi; y++) {
        const uint8_t *row = grey + (size_t)y * width;
        float *out = across + (size_t)(y - row_lo) * pw;
        for (uint32_t j = 0; j < pw; j++) {
            const float *w = tx.weight + tx.offset[j];
            float sum = 0.0f;
            for (uint32_t k = 0; k < tx.count[j]; k++)
                sum += w[k] * level[row[tx.first[j] + k]];
            out[j] = sum;
        }
    }
    double mass = 0, mass_x = 0, mass_y = 0;
    for (uint32_t i = 0; i < ph; i++) {
        const float *w = ty.weight + ty.offset[i];
        for (uint32_t j = 0; j < pw; j++) {
            float sum = 0.0f;
            for (uint32_t k = 0; k < ty.count[i]; k++)
                sum += w[k] * across[(size_t)(ty.first[i] + k - row_lo) * pw + j];
            patch[(size_t)i * pw + j] = sum;
            mass += sum;
            mass_x += (double)sum * j;
            mass_y += (double)sum * i;
        }
    }
    free(across);
    axis_taps_free(&tx);
    axis_taps_free(&ty);

    /* 5-6: centre of mass to (cols/2, rows/2) by a whole-pixel shift, ties to the top-left. */
    if (mass > 0) {
        const double shift_x = ceil(cols / 2.0 - mass_x / mass - 0.5);
        const double shift_y = ceil(rows / 2.0 - mass_y / mass - 0.5);
        for (uint32_t i = 0; i < ph; i++) {
            const double y = shift_y + i;
            if (y < 0 || y >= rows) continue;
            for (uint32_t j = 0; j < pw; j++) {
                const double x = shift_x + j;
                if (x < 0 || x >= cols) continue;
                const float v = patch[(size_t)i * pw + j] / 255.0f;
                dst[(size_t)y * cols + (size_t)x] = fminf(fmaxf(v, 0.0f), 1.0f);
            }
        }
    }
    free(patch);
    return MCL_OK;
}

/* ---------------------------------------------------------------- resizing (image folders) */

/* One output index's taps on a source axis, as TensorFlow's compute_interpolation_weights with
 * HalfPixelScaler: source coordinate (i + 0.5) * scale - 0.5, clamped taps, fractional weight. */
typedef struct resize_tap {
    uint32_t lower, upper;
    float lerp;
} resize_tap;

static void resize_taps(uint32_t in_size, uint32_t out_size, resize_tap *taps) {
    const float scale = (float)in_size / (float)out_size;
    for (uint32_t i = 0; i < out_size; i++) {
        const float in = ((float)i + 0.5f) * scale - 0.5f;
        const float in_f = floorf(in);
        const int64_t lower = (int64_t)in_f, upper = (int64_t)ceilf(in);
        taps[i].lower = lower < 0 ? 0 : (uint32_t)lower;
        taps[i].upper = upper > (int64_t)in_size - 1 ? in_size - 1 : (uint32_t)upper;
        taps[i].lerp = in - in_f;
    }
}

mcl_status mcl_image_resize_bilinear(const uint8_t *grey, uint32_t width, uint32_t height,
                                     uint32_t rows, uint32_t cols, uint8_t *dst, mcl_error *err) {
    if (grey == NULL || dst == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_resize_bilinear: grey or dst is NULL");
    if (width < 1 || height < 1 || width > MCL_IMAGE_MAX_SIDE || height > MCL_IMAGE_MAX_SIDE ||
        (uint64_t)width * height > MCL_IMAGE_MAX_PIXELS)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_resize_bilinear: bad image size %ux%u",
                        width, height);
    if (rows < 1 || cols < 1 || rows > MCL_IMAGE_MAX_OUT_SIDE || cols > MCL_IMAGE_MAX_OUT_SIDE)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "image size %ux%u requested; rows and cols must each be 1..%u", rows, cols,
                        MCL_IMAGE_MAX_OUT_SIDE);
    resize_tap *tx = mcl_malloc(cols * sizeof *tx), *ty = mcl_malloc(rows * sizeof *ty);
    if (tx == NULL || ty == NULL) {
        free(tx);
        free(ty);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "cannot allocate resampling tables");
    }
    resize_taps(width, cols, tx);
    resize_taps(height, rows, ty);
    for (uint32_t y = 0; y < rows; y++) {
        const uint8_t *top = grey + (size_t)ty[y].lower * width;
        const uint8_t *bottom = grey + (size_t)ty[y].upper * width;
        const float yl = ty[y].lerp;
        for (uint32_t x = 0; x < cols; x++) {
            const float xl = tx[x].lerp;
            const float tl = top[tx[x].lower], tr = top[tx[x].upper];
            const float bl = bottom[tx[x].lower], br = bottom[tx[x].upper];
            /* TensorFlow's compute_lerp, in its order of operations. */
            const float t = tl + (tr - tl) * xl;
            const float b = bl + (br - bl) * xl;
            const float v = t + (b - t) * yl;
            dst[(size_t)y * cols + x] = (uint8_t)fminf(fmaxf(floorf(v + 0.5f), 0.0f), 255.0f);
        }
    }
    free(tx);
    free(ty);
    return MCL_OK;
}

/* ---------------------------------------------------------------- loading */

static mcl_status check_out_args(uint32_t rows, uint32_t cols, const float *dst, mcl_error *err) {
    if (dst == NULL) return mcl_fail(err, MCL_ERR_USAGE, "image loading: dst is NULL");
    if (rows < 1 || cols < 1 || rows > MCL_IMAGE_MAX_OUT_SIDE || cols > MCL_IMAGE_MAX_OUT_SIDE)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "image size %ux%u requested; rows and cols must each be 1..%u", rows, cols,
                        MCL_IMAGE_MAX_OUT_SIDE);
    return MCL_OK;
}

mcl_status mcl_image_load_mnist_memory(const uint8_t *data, size_t size, const char *name,
                                       uint32_t rows, uint32_t cols, float *dst, mcl_error *err) {
    mcl_status st = check_out_args(rows, cols, dst, err);
    if (st != MCL_OK) return st;
    mcl_grey_image img;
    st = mcl_image_decode(data, size, name, &img, err);
    if (st != MCL_OK) return st;
    st = mcl_image_prepare_mnist(img.pixels, img.width, img.height, rows, cols, dst, err);
    mcl_grey_image_free(&img);
    return st;
}

mcl_status mcl_image_load_resized_memory(const uint8_t *data, size_t size, const char *name,
                                         uint32_t rows, uint32_t cols, uint8_t *dst,
                                         mcl_error *err) {
    if (dst == NULL) return mcl_fail(err, MCL_ERR_USAGE, "image loading: dst is NULL");
    mcl_grey_image img;
    mcl_status st = mcl_image_decode(data, size, name, &img, err);
    if (st != MCL_OK) return st;
    st = mcl_image_resize_bilinear(img.pixels, img.width, img.height, rows, cols, dst, err);
    mcl_grey_image_free(&img);
    return st;
}

mcl_status mcl_image_load_resized(const char *path, uint32_t rows, uint32_t cols, float *dst,
                                  mcl_error *err) {
    if (path == NULL) return mcl_fail(err, MCL_ERR_USAGE, "image path is NULL");
    mcl_status st = check_out_args(rows, cols, dst, err);
    if (st != MCL_OK) return st;
    uint8_t *data = NULL, *grey = mcl_malloc((size_t)rows * cols);
    size_t size = 0;
    if (grey == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", path);
    st = mcl_read_file(path, "an image", MCL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st == MCL_OK) st = mcl_image_load_resized_memory(data, size, path, rows, cols, grey, err);
    /* The same scaling as training's: the uint8 sample / 255. */
    for (size_t i = 0; st == MCL_OK && i < (size_t)rows * cols; i++)
        dst[i] = (float)grey[i] * (1.0f / 255.0f);
    free(data);
    free(grey);
    return st;
}

mcl_status mcl_image_load_mnist(const char *path, uint32_t rows, uint32_t cols, float *dst,
                                mcl_error *err) {
    if (path == NULL) return mcl_fail(err, MCL_ERR_USAGE, "image path is NULL");
    mcl_status st = check_out_args(rows, cols, dst, err);
    if (st != MCL_OK) return st;
    uint8_t *data = NULL;
    size_t size = 0;
    st = mcl_read_file(path, "an image", MCL_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != MCL_OK) return st;
    st = mcl_image_load_mnist_memory(data, size, path, rows, cols, dst, err);
    free(data);
    return st;
}

/* ---------------------------------------------------------------- PNG writing */

typedef struct png_write_job {
    const char *path;
    mcl_byte_buf out;  /* the encoded PNG, written to path atomically at the end */
    char message[256]; /* libpng's error text */
    png_structp png;
    png_infop info;
} png_write_job;

static void png_on_write(png_structp png, png_bytep src, size_t length) {
    png_write_job *job = png_get_io_ptr(png);
    mcl_buf_put(&job->out, src, length);
    if (job->out.failed) png_error(png, "out of host memory");
}

static void png_on_write_error(png_structp png, png_const_charp message) {
    png_write_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", message ? message : "unknown error");
    for (char *c = job->message; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
    png_longjmp(png, 1);
}

static void png_on_flush(png_structp png) {
    (void)png; /* the bytes stay in memory until the atomic write */
}

static mcl_status png_write_run(png_write_job *job, const uint8_t *pixels, uint32_t width,
                                uint32_t height, mcl_error *err) {
    if (setjmp(png_jmpbuf(job->png))) {
        if (job->out.failed)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory encoding the PNG",
                            job->path);
        return mcl_fail(err, MCL_ERR_IO, "%s: cannot encode the PNG: %s", job->path, job->message);
    }
    png_set_write_fn(job->png, job, png_on_write, png_on_flush);
    png_set_IHDR(job->png, job->info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    for (uint32_t y = 0; y < height; y++)
        png_write_row(job->png, pixels + (size_t)y * width);
    png_write_end(job->png, NULL);
    return MCL_OK;
}

/* Encodes into job->out. */
static mcl_status png_write_stream(png_write_job *job, const uint8_t *pixels, uint32_t width,
                                   uint32_t height, mcl_error *err) {
    job->png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, job, png_on_write_error, png_on_warning);
    if (job->png == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate the libpng writer",
                        job->path);
    mcl_status st = MCL_OK;
    job->info = png_create_info_struct(job->png);
    if (job->info == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate the libpng writer", job->path);
    else
        st = png_write_run(job, pixels, width, height, err);
    png_destroy_write_struct(&job->png, &job->info);
    return st;
}

mcl_status mcl_image_write_png(const char *path, const uint8_t *pixels, uint32_t width,
                               uint32_t height, mcl_error *err) {
    if (path == NULL || pixels == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_image_write_png: path or pixels is NULL");
    if (width < 1 || height < 1 || width > MCL_IMAGE_MAX_SIDE || height > MCL_IMAGE_MAX_SIDE ||
        (uint64_t)width * height > MCL_IMAGE_MAX_PIXELS)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "%s: cannot write a %ux%u image; width and height must each be 1..%u and "
                        "the image at most %u pixels",
                        path, width, height, MCL_IMAGE_MAX_SIDE, MCL_IMAGE_MAX_PIXELS);
    png_write_job job = {.path = path};
    mcl_status st = png_write_stream(&job, pixels, width, height, err);
    if (st == MCL_OK) st = mcl_atomic_write(path, job.out.data, job.out.len, "PNG image", err);
    mcl_buf_free(&job.out);
    return st;
}
