/* The layer graph on a device: nodes in order, one flat parameter buffer (and its gradient),
 * activation buffers sized for the largest batch, and forward/backward over the chain. */
#ifndef MCL_GRAPH_GRAPH_H
#define MCL_GRAPH_GRAPH_H

#include "graph/model.h"
#include "ops/op.h"
#include "ops/optim.h"

typedef struct mcl_graph {
    mcl_context *ctx; /* borrowed */
    mcl_node *nodes;  /* [node_count], owned */
    uint32_t node_count;
    mcl_shape input_shape;
    uint32_t classes;
    uint32_t max_batch;
    size_t param_count; /* floats in params/grads, including alignment padding */
    size_t trainable;   /* floats that are real parameters */
    size_t state_count; /* floats of non-trainable state (BatchNorm moving statistics) */
    size_t workspace_bytes; /* the largest scratch any node asks for */
    cl_mem params, grads;
    bool grads_zero;    /* grads is known to hold zeros (the optimizer step clears it) */
    cl_mem state;       /* [state_count]; NULL if empty */
    cl_mem workspace;   /* shared scratch; NULL if no node needs one */
    cl_mem input;       /* [max_batch, F] */
    cl_mem labels;      /* [max_batch] int */
    cl_mem sample_loss, sample_correct; /* [max_batch] */
    /* Each node owns its output, gradient and aux buffers (mcl_node_bind). */
    size_t device_bytes; /* everything this graph allocated on the device */
} mcl_graph;

/* Infers shapes and parameter offsets without touching a device; fills nodes/node_count/
 * param_count of *g (caller frees g->nodes). Used by mcl_graph_create and the summary. */
mcl_status mcl_graph_plan(const mcl_model *model, mcl_shape input, uint32_t classes,
                          mcl_graph *g, mcl_error *err);

/* Plans, checks the device has room, allocates, initialises parameters from seed and creates
 * the kernels. Caller frees with mcl_graph_free. */
mcl_status mcl_graph_create(mcl_context *ctx, const mcl_model *model, mcl_shape input,
                            uint32_t classes, uint32_t max_batch, uint64_t seed,
                            mcl_graph **out, mcl_error *err);

/* Runs every node's forward (the loss node last). ex->n <= max_batch. */
mcl_status mcl_graph_forward(mcl_graph *g, const mcl_exec *ex, mcl_error *err);
/* Zeroes parameter gradients (unless g->grads_zero says they are), then runs every node's
 * backward in reverse order; the ops accumulate into the gradients. */
mcl_status mcl_graph_backward(mcl_graph *g, const mcl_exec *ex, mcl_error *err);
/* The loss node's label smoothing (Keras's label_smoothing) for later forwards, training and
 * evaluation alike, as Keras's compiled loss is. */
void mcl_graph_set_label_smoothing(mcl_graph *g, float smoothing);
/* The trainable tensors of the flat parameter buffer in model order (the ops' tensor tables),
 * into a malloc'd array the caller frees; *count 0 (and *out NULL) for a model without any. */
mcl_status mcl_graph_param_segments(const mcl_graph *g, mcl_param_segment **out, size_t *count,
                                    mcl_error *err);
/* An mcl_exec bound to this graph's buffers. */
mcl_exec mcl_graph_exec(mcl_graph *g, uint32_t n, uint32_t step, uint64_t seed, bool training);

double mcl_graph_train_flops_per_sample(const mcl_graph *g);
void mcl_graph_free(mcl_graph *g);

#endif
