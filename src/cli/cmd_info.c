/* mnist-cl info CHECKPOINT: what a checkpoint holds, without a device: the model, its recipe,
 * the data it was trained on, the epochs done with their history, and its test metrics. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--json", NULL, "print one JSON object instead of text"},
    {"--source", NULL, "also print the model's description in the model language"},
    {"--help", NULL, "show this help"},
};
enum { OPT_JSON, OPT_SOURCE, OPT_HELP, OPT_COUNT };

/* Everything printed, made before the first line so that a failure prints nothing. */
typedef struct info {
    const char *path;
    mcl_checkpoint *ck;
    uint64_t file_bytes, trainable, fixed;
    uint32_t rows, cols, classes;
    char *summary;      /* the Keras table, text */
    char *summary_json; /* the same as JSON (--json) */
    cli_run_json json;
} info;

static void info_free(info *in) {
    free(in->summary);
    free(in->summary_json);
    cli_run_json_free(&in->json);
    mcl_checkpoint_free(in->ck);
}

static void print_data_text(const info *in) {
    const mcl_data_record *d = mcl_checkpoint_data_record(in->ck);
    if (d == NULL) {
        printf("Data: not recorded (an older mnist-cl wrote this checkpoint); %ux%u images, %u "
               "classes\n",
               in->rows, in->cols, in->classes);
        return;
    }
    printf("Data: %s", d->source);
    if (d->limit > 0) printf(", --limit %u", d->limit);
    if (d->classes > 0) printf(", --classes %u", d->classes);
    printf(": %u training, %u validation, %u test images of %ux%u, %u classes (fingerprint "
           "%08x)\n",
           d->train_images, d->val_images, d->test_images, in->rows, in->cols, in->classes,
           d->fingerprint);
}

static void print_history_text(const mcl_epoch_result *h, size_t n) {
    if (n == 0) {
        printf("History: no epoch has finished\n");
        return;
    }
    printf("History:\n%5s %9s %9s %9s %12s %10s %8s\n", "epoch", "loss", "accuracy", "val_loss",
           "val_accuracy", "lr", "seconds");
    for (size_t i = 0; i < n; i++) {
        printf("%5u %9.4f %9.4f", h[i].epoch, h[i].loss, h[i].accuracy);
        if (h[i].has_validation)
            printf(" %9.4f %12.4f", h[i].val_loss, h[i].val_accuracy);
        else
            printf(" %9s %12s", "-", "-");
        printf(" %10.4g %8.2f\n", h[i].learning_rate, h[i].seconds);
    }
}

static void print_text(const info *in, bool source) {
    const mcl_checkpoint *ck = in->ck;
    char bytes[32], total[32], trainable[32];
    cli_thousands(in->file_bytes, bytes, sizeof bytes);
    cli_thousands(in->trainable + in->fixed, total, sizeof total);
    cli_thousands(in->trainable, trainable, sizeof trainable);
    printf("Checkpoint: %s (%s bytes, checksum OK): %s params, %s trainable\n", in->path, bytes,
           total, trainable);
    fputs(in->summary, stdout);
    if (source)
        printf("%s%s", mcl_checkpoint_model_text(ck),
               strchr(mcl_checkpoint_model_text(ck), '\0')[-1] == '\n' ? "" : "\n");
    printf("Recipe: ");
    cli_print_recipe(mcl_checkpoint_recipe(ck));
    printf("; seed %llu\n", (unsigned long long)mcl_checkpoint_seed(ck));
    print_data_text(in);
    uint32_t done = mcl_checkpoint_epoch(ck), step = mcl_checkpoint_epoch_step(ck);
    uint32_t planned = mcl_checkpoint_recipe(ck)->epochs;
    printf("Epochs: %u of %u done", done, planned);
    if (step > 0)
        printf(", stopped in epoch %u at step %u (--resume continues there)", done + 1, step);
    printf("\n");
    size_t n = 0;
    const mcl_epoch_result *h = mcl_checkpoint_history(ck, &n);
    print_history_text(h, n);
    const mcl_eval_result *t = mcl_checkpoint_test_result(ck);
    if (t != NULL)
        printf("Test: loss %.4f - accuracy %.4f on %u test images\n", t->loss, t->accuracy,
               t->count);
    else
        printf("Test: not measured for these weights (train measures it when a run ends; "
               "'mnist-cl eval %s' measures it now)\n",
               in->path);
}

static void print_json(const info *in) {
    const mcl_checkpoint *ck = in->ck;
    printf("{\"checkpoint\": ");
    cli_json_string(in->path);
    printf(", \"file_bytes\": %llu, \"checksum_ok\": true, \"mnist_cl_version\": \"%s\",\n",
           (unsigned long long)in->file_bytes, MCL_VERSION);
    printf(" \"model\": {\"name\": ");
    cli_json_string(mcl_model_name(mcl_checkpoint_model(ck)));
    printf(", \"params\": %llu, \"trainable_params\": %llu, \"non_trainable_params\": %llu, "
           "\"text\": ",
           (unsigned long long)(in->trainable + in->fixed), (unsigned long long)in->trainable,
           (unsigned long long)in->fixed);
    cli_json_string(mcl_checkpoint_model_text(ck));
    printf(",\n \"summary\": %s},\n", in->summary_json);
    printf(" \"input\": {\"rows\": %u, \"cols\": %u}, \"classes\": %u, \"class_names\": [",
           in->rows, in->cols, in->classes);
    for (uint32_t k = 0; k < in->classes; k++) {
        char name[32];
        printf("%s", k ? ", " : "");
        cli_json_string(mcl_checkpoint_class_label(ck, k, name, sizeof name));
    }
    printf("],\n \"recipe\": %s, \"seed\": %llu,\n", in->json.recipe,
           (unsigned long long)mcl_checkpoint_seed(ck));
    printf(" \"data\": %s,\n", in->json.data != NULL ? in->json.data : "null");
    printf(" \"epochs_done\": %u, \"epoch_step\": %u,\n \"history\": %s,\n \"test\": ",
           mcl_checkpoint_epoch(ck), mcl_checkpoint_epoch_step(ck), in->json.history);
    cli_print_test_json(mcl_checkpoint_test_result(ck));
    printf("}\n");
}

int cmd_info(const cli_global *g, int argc, char **argv) {
    (void)g; /* no device needed */
    const char *v[OPT_COUNT] = {0};
    const char *pos[1] = {0};
    size_t npos = 0;
    if (!cli_parse_positional("info", argc, argv, options, OPT_COUNT, v, pos, 1, &npos))
        return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl info CHECKPOINT [--json] [--source]",
                       "Show what a checkpoint holds, without a device: the model (Keras-style "
                       "summary), its parameters, the recipe and seed of the run, the data it "
                       "was trained on (folder, --limit, --classes, the training, validation "
                       "and test images, a fingerprint of the training set), the epochs done "
                       "and each epoch's metrics, and the test loss and accuracy of its "
                       "weights. Loading checks the whole file (sizes and CRC-32 checksum) "
                       "first: a damaged file gets one line saying what is wrong.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    if (npos != 1) {
        cli_error("info needs a checkpoint file: 'mnist-cl info model.ckpt'");
        return CLI_EXIT_USAGE;
    }
    info in = {.path = pos[0]};
    mcl_error err = {0};
    mcl_status st = mcl_checkpoint_load(in.path, &in.ck, &err);
    if (st == MCL_OK) {
        struct stat sb;
        in.file_bytes = stat(in.path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        mcl_checkpoint_input(in.ck, &in.rows, &in.cols, &in.classes);
        mcl_checkpoint_param_counts(in.ck, &in.trainable, &in.fixed);
        const mcl_model *m = mcl_checkpoint_model(in.ck);
        size_t size = 64 * 1024;
        in.summary = malloc(size);
        st = in.summary != NULL
                 ? mcl_model_summary(m, in.rows, in.cols, in.classes, in.summary, size, &err)
                 : cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
        if (st == MCL_OK && v[OPT_JSON])
            st = mcl_model_summary_json(m, in.rows, in.cols, in.classes, &in.summary_json, &err);
        size_t n = 0;
        const mcl_epoch_result *h = mcl_checkpoint_history(in.ck, &n);
        if (st == MCL_OK && v[OPT_JSON])
            st = cli_run_json_make(&in.json, mcl_checkpoint_recipe(in.ck), h, n,
                                   mcl_checkpoint_data_record(in.ck), &err);
    }
    if (st == MCL_OK) {
        if (v[OPT_JSON])
            print_json(&in);
        else
            print_text(&in, v[OPT_SOURCE] != NULL);
    }
    info_free(&in);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
