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
/* n with thousands separators, as Keras prints counts: 597,738. */
void cli_thousands(uint64_t n, char *out, size_t size);
/* How class k of a checkpoint's model is written in every result (predict, eval's report,
 * captions): the one place a class becomes text. Its name when the model was trained on an
 * image folder (mcl_checkpoint_class_name; cut to fit `size`), else its number. */
void cli_class_label(const mcl_checkpoint *ck, uint32_t k, char *out, size_t size);

#endif
