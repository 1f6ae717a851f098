/* Plots drawn with cairo: a training history (loss and accuracy against epoch), a confusion
 * matrix heat map and a grid of misclassified images. The public entry points are
 * mcl_plot_history, mcl_plot_confusion and mcl_plot_errors in mnistcl.h; what is here is shared
 * with the tests (the CSV reader, the tick choice, the image sizes and layouts) and the CLI (the
 * history plot with a chosen title).
 *
 * All plots are PNG or SVG by the extension of the output path (.png / .svg, any case) and are
 * written atomically: rendered into memory, then to a temporary file in the same folder that is
 * fsync'ed and renamed over the target, so a failure leaves nothing at the output path. */
#ifndef MCL_PLOT_PLOT_H
#define MCL_PLOT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cairo.h>

#include "mnistcl/mnistcl.h"

/* The history plot's size: PNG pixels, or SVG points. */
#define MCL_PLOT_HISTORY_WIDTH 1200
#define MCL_PLOT_HISTORY_HEIGHT 500

/* Limits on a history CSV, checked while reading. */
#define MCL_HISTORY_MAX_ROWS 100000u
#define MCL_HISTORY_MAX_LINE 4096u /* characters, without the line ending */

/* The header line a history CSV must start with (written by mcl_history_write). */
#define MCL_HISTORY_CSV_HEADER "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds"

/* One epoch of a history. Every number present is finite. */
typedef struct mcl_history_row {
    uint32_t epoch; /* 1-based, strictly increasing down the file */
    double loss, accuracy;
    bool has_validation; /* false: val_loss and val_accuracy were missing (and are NaN here) */
    double val_loss, val_accuracy;
    bool has_lr;         /* false: no learning rate (NaN here) */
    double lr, seconds;  /* seconds: NaN when missing */
} mcl_history_row;

typedef struct mcl_history_table {
    mcl_history_row *rows; /* [count], malloc'd, owned by the table */
    size_t count;          /* 1 .. MCL_HISTORY_MAX_ROWS */
    bool any_validation;   /* some row has validation */
    bool lr_varies;        /* every row has a learning rate and it is not constant */
} mcl_history_table;

/* Reads and checks a history (src/plot/history_read.c): mnist-cl's CSV or JSON, Keras's
 * CSVLogger file or any CSV whose header names loss and accuracy, or Keras's History.history as
 * JSON. A missing or unreadable file is MCL_ERR_IO; malformed content (no loss/accuracy columns,
 * wrong field count, a non-numeric or non-finite number, epochs that do not increase, no
 * epochs, over the limits, invalid JSON) is MCL_ERR_FORMAT with a one-line message naming the
 * file and the line or entry. On failure *out is zeroed and owns nothing; on success free it with
 * mcl_history_table_free. */
mcl_status mcl_history_read(const char *path, mcl_history_table *out, mcl_error *err);
/* The same from an open stream (read to its end, not closed); `path` names it in messages. */
mcl_status mcl_history_read_stream(FILE *f, const char *path, mcl_history_table *out,
                                   mcl_error *err);
void mcl_history_table_free(mcl_history_table *table); /* zeroes it; NULL-safe */

/* The confusion matrix image's width and height (pixels or points) for 2..256 classes: cells of
 * 60 for 6 to 20 classes (larger below, so the matrix is at least 360 across; smaller above, so
 * it stays near 1200 across, at least 8 a cell), plus margins for labels and the colour bar. */
void mcl_plot_confusion_size(uint32_t classes, uint32_t *width, uint32_t *height);

/* The grid of misclassified images (mcl_plot_errors): `tiles` tiles of rows x cols images, 10
 * to a row (20 above 100 tiles), each image enlarged to fit a 112-pixel box (by a whole factor
 * when it is smaller: crisp pixels) above its caption; the title and subtitle above the grid. With
 * no tile, the picture is the header and a line saying so. */
typedef struct mcl_errors_layout {
    uint32_t columns, grid_rows; /* tiles per row; rows of tiles */
    double scale;                /* picture pixels per image pixel */
    uint32_t image_w, image_h;   /* one tile's image as drawn */
    uint32_t cell_w, cell_h;     /* one tile: image, caption and the gap around them */
    uint32_t left, top;          /* where the grid starts (it is centred across) */
    uint32_t width, height;      /* the picture */
} mcl_errors_layout;
void mcl_plot_errors_layout(uint32_t tiles, uint32_t rows, uint32_t cols, mcl_errors_layout *out);

/* Axis ticks on round values: `count` ticks first, first + step, ... all inside [lo, hi], with
 * step 1, 2 or 5 times a power of ten, the smallest such step giving at most max_intervals
 * intervals across [lo, hi]. `integer` forces step >= 1 (epochs). `decimals` is how many
 * digits after the point label every tick exactly. Needs lo < hi, both finite. */
typedef struct mcl_plot_ticks {
    double first, step;
    int count;
    int decimals;
} mcl_plot_ticks;
void mcl_plot_nice_ticks(double lo, double hi, int max_intervals, bool integer,
                         mcl_plot_ticks *out);

/* Draws the history plot of `table` (a table mcl_history_read accepted) with `title` (valid
 * UTF-8) on cr, whose surface is MCL_PLOT_HISTORY_WIDTH x MCL_PLOT_HISTORY_HEIGHT; what
 * mcl_plot_history renders. Errors stay in cairo_status(cr). */
void mcl_plot_draw_history(cairo_t *cr, const mcl_history_table *table, const char *title);

#endif
