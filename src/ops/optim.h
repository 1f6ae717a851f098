/* Optimizers and regularisation as device kernels over the one flat parameter buffer
 * (cl/optim.cl): the update rules of Keras's Adam, AdamW, SGD (momentum, Nesterov) and RMSprop
 * with their decoupled weight decay, the optimizers' gradient clipping (clipnorm, clipvalue,
 * global_clipnorm), and the L2 kernel regulariser's gradient and loss term. */
#ifndef MCL_OPS_OPTIM_H
#define MCL_OPS_OPTIM_H

#include "device/device.h"

/* Keras defaults for Adam (and AdamW). */
#define MCL_ADAM_BETA1 0.9f
#define MCL_ADAM_BETA2 0.999f
#define MCL_ADAM_EPSILON 1e-7f
/* Keras's RMSprop epsilon (added inside the square root, as Keras does). */
#define MCL_RMSPROP_EPSILON 1e-7f

/* One trainable tensor of the flat parameter buffer: where it lies and whether it is a kernel
 * (the weights of a Dense or Conv2D layer, which is what an L2 kernel regulariser penalises;
 * biases and BatchNorm's gamma and beta are not). Clipping by norm takes each as one Keras
 * variable. */
typedef struct mcl_param_segment {
    size_t offset, count; /* floats */
    bool kernel;
} mcl_param_segment;

/* The optimizer's state vectors over the flat parameters, each [count] floats:
 * M: Adam/AdamW's first moment, SGD's velocity, RMSprop's momentum (when momentum > 0);
 * V: Adam/AdamW's second moment, RMSprop's mean square ("velocity" in Keras);
 * MG: centered RMSprop's mean gradient ("average_gradient" in Keras). */
enum { MCL_OPTIM_M, MCL_OPTIM_V, MCL_OPTIM_MG, MCL_OPTIM_SLOTS };

/* The slots (a bit per slot: 1u << MCL_OPTIM_M ...) that recipe's optimizer keeps. */
unsigned mcl_optim_slots(const mcl_recipe *recipe);

typedef struct mcl_optim mcl_optim;

/* The optimizer of recipe->optimizer for `count` parameters (a multiple of 4), its state
 * zero-initialised, with the trainable tensors `segments` (borrowed for the call; clipping by
 * norm works per segment, and floats outside every segment are padding that is never
 * clipped). Takes the recipe's hyperparameters as mcl_optim_set_recipe does. Caller frees
 * with mcl_optim_free. */
mcl_status mcl_optim_create(mcl_context *ctx, const mcl_recipe *recipe, size_t count,
                            const mcl_param_segment *segments, size_t segment_count,
                            mcl_optim **out, mcl_error *err);
/* Whether the optimizer can carry on under `recipe`: the same kind and state slots (a fit with
 * another optimizer, or RMSprop with momentum or centering switched, needs a fresh one). */
bool mcl_optim_fits(const mcl_optim *opt, const mcl_recipe *recipe);
/* Takes the recipe's momentum, Nesterov, rho, clipping and weight decay for later steps (the
 * kind of optimizer and its state slots cannot change: see mcl_optim_fits). */
void mcl_optim_set_recipe(mcl_optim *opt, const mcl_recipe *recipe);
/* Enqueues one step with learning rate `lr`, as Keras's optimizer.apply: the gradients are
 * clipped (when the recipe says so: on the device, no host read), every parameter decays by
 * lr * weight_decay (when set), then the update rule runs; its launch leaves grads all zero.
 * *done (when not NULL) receives the update launch's event, which the caller releases. */
mcl_status mcl_optim_step(mcl_optim *opt, cl_mem params, cl_mem grads, float lr, cl_event *done,
                          mcl_error *err);
uint64_t mcl_optim_steps(const mcl_optim *opt);
mcl_optimizer mcl_optim_kind(const mcl_optim *opt);
/* The slots this optimizer keeps (mcl_optim_slots of the recipe it was created for). */
unsigned mcl_optim_state_slots(const mcl_optim *opt);
void mcl_optim_free(mcl_optim *opt);
/* Copies the state to the host / restores it with the step count: state[slot] is an array of
 * count floats for every slot the optimizer keeps (others are not touched and may be NULL). */
mcl_status mcl_optim_read_state(mcl_optim *opt, float *const state[MCL_OPTIM_SLOTS],
                                mcl_error *err);
mcl_status mcl_optim_write_state(mcl_optim *opt, uint64_t steps,
                                 const float *const state[MCL_OPTIM_SLOTS], mcl_error *err);

/* The L2 kernel regulariser (Keras kernel_regularizer=L2(l2)) over the kernel segments. */
typedef struct mcl_l2 mcl_l2;
/* For the kernels among `segments` (borrowed for the call). Caller frees with mcl_l2_free. */
mcl_status mcl_l2_create(mcl_context *ctx, const mcl_param_segment *segments,
                         size_t segment_count, mcl_l2 **out, mcl_error *err);
/* Enqueues the regulariser's part of a step: grads += 2 l2 w over every kernel (grads NULL:
 * skipped, for evaluation), and the loss term added to a metrics slot, whose first float is a
 * sum of per-sample losses: metrics[2 slot] += samples * l2 * sum(w^2), so that the mean loss
 * includes l2 * sum(w^2) once, as Keras's reported loss does. On the device, no host read. */
mcl_status mcl_l2_enqueue(mcl_l2 *r, cl_mem params, cl_mem grads, float l2, cl_mem metrics,
                          uint32_t slot, uint32_t samples, mcl_error *err);
void mcl_l2_free(mcl_l2 *r);

/* Plain C references (test oracles), with the kernels' fp32 arithmetic; t = the 1-based step
 * number, decay = lr * weight_decay (0: none). */
void mcl_adam_reference(float *params, const float *grads, float *m, float *v, size_t count,
                        float lr, uint64_t t, float decay);
void mcl_sgd_reference(float *params, const float *grads, float *velocity, size_t count, float lr,
                       float momentum, bool nesterov, float decay);
/* m may be NULL (momentum 0), mg NULL unless centered. */
void mcl_rmsprop_reference(float *params, const float *grads, float *v, float *m, float *mg,
                           size_t count, float lr, float rho, float momentum, bool centered,
                           float decay);
/* Clips grads in place as mcl_optim_step does for the recipe's clipnorm / clipvalue /
 * global_clipnorm (at most one set), the norms summed in double. */
void mcl_clip_reference(float *grads, size_t count, const mcl_param_segment *segments,
                        size_t segment_count, const mcl_recipe *recipe);
/* grads += 2 l2 w over the kernel segments (grads may be NULL); returns l2 * sum(w^2) over
 * them, in double. */
double mcl_l2_reference(const float *params, float *grads, const mcl_param_segment *segments,
                        size_t segment_count, float l2);

#endif
