/* Inference: loss and accuracy over a dataset (evaluation, also the validation pass of a fit)
 * and class probabilities for images the caller hands over (prediction). The graph runs in
 * inference mode: dropout is the identity, BatchNorm uses its moving statistics. The loss is
 * the recipe's, as Keras's evaluation loss is: label smoothing and the L2 term included. */
#include <stdlib.h>

#include "core/alloc.h"
#include "graph/trainer.h"

mcl_status mcl_trainer_evaluate_resident(mcl_trainer *t, const mcl_device_data *d, uint32_t batch,
                                         double *loss, double *accuracy, float *probs,
                                         mcl_error *err) {
    uint32_t steps = mcl_steps_per_epoch(d->count, batch);
    float *host = mcl_malloc((size_t)steps * 2 * sizeof(float));
    if (host == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the evaluation metrics");
    cl_mem metrics = NULL;
    mcl_status st = mcl_buffer_create(t->ctx, (size_t)steps * 2 * sizeof(float), &metrics,
                                      "evaluation metrics", err);
    for (uint32_t s = 0; s < steps && st == MCL_OK; s++) {
        uint32_t base = s * batch, n = d->count - base < batch ? d->count - base : batch;
        mcl_exec ex = mcl_graph_exec(t->graph, n, 0, t->seed, false);
        st = mcl_trainer_enqueue_forward(t, d, base, n, &ex, NULL, metrics, s, err);
        /* The softmax head's output; the in-order queue finishes this read before the next
         * batch overwrites it, and the blocking metrics read below waits for all of them. */
        size_t classes = t->graph->classes;
        if (st == MCL_OK && probs != NULL)
            st = MCL_CL_CHECK(clEnqueueReadBuffer(t->ctx->queue,
                                                  t->graph->nodes[t->graph->node_count - 1].y,
                                                  CL_FALSE, 0, (size_t)n * classes * sizeof(float),
                                                  probs + (size_t)base * classes, 0, NULL, NULL),
                              err, "reading predictions");
    }
    /* The L2 regulariser's term, as in Keras's evaluation loss: l2 sum(w^2) per sample. */
    if (st == MCL_OK && t->recipe.l2 > 0.0f && steps > 0) {
        if (t->l2 == NULL) st = mcl_l2_create(t->ctx, t->segments, t->segment_count, &t->l2, err);
        if (st == MCL_OK)
            st = mcl_l2_enqueue(t->l2, t->graph->params, NULL, t->recipe.l2, metrics, 0, d->count,
                                err);
    }
    double l = 0, c = 0;
    if (st == MCL_OK) st = mcl_trainer_read_metrics(t, metrics, 0, steps, host, &l, &c, err);
    /* On failure the non-blocking prediction reads may still be writing into the caller's
     * `probs`, which it frees when it sees the error. */
    if (st != MCL_OK && probs != NULL) mcl_cl_drain(t->ctx->queue);
    if (st == MCL_OK) {
        *loss = l / d->count;
        *accuracy = c / d->count;
    }
    if (metrics != NULL) mcl_cl_release_mem(metrics);
    free(host);
    return st;
}

mcl_status mcl_trainer_evaluate(mcl_trainer *t, const mcl_dataset *data, uint32_t batch_size,
                                mcl_eval_result *out, mcl_error *err) {
    return mcl_trainer_evaluate_probs(t, data, batch_size, out, NULL, err);
}

mcl_status mcl_trainer_evaluate_probs(mcl_trainer *t, const mcl_dataset *data, uint32_t batch_size,
                                      mcl_eval_result *out, float *probs, mcl_error *err) {
    mcl_status st = mcl_trainer_check_batch(t, batch_size, "the evaluation batch size", err);
    if (st != MCL_OK) return st;
    mcl_device_data d = {0};
    st = mcl_device_data_upload(t, data, &d, err);
    if (st == MCL_OK)
        st = mcl_trainer_evaluate_resident(t, &d, batch_size, &out->loss, &out->accuracy, probs,
                                           err);
    out->count = d.count;
    mcl_device_data_free(&d);
    return st;
}

mcl_status mcl_trainer_predict(mcl_trainer *t, const float *images, uint32_t n, float *probs,
                               mcl_error *err) {
    mcl_graph *g = t->graph;
    size_t features = mcl_shape_size(g->input_shape);
    cl_command_queue q = t->ctx->queue;
    const cl_int zero = 0;
    mcl_status st =
        mcl_fill(t->ctx, g->labels, &zero, sizeof zero, 0, (size_t)g->max_batch * sizeof(cl_int),
                 "clearing labels for prediction", err);
    /* The last node is the softmax head: its output holds the probabilities. */
    cl_mem out = g->nodes[g->node_count - 1].y;
    for (uint32_t base = 0; base < n && st == MCL_OK; base += g->max_batch) {
        uint32_t m = n - base < g->max_batch ? n - base : g->max_batch;
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, g->input, CL_FALSE, 0,
                                               (size_t)m * features * sizeof(float),
                                               images + (size_t)base * features, 0, NULL, NULL),
                          err, "uploading images for prediction");
        mcl_exec ex = mcl_graph_exec(g, m, 0, t->seed, false);
        if (st == MCL_OK) st = mcl_graph_forward(g, &ex, err);
        if (st == MCL_OK)
            st = MCL_CL_CHECK(clEnqueueReadBuffer(q, out, CL_TRUE, 0,
                                                  (size_t)m * g->classes * sizeof(float),
                                                  probs + (size_t)base * g->classes, 0, NULL, NULL),
                              err, "reading predictions");
    }
    /* A failed forward leaves the non-blocking upload reading `images`, which the caller frees
     * when it sees the error. */
    if (st != MCL_OK) mcl_cl_drain(q);
    return st;
}
