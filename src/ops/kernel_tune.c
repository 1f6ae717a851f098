/* mnist-cl tune, for mnist-cl's own kernels: the GEMM and convolution tiles of the register-tiled
 * kernels (cl/gemm.cl, cl/conv2d.cl) searched on the device, around its class's defaults
 * (src/device/kernel_shapes.c), each candidate built in a context of its own, timed on the
 * workload that decides the built-in models' speed and checked against the CPU references
 * before it is trusted. The fastest correct tiles, where they beat the defaults, are stored
 * (src/device/kernel_tuning.c) for every later context on the device.
 *
 * Workloads: the default MLP's training GEMMs at batch 128 (the same as CLBlast's tuning), and
 * the tutorial CNN's three tiled convolutions (26x26x32 -> 32, 12x12x32 -> 64, 10x10x64 -> 64, 3x3
 * 'valid') at batch 64, forward and both gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/philox.h"
#include "device/context.h"
#include "device/gemm_tune.h"
#include "device/kernel_tuning.h"
#include "ops/op.h"

/* A candidate must beat the defaults by this factor to be kept (timing noise is a few %). */
#define MIN_GAIN 1.03
#define CONV_BATCH 64
#define CHECK_BATCH 2
#define TIMED_REPEATS 4
/* Sums of 288-576 products in another order than the double reference. */
#define CONV_ABS_TOL 1e-4
#define CONV_REL_TOL 1e-3

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- the convolution workload */

typedef struct conv_layer {
    mcl_shape in;
    uint32_t filters;
} conv_layer;

static const conv_layer cnn_layers[] = {{{32, 26, 26}, 32}, {{32, 12, 12}, 64}, {{64, 10, 10}, 64}};
#define CNN_LAYERS (sizeof cnn_layers / sizeof cnn_layers[0])

/* One conv node with its own buffers for batches of up to `batch`. */
typedef struct conv_bench {
    mcl_node node;
    mcl_exec ex;
    size_t in_count, out_count, params;
    cl_mem x, dx, params_buf, grads, workspace; /* y and dy are the node's own */
} conv_bench;

static void conv_bench_free(conv_bench *b) {
    mcl_node_release(&b->node);
    cl_mem bufs[] = {b->x, b->dx, b->params_buf, b->grads, b->workspace};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i] != NULL) mcl_cl_release_mem(bufs[i]);
    memset(b, 0, sizeof *b);
}

static mcl_status upload_random(mcl_context *ctx, cl_mem buf, float *host, size_t count,
                                uint64_t stream, float scale, mcl_error *err) {
    for (size_t i = 0; i < count; i++)
        host[i] = scale * (2.0f * mcl_philox_uniform(0x7e9eu, stream, i) - 1.0f);
    return MCL_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, buf, CL_TRUE, 0, count * sizeof(float),
                                             host, 0, NULL, NULL),
                        err, "uploading a tuning tensor");
}

/* Places layer `l` on ctx for batches of `batch`, with random x, weights and dy (kept in
 * *hx, *hw, *hdy when those are not NULL: malloc'd, the caller frees). */
static mcl_status conv_bench_create(mcl_context *ctx, const conv_layer *l, uint32_t batch,
                                    conv_bench *b, float **hx, float **hw, float **hdy,
                                    mcl_error *err) {
    memset(b, 0, sizeof *b);
    mcl_layer layer = {.kind = MCL_OP_CONV2D,
                       .units = l->filters,
                       .kernel_h = 3,
                       .kernel_w = 3,
                       .stride_h = 1,
                       .stride_w = 1,
                       .padding = MCL_PADDING_VALID,
                       .activation = MCL_ACT_LINEAR};
    mcl_status st = mcl_node_infer(&b->node, &layer, l->in, 1, err);
    if (st != MCL_OK) return st;
    snprintf(b->node.name, sizeof b->node.name, "tuning conv2d %ux%ux%u->%u", l->in.h, l->in.w,
             l->in.c, l->filters);
    b->node.need_dx = true;
    b->in_count = (size_t)batch * mcl_shape_size(b->node.in_shape);
    b->out_count = (size_t)batch * mcl_shape_size(b->node.out_shape);
    b->params = b->node.param_count;
    size_t ws = b->node.op->workspace_bytes(&b->node, batch);
    st = mcl_buffer_create(ctx, b->in_count * 4, &b->x, "a tuning input", err);
    if (st == MCL_OK) st = mcl_buffer_create(ctx, b->in_count * 4, &b->dx, "a tuning input", err);
    if (st == MCL_OK) st = mcl_node_bind(&b->node, ctx, b->x, b->dx, batch, NULL, err);
    if (st == MCL_OK)
        st = mcl_buffer_create(ctx, b->params * 4, &b->params_buf, "tuning weights", err);
    if (st == MCL_OK) st = mcl_buffer_create(ctx, b->params * 4, &b->grads, "tuning weights", err);
    if (st == MCL_OK && ws > 0)
        st = mcl_buffer_create(ctx, ws, &b->workspace, "a tuning workspace", err);
    float *x = mcl_malloc(b->in_count * 4), *w = mcl_malloc(b->params * 4),
          *d = mcl_malloc(b->out_count * 4);
    if (x == NULL || w == NULL || d == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                      "out of host memory for a tuning candidate's inputs");
    if (st == MCL_OK) st = upload_random(ctx, b->x, x, b->in_count, 1, 1.0f, err);
    if (st == MCL_OK) st = upload_random(ctx, b->params_buf, w, b->params, 2, 0.1f, err);
    if (st == MCL_OK) st = upload_random(ctx, b->node.dy, d, b->out_count, 3, 1.0f, err);
    const float zero = 0.0f;
    if (st == MCL_OK)
        st = mcl_fill(ctx, b->grads, &zero, sizeof zero, 0, b->params * 4, "zeroing tuning grads",
                      err);
    b->ex = (mcl_exec){.ctx = ctx,
                       .params = b->params_buf,
                       .grads = b->grads,
                       .workspace = b->workspace,
                       .n = batch,
                       .training = true};
    if (hx != NULL && st == MCL_OK) {
        *hx = x, *hw = w, *hdy = d;
    } else {
        free(x), free(w), free(d);
    }
    if (st != MCL_OK) conv_bench_free(b);
    return st;
}

static mcl_status conv_step(conv_bench *b, mcl_error *err) {
    mcl_status st = b->node.op->forward(&b->node, &b->ex, err);
    return st != MCL_OK ? st : b->node.op->backward(&b->node, &b->ex, err);
}

/* The layer's forward, input gradient and weight gradient against the C references at a small
 * batch: the worst scaled error over all three. */
static mcl_status conv_check(mcl_context *ctx, const conv_layer *l, double *worst, mcl_error *err) {
    conv_bench b;
    float *x = NULL, *w = NULL, *dy = NULL;
    mcl_status st = conv_bench_create(ctx, l, CHECK_BATCH, &b, &x, &w, &dy, err);
    if (st != MCL_OK) return st;
    float *y = mcl_malloc(b.out_count * 4), *ry = mcl_malloc(b.out_count * 4);
    float *dx = mcl_malloc(b.in_count * 4), *rdx = mcl_malloc(b.in_count * 4);
    float *g = mcl_malloc(b.params * 4), *rg = mcl_calloc(b.params, 4);
    if (y == NULL || ry == NULL || dx == NULL || rdx == NULL || g == NULL || rg == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                      "out of host memory for checking a tuning candidate");
    if (st == MCL_OK) st = b.node.op->forward(&b.node, &b.ex, err);
    cl_command_queue q = ctx->queue;
    if (st == MCL_OK)
        st = MCL_CL_CHECK(
            clEnqueueReadBuffer(q, b.node.y, CL_TRUE, 0, b.out_count * 4, y, 0, NULL, NULL), err,
            "reading a tuning output");
    if (st == MCL_OK) st = b.node.op->backward(&b.node, &b.ex, err);
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueReadBuffer(q, b.dx, CL_TRUE, 0, b.in_count * 4, dx, 0, NULL,
                                              NULL),
                          err, "reading a tuning gradient");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(
            clEnqueueReadBuffer(q, b.grads, CL_TRUE, 0, b.params * 4, g, 0, NULL, NULL), err,
            "reading a tuning gradient");
    if (st == MCL_OK) {
        mcl_ref_exec rex = {.params = w, .n = CHECK_BATCH, .training = true};
        b.node.op->reference_forward(&b.node, &rex, x, ry);
        b.node.op->reference_backward(&b.node, &rex, x, y, dy, rdx, rg);
        const float *got[3] = {y, dx, g}, *want[3] = {ry, rdx, rg};
        size_t n[3] = {b.out_count, b.in_count, b.params};
        *worst = 0.0;
        for (int t = 0; t < 3; t++)
            for (size_t i = 0; i < n[t]; i++) {
                double e = fabs((double)got[t][i] - want[t][i]) /
                           (CONV_ABS_TOL + CONV_REL_TOL * fabs((double)want[t][i]));
                if (!(e <= *worst)) *worst = isfinite(e) ? e : INFINITY;
            }
    }
    free(y), free(ry), free(dx), free(rdx), free(g), free(rg), free(x), free(w), free(dy);
    conv_bench_free(&b);
    return st;
}

/* GFLOP/s of the CNN layers' forward + backward at batch CONV_BATCH on ctx, and the worst
 * scaled error of the checks. */
static mcl_status conv_measure(mcl_context *ctx, double *gflops, double *max_error,
                               mcl_error *err) {
    conv_bench benches[CNN_LAYERS];
    memset(benches, 0, sizeof benches);
    mcl_status st = MCL_OK;
    double flops = 0.0;
    *max_error = 0.0;
    for (size_t i = 0; i < CNN_LAYERS && st == MCL_OK; i++) {
        double e = 0.0;
        st = conv_check(ctx, &cnn_layers[i], &e, err);
        if (!(e <= *max_error)) *max_error = e;
    }
    for (size_t i = 0; i < CNN_LAYERS && st == MCL_OK; i++) {
        st = conv_bench_create(ctx, &cnn_layers[i], CONV_BATCH, &benches[i], NULL, NULL, NULL,
                               err);
        const mcl_node *n = &benches[i].node;
        flops += (n->op->forward_flops(n) + n->op->backward_flops(n)) * CONV_BATCH;
    }
    /* One untimed round (the driver may compile work-group variants), then the timed ones. */
    for (size_t i = 0; i < CNN_LAYERS && st == MCL_OK; i++)
        st = conv_step(&benches[i], err);
    if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the tuning");
    double start = now_seconds();
    for (int r = 0; r < TIMED_REPEATS && st == MCL_OK; r++)
        for (size_t i = 0; i < CNN_LAYERS && st == MCL_OK; i++)
            st = conv_step(&benches[i], err);
    if (st == MCL_OK) st = MCL_CL_CHECK(clFinish(ctx->queue), err, "waiting for the tuning");
    double seconds = now_seconds() - start;
    *gflops = st == MCL_OK && seconds > 0.0 ? flops * TIMED_REPEATS / seconds * 1e-9 : 0.0;
    for (size_t i = 0; i < CNN_LAYERS; i++)
        conv_bench_free(&benches[i]);
    return st;
}

/* ---------------------------------------------------------------- the search */

/* Vector registers for a class: AVX-512 has 32, AVX2/SSE 16 (NEON's 32 are not assumed). */
static uint32_t registers_of(mcl_device_class c) {
    return c == MCL_CLASS_CPU_16 ? 32 : 16;
}

/* Accumulators + one step's operands: what a tile keeps in registers. */
static bool fits(uint32_t rows, uint32_t vectors, uint32_t registers) {
    return rows * vectors + vectors + 1 <= registers && rows * vectors >= 4;
}

static void describe_gemm(const mcl_kernel_shapes *s, char *out, size_t size) {
    snprintf(out, size, "%ux%u (%u rows x %u float%u)", s->gemm.rows,
             s->gemm.vector * s->gemm.vectors, s->gemm.rows, s->gemm.vectors, s->gemm.vector);
}

static void describe_conv(const mcl_kernel_shapes *s, char *out, size_t size) {
    const mcl_conv_tiled_shape *t = &s->conv_tiled;
    snprintf(out, size, "%ux%u (float%u x%u), dW %u channels", t->positions,
             t->vector * t->vectors, t->vector, t->vectors, t->channels);
}

/* Times one candidate family member in a context of its own. A candidate the driver cannot
 * build or run is recorded as not run, not an error. */
static mcl_status try_candidate(const mcl_context_options *opt, const mcl_kernel_shapes *s,
                                bool gemm, mcl_kernel_candidate *c, mcl_error *err) {
    mcl_context *ctx = NULL;
    mcl_error cerr = {0};
    c->ran = false;
    c->correct = false;
    c->max_error = INFINITY;
    mcl_status st = mcl_context_create_shaped(opt, s, &ctx, &cerr);
    if (st == MCL_OK && gemm) {
        mcl_gemm_workload *w = NULL;
        st = mcl_gemm_workload_create(ctx, &w, &cerr);
        if (st == MCL_OK) st = mcl_gemm_workload_measure(ctx, w, true, &c->gflops, &c->max_error,
                                                         &cerr);
        mcl_gemm_workload_free(w);
    } else if (st == MCL_OK) {
        st = conv_measure(ctx, &c->gflops, &c->max_error, &cerr);
    }
    mcl_context_free(ctx);
    if (st == MCL_ERR_HOST_MEMORY) {
        if (err != NULL) *err = cerr;
        return st;
    }
    c->ran = st == MCL_OK;
    c->correct = c->ran && c->max_error <= 1.0;
    return MCL_OK;
}

mcl_status mcl_kernels_tune(const mcl_context_options *options, uint32_t max_configs,
                            mcl_kernel_tune_progress_fn progress, void *user,
                            mcl_kernel_tune_result *out, mcl_error *err) {
    memset(out, 0, sizeof *out);
    out->gemm_best = out->conv_best = -1;
    mcl_context_options defaults = {.platform = -1, .device = -1};
    const mcl_context_options *opt = options != NULL ? options : &defaults;
    /* The device's class and its default shapes, in a context that ignores any stored tuning. */
    mcl_context *ctx = NULL;
    mcl_status st = mcl_context_create(opt, &ctx, err);
    if (st != MCL_OK) return st;
    mcl_kernel_shapes base = mcl_kernel_shapes_of_class(ctx->shapes.device_class);
    out->applicable = base.device_class != MCL_CLASS_SIMT;
    mcl_kernel_shapes_describe(&base, out->default_shapes, sizeof out->default_shapes);
    char stored_path[4096] = "";
    if (!mcl_kernel_tuning_path(ctx, stored_path, sizeof stored_path)) stored_path[0] = '\0';
    mcl_context_free(ctx);
    if (!out->applicable) return MCL_OK;
    uint32_t regs = registers_of(base.device_class);
    /* The defaults first (the baseline), then each family's candidates around them. */
    mcl_kernel_candidate baseline[2] = {{.family = "gemm"}, {.family = "conv"}};
    describe_gemm(&base, baseline[0].shape, sizeof baseline[0].shape);
    describe_conv(&base, baseline[1].shape, sizeof baseline[1].shape);
    for (int f = 0; f < 2 && st == MCL_OK; f++) {
        st = try_candidate(opt, &base, f == 0, &baseline[f], err);
        if (st == MCL_OK && !baseline[f].correct)
            st = mcl_fail(err, MCL_ERR_CHECK_FAILED,
                          "mnist-cl's %s kernels with the default shapes give wrong results on "
                          "this device (scaled error %.3g)",
                          f == 0 ? "GEMM" : "convolution", baseline[f].max_error);
        if (st == MCL_OK && progress != NULL) progress(&baseline[f], 0, 0, user);
    }
    if (st != MCL_OK) return st;
    out->gemm_default_gflops = baseline[0].gflops;
    out->conv_default_gflops = baseline[1].gflops;
    /* Every tile that fits the registers, nearest to the defaults first (the likeliest
     * winners when max_configs cuts the list). */
    static const uint32_t rows_list[] = {4, 6, 8, 10, 12, 14};
    static const uint32_t vectors_list[] = {1, 2, 3};
    static const uint32_t channels_list[] = {4, 8};
    mcl_kernel_shapes cand[MCL_KERNEL_TUNE_MAX];
    bool is_gemm[MCL_KERNEL_TUNE_MAX];
    uint32_t total = 0, gemm_n = 0, conv_n = 0;
    for (uint32_t distance = 1; distance < 32; distance++)
        for (size_t r = 0; r < sizeof rows_list / sizeof rows_list[0]; r++)
            for (size_t v = 0; v < sizeof vectors_list / sizeof vectors_list[0]; v++) {
                uint32_t rows = rows_list[r], vectors = vectors_list[v];
                if (!fits(rows, vectors, regs)) continue;
                uint32_t dg = (uint32_t)abs((int)rows - (int)base.gemm.rows) +
                              4 * (uint32_t)abs((int)vectors - (int)base.gemm.vectors);
                if (dg == distance && gemm_n < max_configs && total < MCL_KERNEL_TUNE_MAX) {
                    cand[total] = base;
                    cand[total].gemm.rows = rows;
                    cand[total].gemm.vectors = vectors;
                    is_gemm[total++] = true;
                    gemm_n++;
                }
                for (size_t c = 0; c < sizeof channels_list / sizeof channels_list[0]; c++) {
                    uint32_t channels = channels_list[c];
                    const mcl_conv_tiled_shape *b = &base.conv_tiled;
                    uint32_t dc = (uint32_t)abs((int)rows - (int)b->positions) +
                                  4 * (uint32_t)abs((int)vectors - (int)b->vectors) +
                                  (uint32_t)abs((int)channels - (int)b->channels) / 2;
                    if (dc != distance || !fits(channels, vectors, regs) ||
                        conv_n >= max_configs || total >= MCL_KERNEL_TUNE_MAX)
                        continue;
                    cand[total] = base;
                    cand[total].conv_tiled.positions = rows;
                    cand[total].conv_tiled.vectors = vectors;
                    cand[total].conv_tiled.channels = channels;
                    is_gemm[total++] = false;
                    conv_n++;
                }
            }
    double best[2] = {baseline[0].gflops * MIN_GAIN, baseline[1].gflops * MIN_GAIN};
    for (uint32_t i = 0; i < total && st == MCL_OK; i++) {
        mcl_kernel_candidate *c = &out->candidates[out->count];
        snprintf(c->family, sizeof c->family, "%s", is_gemm[i] ? "gemm" : "conv");
        if (is_gemm[i])
            describe_gemm(&cand[i], c->shape, sizeof c->shape);
        else
            describe_conv(&cand[i], c->shape, sizeof c->shape);
        st = try_candidate(opt, &cand[i], is_gemm[i], c, err);
        int f = is_gemm[i] ? 0 : 1;
        if (st == MCL_OK && c->correct && c->gflops > best[f]) {
            best[f] = c->gflops;
            if (f == 0)
                out->gemm_best = (int)out->count;
            else
                out->conv_best = (int)out->count;
        }
        out->count++;
        if (st == MCL_OK && progress != NULL) progress(c, out->count, total, user);
    }
    if (st != MCL_OK) return st;
    /* The kept shapes: the defaults with each family's winner, if any. */
    mcl_kernel_shapes kept = base;
    for (uint32_t i = 0; i < total; i++) {
        if ((int)i == out->gemm_best) kept.gemm = cand[i].gemm;
        if ((int)i == out->conv_best) kept.conv_tiled = cand[i].conv_tiled;
    }
    if (out->gemm_best >= 0 || out->conv_best >= 0) {
        st = mcl_context_create(opt, &ctx, err);
        if (st == MCL_OK)
            st = mcl_kernel_tuning_store(ctx, &kept, out->path, sizeof out->path, err);
        mcl_context_free(ctx);
        out->stored = st == MCL_OK;
    } else if (stored_path[0] != '\0') {
        /* Nothing beats the defaults: an earlier tuning must not outlive this result. */
        snprintf(out->path, sizeof out->path, "%s", stored_path);
        out->removed = remove(stored_path) == 0;
    }
    return st;
}
