/* The classification report: sklearn's precision, recall, F1, support, accuracy and macro and
 * weighted averages from a confusion matrix, with its zero_division behaviour and its exact text
 * layout; and the argmax and confusion counts it is built on. No device needed: the numbers
 * below are derived by hand from sklearn's definitions. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mnistcl/mnistcl.h"
#include "test_util.h"

/* Ratios of small integers computed in double: exact to the last bit or two. */
#define EXACT 1e-12

/* 4 classes, rows true, columns predicted. Class 2 is never predicted (its precision is
 * ill-defined: 0.0 and a warning in sklearn), class 3 neither occurs nor is predicted (sklearn's
 * default labels, unique_labels(y_true, y_pred), leave it out).
 *
 *   support:   6, 5, 2, 0        predicted (column sums): 8, 5, 0, 0        total 13
 *   class 0:   P = 5/8 = 0.625   R = 5/6 = 0.8333   F1 = 2*5/(6+8) = 10/14 = 0.7143
 *   class 1:   P = 3/5 = 0.6     R = 3/5 = 0.6      F1 = 2*3/(5+5) = 0.6
 *   class 2:   P = 0 (0/0)       R = 0/2 = 0        F1 = 0/(2+0) = 0
 *   accuracy   (5+3)/13 = 0.6154
 *   macro      P = (0.625+0.6+0)/3 = 0.4083   R = (5/6+0.6+0)/3 = 0.4778
 *              F1 = (10/14+0.6+0)/3 = 0.4381
 *   weighted   P = (0.625*6+0.6*5+0*2)/13 = 6.75/13 = 0.5192   R = 8/13 = 0.6154
 *              F1 = (10/14*6+0.6*5)/13 = 0.5604 */
static const uint32_t COUNTS[16] = {
    5, 1, 0, 0, /* true 0 */
    2, 3, 0, 0, /* true 1 */
    1, 1, 0, 0, /* true 2 */
    0, 0, 0, 0, /* true 3 */
};

/* What sklearn.metrics.classification_report prints for those labels (digits=2). 0.625 is
 * exact in binary and rounds half to even, to 0.62, in Python's format and C's printf alike. */
static const char *const SKLEARN_TEXT = "              precision    recall  f1-score   support\n"
                                        "\n"
                                        "           0       0.62      0.83      0.71         6\n"
                                        "           1       0.60      0.60      0.60         5\n"
                                        "           2       0.00      0.00      0.00         2\n"
                                        "\n"
                                        "    accuracy                           0.62        13\n"
                                        "   macro avg       0.41      0.48      0.44        13\n"
                                        "weighted avg       0.52      0.62      0.56        13\n";

START_TEST(test_report_numbers) {
    mcl_class_scores c[4];
    mcl_report_summary s;
    mcl_classification_report(COUNTS, 4, c, &s);
    ck_assert_double_eq_tol(c[0].precision, 0.625, EXACT);
    ck_assert_double_eq_tol(c[0].recall, 5.0 / 6, EXACT);
    ck_assert_double_eq_tol(c[0].f1, 10.0 / 14, EXACT);
    ck_assert_uint_eq(c[0].support, 6);
    ck_assert_uint_eq(c[0].predicted, 8);
    ck_assert_double_eq_tol(c[1].precision, 0.6, EXACT);
    ck_assert_double_eq_tol(c[1].recall, 0.6, EXACT);
    ck_assert_double_eq_tol(c[1].f1, 0.6, EXACT);
    ck_assert_double_eq(c[2].precision, 0.0);
    ck_assert_double_eq(c[2].recall, 0.0);
    ck_assert_double_eq(c[2].f1, 0.0);
    ck_assert_uint_eq(c[2].support, 2);
    ck_assert_uint_eq(c[3].support + c[3].predicted, 0);
    ck_assert_uint_eq(s.total, 13);
    ck_assert_uint_eq(s.reported, 3);
    ck_assert_uint_eq(s.no_predictions, 1);
    ck_assert_uint_eq(s.no_support, 0);
    ck_assert_double_eq_tol(s.accuracy, 8.0 / 13, EXACT);
    ck_assert_double_eq_tol(s.macro_avg.precision, (0.625 + 0.6) / 3, EXACT);
    ck_assert_double_eq_tol(s.macro_avg.recall, (5.0 / 6 + 0.6) / 3, EXACT);
    ck_assert_double_eq_tol(s.macro_avg.f1, (10.0 / 14 + 0.6) / 3, EXACT);
    ck_assert_double_eq_tol(s.weighted_avg.precision, 6.75 / 13, EXACT);
    ck_assert_double_eq_tol(s.weighted_avg.recall, 8.0 / 13, EXACT); /* always the accuracy */
    ck_assert_double_eq_tol(s.weighted_avg.f1, (10.0 / 14 * 6 + 3) / 13, EXACT);
    ck_assert_uint_eq(s.macro_avg.support, 13);
    ck_assert_uint_eq(s.weighted_avg.support, 13);
}
END_TEST

START_TEST(test_report_text_is_sklearns) {
    mcl_class_scores c[4];
    mcl_report_summary s;
    mcl_classification_report(COUNTS, 4, c, &s);
    char text[2048];
    size_t len = mcl_classification_report_format(c, 4, &s, NULL, 2, text, sizeof text);
    ck_assert_str_eq(text, SKLEARN_TEXT);
    ck_assert_uint_eq(len, strlen(SKLEARN_TEXT));
    /* Measuring, then a buffer too small: the length is still the whole text's, and what fits
     * is its beginning, terminated. */
    ck_assert_uint_eq(mcl_classification_report_format(c, 4, &s, NULL, 2, NULL, 0), len);
    char small[20];
    ck_assert_uint_eq(mcl_classification_report_format(c, 4, &s, NULL, 2, small, sizeof small),
                      len);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(strncmp(small, SKLEARN_TEXT, sizeof small - 1), 0);
}
END_TEST

/* The example of sklearn's documentation of classification_report, y_true = [0, 1, 2, 2, 2],
 * y_pred = [0, 0, 2, 2, 1], target_names = ["class 0", "class 1", "class 2"], and the text it
 * shows for it. */
START_TEST(test_report_sklearn_doc_example) {
    const uint32_t counts[9] = {1, 0, 0, 1, 0, 0, 0, 1, 2};
    const char *const names[3] = {"class 0", "class 1", "class 2"};
    mcl_class_scores c[3];
    mcl_report_summary s;
    mcl_classification_report(counts, 3, c, &s);
    char text[1024];
    mcl_classification_report_format(c, 3, &s, names, 2, text, sizeof text);
    ck_assert_str_eq(text, "              precision    recall  f1-score   support\n"
                           "\n"
                           "     class 0       0.50      1.00      0.67         1\n"
                           "     class 1       0.00      0.00      0.00         1\n"
                           "     class 2       1.00      0.67      0.80         3\n"
                           "\n"
                           "    accuracy                           0.60         5\n"
                           "   macro avg       0.50      0.56      0.49         5\n"
                           "weighted avg       0.70      0.60      0.61         5\n");
}
END_TEST

/* Class names widen the name column past "weighted avg", as sklearn's target_names do, and
 * digits=4 gives four decimals. */
START_TEST(test_report_names_and_digits) {
    mcl_class_scores c[4];
    mcl_report_summary s;
    mcl_classification_report(COUNTS, 4, c, &s);
    const char *const names[4] = {"T-shirt/top", "Trouser", "Pullover with hood", "Dress"};
    char text[2048];
    mcl_classification_report_format(c, 4, &s, names, 4, text, sizeof text);
    const char *want_head = "                    precision    recall  f1-score   support\n\n";
    ck_assert_int_eq(strncmp(text, want_head, strlen(want_head)), 0);
    ck_assert_ptr_nonnull(strstr(text, "\n       T-shirt/top     0.6250    0.8333    0.7143         6\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nPullover with hood     0.0000    0.0000    0.0000         2\n"));
    ck_assert_ptr_nonnull(strstr(text, "\n      weighted avg     0.5192    0.6154    0.5604        13\n"));
    ck_assert_ptr_null(strstr(text, "Dress")); /* neither true nor predicted */
}
END_TEST

/* A class that is predicted but never occurs: its recall is the ill-defined one. A perfect
 * classifier scores 1 everywhere. An empty matrix gives zeros, not NaN. */
START_TEST(test_report_edge_cases) {
    const uint32_t predicted_only[4] = {3, 1, 0, 0}; /* true 0 predicted as 1 once */
    mcl_class_scores c[2];
    mcl_report_summary s;
    mcl_classification_report(predicted_only, 2, c, &s);
    ck_assert_uint_eq(s.reported, 2);
    ck_assert_uint_eq(s.no_support, 1);
    ck_assert_uint_eq(s.no_predictions, 0);
    ck_assert_double_eq(c[1].precision, 0.0);
    ck_assert_double_eq(c[1].recall, 0.0);
    ck_assert_double_eq_tol(c[0].recall, 0.75, EXACT);
    ck_assert_double_eq_tol(c[0].f1, 6.0 / 7, EXACT); /* 2*3 / (4 + 3) */

    const uint32_t perfect[9] = {4, 0, 0, 0, 7, 0, 0, 0, 1};
    mcl_class_scores p[3];
    mcl_classification_report(perfect, 3, p, &s);
    ck_assert_double_eq(s.accuracy, 1.0);
    ck_assert_double_eq(s.macro_avg.f1, 1.0);
    ck_assert_double_eq(s.weighted_avg.precision, 1.0);

    const uint32_t empty[4] = {0};
    mcl_classification_report(empty, 2, c, &s);
    ck_assert_uint_eq(s.reported, 0);
    ck_assert_double_eq(s.accuracy, 0.0);
    ck_assert_double_eq(s.macro_avg.f1, 0.0);
    ck_assert_double_eq(s.weighted_avg.f1, 0.0);
}
END_TEST

START_TEST(test_argmax_and_confusion) {
    /* Ties go to the lower class, as NumPy's argmax and the device's do. */
    const float tie[3] = {0.25f, 0.375f, 0.375f};
    ck_assert_uint_eq(mcl_predicted_class(tie, 3), 1);
    const float probs[4 * 3] = {0.7f, 0.2f, 0.1f,  /* true 0, predicted 0 */
                                0.1f, 0.1f, 0.8f,  /* true 1, predicted 2 */
                                0.3f, 0.3f, 0.4f,  /* true 2, predicted 2 */
                                0.5f, 0.5f, 0.0f}; /* true 1, predicted 0 (tie) */
    const uint8_t labels[4] = {0, 1, 2, 1};
    uint32_t counts[9];
    memset(counts, 0xff, sizeof counts); /* overwritten, not added to */
    mcl_confusion_counts(probs, labels, 4, 3, counts);
    const uint32_t want[9] = {1, 0, 0, 1, 0, 1, 0, 0, 1};
    ck_assert_mem_eq(counts, want, sizeof want);
}
END_TEST

static Suite *report_suite(void) {
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_test(tc, test_report_numbers);
    tcase_add_test(tc, test_report_text_is_sklearns);
    tcase_add_test(tc, test_report_sklearn_doc_example);
    tcase_add_test(tc, test_report_names_and_digits);
    tcase_add_test(tc, test_report_edge_cases);
    tcase_add_test(tc, test_argmax_and_confusion);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(report_suite());
}
