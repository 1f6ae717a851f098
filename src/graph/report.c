/* What an evaluation's probabilities say per class: the predicted class of a row, the confusion
 * matrix, and sklearn's classification_report (precision, recall, F1 and support per class, then
 * accuracy and the macro and weighted averages), computed and printed as sklearn does. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"

uint32_t mcl_predicted_class(const float *probs, uint32_t classes) {
    uint32_t best = 0;
    for (uint32_t k = 1; k < classes; k++)
        if (probs[k] > probs[best]) best = k;
    return best;
}

void mcl_confusion_counts(const float *probs, const uint8_t *labels, uint32_t n, uint32_t classes,
                          uint32_t *counts) {
    memset(counts, 0, (size_t)classes * classes * sizeof *counts);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t predicted = mcl_predicted_class(probs + (size_t)i * classes, classes);
        counts[(size_t)labels[i] * classes + predicted]++;
    }
}

static double ratio(uint64_t num, uint64_t den) {
    return den > 0 ? (double)num / (double)den : 0.0;
}

void mcl_classification_report(const uint32_t *counts, uint32_t classes,
                               mcl_class_scores *per_class, mcl_report_summary *summary) {
    memset(summary, 0, sizeof *summary);
    uint64_t correct = 0;
    for (uint32_t k = 0; k < classes; k++) {
        uint64_t support = 0, predicted = 0;
        for (uint32_t j = 0; j < classes; j++) {
            support += counts[(size_t)k * classes + j];
            predicted += counts[(size_t)j * classes + k];
        }
        uint64_t tp = counts[(size_t)k * classes + k];
        /* sklearn's F-score from the counts, 2TP / (true + predicted): the same value as
         * 2PR / (P + R), and 0 (not NaN) where both are 0. */
        per_class[k] = (mcl_class_scores){.precision = ratio(tp, predicted),
                                          .recall = ratio(tp, support),
                                          .f1 = ratio(2 * tp, support + predicted),
                                          .support = support,
                                          .predicted = predicted};
        correct += tp;
        summary->total += support;
        if (support == 0 && predicted == 0) continue; /* not a label of y_true or y_pred */
        summary->reported++;
        summary->no_predictions += predicted == 0;
        summary->no_support += support == 0;
    }
    mcl_class_scores *macro = &summary->macro_avg, *weighted = &summary->weighted_avg;
    for (uint32_t k = 0; k < classes; k++) {
        const mcl_class_scores *c = &per_class[k];
        if (c->support == 0 && c->predicted == 0) continue;
        macro->precision += c->precision;
        macro->recall += c->recall;
        macro->f1 += c->f1;
        weighted->precision += c->precision * (double)c->support;
        weighted->recall += c->recall * (double)c->support;
        weighted->f1 += c->f1 * (double)c->support;
    }
    double reported = summary->reported, total = (double)summary->total;
    if (summary->reported > 0) {
        macro->precision /= reported;
        macro->recall /= reported;
        macro->f1 /= reported;
    }
    if (summary->total > 0) {
        weighted->precision /= total;
        weighted->recall /= total;
        weighted->f1 /= total;
    }
    macro->support = weighted->support = summary->total;
    macro->predicted = weighted->predicted = summary->total;
    summary->accuracy = ratio(correct, summary->total);
}

/* Appends to buf[0..size) at *len like snprintf, keeping count past the end. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) MCL_PRINTF(4, 5);
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

/* sklearn's row_fmt: "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n". */
static void put_row(char *buf, size_t size, size_t *len, int width, int digits, const char *name,
                    const mcl_class_scores *s) {
    put(buf, size, len, "%*s  %9.*f %9.*f %9.*f %9llu\n", width, name, digits, s->precision, digits,
        s->recall, digits, s->f1, (unsigned long long)s->support);
}

size_t mcl_classification_report_format(const mcl_class_scores *per_class, uint32_t classes,
                                        const mcl_report_summary *summary,
                                        const char *const *names, int digits, char *buf,
                                        size_t size) {
    digits = digits < 0 ? 0 : digits > 10 ? 10 : digits;
    char number[16];
    /* width = max(longest class name, len("weighted avg"), digits), as sklearn sets it. */
    int width = (int)strlen("weighted avg");
    for (uint32_t k = 0; k < classes; k++) {
        int n = names != NULL ? (int)strlen(names[k]) : snprintf(number, sizeof number, "%u", k);
        if (n > width) width = n;
    }
    if (digits > width) width = digits;
    size_t len = 0;
    if (size > 0) buf[0] = '\0';
    put(buf, size, &len, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score",
        "support");
    for (uint32_t k = 0; k < classes; k++) {
        if (per_class[k].support == 0 && per_class[k].predicted == 0) continue;
        snprintf(number, sizeof number, "%u", k);
        put_row(buf, size, &len, width, digits, names != NULL ? names[k] : number, &per_class[k]);
    }
    /* The accuracy row leaves precision and recall empty: " {:>9.{digits}}" of "". */
    put(buf, size, &len, "\n%*s  %9s %9s %9.*f %9llu\n", width, "accuracy", "", "", digits,
        summary->accuracy, (unsigned long long)summary->total);
    put_row(buf, size, &len, width, digits, "macro avg", &summary->macro_avg);
    put_row(buf, size, &len, width, digits, "weighted avg", &summary->weighted_avg);
    return len;
}
