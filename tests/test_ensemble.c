/* Ensembles of checkpoints (src/store/ensemble.c): an ensemble of one checkpoint, or of a
 * checkpoint with itself, is that checkpoint; an ensemble of two different ones predicts the
 * mean of their probabilities, in evaluation and in prediction; checkpoints that do not agree
 * on the images or the classes are refused, naming the file; and the misclassified-images grid
 * drawn from an ensemble's evaluation has the size its count calls for. Two small dense models
 * trained briefly on the synthetic 3-class data (8x10 images): no MNIST needed. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnistcl/mnistcl.h"
#include "plot/plot.h"
#include "test_util.h"

enum { ROWS = 8, COLS = 10, CLASSES = 3, TRAIN = 300, TEST = 90, BATCH = 32 };

/* Short, so that the two seeds give visibly different models that still make mistakes. */
static const char *const model_text = "name ens_test\n"
                                      "recipe batch_size=30 epochs=1 validation_split=0\n"
                                      "flatten\n"
                                      "dense 16 relu\n"
                                      "dense classes softmax\n";

typedef struct fixture {
    mcl_context *ctx;
    mcl_dataset *train, *test;
    char *dir;
    char a[4096], b[4096]; /* the two checkpoints */
    mcl_checkpoint *ca, *cb;
} fixture;

static mcl_trainer *new_trainer(fixture *f, uint32_t rows, uint32_t cols, uint32_t classes,
                                uint64_t seed) {
    mcl_model *model = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_model_parse(model_text, "ens_test", &model, &err) == MCL_OK, "%s",
                  err.message);
    mcl_trainer *t = NULL;
    ck_assert_msg(mcl_trainer_create(f->ctx, model, rows, cols, classes, BATCH, seed, &t, &err) ==
                      MCL_OK,
                  "%s", err.message);
    mcl_model_free(model);
    return t;
}

static void save(mcl_trainer *t, const char *path) {
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_save(t, path, &err) == MCL_OK, "%s", err.message);
}

static mcl_checkpoint *load(const char *path) {
    mcl_checkpoint *ck = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_checkpoint_load(path, &ck, &err) == MCL_OK, "%s", err.message);
    return ck;
}

/* Trains seeds 1 and 2 for one epoch and saves them as a.ckpt and b.ckpt. */
static bool fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    f->ctx = test_context_create();
    if (f->ctx == NULL) return false;
    f->dir = test_mkdtemp();
    test_write_synthetic(f->dir, "train", TRAIN, 31);
    test_write_synthetic(f->dir, "t10k", TEST, 32);
    mcl_error err = {0};
    ck_assert(mcl_dataset_load(f->dir, MCL_SPLIT_TRAIN, &f->train, &err) == MCL_OK);
    ck_assert(mcl_dataset_load(f->dir, MCL_SPLIT_TEST, &f->test, &err) == MCL_OK);
    for (uint64_t seed = 1; seed <= 2; seed++) {
        mcl_trainer *t = new_trainer(f, ROWS, COLS, CLASSES, seed);
        mcl_model *model = NULL;
        ck_assert(mcl_model_parse(model_text, "ens_test", &model, &err) == MCL_OK);
        mcl_fit_options o = {.recipe = *mcl_model_recipe(model), .seed = seed};
        mcl_model_free(model);
        ck_assert_msg(mcl_trainer_fit(t, f->train, NULL, &o, &err) == MCL_OK, "%s", err.message);
        char *path = seed == 1 ? f->a : f->b;
        snprintf(path, sizeof f->a, "%s/%s", f->dir, seed == 1 ? "a.ckpt" : "b.ckpt");
        save(t, path);
        mcl_trainer_free(t);
    }
    f->ca = load(f->a);
    f->cb = load(f->b);
    return true;
}

static void fixture_close(fixture *f) {
    mcl_checkpoint_free(f->ca);
    mcl_checkpoint_free(f->cb);
    mcl_dataset_free(f->train);
    mcl_dataset_free(f->test);
    mcl_context_free(f->ctx);
    if (f->dir != NULL) test_rmtree(f->dir);
    free(f->dir);
}

/* One checkpoint on its own, through the trainer: probabilities [TEST * CLASSES] and result. */
static float *member_probs(fixture *f, const mcl_checkpoint *ck, mcl_eval_result *res) {
    mcl_trainer *t = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_create_from_checkpoint(f->ctx, ck, BATCH, &t, &err) == MCL_OK, "%s",
                  err.message);
    float *p = malloc((size_t)TEST * CLASSES * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(mcl_trainer_evaluate_probs(t, f->test, BATCH, res, p, &err) == MCL_OK, "%s",
                  err.message);
    mcl_trainer_free(t);
    return p;
}

typedef struct member_log {
    size_t calls;
    size_t index[4];
    mcl_eval_result result[4];
    uint64_t params[4];
} member_log;

static void log_member(size_t member, const mcl_trainer *trainer, const mcl_eval_result *result,
                       void *user) {
    member_log *log = user;
    ck_assert_uint_lt(log->calls, 4);
    log->index[log->calls] = member;
    log->result[log->calls] = *result;
    log->params[log->calls] = mcl_trainer_param_count(trainer);
    log->calls++;
}

static mcl_eval_result evaluate(fixture *f, const mcl_checkpoint *const *cks,
                                const char *const *names, size_t count, float *probs,
                                member_log *log) {
    mcl_eval_result res = {0};
    mcl_error err = {0};
    mcl_status st = mcl_ensemble_evaluate(f->ctx, cks, names, count, f->test, BATCH,
                                          log != NULL ? log_member : NULL, log, &res, probs, &err);
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    ck_assert_uint_eq(res.count, TEST);
    return res;
}

/* The loss of one model is the device's log-sum-exp of its logits; the ensemble's is computed
 * on the host from the float probabilities: they agree to float rounding. */
#define LOSS_TOL 1e-5

START_TEST(test_ensemble_of_one_and_of_itself) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_eval_result alone = {0};
    float *pa = member_probs(&f, f.ca, &alone);
    float *probs = malloc((size_t)TEST * CLASSES * sizeof *probs);
    const mcl_checkpoint *one[1] = {f.ca};
    member_log log = {0};
    mcl_eval_result res = evaluate(&f, one, NULL, 1, probs, &log);
    ck_assert_msg(memcmp(probs, pa, (size_t)TEST * CLASSES * sizeof *pa) == 0,
                  "an ensemble of one changed the probabilities");
    ck_assert_double_eq(res.accuracy, alone.accuracy);
    ck_assert_double_eq_tol(res.loss, alone.loss, LOSS_TOL * (1 + alone.loss));
    ck_assert_uint_eq(log.calls, 1);
    ck_assert_double_eq(log.result[0].loss, alone.loss);

    /* A with itself: (p + p) / 2 is p exactly. */
    const mcl_checkpoint *twice[2] = {f.ca, f.ca};
    memset(&log, 0, sizeof log);
    mcl_eval_result res2 = evaluate(&f, twice, NULL, 2, probs, &log);
    ck_assert_msg(memcmp(probs, pa, (size_t)TEST * CLASSES * sizeof *pa) == 0,
                  "an ensemble of a checkpoint with itself changed the probabilities");
    ck_assert_double_eq(res2.accuracy, res.accuracy);
    ck_assert_double_eq(res2.loss, res.loss);
    ck_assert_uint_eq(log.calls, 2);
    ck_assert_uint_eq(log.index[0], 0);
    ck_assert_uint_eq(log.index[1], 1);
    ck_assert_double_eq(log.result[1].accuracy, alone.accuracy);
    ck_assert_uint_eq(log.params[0], 8 * 10 * 16 + 16 + 16 * 3 + 3);
    free(pa);
    free(probs);
    fixture_close(&f);
}
END_TEST

START_TEST(test_ensemble_is_the_mean) {
    fixture f;
    if (!fixture_open(&f)) return;
    mcl_eval_result ra, rb;
    float *pa = member_probs(&f, f.ca, &ra), *pb = member_probs(&f, f.cb, &rb);
    const size_t values = (size_t)TEST * CLASSES;
    double differ = 0;
    for (size_t i = 0; i < values; i++)
        differ = fmax(differ, fabs((double)pa[i] - pb[i]));
    ck_assert_msg(differ > 1e-3, "seeds 1 and 2 gave the same model: the test would prove nothing");
    float *probs = malloc(values * sizeof *probs);
    const mcl_checkpoint *both[2] = {f.ca, f.cb};
    const char *const names[2] = {f.a, f.b};
    member_log mlog = {0};
    mcl_eval_result res = evaluate(&f, both, names, 2, probs, &mlog);
    ck_assert_double_eq(mlog.result[0].accuracy, ra.accuracy);
    ck_assert_double_eq(mlog.result[1].accuracy, rb.accuracy);
    /* The mean, and the accuracy and loss of the mean, as the test computes them. */
    const uint8_t *labels = mcl_dataset_labels(f.test);
    double loss = 0;
    uint32_t correct = 0;
    for (uint32_t s = 0; s < TEST; s++) {
        float mean[CLASSES];
        for (uint32_t k = 0; k < CLASSES; k++) {
            size_t i = (size_t)s * CLASSES + k;
            mean[k] = (float)(((double)pa[i] + pb[i]) / 2);
            ck_assert_msg(probs[i] == mean[k], "sample %u class %u: %.9g, want the mean %.9g", s,
                          k, (double)probs[i], (double)mean[k]);
        }
        loss -= log(((double)pa[s * CLASSES + labels[s]] + pb[s * CLASSES + labels[s]]) / 2);
        uint32_t best = 0;
        for (uint32_t k = 1; k < CLASSES; k++)
            if (mean[k] > mean[best]) best = k;
        correct += best == labels[s];
    }
    ck_assert_double_eq_tol(res.loss, loss / TEST, 1e-12);
    ck_assert_double_eq_tol(res.accuracy, (double)correct / TEST, 1e-12);

    /* Prediction of the same images gives the same mean, in batches smaller than the set. */
    float *images = malloc((size_t)TEST * ROWS * COLS * sizeof *images);
    float *predicted = malloc(values * sizeof *predicted);
    for (size_t i = 0; i < (size_t)TEST * ROWS * COLS; i++)
        images[i] = mcl_dataset_pixels(f.test)[i] / 255.0f;
    mcl_error err = {0};
    ck_assert_msg(mcl_ensemble_predict(f.ctx, both, names, 2, images, TEST, 7, predicted, &err) ==
                      MCL_OK,
                  "%s", err.message);
    ck_assert_double_le(test_max_scaled_error(predicted, probs, values, 1e-6, 1e-5), 1);
    free(pa), free(pb), free(probs), free(images), free(predicted);
    fixture_close(&f);
}
END_TEST

/* Checkpoints that take other images or have other classes are refused with the file's name,
 * before anything runs. */
START_TEST(test_ensemble_refuses_mismatches) {
    fixture f;
    if (!fixture_open(&f)) return;
    char wide[4200], four[4200];
    snprintf(wide, sizeof wide, "%s/wide.ckpt", f.dir);
    snprintf(four, sizeof four, "%s/four.ckpt", f.dir);
    mcl_trainer *t = new_trainer(&f, COLS, ROWS, CLASSES, 3); /* 10x8 */
    save(t, wide);
    mcl_trainer_free(t);
    t = new_trainer(&f, ROWS, COLS, 4, 3);
    save(t, four);
    mcl_trainer_free(t);
    mcl_checkpoint *cw = load(wide), *c4 = load(four);
    mcl_error err = {0};
    const mcl_checkpoint *a_wide[2] = {f.ca, cw}, *a_four[3] = {f.ca, f.cb, c4};
    const char *const names_wide[2] = {f.a, wide}, *const names_four[3] = {f.a, f.b, four};
    mcl_status st = mcl_ensemble_check(a_wide, names_wide, 2, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, wide, "takes 10x8 images");
    st = mcl_ensemble_check(a_four, names_four, 3, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, four, "has 4 classes");
    float *probs = malloc((size_t)TEST * 4 * sizeof *probs);
    mcl_eval_result res = {0};
    st = mcl_ensemble_evaluate(f.ctx, a_four, names_four, 3, f.test, BATCH, NULL, NULL, &res,
                               probs, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, four, "same classes");
    float image[ROWS * COLS] = {0};
    st = mcl_ensemble_predict(f.ctx, a_wide, names_wide, 2, image, 1, 1, probs, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, wide, "same images");
    /* One model whose images are not the data's. */
    const mcl_checkpoint *only_wide[1] = {cw};
    const char *const name_wide[1] = {wide};
    st = mcl_ensemble_evaluate(f.ctx, only_wide, name_wide, 1, f.test, BATCH, NULL, NULL, &res,
                               probs, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, wide, "has 8x10");
    st = mcl_ensemble_check(a_wide, names_wide, 0, &err);
    ck_assert_int_eq(st, MCL_ERR_USAGE);
    free(probs);
    mcl_checkpoint_free(cw);
    mcl_checkpoint_free(c4);
    fixture_close(&f);
}
END_TEST

/* A checkpoint is told from an image by its first bytes only. */
START_TEST(test_file_is_checkpoint) {
    fixture f;
    if (!fixture_open(&f)) return;
    ck_assert(mcl_file_is_checkpoint(f.a));
    char path[4200];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", f.dir);
    ck_assert(!mcl_file_is_checkpoint(path));
    snprintf(path, sizeof path, "%s/absent.ckpt", f.dir);
    ck_assert(!mcl_file_is_checkpoint(path));
    ck_assert(!mcl_file_is_checkpoint(f.dir));
    snprintf(path, sizeof path, "%s/magic-only", f.dir);
    test_write_file(path, "MNISTCL\x1a", 8, 0);
    ck_assert(mcl_file_is_checkpoint(path));
    test_write_file(path, "MNISTCL", 7, 0);
    ck_assert(!mcl_file_is_checkpoint(path));
    fixture_close(&f);
}
END_TEST

/* The grid of an ensemble's mistakes: as many tiles as argmax gets wrong, at the layout's size. */
START_TEST(test_errors_png_of_an_ensemble) {
    fixture f;
    if (!fixture_open(&f)) return;
    float *probs = malloc((size_t)TEST * CLASSES * sizeof *probs);
    const mcl_checkpoint *both[2] = {f.ca, f.cb};
    mcl_eval_result res = evaluate(&f, both, NULL, 2, probs, NULL);
    uint32_t wrong = (uint32_t)lround((1 - res.accuracy) * TEST);
    char out[4200];
    snprintf(out, sizeof out, "%s/errors.png", f.dir);
    mcl_errors_plot_options o = {.max_images = 5, .subtitle = "ensemble of 2"};
    mcl_errors_plot_info info = {0};
    mcl_error err = {0};
    ck_assert_msg(mcl_plot_errors(f.test, probs, CLASSES, &o, out, &info, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert_uint_eq(info.misclassified, wrong);
    ck_assert_uint_eq(info.shown, wrong < 5 ? wrong : 5);
    mcl_errors_layout l;
    mcl_plot_errors_layout(info.shown, ROWS, COLS, &l);
    size_t size = 0;
    uint8_t *png = test_read_file(out, &size);
    ck_assert_uint_gt(size, 24);
    ck_assert_int_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    uint32_t w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 | (uint32_t)png[18] << 8 | png[19];
    uint32_t h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 | (uint32_t)png[22] << 8 | png[23];
    ck_assert_uint_eq(w, l.width);
    ck_assert_uint_eq(h, l.height);
    free(png);
    free(probs);
    fixture_close(&f);
}
END_TEST

static Suite *ensemble_suite(void) {
    Suite *s = suite_create("ensemble");
    TCase *tc = tcase_create("ensemble");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_ensemble_of_one_and_of_itself);
    tcase_add_test(tc, test_ensemble_is_the_mean);
    tcase_add_test(tc, test_ensemble_refuses_mismatches);
    tcase_add_test(tc, test_file_is_checkpoint);
    tcase_add_test(tc, test_errors_png_of_an_ensemble);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(ensemble_suite());
}
