#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

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
    /* A model that does not parse or does not fit the data is the user's input at fault, as an
     * unknown option is: both exit 2. */
    return err->status == MCL_ERR_USAGE || err->status == MCL_ERR_MODEL ? CLI_EXIT_USAGE
                                                                       : CLI_EXIT_FAILURE;
}

bool cli_parse(const char *command, int argc, char **argv, const cli_option *opts, size_t nopts,
               const char **values) {
    return cli_parse_positional(command, argc, argv, opts, nopts, values, NULL, 0, NULL);
}

/* Edit distance of a and b with adjacent transpositions as one edit ("trian" is one slip from
 * "train"), each cut at 31 bytes: names are short. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    enum { MAX = 32 };
    if (la >= MAX) la = MAX - 1;
    if (lb >= MAX) lb = MAX - 1;
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *cli_closest(const char *typed, size_t typed_len, const char *const *names,
                        size_t count) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(names[i]);
        /* A prefix of a longer name (--epoch for --epochs) counts as one edit. */
        size_t d = typed_len >= 3 && typed_len < len && strncmp(names[i], typed, typed_len) == 0
                       ? 1
                       : edit_distance(typed, typed_len, names[i], len);
        if (d < best_d) best_d = d, best = names[i];
    }
    /* Close enough to be a slip: at most 2 edits, and fewer than a third of the name. */
    return best != NULL && best_d <= 2 && best_d * 3 < strlen(best) ? best : NULL;
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
            const char *names[64];
            size_t count = nopts < 64 ? nopts : 64;
            for (size_t j = 0; j < count; j++)
                names[j] = opts[j].name;
            const char *near = arg != typed ? NULL : cli_closest(arg, name_len, names, count);
            if (arg != typed)
                cli_error("unknown option '%s' for '%s'; see 'mnist-cl %s --help'", typed, command,
                          command);
            else if (near != NULL)
                cli_error("unknown option '%.*s' for '%s'; did you mean '%s'?", (int)name_len, arg,
                          command, near);
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

int cli_terminal_columns(int fd) {
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *env = getenv("COLUMNS");
    long c = env != NULL ? strtol(env, NULL, 10) : 0;
    return c > 0 && c < 10000 ? (int)c : 80;
}

void cli_print_wrapped(const char *text, int column, int indent, int width) {
    if (width < indent + 20) width = indent + 20; /* a very narrow terminal still reads */
    const char *p = text;
    bool line_start = true; /* nothing printed since the cursor's place or the last break */
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        if (*p == '\n') { /* the text's own line breaks stay */
            printf("\n%*s", indent, "");
            column = indent;
            line_start = true;
            p++;
            continue;
        }
        size_t word = strcspn(p, " \n");
        if (word == 0) break;
        if (!line_start && column + 1 + (int)word > width) {
            printf("\n%*s", indent, "");
            column = indent;
        } else if (!line_start) {
            putchar(' ');
            column++;
        }
        line_start = false;
        printf("%.*s", (int)word, p);
        column += (int)word;
        p += word;
    }
    putchar('\n');
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
    enum { LEFT = 28 }; /* where the descriptions start */
    int width = cli_terminal_columns(STDOUT_FILENO);
    fputs("usage: ", stdout);
    cli_print_wrapped(usage, 7, 7, width);
    putchar('\n');
    cli_print_wrapped(summary, 0, 0, width);
    printf("\noptions:\n");
    for (size_t i = 0; i < nopts; i++) {
        char left[96];
        int n = snprintf(left, sizeof left, "  %s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                         opts[i].metavar ? opts[i].metavar : "");
        /* An option too long for its column gets its description on the next line, so the two
         * never run into each other. */
        if (n + 1 >= LEFT)
            printf("%s\n%*s", left, LEFT, "");
        else
            printf("%-*s", LEFT, left);
        cli_print_wrapped(opts[i].help, LEFT, LEFT, width);
    }
    putchar('\n');
    cli_print_wrapped(CLI_EXIT_CODES_HELP, 0, 2, width);
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
    mcl_status st;
    if (strchr(name_or_path, '/') != NULL || strchr(name_or_path, '.') != NULL ||
        stat(name_or_path, &sb) == 0)
        st = mcl_model_load_file(name_or_path, out, err);
    else
        st = mcl_model_builtin(name_or_path, out, err);
    /* Whatever is wrong with --model's value (an unknown name, a missing or malformed file),
     * the user's argument is at fault: a usage error, exit 2, as an unknown built-in is. */
    if (st != MCL_OK && st != MCL_ERR_HOST_MEMORY) err->status = st = MCL_ERR_USAGE;
    return st;
}

/* Whether dir holds MNIST-style training images (raw or gzip). */
static bool has_idx_data(const char *dir) {
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", dir);
    if (access(probe, R_OK) == 0) return true;
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", dir);
    return access(probe, R_OK) == 0;
}

bool cli_user_data_dir(char *out, size_t size) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n = xdg != NULL && xdg[0] == '/' ? snprintf(out, size, "%s/mnist-cl/mnist", xdg)
            : home != NULL && home[0] != '\0' ? snprintf(out, size, "%s/.local/share/mnist-cl/mnist", home)
                                              : -1;
    return n > 0 && (size_t)n < size;
}

/* Keras's own copy of MNIST: $KERAS_HOME/datasets/mnist.npz, else ~/.keras/datasets/mnist.npz
 * (what tf.keras.datasets.mnist.load_data() downloads), if it is there. */
static bool keras_mnist(char *out, size_t size) {
    const char *keras = getenv("KERAS_HOME"), *home = getenv("HOME");
    int n = keras != NULL && keras[0] != '\0' ? snprintf(out, size, "%s/datasets/mnist.npz", keras)
            : home != NULL && home[0] != '\0'
                ? snprintf(out, size, "%s/.keras/datasets/mnist.npz", home)
                : -1;
    return n > 0 && (size_t)n < size && access(out, R_OK) == 0;
}

const char *cli_data_dir(const char *option_value, char *buf, size_t size) {
    if (option_value != NULL) return option_value;
    const char *env = getenv("MNIST_CL_DATA");
    if (env != NULL && env[0] != '\0') return env;
    /* A checkout's own data (where the README's commands run), else the user's data folder,
     * where tools/setup links MNIST so that mnist-cl finds it from any folder, else the copy
     * Keras keeps. */
    if (has_idx_data("data/mnist")) return "data/mnist";
    if (cli_user_data_dir(buf, size) && has_idx_data(buf)) return buf;
    if (keras_mnist(buf, size)) return buf;
    return "data/mnist";
}

/* "(cat, dog)" or "(unnamed: the labels' numbers)" for messages. */
static void class_list(const char *(*name)(const void *, uint32_t), const void *obj,
                       uint32_t classes, char *out, size_t size) {
    if (name(obj, 0) == NULL) {
        snprintf(out, size, "(unnamed: the labels' numbers)");
        return;
    }
    size_t n = (size_t)snprintf(out, size, "(");
    for (uint32_t k = 0; k < classes && n + 8 < size; k++) {
        if (n > 200) {
            n += (size_t)snprintf(out + n, size - n, ", ...");
            break;
        }
        n += (size_t)snprintf(out + n, size - n, "%s%s", k ? ", " : "", name(obj, k));
    }
    if (n + 1 < size) snprintf(out + n, size - n, ")");
}

static const char *checkpoint_name(const void *ck, uint32_t k) {
    return mcl_checkpoint_class_name(ck, k);
}

static const char *dataset_name(const void *ds, uint32_t k) {
    return mcl_dataset_class_name(ds, k);
}

mcl_status cli_check_class_names(const mcl_checkpoint *ck, const char *ck_path,
                                 const mcl_dataset *ds, const char *data, mcl_error *err) {
    uint32_t classes = 0, data_classes = mcl_dataset_num_classes(ds);
    mcl_checkpoint_input(ck, NULL, NULL, &classes);
    bool named = mcl_checkpoint_class_name(ck, 0) != NULL || mcl_dataset_class_name(ds, 0) != NULL;
    bool same = !named || classes == data_classes;
    for (uint32_t k = 0; k < classes && same; k++) {
        const char *a = mcl_checkpoint_class_name(ck, k), *b = mcl_dataset_class_name(ds, k);
        same = (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
    }
    if (same) return MCL_OK;
    char mine[320], theirs[320];
    class_list(checkpoint_name, ck, classes, mine, sizeof mine);
    class_list(dataset_name, ds, data_classes, theirs, sizeof theirs);
    return cli_set_error(err, MCL_ERR_MODEL, "%s was trained on the classes %s but %s has %s",
                         ck_path, mine, data, theirs);
}

mcl_status cli_check_ensemble_classes(const mcl_checkpoint *const *cks, const char *const *paths,
                                      size_t count, mcl_error *err) {
    uint32_t classes = 0;
    mcl_checkpoint_input(cks[0], NULL, NULL, &classes);
    for (size_t i = 1; i < count; i++) {
        bool same = mcl_checkpoint_image_prep(cks[i]) == mcl_checkpoint_image_prep(cks[0]);
        for (uint32_t k = 0; k < classes && same; k++) {
            const char *a = mcl_checkpoint_class_name(cks[0], k);
            const char *b = mcl_checkpoint_class_name(cks[i], k);
            same = (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
        }
        if (same) continue;
        char first[320], other[320];
        class_list(checkpoint_name, cks[0], classes, first, sizeof first);
        class_list(checkpoint_name, cks[i], classes, other, sizeof other);
        return cli_set_error(err, MCL_ERR_MODEL,
                             "%s has the classes %s but %s has %s: an ensemble's members must "
                             "have the same classes",
                             paths[0], first, paths[i], other);
    }
    return MCL_OK;
}

void cli_data_advice(mcl_error *err, const char *option_value) {
    if (err->status != MCL_ERR_IO || strncmp(err->message, "data folder", 11) != 0) return;
    size_t len = strlen(err->message);
    char user[4096] = "~/.local/share/mnist-cl/mnist";
    cli_user_data_dir(user, sizeof user);
    const char *env = getenv("MNIST_CL_DATA");
    if (option_value != NULL)
        snprintf(err->message + len, sizeof err->message - len, "; check the folder given to --data");
    else if (env != NULL && env[0] != '\0')
        snprintf(err->message + len, sizeof err->message - len,
                 "; it came from MNIST_CL_DATA: check it, or pass --data DIR");
    else
        snprintf(err->message + len, sizeof err->message - len,
                 "; run tools/setup (it fetches MNIST and links it to %s, found from any folder), "
                 "pass --data DIR or set MNIST_CL_DATA",
                 user);
}

void cli_warn_batchnorm(const mcl_trainer *trainer) {
    uint32_t steps = 0;
    float momentum = 0.0f;
    double share = mcl_trainer_bn_initial_share(trainer, &steps, &momentum);
    if (share <= 0.1) return;
    fprintf(stderr,
            "mnist-cl: warning: BatchNorm's moving statistics have seen only %u steps at momentum "
            "%g: %.0f%% of them is still the initial mean 0 and variance 1, so evaluation "
            "(validation and test) can be far worse than training. Train longer, or lower the "
            "momentum ('batchnorm momentum=0.9' in a model file)\n",
            steps, (double)momentum, 100.0 * share);
}

bool cli_check_output(const char *path, const char *option) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (path[0] == '\0' || (slash != NULL && slash[1] == '\0')) {
        cli_error("%s: '%s' names a folder, not a file", option, path);
        return false;
    }
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("%s: cannot write '%s': the folder '%s' does not exist (create it first)", option,
                  path, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error("%s: cannot write '%s': the folder '%s' is not writable (%s)", option, path, dir,
                  strerror(errno));
        return false;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_error("%s: '%s' is a folder, not a file", option, path);
        return false;
    }
    return true;
}

void cli_thousands(uint64_t n, char *out, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < size) out[o++] = ',';
        out[o++] = digits[i];
    }
    if (size > 0) out[o < size ? o : size - 1] = '\0';
}

void cli_class_label(const mcl_checkpoint *ck, uint32_t k, char *out, size_t size) {
    mcl_checkpoint_class_label(ck, k, out, size);
}

void cli_json_string(const char *s) {
    /* The library's escaping, so that every JSON mnist-cl writes quotes strings alike. */
    char small[512];
    size_t n = mcl_json_quote(s, small, sizeof small);
    char *big = n >= sizeof small ? malloc(n + 1) : NULL;
    if (big != NULL) mcl_json_quote(s, big, n + 1);
    fputs(big != NULL ? big : n > 0 && n < sizeof small ? small : "\"\"", stdout);
    free(big);
}
