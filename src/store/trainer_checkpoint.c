/* A trainer to and from a checkpoint: mcl_trainer_save writes the weights, layer state,
 * optimizer moments, counters, recipe and history of a trainer through its own graph (its plan
 * and tensor table), and mcl_trainer_create_from_checkpoint builds a trainer and puts all of
 * that back. The file format is checkpoint.c's. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/dataset.h"
#include "graph/trainer.h"
#include "store/checkpoint.h"

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
                                .recipe = t->recipe,
                                .plateau = t->plateau,
                                .class_names = t->class_names,
                                .prep = t->prep,

                                .has_data = t->has_data,
                                .data = t->data,
                                /* Only while the weights are those that were tested. */
                                .has_test = t->has_test && t->test_step == t->step,
                                .test = t->test};
    mcl_status st = MCL_OK;
    ck.params = mcl_malloc(g->param_count * sizeof(float) + 1);
    ck.state = mcl_malloc(g->state_count * sizeof(float) + 1);
    float **moments[MCL_OPTIM_SLOTS] = {&ck.moment1, &ck.moment2, &ck.moment3};
    bool moments_ok = true;
    if (t->optim != NULL) {
        ck.has_optimizer = true;
        ck.optimizer = mcl_optim_kind(t->optim);
        ck.optimizer_steps = mcl_optim_steps(t->optim);
        for (int i = 0; i < MCL_OPTIM_SLOTS; i++)
            if (mcl_optim_state_slots(t->optim) & 1u << i)
                moments_ok =
                    (*moments[i] = mcl_malloc(g->param_count * sizeof(float) + 1)) != NULL &&
                    moments_ok;
    }
    if (ck.params == NULL || ck.state == NULL || !moments_ok)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the checkpoint's tensors");
    if (st == MCL_OK)
        st = read_buffer(t, g->params, g->param_count, ck.params, "reading weights", err);
    if (st == MCL_OK)
        st = read_buffer(t, g->state, g->state_count, ck.state, "reading layer state", err);
    if (st == MCL_OK && ck.has_optimizer)
        st = mcl_optim_read_state(t->optim, (float *const[]){ck.moment1, ck.moment2, ck.moment3},
                                  err);
    /* The trainer's own graph is the tensor table: nothing is parsed or planned again. */
    if (st == MCL_OK) st = mcl_checkpoint_write(&ck, g, path, err);
    free(ck.params);
    free(ck.state);
    free(ck.moment1);
    free(ck.moment2);
    free(ck.moment3);
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
    if (st == MCL_OK) st = mcl_trainer_take_recipe(t, &ck->recipe, err);
    t->plateau = ck->plateau;
    t->epochs_done = ck->epochs_done;
    t->step = ck->step;
    t->epoch_step = ck->epoch_step;
    t->epoch_loss_sum = ck->epoch_loss_sum;
    t->epoch_correct_sum = ck->epoch_correct_sum;
    t->has_data = ck->has_data;
    t->data = ck->data;
    t->has_test = ck->has_test;
    t->test = ck->test;
    t->test_step = ck->step;
    if (st == MCL_OK && ck->history_count > 0) {
        t->history = mcl_malloc(ck->history_count * sizeof *t->history);
        if (t->history == NULL)
            st = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                          "out of host memory for the checkpoint's history");
        else
            memcpy(t->history, ck->history, ck->history_count * sizeof *t->history);
        t->history_count = st == MCL_OK ? ck->history_count : 0;
    }
    t->prep = ck->prep;
    if (st == MCL_OK && ck->class_names != NULL &&
        (t->class_names =
             mcl_class_names_copy((const char *const *)ck->class_names, ck->classes)) == NULL)
        st = mcl_fail(err, MCL_ERR_HOST_MEMORY,
                      "out of host memory for the checkpoint's class names");
    if (st == MCL_OK && ck->has_optimizer) {
        mcl_recipe r = ck->recipe;
        r.optimizer = ck->optimizer;
        st = mcl_optim_create(ctx, &r, g->param_count, t->segments, t->segment_count, &t->optim,
                              err);
        if (st == MCL_OK)
            st = mcl_optim_write_state(
                t->optim, ck->optimizer_steps,
                (const float *const[]){ck->moment1, ck->moment2, ck->moment3}, err);
    }
    if (st != MCL_OK) {
        mcl_trainer_free(t);
        return st;
    }
    *out = t;
    return MCL_OK;
}

void mcl_trainer_set_data_record(mcl_trainer *t, const mcl_data_record *record) {
    t->has_data = record != NULL;
    if (record != NULL) {
        t->data = *record;
        t->data.source[sizeof t->data.source - 1] = '\0';
    }
}

void mcl_trainer_set_test_result(mcl_trainer *t, const mcl_eval_result *test) {
    t->has_test = test != NULL && test->count > 0;
    if (test != NULL) t->test = *test;
    t->test_step = t->step;
}
