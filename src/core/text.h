/* A growing text buffer for the documents mnist-cl builds before writing them (history files,
 * JSON records, ONNX metadata): printf-style appends, JSON strings and floats that read back
 * exactly. A failed allocation is remembered in `failed` and every later append is a no-op, so
 * a writer appends freely and checks once at the end (as mcl_byte_buf). */
#ifndef MCL_CORE_TEXT_H
#define MCL_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct mcl_text {
    char *data; /* owned, NUL-terminated once anything was added; free with mcl_text_free */
    size_t len, cap;
    bool failed;
} mcl_text;

void mcl_text_add(mcl_text *t, const char *fmt, ...) MCL_PRINTF(2, 3);
/* s as a JSON string, quotes included: '"' and '\' escaped, control characters as \u00XX, and
 * bytes that are not well-formed UTF-8 as \ufffd, so the result is always valid JSON. */
void mcl_text_json_string(mcl_text *t, const char *s);
/* A float32 in the fewest significant digits (6 to 9) that read back as the same float, so
 * 0.001f prints as 0.001 and not 0.00100000005. Non-finite values print as null (JSON has no
 * NaN). */
void mcl_text_json_float(mcl_text *t, float f);
/* Decodes the UTF-8 sequence at s (not at its NUL) into *code_point; returns the bytes it
 * takes. A byte that does not start a well-formed sequence takes 1 and decodes as U+FFFD. */
size_t mcl_utf8_decode(const char *s, uint32_t *code_point);
/* Hands the text to the caller (who frees it with free()) and empties t; NULL after a failure
 * (t is then freed). */
char *mcl_text_take(mcl_text *t);
void mcl_text_free(mcl_text *t); /* NULL-safe; zeroes t */

#endif
