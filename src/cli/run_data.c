/* The data a command runs on when a checkpoint is involved: --resume trains on the data the run
 * recorded (and refuses options that contradict it), eval and predict default to it. Messages
 * say where the data came from, so that what to do next fits what the user did. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

bool cli_abs_path(const char *path, char *out, size_t size) {
    /* An absolute path stays as the user (or the default) named it: a link such as
     * ~/.local/share/mnist-cl/mnist stays the link. A relative one is resolved, so that it means
     * the same from any folder. */
    if (path[0] == '/') return snprintf(out, size, "%s", path) < (int)size;
    char resolved[PATH_MAX];
    if (realpath(path, resolved) != NULL) return snprintf(out, size, "%s", resolved) < (int)size;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) return false;
    return snprintf(out, size, "%s/%s", cwd, path) < (int)size;
}

/* Whether path names the same file or folder as `recorded` (an absolute path). */
static bool same_place(const char *path, const char *recorded) {
    char abs[4096];
    if (!cli_abs_path(path, abs, sizeof abs)) return false;
    if (strcmp(abs, recorded) == 0) return true;
    struct stat a, b;
    return stat(abs, &a) == 0 && stat(recorded, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

void cli_choose_data(const char *option_value, cli_data_choice *c) {
    const char *env = getenv("MNIST_CL_DATA");
    c->origin = option_value != NULL            ? CLI_DATA_OPTION
                : env != NULL && env[0] != '\0' ? CLI_DATA_ENV
                                                : CLI_DATA_DEFAULT;
    c->dir = cli_data_dir(option_value, c->buf, sizeof c->buf);
}

mcl_status cli_choose_checkpoint_data(const char *option_value, const mcl_checkpoint *ck,
                                      const char *ck_path, cli_data_choice *c, mcl_error *err) {
    memset(c, 0, sizeof *c);
    c->checkpoint = ck_path;
    const mcl_data_record *rec = mcl_checkpoint_data_record(ck);
    if (option_value != NULL || rec == NULL) {
        cli_choose_data(option_value, c);
        return MCL_OK;
    }
    c->origin = CLI_DATA_CHECKPOINT;
    snprintf(c->buf, sizeof c->buf, "%s", rec->source);
    c->dir = c->buf;
    if (!exists(c->dir))
        return cli_set_error(err, MCL_ERR_IO,
                             "%s was trained on the data in %s, which no longer exists; pass "
                             "--data DIR (where that data is now, or other data to use)",
                             ck_path, c->dir);
    return MCL_OK;
}

void cli_data_choice_advice(mcl_error *err, const cli_data_choice *c) {
    if (c->origin != CLI_DATA_CHECKPOINT) {
        cli_data_advice(err, c->origin == CLI_DATA_OPTION ? c->dir : NULL);
        return;
    }
    if (err->status != MCL_ERR_IO && err->status != MCL_ERR_FORMAT) return;
    size_t len = strlen(err->message);
    snprintf(err->message + len, sizeof err->message - len,
             "; this is the data %s recorded when it was trained: pass --data DIR to use other "
             "data",
             c->checkpoint);
}

const char *cli_data_origin_note(const cli_data_choice *c) {
    return c->origin == CLI_DATA_CHECKPOINT ? " (as the checkpoint recorded it)" : "";
}

/* "--limit 5000" or "all training images (no --limit)". */
static void limit_text(uint32_t limit, char *out, size_t size) {
    if (limit > 0)
        snprintf(out, size, "--limit %u", limit);
    else
        snprintf(out, size, "all its training images (no --limit)");
}

bool cli_resume_data(const char *ck_path, const mcl_checkpoint *ck, const cli_resume_given *given,
                     cli_data_choice *c, uint32_t *limit, uint32_t *classes, int *exit_code) {
    memset(c, 0, sizeof *c);
    c->checkpoint = ck_path;
    const mcl_data_record *rec = mcl_checkpoint_data_record(ck);
    *exit_code = CLI_EXIT_USAGE;
    float recorded_split = mcl_checkpoint_recipe(ck)->validation_split;
    if (given->has_split && given->split != recorded_split) {
        cli_error("--resume continues %s with --validation-split %g as it was trained; "
                  "--validation-split %g would validate on other images (drop it, or start a new "
                  "run)",
                  ck_path, (double)recorded_split, (double)given->split);
        return false;
    }
    if (rec == NULL) {
        /* An mnist-cl that did not record its data wrote it: the options are all there is. */
        cli_choose_data(given->data, c);
        fprintf(stderr,
                "mnist-cl: note: %s does not record the data it was trained on (an older "
                "mnist-cl wrote it): resuming on %s with %s; its next checkpoints record it\n",
                ck_path, c->dir,
                given->has_limit ? "the --limit given" : "all its training images");
        return true;
    }
    if (given->has_limit && given->limit != rec->limit) {
        char was[64];
        limit_text(rec->limit, was, sizeof was);
        cli_error("--resume continues %s on %s, as it was trained; --limit %u would train on "
                  "other images (drop --limit, or start a new run)",
                  ck_path, was, given->limit);
        return false;
    }
    if (given->has_classes && given->classes != rec->classes) {
        if (rec->classes > 0)
            cli_error("--resume continues %s with --classes %u, as it was trained; --classes %u "
                      "contradicts it (drop --classes)",
                      ck_path, rec->classes, given->classes);
        else
            cli_error("--resume continues %s with the classes its labels gave (no --classes); "
                      "--classes %u contradicts it (drop --classes)",
                      ck_path, given->classes);
        return false;
    }
    *limit = rec->limit;
    *classes = rec->classes;
    if (given->data != NULL) {
        c->origin = CLI_DATA_OPTION;
        c->dir = given->data;
        if (!same_place(given->data, rec->source) && exists(rec->source)) {
            cli_error("--resume continues %s on the data it was trained on, %s; --data %s is "
                      "other data (drop --data, or start a new run to train on it)",
                      ck_path, rec->source, given->data);
            return false;
        }
        return true; /* the same place, or the data moved: its fingerprint is checked */
    }
    c->origin = CLI_DATA_CHECKPOINT;
    snprintf(c->buf, sizeof c->buf, "%s", rec->source);
    c->dir = c->buf;
    if (!exists(c->dir)) {
        cli_error("%s was trained on the data in %s, which no longer exists; pass --data DIR "
                  "where that data is now (--resume checks that it is the same data)",
                  ck_path, c->dir);
        *exit_code = CLI_EXIT_FAILURE;
        return false;
    }
    return true;
}

mcl_status cli_check_resume_fingerprint(const char *ck_path, const mcl_checkpoint *ck,
                                        const cli_data_choice *c, const mcl_dataset *train,
                                        mcl_error *err) {
    const mcl_data_record *rec = mcl_checkpoint_data_record(ck);
    if (rec == NULL) return MCL_OK;
    uint32_t now = mcl_dataset_fingerprint(train);
    if (now == rec->fingerprint) return MCL_OK;
    if (c->origin == CLI_DATA_OPTION && !same_place(c->dir, rec->source))
        return cli_set_error(err, MCL_ERR_USAGE,
                             "--data %s holds other training data than %s was trained on (%s; "
                             "fingerprint %08x, recorded %08x): --resume needs the same data",
                             c->dir, ck_path, rec->source, now, rec->fingerprint);
    return cli_set_error(err, MCL_ERR_FORMAT,
                         "the training data in %s has changed since %s was trained on it "
                         "(fingerprint %08x, recorded %08x): --resume needs the same data",
                         c->dir, ck_path, now, rec->fingerprint);
}

mcl_status cli_test_image(cli_test_images *t, uint32_t index, uint32_t rows, uint32_t cols,
                          float *dst, uint32_t *label, mcl_error *err) {
    if (!t->loaded) {
        /* Once, on the first idx:N: the whole test set (its file may be gzip), kept for the
         * next ones; a failure is kept too, so every idx:N reports it. */
        t->loaded = true;
        t->status = cli_choose_checkpoint_data(t->option, t->ck, t->ck_path, &t->choice, &t->error);
        if (t->status == MCL_OK) {
            t->status = mcl_dataset_load(t->choice.dir, MCL_SPLIT_TEST, &t->test, &t->error);
            if (t->status != MCL_OK) cli_data_choice_advice(&t->error, &t->choice);
        }
    }
    if (t->status != MCL_OK) {
        if (err != NULL) *err = t->error;
        return t->status;
    }
    uint32_t count = mcl_dataset_count(t->test);
    if (index >= count)
        return cli_set_error(err, MCL_ERR_USAGE,
                             "idx:%u: the test set of %s%s holds %u images; index %u is out of "
                             "range",
                             index, t->choice.dir, cli_data_origin_note(&t->choice), count, index);
    if (mcl_dataset_rows(t->test) != rows || mcl_dataset_cols(t->test) != cols)
        return cli_set_error(err, MCL_ERR_USAGE,
                             "idx:%u: the test images of %s are %ux%u, the checkpoint takes %ux%u",
                             index, t->choice.dir, mcl_dataset_rows(t->test),
                             mcl_dataset_cols(t->test), rows, cols);
    const uint8_t *px = mcl_dataset_pixels(t->test) + (size_t)index * rows * cols;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        dst[i] = px[i] / 255.0f;
    *label = mcl_dataset_labels(t->test)[index];
    return MCL_OK;
}

void cli_test_images_free(cli_test_images *t) {
    mcl_dataset_free(t->test);
    t->test = NULL;
}
