/* IDX reader. The checks run in the order that keeps a hostile file cheap: the header is read
 * and validated, its claimed size is compared with what the file can hold (fstat for a raw file,
 * the gzip trailer for a compressed one), and only then is the data buffer allocated. The
 * streaming read still checks for a short read, a corrupt stream and trailing bytes, because a
 * gzip trailer only records the size mod 2^32 and a file can change under us. */
#define _POSIX_C_SOURCE 200809L
#include "data/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/read_file.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 3
/* Smallest complete gzip member: 10-byte header + 8-byte trailer (CRC32, ISIZE). */
#define GZIP_MIN_BYTES 18
/* gzread takes an unsigned length and returns an int, so reads go in chunks below INT_MAX. */
#define GZ_READ_CHUNK (1u << 30)
/* Trailing bytes are counted (for the message) up to this many, then reported as "at least". */
#define TRAILING_COUNT_CAP (1ull << 30)

typedef enum idx_kind { IDX_IMAGES, IDX_LABELS } idx_kind;

/* One open IDX file. zlib reads raw files transparently, so both kinds go through `gz`. */
/* The most deflate can expand: a 258-byte match coded in 2 bits. */
#define DEFLATE_MAX_RATIO 1032u

typedef struct idx_file {
    const char *path;
    gzFile gz;          /* owns the file descriptor */
    bool is_gzip;       /* the file starts with the gzip magic 0x1f 0x8b */
    bool size_known;    /* a regular file: file_size and (for gzip) isize are valid */
    uint64_t file_size; /* bytes on disk */
    uint32_t isize;     /* gzip trailer: uncompressed size mod 2^32 */
} idx_file;

/* How much the file yielded, in words that fit both kinds: "holds" / "decompresses to". */
static const char *yield_verb(const idx_file *f) {
    return f->is_gzip ? "decompresses to" : "holds";
}

/* "7 images of 5x4" or "6 labels", for messages. */
static void describe(char *buf, size_t size, idx_kind kind, const uint32_t *dims) {
    if (kind == IDX_IMAGES)
        snprintf(buf, size, "%u images of %ux%u", dims[0], dims[1], dims[2]);
    else
        snprintf(buf, size, "%u labels", dims[0]);
}

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | (uint32_t)p[0];
}

/* Opens `path` and, for a regular gzip file, reads its trailer. On success the caller closes
 * f->gz with gzclose; on failure nothing is left open. */
static mcl_status idx_open(const char *path, idx_file *f, mcl_error *err) {
    char why[256];
    memset(f, 0, sizeof *f);
    f->path = path;

    int fd = -1;
    struct stat st;
    mcl_status opened = mcl_open_file(path, "an IDX file", &fd, &st, err);
    if (opened != MCL_OK) return opened;
    /* Pipes and devices are read as streams: no size checks before allocating, but the
     * header limits still bound the allocation. */
    f->size_known = S_ISREG(st.st_mode);
    f->file_size = f->size_known ? (uint64_t)st.st_size : 0;

    uint8_t magic[2] = {0, 0};
    if (f->size_known && f->file_size >= 2) {
        ssize_t n = pread(fd, magic, sizeof magic, 0);
        if (n != (ssize_t)sizeof magic) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return mcl_fail(err, MCL_ERR_IO, "%s: cannot read: %s", path,
                            mcl_errno_text(e, why, sizeof why));
        }
    }
    f->is_gzip = magic[0] == 0x1f && magic[1] == 0x8b;

    if (f->is_gzip) {
        if (f->file_size < GZIP_MIN_BYTES) {
            close(fd);
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: truncated gzip file: %llu bytes cannot hold a gzip header and "
                            "trailer (%d bytes)",
                            path, (unsigned long long)f->file_size, GZIP_MIN_BYTES);
        }
        uint8_t trailer[4];
        ssize_t n = pread(fd, trailer, sizeof trailer, (off_t)(f->file_size - sizeof trailer));
        if (n != (ssize_t)sizeof trailer) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return mcl_fail(err, MCL_ERR_IO, "%s: cannot read the gzip trailer: %s", path,
                            mcl_errno_text(e, why, sizeof why));
        }
        f->isize = load_le32(trailer);
    }

    f->gz = gzdopen(fd, "rb");
    if (f->gz == NULL) {
        close(fd);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate zlib state", path);
    }
    /* A larger input buffer than zlib's 8 KiB default means fewer read calls on a 47 MB
     * file; a failure here only costs speed. */
    (void)gzbuffer(f->gz, 1u << 17);
    /* For a pipe the magic could not be peeked; let zlib tell (it reads the same magic). */
    if (!f->size_known) f->is_gzip = !gzdirect(f->gz);
    return MCL_OK;
}

/* Reads up to n bytes, stopping early only at a clean end of the data; *got says how many
 * came. A gzip stream that stops mid-member is an error here, not an early end: zlib reports it
 * as Z_BUF_ERROR with a short (even zero) read rather than as -1. */
static mcl_status idx_read(idx_file *f, void *buf, size_t n, size_t *got, mcl_error *err) {
    uint8_t *p = buf;
    size_t total = 0;
    *got = 0;
    while (total < n) {
        size_t left = n - total;
        unsigned chunk = left > GZ_READ_CHUNK ? GZ_READ_CHUNK : (unsigned)left;
        int r = gzread(f->gz, p + total, chunk);
        int saved_errno = errno;
        if (r > 0) {
            total += (size_t)r;
            *got = total;
            continue;
        }
        int zerr = Z_OK;
        const char *msg = gzerror(f->gz, &zerr);
        if (zerr == Z_OK) break; /* r == 0: the end of the data */
        if (zerr == Z_ERRNO) {
            char why[256];
            return mcl_fail(err, MCL_ERR_IO, "%s: read error: %s", f->path,
                            mcl_errno_text(saved_errno, why, sizeof why));
        }
        /* zlib prefixes its message with the name it was opened under, "<fd:N>" for gzdopen;
         * our message already starts with the real path. */
        if (msg == NULL) msg = "unknown zlib error";
        const char *tail = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ">: ") : NULL;
        if (tail != NULL) msg = tail + 3;
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: corrupt or truncated gzip data: %s", f->path,
                        msg);
    }
    return MCL_OK;
}

/* Rejects headers whose dimensions are outside the limits in idx.h, before anything is
 * allocated from them. */
static mcl_status check_dims(const char *path, idx_kind kind, const uint32_t *dims,
                             uint64_t *data_bytes, mcl_error *err) {
    const char *noun = kind == IDX_IMAGES ? "images" : "labels";
    uint32_t count = dims[0];
    if (count == 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: header says 0 %s; expected at least 1", path,
                        noun);
    if (count > MCL_IDX_MAX_COUNT)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: header says %u %s, more than the limit of %u (corrupt header?)", path,
                        count, noun, MCL_IDX_MAX_COUNT);
    uint64_t bytes = count;
    if (kind == IDX_IMAGES) {
        uint32_t rows = dims[1], cols = dims[2];
        if (rows == 0 || cols == 0 || rows > MCL_IDX_MAX_SIDE || cols > MCL_IDX_MAX_SIDE)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: header says images of %ux%u; rows and cols must each be 1..%u",
                            path, rows, cols, MCL_IDX_MAX_SIDE);
        bytes *= (uint64_t)rows * cols; /* < 1e8 * 2^24, no overflow */
    }
    char what[96];
    describe(what, sizeof what, kind, dims);
    if (bytes > MCL_IDX_MAX_DATA_BYTES)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: header says %s (%llu bytes), more than the 8 GiB limit", path, what,
                        (unsigned long long)bytes);
#if SIZE_MAX < UINT64_MAX
    if (bytes > SIZE_MAX)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: header says %s (%llu bytes), more than this platform can address",
                        path, what, (unsigned long long)bytes);
#endif
    *data_bytes = bytes;
    return MCL_OK;
}

/* Compares the size the header implies with what the file can hold, before allocating. */
static mcl_status check_size(const idx_file *f, const char *what, uint64_t header_bytes,
                             uint64_t data_bytes, mcl_error *err) {
    if (!f->size_known) return MCL_OK;
    uint64_t total = header_bytes + data_bytes;
    if (!f->is_gzip) {
        if (f->file_size < total) {
            uint64_t held = f->file_size > header_bytes ? f->file_size - header_bytes : 0;
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: truncated: header says %s (%llu bytes) but the file holds "
                            "%llu bytes of data",
                            f->path, what, (unsigned long long)data_bytes,
                            (unsigned long long)held);
        }
        if (f->file_size > total)
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "%s: %llu unexpected bytes after the data (header says %s, "
                            "%llu bytes)",
                            f->path, (unsigned long long)(f->file_size - total), what,
                            (unsigned long long)data_bytes);
        return MCL_OK;
    }
    /* ISIZE is only the size mod 2^32: above 4 GiB a few bytes of gzip can match a header that
     * claims 4 GiB more than they hold. Deflate expands at most 1032:1 (a 258-byte match in 2
     * bits), so such a header is refused before anything is allocated. */
    if (total > UINT32_MAX && total > f->file_size * DEFLATE_MAX_RATIO)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: header says %s (%llu bytes) but a gzip file of %llu bytes cannot "
                        "decompress to more than %llu (corrupt header?)",
                        f->path, what, (unsigned long long)data_bytes,
                        (unsigned long long)f->file_size,
                        (unsigned long long)(f->file_size * DEFLATE_MAX_RATIO));
    if (f->isize == (uint32_t)total) return MCL_OK;
    /* ISIZE is the size mod 2^32 (of the last member: a multi-member .gz is not supported),
     * so when the expected size fits in 32 bits the comparison is exact. A cut or damaged
     * stream lands here too, its last four bytes then being no trailer at all; so a trailer
     * that records too much is reported with both readings. */
    if (total <= UINT32_MAX && f->isize < total) {
        uint64_t held = f->isize > header_bytes ? f->isize - header_bytes : 0;
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: truncated: header says %s (%llu bytes) but the gzip trailer says "
                        "the file decompresses to %llu bytes of data",
                        f->path, what, (unsigned long long)data_bytes, (unsigned long long)held);
    }
    if (total <= UINT32_MAX)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "%s: the gzip trailer records %u bytes but the header says %s "
                        "(%llu bytes with the header): %llu unexpected bytes after the data, "
                        "or a truncated or damaged file",
                        f->path, f->isize, what, (unsigned long long)total,
                        (unsigned long long)(f->isize - total));
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: size mismatch: header says %s (%llu bytes with the header) but the gzip "
                    "trailer records %u bytes mod 2^32; the file is truncated or has extra data",
                    f->path, what, (unsigned long long)total, f->isize);
}

/* Reads the rest of the file after the data to prove there is nothing there. */
static mcl_status check_trailing(idx_file *f, const char *what, uint64_t data_bytes,
                                 mcl_error *err) {
    uint8_t scratch[4096];
    uint64_t extra = 0;
    for (;;) {
        size_t got = 0;
        mcl_status st = idx_read(f, scratch, sizeof scratch, &got, err);
        if (st != MCL_OK) return st;
        extra += got;
        if (got < sizeof scratch || extra >= TRAILING_COUNT_CAP) break;
    }
    if (extra == 0) return MCL_OK;
    return mcl_fail(err, MCL_ERR_FORMAT,
                    "%s: %s%llu unexpected bytes after the data (header says "
                    "%s, %llu bytes)",
                    f->path, extra >= TRAILING_COUNT_CAP ? "at least " : "",
                    (unsigned long long)extra, what, (unsigned long long)data_bytes);
}

/* Reads an IDX file of unsigned bytes with the dimension count `kind` implies. On success
 * dims[] holds the header's dimensions and *data a malloc'd buffer the caller frees. */
static mcl_status idx_read_file(const char *path, idx_kind kind, uint32_t *dims, uint8_t **data,
                                mcl_error *err) {
    *data = NULL;
    if (path == NULL) return mcl_fail(err, MCL_ERR_USAGE, "IDX path is NULL");
    const uint32_t want_dims = kind == IDX_IMAGES ? 3 : 1;

    idx_file f;
    mcl_status st = idx_open(path, &f, err);
    if (st != MCL_OK) return st;

    uint8_t *buf = NULL;
    uint8_t head[4 + 4 * IDX_MAX_DIMS];
    size_t got = 0;
    st = idx_read(&f, head, 4, &got, err);
    if (st != MCL_OK) goto done;
    if (got == 0) {
        st = mcl_fail(err, MCL_ERR_FORMAT, "%s: empty file (0 bytes%s); expected an IDX header",
                      path, f.is_gzip ? " after decompression" : "");
        goto done;
    }
    if (got < 4) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: truncated header: the file %s only %zu byte(s) but an IDX header "
                      "needs at least 4",
                      path, yield_verb(&f), got);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: not an IDX file: bad magic 0x%02X%02X%02X%02X (an IDX file starts "
                      "with two zero bytes)",
                      path, head[0], head[1], head[2], head[3]);
        goto done;
    }
    if (head[2] != IDX_TYPE_UBYTE) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: unsupported element type 0x%02X (only 0x08, unsigned byte, is "
                      "supported)",
                      path, head[2]);
        goto done;
    }
    if (head[3] != want_dims) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: expected %s file (%u dimension%s) but found %u dimension(s)", path,
                      kind == IDX_IMAGES ? "an images" : "a labels", want_dims,
                      want_dims == 1 ? "" : "s", head[3]);
        goto done;
    }
    const uint64_t header_bytes = 4 + 4 * (uint64_t)want_dims;
    st = idx_read(&f, head + 4, 4 * want_dims, &got, err);
    if (st != MCL_OK) goto done;
    if (got < 4 * want_dims) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: truncated header: it declares %u dimension(s) (%llu header bytes) but "
                      "the file %s only %zu bytes",
                      path, want_dims, (unsigned long long)header_bytes, yield_verb(&f), 4 + got);
        goto done;
    }
    for (uint32_t d = 0; d < want_dims; d++)
        dims[d] = load_be32(head + 4 + 4 * d);

    uint64_t data_bytes = 0;
    st = check_dims(path, kind, dims, &data_bytes, err);
    if (st != MCL_OK) goto done;
    char what[96];
    describe(what, sizeof what, kind, dims);
    st = check_size(&f, what, header_bytes, data_bytes, err);
    if (st != MCL_OK) goto done;

    buf = mcl_malloc((size_t)data_bytes);
    if (buf == NULL) {
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: cannot allocate %llu bytes for %s", path,
                      (unsigned long long)data_bytes, what);
        goto done;
    }
    st = idx_read(&f, buf, (size_t)data_bytes, &got, err);
    if (st != MCL_OK) goto done;
    if (got < data_bytes) {
        st = mcl_fail(err, MCL_ERR_FORMAT,
                      "%s: truncated: header says %s (%llu bytes) but the file %s %zu bytes of "
                      "data",
                      path, what, (unsigned long long)data_bytes, yield_verb(&f), got);
        goto done;
    }
    st = check_trailing(&f, what, data_bytes, err);

done:
    /* The file was only read, so a failing close cannot lose data; our status stands. */
    (void)gzclose(f.gz);
    if (st != MCL_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    return MCL_OK;
}

mcl_status mcl_idx_read_images(const char *path, mcl_idx_images *out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_idx_read_images: out is NULL");
    memset(out, 0, sizeof *out);
    uint32_t dims[IDX_MAX_DIMS] = {0};
    uint8_t *pixels = NULL;
    mcl_status st = idx_read_file(path, IDX_IMAGES, dims, &pixels, err);
    if (st != MCL_OK) return st;
    out->count = dims[0];
    out->rows = dims[1];
    out->cols = dims[2];
    out->pixels = pixels;
    return MCL_OK;
}

mcl_status mcl_idx_read_labels(const char *path, mcl_idx_labels *out, mcl_error *err) {
    if (out == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_idx_read_labels: out is NULL");
    memset(out, 0, sizeof *out);
    uint32_t dims[IDX_MAX_DIMS] = {0};
    uint8_t *labels = NULL;
    mcl_status st = idx_read_file(path, IDX_LABELS, dims, &labels, err);
    if (st != MCL_OK) return st;
    out->count = dims[0];
    out->labels = labels;
    return MCL_OK;
}

void mcl_idx_images_free(mcl_idx_images *img) {
    if (img == NULL) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

void mcl_idx_labels_free(mcl_idx_labels *lab) {
    if (lab == NULL) return;
    free(lab->labels);
    memset(lab, 0, sizeof *lab);
}
