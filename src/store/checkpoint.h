/* The checkpoint: a trained model on the host, and its file format (src/store/checkpoint.c).
 *
 * Host layout of the tensors is the graph's: params and state are the flat buffers of
 * mcl_graph_plan(model, {1, rows, cols}, classes) (each node's slice at node->param_offset /
 * node->state_offset, padding between slices zero). */
#ifndef MCL_STORE_CHECKPOINT_H
#define MCL_STORE_CHECKPOINT_H

#include "graph/graph.h"
#include "graph/plateau.h"

struct mcl_checkpoint {
    mcl_model *model; /* owned; parsed from model_text (loaded checkpoints only) */
    char *model_text; /* owned: the model description as written */
    uint32_t rows, cols, classes;
    float *params; /* [param_count], owned */
    size_t param_count;
    float *state; /* [state_count], owned (NULL if 0) */
    size_t state_count;
    /* Resuming (absent, i.e. has_optimizer false, in a weights-only checkpoint). */
    bool has_optimizer;
    mcl_optimizer optimizer;
    uint64_t optimizer_steps;
    /* [param_count] each, those the optimizer keeps (mcl_optim_slots), else NULL: moment1 is
     * slot M (Adam/AdamW m, SGD velocity, RMSprop momentum), moment2 slot V (Adam/AdamW v,
     * RMSprop mean square), moment3 slot MG (centered RMSprop's mean gradient). */
    float *moment1, *moment2, *moment3;
    uint64_t seed;
    uint32_t epochs_done; /* completed epochs: the shuffle / augmentation counter */
    uint32_t step;        /* training steps so far: the dropout counter */
    /* Written mid-epoch (after an interrupt): steps of epoch epochs_done+1 already taken and
     * their loss / correct-prediction sums. 0 (and no EPOS section) at an epoch boundary. */
    uint32_t epoch_step;
    double epoch_loss_sum, epoch_correct_sum;
    mcl_recipe recipe;         /* the recipe of the run that wrote it */
    mcl_plateau_state plateau; /* ReduceLROnPlateau's state after the last epoch */
    mcl_epoch_result *history; /* [history_count] the run's epochs; owned when loaded */
    size_t history_count;
    char **class_names; /* [classes] (one allocation) or NULL: unnamed; owned when loaded */
    mcl_image_prep prep;
    /* What the run trained on (DATA) and the test metrics of these weights (TEST); absent in
     * checkpoints of older versions and, for TEST, of runs not yet evaluated. */
    bool has_data, has_test;
    mcl_data_record data;
    mcl_eval_result test;
};

/* Writes ck to path atomically (see checkpoint.c for the format). `plan` is the graph whose flat
 * buffers ck->params and ck->state are (the saving trainer's own): its nodes name and shape the
 * tensors, so nothing is parsed or planned again; ck->model is not read. */
mcl_status mcl_checkpoint_write(const struct mcl_checkpoint *ck, const mcl_graph *plan,
                                const char *path, mcl_error *err);
/* Parses a checkpoint held in memory; `name` is used in messages. (The fuzz target's entry.) */
mcl_status mcl_checkpoint_load_memory(const uint8_t *data, size_t size, const char *name,
                                      mcl_checkpoint **out, mcl_error *err);

#endif
