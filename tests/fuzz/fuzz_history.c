/* libFuzzer target for the training-history reader that `mnist-cl plot` uses
 * (mcl_history_read_stream): any bytes must be accepted as a table that keeps the reader's
 * promises (1..MCL_HISTORY_MAX_ROWS rows, epochs increasing, every number finite and within
 * range, validation both-or-neither) or refused with a one-line "fuzz.csv:..." message and an
 * empty table, never crash, hang or leak. Every accepted table is then drawn, on a recording
 * surface (no pixels, so quick), and cairo must report no error: whatever the reader accepts,
 * the plot can draw. The corpus holds histories as `train --history` writes them, and edge
 * cases to mutate. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "plot/plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool plausible(double v) {
    return isfinite(v) && fabs(v) <= 1e15;
}

static void check_table(const mcl_history_table *t) {
    if (t->rows == NULL || t->count == 0 || t->count > MCL_HISTORY_MAX_ROWS) abort();
    bool any = false;
    for (size_t i = 0; i < t->count; i++) {
        const mcl_history_row *r = &t->rows[i];
        if (r->epoch == 0 || (i > 0 && r->epoch <= t->rows[i - 1].epoch)) abort();
        /* A learning rate or time that the history lacks is NaN (has_lr says which). */
        if (!plausible(r->loss) || !plausible(r->accuracy) ||
            (r->has_lr ? !plausible(r->lr) : !isnan(r->lr)) ||
            (!isnan(r->seconds) && !plausible(r->seconds)))
            abort();
        if (r->has_validation ? !plausible(r->val_loss) || !plausible(r->val_accuracy)
                              : !isnan(r->val_loss) || !isnan(r->val_accuracy))
            abort();
        any |= r->has_validation;
    }
    if (any != t->any_validation) abort();
}

static void draw(const mcl_history_table *t) {
    cairo_rectangle_t extents = {0, 0, MCL_PLOT_HISTORY_WIDTH, MCL_PLOT_HISTORY_HEIGHT};
    cairo_surface_t *surface = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
    cairo_t *cr = cairo_create(surface);
    mcl_plot_draw_history(cr, t, "Training history (fuzz.csv)");
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "a history the reader accepted could not be drawn: %s\n",
                cairo_status_to_string(cs));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* fmemopen wants a non-empty buffer; the empty file has its own unit test. */
    if (size == 0) return 0;
    char *copy = malloc(size);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    FILE *f = fmemopen(copy, size, "r");
    if (f == NULL) {
        free(copy);
        return 0;
    }
    mcl_history_table t;
    mcl_error err = {0};
    mcl_status st = mcl_history_read_stream(f, "fuzz.csv", &t, &err);
    fclose(f);
    free(copy);
    if (st == MCL_OK) {
        check_table(&t);
        draw(&t);
        mcl_history_table_free(&t);
    } else if (t.rows != NULL || t.count != 0 || strncmp(err.message, "fuzz.csv", 8) != 0 ||
               strchr(err.message, '\n') != NULL) {
        abort();
    }
    return 0;
}
