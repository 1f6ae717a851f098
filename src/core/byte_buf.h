/* A growing in-memory byte buffer for building a file before it is written atomically
 * (checkpoints, exports, plots, PNGs). A failed allocation is remembered in `failed` and every
 * later append is a no-op, so a writer appends freely and checks once at the end. */
#ifndef MCL_CORE_BYTE_BUF_H
#define MCL_CORE_BYTE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mcl_byte_buf {
    uint8_t *data; /* owned; free with mcl_buf_free */
    size_t len, cap;
    bool failed; /* out of memory (or a size past SIZE_MAX) at some append */
} mcl_byte_buf;

void mcl_buf_put(mcl_byte_buf *b, const void *src, size_t n);
/* Little-endian integers and IEEE-754 floats. */
void mcl_buf_put_u16(mcl_byte_buf *b, uint16_t v);
void mcl_buf_put_u32(mcl_byte_buf *b, uint32_t v);
void mcl_buf_put_u64(mcl_byte_buf *b, uint64_t v);
void mcl_buf_put_f32(mcl_byte_buf *b, float f);
void mcl_buf_free(mcl_byte_buf *b); /* frees the bytes and zeroes it; NULL-safe */

#endif
