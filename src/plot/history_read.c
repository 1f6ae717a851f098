/* Reading a training history for `mnist-cl plot`, in the forms users have:
 * - mnist-cl's CSV (epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds) and JSON
 *   ({"epochs": [{"epoch": 1, "loss": ...}, ...]}), as train --history writes them;
 * - Keras's CSVLogger file (epoch,accuracy,loss,lr,val_accuracy,val_loss; epochs from 0) and
 *   any CSV with a header naming at least loss and accuracy, in any order, other columns
 *   ignored;
 * - Keras's History.history dumped as JSON ({"loss": [...], "accuracy": [...], ...}), or a JSON
 *   array of per-epoch objects.
 * Old Keras names (acc, val_acc) and learning_rate are accepted. Epochs that start at 0 are
 * shifted to start at 1; without an epoch column the rows are epochs 1, 2, ... */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/read_file.h"
#include "plot/plot.h"

/* A number larger than this is no plausible loss, accuracy, learning rate or time, and would
 * make axis arithmetic overflow. */
#define HISTORY_MAX_MAGNITUDE 1e15
/* Larger than any history of MCL_HISTORY_MAX_ROWS epochs needs. */
#define HISTORY_MAX_BYTES (64u << 20)
#define JSON_MAX_DEPTH 8

typedef enum column {
    COL_EPOCH,
    COL_LOSS,
    COL_ACCURACY,
    COL_VAL_LOSS,
    COL_VAL_ACCURACY,
    COL_LR,
    COL_SECONDS,
    COL_COUNT,
    COL_IGNORED = -1
} column;

static const char *const column_names[COL_COUNT] = {
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"};

/* The column a header name stands for (Keras's spellings too). */
static column column_of(const char *name, size_t len) {
    static const struct {
        const char *name;
        column col;
    } names[] = {{"epoch", COL_EPOCH},
                 {"loss", COL_LOSS},
                 {"accuracy", COL_ACCURACY},
                 {"acc", COL_ACCURACY},
                 {"val_loss", COL_VAL_LOSS},
                 {"val_accuracy", COL_VAL_ACCURACY},
                 {"val_acc", COL_VAL_ACCURACY},
                 {"lr", COL_LR},
                 {"learning_rate", COL_LR},
                 {"seconds", COL_SECONDS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
            return names[i].col;
    return COL_IGNORED;
}

/* One epoch's values as read, before the checks. */
typedef struct raw_row {
    bool present[COL_COUNT];
    double value[COL_COUNT];
} raw_row;

/* Where a value came from, for messages: "FILE:LINE" for CSV, "FILE: epoch entry N" for JSON. */
typedef struct source {
    const char *path;
    unsigned long line; /* 0 in JSON */
    size_t entry;       /* 0-based, JSON */
} source;

static mcl_status fail_at(const source *s, mcl_error *err, const char *fmt, ...) MCL_PRINTF(3, 4);
static mcl_status fail_at(const source *s, mcl_error *err, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->line > 0) return mcl_fail(err, MCL_ERR_FORMAT, "%s:%lu: %s", s->path, s->line, msg);
    return mcl_fail(err, MCL_ERR_FORMAT, "%s: epoch entry %zu: %s", s->path, s->entry + 1, msg);
}

static mcl_status check_number(const source *s, column c, double v, mcl_error *err) {
    if (!isfinite(v))
        return fail_at(s, err, "%s is not a finite number; a history with NaN or infinity cannot "
                               "be plotted",
                       column_names[c]);
    if (fabs(v) > HISTORY_MAX_MAGNITUDE)
        return fail_at(s, err, "%s: %g is out of range (at most %g)", column_names[c], v,
                       HISTORY_MAX_MAGNITUDE);
    return MCL_OK;
}

/* Builds the checked row from a raw one; `index` is the row's place (0-based), which is its
 * epoch when there is no epoch column. */
static mcl_status finish_row(const source *s, const raw_row *raw, size_t index,
                             mcl_history_row *row, mcl_error *err) {
    memset(row, 0, sizeof *row);
    for (int c = 0; c < COL_COUNT; c++)
        if (raw->present[c]) {
            mcl_status st = check_number(s, (column)c, raw->value[c], err);
            if (st != MCL_OK) return st;
        }
    if (!raw->present[COL_LOSS] || !raw->present[COL_ACCURACY])
        return fail_at(s, err, "%s: expected a number", raw->present[COL_LOSS] ? "accuracy" : "loss");
    double epoch = raw->present[COL_EPOCH] ? raw->value[COL_EPOCH] : (double)index + 1;
    if (epoch < 0 || epoch != floor(epoch) || epoch > 1e9)
        return fail_at(s, err, "epoch: expected a whole number, got %g", epoch);
    row->epoch = (uint32_t)epoch;
    row->loss = raw->value[COL_LOSS];
    row->accuracy = raw->value[COL_ACCURACY];
    if (raw->present[COL_VAL_LOSS] != raw->present[COL_VAL_ACCURACY])
        return fail_at(s, err, "val_loss and val_accuracy must both be numbers or both be empty");
    row->has_validation = raw->present[COL_VAL_LOSS];
    row->val_loss = row->has_validation ? raw->value[COL_VAL_LOSS] : NAN;
    row->val_accuracy = row->has_validation ? raw->value[COL_VAL_ACCURACY] : NAN;
    row->has_lr = raw->present[COL_LR];
    row->lr = row->has_lr ? raw->value[COL_LR] : NAN;
    row->seconds = raw->present[COL_SECONDS] ? raw->value[COL_SECONDS] : NAN;
    return MCL_OK;
}

static mcl_status append_row(mcl_history_table *t, size_t *cap, const mcl_history_row *row,
                             const source *s, mcl_error *err) {
    if (t->count == MCL_HISTORY_MAX_ROWS)
        return fail_at(s, err, "more than %u epochs", MCL_HISTORY_MAX_ROWS);
    if (t->count > 0 && row->epoch <= t->rows[t->count - 1].epoch)
        return fail_at(s, err, "epoch %u does not follow epoch %u; epochs must increase",
                       row->epoch, t->rows[t->count - 1].epoch);
    if (t->count == *cap) {
        size_t grown = *cap ? *cap * 2 : 64;
        mcl_history_row *p = mcl_realloc(t->rows, grown * sizeof *p);
        if (p == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory reading the history",
                            s->path);
        t->rows = p;
        *cap = grown;
    }
    t->rows[t->count++] = *row;
    if (row->has_validation) t->any_validation = true;
    return MCL_OK;
}

/* After every row is in: epochs counted from 0 (Keras's CSVLogger) start at 1, and whether the
 * learning rate is there and changes (then it gets a panel of its own). */
static void finish_table(mcl_history_table *t) {
    if (t->count > 0 && t->rows[0].epoch == 0)
        for (size_t i = 0; i < t->count; i++)
            t->rows[i].epoch++;
    bool all_lr = true;
    for (size_t i = 0; i < t->count; i++)
        all_lr = all_lr && t->rows[i].has_lr;
    t->lr_varies = false;
    for (size_t i = 1; all_lr && i < t->count; i++)
        if (t->rows[i].lr != t->rows[0].lr) t->lr_varies = true;
}

/* ---------------------------------------------------------------- CSV */

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

enum { CSV_MAX_COLUMNS = 64 };

/* The next line of the buffer (at *pos) into line, without its "\n" or "\r\n"; false at the
 * end. *too_long is set for a line past MCL_HISTORY_MAX_LINE. */
static bool next_line(const char *data, size_t size, size_t *pos, char *line, bool *too_long) {
    if (*pos >= size) return false;
    const char *start = data + *pos;
    const char *nl = memchr(start, '\n', size - *pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : size - *pos;
    *pos += n + (nl != NULL);
    if (n > 0 && start[n - 1] == '\r') n--;
    *too_long = n > MCL_HISTORY_MAX_LINE;
    if (*too_long) n = 0;
    memcpy(line, start, n);
    line[n] = '\0';
    return true;
}

static mcl_status read_csv(const char *path, const char *data, size_t size,
                           mcl_history_table *t, mcl_error *err) {
    char line[MCL_HISTORY_MAX_LINE + 1];
    column columns[CSV_MAX_COLUMNS];
    int ncolumns = 0;
    size_t pos = 0, cap = 0;
    source s = {path, 0, 0};
    bool too_long = false;
    while (next_line(data, size, &pos, line, &too_long)) {
        s.line++;
        if (too_long)
            return fail_at(&s, err, "line longer than %u characters", MCL_HISTORY_MAX_LINE);
        char *text = trim(line);
        if (s.line == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3; /* a UTF-8 BOM */
        if (text[0] == '\0') {
            if (ncolumns == 0) break; /* an empty first line: reported below */
            continue;                 /* a blank line, typically at the end */
        }
        char *fields[CSV_MAX_COLUMNS];
        int n = 0;
        for (char *p = text;;) {
            char *comma = strchr(p, ',');
            if (comma != NULL) *comma = '\0';
            if (n < CSV_MAX_COLUMNS) fields[n] = trim(p);
            n++;
            if (comma == NULL) break;
            p = comma + 1;
        }
        if (ncolumns == 0) {
            if (n > CSV_MAX_COLUMNS)
                return fail_at(&s, err, "more than %d columns in the header", CSV_MAX_COLUMNS);
            bool seen[COL_COUNT] = {false};
            for (int i = 0; i < n; i++) {
                /* A spreadsheet may quote the names. */
                char *name = fields[i];
                size_t len = strlen(name);
                if (len >= 2 && name[0] == '"' && name[len - 1] == '"') name++, len -= 2;
                columns[i] = column_of(name, len);
                if (columns[i] == COL_IGNORED) continue;
                if (seen[columns[i]])
                    return fail_at(&s, err, "the header names %s twice", column_names[columns[i]]);
                seen[columns[i]] = true;
            }
            if (!seen[COL_LOSS] || !seen[COL_ACCURACY])
                return fail_at(&s, err,
                               "not a training history: the header must name loss and accuracy "
                               "columns (as '%s' or Keras's CSVLogger), got '%.60s'",
                               MCL_HISTORY_CSV_HEADER, fields[0]);
            ncolumns = n;
            continue;
        }
        if (n != ncolumns)
            return fail_at(&s, err, "expected %d comma-separated fields, as the header, got %d",
                           ncolumns, n);
        raw_row raw = {0};
        for (int i = 0; i < n; i++) {
            column c = columns[i];
            if (c == COL_IGNORED) continue;
            const char *f = fields[i];
            if (f[0] == '\0') {
                if (c == COL_VAL_LOSS || c == COL_VAL_ACCURACY || c == COL_LR || c == COL_SECONDS)
                    continue; /* not measured that epoch */
                return fail_at(&s, err, "%s: expected a number, got an empty field",
                               column_names[c]);
            }
            char *end = NULL;
            errno = 0;
            double v = strtod(f, &end);
            if (end == f || *end != '\0')
                return fail_at(&s, err, "%s: expected a number, got '%.40s'", column_names[c], f);
            raw.present[c] = true;
            raw.value[c] = v;
        }
        mcl_history_row row;
        mcl_status st = finish_row(&s, &raw, t->count, &row, err);
        if (st == MCL_OK) st = append_row(t, &cap, &row, &s, err);
        if (st != MCL_OK) return st;
    }
    if (ncolumns == 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s:1: the file is empty; expected a header such as '%s'",
                        path, MCL_HISTORY_CSV_HEADER);
    if (t->count == 0)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s:%lu: no epochs after the header", path,
                        s.line + 1);
    return MCL_OK;
}

/* ---------------------------------------------------------------- JSON */

/* A small JSON reader for the two shapes above: only what a history needs is kept (numbers in
 * objects and arrays); strings are skipped; nesting is limited. */
typedef struct json {
    const char *start, *p, *end;
    const char *path;
    mcl_error *err;
} json;

static void json_space(json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static mcl_status json_fail(json *j, const char *what) {
    return mcl_fail(j->err, MCL_ERR_FORMAT, "%s: invalid JSON history at byte %zu: %s", j->path,
                    (size_t)(j->p - j->start), what);
}

static bool json_take(json *j, char c) {
    json_space(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

/* A string into key (cut to size - 1 bytes; escapes kept as they are, which no key we want
 * has). */
static mcl_status json_string(json *j, char *key, size_t size) {
    json_space(j);
    if (j->p >= j->end || *j->p != '"') return json_fail(j, "expected a string");
    j->p++;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\') {
            if (j->end - j->p < 2) break;
            if (key != NULL && n + 1 < size) key[n++] = j->p[0];
            j->p++;
        }
        if (key != NULL && n + 1 < size) key[n++] = *j->p;
        j->p++;
    }
    if (j->p >= j->end) return json_fail(j, "a string does not end");
    j->p++;
    if (key != NULL && size > 0) key[n] = '\0';
    return MCL_OK;
}

static mcl_status json_number(json *j, double *out) {
    json_space(j);
    char buf[64];
    size_t n = 0;
    while (j->p + n < j->end && n + 1 < sizeof buf && strchr("+-0123456789.eE", j->p[n]) != NULL &&
           j->p[n] != '\0')
        n++;
    memcpy(buf, j->p, n);
    buf[n] = '\0';
    char *end = NULL;
    double v = n > 0 ? strtod(buf, &end) : 0;
    if (n == 0 || end != buf + n) return json_fail(j, "expected a number");
    j->p += n;
    *out = v;
    return MCL_OK;
}

/* Skips any value (for keys we do not read). */
static mcl_status json_skip(json *j, int depth) {
    json_space(j);
    if (depth > JSON_MAX_DEPTH) return json_fail(j, "nested too deeply");
    if (j->p >= j->end) return json_fail(j, "expected a value");
    char c = *j->p;
    if (c == '"') return json_string(j, NULL, 0);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (json_take(j, close)) return MCL_OK;
        do {
            mcl_status st = MCL_OK;
            if (c == '{') {
                st = json_string(j, NULL, 0);
                if (st == MCL_OK && !json_take(j, ':')) st = json_fail(j, "expected ':'");
            }
            if (st == MCL_OK) st = json_skip(j, depth + 1);
            if (st != MCL_OK) return st;
        } while (json_take(j, ','));
        return json_take(j, close) ? MCL_OK : json_fail(j, "expected ',' or the end of a list");
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= len && memcmp(j->p, words[i], len) == 0) {
            j->p += len;
            return MCL_OK;
        }
    }
    double ignored;
    return json_number(j, &ignored);
}

/* A value that is a number, or null (not measured): *present says which. */
static mcl_status json_number_or_null(json *j, double *out, bool *present) {
    json_space(j);
    if ((size_t)(j->end - j->p) >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        *present = false;
        return MCL_OK;
    }
    *present = true;
    return json_number(j, out);
}

/* One per-epoch object: {"epoch": 1, "loss": ..., ...}. */
static mcl_status json_row_object(json *j, raw_row *raw) {
    if (!json_take(j, '{')) return json_fail(j, "expected an object for an epoch");
    if (json_take(j, '}')) return MCL_OK;
    do {
        char key[32];
        mcl_status st = json_string(j, key, sizeof key);
        if (st == MCL_OK && !json_take(j, ':')) st = json_fail(j, "expected ':'");
        if (st != MCL_OK) return st;
        column c = column_of(key, strlen(key));
        if (c == COL_IGNORED) {
            st = json_skip(j, 2);
        } else {
            bool present = false;
            double v = 0;
            st = json_number_or_null(j, &v, &present);
            raw->present[c] = present;
            raw->value[c] = v;
        }
        if (st != MCL_OK) return st;
    } while (json_take(j, ','));
    return json_take(j, '}') ? MCL_OK : json_fail(j, "expected ',' or '}'");
}

/* [ {...}, {...} ]: a list of epochs. */
static mcl_status json_rows(json *j, mcl_history_table *t, size_t *cap) {
    if (!json_take(j, '[')) return json_fail(j, "expected a list of epochs");
    if (json_take(j, ']')) return MCL_OK;
    do {
        raw_row raw = {0};
        source s = {j->path, 0, t->count};
        mcl_status st = json_row_object(j, &raw);
        mcl_history_row row;
        if (st == MCL_OK) st = finish_row(&s, &raw, t->count, &row, j->err);
        if (st == MCL_OK) st = append_row(t, cap, &row, &s, j->err);
        if (st != MCL_OK) return st;
    } while (json_take(j, ','));
    return json_take(j, ']') ? MCL_OK : json_fail(j, "expected ',' or ']'");
}

/* Keras's History.history: {"loss": [...], "accuracy": [...], ...}, one list per metric. */
typedef struct metric_lists {
    double *values[COL_COUNT];
    bool *present[COL_COUNT];
    size_t count[COL_COUNT];
    size_t cap[COL_COUNT];
    bool seen[COL_COUNT];
} metric_lists;

static void metric_lists_free(metric_lists *m) {
    for (int c = 0; c < COL_COUNT; c++) {
        free(m->values[c]);
        free(m->present[c]);
    }
}

static mcl_status json_list(json *j, metric_lists *m, column c) {
    /* "acc" and "accuracy" name one column: a second list for it would mix two runs. */
    if (m->seen[c])
        return mcl_fail(j->err, MCL_ERR_FORMAT, "%s: '%s' is given twice", j->path,
                        column_names[c]);
    if (!json_take(j, '[')) return json_fail(j, "expected a list of numbers");
    m->seen[c] = true;
    if (json_take(j, ']')) return MCL_OK;
    do {
        if (m->count[c] == MCL_HISTORY_MAX_ROWS)
            return mcl_fail(j->err, MCL_ERR_FORMAT, "%s: more than %u epochs", j->path,
                            MCL_HISTORY_MAX_ROWS);
        if (m->count[c] == m->cap[c]) {
            size_t cap = m->cap[c] ? m->cap[c] * 2 : 64;
            double *v = mcl_realloc(m->values[c], cap * sizeof *v);
            if (v != NULL) m->values[c] = v;
            bool *p = mcl_realloc(m->present[c], cap * sizeof *p);
            if (v != NULL && p != NULL) m->cap[c] = cap;
            if (p != NULL) m->present[c] = p;
            if (v == NULL || p == NULL)
                return mcl_fail(j->err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", j->path);
        }
        size_t k = m->count[c]++;
        mcl_status st = json_number_or_null(j, &m->values[c][k], &m->present[c][k]);
        if (st != MCL_OK) return st;
    } while (json_take(j, ','));
    return json_take(j, ']') ? MCL_OK : json_fail(j, "expected ',' or ']'");
}

static mcl_status json_metric_lists(json *j, metric_lists *m, mcl_history_table *t, size_t *cap) {
    size_t n = m->count[COL_LOSS];
    for (int c = 0; c < COL_COUNT; c++)
        if (m->seen[c] && m->count[c] != n)
            return mcl_fail(j->err, MCL_ERR_FORMAT,
                            "%s: '%s' holds %zu values but 'loss' holds %zu; every metric needs "
                            "one per epoch",
                            j->path, column_names[c], m->count[c], n);
    for (size_t i = 0; i < n; i++) {
        raw_row raw = {0};
        for (int c = 0; c < COL_COUNT; c++)
            if (m->seen[c] && m->present[c][i]) {
                raw.present[c] = true;
                raw.value[c] = m->values[c][i];
            }
        source s = {j->path, 0, i};
        mcl_history_row row;
        mcl_status st = finish_row(&s, &raw, i, &row, j->err);
        if (st == MCL_OK) st = append_row(t, cap, &row, &s, j->err);
        if (st != MCL_OK) return st;
    }
    return MCL_OK;
}

static mcl_status read_json(const char *path, const char *data, size_t size,
                            mcl_history_table *t, mcl_error *err) {
    json j = {data, data, data + size, path, err};
    size_t cap = 0;
    mcl_status st = MCL_OK;
    json_space(&j);
    if (j.p < j.end && *j.p == '[') {
        st = json_rows(&j, t, &cap);
    } else if (json_take(&j, '{')) {
        metric_lists m = {0};
        bool rows_seen = false;
        if (!json_take(&j, '}')) {
            do {
                char key[32];
                st = json_string(&j, key, sizeof key);
                if (st == MCL_OK && !json_take(&j, ':')) st = json_fail(&j, "expected ':'");
                if (st != MCL_OK) break;
                column c = column_of(key, strlen(key));
                if (strcmp(key, "epochs") == 0 || strcmp(key, "history") == 0) {
                    json_space(&j);
                    if (j.p < j.end && *j.p == '[') {
                        rows_seen = true;
                        st = json_rows(&j, t, &cap);
                    } else {
                        st = json_skip(&j, 1);
                    }
                } else if (c != COL_IGNORED && c != COL_EPOCH) {
                    st = json_list(&j, &m, c);
                } else {
                    st = json_skip(&j, 1);
                }
            } while (st == MCL_OK && json_take(&j, ','));
            if (st == MCL_OK && !json_take(&j, '}')) st = json_fail(&j, "expected ',' or '}'");
        }
        if (st == MCL_OK && !rows_seen) {
            if (!m.seen[COL_LOSS] || !m.seen[COL_ACCURACY])
                st = mcl_fail(err, MCL_ERR_FORMAT,
                              "%s: not a training history: expected {\"epochs\": [...]} or "
                              "Keras's history with \"loss\" and \"accuracy\" lists",
                              path);
            else
                st = json_metric_lists(&j, &m, t, &cap);
        }
        metric_lists_free(&m);
    } else {
        st = json_fail(&j, "expected '{' or '['");
    }
    json_space(&j);
    if (st == MCL_OK && j.p != j.end) st = json_fail(&j, "text after the history");
    if (st == MCL_OK && t->count == 0)
        st = mcl_fail(err, MCL_ERR_FORMAT, "%s: the history holds no epochs", path);
    return st;
}

/* Parses the whole file's bytes (owned by the caller) into *out. */
static mcl_status parse_history(const char *path, const uint8_t *data, size_t size,
                                mcl_history_table *out, mcl_error *err) {
    mcl_status st = MCL_OK;
    if (size > 0 && memchr(data, '\0', size) != NULL)
        return mcl_fail(err, MCL_ERR_FORMAT, "%s: not a training history: the file holds a NUL "
                                             "byte (a binary file?)",
                        path);
    const char *text = (const char *)data;
    size_t skip = size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    size_t first = skip;
    while (first < size && strchr(" \t\r\n", text[first]) != NULL)
        first++;
    mcl_history_table t = {0};
    if (first < size && (text[first] == '{' || text[first] == '['))
        st = read_json(path, text + skip, size - skip, &t, err);
    else
        st = read_csv(path, text, size, &t, err);
    if (st != MCL_OK) {
        mcl_history_table_free(&t);
        return st;
    }
    finish_table(&t);
    *out = t;
    return MCL_OK;
}

mcl_status mcl_history_read(const char *path, mcl_history_table *out, mcl_error *err) {
    if (out != NULL) memset(out, 0, sizeof *out);
    if (path == NULL || out == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_history_read: path or out is NULL");
    uint8_t *data = NULL;
    size_t size = 0;
    mcl_status st = mcl_read_file(path, "a training history", HISTORY_MAX_BYTES, &data, &size, err);
    if (st == MCL_OK) st = parse_history(path, data, size, out, err);
    free(data);
    return st;
}

mcl_status mcl_history_read_stream(FILE *f, const char *path, mcl_history_table *out,
                                   mcl_error *err) {
    if (out != NULL) memset(out, 0, sizeof *out);
    if (f == NULL || path == NULL || out == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_history_read_stream: f, path or out is NULL");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    mcl_status st = MCL_OK;
    for (;;) {
        if (size == cap) {
            if (cap >= HISTORY_MAX_BYTES) {
                st = mcl_fail(err, MCL_ERR_FORMAT, "%s: larger than %u bytes", path,
                              HISTORY_MAX_BYTES);
                break;
            }
            cap = cap ? cap * 2 : 4096;
            uint8_t *grown = mcl_realloc(data, cap);
            if (grown == NULL) {
                st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "%s: out of host memory", path);
                break;
            }
            data = grown;
        }
        size_t n = fread(data + size, 1, cap - size, f);
        size += n;
        if (n == 0) {
            if (ferror(f)) st = mcl_fail(err, MCL_ERR_IO, "%s: cannot read the history", path);
            break;
        }
    }
    if (st == MCL_OK) st = parse_history(path, data, size, out, err);
    free(data);
    return st;
}

void mcl_history_table_free(mcl_history_table *table) {
    if (table == NULL) return;
    free(table->rows);
    memset(table, 0, sizeof *table);
}
