/* mnist-cl tune: search CLBlast's GEMM parameters for this device and keep the best correct one
 * for every later run. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--max-configs", "N",
     "candidates to try in each search (default 12; each compiles kernels: seconds)"},
    {"--only", "clblast|kernels",
     "run one search: CLBlast's parameters, or mnist-cl's own tiles (default both)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--help", NULL, "show this help"},
};
enum { OPT_MAX, OPT_ONLY, OPT_JSON, OPT_HELP, OPT_COUNT };

static void show_kernel_candidate(const mcl_kernel_candidate *c, uint32_t done, uint32_t total,
                                  void *user) {
    (void)user;
    char label[16];
    if (done == 0)
        snprintf(label, sizeof label, "default");
    else
        snprintf(label, sizeof label, "%u/%u", done, total);
    if (!c->ran)
        printf("  %-8s %s %-40s REJECTED: could not build or run it\n", label, c->family,
               c->shape);
    else if (c->correct)
        printf("  %-8s %s %-40s %7.2f GFLOP/s\n", label, c->family, c->shape, c->gflops);
    else
        printf("  %-8s %s %-40s REJECTED: wrong results (scaled error %.3g)\n", label, c->family,
               c->shape, c->max_error);
    fflush(stdout);
}

static void print_kernel_json(const mcl_kernel_tune_result *k) {
    printf("{\"applicable\": %s, \"default_shapes\": ", k->applicable ? "true" : "false");
    cli_json_string(k->default_shapes);
    printf(", \"gemm_default_gflops\": %.3f, \"conv_default_gflops\": %.3f, \"gemm_best\": "
           "%d, \"conv_best\": %d, \"stored\": %s, \"candidates\": [",
           k->gemm_default_gflops, k->conv_default_gflops, k->gemm_best, k->conv_best,
           k->stored ? "true" : "false");
    for (uint32_t i = 0; i < k->count; i++) {
        const mcl_kernel_candidate *c = &k->candidates[i];
        printf("%s\n  {\"family\": \"%s\", \"shape\": ", i ? "," : "", c->family);
        cli_json_string(c->shape);
        printf(", \"gflops\": %.3f, \"ran\": %s, \"correct\": %s, \"max_error\": %.4g}",
               c->gflops, c->ran ? "true" : "false", c->correct ? "true" : "false",
               isfinite(c->max_error) ? c->max_error : -1.0);
    }
    printf("]}");
}

static void print_kernel_summary(const mcl_kernel_tune_result *k) {
    if (!k->applicable) {
        printf("mnist-cl's tiled kernels are not used on this device (it vectorises across "
               "work-items: GPU class): nothing to tune.\n");
        return;
    }
    if (k->gemm_best >= 0)
        printf("GEMM: kept %s, %.2f GFLOP/s (%.2fx the default)\n",
               k->candidates[k->gemm_best].shape, k->candidates[k->gemm_best].gflops,
               k->candidates[k->gemm_best].gflops / k->gemm_default_gflops);
    else
        printf("GEMM: the default tile stays (%.2f GFLOP/s; no candidate beat it by 3%%)\n",
               k->gemm_default_gflops);
    if (k->conv_best >= 0)
        printf("Convolutions: kept %s, %.2f GFLOP/s (%.2fx the default)\n",
               k->candidates[k->conv_best].shape, k->candidates[k->conv_best].gflops,
               k->candidates[k->conv_best].gflops / k->conv_default_gflops);
    else
        printf("Convolutions: the default tile stays (%.2f GFLOP/s; no candidate beat it by "
               "3%%)\n",
               k->conv_default_gflops);
    if (k->stored)
        printf("Stored in %s; later runs on this device apply it.\n", k->path);
    else if (k->removed)
        printf("An earlier kernel tuning was removed (%s).\n", k->path);
}

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

static void print_json(const mcl_tune_result *r) {
    printf("{\"default_gflops\": %.3f, \"best\": %d, \"best_gflops\": %.3f, \"stored\": %s, "
           "\"tiled_gflops\": %.3f, \"candidates\": [",
           r->default_gflops, r->best, r->best_gflops, r->stored ? "true" : "false",
           r->tiled_gflops);
    for (uint32_t i = 0; i < r->count; i++)
        printf("%s\n  {\"params\": \"%s\", \"gflops\": %.3f, \"ran\": %s, \"correct\": %s, "
               "\"max_error\": %.4g}",
               i ? "," : "", r->candidates[i].params, r->candidates[i].gflops,
               r->candidates[i].ran ? "true" : "false", r->candidates[i].correct ? "true" : "false",
               r->candidates[i].max_error);
    printf("]}");
}

int cmd_tune(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    if (!cli_parse("tune", argc, argv, options, OPT_COUNT, v)) return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help(
            "mnist-cl [--platform P] [--device D] tune [--max-configs N] [--only clblast|kernels] "
            "[--json]",
            "Search, on the device, (1) CLBlast's direct-GEMM parameters, each timed on the "
            "default MLP's training GEMMs, and (2) the tiles of mnist-cl's own GEMM and "
            "convolution kernels (CPU devices), timed on those GEMMs and on the tutorial CNN's "
            "convolutions. Every candidate is checked against a CPU reference first (a fast "
            "wrong result is rejected). The fastest correct ones, where they beat the defaults "
            "(by 5% for CLBlast, 3% for the tiles), are kept in the cache folder and applied by "
            "every later run on this device, driver and mnist-cl version; MNIST_CL_TUNING=0 "
            "ignores them.",
            options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t max_configs = 12;
    if (v[OPT_MAX] &&
        !cli_u32("--max-configs", v[OPT_MAX], 1, MCL_TUNE_MAX_CANDIDATES, &max_configs))
        return CLI_EXIT_USAGE;
    bool do_clblast = true, do_kernels = true;
    if (v[OPT_ONLY] != NULL) {
        do_clblast = strcmp(v[OPT_ONLY], "clblast") == 0;
        do_kernels = strcmp(v[OPT_ONLY], "kernels") == 0;
        if (!do_clblast && !do_kernels) {
            cli_error("--only takes 'clblast' or 'kernels', not '%s'", v[OPT_ONLY]);
            return CLI_EXIT_USAGE;
        }
    }
    /* The baselines must be the defaults, not an earlier tuning. */
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
    char device_name[128], platform_name[128];
    snprintf(device_name, sizeof device_name, "%s", dev->name);
    snprintf(platform_name, sizeof platform_name, "%s", dev->platform_name);
    bool json = v[OPT_JSON] != NULL;
    mcl_tune_result *r = malloc(sizeof *r);
    mcl_kernel_tune_result *k = malloc(sizeof *k);
    if (r == NULL || k == NULL) st = cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    if (st == MCL_OK && do_clblast) {
        if (!json) {
            printf("Tuning CLBlast's direct GEMM on %s (%s)\n", device_name, platform_name);
            printf("Workload: the default MLP's training GEMMs at batch 128; every candidate is "
                   "checked against a CPU reference.\n");
            fflush(stdout);
        }
        st = mcl_gemm_tune(ctx, max_configs, json ? NULL : show_candidate, NULL, r, &err);
        if (st == MCL_OK && !json) {
            if (r->stored)
                printf("Kept %s: %.2f GFLOP/s (%.2fx); later runs on this device apply it.\n"
                       "Stored in %s\n",
                       r->candidates[r->best].params, r->best_gflops,
                       r->best_gflops / r->default_gflops, r->path);
            else
                printf("No candidate beat CLBlast's own parameters by 5%%: nothing was "
                       "stored%s.\n",
                       r->removed ? " (an earlier tuning was removed)" : "");
            if (r->tiled_gflops > 0.0)
                printf("For comparison, mnist-cl's tiled kernels, which this device uses by "
                       "default (MNIST_CL_GEMM=clblast\nswitches to CLBlast): %.2f GFLOP/s on "
                       "the same workload.\n",
                       r->tiled_gflops);
        }
    }
    /* CLBlast keeps the last candidate for the rest of the process; the kernel search makes
     * contexts of its own and uses none of it. */
    mcl_context_free(ctx);
    if (st == MCL_OK && do_kernels) {
        if (!json) {
            printf("%sTuning mnist-cl's own kernel tiles on %s\n", do_clblast ? "\n" : "",
                   device_name);
            printf("Workloads: the MLP's training GEMMs (gemm) and the tutorial CNN's convolutions "
                   "at batch 64, forward and backward (conv).\n");
            fflush(stdout);
        }
        st = mcl_kernels_tune(&copt, max_configs, json ? NULL : show_kernel_candidate, NULL, k,
                              &err);
        if (st == MCL_OK && !json) print_kernel_summary(k);
    }
    if (st == MCL_OK && json) {
        printf("{\"device\": ");
        cli_json_string(device_name);
        if (do_clblast) {
            printf(", \"clblast\": ");
            print_json(r);
        }
        if (do_kernels) {
            printf(", \"kernels\": ");
            print_kernel_json(k);
        }
        printf("}\n");
    }
    free(r);
    free(k);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
