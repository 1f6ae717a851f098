/* Ensembles of checkpoints: each member is built on the device, run over the images and freed
 * before the next, and the host keeps the running sum of their softmax probabilities (doubles,
 * images x classes), so device memory is one model's whatever the ensemble's size. The mean is
 * the ensemble's prediction, as averaging the outputs of Keras models does. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/checkpoint.h"

static const char *member_name(const char *const *names, size_t i, char *buf, size_t size) {
    if (names != NULL && names[i] != NULL) return names[i];
    snprintf(buf, size, "checkpoint %zu", i + 1);
    return buf;
}

mcl_status mcl_ensemble_check(const mcl_checkpoint *const *cks, const char *const *names,
                              size_t count, mcl_error *err) {
    if (cks == NULL || count == 0)
        return mcl_fail(err, MCL_ERR_USAGE, "an ensemble needs at least one checkpoint");
    const mcl_checkpoint *first = cks[0];
    char a[32], b[32];
    for (size_t i = 1; i < count; i++) {
        const mcl_checkpoint *c = cks[i];
        if (c->rows != first->rows || c->cols != first->cols)
            return mcl_fail(err, MCL_ERR_MODEL,
                            "%s takes %ux%u images but %s takes %ux%u: the models of an "
                            "ensemble must take the same images",
                            member_name(names, i, a, sizeof a), c->rows, c->cols,
                            member_name(names, 0, b, sizeof b), first->rows, first->cols);
        if (c->classes != first->classes)
            return mcl_fail(err, MCL_ERR_MODEL,
                            "%s has %u classes but %s has %u: the models of an ensemble must "
                            "have the same classes",
                            member_name(names, i, a, sizeof a), c->classes,
                            member_name(names, 0, b, sizeof b), first->classes);
    }
    return MCL_OK;
}

/* sum [n * classes] += member's probabilities. */
static void accumulate(double *sum, const float *probs, size_t values) {
    for (size_t i = 0; i < values; i++)
        sum[i] += probs[i];
}

/* probs = sum / count, rounded to float. */
static void average(const double *sum, size_t values, size_t count, float *probs) {
    for (size_t i = 0; i < values; i++)
        probs[i] = (float)(sum[i] / (double)count);
}

mcl_status mcl_ensemble_evaluate(mcl_context *ctx, const mcl_checkpoint *const *cks,
                                 const char *const *names, size_t count, const mcl_dataset *data,
                                 uint32_t batch_size, mcl_ensemble_member_fn on_member, void *user,
                                 mcl_eval_result *out, float *probs, mcl_error *err) {
    mcl_status st = mcl_ensemble_check(cks, names, count, err);
    if (st != MCL_OK) return st;
    if (data == NULL || probs == NULL || out == NULL)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_ensemble_evaluate: data, probs or out is NULL");
    const uint32_t rows = cks[0]->rows, cols = cks[0]->cols, classes = cks[0]->classes;
    char name[32];
    if (mcl_dataset_rows(data) != rows || mcl_dataset_cols(data) != cols)
        return mcl_fail(err, MCL_ERR_MODEL, "%s takes %ux%u images but %s has %ux%u",
                        member_name(names, 0, name, sizeof name), rows, cols,
                        mcl_dataset_images_path(data), mcl_dataset_rows(data),
                        mcl_dataset_cols(data));
    st = mcl_dataset_check_labels(data, classes, err);
    if (st != MCL_OK) return st;
    const uint32_t n = mcl_dataset_count(data);
    const size_t values = (size_t)n * classes;
    double *sum = mcl_calloc(values + 1, sizeof *sum);
    if (sum == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the ensemble's sums");
    /* Each member's probabilities land in the caller's buffer, then join the sum. */
    for (size_t i = 0; i < count && st == MCL_OK; i++) {
        mcl_trainer *t = NULL;
        st = mcl_trainer_create_from_checkpoint(ctx, cks[i], batch_size, &t, err);
        mcl_eval_result member = {0};
        if (st == MCL_OK) st = mcl_trainer_evaluate_probs(t, data, batch_size, &member, probs, err);
        if (st == MCL_OK && on_member != NULL) on_member(i, t, &member, user);
        mcl_trainer_free(t);
        if (st == MCL_OK) accumulate(sum, probs, values);
        if (st != MCL_OK && count > 1)
            mcl_error_prefix(err, "%s", member_name(names, i, name, sizeof name));
    }
    if (st == MCL_OK) {
        average(sum, values, count, probs);
        const uint8_t *labels = mcl_dataset_labels(data);
        double loss = 0;
        uint64_t correct = 0;
        for (uint32_t s = 0; s < n; s++) {
            const size_t row = (size_t)s * classes;
            double p = sum[row + labels[s]] / (double)count;
            loss -= log(fmax(p, FLT_MIN));
            correct += mcl_predicted_class(probs + row, classes) == labels[s];
        }
        *out = (mcl_eval_result){.count = n,
                                 .loss = n > 0 ? loss / n : 0.0,
                                 .accuracy = n > 0 ? (double)correct / n : 0.0};
    }
    free(sum);
    return st;
}

mcl_status mcl_ensemble_predict(mcl_context *ctx, const mcl_checkpoint *const *cks,
                                const char *const *names, size_t count, const float *images,
                                uint32_t n, uint32_t batch_size, float *probs, mcl_error *err) {
    mcl_status st = mcl_ensemble_check(cks, names, count, err);
    if (st != MCL_OK) return st;
    if (batch_size == 0)
        return mcl_fail(err, MCL_ERR_USAGE, "mcl_ensemble_predict: the batch size must be >= 1");
    if (n == 0) return MCL_OK;
    const size_t values = (size_t)n * cks[0]->classes;
    double *sum = mcl_calloc(values + 1, sizeof *sum);
    if (sum == NULL)
        return mcl_fail(err, MCL_ERR_HOST_MEMORY, "out of host memory for the ensemble's sums");
    char name[32];
    for (size_t i = 0; i < count && st == MCL_OK; i++) {
        mcl_trainer *t = NULL;
        st = mcl_trainer_create_from_checkpoint(ctx, cks[i], batch_size, &t, err);
        if (st == MCL_OK) st = mcl_trainer_predict(t, images, n, probs, err);
        mcl_trainer_free(t);
        if (st == MCL_OK) accumulate(sum, probs, values);
        if (st != MCL_OK && count > 1)
            mcl_error_prefix(err, "%s", member_name(names, i, name, sizeof name));
    }
    if (st == MCL_OK) average(sum, values, count, probs);
    free(sum);
    return st;
}
