/* Internal view of the trainer (the public mcl_trainer is opaque), shared by the files that work
 * on one: trainer.c (creation and the training loop), batches.c (datasets on the device and the
 * batch pipeline that training and evaluation share), evaluate.c (evaluation and prediction)
 * and, a layer above, src/store/trainer_checkpoint.c (save and restore). */
#ifndef MCL_GRAPH_TRAINER_H
#define MCL_GRAPH_TRAINER_H

#include "graph/graph.h"
#include "graph/plateau.h"
#include "graph/profile.h"
#include "ops/optim.h"

struct mcl_trainer {
    mcl_context *ctx; /* borrowed */
    mcl_graph *graph; /* the plan and tensor table too: checkpoints are written from it */
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
    mcl_param_segment *segments; /* [segment_count] the trainable tensors, owned */
    size_t segment_count;
    mcl_l2 *l2;                  /* the L2 regulariser, made when a recipe first asks for it */
    mcl_plateau_state plateau;   /* ReduceLROnPlateau between epochs and fits */
    /* The classes' names ([classes], one allocation) and how picture files become inputs, from
     * the data of the latest fit or from the checkpoint; NULL: unnamed classes. */
    char **class_names;
    mcl_image_prep prep;
    /* For checkpoints (src/store/trainer_checkpoint.c): what the run trains on, and the test
     * metrics of the weights as they were after `test_step` training steps (valid while
     * step == test_step). */
    bool has_data, has_test;
    mcl_data_record data;
    mcl_eval_result test;
    uint32_t test_step;
};

/* Makes the trainer's recipe `r`: the loss node's label smoothing follows it, and the L2
 * regulariser is made if r asks for one. */
mcl_status mcl_trainer_take_recipe(mcl_trainer *t, const mcl_recipe *r, mcl_error *err);

/* The batch-size rule: every batch the trainer runs, training or inference, holds 1 to
 * graph->max_batch samples (the max_batch it was created with). MCL_ERR_USAGE otherwise, naming
 * `what` ("the training batch size"). */
mcl_status mcl_trainer_check_batch(const mcl_trainer *t, uint32_t batch, const char *what,
                                   mcl_error *err);

/* A dataset resident on the device. */
typedef struct mcl_device_data {
    cl_mem pixels; /* [count, F] uint8 */
    cl_mem labels; /* [count] uint8 */
    cl_mem order;  /* [count] uint32: sample order of the current pass (identity at first) */
    uint32_t count;
} mcl_device_data;

/* Checks that ds fits the trainer's input and classes and uploads it; *d is the caller's to
 * free with mcl_device_data_free (also after a failure). */
mcl_status mcl_device_data_upload(mcl_trainer *t, const mcl_dataset *ds, mcl_device_data *d,
                                  mcl_error *err);
void mcl_device_data_free(mcl_device_data *d);

/* Enqueues gather (augmented when `augment` is not NULL) + forward + the batch's metric sums
 * into `slot` of step_metrics ([slots, 2] floats: loss sum, correct count), for samples
 * [base, base+n) of d's order. */
mcl_status mcl_trainer_enqueue_forward(mcl_trainer *t, const mcl_device_data *d, uint32_t base,
                                       uint32_t n, const mcl_exec *ex, const mcl_augment *augment,
                                       cl_mem step_metrics, uint32_t slot, mcl_error *err);

/* Reads slots [first, end) of step_metrics into host (same layout) and sums them in double. */
mcl_status mcl_trainer_read_metrics(mcl_trainer *t, cl_mem step_metrics, uint32_t first,
                                    uint32_t end, float *host, double *loss_sum,
                                    double *correct_sum, mcl_error *err);

/* Inference over a resident dataset in its identity order, in batches of `batch` (checked by
 * the caller): loss and accuracy means and, if probs is not NULL, every sample's class
 * probabilities [count, classes] (src/graph/evaluate.c). */
mcl_status mcl_trainer_evaluate_resident(mcl_trainer *t, const mcl_device_data *d, uint32_t batch,
                                         double *loss, double *accuracy, float *probs,
                                         mcl_error *err);

#endif
