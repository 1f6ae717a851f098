/* Conv2D: y = act(conv(x, W) + b) with Keras's weights W: [KH, KW, C, F] (a [K, F] matrix,
 * K = KH*KW*C) and b: [F], 'valid' or 'same' padding, any stride.
 *
 * Three implementations, chosen per product:
 * - On CPU devices (the vector classes of src/device/kernel_shapes.c), register-tiled kernels
 *   (cl/conv2d.cl), when the tile widths divide the filters and channels (widths_of below). On
 *   PoCL (2-core AVX-512) the tutorial CNN's 24x24x32 layer (batch 64) runs forward in ~1 ms.
 * - On SIMT devices (GPUs), direct kernels that work CONV_DW channels at a time in one
 *   work-item, when CONV_DW divides them. They read x and W in place, with no column matrix.
 * - im2col + one SGEMM over the whole batch for every other shape. Channels-last
 *   activations make [N*OH*OW, K] x [K, F] land directly in y's layout, so the bias/activation
 *   epilogues are the dense layer's kernels. The column matrix lives in the graph's shared
 *   workspace and is rebuilt in backward. A 1x1 kernel with stride 1 multiplies x directly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/philox.h"
#include "device/gemm.h"
#include "ops/op.h"

enum {
    K_IM2COL,
    K_COL2IM,
    K_BIAS_FORWARD,
    K_BIAS_BACKWARD,
    K_FORWARD_DIRECT,
    K_TRANSPOSE_WEIGHTS,
    K_BACKWARD_DATA_DIRECT,
    K_BACKWARD_FILTER_DIRECT,
    K_FORWARD_TILED,
    K_BACKWARD_DATA_TILED,
    K_BACKWARD_FILTER_TILED,
    K_BIAS_FINISH,
    K_FILTER_REDUCE
};

#define MAX_KERNEL 64
#define MAX_STRIDE 64
#define MAX_FILTERS (1u << 16)

static mcl_status conv2d_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    if (nargs < 2) return mcl_fail(err, MCL_ERR_FORMAT, "conv2d needs filters and a kernel size");
    if (strcmp(args[0], "classes") == 0)
        layer->units = 0;
    else if (!mcl_parse_u32(args[0], &layer->units) || layer->units == 0 ||
             layer->units > MAX_FILTERS)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "conv2d filters must be an integer in 1..65536 or 'classes', got '%s'",
                        args[0]);
    if (!mcl_parse_size2(args[1], MAX_KERNEL, &layer->kernel_h, &layer->kernel_w))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "conv2d kernel size must be K or KxK with K in 1..64, got '%s'", args[1]);
    layer->stride_h = layer->stride_w = 1;
    layer->padding = MCL_PADDING_VALID;
    layer->activation = MCL_ACT_LINEAR;
    for (int i = 2; i < nargs; i++) {
        const char *v;
        if ((v = mcl_arg_value(args[i], "stride")) != NULL) {
            if (!mcl_parse_size2(v, MAX_STRIDE, &layer->stride_h, &layer->stride_w))
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "conv2d stride must be S or SxS with S in 1..64, got '%s'", v);
        } else if ((v = mcl_arg_value(args[i], "padding")) != NULL) {
            mcl_status st = mcl_parse_padding("conv2d", v, &layer->padding, err);
            if (st != MCL_OK) return st;
        } else if (!mcl_parse_activation(args[i], &layer->activation) ||
                   layer->activation == MCL_ACT_SOFTMAX) {
            return mcl_fail(err, MCL_ERR_FORMAT,
                            "unknown conv2d argument '%s' (stride=S, padding=valid|same, or an "
                            "activation: linear, relu)",
                            args[i]);
        }
    }
    return MCL_OK;
}

/* Output size and leading padding along both axes. */
typedef struct conv_geometry {
    uint32_t oh, ow, pad_top, pad_left;
} conv_geometry;

static conv_geometry geometry(const mcl_layer *l, mcl_shape in) {
    conv_geometry g;
    g.oh = mcl_window_out(in.h, l->kernel_h, l->stride_h, l->padding, &g.pad_top);
    g.ow = mcl_window_out(in.w, l->kernel_w, l->stride_w, l->padding, &g.pad_left);
    return g;
}

static mcl_status conv2d_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                               mcl_error *err) {
    conv_geometry g = geometry(layer, in);
    if (g.oh == 0 || g.ow == 0)
        return mcl_fail(err, MCL_ERR_MODEL,
                        "conv2d: a %ux%u kernel does not fit a %ux%u input; use padding=same or "
                        "a smaller kernel",
                        layer->kernel_h, layer->kernel_w, in.h, in.w);
    uint64_t weights = (uint64_t)layer->kernel_h * layer->kernel_w * in.c * layer->units;
    if (weights > (1u << 28))
        return mcl_fail(err, MCL_ERR_MODEL,
                        "conv2d: %ux%u x %u channels x %u filters is more than 2^28 weights",
                        layer->kernel_h, layer->kernel_w, in.c, layer->units);
    *out = (mcl_shape){layer->units, g.oh, g.ow};
    return MCL_OK;
}

static uint32_t patch_size(const mcl_layer *l, mcl_shape in) {
    return l->kernel_h * l->kernel_w * in.c;
}

static size_t conv2d_param_count(const mcl_layer *layer, mcl_shape in, mcl_shape out) {
    return (size_t)patch_size(layer, in) * out.c + out.c;
}

/* Glorot uniform over fan_in = KH*KW*C and fan_out = KH*KW*F, zero biases (Keras). */
static void conv2d_init(const mcl_node *node, float *params, uint64_t seed) {
    const mcl_layer *l = &node->layer;
    uint32_t k = patch_size(l, node->in_shape), f = node->out_shape.c;
    float fan_out = (float)(l->kernel_h * l->kernel_w * f);
    float limit = sqrtf(6.0f / ((float)k + fan_out));
    size_t weights = (size_t)k * f;
    for (size_t i = 0; i < weights; i++) {
        float u = mcl_philox_uniform(seed, MCL_STREAM_INIT, ((uint64_t)node->index << 32) | i);
        params[i] = (2.0f * u - 1.0f) * limit;
    }
    for (uint32_t j = 0; j < f; j++)
        params[weights + j] = 0.0f;
}

/* A 1x1 kernel with stride 1 reads x as the column matrix itself. */
static bool is_pointwise(const mcl_layer *l) {
    return l->kernel_h == 1 && l->kernel_w == 1 && l->stride_h == 1 && l->stride_w == 1;
}

/* Which products run without a column matrix, by the widths of the context's kernels
 * (src/device/kernel_shapes.c). CPU classes take the register-tiled kernels: forward when the
 * filters come in tile widths (CONV_TW), the filter gradient when also the input channels come
 * in CONV_TC, the input gradient when the input channels come in tile widths. The SIMT class
 * takes the direct kernels: forward and filter gradient when the filters come in CONV_DW, the
 * input gradient when the input channels do. (The class decides, not the GEMM provider: a CPU
 * device told to multiply with CLBlast keeps its tiles.) */
typedef struct conv_widths {
    bool tiles;
    uint32_t width;    /* filters or channels per tile / work-item */
    uint32_t channels; /* input channels per filter-gradient tile (tiles only) */
} conv_widths;

static conv_widths widths_of(const mcl_context *ctx) {
    const mcl_kernel_shapes *s = &ctx->shapes;
    if (s->device_class != MCL_CLASS_SIMT)
        return (conv_widths){true, s->conv_tiled.vector * s->conv_tiled.vectors,
                             s->conv_tiled.channels};
    return (conv_widths){false, s->conv_direct.width, 1};
}

static bool direct_forward_on(const mcl_node *node, conv_widths w) {
    return node->out_shape.c % w.width == 0;
}

static bool direct_filter_grad_on(const mcl_node *node, conv_widths w) {
    return node->out_shape.c % w.width == 0 && node->in_shape.c % w.channels == 0;
}

static bool direct_input_grad_on(const mcl_node *node, conv_widths w) {
    return node->in_shape.c % w.width == 0;
}

/* The column matrix (im2col path) or the transposed weights (direct input gradient), for the
 * widest kernels any device class gets (the graph is planned before it knows the context):
 * the test is a divisibility, so the 32-wide tiles need a column matrix wherever a narrower
 * width would, and the 4-wide ones nowhere else. */
static size_t conv2d_workspace_bytes(const mcl_node *node, uint32_t max_batch) {
    size_t k = patch_size(&node->layer, node->in_shape);
    size_t columns = (size_t)max_batch * node->out_shape.h * node->out_shape.w * k;
    bool pointwise = is_pointwise(&node->layer);
    size_t bytes = 0;
    /* Every width and filter-gradient channel count of the shape table's rows. */
    static const conv_widths all[] = {{true, 32, 8}, {true, 16, 4}, {true, 8, 4}, {true, 4, 4},
                                      {false, 16, 1}, {false, 8, 1}, {false, 4, 1}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        conv_widths w = all[i];
        bool need_columns =
            !pointwise && (!direct_forward_on(node, w) || !direct_filter_grad_on(node, w) ||
                           (node->need_dx && !direct_input_grad_on(node, w)));
        if (need_columns && columns * sizeof(float) > bytes) bytes = columns * sizeof(float);
        size_t wt = k * node->out_shape.c * sizeof(float);
        if (node->need_dx && direct_input_grad_on(node, w) && wt > bytes) bytes = wt;
    }
    return bytes;
}

/* im2col and col2im take the same arguments, (src, dst, geometry...), but im2col's range
 * gives it the kernel height, so it takes no KH. */
static mcl_status set_conv_args(cl_kernel k, const mcl_node *node, cl_mem src, cl_mem dst,
                                bool with_kh, mcl_error *err) {
    const mcl_layer *l = &node->layer;
    conv_geometry g = geometry(l, node->in_shape);
    cl_uint c = node->in_shape.c, h = node->in_shape.h, w = node->in_shape.w;
    cl_uint kh = l->kernel_h, kw = l->kernel_w, sh = l->stride_h, sw = l->stride_w;
    cl_uint pt = g.pad_top, pl = g.pad_left, oh = g.oh, ow = g.ow;
    cl_uint kk = patch_size(l, node->in_shape);
    if (!with_kh)
        return MCL_SET_ARGS(k, err, MCL_ARG(src), MCL_ARG(dst), MCL_ARG(c), MCL_ARG(h),
                            MCL_ARG(w), MCL_ARG(kw), MCL_ARG(sh), MCL_ARG(sw), MCL_ARG(pt),
                            MCL_ARG(pl), MCL_ARG(oh), MCL_ARG(ow), MCL_ARG(kk));
    return MCL_SET_ARGS(k, err, MCL_ARG(src), MCL_ARG(dst), MCL_ARG(c), MCL_ARG(h), MCL_ARG(w),
                        MCL_ARG(kh), MCL_ARG(kw), MCL_ARG(sh), MCL_ARG(sw), MCL_ARG(pt),
                        MCL_ARG(pl), MCL_ARG(oh), MCL_ARG(ow), MCL_ARG(kk));
}

static mcl_status im2col(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_kernel k = node->kernels[K_IM2COL];
    mcl_status st = set_conv_args(k, node, node->x, ex->workspace, false, err);
    size_t rows = (size_t)ex->n * node->out_shape.h * node->out_shape.w;
    return st != MCL_OK ? st
                        : mcl_enqueue(ex->ctx, k, 2, (size_t[]){node->layer.kernel_h, rows}, err);
}

static int act_code(const mcl_node *node) {
    return node->layer.activation == MCL_ACT_RELU ? 1 : 0;
}

/* The geometry arguments the direct kernels share, after their buffers. */
typedef struct direct_args {
    cl_uint c, h, w, kh, kw, sh, sw, pt, pl, oh, ow, f;
} direct_args;

static direct_args direct_args_for(const mcl_node *node) {
    const mcl_layer *l = &node->layer;
    conv_geometry g = geometry(l, node->in_shape);
    return (direct_args){node->in_shape.c,
                         node->in_shape.h,
                         node->in_shape.w,
                         l->kernel_h,
                         l->kernel_w,
                         l->stride_h,
                         l->stride_w,
                         g.pad_top,
                         g.pad_left,
                         g.oh,
                         g.ow,
                         node->out_shape.c};
}

static size_t blocks(size_t n, size_t per) {
    return (n + per - 1) / per;
}

static mcl_status forward_direct(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    direct_args a = direct_args_for(node);
    cl_uint w_offset = (cl_uint)node->param_offset;
    cl_uint b_offset = (cl_uint)(node->param_offset + (size_t)a.kh * a.kw * a.c * a.f);
    cl_int act = act_code(node);
    const mcl_kernel_shapes *s = &ex->ctx->shapes;
    conv_widths w = widths_of(ex->ctx);
    if (w.tiles) {
        cl_uint m = ex->n * a.oh * a.ow;
        cl_kernel k = node->kernels[K_FORWARD_TILED];
        cl_mem zeros = NULL;
        mcl_status st = mcl_zeros(ex->ctx, a.c, &zeros, err);
        if (st == MCL_OK)
            st =
                MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(ex->params), MCL_ARG(w_offset),
                             MCL_ARG(b_offset), MCL_ARG(node->y), MCL_ARG(a.c), MCL_ARG(a.h),
                             MCL_ARG(a.w), MCL_ARG(a.kh), MCL_ARG(a.kw), MCL_ARG(a.sh),
                             MCL_ARG(a.sw), MCL_ARG(a.pt), MCL_ARG(a.pl), MCL_ARG(a.oh),
                             MCL_ARG(a.ow), MCL_ARG(a.f), MCL_ARG(act), MCL_ARG(m), MCL_ARG(zeros));
        size_t global[2] = {a.f / w.width, blocks(m, s->conv_tiled.positions)};
        return st != MCL_OK ? st : mcl_enqueue_local(ex->ctx, k, 2, global, (size_t[]){1, 1}, err);
    }
    cl_kernel k = node->kernels[K_FORWARD_DIRECT];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(ex->params), MCL_ARG(w_offset),
                     MCL_ARG(b_offset), MCL_ARG(node->y), MCL_ARG(a.c), MCL_ARG(a.h), MCL_ARG(a.w),
                     MCL_ARG(a.kh), MCL_ARG(a.kw), MCL_ARG(a.sh), MCL_ARG(a.sw), MCL_ARG(a.pt),
                     MCL_ARG(a.pl), MCL_ARG(a.oh), MCL_ARG(a.ow), MCL_ARG(a.f), MCL_ARG(act));
    size_t global[3] = {a.f / w.width, blocks(a.ow, s->conv_direct.pixels), (size_t)ex->n * a.oh};
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 3, global, err);
}

/* grads[W] += the filter gradient, from x and dz, in chunks of CONV_IMAGES images whose sums
 * go to the context's scratch and are then added in order (conv2d_filter_reduce): a chunk's
 * data stays in cache while every tile reads it, and no work-item walks a whole batch. */
static mcl_status backward_filter_direct(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    direct_args a = direct_args_for(node);
    cl_uint w_offset = (cl_uint)node->param_offset, n = ex->n;
    const mcl_kernel_shapes *s = &ex->ctx->shapes;
    conv_widths w = widths_of(ex->ctx);
    cl_uint images = w.tiles ? s->conv_tiled.images : s->conv_direct.images;
    cl_uint chunks = (n + images - 1) / images;
    size_t weights = (size_t)a.kh * a.kw * a.c * a.f;
    cl_mem partial = ex->grads; /* unused with one chunk */
    mcl_status st = chunks > 1 ? mcl_scratch_reserve(ex->ctx, chunks * weights, &partial, err) : MCL_OK;
    cl_kernel k = node->kernels[w.tiles ? K_BACKWARD_FILTER_TILED : K_BACKWARD_FILTER_DIRECT];
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(node->dy), MCL_ARG(ex->grads),
                          MCL_ARG(w_offset), MCL_ARG(a.c), MCL_ARG(a.h), MCL_ARG(a.w),
                          MCL_ARG(a.kh), MCL_ARG(a.kw), MCL_ARG(a.sh), MCL_ARG(a.sw),
                          MCL_ARG(a.pt), MCL_ARG(a.pl), MCL_ARG(a.oh), MCL_ARG(a.ow), MCL_ARG(a.f),
                          MCL_ARG(n), MCL_ARG(images), MCL_ARG(partial));
    size_t taps = (size_t)a.kh * a.kw;
    if (st == MCL_OK && w.tiles) {
        size_t global[3] = {a.f / w.width, a.c / w.channels * taps, chunks};
        st = mcl_enqueue_local(ex->ctx, k, 3, global, (size_t[]){1, 1, 1}, err);
    } else if (st == MCL_OK) {
        size_t global[3] = {a.f / w.width, blocks(a.c, s->conv_direct.channels), taps * chunks};
        st = mcl_enqueue(ex->ctx, k, 3, global, err);
    }
    if (st != MCL_OK || chunks == 1) return st;
    cl_kernel r = node->kernels[K_FILTER_REDUCE];
    cl_uint count = (cl_uint)weights;
    st = MCL_SET_ARGS(r, err, MCL_ARG(ex->grads), MCL_ARG(w_offset), MCL_ARG(partial),
                      MCL_ARG(chunks), MCL_ARG(count));
    size_t per_item = (size_t)s->vector.width * s->vector.span;
    return st != MCL_OK ? st
                        : mcl_enqueue_vector(ex->ctx, r, 1, (size_t[]){blocks(weights, per_item)},
                                             NULL, err);
}

/* dx from dz, through the weights transposed into the workspace. */
static mcl_status backward_data_direct(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    direct_args a = direct_args_for(node);
    cl_uint w_offset = (cl_uint)node->param_offset;
    cl_kernel t = node->kernels[K_TRANSPOSE_WEIGHTS];
    mcl_status st = MCL_SET_ARGS(t, err, MCL_ARG(ex->params), MCL_ARG(w_offset),
                                 MCL_ARG(ex->workspace), MCL_ARG(a.c), MCL_ARG(a.f));
    if (st == MCL_OK)
        st = mcl_enqueue(ex->ctx, t, 3, (size_t[]){a.c, a.f, (size_t)a.kh * a.kw}, err);
    const mcl_kernel_shapes *s = &ex->ctx->shapes;
    conv_widths w = widths_of(ex->ctx);
    if (st == MCL_OK && w.tiles) {
        cl_uint q = ex->n * a.h * a.w;
        cl_kernel k = node->kernels[K_BACKWARD_DATA_TILED];
        cl_mem zeros = NULL;
        st = mcl_zeros(ex->ctx, a.f, &zeros, err);
        if (st == MCL_OK)
            st = MCL_SET_ARGS(k, err, MCL_ARG(node->dy), MCL_ARG(ex->workspace), MCL_ARG(node->dx),
                              MCL_ARG(a.c), MCL_ARG(a.h), MCL_ARG(a.w), MCL_ARG(a.kh),
                              MCL_ARG(a.kw), MCL_ARG(a.sh), MCL_ARG(a.sw), MCL_ARG(a.pt),
                              MCL_ARG(a.pl), MCL_ARG(a.oh), MCL_ARG(a.ow), MCL_ARG(a.f), MCL_ARG(q),
                              MCL_ARG(zeros));
        size_t global[2] = {a.c / w.width, blocks(q, s->conv_tiled.positions)};
        return st != MCL_OK ? st : mcl_enqueue_local(ex->ctx, k, 2, global, (size_t[]){1, 1}, err);
    }
    cl_kernel k = node->kernels[K_BACKWARD_DATA_DIRECT];
    if (st == MCL_OK)
        st = MCL_SET_ARGS(k, err, MCL_ARG(node->dy), MCL_ARG(ex->workspace), MCL_ARG(node->dx),
                          MCL_ARG(a.c), MCL_ARG(a.h), MCL_ARG(a.w), MCL_ARG(a.kh), MCL_ARG(a.kw),
                          MCL_ARG(a.sh), MCL_ARG(a.sw), MCL_ARG(a.pt), MCL_ARG(a.pl), MCL_ARG(a.oh),
                          MCL_ARG(a.ow), MCL_ARG(a.f));
    size_t global[3] = {a.c / w.width, blocks(a.w, s->conv_direct.pixels), (size_t)ex->n * a.h};
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 3, global, err);
}

static mcl_status conv2d_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (direct_forward_on(node, widths_of(ex->ctx))) return forward_direct(node, ex, err);
    bool pointwise = is_pointwise(&node->layer);
    cl_uint kk = patch_size(&node->layer, node->in_shape), f = node->out_shape.c;
    size_t m = (size_t)ex->n * node->out_shape.h * node->out_shape.w;
    mcl_status st = pointwise ? MCL_OK : im2col(node, ex, err);
    char what[64];
    snprintf(what, sizeof what, "%s forward", node->name);
    cl_mem a = pointwise ? node->x : ex->workspace;
    cl_uint bias_offset = (cl_uint)(node->param_offset + (size_t)kk * f);
    return st != MCL_OK ? st
                        : mcl_gemm_bias_act(ex, node->kernels[K_BIAS_FORWARD], (cl_uint)m, f, kk,
                                            (mcl_matrix){a, 0, kk, false},
                                            (mcl_matrix){ex->params, node->param_offset, f, false},
                                            node->y, act_code(node), bias_offset, what, err);
}

static mcl_status conv2d_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    bool pointwise = is_pointwise(&node->layer);
    cl_uint kk = patch_size(&node->layer, node->in_shape), f = node->out_shape.c;
    cl_uint m = ex->n * node->out_shape.h * node->out_shape.w;
    cl_uint bias_offset = (cl_uint)(node->param_offset + (size_t)kk * f);
    cl_int act = act_code(node);
    /* dy becomes dz = dy * act'(y) in place; db += column sums of dz. */
    mcl_status st =
        mcl_bias_act_backward(ex, node->kernels[K_BIAS_BACKWARD], node->kernels[K_BIAS_FINISH],
                              node->dy, node->y, m, f, act, bias_offset, err);
    char what[64];
    snprintf(what, sizeof what, "%s backward", node->name);
    conv_widths widths = widths_of(ex->ctx);
    if (st == MCL_OK && direct_filter_grad_on(node, widths)) {
        st = backward_filter_direct(node, ex, err);
    } else if (st == MCL_OK) {
        /* The workspace was overwritten by later layers: rebuild this layer's columns. */
        if (!pointwise) st = im2col(node, ex, err);
        cl_mem a = pointwise ? node->x : ex->workspace;
        /* dW[K, F] += col^T dz */
        if (st == MCL_OK)
            st = mcl_gemm(ex->ctx, kk, f, m, 1.0f, (mcl_matrix){a, 0, kk, true},
                          (mcl_matrix){node->dy, 0, f, false}, 1.0f,
                          (mcl_matrix){ex->grads, node->param_offset, f, false}, what, err);
    }
    if (st != MCL_OK || !node->need_dx) return st;
    if (direct_input_grad_on(node, widths)) return backward_data_direct(node, ex, err);
    /* dcol[M, K] = dz W^T, straight into dx for a pointwise kernel, else folded back by col2im
     * (the GEMM above has read the columns, so the workspace is free again). */
    cl_mem dcol = pointwise ? node->dx : ex->workspace;
    st = mcl_gemm(ex->ctx, m, kk, f, 1.0f, (mcl_matrix){node->dy, 0, f, false},
                  (mcl_matrix){ex->params, node->param_offset, f, true}, 0.0f,
                  (mcl_matrix){dcol, 0, kk, false}, what, err);
    if (st != MCL_OK || pointwise) return st;
    cl_kernel k = node->kernels[K_COL2IM];
    st = set_conv_args(k, node, ex->workspace, node->dx, true, err);
    mcl_shape in = node->in_shape;
    return st != MCL_OK
               ? st
               : mcl_enqueue(ex->ctx, k, 3, (size_t[]){in.c, in.w, (size_t)ex->n * in.h}, err);
}

static uint32_t conv2d_tensors(const mcl_node *node, mcl_tensor_desc out[MCL_OP_MAX_TENSORS]) {
    const mcl_layer *l = &node->layer;
    uint32_t c = node->in_shape.c, f = node->out_shape.c;
    out[0] = (mcl_tensor_desc){"kernel", false, 0, 4, {l->kernel_h, l->kernel_w, c, f}};
    out[1] = (mcl_tensor_desc){"bias", false, (size_t)patch_size(l, node->in_shape) * f, 1, {f}};
    return 2;
}

static double conv2d_forward_flops(const mcl_node *node) {
    return 2.0 * node->out_shape.h * node->out_shape.w * node->out_shape.c *
           patch_size(&node->layer, node->in_shape);
}

static double conv2d_backward_flops(const mcl_node *node) {
    return (node->need_dx ? 2.0 : 1.0) * conv2d_forward_flops(node);
}

static void conv2d_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                     float *y) {
    const mcl_layer *l = &node->layer;
    mcl_shape in = node->in_shape, out = node->out_shape;
    conv_geometry g = geometry(l, in);
    uint32_t kk = patch_size(l, in), f = out.c;
    const float *w = ex->params + node->param_offset, *b = w + (size_t)kk * f;
    for (uint32_t n = 0; n < ex->n; n++)
        for (uint32_t oh = 0; oh < out.h; oh++)
            for (uint32_t ow = 0; ow < out.w; ow++)
                for (uint32_t j = 0; j < f; j++) {
                    double acc = b[j];
                    for (uint32_t kh = 0; kh < l->kernel_h; kh++)
                        for (uint32_t kw = 0; kw < l->kernel_w; kw++) {
                            long ih = (long)(oh * l->stride_h + kh) - g.pad_top;
                            long iw = (long)(ow * l->stride_w + kw) - g.pad_left;
                            if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
                            for (uint32_t c = 0; c < in.c; c++) {
                                size_t xi = (((size_t)n * in.h + ih) * in.w + iw) * in.c + c;
                                size_t wi = ((size_t)(kh * l->kernel_w + kw) * in.c + c) * f + j;
                                acc += (double)x[xi] * w[wi];
                            }
                        }
                    float v = (float)acc;
                    if (l->activation == MCL_ACT_RELU && v < 0.0f) v = 0.0f;
                    y[(((size_t)n * out.h + oh) * out.w + ow) * f + j] = v;
                }
}

/* dz = dy * act'(y); db += sum dz; dW += x^T dz (as im2col sees it); dx = dz W^T folded back,
 * all in double. */
static void conv2d_reference_backward(const mcl_node *node, const mcl_ref_exec *ex,
                                      const float *x, const float *y, const float *dy, float *dx,
                                      float *grads) {
    const mcl_layer *l = &node->layer;
    mcl_shape in = node->in_shape, out = node->out_shape;
    conv_geometry g = geometry(l, in);
    uint32_t kk = patch_size(l, in), f = out.c;
    const float *w = ex->params + node->param_offset;
    float *dw = grads + node->param_offset, *db = dw + (size_t)kk * f;
    size_t in_count = (size_t)ex->n * mcl_shape_size(in);
    double *dxd = dx != NULL ? mcl_calloc(in_count, sizeof *dxd) : NULL;
    double *dwd = mcl_calloc((size_t)kk * f + f, sizeof *dwd);
    if ((dx != NULL && dxd == NULL) || dwd == NULL) {
        free(dxd), free(dwd);
        return;
    }
    for (uint32_t n = 0; n < ex->n; n++)
        for (uint32_t oh = 0; oh < out.h; oh++)
            for (uint32_t ow = 0; ow < out.w; ow++)
                for (uint32_t j = 0; j < f; j++) {
                    size_t yi = (((size_t)n * out.h + oh) * out.w + ow) * f + j;
                    double dz = dy[yi];
                    if (l->activation == MCL_ACT_RELU && !(y[yi] > 0.0f)) dz = 0.0;
                    dwd[(size_t)kk * f + j] += dz;
                    for (uint32_t kh = 0; kh < l->kernel_h; kh++)
                        for (uint32_t kw = 0; kw < l->kernel_w; kw++) {
                            long ih = (long)(oh * l->stride_h + kh) - g.pad_top;
                            long iw = (long)(ow * l->stride_w + kw) - g.pad_left;
                            if (ih < 0 || ih >= in.h || iw < 0 || iw >= in.w) continue;
                            for (uint32_t c = 0; c < in.c; c++) {
                                size_t xi = (((size_t)n * in.h + ih) * in.w + iw) * in.c + c;
                                size_t wi = ((size_t)(kh * l->kernel_w + kw) * in.c + c) * f + j;
                                dwd[wi] += (double)x[xi] * dz;
                                if (dxd != NULL) dxd[xi] += (double)w[wi] * dz;
                            }
                        }
                }
    for (size_t i = 0; i < (size_t)kk * f; i++)
        dw[i] += (float)dwd[i];
    for (uint32_t j = 0; j < f; j++)
        db[j] += (float)dwd[(size_t)kk * f + j];
    for (size_t i = 0; dxd != NULL && i < in_count; i++)
        dx[i] = (float)dxd[i];
    free(dxd);
    free(dwd);
}

#define CONV(filters, kh, kw, sh, sw, pad, act)                                                    \
    {                                                                                              \
        .kind = MCL_OP_CONV2D, .units = (filters), .kernel_h = (kh), .kernel_w = (kw),             \
        .stride_h = (sh), .stride_w = (sw), .padding = (pad), .activation = (act)                  \
    }

const mcl_op mcl_op_conv2d = {
    .name = "conv2d",
    .keras_name = "Conv2D",
    .usage = "conv2d FILTERS|classes K|KxK [stride=S|SxS] [padding=valid|same] [linear|relu]",
    .parse = conv2d_parse,
    .infer = conv2d_infer,
    .param_count = conv2d_param_count,
    .init_params = conv2d_init,
    .tensors = conv2d_tensors,
    .workspace_bytes = conv2d_workspace_bytes,
    .kernel_names = {"conv2d_im2col", "conv2d_col2im", "dense_bias_act_forward",
                     "dense_bias_act_backward", "conv2d_forward_direct", "conv2d_transpose_weights",
                     "conv2d_backward_data_direct", "conv2d_backward_filter_direct",
                     "conv2d_forward_tiled", "conv2d_backward_data_tiled",
                     "conv2d_backward_filter_tiled", "dense_bias_grad_finish",
                     "conv2d_filter_reduce"},
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .forward_flops = conv2d_forward_flops,
    .backward_flops = conv2d_backward_flops,
    .reference_forward = conv2d_reference_forward,
    .reference_backward = conv2d_reference_backward,
    .examples =
        {
            /* 3x3 'valid', the tutorial's layer. */
            {.layer = CONV(4, 3, 3, 1, 1, MCL_PADDING_VALID, MCL_ACT_LINEAR),
             .input = {3, 6, 7},
             -1.0f,
             1.0f},
            /* 'same' with stride 2 and a fused ReLU: padding on all four sides. */
            {.layer = CONV(5, 3, 3, 2, 2, MCL_PADDING_SAME, MCL_ACT_RELU),
             .input = {2, 7, 6},
             -1.0f,
             1.0f},
            /* An even, non-square kernel: 'same' puts the extra padding below and right. */
            {.layer = CONV(3, 2, 3, 1, 2, MCL_PADDING_SAME, MCL_ACT_LINEAR),
             .input = {2, 5, 5},
             -1.0f,
             1.0f},
            /* 1x1: the pointwise path without im2col. */
            {.layer = CONV(3, 1, 1, 1, 1, MCL_PADDING_VALID, MCL_ACT_LINEAR),
             .input = {5, 3, 4},
             -1.0f,
             1.0f},
            /* 16 filters over 16 channels: all three products run direct, here with 'same'
             * padding, stride 2 and ReLU (OW = 3 is not a multiple of the 4-pixel tile). */
            {.layer = CONV(16, 3, 3, 2, 2, MCL_PADDING_SAME, MCL_ACT_RELU),
             .input = {16, 5, 6},
             -1.0f,
             1.0f},
            /* Direct forward and filter gradient (32 filters), im2col input gradient (3
             * channels); an even kernel and unequal strides. */
            {.layer = CONV(32, 2, 3, 1, 2, MCL_PADDING_SAME, MCL_ACT_LINEAR),
             .input = {3, 5, 7},
             -1.0f,
             1.0f},
            /* 32 in, 32 out: every product of the tiled (CPU) kernels, with 'same' padding
             * (masked taps), stride 2 down and ReLU; 2x5x6 = 60 input positions is not a
             * multiple of the 8-position tile. */
            {.layer = CONV(32, 3, 3, 2, 1, MCL_PADDING_SAME, MCL_ACT_RELU),
             .input = {32, 5, 6},
             -1.0f,
             1.0f},
            /* 'valid' with 8 channels: unmasked tiles in forward and the filter gradient, the
             * input gradient through im2col + GEMM. */
            {.layer = CONV(32, 3, 3, 1, 1, MCL_PADDING_VALID, MCL_ACT_LINEAR),
             .input = {8, 6, 7},
             -1.0f,
             1.0f},
        },
};
