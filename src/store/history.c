/* Training history files: one row per epoch, as CSV (the format `mnist-cl plot` reads) or
 * JSON, rewritten atomically after every epoch so a crash leaves the last complete version. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

static void csv(mcl_text *t, const mcl_epoch_result *rows, size_t n) {
    mcl_text_add(t, "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n");
    for (size_t i = 0; i < n; i++) {
        const mcl_epoch_result *r = &rows[i];
        mcl_text_add(t, "%u,%.6g,%.6g,", r->epoch, r->loss, r->accuracy);
        if (r->has_validation)
            mcl_text_add(t, "%.6g,%.6g,", r->val_loss, r->val_accuracy);
        else
            mcl_text_add(t, ",,");
        mcl_text_add(t, "%.6g,%.3f\n", r->learning_rate, r->seconds);
    }
}

static void json(mcl_text *t, const mcl_epoch_result *rows, size_t n) {
    mcl_text_add(t, "{\"epochs\": [");
    for (size_t i = 0; i < n; i++) {
        const mcl_epoch_result *r = &rows[i];
        mcl_text_add(t, "%s\n  {\"epoch\": %u, \"loss\": %.6g, \"accuracy\": %.6g", i ? "," : "", r->epoch,
            r->loss, r->accuracy);
        if (r->has_validation)
            mcl_text_add(t, ", \"val_loss\": %.6g, \"val_accuracy\": %.6g", r->val_loss, r->val_accuracy);
        mcl_text_add(t, ", \"lr\": %.6g, \"seconds\": %.3f}", r->learning_rate, r->seconds);
    }
    mcl_text_add(t, "\n]}\n");
}

mcl_status mcl_history_write(const char *path, const mcl_epoch_result *rows, size_t count,
                             mcl_error *err) {
    mcl_text t = {0};
    if (ends_with(path, ".json"))
        json(&t, rows, count);
    else
        csv(&t, rows, count);
    mcl_status st = t.failed ? mcl_fail(err, MCL_ERR_HOST_MEMORY,
                                        "%s: out of host memory for the history", path)
                             : mcl_atomic_write(path, t.data, t.len, "history", err);
    mcl_text_free(&t);
    return st;
}

mcl_status mcl_history_json(const mcl_epoch_result *rows, size_t count, char **out,
                            mcl_error *err) {
    mcl_text t = {0};
    json(&t, rows, count);
    *out = mcl_text_take(&t);
    return *out != NULL
               ? MCL_OK
               : mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the history JSON");
}
