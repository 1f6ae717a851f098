/* mnist-cl eval CHECKPOINT: test loss and accuracy, per-class precision and recall, and the
 * confusion matrix (text, JSON, or a heat map). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--data", "DIR",
     "folder with the t10k IDX files (default: the data the checkpoint was trained on, else "
     "$MNIST_CL_DATA or data/mnist)"},
    {"--batch-size", "N", "images per inference batch (default 500)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--confusion-png", "FILE", "also draw the confusion matrix as a heat map (.png or .svg)"},
    {"--help", NULL, "show this help"},
};
enum { OPT_DATA, OPT_BATCH, OPT_JSON, OPT_CONFUSION, OPT_HELP, OPT_COUNT };

typedef struct eval_run {
    mcl_checkpoint *ck;
    mcl_dataset *test;
    mcl_context *ctx;
    mcl_trainer *trainer;
    float *probs;
    uint32_t *confusion; /* [true * classes + predicted] */
    cli_data_choice data; /* where the test set came from */
} eval_run;

static void eval_run_free(eval_run *r) {
    mcl_trainer_free(r->trainer);
    mcl_context_free(r->ctx);
    mcl_dataset_free(r->test);
    mcl_checkpoint_free(r->ck);
    free(r->probs);
    free(r->confusion);
}

/* Evaluates the test set in one pass, keeping the probabilities, and counts (true, predicted)
 * pairs from them. */
static mcl_status evaluate(eval_run *r, uint32_t classes, uint32_t batch, mcl_eval_result *res,
                           mcl_error *err) {
    uint32_t n = mcl_dataset_count(r->test);
    r->probs = malloc((size_t)n * classes * sizeof(float) + 1);
    r->confusion = calloc((size_t)classes * classes, sizeof(uint32_t));
    if (r->probs == NULL || r->confusion == NULL)
        return cli_set_error(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    mcl_status st = mcl_trainer_evaluate_probs(r->trainer, r->test, batch, res, r->probs, err);
    if (st != MCL_OK) return st;
    const uint8_t *labels = mcl_dataset_labels(r->test);
    for (uint32_t i = 0; i < n; i++) {
        const float *p = r->probs + (size_t)i * classes;
        uint32_t best = 0;
        for (uint32_t k = 1; k < classes; k++)
            if (p[k] > p[best]) best = k;
        r->confusion[(size_t)labels[i] * classes + best]++;
    }
    return MCL_OK;
}

/* precision = TP / predicted as k, recall = TP / truly k (0 when the denominator is 0). */
static void class_stats(const uint32_t *cm, uint32_t classes, uint32_t k, double *precision,
                        double *recall, uint32_t *support) {
    uint64_t predicted = 0, actual = 0;
    for (uint32_t j = 0; j < classes; j++) {
        predicted += cm[(size_t)j * classes + k];
        actual += cm[(size_t)k * classes + j];
    }
    uint32_t tp = cm[(size_t)k * classes + k];
    *precision = predicted ? (double)tp / (double)predicted : 0.0;
    *recall = actual ? (double)tp / (double)actual : 0.0;
    *support = (uint32_t)actual;
}

static void print_text(const char *path, const eval_run *r, const mcl_eval_result *res,
                       uint32_t classes) {
    uint32_t epochs = mcl_checkpoint_epoch(r->ck);
    printf("Checkpoint: %s (model %s, %u epoch%s)\n", path,
           mcl_model_name(mcl_checkpoint_model(r->ck)), epochs, epochs == 1 ? "" : "s");
    printf("Data: %s%s\n", r->data.dir, cli_data_origin_note(&r->data));
    printf("Test loss: %.4f - test accuracy: %.4f (%u images)\n\n", res->loss, res->accuracy,
           res->count);
    printf("class  precision  recall  support\n");
    for (uint32_t k = 0; k < classes; k++) {
        double p, rc;
        uint32_t support;
        class_stats(r->confusion, classes, k, &p, &rc, &support);
        printf("%5u  %9.4f  %6.4f  %7u\n", k, p, rc, support);
    }
    printf("\nConfusion matrix (rows: true class, columns: predicted class):\n      ");
    for (uint32_t k = 0; k < classes; k++)
        printf(" %5u", k);
    printf("\n");
    for (uint32_t t = 0; t < classes; t++) {
        printf("%5u ", t);
        for (uint32_t k = 0; k < classes; k++)
            printf(" %5u", r->confusion[(size_t)t * classes + k]);
        printf("\n");
    }
}

static void print_json(const char *path, const eval_run *r, const mcl_eval_result *res,
                       uint32_t classes) {
    printf("{\"checkpoint\": ");
    cli_json_string(path);
    printf(", \"data\": ");
    cli_json_string(r->data.dir);
    printf(", \"model\": \"%s\", \"epochs\": %u, \"count\": %u, \"loss\": %.6g, "
           "\"accuracy\": %.6g,\n \"classes\": [",
           mcl_model_name(mcl_checkpoint_model(r->ck)), mcl_checkpoint_epoch(r->ck), res->count,
           res->loss, res->accuracy);
    for (uint32_t k = 0; k < classes; k++) {
        double p, rc;
        uint32_t support;
        class_stats(r->confusion, classes, k, &p, &rc, &support);
        printf("%s\n  {\"class\": %u, \"precision\": %.6g, \"recall\": %.6g, \"support\": %u}",
               k ? "," : "", k, p, rc, support);
    }
    printf("],\n \"confusion\": [");
    for (uint32_t t = 0; t < classes; t++) {
        printf("%s\n  [", t ? "," : "");
        for (uint32_t k = 0; k < classes; k++)
            printf("%s%u", k ? ", " : "", r->confusion[(size_t)t * classes + k]);
        printf("]");
    }
    printf("]}\n");
}

int cmd_eval(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    const char *pos[1];
    size_t npos = 0;
    if (!cli_parse_positional("eval", argc, argv, options, OPT_COUNT, v, pos, 1, &npos))
        return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl [--platform P] [--device D] eval CHECKPOINT [options]",
                       "Evaluate a checkpoint on the test set (t10k files): loss, accuracy, "
                       "per-class precision and recall, and the confusion matrix.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    if (npos != 1) {
        cli_error("eval needs a checkpoint file: 'mnist-cl eval model.ckpt'");
        return CLI_EXIT_USAGE;
    }
    if (v[OPT_CONFUSION] && !cli_check_output(v[OPT_CONFUSION], "--confusion-png"))
        return CLI_EXIT_USAGE;
    uint32_t batch = 500;
    if (v[OPT_BATCH] && !cli_u32("--batch-size", v[OPT_BATCH], 1, 1u << 20, &batch))
        return CLI_EXIT_USAGE;
    eval_run r = {0};
    mcl_error err = {0};
    mcl_status st = mcl_checkpoint_load(pos[0], &r.ck, &err);
    if (st == MCL_OK) st = cli_choose_checkpoint_data(v[OPT_DATA], r.ck, pos[0], &r.data, &err);
    if (st == MCL_OK) {
        st = mcl_dataset_load(r.data.dir, MCL_SPLIT_TEST, &r.test, &err);
        if (st != MCL_OK) cli_data_choice_advice(&err, &r.data);
    }
    uint32_t rows = 0, cols = 0, classes = 0;
    if (st == MCL_OK) {
        mcl_checkpoint_input(r.ck, &rows, &cols, &classes);
        if (mcl_dataset_rows(r.test) != rows || mcl_dataset_cols(r.test) != cols)
            st = cli_set_error(&err, MCL_ERR_MODEL, "%s takes %ux%u images but %s has %ux%u",
                               pos[0], rows, cols, mcl_dataset_images_path(r.test),
                               mcl_dataset_rows(r.test), mcl_dataset_cols(r.test));
    }
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    if (st == MCL_OK) st = mcl_context_create(&copt, &r.ctx, &err);
    if (st == MCL_OK) st = mcl_trainer_create_from_checkpoint(r.ctx, r.ck, batch, &r.trainer, &err);
    if (st == MCL_OK) cli_warn_batchnorm(r.trainer);
    mcl_eval_result res = {0};
    if (st == MCL_OK) st = evaluate(&r, classes, batch, &res, &err);
    if (st == MCL_OK && v[OPT_CONFUSION])
        st = mcl_plot_confusion(r.confusion, classes, v[OPT_CONFUSION], &err);
    if (st == MCL_OK) {
        if (v[OPT_JSON])
            print_json(pos[0], &r, &res, classes);
        else
            print_text(pos[0], &r, &res, classes);
        if (v[OPT_CONFUSION] && !v[OPT_JSON])
            printf("\nConfusion matrix drawn to %s\n", v[OPT_CONFUSION]);
    }
    eval_run_free(&r);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
