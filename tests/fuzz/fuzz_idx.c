/* libFuzzer target for the IDX reader (raw and gzip). The first input byte chooses the mode:
 * bit 0 gzip-compresses the rest before the reader sees it (so the fuzzer reaches the gzip size
 * checks with valid streams), bit 1 reads it as a labels file instead of an images file. The
 * reader takes a path, so each input is written to one temporary file. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_input(const char *path, const uint8_t *data, size_t size, int gzip) {
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        if (gz == NULL) abort();
        if (size > 0 && gzwrite(gz, data, (unsigned)size) != (int)size) abort();
        if (gzclose(gz) != Z_OK) abort();
        return;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) abort();
    if (size > 0 && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* One file per fuzzing process, named by pid so parallel jobs do not collide. */
    char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mnistcl-fuzz-idx-%ld", dir ? dir : "/tmp", (long)getpid());
    if (size == 0) return 0;
    uint8_t mode = data[0];
    write_input(path, data + 1, size - 1, mode & 1);
    mcl_error err = {0};
    if (mode & 2) {
        mcl_idx_labels labels = {0};
        if (mcl_idx_read_labels(path, &labels, &err) == MCL_OK) {
            /* A success must describe exactly what was read. */
            if (labels.count == 0 || labels.labels == NULL) abort();
        } else if (err.message[0] == '\0' || strchr(err.message, '\n') != NULL) {
            abort(); /* every failure has a one-line message */
        }
        mcl_idx_labels_free(&labels);
    } else {
        mcl_idx_images images = {0};
        if (mcl_idx_read_images(path, &images, &err) == MCL_OK) {
            if (images.count == 0 || images.rows == 0 || images.cols == 0 || images.pixels == NULL)
                abort();
            /* Touch the last byte: the buffer must really hold count*rows*cols bytes. */
            volatile uint8_t last =
                images.pixels[(size_t)images.count * images.rows * images.cols - 1];
            (void)last;
        } else if (err.message[0] == '\0' || strchr(err.message, '\n') != NULL) {
            abort();
        }
        mcl_idx_images_free(&images);
    }
    remove(path);
    return 0;
}
