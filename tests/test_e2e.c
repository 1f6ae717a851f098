/* End to end through the public API: real training on MNIST subsets, reproducibility, a
 * synthetic dataset that is not digits, and the device fault paths that can be provoked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "device/program.h"
#include "test_util.h"

static bool require_everything(void) {
    const char *req = getenv("MNIST_CL_REQUIRE_DEVICE");
    return req != NULL && strcmp(req, "1") == 0;
}

/* Real MNIST, or NULL (a failure when CI demands everything be present). */
static const char *mnist_or_skip(void) {
    const char *dir = test_mnist_dir();
    if (dir == NULL) {
        ck_assert_msg(!require_everything(), "MNIST is missing: run tools/setup");
        fprintf(stderr, "note: MNIST not found, test passes vacuously\n");
    }
    return dir;
}

typedef struct trained {
    mcl_context *ctx;
    mcl_model *model;
    mcl_dataset *all, *train, *test;
    mcl_trainer *trainer;
} trained;

static void trained_free(trained *t) {
    mcl_trainer_free(t->trainer);
    mcl_dataset_free(t->test);
    mcl_dataset_free(t->train);
    mcl_dataset_free(t->all);
    mcl_model_free(t->model);
    mcl_context_free(t->ctx);
}

static mcl_status train_subset(trained *t, const char *model, uint32_t images, uint32_t epochs,
                               uint64_t seed, mcl_error *err) {
    memset(t, 0, sizeof *t);
    const char *dir = test_mnist_dir();
    t->ctx = test_context_create();
    if (t->ctx == NULL) return MCL_ERR_NO_DEVICE;
    ck_assert_msg(mcl_model_builtin(model, &t->model, err) == MCL_OK, "%s", err->message);
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &t->all, err) == MCL_OK, "%s",
                  err->message);
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TEST, &t->test, err) == MCL_OK, "%s",
                  err->message);
    ck_assert(mcl_dataset_subset(t->all, 0, images, &t->train, err) == MCL_OK);
    mcl_recipe recipe = *mcl_model_recipe(t->model);
    recipe.epochs = epochs;
    ck_assert_msg(mcl_trainer_create(t->ctx, t->model, 28, 28, 10, recipe.batch_size, seed,
                                     &t->trainer, err) == MCL_OK,
                  "%s", err->message);
    mcl_fit_options fit = {.recipe = recipe, .seed = seed};
    return mcl_trainer_fit(t->trainer, t->train, NULL, &fit, err);
}

/* The bar: one epoch of the default MLP on 10,000 images reaches >= 90% on the test
 * set (Keras gets ~93%). */
START_TEST(test_default_mlp_one_epoch_on_10k) {
    if (mnist_or_skip() == NULL) return;
    trained t;
    mcl_error err = {0};
    mcl_status st = train_subset(&t, "mlp", 10000, 1, 42, &err);
    if (t.ctx == NULL) return;
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    mcl_eval_result r = {0};
    ck_assert_msg(mcl_trainer_evaluate(t.trainer, t.test, 128, &r, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert_uint_eq(r.count, 10000);
    fprintf(stderr, "mlp, 1 epoch on 10k: test accuracy %.4f loss %.4f\n", r.accuracy, r.loss);
    ck_assert_msg(r.accuracy >= 0.90, "test accuracy %.4f < 0.90", r.accuracy);
    ck_assert(isfinite(r.loss) && r.loss < 0.5);
    /* Evaluation is inference: running it twice gives the same numbers. */
    mcl_eval_result r2 = {0};
    ck_assert(mcl_trainer_evaluate(t.trainer, t.test, 128, &r2, &err) == MCL_OK);
    ck_assert(fabs(r2.accuracy - r.accuracy) < 1e-12);
    trained_free(&t);
}
END_TEST

static float *params_after(const char *model, uint64_t seed, uint64_t *count) {
    trained t;
    mcl_error err = {0};
    mcl_status st = train_subset(&t, model, 3000, 2, seed, &err);
    if (t.ctx == NULL) return NULL;
    ck_assert_msg(st == MCL_OK, "%s", err.message);
    *count = mcl_trainer_param_count(t.trainer);
    float *p = malloc(*count * sizeof *p);
    ck_assert(mcl_trainer_read_params(t.trainer, p, &err) == MCL_OK);
    trained_free(&t);
    return p;
}

/* Same seed, same device: bit-identical weights (shuffle, init and dropout all seeded). */
START_TEST(test_same_seed_same_weights) {
    if (mnist_or_skip() == NULL) return;
    uint64_t n1 = 0, n2 = 0, n3 = 0;
    float *a = params_after("mlp", 7, &n1);
    if (a == NULL) return;
    float *b = params_after("mlp", 7, &n2);
    float *c = params_after("mlp", 8, &n3);
    ck_assert_uint_eq(n1, 235146);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0, "same seed gave different weights");
    ck_assert_msg(memcmp(a, c, n1 * sizeof *a) != 0, "different seeds gave the same weights");
    free(a), free(b), free(c);
}
END_TEST

START_TEST(test_synthetic_three_classes) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    char *dir = test_mkdtemp();
    test_write_synthetic(dir, "train", 600, 1);
    test_write_synthetic(dir, "t10k", 150, 2);
    mcl_error err = {0};
    mcl_dataset *train = NULL, *test = NULL;
    mcl_model *model = NULL;
    mcl_trainer *trainer = NULL;
    ck_assert_msg(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &train, &err) == MCL_OK, "%s",
                  err.message);
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TEST, &test, &err) == MCL_OK);
    ck_assert_uint_eq(mcl_dataset_num_classes(train), 3);
    ck_assert(mcl_model_builtin("mlp50", &model, &err) == MCL_OK);
    ck_assert_msg(mcl_trainer_create(ctx, model, 8, 10, 3, 32, 3, &trainer, &err) == MCL_OK, "%s",
                  err.message);
    mcl_fit_options fit = {.recipe = *mcl_model_recipe(model), .seed = 3};
    fit.recipe.batch_size = 32;
    fit.recipe.epochs = 5;
    ck_assert_msg(mcl_trainer_fit(trainer, train, test, &fit, &err) == MCL_OK, "%s", err.message);
    mcl_eval_result r = {0};
    ck_assert(mcl_trainer_evaluate(trainer, test, 32, &r, &err) == MCL_OK);
    ck_assert_msg(r.accuracy >= 0.95, "synthetic accuracy %.3f", r.accuracy);
    /* A batch larger than the trainer was created for is refused, not silently shrunk. */
    mcl_status st = mcl_trainer_evaluate(trainer, test, 33, &r, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "evaluation batch size 33", "1..32");
    st = mcl_trainer_evaluate_probs(trainer, test, 0, &r, NULL, &err);
    ck_assert_error(st, err, MCL_ERR_USAGE, "evaluation batch size 0", "1..32");
    /* A 28x28 dataset does not fit a trainer built for 8x10. */
    mcl_dataset *mnist = NULL;
    const char *mdir = test_mnist_dir();
    if (mdir != NULL && mcl_dataset_load(mdir, MCL_SPLIT_TEST, &mnist, &err) == MCL_OK) {
        ck_assert_int_eq(mcl_trainer_evaluate(trainer, mnist, 32, &r, &err), MCL_ERR_MODEL);
        ck_assert_ptr_nonnull(strstr(err.message, "28x28"));
    }
    mcl_dataset_free(mnist);
    mcl_trainer_free(trainer);
    mcl_model_free(model);
    mcl_dataset_free(train);
    mcl_dataset_free(test);
    mcl_context_free(ctx);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* Device memory accounting follows buffers as they are made and released, and the SGEMM
 * ceiling measures something. */
START_TEST(test_device_memory_and_sgemm_ceiling) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_error err = {0};
    uint64_t base = 0, peak = 0, now = 0;
    mcl_context_device_memory(ctx, &base, &peak);
    cl_mem a = NULL, b = NULL;
    ck_assert(mcl_buffer_create(ctx, 1 << 20, &a, "a", &err) == MCL_OK);
    ck_assert(mcl_buffer_create(ctx, 3 << 20, &b, "b", &err) == MCL_OK);
    mcl_context_device_memory(ctx, &now, &peak);
    ck_assert_uint_eq(now, base + (4u << 20));
    ck_assert_uint_eq(peak, base + (4u << 20));
    clReleaseMemObject(b);
    mcl_context_device_memory(ctx, &now, &peak);
    ck_assert_uint_eq(now, base + (1u << 20));
    ck_assert_uint_eq(peak, base + (4u << 20));
    mcl_context_reset_memory_peak(ctx);
    mcl_context_device_memory(ctx, &now, &peak);
    ck_assert_uint_eq(peak, base + (1u << 20));
    clReleaseMemObject(a);
    mcl_context_device_memory(ctx, &now, &peak);
    ck_assert_uint_eq(now, base);
    double gflops = 0.0;
    ck_assert_msg(mcl_context_sgemm_gflops(ctx, 64, 2, &gflops, &err) == MCL_OK, "%s", err.message);
    ck_assert_msg(gflops > 0.0 && gflops < 1e6, "SGEMM ceiling %g GFLOP/s", gflops);
    ck_assert_int_eq(mcl_context_sgemm_gflops(ctx, 0, 2, &gflops, &err), MCL_ERR_USAGE);
    mcl_context_free(ctx);
}
END_TEST

/* Profiling: with a profiled context every node's forward and backward and every phase has a
 * row with one call per step, times are positive and sorted; without, there are no rows. */
START_TEST(test_profile_covers_every_op) {
    mcl_context *ctx = test_context_create_with(true);
    if (ctx == NULL) return;
    char *dir = test_mkdtemp();
    test_write_synthetic(dir, "train", 256, 1);
    mcl_error err = {0};
    mcl_dataset *train = NULL;
    mcl_model *model = NULL;
    mcl_trainer *trainer = NULL;
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &train, &err) == MCL_OK);
    ck_assert(mcl_model_builtin("mlp50", &model, &err) == MCL_OK);
    ck_assert(mcl_trainer_create(ctx, model, 8, 10, 3, 32, 3, &trainer, &err) == MCL_OK);
    mcl_fit_options fit = {.recipe = *mcl_model_recipe(model), .seed = 3};
    fit.recipe.batch_size = 32;
    fit.recipe.epochs = 2;
    fit.recipe.validation_split = 0.0f;
    ck_assert_msg(mcl_trainer_fit(trainer, train, NULL, &fit, &err) == MCL_OK, "%s", err.message);
    mcl_profile_row rows[64];
    size_t n = mcl_trainer_profile(trainer, rows, 64);
    /* Every node of mlp50 has a forward and a backward row, and there are five phase rows
     * (data, loss sums, zeroing, optimizer, between steps). The gradients are zeroed once:
     * after that the optimizer step leaves them zero. */
    ck_assert_uint_ge(n, 8);
    ck_assert_uint_le(n, 64);
    const uint64_t steps = 2 * 256 / 32;
    bool forward = false, backward = false, optimizer = false, between = false;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(rows[i].seconds >= 0.0, "%s: %g s", rows[i].name, rows[i].seconds);
        if (i > 0) ck_assert(rows[i].seconds <= rows[i - 1].seconds);
        /* The first step of each epoch only opens the timeline for "between steps". */
        bool is_between = strstr(rows[i].name, "between steps") != NULL;
        bool is_zeroing = strcmp(rows[i].name, "zero the gradients") == 0;
        ck_assert_msg(rows[i].calls == (is_between   ? steps - 2
                                        : is_zeroing ? 1
                                                     : steps),
                      "%s: %llu calls", rows[i].name, (unsigned long long)rows[i].calls);
        forward |= strcmp(rows[i].name, "dense_1 forward") == 0;
        backward |= strcmp(rows[i].name, "dense_1 backward") == 0;
        optimizer |= strcmp(rows[i].name, "optimizer update") == 0;
        between |= is_between;
    }
    ck_assert(forward && backward && optimizer && between);
    ck_assert_msg(rows[0].seconds > 0.0, "nothing took time");
    mcl_trainer_free(trainer);
    mcl_context_free(ctx);
    /* Without profiling: no rows. */
    ctx = test_context_create();
    ck_assert(mcl_trainer_create(ctx, model, 8, 10, 3, 32, 3, &trainer, &err) == MCL_OK);
    ck_assert(mcl_trainer_fit(trainer, train, NULL, &fit, &err) == MCL_OK);
    ck_assert_uint_eq(mcl_trainer_profile(trainer, rows, 64), 0);
    mcl_trainer_free(trainer);
    mcl_context_free(ctx);
    mcl_model_free(model);
    mcl_dataset_free(train);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* A second fit takes its own recipe: after SGD with momentum 0.9, a fit with momentum 0 and a
 * negligible rate must not keep applying the old velocity. */
START_TEST(test_second_fit_uses_its_recipe) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    char *dir = test_mkdtemp();
    test_write_synthetic(dir, "train", 300, 5);
    mcl_error err = {0};
    mcl_dataset *train = NULL;
    mcl_model *model = NULL;
    mcl_trainer *trainer = NULL;
    ck_assert(mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &train, &err) == MCL_OK);
    ck_assert(mcl_model_builtin("mlp50", &model, &err) == MCL_OK);
    ck_assert(mcl_trainer_create(ctx, model, 8, 10, 3, 30, 9, &trainer, &err) == MCL_OK);
    mcl_fit_options fit = {.recipe = {.epochs = 1,
                                      .batch_size = 30,
                                      .optimizer = MCL_OPTIMIZER_SGD,
                                      .learning_rate = 0.1f,
                                      .momentum = 0.9f},
                           .seed = 9};
    ck_assert_msg(mcl_trainer_fit(trainer, train, NULL, &fit, &err) == MCL_OK, "%s", err.message);
    uint64_t n = mcl_trainer_param_count(trainer);
    float *before = malloc(n * sizeof *before), *after = malloc(n * sizeof *after);
    ck_assert(mcl_trainer_read_params(trainer, before, &err) == MCL_OK);
    fit.recipe.momentum = 0.0f;
    fit.recipe.learning_rate = 1e-9f;
    ck_assert(mcl_trainer_fit(trainer, train, NULL, &fit, &err) == MCL_OK);
    ck_assert(mcl_trainer_read_params(trainer, after, &err) == MCL_OK);
    double moved = 0.0;
    for (uint64_t i = 0; i < n; i++)
        moved = fmax(moved, fabs((double)after[i] - before[i]));
    ck_assert_msg(moved < 1e-6, "weights moved by %.3g: the old momentum is still applied", moved);
    free(before);
    free(after);
    mcl_trainer_free(trainer);
    mcl_model_free(model);
    mcl_dataset_free(train);
    mcl_context_free(ctx);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* Training FLOPs per image count only useful work: no input gradient for the first dense layer,
 * even behind an input dropout. mlp: forward 2(784*256 + 256*128 + 128*10) = 469,504, backward
 * 2*784*256 + 4*256*128 + 4*128*10 = 537,600. dnn: forward 3,723,264, backward 5,840,896. */
START_TEST(test_flops_count_only_needed_gradients) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    const struct {
        const char *model;
        double flops;
    } cases[] = {{"mlp", 1007104.0}, {"dnn", 9564160.0}};
    for (size_t i = 0; i < 2; i++) {
        mcl_model *model = NULL;
        mcl_trainer *trainer = NULL;
        mcl_error err = {0};
        ck_assert(mcl_model_builtin(cases[i].model, &model, &err) == MCL_OK);
        ck_assert(mcl_trainer_create(ctx, model, 28, 28, 10, 8, 1, &trainer, &err) == MCL_OK);
        double f = mcl_trainer_train_flops_per_sample(trainer);
        ck_assert_msg(f == cases[i].flops, "%s: %.0f FLOPs per image, want %.0f", cases[i].model, f,
                      cases[i].flops);
        mcl_trainer_free(trainer);
        mcl_model_free(model);
    }
    mcl_context_free(ctx);
}
END_TEST

typedef struct captured_log {
    char text[16384];
} captured_log;

static void capture(mcl_log_level level, const char *message, void *user) {
    captured_log *c = user;
    (void)level;
    strncat(c->text, message, sizeof c->text - strlen(c->text) - 1);
}

/* A kernel that fails to build: MCL_ERR_BUILD, and the build log reaches the log callback. */
START_TEST(test_build_failure_reports_log) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    captured_log log = {{0}};
    mcl_context_options opt = {.platform = -1, .device = -1, .log = capture, .log_user = &log};
    mcl_context *ctx = NULL;
    mcl_error err = {0};
    ck_assert(mcl_context_create(&opt, &ctx, &err) == MCL_OK);
    cl_program program = NULL;
    mcl_status st = mcl_program_build(
        ctx, "__kernel void deliberately_broken(__global float *x) { x[0] = undefined_name; }",
        &program, &err);
    ck_assert_int_eq(st, MCL_ERR_BUILD);
    ck_assert_ptr_null(program);
    ck_assert_ptr_nonnull(strstr(err.message, "CL_BUILD_PROGRAM_FAILURE"));
    ck_assert_msg(strstr(log.text, "undefined_name") != NULL, "build log missing: %s", log.text);
    mcl_context_free(ctx);
}
END_TEST

START_TEST(test_invalid_platform_and_device) {
    mcl_context *probe = test_context_create();
    if (probe == NULL) return;
    mcl_context_free(probe);
    mcl_context *ctx = NULL;
    mcl_error err = {0};
    mcl_context_options opt = {.platform = 99, .device = -1};
    ck_assert_int_eq(mcl_context_create(&opt, &ctx, &err), MCL_ERR_NO_DEVICE);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err.message, "platform 99 does not exist"));
    opt = (mcl_context_options){.platform = 0, .device = 57};
    ck_assert_int_eq(mcl_context_create(&opt, &ctx, &err), MCL_ERR_NO_DEVICE);
    ck_assert_ptr_nonnull(strstr(err.message, "device 57 does not exist"));
}
END_TEST

/* A batch far beyond device memory is refused before any allocation, with a size to try. */
START_TEST(test_batch_too_large_for_device) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_model *model = NULL;
    mcl_trainer *trainer = NULL;
    mcl_error err = {0};
    ck_assert(mcl_model_builtin("dnn", &model, &err) == MCL_OK);
    mcl_status st = mcl_trainer_create(ctx, model, 28, 28, 10, 1000000, 1, &trainer, &err);
    ck_assert_int_eq(st, MCL_ERR_DEVICE_MEMORY);
    ck_assert_ptr_null(trainer);
    ck_assert_msg(strstr(err.message, "does not fit") && strstr(err.message, "try --batch-size"),
                  "%s", err.message);
    /* The suggested size really fits. */
    const char *p = strstr(err.message, "try --batch-size ");
    unsigned suggested = (unsigned)strtoul(p + strlen("try --batch-size "), NULL, 10);
    ck_assert_uint_gt(suggested, 0);
    ck_assert_msg(mcl_trainer_create(ctx, model, 28, 28, 10, suggested, 1, &trainer, &err) ==
                      MCL_OK,
                  "suggested batch %u: %s", suggested, err.message);
    mcl_trainer_free(trainer);
    mcl_model_free(model);
    mcl_context_free(ctx);
}
END_TEST

/* A huge learning rate makes the loss non-finite: training stops with MCL_ERR_DIVERGED. */
/* OpenCL failures that can be provoked on any driver: an allocation past the device's largest
 * buffer is refused (before the driver sees it) with the sizes, and a failing OpenCL call is
 * reported with the call, its status as a word and the operation. */
START_TEST(test_device_errors_are_named) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_error err = {0};
    cl_mem mem = NULL;
    const mcl_device_info *dev = mcl_context_device(ctx);
    mcl_status st = mcl_buffer_create(ctx, dev->max_alloc_bytes + 1, &mem, "the test buffer", &err);
    ck_assert_int_eq(st, MCL_ERR_DEVICE_MEMORY);
    ck_assert_ptr_null(mem);
    ck_assert_msg(strstr(err.message, "the test buffer") && strstr(err.message, "at most"), "%s",
                  err.message);
    ck_assert(mcl_buffer_create(ctx, 64, &mem, "a small buffer", &err) == MCL_OK);
    float host[32];
    /* Reading 128 bytes from a 64-byte buffer: CL_INVALID_VALUE from every conformant driver. */
    st = MCL_CL_CHECK(
        clEnqueueReadBuffer(ctx->queue, mem, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL), &err,
        "reading past the end");
    ck_assert_int_eq(st, MCL_ERR_OPENCL);
    ck_assert_msg(strstr(err.message, "clEnqueueReadBuffer") &&
                      strstr(err.message, "CL_INVALID_VALUE") &&
                      strstr(err.message, "reading past the end"),
                  "%s", err.message);
    clReleaseMemObject(mem);
    mcl_context_free(ctx);
}
END_TEST

START_TEST(test_divergence_is_reported) {
    if (mnist_or_skip() == NULL) return;
    trained t;
    memset(&t, 0, sizeof t);
    t.ctx = test_context_create();
    if (t.ctx == NULL) return;
    mcl_error err = {0};
    ck_assert(mcl_model_builtin("mlp50", &t.model, &err) == MCL_OK);
    ck_assert(mcl_dataset_load(test_mnist_dir(), MCL_SPLIT_TEST, &t.all, &err) == MCL_OK);
    ck_assert(mcl_trainer_create(t.ctx, t.model, 28, 28, 10, 100, 1, &t.trainer, &err) == MCL_OK);
    mcl_fit_options fit = {.recipe = *mcl_model_recipe(t.model), .seed = 1};
    fit.recipe.optimizer = MCL_OPTIMIZER_SGD;
    fit.recipe.learning_rate = 1e6f;
    fit.recipe.epochs = 2;
    mcl_status st = mcl_trainer_fit(t.trainer, t.all, NULL, &fit, &err);
    ck_assert_int_eq(st, MCL_ERR_DIVERGED);
    ck_assert_msg(strstr(err.message, "non-finite") && strstr(err.message, "epoch 1") &&
                      strstr(err.message, "--lr"),
                  "%s", err.message);
    trained_free(&t);
}
END_TEST

static Suite *e2e_suite(void) {
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("e2e");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_default_mlp_one_epoch_on_10k);
    tcase_add_test(tc, test_same_seed_same_weights);
    tcase_add_test(tc, test_synthetic_three_classes);
    tcase_add_test(tc, test_second_fit_uses_its_recipe);
    tcase_add_test(tc, test_flops_count_only_needed_gradients);
    tcase_add_test(tc, test_build_failure_reports_log);
    tcase_add_test(tc, test_invalid_platform_and_device);
    tcase_add_test(tc, test_device_errors_are_named);
    tcase_add_test(tc, test_profile_covers_every_op);
    tcase_add_test(tc, test_device_memory_and_sgemm_ceiling);
    tcase_add_test(tc, test_batch_too_large_for_device);
    tcase_add_test(tc, test_divergence_is_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(e2e_suite());
}
