/* Keras-style model summary: layer (type), output shape, parameter count, totals. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "graph/graph.h"

typedef struct text_buf {
    char *buf;
    size_t size, len;
    bool truncated;
} text_buf;

static void append(text_buf *t, const char *fmt, ...) MCL_PRINTF(2, 3);
static void append(text_buf *t, const char *fmt, ...) {
    if (t->len >= t->size) {
        t->truncated = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->len) {
        t->truncated = true;
        t->len = t->size;
    } else {
        t->len += (size_t)n;
    }
}

/* "1,234,567" */
static void with_commas(uint64_t v, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0) out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

static void shape_str(mcl_shape s, char *out, size_t size) {
    if (s.h == 1 && s.w == 1)
        snprintf(out, size, "(None, %u)", s.c);
    else
        snprintf(out, size, "(None, %u, %u, %u)", s.h, s.w, s.c);
}

/* The loss node fused after a "dense ... softmax" layer is part of that layer: no row. */
static bool fused_head(const mcl_graph *g, uint32_t i) {
    return g->nodes[i].layer.kind == MCL_OP_SOFTMAX_XENT && i > 0 &&
           g->nodes[i - 1].layer.line == g->nodes[i].layer.line;
}

mcl_status mcl_model_summary(const mcl_model *model, uint32_t rows, uint32_t cols,
                             uint32_t num_classes, char *buf, size_t buf_size, mcl_error *err) {
    mcl_graph g = {0};
    mcl_status st = mcl_graph_plan(model, (mcl_shape){1, rows, cols}, num_classes, &g, err);
    if (st != MCL_OK) return st;
    text_buf t = {.buf = buf, .size = buf_size};
    const char *rule = "________________________________________________________________________\n";
    const char *dbl = "========================================================================\n";
    append(&t, "Model: \"%s\"\n%s", model->name, rule);
    append(&t, " %-36s %-22s %-10s\n%s", "Layer (type)", "Output Shape", "Param #", dbl);
    uint64_t trainable = 0, fixed = 0;
    for (uint32_t i = 0; i < g.node_count; i++) {
        const mcl_node *node = &g.nodes[i];
        if (fused_head(&g, i)) continue;
        char label[64], shape[48], params[32];
        snprintf(label, sizeof label, "%s (%s)", node->name, node->op->keras_name);
        shape_str(node->out_shape, shape, sizeof shape);
        /* As Keras: a layer's count includes its non-trainable weights (moving statistics). */
        with_commas(node->param_count + node->state_count, params, sizeof params);
        append(&t, " %-36s %-22s %-10s\n", label, shape, params);
        trainable += node->param_count;
        fixed += node->state_count;
    }
    char total_str[32], trainable_str[32], fixed_str[32];
    with_commas(trainable + fixed, total_str, sizeof total_str);
    with_commas(trainable, trainable_str, sizeof trainable_str);
    with_commas(fixed, fixed_str, sizeof fixed_str);
    append(&t, "%sTotal params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s", dbl,
           total_str, trainable_str, fixed_str, rule);
    free(g.nodes);
    if (t.truncated)
        return mcl_fail(err, MCL_ERR_USAGE, "summary buffer of %zu bytes is too small", buf_size);
    return MCL_OK;
}

mcl_status mcl_model_summary_json(const mcl_model *model, uint32_t rows, uint32_t cols,
                                  uint32_t num_classes, char **out, mcl_error *err) {
    *out = NULL;
    mcl_graph g = {0};
    mcl_status st = mcl_graph_plan(model, (mcl_shape){1, rows, cols}, num_classes, &g, err);
    if (st != MCL_OK) return st;
    mcl_text t = {0};
    mcl_text_add(&t, "{\"model\": ");
    mcl_text_json_string(&t, model->name);
    mcl_text_add(&t, ", \"input_shape\": [null, %u, %u, 1], \"classes\": %u, \"layers\": [", rows,
                 cols, num_classes);
    uint64_t trainable = 0, fixed = 0;
    bool first = true;
    for (uint32_t i = 0; i < g.node_count; i++) {
        const mcl_node *node = &g.nodes[i];
        if (fused_head(&g, i)) continue;
        mcl_shape s = node->out_shape;
        mcl_text_add(&t, "%s\n  {\"name\": \"%s\", \"type\": \"%s\", \"output_shape\": ",
                     first ? "" : ",", node->name, node->op->keras_name);
        if (s.h == 1 && s.w == 1)
            mcl_text_add(&t, "[null, %u]", s.c);
        else
            mcl_text_add(&t, "[null, %u, %u, %u]", s.h, s.w, s.c);
        mcl_text_add(&t, ", \"params\": %llu, \"trainable_params\": %llu}",
                     (unsigned long long)(node->param_count + node->state_count),
                     (unsigned long long)node->param_count);
        trainable += node->param_count;
        fixed += node->state_count;
        first = false;
    }
    mcl_text_add(&t,
                 "\n],\n \"total_params\": %llu, \"trainable_params\": %llu, "
                 "\"non_trainable_params\": %llu}\n",
                 (unsigned long long)(trainable + fixed), (unsigned long long)trainable,
                 (unsigned long long)fixed);
    free(g.nodes);
    *out = mcl_text_take(&t);
    return *out != NULL
               ? MCL_OK
               : mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the model summary");
}
