#include "ops/optim.h"
#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>

struct mcl_optim {
    mcl_context *ctx; /* borrowed */
    mcl_recipe recipe;
    size_t count;
    uint64_t t;      /* steps taken */
    cl_mem state[2]; /* Adam: m, v. SGD: velocity, unused */
    cl_kernel kernel;
};

/* Adam's bias correction folded into the step size, computed in double on the host. */
static float adam_lr_t(float lr, uint64_t t) {
    double b1t = pow((double)MCL_ADAM_BETA1, (double)t),
           b2t = pow((double)MCL_ADAM_BETA2, (double)t);
    return (float)((double)lr * sqrt(1.0 - b2t) / (1.0 - b1t));
}

mcl_status mcl_optim_create(mcl_context *ctx, const mcl_recipe *recipe, size_t count,
                            mcl_optim **out, mcl_error *err) {
    *out = NULL;
    if (count > UINT32_MAX)
        return mcl_fail(err, MCL_ERR_MODEL, "the model has too many parameters (%zu)", count);
    mcl_optim *opt = mcl_calloc(1, sizeof *opt);
    if (opt == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the optimizer");
    opt->ctx = ctx;
    opt->recipe = *recipe;
    opt->count = count;
    bool adam = recipe->optimizer == MCL_OPTIMIZER_ADAM;
    mcl_status st = mcl_kernel_create(ctx, adam ? "adam_step" : "sgd_step", &opt->kernel, err);
    for (int i = 0; i < (adam ? 2 : 1) && st == MCL_OK; i++) {
        st = mcl_buffer_create(ctx, count * sizeof(float), &opt->state[i], "optimizer state", err);
        const float zero = 0.0f;
        if (st == MCL_OK)
            st = mcl_fill(ctx, opt->state[i], &zero, sizeof zero, 0, count * sizeof(float),
                          "zeroing optimizer state", err);
    }
    if (st != MCL_OK) {
        mcl_optim_free(opt);
        return st;
    }
    *out = opt;
    return MCL_OK;
}

mcl_status mcl_optim_step(mcl_optim *opt, cl_mem params, cl_mem grads, float lr, cl_event *done,
                          mcl_error *err) {
    opt->t++;
    mcl_status st;
    cl_uint count = (cl_uint)opt->count;
    if (opt->recipe.optimizer == MCL_OPTIMIZER_ADAM) {
        cl_float lr_t = adam_lr_t(lr, opt->t);
        cl_float b1 = MCL_ADAM_BETA1, b2 = MCL_ADAM_BETA2, eps = MCL_ADAM_EPSILON;
        st = MCL_SET_ARGS(opt->kernel, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(opt->state[0]),
                          MCL_ARG(opt->state[1]), MCL_ARG(count), MCL_ARG(lr_t), MCL_ARG(b1),
                          MCL_ARG(b2), MCL_ARG(eps));
    } else {
        cl_float lr_f = lr, momentum = opt->recipe.momentum;
        st = MCL_SET_ARGS(opt->kernel, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(opt->state[0]),
                          MCL_ARG(count), MCL_ARG(lr_f), MCL_ARG(momentum));
    }
    size_t per_item = (size_t)opt->ctx->shapes.vector.width * opt->ctx->shapes.vector.span;
    size_t global = (opt->count + per_item - 1) / per_item;
    return st != MCL_OK ? st : mcl_enqueue_vector(opt->ctx, opt->kernel, 1, &global, done, err);
}

uint64_t mcl_optim_steps(const mcl_optim *opt) {
    return opt->t;
}

mcl_optimizer mcl_optim_kind(const mcl_optim *opt) {
    return opt->recipe.optimizer;
}

void mcl_optim_set_momentum(mcl_optim *opt, float momentum) {
    opt->recipe.momentum = momentum;
}

mcl_status mcl_optim_read_state(mcl_optim *opt, float *m, float *v, mcl_error *err) {
    float *dst[2] = {m, v};
    for (int i = 0; i < 2; i++) {
        if (opt->state[i] == NULL) continue;
        MCL_CL_TRY(clEnqueueReadBuffer(opt->ctx->queue, opt->state[i], CL_TRUE, 0,
                                       opt->count * sizeof(float), dst[i], 0, NULL, NULL),
                   err, "reading optimizer state");
    }
    return MCL_OK;
}

mcl_status mcl_optim_write_state(mcl_optim *opt, uint64_t steps, const float *m, const float *v,
                                 mcl_error *err) {
    const float *src[2] = {m, v};
    for (int i = 0; i < 2; i++) {
        if (opt->state[i] == NULL) continue;
        MCL_CL_TRY(clEnqueueWriteBuffer(opt->ctx->queue, opt->state[i], CL_TRUE, 0,
                                        opt->count * sizeof(float), src[i], 0, NULL, NULL),
                   err, "restoring optimizer state");
    }
    opt->t = steps;
    return MCL_OK;
}

void mcl_optim_free(mcl_optim *opt) {
    if (opt == NULL) return;
    for (int i = 0; i < 2; i++)
        if (opt->state[i] != NULL) mcl_cl_release_mem(opt->state[i]);
    if (opt->kernel != NULL) mcl_cl_release_kernel(opt->kernel);
    free(opt);
}

void mcl_adam_reference(float *params, const float *grads, float *m, float *v, size_t count,
                        float lr, uint64_t t) {
    float lr_t = adam_lr_t(lr, t);
    for (size_t i = 0; i < count; i++) {
        float g = grads[i];
        m[i] += (g - m[i]) * (1.0f - MCL_ADAM_BETA1);
        v[i] += (g * g - v[i]) * (1.0f - MCL_ADAM_BETA2);
        params[i] -= lr_t * m[i] / (sqrtf(v[i]) + MCL_ADAM_EPSILON);
    }
}

void mcl_sgd_reference(float *params, const float *grads, float *velocity, size_t count, float lr,
                       float momentum) {
    for (size_t i = 0; i < count; i++) {
        velocity[i] = momentum * velocity[i] - lr * grads[i];
        params[i] += velocity[i];
    }
}
