/* mnist-cl models / mnist-cl summary */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const cli_option models_options[] = {
    {"--source", NULL, "also print each model's description in the model language"},
    {"--json", NULL,
     "print one JSON object: each model's name, description, recipe and model text"},
    {"--help", NULL, "show this help"},
};
enum { M_SOURCE, M_JSON, M_HELP, M_COUNT };

void cli_print_recipe(const mcl_recipe *r) {
    printf("epochs %u, batch %u, %s lr %g", r->epochs, r->batch_size,
           mcl_optimizer_str(r->optimizer), (double)r->learning_rate);
    if (r->lr_schedule == MCL_LR_COSINE) printf(" cosine decay");
    if (r->lr_schedule == MCL_LR_STEP)
        printf(" step decay %g every %u epochs", (double)r->lr_decay_rate, r->lr_decay_epochs);
    if (r->warmup_epochs > 0) printf(" after %u warm-up epochs", r->warmup_epochs);
    if (r->optimizer == MCL_OPTIMIZER_SGD || r->optimizer == MCL_OPTIMIZER_RMSPROP)
        printf(" momentum %g", (double)r->momentum);
    if (r->validation_split > 0.0f) printf(", validation split %g", (double)r->validation_split);
    const mcl_augment *a = &r->augment;
    if (a->enabled)
        printf(", augmentation (rotation %g, shift %g, shear %g, zoom %g)", (double)a->rotation,
               (double)a->shift, (double)a->shear, (double)a->zoom);
}

/* models --json: {"models": [{"name", "description", "recipe", "source"}, ...]}. Every
 * recipe is made before the first byte is printed. */
static int print_models_json(void) {
    size_t n = mcl_model_builtin_count();
    char **recipes = calloc(n + 1, sizeof *recipes);
    mcl_error err = {0};
    mcl_status st = recipes != NULL ? MCL_OK
                                    : cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n && st == MCL_OK; i++) {
        mcl_model *m = NULL;
        st = mcl_model_builtin(mcl_model_builtin_name(i), &m, &err);
        if (st == MCL_OK) st = mcl_recipe_json(mcl_model_recipe(m), &recipes[i], &err);
        mcl_model_free(m);
    }
    if (st == MCL_OK) {
        printf("{\"models\": [");
        for (size_t i = 0; i < n; i++) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            cli_json_string(mcl_model_builtin_name(i));
            printf(", \"description\": ");
            cli_json_string(mcl_model_builtin_description(i));
            printf(", \"recipe\": %s, \"source\": ", recipes[i]);
            cli_json_string(mcl_model_builtin_source(i));
            printf("}");
        }
        printf("\n]}\n");
    }
    for (size_t i = 0; recipes != NULL && i < n; i++)
        free(recipes[i]);
    free(recipes);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}

int cmd_models(const cli_global *g, int argc, char **argv) {
    (void)g;
    const char *values[M_COUNT] = {0};
    if (!cli_parse("models", argc, argv, models_options, M_COUNT, values)) return CLI_EXIT_USAGE;
    if (values[M_HELP]) {
        cli_print_help("mnist-cl models [--source] [--json]",
                       "List the built-in models with their default training recipe. Any of "
                       "them can be given to 'train --model NAME'.",
                       models_options, M_COUNT);
        return CLI_EXIT_OK;
    }
    if (values[M_JSON]) return print_models_json();
    for (size_t i = 0; i < mcl_model_builtin_count(); i++) {
        mcl_model *m = NULL;
        mcl_error err = {0};
        if (mcl_model_builtin(mcl_model_builtin_name(i), &m, &err) != MCL_OK) return cli_fail(&err);
        printf("%-8s %s\n         recipe: ", mcl_model_builtin_name(i),
               mcl_model_builtin_description(i));
        cli_print_recipe(mcl_model_recipe(m));
        printf("\n");
        if (values[M_SOURCE]) printf("\n%s\n", mcl_model_builtin_source(i));
        mcl_model_free(m);
    }
    return CLI_EXIT_OK;
}

static const cli_option summary_options[] = {
    {"--model", "NAME|FILE", "built-in model name or model file (default: mlp)"},
    {"--input", "HxW", "input image size (default: 28x28)"},
    {"--classes", "K", "number of classes (default: 10)"},
    {"--json", NULL,
     "print one JSON object: each layer's name, Keras type, output shape and parameters, and "
     "the totals"},
    {"--help", NULL, "show this help"},
};
enum { S_MODEL, S_INPUT, S_CLASSES, S_JSON, S_HELP, S_COUNT };

int cmd_summary(const cli_global *g, int argc, char **argv) {
    (void)g;
    const char *values[S_COUNT] = {0};
    if (!cli_parse("summary", argc, argv, summary_options, S_COUNT, values)) return CLI_EXIT_USAGE;
    if (values[S_HELP]) {
        cli_print_help("mnist-cl summary [--model NAME|FILE] [--input HxW] [--classes K] [--json]",
                       "Print the model's layers, output shapes and parameter counts, as Keras's "
                       "model.summary() does.",
                       summary_options, S_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t rows = 28, cols = 28, classes = 10;
    if (values[S_INPUT] != NULL && (sscanf(values[S_INPUT], "%ux%u", &rows, &cols) != 2 ||
                                    rows == 0 || cols == 0 || rows > 4096 || cols > 4096)) {
        cli_error("--input: expected HxW such as 28x28, got '%s'", values[S_INPUT]);
        return CLI_EXIT_USAGE;
    }
    if (values[S_CLASSES] != NULL && !cli_u32("--classes", values[S_CLASSES], 2, 256, &classes))
        return CLI_EXIT_USAGE;
    mcl_model *m = NULL;
    mcl_error err = {0};
    if (cli_load_model(values[S_MODEL] ? values[S_MODEL] : "mlp", &m, &err) != MCL_OK)
        return cli_fail(&err);
    size_t size = 64 * 1024;
    char *buf = NULL;
    mcl_status st = MCL_OK;
    if (values[S_JSON]) {
        st = mcl_model_summary_json(m, rows, cols, classes, &buf, &err);
    } else {
        buf = malloc(size);
        st = buf != NULL ? mcl_model_summary(m, rows, cols, classes, buf, size, &err)
                         : cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    }
    if (st == MCL_OK) fputs(buf, stdout);
    free(buf);
    mcl_model_free(m);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
