/* Every op in the registry, every example it declares: forward against the plain C reference,
 * backward against central finite differences of the device forward. Plus the optimizer,
 * clipping and L2 kernels against their C references, and the references against Keras's
 * formulas. A new op gets these checks by declaring examples. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/op.h"
#include "ops/optim.h"
#include "test_util.h"

/* Forward: fp32 sums of up to ~13 products on the device vs double accumulation on the host. */
#define FWD_ABS_TOL 1e-5
#define FWD_REL_TOL 1e-4
/* Gradients: central differences with step H on an fp32 forward. The truncation error is
 * O(H^2) and the rounding error about 1e-7 * sqrt(terms) * |L| / H, ~1e-4 here: these margins
 * leave 10x room and still catch a 1% error in any gradient. */
#define FD_STEP 1e-3f
#define GRAD_ABS_TOL 1e-3
#define GRAD_REL_TOL 5e-3
/* Enough rows to make a batch, few enough to keep the test quick. */
#define BATCH 4
#define MAX_FD_POINTS 48
/* MNIST_CL_OPS_QUICK=1 (the runs under oclgrind, which simulates every instruction): a few
 * points per tensor, enough to run every kernel of every example on every path. */
#define QUICK_FD_POINTS 2

static size_t fd_points(void) {
    const char *quick = getenv("MNIST_CL_OPS_QUICK");
    return quick != NULL && strcmp(quick, "1") == 0 ? QUICK_FD_POINTS : MAX_FD_POINTS;
}

typedef struct fixture {
    mcl_context *ctx;
    mcl_node node;
    size_t in_count, out_count, param_count, state_count;
    cl_mem x, dx, params, grads, labels, loss, correct, state, workspace; /* the fixture's */
    cl_mem y, dy; /* the node's (mcl_node_bind) */
    float *hx, *hparams, *hstate; /* hstate: the initial state */
    int32_t *hlabels;
    bool is_loss;
} fixture;

/* Moves values off ReLU's kink so that +-FD_STEP never crosses it. */
static void away_from_zero(float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fabsf(v[i]) < 0.05f) v[i] = v[i] < 0.0f ? -0.05f : 0.05f;
}

static void fixture_setup(fixture *f, mcl_context *ctx, mcl_op_kind kind,
                          const mcl_op_example *ex, uint64_t seed) {
    int example = -1; /* which of the op's examples, or -1 for a test's own configuration */
    for (int e = 0; e < MCL_OP_MAX_EXAMPLES; e++)
        if (ex == &mcl_op_get(kind)->examples[e]) example = e;
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    mcl_node *node = &f->node;
    mcl_error err = {0};
    mcl_layer layer = ex->layer;
    layer.kind = kind;
    ck_assert_msg(mcl_node_infer(node, &layer, ex->input, 2, &err) == MCL_OK, "%s", err.message);
    node->need_dx = true;
    snprintf(node->name, sizeof node->name, "%s#%d", node->op->name, example); /* "conv2d#3" */
    node->param_offset = node->param_count > 0 ? 3 : 0; /* a non-zero offset is exercised */
    node->state_offset = node->state_count > 0 ? 5 : 0;
    f->is_loss = kind == MCL_OP_SOFTMAX_XENT;
    f->in_count = (size_t)BATCH * mcl_shape_size(node->in_shape);
    f->out_count = (size_t)BATCH * mcl_shape_size(node->out_shape);
    f->param_count = node->param_offset + node->param_count + 1;
    f->state_count = node->state_offset + node->state_count + 1;
    f->x = test_buffer(ctx, f->in_count * 4);
    f->dx = test_buffer(ctx, f->in_count * 4);
    ck_assert_msg(mcl_node_bind(node, ctx, f->x, f->dx, BATCH, NULL, &err) == MCL_OK, "%s",
                  err.message);
    f->y = node->y, f->dy = node->dy;
    f->params = test_buffer(ctx, f->param_count * 4);
    f->grads = test_buffer(ctx, f->param_count * 4);
    f->state = test_buffer(ctx, f->state_count * 4);
    size_t workspace = node->op->workspace_bytes ? node->op->workspace_bytes(node, BATCH) : 0;
    f->workspace = workspace > 0 ? test_buffer(ctx, workspace) : NULL;
    f->labels = test_buffer(ctx, BATCH * 4);
    f->loss = test_buffer(ctx, BATCH * 4);
    f->correct = test_buffer(ctx, BATCH * 4);
    f->hx = malloc(f->in_count * sizeof(float));
    f->hparams = malloc(f->param_count * sizeof(float));
    f->hlabels = malloc(BATCH * sizeof(int32_t));
    f->hstate = calloc(f->state_count, sizeof(float));
    if (node->state_count > 0 && node->op->init_state != NULL)
        node->op->init_state(node, f->hstate + node->state_offset);
    test_upload(ctx, f->state, f->hstate, f->state_count * 4);
    test_fill_uniform(f->hx, f->in_count, ex->input_lo, ex->input_hi, seed);
    away_from_zero(f->hx, f->in_count);
    test_fill_uniform(f->hparams, f->param_count, -0.5f, 0.5f, seed + 1);
    away_from_zero(f->hparams, f->param_count);
    uint32_t classes = mcl_shape_size(node->in_shape);
    for (int r = 0; r < BATCH; r++) f->hlabels[r] = (int32_t)((r * 7 + 3) % classes);
    test_upload(ctx, f->x, f->hx, f->in_count * 4);
    test_upload(ctx, f->params, f->hparams, f->param_count * 4);
    test_upload(ctx, f->labels, f->hlabels, BATCH * 4);
}

static void fixture_teardown(fixture *f) {
    mcl_node_release(&f->node); /* y, dy, aux and the kernels */
    cl_mem bufs[] = {f->x,    f->dx,      f->params, f->grads,    f->labels,
                     f->loss, f->correct, f->state,  f->workspace};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i] != NULL) clReleaseMemObject(bufs[i]);
    free(f->hx);
    free(f->hparams);
    free(f->hlabels);
    free(f->hstate);
}

static mcl_exec exec_for(fixture *f) {
    return (mcl_exec){.ctx = f->ctx,
                      .params = f->params,
                      .grads = f->grads,
                      .state = f->state,
                      .workspace = f->workspace,
                      .labels = f->labels,
                      .sample_loss = f->loss,
                      .sample_correct = f->correct,
                      .n = BATCH,
                      .step = 5,
                      .seed = 0xC0FFEEull,
                      .training = true};
}

static void run_forward_mode(fixture *f, float *y_out, bool training) {
    mcl_exec ex = exec_for(f);
    ex.training = training;
    mcl_error err = {0};
    ck_assert_msg(f->node.op->forward(&f->node, &ex, &err) == MCL_OK, "%s", err.message);
    test_download(f->ctx, f->y, y_out, f->out_count * 4);
}

static void run_forward(fixture *f, float *y_out) {
    run_forward_mode(f, y_out, true);
}

/* The scalar the gradient check differentiates: sum(y * r) for an ordinary op, the mean loss
 * for the loss op. */
static double objective(fixture *f, const float *r, float *y_scratch) {
    run_forward(f, y_scratch);
    double l = 0.0;
    if (f->is_loss) {
        float loss[BATCH];
        test_download(f->ctx, f->loss, loss, sizeof loss);
        for (int i = 0; i < BATCH; i++) l += loss[i];
        return l / BATCH;
    }
    for (size_t i = 0; i < f->out_count; i++) l += (double)y_scratch[i] * r[i];
    return l;
}

/* Number of exact zeros in y: a change between +h and -h means a ReLU kink was crossed. */
static size_t zero_count(const float *y, size_t n) {
    size_t z = 0;
    for (size_t i = 0; i < n; i++) z += y[i] == 0.0f;
    return z;
}

/* Central difference of `objective` w.r.t. host[i] (uploaded to `buf`); returns false if the
 * point straddles a kink. */
static bool central_difference(fixture *f, cl_mem buf, float *host, size_t count, size_t i,
                               const float *r, double *out) {
    float *yp = malloc(f->out_count * 4), *ym = malloc(f->out_count * 4);
    float saved = host[i];
    host[i] = saved + FD_STEP;
    test_upload(f->ctx, buf, host, count * 4);
    double lp = objective(f, r, yp);
    host[i] = saved - FD_STEP;
    test_upload(f->ctx, buf, host, count * 4);
    double lm = objective(f, r, ym);
    host[i] = saved;
    test_upload(f->ctx, buf, host, count * 4);
    bool smooth = zero_count(yp, f->out_count) == zero_count(ym, f->out_count);
    /* The perturbed value, not the nominal step: fp32 rounds saved +- H. */
    double h2 = (double)(saved + FD_STEP) - (double)(saved - FD_STEP);
    *out = (lp - lm) / h2;
    free(yp);
    free(ym);
    return smooth;
}

/* Compares analytic[i] with central differences for up to MAX_FD_POINTS evenly spaced i in
 * [first, end) of the tensor `host` (uploaded to `buf`, `count` floats); counts checked points and
 * points skipped at a kink. `what` names the tensor in failure messages. */
static void compare_gradients(fixture *f, cl_mem buf, float *host, size_t count, size_t first,
                              size_t end, const float *analytic, const float *r, const char *what,
                              size_t *checked, size_t *skipped) {
    size_t stride = (end - first) / fd_points() + 1;
    for (size_t i = first; i < end; i += stride) {
        double fd;
        if (!central_difference(f, buf, host, count, i, r, &fd)) {
            (*skipped)++;
            continue;
        }
        (*checked)++;
        double tol = GRAD_ABS_TOL + GRAD_REL_TOL * fabs(fd);
        ck_assert_msg(fabs(analytic[i] - fd) <= tol,
                      "%s: d/%s[%zu] backward %.6g vs finite difference %.6g", f->node.name, what,
                      i - first, (double)analytic[i], fd);
    }
}

static void check_forward(mcl_op_kind kind, const mcl_op_example *ex, mcl_context *ctx) {
    fixture f;
    fixture_setup(&f, ctx, kind, ex, 100 + kind);
    float *y = malloc(f.out_count * 4), *ref = malloc(f.out_count * 4);
    run_forward(&f, y);
    float ref_loss[BATCH] = {0}, ref_correct[BATCH] = {0};
    mcl_exec dev = exec_for(&f);
    float *ref_state = malloc(f.state_count * 4), *dev_state = malloc(f.state_count * 4);
    memcpy(ref_state, f.hstate, f.state_count * 4);
    mcl_ref_exec rex = {.params = f.hparams,
                        .state = ref_state,
                        .labels = f.hlabels,
                        .sample_loss = ref_loss,
                        .sample_correct = ref_correct,
                        .n = BATCH,
                        .step = dev.step,
                        .seed = dev.seed,
                        .training = true};
    f.node.op->reference_forward(&f.node, &rex, f.hx, ref);
    double e = test_max_scaled_error(y, ref, f.out_count, FWD_ABS_TOL, FWD_REL_TOL);
    ck_assert_msg(e <= 1.0, "%s forward differs from the C reference (scaled error %.3g)",
                  f.node.name, e);
    if (f.is_loss) {
        float loss[BATCH], correct[BATCH];
        test_download(ctx, f.loss, loss, sizeof loss);
        test_download(ctx, f.correct, correct, sizeof correct);
        ck_assert_msg(test_max_scaled_error(loss, ref_loss, BATCH, FWD_ABS_TOL, FWD_REL_TOL) <= 1,
                      "per-sample loss differs from the reference");
        ck_assert_msg(memcmp(correct, ref_correct, sizeof correct) == 0,
                      "per-sample correctness differs from the reference");
    }
    /* Training-mode forward updates state (moving statistics) as the reference does. */
    test_download(ctx, f.state, dev_state, f.state_count * 4);
    e = test_max_scaled_error(dev_state, ref_state, f.state_count, FWD_ABS_TOL, FWD_REL_TOL);
    ck_assert_msg(e <= 1.0, "%s: state after a training forward differs from the reference "
                  "(scaled error %.3g)", f.node.name, e);
    /* Inference mode: against the reference, and it must leave the state alone. */
    rex.training = false;
    f.node.op->reference_forward(&f.node, &rex, f.hx, ref);
    run_forward_mode(&f, y, false);
    e = test_max_scaled_error(y, ref, f.out_count, FWD_ABS_TOL, FWD_REL_TOL);
    ck_assert_msg(e <= 1.0, "%s inference forward differs from the C reference (scaled error "
                  "%.3g)", f.node.name, e);
    float *after = malloc(f.state_count * 4);
    test_download(ctx, f.state, after, f.state_count * 4);
    ck_assert_msg(memcmp(after, dev_state, f.state_count * 4) == 0,
                  "%s: an inference forward changed the layer state", f.node.name);
    if (kind == MCL_OP_DROPOUT)
        ck_assert_msg(memcmp(ref, f.hx, f.in_count * 4) == 0, "dropout in inference must copy");
    free(after);
    free(ref_state);
    free(dev_state);
    free(y);
    free(ref);
    fixture_teardown(&f);
}

static void check_gradients(mcl_op_kind kind, const mcl_op_example *ex, mcl_context *ctx) {
    fixture f;
    fixture_setup(&f, ctx, kind, ex, 200 + kind);
    float *r = malloc(f.out_count * 4), *y = malloc(f.out_count * 4);
    test_fill_uniform(r, f.out_count, -1.0f, 1.0f, 300 + kind);
    /* Analytic gradients: forward, then backward with dy = r (or from the loss itself). */
    run_forward(&f, y);
    test_upload(ctx, f.dy, r, f.out_count * 4);
    const float zero = 0.0f;
    mcl_error err = {0};
    ck_assert_msg(mcl_fill(ctx, f.grads, &zero, 4, 0, f.param_count * 4, "zeroing", &err) ==
                      MCL_OK,
                  "%s", err.message);
    mcl_exec exv = exec_for(&f);
    ck_assert_msg(f.node.op->backward(&f.node, &exv, &err) == MCL_OK, "%s", err.message);
    float *dx = malloc(f.in_count * 4), *dp = malloc(f.param_count * 4);
    test_download(ctx, f.dx, dx, f.in_count * 4);
    test_download(ctx, f.grads, dp, f.param_count * 4);
    /* Where the op has a host backward, the device's must match it as the forward matches the
     * forward's oracle (a finite difference is checked at a few points only). */
    if (f.node.op->reference_backward != NULL) {
        float *ref_dx = calloc(f.in_count, 4), *ref_dp = calloc(f.param_count, 4);
        mcl_ref_exec rex = {.params = f.hparams, .state = f.hstate, .labels = f.hlabels,
                            .n = BATCH, .step = exv.step, .seed = exv.seed, .training = true};
        f.node.op->reference_backward(&f.node, &rex, f.hx, y, r, ref_dx, ref_dp);
        double ex_dx = test_max_scaled_error(dx, ref_dx, f.in_count, FWD_ABS_TOL, FWD_REL_TOL);
        double ex_dp = test_max_scaled_error(dp, ref_dp, f.param_count, FWD_ABS_TOL, FWD_REL_TOL);
        ck_assert_msg(ex_dx <= 1.0 && ex_dp <= 1.0,
                      "%s backward differs from the C reference (scaled error: dx %.3g, params "
                      "%.3g)",
                      f.node.name, ex_dx, ex_dp);
        free(ref_dx);
        free(ref_dp);
    }

    size_t checked = 0, skipped = 0;
    compare_gradients(&f, f.x, f.hx, f.in_count, 0, f.in_count, dx, r, "dx", &checked, &skipped);
    size_t first = f.node.param_offset, end = first + f.node.param_count;
    compare_gradients(&f, f.params, f.hparams, f.param_count, first, end, dp, r, "dparam",
                      &checked, &skipped);
    /* Bias gradients sit at the end of the slice; make sure they were reached. */
    if (f.node.param_count > 0) {
        double fd;
        ck_assert(central_difference(&f, f.params, f.hparams, f.param_count, end - 1, r, &fd));
        ck_assert_msg(fabs(dp[end - 1] - fd) <= GRAD_ABS_TOL + GRAD_REL_TOL * fabs(fd),
                      "%s: last bias gradient %.6g vs %.6g", f.node.name, (double)dp[end - 1], fd);
        /* Gradients outside the node's slice stay zero. */
        ck_assert_msg(dp[0] == 0.0f && dp[f.param_count - 1] == 0.0f,
                      "backward wrote outside its parameter slice");
    }
    ck_assert_msg(checked >= (fd_points() < 4 ? 1 : 4) && skipped * 10 <= checked,
                  "%s: only %zu points checked, %zu skipped at kinks", f.node.name, checked,
                  skipped);
    free(r), free(y), free(dx), free(dp);
    fixture_teardown(&f);
}

/* MNIST_CL_OPS=conv2d,maxpool limits the run to those ops (while one op is being written). */
static bool selected(const mcl_op *op) {
    const char *only = getenv("MNIST_CL_OPS");
    if (only == NULL || *only == '\0') return true;
    size_t n = strlen(op->name);
    for (const char *p = only; (p = strstr(p, op->name)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}

/* The table made from the op list (src/ops/op_list.h) has an entry for every kind, each found by
 * its own name, with the functions the graph and these checks call. */
START_TEST(test_op_table_complete) {
    for (unsigned k = 0; k < MCL_OP_COUNT; k++) {
        const mcl_op *op = mcl_op_get((mcl_op_kind)k);
        ck_assert_msg(op != NULL, "op kind %u has no table entry", k);
        ck_assert_msg(op->name != NULL && op->name[0] != '\0', "op kind %u has no name", k);
        mcl_op_kind found = MCL_OP_COUNT;
        ck_assert_msg(mcl_op_find(op->name, &found) == op && found == (mcl_op_kind)k,
                      "op '%s' is not found as kind %u", op->name, k);
        ck_assert_msg(op->keras_name != NULL && op->infer != NULL && op->param_count != NULL &&
                          op->forward != NULL && op->backward != NULL &&
                          op->forward_flops != NULL && op->backward_flops != NULL &&
                          op->reference_forward != NULL,
                      "op '%s' lacks a function the graph or the op checks call", op->name);
    }
    ck_assert_ptr_null(mcl_op_get(MCL_OP_COUNT));
    ck_assert_ptr_null(mcl_op_find("no-such-op", NULL));
}
END_TEST

START_TEST(test_every_op_forward) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    int examples = 0, ops = 0;
    for (unsigned k = 0; k < MCL_OP_COUNT; k++) {
        const mcl_op *op = mcl_op_get((mcl_op_kind)k);
        if (!selected(op)) continue;
        ops++;
        ck_assert_msg(op->examples[0].input.c > 0, "op %s declares no test example", op->name);
        for (int e = 0; e < MCL_OP_MAX_EXAMPLES && op->examples[e].input.c > 0; e++, examples++)
            check_forward((mcl_op_kind)k, &op->examples[e], ctx);
    }
    ck_assert_int_ge(examples, ops);
    mcl_context_free(ctx);
}
END_TEST

START_TEST(test_every_op_gradient) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    for (unsigned k = 0; k < MCL_OP_COUNT; k++) {
        const mcl_op *op = mcl_op_get((mcl_op_kind)k);
        if (!selected(op)) continue;
        for (int e = 0; e < MCL_OP_MAX_EXAMPLES && op->examples[e].input.c > 0; e++)
            check_gradients((mcl_op_kind)k, &op->examples[e], ctx);
    }
    mcl_context_free(ctx);
}
END_TEST

/* Dropout keeps about 1 - rate of the elements, scales them, and the mask depends on the step. */
START_TEST(test_dropout_statistics) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_op_example ex = {.layer = {.kind = MCL_OP_DROPOUT, .rate = 0.2f},
                         .input = {4096, 1, 1}, .input_lo = 1.0f, .input_hi = 1.0f};
    fixture f;
    fixture_setup(&f, ctx, MCL_OP_DROPOUT, &ex, 7);
    for (size_t i = 0; i < f.in_count; i++) f.hx[i] = 1.0f;
    test_upload(ctx, f.x, f.hx, f.in_count * 4);
    float *y1 = malloc(f.out_count * 4), *y2 = malloc(f.out_count * 4);
    run_forward(&f, y1);
    size_t kept = 0;
    for (size_t i = 0; i < f.out_count; i++) {
        ck_assert(y1[i] == 0.0f || fabsf(y1[i] - 1.25f) < 1e-6f);
        kept += y1[i] != 0.0f;
    }
    double frac = (double)kept / f.out_count;
    ck_assert_msg(fabs(frac - 0.8) < 0.01, "kept fraction %.4f, expected 0.8", frac);
    mcl_exec ex2 = exec_for(&f);
    ex2.step = 6;
    mcl_error err = {0};
    ck_assert(f.node.op->forward(&f.node, &ex2, &err) == MCL_OK);
    test_download(ctx, f.y, y2, f.out_count * 4);
    ck_assert_msg(memcmp(y1, y2, f.out_count * 4) != 0, "the mask must change with the step");
    free(y1), free(y2);
    fixture_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* The optimizer tests' parameter layout, as a graph lays tensors out: a kernel, its bias, a
 * kernel of three reduction chunks (4096 floats each) and a bias of 3, with padding between
 * them, and a count that no vector width divides (the kernels' scalar tail runs too). */
enum { OPT_COUNT = 9603, OPT_STEPS = 3 };
static const mcl_param_segment opt_segments[] = {
    {.offset = 0, .count = 500, .kernel = true},
    {.offset = 512, .count = 20, .kernel = false},
    {.offset = 576, .count = 9000, .kernel = true},
    {.offset = 9600, .count = 3, .kernel = false},
};
#define OPT_SEGMENTS (sizeof opt_segments / sizeof opt_segments[0])

typedef struct optim_case {
    const char *name;
    mcl_recipe recipe;
} optim_case;

/* Every update rule with and without its options, and every kind of clipping: each against
 * the C reference (tests/test_ops.c, src/ops/optim.c), which follows Keras's formulas. */
static const optim_case optim_cases[] = {
    {"adam", {.optimizer = MCL_OPTIMIZER_ADAM, .learning_rate = 0.01f}},
    {"adamw", {.optimizer = MCL_OPTIMIZER_ADAMW, .learning_rate = 0.01f, .weight_decay = 0.5f}},
    {"sgd", {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.01f}},
    {"sgd momentum", {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.01f, .momentum = 0.9f}},
    {"sgd nesterov",
     {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.01f, .momentum = 0.9f, .nesterov = true}},
    {"sgd weight decay",
     {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.05f, .momentum = 0.5f,
      .weight_decay = 0.2f}},
    {"rmsprop", {.optimizer = MCL_OPTIMIZER_RMSPROP, .learning_rate = 0.01f, .rho = 0.9f}},
    {"rmsprop centered",
     {.optimizer = MCL_OPTIMIZER_RMSPROP, .learning_rate = 0.01f, .rho = 0.9f, .centered = true}},
    {"rmsprop momentum centered decay",
     {.optimizer = MCL_OPTIMIZER_RMSPROP, .learning_rate = 0.01f, .rho = 0.8f,
      .momentum = 0.5f, .centered = true, .weight_decay = 0.1f}},
    {"adam clipnorm", {.optimizer = MCL_OPTIMIZER_ADAM, .learning_rate = 0.01f, .clipnorm = 5.0f}},
    {"sgd clipnorm", {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.1f, .clipnorm = 5.0f}},
    {"sgd global_clipnorm",
     {.optimizer = MCL_OPTIMIZER_SGD, .learning_rate = 0.1f, .momentum = 0.9f,
      .global_clipnorm = 10.0f}},
    {"rmsprop clipvalue",
     {.optimizer = MCL_OPTIMIZER_RMSPROP, .learning_rate = 0.01f, .rho = 0.9f,
      .momentum = 0.9f, .clipvalue = 0.3f}},
};

static void check_optimizer(mcl_context *ctx, const optim_case *c) {
    const mcl_recipe *r = &c->recipe;
    mcl_optim *opt = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_optim_create(ctx, r, OPT_COUNT, opt_segments, OPT_SEGMENTS, &opt, &err) ==
                      MCL_OK,
                  "%s: %s", c->name, err.message);
    float *p = malloc(OPT_COUNT * 4), *g = malloc(OPT_COUNT * 4), *out = malloc(OPT_COUNT * 4);
    float *state[MCL_OPTIM_SLOTS], *dev_state[MCL_OPTIM_SLOTS];
    unsigned slots = mcl_optim_state_slots(opt);
    ck_assert_uint_eq(slots, mcl_optim_slots(r));
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++) {
        state[i] = slots & 1u << i ? calloc(OPT_COUNT, 4) : NULL;
        dev_state[i] = slots & 1u << i ? malloc(OPT_COUNT * 4) : NULL;
    }
    test_fill_uniform(p, OPT_COUNT, -1.0f, 1.0f, 11);
    cl_mem dp = test_buffer(ctx, OPT_COUNT * 4), dg = test_buffer(ctx, OPT_COUNT * 4);
    test_upload(ctx, dp, p, OPT_COUNT * 4);
    for (int s = 1; s <= OPT_STEPS; s++) {
        test_fill_uniform(g, OPT_COUNT, -1.0f, 1.0f, 20 + (uint64_t)s);
        test_upload(ctx, dg, g, OPT_COUNT * 4);
        ck_assert_msg(mcl_optim_step(opt, dp, dg, r->learning_rate, NULL, &err) == MCL_OK, "%s",
                      err.message);
        mcl_clip_reference(g, OPT_COUNT, opt_segments, OPT_SEGMENTS, r);
        float decay = r->learning_rate * r->weight_decay;
        if (r->optimizer == MCL_OPTIMIZER_ADAM || r->optimizer == MCL_OPTIMIZER_ADAMW)
            mcl_adam_reference(p, g, state[MCL_OPTIM_M], state[MCL_OPTIM_V], OPT_COUNT,
                               r->learning_rate, (uint64_t)s, decay);
        else if (r->optimizer == MCL_OPTIMIZER_RMSPROP)
            mcl_rmsprop_reference(p, g, state[MCL_OPTIM_V], state[MCL_OPTIM_M],
                                  state[MCL_OPTIM_MG], OPT_COUNT, r->learning_rate, r->rho,
                                  r->momentum, r->centered, decay);
        else
            mcl_sgd_reference(p, g, state[MCL_OPTIM_M], OPT_COUNT, r->learning_rate, r->momentum,
                              r->nesterov, decay);
    }
    ck_assert_uint_eq(mcl_optim_steps(opt), OPT_STEPS);
    /* The step consumes the gradients: the next backward starts from zeros without a fill. */
    test_download(ctx, dg, out, OPT_COUNT * 4);
    for (int i = 0; i < OPT_COUNT; i++)
        ck_assert_msg(out[i] == 0.0f, "%s: gradient %d left at %g after the step", c->name, i,
                      (double)out[i]);
    test_download(ctx, dp, out, OPT_COUNT * 4);
    /* Same fp32 formula on both sides; only contraction (FMA), the device's sqrt (3 ulp in
     * OpenCL C) and the clipping norms' fp32 sums (double on the host) may differ. */
    double e = test_max_scaled_error(out, p, OPT_COUNT, 1e-6, 1e-5);
    ck_assert_msg(e <= 1.0, "%s differs from its C reference (scaled error %.3g)", c->name, e);
    ck_assert_msg(mcl_optim_read_state(opt, dev_state, &err) == MCL_OK, "%s", err.message);
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++) {
        if (state[i] == NULL) continue;
        e = test_max_scaled_error(dev_state[i], state[i], OPT_COUNT, 1e-6, 1e-5);
        ck_assert_msg(e <= 1.0, "%s: state slot %d differs from the reference (%.3g)", c->name, i,
                      e);
    }
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++) {
        free(state[i]);
        free(dev_state[i]);
    }
    free(p), free(g), free(out);
    clReleaseMemObject(dp);
    clReleaseMemObject(dg);
    mcl_optim_free(opt);
}

START_TEST(test_optimizers_match_reference) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    for (size_t i = 0; i < sizeof optim_cases / sizeof optim_cases[0]; i++)
        check_optimizer(ctx, &optim_cases[i]);
    mcl_context_free(ctx);
}
END_TEST

/* The references against Keras's formulas written out, on values where a plausible mistake
 * shows. Keras Adam, first step from zero state: m = (1-b1) g, sqrt(v) = sqrt(1-b2) |g|, so the
 * update is lr sqrt(1-b2) g / (sqrt(1-b2) |g| + eps): epsilon sits before the bias correction
 * (unlike PyTorch's lr g / (|g| + eps)), which shows for small gradients. */
START_TEST(test_adam_first_step_keras_epsilon) {
    float p[3] = {0, 0, 0}, g[3] = {0.5f, -2.0f, 1e-3f}, m[3] = {0}, v[3] = {0};
    mcl_adam_reference(p, g, m, v, 3, 0.001f, 1, 0.0f);
    double s = sqrt(1.0 - 0.999);
    for (int i = 0; i < 3; i++) {
        double expect = -0.001 * s * g[i] / (s * fabs(g[i]) + 1e-7);
        ck_assert_msg(fabs(p[i] - expect) < 1e-9 + 1e-5 * fabs(expect), "p[%d] = %.9g, want %.9g",
                      i, (double)p[i], expect);
    }
    ck_assert_msg(fabs(p[2] + 0.001) > 2e-6, "a 1e-3 gradient must show Keras's epsilon");
}
END_TEST

/* AdamW's weight decay is decoupled (Keras: w -= lr * weight_decay * w before the update): a
 * zero gradient still shrinks w by exactly that, and the Adam step is not scaled by it. */
START_TEST(test_adamw_decay_is_decoupled) {
    float p[2] = {2.0f, -1.0f}, g[2] = {0.0f, 0.5f}, m[2] = {0}, v[2] = {0};
    const float lr = 0.01f, wd = 0.004f;
    mcl_adam_reference(p, g, m, v, 2, lr, 1, lr * wd);
    ck_assert_msg(fabs(p[0] - 2.0 * (1.0 - 0.01 * 0.004)) < 1e-7, "p[0] = %.9g", (double)p[0]);
    /* w (1 - lr wd) - lr sqrt(1-b2) g / (sqrt(1-b2) |g| + eps) / (1 - b1) * (1 - b1) */
    double s = sqrt(1.0 - 0.999), want = -1.0 * (1.0 - 0.01 * 0.004) - 0.01 * s * 0.5 /
                                                                            (s * 0.5 + 1e-7);
    ck_assert_msg(fabs(p[1] - want) < 1e-6, "p[1] = %.9g, want %.9g", (double)p[1], want);
}
END_TEST

/* Keras SGD(momentum=0.9, nesterov=True), two steps of g = 1 from zero velocity:
 * m1 = -lr, w1 = m1 momentum - lr = -1.9 lr; m2 = -1.9 lr, w2 = w1 + m2 momentum - lr. */
START_TEST(test_sgd_nesterov_keras_formula) {
    float p[1] = {0}, g[1] = {1.0f}, vel[1] = {0};
    mcl_sgd_reference(p, g, vel, 1, 0.1f, 0.9f, true, 0.0f);
    ck_assert_msg(fabs(p[0] + 0.19) < 1e-7, "step 1: %.9g", (double)p[0]);
    mcl_sgd_reference(p, g, vel, 1, 0.1f, 0.9f, true, 0.0f);
    ck_assert_msg(fabs(p[0] - (-0.19 + (-0.19 * 0.9 - 0.1))) < 1e-6, "step 2: %.9g",
                  (double)p[0]);
    /* Without Nesterov, the same two steps: -0.1, then -0.1 - 0.19. */
    float q[1] = {0}, vq[1] = {0};
    mcl_sgd_reference(q, g, vq, 1, 0.1f, 0.9f, false, 0.0f);
    mcl_sgd_reference(q, g, vq, 1, 0.1f, 0.9f, false, 0.0f);
    ck_assert_msg(fabs(q[0] + 0.29) < 1e-6, "plain momentum: %.9g", (double)q[0]);
}
END_TEST

/* Keras RMSprop, first step from zero: v = (1 - rho) g^2 and the step is
 * lr g / sqrt(v + eps), epsilon inside the square root (not sqrt(v) + eps, which a 1e-3
 * gradient tells apart); centered subtracts mg^2 = ((1 - rho) g)^2 inside it too; momentum
 * accumulates the increments. */
START_TEST(test_rmsprop_keras_formula) {
    const float g = 1e-3f, lr = 0.001f, rho = 0.9f;
    float p[1] = {0}, gv[1] = {g}, v[1] = {0};
    mcl_rmsprop_reference(p, gv, v, NULL, NULL, 1, lr, rho, 0.0f, false, 0.0f);
    double vv = (1.0 - 0.9) * 1e-6, want = -0.001 * 1e-3 / sqrt(vv + 1e-7);
    ck_assert_msg(fabs(p[0] - want) < 1e-6 * fabs(want), "plain: %.9g, want %.9g", (double)p[0],
                  want);
    ck_assert_msg(fabs(p[0] - (-0.001 * 1e-3 / (sqrt(vv) + 1e-7))) > 1e-3 * fabs(want),
                  "epsilon must sit inside the square root");
    float pc[1] = {0}, vc[1] = {0}, mg[1] = {0};
    mcl_rmsprop_reference(pc, gv, vc, NULL, mg, 1, lr, rho, 0.0f, true, 0.0f);
    double mgv = 0.1 * 1e-3, wantc = -0.001 * 1e-3 / sqrt(vv - mgv * mgv + 1e-7);
    ck_assert_msg(fabs(pc[0] - wantc) < 1e-5 * fabs(wantc), "centered: %.9g, want %.9g",
                  (double)pc[0], wantc);
    float pm[1] = {0}, vm[1] = {0}, mm[1] = {0}, one[1] = {1.0f};
    mcl_rmsprop_reference(pm, one, vm, mm, NULL, 1, 0.01f, rho, 0.5f, false, 0.0f);
    double inc1 = 0.01 / sqrt(0.1 + 1e-7);
    mcl_rmsprop_reference(pm, one, vm, mm, NULL, 1, 0.01f, rho, 0.5f, false, 0.0f);
    double inc2 = 0.01 / sqrt(0.9 * 0.1 + 0.1 + 1e-7);
    double wantm = -(inc1 + (0.5 * inc1 + inc2));
    ck_assert_msg(fabs(pm[0] - wantm) < 1e-6, "momentum: %.9g, want %.9g", (double)pm[0], wantm);
}
END_TEST

/* Keras's clipping: clipnorm scales each variable to the norm on its own (a small one is left
 * alone), global_clipnorm all of them by one factor, clipvalue each element. */
START_TEST(test_clip_reference_keras_semantics) {
    const mcl_param_segment segs[2] = {{0, 2, true}, {2, 1, false}};
    float g[3] = {3.0f, 4.0f, 0.5f}; /* norms 5 and 0.5; together sqrt(25.25) */
    mcl_recipe r = {.clipnorm = 1.0f};
    mcl_clip_reference(g, 3, segs, 2, &r);
    ck_assert(fabsf(g[0] - 0.6f) < 1e-7f && fabsf(g[1] - 0.8f) < 1e-7f && g[2] == 0.5f);
    float h[3] = {3.0f, 4.0f, 0.5f};
    r = (mcl_recipe){.global_clipnorm = 1.0f};
    mcl_clip_reference(h, 3, segs, 2, &r);
    double f = 1.0 / sqrt(25.25);
    ck_assert(fabs(h[0] - 3 * f) < 1e-7 && fabs(h[1] - 4 * f) < 1e-7 && fabs(h[2] - 0.5 * f) < 1e-7);
    float k[3] = {3.0f, -4.0f, 0.5f};
    r = (mcl_recipe){.clipvalue = 1.0f};
    mcl_clip_reference(k, 3, segs, 2, &r);
    ck_assert(k[0] == 1.0f && k[1] == -1.0f && k[2] == 0.5f);
    /* Below the limit nothing changes, bit for bit. */
    float u[3] = {0.3f, 0.4f, 0.1f};
    r = (mcl_recipe){.global_clipnorm = 1.0f};
    mcl_clip_reference(u, 3, segs, 2, &r);
    ck_assert(u[0] == 0.3f && u[1] == 0.4f && u[2] == 0.1f);
}
END_TEST

/* The L2 kernel regulariser on the device: 2 l2 w joins the kernels' gradients (not the
 * biases'), and samples * l2 * sum(w^2) over the kernels joins the metric slot's loss sum; the
 * evaluation form (no gradients) adds the loss term only. */
START_TEST(test_l2_matches_reference) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_l2 *l2 = NULL;
    mcl_error err = {0};
    ck_assert_msg(mcl_l2_create(ctx, opt_segments, OPT_SEGMENTS, &l2, &err) == MCL_OK, "%s",
                  err.message);
    float *p = malloc(OPT_COUNT * 4), *g = malloc(OPT_COUNT * 4), *out = malloc(OPT_COUNT * 4);
    test_fill_uniform(p, OPT_COUNT, -1.0f, 1.0f, 31);
    test_fill_uniform(g, OPT_COUNT, -1.0f, 1.0f, 32);
    cl_mem dp = test_buffer_from(ctx, p, OPT_COUNT * 4), dg = test_buffer_from(ctx, g, OPT_COUNT * 4);
    const float kernel_g = g[600], bias_g = g[512]; /* before the regulariser */
    float metrics[6] = {1.5f, 7.0f, 2.5f, 8.0f, 3.5f, 9.0f};
    cl_mem dm = test_buffer_from(ctx, metrics, sizeof metrics);
    const float factor = 0.01f;
    ck_assert(mcl_l2_enqueue(l2, dp, dg, factor, dm, 1, 32, &err) == MCL_OK);
    ck_assert(mcl_l2_enqueue(l2, dp, NULL, factor, dm, 2, 10, &err) == MCL_OK);
    double penalty = mcl_l2_reference(p, g, opt_segments, OPT_SEGMENTS, factor);
    test_download(ctx, dg, out, OPT_COUNT * 4);
    double e = test_max_scaled_error(out, g, OPT_COUNT, 1e-6, 1e-5);
    ck_assert_msg(e <= 1.0, "L2 gradients differ from the reference (scaled error %.3g)", e);
    ck_assert(out[600] != kernel_g); /* a kernel's gradient moved, a bias's did not */
    ck_assert(out[512] == bias_g);
    float got[6];
    test_download(ctx, dm, got, sizeof got);
    ck_assert(got[0] == 1.5f && got[1] == 7.0f && got[3] == 8.0f && got[5] == 9.0f);
    /* fp32 sums of ~9500 squares on the device: a relative 1e-5 covers them. */
    ck_assert_msg(fabs(got[2] - (2.5 + 32 * penalty)) <= 1e-5 * 32 * penalty,
                  "loss slot %.7g, want %.7g", (double)got[2], 2.5 + 32 * penalty);
    ck_assert_msg(fabs(got[4] - (3.5 + 10 * penalty)) <= 1e-5 * 10 * penalty,
                  "evaluation slot %.7g, want %.7g", (double)got[4], 3.5 + 10 * penalty);
    clReleaseMemObject(dp);
    clReleaseMemObject(dg);
    clReleaseMemObject(dm);
    free(p), free(g), free(out);
    mcl_l2_free(l2);
    mcl_context_free(ctx);
}
END_TEST

static Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_op_table_complete);
    tcase_add_test(tc, test_every_op_forward);
    tcase_add_test(tc, test_every_op_gradient);
    tcase_add_test(tc, test_dropout_statistics);
    tcase_add_test(tc, test_optimizers_match_reference);
    tcase_add_test(tc, test_adam_first_step_keras_epsilon);
    tcase_add_test(tc, test_adamw_decay_is_decoupled);
    tcase_add_test(tc, test_sgd_nesterov_keras_formula);
    tcase_add_test(tc, test_rmsprop_keras_formula);
    tcase_add_test(tc, test_clip_reference_keras_semantics);
    tcase_add_test(tc, test_l2_matches_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(ops_suite());
}
