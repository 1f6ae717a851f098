/* The growing text buffer (core/text.h) and mcl_json_quote of the public API. */
#include "core/text.h"
#include "core/alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `extra` more bytes and the NUL; false (and failed set) when there is none. */
static bool reserve(mcl_text *t, size_t extra) {
    if (t->failed) return false;
    if (extra > (size_t)-1 / 2 - t->len) {
        t->failed = true;
        return false;
    }
    if (t->len + extra + 1 <= t->cap) return true;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *p = mcl_realloc(t->data, cap);
    if (p == NULL) {
        t->failed = true;
        return false;
    }
    t->data = p;
    t->cap = cap;
    return true;
}

void mcl_text_add(mcl_text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (!reserve(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void add_bytes(mcl_text *t, const char *s, size_t n) {
    if (!reserve(t, n)) return;
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* The length of the well-formed UTF-8 sequence at s (1-4), or 0 if the bytes there are not one
 * (a stray continuation byte, a truncated sequence, an overlong form, a surrogate, > U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (c == 0xed && s[1] >= 0xa0) return 0; /* UTF-16 surrogates */
    if (c == 0xf0 && s[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
    return n;
}

size_t mcl_utf8_decode(const char *s, uint32_t *code_point) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = utf8_sequence(p);
    if (n == 0) {
        *code_point = 0xfffd;
        return 1;
    }
    static const unsigned char lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = p[0] & lead_mask[n];
    for (size_t i = 1; i < n; i++)
        cp = cp << 6 | (p[i] & 0x3fu);
    *code_point = cp;
    return n;
}

void mcl_text_json_string(mcl_text *t, const char *s) {
    add_bytes(t, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0' && !t->failed) {
        unsigned char c = *p;
        size_t n = utf8_sequence(p);
        if (n == 0) {
            /* Not UTF-8 (a Latin-1 file name, say): U+FFFD keeps the output valid JSON. */
            add_bytes(t, "\\ufffd", 6);
            p++;
            continue;
        }
        if (c == '"' || c == '\\')
            mcl_text_add(t, "\\%c", c);
        else if (c == '\n')
            add_bytes(t, "\\n", 2);
        else if (c < 0x20 || c == 0x7f)
            mcl_text_add(t, "\\u%04x", c);
        else
            add_bytes(t, (const char *)p, n);
        p += n;
    }
    add_bytes(t, "\"", 1);
}

void mcl_text_json_float(mcl_text *t, float f) {
    if (!isfinite(f)) {
        add_bytes(t, "null", 4);
        return;
    }
    char s[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)f);
        if (strtof(s, NULL) == f) break;
    }
    add_bytes(t, s, strlen(s));
}

char *mcl_text_take(mcl_text *t) {
    if (t->failed || !reserve(t, 0)) {
        mcl_text_free(t);
        return NULL;
    }
    t->data[t->len] = '\0';
    char *s = t->data;
    *t = (mcl_text){0};
    return s;
}

void mcl_text_free(mcl_text *t) {
    if (t == NULL) return;
    free(t->data);
    *t = (mcl_text){0};
}

size_t mcl_json_quote(const char *s, char *out, size_t size) {
    mcl_text t = {0};
    mcl_text_json_string(&t, s != NULL ? s : "");
    size_t need = t.failed ? 0 : t.len;
    if (out != NULL && size > 0) {
        size_t n = need < size - 1 ? need : size - 1;
        if (n > 0) memcpy(out, t.data, n);
        out[n] = '\0';
    }
    mcl_text_free(&t);
    return need;
}
