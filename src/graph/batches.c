/* A trainer's datasets on the device and the batch pipeline that training and evaluation share:
 * the uint8 images and labels stay resident, and each batch is gathered (and scaled, or
 * augmented) on the device from an index array, run forward, and its loss and accuracy summed
 * into its own metric slot, which the host reads back in one go. Also the two rules every
 * caller uses: how large a batch may be, and how many steps an epoch has. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/trainer.h"
#include "ops/augment.h"

uint32_t mcl_steps_per_epoch(uint32_t images, uint32_t batch_size) {
    if (batch_size == 0) return 0;
    return images / batch_size + (images % batch_size != 0);
}

mcl_status mcl_trainer_check_batch(const mcl_trainer *t, uint32_t batch, const char *what,
                                   mcl_error *err) {
    if (batch >= 1 && batch <= t->graph->max_batch) return MCL_OK;
    return mcl_fail(err, MCL_ERR_USAGE,
                    "%s %u is outside 1..%u (the largest batch the trainer was created for)", what,
                    batch, t->graph->max_batch);
}

void mcl_device_data_free(mcl_device_data *d) {
    cl_mem bufs[] = {d->pixels, d->labels, d->order};
    for (int i = 0; i < 3; i++)
        if (bufs[i] != NULL) mcl_cl_release_mem(bufs[i]);
    memset(d, 0, sizeof *d);
}

mcl_status mcl_device_data_upload(mcl_trainer *t, const mcl_dataset *ds, mcl_device_data *d,
                                  mcl_error *err) {
    memset(d, 0, sizeof *d);
    const mcl_graph *g = t->graph;
    uint32_t features = mcl_shape_size(g->input_shape);
    if (mcl_dataset_rows(ds) * mcl_dataset_cols(ds) != features)
        return mcl_fail(err, MCL_ERR_MODEL,
                        "%s: images are %ux%u but the model was built for %ux%u",
                        mcl_dataset_images_path(ds), mcl_dataset_rows(ds), mcl_dataset_cols(ds),
                        g->input_shape.h, g->input_shape.w);
    mcl_status st = mcl_dataset_check_labels(ds, g->classes, err);
    if (st != MCL_OK) return st;
    d->count = mcl_dataset_count(ds);
    size_t n = d->count;
    uint32_t *order = mcl_malloc(n * sizeof *order);
    if (order == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the sample order");
    for (uint32_t i = 0; i < d->count; i++)
        order[i] = i;
    cl_command_queue q = t->ctx->queue;
    st = mcl_buffer_create(t->ctx, n * features, &d->pixels, "the images", err);
    if (st == MCL_OK) st = mcl_buffer_create(t->ctx, n, &d->labels, "the labels", err);
    if (st == MCL_OK)
        st = mcl_buffer_create(t->ctx, n * sizeof(cl_uint), &d->order, "the sample order", err);
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, d->pixels, CL_FALSE, 0, n * features,
                                               mcl_dataset_pixels(ds), 0, NULL, NULL),
                          err, "uploading images");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, d->labels, CL_FALSE, 0, n, mcl_dataset_labels(ds),
                                               0, NULL, NULL),
                          err, "uploading labels");
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(q, d->order, CL_TRUE, 0, n * sizeof(cl_uint), order,
                                               0, NULL, NULL),
                          err, "uploading the sample order");
    free(order);
    if (st != MCL_OK) {
        /* The pixel and label uploads do not block: a failure after them returns to a caller
         * that frees the dataset they read from, so they must be done first. */
        mcl_cl_drain(q);
        mcl_device_data_free(d);
    }
    return st;
}

mcl_status mcl_trainer_enqueue_forward(mcl_trainer *t, const mcl_device_data *d, uint32_t base,
                                       uint32_t n, const mcl_exec *ex, const mcl_augment *augment,
                                       cl_mem step_metrics, uint32_t slot, mcl_error *err) {
    mcl_graph *g = t->graph;
    cl_uint features = mcl_shape_size(g->input_shape);
    mcl_status st;
    if (augment != NULL) {
        st = mcl_augment_enqueue(t->ctx, t->gather_augment, d->pixels, d->labels, d->order, base, n,
                                 g->input_shape.h, g->input_shape.w, augment, t->seed,
                                 t->epochs_done, g->input, g->labels, err);
    } else {
        st = mcl_gather_enqueue(t->ctx, t->gather, d->pixels, d->labels, d->order, base, n,
                                features, g->input, g->labels, err);
    }
    if (st == MCL_OK) st = mcl_profile_mark(ex->profiler, t->ctx->queue, MCL_PHASE_DATA, 0, err);
    if (st == MCL_OK) st = mcl_graph_forward(g, ex, err);
    cl_uint nn = n, s = slot;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(t->metrics, err, MCL_ARG(g->sample_loss), MCL_ARG(g->sample_correct),
                          MCL_ARG(nn), MCL_ARG(step_metrics), MCL_ARG(s),
                          MCL_LOCAL_ARG(2 * t->metrics_group * sizeof(float)));
    if (st == MCL_OK)
        st = mcl_enqueue_local(t->ctx, t->metrics, 1, &t->metrics_group, &t->metrics_group, err);
    if (st == MCL_OK) st = mcl_profile_mark(ex->profiler, t->ctx->queue, MCL_PHASE_METRICS, 0, err);
    return st;
}

mcl_status mcl_trainer_read_metrics(mcl_trainer *t, cl_mem step_metrics, uint32_t first,
                                    uint32_t end, float *host, double *loss_sum,
                                    double *correct_sum, mcl_error *err) {
    *loss_sum = *correct_sum = 0.0;
    if (end <= first) return MCL_OK;
    MCL_CL_TRY(clEnqueueReadBuffer(
                   t->ctx->queue, step_metrics, CL_TRUE, (size_t)first * 2 * sizeof(float),
                   (size_t)(end - first) * 2 * sizeof(float), host + 2 * first, 0, NULL, NULL),
               err, "reading metrics");
    double l = 0.0, c = 0.0;
    for (uint32_t s = first; s < end; s++) {
        l += host[2 * s];
        c += host[2 * s + 1];
    }
    *loss_sum = l;
    *correct_sum = c;
    return MCL_OK;
}
