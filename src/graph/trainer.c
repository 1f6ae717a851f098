/* The training scheduler. The uint8 dataset lives on the device; each epoch the host uploads
 * one shuffled index array and then only enqueues work: gather + scale the batch, forward,
 * per-batch metric sums into their own slot, backward, optimizer. The host never waits for a
 * step except to keep at most MAX_STEPS_IN_FLIGHT queued (flow control, the device stays busy)
 * and when the progress callback asks for running metrics (a few times a second at most).
 * Metric slots are summed on the host in double once per epoch. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/augment.h"
#include "graph/graph.h"
#include "device/kernel_profile.h"
#include "graph/profile.h"
#include "graph/scheduler.h"
#include "store/checkpoint.h"
#include "ops/optim.h"

#define MAX_STEPS_IN_FLIGHT 8

struct mcl_trainer {
    mcl_context *ctx; /* borrowed */
    mcl_graph *graph;
    mcl_optim *optim; /* created by the first fit */
    cl_kernel gather, gather_augment, metrics;
    size_t metrics_group; /* work-group size of metrics_reduce, a power of two */
    uint64_t seed;
    uint32_t step;        /* training steps so far: the dropout counter */
    uint32_t epochs_done; /* the shuffle counter */
    /* A fit stopped mid-epoch (interrupt or callback): steps of epoch epochs_done+1 already
     * taken and their loss / correct-prediction sums; 0 at an epoch boundary. */
    uint32_t epoch_step;
    double epoch_loss_sum, epoch_correct_sum;
    char *model_text; /* owned copy, for checkpoints */
    uint32_t rows, cols, classes;
    mcl_recipe recipe;              /* of the latest fit, for checkpoints */
    cl_mem best_params, best_state; /* early stopping's best weights (created on demand) */
    mcl_profiler *profiler;         /* when the context profiles (train --profile), owned */
    mcl_epoch_result *history;      /* [history_count] every epoch of the run, owned */
    size_t history_count;
};

/* Appends an epoch to the run's history (kept in checkpoints, so a resumed run's history
 * file starts with the epochs before the interruption). */
static mcl_status history_append(mcl_trainer *t, const mcl_epoch_result *r, mcl_error *err) {
    mcl_epoch_result *h = realloc(t->history, (t->history_count + 1) * sizeof *h);
    if (h == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    t->history = h;
    h[t->history_count++] = *r;
    return MCL_OK;
}

/* A dataset resident on the device. */
typedef struct device_data {
    cl_mem pixels; /* [count, F] uint8 */
    cl_mem labels; /* [count] uint8 */
    cl_mem order;  /* [count] uint32: sample order of the current pass */
    uint32_t count;
} device_data;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void device_data_free(device_data *d) {
    cl_mem bufs[] = {d->pixels, d->labels, d->order};
    for (int i = 0; i < 3; i++)
        if (bufs[i] != NULL) clReleaseMemObject(bufs[i]);
    memset(d, 0, sizeof *d);
}

static mcl_status device_data_upload(mcl_trainer *t, const mcl_dataset *ds, device_data *d,
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
    uint32_t *order = malloc(n * sizeof *order);
    if (order == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
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
    if (st != MCL_OK) device_data_free(d);
    return st;
}

mcl_status mcl_trainer_create(mcl_context *ctx, const mcl_model *model, uint32_t rows,
                              uint32_t cols, uint32_t num_classes, uint32_t max_batch,
                              uint64_t seed, mcl_trainer **out, mcl_error *err) {
    *out = NULL;
    if (rows == 0 || cols == 0 || num_classes < 2)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "the input must be at least 1x1 with at least 2 classes");
    mcl_trainer *t = calloc(1, sizeof *t);
    if (t == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    t->ctx = ctx;
    t->seed = seed;
    t->rows = rows;
    t->cols = cols;
    t->classes = num_classes;
    t->recipe = model->recipe;
    t->model_text = strdup(model->text);
    if (t->model_text == NULL) {
        free(t);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    }
    mcl_status st = mcl_graph_create(ctx, model, (mcl_shape){1, rows, cols}, num_classes, max_batch,
                                     seed, &t->graph, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "gather_batch", &t->gather, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "gather_batch_augment", &t->gather_augment, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "metrics_reduce", &t->metrics, err);
    if (st == MCL_OK && ctx->profiling &&
        (t->profiler = mcl_profiler_create(t->graph->node_count)) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == MCL_OK) {
        /* A power of two (the kernel's tree), at most 256, two local floats per work-item. */
        size_t limit = 0;
        st = mcl_kernel_group_limit(ctx, t->metrics, 0, 2 * sizeof(float), &limit, err);
        if (limit > 256) limit = 256;
        t->metrics_group = 1;
        while (t->metrics_group * 2 <= limit)
            t->metrics_group *= 2;
    }
    if (st != MCL_OK) {
        mcl_trainer_free(t);
        return st;
    }
    *out = t;
    return MCL_OK;
}

/* Enqueues gather (augmented when `augment` is not NULL) + forward (+ metric sums into
 * `slot`) for samples [base, base+n). */
static mcl_status enqueue_forward(mcl_trainer *t, const device_data *d, uint32_t base, uint32_t n,
                                  const mcl_exec *ex, const mcl_augment *augment,
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

/* Reads slots [first, end) and sums them in double. */
static mcl_status read_metrics(mcl_trainer *t, cl_mem step_metrics, uint32_t first, uint32_t end,
                               float *host, double *loss_sum, double *correct_sum, mcl_error *err) {
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

static uint32_t steps_for(uint32_t count, uint32_t batch) {
    return (count + batch - 1) / batch;
}

/* Inference over a resident dataset (identity order) into loss/accuracy means and, if probs is
 * not NULL, every sample's class probabilities [count, classes]. */
static mcl_status evaluate_resident(mcl_trainer *t, const device_data *d, uint32_t batch,
                                    double *loss, double *accuracy, float *probs, mcl_error *err) {
    uint32_t steps = steps_for(d->count, batch);
    float *host = malloc((size_t)steps * 2 * sizeof(float));
    if (host == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    cl_mem metrics = NULL;
    mcl_status st = mcl_buffer_create(t->ctx, (size_t)steps * 2 * sizeof(float), &metrics,
                                      "evaluation metrics", err);
    for (uint32_t s = 0; s < steps && st == MCL_OK; s++) {
        uint32_t base = s * batch, n = d->count - base < batch ? d->count - base : batch;
        mcl_exec ex = mcl_graph_exec(t->graph, n, 0, t->seed, false);
        st = enqueue_forward(t, d, base, n, &ex, NULL, metrics, s, err);
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
    double l = 0, c = 0;
    if (st == MCL_OK) st = read_metrics(t, metrics, 0, steps, host, &l, &c, err);
    if (st == MCL_OK) {
        *loss = l / d->count;
        *accuracy = c / d->count;
    }
    if (metrics != NULL) clReleaseMemObject(metrics);
    free(host);
    return st;
}

/* The learning rate of step `k` of a run of `total` steps, `per_epoch` steps an epoch: linear
 * warm-up from 0 over the first warmup_epochs, then the schedule over the remaining steps. */
static float scheduled_lr(const mcl_recipe *r, uint64_t k, uint64_t total, uint64_t per_epoch) {
    double base = r->learning_rate;
    uint64_t warmup = (uint64_t)r->warmup_epochs * per_epoch;
    if (warmup > total) warmup = total;
    if (k < warmup) return (float)(base * (double)(k + 1) / (double)warmup);
    k -= warmup;
    total -= warmup;
    if (r->lr_schedule == MCL_LR_COSINE && total > 0) {
        double progress = (double)(k < total ? k : total) / (double)total;
        return (float)(base * 0.5 * (1.0 + cos(3.14159265358979323846 * progress)));
    }
    if (r->lr_schedule == MCL_LR_STEP && r->lr_decay_epochs > 0 && per_epoch > 0) {
        uint64_t drops = k / (per_epoch * r->lr_decay_epochs);
        return (float)(base * pow((double)r->lr_decay_rate, (double)drops));
    }
    return (float)base;
}

typedef struct epoch_pass {
    uint32_t epoch, epochs, steps, batch;
    uint64_t fit_step, fit_steps; /* position within the run, for the LR schedule */
    float last_lr;
    cl_mem metrics;
    float *host_metrics;
    const mcl_fit_options *options;
    double start;
    bool stop_requested;
} epoch_pass;

/* The first step whose loss sum is not finite, for the divergence message. */
static uint32_t first_bad_step(const float *host, uint32_t first, uint32_t steps) {
    for (uint32_t s = first; s < steps; s++)
        if (!isfinite(host[2 * s])) return s;
    return steps;
}

static mcl_status train_epoch(mcl_trainer *t, device_data *d, epoch_pass *p, double *loss,
                              double *accuracy, mcl_error *err) {
    mcl_context *ctx = t->ctx;
    mcl_graph *g = t->graph;
    uint32_t *order = malloc((size_t)d->count * sizeof *order);
    if (order == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    mcl_epoch_order(t->seed, t->epochs_done, d->count, order);
    /* The queue is idle here (the previous epoch ended with a read), so a blocking write costs
     * nothing extra and lets `order` be freed at once. */
    mcl_status st =
        MCL_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, d->order, CL_TRUE, 0,
                                          (size_t)d->count * sizeof(cl_uint), order, 0, NULL, NULL),
                     err, "uploading the epoch's sample order");
    free(order);
    cl_event in_flight[MAX_STEPS_IN_FLIGHT] = {0};
    double last_progress = now_seconds();
    mcl_kernel_profile_enable(ctx->kernel_profile, true);
    const mcl_fit_options *o = p->options;
    /* A fit that stopped mid-epoch resumes at its next step, with the same order. */
    const uint32_t first = t->epoch_step;
    uint32_t s = first;
    for (; s < p->steps && st == MCL_OK && !p->stop_requested; s++) {
        cl_event *slot = &in_flight[s % MAX_STEPS_IN_FLIGHT];
        if (*slot != NULL) {
            st = MCL_CL_CHECK(clWaitForEvents(1, slot), err, "waiting for a training step");
            clReleaseEvent(*slot);
            *slot = NULL;
            if (st != MCL_OK) break;
        }
        uint32_t base = s * p->batch;
        uint32_t n = d->count - base < p->batch ? d->count - base : p->batch;
        mcl_exec ex = mcl_graph_exec(g, n, t->step, t->seed, true);
        ex.profiler = t->profiler;
        st = mcl_profile_mark(t->profiler, ctx->queue, MCL_PHASE_STEP_START, 0, err);
        const mcl_augment *aug = o->recipe.augment.enabled ? &o->recipe.augment : NULL;
        if (st == MCL_OK) st = enqueue_forward(t, d, base, n, &ex, aug, p->metrics, s, err);
        if (st == MCL_OK) st = mcl_graph_backward(g, &ex, err);
        float lr = scheduled_lr(&o->recipe, p->fit_step++, p->fit_steps, p->steps);
        p->last_lr = lr;
        /* The optimizer's launch ends the step: its event is what a later step waits for (a
         * marker would cost one more command for the driver's threads to pass). */
        if (st == MCL_OK) st = mcl_optim_step(t->optim, g->params, g->grads, lr, slot, err);
        g->grads_zero = st == MCL_OK;
        if (st == MCL_OK)
            st = mcl_profile_mark(t->profiler, ctx->queue, MCL_PHASE_OPTIMIZER, 0, err);
        if (st == MCL_OK) st = MCL_CL_CHECK(clFlush(ctx->queue), err, "submitting a step");
        t->step++;
        /* An interrupt (Ctrl-C) lets this step finish and stops before the next one. */
        if (o->interrupt != NULL && *o->interrupt != 0) p->stop_requested = true;
        double now = now_seconds();
        if (st == MCL_OK && o->on_progress != NULL && s + 1 < p->steps &&
            now - last_progress >= o->progress_interval_s) {
            double l = 0, c = 0;
            st = read_metrics(t, p->metrics, first, s + 1, p->host_metrics, &l, &c, err);
            l += t->epoch_loss_sum;
            c += t->epoch_correct_sum;
            uint32_t seen = (s + 1) * p->batch;
            mcl_progress pr = {.epoch = p->epoch,
                               .epochs = p->epochs,
                               .step = s + 1,
                               .steps = p->steps,
                               .seconds = now_seconds() - p->start,
                               .loss = l / seen,
                               .accuracy = c / seen};
            if (st == MCL_OK && !o->on_progress(&pr, o->user)) p->stop_requested = true;
            last_progress = now_seconds();
        }
    }
    mcl_kernel_profile_enable(ctx->kernel_profile, false);
    for (int i = 0; i < MAX_STEPS_IN_FLIGHT; i++)
        if (in_flight[i] != NULL) clReleaseEvent(in_flight[i]);
    double l = 0, c = 0;
    if (st == MCL_OK) st = read_metrics(t, p->metrics, first, s, p->host_metrics, &l, &c, err);
    /* The blocking read above means every marker and launch of the epoch has completed. */
    if (st == MCL_OK) st = mcl_profile_collect(t->profiler, err);
    if (st == MCL_OK) st = mcl_kernel_profile_collect(ctx->kernel_profile, err);
    if (st == MCL_OK) {
        l += t->epoch_loss_sum;
        c += t->epoch_correct_sum;
        uint32_t seen = s == p->steps ? d->count : s * p->batch;
        *loss = l / seen;
        *accuracy = c / seen;
        if (!isfinite(*loss))
            st = mcl_fail(err, MCL_ERR_DIVERGED,
                          "training diverged: the loss became non-finite at epoch %u, step %u; "
                          "try a lower learning rate (--lr)",
                          p->epoch, first_bad_step(p->host_metrics, first, s) + 1);
    }
    /* Stopped before the end: remember where, so that a later fit (or a checkpoint) carries on
     * with the same sample order and metric sums. */
    bool finished = s == p->steps;
    t->epoch_step = finished ? 0 : s;
    t->epoch_loss_sum = finished ? 0.0 : l;
    t->epoch_correct_sum = finished ? 0.0 : c;
    p->steps = s;
    return st;
}

/* Copies the parameters and state between the graph and early stopping's backup. */
static mcl_status copy_weights(mcl_trainer *t, bool to_backup, mcl_error *err) {
    mcl_graph *g = t->graph;
    size_t pbytes = g->param_count * sizeof(float), sbytes = g->state_count * sizeof(float);
    mcl_status st = MCL_OK;
    if (t->best_params == NULL)
        st = mcl_buffer_create(t->ctx, pbytes, &t->best_params, "the best weights", err);
    if (st == MCL_OK && sbytes > 0 && t->best_state == NULL)
        st = mcl_buffer_create(t->ctx, sbytes, &t->best_state, "the best layer state", err);
    if (st != MCL_OK) return st;
    cl_command_queue q = t->ctx->queue;
    st = MCL_CL_CHECK(clEnqueueCopyBuffer(q, to_backup ? g->params : t->best_params,
                                          to_backup ? t->best_params : g->params, 0, 0, pbytes, 0,
                                          NULL, NULL),
                      err, "keeping the best weights");
    if (st == MCL_OK && sbytes > 0)
        st = MCL_CL_CHECK(clEnqueueCopyBuffer(q, to_backup ? g->state : t->best_state,
                                              to_backup ? t->best_state : g->state, 0, 0, sbytes, 0,
                                              NULL, NULL),
                          err, "keeping the best layer state");
    return st;
}

static mcl_status check_fit_options(const mcl_trainer *t, const mcl_dataset *val,
                                    const mcl_fit_options *o, mcl_error *err) {
    const mcl_recipe *r = &o->recipe;
    if (r->batch_size == 0 || r->batch_size > t->graph->max_batch)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "batch size %u is outside 1..%u (the trainer's maximum)", r->batch_size,
                        t->graph->max_batch);
    if (!(r->learning_rate > 0.0f) || !isfinite(r->learning_rate))
        return mcl_fail(err, MCL_ERR_USAGE, "the learning rate must be positive");
    if (r->lr_schedule == MCL_LR_STEP && (r->lr_decay_epochs == 0 || !(r->lr_decay_rate > 0.0f)))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "step decay needs a decay rate > 0 and a number of epochs >= 1");
    if (o->initial_epoch > r->epochs)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "the run already has %u epochs; ask for more than that to continue",
                        o->initial_epoch);
    if (t->epoch_step > 0 &&
        (o->initial_epoch != t->epochs_done || r->batch_size != t->recipe.batch_size))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "the run stopped %u steps into epoch %u: continue it from there with its "
                        "batch size (%u)",
                        t->epoch_step, t->epochs_done + 1, t->recipe.batch_size);
    if (o->early_stopping_patience > 0 && val == NULL)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "early stopping watches the validation loss: give a validation set "
                        "(--validation-split)");
    return MCL_OK;
}

mcl_status mcl_trainer_fit(mcl_trainer *t, const mcl_dataset *train, const mcl_dataset *val,
                           const mcl_fit_options *options, mcl_error *err) {
    const mcl_recipe *r = &options->recipe;
    mcl_status st = check_fit_options(t, val, options, err);
    if (st != MCL_OK) return st;
    /* A later fit continues the optimizer state; a different optimizer starts afresh. */
    if (t->optim != NULL && mcl_optim_kind(t->optim) != r->optimizer) {
        mcl_optim_free(t->optim);
        t->optim = NULL;
    }
    if (t->optim == NULL) {
        st = mcl_optim_create(t->ctx, r, t->graph->param_count, &t->optim, err);
        if (st != MCL_OK) return st;
    }
    mcl_optim_set_momentum(t->optim, r->momentum);
    t->recipe = *r;
    device_data dtrain = {0}, dval = {0}, dmonitor = {0};
    cl_mem metrics = NULL;
    float *host = NULL;
    uint32_t steps = steps_for(mcl_dataset_count(train), r->batch_size);
    st = device_data_upload(t, train, &dtrain, err);
    if (st == MCL_OK && val != NULL) st = device_data_upload(t, val, &dval, err);
    if (st == MCL_OK && options->monitor != NULL)
        st = device_data_upload(t, options->monitor, &dmonitor, err);
    if (st == MCL_OK)
        st = mcl_buffer_create(t->ctx, (size_t)steps * 2 * sizeof(float), &metrics,
                               "training metrics", err);
    if (st == MCL_OK && (host = malloc((size_t)steps * 2 * sizeof(float))) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == MCL_OK && t->epoch_step >= steps)
        st = mcl_fail(err, MCL_ERR_USAGE,
                      "the run stopped %u steps into epoch %u, but an epoch of this data has %u "
                      "steps: continue it on the same data",
                      t->epoch_step, t->epochs_done + 1, steps);
    /* The schedule spans the whole run, so a resumed fit picks it up where it stopped. */
    uint64_t fit_step = (uint64_t)steps * options->initial_epoch + t->epoch_step;
    double best_val = INFINITY;
    uint32_t since_best = 0;
    bool have_best = false;
    for (uint32_t e = options->initial_epoch + 1; e <= r->epochs && st == MCL_OK; e++) {
        epoch_pass pass = {.epoch = e,
                           .fit_step = fit_step,
                           .fit_steps = (uint64_t)steps * r->epochs,
                           .epochs = r->epochs,
                           .steps = steps,
                           .batch = r->batch_size,
                           .metrics = metrics,
                           .host_metrics = host,
                           .options = options,
                           .start = now_seconds()};
        mcl_epoch_result res = {.epoch = e, .epochs = r->epochs, .resumed_at = t->epoch_step};
        st = train_epoch(t, &dtrain, &pass, &res.loss, &res.accuracy, err);
        if (st != MCL_OK) break;
        res.steps = pass.steps;
        res.learning_rate = pass.last_lr;
        fit_step = pass.fit_step;
        res.train_seconds = now_seconds() - pass.start;
        if (t->epoch_step > 0) break; /* stopped mid-epoch: not an epoch done */
        t->epochs_done++;
        /* A stop on the epoch's last step still validates and reports the epoch. */
        if (val != NULL) {
            st = evaluate_resident(t, &dval, r->batch_size, &res.val_loss, &res.val_accuracy, NULL,
                                   err);
            res.has_validation = true;
            res.improved = st == MCL_OK && res.val_loss < best_val;
            if (res.improved) {
                best_val = res.val_loss;
                since_best = 0;
                if (options->early_stopping_patience > 0) {
                    st = copy_weights(t, true, err);
                    have_best = true;
                }
            } else {
                since_best++;
            }
        }
        if (st == MCL_OK && options->monitor != NULL) {
            st = evaluate_resident(t, &dmonitor, r->batch_size, &res.monitor_loss,
                                   &res.monitor_accuracy, NULL, err);
            res.has_monitor = true;
            res.reached_target = options->target_accuracy > 0.0 &&
                                 res.monitor_accuracy >= options->target_accuracy;
        }
        res.seconds = now_seconds() - pass.start;
        if (st == MCL_OK) st = history_append(t, &res, err);
        if (st == MCL_OK && options->on_epoch != NULL && !options->on_epoch(&res, options->user))
            break;
        if (options->early_stopping_patience > 0 && since_best >= options->early_stopping_patience)
            break;
        if (res.reached_target) break;
        if (pass.stop_requested) break;
    }
    /* Keras EarlyStopping(restore_best_weights=True) restores when it stopped or finished. */
    if (st == MCL_OK && have_best) st = copy_weights(t, false, err);
    if (metrics != NULL) clReleaseMemObject(metrics);
    free(host);
    device_data_free(&dtrain);
    device_data_free(&dval);
    device_data_free(&dmonitor);
    return st;
}

mcl_status mcl_trainer_evaluate(mcl_trainer *t, const mcl_dataset *data, uint32_t batch_size,
                                mcl_eval_result *out, mcl_error *err) {
    return mcl_trainer_evaluate_probs(t, data, batch_size, out, NULL, err);
}

mcl_status mcl_trainer_evaluate_probs(mcl_trainer *t, const mcl_dataset *data, uint32_t batch_size,
                                      mcl_eval_result *out, float *probs, mcl_error *err) {
    if (batch_size == 0 || batch_size > t->graph->max_batch) batch_size = t->graph->max_batch;
    device_data d = {0};
    mcl_status st = device_data_upload(t, data, &d, err);
    if (st == MCL_OK)
        st = evaluate_resident(t, &d, batch_size, &out->loss, &out->accuracy, probs, err);
    out->count = d.count;
    device_data_free(&d);
    return st;
}

uint64_t mcl_trainer_param_count(const mcl_trainer *t) {
    return t->graph->trainable;
}

double mcl_trainer_train_flops_per_sample(const mcl_trainer *t) {
    return mcl_graph_train_flops_per_sample(t->graph);
}

mcl_status mcl_trainer_read_params(mcl_trainer *t, float *dst, mcl_error *err) {
    const mcl_graph *g = t->graph;
    float *all = malloc(g->param_count * sizeof *all + 1);
    if (all == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    mcl_status st =
        MCL_CL_CHECK(clEnqueueReadBuffer(t->ctx->queue, g->params, CL_TRUE, 0,
                                         g->param_count * sizeof(float), all, 0, NULL, NULL),
                     err, "reading parameters");
    size_t k = 0;
    for (uint32_t i = 0; i < g->node_count && st == MCL_OK; i++) {
        memcpy(dst + k, all + g->nodes[i].param_offset, g->nodes[i].param_count * sizeof(float));
        k += g->nodes[i].param_count;
    }
    free(all);
    return st;
}

void mcl_trainer_free(mcl_trainer *t) {
    if (t == NULL) return;
    if (t->ctx != NULL) clFinish(t->ctx->queue);
    if (t->gather != NULL) clReleaseKernel(t->gather);
    if (t->gather_augment != NULL) clReleaseKernel(t->gather_augment);
    if (t->metrics != NULL) clReleaseKernel(t->metrics);
    mcl_optim_free(t->optim);
    if (t->best_params != NULL) clReleaseMemObject(t->best_params);
    if (t->best_state != NULL) clReleaseMemObject(t->best_state);
    mcl_graph_free(t->graph);
    free(t->model_text);
    free(t->history);
    mcl_profiler_free(t->profiler);
    free(t);
}

/* ---------------------------------------------------------------- checkpoints */

static mcl_status read_buffer(mcl_trainer *t, cl_mem buf, size_t floats, float *dst,
                              const char *what, mcl_error *err) {
    if (floats == 0) return MCL_OK;
    return MCL_CL_CHECK(clEnqueueReadBuffer(t->ctx->queue, buf, CL_TRUE, 0, floats * sizeof(float),
                                            dst, 0, NULL, NULL),
                        err, what);
}

static mcl_status write_buffer(mcl_trainer *t, cl_mem buf, size_t floats, const float *src,
                               const char *what, mcl_error *err) {
    if (floats == 0) return MCL_OK;
    return MCL_CL_CHECK(clEnqueueWriteBuffer(t->ctx->queue, buf, CL_TRUE, 0, floats * sizeof(float),
                                             src, 0, NULL, NULL),
                        err, what);
}

mcl_status mcl_trainer_save(mcl_trainer *t, const char *path, mcl_error *err) {
    mcl_graph *g = t->graph;
    struct mcl_checkpoint ck = {.model_text = t->model_text,
                                .rows = t->rows,
                                .cols = t->cols,
                                .classes = t->classes,
                                .param_count = g->param_count,
                                .state_count = g->state_count,
                                .seed = t->seed,
                                .epochs_done = t->epochs_done,
                                .step = t->step,
                                .epoch_step = t->epoch_step,
                                .epoch_loss_sum = t->epoch_loss_sum,
                                .epoch_correct_sum = t->epoch_correct_sum,
                                .history = t->history,
                                .history_count = t->history_count,
                                .recipe = t->recipe};
    mcl_status st = mcl_model_parse(t->model_text, "checkpoint", &ck.model, err);
    if (st != MCL_OK) return st;
    ck.params = malloc(g->param_count * sizeof(float) + 1);
    ck.state = malloc(g->state_count * sizeof(float) + 1);
    if (t->optim != NULL) {
        ck.has_optimizer = true;
        ck.optimizer = mcl_optim_kind(t->optim);
        ck.optimizer_steps = mcl_optim_steps(t->optim);
        ck.moment1 = malloc(g->param_count * sizeof(float) + 1);
        ck.moment2 = malloc(g->param_count * sizeof(float) + 1);
    }
    if (ck.params == NULL || ck.state == NULL ||
        (ck.has_optimizer && (ck.moment1 == NULL || ck.moment2 == NULL)))
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == MCL_OK)
        st = read_buffer(t, g->params, g->param_count, ck.params, "reading weights", err);
    if (st == MCL_OK)
        st = read_buffer(t, g->state, g->state_count, ck.state, "reading layer state", err);
    if (st == MCL_OK && ck.has_optimizer)
        st = mcl_optim_read_state(t->optim, ck.moment1, ck.moment2, err);
    if (st == MCL_OK) st = mcl_checkpoint_write(&ck, path, err);
    mcl_model_free(ck.model);
    free(ck.params);
    free(ck.state);
    free(ck.moment1);
    free(ck.moment2);
    return st;
}

mcl_status mcl_trainer_create_from_checkpoint(mcl_context *ctx, const mcl_checkpoint *ck,
                                              uint32_t max_batch, mcl_trainer **out,
                                              mcl_error *err) {
    *out = NULL;
    mcl_trainer *t = NULL;
    mcl_status st = mcl_trainer_create(ctx, ck->model, ck->rows, ck->cols, ck->classes, max_batch,
                                       ck->seed, &t, err);
    if (st != MCL_OK) return st;
    mcl_graph *g = t->graph;
    if (g->param_count != ck->param_count || g->state_count != ck->state_count)
        st = mcl_fail(err, MCL_ERR_FORMAT, "the checkpoint's tensors do not fit its model");
    if (st == MCL_OK)
        st = write_buffer(t, g->params, g->param_count, ck->params, "restoring weights", err);
    if (st == MCL_OK)
        st = write_buffer(t, g->state, g->state_count, ck->state, "restoring layer state", err);
    t->recipe = ck->recipe;
    t->epochs_done = ck->epochs_done;
    t->step = ck->step;
    t->epoch_step = ck->epoch_step;
    t->epoch_loss_sum = ck->epoch_loss_sum;
    t->epoch_correct_sum = ck->epoch_correct_sum;
    if (st == MCL_OK && ck->history_count > 0) {
        t->history = malloc(ck->history_count * sizeof *t->history);
        if (t->history == NULL)
            st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory");
        else
            memcpy(t->history, ck->history, ck->history_count * sizeof *t->history);
        t->history_count = st == MCL_OK ? ck->history_count : 0;
    }
    if (st == MCL_OK && ck->has_optimizer) {
        mcl_recipe r = ck->recipe;
        r.optimizer = ck->optimizer;
        st = mcl_optim_create(ctx, &r, g->param_count, &t->optim, err);
        if (st == MCL_OK)
            st =
                mcl_optim_write_state(t->optim, ck->optimizer_steps, ck->moment1, ck->moment2, err);
    }
    if (st != MCL_OK) {
        mcl_trainer_free(t);
        return st;
    }
    *out = t;
    return MCL_OK;
}

uint32_t mcl_trainer_epochs_done(const mcl_trainer *t) {
    return t->epochs_done;
}

uint32_t mcl_trainer_epoch_step(const mcl_trainer *t) {
    return t->epoch_step;
}

size_t mcl_trainer_profile(const mcl_trainer *t, mcl_profile_row *rows, size_t capacity) {
    const mcl_graph *g = t->graph;
    const char *names[2 * MCL_MODEL_MAX_LAYERS];
    uint32_t count =
        g->node_count < 2 * MCL_MODEL_MAX_LAYERS ? g->node_count : 2 * MCL_MODEL_MAX_LAYERS;
    for (uint32_t i = 0; i < count; i++)
        names[i] = g->nodes[i].name;
    return mcl_profile_rows(t->profiler, names, rows, capacity);
}

size_t mcl_trainer_kernel_profile(const mcl_trainer *t, mcl_profile_row *rows, size_t capacity) {
    return mcl_kernel_profile_rows(t->ctx->kernel_profile, rows, capacity);
}

const mcl_epoch_result *mcl_trainer_history(const mcl_trainer *t, size_t *count) {
    *count = t->history_count;
    return t->history;
}

/* ---------------------------------------------------------------- inference */

mcl_status mcl_trainer_predict(mcl_trainer *t, const float *images, uint32_t n, float *probs,
                               mcl_error *err) {
    mcl_graph *g = t->graph;
    size_t features = mcl_shape_size(g->input_shape);
    cl_command_queue q = t->ctx->queue;
    const cl_int zero = 0;
    mcl_status st = mcl_fill(t->ctx, g->labels, &zero, sizeof zero, 0,
                             (size_t)g->max_batch * sizeof(cl_int), "clearing labels for prediction",
                             err);
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
    return st;
}
