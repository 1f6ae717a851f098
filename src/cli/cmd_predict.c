/* mnist-cl predict CHECKPOINT IMAGE...: the class and top probabilities of each image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--top", "K", "how many classes to show per image (default 3)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--help", NULL, "show this help"},
};
enum { OPT_TOP, OPT_JSON, OPT_HELP, OPT_COUNT };

#define MAX_IMAGES 4096

/* "idx:PATH:INDEX" -> image INDEX of an IDX file; anything else is a PNG or PGM file. */
static mcl_status load_image(const char *spec, uint32_t rows, uint32_t cols, float *dst,
                             mcl_error *err) {
    if (strncmp(spec, "idx:", 4) != 0) return mcl_image_load_mnist(spec, rows, cols, dst, err);
    const char *colon = strrchr(spec + 4, ':');
    char path[4096];
    char *end = NULL;
    unsigned long index = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || (size_t)(colon - spec - 4) >= sizeof path || colon == spec + 4 ||
        end == colon + 1 || *end != '\0' || colon[1] == '-' || index >= UINT32_MAX)
        return cli_set_error(err, MCL_ERR_USAGE,
                             "'%s': an IDX image is written idx:PATH:INDEX, e.g. "
                             "idx:data/mnist/t10k-images-idx3-ubyte:0",
                             spec);
    memcpy(path, spec + 4, (size_t)(colon - spec - 4));
    path[colon - spec - 4] = '\0';
    return mcl_idx_image(path, (uint32_t)index, rows, cols, dst, err);
}

static void print_result(const char *spec, const float *p, uint32_t classes, uint32_t top,
                         bool json, bool first) {
    uint32_t order[256];
    uint32_t n = classes < 256 ? classes : 256;
    for (uint32_t k = 0; k < n; k++)
        order[k] = k;
    /* Selection of the top entries, ties to the lower class (as argmax). */
    for (uint32_t i = 0; i < top && i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            if (p[order[j]] > p[order[i]]) {
                uint32_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    if (!json) {
        printf("%s: %u", spec, order[0]);
        for (uint32_t i = 0; i < top && i < n; i++)
            printf("%s%u %.4f", i ? ", " : " (", order[i], (double)p[order[i]]);
        printf(")\n");
        return;
    }
    printf("%s\n  {\"image\": ", first ? "" : ",");
    cli_json_string(spec);
    printf(", \"class\": %u, \"top\": [", order[0]);
    for (uint32_t i = 0; i < top && i < n; i++)
        printf("%s{\"class\": %u, \"probability\": %.6g}", i ? ", " : "", order[i],
               (double)p[order[i]]);
    printf("]}");
}

int cmd_predict(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    const char **pos = calloc(MAX_IMAGES + 1, sizeof *pos);
    if (pos == NULL) return CLI_EXIT_FAILURE;
    size_t npos = 0;
    if (!cli_parse_positional("predict", argc, argv, options, OPT_COUNT, v, pos, MAX_IMAGES + 1,
                              &npos)) {
        free(pos);
        return CLI_EXIT_USAGE;
    }
    if (v[OPT_HELP]) {
        free(pos);
        cli_print_help("mnist-cl [--platform P] [--device D] predict CHECKPOINT IMAGE...",
                       "Classify images with a trained checkpoint. IMAGE is a PNG or PGM of any "
                       "size (converted as MNIST was made: grey, white ink on black, fitted in "
                       "a 20x20 box and centred by centre of mass; dark-on-light images are "
                       "inverted) or idx:PATH:INDEX for image INDEX (from 0) of an IDX file.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t top = 3;
    if (v[OPT_TOP] && !cli_u32("--top", v[OPT_TOP], 1, 256, &top)) {
        free(pos);
        return CLI_EXIT_USAGE;
    }
    if (npos < 2) {
        free(pos);
        cli_error("predict needs a checkpoint and at least one image: 'mnist-cl predict "
                  "model.ckpt digit.png'");
        return CLI_EXIT_USAGE;
    }
    uint32_t n = (uint32_t)(npos - 1);
    mcl_error err = {0};
    mcl_checkpoint *ck = NULL;
    mcl_context *ctx = NULL;
    mcl_trainer *trainer = NULL;
    float *images = NULL, *probs = NULL;
    uint32_t rows = 0, cols = 0, classes = 0;
    mcl_status st = mcl_checkpoint_load(pos[0], &ck, &err);
    if (st == MCL_OK) {
        mcl_checkpoint_input(ck, &rows, &cols, &classes);
        images = malloc((size_t)n * rows * cols * sizeof(float));
        probs = malloc((size_t)n * classes * sizeof(float));
        if (images == NULL || probs == NULL)
            st = cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    }
    /* Every image is read before the device is touched: a bad path fails fast. */
    for (uint32_t i = 0; i < n && st == MCL_OK; i++)
        st = load_image(pos[i + 1], rows, cols, images + (size_t)i * rows * cols, &err);
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    if (st == MCL_OK) st = mcl_context_create(&copt, &ctx, &err);
    if (st == MCL_OK)
        st = mcl_trainer_create_from_checkpoint(ctx, ck, n < 256 ? n : 256, &trainer, &err);
    if (st == MCL_OK) st = mcl_trainer_predict(trainer, images, n, probs, &err);
    if (st == MCL_OK) {
        if (v[OPT_JSON]) printf("{\"predictions\": [");
        for (uint32_t i = 0; i < n; i++)
            print_result(pos[i + 1], probs + (size_t)i * classes, classes, top, v[OPT_JSON],
                         i == 0);
        if (v[OPT_JSON]) printf("\n]}\n");
    }
    mcl_trainer_free(trainer);
    mcl_context_free(ctx);
    mcl_checkpoint_free(ck);
    free(images);
    free(probs);
    free(pos);
    return st == MCL_OK ? CLI_EXIT_OK : cli_fail(&err);
}
