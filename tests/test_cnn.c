#define _POSIX_C_SOURCE 200809L
/* Convolutional networks end to end through the public API: a user-written LeNet-5 learns,
 * BatchNorm's inference mode leaves its statistics alone, and training with augmentation is
 * reproducible for a seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static bool require_everything(void) {
    const char *req = getenv("MNIST_CL_REQUIRE_DEVICE");
    return req != NULL && strcmp(req, "1") == 0;
}

typedef struct run {
    mcl_context *ctx;
    mcl_model *model;
    mcl_dataset *all, *train, *test;
    mcl_trainer *trainer;
} run;

static void run_free(run *r) {
    mcl_trainer_free(r->trainer);
    mcl_dataset_free(r->test);
    mcl_dataset_free(r->train);
    mcl_dataset_free(r->all);
    mcl_model_free(r->model);
    mcl_context_free(r->ctx);
}

/* Opens the device and MNIST (the first `images` training images), or returns false when
 * either is missing (a failure when CI demands everything). */
static bool run_open(run *r, const char *model_text, uint32_t images) {
    memset(r, 0, sizeof *r);
    const char *dir = test_mnist_dir();
    if (dir == NULL) {
        ck_assert_msg(!require_everything(), "MNIST is missing: run tools/setup");
        return false;
    }
    r->ctx = test_context_create();
    if (r->ctx == NULL) return false;
    mcl_error err = {0};
    ck_assert_msg(mcl_model_parse(model_text, "test.model", &r->model, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &r->all, &err) == MCL_OK);
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TEST, &r->test, &err) == MCL_OK);
    ck_assert(mcl_dataset_subset(r->all, 0, images, &r->train, &err) == MCL_OK);
    return true;
}

static void run_fit(run *r, mcl_recipe recipe, uint64_t seed) {
    mcl_error err = {0};
    ck_assert_msg(mcl_trainer_create(r->ctx, r->model, 28, 28, 10, recipe.batch_size, seed,
                                     &r->trainer, &err) == MCL_OK,
                  "%s", err.message);
    mcl_fit_options fit = {.recipe = recipe, .seed = seed};
    ck_assert_msg(mcl_trainer_fit(r->trainer, r->train, NULL, &fit, &err) == MCL_OK, "%s",
                  err.message);
}

static const char *const lenet = "name lenet5\n"
                                 "recipe batch_size=64 epochs=1\n"
                                 "conv2d 6 5x5 padding=same relu\n"
                                 "maxpool 2\n"
                                 "conv2d 16 5x5 relu\n"
                                 "maxpool 2\n"
                                 "flatten\n"
                                 "dense 120 relu\n"
                                 "dense 84 relu\n"
                                 "dense classes softmax\n";

/* A user-written LeNet-5 learns: one epoch on 10,000 images reaches 92% on the full test set (93.5%
 * measured) (an error in any conv or pooling gradient leaves it far below). */
START_TEST(test_lenet_learns) {
    run r;
    if (!run_open(&r, lenet, 10000)) return;
    run_fit(&r, *mcl_model_recipe(r.model), 42);
    mcl_eval_result e = {0};
    mcl_error err = {0};
    ck_assert(mcl_trainer_evaluate(r.trainer, r.test, 64, &e, &err) == MCL_OK);
    fprintf(stderr, "lenet5, 1 epoch on 10k: test accuracy %.4f loss %.4f\n", e.accuracy, e.loss);
    ck_assert_msg(e.accuracy >= 0.92, "LeNet-5 test accuracy %.4f < 0.92", e.accuracy);
    run_free(&r);
}
END_TEST

/* Momentum 0.9: the moving statistics settle within the 40 steps of this test (Keras's 0.99
 * needs hundreds, and would leave inference far behind training here). */
static const char *const small_bn_cnn = "conv2d 8 3x3\n"
                                        "batchnorm momentum=0.9\n"
                                        "relu\n"
                                        "maxpool 2\n"
                                        "conv2d 16 3x3 stride=2 padding=same\n"
                                        "batchnorm momentum=0.9\n"
                                        "relu\n"
                                        "flatten\n"
                                        "dense 32\n"
                                        "batchnorm momentum=0.9\n"
                                        "relu\n"
                                        "dropout 0.2\n"
                                        "dense classes softmax\n";

/* Evaluation is inference: BatchNorm uses (and never updates) its moving statistics and dropout
 * is off, so evaluating twice, with different batch sizes, gives the same numbers. Training
 * mode would normalise with each batch's own statistics and change them. */
START_TEST(test_batchnorm_evaluation_is_pure) {
    run r;
    if (!run_open(&r, small_bn_cnn, 2000)) return;
    mcl_recipe recipe = *mcl_model_recipe(r.model);
    recipe.epochs = 2;
    recipe.batch_size = 50;
    run_fit(&r, recipe, 3);
    mcl_eval_result a = {0}, b = {0}, c = {0};
    mcl_error err = {0};
    ck_assert(mcl_trainer_evaluate(r.trainer, r.test, 50, &a, &err) == MCL_OK);
    ck_assert(mcl_trainer_evaluate(r.trainer, r.test, 50, &b, &err) == MCL_OK);
    ck_assert(mcl_trainer_evaluate(r.trainer, r.test, 37, &c, &err) == MCL_OK);
    fprintf(stderr, "small BN CNN, 2 epochs on 2k: test accuracy %.4f\n", a.accuracy);
    ck_assert_msg(a.loss == b.loss && a.accuracy == b.accuracy,
                  "a second evaluation changed the result: BatchNorm statistics moved");
    /* Per-sample inference does not depend on the batch: only summation order differs. */
    ck_assert_msg(fabs(a.accuracy - c.accuracy) < 1e-9 && fabs(a.loss - c.loss) < 1e-5,
                  "batch size changed inference: %.6f/%.6f vs %.6f/%.6f", a.loss, a.accuracy,
                  c.loss, c.accuracy);
    ck_assert_msg(a.accuracy >= 0.75, "small BN CNN accuracy %.4f < 0.75", a.accuracy);
    run_free(&r);
}
END_TEST

/* Trains `model` for 2 epochs on 1000 images and returns its weights (malloc'd); with `loss`,
 * also the inference loss on the test set. */
static float *weights_after(const char *model, bool augment, uint64_t seed, uint64_t *count,
                            double *loss) {
    run r;
    if (!run_open(&r, model, 1000)) return NULL;
    mcl_recipe recipe = *mcl_model_recipe(r.model);
    recipe.epochs = 2;
    recipe.batch_size = 32;
    recipe.augment = (mcl_augment){
        .enabled = augment, .rotation = 8.0f, .shift = 0.08f, .shear = 0.3f, .zoom = 0.08f};
    run_fit(&r, recipe, seed);
    *count = mcl_trainer_param_count(r.trainer);
    float *w = malloc(*count * sizeof *w);
    mcl_error err = {0};
    ck_assert(mcl_trainer_read_params(r.trainer, w, &err) == MCL_OK);
    if (loss != NULL) {
        mcl_eval_result e = {0};
        ck_assert(mcl_trainer_evaluate(r.trainer, r.test, 32, &e, &err) == MCL_OK);
        *loss = e.loss;
    }
    run_free(&r);
    return w;
}

/* Same seed, same device, augmentation on: bit-identical weights. Augmentation changes them. */
START_TEST(test_augmented_training_is_reproducible) {
    uint64_t n1 = 0, n2 = 0, n3 = 0;
    float *a = weights_after(small_bn_cnn, true, 11, &n1, NULL);
    if (a == NULL) return;
    float *b = weights_after(small_bn_cnn, true, 11, &n2, NULL);
    float *c = weights_after(small_bn_cnn, false, 11, &n3, NULL);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0, "same seed gave different weights");
    ck_assert_msg(memcmp(a, c, n1 * sizeof *a) != 0, "augmentation did not change training");
    free(a), free(b), free(c);
}
END_TEST

/* BatchNorm + ReLU run as one node (src/graph/graph.c) and as two (MNIST_CL_FUSE=0): training
 * (two epochs, dropout and all) ends at the same weights bit for bit, and evaluation (inference
 * through the moving statistics, the fused inference path) at the same loss. */
static float *train_and_evaluate(bool fuse, uint64_t *count, double *loss) {
    ck_assert_int_eq(setenv("MNIST_CL_FUSE", fuse ? "1" : "0", 1), 0);
    float *w = weights_after(small_bn_cnn, false, 5, count, loss);
    unsetenv("MNIST_CL_FUSE");
    return w;
}

START_TEST(test_fused_batchnorm_relu_is_exact) {
    uint64_t nf = 0, nu = 0;
    double lf = 0.0, lu = 0.0;
    float *wf = train_and_evaluate(true, &nf, &lf);
    if (wf == NULL) return;
    float *wu = train_and_evaluate(false, &nu, &lu);
    ck_assert_uint_eq(nf, nu);
    ck_assert_msg(memcmp(wf, wu, nf * sizeof *wf) == 0, "fusion changed the trained weights");
    ck_assert_msg(lf == lu, "fusion changed the evaluation loss: %.9g vs %.9g", lf, lu);
    free(wf), free(wu);
}
END_TEST

static Suite *cnn_suite(void) {
    Suite *s = suite_create("cnn");
    TCase *tc = tcase_create("cnn");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_lenet_learns);
    tcase_add_test(tc, test_batchnorm_evaluation_is_pure);
    tcase_add_test(tc, test_augmented_training_is_reproducible);
    tcase_add_test(tc, test_fused_batchnorm_relu_is_exact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(cnn_suite());
}
