/* MaxPooling2D (Keras): the maximum of each kh x kw window, moved by the stride (the window
 * size unless given), with 'valid' or 'same' padding; padded positions never win. Forward saves
 * the winner of every window in node->aux (int32 h*W + w within the sample, ties going to the
 * first maximum in row-major scan order); backward gathers dy through those indices. */
#include <string.h>

#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD, K_BACKWARD_TILED, K_FORWARD_VEC, K_BACKWARD_TILED_VEC };

/* Largest window or stride side the parser accepts; far beyond any real image. */
#define MAXPOOL_MAX_SIDE 4096u

/* Everything forward, backward and the reference need, resolved from the layer and input. */
typedef struct pool_geometry {
    uint32_t c, h, w; /* input */
    uint32_t oh, ow;  /* output */
    uint32_t kh, kw, sh, sw;
    uint32_t pad_top, pad_left;
} pool_geometry;

/* A zero stride means "the window size", as Keras's strides=None; the parser always sets it,
 * this keeps hand-built layers (tests) simple. Returns false if the window does not fit. */
static bool pool_geometry_get(const mcl_layer *layer, mcl_shape in, pool_geometry *g) {
    *g = (pool_geometry){
        .c = in.c, .h = in.h, .w = in.w, .kh = layer->kernel_h, .kw = layer->kernel_w};
    g->sh = layer->stride_h != 0 ? layer->stride_h : layer->kernel_h;
    g->sw = layer->stride_w != 0 ? layer->stride_w : layer->kernel_w;
    g->oh = mcl_window_out(in.h, g->kh, g->sh, layer->padding, &g->pad_top);
    g->ow = mcl_window_out(in.w, g->kw, g->sw, layer->padding, &g->pad_left);
    return g->oh > 0 && g->ow > 0;
}

static mcl_status maxpool_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    if (nargs < 1 || nargs > 3)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "maxpool takes a window size and optional stride and padding: "
                        "'maxpool 2' or 'maxpool 3 stride=2 padding=same'");
    const char *size = mcl_arg_value(args[0], "size");
    if (size == NULL) size = args[0];
    if (!mcl_parse_size2(size, MAXPOOL_MAX_SIDE, &layer->kernel_h, &layer->kernel_w))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "maxpool window must be N or HxW with sides in 1..%u, got '%s'",
                        MAXPOOL_MAX_SIDE, size);
    layer->stride_h = layer->kernel_h;
    layer->stride_w = layer->kernel_w;
    layer->padding = MCL_PADDING_VALID;
    bool have_stride = false, have_padding = false;
    for (int i = 1; i < nargs; i++) {
        const char *v;
        if ((v = mcl_arg_value(args[i], "stride")) != NULL && !have_stride) {
            have_stride = true;
            if (!mcl_parse_size2(v, MAXPOOL_MAX_SIDE, &layer->stride_h, &layer->stride_w))
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "maxpool stride must be N or HxW with sides in 1..%u, got '%s'",
                                MAXPOOL_MAX_SIDE, v);
        } else if ((v = mcl_arg_value(args[i], "padding")) != NULL && !have_padding) {
            have_padding = true;
            mcl_status st = mcl_parse_padding("maxpool", v, &layer->padding, err);
            if (st != MCL_OK) return st;
        } else {
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "unexpected maxpool argument '%s' (expected one stride=... and one "
                            "padding=...)",
                            args[i]);
        }
    }
    return MCL_OK;
}

static mcl_status maxpool_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                mcl_error *err) {
    if (layer->kernel_h == 0 || layer->kernel_w == 0)
        return mcl_fail(err, MCL_ERR_MODEL, "maxpool needs a window of at least 1x1");
    pool_geometry g;
    if (!pool_geometry_get(layer, in, &g))
        return mcl_fail(err, MCL_ERR_MODEL,
                        "maxpool: a %ux%u window does not fit a %ux%u input (use padding=same "
                        "or a smaller window)",
                        layer->kernel_h, layer->kernel_w, in.h, in.w);
    *out = (mcl_shape){in.c, g.oh, g.ow};
    return MCL_OK;
}

/* One int32 argmax per output element. */
static size_t maxpool_aux_bytes(const mcl_node *node, uint32_t max_batch) {
    return (size_t)max_batch * mcl_shape_size(node->out_shape) * sizeof(int32_t);
}

/* Sets the arguments the kernels share after their three buffers and the work-item count:
 * one per element of `counted`, or per VEC_W channels of it for the *_vec kernels. */
static mcl_status maxpool_enqueue(mcl_node *node, const mcl_exec *ex, int which, cl_mem a, cl_mem b,
                                  cl_mem c, mcl_shape counted, mcl_error *err) {
    pool_geometry g;
    if (!pool_geometry_get(&node->layer, node->in_shape, &g))
        return mcl_fail(err, MCL_ERR_MODEL, "%s: the window does not fit the input", node->name);
    bool vectors = which == K_FORWARD_VEC || which == K_BACKWARD_TILED_VEC;
    cl_uint count = ex->n * mcl_shape_size(counted) / (vectors ? ex->ctx->shapes.vector.width : 1u);
    cl_uint C = g.c, H = g.h, W = g.w, OH = g.oh, OW = g.ow, kh = g.kh, kw = g.kw, sh = g.sh,
            sw = g.sw, pad_top = g.pad_top, pad_left = g.pad_left;
    cl_kernel k = node->kernels[which];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(a), MCL_ARG(b), MCL_ARG(c), MCL_ARG(count), MCL_ARG(C),
                     MCL_ARG(H), MCL_ARG(W), MCL_ARG(OH), MCL_ARG(OW), MCL_ARG(kh), MCL_ARG(kw),
                     MCL_ARG(sh), MCL_ARG(sw), MCL_ARG(pad_top), MCL_ARG(pad_left));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

/* Channels in whole vectors of the device's VEC_W take the vector kernels. */
static bool channels_in_vectors(const mcl_node *node, const mcl_exec *ex) {
    return node->in_shape.c % ex->ctx->shapes.vector.width == 0;
}

static mcl_status maxpool_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    return maxpool_enqueue(node, ex, channels_in_vectors(node, ex) ? K_FORWARD_VEC : K_FORWARD, node->x,
                           node->y, node->aux, node->out_shape, err);
}

/* Windows that do not overlap (the usual 'maxpool 2') scatter from each window, a quarter of
 * the work-items of the gather and no loop over windows per input: on PoCL the tutorial CNN's
 * first pool's backward went from 8.6 ms to 2.2 ms a step. Overlapping windows gather. */
static mcl_status maxpool_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    pool_geometry g;
    if (!pool_geometry_get(&node->layer, node->in_shape, &g))
        return mcl_fail(err, MCL_ERR_MODEL, "%s: the window does not fit the input", node->name);
    if (g.sh < g.kh || g.sw < g.kw)
        return maxpool_enqueue(node, ex, K_BACKWARD, node->aux, node->dy, node->dx, node->in_shape,
                               err);
    /* Inputs past the last window (or between windows, for stride > window) get no write. */
    bool gaps = g.sh > g.kh || g.sw > g.kw || (uint64_t)g.oh * g.sh < (uint64_t)g.h + g.pad_top ||
                (uint64_t)g.ow * g.sw < (uint64_t)g.w + g.pad_left;
    if (gaps) {
        const float zero = 0.0f;
        mcl_status st = mcl_fill(ex->ctx, node->dx, &zero, sizeof zero, 0,
                                 (size_t)ex->n * mcl_shape_size(node->in_shape) * sizeof(float),
                                 "zeroing maxpool's input gradient", err);
        if (st != MCL_OK) return st;
    }
    return maxpool_enqueue(node, ex, channels_in_vectors(node, ex) ? K_BACKWARD_TILED_VEC : K_BACKWARD_TILED,
                           node->aux, node->dy, node->dx, node->out_shape, err);
}

/* Same scan order and tie rule as cl/maxpool.cl. */
static void maxpool_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                      float *y) {
    pool_geometry g;
    if (!pool_geometry_get(&node->layer, node->in_shape, &g)) return;
    for (uint32_t n = 0; n < ex->n; n++) {
        const float *xs = x + (size_t)n * g.h * g.w * g.c;
        for (uint32_t oh = 0; oh < g.oh; oh++) {
            for (uint32_t ow = 0; ow < g.ow; ow++) {
                for (uint32_t c = 0; c < g.c; c++) {
                    long h0 = (long)oh * g.sh - g.pad_top, w0 = (long)ow * g.sw - g.pad_left;
                    float best = 0.0f;
                    bool found = false;
                    for (long h = h0; h < h0 + (long)g.kh; h++) {
                        for (long w = w0; w < w0 + (long)g.kw; w++) {
                            if (h < 0 || h >= (long)g.h || w < 0 || w >= (long)g.w) continue;
                            float v = xs[((size_t)h * g.w + (size_t)w) * g.c + c];
                            if (!found || v > best) best = v;
                            found = true;
                        }
                    }
                    y[(((size_t)n * g.oh + oh) * g.ow + ow) * g.c + c] = best;
                }
            }
        }
    }
}

const mcl_op mcl_op_maxpool = {
    .name = "maxpool",
    .keras_name = "MaxPooling2D",
    .usage = "maxpool SIZE[xSIZE] [stride=S|SxS] [padding=valid|same]",
    .parse = maxpool_parse,
    .infer = maxpool_infer,
    .param_count = mcl_op_no_params,
    .aux_bytes = maxpool_aux_bytes,
    .kernel_names = {"maxpool_forward", "maxpool_backward", "maxpool_backward_tiled",
                     "maxpool_forward_vec", "maxpool_backward_tiled_vec"},
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = maxpool_reference_forward,
    /* A wide input range keeps near-ties (closer than the finite-difference step) rare: at a
     * tie the finite difference splits the gradient that backward gives the first maximum. */
    .examples =
        {
            {.layer = {.kind = MCL_OP_MAXPOOL,
                       .kernel_h = 2,
                       .kernel_w = 2,
                       .stride_h = 2,
                       .stride_w = 2},
             .input = {3, 6, 6},
             .input_lo = -3.0f,
             .input_hi = 3.0f},
            {.layer = {.kind = MCL_OP_MAXPOOL,
                       .kernel_h = 3,
                       .kernel_w = 3,
                       .stride_h = 2,
                       .stride_w = 2,
                       .padding = MCL_PADDING_SAME},
             .input = {2, 5, 7},
             .input_lo = -3.0f,
             .input_hi = 3.0f},
            {.layer = {.kind = MCL_OP_MAXPOOL,
                       .kernel_h = 2,
                       .kernel_w = 2,
                       .stride_h = 1,
                       .stride_w = 1},
             .input = {4, 5, 5},
             .input_lo = -3.0f,
             .input_hi = 3.0f},
        },
};
