#include "core/byte_buf.h"
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

void mcl_buf_put(mcl_byte_buf *b, const void *src, size_t n) {
    if (b->failed || n == 0) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap > 0 ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = mcl_realloc(b->data, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

void mcl_buf_put_u16(mcl_byte_buf *b, uint16_t v) {
    const uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    mcl_buf_put(b, le, 2);
}

void mcl_buf_put_u32(mcl_byte_buf *b, uint32_t v) {
    const uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    mcl_buf_put(b, le, 4);
}

void mcl_buf_put_u64(mcl_byte_buf *b, uint64_t v) {
    mcl_buf_put_u32(b, (uint32_t)v);
    mcl_buf_put_u32(b, (uint32_t)(v >> 32));
}

void mcl_buf_put_f32(mcl_byte_buf *b, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    mcl_buf_put_u32(b, v);
}

void mcl_buf_free(mcl_byte_buf *b) {
    if (b == NULL) return;
    free(b->data);
    *b = (mcl_byte_buf){0};
}
