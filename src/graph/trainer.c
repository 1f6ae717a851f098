/* The trainer and its training loop. The uint8 dataset lives on the device (batches.c); each
 * epoch the host uploads one shuffled index array and then only enqueues work: gather + scale
 * the batch, forward, per-batch metric sums into their own slot, backward, optimizer. The host
 * never waits for a step except to keep at most MAX_STEPS_IN_FLIGHT queued (flow control, the
 * device stays busy) and when the progress callback asks for running metrics (a few times a
 * second at most). Metric slots are summed on the host in double once per epoch. Validation
 * runs through evaluate.c; save and restore are src/store/trainer_checkpoint.c's. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "data/dataset.h"
#include "device/kernel_profile.h"
#include "graph/scheduler.h"
#include "graph/trainer.h"

#define MAX_STEPS_IN_FLIGHT 8

/* Appends an epoch to the run's history (kept in checkpoints, so a resumed run's history
 * file starts with the epochs before the interruption). */
static mcl_status history_append(mcl_trainer *t, const mcl_epoch_result *r, mcl_error *err) {
    mcl_epoch_result *h = mcl_realloc(t->history, (t->history_count + 1) * sizeof *h);
    if (h == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the training history");
    t->history = h;
    h[t->history_count++] = *r;
    return MCL_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mcl_status mcl_trainer_create(mcl_context *ctx, const mcl_model *model, uint32_t rows,
                              uint32_t cols, uint32_t num_classes, uint32_t max_batch,
                              uint64_t seed, mcl_trainer **out, mcl_error *err) {
    *out = NULL;
    if (rows == 0 || cols == 0 || num_classes < 2)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "the input must be at least 1x1 with at least 2 classes");
    mcl_trainer *t = mcl_calloc(1, sizeof *t);
    if (t == NULL) return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the trainer");
    t->ctx = ctx;
    t->seed = seed;
    t->rows = rows;
    t->cols = cols;
    t->classes = num_classes;
    t->recipe = model->recipe;
    t->plateau = mcl_plateau_initial();
    t->model_text = mcl_strdup(model->text);
    if (t->model_text == NULL) {
        free(t);
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "out of host memory for the trainer's model description");
    }
    mcl_status st = mcl_graph_create(ctx, model, (mcl_shape){1, rows, cols}, num_classes, max_batch,
                                     seed, &t->graph, err);
    if (st == MCL_OK)
        st = mcl_graph_param_segments(t->graph, &t->segments, &t->segment_count, err);
    if (st == MCL_OK) st = mcl_trainer_take_recipe(t, &model->recipe, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "gather_batch", &t->gather, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "gather_batch_augment", &t->gather_augment, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "metrics_reduce", &t->metrics, err);
    if (st == MCL_OK && ctx->profiling &&
        (t->profiler = mcl_profiler_create(t->graph->node_count)) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the profiler");
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

mcl_status mcl_trainer_take_recipe(mcl_trainer *t, const mcl_recipe *r, mcl_error *err) {
    t->recipe = *r;
    mcl_graph_set_label_smoothing(t->graph, r->label_smoothing);
    if (r->l2 > 0.0f && t->l2 == NULL)
        return mcl_l2_create(t->ctx, t->segments, t->segment_count, &t->l2, err);
    return MCL_OK;
}

/* The learning rate of step `k` of a run of `total` steps, `per_epoch` steps an epoch, before
 * ReduceLROnPlateau: linear warm-up from 0 over the first warmup_epochs, then the schedule over
 * the remaining steps. */
static double scheduled_lr(const mcl_recipe *r, uint64_t k, uint64_t total, uint64_t per_epoch) {
    double base = r->learning_rate;
    uint64_t warmup = (uint64_t)r->warmup_epochs * per_epoch;
    if (warmup > total) warmup = total;
    if (k < warmup) return base * (double)(k + 1) / (double)warmup;
    k -= warmup;
    total -= warmup;
    if (r->lr_schedule == MCL_LR_COSINE && total > 0) {
        double progress = (double)(k < total ? k : total) / (double)total;
        return base * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
    }
    if (r->lr_schedule == MCL_LR_STEP && r->lr_decay_epochs > 0 && per_epoch > 0) {
        uint64_t drops = k / (per_epoch * r->lr_decay_epochs);
        return base * pow((double)r->lr_decay_rate, (double)drops);
    }
    return base;
}

typedef struct epoch_pass {
    uint32_t epoch, epochs, steps, batch;
    uint64_t fit_step, fit_steps; /* position within the run, for the LR schedule */
    float last_lr;
    double last_scheduled; /* last_lr before ReduceLROnPlateau */
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

static mcl_status train_epoch(mcl_trainer *t, mcl_device_data *d, epoch_pass *p, double *loss,
                              double *accuracy, mcl_error *err) {
    mcl_context *ctx = t->ctx;
    mcl_graph *g = t->graph;
    uint32_t *order = mcl_malloc((size_t)d->count * sizeof *order);
    if (order == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "out of host memory for the epoch's sample order");
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
            mcl_cl_release_event(*slot);
            *slot = NULL;
            if (st != MCL_OK) break;
        }
        uint32_t base = s * p->batch;
        uint32_t n = d->count - base < p->batch ? d->count - base : p->batch;
        mcl_exec ex = mcl_graph_exec(g, n, t->step, t->seed, true);
        ex.profiler = t->profiler;
        st = mcl_profile_mark(t->profiler, ctx->queue, MCL_PHASE_STEP_START, 0, err);
        const mcl_augment *aug = o->recipe.augment.enabled ? &o->recipe.augment : NULL;
        if (st == MCL_OK)
            st = mcl_trainer_enqueue_forward(t, d, base, n, &ex, aug, p->metrics, s, err);
        if (st == MCL_OK) st = mcl_graph_backward(g, &ex, err);
        /* Keras's kernel_regularizer is part of the loss: its gradient joins before clipping. */
        if (st == MCL_OK && o->recipe.l2 > 0.0f)
            st = mcl_l2_enqueue(t->l2, g->params, g->grads, o->recipe.l2, p->metrics, s, n, err);
        double scheduled = scheduled_lr(&o->recipe, p->fit_step++, p->fit_steps, p->steps);
        float lr = (float)mcl_plateau_lr(&t->plateau, &o->recipe.plateau, scheduled);
        p->last_lr = lr;
        p->last_scheduled = scheduled;
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
            st = mcl_trainer_read_metrics(t, p->metrics, first, s + 1, p->host_metrics, &l, &c,
                                          err);
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
        if (in_flight[i] != NULL) mcl_cl_release_event(in_flight[i]);
    double l = 0, c = 0;
    if (st == MCL_OK)
        st = mcl_trainer_read_metrics(t, p->metrics, first, s, p->host_metrics, &l, &c, err);
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

static bool non_negative(float v) {
    return v >= 0.0f && isfinite(v);
}

/* The optimizer's and regularisers' options, with Keras's rules where Keras has them. */
static mcl_status check_optimizer_options(const mcl_recipe *r, mcl_error *err) {
    if ((unsigned)r->optimizer >= MCL_OPTIMIZER_COUNT)
        return mcl_fail(err, MCL_ERR_USAGE, "unknown optimizer %u", (unsigned)r->optimizer);
    bool sgd = r->optimizer == MCL_OPTIMIZER_SGD, rmsprop = r->optimizer == MCL_OPTIMIZER_RMSPROP;
    if ((sgd || rmsprop) && !(r->momentum >= 0.0f && r->momentum < 1.0f))
        return mcl_fail(err, MCL_ERR_USAGE, "the momentum must be in [0, 1), got %g",
                        (double)r->momentum);
    if (rmsprop && !(r->rho >= 0.0f && r->rho < 1.0f))
        return mcl_fail(err, MCL_ERR_USAGE, "RMSprop's rho must be in [0, 1), got %g",
                        (double)r->rho);
    if (r->nesterov && !sgd)
        return mcl_fail(err, MCL_ERR_USAGE, "Nesterov momentum belongs to SGD, not %s",
                        mcl_optimizer_str(r->optimizer));
    if (r->centered && !rmsprop)
        return mcl_fail(err, MCL_ERR_USAGE, "centered belongs to RMSprop, not %s",
                        mcl_optimizer_str(r->optimizer));
    if (!non_negative(r->weight_decay) || !non_negative(r->l2))
        return mcl_fail(err, MCL_ERR_USAGE, "the weight decay and the L2 factor must be >= 0");
    if (!(r->label_smoothing >= 0.0f && r->label_smoothing < 1.0f))
        return mcl_fail(err, MCL_ERR_USAGE, "the label smoothing must be in [0, 1), got %g",
                        (double)r->label_smoothing);
    if (!non_negative(r->clipnorm) || !non_negative(r->clipvalue) ||
        !non_negative(r->global_clipnorm))
        return mcl_fail(err, MCL_ERR_USAGE, "gradient clipping limits must be > 0 (0: off)");
    if ((r->clipnorm > 0.0f) + (r->clipvalue > 0.0f) + (r->global_clipnorm > 0.0f) > 1)
        return mcl_fail(err, MCL_ERR_USAGE,
                        "only one of clipnorm, clipvalue and global_clipnorm can be set (as "
                        "Keras's optimizers say)");
    const mcl_plateau *p = &r->plateau;
    if (p->enabled && (!(p->factor > 0.0f && p->factor < 1.0f) || !non_negative(p->min_delta) ||
                       !non_negative(p->min_lr)))
        return mcl_fail(err, MCL_ERR_USAGE,
                        "ReduceLROnPlateau needs a factor in (0, 1) and min_delta, min_lr >= 0");
    return MCL_OK;
}

static mcl_status check_fit_options(const mcl_trainer *t, const mcl_dataset *val,
                                    const mcl_fit_options *o, mcl_error *err) {
    const mcl_recipe *r = &o->recipe;
    mcl_status st = mcl_trainer_check_batch(t, r->batch_size, "the training batch size", err);
    if (st != MCL_OK) return st;
    if (!(r->learning_rate > 0.0f) || !isfinite(r->learning_rate))
        return mcl_fail(err, MCL_ERR_USAGE, "the learning rate must be positive");
    st = check_optimizer_options(r, err);
    if (st != MCL_OK) return st;
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

/* mcl_trainer_fit once the validation set is settled. */
static mcl_status fit(mcl_trainer *t, const mcl_dataset *train, const mcl_dataset *val,
                      const mcl_fit_options *options, mcl_error *err) {
    const mcl_recipe *r = &options->recipe;
    mcl_status st = check_fit_options(t, val, options, err);
    if (st != MCL_OK) return st;
    /* A later fit continues the optimizer state; a different optimizer starts afresh. */
    if (t->optim != NULL && !mcl_optim_fits(t->optim, r)) {
        mcl_optim_free(t->optim);
        t->optim = NULL;
    }
    if (t->optim == NULL) {
        st = mcl_optim_create(t->ctx, r, t->graph->param_count, t->segments, t->segment_count,
                              &t->optim, err);
        if (st != MCL_OK) return st;
    }
    mcl_optim_set_recipe(t->optim, r);
    st = mcl_trainer_take_recipe(t, r, err);
    if (st != MCL_OK) return st;
    mcl_device_data dtrain = {0}, dval = {0}, dmonitor = {0};
    cl_mem metrics = NULL;
    float *host = NULL;
    uint32_t steps = mcl_steps_per_epoch(mcl_dataset_count(train), r->batch_size);
    st = mcl_device_data_upload(t, train, &dtrain, err);
    if (st == MCL_OK && val != NULL) st = mcl_device_data_upload(t, val, &dval, err);
    if (st == MCL_OK && options->monitor != NULL)
        st = mcl_device_data_upload(t, options->monitor, &dmonitor, err);
    if (st == MCL_OK)
        st = mcl_buffer_create(t->ctx, (size_t)steps * 2 * sizeof(float), &metrics,
                               "training metrics", err);
    if (st == MCL_OK && (host = mcl_malloc((size_t)steps * 2 * sizeof(float))) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the training metrics");
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
            st = mcl_trainer_evaluate_resident(t, &dval, r->batch_size, &res.val_loss,
                                               &res.val_accuracy, NULL, err);
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
            st = mcl_trainer_evaluate_resident(t, &dmonitor, r->batch_size, &res.monitor_loss,
                                               &res.monitor_accuracy, NULL, err);
            res.has_monitor = true;
            res.reached_target = options->target_accuracy > 0.0 &&
                                 res.monitor_accuracy >= options->target_accuracy;
        }
        /* ReduceLROnPlateau watches val_loss, or the training loss without validation. */
        float reduced = 0.0f;
        if (st == MCL_OK &&
            mcl_plateau_epoch_end(&t->plateau, &r->plateau,
                                  res.has_validation ? res.val_loss : res.loss,
                                  pass.last_scheduled, pass.last_lr, &reduced)) {
            res.lr_reduced = true;
            res.reduced_learning_rate = reduced;
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
    if (metrics != NULL) mcl_cl_release_mem(metrics);
    free(host);
    mcl_device_data_free(&dtrain);
    mcl_device_data_free(&dval);
    mcl_device_data_free(&dmonitor);
    return st;
}

/* The trainer takes the training data's class names and image preparation (checkpoints keep
 * them). */
static mcl_status take_class_names(mcl_trainer *t, const mcl_dataset *train, mcl_error *err) {
    if (train == NULL) return MCL_OK; /* fit() reports it */
    char **names = NULL;
    if (train->class_names != NULL) {
        if (train->num_classes != t->classes)
            return mcl_fail(err, MCL_ERR_USAGE,
                            "%s has %u named classes but the model was built for %u",
                            train->images_path, train->num_classes, t->classes);
        names = mcl_class_names_copy((const char *const *)train->class_names, t->classes);
        if (names == NULL)
            return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the class names");
    }
    free(t->class_names);
    t->class_names = names;
    t->prep = train->prep;
    return MCL_OK;
}

mcl_status mcl_trainer_fit(mcl_trainer *t, const mcl_dataset *train, const mcl_dataset *val,
                           const mcl_fit_options *options, mcl_error *err) {
    mcl_status named = take_class_names(t, train, err);
    if (named != MCL_OK) return named;
    float split = options->recipe.validation_split;
    if (val != NULL || split == 0.0f) return fit(t, train, val, options, err);
    /* Keras's validation_split: without a validation set, the last fraction of the training
     * set validates and is not trained on (train --validation-split is this). */
    uint32_t count = mcl_dataset_count(train), head = 0;
    mcl_dataset *trained = NULL, *held_out = NULL;
    mcl_status st = mcl_validation_split_count(count, split, &head, err);
    if (st == MCL_OK) st = mcl_dataset_subset(train, 0, head, &trained, err);
    if (st == MCL_OK && head < count)
        st = mcl_dataset_subset(train, head, count - head, &held_out, err);
    if (st == MCL_OK) st = fit(t, trained, held_out, options, err);
    mcl_dataset_free(held_out);
    mcl_dataset_free(trained);
    return st;
}

uint64_t mcl_trainer_param_count(const mcl_trainer *t) {
    return t->graph->trainable;
}

double mcl_trainer_bn_initial_share(const mcl_trainer *t, uint32_t *steps, float *momentum) {
    /* After k steps at momentum m, a moving statistic still holds m^k of its initial value. */
    double worst = 0.0;
    *steps = t->step;
    *momentum = 0.0f;
    for (uint32_t i = 0; i < t->graph->node_count; i++) {
        const mcl_node *n = &t->graph->nodes[i];
        if (n->layer.kind != MCL_OP_BATCHNORM) continue;
        double share = pow((double)n->layer.momentum, (double)t->step);
        if (share > worst || *momentum == 0.0f) {
            worst = share > worst ? share : worst;
            *momentum = n->layer.momentum;
        }
    }
    return worst;
}

uint64_t mcl_trainer_state_count(const mcl_trainer *t) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < t->graph->node_count; i++)
        n += t->graph->nodes[i].state_count;
    return n;
}

double mcl_trainer_train_flops_per_sample(const mcl_trainer *t) {
    return mcl_graph_train_flops_per_sample(t->graph);
}

mcl_status mcl_trainer_read_params(mcl_trainer *t, float *dst, mcl_error *err) {
    const mcl_graph *g = t->graph;
    float *all = mcl_malloc(g->param_count * sizeof *all + 1);
    if (all == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for reading the weights");
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
    if (t->ctx != NULL) mcl_cl_drain(t->ctx->queue);
    if (t->gather != NULL) mcl_cl_release_kernel(t->gather);
    if (t->gather_augment != NULL) mcl_cl_release_kernel(t->gather_augment);
    if (t->metrics != NULL) mcl_cl_release_kernel(t->metrics);
    mcl_optim_free(t->optim);
    mcl_l2_free(t->l2);
    free(t->segments);
    if (t->best_params != NULL) mcl_cl_release_mem(t->best_params);
    if (t->best_state != NULL) mcl_cl_release_mem(t->best_state);
    mcl_graph_free(t->graph);
    free(t->model_text);
    free(t->history);
    free(t->class_names);
    mcl_profiler_free(t->profiler);
    free(t);
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
