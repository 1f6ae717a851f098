/* mcl_dataset_fingerprint: what a checkpoint keeps to tell its training data from other data. */
#include <zlib.h>

#include "mnistcl/mnistcl.h"

/* zlib's crc32 takes uInt lengths: feed it in chunks. */
static uLong crc_of(uLong crc, const uint8_t *data, size_t n) {
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
        crc = crc32(crc, data + off, (uInt)k);
        off += k;
    }
    return crc;
}

uint32_t mcl_dataset_fingerprint(const mcl_dataset *ds) {
    uint32_t count = mcl_dataset_count(ds), rows = mcl_dataset_rows(ds), cols = mcl_dataset_cols(ds);
    uint8_t header[12];
    const uint32_t fields[3] = {count, rows, cols};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            header[4 * i + b] = (uint8_t)(fields[i] >> (8 * b));
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc_of(crc, header, sizeof header);
    crc = crc_of(crc, mcl_dataset_labels(ds), count);
    crc = crc_of(crc, mcl_dataset_pixels(ds), (size_t)count * rows * cols);
    return (uint32_t)crc;
}
