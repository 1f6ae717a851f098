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
    "error, 130 interrupted (Ctrl-C)"

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
const char *cli_data_dir(const char *option_value);
/* Prints s as a JSON string, quotes included ("\\" and "\"" escaped, control characters as
 * \u00XX). */
void cli_json_string(const char *s);

#endif
