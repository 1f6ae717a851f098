/* mnist-cl tune: search CLBlast's GEMM parameters for this device and keep the best correct one
 * for every later run. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--max-configs", "N", "candidate configurations to try (default 12; each compiles a kernel)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--help", NULL, "show this help"},
};
enum { OPT_MAX, OPT_JSON, OPT_HELP, OPT_COUNT };

static void show_candidate(const mcl_tune_candidate *c, uint32_t done, uint32_t total, void *user) {
    (void)user;
    if (done == 0)
        printf("      -  %-62s %7.2f GFLOP/s\n", c->params, c->gflops);
    else if (!c->ran)
        printf("  %2u/%u  %-62s REJECTED: CLBlast could not build or run it\n", done, total,
               c->params);
    else if (c->correct)
        printf("  %2u/%u  %-62s %7.2f GFLOP/s\n", done, total, c->params, c->gflops);
    else
        printf("  %2u/%u  %-62s REJECTED: wrong results (scaled error %.3g)\n", done, total,
               c->params, c->max_error);
    fflush(stdout);
}

static void print_json(const mcl_device_info *dev, const mcl_tune_result *r) {
    printf("{\"device\": ");
    cli_json_string(dev->name);
    printf(", \"default_gflops\": %.3f, \"best\": %d, \"best_gflops\": %.3f, \"stored\": %s, "
           "\"tiled_gflops\": %.3f, \"candidates\": [",
           r->default_gflops, r->best, r->best_gflops, r->stored ? "true" : "false",
           r->tiled_gflops);
    for (uint32_t i = 0; i < r->count; i++)
        printf("%s\n  {\"params\": \"%s\", \"gflops\": %.3f, \"ran\": %s, \"correct\": %s, "
               "\"max_error\": %.4g}",
               i ? "," : "", r->candidates[i].params, r->candidates[i].gflops,
               r->candidates[i].ran ? "true" : "false", r->candidates[i].correct ? "true" : "false",
               r->candidates[i].max_error);
    printf("]}\n");
}

int cmd_tune(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    if (!cli_parse("tune", argc, argv, options, OPT_COUNT, v)) return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help(
            "mnist-cl [--platform P] [--device D] tune [--max-configs N] [--json]",
            "Search CLBlast's direct-GEMM parameters on the device: each candidate is timed on "
            "the default MLP's training GEMMs and checked against a CPU reference (tuned "
            "parameters can compute wrong results on some drivers). The fastest correct one, "
            "if it beats CLBlast's own by 5%, is kept in the cache folder and applied by every "
            "later run on this device and driver (MNIST_CL_TUNING=0 ignores it). On CPU "
            "devices, where mnist-cl multiplies with its own tiled kernels by default, it also "
            "times those for comparison.",
            options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t max_configs = 12;
    if (v[OPT_MAX] &&
        !cli_u32("--max-configs", v[OPT_MAX], 1, MCL_TUNE_MAX_CANDIDATES, &max_configs))
        return CLI_EXIT_USAGE;
    /* The baseline must be CLBlast's own parameters, not an earlier tuning. */
    if (setenv("MNIST_CL_TUNING", "0", 1) != 0) {
        cli_error("cannot set MNIST_CL_TUNING for the baseline");
        return CLI_EXIT_FAILURE;
    }
    mcl_error err = {0};
    mcl_context *ctx = NULL;
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    mcl_status st = mcl_context_create(&copt, &ctx, &err);
    if (st != MCL_OK) return cli_fail(&err);
    const mcl_device_info *dev = mcl_context_device(ctx);
    bool json = v[OPT_JSON] != NULL;
    if (!json) {
        printf("Tuning CLBlast's direct GEMM on %s (%s)\n", dev->name, dev->platform_name);
        printf("Workload: the default MLP's training GEMMs at batch 128; every candidate is "
               "checked against a CPU reference.\n");
        fflush(stdout);
    }
    mcl_tune_result *r = malloc(sizeof *r);
    if (r == NULL) st = cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == MCL_OK)
        st = mcl_gemm_tune(ctx, max_configs, json ? NULL : show_candidate, NULL, r, &err);
    if (st == MCL_OK && json) print_json(dev, r);
    if (st == MCL_OK && !json) {
        if (r->stored)
            printf("Kept %s: %.2f GFLOP/s (%.2fx); later runs on this device apply it.\nStored "
                   "in %s\n",
                   r->candidates[r->best].params, r->best_gflops,
                   r->best_gflops / r->default_gflops, r->path);
        else
            printf("No candidate beat CLBlast's own parameters by 5%%: nothing was stored%s.\n",
                   r->removed ? " (an earlier tuning was removed)" : "");
        if (r->tiled_gflops > 0.0)
            printf("For comparison, mnist-cl's tiled kernels, which this device uses by default "
                   "(MNIST_CL_GEMM=clblast\nswitches to CLBlast): %.2f GFLOP/s on the same "
                   "workload.\n",
                   r->tiled_gflops);
    }
    free(r);
    mcl_context_free(ctx);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
