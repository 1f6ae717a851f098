/* The mnist-cl command line: a thin client of the public API. Only here does an error become a
 * message on stderr and an exit code. */
#ifndef MCL_CLI_CLI_H
#define MCL_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mnistcl/mnistcl.h"

/* Exit codes, documented in --help and the README. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1,       /* runtime failure: data, device, OpenCL, divergence */
    CLI_EXIT_USAGE = 2,         /* bad command line: unknown option, bad value */
    CLI_EXIT_INTERRUPTED = 130, /* stopped by Ctrl-C (128 + SIGINT, as shells report it) */
};
/* The line every --help ends with. */
#define CLI_EXIT_CODES_HELP                                                                        \
    "exit codes: 0 success, 1 runtime failure (data, device, OpenCL, divergence), 2 usage "        \
    "error (an option, a value, or a model that does not parse or fit), 130 interrupted (Ctrl-C)"

typedef struct cli_option {
    const char *name;    /* "--epochs" */
    const char *metavar; /* "N"; NULL for a flag without value */
    const char *help;
} cli_option;

/* Options every command accepts, before or after the command name. */
typedef struct cli_global {
    int platform, device; /* -1 = default */
    double start_seconds; /* CLOCK_MONOTONIC when main began, for times from the start */
} cli_global;

/* CLOCK_MONOTONIC in seconds. */
double cli_now(void);

/* Parses argv against `opts`. values[i] receives the option's string (a flag gets "1"), or stays
 * NULL. Positional arguments are rejected. Returns false after printing a one-line error. */
bool cli_parse(const char *command, int argc, char **argv, const cli_option *opts, size_t nopts,
               const char **values);
/* The same, also collecting up to max_positional non-option arguments (in order) into
 * positional[]; more than that is an error. "--" ends the options. */
bool cli_parse_positional(const char *command, int argc, char **argv, const cli_option *opts,
                          size_t nopts, const char **values, const char **positional,
                          size_t max_positional, size_t *npositional);
void cli_print_help(const char *usage, const char *summary, const cli_option *opts, size_t nopts);
/* The width of the terminal on fd, else $COLUMNS, else 80. */
int cli_terminal_columns(int fd);
/* Prints text word-wrapped to `width` columns, starting at `column` (where the cursor is) and
 * indenting continuation lines by `indent`; ends the line. */
void cli_print_wrapped(const char *text, int column, int indent, int width);
/* The name in names[0..count) that `typed` (typed_len bytes) is most likely a slip for: at most
 * two edits away, or a prefix of it; NULL if none is that close. For "did you mean". */
const char *cli_closest(const char *typed, size_t typed_len, const char *const *names,
                        size_t count);
/* Removes --platform/--device (anywhere, "--platform P" or "--platform=P") from argv[0..*argc)
 * into g, shortening *argc. Returns false after printing a one-line error on a bad value. */
bool cli_take_globals(int *argc, char **argv, cli_global *g);

/* Value parsers: print "mnist-cl: error: --epochs: ..." and return false on a bad value. */
bool cli_u32(const char *option, const char *text, uint32_t min, uint32_t max, uint32_t *out);
bool cli_u64(const char *option, const char *text, uint64_t *out);
bool cli_float(const char *option, const char *text, double min, double max, bool max_inclusive,
               float *out);

/* Fills *err like the library does, for errors the CLI itself detects. Returns status. */
mcl_status cli_set_error(mcl_error *err, mcl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prints "mnist-cl: error: <message>" and returns the exit code for the status. */
int cli_fail(const mcl_error *err);
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

int cmd_devices(const cli_global *g, int argc, char **argv);
int cmd_models(const cli_global *g, int argc, char **argv);
int cmd_summary(const cli_global *g, int argc, char **argv);
int cmd_train(const cli_global *g, int argc, char **argv);
int cmd_eval(const cli_global *g, int argc, char **argv);
int cmd_predict(const cli_global *g, int argc, char **argv);
int cmd_plot(const cli_global *g, int argc, char **argv);
int cmd_export(const cli_global *g, int argc, char **argv);
int cmd_bench(const cli_global *g, int argc, char **argv);
int cmd_tune(const cli_global *g, int argc, char **argv);
int cmd_info(const cli_global *g, int argc, char **argv);

/* Shared by commands that take --model: a built-in name or a model file path. */
mcl_status cli_load_model(const char *name_or_path, mcl_model **out, mcl_error *err);
/* The data folder: --data's value if given, else $MNIST_CL_DATA, else data/mnist. */
/* The data folder: --data's value, else $MNIST_CL_DATA, else ./data/mnist when it holds MNIST,
 * else the user's data folder (cli_user_data_dir) when it does, else Keras's
 * $KERAS_HOME/datasets/mnist.npz (~/.keras/datasets/mnist.npz) when it exists, else
 * "data/mnist" (whose load then fails with cli_data_advice). buf receives a path when one is
 * built. */
const char *cli_data_dir(const char *option_value, char *buf, size_t size);
/* MCL_ERR_MODEL unless the data's classes are the checkpoint's: the same names in the same
 * order, or unnamed in both (a model of digits does not evaluate cats). */
mcl_status cli_check_class_names(const mcl_checkpoint *ck, const char *ck_path,
                                 const mcl_dataset *ds, const char *data, mcl_error *err);
/* The same between the members of an ensemble: every one has cks[0]'s class names. */
mcl_status cli_check_ensemble_classes(const mcl_checkpoint *const *cks, const char *const *paths,
                                      size_t count, mcl_error *err);
/* $XDG_DATA_HOME/mnist-cl/mnist, else ~/.local/share/mnist-cl/mnist; false without either. */
bool cli_user_data_dir(char *out, size_t size);
/* After a data folder failed to load: adds what to do, fitted to how the folder was chosen. */
void cli_data_advice(mcl_error *err, const char *option_value);
/* Where a command's data came from, so that its messages fit what the user did. */
typedef enum cli_data_origin {
    CLI_DATA_OPTION,     /* --data */
    CLI_DATA_CHECKPOINT, /* recorded by the checkpoint the command reads */
    CLI_DATA_ENV,        /* $MNIST_CL_DATA */
    CLI_DATA_DEFAULT     /* ./data/mnist or the user's data folder (cli_data_dir) */
} cli_data_origin;
typedef struct cli_data_choice {
    const char *dir; /* what to load: a folder of IDX files (or a data file) */
    cli_data_origin origin;
    const char *checkpoint; /* the checkpoint's path, for messages */
    char buf[4096];
} cli_data_choice;
/* path made absolute: an absolute one as it is, a relative one resolved (realpath, where it
 * exists). False if it does not fit. */
bool cli_abs_path(const char *path, char *out, size_t size);
/* The data of a command without a checkpoint: --data's value, else cli_data_dir's default. */
void cli_choose_data(const char *option_value, cli_data_choice *out);
/* The data of a command that reads checkpoint ck (eval, predict): --data's value, else the data
 * ck recorded, else cli_data_dir's default. Fails (MCL_ERR_IO) when the recorded data is gone. */
mcl_status cli_choose_checkpoint_data(const char *option_value, const mcl_checkpoint *ck,
                                      const char *ck_path, cli_data_choice *out, mcl_error *err);
/* After loading the chosen data failed: adds what to do, fitted to where it came from. */
void cli_data_choice_advice(mcl_error *err, const cli_data_choice *choice);
/* " (as the checkpoint recorded it)" when it came from there, else "". */
const char *cli_data_origin_note(const cli_data_choice *choice);
/* The data options a --resume was given (the parsed values). */
typedef struct cli_resume_given {
    const char *data;
    bool has_limit, has_classes, has_split;
    uint32_t limit, classes;
    float split;
} cli_resume_given;
/* For train --resume CKPT: the recorded data, limit and classes (with a checkpoint that
 * records none, the options as given, and a note). An option that contradicts the record is
 * refused with the reason (exit 2); the same value is fine; a --data naming another place is
 * accepted only when the recorded place is gone (its fingerprint is then checked). Returns
 * false after printing the error, with the exit code in *exit_code. */
bool cli_resume_data(const char *ck_path, const mcl_checkpoint *ck, const cli_resume_given *given,
                     cli_data_choice *choice, uint32_t *limit, uint32_t *classes, int *exit_code);
/* The loaded training set (before --limit) is the one ck recorded (mcl_dataset_fingerprint). */
mcl_status cli_check_resume_fingerprint(const char *ck_path, const mcl_checkpoint *ck,
                                        const cli_data_choice *choice, const mcl_dataset *train,
                                        mcl_error *err);
/* The library's JSON documents of a run, made before anything is printed (json_out.c). */
typedef struct cli_run_json {
    char *recipe, *history, *data; /* owned; data NULL without a data record */
} cli_run_json;
mcl_status cli_run_json_make(cli_run_json *j, const mcl_recipe *recipe,
                             const mcl_epoch_result *history, size_t history_count,
                             const mcl_data_record *data, mcl_error *err);
void cli_run_json_free(cli_run_json *j);
/* {"loss", "accuracy", "images"}, or null for NULL. */
void cli_print_test_json(const mcl_eval_result *test);
/* The device: name, type, vendor, platform, versions, indices, compute units, GEMM provider. */
void cli_print_device_json(const mcl_device_info *device, const char *gemm);
/* What train --json reports (cli_print_train_json); pointers are borrowed. */
typedef struct cli_train_report {
    const mcl_model *model;
    const mcl_recipe *recipe;
    uint64_t seed;
    const mcl_data_record *data;
    const char *resumed_from; /* NULL: a new run */
    uint32_t initial_epoch, epochs_done;
    const mcl_epoch_result *history;
    size_t history_count;
    uint64_t trainable_params, non_trainable_params;
    const mcl_eval_result *test;
    const mcl_device_info *device;
    const char *gemm;
    const char *checkpoint; /* --save, or NULL */
    double wall_seconds;    /* since mnist-cl started */
    uint32_t timed_epochs;  /* 0: no whole epoch after the first was timed */
    double epoch_seconds, ms_per_step, images_per_second, gflops;
    uint32_t patience, best_epoch;
    double best_val_loss;
    double target; /* --target-accuracy, or 0 */
    uint32_t reached_epoch;
    double reached_seconds;
} cli_train_report;
/* Prints the one JSON object of train --json (everything made before the first byte). */
mcl_status cli_print_train_json(const cli_train_report *r, mcl_error *err);
/* predict's idx:N images: image N of the test set of --data (option), else of the data the
 * checkpoint recorded, else of the default data; loaded on first use. */
typedef struct cli_test_images {
    const char *option;           /* --data, or NULL */
    const mcl_checkpoint *ck;     /* borrowed */
    const char *ck_path;
    cli_data_choice choice;
    mcl_dataset *test; /* owned, loaded by the first cli_test_image */
    bool loaded;
    mcl_status status; /* of that load; error says why it failed */
    mcl_error error;
} cli_test_images;
/* Test image `index` as rows*cols floats in 0..1 (the training scaling) and its label. */
mcl_status cli_test_image(cli_test_images *t, uint32_t index, uint32_t rows, uint32_t cols,
                          float *dst, uint32_t *label, mcl_error *err);
void cli_test_images_free(cli_test_images *t);
/* Prints s as a JSON string, quotes included ("\\" and "\"" escaped, control characters as
 * \u00XX). */
void cli_json_string(const char *s);
/* Whether a file can be written at path (by mnist-cl's atomic writes: a temporary file in the
 * same folder, then a rename): the folder exists and is writable and path is not a folder.
 * Prints a one-line error naming `option` and returns false otherwise. */
bool cli_check_output(const char *path, const char *option);
/* Warns on stderr when evaluation would use BatchNorm statistics that are still mostly their
 * initial values (mcl_trainer_bn_initial_share above 0.1). */
void cli_warn_batchnorm(const mcl_trainer *trainer);
/* "epochs 10, batch 128, adam lr 0.001 cosine decay, validation split 0.1, ..." on stdout. */
void cli_print_recipe(const mcl_recipe *r);
/* n with thousands separators, as Keras prints counts: 597,738. */
void cli_thousands(uint64_t n, char *out, size_t size);
/* How class k of a checkpoint's model is written in every result (predict, eval's report,
 * captions): the one place a class becomes text. Its name when the model was trained on an
 * image folder (mcl_checkpoint_class_name; cut to fit `size`), else its number. */
void cli_class_label(const mcl_checkpoint *ck, uint32_t k, char *out, size_t size);

#endif
