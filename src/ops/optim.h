/* Optimizers as device kernels over the one flat parameter buffer (cl/optim.cl). */
#ifndef MCL_OPS_OPTIM_H
#define MCL_OPS_OPTIM_H

#include "device/device.h"

/* Keras defaults for Adam. */
#define MCL_ADAM_BETA1 0.9f
#define MCL_ADAM_BETA2 0.999f
#define MCL_ADAM_EPSILON 1e-7f

typedef struct mcl_optim mcl_optim;

/* State buffers (Adam: m, v; SGD: velocity) for `count` parameters (a multiple of 4),
 * zero-initialised. Caller frees with mcl_optim_free. */
mcl_status mcl_optim_create(mcl_context *ctx, const mcl_recipe *recipe, size_t count,
                            mcl_optim **out, mcl_error *err);
/* Enqueues one update of params from grads (one kernel launch) with learning rate `lr`; the
 * same launch leaves grads all zero. *done (when not NULL) receives the launch's event, which
 * the caller releases. */
mcl_status mcl_optim_step(mcl_optim *opt, cl_mem params, cl_mem grads, float lr, cl_event *done,
                          mcl_error *err);
uint64_t mcl_optim_steps(const mcl_optim *opt);
mcl_optimizer mcl_optim_kind(const mcl_optim *opt);
/* Takes the recipe's momentum for later steps (the kind of optimizer cannot change). */
void mcl_optim_set_momentum(mcl_optim *opt, float momentum);
void mcl_optim_free(mcl_optim *opt);
/* Copies the optimizer's state to the host (m and v for Adam; the velocity in m for SGD, v
 * untouched) / restores it with the step count. Arrays of the optimizer's count floats. */
mcl_status mcl_optim_read_state(mcl_optim *opt, float *m, float *v, mcl_error *err);
mcl_status mcl_optim_write_state(mcl_optim *opt, uint64_t steps, const float *m, const float *v,
                                 mcl_error *err);

/* Plain C references (test oracles), t = the 1-based step number. */
void mcl_adam_reference(float *params, const float *grads, float *m, float *v, size_t count,
                        float lr, uint64_t t);
void mcl_sgd_reference(float *params, const float *grads, float *velocity, size_t count, float lr,
                       float momentum);

#endif
