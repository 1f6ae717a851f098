/* Softmax fused with sparse categorical cross-entropy: the loss node at the end of every
 * training graph. With label smoothing F (Keras CategoricalCrossentropy(label_smoothing=F) on
 * one-hot labels) the targets are q = onehot(label) (1 - F) + F / K, and the loss is
 * -sum_k q_k log p_k = logsumexp(z) - sum_k q_k z_k; F = 0 is the plain loss. Forward writes the
 * probabilities (y), per-sample loss and correctness, and in training also the gradient of the
 * batch-mean loss, dx = dlogits = (p - q) / n, in
 * the same pass (as llm.c's fused classifier): every training forward is followed by a
 * backward, and one launch fewer per step matters on CPU drivers, where each launch wakes the
 * worker threads. Backward therefore has nothing left to do. */
#include <math.h>

#include "ops/op.h"

enum { K_FORWARD };

static mcl_status softmax_xent_infer(const mcl_layer *layer, mcl_shape in, mcl_shape *out,
                                     mcl_error *err) {
    (void)layer;
    if (in.h != 1 || in.w != 1 || in.c < 2)
        return mcl_fail(err, MCL_ERR_MODEL, "softmax needs a flat input of at least 2 classes");
    *out = in;
    return MCL_OK;
}

static mcl_status softmax_xent_forward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    cl_uint n = ex->n, classes = node->in_shape.c;
    cl_float scale = 1.0f / (float)ex->n;
    cl_float smoothing = node->layer.label_smoothing;
    cl_int write_grad = ex->training && node->need_dx;
    cl_kernel k = node->kernels[K_FORWARD];
    mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(node->x), MCL_ARG(ex->labels), MCL_ARG(node->y),
                                 MCL_ARG(ex->sample_loss), MCL_ARG(ex->sample_correct), MCL_ARG(n),
                                 MCL_ARG(classes), MCL_ARG(write_grad), MCL_ARG(node->dx),
                                 MCL_ARG(scale), MCL_ARG(smoothing));
    return st != MCL_OK ? st : mcl_enqueue(ex->ctx, k, 1, (size_t[]){n}, err);
}

/* The training forward wrote dx already. */
static mcl_status softmax_xent_backward(mcl_node *node, const mcl_exec *ex, mcl_error *err) {
    (void)node, (void)ex, (void)err;
    return MCL_OK;
}

static void softmax_xent_reference_forward(const mcl_node *node, const mcl_ref_exec *ex,
                                           const float *x, float *y) {
    uint32_t classes = node->in_shape.c;
    for (uint32_t r = 0; r < ex->n; r++) {
        const float *z = x + (size_t)r * classes;
        float *p = y + (size_t)r * classes;
        uint32_t arg = 0;
        for (uint32_t k = 1; k < classes; k++)
            if (z[k] > z[arg]) arg = k;
        double sum = 0.0;
        for (uint32_t k = 0; k < classes; k++) sum += exp((double)z[k] - z[arg]);
        for (uint32_t k = 0; k < classes; k++) p[k] = (float)(exp((double)z[k] - z[arg]) / sum);
        int32_t label = ex->labels[r];
        /* sum_k q_k (z_k - max): the target's logit, pulled towards the mean by smoothing. */
        double smoothing = node->layer.label_smoothing, target = (double)z[label] - z[arg];
        if (smoothing > 0.0) {
            double all = 0.0;
            for (uint32_t k = 0; k < classes; k++) all += (double)z[k] - z[arg];
            target = (1.0 - smoothing) * target + smoothing / classes * all;
        }
        if (ex->sample_loss != NULL) ex->sample_loss[r] = (float)(log(sum) - target);
        if (ex->sample_correct != NULL) ex->sample_correct[r] = (uint32_t)label == arg ? 1.0f : 0.0f;
    }
}

const mcl_op mcl_op_softmax_xent = {
    .name = "softmax_xent",
    .keras_name = "Softmax",
    .usage = "(placed by the graph for a final softmax)",
    .internal = true,
    .infer = softmax_xent_infer,
    .param_count = mcl_op_no_params,
    .kernel_names = {"softmax_xent_forward", NULL},
    .forward = softmax_xent_forward,
    .backward = softmax_xent_backward,
    .forward_flops = mcl_op_zero_flops,
    .backward_flops = mcl_op_zero_flops,
    .reference_forward = softmax_xent_reference_forward,
    .examples = {{.layer = {.kind = MCL_OP_SOFTMAX_XENT}, .input = {10, 1, 1}, -3.0f, 3.0f},
                 {.layer = {.kind = MCL_OP_SOFTMAX_XENT, .label_smoothing = 0.1f},
                  .input = {10, 1, 1}, -3.0f, 3.0f},
                 {.layer = {.kind = MCL_OP_SOFTMAX_XENT, .label_smoothing = 0.6f},
                  .input = {3, 1, 1}, -4.0f, 4.0f}},
};
