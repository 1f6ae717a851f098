/* Training history files: one row per epoch, as CSV (the format `mnist-cl plot` reads) or
 * JSON, rewritten atomically after every epoch so a crash leaves the last complete version. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/error.h"

typedef struct text {
    char *data;
    size_t len, cap;
    bool failed;
} text;

static void add(text *t, const char *fmt, ...) MCL_PRINTF(2, 3);
static void add(text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *p = mcl_realloc(t->data, cap);
        if (p == NULL) {
            t->failed = true;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static void csv(text *t, const mcl_epoch_result *rows, size_t n) {
    add(t, "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n");
    for (size_t i = 0; i < n; i++) {
        const mcl_epoch_result *r = &rows[i];
        add(t, "%u,%.6g,%.6g,", r->epoch, r->loss, r->accuracy);
        if (r->has_validation)
            add(t, "%.6g,%.6g,", r->val_loss, r->val_accuracy);
        else
            add(t, ",,");
        add(t, "%.6g,%.3f\n", r->learning_rate, r->seconds);
    }
}

static void json(text *t, const mcl_epoch_result *rows, size_t n) {
    add(t, "{\"epochs\": [");
    for (size_t i = 0; i < n; i++) {
        const mcl_epoch_result *r = &rows[i];
        add(t, "%s\n  {\"epoch\": %u, \"loss\": %.6g, \"accuracy\": %.6g", i ? "," : "", r->epoch,
            r->loss, r->accuracy);
        if (r->has_validation)
            add(t, ", \"val_loss\": %.6g, \"val_accuracy\": %.6g", r->val_loss, r->val_accuracy);
        add(t, ", \"lr\": %.6g, \"seconds\": %.3f}", r->learning_rate, r->seconds);
    }
    add(t, "\n]}\n");
}

mcl_status mcl_history_write(const char *path, const mcl_epoch_result *rows, size_t count,
                             mcl_error *err) {
    text t = {0};
    if (ends_with(path, ".json"))
        json(&t, rows, count);
    else
        csv(&t, rows, count);
    mcl_status st = t.failed ? mcl_fail(err, MCL_ERR_HOST_MEMORY,
                                        "%s: out of host memory for the history", path)
                             : mcl_atomic_write(path, t.data, t.len, "history", err);
    free(t.data);
    return st;
}
