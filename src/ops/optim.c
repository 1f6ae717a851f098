/* Keras's optimizers and regularisers over the flat parameter buffer (cl/optim.cl), and their
 * plain C references. What Keras 3 does in optimizer.apply(grads), in order: clip the gradients
 * (clipnorm, or global_clipnorm, or clipvalue: at most one is set), apply the decoupled weight
 * decay (w -= w * weight_decay * lr, every trainable variable), then the update rule. The L2
 * kernel regulariser is part of the loss, so its gradient is added before any of that. */
#include "ops/optim.h"
#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Floats per chunk of the reductions: a work-group's share, short enough that a model's
 * largest tensor (MNIST-sized) gives every core a chunk. Host-side only: the chunk table
 * tells the kernels. */
#define CHUNK_FLOATS 4096u
#define MAX_REDUCE_GROUP 256u

/* A chunk table on the device ([chunks, 3] uint: first float, length, segment) with its
 * scratch (one partial sum per chunk) and the work-group size of the reductions. */
typedef struct chunk_table {
    cl_mem table, partial;
    cl_uint count;
    size_t group;
} chunk_table;

/* `users`: the kernels that will run over the table (its work-group size fits them all). */
static mcl_status chunk_table_create(mcl_context *ctx, const mcl_param_segment *segments,
                                     size_t segment_count, bool kernels_only,
                                     const cl_kernel users[2], chunk_table *out, mcl_error *err) {
    memset(out, 0, sizeof *out);
    size_t count = 0;
    for (size_t s = 0; s < segment_count; s++)
        if (!kernels_only || segments[s].kernel)
            count += (segments[s].count + CHUNK_FLOATS - 1) / CHUNK_FLOATS;
    if (count == 0) return MCL_OK;
    if (count > UINT32_MAX / 3)
        return mcl_fail(err, MCL_ERR_MODEL, "the model has too many parameters");
    cl_uint *host = mcl_malloc(count * 3 * sizeof *host);
    if (host == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY,
                        "out of host memory for the optimizer's segment table");
    size_t c = 0;
    for (size_t s = 0; s < segment_count; s++) {
        if (kernels_only && !segments[s].kernel) continue;
        for (size_t at = 0; at < segments[s].count; at += CHUNK_FLOATS, c++) {
            size_t left = segments[s].count - at;
            host[3 * c] = (cl_uint)(segments[s].offset + at);
            host[3 * c + 1] = (cl_uint)(left < CHUNK_FLOATS ? left : CHUNK_FLOATS);
            host[3 * c + 2] = (cl_uint)s;
        }
    }
    out->count = (cl_uint)count;
    mcl_status st = mcl_buffer_create(ctx, count * 3 * sizeof *host, &out->table,
                                      "the gradient chunk table", err);
    if (st == MCL_OK)
        st = MCL_CL_CHECK(clEnqueueWriteBuffer(ctx->queue, out->table, CL_TRUE, 0,
                                               count * 3 * sizeof *host, host, 0, NULL, NULL),
                          err, "uploading the gradient chunk table");
    free(host);
    if (st == MCL_OK)
        st = mcl_buffer_create(ctx, count * sizeof(float), &out->partial, "gradient norms", err);
    /* A power of two (the kernels' tree), one local float per work-item. */
    size_t limit = MAX_REDUCE_GROUP;
    for (int k = 0; k < 2 && st == MCL_OK; k++) {
        size_t kernel_limit = 1;
        st = mcl_kernel_group_limit(ctx, users[k], 0, sizeof(float), &kernel_limit, err);
        if (kernel_limit < limit) limit = kernel_limit;
    }
    out->group = 1;
    while (out->group * 2 <= limit)
        out->group *= 2;
    return st;
}

static void chunk_table_free(chunk_table *c) {
    if (c->table != NULL) mcl_cl_release_mem(c->table);
    if (c->partial != NULL) mcl_cl_release_mem(c->partial);
    memset(c, 0, sizeof *c);
}

/* One work-group per chunk. */
static mcl_status enqueue_chunks(mcl_context *ctx, cl_kernel k, const chunk_table *c,
                                 mcl_error *err) {
    size_t global = c->count * c->group;
    return mcl_enqueue_local(ctx, k, 1, &global, &c->group, err);
}

static mcl_status enqueue_single(mcl_context *ctx, cl_kernel k, mcl_error *err) {
    size_t one = 1;
    return mcl_enqueue_local(ctx, k, 1, &one, &one, err);
}

/* ---------------------------------------------------------------- optimizers */

enum { K_UPDATE, K_CLIP_VALUE, K_SUMSQ, K_CLIP_FACTORS, K_SCALE, K_COUNT };

struct mcl_optim {
    mcl_context *ctx; /* borrowed */
    mcl_recipe recipe;
    size_t count;
    uint64_t t;                     /* steps taken */
    unsigned slots;                 /* mcl_optim_slots of the recipe it was made for */
    cl_mem state[MCL_OPTIM_SLOTS];  /* [count] each, where slots says */
    cl_kernel kernels[K_COUNT];
    chunk_table chunks;             /* every segment: clipping by norm */
    cl_mem factors;                 /* [segments] clipping factors */
};

unsigned mcl_optim_slots(const mcl_recipe *r) {
    switch (r->optimizer) {
    case MCL_OPTIMIZER_ADAM:
    case MCL_OPTIMIZER_ADAMW:
        return 1u << MCL_OPTIM_M | 1u << MCL_OPTIM_V;
    case MCL_OPTIMIZER_RMSPROP:
        return 1u << MCL_OPTIM_V | (r->momentum > 0.0f ? 1u << MCL_OPTIM_M : 0u) |
               (r->centered ? 1u << MCL_OPTIM_MG : 0u);
    case MCL_OPTIMIZER_SGD:
    default:
        return 1u << MCL_OPTIM_M;
    }
}

static bool is_adam(mcl_optimizer kind) {
    return kind == MCL_OPTIMIZER_ADAM || kind == MCL_OPTIMIZER_ADAMW;
}

/* Adam's bias correction folded into the step size, computed in double on the host. */
static float adam_lr_t(float lr, uint64_t t) {
    double b1t = pow((double)MCL_ADAM_BETA1, (double)t),
           b2t = pow((double)MCL_ADAM_BETA2, (double)t);
    return (float)((double)lr * sqrt(1.0 - b2t) / (1.0 - b1t));
}

mcl_status mcl_optim_create(mcl_context *ctx, const mcl_recipe *recipe, size_t count,
                            const mcl_param_segment *segments, size_t segment_count,
                            mcl_optim **out, mcl_error *err) {
    *out = NULL;
    if (count > UINT32_MAX || segment_count > UINT32_MAX)
        return mcl_fail(err, MCL_ERR_MODEL, "the model has too many parameters (%zu)", count);
    if ((unsigned)recipe->optimizer >= MCL_OPTIMIZER_COUNT)
        return mcl_fail(err, MCL_ERR_USAGE, "unknown optimizer %u", (unsigned)recipe->optimizer);
    mcl_optim *opt = mcl_calloc(1, sizeof *opt);
    if (opt == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the optimizer");
    opt->ctx = ctx;
    opt->recipe = *recipe;
    opt->count = count;
    opt->slots = mcl_optim_slots(recipe);
    const char *update = is_adam(recipe->optimizer)                   ? "adam_step"
                         : recipe->optimizer == MCL_OPTIMIZER_RMSPROP ? "rmsprop_step"
                                                                      : "sgd_step";
    static const char *const names[K_COUNT] = {NULL, "clip_by_value", "chunk_sumsq",
                                               "clip_norm_factors", "chunk_scale"};
    mcl_status st = mcl_kernel_create(ctx, update, &opt->kernels[K_UPDATE], err);
    for (int k = 1; k < K_COUNT && st == MCL_OK; k++)
        st = mcl_kernel_create(ctx, names[k], &opt->kernels[k], err);
    for (int i = 0; i < MCL_OPTIM_SLOTS && st == MCL_OK; i++) {
        if (!(opt->slots & 1u << i)) continue;
        st = mcl_buffer_create(ctx, count * sizeof(float), &opt->state[i], "optimizer state", err);
        const float zero = 0.0f;
        if (st == MCL_OK)
            st = mcl_fill(ctx, opt->state[i], &zero, sizeof zero, 0, count * sizeof(float),
                          "zeroing optimizer state", err);
    }
    if (st == MCL_OK)
        st = chunk_table_create(ctx, segments, segment_count, false,
                                (const cl_kernel[]){opt->kernels[K_SUMSQ], opt->kernels[K_SCALE]},
                                &opt->chunks, err);
    if (st == MCL_OK && segment_count > 0)
        st = mcl_buffer_create(ctx, segment_count * sizeof(float), &opt->factors,
                               "gradient clipping factors", err);
    if (st != MCL_OK) {
        mcl_optim_free(opt);
        return st;
    }
    *out = opt;
    return MCL_OK;
}

bool mcl_optim_fits(const mcl_optim *opt, const mcl_recipe *recipe) {
    return opt->recipe.optimizer == recipe->optimizer && opt->slots == mcl_optim_slots(recipe);
}

void mcl_optim_set_recipe(mcl_optim *opt, const mcl_recipe *recipe) {
    opt->recipe = *recipe;
}

/* Keras's _clip_gradients: clipnorm first, then global_clipnorm, then clipvalue (the recipe
 * sets at most one: mcl_trainer_fit refuses more). */
static mcl_status clip(mcl_optim *opt, cl_mem grads, mcl_error *err) {
    const mcl_recipe *r = &opt->recipe;
    mcl_context *ctx = opt->ctx;
    if (r->clipnorm > 0.0f || r->global_clipnorm > 0.0f) {
        if (opt->chunks.count == 0) return MCL_OK;
        cl_int global = !(r->clipnorm > 0.0f);
        cl_float limit = global ? r->global_clipnorm : r->clipnorm;
        cl_kernel sumsq = opt->kernels[K_SUMSQ], factors = opt->kernels[K_CLIP_FACTORS],
                  scale = opt->kernels[K_SCALE];
        mcl_status st = MCL_SET_ARGS(sumsq, err, MCL_ARG(grads), MCL_ARG(opt->chunks.table),
                                     MCL_ARG(opt->chunks.partial),
                                     MCL_LOCAL_ARG(opt->chunks.group * sizeof(float)));
        if (st == MCL_OK) st = enqueue_chunks(ctx, sumsq, &opt->chunks, err);
        if (st == MCL_OK)
            st = MCL_SET_ARGS(factors, err, MCL_ARG(opt->chunks.partial),
                              MCL_ARG(opt->chunks.table), MCL_ARG(opt->chunks.count),
                              MCL_ARG(limit), MCL_ARG(global), MCL_ARG(opt->factors));
        if (st == MCL_OK) st = enqueue_single(ctx, factors, err);
        if (st == MCL_OK)
            st = MCL_SET_ARGS(scale, err, MCL_ARG(grads), MCL_ARG(opt->chunks.table),
                              MCL_ARG(opt->factors));
        if (st == MCL_OK) st = enqueue_chunks(ctx, scale, &opt->chunks, err);
        return st;
    }
    if (r->clipvalue > 0.0f) {
        cl_uint count = (cl_uint)opt->count;
        cl_float limit = r->clipvalue;
        cl_kernel k = opt->kernels[K_CLIP_VALUE];
        mcl_status st = MCL_SET_ARGS(k, err, MCL_ARG(grads), MCL_ARG(count), MCL_ARG(limit));
        size_t per_item = (size_t)ctx->shapes.vector.width * ctx->shapes.vector.span;
        size_t global = (opt->count + per_item - 1) / per_item;
        return st != MCL_OK ? st : mcl_enqueue_vector(ctx, k, 1, &global, NULL, err);
    }
    return MCL_OK;
}

mcl_status mcl_optim_step(mcl_optim *opt, cl_mem params, cl_mem grads, float lr, cl_event *done,
                          mcl_error *err) {
    opt->t++;
    const mcl_recipe *r = &opt->recipe;
    mcl_status st = clip(opt, grads, err);
    if (st != MCL_OK) return st;
    cl_uint count = (cl_uint)opt->count;
    cl_float decay = lr * r->weight_decay; /* Keras: w - w * weight_decay * lr */
    cl_kernel k = opt->kernels[K_UPDATE];
    if (is_adam(r->optimizer)) {
        cl_float lr_t = adam_lr_t(lr, opt->t);
        cl_float b1 = MCL_ADAM_BETA1, b2 = MCL_ADAM_BETA2, eps = MCL_ADAM_EPSILON;
        st = MCL_SET_ARGS(k, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(opt->state[0]),
                          MCL_ARG(opt->state[1]), MCL_ARG(count), MCL_ARG(lr_t), MCL_ARG(b1),
                          MCL_ARG(b2), MCL_ARG(eps), MCL_ARG(decay));
    } else if (r->optimizer == MCL_OPTIMIZER_RMSPROP) {
        cl_float lr_f = lr, rho = r->rho, momentum = r->momentum, eps = MCL_RMSPROP_EPSILON;
        cl_int centered = (opt->slots & 1u << MCL_OPTIM_MG) != 0,
               use_momentum = (opt->slots & 1u << MCL_OPTIM_M) != 0;
        cl_mem v = opt->state[MCL_OPTIM_V];
        /* Absent slots: the kernel does not touch them; v stands in. */
        cl_mem m = use_momentum ? opt->state[MCL_OPTIM_M] : v;
        cl_mem mg = centered ? opt->state[MCL_OPTIM_MG] : v;
        st = MCL_SET_ARGS(k, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(v), MCL_ARG(m),
                          MCL_ARG(mg), MCL_ARG(count), MCL_ARG(lr_f), MCL_ARG(rho),
                          MCL_ARG(momentum), MCL_ARG(eps), MCL_ARG(decay), MCL_ARG(centered),
                          MCL_ARG(use_momentum));
    } else {
        cl_float lr_f = lr, momentum = r->momentum;
        cl_int nesterov = r->nesterov;
        st = MCL_SET_ARGS(k, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(opt->state[0]),
                          MCL_ARG(count), MCL_ARG(lr_f), MCL_ARG(momentum), MCL_ARG(decay),
                          MCL_ARG(nesterov));
    }
    size_t per_item = (size_t)opt->ctx->shapes.vector.width * opt->ctx->shapes.vector.span;
    size_t global = (opt->count + per_item - 1) / per_item;
    return st != MCL_OK ? st : mcl_enqueue_vector(opt->ctx, k, 1, &global, done, err);
}

uint64_t mcl_optim_steps(const mcl_optim *opt) {
    return opt->t;
}

mcl_optimizer mcl_optim_kind(const mcl_optim *opt) {
    return opt->recipe.optimizer;
}

unsigned mcl_optim_state_slots(const mcl_optim *opt) {
    return opt->slots;
}

mcl_status mcl_optim_read_state(mcl_optim *opt, float *const state[MCL_OPTIM_SLOTS],
                                mcl_error *err) {
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++) {
        if (opt->state[i] == NULL) continue;
        MCL_CL_TRY(clEnqueueReadBuffer(opt->ctx->queue, opt->state[i], CL_TRUE, 0,
                                       opt->count * sizeof(float), state[i], 0, NULL, NULL),
                   err, "reading optimizer state");
    }
    return MCL_OK;
}

mcl_status mcl_optim_write_state(mcl_optim *opt, uint64_t steps,
                                 const float *const state[MCL_OPTIM_SLOTS], mcl_error *err) {
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++) {
        if (opt->state[i] == NULL) continue;
        MCL_CL_TRY(clEnqueueWriteBuffer(opt->ctx->queue, opt->state[i], CL_TRUE, 0,
                                        opt->count * sizeof(float), state[i], 0, NULL, NULL),
                   err, "restoring optimizer state");
    }
    opt->t = steps;
    return MCL_OK;
}

void mcl_optim_free(mcl_optim *opt) {
    if (opt == NULL) return;
    for (int i = 0; i < MCL_OPTIM_SLOTS; i++)
        if (opt->state[i] != NULL) mcl_cl_release_mem(opt->state[i]);
    for (int k = 0; k < K_COUNT; k++)
        if (opt->kernels[k] != NULL) mcl_cl_release_kernel(opt->kernels[k]);
    chunk_table_free(&opt->chunks);
    if (opt->factors != NULL) mcl_cl_release_mem(opt->factors);
    free(opt);
}

/* ---------------------------------------------------------------- the L2 regulariser */

struct mcl_l2 {
    mcl_context *ctx; /* borrowed */
    chunk_table chunks; /* the kernels' chunks */
    cl_kernel grad_sumsq, sumsq, add_loss;
};

mcl_status mcl_l2_create(mcl_context *ctx, const mcl_param_segment *segments,
                         size_t segment_count, mcl_l2 **out, mcl_error *err) {
    *out = NULL;
    mcl_l2 *r = mcl_calloc(1, sizeof *r);
    if (r == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the L2 penalty");
    r->ctx = ctx;
    mcl_status st = mcl_kernel_create(ctx, "l2_grad_sumsq", &r->grad_sumsq, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "chunk_sumsq", &r->sumsq, err);
    if (st == MCL_OK) st = mcl_kernel_create(ctx, "l2_add_loss", &r->add_loss, err);
    if (st == MCL_OK)
        st = chunk_table_create(ctx, segments, segment_count, true,
                                (const cl_kernel[]){r->grad_sumsq, r->sumsq}, &r->chunks, err);
    if (st != MCL_OK) {
        mcl_l2_free(r);
        return st;
    }
    *out = r;
    return MCL_OK;
}

mcl_status mcl_l2_enqueue(mcl_l2 *r, cl_mem params, cl_mem grads, float l2, cl_mem metrics,
                          uint32_t slot, uint32_t samples, mcl_error *err) {
    if (r->chunks.count == 0 || !(l2 > 0.0f)) return MCL_OK; /* no kernel to penalise */
    mcl_status st;
    cl_kernel reduce = grads != NULL ? r->grad_sumsq : r->sumsq;
    if (grads != NULL) {
        cl_float two_l2 = 2.0f * l2;
        st = MCL_SET_ARGS(reduce, err, MCL_ARG(params), MCL_ARG(grads), MCL_ARG(r->chunks.table),
                          MCL_ARG(r->chunks.partial), MCL_ARG(two_l2),
                          MCL_LOCAL_ARG(r->chunks.group * sizeof(float)));
    } else {
        st = MCL_SET_ARGS(reduce, err, MCL_ARG(params), MCL_ARG(r->chunks.table),
                          MCL_ARG(r->chunks.partial),
                          MCL_LOCAL_ARG(r->chunks.group * sizeof(float)));
    }
    if (st == MCL_OK) st = enqueue_chunks(r->ctx, reduce, &r->chunks, err);
    cl_uint s = slot;
    cl_float scale = (float)samples * l2;
    if (st == MCL_OK)
        st = MCL_SET_ARGS(r->add_loss, err, MCL_ARG(r->chunks.partial), MCL_ARG(r->chunks.count),
                          MCL_ARG(metrics), MCL_ARG(s), MCL_ARG(scale));
    if (st == MCL_OK) st = enqueue_single(r->ctx, r->add_loss, err);
    return st;
}

void mcl_l2_free(mcl_l2 *r) {
    if (r == NULL) return;
    cl_kernel ks[] = {r->grad_sumsq, r->sumsq, r->add_loss};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (ks[i] != NULL) mcl_cl_release_kernel(ks[i]);
    chunk_table_free(&r->chunks);
    free(r);
}

/* ---------------------------------------------------------------- references */

static void decay_reference(float *p, float decay) {
    if (decay != 0.0f) *p -= *p * decay;
}

void mcl_adam_reference(float *params, const float *grads, float *m, float *v, size_t count,
                        float lr, uint64_t t, float decay) {
    float lr_t = adam_lr_t(lr, t);
    for (size_t i = 0; i < count; i++) {
        float g = grads[i];
        m[i] += (g - m[i]) * (1.0f - MCL_ADAM_BETA1);
        v[i] += (g * g - v[i]) * (1.0f - MCL_ADAM_BETA2);
        decay_reference(&params[i], decay);
        params[i] -= lr_t * m[i] / (sqrtf(v[i]) + MCL_ADAM_EPSILON);
    }
}

void mcl_sgd_reference(float *params, const float *grads, float *velocity, size_t count, float lr,
                       float momentum, bool nesterov, float decay) {
    for (size_t i = 0; i < count; i++) {
        velocity[i] = momentum * velocity[i] - lr * grads[i];
        decay_reference(&params[i], decay);
        params[i] += nesterov ? momentum * velocity[i] - lr * grads[i] : velocity[i];
    }
}

void mcl_rmsprop_reference(float *params, const float *grads, float *v, float *m, float *mg,
                           size_t count, float lr, float rho, float momentum, bool centered,
                           float decay) {
    for (size_t i = 0; i < count; i++) {
        float g = grads[i];
        v[i] = rho * v[i] + (1.0f - rho) * (g * g);
        float denominator = v[i] + MCL_RMSPROP_EPSILON;
        if (centered) {
            mg[i] = rho * mg[i] + (1.0f - rho) * g;
            denominator = v[i] - mg[i] * mg[i] + MCL_RMSPROP_EPSILON;
        }
        float inc = lr * g / sqrtf(denominator);
        decay_reference(&params[i], decay);
        if (m != NULL) {
            m[i] = momentum * m[i] + inc;
            params[i] -= m[i];
        } else {
            params[i] -= inc;
        }
    }
}

static float clip_factor_reference(double norm, float clipnorm) {
    if (!isfinite(norm)) return NAN;
    return norm > clipnorm ? (float)(clipnorm / norm) : 1.0f;
}

void mcl_clip_reference(float *grads, size_t count, const mcl_param_segment *segments,
                        size_t segment_count, const mcl_recipe *r) {
    if (r->clipnorm > 0.0f || r->global_clipnorm > 0.0f) {
        double total = 0.0;
        for (size_t s = 0; s < segment_count; s++)
            for (size_t i = 0; i < segments[s].count; i++)
                total += (double)grads[segments[s].offset + i] * grads[segments[s].offset + i];
        float global = clip_factor_reference(sqrt(total), r->global_clipnorm);
        for (size_t s = 0; s < segment_count; s++) {
            float *g = grads + segments[s].offset;
            float f = global;
            if (r->clipnorm > 0.0f) {
                double sum = 0.0;
                for (size_t i = 0; i < segments[s].count; i++)
                    sum += (double)g[i] * g[i];
                f = clip_factor_reference(sqrt(sum), r->clipnorm);
            }
            for (size_t i = 0; i < segments[s].count; i++)
                g[i] *= f;
        }
    } else if (r->clipvalue > 0.0f) {
        float v = r->clipvalue;
        for (size_t i = 0; i < count; i++)
            grads[i] = grads[i] > v ? v : grads[i] < -v ? -v : grads[i];
    }
}

double mcl_l2_reference(const float *params, float *grads, const mcl_param_segment *segments,
                        size_t segment_count, float l2) {
    double sum = 0.0;
    for (size_t s = 0; s < segment_count; s++) {
        if (!segments[s].kernel) continue;
        for (size_t i = 0; i < segments[s].count; i++) {
            size_t j = segments[s].offset + i;
            if (grads != NULL) grads[j] += 2.0f * l2 * params[j];
            sum += (double)params[j] * params[j];
        }
    }
    return (double)l2 * sum;
}
