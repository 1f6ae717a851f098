#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/profile.h"

/* Each tensor starts on a 64-float (256-byte) boundary of the flat buffer: aligned for vector
 * loads and for any sub-buffer alignment a driver may ask for. */
#define PARAM_ALIGN 64
/* Per-image tensors above 2^28 floats (1 GiB) are refused before any size arithmetic can
 * overflow 32 bits (kernels index with uint). */
#define MAX_TENSOR_ELEMENTS (1u << 28)

static size_t align_up(size_t x, size_t a) {
    return (x + a - 1) / a * a;
}

/* Expands model layers into training-graph nodes: the final softmax (a 'softmax' layer, or a
 * dense layer with a softmax activation, which becomes a linear dense node) is the fused
 * softmax + cross-entropy loss node. */
static void expand_layers(const mcl_model *model, mcl_layer *out, uint32_t *count,
                          uint32_t classes) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < model->layer_count; i++) {
        mcl_layer l = model->layers[i];
        if ((l.kind == MCL_OP_DENSE || l.kind == MCL_OP_CONV2D) && l.units == 0) l.units = classes;
        if (l.kind == MCL_OP_SOFTMAX) {
            l.kind = MCL_OP_SOFTMAX_XENT;
            out[n++] = l;
        } else if (l.kind == MCL_OP_DENSE && l.activation == MCL_ACT_SOFTMAX) {
            l.activation = MCL_ACT_LINEAR;
            out[n++] = l;
            out[n++] = (mcl_layer){.kind = MCL_OP_SOFTMAX_XENT, .line = l.line};
        } else {
            out[n++] = l;
        }
    }
    *count = n;
}

/* A ReLU layer right after a BatchNorm runs inside it: the BatchNorm writes max(y, 0) and takes
 * its dy through the ReLU's derivative, the ReLU node aliases its input. That saves a pass over
 * the activation each way (on PoCL ~1.5 ms of a tutorial-CNN step) and gives the same numbers
 * bit for bit. MNIST_CL_FUSE=0 turns it off (test_cnn compares the two). */
static void plan_fusion(mcl_node *nodes, uint32_t count) {
    const char *env = getenv("MNIST_CL_FUSE");
    if (env != NULL && strcmp(env, "0") == 0) return;
    for (uint32_t i = 0; i + 1 < count; i++)
        if (nodes[i].layer.kind == MCL_OP_BATCHNORM && nodes[i + 1].layer.kind == MCL_OP_RELU) {
            nodes[i].fused_relu = true;
            nodes[i + 1].fused_away = true;
        }
}

mcl_status mcl_graph_plan(const mcl_model *model, mcl_shape input, uint32_t classes, mcl_graph *g,
                          mcl_error *err) {
    mcl_layer layers[2 * MCL_MODEL_MAX_LAYERS];
    uint32_t count = 0;
    expand_layers(model, layers, &count, classes);
    mcl_status st = MCL_OK;
    mcl_node *nodes = mcl_calloc(count, sizeof *nodes);
    if (nodes == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the layer graph");
    uint32_t per_kind[MCL_OP_COUNT] = {0};
    mcl_shape shape = input;
    size_t offset = 0, trainable = 0, state_offset = 0;
    bool upstream_params = false; /* some node before this one has trainable parameters */
    for (uint32_t i = 0; i < count && st == MCL_OK; i++) {
        mcl_node *node = &nodes[i];
        st = mcl_node_infer(node, &layers[i], shape, i, err);
        /* An input gradient is only worth computing if it reaches a trainable parameter. */
        node->need_dx = upstream_params;
        /* The loss node is the model's softmax layer: name it so. */
        const char *prefix = layers[i].kind == MCL_OP_SOFTMAX_XENT
                                 ? mcl_op_get(MCL_OP_SOFTMAX)->name
                                 : node->op->name;
        snprintf(node->name, sizeof node->name, "%s_%u", prefix, ++per_kind[layers[i].kind]);
        if (st != MCL_OK) {
            /* Op messages say what is wrong; name the model file and line, as parse errors do. */
            mcl_error_prefix(err, "%s:%u", model->source, node->layer.line);
            break;
        }
        mcl_shape o = node->out_shape;
        if ((uint64_t)o.c * o.h * o.w > MAX_TENSOR_ELEMENTS || o.c == 0 || o.h == 0 || o.w == 0) {
            st = mcl_fail(err, MCL_ERR_MODEL,
                          "%s:%u: %s's output of %ux%ux%u values per image is out of range "
                          "(1 to 2^28)",
                          model->source, node->layer.line, node->name, o.h, o.w, o.c);
            break;
        }
        node->param_offset = offset;
        offset = align_up(offset + node->param_count, PARAM_ALIGN);
        trainable += node->param_count;
        if (node->state_count > 0) {
            node->state_offset = state_offset;
            state_offset = align_up(state_offset + node->state_count, PARAM_ALIGN);
        }
        shape = node->out_shape;
        upstream_params = upstream_params || node->param_count > 0;
    }
    /* The loss node's input width must be the number of classes in the data. */
    if (st == MCL_OK && nodes[count - 1].in_shape.c != classes)
        st = mcl_fail(err, MCL_ERR_MODEL,
                      "%s:%u: the layer before softmax has %u outputs but the data has %u "
                      "classes (write 'dense classes softmax')",
                      model->source, nodes[count - 1].layer.line,
                      mcl_shape_size(nodes[count - 1].in_shape), classes);
    if (st != MCL_OK) {
        free(nodes);
        return st;
    }
    plan_fusion(nodes, count);
    g->nodes = nodes;
    g->node_count = count;
    g->input_shape = input;
    g->classes = classes;
    g->param_count = offset;
    g->trainable = trainable;
    g->state_count = state_offset;
    return MCL_OK;
}

static size_t workspace_bytes(const mcl_graph *g, uint32_t max_batch) {
    size_t largest = 0;
    for (uint32_t i = 0; i < g->node_count; i++) {
        const mcl_node *node = &g->nodes[i];
        size_t b = node->op->workspace_bytes ? node->op->workspace_bytes(node, max_batch) : 0;
        if (b > largest) largest = b;
    }
    return largest;
}

/* Bytes of device memory the graph will allocate for a batch size. */
static size_t device_bytes_needed(const mcl_graph *g, uint32_t max_batch) {
    size_t bytes = 2 * g->param_count * sizeof(float); /* params + grads */
    bytes += g->state_count * sizeof(float);
    bytes += workspace_bytes(g, max_batch);
    for (uint32_t i = 0; i < g->node_count; i++)
        if (g->nodes[i].op->aux_bytes != NULL)
            bytes += g->nodes[i].op->aux_bytes(&g->nodes[i], max_batch);
    bytes += (size_t)max_batch * mcl_shape_size(g->input_shape) * sizeof(float);
    bytes += (size_t)max_batch * 3 * sizeof(float); /* labels, loss, correct */
    for (uint32_t i = 0; i < g->node_count; i++)
        if (!g->nodes[i].op->aliases_input && !g->nodes[i].fused_away)
            bytes += 2 * (size_t)max_batch * mcl_shape_size(g->nodes[i].out_shape) * sizeof(float);
    return bytes;
}

static mcl_status check_fits(const mcl_graph *g, uint32_t max_batch, mcl_error *err) {
    const mcl_device_info *dev = &g->ctx->info;
    size_t need = device_bytes_needed(g, max_batch);
    /* Leave a quarter for the optimizer state, the dataset and the driver. */
    uint64_t budget = dev->global_mem_bytes / 4 * 3;
    size_t largest = workspace_bytes(g, max_batch);
    for (uint32_t i = 0; i < g->node_count; i++) {
        size_t b = (size_t)max_batch * mcl_shape_size(g->nodes[i].out_shape) * sizeof(float);
        if (b > largest) largest = b;
    }
    if (need <= budget && largest <= dev->max_alloc_bytes) return MCL_OK;
    size_t per_sample = (device_bytes_needed(g, 2) - device_bytes_needed(g, 1));
    size_t fixed = device_bytes_needed(g, 0);
    uint64_t fit = budget > fixed ? (budget - fixed) / (per_sample ? per_sample : 1) : 0;
    uint64_t largest_per_sample = largest / max_batch;
    if (largest_per_sample > 0 && dev->max_alloc_bytes / largest_per_sample < fit)
        fit = dev->max_alloc_bytes / largest_per_sample;
    uint64_t suggest = 1;
    while (suggest * 2 <= fit && suggest < (1u << 20))
        suggest *= 2;
    return mcl_fail(err, MCL_ERR_DEVICE_MEMORY,
                    "a batch of %u does not fit in device memory: it needs %.2f GiB but %s has "
                    "%.2f GiB (largest single buffer %.2f GiB); try --batch-size %llu",
                    max_batch, (double)need / (1 << 30), dev->name,
                    (double)dev->global_mem_bytes / (1 << 30),
                    (double)dev->max_alloc_bytes / (1 << 30), (unsigned long long)suggest);
}

static mcl_status alloc(mcl_graph *g, size_t bytes, cl_mem *out, const char *what, mcl_error *err) {
    g->device_bytes += bytes;
    return mcl_buffer_create(g->ctx, bytes, out, what, err);
}

static mcl_status init_params(mcl_graph *g, uint64_t seed, mcl_error *err) {
    size_t larger = g->param_count > g->state_count ? g->param_count : g->state_count;
    float *host = mcl_calloc(larger > 0 ? larger : 1, sizeof *host);
    if (host == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "out of host memory for initialising the weights");
    for (uint32_t i = 0; i < g->node_count; i++) {
        const mcl_node *node = &g->nodes[i];
        if (node->param_count > 0 && node->op->init_params != NULL)
            node->op->init_params(node, host + node->param_offset, seed);
    }
    mcl_status st =
        MCL_CL_CHECK(clEnqueueWriteBuffer(g->ctx->queue, g->params, CL_TRUE, 0,
                                          g->param_count * sizeof(float), host, 0, NULL, NULL),
                     err, "uploading initial weights");
    if (st == MCL_OK && g->state_count > 0) {
        memset(host, 0, g->state_count * sizeof *host);
        for (uint32_t i = 0; i < g->node_count; i++) {
            const mcl_node *node = &g->nodes[i];
            if (node->state_count > 0 && node->op->init_state != NULL)
                node->op->init_state(node, host + node->state_offset);
        }
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(g->ctx->queue, g->state, CL_TRUE, 0,
                                               g->state_count * sizeof(float), host, 0, NULL, NULL),
                          err, "uploading initial layer state");
    }
    free(host);
    return st;
}

mcl_status mcl_graph_create(mcl_context *ctx, const mcl_model *model, mcl_shape input,
                            uint32_t classes, uint32_t max_batch, uint64_t seed, mcl_graph **out,
                            mcl_error *err) {
    *out = NULL;
    if (max_batch == 0) return mcl_fail(err, MCL_ERR_USAGE, "the batch size must be at least 1");
    mcl_graph *g = mcl_calloc(1, sizeof *g);
    if (g == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the layer graph");
    g->ctx = ctx;
    g->max_batch = max_batch;
    mcl_status st = mcl_graph_plan(model, input, classes, g, err);
    if (st == MCL_OK) st = check_fits(g, max_batch, err);
    size_t params_bytes = g->param_count * sizeof(float);
    size_t n = max_batch;
    if (st == MCL_OK) st = alloc(g, params_bytes, &g->params, "the parameters", err);
    if (st == MCL_OK) st = alloc(g, params_bytes, &g->grads, "the gradients", err);
    if (st == MCL_OK && g->state_count > 0)
        st = alloc(g, g->state_count * sizeof(float), &g->state, "the layer state", err);
    g->workspace_bytes = workspace_bytes(g, max_batch);
    if (st == MCL_OK && g->workspace_bytes > 0)
        st = alloc(g, g->workspace_bytes, &g->workspace, "the workspace", err);
    if (st == MCL_OK)
        st = alloc(g, n * mcl_shape_size(input) * sizeof(float), &g->input, "the input batch", err);
    if (st == MCL_OK) st = alloc(g, n * sizeof(cl_int), &g->labels, "the batch labels", err);
    if (st == MCL_OK) st = alloc(g, n * sizeof(float), &g->sample_loss, "per-sample loss", err);
    if (st == MCL_OK)
        st = alloc(g, n * sizeof(float), &g->sample_correct, "per-sample accuracy", err);
    /* Each node reads the previous one's output and writes its input gradient into the previous
     * one's gradient buffer (the first node's input gradient is never asked for). */
    cl_mem x = g->input, dx = NULL;
    for (uint32_t i = 0; i < g->node_count && st == MCL_OK; i++) {
        mcl_node *node = &g->nodes[i];
        size_t bytes = 0;
        st = mcl_node_bind(node, ctx, x, dx, max_batch, &bytes, err);
        g->device_bytes += bytes;
        x = node->y;
        dx = node->dy;
    }
    if (st == MCL_OK) st = init_params(g, seed, err);
    if (st != MCL_OK) {
        mcl_graph_free(g);
        return st;
    }
    *out = g;
    return MCL_OK;
}

void mcl_graph_set_label_smoothing(mcl_graph *g, float smoothing) {
    mcl_node *loss = &g->nodes[g->node_count - 1];
    if (loss->layer.kind == MCL_OP_SOFTMAX_XENT) loss->layer.label_smoothing = smoothing;
}

mcl_status mcl_graph_param_segments(const mcl_graph *g, mcl_param_segment **out, size_t *count,
                                    mcl_error *err) {
    *out = NULL;
    *count = 0;
    size_t n = 0;
    for (uint32_t i = 0; i < g->node_count; i++)
        if (g->nodes[i].op->tensors != NULL && g->nodes[i].param_count > 0)
            n += MCL_OP_MAX_TENSORS;
    if (n == 0) return MCL_OK;
    mcl_param_segment *segs = mcl_malloc(n * sizeof *segs);
    if (segs == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the parameter segments");
    size_t k = 0;
    for (uint32_t i = 0; i < g->node_count; i++) {
        const mcl_node *node = &g->nodes[i];
        if (node->op->tensors == NULL || node->param_count == 0) continue;
        mcl_tensor_desc t[MCL_OP_MAX_TENSORS];
        uint32_t nt = node->op->tensors(node, t);
        for (uint32_t j = 0; j < nt; j++) {
            if (t[j].state) continue;
            size_t size = 1;
            for (uint32_t d = 0; d < t[j].ndim; d++)
                size *= t[j].dims[d];
            if (size == 0) continue;
            segs[k++] = (mcl_param_segment){.offset = node->param_offset + t[j].offset,
                                            .count = size,
                                            .kernel = strcmp(t[j].name, "kernel") == 0};
        }
    }
    *out = segs;
    *count = k;
    return MCL_OK;
}

mcl_exec mcl_graph_exec(mcl_graph *g, uint32_t n, uint32_t step, uint64_t seed, bool training) {
    return (mcl_exec){.ctx = g->ctx,
                      .params = g->params,
                      .grads = g->grads,
                      .state = g->state,
                      .workspace = g->workspace,
                      .labels = g->labels,
                      .sample_loss = g->sample_loss,
                      .sample_correct = g->sample_correct,
                      .n = n,
                      .step = step,
                      .seed = seed,
                      .training = training};
}

mcl_status mcl_graph_forward(mcl_graph *g, const mcl_exec *ex, mcl_error *err) {
    for (uint32_t i = 0; i < g->node_count; i++) {
        mcl_status st =
            g->nodes[i].fused_away ? MCL_OK : g->nodes[i].op->forward(&g->nodes[i], ex, err);
        if (st == MCL_OK)
            st = mcl_profile_mark(ex->profiler, g->ctx->queue, MCL_PHASE_FORWARD, i, err);
        if (st != MCL_OK) return st;
    }
    return MCL_OK;
}

mcl_status mcl_graph_backward(mcl_graph *g, const mcl_exec *ex, mcl_error *err) {
    if (!g->grads_zero) {
        const float zero = 0.0f;
        mcl_status st = mcl_fill(g->ctx, g->grads, &zero, sizeof zero, 0,
                                 g->param_count * sizeof(float), "zeroing gradients", err);
        if (st == MCL_OK)
            st = mcl_profile_mark(ex->profiler, g->ctx->queue, MCL_PHASE_ZERO_GRADS, 0, err);
        if (st != MCL_OK) return st;
    }
    g->grads_zero = false;
    for (uint32_t i = g->node_count; i-- > 0;) {
        mcl_status st =
            g->nodes[i].fused_away ? MCL_OK : g->nodes[i].op->backward(&g->nodes[i], ex, err);
        if (st == MCL_OK)
            st = mcl_profile_mark(ex->profiler, g->ctx->queue, MCL_PHASE_BACKWARD, i, err);
        if (st != MCL_OK) return st;
    }
    return MCL_OK;
}

double mcl_graph_train_flops_per_sample(const mcl_graph *g) {
    double flops = 0.0;
    for (uint32_t i = 0; i < g->node_count; i++)
        flops += g->nodes[i].op->forward_flops(&g->nodes[i]) +
                 g->nodes[i].op->backward_flops(&g->nodes[i]);
    return flops;
}

void mcl_graph_free(mcl_graph *g) {
    if (g == NULL) return;
    for (uint32_t i = 0; i < g->node_count; i++)
        mcl_node_release(&g->nodes[i]);
    cl_mem bufs[] = {g->params, g->grads,  g->state,       g->workspace,
                     g->input,  g->labels, g->sample_loss, g->sample_correct};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i] != NULL) mcl_cl_release_mem(bufs[i]);
    free(g->nodes);
    free(g);
}
