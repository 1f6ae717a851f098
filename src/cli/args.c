#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* One line whatever it quotes: control characters from an argument or a file name (a
     * newline, an escape sequence that would drive the terminal) are written as C escapes. */
    fputs("mnist-cl: error: ", stderr);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '\n')
            fputs("\\n", stderr);
        else if (*p == '\r')
            fputs("\\r", stderr);
        else if (*p == '\t')
            fputs("\\t", stderr);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
}

mcl_status cli_set_error(mcl_error *err, mcl_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

int cli_fail(const mcl_error *err) {
    cli_error("%s", err->message);
    return err->status == MCL_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
}

bool cli_parse(const char *command, int argc, char **argv, const cli_option *opts, size_t nopts,
               const char **values) {
    return cli_parse_positional(command, argc, argv, opts, nopts, values, NULL, 0, NULL);
}

/* The short spellings every command understands, for the commands that have the long one. */
static const char *long_name_of(const char *arg) {
    if (strcmp(arg, "-o") == 0) return "--output";
    if (strcmp(arg, "-h") == 0) return "--help";
    return arg;
}

bool cli_parse_positional(const char *command, int argc, char **argv, const cli_option *opts,
                          size_t nopts, const char **values, const char **positional,
                          size_t max_positional, size_t *npositional) {
    if (npositional != NULL) *npositional = 0;
    bool options_done = false; /* after "--" everything is positional */
    for (int i = 0; i < argc; i++) {
        const char *typed = argv[i];
        const char *arg = options_done ? typed : long_name_of(typed);
        if (!options_done && strcmp(arg, "--") == 0 && max_positional > 0) {
            options_done = true;
            continue;
        }
        if (options_done || strncmp(arg, "--", 2) != 0) {
            if (npositional == NULL || *npositional == max_positional) {
                cli_error("unexpected argument '%s' for '%s'; see 'mnist-cl %s --help'", arg,
                          command, command);
                return false;
            }
            positional[(*npositional)++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        size_t k = 0;
        while (k < nopts &&
               !(strlen(opts[k].name) == name_len && strncmp(opts[k].name, arg, name_len) == 0))
            k++;
        if (k == nopts) {
            if (arg != typed)
                cli_error("unknown option '%s' for '%s'; see 'mnist-cl %s --help'", typed, command,
                          command);
            else
                cli_error("unknown option '%.*s' for '%s'; see 'mnist-cl %s --help'", (int)name_len,
                          arg, command, command);
            return false;
        }
        if (opts[k].metavar == NULL) {
            if (eq != NULL) {
                cli_error("option '%s' takes no value", opts[k].name);
                return false;
            }
            values[k] = "1";
        } else if (eq != NULL) {
            values[k] = eq + 1;
        } else if (i + 1 < argc) {
            values[k] = argv[++i];
        } else {
            cli_error("option '%s' needs a value (%s)", opts[k].name, opts[k].metavar);
            return false;
        }
    }
    return true;
}

bool cli_take_globals(int *argc, char **argv, cli_global *g) {
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        int *target = NULL;
        const char *name = NULL, *value = NULL;
        if (strcmp(a, "--platform") == 0 || strncmp(a, "--platform=", 11) == 0) {
            target = &g->platform, name = "--platform";
        } else if (strcmp(a, "--device") == 0 || strncmp(a, "--device=", 9) == 0) {
            target = &g->device, name = "--device";
        } else {
            argv[out++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < *argc) {
            value = argv[++i];
        } else {
            cli_error("option '%s' needs a value (an index from 'mnist-cl devices')", name);
            return false;
        }
        uint32_t v = 0;
        if (!cli_u32(name, value, 0, 1023, &v)) return false;
        *target = (int)v;
    }
    *argc = out;
    return true;
}

void cli_print_help(const char *usage, const char *summary, const cli_option *opts, size_t nopts) {
    printf("usage: %s\n\n%s\n\noptions:\n", usage, summary);
    for (size_t i = 0; i < nopts; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        printf("  %-26s %s\n", left, opts[i].help);
    }
    printf("\n" CLI_EXIT_CODES_HELP "\n");
}

bool cli_u32(const char *option, const char *text, uint32_t min, uint32_t max, uint32_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
        cli_error("%s: expected an integer from %u to %u, got '%s'", option, min, max, text);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool cli_u64(const char *option, const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        cli_error("%s: expected a non-negative integer, got '%s'", option, text);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

bool cli_float(const char *option, const char *text, double min, double max, bool max_inclusive,
               float *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    bool in_range = v >= min && (max_inclusive ? v <= max : v < max);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || !in_range) {
        cli_error("%s: expected a number in [%g, %g%c, got '%s'", option, min, max,
                  max_inclusive ? ']' : ')', text);
        return false;
    }
    *out = (float)v;
    return true;
}

mcl_status cli_load_model(const char *name_or_path, mcl_model **out, mcl_error *err) {
    struct stat sb;
    if (strchr(name_or_path, '/') != NULL || strchr(name_or_path, '.') != NULL ||
        stat(name_or_path, &sb) == 0)
        return mcl_model_load_file(name_or_path, out, err);
    return mcl_model_builtin(name_or_path, out, err);
}

const char *cli_data_dir(const char *option_value) {
    if (option_value != NULL) return option_value;
    const char *env = getenv("MNIST_CL_DATA");
    return env != NULL && env[0] != '\0' ? env : "data/mnist";
}

void cli_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}
