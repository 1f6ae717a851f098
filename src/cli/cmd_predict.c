/* mnist-cl predict CHECKPOINT [CHECKPOINT...] IMAGE...: the class and top probabilities of each
 * image; several checkpoints (told from images by their magic bytes) average their
 * probabilities as an ensemble. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const cli_option options[] = {
    {"--top", "K", "how many classes to show per image (default 3)"},
    {"--json", NULL, "print one JSON object instead of text"},
    {"--data", "DIR",
     "where idx:N images come from (default: the data the checkpoint was trained on, else "
     "$MNIST_CL_DATA or data/mnist)"},
    {"--help", NULL, "show this help"},
};
enum { OPT_TOP, OPT_JSON, OPT_DATA, OPT_HELP, OPT_COUNT };

#define MAX_IMAGES 4096
#define MAX_CHECKPOINTS 64

/* One image of the command line: what it is, and what came of it. */
typedef struct predict_item {
    const char *spec;
    bool loaded;
    bool blank;      /* no ink: the prediction means nothing */
    bool has_label;  /* an idx: image whose labels file is beside it */
    uint32_t label;
    char *error;     /* owned; NULL when the image loaded */
    mcl_status status; /* why it did not */
} predict_item;

/* Splits "idx:PATH:INDEX" into path and index; false (with err) when malformed. */
static bool parse_idx_spec(const char *spec, char *path, size_t size, uint32_t *index,
                           mcl_error *err) {
    const char *colon = strrchr(spec + 4, ':');
    char *end = NULL;
    unsigned long v = colon != NULL ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || (size_t)(colon - spec - 4) >= size || colon == spec + 4 ||
        end == colon + 1 || *end != '\0' || colon[1] == '-' || v >= UINT32_MAX) {
        cli_set_error(err, MCL_ERR_USAGE,
                      "'%s': an IDX image is written idx:PATH:INDEX, e.g. "
                      "idx:data/mnist/t10k-images-idx3-ubyte:0",
                      spec);
        return false;
    }
    memcpy(path, spec + 4, (size_t)(colon - spec - 4));
    path[colon - spec - 4] = '\0';
    *index = (uint32_t)v;
    return true;
}

/* The true label of an idx: image, from the labels file MNIST's naming puts beside it
 * (t10k-images-idx3-ubyte -> t10k-labels-idx1-ubyte). False when there is none. */
static bool find_label(const char *images_path, uint32_t index, uint32_t *label) {
    const char *base = strrchr(images_path, '/');
    base = base != NULL ? base + 1 : images_path;
    const char *at = strstr(base, "images-idx3");
    if (at == NULL) return false;
    char labels[4096];
    size_t head = (size_t)(at - images_path);
    if (snprintf(labels, sizeof labels, "%.*slabels-idx1%s", (int)head, images_path,
                 at + strlen("images-idx3")) >= (int)sizeof labels ||
        access(labels, R_OK) != 0)
        return false;
    mcl_error ignored = {0};
    return mcl_idx_label(labels, index, label, &ignored) == MCL_OK;
}

/* "idx:N" -> test image N of the data (cli_test_image); "idx:PATH:INDEX" -> image INDEX of an
 * IDX file; anything else is an image file, made into an input the way the model's training
 * images were made (MNIST's preparation, or an image folder's plain resize). */
static mcl_status load_image(predict_item *item, mcl_image_prep prep, cli_test_images *test,
                             uint32_t rows, uint32_t cols, float *dst, mcl_error *err) {
    if (strncmp(item->spec, "idx:", 4) != 0)
        return prep == MCL_PREP_RESIZE ? mcl_image_load_resized(item->spec, rows, cols, dst, err)
                                       : mcl_image_load_mnist(item->spec, rows, cols, dst, err);
    const char *n = item->spec + 4;
    if (n[0] >= '0' && n[0] <= '9' && strspn(n, "0123456789") == strlen(n) && strlen(n) < 10) {
        mcl_status st = cli_test_image(test, (uint32_t)strtoul(n, NULL, 10), rows, cols, dst,
                                       &item->label, err);
        item->has_label = st == MCL_OK;
        return st;
    }
    char path[4096];
    uint32_t index = 0;
    if (!parse_idx_spec(item->spec, path, sizeof path, &index, err)) return MCL_ERR_USAGE;
    mcl_status st = mcl_idx_image(path, index, rows, cols, dst, err);
    if (st == MCL_OK) item->has_label = find_label(path, index, &item->label);
    return st;
}

/* Whether a prepared image holds no ink at all (a blank page comes out all zero). */
static bool is_blank(const float *image, size_t n) {
    float most = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (image[i] > most) most = image[i];
    return most < 0.05f;
}

static void print_result(const mcl_checkpoint *ck, const predict_item *item, const float *p,
                         uint32_t classes, uint32_t top, bool json, bool first) {
    if (json) printf("%s\n  {\"image\": ", first ? "" : ",");
    if (item->error != NULL) {
        if (json) {
            cli_json_string(item->spec);
            printf(", \"error\": ");
            cli_json_string(item->error);
            printf("}");
        } else {
            cli_error("%s", item->error);
        }
        return;
    }
    uint32_t order[256] = {0};
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
    char label[256];
    if (!json) {
        cli_class_label(ck, order[0], label, sizeof label);
        printf("%s: %s", item->spec, label);
        for (uint32_t i = 0; i < top && i < n; i++) {
            cli_class_label(ck, order[i], label, sizeof label);
            printf("%s%s %.4f", i ? ", " : " (", label, (double)p[order[i]]);
        }
        printf(")");
        if (item->has_label) {
            cli_class_label(ck, item->label, label, sizeof label);
            printf(" - true %s%s", label, item->label == order[0] ? "" : " (wrong)");
        }
        printf("\n");
        if (item->blank)
            fprintf(stderr,
                    "mnist-cl: warning: %s has no ink (a blank image): its class means nothing\n",
                    item->spec);
        return;
    }
    cli_json_string(item->spec);
    printf(", \"class\": %u, ", order[0]);
    if (mcl_checkpoint_class_name(ck, order[0]) != NULL) {
        printf("\"name\": ");
        cli_json_string(mcl_checkpoint_class_name(ck, order[0]));
        printf(", ");
    }
    printf("\"top\": [");
    for (uint32_t i = 0; i < top && i < n; i++) {
        printf("%s{\"class\": %u, ", i ? ", " : "", order[i]);
        if (mcl_checkpoint_class_name(ck, order[i]) != NULL) {
            printf("\"name\": ");
            cli_json_string(mcl_checkpoint_class_name(ck, order[i]));
            printf(", ");
        }
        printf("\"probability\": %.6g}", (double)p[order[i]]);
    }
    printf("]");
    if (item->has_label) printf(", \"true_class\": %u", item->label);
    if (item->blank) printf(", \"warning\": \"no ink: a blank image\"");
    printf("}");
}

/* The checkpoints at the front of pos[0..npos): pos[0] always (its load reports what is wrong
 * with it), then every following file that starts with a checkpoint's magic bytes. Returns how
 * many, or 0 after an error: too many, or a checkpoint after the first image. */
static size_t count_checkpoints(const char *const *pos, size_t npos) {
    size_t count = 1;
    while (count < npos && mcl_file_is_checkpoint(pos[count]))
        count++;
    if (count > MAX_CHECKPOINTS) {
        cli_error("predict takes at most %d checkpoints, got %zu", MAX_CHECKPOINTS, count);
        return 0;
    }
    for (size_t i = count; i < npos; i++) {
        if (strncmp(pos[i], "idx:", 4) != 0 && mcl_file_is_checkpoint(pos[i])) {
            cli_error("'%s' is a checkpoint among the images: list every checkpoint before the "
                      "first image",
                      pos[i]);
            return 0;
        }
    }
    return count;
}

int cmd_predict(const cli_global *g, int argc, char **argv) {
    const char *v[OPT_COUNT] = {0};
    const size_t max_pos = MAX_IMAGES + MAX_CHECKPOINTS + 1;
    const char **pos = calloc(max_pos, sizeof *pos);
    if (pos == NULL) return CLI_EXIT_FAILURE;
    size_t npos = 0;
    if (!cli_parse_positional("predict", argc, argv, options, OPT_COUNT, v, pos, max_pos, &npos)) {
        free(pos);
        return CLI_EXIT_USAGE;
    }
    if (v[OPT_HELP]) {
        free(pos);
        cli_print_help("mnist-cl [--platform P] [--device D] predict CHECKPOINT [CHECKPOINT...] "
                       "IMAGE...",
                       "Classify images with a trained checkpoint. IMAGE is a PNG or PGM of any "
                       "size (converted as MNIST was made: grey, white ink on black, fitted in "
                       "a 20x20 box and centred by centre of mass; dark-on-light images are "
                       "inverted), idx:PATH:INDEX for image INDEX (from 0) of an IDX file, or "
                       "idx:INDEX for test image INDEX of the data the first checkpoint was "
                       "trained on (or of --data). "
                       "Several checkpoints (up to 64, all before the first image; a file is "
                       "taken as a checkpoint by its first bytes) predict as an ensemble: the "
                       "mean of their softmax probabilities. Their models may differ but must "
                       "take the same images and have the same classes. A model trained on a "
                       "folder of images takes its images as training did (grey, resized) and "
                       "prints its class names.",
                       options, OPT_COUNT);
        return CLI_EXIT_OK;
    }
    uint32_t top = 3;
    if (v[OPT_TOP] && !cli_u32("--top", v[OPT_TOP], 1, 256, &top)) {
        free(pos);
        return CLI_EXIT_USAGE;
    }
    size_t nck = npos > 0 ? count_checkpoints(pos, npos) : 1;
    if (nck == 0) {
        free(pos);
        return CLI_EXIT_USAGE;
    }
    if (npos <= nck) {
        free(pos);
        if (nck > 1)
            cli_error("predict got %zu checkpoints and no image: give the images after them",
                      nck);
        else
            cli_error("predict needs a checkpoint and at least one image: 'mnist-cl predict "
                      "model.ckpt digit.png'");
        return CLI_EXIT_USAGE;
    }
    if (npos - nck > MAX_IMAGES) {
        free(pos);
        cli_error("predict takes at most %d images, got %zu", MAX_IMAGES, npos - nck);
        return CLI_EXIT_USAGE;
    }
    uint32_t n = (uint32_t)(npos - nck);
    mcl_error err = {0};
    mcl_checkpoint *cks[MAX_CHECKPOINTS] = {0};
    mcl_context *ctx = NULL;
    float *images = NULL, *probs = NULL;
    predict_item *items = calloc(n, sizeof *items);
    uint32_t rows = 0, cols = 0, classes = 0, loaded = 0;
    cli_test_images test = {.option = v[OPT_DATA], .ck_path = pos[0]};
    mcl_status st = items != NULL ? MCL_OK
                                  : cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < nck && st == MCL_OK; i++)
        st = mcl_checkpoint_load(pos[i], &cks[i], &err);
    if (st == MCL_OK) st = mcl_ensemble_check((const mcl_checkpoint *const *)cks, pos, nck, &err);
    if (st == MCL_OK)
        st = cli_check_ensemble_classes((const mcl_checkpoint *const *)cks, pos, nck, &err);
    if (st == MCL_OK) {
        test.ck = cks[0];
        mcl_checkpoint_input(cks[0], &rows, &cols, &classes);
        images = malloc((size_t)n * rows * cols * sizeof(float));
        probs = malloc((size_t)n * classes * sizeof(float));
        if (images == NULL || probs == NULL)
            st = cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
    }
    /* Every image is read before the device is touched. One that fails gets its own error
     * line, in its place among the results; the others are still classified. The loaded ones
     * are packed at the front of `images`. */
    for (uint32_t i = 0; i < n && st == MCL_OK; i++) {
        predict_item *item = &items[i];
        item->spec = pos[nck + i];
        mcl_error item_err = {0};
        float *dst = images + (size_t)loaded * rows * cols;
        mcl_status ist = load_image(item, mcl_checkpoint_image_prep(cks[0]), &test, rows, cols,
                                    dst, &item_err);
        if (ist == MCL_ERR_HOST_MEMORY) {
            st = ist, err = item_err;
        } else if (ist != MCL_OK) {
            item->status = ist;
            item->error = strdup(item_err.message);
            if (item->error == NULL) st = cli_set_error(&err, MCL_ERR_HOST_MEMORY, "out of host memory");
        } else {
            item->loaded = true;
            /* A dark photo is not a blank page: only MNIST's preparation finds ink. */
            item->blank = mcl_checkpoint_image_prep(cks[0]) == MCL_PREP_MNIST &&
                          is_blank(dst, (size_t)rows * cols);
            loaded++;
        }
    }
    mcl_context_options copt = {.platform = g->platform, .device = g->device};
    if (st == MCL_OK && loaded > 0) st = mcl_context_create(&copt, &ctx, &err);
    /* One checkpoint is an ensemble of one: its probabilities come back unchanged. */
    if (st == MCL_OK && loaded > 0)
        st = mcl_ensemble_predict(ctx, (const mcl_checkpoint *const *)cks, pos, nck, images,
                                  loaded, loaded < 256 ? loaded : 256, probs, &err);
    uint32_t failed = n - loaded;
    bool usage = false; /* a malformed idx: spec or index: the command line's fault */
    for (uint32_t i = 0; items != NULL && i < n; i++)
        usage = usage || (items[i].error != NULL && items[i].status == MCL_ERR_USAGE);
    if (st == MCL_OK) {
        if (v[OPT_JSON]) {
            printf("{\"checkpoints\": [");
            for (size_t i = 0; i < nck; i++) {
                printf("%s", i ? ", " : "");
                cli_json_string(pos[i]);
            }
            printf("],\n \"predictions\": [");
        } else if (nck > 1) {
            printf("Ensemble of %zu checkpoints (the mean of their softmax probabilities):", nck);
            for (size_t i = 0; i < nck; i++)
                printf("%s %s", i ? "," : "", pos[i]);
            printf("\n");
        }
        for (uint32_t i = 0, k = 0; i < n; i++) {
            const float *p = items[i].loaded ? probs + (size_t)k++ * classes : NULL;
            print_result(cks[0], &items[i], p, classes, top, v[OPT_JSON], i == 0);
        }
        if (v[OPT_JSON]) printf("\n]}\n");
    }
    for (uint32_t i = 0; items != NULL && i < n; i++)
        free(items[i].error);
    free(items);
    mcl_context_free(ctx);
    cli_test_images_free(&test);
    for (size_t i = 0; i < nck; i++)
        mcl_checkpoint_free(cks[i]);
    free(images);
    free(probs);
    free(pos);
    if (st != MCL_OK) return cli_fail(&err);
    if (failed > 0 && !v[OPT_JSON] && n > 1)
        cli_error("%u of %u images could not be read", failed, n);
    return usage ? CLI_EXIT_USAGE : failed > 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}
