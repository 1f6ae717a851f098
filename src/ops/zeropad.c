/* ZeroPadding2D (Keras): adds rows of zeros above and below and columns left and right of every
 * channel; backward crops dy back to the input. */
#include <string.h>

#include "ops/op.h"

enum { K_FORWARD, K_BACKWARD };

/* Largest padding on one side the parser accepts; far beyond any real use. */
#define ZEROPAD_MAX 4096u

static bool parse_pad(const char *s, uint32_t *out) {
    return mcl_parse_u32(s, out) && *out <= ZEROPAD_MAX;
}

/* "P" -> P on all sides; "PxQ" -> P above and below, Q left and right; or four words. */
static mcl_status zeropad_parse(mcl_layer *layer, char **args, int nargs, mcl_error *err) {
    if (nargs == 4) {
        uint32_t *sides[4] = {&layer->pad_top, &layer->pad_bottom, &layer->pad_left,
                              &layer->pad_right};
        for (int i = 0; i < 4; i++)
            if (!parse_pad(args[i], sides[i]))
                return mcl_fail(err, MCL_ERR_FORMAT,
                                "zeropad padding must be an integer in 0..%u, got '%s'",
                                ZEROPAD_MAX, args[i]);
        return MCL_OK;
    }
    if (nargs != 1)
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "zeropad takes one size (P or PxQ) or four (top bottom left right), "
                        "got %d words",
                        nargs);
    char buf[32];
    if (strlen(args[0]) >= sizeof buf)
        return mcl_fail(err, MCL_ERR_FORMAT, "zeropad padding '%s' is malformed", args[0]);
    strcpy(buf, args[0]);
    char *x = strchr(buf, 'x');
    if (x != NULL) *x++ = '\0';
    uint32_t p, q;
    if (!parse_pad(buf, &p) || (x != NULL && !parse_pad(x, &q)))
        return mcl_fail(err, MCL_ERR_FORMAT,
                        "zeropad padding must be P or PxQ with integers in 0..%u, got '%s'",
                        ZEROPAD_MAX, args[0]);
    if (x == NULL) q = p;
    layer->pad_top = layer->pad_bottom = p;
    layer->pad_left = layer->pad_right = q;
    return MCL_OK;
}

static mcl_status zeropad_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                mcl_error *err) {
    const uint32_t sides[4] = {layer->pad_top, layer->pad_bottom, layer->pad_left,
                               layer->pad_right};
    for (int i = 0; i < 4; i++)
        if (sides[i] > ZEROPAD_MAX)
            return mcl_fail(err, MCL_ERR_MODEL, "zeropad: a padding of %u exceeds the limit %u",
                            sides[i], ZEROPAD_MAX);
    uint64_t h = (uint64_t)in.h + layer->pad_top + layer->pad_bottom;
    uint64_t w = (uint64_t)in.w + layer->pad_left + layer->pad_right;
    if (h * w * in.c > UINT32_MAX)
        return mcl_fail(err, MCL_ERR_MODEL, "zeropad: the padded %ux%ux%u input is too large", in.h,
                        in.w, in.c);
    *out = (mcl_shape){in.c, (uint32_t)h, (uint32_t)w};
    return MCL_OK;
}

/* Both kernels take (src, dst, count, C, H, W, OH, OW, top, left); count is of dst. */
static mcl_status zeropad_enqueue(mcl_node *node, const mcl_exec *ex, int which, cl_mem src,
                                  cl_mem dst, mcl_shape counted, mcl_error *err) {
    cl_uint count = ex->n * mcl_shape_size(counted);
    cl_uint C = node->in_shape.c, H = node->in_shape.h, W = node->in_shape.w;
    cl_uint OH = node->out_shape.h, OW = node->out_shape.w;
    cl_uint top = node->layer.pad_top, left = node->layer.pad_left;
    cl_kernel k = node->kernels[which];
    mcl_status st =
        MCL_SET_ARGS(k, err, MCL_ARG(src), MCL_ARG(dst), MCL_ARG(count), MCL_ARG(C), MCL_ARG(H),
                     MCL_ARG(W), MCL_ARG(OH), MCL_ARG(OW), MCL_ARG(top), MCL_ARG(left));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){count}, err);
}

static mcl_status zeropad_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    return zeropad_enqueue(node, ex, K_FORWARD, node->x, node->y, node->out_shape, err);
}

static mcl_status zeropad_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    if (!node->need_dx) return MCL_OK;
    return zeropad_enqueue(node, ex, K_BACKWARD, node->dy, node->dx, node->in_shape, err);
}

static void zeropad_reference_forward(const mcl_node *node, const mcl_ref_exec *ex, const float *x,
                                      float *y) {
    mcl_shape in = node->in_shape, out = node->out_shape;
    uint32_t top = node->layer.pad_top, left = node->layer.pad_left;
    memset(y, 0, (size_t)ex->n * mcl_shape_size(out) * sizeof *y);
    for (uint32_t n = 0; n < ex->n; n++)
        for (uint32_t h = 0; h < in.h; h++)
            memcpy(y + (((size_t)n * out.h + h + top) * out.w + left) * out.c,
                   x + ((size_t)n * in.h + h) * in.w * in.c, (size_t)in.w * in.c * sizeof *y);
}

const mcl_op mcl_op_zeropad = {
    .name = "zeropad",
    .keras_name = "ZeroPadding2D",
    .usage = "zeropad P | PxQ | TOP BOTTOM LEFT RIGHT",
    .parse = zeropad_parse,
    .infer = zeropad_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"zeropad_forward", "zeropad_backward", NULL},
    .forward = zeropad_forward,
    .backward = zeropad_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = zeropad_reference_forward,
    .examples =
        {
            {.layer = {.kind = MCL_OP_ZEROPAD,
                       .pad_top = 1,
                       .pad_bottom = 1,
                       .pad_left = 1,
                       .pad_right = 1},
             .input = {3, 4, 4},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
            {.layer = {.kind = MCL_OP_ZEROPAD,
                       .pad_top = 2,
                       .pad_bottom = 0,
                       .pad_left = 1,
                       .pad_right = 3},
             .input = {2, 3, 5},
             .input_lo = -1.0f,
             .input_hi = 1.0f},
        },
};
