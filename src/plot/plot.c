/* Training-history and confusion-matrix plots, drawn with cairo in the manner of the matplotlib
 * figures of the Keras tutorials: white background, light grid on round 1-2-5 tick values,
 * training in blue and validation in orange with markers, a legend placed where it covers the
 * fewest points (matplotlib's loc="best"), and a white-to-dark-blue heat map with counts. All
 * coordinates are in pixels of the PNG (points of the SVG), y growing downwards. */
#define _POSIX_C_SOURCE 200809L
#include "plot/plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/atomic_file.h"
#include "core/byte_buf.h"
#include "core/error.h"

static const double PI = 3.14159265358979323846;

/* Font sizes in pixels (points of the SVG) shared by both plots. */
#define TICK_FONT 12
#define AXIS_TITLE_FONT 13


/* ---------------------------------------------------------------- output: format, memory, file */

typedef enum plot_format { PLOT_PNG, PLOT_SVG } plot_format;

static mcl_status plot_format_of(const char *path, plot_format *out, mcl_error *err) {
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strcasecmp(dot, ".png") == 0) {
        *out = PLOT_PNG;
        return MCL_OK;
    }
    if (dot != NULL && strcasecmp(dot, ".svg") == 0) {
        *out = PLOT_SVG;
        return MCL_OK;
    }
    if (dot == NULL)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "%s: the file name has no extension; name it .png or .svg", path);
    return mcl_fail(err, MCL_ERR_USAGE, "%s: unknown image type '%.40s'; use .png or .svg", path,
                    dot);
}

/* Where cairo writes the encoded image (the PNG or SVG bytes) before they go to the file. */
static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int length) {
    mcl_byte_buf *sink = closure;
    mcl_buf_put(sink, data, length);
    return sink->failed ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

typedef void (*draw_fn)(cairo_t *cr, const void *scene);

/* Draws `scene` on a width x height surface of the format, encodes it in memory and writes it
 * to out_path atomically. Any cairo error (checked on the surface, the context, and the PNG
 * encoding or SVG finishing) fails before anything reaches the folder. */
static mcl_status render(const char *out_path, plot_format format, int width, int height,
                         draw_fn draw, const void *scene, mcl_error *err) {
    mcl_byte_buf sink = {0};
    cairo_surface_t *surface =
        format == PLOT_PNG ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height)
                           : cairo_svg_surface_create_for_stream(sink_write, &sink, width, height);
    if (format == PLOT_SVG) cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PT);
    cairo_status_t cs = cairo_surface_status(surface);
    if (cs == CAIRO_STATUS_SUCCESS) {
        cairo_t *cr = cairo_create(surface);
        draw(cr, scene);
        cs = cairo_status(cr);
        cairo_destroy(cr);
    }
    if (cs == CAIRO_STATUS_SUCCESS) {
        if (format == PLOT_PNG) {
            cs = cairo_surface_write_to_png_stream(surface, sink_write, &sink);
        } else {
            cairo_surface_finish(surface);
            cs = cairo_surface_status(surface);
        }
    }
    cairo_surface_destroy(surface);
    mcl_status st;
    if (sink.failed || cs == CAIRO_STATUS_NO_MEMORY)
        st =
            mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory drawing the plot", out_path);
    else if (cs != CAIRO_STATUS_SUCCESS)
        st = mcl_fail(err, MCL_ERR_IO, "%s: cairo could not draw the plot: %s", out_path,
                      cairo_status_to_string(cs));
    else
        st = mcl_atomic_write(out_path, sink.data, sink.len, "plot", err);
    mcl_buf_free(&sink);
    return st;
}

/* ---------------------------------------------------------------- drawing helpers */

typedef struct rect {
    double x, y, w, h;
} rect;

typedef struct rgb {
    double r, g, b;
} rgb;

static const rgb BLACK = {0, 0, 0};
static const rgb TEXT = {0.1, 0.1, 0.1};
static const rgb GRID = {0.88, 0.88, 0.88};
static const rgb SPINE = {0.2, 0.2, 0.2};
/* matplotlib's tab:blue and tab:orange, the first two colours of its default cycle. */
static const rgb TRAIN_COLOUR = {0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0};
static const rgb VAL_COLOUR = {0xff / 255.0, 0x7f / 255.0, 0x0e / 255.0};

static void set_colour(cairo_t *cr, rgb c) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

static void set_font(cairo_t *cr, double size, bool bold) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Draws s with its box aligned at (x, y): halign 0 left, 0.5 centre, 1 right; valign the same
 * from top to bottom, measured on the height of a digit so that labels of one row line up. */
static void draw_text(cairo_t *cr, const char *s, double x, double y, double halign,
                      double valign) {
    cairo_text_extents_t digit;
    cairo_text_extents(cr, "0", &digit);
    double baseline = y - digit.y_bearing - valign * digit.height;
    cairo_move_to(cr, x - halign * text_width(cr, s), baseline);
    cairo_show_text(cr, s);
}

/* Draws s centred at (x, y), reading upwards (a y-axis title). */
static void draw_text_up(cairo_t *cr, const char *s, double x, double y) {
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -PI / 2);
    draw_text(cr, s, 0, 0, 0.5, 0.5);
    cairo_restore(cr);
}

/* A 1-pixel line lands on whole pixels when its coordinate is at a pixel's centre. */
static double crisp(double v) {
    return floor(v) + 0.5;
}

/* The length of the UTF-8 character at p that cairo accepts, or 0: cairo refuses (and puts its
 * context in an error state on) malformed and overlong sequences, UTF-16 surrogates, code
 * points above U+10FFFF and the noncharacters U+FDD0..U+FDEF and U+xxFFFE/U+xxFFFF. */
static size_t utf8_char_length(const unsigned char *p) {
    size_t len = p[0] < 0x80                    ? 1
                 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
                 : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
                 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                                : 0;
    if (len <= 1) return len;
    static const uint32_t lead_mask[5] = {0, 0, 0x1F, 0x0F, 0x07};
    static const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t cp = p[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    bool valid = cp >= smallest[len] && cp < 0x110000 && (cp & 0xFFFFF800) != 0xD800 &&
                 (cp < 0xFDD0 || cp > 0xFDEF) && (cp & 0xFFFE) != 0xFFFE;
    return valid ? len : 0;
}

/* Copies s into out (size > 0) with every byte cairo would refuse replaced by '?', cut at a
 * character boundary. */
static void utf8_sanitize(const char *s, char *out, size_t size) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p != '\0') {
        size_t len = utf8_char_length(p);
        size_t take = len > 0 ? len : 1;
        if (o + take >= size) break;
        if (len > 0)
            memcpy(out + o, p, len);
        else
            out[o] = '?';
        o += take;
        p += take;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------- axes */

void mcl_plot_nice_ticks(double lo, double hi, int max_intervals, bool integer,
                         mcl_plot_ticks *out) {
    if (max_intervals < 1) max_intervals = 1;
    double raw = (hi - lo) / max_intervals;
    double magnitude = pow(10.0, floor(log10(raw)));
    static const double multiples[] = {1, 2, 5, 10};
    double step = 10 * magnitude;
    for (size_t i = 0; i < sizeof multiples / sizeof multiples[0]; i++) {
        if (multiples[i] * magnitude >= raw * (1 - 1e-9)) {
            step = multiples[i] * magnitude;
            break;
        }
    }
    if (integer && step < 1) step = 1;
    /* A tick exactly at an end (up to rounding) belongs inside. */
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    out->first = k0 * step;
    out->step = step;
    out->count = k1 >= k0 ? (int)fmin(k1 - k0 + 1, 1000) : 0;
    out->decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

static void format_tick(char *buf, size_t size, const mcl_plot_ticks *t, int i) {
    double v = t->first + i * t->step;
    if (fabs(v) < t->step * 1e-6) v = 0; /* not "-0.00" */
    double biggest = fmax(fabs(t->first), fabs(t->first + (t->count - 1) * t->step));
    if (biggest >= 1e7) {
        /* Scientific notation with the digits that tell neighbouring ticks apart. */
        int digits = (int)floor(log10(biggest)) - (int)floor(log10(t->step)) + 1;
        snprintf(buf, size, "%.*g", digits < 1 ? 1 : digits > 15 ? 15 : digits, v);
    } else {
        snprintf(buf, size, "%.*f", t->decimals, v);
    }
}

/* A data range [lo, hi] widened by 5% each side as matplotlib does; a range too small to
 * draw (a single value) is opened up around its value. */
static void pad_range(double *lo, double *hi) {
    double magnitude = fmax(fabs(*lo), fabs(*hi));
    if (*hi - *lo <= fmax(1e-6, 1e-9 * magnitude)) {
        double mid = (*lo + *hi) / 2, half = fmax(0.05 * fabs(mid), 1e-3);
        *lo = mid - half;
        *hi = mid + half;
    } else {
        double margin = 0.05 * (*hi - *lo);
        *lo -= margin;
        *hi += margin;
    }
}

/* ---------------------------------------------------------------- the history plot */

typedef enum metric { METRIC_LOSS, METRIC_ACCURACY, METRIC_LR } metric;

/* The value plotted for a row: training or validation loss or accuracy, or the learning rate
 * (which has no validation curve); NaN where missing. */
static double row_value(const mcl_history_row *r, metric m, bool validation) {
    if (m == METRIC_LR) return validation || !r->has_lr ? NAN : r->lr;
    if (validation)
        return !r->has_validation ? NAN : m == METRIC_LOSS ? r->val_loss : r->val_accuracy;
    return m == METRIC_LOSS ? r->loss : r->accuracy;
}

/* Whether the panel of m draws a validation curve. */
static bool shows_validation(const mcl_history_table *t, metric m) {
    return m != METRIC_LR && t->any_validation;
}

typedef struct history_scene {
    const mcl_history_table *table;
    const char *title; /* valid UTF-8 */
} history_scene;

/* A panel's axes: the plot area in pixels and the data window it shows. */
typedef struct axes {
    rect area;
    double x_lo, x_hi, y_lo, y_hi;
} axes;

static double to_px_x(const axes *a, double x) {
    return a->area.x + (x - a->x_lo) / (a->x_hi - a->x_lo) * a->area.w;
}
static double to_px_y(const axes *a, double y) {
    return a->area.y + a->area.h - (y - a->y_lo) / (a->y_hi - a->y_lo) * a->area.h;
}

/* Whether the segment (x0, y0)-(x1, y1) meets r (Liang-Barsky clipping). */
static bool segment_meets(double x0, double y0, double x1, double y1, rect r) {
    double dx = x1 - x0, dy = y1 - y0, t0 = 0, t1 = 1;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {x0 - r.x, r.x + r.w - x0, y0 - r.y, r.y + r.h - y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return false;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) {
            if (t > t1) return false;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return false;
            if (t < t1) t1 = t;
        }
    }
    return true;
}

/* How much of the data a legend box at `box` would hide: points inside plus segments crossing,
 * the measure matplotlib's loc="best" minimises. */
static size_t legend_badness(const mcl_history_table *t, metric m, const axes *a, rect box) {
    size_t bad = 0;
    for (int v = 0; v < (shows_validation(t, m) ? 2 : 1); v++) {
        double px = NAN, py = NAN;
        for (size_t i = 0; i < t->count; i++) {
            double y = row_value(&t->rows[i], m, v == 1);
            if (isnan(y)) {
                px = py = NAN;
                continue;
            }
            double x = to_px_x(a, t->rows[i].epoch), yy = to_px_y(a, y);
            if (x >= box.x && x <= box.x + box.w && yy >= box.y && yy <= box.y + box.h) bad++;
            if (!isnan(px) && segment_meets(px, py, x, yy, box)) bad++;
            px = x;
            py = yy;
        }
    }
    return bad;
}

static void draw_marker(cairo_t *cr, double x, double y) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, 3.5, 0, 2 * PI);
    cairo_fill(cr);
}

static void draw_series(cairo_t *cr, const mcl_history_table *t, metric m, bool validation,
                        const axes *a, bool markers) {
    set_colour(cr, validation ? VAL_COLOUR : TRAIN_COLOUR);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_new_path(cr);
    bool pen_down = false;
    for (size_t i = 0; i < t->count; i++) {
        double y = row_value(&t->rows[i], m, validation);
        if (isnan(y)) {
            pen_down = false;
            continue;
        }
        double px = to_px_x(a, t->rows[i].epoch), py = to_px_y(a, y);
        if (pen_down)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen_down = true;
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < t->count; i++) {
        double y = row_value(&t->rows[i], m, validation);
        if (isnan(y)) continue;
        /* A point with no neighbour to draw a line to would be invisible without its marker. */
        bool alone = (i == 0 || isnan(row_value(&t->rows[i - 1], m, validation))) &&
                     (i + 1 == t->count || isnan(row_value(&t->rows[i + 1], m, validation)));
        if (markers || alone) draw_marker(cr, to_px_x(a, t->rows[i].epoch), to_px_y(a, y));
    }
}

static void draw_legend(cairo_t *cr, const mcl_history_table *t, metric m, const axes *a) {
    const char *labels[2] = {m == METRIC_LR ? "Learning rate" : "Training", "Validation"};
    const rgb colours[2] = {TRAIN_COLOUR, VAL_COLOUR};
    int entries = shows_validation(t, m) ? 2 : 1;
    set_font(cr, 12, false);
    double label_w = 0;
    for (int i = 0; i < entries; i++)
        label_w = fmax(label_w, text_width(cr, labels[i]));
    const double pad = 8, sample_w = 26, gap = 8, row_h = 20;
    double w = pad + sample_w + gap + label_w + pad, h = pad + entries * row_h;
    /* matplotlib's loc="best": the first of these with the least data under it. */
    const double inset = 10;
    const double left = a->area.x + inset, right = a->area.x + a->area.w - inset - w;
    const double top = a->area.y + inset, bottom = a->area.y + a->area.h - inset - h;
    const double centre_x = a->area.x + (a->area.w - w) / 2;
    const double centre_y = a->area.y + (a->area.h - h) / 2;
    const double spots[][2] = {{right, top},       {left, top},       {left, bottom},
                               {right, bottom},    {right, centre_y}, {left, centre_y},
                               {centre_x, bottom}, {centre_x, top},   {centre_x, centre_y}};
    rect box = {spots[0][0], spots[0][1], w, h};
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        rect candidate = {spots[i][0], spots[i][1], w, h};
        size_t bad = legend_badness(t, m, a, candidate);
        if (bad < best) {
            best = bad;
            box = candidate;
        }
    }
    box.x = round(box.x);
    box.y = round(box.y);
    /* A rounded, slightly transparent white box with a light border, as matplotlib draws it. */
    const double r = 4;
    cairo_new_path(cr);
    cairo_arc(cr, box.x + box.w - r, box.y + r, r, -PI / 2, 0);
    cairo_arc(cr, box.x + box.w - r, box.y + box.h - r, r, 0, PI / 2);
    cairo_arc(cr, box.x + r, box.y + box.h - r, r, PI / 2, PI);
    cairo_arc(cr, box.x + r, box.y + r, r, PI, 3 * PI / 2);
    cairo_close_path(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int i = 0; i < entries; i++) {
        double cy = box.y + pad / 2 + row_h * (i + 0.5) + 1;
        double x0 = box.x + pad;
        set_colour(cr, colours[i]);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x0, cy);
        cairo_line_to(cr, x0 + sample_w, cy);
        cairo_stroke(cr);
        draw_marker(cr, x0 + sample_w / 2, cy);
        set_colour(cr, TEXT);
        draw_text(cr, labels[i], x0 + sample_w + gap, cy, 0, 0.5);
    }
}

/* One panel (loss or accuracy) inside `slot`: title, axes, grid, ticks, curves, legend. */
static void draw_history_panel(cairo_t *cr, const mcl_history_table *t, metric m, rect slot) {
    const char *name = m == METRIC_LOSS ? "Loss" : m == METRIC_ACCURACY ? "Accuracy" : "Learning rate";
    axes a;
    a.x_lo = t->rows[0].epoch;
    a.x_hi = t->rows[t->count - 1].epoch;
    if (t->count == 1) {
        a.x_lo -= 0.5;
        a.x_hi += 0.5;
    } else {
        pad_range(&a.x_lo, &a.x_hi);
    }
    a.y_lo = INFINITY;
    a.y_hi = -INFINITY;
    for (size_t i = 0; i < t->count; i++) {
        for (int v = 0; v < 2; v++) {
            double y = row_value(&t->rows[i], m, v == 1);
            if (isnan(y)) continue;
            a.y_lo = fmin(a.y_lo, y);
            a.y_hi = fmax(a.y_hi, y);
        }
    }
    pad_range(&a.y_lo, &a.y_hi);
    mcl_plot_ticks xt, yt;
    mcl_plot_nice_ticks(a.x_lo, a.x_hi, 8, true, &xt);
    mcl_plot_nice_ticks(a.y_lo, a.y_hi, 8, false, &yt);

    /* Left of the plot: the axis title, then the widest tick label. */
    char label[64];
    set_font(cr, TICK_FONT, false);
    double tick_w = 0;
    for (int i = 0; i < yt.count; i++) {
        format_tick(label, sizeof label, &yt, i);
        tick_w = fmax(tick_w, text_width(cr, label));
    }
    const double axis_title_x = slot.x + 20, tick_len = 4, tick_gap = 4;
    double left = axis_title_x + 14 + tick_w + tick_gap + tick_len;
    a.area = (rect){round(left), slot.y + 40, 0, 0};
    a.area.w = round(slot.x + slot.w - 24 - a.area.x);
    a.area.h = round(slot.y + slot.h - 58 - a.area.y);
    const rect *p = &a.area;

    /* Grid behind everything, at the ticks. */
    set_colour(cr, GRID);
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < xt.count; i++) {
        double x = crisp(to_px_x(&a, xt.first + i * xt.step));
        cairo_move_to(cr, x, p->y);
        cairo_line_to(cr, x, p->y + p->h);
    }
    for (int i = 0; i < yt.count; i++) {
        double y = crisp(to_px_y(&a, yt.first + i * yt.step));
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x + p->w, y);
    }
    cairo_stroke(cr);

    /* Markers only where they do not crowd each other: about 8 pixels apart or more. */
    bool markers = t->count <= 1 || p->w / (a.x_hi - a.x_lo) >= 8;
    cairo_save(cr);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_clip(cr);
    draw_series(cr, t, m, false, &a, markers);
    if (shows_validation(t, m)) draw_series(cr, t, m, true, &a, markers);
    cairo_restore(cr);

    /* The frame, ticks and their labels. */
    set_colour(cr, SPINE);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(p->x), crisp(p->y), p->w, p->h);
    for (int i = 0; i < xt.count; i++) {
        double x = crisp(to_px_x(&a, xt.first + i * xt.step));
        cairo_move_to(cr, x, p->y + p->h);
        cairo_line_to(cr, x, p->y + p->h + tick_len);
    }
    for (int i = 0; i < yt.count; i++) {
        double y = crisp(to_px_y(&a, yt.first + i * yt.step));
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x - tick_len, y);
    }
    cairo_stroke(cr);
    set_colour(cr, TEXT);
    set_font(cr, TICK_FONT, false);
    for (int i = 0; i < xt.count; i++) {
        format_tick(label, sizeof label, &xt, i);
        draw_text(cr, label, to_px_x(&a, xt.first + i * xt.step), p->y + p->h + tick_len + 5, 0.5,
                  0);
    }
    for (int i = 0; i < yt.count; i++) {
        format_tick(label, sizeof label, &yt, i);
        draw_text(cr, label, p->x - tick_len - tick_gap, to_px_y(&a, yt.first + i * yt.step), 1,
                  0.5);
    }
    set_font(cr, AXIS_TITLE_FONT, false);
    draw_text(cr, "Epoch", p->x + p->w / 2, p->y + p->h + 31, 0.5, 0);
    draw_text_up(cr, name, axis_title_x, p->y + p->h / 2);
    set_font(cr, 15, false);
    draw_text(cr, name, p->x + p->w / 2, p->y - 12, 0.5, 1);

    draw_legend(cr, t, m, &a);
}

void mcl_plot_draw_history(cairo_t *cr, const mcl_history_table *table, const char *title) {
    const double W = MCL_PLOT_HISTORY_WIDTH, H = MCL_PLOT_HISTORY_HEIGHT;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* The title, shrunk to fit if it is long. */
    set_font(cr, 17, true);
    double w = text_width(cr, title);
    if (w > W - 40) set_font(cr, fmax(17 * (W - 40) / w, 4), true);
    set_colour(cr, BLACK);
    draw_text(cr, title, W / 2, 18, 0.5, 0);
    const double top = 44;
    /* Loss and accuracy side by side, as the tutorials plot them; a learning rate that changes
     * (a schedule, warm-up) gets a third panel. */
    const int panels = table->lr_varies ? 3 : 2;
    const double pw = W / panels;
    draw_history_panel(cr, table, METRIC_LOSS, (rect){0, top, pw, H - top});
    draw_history_panel(cr, table, METRIC_ACCURACY, (rect){pw, top, pw, H - top});
    if (panels == 3)
        draw_history_panel(cr, table, METRIC_LR, (rect){2 * pw, top, pw, H - top});
}

static void draw_history(cairo_t *cr, const void *scene_ptr) {
    const history_scene *scene = scene_ptr;
    mcl_plot_draw_history(cr, scene->table, scene->title);
}

mcl_status mcl_plot_history_titled(const char *csv_path, const char *out_path, const char *title,
                                   mcl_error *err) {
    if (csv_path == NULL || out_path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_plot_history: csv_path or out_path is NULL");
    plot_format format;
    mcl_status st = plot_format_of(out_path, &format, err);
    if (st != MCL_OK) return st;
    mcl_history_table table;
    st = mcl_history_read(csv_path, &table, err);
    if (st != MCL_OK) return st;
    char text[512];
    if (title != NULL && title[0] != '\0') {
        utf8_sanitize(title, text, sizeof text);
    } else {
        const char *slash = strrchr(csv_path, '/');
        char name[256];
        utf8_sanitize(slash != NULL ? slash + 1 : csv_path, name, sizeof name);
        snprintf(text, sizeof text, "Training history (%s)", name);
    }
    history_scene scene = {.table = &table, .title = text};
    st = render(out_path, format, MCL_PLOT_HISTORY_WIDTH, MCL_PLOT_HISTORY_HEIGHT, draw_history,
                &scene, err);
    mcl_history_table_free(&table);
    return st;
}

mcl_status mcl_plot_history(const char *csv_path, const char *out_path, mcl_error *err) {
    return mcl_plot_history_titled(csv_path, out_path, NULL, err);
}

/* ---------------------------------------------------------------- the confusion matrix */

/* Space around the matrix: axis titles and tick labels left and below, the title above, the
 * colour bar right. */
enum { CM_LEFT = 84, CM_TOP = 56, CM_RIGHT = 112, CM_BOTTOM = 72 };

static uint32_t confusion_cell(uint32_t classes) {
    if (classes <= 6) return 360 / classes; /* two classes still make a sizeable picture */
    if (classes <= 20) return 60;
    uint32_t cell = 1200 / classes;
    return cell < 8 ? 8 : cell;
}

void mcl_plot_confusion_size(uint32_t classes, uint32_t *width, uint32_t *height) {
    uint32_t side = classes * confusion_cell(classes);
    *width = CM_LEFT + side + CM_RIGHT;
    *height = CM_TOP + side + CM_BOTTOM;
}

/* matplotlib's "Blues" from white: the colour of a fraction t in 0..1 of a row. */
static rgb blues(double t) {
    static const unsigned stops[] = {0xffffff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                     0x4292c6, 0x2171b5, 0x08519c, 0x08306b};
    const size_t n = sizeof stops / sizeof stops[0];
    t = fmin(fmax(t, 0), 1) * (double)(n - 1);
    size_t i = (size_t)t;
    if (i >= n - 1) i = n - 2;
    double f = t - (double)i;
    rgb c;
    double *channels[3] = {&c.r, &c.g, &c.b};
    for (int k = 0; k < 3; k++) {
        int shift = 16 - 8 * k;
        double a = (stops[i] >> shift) & 0xff, b = (stops[i + 1] >> shift) & 0xff;
        *channels[k] = (a + (b - a) * f) / 255.0;
    }
    return c;
}

typedef struct confusion_scene {
    const uint32_t *counts; /* [true * classes + predicted] */
    uint32_t classes;
} confusion_scene;

/* The stride between labelled classes: 1, 2, 5, 10, ... so that labels `need` pixels wide fit. */
static uint32_t label_stride(double cell, double need) {
    static const uint32_t strides[] = {1, 2, 5, 10, 20, 50, 100};
    for (size_t i = 0; i < sizeof strides / sizeof strides[0]; i++)
        if (strides[i] * cell >= need) return strides[i];
    return 100;
}

static void draw_colour_bar(cairo_t *cr, rect bar) {
    cairo_pattern_t *gradient = cairo_pattern_create_linear(0, bar.y + bar.h, 0, bar.y);
    for (int i = 0; i <= 16; i++) {
        rgb c = blues(i / 16.0);
        cairo_pattern_add_color_stop_rgb(gradient, i / 16.0, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, bar.x, bar.y, bar.w, bar.h);
    cairo_set_source(cr, gradient);
    cairo_fill(cr);
    cairo_pattern_destroy(gradient);
    set_colour(cr, SPINE);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(bar.x), crisp(bar.y), bar.w, bar.h);
    for (int i = 0; i <= 5; i++) {
        double y = crisp(bar.y + bar.h - bar.h * i / 5.0);
        cairo_move_to(cr, bar.x + bar.w, y);
        cairo_line_to(cr, bar.x + bar.w + 4, y);
    }
    cairo_stroke(cr);
    set_colour(cr, TEXT);
    set_font(cr, TICK_FONT, false);
    char label[16];
    for (int i = 0; i <= 5; i++) {
        snprintf(label, sizeof label, "%.1f", i / 5.0);
        draw_text(cr, label, bar.x + bar.w + 8, bar.y + bar.h - bar.h * i / 5.0, 0, 0.5);
    }
    set_font(cr, AXIS_TITLE_FONT, false);
    draw_text_up(cr, "Fraction of the true class", bar.x + bar.w + 50, bar.y + bar.h / 2);
}

static void draw_confusion(cairo_t *cr, const void *scene_ptr) {
    const confusion_scene *scene = scene_ptr;
    const uint32_t K = scene->classes;
    const double cell = confusion_cell(K), side = K * cell;
    const rect m = {CM_LEFT, CM_TOP, side, side};
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    /* The counts' font: one size for every cell, small enough for the widest count; none at
     * all when that would be unreadable. */
    uint32_t max_count = 0;
    for (size_t i = 0; i < (size_t)K * K; i++)
        if (scene->counts[i] > max_count) max_count = scene->counts[i];
    char text[32];
    snprintf(text, sizeof text, "%u", max_count);
    double count_font = fmin(15, cell * 0.3);
    set_font(cr, count_font, false);
    double widest = text_width(cr, text);
    if (widest > cell - 6) count_font *= (cell - 6) / widest;
    bool show_counts = count_font >= 6;

    for (uint32_t t = 0; t < K; t++) {
        uint64_t row_total = 0;
        for (uint32_t p = 0; p < K; p++)
            row_total += scene->counts[(size_t)t * K + p];
        for (uint32_t p = 0; p < K; p++) {
            uint32_t count = scene->counts[(size_t)t * K + p];
            double fraction = row_total > 0 ? (double)count / (double)row_total : 0;
            rgb c = blues(fraction);
            double x = m.x + p * cell, y = m.y + t * cell;
            set_colour(cr, c);
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_fill(cr);
            if (!show_counts) continue;
            /* White text where the cell is dark (relative luminance below 0.4). */
            double luminance = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
            if (luminance < 0.4)
                cairo_set_source_rgb(cr, 1, 1, 1);
            else
                set_colour(cr, TEXT);
            set_font(cr, count_font, false);
            snprintf(text, sizeof text, "%u", count);
            draw_text(cr, text, x + cell / 2, y + cell / 2, 0.5, 0.5);
        }
    }
    set_colour(cr, SPINE);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(m.x), crisp(m.y), side, side);
    cairo_stroke(cr);

    /* Class labels on both axes, thinned out when the cells are too small for all of them. */
    double label_font = fmin(TICK_FONT, fmax(8, cell * 0.45));
    set_font(cr, label_font, false);
    snprintf(text, sizeof text, "%u", K - 1);
    uint32_t stride = label_stride(cell, fmax(text_width(cr, text) + 6, label_font * 1.6));
    set_colour(cr, SPINE);
    for (uint32_t k = 0; k < K; k += stride) {
        double c = crisp(m.x + (k + 0.5) * cell);
        cairo_move_to(cr, c, m.y + side);
        cairo_line_to(cr, c, m.y + side + 4);
        c = crisp(m.y + (k + 0.5) * cell);
        cairo_move_to(cr, m.x, c);
        cairo_line_to(cr, m.x - 4, c);
    }
    cairo_stroke(cr);
    set_colour(cr, TEXT);
    for (uint32_t k = 0; k < K; k += stride) {
        snprintf(text, sizeof text, "%u", k);
        draw_text(cr, text, m.x + (k + 0.5) * cell, m.y + side + 9, 0.5, 0);
        draw_text(cr, text, m.x - 8, m.y + (k + 0.5) * cell, 1, 0.5);
    }
    set_font(cr, AXIS_TITLE_FONT, false);
    draw_text(cr, "Predicted", m.x + side / 2, m.y + side + 36, 0.5, 0);
    draw_text_up(cr, "True", 24, m.y + side / 2);
    set_font(cr, 16, true);
    set_colour(cr, BLACK);
    draw_text(cr, "Confusion matrix", m.x + side / 2, 20, 0.5, 0);

    draw_colour_bar(cr, (rect){m.x + side + 20, m.y, 16, side});
}

mcl_status mcl_plot_confusion(const uint32_t *counts, uint32_t classes, const char *out_path,
                              mcl_error *err) {
    if (counts == NULL || out_path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_plot_confusion: counts or out_path is NULL");
    if (classes < 2 || classes > 256)
        return mcl_fail(err, MCL_ERR_USAGE, "%s: a confusion matrix needs 2 to 256 classes, got %u",
                        out_path, classes);
    plot_format format;
    mcl_status st = plot_format_of(out_path, &format, err);
    if (st != MCL_OK) return st;
    uint32_t width, height;
    mcl_plot_confusion_size(classes, &width, &height);
    confusion_scene scene = {.counts = counts, .classes = classes};
    return render(out_path, format, (int)width, (int)height, draw_confusion, &scene, err);
}

mcl_status mcl_plot_check_path(const char *out_path, mcl_error *err) {
    if (out_path == NULL) return mcl_fail(err, MCL_ERR_USAGE, "mcl_plot_check_path: out_path is NULL");
    plot_format format;
    return plot_format_of(out_path, &format, err);
}

/* ---------------------------------------------------------------- misclassified images */

/* Pixels of the layout: an image box of 112 (28 x 4), a caption line under it, margins. */
enum {
    ERR_IMAGE_BOX = 112,
    ERR_CAPTION_W = 128, /* a caption's room: "true 7 → pred 1 (0.93)" at ERR_CAPTION_FONT */
    ERR_CAPTION_H = 16,
    ERR_GAP = 12,        /* between tiles, across and down */
    ERR_MARGIN = 20,
    ERR_HEADER = 66,     /* title and subtitle */
    ERR_MIN_WIDTH = 520,
    ERR_EMPTY_H = 40,    /* the line that says there is no mistake */
};
#define ERR_CAPTION_FONT 11.0
static const rgb WRONG = {0xd6 / 255.0, 0x27 / 255.0, 0x28 / 255.0}; /* matplotlib's tab:red */
static const rgb SUBTLE = {0.4, 0.4, 0.4};

void mcl_plot_errors_layout(uint32_t tiles, uint32_t rows, uint32_t cols, mcl_errors_layout *out) {
    memset(out, 0, sizeof *out);
    uint32_t side = rows > cols ? rows : cols;
    if (side == 0) side = 1;
    double scale = (double)ERR_IMAGE_BOX / side;
    out->scale = scale >= 1 ? floor(scale) : scale;
    /* (A shrunk side is 112 up to rounding: 200 * 0.56 is 112.00000000000001.) */
    out->image_w = (uint32_t)ceil(cols * out->scale - 1e-9);
    out->image_h = (uint32_t)ceil(rows * out->scale - 1e-9);
    uint32_t box_w = out->image_w > ERR_CAPTION_W ? out->image_w : ERR_CAPTION_W;
    out->cell_w = box_w + ERR_GAP;
    out->cell_h = out->image_h + 4 + ERR_CAPTION_H + ERR_GAP;
    const uint32_t per_row = tiles <= 100 ? 10 : 20;
    out->columns = tiles < per_row ? tiles : per_row;
    out->grid_rows = tiles == 0 ? 0 : (tiles + out->columns - 1) / out->columns;
    uint32_t grid_w = out->columns * out->cell_w;
    out->width = 2 * ERR_MARGIN + grid_w;
    if (out->width < ERR_MIN_WIDTH) out->width = ERR_MIN_WIDTH;
    out->left = (out->width - grid_w) / 2;
    out->top = ERR_HEADER;
    out->height = out->top + (tiles == 0 ? ERR_EMPTY_H : out->grid_rows * out->cell_h) + ERR_MARGIN;
}

/* One misclassified sample: what it is and what the model said. */
typedef struct error_tile {
    uint32_t index, truth, predicted;
    float confidence; /* the probability of the (wrong) predicted class */
} error_tile;

/* The most confident mistakes first; equal confidences in dataset order. */
static int by_confidence(const void *pa, const void *pb) {
    const error_tile *a = pa, *b = pb;
    if (a->confidence != b->confidence) return a->confidence > b->confidence ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

typedef struct errors_scene {
    const mcl_dataset *data;
    const error_tile *tiles;
    uint32_t shown, misclassified, total;
    const char *const *names; /* [classes] sanitized labels, or NULL */
    const char *subtitle;     /* sanitized, or "" */
    mcl_errors_layout layout;
} errors_scene;

static void class_label(const errors_scene *s, uint32_t k, char *out, size_t size) {
    if (s->names != NULL)
        snprintf(out, size, "%s", s->names[k]);
    else
        snprintf(out, size, "%u", k);
}

/* Draws image `index` of the dataset, dark ink on white, scaled into (x, y). */
static void draw_sample(cairo_t *cr, const errors_scene *s, uint32_t index, double x, double y) {
    const uint32_t rows = mcl_dataset_rows(s->data), cols = mcl_dataset_cols(s->data);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)cols, (int)rows);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_set_source_surface(cr, img, 0, 0); /* puts cr in the surface's error state */
        cairo_surface_destroy(img);
        return;
    }
    cairo_surface_flush(img);
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    const uint8_t *px = mcl_dataset_pixels(s->data) + (size_t)index * rows * cols;
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t *line = (uint32_t *)(void *)(data + (size_t)r * (size_t)stride);
        for (uint32_t c = 0; c < cols; c++) {
            uint32_t v = 255u - px[(size_t)r * cols + c];
            line[c] = v << 16 | v << 8 | v;
        }
    }
    cairo_surface_mark_dirty(img);
    const mcl_errors_layout *l = &s->layout;
    cairo_save(cr);
    cairo_rectangle(cr, x, y, l->image_w, l->image_h);
    cairo_clip(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, l->scale, l->scale);
    cairo_set_source_surface(cr, img, 0, 0);
    /* Enlarged pixels stay square (nearest); a shrunk image is averaged. */
    cairo_pattern_set_filter(cairo_get_source(cr),
                             l->scale >= 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    set_colour(cr, GRID);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, crisp(x - 1), crisp(y - 1), l->image_w + 1, l->image_h + 1);
    cairo_stroke(cr);
}

/* "true T" in black, then " → pred P (0.93)" in red, centred on cx and shrunk to fit width. */
static void draw_caption(cairo_t *cr, const errors_scene *s, const error_tile *t, double cx,
                         double y, double width) {
    char truth[160], label[128], wrong[192];
    class_label(s, t->truth, label, sizeof label);
    snprintf(truth, sizeof truth, "true %s", label);
    class_label(s, t->predicted, label, sizeof label);
    snprintf(wrong, sizeof wrong, " \xe2\x86\x92 pred %s (%.2f)", label, (double)t->confidence);
    double font = ERR_CAPTION_FONT;
    set_font(cr, font, false);
    double w = text_width(cr, truth) + text_width(cr, wrong);
    if (w > width) {
        font = fmax(font * width / w, 4);
        set_font(cr, font, false);
        w = text_width(cr, truth) + text_width(cr, wrong);
    }
    double x = cx - w / 2;
    set_colour(cr, TEXT);
    draw_text(cr, truth, x, y, 0, 0);
    set_colour(cr, WRONG);
    draw_text(cr, wrong, x + text_width(cr, truth), y, 0, 0);
}

static void draw_errors(cairo_t *cr, const void *scene_ptr) {
    const errors_scene *s = scene_ptr;
    const mcl_errors_layout *l = &s->layout;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char text[768];
    snprintf(text, sizeof text, "%u of %u misclassified", s->misclassified, s->total);
    set_font(cr, 17, true);
    set_colour(cr, BLACK);
    draw_text(cr, text, l->width / 2.0, 16, 0.5, 0);
    /* The subtitle: what was evaluated, then which mistakes are shown. */
    char note[64] = "";
    if (s->shown < s->misclassified)
        snprintf(note, sizeof note, "the %u most confident shown", s->shown);
    else if (s->shown > 1)
        snprintf(note, sizeof note, "the most confident first");
    snprintf(text, sizeof text, "%s%s%s", s->subtitle,
             s->subtitle[0] != '\0' && note[0] != '\0' ? " \xe2\x80\x94 " : "", note);
    set_font(cr, 12, false);
    const double room = l->width - 2.0 * ERR_MARGIN, w = text_width(cr, text);
    if (w > room) set_font(cr, fmax(12 * room / w, 4), false);
    set_colour(cr, SUBTLE);
    draw_text(cr, text, l->width / 2.0, 42, 0.5, 0);
    if (s->shown == 0) {
        set_font(cr, 13, false);
        set_colour(cr, TEXT);
        draw_text(cr, "No image is misclassified.", l->width / 2.0, l->top + 12, 0.5, 0);
        return;
    }
    for (uint32_t i = 0; i < s->shown; i++) {
        const error_tile *t = &s->tiles[i];
        double cell_x = l->left + (double)(i % l->columns) * l->cell_w;
        double cell_y = l->top + (double)(i / l->columns) * l->cell_h;
        double cx = cell_x + l->cell_w / 2.0;
        double image_x = round(cx - l->image_w / 2.0);
        draw_sample(cr, s, t->index, image_x, cell_y);
        draw_caption(cr, s, t, cx, cell_y + l->image_h + 5, l->cell_w - 4.0);
    }
}

mcl_status mcl_plot_errors(const mcl_dataset *data, const float *probs, uint32_t classes,
                           const mcl_errors_plot_options *options, const char *out_path,
                           mcl_errors_plot_info *info, mcl_error *err) {
    if (data == NULL || probs == NULL || out_path == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_plot_errors: data, probs or out_path is NULL");
    const mcl_errors_plot_options defaults = {0};
    if (options == NULL) options = &defaults;
    uint32_t max_images = options->max_images == 0 ? 100 : options->max_images;
    if (max_images > MCL_PLOT_ERRORS_MAX)
        return mcl_fail(err, MCL_ERR_USAGE, "%s: at most %u misclassified images can be drawn, not %u",
                        out_path, MCL_PLOT_ERRORS_MAX, max_images);
    if (classes < 1 || classes > 256)
        return mcl_fail(err, MCL_ERR_USAGE, "%s: 1 to 256 classes, got %u", out_path, classes);
    plot_format format;
    mcl_status st = plot_format_of(out_path, &format, err);
    if (st == MCL_OK) st = mcl_dataset_check_labels(data, classes, err);
    if (st != MCL_OK) return st;
    const uint32_t n = mcl_dataset_count(data);
    const uint8_t *labels = mcl_dataset_labels(data);
    uint32_t misclassified = 0;
    for (uint32_t i = 0; i < n; i++)
        misclassified += mcl_predicted_class(probs + (size_t)i * classes, classes) != labels[i];
    error_tile *tiles = mcl_malloc(((size_t)misclassified + 1) * sizeof *tiles);
    char(*names)[128] =
        options->class_names != NULL ? mcl_malloc((size_t)classes * sizeof *names) : NULL;
    const char **name_ptrs = names != NULL ? mcl_malloc((size_t)classes * sizeof *name_ptrs) : NULL;
    if (tiles == NULL || (options->class_names != NULL && (names == NULL || name_ptrs == NULL))) {
        free(tiles);
        free(names);
        free(name_ptrs);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory drawing the plot", out_path);
    }
    for (uint32_t i = 0, m = 0; i < n; i++) {
        const float *p = probs + (size_t)i * classes;
        uint32_t predicted = mcl_predicted_class(p, classes);
        if (predicted != labels[i])
            tiles[m++] = (error_tile){i, labels[i], predicted, p[predicted]};
    }
    qsort(tiles, misclassified, sizeof *tiles, by_confidence);
    for (uint32_t k = 0; names != NULL && k < classes; k++) {
        utf8_sanitize(options->class_names[k] != NULL ? options->class_names[k] : "?", names[k],
                      sizeof names[k]);
        name_ptrs[k] = names[k];
    }
    char subtitle[512];
    utf8_sanitize(options->subtitle != NULL ? options->subtitle : "", subtitle, sizeof subtitle);
    errors_scene scene = {.data = data,
                          .tiles = tiles,
                          .shown = misclassified < max_images ? misclassified : max_images,
                          .misclassified = misclassified,
                          .total = n,
                          .names = (const char *const *)name_ptrs,
                          .subtitle = subtitle};
    mcl_plot_errors_layout(scene.shown, mcl_dataset_rows(data), mcl_dataset_cols(data),
                           &scene.layout);
    st = render(out_path, format, (int)scene.layout.width, (int)scene.layout.height, draw_errors,
                &scene, err);
    if (st == MCL_OK && info != NULL)
        *info = (mcl_errors_plot_info){.misclassified = misclassified,
                                       .shown = scene.shown,
                                       .width = scene.layout.width,
                                       .height = scene.layout.height};
    free(tiles);
    free(names);
    free(name_ptrs);
    return st;
}
