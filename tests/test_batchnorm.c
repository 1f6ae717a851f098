/* BatchNormalization beyond what the registry-driven harness (test_ops.c) checks on its small
 * examples: a realistic activation ([64, 24, 24, 32], the reductions then use several lanes
 * and channel groups) against a double reference for forward, state and backward; the moving
 * statistics after K steps against their closed form; inference with a known state; bit-exact
 * repeatability; and the model-language arguments of batchnorm and leakyrelu. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/op.h"
#include "test_util.h"

/* Forward and dx: fp32 sums over up to 36864 rows on the device (per-lane serial sums,
 * then a tree) vs double on the host. The statistics come out with a relative error of about
 * 1e-7..1e-6, so outputs of order 1 are off by ~5e-7 (measured on PoCL): 20x room. */
#define FWD_ABS_TOL 1e-5
#define FWD_REL_TOL 1e-4
/* Parameter gradients are whole sums over M rows (|sum| up to ~sqrt(M) = 192, terms of order
 * 1): fp32 accumulation leaves an absolute error of ~1e-4 at M = 36864 (measured): 7x room. */
#define GRAD_ABS_TOL 1e-3
#define GRAD_REL_TOL 1e-4
/* The moving averages: K fp32 updates, each rounding once or twice. */
#define STATE_ABS_TOL 1e-6
#define STATE_REL_TOL 1e-5

typedef struct bn_fixture {
    mcl_context *ctx;
    mcl_node node;
    uint32_t n;
    size_t count, channels, rows;    /* count = rows * channels */
    size_t param_total, state_total; /* the flat buffers, with slack around the node's slice */
    cl_mem x, dx, params, grads, state; /* the fixture's */
    cl_mem y, dy, aux;                  /* the node's (mcl_node_bind) */
    float *hx, *hdy, *hparams, *hstate; /* host copies of the inputs */
} bn_fixture;

static void fill_zero(mcl_context *ctx, cl_mem m, size_t floats) {
    const float zero = 0.0f;
    mcl_error err = {0};
    ck_assert_msg(mcl_fill(ctx, m, &zero, sizeof zero, 0, floats * 4, "zeroing", &err) == MCL_OK,
                  "%s", err.message);
}

/* A batchnorm node over n samples of `shape`, with random x in [lo, hi), dy in [-1, 1),
 * gamma in [0.5, 1.5), beta in [-0.5, 0.5) and a random initial state (moving means in
 * [-0.5, 0.5), variances in [0.5, 1.5)). The node's slices start at non-zero offsets. */
static void bn_setup(bn_fixture *f, mcl_context *ctx, mcl_shape shape, uint32_t n, float momentum,
                     float lo, float hi, uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->n = n;
    mcl_node *node = &f->node;
    mcl_layer layer = {.kind = MCL_OP_BATCHNORM, .momentum = momentum, .epsilon = 1e-3f};
    mcl_error err = {0};
    ck_assert_msg(mcl_node_infer(node, &layer, shape, 0, &err) == MCL_OK, "%s", err.message);
    snprintf(node->name, sizeof node->name, "test_batchnorm");
    node->need_dx = true;
    node->param_offset = 3;
    node->state_offset = 5;
    f->channels = shape.c;
    f->rows = (size_t)n * shape.h * shape.w;
    f->count = f->rows * f->channels;
    f->param_total = node->param_offset + node->param_count + 1;
    f->state_total = node->state_offset + node->state_count + 1;
    f->x = test_buffer(ctx, f->count * 4);
    f->dx = test_buffer(ctx, f->count * 4);
    ck_assert_msg(mcl_node_bind(node, ctx, f->x, f->dx, n, NULL, &err) == MCL_OK, "%s",
                  err.message);
    f->y = node->y, f->dy = node->dy, f->aux = node->aux;
    f->params = test_buffer(ctx, f->param_total * 4);
    f->grads = test_buffer(ctx, f->param_total * 4);
    f->state = test_buffer(ctx, f->state_total * 4);
    f->hx = malloc(f->count * 4);
    f->hdy = malloc(f->count * 4);
    f->hparams = calloc(f->param_total, 4);
    f->hstate = calloc(f->state_total, 4);
    test_fill_uniform(f->hx, f->count, lo, hi, seed);
    test_fill_uniform(f->hdy, f->count, -1.0f, 1.0f, seed + 1);
    float *gamma = f->hparams + node->param_offset, *beta = gamma + f->channels;
    test_fill_uniform(gamma, f->channels, 0.5f, 1.5f, seed + 2);
    test_fill_uniform(beta, f->channels, -0.5f, 0.5f, seed + 3);
    float *mean = f->hstate + node->state_offset, *var = mean + f->channels;
    test_fill_uniform(mean, f->channels, -0.5f, 0.5f, seed + 4);
    test_fill_uniform(var, f->channels, 0.5f, 1.5f, seed + 5);
    test_upload(ctx, f->x, f->hx, f->count * 4);
    test_upload(ctx, f->dy, f->hdy, f->count * 4);
    test_upload(ctx, f->params, f->hparams, f->param_total * 4);
    test_upload(ctx, f->state, f->hstate, f->state_total * 4);
    fill_zero(ctx, f->grads, f->param_total);
}

static void bn_teardown(bn_fixture *f) {
    mcl_node_release(&f->node); /* y, dy, aux and the kernels */
    cl_mem bufs[] = {f->x, f->dx, f->params, f->grads, f->state};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clReleaseMemObject(bufs[i]);
    free(f->hx);
    free(f->hdy);
    free(f->hparams);
    free(f->hstate);
}

static mcl_exec bn_exec(bn_fixture *f, bool training) {
    return (mcl_exec){.ctx = f->ctx,
                      .params = f->params,
                      .grads = f->grads,
                      .state = f->state,
                      .n = f->n,
                      .training = training};
}

static void bn_forward(bn_fixture *f, bool training) {
    mcl_exec ex = bn_exec(f, training);
    mcl_error err = {0};
    ck_assert_msg(f->node.op->forward(&f->node, &ex, &err) == MCL_OK, "%s", err.message);
}

static void bn_backward(bn_fixture *f) {
    mcl_exec ex = bn_exec(f, true);
    mcl_error err = {0};
    ck_assert_msg(f->node.op->backward(&f->node, &ex, &err) == MCL_OK, "%s", err.message);
}

/* Batch mean and biased variance of channel c, in double. */
static void batch_stats(const bn_fixture *f, size_t c, double *mean, double *var) {
    double sum = 0.0, squares = 0.0;
    for (size_t r = 0; r < f->rows; r++)
        sum += f->hx[r * f->channels + c];
    *mean = sum / (double)f->rows;
    for (size_t r = 0; r < f->rows; r++) {
        double d = f->hx[r * f->channels + c] - *mean;
        squares += d * d;
    }
    *var = squares / (double)f->rows;
}

/* The backward pass in double: dx [M, C] and the parameter gradients dgamma, dbeta [C]. */
static void reference_backward(const bn_fixture *f, float *dx, float *dgamma, float *dbeta) {
    size_t channels = f->channels, rows = f->rows;
    const float *gamma = f->hparams + f->node.param_offset;
    double eps = f->node.layer.epsilon;
    for (size_t c = 0; c < channels; c++) {
        double mean, var;
        batch_stats(f, c, &mean, &var);
        double inv_std = 1.0 / sqrt(var + eps), sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (size_t r = 0; r < rows; r++) {
            size_t i = r * channels + c;
            sum_dy += f->hdy[i];
            sum_dy_xhat += f->hdy[i] * (f->hx[i] - mean) * inv_std;
        }
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
        for (size_t r = 0; r < rows; r++) {
            size_t i = r * channels + c;
            double xhat = (f->hx[i] - mean) * inv_std;
            dx[i] = (float)(gamma[c] * inv_std / (double)rows *
                            ((double)rows * f->hdy[i] - sum_dy - xhat * sum_dy_xhat));
        }
    }
}

static void assert_close(const float *got, const float *want, size_t n, double abs_tol,
                         double rel_tol, const char *what) {
    double e = test_max_scaled_error(got, want, n, abs_tol, rel_tol);
    ck_assert_msg(e <= 1.0, "%s differs from the reference (scaled error %.3g)", what, e);
}

/* Training forward, state and backward of one shape against the double reference. */
static void check_against_reference(mcl_shape shape, uint32_t n) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    bn_fixture f;
    bn_setup(&f, ctx, shape, n, 0.9f, -1.0f, 3.0f, 41);
    size_t count = f.count, channels = f.channels;
    float *y = malloc(count * 4), *ref = malloc(count * 4);
    float *state = malloc(f.state_total * 4), *ref_state = malloc(f.state_total * 4);
    memcpy(ref_state, f.hstate, f.state_total * 4);
    mcl_ref_exec rex = {.params = f.hparams, .state = ref_state, .n = n, .training = true};
    f.node.op->reference_forward(&f.node, &rex, f.hx, ref);
    bn_forward(&f, true);
    test_download(ctx, f.y, y, count * 4);
    assert_close(y, ref, count, FWD_ABS_TOL, FWD_REL_TOL, "training forward");
    test_download(ctx, f.state, state, f.state_total * 4);
    assert_close(state, ref_state, f.state_total, STATE_ABS_TOL, STATE_REL_TOL,
                 "state after a training forward");

    bn_backward(&f);
    float *dx = malloc(count * 4), *ref_dx = malloc(count * 4);
    float *grads = malloc(f.param_total * 4), *ref_grads = calloc(f.param_total, 4);
    test_download(ctx, f.dx, dx, count * 4);
    test_download(ctx, f.grads, grads, f.param_total * 4);
    float *dgamma = ref_grads + f.node.param_offset;
    reference_backward(&f, ref_dx, dgamma, dgamma + channels);
    assert_close(dx, ref_dx, count, FWD_ABS_TOL, FWD_REL_TOL, "dx");
    assert_close(grads, ref_grads, f.param_total, GRAD_ABS_TOL, GRAD_REL_TOL,
                 "parameter gradients (gamma, beta; zero outside the slice)");
    free(y), free(ref), free(state), free(ref_state);
    free(dx), free(ref_dx), free(grads), free(ref_grads);
    bn_teardown(&f);
    mcl_context_free(ctx);
}

START_TEST(test_realistic_conv_activation) {
    check_against_reference((mcl_shape){32, 24, 24}, 64);
}
END_TEST

/* A flat input whose channel count is no multiple of any channel group. */
START_TEST(test_flat_features) {
    check_against_reference((mcl_shape){100, 1, 1}, 64);
}
END_TEST

/* From the initial state (0, 1), K training forwards on one batch give
 * moving_mean = (1 - m^K) mean and moving_var = m^K + (1 - m^K) var * M / (M - 1). */
START_TEST(test_moving_statistics_closed_form) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    enum { K = 20 };
    const float momentum = 0.9f;
    bn_fixture f;
    bn_setup(&f, ctx, (mcl_shape){5, 6, 6}, 8, momentum, 0.0f, 2.0f, 43);
    size_t channels = f.channels;
    float *slice = f.hstate + f.node.state_offset;
    f.node.op->init_state(&f.node, slice);
    test_upload(ctx, f.state, f.hstate, f.state_total * 4);
    for (int k = 0; k < K; k++)
        bn_forward(&f, true);
    float *state = malloc(f.state_total * 4), *want = malloc(f.state_total * 4);
    test_download(ctx, f.state, state, f.state_total * 4);
    memcpy(want, f.hstate, f.state_total * 4);
    double decay = pow(momentum, K);
    for (size_t c = 0; c < channels; c++) {
        double mean, var;
        batch_stats(&f, c, &mean, &var);
        double unbiased = var * (double)f.rows / (double)(f.rows - 1);
        want[f.node.state_offset + c] = (float)((1.0 - decay) * mean);
        want[f.node.state_offset + channels + c] = (float)(decay + (1.0 - decay) * unbiased);
    }
    assert_close(state, want, f.state_total, STATE_ABS_TOL, STATE_REL_TOL,
                 "moving statistics after K steps");
    free(state), free(want);
    bn_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* Inference normalises with the uploaded moving statistics and never writes the state. */
START_TEST(test_inference_uses_moving_statistics) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    bn_fixture f;
    bn_setup(&f, ctx, (mcl_shape){32, 24, 24}, 16, 0.99f, -1.0f, 3.0f, 47);
    size_t count = f.count, channels = f.channels;
    float *y = malloc(count * 4), *want = malloc(count * 4);
    const float *gamma = f.hparams + f.node.param_offset, *beta = gamma + channels;
    const float *mean = f.hstate + f.node.state_offset, *var = mean + channels;
    double eps = f.node.layer.epsilon;
    for (size_t i = 0; i < count; i++) {
        size_t c = i % channels;
        want[i] = (float)(gamma[c] * (f.hx[i] - (double)mean[c]) / sqrt(var[c] + eps) + beta[c]);
    }
    bn_forward(&f, false);
    test_download(ctx, f.y, y, count * 4);
    assert_close(y, want, count, FWD_ABS_TOL, FWD_REL_TOL, "inference forward");
    float *state = malloc(f.state_total * 4);
    test_download(ctx, f.state, state, f.state_total * 4);
    ck_assert_msg(memcmp(state, f.hstate, f.state_total * 4) == 0,
                  "an inference forward changed the moving statistics");
    free(y), free(want), free(state);
    bn_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* Everything one training step produces, read back. */
typedef struct step_result {
    float *y, *dx, *grads, *state;
} step_result;

static step_result run_step(bn_fixture *f) {
    test_upload(f->ctx, f->state, f->hstate, f->state_total * 4);
    fill_zero(f->ctx, f->grads, f->param_total);
    bn_forward(f, true);
    bn_backward(f);
    step_result r = {malloc(f->count * 4), malloc(f->count * 4), malloc(f->param_total * 4),
                     malloc(f->state_total * 4)};
    test_download(f->ctx, f->y, r.y, f->count * 4);
    test_download(f->ctx, f->dx, r.dx, f->count * 4);
    test_download(f->ctx, f->grads, r.grads, f->param_total * 4);
    test_download(f->ctx, f->state, r.state, f->state_total * 4);
    return r;
}

static void step_result_free(step_result *r) {
    free(r->y), free(r->dx), free(r->grads), free(r->state);
}

/* Two identical training steps give bit-identical results: the reductions have a fixed order. */
START_TEST(test_deterministic) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    bn_fixture f;
    bn_setup(&f, ctx, (mcl_shape){32, 24, 24}, 64, 0.99f, -1.0f, 3.0f, 53);
    step_result a = run_step(&f), b = run_step(&f);
    ck_assert_msg(memcmp(a.y, b.y, f.count * 4) == 0, "forward is not repeatable");
    ck_assert_msg(memcmp(a.dx, b.dx, f.count * 4) == 0, "dx is not repeatable");
    ck_assert_msg(memcmp(a.grads, b.grads, f.param_total * 4) == 0,
                  "parameter gradients are not repeatable");
    ck_assert_msg(memcmp(a.state, b.state, f.state_total * 4) == 0,
                  "moving statistics are not repeatable");
    step_result_free(&a);
    step_result_free(&b);
    bn_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* Backward adds to the parameter gradients, and leaves dx alone when no one consumes it. */
START_TEST(test_backward_accumulates_and_skips_dx) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    bn_fixture f;
    bn_setup(&f, ctx, (mcl_shape){6, 5, 5}, 4, 0.99f, -1.0f, 1.0f, 59);
    float *once = malloc(f.param_total * 4), *twice = malloc(f.param_total * 4);
    float *dx = malloc(f.count * 4), *sentinel = malloc(f.count * 4);
    for (size_t i = 0; i < f.count; i++)
        sentinel[i] = 12345.0f;
    test_upload(ctx, f.dx, sentinel, f.count * 4);
    f.node.need_dx = false;
    bn_forward(&f, true);
    bn_backward(&f);
    test_download(ctx, f.grads, once, f.param_total * 4);
    bn_backward(&f);
    test_download(ctx, f.grads, twice, f.param_total * 4);
    for (size_t i = 0; i < f.param_total; i++)
        ck_assert_msg(twice[i] == 2.0f * once[i], "gradient %zu: %g after two steps, %g after one",
                      i, (double)twice[i], (double)once[i]);
    test_download(ctx, f.dx, dx, f.count * 4);
    ck_assert_msg(memcmp(dx, sentinel, f.count * 4) == 0, "backward wrote dx with need_dx false");
    free(once), free(twice), free(dx), free(sentinel);
    bn_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

static mcl_status parse_words(const mcl_op *op, const char *line, mcl_layer *layer,
                              mcl_error *err) {
    char buf[128], *words[8];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *w = strtok(buf, " "); w != NULL && n < 8; w = strtok(NULL, " "))
        words[n++] = w;
    *layer = (mcl_layer){.kind = op == &mcl_op_batchnorm ? MCL_OP_BATCHNORM : MCL_OP_LEAKYRELU};
    return op->parse(layer, words, n, err);
}

START_TEST(test_parse_arguments) {
    mcl_layer l;
    mcl_error err = {0};
    const mcl_op *bn = &mcl_op_batchnorm, *leaky = &mcl_op_leakyrelu;
    ck_assert_int_eq(parse_words(bn, "", &l, &err), MCL_OK);
    ck_assert(l.momentum == 0.99f && l.epsilon == 1e-3f); /* Keras defaults */
    ck_assert_int_eq(parse_words(bn, "epsilon=1e-5 momentum=0.9", &l, &err), MCL_OK);
    ck_assert(l.momentum == 0.9f && l.epsilon == 1e-5f);
    ck_assert_int_eq(parse_words(bn, "momentum=0", &l, &err), MCL_OK);
    ck_assert(l.momentum == 0.0f && l.epsilon == 1e-3f);
    const char *bad_bn[][2] = {
        {"momentum=1", "momentum"},
        {"momentum=-0.1", "momentum"},
        {"momentum=nan", "momentum"},
        {"epsilon=0", "epsilon"},
        {"epsilon=inf", "epsilon"},
        {"epsilon=x", "epsilon"},
        {"0.9", "unknown"},
        {"decay=0.9", "unknown"},
        {"momentum=0.9 momentum=0.8", "twice"},
    };
    for (size_t i = 0; i < sizeof bad_bn / sizeof bad_bn[0]; i++) {
        mcl_status st = parse_words(bn, bad_bn[i][0], &l, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, "batchnorm", bad_bn[i][1]);
    }

    ck_assert_int_eq(parse_words(leaky, "", &l, &err), MCL_OK);
    ck_assert(l.alpha == 0.3f); /* tf.keras default */
    ck_assert_int_eq(parse_words(leaky, "0.1", &l, &err), MCL_OK);
    ck_assert(l.alpha == 0.1f);
    ck_assert_int_eq(parse_words(leaky, "alpha=0", &l, &err), MCL_OK);
    ck_assert(l.alpha == 0.0f);
    const char *bad_leaky[] = {"-0.1", "nan", "inf", "alpha=", "slope=0.1", "0.1 0.2"};
    for (size_t i = 0; i < sizeof bad_leaky / sizeof bad_leaky[0]; i++) {
        mcl_status st = parse_words(leaky, bad_leaky[i], &l, &err);
        ck_assert_error(st, err, MCL_ERR_FORMAT, "leakyrelu", "alpha");
    }
}
END_TEST

static Suite *batchnorm_suite(void) {
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_realistic_conv_activation);
    tcase_add_test(tc, test_flat_features);
    tcase_add_test(tc, test_moving_statistics_closed_form);
    tcase_add_test(tc, test_inference_uses_moving_statistics);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_backward_accumulates_and_skips_dx);
    tcase_add_test(tc, test_parse_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(batchnorm_suite());
}
