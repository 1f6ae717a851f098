/* mnist-cl eval CHECKPOINT...: test loss and accuracy, sklearn's classification report, and the
 * confusion matrix (text, JSON, or a heat map), optionally a grid of the misclassified images.
 * Several checkpoints form an ensemble: their softmax probabilities are averaged per image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--data", "PATH",
     "the test data: a folder of IDX files (t10k-*), an .npz (x_test, y_test) or an image folder "
     "(its test/ folder or held-out share), as train takes it (default: the data the first checkpoint was trained on, else "
     "$MNIST_CL_DATA or data/mnist)"},
    {"--test-split", "F", "an image folder without test/: the share train held out (default 0.2)"},
    {"--batch-size", "N", "images per inference batch (default 500)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--confusion-png", "FILE", "also draw the confusion matrix as a heat map (.png or .svg)"},
    {"--errors-png", "FILE",
     "also draw the misclassified test images in a grid, each with its true class, predicted "
     "class and confidence, the most confident mistakes first (.png or .svg)"},
    {"--errors-max", "N", "at most N images in the --errors-png grid (default 100, up to 1000)"},
    {"--help", NULL, "show this help"},
};
enum {
    OPT_DATA,
    OPT_TEST_SPLIT,
    OPT_BATCH,
    OPT_JSON,
    OPT_CONFUSION,
    OPT_ERRORS,
    OPT_ERRORS_MAX,
    OPT_HELP,
    OPT_COUNT
};

#define MAX_CHECKPOINTS 64

/* One checkpoint of the command line and how it did on its own. */
typedef struct eval_member {
    const char *path;
    mcl_eval_result result;
    uint64_t params;
    double seconds; /* building it on the device and evaluating it */
} eval_member;

typedef struct eval_run {
    size_t count;
    mcl_checkpoint *cks[MAX_CHECKPOINTS];
    const char *paths[MAX_CHECKPOINTS];
    eval_member members[MAX_CHECKPOINTS];
    mcl_dataset *test;
    mcl_context *ctx;
    uint32_t classes;
    float *probs;        /* [images * classes]: the model's, or the ensemble's mean */
    uint32_t *confusion; /* [true * classes + predicted] */
    mcl_class_scores *scores;
    char (*names)[256]; /* [classes] each class's label (a folder's class names are <= 255) */
    const char **name_ptrs;
    mcl_report_summary summary;
    mcl_eval_result result;
    mcl_errors_plot_info errors;
    double started; /* when the current member began */
    cli_data_choice data; /* where the test set came from */
} eval_run;

static void eval_run_free(eval_run *r) {
    mcl_context_free(r->ctx);
    mcl_dataset_free(r->test);
    for (size_t i = 0; i < r->count; i++)
        mcl_checkpoint_free(r->cks[i]);
    free(r->probs);
    free(r->confusion);
    free(r->scores);
    free(r->names);
    free(r->name_ptrs);
}

static void on_member(size_t i, const mcl_trainer *trainer, const mcl_eval_result *result,
                      void *user) {
    eval_run *r = user;
    double now = cli_now();
    r->members[i].result = *result;
    r->members[i].params = mcl_trainer_param_count(trainer);
    r->members[i].seconds = now - r->started;
    r->started = now;
    uint32_t steps = 0;
    float momentum = 0;
    if (r->count > 1 && mcl_trainer_bn_initial_share(trainer, &steps, &momentum) > 0.1)
        fprintf(stderr, "mnist-cl: warning: ensemble member %s:\n", r->paths[i]);
    cli_warn_batchnorm(trainer);
}

/* Evaluates the test set (one model, or each member in turn) keeping the probabilities, then
 * counts (true, predicted) pairs and computes the classification report from them. */
static mcl_status evaluate(eval_run *r, uint32_t batch, mcl_error *err) {
    const uint32_t n = mcl_dataset_count(r->test), K = r->classes;
    r->probs = malloc((size_t)n * K * sizeof(float) + 1);
    r->confusion = calloc((size_t)K * K, sizeof(uint32_t));
    r->scores = calloc(K, sizeof *r->scores);
    r->names = calloc(K, sizeof *r->names);
    r->name_ptrs = calloc(K, sizeof *r->name_ptrs);
    if (r->probs == NULL || r->confusion == NULL || r->scores == NULL || r->names == NULL ||
        r->name_ptrs == NULL)
        return cli_set_error(err, MCL_ERR_HOST_MEMORY, "out of host memory");
    for (uint32_t k = 0; k < K; k++) {
        cli_class_label(r->cks[0], k, r->names[k], sizeof r->names[k]);
        r->name_ptrs[k] = r->names[k];
    }
    r->started = cli_now();
    mcl_status st = mcl_ensemble_evaluate(r->ctx, (const mcl_checkpoint *const *)r->cks, r->paths,
                                          r->count, r->test, batch, on_member, r, &r->result,
                                          r->probs, err);
    if (st != MCL_OK) return st;
    /* One model reports the device's loss (log-sum-exp of its logits), as training does. */
    if (r->count == 1) r->result = r->members[0].result;
    mcl_confusion_counts(r->probs, mcl_dataset_labels(r->test), n, K, r->confusion);
    mcl_classification_report(r->confusion, K, r->scores, &r->summary);
    return MCL_OK;
}

/* sklearn warns (UndefinedMetricWarning) when it sets an ill-defined precision or recall to
 * 0.0; so does eval, naming the classes. */
static void warn_zero_division(const eval_run *r) {
    for (int recall = 0; recall < 2; recall++) {
        uint32_t count = recall ? r->summary.no_support : r->summary.no_predictions;
        if (count == 0) continue;
        char list[512] = "";
        size_t len = 0;
        for (uint32_t k = 0; k < r->classes && len + 70 < sizeof list; k++) {
            const mcl_class_scores *c = &r->scores[k];
            if (c->support == 0 && c->predicted == 0) continue;
            if ((recall ? c->support : c->predicted) != 0) continue;
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                                    r->names[k]);
        }
        fprintf(stderr,
                "mnist-cl: warning: %s is ill-defined and set to 0.0 for %u class%s with no %s "
                "samples (%s), as sklearn's zero_division=\"warn\" does\n",
                recall ? "recall" : "precision", count, count == 1 ? "" : "es",
                recall ? "true" : "predicted", list);
    }
}

static void print_errors_line(const eval_run *r, const char *path) {
    printf("\nMisclassified: %u of %u test images; ", r->errors.misclassified, r->result.count);
    if (r->errors.shown == 0)
        printf("none to draw (");
    else if (r->errors.shown == r->errors.misclassified)
        printf("all drawn, the most confident first, to %s (", path);
    else
        printf("the %u most confident drawn to %s (", r->errors.shown, path);
    printf("%ux%u)\n", r->errors.width, r->errors.height);
}

/* The confusion matrix's columns cut class names after this many characters. */
#define NAME_COLUMN_MAX 12

static void print_text(const eval_run *r, const char *const *v) {
    if (r->count == 1) {
        uint32_t epochs = mcl_checkpoint_epoch(r->cks[0]);
        printf("Checkpoint: %s (model %s, %u epoch%s)\n", r->paths[0],
               mcl_model_name(mcl_checkpoint_model(r->cks[0])), epochs, epochs == 1 ? "" : "s");
    } else {
        printf("Ensemble of %zu checkpoints (the mean of their softmax probabilities):\n",
               r->count);
        for (size_t i = 0; i < r->count; i++) {
            const eval_member *m = &r->members[i];
            uint32_t epochs = mcl_checkpoint_epoch(r->cks[i]);
            char params[32];
            cli_thousands(m->params, params, sizeof params);
            printf("  %s (model %s, %u epoch%s, %s params): test loss: %.4f - test accuracy: "
                   "%.4f (%.2f s)\n",
                   m->path, mcl_model_name(mcl_checkpoint_model(r->cks[i])), epochs,
                   epochs == 1 ? "" : "s", params, m->result.loss, m->result.accuracy, m->seconds);
        }
    }
    printf("Data: %s%s\n", r->data.dir, cli_data_origin_note(&r->data));
    printf("Test loss: %.4f - test accuracy: %.4f (%u images)\n", r->result.loss,
           r->result.accuracy, r->result.count);
    if (r->count > 1) {
        uint64_t params = 0;
        double seconds = 0;
        for (size_t i = 0; i < r->count; i++) {
            params += r->members[i].params;
            seconds += r->members[i].seconds;
        }
        char total[32];
        cli_thousands(params, total, sizeof total);
        printf("Cost: %zu forward passes per image, %s params in all; %.2f s for the %u images "
               "(one model on the device at a time)\n",
               r->count, total, seconds, r->result.count);
    }
    printf("\n");
    size_t need = mcl_classification_report_format(r->scores, r->classes, &r->summary,
                                                   r->name_ptrs, 2, NULL, 0);
    char *report = malloc(need + 1);
    if (report != NULL) {
        mcl_classification_report_format(r->scores, r->classes, &r->summary, r->name_ptrs, 2,
                                         report, need + 1);
        fputs(report, stdout);
        free(report);
    }
    const uint32_t K = r->classes;
    /* Columns as wide as the longest class name, 5 to NAME_COLUMN_MAX (names are cut there). */
    int cell = 5;
    for (uint32_t k = 0; k < K; k++)
        if ((int)strlen(r->names[k]) > cell) cell = (int)strlen(r->names[k]);
    if (cell > NAME_COLUMN_MAX) cell = NAME_COLUMN_MAX;
    printf("\nConfusion matrix (rows: true class, columns: predicted class):\n%*s ", cell, "");
    for (uint32_t k = 0; k < K; k++)
        printf(" %*.*s", cell, cell, r->names[k]);
    printf("\n");
    for (uint32_t t = 0; t < K; t++) {
        printf("%*.*s ", cell, cell, r->names[t]);
        for (uint32_t k = 0; k < K; k++)
            printf(" %*u", cell, r->confusion[(size_t)t * K + k]);
        printf("\n");
    }
    if (v[OPT_CONFUSION]) printf("\nConfusion matrix drawn to %s\n", v[OPT_CONFUSION]);
    if (v[OPT_ERRORS]) print_errors_line(r, v[OPT_ERRORS]);
}

static void print_json_scores(const mcl_class_scores *s) {
    printf("{\"precision\": %.6g, \"recall\": %.6g, \"f1-score\": %.6g, \"support\": %llu}",
           s->precision, s->recall, s->f1, (unsigned long long)s->support);
}

static void print_json(const eval_run *r, const char *const *v) {
    const uint32_t K = r->classes;
    if (r->count == 1) {
        printf("{\"data\": ");
        cli_json_string(r->data.dir);
        printf(", \"checkpoint\": ");
        cli_json_string(r->paths[0]);
        printf(", \"model\": ");
        cli_json_string(mcl_model_name(mcl_checkpoint_model(r->cks[0])));
        printf(", \"epochs\": %u, ", mcl_checkpoint_epoch(r->cks[0]));
    } else {
        printf("{\"data\": ");
        cli_json_string(r->data.dir);
        printf(", \"ensemble\": [");
        for (size_t i = 0; i < r->count; i++) {
            const eval_member *m = &r->members[i];
            printf("%s\n  {\"checkpoint\": ", i ? "," : "");
            cli_json_string(m->path);
            printf(", \"model\": ");
            cli_json_string(mcl_model_name(mcl_checkpoint_model(r->cks[i])));
            printf(", \"epochs\": %u, \"params\": %llu, \"loss\": %.6g, \"accuracy\": %.6g, "
                   "\"seconds\": %.3f}",
                   mcl_checkpoint_epoch(r->cks[i]), (unsigned long long)m->params,
                   m->result.loss, m->result.accuracy, m->seconds);
        }
        printf("],\n ");
    }
    printf("\"count\": %u, \"loss\": %.6g, \"accuracy\": %.6g,\n \"classes\": [", r->result.count,
           r->result.loss, r->result.accuracy);
    for (uint32_t k = 0; k < K; k++) {
        const mcl_class_scores *s = &r->scores[k];
        printf("%s\n  {\"class\": %u, ", k ? "," : "", k);
        if (mcl_checkpoint_class_name(r->cks[0], k) != NULL) {
            printf("\"name\": ");
            cli_json_string(mcl_checkpoint_class_name(r->cks[0], k));
            printf(", ");
        }
        printf("\"precision\": %.6g, \"recall\": %.6g, \"f1-score\": %.6g, \"support\": %llu}",
               s->precision, s->recall, s->f1, (unsigned long long)s->support);
    }
    /* sklearn's classification_report(output_dict=True): the reported classes by name, then
     * "accuracy", "macro avg" and "weighted avg". */
    printf("],\n \"classification_report\": {");
    for (uint32_t k = 0; k < K; k++) {
        const mcl_class_scores *s = &r->scores[k];
        if (s->support == 0 && s->predicted == 0) continue;
        printf("\n  ");
        cli_json_string(r->names[k]);
        printf(": ");
        print_json_scores(s);
        printf(",");
    }
    printf("\n  \"accuracy\": %.6g,\n  \"macro avg\": ", r->summary.accuracy);
    print_json_scores(&r->summary.macro_avg);
    printf(",\n  \"weighted avg\": ");
    print_json_scores(&r->summary.weighted_avg);
    printf("},\n \"confusion\": [");
    for (uint32_t t = 0; t < K; t++) {
        printf("%s\n  [", t ? "," : "");
        for (uint32_t k = 0; k < K; k++)
            printf("%s%u", k ? ", " : "", r->confusion[(size_t)t * K + k]);
        printf("]");
    }
    printf("]");
    if (v[OPT_ERRORS]) {
        printf(",\n \"errors_png\": {\"file\": ");
        cli_json_string(v[OPT_ERRORS]);
        printf(", \"misclassified\": %u, \"shown\": %u, \"width\": %u, \"height\": %u}",
               r->errors.misclassified, r->errors.shown, r->errors.width, r->errors.height);
    }
    printf("}\n");
}

/* Where the pictures go is checked before anything is evaluated: the folder and the extension. */
static bool check_picture(const char *path, const char *option) {
    if (path == NULL) return true;
    if (!cli_check_output(path, option)) return false;
    mcl_error err = {0};
    if (mcl_plot_check_path(path, &err) != MCL_OK) {
        cli_error("%s: %s", option, err.message);
        return false;
    }
    return true;
}

/* The errors grid's subtitle: what was evaluated. */
static void describe(const eval_run *r, char *out, size_t size) {
    if (r->count == 1) {
        snprintf(out, size, "%s", r->paths[0]);
        return;
    }
    size_t len = (size_t)snprintf(out, size, "ensemble of %zu:", r->count);
    for (size_t i = 0; i < r->count && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s %s", i ? "," : "", r->paths[i]);
}

int cmd_eval(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    eval_run r = {0};
    if (!cli_parse_positional("eval", argc, argv, options, OPT_COUNT, v, r.paths, MAX_CHECKPOINTS,
                              &r.count))
        return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help(
            "mnist-cl [--platform P] [--device D] eval CHECKPOINT [CHECKPOINT...] [options]",
            "Evaluate a checkpoint on the test set (the t10k files, an .npz's x_test, or an "
            "image folder's test images): loss, accuracy, sklearn's "
            "classification report (precision, recall, F1 and support per class, accuracy, "
            "macro and weighted averages; a precision or recall with nothing to divide by is "
            "0.0, with a warning, as sklearn's zero_division does) and the confusion matrix. "
            "Several checkpoints (up to 64) are evaluated as an ensemble: the mean of their "
            "softmax probabilities is the prediction, and each member's own result is shown. "
            "Their models may differ but must take the same images and have the same classes.",
            options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    if (r.count == 0) {
        cli_error("eval needs a checkpoint file: 'mnist-cl eval model.ckpt' (or several, for "
                  "an ensemble)");
        return CLI_EXIT_USAGE;
    }
    for (size_t i = 0; i < r.count; i++)
        r.members[i].path = r.paths[i];
    if (!check_picture(v[OPT_CONFUSION], "--confusion-png") ||
        !check_picture(v[OPT_ERRORS], "--errors-png"))
        return CLI_EXIT_USAGE;
    uint32_t batch = 500, errors_max = 100;
    if (v[OPT_BATCH] && !cli_u32("--batch-size", v[OPT_BATCH], 1, 1u << 20, &batch))
        return CLI_EXIT_USAGE;
    if (v[OPT_ERRORS_MAX] &&
        !cli_u32("--errors-max", v[OPT_ERRORS_MAX], 1, MCL_PLOT_ERRORS_MAX, &errors_max))
        return CLI_EXIT_USAGE;
    if (v[OPT_ERRORS_MAX] && !v[OPT_ERRORS]) {
        cli_error("--errors-max sets the size of the --errors-png grid: give --errors-png FILE too");
        return CLI_EXIT_USAGE;
    }
    float test_split = 0.0f;
    if (v[OPT_TEST_SPLIT] &&
        (!cli_float("--test-split", v[OPT_TEST_SPLIT], 0.0, 1.0, false, &test_split) ||
         !(test_split > 0.0f))) {
        if (test_split == 0.0f) cli_error("--test-split must be above 0");
        return CLI_EXIT_USAGE;
    }
    mcl_error err = {0};
    mcl_status st = MCL_OK;
    for (size_t i = 0; i < r.count && st == MCL_OK; i++)
        st = mcl_checkpoint_load(r.paths[i], &r.cks[i], &err);
    if (st == MCL_OK)
        st = mcl_ensemble_check((const mcl_checkpoint *const *)r.cks, r.paths, r.count, &err);
    if (st == MCL_OK) st = cli_choose_checkpoint_data(v[OPT_DATA], r.cks[0], r.paths[0], &r.data, &err);
    uint32_t rows = 0, cols = 0;
    if (st == MCL_OK) {
        /* An image folder's test images are resized to what the models take. */
        mcl_checkpoint_input(r.cks[0], &rows, &cols, &r.classes);
        const mcl_data_options opt = {.test_split = test_split, .rows = rows, .cols = cols};
        st = mcl_dataset_load_with(r.data.dir, MCL_SPLIT_TEST, &opt, &r.test, &err);
        if (st != MCL_OK) cli_data_choice_advice(&err, &r.data);
    }
    mcl_dataset_source src = {0};
    mcl_dataset_source_info(r.test, &src);
    if (st == MCL_OK && test_split > 0.0f && !(src.format == MCL_DATA_FOLDER && src.held_out))
        st = cli_set_error(&err, MCL_ERR_USAGE,
                           "--test-split applies to an image folder without train/ and test/ "
                           "folders; %s has its own test set",
                           r.data.dir);
    /* Every member was trained on the data's classes (which also makes them one another's). */
    for (size_t i = 0; i < r.count && st == MCL_OK; i++)
        st = cli_check_class_names(r.cks[i], r.paths[i], r.test, r.data.dir, &err);
    if (st == MCL_OK) {
        if (mcl_dataset_rows(r.test) != rows || mcl_dataset_cols(r.test) != cols)
            st = cli_set_error(&err, MCL_ERR_MODEL, "%s takes %ux%u images but %s has %ux%u",
                               r.paths[0], rows, cols, mcl_dataset_images_path(r.test),
                               mcl_dataset_rows(r.test), mcl_dataset_cols(r.test));
    }
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    if (st == MCL_OK) st = mcl_context_create(&copt, &r.ctx, &err);
    if (st == MCL_OK) st = evaluate(&r, batch, &err);
    if (st == MCL_OK && v[OPT_CONFUSION])
        st = mcl_plot_confusion(r.confusion, r.classes, v[OPT_CONFUSION], &err);
    if (st == MCL_OK && v[OPT_ERRORS]) {
        char subtitle[1024];
        describe(&r, subtitle, sizeof subtitle);
        mcl_errors_plot_options eo = {
            .max_images = errors_max, .class_names = r.name_ptrs, .subtitle = subtitle};
        st = mcl_plot_errors(r.test, r.probs, r.classes, &eo, v[OPT_ERRORS], &r.errors, &err);
    }
    if (st == MCL_OK) {
        warn_zero_division(&r);
        if (v[OPT_JSON])
            print_json(&r, v);
        else
            print_text(&r, v);
    }
    eval_run_free(&r);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
