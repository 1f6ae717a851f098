/* Pieces of the JSON documents that train --json and info --json print. The library's
 * documents (recipe, history, data record) are made first, so that a failure is reported
 * before anything is printed and stdout never holds half a document. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

mcl_status cli_run_json_make(cli_run_json *j, const mcl_recipe *recipe,
                             const mcl_epoch_result *history, size_t history_count,
                             const mcl_data_record *data, mcl_error *err) {
    *j = (cli_run_json){0};
    mcl_status st = mcl_recipe_json(recipe, &j->recipe, err);
    if (st == MCL_OK) st = mcl_history_json(history, history_count, &j->history, err);
    if (st == MCL_OK && data != NULL) st = mcl_data_record_json(data, &j->data, err);
    if (st != MCL_OK) cli_run_json_free(j);
    return st;
}

void cli_run_json_free(cli_run_json *j) {
    free(j->recipe);
    free(j->history);
    free(j->data);
    *j = (cli_run_json){0};
}

void cli_print_test_json(const mcl_eval_result *test) {
    if (test == NULL) {
        printf("null");
        return;
    }
    printf("{\"loss\": %.6g, \"accuracy\": %.6g, \"images\": %u}", test->loss, test->accuracy,
           test->count);
}

void cli_print_device_json(const mcl_device_info *d, const char *gemm) {
    printf("{\"name\": ");
    cli_json_string(d->name);
    printf(", \"type\": \"%s\", \"vendor\": ", mcl_device_type_str(d->type));
    cli_json_string(d->vendor);
    printf(", \"platform\": ");
    cli_json_string(d->platform_name);
    printf(", \"platform_version\": ");
    cli_json_string(d->platform_version);
    printf(", \"driver_version\": ");
    cli_json_string(d->driver_version);
    printf(", \"device_version\": ");
    cli_json_string(d->device_version);
    printf(", \"platform_index\": %u, \"device_index\": %u, \"compute_units\": %u, \"gemm\": ",
           d->platform_index, d->device_index, d->compute_units);
    cli_json_string(gemm);
    printf("}");
}

/* A figure that is only known when something was timed: null otherwise. */
static void print_timed(const char *key, bool known, double v) {
    if (known)
        printf(", \"%s\": %.6g", key, v);
    else
        printf(", \"%s\": null", key);
}

mcl_status cli_print_train_json(const cli_train_report *r, mcl_error *err) {
    cli_run_json j;
    mcl_status st = cli_run_json_make(&j, r->recipe, r->history, r->history_count, r->data, err);
    if (st != MCL_OK) return st;
    printf("{\"mnist_cl_version\": \"%s\",\n \"model\": {\"name\": ", MCL_VERSION);
    cli_json_string(mcl_model_name(r->model));
    printf(", \"params\": %llu, \"trainable_params\": %llu, \"non_trainable_params\": %llu},\n",
           (unsigned long long)(r->trainable_params + r->non_trainable_params),
           (unsigned long long)r->trainable_params, (unsigned long long)r->non_trainable_params);
    printf(" \"recipe\": %s, \"seed\": %llu,\n \"data\": %s,\n \"resumed_from\": ", j.recipe,
           (unsigned long long)r->seed, j.data != NULL ? j.data : "null");
    if (r->resumed_from != NULL)
        cli_json_string(r->resumed_from);
    else
        printf("null");
    printf(", \"initial_epoch\": %u, \"epochs_done\": %u,\n \"history\": %s,\n \"test\": ",
           r->initial_epoch, r->epochs_done, j.history);
    cli_print_test_json(r->test);
    printf(",\n \"speed\": {\"wall_seconds\": %.3f, \"timed_epochs\": %u", r->wall_seconds,
           r->timed_epochs);
    bool timed = r->timed_epochs > 0;
    print_timed("seconds_per_epoch", timed, r->epoch_seconds);
    print_timed("ms_per_step", timed, r->ms_per_step);
    print_timed("samples_per_second", timed, r->images_per_second);
    print_timed("gflops", timed, r->gflops);
    printf("},\n \"device\": ");
    cli_print_device_json(r->device, r->gemm);
    printf(",\n \"checkpoint\": ");
    if (r->checkpoint != NULL)
        cli_json_string(r->checkpoint);
    else
        printf("null");
    if (r->patience > 0) {
        printf(",\n \"early_stopping\": {\"patience\": %u, \"best_epoch\": %u", r->patience,
               r->best_epoch);
        print_timed("best_val_loss", r->best_epoch > 0, r->best_val_loss);
        printf("}");
    }
    if (r->target > 0.0) {
        printf(",\n \"target_accuracy\": {\"target\": %.6g, \"reached_epoch\": ", r->target);
        if (r->reached_epoch > 0)
            printf("%u, \"seconds\": %.3f}", r->reached_epoch, r->reached_seconds);
        else
            printf("null, \"seconds\": null}");
    }
    printf("}\n");
    cli_run_json_free(&j);
    return MCL_OK;
}
