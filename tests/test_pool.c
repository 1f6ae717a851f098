/* MaxPool2D, GlobalAveragePooling2D, ZeroPadding2D and the standalone softmax beyond what the
 * registry harness (test_ops.c) checks: maxpool's tie rule and determinism, 'same' borders, a
 * realistic size forward and backward against C references, the zeropad/crop round trip,
 * softmax's invariants, and the parsers' and shape inference's messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"
#include "ops/op.h"
#include "test_util.h"

/* Max pooling, zero padding and cropping move values without arithmetic, and every input gets
 * at most one dy when windows do not overlap: those results must match exactly. Softmax: fp32
 * exp and a sum of C terms on the device vs double on the host. */
#define SOFTMAX_ABS_TOL 1e-6
#define SOFTMAX_REL_TOL 1e-5

/* One op node on the device with its own x, y, dx, dy and aux for a batch of n. */
typedef struct op_fixture {
    mcl_context *ctx;
    mcl_node node;
    uint32_t n;
    size_t in_count, out_count; /* floats of x and y */
} op_fixture;

static void op_fixture_setup(op_fixture *f, mcl_context *ctx, mcl_layer layer, mcl_shape in,
                             uint32_t n) {
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->n = n;
    mcl_node *node = &f->node;
    mcl_error err = {0};
    ck_assert_msg(mcl_node_infer(node, &layer, in, 0, &err) == MCL_OK, "%s", err.message);
    node->need_dx = true;
    snprintf(node->name, sizeof node->name, "test_%s", node->op->name);
    f->in_count = (size_t)n * mcl_shape_size(in);
    f->out_count = (size_t)n * mcl_shape_size(node->out_shape);
    ck_assert_msg(mcl_node_bind(node, ctx, test_buffer(ctx, f->in_count * 4),
                                test_buffer(ctx, f->in_count * 4), n, NULL, &err) == MCL_OK,
                  "%s", err.message);
}

static void op_fixture_teardown(op_fixture *f) {
    clReleaseMemObject(f->node.x);
    clReleaseMemObject(f->node.dx);
    mcl_node_release(&f->node);
}

static mcl_exec exec_for(op_fixture *f) {
    return (mcl_exec){.ctx = f->ctx, .n = f->n, .step = 1, .seed = 1, .training = true};
}

/* Uploads x, runs forward and downloads y (out_count floats). */
static void run_forward(op_fixture *f, const float *x, float *y) {
    test_upload(f->ctx, f->node.x, x, f->in_count * 4);
    mcl_exec ex = exec_for(f);
    mcl_error err = {0};
    ck_assert_msg(f->node.op->forward(&f->node, &ex, &err) == MCL_OK, "%s", err.message);
    test_download(f->ctx, f->node.y, y, f->out_count * 4);
}

/* Uploads dy, runs backward (after a forward) and downloads dx (in_count floats). */
static void run_backward(op_fixture *f, const float *dy, float *dx) {
    test_upload(f->ctx, f->node.dy, dy, f->out_count * 4);
    /* dx starts as NaN, so an element that backward does not write fails the comparison. */
    for (size_t i = 0; i < f->in_count; i++)
        dx[i] = NAN;
    test_upload(f->ctx, f->node.dx, dx, f->in_count * 4);
    mcl_exec ex = exec_for(f);
    mcl_error err = {0};
    ck_assert_msg(f->node.op->backward(&f->node, &ex, &err) == MCL_OK, "%s", err.message);
    test_download(f->ctx, f->node.dx, dx, f->in_count * 4);
}

static void reference_forward(op_fixture *f, const float *x, float *y) {
    mcl_ref_exec rex = {.n = f->n, .step = 1, .seed = 1, .training = true};
    f->node.op->reference_forward(&f->node, &rex, x, y);
}

static mcl_layer maxpool_layer(uint32_t size, uint32_t stride, mcl_padding padding) {
    return (mcl_layer){.kind = MCL_OP_MAXPOOL,
                       .kernel_h = size,
                       .kernel_w = size,
                       .stride_h = stride,
                       .stride_w = stride,
                       .padding = padding};
}

/* The C reference of maxpool's backward: dx = 0, then each window adds its dy to the first
 * maximum in row-major scan order (padded positions excluded), windows taken in output order. */
static void maxpool_reference_backward(const mcl_node *node, uint32_t n, const float *x,
                                       const float *dy, float *dx) {
    const mcl_layer *l = &node->layer;
    mcl_shape in = node->in_shape, out = node->out_shape;
    uint32_t pad_top, pad_left;
    mcl_window_out(in.h, l->kernel_h, l->stride_h, l->padding, &pad_top);
    mcl_window_out(in.w, l->kernel_w, l->stride_w, l->padding, &pad_left);
    memset(dx, 0, (size_t)n * mcl_shape_size(in) * sizeof *dx);
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t oh = 0; oh < out.h; oh++)
            for (uint32_t ow = 0; ow < out.w; ow++)
                for (uint32_t c = 0; c < in.c; c++) {
                    long h0 = (long)oh * l->stride_h - pad_top;
                    long w0 = (long)ow * l->stride_w - pad_left;
                    size_t best = SIZE_MAX;
                    for (long h = h0; h < h0 + (long)l->kernel_h; h++)
                        for (long w = w0; w < w0 + (long)l->kernel_w; w++) {
                            if (h < 0 || h >= (long)in.h || w < 0 || w >= (long)in.w) continue;
                            size_t i = (((size_t)s * in.h + h) * in.w + w) * in.c + c;
                            if (best == SIZE_MAX || x[i] > x[best]) best = i;
                        }
                    ck_assert(best != SIZE_MAX);
                    dx[best] += dy[(((size_t)s * out.h + oh) * out.w + ow) * in.c + c];
                }
}

/* Forward and backward of one maxpool configuration against the C references; exact. */
static void check_maxpool(mcl_context *ctx, mcl_layer layer, mcl_shape in, uint32_t n, float lo,
                          float hi, uint64_t seed) {
    op_fixture f;
    op_fixture_setup(&f, ctx, layer, in, n);
    float *x = malloc(f.in_count * 4), *y = malloc(f.out_count * 4), *ref = malloc(f.out_count * 4),
          *dy = malloc(f.out_count * 4), *dx = malloc(f.in_count * 4),
          *dx_ref = malloc(f.in_count * 4);
    test_fill_uniform(x, f.in_count, lo, hi, seed);
    test_fill_uniform(dy, f.out_count, -1.0f, 1.0f, seed + 1);
    run_forward(&f, x, y);
    reference_forward(&f, x, ref);
    ck_assert_msg(memcmp(y, ref, f.out_count * 4) == 0, "maxpool forward differs from the "
                                                        "reference");
    run_backward(&f, dy, dx);
    maxpool_reference_backward(&f.node, n, x, dy, dx_ref);
    /* With overlapping windows an input may sum several dy: allow fp32 rounding there. */
    double e = test_max_scaled_error(dx, dx_ref, f.in_count, 1e-6, 1e-6);
    ck_assert_msg(e <= 1.0, "maxpool backward differs from the reference (scaled error %.3g)", e);
    free(x), free(y), free(ref), free(dy), free(dx), free(dx_ref);
    op_fixture_teardown(&f);
}

/* Equal values: forward gives the value, backward sends dy only to the first maximum in scan
 * order, and two runs agree bit for bit. */
START_TEST(test_maxpool_ties) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    /* One sample, 2 channels, 2x4, windows 2x2 stride 2: two windows per channel.
     * Channel 0: left window all 1.5; right window maxima 2.0 at (0,3) and (1,2).
     * Channel 1: left window maxima -0.5 at (1,0) and (1,1); right window all -2.0. */
    const float plane0[2][4] = {{1.5f, 1.5f, 0.25f, 2.0f}, {1.5f, 1.5f, 2.0f, -1.0f}};
    const float plane1[2][4] = {{-3.0f, -1.0f, -2.0f, -2.0f}, {-0.5f, -0.5f, -2.0f, -2.0f}};
    float x[16];
    for (int h = 0; h < 2; h++)
        for (int w = 0; w < 4; w++) {
            x[(h * 4 + w) * 2 + 0] = plane0[h][w];
            x[(h * 4 + w) * 2 + 1] = plane1[h][w];
        }
    op_fixture f;
    op_fixture_setup(&f, ctx, maxpool_layer(2, 2, MCL_PADDING_VALID), (mcl_shape){2, 2, 4}, 1);
    ck_assert_uint_eq(f.out_count, 4);
    const float dy[4] = {10.0f, 20.0f, 30.0f, 40.0f}; /* (ow, c): (0,0) (0,1) (1,0) (1,1) */
    float y[2][4], dx[2][16];
    for (int run = 0; run < 2; run++) {
        run_forward(&f, x, y[run]);
        run_backward(&f, dy, dx[run]);
    }
    const float want_y[4] = {1.5f, -0.5f, 2.0f, -2.0f};
    ck_assert_msg(memcmp(y[0], want_y, sizeof want_y) == 0, "y = %g %g %g %g", (double)y[0][0],
                  (double)y[0][1], (double)y[0][2], (double)y[0][3]);
    float want_dx[16] = {0};
    want_dx[(0 * 4 + 0) * 2 + 0] = 10.0f; /* channel 0, all equal: the top-left */
    want_dx[(0 * 4 + 3) * 2 + 0] = 30.0f; /* channel 0: (0,3) comes before (1,2) */
    want_dx[(1 * 4 + 0) * 2 + 1] = 20.0f; /* channel 1: (1,0) comes before (1,1) */
    want_dx[(0 * 4 + 2) * 2 + 1] = 40.0f; /* channel 1, all equal: the top-left */
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[0][i] == want_dx[i], "dx[%d] = %g, want %g", i, (double)dx[0][i],
                      (double)want_dx[i]);
    ck_assert(memcmp(y[0], y[1], sizeof y[0]) == 0);
    ck_assert(memcmp(dx[0], dx[1], sizeof dx[0]) == 0);
    op_fixture_teardown(&f);

    /* Overlapping windows (2x2, stride 1) over a constant 3x3 input: window (oh, ow) picks its
     * top-left (oh, ow), so each of the four top-left inputs gets exactly its window's dy. */
    op_fixture_setup(&f, ctx, maxpool_layer(2, 1, MCL_PADDING_VALID), (mcl_shape){1, 3, 3}, 1);
    float flat[9], y2[4], dx2[9];
    for (int i = 0; i < 9; i++)
        flat[i] = 0.75f;
    const float dy2[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    run_forward(&f, flat, y2);
    run_backward(&f, dy2, dx2);
    const float want2[9] = {1.0f, 2.0f, 0.0f, 3.0f, 4.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < 4; i++)
        ck_assert(y2[i] == 0.75f);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(dx2[i] == want2[i], "overlapping ties: dx[%d] = %g, want %g", i,
                      (double)dx2[i], (double)want2[i]);
    op_fixture_teardown(&f);

    /* The float16 kernels (16 channels): a constant 2x4 input, windows 2x2 stride 2; every
     * channel's window sends its dy to the window's top-left only. */
    op_fixture_setup(&f, ctx, maxpool_layer(2, 2, MCL_PADDING_VALID), (mcl_shape){16, 2, 4}, 1);
    float x16[128], y16[32], dy16[32], dx16[128];
    for (int i = 0; i < 128; i++)
        x16[i] = -0.25f;
    for (int i = 0; i < 32; i++)
        dy16[i] = (float)(i + 1);
    run_forward(&f, x16, y16);
    run_backward(&f, dy16, dx16);
    for (int i = 0; i < 32; i++)
        ck_assert(y16[i] == -0.25f);
    for (int h = 0; h < 2; h++)
        for (int w = 0; w < 4; w++)
            for (int c = 0; c < 16; c++) {
                /* window ow = w / 2; its top-left is (0, 2 * ow) */
                float want = h == 0 && w % 2 == 0 ? dy16[(w / 2) * 16 + c] : 0.0f;
                float got = dx16[(h * 4 + w) * 16 + c];
                ck_assert_msg(got == want, "16-channel ties: dx(%d,%d,%d) = %g, want %g", h, w, c,
                              (double)got, (double)want);
            }
    op_fixture_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* 'same' on odd sizes: the extra row and column are padding, which must not win even when every
 * real value is negative (a zero pad would). */
START_TEST(test_maxpool_same_border) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    /* 5x5, size 2: 3x3 out, no leading pad; the last row/column of windows is half padding. */
    op_fixture f;
    op_fixture_setup(&f, ctx, maxpool_layer(2, 2, MCL_PADDING_SAME), (mcl_shape){3, 5, 5}, 2);
    ck_assert_uint_eq(f.node.out_shape.h, 3);
    ck_assert_uint_eq(f.node.out_shape.w, 3);
    float x[2 * 75], y[2 * 27], ref[2 * 27];
    test_fill_uniform(x, 150, -3.0f, -1.0f, 41);
    run_forward(&f, x, y);
    reference_forward(&f, x, ref);
    ck_assert(memcmp(y, ref, sizeof y) == 0);
    /* The corner window holds only x[4][4]; the bottom edge windows x[4][2j..2j+1]. */
    for (uint32_t s = 0; s < 2; s++)
        for (uint32_t c = 0; c < 3; c++) {
            const float *xs = x + s * 75 + c;
            const float *ys = y + s * 27 + c;
            ck_assert(ys[(2 * 3 + 2) * 3] == xs[(4 * 5 + 4) * 3]);
            for (uint32_t j = 0; j < 2; j++)
                ck_assert(ys[(2 * 3 + j) * 3] ==
                          fmaxf(xs[(4 * 5 + 2 * j) * 3], xs[(4 * 5 + 2 * j + 1) * 3]));
            ck_assert(ys[(2 * 3 + 2) * 3] < 0.0f);
        }
    op_fixture_teardown(&f);
    /* Backward too, and geometries with leading padding (3x3 stride 1: one row each side;
     * 4x4 stride 3 on 7x5: one before, two after) and an overlapping 3x3 stride 2. */
    check_maxpool(ctx, maxpool_layer(2, 2, MCL_PADDING_SAME), (mcl_shape){3, 5, 5}, 2, -3.0f, -1.0f,
                  42);
    check_maxpool(ctx, maxpool_layer(3, 1, MCL_PADDING_SAME), (mcl_shape){2, 5, 5}, 2, -3.0f, -1.0f,
                  43);
    check_maxpool(ctx, maxpool_layer(4, 3, MCL_PADDING_SAME), (mcl_shape){2, 7, 5}, 3, -3.0f, 3.0f,
                  44);
    check_maxpool(ctx, maxpool_layer(3, 2, MCL_PADDING_VALID), (mcl_shape){4, 9, 8}, 2, -3.0f, 3.0f,
                  45);
    /* Windows that do not overlap, with inputs no window covers (the tiled backward). */
    check_maxpool(ctx, maxpool_layer(3, 3, MCL_PADDING_VALID), (mcl_shape){2, 7, 8}, 2, -3.0f, 3.0f,
                  46);
    check_maxpool(ctx, maxpool_layer(2, 3, MCL_PADDING_VALID), (mcl_shape){2, 7, 8}, 2, -3.0f, 3.0f,
                  47);
    /* Channels in 16s take the float16 kernels: 'same' borders, gaps, overlapping windows. */
    check_maxpool(ctx, maxpool_layer(2, 2, MCL_PADDING_SAME), (mcl_shape){16, 5, 5}, 2, -3.0f,
                  -1.0f, 48);
    check_maxpool(ctx, maxpool_layer(3, 3, MCL_PADDING_VALID), (mcl_shape){32, 7, 8}, 2, -3.0f,
                  3.0f, 49);
    check_maxpool(ctx, maxpool_layer(3, 2, MCL_PADDING_VALID), (mcl_shape){16, 9, 8}, 2, -3.0f,
                  3.0f, 50);
    mcl_context_free(ctx);
}
END_TEST

/* A realistic layer: a batch of 64, 24x24x32, size 2. */
START_TEST(test_maxpool_realistic) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    check_maxpool(ctx, maxpool_layer(2, 2, MCL_PADDING_VALID), (mcl_shape){32, 24, 24}, 64, -1.0f,
                  1.0f, 51);
    mcl_context_free(ctx);
}
END_TEST

/* Zeropad then backward with dy = y crops back to x exactly; the border is zero. */
START_TEST(test_zeropad_round_trip) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    mcl_layer layer = {
        .kind = MCL_OP_ZEROPAD, .pad_top = 1, .pad_bottom = 2, .pad_left = 3, .pad_right = 0};
    op_fixture f;
    op_fixture_setup(&f, ctx, layer, (mcl_shape){3, 5, 4}, 2);
    ck_assert_uint_eq(f.node.out_shape.c, 3);
    ck_assert_uint_eq(f.node.out_shape.h, 8);
    ck_assert_uint_eq(f.node.out_shape.w, 7);
    float *x = malloc(f.in_count * 4), *y = malloc(f.out_count * 4), *ref = malloc(f.out_count * 4),
          *dx = malloc(f.in_count * 4);
    test_fill_uniform(x, f.in_count, 0.5f, 1.5f, 61); /* no zeros: a zero in y is padding */
    run_forward(&f, x, y);
    reference_forward(&f, x, ref);
    ck_assert(memcmp(y, ref, f.out_count * 4) == 0);
    size_t zeros = 0;
    for (size_t i = 0; i < f.out_count; i++)
        zeros += y[i] == 0.0f;
    ck_assert_uint_eq(zeros, f.out_count - f.in_count);
    run_backward(&f, y, dx);
    ck_assert_msg(memcmp(dx, x, f.in_count * 4) == 0, "crop(pad(x)) != x");
    free(x), free(y), free(ref), free(dx);
    op_fixture_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

/* Softmax over the channels of a spatial input: rows sum to 1, adding a constant to a row does
 * not change it (including constants that would overflow exp without the max subtraction). */
START_TEST(test_softmax_invariants) {
    mcl_context *ctx = test_context_create();
    if (ctx == NULL) return;
    enum { N = 3, C = 7, H = 2, W = 3, ROWS = N * H * W };
    op_fixture f;
    op_fixture_setup(&f, ctx, (mcl_layer){.kind = MCL_OP_SOFTMAX}, (mcl_shape){C, H, W}, N);
    float x[ROWS * C], shifted[ROWS * C], y[ROWS * C], ys[ROWS * C], ref[ROWS * C];
    test_fill_uniform(x, ROWS * C, -4.0f, 4.0f, 71);
    /* Multiples of 1/64 and integer shifts: x + shift is exact in fp32, so only the softmax
     * itself can make the two results differ. */
    for (int i = 0; i < ROWS * C; i++)
        x[i] = roundf(x[i] * 64.0f) / 64.0f;
    for (int r = 0; r < ROWS; r++) {
        float shift = (float)((r * 37) % 11 - 5) * (r % 3 == 0 ? 200.0f : 1.0f);
        for (int k = 0; k < C; k++)
            shifted[r * C + k] = x[r * C + k] + shift;
    }
    run_forward(&f, x, y);
    reference_forward(&f, x, ref);
    double e = test_max_scaled_error(y, ref, ROWS * C, SOFTMAX_ABS_TOL, SOFTMAX_REL_TOL);
    ck_assert_msg(e <= 1.0, "softmax differs from the reference (scaled error %.3g)", e);
    for (int r = 0; r < ROWS; r++) {
        double sum = 0.0;
        for (int k = 0; k < C; k++)
            sum += y[r * C + k];
        ck_assert_msg(fabs(sum - 1.0) < 1e-5, "row %d sums to %.9g", r, sum);
    }
    run_forward(&f, shifted, ys);
    e = test_max_scaled_error(ys, y, ROWS * C, SOFTMAX_ABS_TOL, SOFTMAX_REL_TOL);
    ck_assert_msg(e <= 1.0, "softmax changes when a constant is added to a row (%.3g)", e);
    /* Backward of a constant dy is zero: the rows of y sum to one. */
    float dy[ROWS * C], dx[ROWS * C];
    for (int i = 0; i < ROWS * C; i++)
        dy[i] = 0.5f;
    run_backward(&f, dy, dx);
    for (int i = 0; i < ROWS * C; i++)
        ck_assert_msg(fabsf(dx[i]) < 1e-6f, "dx[%d] = %g", i, (double)dx[i]);
    op_fixture_teardown(&f);
    mcl_context_free(ctx);
}
END_TEST

static mcl_status parse_words(mcl_op_kind kind, const char *text, mcl_layer *layer,
                              mcl_error *err) {
    char buf[128], *words[8];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL && n < 8;
         t = strtok_r(NULL, " ", &save))
        words[n++] = t;
    *layer = (mcl_layer){.kind = kind};
    return mcl_op_get(kind)->parse(layer, words, n, err);
}

/* The parsers' defaults and forms, and shape inference's messages (no device needed). */
START_TEST(test_parse_and_infer) {
    mcl_layer l;
    mcl_error err = {0};
    mcl_shape out;
    ck_assert_int_eq(parse_words(MCL_OP_MAXPOOL, "2", &l, &err), MCL_OK);
    ck_assert(l.kernel_h == 2 && l.kernel_w == 2 && l.stride_h == 2 && l.stride_w == 2 &&
              l.padding == MCL_PADDING_VALID);
    ck_assert_int_eq(parse_words(MCL_OP_MAXPOOL, "3x2 padding=same stride=1x2", &l, &err), MCL_OK);
    ck_assert(l.kernel_h == 3 && l.kernel_w == 2 && l.stride_h == 1 && l.stride_w == 2 &&
              l.padding == MCL_PADDING_SAME);
    ck_assert_int_eq(mcl_op_maxpool.infer(&l, (mcl_shape){4, 5, 7}, &out, &err), MCL_OK);
    ck_assert(out.c == 4 && out.h == 5 && out.w == 4);
    mcl_status st = parse_words(MCL_OP_MAXPOOL, "0", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "maxpool window", "'0'");
    st = parse_words(MCL_OP_MAXPOOL, "2 padding=full", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "padding", "'full'");
    st = parse_words(MCL_OP_MAXPOOL, "2 stride=1 stride=2", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "unexpected", "stride=2");
    ck_assert_int_eq(parse_words(MCL_OP_MAXPOOL, "3", &l, &err), MCL_OK);
    st = mcl_op_maxpool.infer(&l, (mcl_shape){8, 2, 2}, &out, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, "a 3x3 window", "a 2x2 input");

    ck_assert_int_eq(parse_words(MCL_OP_ZEROPAD, "2", &l, &err), MCL_OK);
    ck_assert(l.pad_top == 2 && l.pad_bottom == 2 && l.pad_left == 2 && l.pad_right == 2);
    ck_assert_int_eq(parse_words(MCL_OP_ZEROPAD, "1x3", &l, &err), MCL_OK);
    ck_assert(l.pad_top == 1 && l.pad_bottom == 1 && l.pad_left == 3 && l.pad_right == 3);
    ck_assert_int_eq(parse_words(MCL_OP_ZEROPAD, "0 1 2 3", &l, &err), MCL_OK);
    ck_assert(l.pad_top == 0 && l.pad_bottom == 1 && l.pad_left == 2 && l.pad_right == 3);
    ck_assert_int_eq(mcl_op_zeropad.infer(&l, (mcl_shape){2, 4, 5}, &out, &err), MCL_OK);
    ck_assert(out.c == 2 && out.h == 5 && out.w == 10);
    st = parse_words(MCL_OP_ZEROPAD, "4097", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "0..4096", "'4097'");
    st = parse_words(MCL_OP_ZEROPAD, "1 2", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "zeropad takes", "got 2 words");
    st = parse_words(MCL_OP_ZEROPAD, "1 2 x 3", &l, &err);
    ck_assert_error(st, err, MCL_ERR_FORMAT, "zeropad padding", "'x'");

    ck_assert_int_eq(mcl_op_globalavgpool.infer(&l, (mcl_shape){6, 3, 4}, &out, &err), MCL_OK);
    ck_assert(out.c == 6 && out.h == 1 && out.w == 1);
    ck_assert_int_eq(mcl_op_softmax.infer(&l, (mcl_shape){4, 2, 3}, &out, &err), MCL_OK);
    ck_assert(out.c == 4 && out.h == 2 && out.w == 3);
    st = mcl_op_softmax.infer(&l, (mcl_shape){1, 5, 5}, &out, &err);
    ck_assert_error(st, err, MCL_ERR_MODEL, "softmax", "at least 2");
}
END_TEST

static Suite *pool_suite(void) {
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_maxpool_ties);
    tcase_add_test(tc, test_maxpool_same_border);
    tcase_add_test(tc, test_maxpool_realistic);
    tcase_add_test(tc, test_zeropad_round_trip);
    tcase_add_test(tc, test_softmax_invariants);
    tcase_add_test(tc, test_parse_and_infer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return test_run_suite(pool_suite());
}
