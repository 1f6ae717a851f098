/* mnist-cl bench: training and inference speed of the built-in models on one device, against
 * the device's own FMA peak (a probe kernel) and SGEMM, with the memory each needs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--models", "LIST",
     "comma-separated models (built-in names or files; default: every built-in)"},
    {"--steps", "N", "timed training steps per model, after as many untimed ones (default 30)"},
    {"--infer", "N", "test images for the inference timing (default 2000)"},
    {"--sgemm-size", "N", "size of the square SGEMM measured against the peak (default 1024)"},
    {"--data", "PATH",
     "the data, as train takes it: IDX folder, .npz or image folder (default $MNIST_CL_DATA or "
     "data/mnist)"},
    {"--json", NULL, "print one JSON object instead of the table"},
    {"--help", NULL, "show this help"},
};
enum { OPT_MODELS, OPT_STEPS, OPT_INFER, OPT_SGEMM, OPT_DATA, OPT_JSON, OPT_HELP, OPT_COUNT };

typedef struct bench_row {
    char model[64];
    uint32_t batch;
    double steps_per_s, epoch_s, images_per_s, gflops, peak_pct, infer_images_per_s;
    double device_mib, host_mib;
} bench_row;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The process's peak resident memory so far, MiB (Linux reports ru_maxrss in KiB). */
static double host_peak_mib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : 0.0;
}

typedef struct timing {
    double train_seconds; /* of the last epoch reported */
} timing;

static bool record_epoch(const mcl_epoch_result *r, void *user) {
    ((timing *)user)->train_seconds = r->train_seconds;
    return true;
}

/* One model: `steps` untimed then `steps` timed training steps (two epochs over a subset of
 * steps * batch images), then inference over `infer` test images. */
static mcl_status bench_model(mcl_context *ctx, const char *name, const mcl_dataset *all,
                              const mcl_dataset *test, uint32_t steps, uint32_t infer,
                              double fma_peak, bench_row *row, mcl_error *err) {
    mcl_model *model = NULL;
    mcl_trainer *trainer = NULL;
    mcl_dataset *subset = NULL, *test_subset = NULL;
    memset(row, 0, sizeof *row);
    snprintf(row->model, sizeof row->model, "%s", name);
    mcl_status st = cli_load_model(name, &model, err);
    if (st != MCL_OK) return st;
    mcl_recipe recipe = *mcl_model_recipe(model);
    row->batch = recipe.batch_size;
    uint64_t want = (uint64_t)steps * recipe.batch_size;
    uint32_t count = want < mcl_dataset_count(all) ? (uint32_t)want : mcl_dataset_count(all);
    uint32_t timed_steps = mcl_steps_per_epoch(count, recipe.batch_size);
    mcl_context_reset_memory_peak(ctx);
    st = mcl_dataset_subset(all, 0, count, &subset, err);
    if (st == MCL_OK)
        st = mcl_trainer_create(ctx, model, mcl_dataset_rows(all), mcl_dataset_cols(all),
                                mcl_dataset_num_classes(all), recipe.batch_size, 42, &trainer, err);
    timing t = {0};
    if (st == MCL_OK) {
        recipe.epochs = 2; /* the first compiles kernels and warms caches */
        recipe.validation_split = 0.0f;
        mcl_fit_options fit = {.recipe = recipe, .seed = 42, .on_epoch = record_epoch, .user = &t};
        st = mcl_trainer_fit(trainer, subset, NULL, &fit, err);
    }
    if (st == MCL_OK && t.train_seconds > 0.0) {
        double full_steps = mcl_steps_per_epoch(mcl_dataset_count(all), recipe.batch_size);
        row->steps_per_s = timed_steps / t.train_seconds;
        row->epoch_s = full_steps / row->steps_per_s;
        row->images_per_s = count / t.train_seconds;
        row->gflops = mcl_trainer_train_flops_per_sample(trainer) * row->images_per_s * 1e-9;
        row->peak_pct = fma_peak > 0.0 ? 100.0 * row->gflops / fma_peak : 0.0;
    }
    uint32_t n = infer < mcl_dataset_count(test) ? infer : mcl_dataset_count(test);
    if (st == MCL_OK) st = mcl_dataset_subset(test, 0, n, &test_subset, err);
    if (st == MCL_OK) {
        mcl_eval_result r;
        st = mcl_trainer_evaluate(trainer, test_subset, recipe.batch_size, &r, err); /* warm */
        double start = now_seconds();
        if (st == MCL_OK)
            st = mcl_trainer_evaluate(trainer, test_subset, recipe.batch_size, &r, err);
        double seconds = now_seconds() - start;
        if (st == MCL_OK && seconds > 0.0) row->infer_images_per_s = n / seconds;
    }
    uint64_t current = 0, peak = 0;
    mcl_context_device_memory(ctx, &current, &peak);
    row->device_mib = (double)peak / 1048576.0;
    row->host_mib = host_peak_mib();
    mcl_trainer_free(trainer);
    mcl_dataset_free(test_subset);
    mcl_dataset_free(subset);
    mcl_model_free(model);
    return st;
}

/* The device's measured ceilings: the FMA probe's peak and the square SGEMM. */
typedef struct bench_ceilings {
    double peak, sgemm;
    uint32_t sgemm_n;
} bench_ceilings;

static void print_table(const mcl_context *ctx, const bench_ceilings *c, const bench_row *rows,
                        size_t count, uint32_t steps) {
    const mcl_device_info *dev = mcl_context_device(ctx);
    printf("Device: %s (%s, %s)\n", dev->name, mcl_device_type_str(dev->type), dev->platform_name);
    printf("FMA peak (probe kernel): %.1f GFLOP/s\n", c->peak);
    printf("SGEMM (%s, %ux%u): %.1f GFLOP/s, %.1f%% of the peak\n\n", mcl_context_gemm_name(ctx),
           c->sgemm_n, c->sgemm_n, c->sgemm, c->peak > 0.0 ? 100.0 * c->sgemm / c->peak : 0.0);
    printf("%-8s %5s %8s %9s %9s %8s %6s %10s %9s %9s\n", "model", "batch", "steps/s", "s/epoch",
           "images/s", "GFLOP/s", "%peak", "infer/s", "dev MiB", "host MiB");
    for (size_t i = 0; i < count; i++) {
        const bench_row *r = &rows[i];
        printf("%-8s %5u %8.1f %9.2f %9.0f %8.2f %5.1f%% %10.0f %9.1f %9.1f\n", r->model, r->batch,
               r->steps_per_s, r->epoch_s, r->images_per_s, r->gflops, r->peak_pct,
               r->infer_images_per_s, r->device_mib, r->host_mib);
    }
    printf("\nTraining: %u timed steps after %u untimed; s/epoch extrapolates to the whole "
           "training set. GFLOP/s counts\nthe GEMM-class work of a step; %%peak is that against "
           "the FMA peak. dev MiB: the most device memory\nmnist-cl's buffers held for the "
           "model (CLBlast's scratch not counted); host MiB: the process's peak so far.\n",
           steps, steps);
}

static void print_json(const mcl_context *ctx, const bench_ceilings *c, const bench_row *rows,
                       size_t count) {
    printf("{\"device\": ");
    cli_json_string(mcl_context_device(ctx)->name);
    printf(", \"gemm\": ");
    cli_json_string(mcl_context_gemm_name(ctx));
    printf(", \"fma_peak_gflops\": %.3f, \"sgemm_size\": %u, \"sgemm_gflops\": %.3f, "
           "\"sgemm_percent_of_peak\": %.2f, \"models\": [",
           c->peak, c->sgemm_n, c->sgemm, c->peak > 0.0 ? 100.0 * c->sgemm / c->peak : 0.0);
    for (size_t i = 0; i < count; i++) {
        const bench_row *r = &rows[i];
        printf("%s\n  {\"model\": \"%s\", \"batch\": %u, \"steps_per_s\": %.3f, "
               "\"epoch_s\": %.3f, \"images_per_s\": %.1f, \"gflops\": %.3f, "
               "\"peak_percent\": %.2f, \"inference_images_per_s\": %.1f, "
               "\"device_peak_mib\": %.2f, \"host_peak_mib\": %.2f}",
               i ? "," : "", r->model, r->batch, r->steps_per_s, r->epoch_s, r->images_per_s,
               r->gflops, r->peak_pct, r->infer_images_per_s, r->device_mib, r->host_mib);
    }
    printf("]}\n");
}

int cmd_bench(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    if (!cli_parse("bench", argc, argv, options, OPT_COUNT, v)) return CLI_EXIT_USAGE;
    if (v[OPT_HELP]) {
        cli_print_help("mnist-cl [--platform P] [--device D] bench [options]",
                       "Measure each model on the device: training steps/s, seconds per epoch, "
                       "images/s, GFLOP/s and percent of the device's FMA peak (measured first "
                       "by a probe kernel, with a square SGEMM), inference images/s, and the device and host memory it needs.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t steps = 30, infer = 2000, sgemm_n = 1024;
    if ((v[OPT_STEPS] && !cli_u32("--steps", v[OPT_STEPS], 1, 100000, &steps)) ||
        (v[OPT_INFER] && !cli_u32("--infer", v[OPT_INFER], 1, 10000000, &infer)) ||
        (v[OPT_SGEMM] && !cli_u32("--sgemm-size", v[OPT_SGEMM], 16, 16384, &sgemm_n)))
        return CLI_EXIT_USAGE;
    /* The model list: the option's comma-separated names, or every built-in. */
    char *list = NULL;
    const char *names[64];
    size_t count = 0;
    if (v[OPT_MODELS] != NULL) {
        list = strdup(v[OPT_MODELS]);
        if (list == NULL) {
            cli_error("out of host memory");
            return CLI_EXIT_FAILURE;
        }
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL && count < 64;
             tok = strtok_r(NULL, ",", &save))
            names[count++] = tok;
        if (count == 0) {
            free(list);
            cli_error("--models needs at least one model name");
            return CLI_EXIT_USAGE;
        }
    } else {
        for (size_t i = 0; i < mcl_model_builtin_count() && count < 64; i++)
            names[count++] = mcl_model_builtin_name(i);
    }
    mcl_error err = {0};
    char data_buf[4096];
    const char *dir = cli_data_dir(v[OPT_DATA], data_buf, sizeof data_buf);
    mcl_dataset *all = NULL, *test = NULL;
    mcl_context *ctx = NULL;
    bench_row *rows = calloc(count, sizeof *rows);
    bench_ceilings ceilings = {.sgemm_n = sgemm_n};
    mcl_status st =
        rows == NULL ? cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory") : MCL_OK;
    if (st == MCL_OK) st = mcl_dataset_load(dir, MCL_SPLIT_TRAIN, &all, &err);
    if (st == MCL_OK) st = mcl_dataset_load(dir, MCL_SPLIT_TEST, &test, &err);
    if (st != MCL_OK) cli_data_advice(&err, v[OPT_DATA]);
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    if (st == MCL_OK) st = mcl_context_create(&copt, &ctx, &err);
    if (st == MCL_OK) st = mcl_context_fma_peak_gflops(ctx, &ceilings.peak, &err);
    if (st == MCL_OK) st = mcl_context_sgemm_gflops(ctx, sgemm_n, 10, &ceilings.sgemm, &err);
    for (size_t i = 0; i < count && st == MCL_OK; i++) {
        if (!v[OPT_JSON]) {
            fprintf(stderr, "bench: %s ...\n", names[i]);
            fflush(stderr);
        }
        st = bench_model(ctx, names[i], all, test, steps, infer, ceilings.peak, &rows[i], &err);
    }
    if (st == MCL_OK) {
        if (v[OPT_JSON])
            print_json(ctx, &ceilings, rows, count);
        else
            print_table(ctx, &ceilings, rows, count, steps);
    }
    mcl_context_free(ctx);
    mcl_dataset_free(test);
    mcl_dataset_free(all);
    free(rows);
    free(list);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
